package storage

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"
	"unsafe"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
)

func TestEventRing(t *testing.T) {
	var r eventRing
	r.reset(3)
	var dropped []int64
	for rev := int64(1); rev <= 5; rev++ {
		if d, full := r.push(Event{Revision: rev}, time.Now()); full {
			dropped = append(dropped, d)
		}
	}
	if fmt.Sprint(dropped) != "[1 2]" {
		t.Fatalf("dropped %v, want [1 2]", dropped)
	}
	var kept []int64
	for i := 0; i < r.n; i++ {
		kept = append(kept, r.event(i).Revision)
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
	if d, full := none.push(Event{Revision: 7}, time.Now()); !full || d != 7 || none.n != 0 {
		t.Fatalf("a window of 0 keeps nothing: got dropped=%d full=%v n=%d", d, full, none.n)
	}
}

// Events older than the freshness period leave the window, but the newest
// few stay; slots they free are reused before the ring grows.
func TestEventRingDropBefore(t *testing.T) {
	var r eventRing
	r.reset(8)
	t0 := time.Unix(1000, 0)
	for rev := int64(1); rev <= 6; rev++ {
		r.push(Event{Revision: rev}, t0.Add(time.Duration(rev)*time.Second))
	}
	if d, ok := r.dropBefore(t0.Add(4500*time.Millisecond), 1); !ok || d != 4 || r.n != 2 {
		t.Fatalf("dropBefore: last dropped %d (%v), %d left; want 4, 2 left", d, ok, r.n)
	}
	if _, ok := r.dropBefore(t0.Add(time.Hour), 2); ok || r.n != 2 {
		t.Fatalf("dropped below the minimum: %d left", r.n)
	}
	for rev := int64(7); rev <= 14; rev++ {
		r.push(Event{Revision: rev}, t0.Add(time.Duration(rev)*time.Second))
	}
	var kept []int64
	for i := 0; i < r.n; i++ {
		kept = append(kept, r.event(i).Revision)
	}
	if fmt.Sprint(kept) != "[7 8 9 10 11 12 13 14]" || len(r.buf) != 8 {
		t.Fatalf("kept %v in a buffer of %d, want [7 ... 14] in 8", kept, len(r.buf))
	}
	if got := r.after(10); got != 4 {
		t.Errorf("after(10) = %d, want 4", got)
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

// A change's previous version is the cached object, not a second decoded
// copy of it; a previous value the cache does not hold is decoded.
func TestApplySharesPreviousVersion(t *testing.T) {
	codec := NewCodec(scheme.Scheme)
	wc := newWatchCache(&Cached{EventWindow: 10, WatcherBuffer: 10, etcd: &Etcd{codec: codec}}, "/p/")
	wc.window.reset(10)
	cm := func(v string) []byte {
		b, err := codec.Encode(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns"}, Data: map[string]string{"v": v}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first, err := codec.Decode(cm("1"), 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := wc.apply(Event{Type: Added, Key: "/p/a", Revision: 5, Object: first, value: cm("1")}); err != nil {
		t.Fatal(err)
	}
	second, _ := codec.Decode(cm("2"), 6)
	if err := wc.apply(Event{Type: Modified, Key: "/p/a", Revision: 6, Object: second, value: cm("2"), prevValue: cm("1"), prevRev: 5}); err != nil {
		t.Fatal(err)
	}
	if got := wc.window.event(1).PrevObject; got != first {
		t.Errorf("previous version is a copy (%p), not the cached object (%p)", got, first)
	}
	if wc.window.event(1).Shared != nil {
		t.Error("the window keeps the encodings made for the event's watchers")
	}
	// The cache holds revision 6; a previous value at 4 is decoded.
	third, _ := codec.Decode(cm("3"), 7)
	if err := wc.apply(Event{Type: Modified, Key: "/p/a", Revision: 7, Object: third, value: cm("3"), prevValue: cm("x"), prevRev: 4}); err != nil {
		t.Fatal(err)
	}
	prev, ok := wc.window.event(2).PrevObject.(*corev1.ConfigMap)
	if !ok || prev.Data["v"] != "x" || prev.ResourceVersion != "4" {
		t.Errorf("decoded previous version: %#v", wc.window.event(2).PrevObject)
	}
}

// A cache whose first fill fails tells its waiters and stops: the next
// caller starts a new one, and the failed one must not keep watching.
func TestAbandonedCacheStops(t *testing.T) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:1"}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	cli.Close() // every call fails at once
	c := NewCached(NewEtcd(cli, NewCodec(scheme.Scheme)), []string{"/p/"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer c.Close()
	wc := newWatchCache(c, "/p/")
	c.caches["/p/"] = wc
	done := make(chan struct{})
	go func() {
		wc.run()
		close(done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := wc.waitReady(ctx); err == nil {
		t.Fatal("a cache that could not list is ready")
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the abandoned cache keeps running")
	}
	if _, ok := c.caches["/p/"]; ok {
		t.Error("the abandoned cache is still the resource's cache")
	}
}
