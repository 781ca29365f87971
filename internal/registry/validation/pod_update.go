package validation

import (
	"fmt"
	"math"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// updatablePodSpecFields is quoted in the error for a forbidden pod update.
var updatablePodSpecFields = []string{
	"`spec.containers[*].image`",
	"`spec.initContainers[*].image`",
	"`spec.activeDeadlineSeconds`",
	"`spec.tolerations` (only additions to existing tolerations)",
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
}

// validatePodUpdate allows only the few spec changes a running pod can
// absorb; everything else needs a new pod.
func validatePodUpdate(newPod, oldPod *corev1.Pod) field.ErrorList {
	allErrs := validateMetaUpdate(newPod, oldPod)
	allErrs = append(allErrs, validatePodMetaAndSpec(newPod)...)
	allErrs = append(allErrs, validateMirrorAnnotationUpdate(newPod, oldPod)...)
	specPath := field.NewPath("spec")

	if len(newPod.Spec.Containers) != len(oldPod.Spec.Containers) {
		return append(allErrs, field.Forbidden(specPath.Child("containers"), "pod updates may not add or remove containers"))
	}
	if len(newPod.Spec.InitContainers) != len(oldPod.Spec.InitContainers) {
		return append(allErrs, field.Forbidden(specPath.Child("initContainers"), "pod updates may not add or remove containers"))
	}

	// activeDeadlineSeconds may be set, or lowered, never raised or removed.
	adsPath := specPath.Child("activeDeadlineSeconds")
	if nv := newPod.Spec.ActiveDeadlineSeconds; nv != nil {
		if *nv < 0 || *nv > math.MaxInt32 {
			return append(allErrs, field.Invalid(adsPath, *nv, validation.InclusiveRangeError(0, math.MaxInt32)))
		}
		if ov := oldPod.Spec.ActiveDeadlineSeconds; ov != nil && *ov < *nv {
			return append(allErrs, field.Invalid(adsPath, *nv, "must be less than or equal to previous value"))
		}
	} else if oldPod.Spec.ActiveDeadlineSeconds != nil {
		allErrs = append(allErrs, field.Invalid(adsPath, newPod.Spec.ActiveDeadlineSeconds, "must not update from a positive integer to nil value"))
	}

	allErrs = append(allErrs, validateOnlyAddedTolerations(newPod.Spec.Tolerations, oldPod.Spec.Tolerations, specPath.Child("tolerations"))...)
	allErrs = append(allErrs, validateOnlyDeletedSchedulingGates(newPod.Spec.SchedulingGates, oldPod.Spec.SchedulingGates, specPath.Child("schedulingGates"))...)

	if equality.Semantic.DeepEqual(newPod.Spec, oldPod.Spec) {
		return allErrs
	}

	// Copy the allowed changes from the old spec; any remaining difference
	// is a forbidden change.
	munged := newPod.Spec.DeepCopy()
	for i := range munged.Containers {
		munged.Containers[i].Image = oldPod.Spec.Containers[i].Image
	}
	for i := range munged.InitContainers {
		munged.InitContainers[i].Image = oldPod.Spec.InitContainers[i].Image
	}
	munged.ActiveDeadlineSeconds = oldPod.Spec.ActiveDeadlineSeconds
	munged.SchedulingGates = oldPod.Spec.SchedulingGates
	munged.Tolerations = oldPod.Spec.Tolerations
	if og := oldPod.Spec.TerminationGracePeriodSeconds; og != nil && *og < 0 && munged.TerminationGracePeriodSeconds != nil && *munged.TerminationGracePeriodSeconds == 1 {
		munged.TerminationGracePeriodSeconds = og
	}

	// A pod still held by scheduling gates may gain placement constraints.
	if len(oldPod.Spec.SchedulingGates) > 0 {
		if !equality.Semantic.DeepEqual(munged.NodeSelector, oldPod.Spec.NodeSelector) {
			for k, v := range oldPod.Spec.NodeSelector {
				if nv, ok := munged.NodeSelector[k]; !ok || nv != v {
					allErrs = append(allErrs, field.Invalid(specPath.Child("nodeSelector"), munged.NodeSelector, "only additions to spec.nodeSelector are allowed (no mutations or deletions)"))
					break
				}
			}
			munged.NodeSelector = oldPod.Spec.NodeSelector
		}
		var oldNA, newNA *corev1.NodeAffinity
		if oldPod.Spec.Affinity != nil {
			oldNA = oldPod.Spec.Affinity.NodeAffinity
		}
		if munged.Affinity != nil {
			newNA = munged.Affinity.NodeAffinity
		}
		if !equality.Semantic.DeepEqual(oldNA, newNA) {
			allErrs = append(allErrs, validateNodeAffinityAdditions(newNA, oldNA, specPath.Child("affinity", "nodeAffinity"))...)
			switch {
			case munged.Affinity == nil && oldNA == nil:
			case munged.Affinity == nil:
				munged.Affinity = &corev1.Affinity{NodeAffinity: oldNA}
			case oldPod.Spec.Affinity == nil && munged.Affinity.PodAffinity == nil && munged.Affinity.PodAntiAffinity == nil:
				munged.Affinity = nil
			default:
				munged.Affinity.NodeAffinity = oldNA
			}
		}
	}

	if !equality.Semantic.DeepEqual(*munged, oldPod.Spec) {
		msg := fmt.Sprintf("pod updates may not change fields other than %s", strings.Join(updatablePodSpecFields, ","))
		if d := describeChanges("spec", oldPod.Spec, *munged); d != "" {
			msg += "\n" + d
		}
		allErrs = append(allErrs, field.Forbidden(specPath, msg))
	}
	return allErrs
}

func validateMirrorAnnotationUpdate(newPod, oldPod *corev1.Pod) field.ErrorList {
	p := metadataPath.Child("annotations").Key(mirrorPodAnnotation)
	oldV, hadOld := oldPod.Annotations[mirrorPodAnnotation]
	newV, hasNew := newPod.Annotations[mirrorPodAnnotation]
	switch {
	case hadOld && (!hasNew || newV != oldV):
		return field.ErrorList{field.Forbidden(p, "may not remove or update mirror pod annotation")}
	case !hadOld && hasNew:
		return field.ErrorList{field.Forbidden(p, "may not add mirror pod annotation")}
	}
	return nil
}

// validateOnlyAddedTolerations: existing tolerations may only change their
// tolerationSeconds; new ones may be appended.
func validateOnlyAddedTolerations(newT, oldT []corev1.Toleration, fldPath *field.Path) field.ErrorList {
	for _, o := range oldT {
		found := false
		for _, n := range newT {
			o.TolerationSeconds = n.TolerationSeconds
			if reflect.DeepEqual(o, n) {
				found = true
				break
			}
		}
		if !found {
			return field.ErrorList{field.Forbidden(fldPath, "existing toleration can not be modified except its tolerationSeconds")}
		}
	}
	return validateTolerations(newT, fldPath)
}

func validateOnlyDeletedSchedulingGates(newG, oldG []corev1.PodSchedulingGate, fldPath *field.Path) field.ErrorList {
	old := map[string]bool{}
	for _, g := range oldG {
		old[g.Name] = true
	}
	var allErrs field.ErrorList
	for i, g := range newG {
		if !old[g.Name] {
			allErrs = append(allErrs, field.Forbidden(fldPath.Index(i).Child("name"), fmt.Sprintf("only deletion is allowed, but found new scheduling gate '%s'", g.Name)))
		}
	}
	return allErrs
}

// validateNodeAffinityAdditions: on a gated pod, required node affinity may
// only be narrowed by appending requirements to existing terms.
func validateNodeAffinityAdditions(newNA, oldNA *corev1.NodeAffinity, fldPath *field.Path) field.ErrorList {
	if oldNA == nil || oldNA.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return nil
	}
	termsPath := fldPath.Child("requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
	oldTerms := oldNA.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	var newTerms []corev1.NodeSelectorTerm
	if newNA != nil && newNA.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		newTerms = newNA.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	}
	if len(oldTerms) > 0 && len(oldTerms) != len(newTerms) {
		return field.ErrorList{field.Invalid(termsPath, newTerms, "no additions/deletions to non-empty NodeSelectorTerms list are allowed")}
	}
	var allErrs field.ErrorList
	for i := range oldTerms {
		if !termOnlyAdds(newTerms[i], oldTerms[i]) {
			allErrs = append(allErrs, field.Invalid(termsPath.Index(i), newTerms[i], "only additions are allowed (no mutations or deletions)"))
		}
	}
	return allErrs
}

