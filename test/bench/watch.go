package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
)

// burst records, for n updates, when each update call started and returned
// and when the watch delivered its event.
type burst struct {
	n                         int
	starts, returns, arrivals []time.Time
	got                       atomic.Int64
	all                       chan struct{}
}

func newBurst(n int) *burst {
	return &burst{n: n, starts: make([]time.Time, n), returns: make([]time.Time, n), arrivals: make([]time.Time, n), all: make(chan struct{})}
}

// arrived records the event of update i; only the watch goroutine calls it.
func (b *burst) arrived(i int) {
	if i < 0 || i >= b.n || !b.arrivals[i].IsZero() {
		return
	}
	b.arrivals[i] = time.Now()
	if b.got.Add(1) == int64(b.n) {
		close(b.all)
	}
}

// run issues the updates from the workers and waits for every event.
func (b *burst) run(ctx context.Context, name string, workers int, update func(ctx context.Context, i int) error, watchErr <-chan error) (*result, error) {
	if _, err := parallel(ctx, name+" updates", workers, b.n, func(ctx context.Context, _, i int) error {
		b.starts[i] = time.Now()
		err := update(ctx, i)
		b.returns[i] = time.Now()
		return err
	}); err != nil {
		return nil, err
	}
	select {
	case <-b.all:
	case err := <-watchErr:
		return nil, fmt.Errorf("%s: watch ended after %d of %d events: %v", name, b.got.Load(), b.n, err)
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("%s: only %d of %d events within 30s", name, b.got.Load(), b.n)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	fromReturn := make([]time.Duration, b.n)
	fromStart := make([]time.Duration, b.n)
	early := 0
	first, last := b.starts[0], b.arrivals[0]
	for i := range b.n {
		d := b.arrivals[i].Sub(b.returns[i])
		if d < 0 {
			early++
			d = 0
		}
		fromReturn[i] = d
		fromStart[i] = b.arrivals[i].Sub(b.starts[i])
		if b.starts[i].Before(first) {
			first = b.starts[i]
		}
		if b.arrivals[i].After(last) {
			last = b.arrivals[i]
		}
	}
	slices.Sort(fromReturn)
	slices.Sort(fromStart)
	return &result{
		Name: name, Unit: "events", N: b.n, Elapsed: last.Sub(first), Lat: fromReturn, Start: fromStart,
		Extra: fmt.Sprintf("start_p50_ms=%.2f start_p99_ms=%.2f early=%d", ms(percentile(fromStart, 50)), ms(percentile(fromStart, 99)), early),
	}, nil
}

func indexOf(name string) int {
	i, err := strconv.Atoi(strings.TrimPrefix(name, "cm-"))
	if err != nil {
		return -1
	}
	return i
}

// etcdWatchBurst: a raw etcd watch on the raw prefix (with previous values,
// as the API server's own watch asks for) and a burst of puts.
func etcdWatchBurst(ctx context.Context, ec *clientv3.Client, o options, value []byte) (*result, error) {
	cur, err := ec.Get(ctx, rawPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := ec.Watch(wctx, rawPrefix, clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithRev(cur.Header.Revision+1), clientv3.WithCreatedNotify())
	select {
	case resp, ok := <-wch:
		if !ok || !resp.Created {
			return nil, fmt.Errorf("etcd watch not created: %v", resp.Err())
		}
	case <-time.After(10 * time.Second):
		return nil, errors.New("etcd watch not created within 10s")
	}
	b := newBurst(o.updates)
	werr := make(chan error, 1)
	go func() {
		for resp := range wch {
			if err := resp.Err(); err != nil {
				werr <- err
				return
			}
			for _, ev := range resp.Events {
				b.arrived(indexOf(strings.TrimPrefix(string(ev.Kv.Key), rawPrefix)))
			}
		}
		werr <- errors.New("watch channel closed")
	}()
	updated := make([]byte, len(value))
	copy(updated, value)
	updated[0] ^= 1
	return b.run(ctx, "etcd watch", o.workers, func(ctx context.Context, i int) error {
		_, err := ec.Put(ctx, rawPrefix+cmName(i), string(updated))
		return err
	}, werr)
}

// apiWatchBurst: a client-go watch on the namespace's ConfigMaps from the
// current resource version, and a burst of updates of distinct objects.
func apiWatchBurst(ctx context.Context, cms typedcorev1.ConfigMapInterface, o options, objs []*corev1.ConfigMap, rvs []string) (*result, error) {
	l, err := cms.List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := cms.Watch(wctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	// Watch returns once the server answered; give its etcd watch a moment
	// to be established so the first events are not delayed by setup.
	time.Sleep(200 * time.Millisecond)
	b := newBurst(o.updates)
	werr := make(chan error, 1)
	go func() {
		for ev := range w.ResultChan() {
			switch ev.Type {
			case watch.Modified:
				if cm, ok := ev.Object.(*corev1.ConfigMap); ok {
					b.arrived(indexOf(cm.Name))
				}
			case watch.Error:
				werr <- fmt.Errorf("watch error event: %v", ev.Object)
				return
			}
		}
		werr <- errors.New("watch channel closed")
	}()
	rng := rand.New(rand.NewPCG(7, 7))
	updates := make([]*corev1.ConfigMap, o.updates)
	for i := range updates {
		u := objs[i].DeepCopy()
		u.ResourceVersion = rvs[i]
		u.Data = map[string]string{"payload": randString(rng, payloadSize)}
		updates[i] = u
	}
	return b.run(ctx, "api watch", o.workers, func(ctx context.Context, i int) error {
		_, err := cms.Update(ctx, updates[i], metav1.UpdateOptions{})
		return err
	}, werr)
}
