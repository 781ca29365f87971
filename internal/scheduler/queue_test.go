package scheduler

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func queuePod(name string, prio int32) *v1.Pod {
	return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: v1.PodSpec{Priority: &prio}}
}

// fakeClock is a settable clock for the queue.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestQueue(reg prometheus.Registerer) (*schedulingQueue, *fakeClock) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	q := newSchedulingQueue(Config{InitialBackoff: time.Second, MaxBackoff: 10 * time.Second, UnschedulableRetry: 5 * time.Minute}, reg)
	q.now = clk.now
	return q, clk
}

func popKey(t *testing.T, q *schedulingQueue) string {
	t.Helper()
	key, _, ok := q.Pop()
	if !ok {
		t.Fatal("queue closed")
	}
	q.Done(key)
	return key
}

func TestQueuePriorityOrder(t *testing.T) {
	q, clk := newTestQueue(nil)
	for _, p := range []*v1.Pod{queuePod("low", 1), queuePod("high", 100), queuePod("mid-a", 50)} {
		q.Add(p)
		clk.t = clk.t.Add(time.Millisecond)
	}
	q.Add(queuePod("mid-b", 50))
	for _, want := range []string{"default/high", "default/mid-a", "default/mid-b", "default/low"} {
		if got := popKey(t, q); got != want {
			t.Fatalf("popped %s, want %s", got, want)
		}
	}
}

func TestQueueBackoff(t *testing.T) {
	q, clk := newTestQueue(nil)
	p := queuePod("p", 0)
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
		q.AddBackoff(p)
		if a, b, _ := q.Len(); a != 0 || b != 1 {
			t.Fatalf("attempt %d: active %d backoff %d", i, a, b)
		}
		clk.t = clk.t.Add(want - time.Millisecond)
		q.flush()
		if a, _, _ := q.Len(); a != 0 {
			t.Fatalf("attempt %d: active before %v", i, want)
		}
		clk.t = clk.t.Add(time.Millisecond)
		q.flush()
		if a, _, _ := q.Len(); a != 1 {
			t.Fatalf("attempt %d: not active after %v", i, want)
		}
		popKey(t, q)
	}
}

func TestQueueUnschedulable(t *testing.T) {
	reg := prometheus.NewRegistry()
	q, clk := newTestQueue(reg)
	a, b := queuePod("a", 0), queuePod("b", 0)
	q.Add(a)
	q.Add(b)
	_, moves, _ := q.Pop()
	q.AddUnschedulable(a, moves)
	q.Done("default/a")
	if !q.IsUnschedulable("default/a") {
		t.Fatal("a not parked")
	}
	// A change during b's cycle sends b to backoff, not to the parked pods.
	_, moves, _ = q.Pop()
	q.MoveAllToActiveOrBackoff("NodeAdd")
	q.AddUnschedulable(b, moves)
	q.Done("default/b")
	if q.IsUnschedulable("default/b") {
		t.Fatal("b parked although the cluster changed during its cycle")
	}
	if got := pendingPods(t, reg, queueBackoff); got != 2 {
		t.Fatalf("scheduler_pending_pods{queue=backoff} = %v, want 2", got)
	}
	clk.t = clk.t.Add(time.Second)
	q.flush()
	if act, _, _ := q.Len(); act != 2 {
		t.Fatalf("%d active after backoff, want 2", act)
	}
	// Parked pods come back after UnschedulableRetry anyway.
	_, moves, _ = q.Pop()
	q.AddUnschedulable(a, moves)
	q.Done("default/a")
	clk.t = clk.t.Add(5 * time.Minute)
	q.flush()
	if q.IsUnschedulable("default/a") {
		t.Fatal("a still parked after 5 minutes")
	}
	// An update to a parked pod retries it; deleting forgets it.
	popKey(t, q)
	_, moves, _ = q.Pop()
	q.AddUnschedulable(a, moves)
	q.Done("default/a")
	q.Add(a)
	if q.IsUnschedulable("default/a") {
		t.Fatal("updated pod still parked")
	}
	q.Delete("default/a")
	if x, y, z := q.Len(); x+y+z != 0 {
		t.Fatalf("queue not empty: %d %d %d", x, y, z)
	}
}

func TestQueueUpdateDuringCycle(t *testing.T) {
	q, _ := newTestQueue(nil)
	p := queuePod("p", 0)
	q.Add(p)
	key, _, _ := q.Pop()
	q.Add(p) // changed while being scheduled
	q.Done(key)
	if a, _, _ := q.Len(); a != 1 {
		t.Fatalf("pod changed during its cycle not queued again (%d active)", a)
	}
}

func TestQueueClose(t *testing.T) {
	q, _ := newTestQueue(nil)
	done := make(chan bool)
	go func() {
		_, _, ok := q.Pop()
		done <- ok
	}()
	q.Close()
	if <-done {
		t.Fatal("Pop returned a pod from a closed queue")
	}
}

// pendingPods reads scheduler_pending_pods{queue} from reg.
func pendingPods(t *testing.T, reg *prometheus.Registry, queue string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != "scheduler_pending_pods" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "queue" && l.GetValue() == queue {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

func TestQueueSchedulingGates(t *testing.T) {
	reg := prometheus.NewRegistry()
	q, _ := newTestQueue(reg)
	p := queuePod("gated", 0)
	p.Spec.SchedulingGates = []v1.PodSchedulingGate{{Name: "example.com/wait"}}
	q.Add(p)
	if a, b, u := q.Len(); a+b+u != 0 || pendingPods(t, reg, queueGated) != 1 {
		t.Fatalf("gated pod queued: %d %d %d", a, b, u)
	}
	ungated := p.DeepCopy()
	ungated.Spec.SchedulingGates = nil
	q.Add(ungated)
	if a, _, _ := q.Len(); a != 1 || pendingPods(t, reg, queueGated) != 0 {
		t.Fatal("pod not active once its gates are gone")
	}
}
