package interpodaffinity

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"skiff/internal/scheduler/framework"
)

func node(name, zone string) *v1.Node {
	return &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.LabelHostname: name, v1.LabelTopologyZone: zone}}}
}

func pod(name, ns string, lbls map[string]string, aff *v1.Affinity) *v1.Pod {
	return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: lbls}, Spec: v1.PodSpec{Affinity: aff}}
}

func aterm(key string, lbls map[string]string) v1.PodAffinityTerm {
	return v1.PodAffinityTerm{TopologyKey: key, LabelSelector: &metav1.LabelSelector{MatchLabels: lbls}}
}

func affinity(terms ...v1.PodAffinityTerm) *v1.Affinity {
	return &v1.Affinity{PodAffinity: &v1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: terms}}
}

func antiAffinity(terms ...v1.PodAffinityTerm) *v1.Affinity {
	return &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: terms}}
}

var web = map[string]string{"app": "web"}

// cluster: n1 (zone a) runs a web pod, n2 (zone a) and n3 (zone b) run
// nothing unless extra pods are given.
func cluster(extra map[string][]*v1.Pod) []*framework.NodeInfo {
	pods := map[string][]*v1.Pod{"n1": {pod("w1", "default", web, nil)}}
	for n, ps := range extra {
		pods[n] = append(pods[n], ps...)
	}
	var out []*framework.NodeInfo
	for _, n := range []*v1.Node{node("n1", "a"), node("n2", "a"), node("n3", "b")} {
		for _, p := range pods[n.Name] {
			p.Spec.NodeName = n.Name
		}
		out = append(out, framework.NewNodeInfo(n, pods[n.Name]...))
	}
	return out
}

func TestFilter(t *testing.T) {
	tests := []struct {
		name  string
		pod   *v1.Pod
		extra map[string][]*v1.Pod
		want  map[string]string // node -> reason ("" fits)
	}{
		{"no affinity", pod("p", "default", nil, nil), nil, map[string]string{"n1": "", "n2": "", "n3": ""}},
		{"affinity by host", pod("p", "default", nil, affinity(aterm(v1.LabelHostname, web))), nil,
			map[string]string{"n1": "", "n2": ErrReasonAffinityRulesNotMatch, "n3": ErrReasonAffinityRulesNotMatch}},
		{"affinity by zone", pod("p", "default", nil, affinity(aterm(v1.LabelTopologyZone, web))), nil,
			map[string]string{"n1": "", "n2": "", "n3": ErrReasonAffinityRulesNotMatch}},
		{"affinity in another namespace matches nothing", pod("p", "other", nil, affinity(aterm(v1.LabelHostname, web))), nil,
			map[string]string{"n1": ErrReasonAffinityRulesNotMatch, "n2": ErrReasonAffinityRulesNotMatch, "n3": ErrReasonAffinityRulesNotMatch}},
		{"first pod of a group matching itself goes anywhere", pod("p", "default", map[string]string{"app": "db"}, affinity(aterm(v1.LabelHostname, map[string]string{"app": "db"}))), nil,
			map[string]string{"n1": "", "n2": "", "n3": ""}},
		{"anti-affinity by host", pod("p", "default", nil, antiAffinity(aterm(v1.LabelHostname, web))), nil,
			map[string]string{"n1": ErrReasonAntiAffinityRulesNotMatch, "n2": "", "n3": ""}},
		{"anti-affinity by zone", pod("p", "default", nil, antiAffinity(aterm(v1.LabelTopologyZone, web))), nil,
			map[string]string{"n1": ErrReasonAntiAffinityRulesNotMatch, "n2": ErrReasonAntiAffinityRulesNotMatch, "n3": ""}},
		{"existing pod's anti-affinity (symmetry)", pod("p", "default", map[string]string{"app": "db"}, nil),
			map[string][]*v1.Pod{"n3": {pod("x", "default", nil, antiAffinity(aterm(v1.LabelHostname, map[string]string{"app": "db"})))}},
			map[string]string{"n1": "", "n2": "", "n3": ErrReasonExistingAntiAffinityRulesNotMatch}},
		{"explicit namespaces", pod("p", "other", nil, affinity(v1.PodAffinityTerm{TopologyKey: v1.LabelHostname,
			LabelSelector: &metav1.LabelSelector{MatchLabels: web}, Namespaces: []string{"default"}})), nil,
			map[string]string{"n1": "", "n2": ErrReasonAffinityRulesNotMatch, "n3": ErrReasonAffinityRulesNotMatch}},
		{"empty namespaceSelector means all namespaces", pod("p", "other", nil, affinity(v1.PodAffinityTerm{TopologyKey: v1.LabelHostname,
			LabelSelector: &metav1.LabelSelector{MatchLabels: web}, NamespaceSelector: &metav1.LabelSelector{}})), nil,
			map[string]string{"n1": "", "n2": ErrReasonAffinityRulesNotMatch, "n3": ErrReasonAffinityRulesNotMatch}},
		{"namespaceSelector by label", pod("p", "other", nil, affinity(v1.PodAffinityTerm{TopologyKey: v1.LabelHostname,
			LabelSelector: &metav1.LabelSelector{MatchLabels: web}, NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "x"}}})), nil,
			map[string]string{"n1": "", "n2": ErrReasonAffinityRulesNotMatch, "n3": ErrReasonAffinityRulesNotMatch}},
	}
	c := fake.NewClientset(
		&v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default", Labels: map[string]string{"team": "x"}}},
		&v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "other"}})
	f := informers.NewSharedInformerFactory(c, 0)
	lister := f.Core().V1().Namespaces().Lister()
	stop := make(chan struct{})
	defer close(stop)
	f.Start(stop)
	f.WaitForCacheSync(stop)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pl := &Plugin{Namespaces: lister}
			nodes := cluster(tc.extra)
			state := framework.NewCycleState()
			if st := pl.PreFilter(context.Background(), state, tc.pod, nodes); !st.IsSuccess() && st.Code != framework.Skip {
				t.Fatalf("PreFilter: %v", st.Message())
			}
			for _, ni := range nodes {
				got := pl.Filter(context.Background(), state, tc.pod, ni).Message()
				if got != tc.want[ni.Node.Name] {
					t.Errorf("%s: %q, want %q", ni.Node.Name, got, tc.want[ni.Node.Name])
				}
			}
		})
	}
}

