package podtopologyspread

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"skiff/internal/scheduler/framework"
)

var app = map[string]string{"app": "x"}

func node(name, zone string) *v1.Node {
	l := map[string]string{v1.LabelHostname: name}
	if zone != "" {
		l[v1.LabelTopologyZone] = zone
	}
	return &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
}

func pods(n int, lbls map[string]string) []*v1.Pod {
	var out []*v1.Pod
	for i := 0; i < n; i++ {
		out = append(out, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Labels: lbls}})
	}
	return out
}

func spreadPod(when v1.UnsatisfiableConstraintAction, key string, maxSkew int32, mutate ...func(*v1.TopologySpreadConstraint)) *v1.Pod {
	c := v1.TopologySpreadConstraint{MaxSkew: maxSkew, TopologyKey: key, WhenUnsatisfiable: when, LabelSelector: &metav1.LabelSelector{MatchLabels: app}}
	for _, m := range mutate {
		m(&c)
	}
	return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", Labels: app}, Spec: v1.PodSpec{TopologySpreadConstraints: []v1.TopologySpreadConstraint{c}}}
}

func TestFilter(t *testing.T) {
	// a1 holds 2 matching pods, a2 none, b1 1; "bare" has no zone label.
	nodes := []*framework.NodeInfo{
		framework.NewNodeInfo(node("a1", "a"), pods(2, app)...),
		framework.NewNodeInfo(node("a2", "a")),
		framework.NewNodeInfo(node("b1", "b"), append(pods(1, app), pods(3, map[string]string{"app": "other"})...)...),
		framework.NewNodeInfo(node("bare", "")),
	}
	three := int32(3)
	tests := []struct {
		name string
		pod  *v1.Pod
		want map[string]string
	}{
		{"zone maxSkew 1", spreadPod(v1.DoNotSchedule, v1.LabelTopologyZone, 1),
			map[string]string{"a1": ErrReasonConstraintsNotMatch, "a2": ErrReasonConstraintsNotMatch, "b1": "", "bare": ErrReasonNodeLabelNotMatch}},
		{"zone maxSkew 2", spreadPod(v1.DoNotSchedule, v1.LabelTopologyZone, 2),
			map[string]string{"a1": "", "a2": "", "b1": "", "bare": ErrReasonNodeLabelNotMatch}},
		{"hostname maxSkew 1", spreadPod(v1.DoNotSchedule, v1.LabelHostname, 1),
			map[string]string{"a1": ErrReasonConstraintsNotMatch, "a2": "", "b1": ErrReasonConstraintsNotMatch, "bare": ""}},
		{"minDomains above the domains makes the minimum 0", spreadPod(v1.DoNotSchedule, v1.LabelTopologyZone, 2, func(c *v1.TopologySpreadConstraint) { c.MinDomains = &three }),
			map[string]string{"a1": ErrReasonConstraintsNotMatch, "a2": ErrReasonConstraintsNotMatch, "b1": "", "bare": ErrReasonNodeLabelNotMatch}},
		{"matchLabelKeys narrows the selector", spreadPod(v1.DoNotSchedule, v1.LabelHostname, 1, func(c *v1.TopologySpreadConstraint) {
			c.LabelSelector = &metav1.LabelSelector{}
			c.MatchLabelKeys = []string{"app"}
		}), map[string]string{"a1": ErrReasonConstraintsNotMatch, "a2": "", "b1": ErrReasonConstraintsNotMatch, "bare": ""}},
		{"ScheduleAnyway does not filter", spreadPod(v1.ScheduleAnyway, v1.LabelTopologyZone, 1),
			map[string]string{"a1": "", "a2": "", "b1": "", "bare": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pl := &Plugin{}
			state := framework.NewCycleState()
			if st := pl.PreFilter(context.Background(), state, tc.pod, nodes); !st.IsSuccess() && st.Code != framework.Skip {
				t.Fatal(st.Message())
			}
			for _, ni := range nodes {
				if got := pl.Filter(context.Background(), state, tc.pod, ni).Message(); got != tc.want[ni.Node.Name] {
					t.Errorf("%s: %q, want %q", ni.Node.Name, got, tc.want[ni.Node.Name])
				}
			}
		})
	}
}

func TestFilterNodeAffinityPolicy(t *testing.T) {
	// Honor (default): nodes the pod can't go to don't count as domains.
	nodes := []*framework.NodeInfo{
		framework.NewNodeInfo(node("a1", "a"), pods(1, app)...),
		framework.NewNodeInfo(node("b1", "b")),
	}
	p := spreadPod(v1.DoNotSchedule, v1.LabelTopologyZone, 1)
	p.Spec.NodeSelector = map[string]string{v1.LabelTopologyZone: "a"}
	pl := &Plugin{}
	state := framework.NewCycleState()
	pl.PreFilter(context.Background(), state, p, nodes)
	if st := pl.Filter(context.Background(), state, p, nodes[0]); !st.IsSuccess() {
		t.Fatalf("Honor: %s", st.Message())
	}
	ignore := v1.NodeInclusionPolicyIgnore
	p.Spec.TopologySpreadConstraints[0].NodeAffinityPolicy = &ignore
	state = framework.NewCycleState()
	pl.PreFilter(context.Background(), state, p, nodes)
	if st := pl.Filter(context.Background(), state, p, nodes[0]); st.IsSuccess() {
		t.Fatal("Ignore: zone b should count and make the skew 2")
	}
}

