// Package noderesources owns the resource plugins: Fit (filter: the pod's
// requests fit the node's allocatable minus what bound pods request; score:
// least allocated) and BalancedAllocation (score: even cpu/memory use).
package noderesources

import (
	"context"
	"fmt"
	"sort"

	v1 "k8s.io/api/core/v1"

	"skiff/internal/scheduler/framework"
)

// FitName is the Fit plugin's name.
const FitName = "NodeResourcesFit"

// ErrReasonTooManyPods is the reason given for a node at its pod limit.
const ErrReasonTooManyPods = "Too many pods"

// Fit is the NodeResourcesFit filter with the LeastAllocated score.
type Fit struct{}

var (
	_ framework.PreFilterPlugin = (*Fit)(nil)
	_ framework.FilterPlugin    = (*Fit)(nil)
	_ framework.PreScorePlugin  = (*Fit)(nil)
	_ framework.ScorePlugin     = (*Fit)(nil)
)

// State keys: the pod's requests, computed once per cycle.
const (
	requestsKey        = "noderesources/requests"
	nonZeroRequestsKey = "noderesources/non-zero-requests"
)

// PreFilter computes the pod's requests once for every node's Filter.
func (*Fit) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	state.Write(requestsKey, framework.PodRequests(pod))
	return nil
}

// PreScore computes the pod's scoring requests once for every node.
func (*Fit) PreScore(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	state.Write(nonZeroRequestsKey, framework.PodNonZeroRequests(pod))
	return nil
}

// requests returns the pod's requests from state, or computes them.
func requests(state *framework.CycleState, key string, pod *v1.Pod, compute func(*v1.Pod) *framework.Resource) *framework.Resource {
	if v, ok := state.Read(key); ok {
		return v.(*framework.Resource)
	}
	return compute(pod)
}

// Name returns the plugin's name.
func (*Fit) Name() string { return FitName }

// InsufficientResource is one resource a node lacks for a pod.
type InsufficientResource struct {
	Name      v1.ResourceName
	Requested int64
	Used      int64
	Capacity  int64
}

// Reason is the message upstream gives for it.
func (r InsufficientResource) Reason() string {
	if r.Name == v1.ResourcePods {
		return ErrReasonTooManyPods
	}
	return fmt.Sprintf("Insufficient %v", r.Name)
}

// Filter rejects a node that can't hold the pod's requests.
func (*Fit) Filter(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	insufficient := Fits(requests(state, requestsKey, pod, framework.PodRequests), ni)
	if len(insufficient) == 0 {
		return nil
	}
	reasons := make([]string, len(insufficient))
	for i, r := range insufficient {
		reasons[i] = r.Reason()
	}
	return framework.NewStatus(framework.Unschedulable, reasons...)
}

// Fits lists the resources the node lacks for a pod requesting req: pod
// count first, then cpu, memory, ephemeral-storage and extended resources
// by name.
func Fits(req *framework.Resource, ni *framework.NodeInfo) []InsufficientResource {
	var out []InsufficientResource
	alloc, used := ni.Allocatable, ni.Requested
	if n := int64(len(ni.Pods)) + 1; n > alloc.AllowedPodNumber {
		out = append(out, InsufficientResource{Name: v1.ResourcePods, Requested: 1, Used: int64(len(ni.Pods)), Capacity: alloc.AllowedPodNumber})
	}
	check := func(name v1.ResourceName, want int64) {
		if want > 0 && want > alloc.Get(name)-used.Get(name) {
			out = append(out, InsufficientResource{Name: name, Requested: want, Used: used.Get(name), Capacity: alloc.Get(name)})
		}
	}
	check(v1.ResourceCPU, req.MilliCPU)
	check(v1.ResourceMemory, req.Memory)
	check(v1.ResourceEphemeralStorage, req.EphemeralStorage)
	names := make([]string, 0, len(req.Scalar))
	for n := range req.Scalar {
		names = append(names, string(n))
	}
	sort.Strings(names)
	for _, n := range names {
		check(v1.ResourceName(n), req.Scalar[v1.ResourceName(n)])
	}
	return out
}

// Score is the LeastAllocated strategy over cpu and memory (weight 1
// each): the share of each left free once the pod is placed, 0-100, with
// missing requests counted at the scoring defaults.
func (*Fit) Score(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	req := requests(state, nonZeroRequestsKey, pod, framework.PodNonZeroRequests)
	requested := []int64{ni.NonZeroRequested.MilliCPU + req.MilliCPU, ni.NonZeroRequested.Memory + req.Memory}
	allocatable := []int64{ni.Allocatable.MilliCPU, ni.Allocatable.Memory}
	return LeastAllocated(requested, allocatable), nil
}

// LeastAllocated averages (allocatable-requested)/allocatable*100 over the
// resources the node has; an over-committed resource scores 0.
func LeastAllocated(requested, allocatable []int64) int64 {
	var sum, weights int64
	for i := range requested {
		if allocatable[i] == 0 {
			continue
		}
		weights++
		if requested[i] > allocatable[i] {
			continue
		}
		sum += (allocatable[i] - requested[i]) * framework.MaxNodeScore / allocatable[i]
	}
	if weights == 0 {
		return 0
	}
	return sum / weights
}
