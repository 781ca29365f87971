package syncloop

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/record"
)

type recorder struct {
	mu    sync.Mutex
	calls []bool
	fail  int
}

func (r *recorder) sync(_ context.Context, periodic bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, periodic)
	if r.fail > 0 {
		r.fail--
		return errors.New("boom")
	}
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

func waitCount(t *testing.T, r *recorder, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d syncs, want %d", r.count(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func run(t *testing.T, cfg Config, r *recorder) (*Loop, func()) {
	l := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx, slog.Default(), "test sync", r.sync); close(done) }()
	return l, func() { cancel(); <-done }
}

// TestBurstIsOneSync: the first sync runs at once (not periodic); a
// burst of kicks during MinInterval becomes a single further sync.
func TestBurstIsOneSync(t *testing.T) {
	r := &recorder{}
	l, stop := run(t, Config{MinInterval: 200 * time.Millisecond}, r)
	defer stop()
	waitCount(t, r, 1)
	for i := 0; i < 50; i++ {
		l.Kick()
	}
	waitCount(t, r, 2)
	time.Sleep(400 * time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) != 2 || r.calls[0] || r.calls[1] {
		t.Fatalf("syncs %v, want two change-driven syncs", r.calls)
	}
}

// TestRetryAndResync: a failed sync is retried (periodic) after the
// back-off; the resync ticker syncs without any kick.
func TestRetryAndResync(t *testing.T) {
	r := &recorder{fail: 1}
	_, stop := run(t, Config{Resync: 300 * time.Millisecond}, r)
	defer stop()
	waitCount(t, r, 3)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.calls[0] || !r.calls[1] || !r.calls[2] {
		t.Fatalf("syncs %v, want the first for the start, then a retry and a resync, both periodic", r.calls)
	}
}

// TestFailedAndRecovered: a run of failures is reported once, when it
// starts, and its end once, by the sync that succeeds.
func TestFailedAndRecovered(t *testing.T) {
	r := &recorder{fail: 2}
	var mu sync.Mutex
	var failed []string
	recovered := 0
	cfg := Config{
		Failed:    func(err error) { mu.Lock(); failed = append(failed, err.Error()); mu.Unlock() },
		Recovered: func() { mu.Lock(); recovered++; mu.Unlock() },
	}
	l, stop := run(t, cfg, r)
	defer stop()
	waitCount(t, r, 3) // fails, fails again on the retry, then succeeds
	l.Kick()
	waitCount(t, r, 4)
	mu.Lock()
	defer mu.Unlock()
	if len(failed) != 1 || failed[0] != "boom" || recovered != 1 {
		t.Fatalf("failed %v, recovered %d times; want one of each", failed, recovered)
	}
}

// TestNodeEvents: the hooks record a Warning, then a Normal event, on the
// node named by its name (how kubectl describe node finds them).
func TestNodeEvents(t *testing.T) {
	if f, r := NodeEvents(nil, "n1", "X", "x"); f != nil || r != nil {
		t.Fatalf("a nil recorder gave hooks")
	}
	rec := record.NewFakeRecorder(2)
	failed, recovered := NodeEvents(rec, "n1", "SyncProxyRules", "syncing the service rules")
	failed(errors.New("boom"))
	recovered()
	if e := <-rec.Events; e != "Warning SyncProxyRulesFailed syncing the service rules failed: boom" {
		t.Fatalf("failure event %q", e)
	}
	if e := <-rec.Events; e != "Normal SyncProxyRulesRecovered syncing the service rules succeeded again" {
		t.Fatalf("recovery event %q", e)
	}
	if ref := NodeReference("n1"); ref.Kind != "Node" || ref.Name != "n1" || string(ref.UID) != "n1" {
		t.Fatalf("reference %+v", ref)
	}
}
