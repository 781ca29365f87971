package daemonset

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"skiff/internal/controller/controllerutil"
)

// podTemplateGenerationLabel is the deprecated label upstream still puts on
// daemon pods: the DaemonSet generation they were created from.
const podTemplateGenerationLabel = "pod-template-generation"

// nodeNameField is the node field a daemon pod's affinity pins it with.
const nodeNameField = "metadata.name"

// defaultTolerations are what every daemon pod tolerates, so that node
// problems neither keep daemons off a node nor evict them.
func defaultTolerations(hostNetwork bool) []corev1.Toleration {
	t := []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	}
	if hostNetwork {
		t = append(t, corev1.Toleration{Key: corev1.TaintNodeNetworkUnavailable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	}
	return t
}

// addTolerations adds the tolerations of add that tol lacks (same key,
// operator, value and effect).
func addTolerations(tol []corev1.Toleration, add []corev1.Toleration) []corev1.Toleration {
	out := append([]corev1.Toleration(nil), tol...)
	for _, a := range add {
		found := false
		for _, t := range tol {
			if t.Key == a.Key && t.Effect == a.Effect && t.Operator == a.Operator && t.Value == a.Value {
				found = true
				break
			}
		}
		if !found {
			out = append(out, a)
		}
	}
	return out
}

// pinToNode returns affinity with its required node terms restricted to
// the named node: every term gets metadata.name In [node] instead of the
// name requirements it had, and a missing term list becomes one such term.
func pinToNode(affinity *corev1.Affinity, node string) *corev1.Affinity {
	req := corev1.NodeSelectorRequirement{Key: nodeNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}
	out := affinity.DeepCopy()
	if out == nil {
		out = &corev1.Affinity{}
	}
	if out.NodeAffinity == nil {
		out.NodeAffinity = &corev1.NodeAffinity{}
	}
	sel := out.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	if sel == nil || len(sel.NodeSelectorTerms) == 0 {
		out.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{req}}},
		}
		return out
	}
	for i := range sel.NodeSelectorTerms {
		var fields []corev1.NodeSelectorRequirement
		for _, f := range sel.NodeSelectorTerms[i].MatchFields {
			if f.Key != nodeNameField {
				fields = append(fields, f)
			}
		}
		sel.NodeSelectorTerms[i].MatchFields = append(fields, req)
	}
	return out
}

// newPod builds the daemon pod of ds for node: the template, pinned to
// the node by affinity (the scheduler binds it), with the default daemon
// tolerations and the revision hash label.
func newPod(ds *appsv1.DaemonSet, node, hash string) *corev1.Pod {
	p := controllerutil.PodFromTemplate(&ds.Spec.Template, ds, dsKind, ds.Name+"-")
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	if hash != "" {
		p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	}
	p.Labels[podTemplateGenerationLabel] = strconv.FormatInt(ds.Generation, 10)
	p.Spec.Tolerations = addTolerations(p.Spec.Tolerations, defaultTolerations(p.Spec.HostNetwork))
	if node != "" {
		p.Spec.Affinity = pinToNode(p.Spec.Affinity, node)
	}
	return p
}

// placement says whether a DaemonSet's pod should be started on a node,
// and whether one already there may keep running.
func placement(ds *appsv1.DaemonSet, node *corev1.Node) (shouldRun, shouldContinue bool) {
	p := newPod(ds, node.Name, "")
	if p.Spec.NodeName != "" && p.Spec.NodeName != node.Name {
		return false, false
	}
	if ok, err := nodeaffinity.GetRequiredNodeAffinity(p).Match(node); err != nil || !ok {
		return false, false
	}
	logger := klog.Background()
	// NoExecute taints not tolerated evict; NoSchedule ones only keep new
	// pods off.
	if _, untolerated := corev1helpers.FindMatchingUntoleratedTaint(logger, node.Spec.Taints, p.Spec.Tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoExecute
	}, false); untolerated {
		return false, false
	}
	if _, untolerated := corev1helpers.FindMatchingUntoleratedTaint(logger, node.Spec.Taints, p.Spec.Tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoSchedule
	}, false); untolerated {
		return false, true
	}
	return true, true
}

// targetNode is the node a daemon pod runs on or is pinned to.
func targetNode(p *corev1.Pod) (string, error) {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName, nil
	}
	if a := p.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			for _, f := range term.MatchFields {
				if f.Key == nodeNameField && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
					return f.Values[0], nil
				}
			}
		}
	}
	return "", fmt.Errorf("no node for pod %s/%s", p.Namespace, p.Name)
}
