// Package framework owns the scheduler's plugin contract: the extension
// points a plugin may implement (PreFilter, Filter, PostFilter, PreScore,
// Score, Reserve, Permit, Bind), the CycleState they share during one
// pod's scheduling cycle, the NodeInfo they see, the Status they return
// and the FitError that explains why a pod fits no node.
package framework

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"
)

// MaxNodeScore is the highest score a normalized Score plugin gives.
const MaxNodeScore int64 = 100

// Defaults used for scoring when a container requests no cpu or memory,
// as upstream's scheduler does.
const (
	DefaultMilliCPURequest int64 = 100
	DefaultMemoryRequest   int64 = 200 * 1024 * 1024
)

// Code says how a plugin judged a node.
type Code int

const (
	// Success: the node passes.
	Success Code = iota
	// Unschedulable: the pod does not fit the node as it is now.
	Unschedulable
	// UnschedulableAndUnresolvable: the pod will not fit this node whatever
	// happens to other pods (preemption would not help).
	UnschedulableAndUnresolvable
	// Error: the plugin failed.
	Error
	// Wait: a Permit plugin delays the binding.
	Wait
	// Skip: the plugin has nothing to do for this pod (Bind: let the next
	// bind plugin bind it).
	Skip
)

// Status is a plugin's verdict; nil means Success.
type Status struct {
	Code    Code
	Reasons []string
	Err     error
}

// NewStatus returns a status with the given code and reasons.
func NewStatus(code Code, reasons ...string) *Status {
	return &Status{Code: code, Reasons: reasons}
}

// AsStatus wraps an error.
func AsStatus(err error) *Status {
	return &Status{Code: Error, Reasons: []string{err.Error()}, Err: err}
}

// IsSuccess reports whether s is nil or Success.
func (s *Status) IsSuccess() bool { return s == nil || s.Code == Success }

// Message joins the reasons.
func (s *Status) Message() string {
	if s == nil {
		return ""
	}
	return strings.Join(s.Reasons, ", ")
}

// Plugin is anything with a name.
type Plugin interface {
	Name() string
}

// CycleState is what the plugins share during one scheduling cycle of
// one pod: a PreFilter or PreScore computes something once, Filter and
// Score read it for every node. A nil *CycleState reads nothing, so
// plugins work without it (they compute what they need).
type CycleState struct {
	mu   sync.RWMutex
	data map[string]any
}

// NewCycleState returns an empty state.
func NewCycleState() *CycleState { return &CycleState{data: map[string]any{}} }

// Read returns what was written under key.
func (c *CycleState) Read(key string) (any, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.data[key]
	return v, ok
}

// Write stores v under key.
func (c *CycleState) Write(key string, v any) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.data[key] = v
}

// Clone copies the state for a dry run (preemption): values that implement
// StateData are cloned, others shared (they must then be read-only).
func (c *CycleState) Clone() *CycleState {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := &CycleState{data: make(map[string]any, len(c.data))}
	for k, v := range c.data {
		if sd, ok := v.(StateData); ok && sd != nil {
			v = sd.Clone()
		}
		out.data[k] = v
	}
	return out
}

// StateData is cycle state that a dry run may change, so it must be cloned.
type StateData interface {
	Clone() StateData
}

// PreFilterExtensions is implemented by PreFilter plugins whose cycle
// state counts pods: preemption's dry runs tell them about the pods they
// remove from (or add back to) a node.
type PreFilterExtensions interface {
	AddPod(ctx context.Context, state *CycleState, podToSchedule, podToAdd *v1.Pod, node *NodeInfo) *Status
	RemovePod(ctx context.Context, state *CycleState, podToSchedule, podToRemove *v1.Pod, node *NodeInfo) *Status
}

// PreFilterPlugin runs once per cycle before Filter; an Unschedulable
// status rules out every node at once.
type PreFilterPlugin interface {
	Plugin
	PreFilter(ctx context.Context, state *CycleState, pod *v1.Pod, nodes []*NodeInfo) *Status
}

// FilterPlugin rules nodes out.
type FilterPlugin interface {
	Plugin
	Filter(ctx context.Context, state *CycleState, pod *v1.Pod, node *NodeInfo) *Status
}

// PostFilterPlugin runs when no node fits (preemption); it may nominate a
// node where the pod will fit once victims are gone.
type PostFilterPlugin interface {
	Plugin
	PostFilter(ctx context.Context, state *CycleState, pod *v1.Pod, nodes []*NodeInfo, statuses map[string]*Status) (nominated string, st *Status)
}

