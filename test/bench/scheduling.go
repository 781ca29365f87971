package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"skiff/internal/app"
)

// upstreamSchedulingFloor is the upstream scheduler's CI floor for 5,000
// nodes (pods/s), quoted for context; the ratio reported is against the
// pod creates measured in the same run.
const upstreamSchedulingFloor = 270

// schedFigures is one scheduling run: pods created through the API onto a
// cluster of simulated nodes, scheduled and bound by skiff's scheduler.
type schedFigures struct {
	nodes, pods int
	nodeSetup   time.Duration
	create      *result       // the pod creates
	span        time.Duration // first create starting to last pod bound
	perSecond   []int         // pods bound in each whole second of the span
	cpu         time.Duration // process CPU over the span
}

func (f *schedFigures) throughput() float64 { return float64(f.pods) / f.span.Seconds() }

// perSecondPct is a percentile of the per-second bind counts.
func (f *schedFigures) perSecondPct(p float64) int {
	if len(f.perSecond) == 0 {
		return 0
	}
	s := slices.Clone(f.perSecond)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

func (f *schedFigures) line() string {
	return fmt.Sprintf("BENCH scheduling nodes=%d pods=%d pods_per_s=%.0f create_per_s=%.0f ratio_to_creates=%.2f per_second_p50=%d per_second_p90=%d span_s=%.2f cpu_ms_per_pod=%.3f",
		f.nodes, f.pods, f.throughput(), f.create.opsPerSec(), f.throughput()/f.create.opsPerSec(), f.perSecondPct(50), f.perSecondPct(90),
		f.span.Seconds(), float64(f.cpu)/float64(time.Millisecond)/float64(f.pods))
}

// schedNode is a simulated node as the scheduler sees it: Ready, with room
// for far more than its share of the pods.
func schedNode(i int) *corev1.Node {
	res := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("128Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	name := fmt.Sprintf("sim-node-%05d", i)
	now := metav1.Now()
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			corev1.LabelHostname: name, corev1.LabelTopologyZone: fmt.Sprintf("zone-%d", i%3), "type": "simulated"}},
		Status: corev1.NodeStatus{
			Capacity: res, Allocatable: res, Phase: corev1.NodeRunning,
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
				LastHeartbeatTime: now, LastTransitionTime: now}},
		},
	}
}

