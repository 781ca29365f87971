package nodelifecycle

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

type cluster struct {
	t      *testing.T
	ctx    context.Context
	client *fake.Clientset
}

func newCluster(t *testing.T, nodes int) *cluster {
	c := &cluster{t: t, ctx: context.Background(), client: fake.NewClientset()}
	for i := 0; i < nodes; i++ {
		name := fmt.Sprintf("n%d", i)
		now := metav1.Now()
		_, err := c.client.CoreV1().Nodes().Create(c.ctx, &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
				LastHeartbeatTime: now, LastTransitionTime: now}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(c.ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       coordinationv1.LeaseSpec{RenewTime: &metav1.MicroTime{Time: time.Now()}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func (c *cluster) renew(node string) {
	l, err := c.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(c.ctx, node, metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	l.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
	l.ResourceVersion = fmt.Sprint(time.Now().UnixNano())
	if _, err := c.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Update(c.ctx, l, metav1.UpdateOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) pod(name, node string, tols ...corev1.Toleration) {
	_, err := c.client.CoreV1().Pods("default").Create(c.ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: k8stypes.UID("uid-" + name)},
		Spec:       corev1.PodSpec{NodeName: node, Tolerations: tols},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) node(name string) *corev1.Node {
	n, err := c.client.CoreV1().Nodes().Get(c.ctx, name, metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return n
}

func (c *cluster) wait(what string, cond func() bool) {
	c.t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	c.t.Fatalf("timed out waiting for %s", what)
}

// run starts both controllers; renewing lists the nodes whose leases keep
// being renewed.
func (c *cluster) run(renewing func() []string) func() {
	factory := informers.NewSharedInformerFactory(c.client, 0)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// Leases are renewed every 100ms; a grace of 2s keeps a busy machine
	// from making the renewing nodes look silent.
	lc := New(c.client, factory, Config{MonitorPeriod: 50 * time.Millisecond, GracePeriod: 2 * time.Second, StartupGracePeriod: 2 * time.Second, EvictionRate: 100}, log)
	te := NewTaintEviction(c.client, factory, log)
	ctx, cancel := context.WithCancel(c.ctx)
	factory.Start(ctx.Done())
	done := make(chan struct{}, 3)
	go func() { _ = lc.Run(ctx); done <- struct{}{} }()
	go func() { _ = te.Run(ctx); done <- struct{}{} }()
	go func() {
		defer func() { done <- struct{}{} }()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				for _, n := range renewing() {
					c.renew(n)
				}
			}
		}
	}()
	return func() { cancel(); <-done; <-done; <-done; factory.Shutdown() }
}

func taintKeys(n *corev1.Node) map[string]bool {
	out := map[string]bool{}
	for _, t := range n.Spec.Taints {
		out[t.Key+":"+string(t.Effect)] = true
	}
	return out
}

func ready(n *corev1.Node) corev1.ConditionStatus {
	if r := condition(n, corev1.NodeReady); r != nil {
		return r.Status
	}
	return ""
}

func TestSilentNodeIsTaintedAndItsPodsEvicted(t *testing.T) {
	c := newCluster(t, 3)
	sixty, one := int64(60), int64(1)
	c.pod("no-toleration", "n2")
	c.pod("short", "n2", corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &one})
	c.pod("long", "n2", corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &sixty})
	c.pod("forever", "n2", corev1.Toleration{Operator: corev1.TolerationOpExists})
	c.pod("healthy", "n0")
	stop := c.run(func() []string { return []string{"n0", "n1"} })
	defer stop()

	c.wait("n2 Unknown with the unreachable taints", func() bool {
		n := c.node("n2")
		k := taintKeys(n)
		return ready(n) == corev1.ConditionUnknown && k["node.kubernetes.io/unreachable:NoSchedule"] && k["node.kubernetes.io/unreachable:NoExecute"]
	})
	if r := condition(c.node("n2"), corev1.NodeReady); r.Reason != reasonUnknown || r.Message != messageUnknown {
		t.Errorf("Ready condition %+v", r)
	}
	for _, n := range []string{"n0", "n1"} {
		if node := c.node(n); ready(node) != corev1.ConditionTrue || len(node.Spec.Taints) != 0 {
			t.Errorf("healthy node %s: ready %s taints %v", n, ready(node), node.Spec.Taints)
		}
	}
	gone := func(name string) bool {
		_, err := c.client.CoreV1().Pods("default").Get(c.ctx, name, metav1.GetOptions{})
		return err != nil
	}
	c.wait("the intolerant pod evicted", func() bool { return gone("no-toleration") })
	c.wait("the pod tolerating 1s evicted", func() bool { return gone("short") })
	for _, name := range []string{"long", "forever", "healthy"} {
		if gone(name) {
			t.Fatalf("pod %s was evicted before its time", name)
		}
	}
	p, err := c.client.CoreV1().Pods("default").Get(c.ctx, "long", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady && cond.Status != corev1.ConditionFalse {
			t.Errorf("pod on the silent node still ready: %+v", cond)
		}
	}

	// The node comes back: its kubelet posts Ready, and the taints go.
	n := c.node("n2")
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			n.Status.Conditions[i].Status = corev1.ConditionTrue
			n.Status.Conditions[i].LastHeartbeatTime = metav1.Now()
		}
	}
	n.ResourceVersion = "back"
	if _, err := c.client.CoreV1().Nodes().UpdateStatus(c.ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.wait("the taints removed", func() bool { return len(c.node("n2").Spec.Taints) == 0 })
}

func TestAllNodesSilentIsNotEvicted(t *testing.T) {
	c := newCluster(t, 2)
	// Nodes fall silent one monitor pass apart; the default toleration
	// leaves the time to see that all of them did.
	fiveMin := int64(300)
	c.pod("p", "n0", corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &fiveMin})
	stop := c.run(func() []string { return nil })
	defer stop()
	c.wait("both nodes Unknown and NoSchedule-tainted", func() bool {
		for _, name := range []string{"n0", "n1"} {
			n := c.node(name)
			if ready(n) != corev1.ConditionUnknown || !taintKeys(n)["node.kubernetes.io/unreachable:NoSchedule"] {
				return false
			}
		}
		return true
	})
	// Give the controller a few monitor periods: no NoExecute taint appears.
	time.Sleep(300 * time.Millisecond)
	for _, name := range []string{"n0", "n1"} {
		if taintKeys(c.node(name))["node.kubernetes.io/unreachable:NoExecute"] {
			t.Errorf("%s tainted NoExecute although every node is down", name)
		}
	}
	if _, err := c.client.CoreV1().Pods("default").Get(c.ctx, "p", metav1.GetOptions{}); err != nil {
		t.Error("pod evicted during a full disruption")
	}
}

func TestConditionTaints(t *testing.T) {
	n := &corev1.Node{Spec: corev1.NodeSpec{Unschedulable: true}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionFalse},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionTrue},
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
	}}}
	got := map[string]bool{}
	for _, k := range conditionTaints(n) {
		got[k] = true
	}
	want := []string{corev1.TaintNodeNotReady, corev1.TaintNodeDiskPressure, corev1.TaintNodeUnschedulable}
	if len(got) != len(want) {
		t.Fatalf("taints %v, want %v", got, want)
	}
	for _, k := range want {
		if !got[k] {
			t.Errorf("missing %s", k)
		}
	}
}