// PreScorePlugin runs once per cycle over the feasible nodes before Score.
type PreScorePlugin interface {
	Plugin
	PreScore(ctx context.Context, state *CycleState, pod *v1.Pod, nodes []*NodeInfo) *Status
}

// ScorePlugin ranks feasible nodes.
type ScorePlugin interface {
	Plugin
	Score(ctx context.Context, state *CycleState, pod *v1.Pod, node *NodeInfo) (int64, *Status)
}

// ScoreNormalizer is implemented by score plugins whose raw scores must be
// mapped onto [0, MaxNodeScore] once all nodes are scored.
type ScoreNormalizer interface {
	NormalizeScore(ctx context.Context, state *CycleState, pod *v1.Pod, scores []NodeScore) *Status
}

// ReservePlugin is told when a node is chosen for the pod (Reserve) and
// when that choice is undone because a later step failed (Unreserve).
type ReservePlugin interface {
	Plugin
	Reserve(ctx context.Context, state *CycleState, pod *v1.Pod, node string) *Status
	Unreserve(ctx context.Context, state *CycleState, pod *v1.Pod, node string)
}

// PermitPlugin may approve, refuse, or delay (Wait, up to the returned
// timeout) the binding of a pod to its chosen node.
type PermitPlugin interface {
	Plugin
	Permit(ctx context.Context, state *CycleState, pod *v1.Pod, node string) (*Status, time.Duration)
}

// BindPlugin binds the pod to the node; a Skip status hands the pod to the
// next bind plugin.
type BindPlugin interface {
	Plugin
	Bind(ctx context.Context, state *CycleState, pod *v1.Pod, node string) *Status
}

// NodeScore is one node's score.
type NodeScore struct {
	Name  string
	Score int64
}

// Resource is an amount of each schedulable resource.
type Resource struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	AllowedPodNumber int64
	Scalar           map[v1.ResourceName]int64
}

// NewResource converts a ResourceList.
func NewResource(rl v1.ResourceList) *Resource {
	r := &Resource{}
	r.Add(rl)
	return r
}

// Add adds a ResourceList to r.
func (r *Resource) Add(rl v1.ResourceList) {
	for name, q := range rl {
		switch name {
		case v1.ResourceCPU:
			r.MilliCPU += q.MilliValue()
		case v1.ResourceMemory:
			r.Memory += q.Value()
		case v1.ResourceEphemeralStorage:
			r.EphemeralStorage += q.Value()
		case v1.ResourcePods:
			r.AllowedPodNumber += q.Value()
		default:
			if IsScalarResourceName(name) {
				if r.Scalar == nil {
					r.Scalar = map[v1.ResourceName]int64{}
				}
				r.Scalar[name] += q.Value()
			}
		}
	}
}

// Get returns the amount of one resource.
func (r *Resource) Get(name v1.ResourceName) int64 {
	switch name {
	case v1.ResourceCPU:
		return r.MilliCPU
	case v1.ResourceMemory:
		return r.Memory
	case v1.ResourceEphemeralStorage:
		return r.EphemeralStorage
	case v1.ResourcePods:
		return r.AllowedPodNumber
	}
	return r.Scalar[name]
}

// IsScalarResourceName reports whether name is an extended resource,
// hugepages or an attachable-volume count: anything counted as an integer
// besides cpu, memory, ephemeral-storage and pods.
func IsScalarResourceName(name v1.ResourceName) bool {
	s := string(name)
	if strings.HasPrefix(s, v1.ResourceHugePagesPrefix) || strings.HasPrefix(s, v1.ResourceAttachableVolumesPrefix) {
		return true
	}
	// Prefixed native resources (kubernetes.io/...) and extended resources
	// (any other domain-prefixed name, but not quota's "requests.").
	if strings.Contains(s, v1.ResourceDefaultNamespacePrefix) {
		return true
	}
	return strings.Contains(s, "/") && !strings.HasPrefix(s, v1.DefaultResourceRequestsPrefix)
}

// PodRequests is what a pod asks for: the larger of its regular containers'
// sum and its largest init container (sidecars counted as upstream does),
// plus overhead.
func PodRequests(pod *v1.Pod) *Resource {
	return NewResource(resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{}))
}

// nonZeroDefaults replaces a container's missing cpu/memory requests when
// scoring, so that pods without requests still spread.
var nonZeroDefaults = v1.ResourceList{
	v1.ResourceCPU:    *resourceQuantityMilli(DefaultMilliCPURequest),
	v1.ResourceMemory: *resourceQuantity(DefaultMemoryRequest),
}

