package nodeunschedulable

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"

	"skiff/internal/scheduler/framework"
)

func TestFilter(t *testing.T) {
	tolerate := []v1.Toleration{{Key: v1.TaintNodeUnschedulable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule}}
	tests := []struct {
		name          string
		unschedulable bool
		tolerations   []v1.Toleration
		wantOK        bool
	}{
		{name: "schedulable node", wantOK: true},
		{name: "cordoned node", unschedulable: true},
		{name: "cordoned node, tolerated", unschedulable: true, tolerations: tolerate, wantOK: true},
		{name: "cordoned node, other toleration", unschedulable: true, tolerations: []v1.Toleration{{Key: "x", Operator: v1.TolerationOpExists}}},
		{name: "cordoned node, tolerate everything", unschedulable: true, tolerations: []v1.Toleration{{Operator: v1.TolerationOpExists}}, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ni := framework.NewNodeInfo(&v1.Node{Spec: v1.NodeSpec{Unschedulable: tt.unschedulable}})
			st := (&Plugin{}).Filter(context.Background(), nil, &v1.Pod{Spec: v1.PodSpec{Tolerations: tt.tolerations}}, ni)
			if st.IsSuccess() != tt.wantOK {
				t.Fatalf("Filter = %+v, want ok=%v", st, tt.wantOK)
			}
			if !tt.wantOK && (st.Code != framework.UnschedulableAndUnresolvable || st.Message() != ErrReasonUnschedulable) {
				t.Errorf("status = %+v", st)
			}
		})
	}
}