// schedulingBench starts a fresh server, registers nodes, creates pods
// with o.workers workers and measures how fast they are bound.
func schedulingBench(ctx context.Context, out io.Writer, o options, nodes int) (*schedFigures, error) {
	dir, err := os.MkdirTemp("", "skiff-bench-sched-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	// The nodes have no agent renewing leases: keep them Ready.
	srv, err := startServer(ctx, dir, o.verbose, func(c *app.ServerConfig) {
		c.NodeLifecycle.GracePeriod = 24 * time.Hour
		c.NodeLifecycle.StartupGracePeriod = 24 * time.Hour
		// Room for a /24 per node beyond the default /16's 256 nodes.
		c.ClusterCIDR = "10.128.0.0/9"
	})
	if err != nil {
		return nil, err
	}
	defer func() { _ = srv.stop() }()
	kc, _, _, err := newKubeClient(ctx, srv.cfg.WriteKubeconfig, &report{})
	if err != nil {
		return nil, err
	}
	f := &schedFigures{nodes: nodes, pods: o.schedPods}

	began := time.Now()
	if _, err := parallel(ctx, "node create", o.workers, nodes, func(ctx context.Context, _, i int) error {
		n := schedNode(i)
		created, err := kc.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		if len(created.Status.Allocatable) == 0 {
			created.Status = n.Status
			_, err = kc.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
		}
		return err
	}); err != nil {
		return nil, err
	}
	// Let the node IPAM writes and the scheduler's informer settle.
	if err := waitQuiet(ctx, kc, nodes); err != nil {
		return nil, err
	}
	f.nodeSetup = time.Since(began)
	fmt.Fprintf(os.Stderr, "bench: %d nodes ready in %s\n", nodes, f.nodeSetup.Round(time.Millisecond))

	// Watch binds from now on.
	list, err := kc.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return nil, err
	}
	w, err := kc.CoreV1().Pods(namespace).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	boundAt := make([]time.Time, 0, o.schedPods)
	var mu sync.Mutex
	allBound := make(chan struct{})
	go func() {
		seen := map[string]bool{}
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				continue
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || p.Spec.NodeName == "" || seen[p.Name] {
				continue
			}
			seen[p.Name] = true
			mu.Lock()
			boundAt = append(boundAt, time.Now())
			n := len(boundAt)
			mu.Unlock()
			if n == o.schedPods {
				close(allBound)
				return
			}
		}
	}()

	cpu0 := cpuTime()
	if f.create, err = parallel(ctx, "pod create", o.workers, o.schedPods, func(ctx context.Context, _, i int) error {
		_, err := kc.CoreV1().Pods(namespace).Create(ctx, newPod(i), metav1.CreateOptions{})
		return err
	}); err != nil {
		return nil, err
	}
	createStart := time.Now().Add(-f.create.Elapsed)
	select {
	case <-allBound:
	case <-time.After(o.schedWait):
		mu.Lock()
		n := len(boundAt)
		mu.Unlock()
		return nil, fmt.Errorf("only %d of %d pods bound after %s", n, o.schedPods, o.schedWait)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	f.cpu = cpuTime() - cpu0
	mu.Lock()
	last := boundAt[len(boundAt)-1]
	f.span = last.Sub(createStart)
	first := boundAt[0]
	for s := first; s.Add(time.Second).Before(last) || s.Add(time.Second).Equal(last); s = s.Add(time.Second) {
		c := 0
		for _, t := range boundAt {
			if !t.Before(s) && t.Before(s.Add(time.Second)) {
				c++
			}
		}
		f.perSecond = append(f.perSecond, c)
	}
	mu.Unlock()
	fmt.Fprintln(out, f.line())
	return f, nil
}

// waitQuiet waits until every node has its pod CIDR: the cluster is done
// reacting to the registrations.
func waitQuiet(ctx context.Context, kc *kubernetes.Clientset, nodes int) error {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		list, err := kc.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return err
		}
		ready := 0
		for _, n := range list.Items {
			if n.Spec.PodCIDR != "" {
				ready++
			}
		}
		if ready == nodes {
			// The scheduler watches the same cache; give its informer a
			// moment to take the last updates.
			time.Sleep(2 * time.Second)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return errors.New("nodes did not all get a pod CIDR within 5 minutes")
}

func (r *report) schedulingMarkdown(p func(string, ...any)) {
	if len(r.sched) == 0 {
		return
	}
	p("## Scheduling throughput\n\n")
	p("A fresh server per row; simulated nodes (Node objects, Ready, 32 cpu / 128Gi / 110 pods, no agent) registered through the API; then %d workers create %d Pods (10m cpu, 16Mi each) and skiff's scheduler (in the same process, default plugins) binds them. Throughput is pods over the time from the first create starting to the last pod seen bound by a watch; the per-second figures are pods bound in each whole second. The ratio compares it with the pod-create rate of the same run: the scheduler cannot bind pods faster than they arrive. Upstream's scheduler CI floor for 5,000 nodes is %d pods/s.\n\n", r.opts.workers, r.opts.schedPods, upstreamSchedulingFloor)
	p("| Nodes | Pods | scheduled pods/s | pod creates/s (same run) | scheduled ÷ created | per-second p50 / p90 | ÷ upstream floor (%d) | CPU ms per pod | node setup s |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n", upstreamSchedulingFloor)
	for _, f := range r.sched {
		p("| %d | %d | %.0f | %.0f | %.2f | %d / %d | %.1f | %.3f | %.1f |\n", f.nodes, f.pods, f.throughput(), f.create.opsPerSec(),
			f.throughput()/f.create.opsPerSec(), f.perSecondPct(50), f.perSecondPct(90), f.throughput()/upstreamSchedulingFloor,
			float64(f.cpu)/float64(time.Millisecond)/float64(f.pods), f.nodeSetup.Seconds())
	}
	p("\n")
}
