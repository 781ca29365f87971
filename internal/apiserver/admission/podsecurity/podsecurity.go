// Package podsecurity is the PodSecurity admission plugin: it applies the
// Pod Security Standards (privileged, baseline, restricted) a namespace
// asks for with its pod-security.kubernetes.io/{enforce,audit,warn}[-version]
// labels to pods and to the pod templates of workload resources.
//
// Pods that violate the enforce level are refused with upstream's message;
// violations of the warn level come back as warnings and violations of the
// audit level as audit annotations. Pod templates are never refused (upstream
// only warns and audits them, since the pods they make are checked anyway).
// The checks are those of k8s.io/pod-security-admission/policy; the
// decisions mirror k8s.io/pod-security-admission/admission, which skiff
// does not use because it is built around upstream's admission response
// types and metrics.
package podsecurity

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	"skiff/internal/apiserver/admission"
)

// PluginName is upstream's name of the plugin.
const PluginName = "PodSecurity"

// NamespaceGetter returns a namespace by name.
type NamespaceGetter func(ctx context.Context, name string) (*corev1.Namespace, error)

// PodLister returns the pods of a namespace.
type PodLister func(ctx context.Context, namespace string) ([]*corev1.Pod, error)

// Plugin is the PodSecurity admission plugin (validating only).
type Plugin struct {
	// Pods, when set, lists the pods of a namespace whose enforce level is
	// made stricter, to warn about those that violate it as upstream does.
	Pods PodLister

	namespaces NamespaceGetter
	evaluator  policy.Evaluator
	defaults   api.Policy
}

// Like upstream, raising a namespace's enforce level checks at most this
// many of its pods, for at most this long.
const (
	namespaceMaxPodsToCheck  = 3000
	namespacePodCheckTimeout = time.Second
)

var _ admission.ValidatingPlugin = (*Plugin)(nil)

// New returns the plugin with upstream's default configuration: namespaces
// without labels are privileged:latest for enforce, audit and warn, and
// nothing is exempt.
func New(namespaces NamespaceGetter) (*Plugin, error) {
	if namespaces == nil {
		return nil, fmt.Errorf("podsecurity: no namespace getter")
	}
	ev, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return nil, fmt.Errorf("podsecurity: %w", err)
	}
	privileged := api.LevelVersion{Level: api.LevelPrivileged, Version: api.LatestVersion()}
	return &Plugin{
		namespaces: namespaces,
		evaluator:  ev,
		defaults:   api.Policy{Enforce: privileged, Audit: privileged, Warn: privileged},
	}, nil
}

// Name implements admission.Plugin.
func (p *Plugin) Name() string { return PluginName }

var (
	podsGR       = schema.GroupResource{Resource: "pods"}
	namespacesGR = schema.GroupResource{Resource: "namespaces"}
)

// podControllers are the resources whose pod templates are checked (warn
// and audit only), upstream's defaultPodSpecResources.
var podControllers = map[schema.GroupResource]bool{
	corev1.Resource("podtemplates"):           true,
	corev1.Resource("replicationcontrollers"): true,
	appsv1.Resource("replicasets"):            true,
	appsv1.Resource("deployments"):            true,
	appsv1.Resource("statefulsets"):           true,
	appsv1.Resource("daemonsets"):             true,
	batchv1.Resource("jobs"):                  true,
	batchv1.Resource("cronjobs"):              true,
}

// ignoredPodSubresources are the pod subresources that cannot change what
// the policy looks at; any other subresource is evaluated.
var ignoredPodSubresources = map[string]bool{
	"exec":        true,
	"attach":      true,
	"binding":     true,
	"eviction":    true,
	"log":         true,
	"portforward": true,
	"proxy":       true,
	"status":      true,
}

// Validate implements admission.ValidatingPlugin.
func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	if a.Operation != admission.Create && a.Operation != admission.Update {
		return nil
	}
	gr := a.Resource.GroupResource()
	switch {
	case gr == namespacesGR:
		return p.validateNamespace(ctx, a)
	case gr == podsGR:
		return p.validatePod(ctx, a)
	case podControllers[gr]:
		p.validatePodController(ctx, a)
	}
	return nil
}

// validateNamespace refuses invalid policy labels on a namespace and, when
// its enforce level becomes stricter, warns about the existing pods that
// violate it, like upstream.
func (p *Plugin) validateNamespace(ctx context.Context, a *admission.Attributes) error {
	if a.Subresource != "" {
		return nil
	}
	ns, ok := a.Object.(*corev1.Namespace)
	if !ok {
		return apierrors.NewBadRequest("failed to decode namespace")
	}
	newPolicy, newErrs := api.PolicyToEvaluate(ns.Labels, p.defaults)
	if a.Operation == admission.Create {
		if len(newErrs) > 0 {
			return apierrors.NewInvalid(schema.GroupKind{Kind: "Namespace"}, a.Name, newErrs)
		}
		return nil
	}
	oldNS, ok := a.OldObject.(*corev1.Namespace)
	if !ok {
		return apierrors.NewBadRequest("failed to decode  old namespace")
	}
	oldPolicy, oldErrs := api.PolicyToEvaluate(oldNS.Labels, p.defaults)
	// Invalid labels are refused only when they changed.
	if len(newErrs) > 0 && (len(oldErrs) == 0 || !reflect.DeepEqual(newErrs, oldErrs)) {
		return apierrors.NewInvalid(schema.GroupKind{Kind: "Namespace"}, a.Name, newErrs)
	}
	switch {
	case newPolicy.Enforce == oldPolicy.Enforce,
		newPolicy.Enforce.Level == api.LevelPrivileged,
		newPolicy.Enforce.Version == oldPolicy.Enforce.Version && api.CompareLevels(newPolicy.Enforce.Level, oldPolicy.Enforce.Level) < 1:
		return nil
	}
	if p.Pods != nil {
		for _, w := range p.evaluatePodsInNamespace(ctx, ns.Name, newPolicy.Enforce) {
			a.AddWarning(w)
		}
	}
	return nil
}

