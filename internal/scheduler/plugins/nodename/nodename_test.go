package nodename

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/scheduler/framework"
)

func TestFilter(t *testing.T) {
	tests := []struct {
		name, podNode string
		wantOK        bool
	}{
		{name: "no node name", wantOK: true},
		{name: "same node", podNode: "n1", wantOK: true},
		{name: "other node", podNode: "n2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ni := framework.NewNodeInfo(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}})
			st := (&Plugin{}).Filter(context.Background(), nil, &v1.Pod{Spec: v1.PodSpec{NodeName: tt.podNode}}, ni)
			if st.IsSuccess() != tt.wantOK {
				t.Fatalf("Filter = %+v, want ok=%v", st, tt.wantOK)
			}
			if !tt.wantOK && st.Message() != ErrReason {
				t.Errorf("message = %q", st.Message())
			}
		})
	}
}