// A NoExecute taint write lost to a concurrent update must not use up the
// zone's turn: with one eviction per 1000 s, the retry on the next pass
// still taints the node.
func TestConflictedTaintKeepsTheZoneTurn(t *testing.T) {
	c := newCluster(t, 3)
	conflicts := 1
	c.client.PrependReactor("update", "nodes", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if u, ok := a.(k8stesting.UpdateAction); ok && u.GetSubresource() == "" && conflicts > 0 {
			conflicts--
			return true, nil, apierrors.NewConflict(corev1.Resource("nodes"), "n2", fmt.Errorf("changed"))
		}
		return false, nil, nil
	})
	factory := informers.NewSharedInformerFactory(c.client, 0)
	lc := New(c.client, factory, Config{EvictionRate: 0.001}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	silent := c.node("n2")
	for i := range silent.Status.Conditions {
		silent.Status.Conditions[i].Status = corev1.ConditionUnknown
	}
	nodes := []*corev1.Node{c.node("n0"), c.node("n1"), silent}
	lc.evictionTaints(c.ctx, nodes)
	if conflicts != 0 {
		t.Fatal("the first write did not meet the conflict")
	}
	lc.evictionTaints(c.ctx, nodes)
	if !taintKeys(c.node("n2"))["node.kubernetes.io/unreachable:NoExecute"] {
		t.Fatalf("n2 not tainted after the conflict: %v", c.node("n2").Spec.Taints)
	}
}

// TestRegisteredNodeEvent: the controller announces each node it starts
// watching, as upstream's ("Registered Node n0 in Controller").
func TestRegisteredNodeEvent(t *testing.T) {
	c := newCluster(t, 2)
	stop := c.run(func() []string { return []string{"n0", "n1"} })
	defer stop()
	c.wait("a RegisteredNode event for each node", func() bool {
		evs, err := c.client.CoreV1().Events("").List(c.ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		seen := map[string]bool{}
		for _, e := range evs.Items {
			if e.Reason == "RegisteredNode" && e.InvolvedObject.Kind == "Node" && e.Message == "Node "+e.InvolvedObject.Name+" event: Registered Node "+e.InvolvedObject.Name+" in Controller" {
				seen[e.InvolvedObject.Name] = true
			}
		}
		return seen["n0"] && seen["n1"]
	})
}