// PodNonZeroRequests is PodRequests with missing cpu and memory requests
// replaced by the defaults (for scoring only).
func PodNonZeroRequests(pod *v1.Pod) *Resource {
	return NewResource(resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{NonMissingContainerRequests: nonZeroDefaults}))
}

// HostPort is one host port in use.
type HostPort struct {
	IP       string
	Protocol v1.Protocol
	Port     int32
}

// NodeInfo is a node with the pods bound (or about to be bound) to it.
type NodeInfo struct {
	Node        *v1.Node
	Pods        []*v1.Pod
	Allocatable *Resource
	// Requested sums the pods' requests; NonZeroRequested the same with
	// defaults for missing cpu and memory requests.
	Requested        *Resource
	NonZeroRequested *Resource
	UsedPorts        []HostPort
	// PodsWithAffinity are the pods with pod (anti-)affinity terms, and
	// PodsWithRequiredAntiAffinity those with required anti-affinity, so
	// that InterPodAffinity need not look at every pod.
	PodsWithAffinity             []*v1.Pod
	PodsWithRequiredAntiAffinity []*v1.Pod
	// ImageSizes maps the normalized names of the node's images to their
	// sizes.
	ImageSizes map[string]int64
}

// NewNodeInfo builds the NodeInfo of node with pods on it.
func NewNodeInfo(node *v1.Node, pods ...*v1.Pod) *NodeInfo {
	ni := &NodeInfo{Node: node, Allocatable: NewResource(node.Status.Allocatable), Requested: &Resource{}, NonZeroRequested: &Resource{},
		ImageSizes: NodeImageNames(node)}
	for _, p := range pods {
		ni.AddPod(p)
	}
	return ni
}

// AddPod accounts for one more pod on the node.
func (n *NodeInfo) AddPod(pod *v1.Pod) {
	n.Pods = append(n.Pods, pod)
	req := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	n.Requested.Add(req)
	nz := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{NonMissingContainerRequests: nonZeroDefaults})
	n.NonZeroRequested.MilliCPU += NewResource(nz).MilliCPU
	n.NonZeroRequested.Memory += NewResource(nz).Memory
	n.UsedPorts = append(n.UsedPorts, PodHostPorts(pod)...)
	if HasPodAffinity(pod) {
		n.PodsWithAffinity = append(n.PodsWithAffinity, pod)
	}
	if HasRequiredPodAntiAffinity(pod) {
		n.PodsWithRequiredAntiAffinity = append(n.PodsWithRequiredAntiAffinity, pod)
	}
}

// PodHostPorts lists the host ports a pod's containers ask for.
func PodHostPorts(pod *v1.Pod) []HostPort {
	var out []HostPort
	add := func(cs []v1.Container) {
		for _, c := range cs {
			for _, p := range c.Ports {
				if p.HostPort <= 0 {
					continue
				}
				hp := HostPort{IP: p.HostIP, Protocol: p.Protocol, Port: p.HostPort}
				if hp.IP == "" {
					hp.IP = "0.0.0.0"
				}
				if hp.Protocol == "" {
					hp.Protocol = v1.ProtocolTCP
				}
				out = append(out, hp)
			}
		}
	}
	add(pod.Spec.InitContainers)
	add(pod.Spec.Containers)
	return out
}

// NoNodeAvailableMsg starts every FitError message.
const NoNodeAvailableMsg = "0/%v nodes are available"

// FitError says why a pod fits no node.
type FitError struct {
	Pod         *v1.Pod
	NumAllNodes int
	// NodeToStatus is each node's failing status.
	NodeToStatus map[string]*Status
	// PreFilterMsg is the message of a PreFilter plugin that ruled out
	// every node at once; it replaces the per-node counts.
	PreFilterMsg string
}

// Error formats the reasons as upstream does: each distinct reason with the
// number of nodes that gave it, sorted as strings, e.g. "0/3 nodes are
// available: 1 node(s) had untolerated taint {k: v}, 2 Insufficient cpu."
func (f *FitError) Error() string {
	msg := fmt.Sprintf(NoNodeAvailableMsg+":", f.NumAllNodes)
	if f.PreFilterMsg != "" {
		return msg + " " + f.PreFilterMsg + "."
	}
	hist := map[string]int{}
	for _, st := range f.NodeToStatus {
		for _, r := range st.Reasons {
			hist[r]++
		}
	}
	var parts []string
	for r, n := range hist {
		parts = append(parts, fmt.Sprintf("%v %v", n, r))
	}
	sort.Strings(parts)
	if len(parts) > 0 {
		msg += " " + strings.Join(parts, ", ") + "."
	}
	return msg
}
