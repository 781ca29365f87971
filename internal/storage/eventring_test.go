package storage

import (
	"fmt"
	"runtime"
	"testing"
	"unsafe"
)

func TestEventRing(t *testing.T) {
	var r eventRing
	r.reset(3)
	var dropped []int64
	for rev := int64(1); rev <= 5; rev++ {
		if d, full := r.push(Event{Revision: rev}); full {
			dropped = append(dropped, d)
		}
	}
	if fmt.Sprint(dropped) != "[1 2]" {
		t.Fatalf("dropped %v, want [1 2]", dropped)
	}
	var kept []int64
	for i := 0; i < r.n; i++ {
		kept = append(kept, r.at(i).Revision)
	}
	if fmt.Sprint(kept) != "[3 4 5]" {
		t.Fatalf("kept %v, want [3 4 5]", kept)
	}
	for rev, want := range map[int64]int{0: 0, 3: 1, 4: 2, 5: 3, 9: 3} {
		if got := r.after(rev); got != want {
			t.Errorf("after(%d) = %d, want %d", rev, got, want)
		}
	}
	var none eventRing
	none.reset(0)
	if d, full := none.push(Event{Revision: 7}); !full || d != 7 || none.n != 0 {
		t.Fatalf("a window of 0 keeps nothing: got dropped=%d full=%v n=%d", d, full, none.n)
	}
}

// An event arriving at a full window must not copy the window: with many
// recent events kept, that made every write cost the whole window, under
// the lock readers and watchers wait on.
func TestApplyFullWindowDoesNotCopyIt(t *testing.T) {
	const window = 4000
	wc := newWatchCache(&Cached{EventWindow: window, WatcherBuffer: 10}, "/p/")
	wc.window.reset(window)
	rev := int64(0)
	apply := func(n int) {
		for range n {
			rev++
			wc.apply(Event{Type: Modified, Key: fmt.Sprintf("/p/k%d", rev%100), Revision: rev})
		}
	}
	apply(window) // fills the window
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 200
	apply(n)
	runtime.ReadMemStats(&after)
	perApply := (after.TotalAlloc - before.TotalAlloc) / n
	windowBytes := uint64(window) * uint64(unsafe.Sizeof(Event{}))
	if perApply > windowBytes/20 {
		t.Fatalf("an event at a full window allocated %d bytes; the window is %d bytes", perApply, windowBytes)
	}
	if wc.oldest != rev-window {
		t.Fatalf("oldest revision %d, want %d", wc.oldest, rev-window)
	}
}