// evaluatePodsInNamespace returns upstream's warnings about the pods of
// namespace that violate a new enforce level.
func (p *Plugin) evaluatePodsInNamespace(ctx context.Context, namespace string, enforce api.LevelVersion) []string {
	timeout := namespacePodCheckTimeout
	if deadline, ok := ctx.Deadline(); ok {
		if remaining := time.Until(deadline) / 2; timeout > remaining {
			timeout = remaining
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pods, err := p.Pods(ctx, namespace)
	if err != nil {
		return []string{"failed to list pods while checking new PodSecurity enforce level"}
	}
	type podCount struct {
		podName  string
		podCount int
	}
	var warnings, podWarnings []string
	counts := map[string]podCount{}
	pods = prioritizePods(pods)
	total := len(pods)
	if len(pods) > namespaceMaxPodsToCheck {
		pods = pods[:namespaceMaxPodsToCheck]
	}
	checked := len(pods)
	for i, pod := range pods {
		r := policy.AggregateCheckResults(p.evaluator.EvaluatePod(enforce, &pod.ObjectMeta, &pod.Spec))
		if !r.Allowed {
			w := r.ForbiddenReason()
			c, seen := counts[w]
			if !seen {
				c.podName = pod.Name
				podWarnings = append(podWarnings, w)
			} else if pod.Name < c.podName {
				c.podName = pod.Name
			}
			c.podCount++
			counts[w] = c
		}
		if ctx.Err() != nil {
			checked = i + 1
			break
		}
	}
	if checked < total {
		warnings = append(warnings, fmt.Sprintf("new PodSecurity enforce level only checked against the first %d of %d existing pods", checked, total))
	}
	if len(podWarnings) > 0 {
		warnings = append(warnings, fmt.Sprintf("existing pods in namespace %q violate the new PodSecurity enforce level %q", namespace, enforce.String()))
	}
	for i, w := range podWarnings {
		switch c := counts[w]; c.podCount {
		case 1:
			podWarnings[i] = fmt.Sprintf("%s: %s", c.podName, w)
		case 2:
			podWarnings[i] = fmt.Sprintf("%s (and 1 other pod): %s", c.podName, w)
		default:
			podWarnings[i] = fmt.Sprintf("%s (and %d other pods): %s", c.podName, c.podCount-1, w)
		}
	}
	sort.Strings(podWarnings)
	return append(warnings, podWarnings...)
}

// prioritizePods puts one pod of each controller first, so that a limited
// check sees as many different pod templates as it can.
func prioritizePods(pods []*corev1.Pod) []*corev1.Pod {
	out := make([]*corev1.Pod, 0, len(pods))
	var dups []*corev1.Pod
	seen := map[types.UID]bool{}
	for _, pod := range pods {
		ref := metav1.GetControllerOfNoCopy(pod)
		switch {
		case ref == nil:
			out = append(out, pod)
		case seen[ref.UID]:
			dups = append(dups, pod)
		default:
			out = append(out, pod)
			seen[ref.UID] = true
		}
	}
	return append(out, dups...)
}

func (p *Plugin) validatePod(ctx context.Context, a *admission.Attributes) error {
	if ignoredPodSubresources[a.Subresource] {
		return nil
	}
	ns, err := p.namespaces(ctx, a.Namespace)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("failed to lookup namespace %q", a.Namespace))
	}
	nsPolicy, nsPolicyErrs := api.PolicyToEvaluate(ns.Labels, p.defaults)
	if len(nsPolicyErrs) == 0 && nsPolicy.FullyPrivileged() {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return apierrors.NewBadRequest("failed to decode pod")
	}
	if a.Operation == admission.Update {
		oldPod, ok := a.OldObject.(*corev1.Pod)
		if !ok {
			return apierrors.NewBadRequest("failed to decode old pod")
		}
		if !isSignificantPodUpdate(pod, oldPod) {
			// Nothing the policy looks at changed.
			return nil
		}
	}
	return p.evaluate(a, nsPolicy, nsPolicyErrs.ToAggregate(), &pod.ObjectMeta, &pod.Spec, true)
}

