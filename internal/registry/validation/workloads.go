package validation

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var specPath = field.NewPath("spec")

// validateControllerSelector checks a controller's selector and that its pod
// template carries labels the selector matches. kind names the controller
// in the "empty selector" message.
func validateControllerSelector(sel *metav1.LabelSelector, tmpl *corev1.PodTemplateSpec, kind string, fldPath *field.Path) field.ErrorList {
	if sel == nil {
		return field.ErrorList{field.Required(fldPath.Child("selector"), "")}
	}
	allErrs := validateLabelSelector(sel, fldPath.Child("selector"))
	if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("selector"), sel, fmt.Sprintf("empty selector is invalid for %s", kind)))
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		// Already reported by validateLabelSelector in detail.
		return allErrs
	}
	return append(allErrs, validateSelectorMatchesTemplate(selector, tmpl.Labels, fldPath.Child("template", "metadata"))...)
}

// validateAlwaysRestartTemplate: pods of long-running controllers must be
// restarted forever and must not expire.
func validateAlwaysRestartTemplate(tmpl *corev1.PodTemplateSpec, kind string, tmplPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if tmpl.Spec.RestartPolicy != corev1.RestartPolicyAlways && tmpl.Spec.RestartPolicy != "" {
		allErrs = append(allErrs, field.NotSupported(tmplPath.Child("spec", "restartPolicy"), tmpl.Spec.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if tmpl.Spec.ActiveDeadlineSeconds != nil {
		allErrs = append(allErrs, field.Forbidden(tmplPath.Child("spec", "activeDeadlineSeconds"), fmt.Sprintf("activeDeadlineSeconds in %s is not Supported", kind)))
	}
	return allErrs
}

func validateReplicas(replicas *int32, fldPath *field.Path) field.ErrorList {
	return validateNonnegativePtr(replicas, fldPath)
}

// Deployment

func validateDeployment(d *appsv1.Deployment) field.ErrorList {
	allErrs := validateMeta(d, true, nameIsDNSSubdomain)
	return append(allErrs, validateDeploymentSpec(&d.Spec, specPath)...)
}

func validateDeploymentSpec(spec *appsv1.DeploymentSpec, fldPath *field.Path) field.ErrorList {
	allErrs := validateReplicas(spec.Replicas, fldPath.Child("replicas"))
	allErrs = append(allErrs, validateControllerSelector(spec.Selector, &spec.Template, "deployment", fldPath)...)
	tmplPath := fldPath.Child("template")
	allErrs = append(allErrs, validatePodTemplateSpec(&spec.Template, tmplPath, podOpts{})...)
	allErrs = append(allErrs, validateAlwaysRestartTemplate(&spec.Template, "Deployment", tmplPath)...)
	allErrs = append(allErrs, validateDeploymentStrategy(&spec.Strategy, fldPath.Child("strategy"))...)
	allErrs = append(allErrs, validateNonnegative(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	allErrs = append(allErrs, validateNonnegativePtr(spec.RevisionHistoryLimit, fldPath.Child("revisionHistoryLimit"))...)
	if spec.ProgressDeadlineSeconds != nil {
		allErrs = append(allErrs, validateNonnegative(int64(*spec.ProgressDeadlineSeconds), fldPath.Child("progressDeadlineSeconds"))...)
		// A rollout cannot be judged stuck before pods may become available.
		if *spec.ProgressDeadlineSeconds <= spec.MinReadySeconds {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("progressDeadlineSeconds"), *spec.ProgressDeadlineSeconds, "must be greater than minReadySeconds"))
		}
	}
	return allErrs
}

func validateDeploymentStrategy(s *appsv1.DeploymentStrategy, fldPath *field.Path) field.ErrorList {
	switch s.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			return field.ErrorList{field.Forbidden(fldPath.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")}
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		if s.RollingUpdate == nil {
			return field.ErrorList{field.Required(fldPath.Child("rollingUpdate"), "this should be defaulted and never be nil")}
		}
		return validateRollingUpdateDeployment(s.RollingUpdate, fldPath.Child("rollingUpdate"))
	default:
		return field.ErrorList{field.NotSupported(fldPath.Child("type"), s.Type, []appsv1.DeploymentStrategyType{appsv1.RecreateDeploymentStrategyType, appsv1.RollingUpdateDeploymentStrategyType})}
	}
	return nil
}

func validateRollingUpdateDeployment(ru *appsv1.RollingUpdateDeployment, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	unavailPath, surgePath := fldPath.Child("maxUnavailable"), fldPath.Child("maxSurge")
	if ru.MaxUnavailable != nil {
		allErrs = append(allErrs, validateIntOrPercent(*ru.MaxUnavailable, unavailPath)...)
		allErrs = append(allErrs, validateNotMoreThan100Percent(*ru.MaxUnavailable, unavailPath)...)
	}
	if ru.MaxSurge != nil {
		allErrs = append(allErrs, validateIntOrPercent(*ru.MaxSurge, surgePath)...)
	}
	// With neither surge nor unavailability the rollout could never progress.
	unavail, surge := 0, 0
	if ru.MaxUnavailable != nil {
		unavail = intOrPercentValue(*ru.MaxUnavailable)
	}
	if ru.MaxSurge != nil {
		surge = intOrPercentValue(*ru.MaxSurge)
	}
	if unavail == 0 && surge == 0 {
		allErrs = append(allErrs, field.Invalid(unavailPath, ru.MaxUnavailable, "may not be 0 when `maxSurge` is 0"))
	}
	return allErrs
}

func validateDeploymentUpdate(n, o *appsv1.Deployment) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	allErrs = append(allErrs, validateDeploymentSpec(&n.Spec, specPath)...)
	// Changing the selector would orphan the existing ReplicaSets.
	allErrs = append(allErrs, validateImmutable(n.Spec.Selector, o.Spec.Selector, specPath.Child("selector"))...)
	return allErrs
}

func validateDeploymentStatusUpdate(n, o *appsv1.Deployment) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	st := &n.Status
	statusPath := field.NewPath("status")
	allErrs = append(allErrs, validateNonnegative(st.ObservedGeneration, statusPath.Child("observedGeneration"))...)
	allErrs = append(allErrs, validateNonnegative(int64(st.UnavailableReplicas), statusPath.Child("unavailableReplicas"))...)
	allErrs = append(allErrs, validateReplicaCounts(replicaCounts{
		replicas: st.Replicas, updated: &st.UpdatedReplicas, ready: &st.ReadyReplicas, available: &st.AvailableReplicas, terminating: st.TerminatingReplicas,
	}, statusPath)...)
	allErrs = append(allErrs, validateCollisionCount(n.Status.CollisionCount, o.Status.CollisionCount, statusPath.Child("collisionCount"))...)
	return allErrs
}

// replicaCounts gathers the counters controllers report so that they can be
// checked together: none negative, none above replicas.
type replicaCounts struct {
	replicas                                                      int32
	fullyLabeled, ready, available, updated, current, terminating *int32
}

func replicaCountsFromRS(s *appsv1.ReplicaSetStatus) replicaCounts {
	return replicaCounts{replicas: s.Replicas, fullyLabeled: &s.FullyLabeledReplicas, ready: &s.ReadyReplicas, available: &s.AvailableReplicas, terminating: s.TerminatingReplicas}
}

func replicaCountsFromRC(s *corev1.ReplicationControllerStatus) replicaCounts {
	return replicaCounts{replicas: s.Replicas, fullyLabeled: &s.FullyLabeledReplicas, ready: &s.ReadyReplicas, available: &s.AvailableReplicas}
}

func validateReplicaCounts(c replicaCounts, statusPath *field.Path) field.ErrorList {
	allErrs := validateNonnegative(int64(c.replicas), statusPath.Child("replicas"))
	const msg = "cannot be greater than status.replicas"
	counters := []struct {
		name string
		v    *int32
	}{{"fullyLabeledReplicas", c.fullyLabeled}, {"readyReplicas", c.ready}, {"availableReplicas", c.available},
		{"updatedReplicas", c.updated}, {"currentReplicas", c.current}}
	for _, ctr := range counters {
		if ctr.v == nil {
			continue
		}
		allErrs = append(allErrs, validateNonnegative(int64(*ctr.v), statusPath.Child(ctr.name))...)
		if *ctr.v > c.replicas {
			allErrs = append(allErrs, field.Invalid(statusPath.Child(ctr.name), *ctr.v, msg))
		}
	}
	if c.terminating != nil {
		allErrs = append(allErrs, validateNonnegative(int64(*c.terminating), statusPath.Child("terminatingReplicas"))...)
	}
	if c.available != nil && c.ready != nil && *c.available > *c.ready {
		allErrs = append(allErrs, field.Invalid(statusPath.Child("availableReplicas"), *c.available, "cannot be greater than readyReplicas"))
	}
	return allErrs
}

// validateCollisionCount: the counter only grows, or hash collisions would
// repeat.
func validateCollisionCount(n, o *int32, fldPath *field.Path) field.ErrorList {
	allErrs := validateNonnegativePtr(n, fldPath)
	if o != nil && (n == nil || *n < *o) {
		var v int32
		if n != nil {
			v = *n
		}
		allErrs = append(allErrs, field.Invalid(fldPath, v, "cannot be decremented"))
	}
	return allErrs
}

// ReplicaSet

func validateReplicaSet(rs *appsv1.ReplicaSet) field.ErrorList {
	allErrs := validateMeta(rs, true, nameIsDNSSubdomain)
	return append(allErrs, validateReplicaSetSpec(&rs.Spec, specPath)...)
}

func validateReplicaSetSpec(spec *appsv1.ReplicaSetSpec, fldPath *field.Path) field.ErrorList {
	allErrs := validateReplicas(spec.Replicas, fldPath.Child("replicas"))
	allErrs = append(allErrs, validateNonnegative(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	allErrs = append(allErrs, validateControllerSelector(spec.Selector, &spec.Template, "replicaset", fldPath)...)
	tmplPath := fldPath.Child("template")
	allErrs = append(allErrs, validatePodTemplateSpec(&spec.Template, tmplPath, podOpts{})...)
	return append(allErrs, validateAlwaysRestartTemplate(&spec.Template, "ReplicaSet", tmplPath)...)
}

func validateReplicaSetUpdate(n, o *appsv1.ReplicaSet) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	allErrs = append(allErrs, validateReplicaSetSpec(&n.Spec, specPath)...)
	return append(allErrs, validateImmutable(n.Spec.Selector, o.Spec.Selector, specPath.Child("selector"))...)
}

// ReplicationController

func validateReplicationController(rc *corev1.ReplicationController) field.ErrorList {
	allErrs := validateMeta(rc, true, nameIsDNSSubdomain)
	return append(allErrs, validateRCSpec(&rc.Spec, specPath)...)
}

func validateRCSpec(spec *corev1.ReplicationControllerSpec, fldPath *field.Path) field.ErrorList {
	allErrs := validateNonnegative(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))
	selector := labels.Set(spec.Selector).AsSelector()
	if selector.Empty() {
		allErrs = append(allErrs, field.Required(fldPath.Child("selector"), ""))
	}
	allErrs = append(allErrs, validateReplicas(spec.Replicas, fldPath.Child("replicas"))...)
	tmplPath := fldPath.Child("template")
	if spec.Template == nil {
		return append(allErrs, field.Required(tmplPath, ""))
	}
	allErrs = append(allErrs, validateSelectorMatchesTemplate(selector, spec.Template.Labels, tmplPath.Child("metadata"))...)
	allErrs = append(allErrs, validatePodTemplateSpec(spec.Template, tmplPath, podOpts{})...)
	return append(allErrs, validateAlwaysRestartTemplate(spec.Template, "ReplicationController", tmplPath)...)
}

func validateReplicationControllerUpdate(n, o *corev1.ReplicationController) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	return append(allErrs, validateRCSpec(&n.Spec, specPath)...)
}

// StatefulSet

const statefulSetUpdateForbidden = "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"

// validateStatefulSet checks a StatefulSet; checkName is false on update
// because the name cannot change anyway.
func validateStatefulSet(ss *appsv1.StatefulSet, checkName bool) field.ErrorList {
	var allErrs field.ErrorList
	if checkName {
		// The name becomes the pods' hostname prefix, hence a DNS label.
		allErrs = validateMeta(ss, true, nameIsDNSLabel)
	}
	return append(allErrs, validateStatefulSetSpec(&ss.Spec, specPath)...)
}

func validateStatefulSetSpec(spec *appsv1.StatefulSetSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch spec.PodManagementPolicy {
	case "":
		allErrs = append(allErrs, field.Required(fldPath.Child("podManagementPolicy"), ""))
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	default:
		allErrs = append(allErrs, field.Invalid(fldPath.Child("podManagementPolicy"), spec.PodManagementPolicy,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement)))
	}
	usPath := fldPath.Child("updateStrategy")
	switch spec.UpdateStrategy.Type {
	case "":
		allErrs = append(allErrs, field.Required(usPath, ""))
	case appsv1.OnDeleteStatefulSetStrategyType:
		if spec.UpdateStrategy.RollingUpdate != nil {
			allErrs = append(allErrs, field.Invalid(usPath.Child("rollingUpdate"), spec.UpdateStrategy.RollingUpdate,
				fmt.Sprintf("only allowed for updateStrategy '%s'", appsv1.RollingUpdateStatefulSetStrategyType)))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if ru := spec.UpdateStrategy.RollingUpdate; ru != nil {
			ruPath := usPath.Child("rollingUpdate")
			allErrs = append(allErrs, validateNonnegativePtr(ru.Partition, ruPath.Child("partition"))...)
			if ru.MaxUnavailable != nil {
				p := ruPath.Child("maxUnavailable")
				allErrs = append(allErrs, validateIntOrPercent(*ru.MaxUnavailable, p)...)
				if intOrPercentValue(*ru.MaxUnavailable) == 0 {
					allErrs = append(allErrs, field.Invalid(p, *ru.MaxUnavailable, "cannot be 0"))
				}
				allErrs = append(allErrs, validateNotMoreThan100Percent(*ru.MaxUnavailable, p)...)
			}
		}
	default:
		allErrs = append(allErrs, field.Invalid(usPath, spec.UpdateStrategy,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType)))
	}
	if pol := spec.PersistentVolumeClaimRetentionPolicy; pol != nil {
		p := fldPath.Child("persistentVolumeClaimRetentionPolicy")
		allowed := []appsv1.PersistentVolumeClaimRetentionPolicyType{appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType}
		allErrs = append(allErrs, enumCheckNotSupported(pol.WhenDeleted, allowed, p.Child("whenDeleted"))...)
		allErrs = append(allErrs, enumCheckNotSupported(pol.WhenScaled, allowed, p.Child("whenScaled"))...)
	}
	allErrs = append(allErrs, validateReplicas(spec.Replicas, fldPath.Child("replicas"))...)
	allErrs = append(allErrs, validateNonnegative(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	allErrs = append(allErrs, validateNonnegativePtr(spec.RevisionHistoryLimit, fldPath.Child("revisionHistoryLimit"))...)
	if spec.Ordinals != nil {
		allErrs = append(allErrs, validateNonnegative(int64(spec.Ordinals.Start), fldPath.Child("ordinals", "start"))...)
	}
	// Pods get the governing service as their DNS subdomain.
	if spec.ServiceName != "" {
		allErrs = append(allErrs, validateName(nameIsDNSLabel, spec.ServiceName, fldPath.Child("serviceName"))...)
	}
	allErrs = append(allErrs, validateControllerSelector(spec.Selector, &spec.Template, "statefulset", fldPath)...)

	// Claim templates become volumes of each pod, so mounts may use them.
	claimVolumes := map[string]corev1.VolumeSource{}
	vctPath := fldPath.Child("volumeClaimTemplates")
	for i := range spec.VolumeClaimTemplates {
		vct := &spec.VolumeClaimTemplates[i]
		p := vctPath.Index(i)
		if vct.Name == "" {
			allErrs = append(allErrs, field.Required(p.Child("metadata", "name"), ""))
		} else {
			allErrs = append(allErrs, validateDNS1123Label(vct.Name, p.Child("metadata", "name"))...)
			claimVolumes[vct.Name] = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: vct.Name}}
		}
		allErrs = append(allErrs, validateTemplateMeta(&vct.ObjectMeta, p.Child("metadata"))...)
		allErrs = append(allErrs, validatePVCSpec(&vct.Spec, p.Child("spec"))...)
	}
	tmplPath := fldPath.Child("template")
	allErrs = append(allErrs, validatePodTemplateSpec(&spec.Template, tmplPath, podOpts{extraVolumes: claimVolumes})...)
	return append(allErrs, validateAlwaysRestartTemplate(&spec.Template, "StatefulSet", tmplPath)...)
}

