package defaultpreemption

import (
	"context"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/events"

	"skiff/internal/scheduler/framework"
	"skiff/internal/scheduler/plugins/interpodaffinity"
	"skiff/internal/scheduler/plugins/noderesources"
)

// testHandle filters with NodeResourcesFit only.
type testHandle struct {
	client   kubernetes.Interface
	factory  informers.SharedInformerFactory
	recorder *events.FakeRecorder
	affinity *interpodaffinity.Plugin
}

func (h *testHandle) Client() kubernetes.Interface                           { return h.client }
func (h *testHandle) SharedInformerFactory() informers.SharedInformerFactory { return h.factory }
func (h *testHandle) EventRecorder() events.EventRecorder                    { return h.recorder }
func (h *testHandle) MoveAllToActive()                                       {}
func (h *testHandle) Filter(ctx context.Context, s *framework.CycleState, p *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	if st := (&noderesources.Fit{}).Filter(ctx, s, p, ni); !st.IsSuccess() {
		return st
	}
	return h.affinity.Filter(ctx, s, p, ni)
}
func (h *testHandle) AddPod(ctx context.Context, s *framework.CycleState, p, q *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	return h.affinity.AddPod(ctx, s, p, q, ni)
}
func (h *testHandle) RemovePod(ctx context.Context, s *framework.CycleState, p, q *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	return h.affinity.RemovePod(ctx, s, p, q, ni)
}

func testNode(name, cpu string) *v1.Node {
	return &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: v1.NodeStatus{Allocatable: v1.ResourceList{
		v1.ResourceCPU: resource.MustParse(cpu), v1.ResourcePods: resource.MustParse("110")}}}
}

func testPod(name, node, cpu string, prio int32, lbls map[string]string) *v1.Pod {
	return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Labels: lbls},
		Spec: v1.PodSpec{NodeName: node, Priority: &prio, SchedulerName: v1.DefaultSchedulerName, Containers: []v1.Container{{Name: "c",
			Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu)}}}}}}
}

func setup(t *testing.T, objs ...runtime.Object) (*Plugin, *fake.Clientset, *events.FakeRecorder) {
	c := fake.NewClientset(objs...)
	h := &testHandle{client: c, factory: informers.NewSharedInformerFactory(c, 0), recorder: events.NewFakeRecorder(10), affinity: &interpodaffinity.Plugin{}}
	pl := &Plugin{}
	if err := pl.Init(h); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	h.factory.Start(stop)
	h.factory.WaitForCacheSync(stop)
	return pl, c, h.recorder
}

func unschedulableEverywhere(nodes []*framework.NodeInfo) map[string]*framework.Status {
	out := map[string]*framework.Status{}
	for _, ni := range nodes {
		out[ni.Node.Name] = framework.NewStatus(framework.Unschedulable, "Insufficient cpu")
	}
	return out
}

