// Package defaulttolerationseconds is the DefaultTolerationSeconds
// admission plugin: a new pod that does not say how long it tolerates its
// node being not ready or unreachable gets tolerations for both NoExecute
// taints, 300 seconds each by default, so that taint-based eviction moves
// it off a failed node after that time.
package defaulttolerationseconds

import (
	"context"

	corev1 "k8s.io/api/core/v1"

	"skiff/internal/apiserver/admission"
)

// DefaultSeconds is upstream's default for both tolerations.
const DefaultSeconds = 300

// Plugin adds the default tolerations.
type Plugin struct {
	notReady, unreachable int64
}

// New returns the plugin with the given toleration seconds (upstream's
// --default-not-ready-toleration-seconds and
// --default-unreachable-toleration-seconds); 0 means DefaultSeconds.
func New(notReady, unreachable int64) *Plugin {
	if notReady == 0 {
		notReady = DefaultSeconds
	}
	if unreachable == 0 {
		unreachable = DefaultSeconds
	}
	return &Plugin{notReady: notReady, unreachable: unreachable}
}

// Name is the plugin's upstream name.
func (p *Plugin) Name() string { return "DefaultTolerationSeconds" }

// Admit adds the tolerations to pods being created.
func (p *Plugin) Admit(_ context.Context, a *admission.Attributes) error {
	if a.Operation != admission.Create || a.Subresource != "" || a.Resource.Group != "" || a.Resource.Resource != "pods" {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return nil
	}
	for _, d := range []struct {
		key     string
		seconds int64
	}{{corev1.TaintNodeNotReady, p.notReady}, {corev1.TaintNodeUnreachable, p.unreachable}} {
		if toleratesNoExecute(pod.Spec.Tolerations, d.key) {
			continue
		}
		secs := d.seconds
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
			Key: d.key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &secs,
		})
	}
	return nil
}

// toleratesNoExecute says whether some toleration already covers the
// NoExecute taint key, whatever its value.
func toleratesNoExecute(tols []corev1.Toleration, key string) bool {
	for _, t := range tols {
		if (t.Effect == "" || t.Effect == corev1.TaintEffectNoExecute) && (t.Key == key || (t.Key == "" && t.Operator == corev1.TolerationOpExists)) {
			return true
		}
	}
	return false
}