func termOnlyAdds(n, o corev1.NodeSelectorTerm) bool {
	if len(o.MatchExpressions) == 0 && len(o.MatchFields) == 0 && (len(n.MatchExpressions) > 0 || len(n.MatchFields) > 0) {
		return false
	}
	if l := len(o.MatchExpressions); len(n.MatchExpressions) < l || !equality.Semantic.DeepEqual(n.MatchExpressions[:l], o.MatchExpressions) {
		return false
	}
	if l := len(o.MatchFields); len(n.MatchFields) < l || !equality.Semantic.DeepEqual(n.MatchFields[:l], o.MatchFields) {
		return false
	}
	return true
}

var podPhases = []corev1.PodPhase{corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown}

var systemPodConditions = map[corev1.PodConditionType]bool{
	corev1.PodScheduled:   true,
	corev1.PodReady:       true,
	corev1.PodInitialized: true,
}

// validatePodStatusUpdate checks what kubelets and controllers report.
func validatePodStatusUpdate(newPod, oldPod *corev1.Pod) field.ErrorList {
	allErrs := validateMetaUpdate(newPod, oldPod)
	allErrs = append(allErrs, validateMirrorAnnotationUpdate(newPod, oldPod)...)
	statusPath := field.NewPath("status")

	allErrs = append(allErrs, enumCheckOptional(newPod.Status.Phase, podPhases, statusPath.Child("phase"))...)
	// Succeeded and Failed are final: the kubelet will not restart the pod.
	if (oldPod.Status.Phase == corev1.PodSucceeded || oldPod.Status.Phase == corev1.PodFailed) && newPod.Status.Phase != oldPod.Status.Phase {
		allErrs = append(allErrs, field.Forbidden(statusPath.Child("phase"), fmt.Sprintf("may not transition from terminal phase %s to %s", oldPod.Status.Phase, newPod.Status.Phase)))
	}
	for i, c := range newPod.Status.Conditions {
		if !systemPodConditions[c.Type] {
			allErrs = append(allErrs, validateQualifiedName(string(c.Type), statusPath.Child("conditions").Index(i).Child("type"))...)
		}
	}
	if newPod.Spec.NodeName != oldPod.Spec.NodeName {
		allErrs = append(allErrs, field.Forbidden(statusPath.Child("nodeName"), "may not be changed directly"))
	}
	if n := newPod.Status.NominatedNodeName; n != "" && n != oldPod.Status.NominatedNodeName {
		allErrs = append(allErrs, validateName(nameIsDNSSubdomain, n, statusPath.Child("nominatedNodeName"))...)
	}
	if oldPod.Status.QOSClass != "" {
		allErrs = append(allErrs, validateImmutable(newPod.Status.QOSClass, oldPod.Status.QOSClass, statusPath.Child("qosClass"))...)
	}
	allErrs = append(allErrs, validateContainerStateTransitions(newPod.Status.ContainerStatuses, oldPod.Status.ContainerStatuses, oldPod.Spec.RestartPolicy, nil, statusPath.Child("containerStatuses"))...)
	allErrs = append(allErrs, validateContainerStateTransitions(newPod.Status.InitContainerStatuses, oldPod.Status.InitContainerStatuses, oldPod.Spec.RestartPolicy, oldPod.Spec.InitContainers, statusPath.Child("initContainerStatuses"))...)
	allErrs = append(allErrs, validateContainerStateTransitions(newPod.Status.EphemeralContainerStatuses, oldPod.Status.EphemeralContainerStatuses, corev1.RestartPolicyNever, nil, statusPath.Child("ephemeralContainerStatuses"))...)

	podIPs := make([]string, 0, len(newPod.Status.PodIPs))
	for i, ip := range newPod.Status.PodIPs {
		allErrs = append(allErrs, validateIP(ip.IP, statusPath.Child("podIPs").Index(i))...)
		podIPs = append(podIPs, ip.IP)
	}
	allErrs = append(allErrs, validateIPList(podIPs, statusPath.Child("podIPs"))...)
	if len(newPod.Status.HostIPs) > 0 {
		hostIPsPath := statusPath.Child("hostIPs")
		if newPod.Status.HostIP != newPod.Status.HostIPs[0].IP {
			allErrs = append(allErrs, field.Invalid(hostIPsPath.Index(0).Child("ip"), newPod.Status.HostIPs[0].IP, "must be equal to `hostIP`"))
		}
		hostIPs := make([]string, 0, len(newPod.Status.HostIPs))
		for i, ip := range newPod.Status.HostIPs {
			allErrs = append(allErrs, validateIP(ip.IP, hostIPsPath.Index(i))...)
			hostIPs = append(hostIPs, ip.IP)
		}
		allErrs = append(allErrs, validateIPList(hostIPs, hostIPsPath)...)
	}
	return allErrs
}