func TestScore(t *testing.T) {
	preferred := func(w int32, key string, anti bool) *v1.Affinity {
		wt := []v1.WeightedPodAffinityTerm{{Weight: w, PodAffinityTerm: aterm(key, web)}}
		if anti {
			return &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: wt}}
		}
		return &v1.Affinity{PodAffinity: &v1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: wt}}
	}
	tests := []struct {
		name  string
		pod   *v1.Pod
		extra map[string][]*v1.Pod
		want  map[string]int64
	}{
		{"preferred affinity by zone", pod("p", "default", nil, preferred(5, v1.LabelTopologyZone, false)), nil,
			map[string]int64{"n1": 100, "n2": 100, "n3": 0}},
		{"preferred anti-affinity by host", pod("p", "default", nil, preferred(5, v1.LabelHostname, true)), nil,
			map[string]int64{"n1": 0, "n2": 100, "n3": 100}},
		{"existing pod's preferred affinity for the incoming pod", pod("p", "default", web, nil),
			map[string][]*v1.Pod{"n3": {pod("x", "default", nil, preferred(10, v1.LabelHostname, false))}},
			map[string]int64{"n1": 0, "n2": 0, "n3": 100}},
		{"nothing to score", pod("p", "default", nil, nil), nil, map[string]int64{"n1": 0, "n2": 0, "n3": 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pl := &Plugin{}
			nodes := cluster(tc.extra)
			state := framework.NewCycleState()
			if st := pl.PreScore(context.Background(), state, tc.pod, nodes); !st.IsSuccess() && st.Code != framework.Skip {
				t.Fatal(st.Message())
			}
			scores := make([]framework.NodeScore, len(nodes))
			for i, ni := range nodes {
				s, st := pl.Score(context.Background(), state, tc.pod, ni)
				if !st.IsSuccess() {
					t.Fatal(st.Message())
				}
				scores[i] = framework.NodeScore{Name: ni.Node.Name, Score: s}
			}
			pl.NormalizeScore(context.Background(), state, tc.pod, scores)
			for _, s := range scores {
				if s.Score != tc.want[s.Name] {
					t.Errorf("%s: %d, want %d", s.Name, s.Score, tc.want[s.Name])
				}
			}
		})
	}
}
