package syncloop

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"
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
