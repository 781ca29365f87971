package tainttoleration

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/scheduler/framework"
)

func TestFilter(t *testing.T) {
	cp := v1.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: v1.TaintEffectNoSchedule}
	dedicated := v1.Taint{Key: "dedicated", Value: "gpu", Effect: v1.TaintEffectNoExecute}
	prefer := v1.Taint{Key: "soft", Effect: v1.TaintEffectPreferNoSchedule}
	tests := []struct {
		name        string
		taints      []v1.Taint
		tolerations []v1.Toleration
		wantReason  string
	}{
		{name: "no taints"},
		{name: "untolerated NoSchedule", taints: []v1.Taint{cp}, wantReason: "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"},
		{name: "untolerated NoExecute with value", taints: []v1.Taint{dedicated}, wantReason: "node(s) had untolerated taint {dedicated: gpu}"},
		{name: "PreferNoSchedule doesn't filter", taints: []v1.Taint{prefer}},
		{name: "tolerated by Exists", taints: []v1.Taint{cp}, tolerations: []v1.Toleration{{Key: cp.Key, Operator: v1.TolerationOpExists}}},
		{name: "tolerated by Equal", taints: []v1.Taint{dedicated}, tolerations: []v1.Toleration{{Key: "dedicated", Operator: v1.TolerationOpEqual, Value: "gpu", Effect: v1.TaintEffectNoExecute}}},
		{name: "wrong value", taints: []v1.Taint{dedicated}, tolerations: []v1.Toleration{{Key: "dedicated", Operator: v1.TolerationOpEqual, Value: "cpu"}},
			wantReason: "node(s) had untolerated taint {dedicated: gpu}"},
		{name: "wrong effect", taints: []v1.Taint{cp}, tolerations: []v1.Toleration{{Key: cp.Key, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute}},
			wantReason: "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"},
		{name: "first untolerated of several", taints: []v1.Taint{cp, dedicated}, tolerations: []v1.Toleration{{Key: cp.Key, Operator: v1.TolerationOpExists}},
			wantReason: "node(s) had untolerated taint {dedicated: gpu}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ni := framework.NewNodeInfo(&v1.Node{Spec: v1.NodeSpec{Taints: tt.taints}})
			st := (&Plugin{}).Filter(context.Background(), nil, &v1.Pod{Spec: v1.PodSpec{Tolerations: tt.tolerations}}, ni)
			if got := st.Message(); got != tt.wantReason {
				t.Fatalf("reason = %q, want %q", got, tt.wantReason)
			}
			if tt.wantReason != "" && st.Code != framework.UnschedulableAndUnresolvable {
				t.Errorf("code = %v", st.Code)
			}
		})
	}
}

func TestScore(t *testing.T) {
	soft := func(k string) v1.Taint { return v1.Taint{Key: k, Effect: v1.TaintEffectPreferNoSchedule} }
	nodes := map[string][]v1.Taint{
		"clean": nil,
		"one":   {soft("a")},
		"two":   {soft("a"), soft("b")},
		"hard":  {{Key: "c", Effect: v1.TaintEffectNoSchedule}},
		"tol":   {soft("t")},
	}
	pod := &v1.Pod{Spec: v1.PodSpec{Tolerations: []v1.Toleration{
		{Key: "t", Operator: v1.TolerationOpExists, Effect: v1.TaintEffectPreferNoSchedule},
		// A NoSchedule toleration doesn't count for scoring.
		{Key: "a", Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule},
	}}}
	want := map[string]int64{"clean": 100, "one": 50, "two": 0, "hard": 100, "tol": 100}
	p := &Plugin{}
	var scores []framework.NodeScore
	for name, taints := range nodes {
		s, st := p.Score(context.Background(), nil, pod, framework.NewNodeInfo(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.NodeSpec{Taints: taints}}))
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
