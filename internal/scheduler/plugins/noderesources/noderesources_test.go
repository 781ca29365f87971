package noderesources

import (
	"context"
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"skiff/internal/scheduler/framework"
)

func rl(kv ...string) v1.ResourceList {
	out := v1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[v1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func pod(req v1.ResourceList) *v1.Pod {
	return &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Resources: v1.ResourceRequirements{Requests: req}}}}}
}

func node(alloc v1.ResourceList, pods ...*v1.Pod) *framework.NodeInfo {
	return framework.NewNodeInfo(&v1.Node{Status: v1.NodeStatus{Allocatable: alloc}}, pods...)
}

func TestFitFilter(t *testing.T) {
	alloc := rl("cpu", "2", "memory", "4Gi", "pods", "110", "example.com/gpu", "1")
	tests := []struct {
		name        string
		node        *framework.NodeInfo
		pod         *v1.Pod
		wantReasons []string
	}{
		{name: "fits empty node", node: node(alloc), pod: pod(rl("cpu", "1", "memory", "1Gi"))},
		{name: "fits exactly", node: node(alloc, pod(rl("cpu", "1500m"))), pod: pod(rl("cpu", "500m"))},
		{name: "insufficient cpu", node: node(alloc, pod(rl("cpu", "1500m"))), pod: pod(rl("cpu", "501m")), wantReasons: []string{"Insufficient cpu"}},
		{name: "more than the node has", node: node(alloc), pod: pod(rl("cpu", "3")), wantReasons: []string{"Insufficient cpu"}},
		{name: "cpu and memory", node: node(alloc, pod(rl("cpu", "2", "memory", "4Gi"))), pod: pod(rl("cpu", "1m", "memory", "1")),
			wantReasons: []string{"Insufficient cpu", "Insufficient memory"}},
		{name: "extended resource", node: node(alloc), pod: pod(rl("example.com/gpu", "2")), wantReasons: []string{"Insufficient example.com/gpu"}},
		{name: "extended resource the node lacks", node: node(alloc), pod: pod(rl("example.com/fpga", "1")), wantReasons: []string{"Insufficient example.com/fpga"}},
		{name: "extended resource fits", node: node(alloc), pod: pod(rl("example.com/gpu", "1"))},
		{name: "too many pods", node: node(rl("cpu", "2", "pods", "1"), pod(nil)), pod: pod(nil), wantReasons: []string{"Too many pods"}},
		{name: "too many pods and cpu", node: node(rl("cpu", "1", "pods", "1"), pod(nil)), pod: pod(rl("cpu", "2")),
			wantReasons: []string{"Too many pods", "Insufficient cpu"}},
		{name: "best effort pod on a full node", node: node(alloc, pod(rl("cpu", "2", "memory", "4Gi"))), pod: pod(nil)},
		{name: "init container counts", node: node(alloc, pod(rl("cpu", "1"))), pod: &v1.Pod{Spec: v1.PodSpec{
			InitContainers: []v1.Container{{Name: "i", Resources: v1.ResourceRequirements{Requests: rl("cpu", "1500m")}}},
			Containers:     []v1.Container{{Name: "c", Resources: v1.ResourceRequirements{Requests: rl("cpu", "100m")}}},
		}}, wantReasons: []string{"Insufficient cpu"}},
		{name: "overhead counts", node: node(alloc, pod(rl("cpu", "1"))), pod: &v1.Pod{Spec: v1.PodSpec{
			Overhead:   rl("cpu", "200m"),
			Containers: []v1.Container{{Name: "c", Resources: v1.ResourceRequirements{Requests: rl("cpu", "900m")}}},
		}}, wantReasons: []string{"Insufficient cpu"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := (&Fit{}).Filter(context.Background(), nil, tt.pod, tt.node)
			var got []string
			if st != nil {
				got = st.Reasons
				if st.Code != framework.Unschedulable {
					t.Errorf("code = %v", st.Code)
				}
			}
			if !reflect.DeepEqual(got, tt.wantReasons) {
				t.Errorf("reasons = %q, want %q", got, tt.wantReasons)
			}
		})
	}
}

func TestLeastAllocatedScore(t *testing.T) {
	alloc := rl("cpu", "4", "memory", "10Gi", "pods", "110")
	tests := []struct {
		name string
		node *framework.NodeInfo
		pod  *v1.Pod
		want int64
	}{
		// cpu (4000-1000)/4000=75, memory (10-5)/10=50: 62.
		{name: "empty node", node: node(alloc), pod: pod(rl("cpu", "1", "memory", "5Gi")), want: 62},
		// cpu (4000-3000)*100/4000=25, memory (10-7)/10=30: 27.
		{name: "with a pod", node: node(alloc, pod(rl("cpu", "2", "memory", "2Gi"))), pod: pod(rl("cpu", "1", "memory", "5Gi")), want: 27},
		// Missing requests count as 100m and 200Mi: cpu 3900/4000 -> 97, memory 10Gi-200Mi -> 98: 97.
		{name: "best effort", node: node(alloc), pod: pod(nil), want: 97},
		// A node without memory is judged on cpu alone: 3000/4000.
		{name: "no memory on the node", node: node(rl("cpu", "4")), pod: pod(rl("cpu", "1", "memory", "1Gi")), want: 75},
		{name: "over-committed", node: node(alloc, pod(rl("cpu", "4", "memory", "10Gi"))), pod: pod(rl("cpu", "1", "memory", "1Gi")), want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, st := (&Fit{}).Score(context.Background(), nil, tt.pod, tt.node)
			if !st.IsSuccess() || got != tt.want {
				t.Errorf("score = %d (%v), want %d", got, st, tt.want)
			}
		})
	}
}

func TestBalancedAllocationScore(t *testing.T) {
	alloc := rl("cpu", "4", "memory", "10Gi", "pods", "110")
	tests := []struct {
		name string
		node *framework.NodeInfo
		pod  *v1.Pod
		want int64
	}{
		// fractions 0.25 and 0.5: std 0.125 -> 87.
		{name: "uneven", node: node(alloc), pod: pod(rl("cpu", "1", "memory", "5Gi")), want: 87},
		// fractions 0.5 and 0.5 -> 100.
		{name: "even", node: node(alloc, pod(rl("cpu", "1", "memory", "2Gi"))), pod: pod(rl("cpu", "1", "memory", "3Gi")), want: 100},
		// cpu capped at 1, memory 0.1: std 0.45 -> 55.
		{name: "over-committed cpu", node: node(alloc, pod(rl("cpu", "4"))), pod: pod(rl("cpu", "1", "memory", "1Gi")), want: 55},
		{name: "best effort pod scores 0", node: node(alloc), pod: pod(nil), want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, st := (&BalancedAllocation{}).Score(context.Background(), nil, tt.pod, tt.node)
			if !st.IsSuccess() || got != tt.want {
				t.Errorf("score = %d (%v), want %d", got, st, tt.want)
			}
		})
	}
}