func score(t *testing.T, pl *Plugin, p *v1.Pod, nodes []*framework.NodeInfo) map[string]int64 {
	t.Helper()
	state := framework.NewCycleState()
	if st := pl.PreScore(context.Background(), state, p, nodes); !st.IsSuccess() && st.Code != framework.Skip {
		t.Fatal(st.Message())
	}
	scores := make([]framework.NodeScore, len(nodes))
	for i, ni := range nodes {
		s, _ := pl.Score(context.Background(), state, p, ni)
		scores[i] = framework.NodeScore{Name: ni.Node.Name, Score: s}
	}
	pl.NormalizeScore(context.Background(), state, p, scores)
	out := map[string]int64{}
	for _, s := range scores {
		out[s.Name] = s.Score
	}
	return out
}

func TestScore(t *testing.T) {
	nodes := []*framework.NodeInfo{
		framework.NewNodeInfo(node("a1", "a"), pods(2, app)...),
		framework.NewNodeInfo(node("a2", "a")),
		framework.NewNodeInfo(node("b1", "b")),
	}
	got := score(t, &Plugin{}, spreadPod(v1.ScheduleAnyway, v1.LabelTopologyZone, 1), nodes)
	if got["b1"] != 100 || got["a1"] >= got["b1"] || got["a1"] != got["a2"] {
		t.Fatalf("zone scores %v: want b1 best, a1 = a2", got)
	}
	got = score(t, &Plugin{}, spreadPod(v1.ScheduleAnyway, v1.LabelHostname, 1), nodes)
	if got["a2"] != 100 || got["b1"] != 100 || got["a1"] >= 100 {
		t.Fatalf("hostname scores %v", got)
	}
}

func TestSystemDefaults(t *testing.T) {
	c := fake.NewClientset(&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs", Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: app}}})
	f := informers.NewSharedInformerFactory(c, 0)
	pl := &Plugin{Services: f.Core().V1().Services().Lister(), Controllers: f.Core().V1().ReplicationControllers().Lister(),
		ReplicaSets: f.Apps().V1().ReplicaSets().Lister(), StatefulSets: f.Apps().V1().StatefulSets().Lister()}
	stop := make(chan struct{})
	defer close(stop)
	f.Start(stop)
	f.WaitForCacheSync(stop)

	nodes := []*framework.NodeInfo{
		framework.NewNodeInfo(node("n1", ""), pods(3, app)...),
		framework.NewNodeInfo(node("n2", "")),
	}
	owned := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", Labels: app}}
	got := score(t, pl, owned, nodes)
	if got["n2"] != 100 || got["n1"] >= 100 {
		t.Fatalf("default spreading over hostnames: %v", got)
	}
	loose := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "default", Labels: map[string]string{"app": "none"}}}
	if got := score(t, pl, loose, nodes); got["n1"] != got["n2"] {
		t.Fatalf("a pod no controller selects is not spread: %v", got)
	}
}

func TestRemovePodForPreemption(t *testing.T) {
	onA := pods(2, app)
	nodes := []*framework.NodeInfo{
		framework.NewNodeInfo(node("a1", "a"), onA...),
		framework.NewNodeInfo(node("b1", "b")),
	}
	p := spreadPod(v1.DoNotSchedule, v1.LabelTopologyZone, 1)
	pl := &Plugin{}
	state := framework.NewCycleState()
	pl.PreFilter(context.Background(), state, p, nodes)
	if pl.Filter(context.Background(), state, p, nodes[0]).IsSuccess() {
		t.Fatal("a1 should be rejected with 2 pods in zone a and none in b")
	}
	dry := state.Clone()
	pl.RemovePod(context.Background(), dry, p, onA[0], nodes[0])
	pl.RemovePod(context.Background(), dry, p, onA[1], nodes[0])
	if st := pl.Filter(context.Background(), dry, p, nodes[0]); !st.IsSuccess() {
		t.Fatalf("a1 after removing both pods: %s", st.Message())
	}
	pl.AddPod(context.Background(), dry, p, onA[0], nodes[0])
	if st := pl.Filter(context.Background(), dry, p, nodes[0]); st.IsSuccess() {
		t.Fatal("a1 with one pod back: skew 2 should be rejected")
	}
	if pl.Filter(context.Background(), state, p, nodes[0]).IsSuccess() {
		t.Fatal("dry run changed the cycle state")
	}
}
