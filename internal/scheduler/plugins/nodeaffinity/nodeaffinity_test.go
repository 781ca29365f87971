package nodeaffinity

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/scheduler/framework"
)

func required(key string, op v1.NodeSelectorOperator, values ...string) *v1.Affinity {
	return &v1.Affinity{NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{
		NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: []v1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}},
	}}}
}

func TestFilter(t *testing.T) {
	labels := map[string]string{"zone": "a", "disk": "ssd"}
	tests := []struct {
		name     string
		selector map[string]string
		affinity *v1.Affinity
		wantOK   bool
	}{
		{name: "nothing asked", wantOK: true},
		{name: "selector matches", selector: map[string]string{"zone": "a"}, wantOK: true},
		{name: "selector mismatches", selector: map[string]string{"zone": "b"}},
		{name: "selector needs every label", selector: map[string]string{"zone": "a", "gpu": "yes"}},
		{name: "affinity In", affinity: required("zone", v1.NodeSelectorOpIn, "a", "b"), wantOK: true},
		{name: "affinity NotIn", affinity: required("zone", v1.NodeSelectorOpNotIn, "a")},
		{name: "affinity DoesNotExist", affinity: required("gpu", v1.NodeSelectorOpDoesNotExist), wantOK: true},
		{name: "selector and affinity both needed", selector: map[string]string{"disk": "hdd"}, affinity: required("zone", v1.NodeSelectorOpIn, "a")},
		{name: "field selector on name", wantOK: true, affinity: &v1.Affinity{NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{
			NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchFields: []v1.NodeSelectorRequirement{{Key: "metadata.name", Operator: v1.NodeSelectorOpIn, Values: []string{"n1"}}}}},
		}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ni := framework.NewNodeInfo(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: labels}})
			pod := &v1.Pod{Spec: v1.PodSpec{NodeSelector: tt.selector, Affinity: tt.affinity}}
			st := (&Plugin{}).Filter(context.Background(), nil, pod, ni)
			if st.IsSuccess() != tt.wantOK {
				t.Fatalf("Filter = %+v, want ok=%v", st, tt.wantOK)
			}
			if !tt.wantOK && (st.Code != framework.UnschedulableAndUnresolvable || st.Message() != ErrReasonPod) {
				t.Errorf("status = %+v", st)
			}
		})
	}
}

func TestScore(t *testing.T) {
	pod := &v1.Pod{Spec: v1.PodSpec{Affinity: &v1.Affinity{NodeAffinity: &v1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.PreferredSchedulingTerm{
		{Weight: 2, Preference: v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{{Key: "zone", Operator: v1.NodeSelectorOpIn, Values: []string{"a"}}}}},
		{Weight: 6, Preference: v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{{Key: "disk", Operator: v1.NodeSelectorOpIn, Values: []string{"ssd"}}}}},
	}}}}}
	nodes := map[string]map[string]string{"a": {"zone": "a"}, "ssd": {"disk": "ssd"}, "both": {"zone": "a", "disk": "ssd"}, "none": nil}
	want := map[string]int64{"a": 25, "ssd": 75, "both": 100, "none": 0}
	p := &Plugin{}
	var scores []framework.NodeScore
	for name, l := range nodes {
		s, st := p.Score(context.Background(), nil, pod, framework.NewNodeInfo(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}))
		if !st.IsSuccess() {
			t.Fatal(st)
		}
		scores = append(scores, framework.NodeScore{Name: name, Score: s})
	}
	p.NormalizeScore(context.Background(), nil, pod, scores)
	for _, s := range scores {
		if s.Score != want[s.Name] {
			t.Errorf("node %s: score %d, want %d", s.Name, s.Score, want[s.Name])
		}
	}
}
