// Package nodeports owns the filter that keeps a pod off nodes where one of
// its host ports is already taken.
package nodeports

import (
	"context"

	v1 "k8s.io/api/core/v1"

	"skiff/internal/scheduler/framework"
)

// Name is the plugin's name.
const Name = "NodePorts"

// ErrReason is the reason given for a node with a host port conflict.
const ErrReason = "node(s) didn't have free ports for the requested pod ports"

// Plugin is the NodePorts filter.
type Plugin struct{}

var _ framework.FilterPlugin = (*Plugin)(nil)

// Name returns the plugin's name.
func (*Plugin) Name() string { return Name }

// Filter rejects a node where a wanted host port is in use.
func (*Plugin) Filter(_ context.Context, _ *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	for _, want := range framework.PodHostPorts(pod) {
		for _, used := range ni.UsedPorts {
			if Conflict(want, used) {
				return framework.NewStatus(framework.Unschedulable, ErrReason)
			}
		}
	}
	return nil
}

// Conflict reports whether two host ports collide: same protocol and port,
// and the same IP or either on the wildcard address.
func Conflict(a, b framework.HostPort) bool {
	if a.Port != b.Port || a.Protocol != b.Protocol {
		return false
	}
	return a.IP == b.IP || a.IP == "0.0.0.0" || b.IP == "0.0.0.0"
}