// validateIPList: no duplicates, at most one address per family.
func validateIPList(ips []string, fldPath *field.Path) field.ErrorList {
	if len(ips) < 2 {
		return nil
	}
	for _, ip := range ips {
		if ipFamily(ip) == 0 {
			return nil // already reported as invalid
		}
	}
	var allErrs field.ErrorList
	seen := map[string]bool{}
	for i, ip := range ips {
		if seen[ip] {
			allErrs = append(allErrs, field.Duplicate(fldPath.Index(i), ip))
		}
		seen[ip] = true
	}
	return append(allErrs, validateDualStackList(ips, ipFamily, fldPath, "IP")...)
}

// validateContainerStateTransitions: a terminated container of a pod that
// does not restart it cannot come back to life.
func validateContainerStateTransitions(newS, oldS []corev1.ContainerStatus, restart corev1.RestartPolicy, inits []corev1.Container, fldPath *field.Path) field.ErrorList {
	if restart == corev1.RestartPolicyAlways {
		return nil
	}
	sidecars := map[string]bool{}
	for _, c := range inits {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars[c.Name] = true
		}
	}
	var allErrs field.ErrorList
	for i, o := range oldS {
		if o.State.Terminated == nil || sidecars[o.Name] {
			continue
		}
		if o.State.Terminated.ExitCode != 0 && restart == corev1.RestartPolicyOnFailure {
			continue
		}
		for _, n := range newS {
			if n.Name == o.Name && n.State.Terminated == nil {
				allErrs = append(allErrs, field.Forbidden(fldPath.Index(i).Child("state"), "may not be transitioned to non-terminated state"))
			}
		}
	}
	return allErrs
}