// enumCheckNotSupported is enumCheck where empty is just another bad value.
func enumCheckNotSupported[T ~string](v T, allowed []T, p *field.Path) field.ErrorList {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(p, v, allowed)}
}

func validateStatefulSetUpdate(n, o *appsv1.StatefulSet) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	allErrs = append(allErrs, validateStatefulSet(n, false)...)
	// Identity and storage of existing pods depend on everything else.
	clone := n.Spec.DeepCopy()
	clone.Replicas = o.Spec.Replicas
	clone.Template = o.Spec.Template
	clone.UpdateStrategy = o.Spec.UpdateStrategy
	clone.MinReadySeconds = o.Spec.MinReadySeconds
	clone.Ordinals = o.Spec.Ordinals
	clone.RevisionHistoryLimit = o.Spec.RevisionHistoryLimit
	clone.PersistentVolumeClaimRetentionPolicy = o.Spec.PersistentVolumeClaimRetentionPolicy
	if !equality.Semantic.DeepEqual(*clone, o.Spec) {
		msg := statefulSetUpdateForbidden
		if d := describeChanges("spec", o.Spec, *clone); d != "" {
			msg += "\n" + d
		}
		allErrs = append(allErrs, field.Forbidden(specPath, msg))
	}
	return allErrs
}

