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

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
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
	// Failed, when set, hears of the first failure of a run of them (the
	// retries' failures are only logged); Recovered of the sync that ends
	// the run. Components turn them into Events on their Node.
	Failed    func(err error)
	Recovered func()
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
				if l.cfg.Failed != nil {
					l.cfg.Failed(err)
				}
			} else if backoff = 2 * backoff; backoff > l.cfg.MaxBackoff {
				backoff = l.cfg.MaxBackoff
			}
			log.Error(what+" failed; retrying", "err", err, "retryIn", backoff)
			retry.Reset(backoff)
			continue
		}
		if backoff != 0 && l.cfg.Recovered != nil {
			l.cfg.Recovered()
		}
		backoff = 0
	}
}

// NodeEvents returns Failed and Recovered hooks that record Events on the
// node: a Warning <reason>Failed with the error, then a Normal
// <reason>Recovered. A nil recorder records nothing.
func NodeEvents(rec record.EventRecorder, node, reason, what string) (failed func(error), recovered func()) {
	if rec == nil {
		return nil, nil
	}
	ref := NodeReference(node)
	failed = func(err error) {
		rec.Eventf(ref, corev1.EventTypeWarning, reason+"Failed", "%s failed: %v", what, err)
	}
	recovered = func() {
		rec.Eventf(ref, corev1.EventTypeNormal, reason+"Recovered", "%s succeeded again", what)
	}
	return failed, recovered
}

// NodeReference names a node in Events as kube-proxy does, with its name
// as UID (the component may start before its Node exists), which is how
// `kubectl describe node` looks them up.
func NodeReference(node string) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Node", Name: node, UID: types.UID(node)}
}
