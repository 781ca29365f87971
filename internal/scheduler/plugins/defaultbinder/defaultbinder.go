// Package defaultbinder owns the DefaultBinder plugin: it binds a pod to
// its node through the pods/binding subresource.
package defaultbinder

import (
	"context"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"skiff/internal/scheduler/framework"
)

// Name is the plugin's name.
const Name = "DefaultBinder"

// Plugin binds through the API.
type Plugin struct {
	Client kubernetes.Interface
}

var _ framework.BindPlugin = (*Plugin)(nil)

// Name returns the plugin's name.
func (*Plugin) Name() string { return Name }

// Bind posts a Binding for the pod, guarded by its uid.
func (p *Plugin) Bind(ctx context.Context, _ *framework.CycleState, pod *v1.Pod, node string) *framework.Status {
	err := p.Client.CoreV1().Pods(pod.Namespace).Bind(ctx, &v1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     v1.ObjectReference{Kind: "Node", Name: node},
	}, metav1.CreateOptions{})
	if err != nil {
		return framework.AsStatus(err)
	}
	return nil
}