func validateStatefulSetStatusUpdate(n, o *appsv1.StatefulSet) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	st := &n.Status
	statusPath := field.NewPath("status")
	allErrs = append(allErrs, validateReplicaCounts(replicaCounts{
		replicas: st.Replicas, ready: &st.ReadyReplicas, current: &st.CurrentReplicas, updated: &st.UpdatedReplicas, available: &st.AvailableReplicas,
	}, statusPath)...)
	allErrs = append(allErrs, validateNonnegative(st.ObservedGeneration, statusPath.Child("observedGeneration"))...)
	allErrs = append(allErrs, validateCollisionCount(st.CollisionCount, o.Status.CollisionCount, statusPath.Child("collisionCount"))...)
	return allErrs
}

// DaemonSet

func validateDaemonSet(ds *appsv1.DaemonSet) field.ErrorList {
	allErrs := validateMeta(ds, true, nameIsDNSSubdomain)
	return append(allErrs, validateDaemonSetSpec(&ds.Spec, specPath)...)
}

func validateDaemonSetSpec(spec *appsv1.DaemonSetSpec, fldPath *field.Path) field.ErrorList {
	allErrs := validateControllerSelector(spec.Selector, &spec.Template, "daemonset", fldPath)
	tmplPath := fldPath.Child("template")
	allErrs = append(allErrs, validatePodTemplateSpec(&spec.Template, tmplPath, podOpts{})...)
	allErrs = append(allErrs, validateAlwaysRestartTemplate(&spec.Template, "DaemonSet", tmplPath)...)
	allErrs = append(allErrs, validateNonnegative(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	allErrs = append(allErrs, validateNonnegativePtr(spec.RevisionHistoryLimit, fldPath.Child("revisionHistoryLimit"))...)

	usPath := fldPath.Child("updateStrategy")
	switch spec.UpdateStrategy.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
	case appsv1.RollingUpdateDaemonSetStrategyType:
		ru := spec.UpdateStrategy.RollingUpdate
		if ru == nil {
			return append(allErrs, field.Required(usPath.Child("rollingUpdate"), ""))
		}
		ruPath := usPath.Child("rollingUpdate")
		unavail, surge := 0, 0
		if ru.MaxUnavailable != nil {
			allErrs = append(allErrs, validateIntOrPercent(*ru.MaxUnavailable, ruPath.Child("maxUnavailable"))...)
			allErrs = append(allErrs, validateNotMoreThan100Percent(*ru.MaxUnavailable, ruPath.Child("maxUnavailable"))...)
			unavail = intOrPercentValue(*ru.MaxUnavailable)
		}
		if ru.MaxSurge != nil {
			allErrs = append(allErrs, validateIntOrPercent(*ru.MaxSurge, ruPath.Child("maxSurge"))...)
			allErrs = append(allErrs, validateNotMoreThan100Percent(*ru.MaxSurge, ruPath.Child("maxSurge"))...)
			surge = intOrPercentValue(*ru.MaxSurge)
		}
		// A node runs one daemon pod: either replace in place or surge, not both.
		switch {
		case unavail != 0 && surge != 0:
			allErrs = append(allErrs, field.Invalid(ruPath.Child("maxSurge"), ru.MaxSurge, "may not be set when maxUnavailable is non-zero"))
		case unavail == 0 && surge == 0:
			allErrs = append(allErrs, field.Required(ruPath.Child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
		}
	default:
		allErrs = append(allErrs, field.NotSupported(usPath.Child("type"), spec.UpdateStrategy.Type,
			[]appsv1.DaemonSetUpdateStrategyType{appsv1.RollingUpdateDaemonSetStrategyType, appsv1.OnDeleteDaemonSetStrategyType}))
	}
	return allErrs
}

func validateDaemonSetUpdate(n, o *appsv1.DaemonSet) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	allErrs = append(allErrs, validateDaemonSetSpec(&n.Spec, specPath)...)
	return append(allErrs, validateImmutable(n.Spec.Selector, o.Spec.Selector, specPath.Child("selector"))...)
}

func validateDaemonSetStatusUpdate(n, o *appsv1.DaemonSet) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	st := &n.Status
	p := field.NewPath("status")
	for _, c := range []struct {
		name string
		v    int64
	}{
		{"currentNumberScheduled", int64(st.CurrentNumberScheduled)}, {"numberMisscheduled", int64(st.NumberMisscheduled)},
		{"desiredNumberScheduled", int64(st.DesiredNumberScheduled)}, {"numberReady", int64(st.NumberReady)},
		{"observedGeneration", st.ObservedGeneration}, {"updatedNumberScheduled", int64(st.UpdatedNumberScheduled)},
		{"numberAvailable", int64(st.NumberAvailable)}, {"numberUnavailable", int64(st.NumberUnavailable)},
	} {
		allErrs = append(allErrs, validateNonnegative(c.v, p.Child(c.name))...)
	}
	return append(allErrs, validateCollisionCount(st.CollisionCount, o.Status.CollisionCount, p.Child("collisionCount"))...)
}

// ControllerRevision

func validateControllerRevision(cr *appsv1.ControllerRevision) field.ErrorList {
	allErrs := validateMeta(cr, true, nameIsDNSSubdomain)
	return append(allErrs, validateControllerRevisionBody(cr)...)
}

func validateControllerRevisionBody(cr *appsv1.ControllerRevision) field.ErrorList {
	var allErrs field.ErrorList
	if cr.Data.Raw == nil && cr.Data.Object == nil {
		allErrs = append(allErrs, field.Required(field.NewPath("data"), "data is mandatory"))
	}
	return append(allErrs, validateNonnegative(cr.Revision, field.NewPath("revision"))...)
}

func validateControllerRevisionUpdate(n, o *appsv1.ControllerRevision) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	allErrs = append(allErrs, validateControllerRevisionBody(n)...)
	// A revision is a snapshot; rewriting it would falsify history.
	return append(allErrs, validateImmutable(n.Data, o.Data, field.NewPath("data"))...)
}
