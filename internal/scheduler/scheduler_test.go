package scheduler

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"skiff/internal/scheduler/framework"
)

func testNode(name, cpu string, labels map[string]string, taints ...v1.Taint) *v1.Node {
	res := v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse("4Gi"), v1.ResourcePods: resource.MustParse("110")}
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       v1.NodeSpec{Taints: taints},
		Status:     v1.NodeStatus{Capacity: res, Allocatable: res},
	}
}

func testPod(name, cpu string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec: v1.PodSpec{SchedulerName: DefaultSchedulerName, Containers: []v1.Container{{Name: "c",
			Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu)}}}}},
	}
}

var cpTaint = v1.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: v1.TaintEffectNoSchedule}

func TestSchedule(t *testing.T) {
	busy := testPod("busy", "1500m")
	infos := func() []*framework.NodeInfo {
		return []*framework.NodeInfo{
			framework.NewNodeInfo(testNode("a", "2", map[string]string{"zone": "a"})),
			framework.NewNodeInfo(testNode("b", "2", map[string]string{"zone": "b"}), busy),
			framework.NewNodeInfo(testNode("cp", "2", nil, cpTaint)),
		}
	}
	tests := []struct {
		name    string
		pod     *v1.Pod
		nodes   []*framework.NodeInfo
		want    string
		wantErr string
	}{
		{name: "least allocated wins", pod: testPod("p", "500m"), nodes: infos(), want: "a"},
		{name: "only one fits", pod: testPod("p", "1"), nodes: infos(), want: "a"},
		{name: "selector", pod: func() *v1.Pod {
			p := testPod("p", "100m")
			p.Spec.NodeSelector = map[string]string{"zone": "b"}
			return p
		}(), nodes: infos(), want: "b"},
		{name: "too big", pod: testPod("p", "3"), nodes: infos(),
			wantErr: "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu."},
		{name: "mixed", pod: testPod("p", "1"), nodes: []*framework.NodeInfo{infos()[1], infos()[2]},
			wantErr: "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }."},
		{name: "no nodes", pod: testPod("p", "1"), wantErr: ErrNoNodesAvailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Schedule(context.Background(), DefaultProfile(), tt.pod, tt.nodes)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Schedule = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestSelectHostTies(t *testing.T) {
	scores := []framework.NodeScore{{Name: "a", Score: 10}, {Name: "b", Score: 30}, {Name: "c", Score: 30}, {Name: "d", Score: 5}}
	seen := map[string]int{}
	for range 400 {
		seen[selectHost(scores)]++
	}
	if seen["a"] != 0 || seen["d"] != 0 || seen["b"] < 100 || seen["c"] < 100 {
		t.Fatalf("picks = %v, want b and c about evenly", seen)
	}
}

func TestSetCondition(t *testing.T) {
	st := &v1.PodStatus{}
	c := v1.PodCondition{Type: v1.PodScheduled, Status: v1.ConditionFalse, Reason: "Unschedulable", Message: "m1", LastTransitionTime: metav1.Unix(1, 0)}
	if !setCondition(st, c) || len(st.Conditions) != 1 {
		t.Fatalf("first set: %+v", st)
	}
	c2 := c
	c2.LastTransitionTime = metav1.Unix(2, 0)
	if setCondition(st, c2) {
		t.Fatal("same condition reported as a change")
	}
	c2.Message = "m2"
	if !setCondition(st, c2) || st.Conditions[0].Message != "m2" || !st.Conditions[0].LastTransitionTime.Equal(&c.LastTransitionTime) {
		t.Fatalf("message change: %+v", st.Conditions[0])
	}
}

// fakeCluster is a fake clientset whose pods/binding sets spec.nodeName
// and PodScheduled=True, as the API server does.
func fakeCluster(t *testing.T, objs ...runtime.Object) *fake.Clientset {
	t.Helper()
	c := fake.NewClientset(objs...)
	c.PrependReactor("create", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		ca, ok := a.(clienttesting.CreateAction)
		if !ok || a.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b := ca.GetObject().(*v1.Binding)
		obj, err := c.Tracker().Get(v1.SchemeGroupVersion.WithResource("pods"), b.Namespace, b.Name)
		if err != nil {
			return true, nil, err
		}
		p := obj.(*v1.Pod).DeepCopy()
		if p.Spec.NodeName != "" {
			return true, nil, errors.New("already bound")
		}
		p.Spec.NodeName = b.Target.Name
		p.Status.Conditions = append(p.Status.Conditions, v1.PodCondition{Type: v1.PodScheduled, Status: v1.ConditionTrue})
		return true, b, c.Tracker().Update(v1.SchemeGroupVersion.WithResource("pods"), p, b.Namespace)
	})
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func getPod(t *testing.T, c *fake.Clientset, name string) *v1.Pod {
	p, err := c.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSchedulerLoop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := fakeCluster(t, testNode("a", "2", nil), testNode("cp", "2", nil, cpTaint))
	reg := prometheus.NewRegistry()
	s := New(c, slog.New(slog.NewTextHandler(io.Discard, nil)), Config{Registerer: reg, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	for _, p := range []*v1.Pod{testPod("p1", "1"), testPod("p2", "1"), testPod("p3", "1")} {
		if _, err := c.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	other := testPod("other", "1")
	other.Spec.SchedulerName = "someone-else"
	if _, err := c.CoreV1().Pods("default").Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	msg := "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }." +
		" preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."
	var pending string
	waitFor(t, "two pods bound and one unschedulable", func() bool {
		boundN := 0
		pending = ""
		for _, n := range []string{"p1", "p2", "p3"} {
			p := getPod(t, c, n)
			if p.Spec.NodeName == "a" {
				boundN++
				continue
			}
			for _, cond := range p.Status.Conditions {
				if cond.Type == v1.PodScheduled && cond.Status == v1.ConditionFalse && cond.Reason == v1.PodReasonUnschedulable && cond.Message == msg {
					pending = n
				}
			}
		}
		return boundN == 2 && pending != ""
	})
	if p := getPod(t, c, "other"); p.Spec.NodeName != "" || len(p.Status.Conditions) != 0 {
		t.Fatalf("pod of another scheduler touched: %+v", p)
	}

	// A new node lets the pending pod in.
	if _, err := c.CoreV1().Nodes().Create(ctx, testNode("b", "2", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pending pod bound to the new node", func() bool { return getPod(t, c, pending).Spec.NodeName == "b" })

	waitFor(t, "metrics", func() bool {
		return attempts(t, reg, resultScheduled) == 3 && attempts(t, reg, resultUnschedulable) >= 1
	})
	waitFor(t, "events", func() bool {
		list, err := c.EventsV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var scheduled, failed bool
		for _, e := range list.Items {
			scheduled = scheduled || (e.Reason == "Scheduled" && e.Regarding.Name == pending && e.Note == "Successfully assigned default/"+pending+" to b")
			// events.k8s.io keeps the note of the first event of a series
			// (same pod, reason and action): on a loaded machine an earlier
			// attempt's wording may be the one stored. The exact message is
			// checked on the pod's condition above.
			failed = failed || (e.Reason == "FailedScheduling" && e.Type == v1.EventTypeWarning && e.Regarding.Name == pending && e.Note != "")
		}
		return scheduled && failed
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// attempts reads scheduler_schedule_attempts_total{result} from reg.
func attempts(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != "scheduler_schedule_attempts_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
