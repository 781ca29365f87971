package imagelocality

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/scheduler/framework"
)

func nodeWith(name string, images ...v1.ContainerImage) *framework.NodeInfo {
	return framework.NewNodeInfo(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: v1.NodeStatus{Images: images}})
}

func TestScore(t *testing.T) {
	big := v1.ContainerImage{Names: []string{"registry/big:v1"}, SizeBytes: 500 * mb}
	huge := v1.ContainerImage{Names: []string{"huge:latest"}, SizeBytes: 3000 * mb}
	small := v1.ContainerImage{Names: []string{"small:v1"}, SizeBytes: 10 * mb}
	tests := []struct {
		name   string
		images []string
		nodes  []*framework.NodeInfo
		want   map[string]int64
	}{
		// 500MB on one of two nodes: 250MB spread-scaled, (250-23)/(1000-23).
		{"image on one of two nodes", []string{"registry/big:v1"}, []*framework.NodeInfo{nodeWith("n1", big), nodeWith("n2")},
			map[string]int64{"n1": 23, "n2": 0}},
		{"image on both nodes", []string{"registry/big:v1"}, []*framework.NodeInfo{nodeWith("n1", big), nodeWith("n2", big)},
			map[string]int64{"n1": 48, "n2": 48}},
		{"untagged name means latest, capped at the max", []string{"huge"}, []*framework.NodeInfo{nodeWith("n1", huge), nodeWith("n2", huge)},
			map[string]int64{"n1": 100, "n2": 100}},
		{"below the minimum scores 0", []string{"small:v1"}, []*framework.NodeInfo{nodeWith("n1", small)},
			map[string]int64{"n1": 0}},
		{"two containers double the max", []string{"registry/big:v1", "other"}, []*framework.NodeInfo{nodeWith("n1", big)},
			map[string]int64{"n1": 24}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := &v1.Pod{}
			for _, img := range tc.images {
				pod.Spec.Containers = append(pod.Spec.Containers, v1.Container{Image: img})
			}
			state := framework.NewCycleState()
			state.Write(framework.SnapshotKey, framework.NewSnapshot(tc.nodes, nil))
			for _, ni := range tc.nodes {
				got, st := (&Plugin{}).Score(context.Background(), state, pod, ni)
				if !st.IsSuccess() {
					t.Fatal(st.Message())
				}
				if got != tc.want[ni.Node.Name] {
					t.Errorf("%s: %d, want %d", ni.Node.Name, got, tc.want[ni.Node.Name])
				}
			}
		})
	}
}
