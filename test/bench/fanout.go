package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// fanout is the many-watchers figure: W client-go watches, all from the same
// resource version, each receiving every one of E updates.
type fanout struct {
	res                                     *result // every delivery; latency from the update call returning
	updates                                 *result // the update burst itself
	watchers, perConn, conns, dials, events int
	expected, delivered                     int
	complete, ended, early                  int
	// allP50, allP99: per update, from its call returning to the last
	// watcher receiving it (over updates every watcher received).
	allP50, allP99 time.Duration
	setup          time.Duration
	etcd           phaseEtcd
	timedOut       bool
}

func (f *fanout) complete100() bool { return f != nil && f.delivered == f.expected }

// watchFanout runs the fan-out: it creates E ConfigMaps in their own
// namespace, opens W watches on that namespace's ConfigMaps spread over
// ceil(W/perConn) HTTP/2 connections, then has o.workers workers update each
// ConfigMap once and records when every watcher receives every event.
func watchFanout(ctx context.Context, out io.Writer, o options, cfg *rest.Config, kc *kubernetes.Clientset, metrics func() map[string]opStat) (*fanout, error) {
	W, E := o.watchers, o.watchEvents
	f := &fanout{watchers: W, events: E, perConn: o.watchersPerConn, expected: W * E}
	f.conns = (W + f.perConn - 1) / f.perConn

	ns := namespace + "-watch"
	if _, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating namespace %s: %w", ns, err)
	}
	cms := kc.CoreV1().ConfigMaps(ns)
	rng := rand.New(rand.NewPCG(3, 4))
	objs := make([]*corev1.ConfigMap, E)
	for i := range objs {
		objs[i] = newConfigMap(cmName(i), rng)
		objs[i].Namespace = ns
	}
	if _, err := parallel(ctx, "fanout setup create", o.workers, E, func(ctx context.Context, _, i int) error {
		c, err := cms.Create(ctx, objs[i], metav1.CreateOptions{})
		if err == nil {
			objs[i] = c
			objs[i].Data = map[string]string{"payload": randString(rand.New(rand.NewPCG(uint64(i), 5)), payloadSize)}
		}
		return err
	}); err != nil {
		return nil, err
	}
	l, err := cms.List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return nil, err
	}
	rv := l.ResourceVersion

	// One clientset per connection: a Dial function of its own keeps
	// client-go from sharing one cached transport (and so one connection).
	var dials atomic.Int64
	clients := make([]*kubernetes.Clientset, f.conns)
	for c := range clients {
		cc := rest.CopyConfig(cfg)
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
		cc.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		}
		if clients[c], err = kubernetes.NewForConfig(cc); err != nil {
			return nil, err
		}
		// Open the connection now: concurrent first requests on a fresh
		// transport would each dial (the extra connections are dropped).
		if _, err := clients[c].CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
			return nil, fmt.Errorf("fan-out client warm-up: %w", err)
		}
	}

	// Arrival times, nanoseconds since base (0: not received), watcher-major.
	base := time.Now()
	arrivals := make([]int64, W*E)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watches := make([]watch.Interface, W)
	defer func() {
		for _, w := range watches {
			if w != nil {
				w.Stop()
			}
		}
	}()
	if _, err := parallel(ctx, "fanout watch start", o.workers, W, func(_ context.Context, _, w int) error {
		var err error
		watches[w], err = clients[w/f.perConn].CoreV1().ConfigMaps(ns).Watch(wctx, metav1.ListOptions{ResourceVersion: rv})
		return err
	}); err != nil {
		return nil, err
	}
	var (
		wg              sync.WaitGroup
		complete, ended atomic.Int64
	)
	for w := range W {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := arrivals[w*E : (w+1)*E]
			got := 0
			for ev := range watches[w].ResultChan() {
				switch ev.Type {
				case watch.Modified:
					cm, ok := ev.Object.(*corev1.ConfigMap)
					if !ok {
						continue
					}
					if i := indexOf(cm.Name); i >= 0 && i < E && mine[i] == 0 {
						mine[i] = int64(time.Since(base))
						if got++; got == E {
							complete.Add(1)
							return
						}
					}
				case watch.Error:
					ended.Add(1)
					return
				}
			}
			ended.Add(1)
		}()
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	// Watch returns once the server answered; let every server-side watch
	// register before the burst so that setup is not counted as latency.
	time.Sleep(500 * time.Millisecond)
	f.setup = time.Since(base)
	f.dials = int(dials.Load())
	m0 := metrics()

	starts := make([]int64, E)
	returns := make([]int64, E)
	c0 := cpuTime()
	if f.updates, err = parallel(ctx, "api fanout updates", o.workers, E, func(ctx context.Context, _, i int) error {
		starts[i] = int64(time.Since(base))
		_, err := cms.Update(ctx, objs[i], metav1.UpdateOptions{})
		returns[i] = int64(time.Since(base))
		return err
	}); err != nil {
		return nil, err
	}
	select {
	case <-allDone:
	case <-time.After(o.watchWait):
		f.timedOut = true
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	cpu := cpuTime() - c0
	f.etcd = phaseEtcd{"fanout-updates", E, diffStats(m0, metrics())}
	f.complete, f.ended = int(complete.Load()), int(ended.Load())
	// Stop every watch and wait for the receivers, so arrivals are final.
	cancel()
	for _, w := range watches {
		w.Stop()
	}
	<-allDone

	lats := make([]time.Duration, 0, W*E)
	lastArrival := make([]int64, E)
	perEvent := make([]int, E)
	first, last := slices.Min(starts), int64(0)
	for w := range W {
		for i, a := range arrivals[w*E : (w+1)*E] {
			if a == 0 {
				continue
			}
			d := time.Duration(a - returns[i])
			if d < 0 {
				f.early++
				d = 0
			}
			lats = append(lats, d)
			perEvent[i]++
			lastArrival[i] = max(lastArrival[i], a)
			last = max(last, a)
		}
	}
	f.delivered = len(lats)
	slices.Sort(lats)
	var all []time.Duration
	for i := range E {
		if perEvent[i] == W {
			all = append(all, max(0, time.Duration(lastArrival[i]-returns[i])))
		}
	}
	slices.Sort(all)
	f.allP50, f.allP99 = percentile(all, 50), percentile(all, 99)
	f.res = &result{
		Name: "api watch fanout", Unit: "events", N: f.delivered, Elapsed: time.Duration(last - first), Lat: lats, CPU: cpu,
		Extra: fmt.Sprintf("watchers=%d conns=%d dials=%d events=%d expected=%d delivered=%d complete_watchers=%d ended_watchers=%d timed_out=%t early=%d last_watcher_p50_ms=%.2f last_watcher_p99_ms=%.2f updates/s=%.0f",
			W, f.conns, f.dials, E, f.expected, f.delivered, f.complete, f.ended, f.timedOut, f.early, ms(f.allP50), ms(f.allP99), f.updates.opsPerSec()),
	}
	fmt.Fprintln(out, f.res.line())
	return f, nil
}