func (p *Plugin) validatePodController(ctx context.Context, a *admission.Attributes) {
	if a.Subresource != "" {
		return
	}
	ns, err := p.namespaces(ctx, a.Namespace)
	if err != nil {
		a.AddAnnotation("error", fmt.Sprintf("failed to lookup namespace %q: %v", a.Namespace, err))
		return
	}
	nsPolicy, nsPolicyErrs := api.PolicyToEvaluate(ns.Labels, p.defaults)
	if len(nsPolicyErrs) == 0 && nsPolicy.Warn.Level == api.LevelPrivileged && nsPolicy.Audit.Level == api.LevelPrivileged {
		return
	}
	podMeta, podSpec, err := extractPodSpec(a.Object)
	if err != nil {
		a.AddAnnotation("error", fmt.Sprintf("failed to extract pod template: %v", err))
		return
	}
	if podMeta == nil && podSpec == nil {
		return
	}
	// Never refuses: enforce is not evaluated for templates.
	_ = p.evaluate(a, nsPolicy, nsPolicyErrs.ToAggregate(), podMeta, podSpec, false)
}

// evaluate checks a pod (or pod template) against the namespace's policy:
// the enforce level (when enforce is set) refuses, the audit level
// annotates and the warn level warns, with upstream's messages.
func (p *Plugin) evaluate(a *admission.Attributes, nsPolicy api.Policy, nsPolicyErr error, podMeta *metav1.ObjectMeta, podSpec *corev1.PodSpec, enforce bool) error {
	if nsPolicyErr != nil {
		a.AddAnnotation("error", fmt.Sprintf("Failed to parse policy: %v", nsPolicyErr))
	}
	cached := map[api.LevelVersion]policy.AggregateCheckResult{}
	var refusal error
	if enforce {
		a.AddAnnotation(api.EnforcedPolicyAnnotationKey, nsPolicy.Enforce.String())
		result := policy.AggregateCheckResults(p.evaluator.EvaluatePod(nsPolicy.Enforce, podMeta, podSpec))
		if !result.Allowed {
			refusal = admission.NewForbidden(a, fmt.Errorf("violates PodSecurity %q: %s", nsPolicy.Enforce.String(), result.ForbiddenDetail()))
		}
		cached[nsPolicy.Enforce] = result
	}
	audit, ok := cached[nsPolicy.Audit]
	if !ok {
		audit = policy.AggregateCheckResults(p.evaluator.EvaluatePod(nsPolicy.Audit, podMeta, podSpec))
		cached[nsPolicy.Audit] = audit
	}
	if !audit.Allowed {
		a.AddAnnotation(api.AuditViolationsAnnotationKey, fmt.Sprintf("would violate PodSecurity %q: %s", nsPolicy.Audit.String(), audit.ForbiddenDetail()))
	}
	// No warnings on a request that is refused anyway.
	if refusal != nil {
		return refusal
	}
	warn, ok := cached[nsPolicy.Warn]
	if !ok {
		warn = policy.AggregateCheckResults(p.evaluator.EvaluatePod(nsPolicy.Warn, podMeta, podSpec))
	}
	if !warn.Allowed {
		a.AddWarning(fmt.Sprintf("would violate PodSecurity %q: %s", nsPolicy.Warn.String(), warn.ForbiddenDetail()))
	}
	return nil
}

// extractPodSpec returns the pod template of a workload object; both are
// nil when the object has none.
func extractPodSpec(obj runtime.Object) (*metav1.ObjectMeta, *corev1.PodSpec, error) {
	var t *corev1.PodTemplateSpec
	switch o := obj.(type) {
	case *corev1.Pod:
		return &o.ObjectMeta, &o.Spec, nil
	case *corev1.PodTemplate:
		t = &o.Template
	case *corev1.ReplicationController:
		t = o.Spec.Template
	case *appsv1.ReplicaSet:
		t = &o.Spec.Template
	case *appsv1.Deployment:
		t = &o.Spec.Template
	case *appsv1.DaemonSet:
		t = &o.Spec.Template
	case *appsv1.StatefulSet:
		t = &o.Spec.Template
	case *batchv1.Job:
		t = &o.Spec.Template
	case *batchv1.CronJob:
		t = &o.Spec.JobTemplate.Spec.Template
	default:
		return nil, nil, fmt.Errorf("unexpected object type: %T", obj)
	}
	if t == nil {
		return nil, nil, nil
	}
	return &t.ObjectMeta, &t.Spec, nil
}

// isSignificantPodUpdate reports whether a pod update can change the
// policy's verdict: pods are mostly immutable, but images may change and
// ephemeral containers may be added.
func isSignificantPodUpdate(pod, oldPod *corev1.Pod) bool {
	if len(pod.Spec.Containers) != len(oldPod.Spec.Containers) || len(pod.Spec.InitContainers) != len(oldPod.Spec.InitContainers) {
		return true
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Image != oldPod.Spec.Containers[i].Image {
			return true
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Image != oldPod.Spec.InitContainers[i].Image {
			return true
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		found := false
		for _, oc := range oldPod.Spec.EphemeralContainers {
			if oc.Name == c.Name {
				found = true
				if oc.Image != c.Image {
					return true
				}
				break
			}
		}
		if !found {
			return true
		}
	}
	return false
}
