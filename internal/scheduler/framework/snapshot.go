package framework

import (
	"context"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
)

// Snapshot is the cluster as one scheduling cycle sees it: every node, the
// nodes whose pods have (anti-)affinity terms, and how many nodes hold each
// image. PreScore plugins find it in the CycleState under SnapshotKey,
// since they are handed only the feasible nodes.
type Snapshot struct {
	Nodes []*NodeInfo
	// HavePodsWithAffinity are the nodes with a pod that has any pod
	// affinity or anti-affinity term.
	HavePodsWithAffinity []*NodeInfo
	// HavePodsWithRequiredAntiAffinity are the nodes with a pod that has a
	// required pod anti-affinity term.
	HavePodsWithRequiredAntiAffinity []*NodeInfo
	// ImageNumNodes is how many nodes hold each (normalized) image name.
	ImageNumNodes map[string]int
}

// SnapshotKey is the CycleState key of the cycle's *Snapshot.
const SnapshotKey = "framework/snapshot"

// NewSnapshot builds a snapshot of nodes; imageNumNodes may be nil, then
// it is counted from the nodes.
func NewSnapshot(nodes []*NodeInfo, imageNumNodes map[string]int) *Snapshot {
	s := &Snapshot{Nodes: nodes, ImageNumNodes: imageNumNodes}
	for _, ni := range nodes {
		if len(ni.PodsWithAffinity) > 0 {
			s.HavePodsWithAffinity = append(s.HavePodsWithAffinity, ni)
		}
		if len(ni.PodsWithRequiredAntiAffinity) > 0 {
			s.HavePodsWithRequiredAntiAffinity = append(s.HavePodsWithRequiredAntiAffinity, ni)
		}
	}
	if s.ImageNumNodes == nil {
		s.ImageNumNodes = map[string]int{}
		for _, ni := range nodes {
			for name := range NodeImageNames(ni.Node) {
				s.ImageNumNodes[name]++
			}
		}
	}
	return s
}

// SnapshotFrom returns the cycle's snapshot, or builds one from nodes when
// the state has none (plugins called directly).
func SnapshotFrom(state *CycleState, nodes []*NodeInfo) *Snapshot {
	if v, ok := state.Read(SnapshotKey); ok {
		return v.(*Snapshot)
	}
	return NewSnapshot(nodes, nil)
}

// NormalizedImageName adds the ":latest" tag to an image named without a
// tag or digest, so that pod and node image names compare equal.
func NormalizedImageName(name string) string {
	if strings.LastIndex(name, ":") <= strings.LastIndex(name, "/") && !strings.Contains(name, "@") {
		name += ":latest"
	}
	return name
}

// NodeImageNames returns the normalized names of the images on a node,
// with each image's size.
func NodeImageNames(node *v1.Node) map[string]int64 {
	if node == nil || len(node.Status.Images) == 0 {
		return nil
	}
	out := make(map[string]int64, len(node.Status.Images))
	for _, img := range node.Status.Images {
		for _, n := range img.Names {
			out[NormalizedImageName(n)] = img.SizeBytes
		}
	}
	return out
}

// HasPodAffinity says whether a pod has any pod affinity or anti-affinity
// term.
func HasPodAffinity(pod *v1.Pod) bool {
	a := pod.Spec.Affinity
	return a != nil && (a.PodAffinity != nil || a.PodAntiAffinity != nil)
}

// HasRequiredPodAntiAffinity says whether a pod has a required pod
// anti-affinity term.
func HasRequiredPodAntiAffinity(pod *v1.Pod) bool {
	a := pod.Spec.Affinity
	return a != nil && a.PodAntiAffinity != nil && len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0
}

// PodPriority is a pod's spec.priority, 0 when unset.
func PodPriority(pod *v1.Pod) int32 {
	if pod.Spec.Priority != nil {
		return *pod.Spec.Priority
	}
	return 0
}

// Handle is what the scheduler shares with plugins that need more than
// the pod and its nodes: the API client, the scheduler's informer factory
// (informers must be asked for in Init, before the factory starts), the
// profile's event recorder, and a way to retry the pods parked as
// unschedulable when something they may wait for changes.
type Handle interface {
	Client() kubernetes.Interface
	SharedInformerFactory() informers.SharedInformerFactory
	EventRecorder() events.EventRecorder
	// MoveAllToActive retries every unschedulable pod (with its backoff).
	MoveAllToActive()
	// Filter runs the profile's Filter plugins for pod on one node, reading
	// the state the cycle's PreFilter plugins wrote (preemption uses it to
	// try nodes with victims removed).
	Filter(ctx context.Context, state *CycleState, pod *v1.Pod, node *NodeInfo) *Status
	// AddPod and RemovePod run the profile's PreFilterExtensions.
	AddPod(ctx context.Context, state *CycleState, podToSchedule, podToAdd *v1.Pod, node *NodeInfo) *Status
	RemovePod(ctx context.Context, state *CycleState, podToSchedule, podToRemove *v1.Pod, node *NodeInfo) *Status
}

// Initializer is implemented by plugins that need the Handle; the
// scheduler calls Init once before it starts its informers.
type Initializer interface {
	Init(h Handle) error
}
