// Package imagelocality owns the ImageLocality score: nodes that already
// hold the pod's images score higher, by the images' sizes scaled by how
// widely each image is spread (so that pods don't all pile onto the few
// nodes with a rare image).
package imagelocality

import (
	"context"

	v1 "k8s.io/api/core/v1"

	"skiff/internal/scheduler/framework"
)

// Name is the plugin's name.
const Name = "ImageLocality"

// Upstream's thresholds: below minThreshold of image data a node scores
// 0; maxContainerThreshold per container scores 100.
const (
	mb                    int64 = 1024 * 1024
	minThreshold                = 23 * mb
	maxContainerThreshold       = 1000 * mb
)

// Plugin is the ImageLocality score.
type Plugin struct{}

var _ framework.ScorePlugin = (*Plugin)(nil)

// Name returns the plugin's name.
func (*Plugin) Name() string { return Name }

// Score sums, over the pod's containers whose image the node has, the
// image size times the share of nodes holding it, and maps the sum onto
// [0, 100] between the thresholds.
func (*Plugin) Score(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	if len(ni.ImageSizes) == 0 {
		return 0, nil
	}
	snap := framework.SnapshotFrom(state, []*framework.NodeInfo{ni})
	total := len(snap.Nodes)
	var sum int64
	add := func(cs []v1.Container) {
		for _, c := range cs {
			name := framework.NormalizedImageName(c.Image)
			size, ok := ni.ImageSizes[name]
			if !ok || total == 0 {
				continue
			}
			sum += int64(float64(size) * float64(snap.ImageNumNodes[name]) / float64(total))
		}
	}
	add(pod.Spec.InitContainers)
	add(pod.Spec.Containers)
	return priority(sum, len(pod.Spec.InitContainers)+len(pod.Spec.Containers)), nil
}

func priority(sum int64, containers int) int64 {
	maxThreshold := maxContainerThreshold * int64(containers)
	if sum < minThreshold {
		sum = minThreshold
	} else if sum > maxThreshold {
		sum = maxThreshold
	}
	if maxThreshold <= minThreshold {
		return 0
	}
	return framework.MaxNodeScore * (sum - minThreshold) / (maxThreshold - minThreshold)
}
