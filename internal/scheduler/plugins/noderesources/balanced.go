package noderesources

import (
	"context"
	"math"

	v1 "k8s.io/api/core/v1"

	"skiff/internal/scheduler/framework"
)

// BalancedAllocationName is the BalancedAllocation plugin's name.
const BalancedAllocationName = "NodeResourcesBalancedAllocation"

// BalancedAllocation favours nodes whose cpu and memory would be used in
// equal shares once the pod is placed.
type BalancedAllocation struct{}

var _ framework.ScorePlugin = (*BalancedAllocation)(nil)

// Name returns the plugin's name.
func (*BalancedAllocation) Name() string { return BalancedAllocationName }

// Score is (1 - std of the used fractions) * 100, over the actual
// requests; best-effort pods (no cpu or memory requests) score 0 so they
// don't pile up on one node.
func (*BalancedAllocation) Score(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	req := requests(state, requestsKey, pod, framework.PodRequests)
	if req.MilliCPU == 0 && req.Memory == 0 {
		return 0, nil
	}
	requested := []int64{ni.Requested.MilliCPU + req.MilliCPU, ni.Requested.Memory + req.Memory}
	allocatable := []int64{ni.Allocatable.MilliCPU, ni.Allocatable.Memory}
	return Balanced(requested, allocatable), nil
}

// Balanced scores how evenly the resources are used.
func Balanced(requested, allocatable []int64) int64 {
	var fractions []float64
	var total float64
	for i := range requested {
		if allocatable[i] == 0 {
			continue
		}
		f := math.Min(float64(requested[i])/float64(allocatable[i]), 1)
		total += f
		fractions = append(fractions, f)
	}
	var std float64
	switch {
	case len(fractions) == 2:
		std = math.Abs(fractions[0]-fractions[1]) / 2
	case len(fractions) > 2:
		mean := total / float64(len(fractions))
		var sum float64
		for _, f := range fractions {
			sum += (f - mean) * (f - mean)
		}
		std = math.Sqrt(sum / float64(len(fractions)))
	}
	return int64((1 - std) * float64(framework.MaxNodeScore))
}
