// Package syncloop runs the level-triggered sync of a node component (the
// pod network's routes, the service proxy, NetworkPolicy enforcement):
// one sync for any burst of changes, at most one per MinInterval, again
// periodically to repair what someone else changed, and again after a
// failure with exponential back-off.
package syncloop

import (
	"context"
	"log/slog"
	"time"
)

// Config is how a Loop paces its syncs.
type Config struct {
	// MinInterval is the least time between two syncs: changes arriving
	// meanwhile are taken by the next one.
	MinInterval time.Duration
	// Resync is how often a sync runs without a change (0: never).
	Resync time.Duration
	// MaxBackoff bounds the wait before retrying a failed sync; the first
	// retry comes after a second (default 30 s).
	MaxBackoff time.Duration
}

// Loop runs a sync function; Kick asks for a sync.
type Loop struct {
	cfg  Config
	kick chan struct{}
}

// New returns a loop paced by cfg.
func New(cfg Config) *Loop {
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	return &Loop{cfg: cfg, kick: make(chan struct{}, 1)}
}

// Kick asks for a sync soon; kicks before it starts are one sync.
func (l *Loop) Kick() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// Run syncs at once, then on kicks, every Resync and after failures,
// until ctx ends. periodic tells sync it runs for a resync or a retry
// rather than a change (a component may then rewrite everything). what
// names the work in the log.
func (l *Loop) Run(ctx context.Context, log *slog.Logger, what string, sync func(ctx context.Context, periodic bool) error) {
	var last time.Time
	var backoff time.Duration
	retry := time.NewTimer(0) // the first sync at once
	defer retry.Stop()
	var resync <-chan time.Time
	if l.cfg.Resync > 0 {
		t := time.NewTicker(l.cfg.Resync)
		defer t.Stop()
		resync = t.C
	}
	for {
		periodic := false
		select {
		case <-ctx.Done():
			return
		case <-l.kick:
		case <-retry.C:
			periodic = !last.IsZero()
		case <-resync:
			periodic = true
		}
		if wait := l.cfg.MinInterval - time.Since(last); wait > 0 && !last.IsZero() {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		// Kicks that arrived while waiting are part of this sync.
		select {
		case <-l.kick:
		default:
		}
		last = time.Now()
		if err := sync(ctx, periodic); err != nil {
			if ctx.Err() != nil {
				return
			}
			if backoff == 0 {
				backoff = time.Second
			} else if backoff = 2 * backoff; backoff > l.cfg.MaxBackoff {
				backoff = l.cfg.MaxBackoff
			}
			log.Error(what+" failed; retrying", "err", err, "retryIn", backoff)
			retry.Reset(backoff)
			continue
		}
		backoff = 0
	}
}