func TestPreemption(t *testing.T) {
	type nodeSpec struct {
		name string
		pods []*v1.Pod
	}
	tests := []struct {
		name        string
		nodes       []nodeSpec
		pdbs        []*policyv1.PodDisruptionBudget
		preemptor   *v1.Pod
		wantNode    string
		wantVictims []string
		wantMsg     string
	}{
		{"evicts the lower-priority pod", []nodeSpec{{"n1", []*v1.Pod{testPod("low", "n1", "800m", 1, nil)}}},
			nil, testPod("p", "", "500m", 10, nil), "n1", []string{"low"}, ""},
		{"equal priority is never a victim", []nodeSpec{{"n1", []*v1.Pod{testPod("same", "n1", "800m", 10, nil)}}},
			nil, testPod("p", "", "500m", 10, nil), "", nil,
			"preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."},
		{"prefers the node with lower-priority victims", []nodeSpec{
			{"n1", []*v1.Pod{testPod("mid", "n1", "800m", 5, nil)}},
			{"n2", []*v1.Pod{testPod("low", "n2", "800m", 1, nil)}}},
			nil, testPod("p", "", "500m", 10, nil), "n2", []string{"low"}, ""},
		{"evicts only as many as needed, least important first", []nodeSpec{
			{"n1", []*v1.Pod{testPod("a", "n1", "400m", 1, nil), testPod("b", "n1", "400m", 2, nil)}}},
			nil, testPod("p", "", "500m", 10, nil), "n1", []string{"a"}, ""},
		{"prefers victims no budget protects", []nodeSpec{
			{"n1", []*v1.Pod{testPod("guarded", "n1", "800m", 1, map[string]string{"app": "g"})}},
			{"n2", []*v1.Pod{testPod("free", "n2", "800m", 3, nil)}}},
			[]*policyv1.PodDisruptionBudget{{ObjectMeta: metav1.ObjectMeta{Name: "pdb", Namespace: "default"},
				Spec: policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "g"}}}}},
			testPod("p", "", "500m", 10, nil), "n2", []string{"free"}, ""},
		{"preemptionPolicy Never", []nodeSpec{{"n1", []*v1.Pod{testPod("low", "n1", "800m", 1, nil)}}},
			nil, func() *v1.Pod {
				p := testPod("p", "", "500m", 10, nil)
				never := v1.PreemptNever
				p.Spec.PreemptionPolicy = &never
				return p
			}(), "", nil, "not eligible due to preemptionPolicy=Never."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var objs []runtime.Object
			var nodes []*framework.NodeInfo
			for _, n := range tc.nodes {
				for _, p := range n.pods {
					objs = append(objs, p)
				}
				nodes = append(nodes, framework.NewNodeInfo(testNode(n.name, "1"), n.pods...))
			}
			for _, b := range tc.pdbs {
				objs = append(objs, b)
			}
			pl, c, rec := setup(t, objs...)
			node, st := pl.PostFilter(context.Background(), framework.NewCycleState(), tc.preemptor, nodes, unschedulableEverywhere(nodes))
			if node != tc.wantNode || st.Message() != tc.wantMsg {
				t.Fatalf("PostFilter: %q %q, want %q %q", node, st.Message(), tc.wantNode, tc.wantMsg)
			}
			pods, _ := c.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
			left := map[string]bool{}
			for _, p := range pods.Items {
				left[p.Name] = true
			}
			marked := map[string]bool{}
			for _, a := range c.Actions() {
				ua, ok := a.(clienttesting.UpdateAction)
				if !ok || a.GetSubresource() != "status" {
					continue
				}
				p := ua.GetObject().(*v1.Pod)
				for _, cond := range p.Status.Conditions {
					if cond.Type == v1.DisruptionTarget && cond.Reason == v1.PodReasonPreemptionByScheduler &&
						cond.Message == "default-scheduler: preempting to accommodate a higher priority pod" {
						marked[p.Name] = true
					}
				}
			}
			for _, v := range tc.wantVictims {
				if left[v] {
					t.Errorf("victim %s not deleted", v)
				}
				if !marked[v] {
					t.Errorf("victim %s not marked DisruptionTarget", v)
				}
				select {
				case e := <-rec.Events:
					if !strings.Contains(e, "Preempted Preempted by pod uid-p on node "+tc.wantNode) {
						t.Errorf("event %q", e)
					}
				default:
					t.Errorf("no Preempted event for %s", v)
				}
			}
			if len(left) != len(objs)-len(tc.pdbs)-len(tc.wantVictims) {
				t.Errorf("pods left %v, victims %v", left, tc.wantVictims)
			}
		})
	}
}

func TestNotHelpful(t *testing.T) {
	pl, _, _ := setup(t)
	nodes := []*framework.NodeInfo{framework.NewNodeInfo(testNode("n1", "1"), testPod("low", "n1", "800m", 1, nil)),
		framework.NewNodeInfo(testNode("n2", "1"))}
	statuses := map[string]*framework.Status{
		"n1": framework.NewStatus(framework.UnschedulableAndUnresolvable, "node(s) didn't match Pod's node affinity/selector"),
		"n2": framework.NewStatus(framework.Unschedulable, "Insufficient cpu"),
	}
	_, st := pl.PostFilter(context.Background(), framework.NewCycleState(), testPod("p", "", "2", 10, nil), nodes, statuses)
	want := "preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."
	if st.Message() != want {
		t.Fatalf("%q, want %q", st.Message(), want)
	}
}

// TestPreemptionForAntiAffinity: the pods a preemptor's anti-affinity
// rejects are victims too, as the dry run uncounts them.
func TestPreemptionForAntiAffinity(t *testing.T) {
	web := map[string]string{"app": "web"}
	low := testPod("low-web", "n1", "100m", 1, web)
	pl, _, _ := setup(t, low)
	nodes := []*framework.NodeInfo{framework.NewNodeInfo(testNode("n1", "4"), low)}
	p := testPod("p", "", "100m", 10, nil)
	p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
		TopologyKey: "kubernetes.io/hostname", LabelSelector: &metav1.LabelSelector{MatchLabels: web}}}}}
	nodes[0].Node.Labels = map[string]string{"kubernetes.io/hostname": "n1"}
	state := framework.NewCycleState()
	aff := &interpodaffinity.Plugin{}
	aff.PreFilter(context.Background(), state, p, nodes)
	if st := aff.Filter(context.Background(), state, p, nodes[0]); st.IsSuccess() {
		t.Fatal("anti-affinity should reject n1 before preemption")
	}
	node, st := pl.PostFilter(context.Background(), state, p, nodes, map[string]*framework.Status{"n1": aff.Filter(context.Background(), state, p, nodes[0])})
	if node != "n1" {
		t.Fatalf("PostFilter: %q %q, want n1", node, st.Message())
	}
	// The cycle's own state is untouched.
	if st := aff.Filter(context.Background(), state, p, nodes[0]); st.IsSuccess() {
		t.Fatal("dry run changed the cycle state")
	}
}
