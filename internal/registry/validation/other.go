package validation

import (
	"fmt"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Node

func validateNode(node *corev1.Node) field.ErrorList {
	allErrs := validateMeta(node, false, nameIsDNSSubdomain)
	allErrs = append(allErrs, validateNodeSpec(node)...)
	return append(allErrs, validateNodeStatus(node)...)
}

// nodePodCIDRs merges the legacy single field into the list, as the
// internal representation does.
func nodePodCIDRs(node *corev1.Node) []string {
	if len(node.Spec.PodCIDRs) == 0 && node.Spec.PodCIDR != "" {
		return []string{node.Spec.PodCIDR}
	}
	return node.Spec.PodCIDRs
}

func validateNodeSpec(node *corev1.Node) field.ErrorList {
	var allErrs field.ErrorList
	allErrs = append(allErrs, validateTaints(node.Spec.Taints, specPath.Child("taints"))...)
	if node.Spec.PodCIDR != "" && len(node.Spec.PodCIDRs) > 0 && node.Spec.PodCIDRs[0] != node.Spec.PodCIDR {
		allErrs = append(allErrs, field.Invalid(specPath.Child("podCIDRs"), node.Spec.PodCIDRs, "first value must match `podCIDR`"))
	}
	cidrs := nodePodCIDRs(node)
	cidrsPath := specPath.Child("podCIDRs")
	if len(node.Spec.PodCIDRs) == 0 && node.Spec.PodCIDR != "" {
		cidrsPath = specPath.Child("podCIDR")
		allErrs = append(allErrs, validateCIDR(node.Spec.PodCIDR, cidrsPath)...)
		return allErrs
	}
	invalid := false
	for i, c := range cidrs {
		errs := validateCIDR(c, cidrsPath.Index(i))
		invalid = invalid || len(errs) > 0
		allErrs = append(allErrs, errs...)
	}
	if !invalid && len(cidrs) > 1 {
		allErrs = append(allErrs, validateDualStackList(cidrs, cidrFamily, cidrsPath, "CIDR")...)
		seen := map[string]bool{}
		for i, c := range cidrs {
			if seen[c] {
				allErrs = append(allErrs, field.Duplicate(cidrsPath.Index(i), c))
			}
			seen[c] = true
		}
	}
	return allErrs
}

func validateNodeStatus(node *corev1.Node) field.ErrorList {
	var allErrs field.ErrorList
	for _, k := range sortedResourceNames(node.Status.Capacity) {
		allErrs = append(allErrs, validateResourceQuantity(k, node.Status.Capacity[k], field.NewPath("status", "capacity").Key(string(k)))...)
	}
	for _, k := range sortedResourceNames(node.Status.Allocatable) {
		allErrs = append(allErrs, validateResourceQuantity(k, node.Status.Allocatable[k], field.NewPath("status", "allocatable").Key(string(k)))...)
	}
	seen := map[corev1.NodeAddress]bool{}
	for i, a := range node.Status.Addresses {
		if seen[a] {
			allErrs = append(allErrs, field.Duplicate(field.NewPath("status", "addresses").Index(i), a))
		}
		seen[a] = true
	}
	return allErrs
}

func validateNodeUpdate(n, o *corev1.Node) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	allErrs = append(allErrs, validateNodeSpec(n)...)
	allErrs = append(allErrs, validateNodeStatus(n)...)
	// The node IPAM controller assigns CIDRs once; changing them would
	// strand running pods.
	oldCIDRs, newCIDRs := nodePodCIDRs(o), nodePodCIDRs(n)
	if len(oldCIDRs) > 0 {
		same := len(oldCIDRs) == len(newCIDRs)
		for i := 0; same && i < len(oldCIDRs); i++ {
			same = oldCIDRs[i] == newCIDRs[i]
		}
		if !same {
			allErrs = append(allErrs, field.Forbidden(specPath.Child("podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
		}
	}
	if o.Spec.ProviderID != "" && o.Spec.ProviderID != n.Spec.ProviderID {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	if n.Spec.DoNotUseExternalID != o.Spec.DoNotUseExternalID {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("externalID"), "may not be updated"))
	}
	return allErrs
}

// Lease

func validateLease(l *coordinationv1.Lease) field.ErrorList {
	allErrs := validateMeta(l, true, nameIsDNSSubdomain)
	return append(allErrs, validateLeaseSpec(&l.Spec, specPath)...)
}

func validateLeaseSpec(spec *coordinationv1.LeaseSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if spec.LeaseDurationSeconds != nil && *spec.LeaseDurationSeconds <= 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("leaseDurationSeconds"), *spec.LeaseDurationSeconds, "must be greater than 0"))
	}
	allErrs = append(allErrs, validateNonnegativePtr(spec.LeaseTransitions, fldPath.Child("leaseTransitions"))...)
	if spec.Strategy != nil {
		allErrs = append(allErrs, validateQualifiedName(string(*spec.Strategy), fldPath.Child("strategy"))...)
	}
	if spec.PreferredHolder != nil && *spec.PreferredHolder != "" && (spec.Strategy == nil || *spec.Strategy == "") {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return allErrs
}

// HorizontalPodAutoscaler

const minHPAReplicas = 1

func validateScaleTargetRef(kind, name string, p *field.Path) field.ErrorList {
	allErrs := requiredPathSegment(kind, p.Child("kind"))
	return append(allErrs, requiredPathSegment(name, p.Child("name"))...)
}

func validateHPAReplicas(minReplicas *int32, maxReplicas int32, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if minReplicas != nil && *minReplicas < minHPAReplicas {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("minReplicas"), *minReplicas, fmt.Sprintf("must be greater than or equal to %d", minHPAReplicas)))
	}
	if maxReplicas < 1 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("maxReplicas"), maxReplicas, "must be greater than 0"))
	}
	if minReplicas != nil && maxReplicas < *minReplicas {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("maxReplicas"), maxReplicas, "must be greater than or equal to `minReplicas`"))
	}
	return allErrs
}

func validateHPAv1(hpa *autoscalingv1.HorizontalPodAutoscaler) field.ErrorList {
	allErrs := validateMeta(hpa, true, nameIsDNSSubdomain)
	return append(allErrs, validateHPAv1Spec(hpa)...)
}

func validateHPAv1Spec(hpa *autoscalingv1.HorizontalPodAutoscaler) field.ErrorList {
	spec := &hpa.Spec
	allErrs := validateHPAReplicas(spec.MinReplicas, spec.MaxReplicas, specPath)
	allErrs = append(allErrs, validateScaleTargetRef(spec.ScaleTargetRef.Kind, spec.ScaleTargetRef.Name, specPath.Child("scaleTargetRef"))...)
	if spec.TargetCPUUtilizationPercentage != nil && *spec.TargetCPUUtilizationPercentage < 1 {
		allErrs = append(allErrs, field.Invalid(specPath.Child("targetCPUUtilizationPercentage"), *spec.TargetCPUUtilizationPercentage, "must be greater than 0"))
	}
	return allErrs
}

func validateHPAv1Status(st *autoscalingv1.HorizontalPodAutoscalerStatus) field.ErrorList {
	p := field.NewPath("status")
	allErrs := validateNonnegative(int64(st.CurrentReplicas), p.Child("currentReplicas"))
	return append(allErrs, validateNonnegative(int64(st.DesiredReplicas), p.Child("desiredReplicas"))...)
}

func validateHPAv2(hpa *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	allErrs := validateMeta(hpa, true, nameIsDNSSubdomain)
	return append(allErrs, validateHPAv2Spec(&hpa.Spec, specPath)...)
}

func validateHPAv2Spec(spec *autoscalingv2.HorizontalPodAutoscalerSpec, fldPath *field.Path) field.ErrorList {
	allErrs := validateHPAReplicas(spec.MinReplicas, spec.MaxReplicas, fldPath)
	allErrs = append(allErrs, validateScaleTargetRef(spec.ScaleTargetRef.Kind, spec.ScaleTargetRef.Name, fldPath.Child("scaleTargetRef"))...)
	for i := range spec.Metrics {
		allErrs = append(allErrs, validateMetricSpec(&spec.Metrics[i], fldPath.Child("metrics").Index(i))...)
	}
	if b := spec.Behavior; b != nil {
		bp := fldPath.Child("behavior")
		allErrs = append(allErrs, validateScalingRules(b.ScaleUp, bp.Child("scaleUp"))...)
		allErrs = append(allErrs, validateScalingRules(b.ScaleDown, bp.Child("scaleDown"))...)
	}
	return allErrs
}

var metricSourceTypes = []autoscalingv2.MetricSourceType{
	autoscalingv2.ContainerResourceMetricSourceType, autoscalingv2.ExternalMetricSourceType, autoscalingv2.ObjectMetricSourceType,
	autoscalingv2.PodsMetricSourceType, autoscalingv2.ResourceMetricSourceType,
}

func validateMetricSpec(m *autoscalingv2.MetricSpec, p *field.Path) field.ErrorList {
	if m.Type == "" {
		return field.ErrorList{field.Required(p.Child("type"), "must specify a metric source type")}
	}
	allErrs := enumCheckNotSupported(m.Type, metricSourceTypes, p.Child("type"))
	type source struct {
		typ  autoscalingv2.MetricSourceType
		name string
		set  bool
	}
	sources := []source{
		{autoscalingv2.ObjectMetricSourceType, "object", m.Object != nil},
		{autoscalingv2.PodsMetricSourceType, "pods", m.Pods != nil},
		{autoscalingv2.ResourceMetricSourceType, "resource", m.Resource != nil},
		{autoscalingv2.ContainerResourceMetricSourceType, "containerResource", m.ContainerResource != nil},
		{autoscalingv2.ExternalMetricSourceType, "external", m.External != nil},
	}
	typeSet := false
	for _, s := range sources {
		if !s.set {
			continue
		}
		if s.typ == m.Type {
			typeSet = true
		} else {
			allErrs = append(allErrs, field.Forbidden(p.Child(s.name), "must populate the given metric source only"))
		}
	}
	if !typeSet && len(allErrs) == 0 {
		allErrs = append(allErrs, field.Required(p, "must populate information for the given metric source"))
	}
	switch {
	case m.Object != nil && m.Type == autoscalingv2.ObjectMetricSourceType:
		op := p.Child("object")
		allErrs = append(allErrs, validateScaleTargetRef(m.Object.DescribedObject.Kind, m.Object.DescribedObject.Name, op.Child("describedObject"))...)
		allErrs = append(allErrs, validateMetricIdentifier(m.Object.Metric, op.Child("metric"))...)
		allErrs = append(allErrs, validateMetricTarget(m.Object.Target, op.Child("target"))...)
		if m.Object.Target.Value == nil && m.Object.Target.AverageValue == nil {
			allErrs = append(allErrs, field.Required(op.Child("target", "averageValue"), "must set either a target value or averageValue"))
		}
	case m.Pods != nil && m.Type == autoscalingv2.PodsMetricSourceType:
		pp := p.Child("pods")
		allErrs = append(allErrs, validateMetricIdentifier(m.Pods.Metric, pp.Child("metric"))...)
		allErrs = append(allErrs, validateMetricTarget(m.Pods.Target, pp.Child("target"))...)
		if m.Pods.Target.AverageValue == nil {
			allErrs = append(allErrs, field.Required(pp.Child("target", "averageValue"), "must specify a positive target averageValue"))
		}
	case m.Resource != nil && m.Type == autoscalingv2.ResourceMetricSourceType:
		rp := p.Child("resource")
		if m.Resource.Name == "" {
			allErrs = append(allErrs, field.Required(rp.Child("name"), "must specify a resource name"))
		}
		allErrs = append(allErrs, validateResourceMetricTarget(m.Resource.Target, rp.Child("target"))...)
	case m.ContainerResource != nil && m.Type == autoscalingv2.ContainerResourceMetricSourceType:
		cp := p.Child("containerResource")
		if m.ContainerResource.Name == "" {
			allErrs = append(allErrs, field.Required(cp.Child("name"), "must specify a resource name"))
		}
		if m.ContainerResource.Container == "" {
			allErrs = append(allErrs, field.Required(cp.Child("container"), "must specify a container"))
		} else {
			allErrs = append(allErrs, validateDNS1123Label(m.ContainerResource.Container, cp.Child("container"))...)
		}
		allErrs = append(allErrs, validateResourceMetricTarget(m.ContainerResource.Target, cp.Child("target"))...)
	case m.External != nil && m.Type == autoscalingv2.ExternalMetricSourceType:
		ep := p.Child("external")
		allErrs = append(allErrs, validateMetricIdentifier(m.External.Metric, ep.Child("metric"))...)
		allErrs = append(allErrs, validateMetricTarget(m.External.Target, ep.Child("target"))...)
		if m.External.Target.Value == nil && m.External.Target.AverageValue == nil {
			allErrs = append(allErrs, field.Required(ep.Child("target", "averageValue"), "must set either a target value for metric or a per-pod target"))
		}
	}
	return allErrs
}

func validateMetricIdentifier(id autoscalingv2.MetricIdentifier, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if id.Name == "" {
		allErrs = append(allErrs, field.Required(p.Child("name"), "must specify a metric name"))
	} else {
		allErrs = append(allErrs, invalidFor(p.Child("name"), id.Name, content.IsPathSegmentName(id.Name))...)
	}
	if id.Selector != nil {
		allErrs = append(allErrs, validateLabelSelector(id.Selector, p.Child("selector"))...)
	}
	return allErrs
}

var metricTargetTypes = []autoscalingv2.MetricTargetType{autoscalingv2.AverageValueMetricType, autoscalingv2.UtilizationMetricType, autoscalingv2.ValueMetricType}

func validateMetricTarget(t autoscalingv2.MetricTarget, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if t.Type == "" {
		allErrs = append(allErrs, field.Required(p.Child("type"), "must specify a metric target type"))
	} else {
		allErrs = append(allErrs, enumCheckNotSupported(t.Type, metricTargetTypes, p.Child("type"))...)
	}
	if t.Value != nil && t.Value.Sign() <= 0 {
		allErrs = append(allErrs, field.Invalid(p.Child("value"), t.Value.String(), "must be positive"))
	}
	if t.AverageValue != nil && t.AverageValue.Sign() <= 0 {
		allErrs = append(allErrs, field.Invalid(p.Child("averageValue"), t.AverageValue.String(), "must be positive"))
	}
	if t.AverageUtilization != nil && *t.AverageUtilization < 1 {
		allErrs = append(allErrs, field.Invalid(p.Child("averageUtilization"), *t.AverageUtilization, "must be greater than 0"))
	}
	return allErrs
}

// validateResourceMetricTarget: resource metrics are compared per pod, as a
// utilization or an average value, never as a total.
func validateResourceMetricTarget(t autoscalingv2.MetricTarget, p *field.Path) field.ErrorList {
	allErrs := validateMetricTarget(t, p)
	if t.Value != nil {
		allErrs = append(allErrs, field.Forbidden(p.Child("value"), "cannot set a value for resource metrics"))
	}
	switch {
	case t.AverageUtilization == nil && t.AverageValue == nil:
		allErrs = append(allErrs, field.Required(p.Child("averageUtilization"), "must set either a target raw value or a target utilization"))
	case t.AverageUtilization != nil && t.AverageValue != nil:
		allErrs = append(allErrs, field.Forbidden(p.Child("averageValue"), "may not set both a target raw value and a target utilization"))
	}
	return allErrs
}

const (
	maxPeriodSeconds              = 1800
	maxStabilizationWindowSeconds = 3600
)

func validateScalingRules(r *autoscalingv2.HPAScalingRules, p *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var allErrs field.ErrorList
	if w := r.StabilizationWindowSeconds; w != nil && (*w < 0 || *w > maxStabilizationWindowSeconds) {
		allErrs = append(allErrs, field.Invalid(p.Child("stabilizationWindowSeconds"), *w, fmt.Sprintf("must be less than or equal to %v and greater than or equal to 0", maxStabilizationWindowSeconds)))
	}
	if r.SelectPolicy != nil {
		allErrs = append(allErrs, enumCheckNotSupported(*r.SelectPolicy, []autoscalingv2.ScalingPolicySelect{autoscalingv2.DisabledPolicySelect, autoscalingv2.MaxChangePolicySelect, autoscalingv2.MinChangePolicySelect}, p.Child("selectPolicy"))...)
	}
	polPath := p.Child("policies")
	if len(r.Policies) == 0 && (r.SelectPolicy == nil || *r.SelectPolicy != autoscalingv2.DisabledPolicySelect) {
		allErrs = append(allErrs, field.Required(polPath, "must specify at least one Policy"))
	}
	for i, pol := range r.Policies {
		pp := polPath.Index(i)
		allErrs = append(allErrs, enumCheckNotSupported(pol.Type, []autoscalingv2.HPAScalingPolicyType{autoscalingv2.PercentScalingPolicy, autoscalingv2.PodsScalingPolicy}, pp.Child("type"))...)
		if pol.Value <= 0 {
			allErrs = append(allErrs, field.Invalid(pp.Child("value"), pol.Value, "must be greater than zero"))
		}
		if pol.PeriodSeconds <= 0 || pol.PeriodSeconds > maxPeriodSeconds {
			allErrs = append(allErrs, field.Invalid(pp.Child("periodSeconds"), pol.PeriodSeconds, fmt.Sprintf("must be greater than zero and less than or equal to %v", maxPeriodSeconds)))
		}
	}
	if r.Tolerance != nil && r.Tolerance.Sign() < 0 {
		allErrs = append(allErrs, field.Invalid(p.Child("tolerance"), r.Tolerance.String(), "must be greater than or equal to zero"))
	}
	return allErrs
}

func validateHPAv2Status(st *autoscalingv2.HorizontalPodAutoscalerStatus) field.ErrorList {
	p := field.NewPath("status")
	allErrs := validateNonnegative(int64(st.CurrentReplicas), p.Child("currentReplicas"))
	return append(allErrs, validateNonnegative(int64(st.DesiredReplicas), p.Child("desiredReplicas"))...)
}

// PodDisruptionBudget

func validatePodDisruptionBudget(pdb *policyv1.PodDisruptionBudget) field.ErrorList {
	allErrs := validateMeta(pdb, true, nameIsDNSSubdomain)
	return append(allErrs, validatePDBSpec(&pdb.Spec, specPath)...)
}

func validatePDBSpec(spec *policyv1.PodDisruptionBudgetSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if spec.MinAvailable != nil && spec.MaxUnavailable != nil {
		allErrs = append(allErrs, field.Invalid(fldPath, spec, "minAvailable and maxUnavailable cannot be both set"))
	}
	if spec.MinAvailable != nil {
		allErrs = append(allErrs, validateIntOrPercent(*spec.MinAvailable, fldPath.Child("minAvailable"))...)
		allErrs = append(allErrs, validateNotMoreThan100Percent(*spec.MinAvailable, fldPath.Child("minAvailable"))...)
	}
	if spec.MaxUnavailable != nil {
		allErrs = append(allErrs, validateIntOrPercent(*spec.MaxUnavailable, fldPath.Child("maxUnavailable"))...)
		allErrs = append(allErrs, validateNotMoreThan100Percent(*spec.MaxUnavailable, fldPath.Child("maxUnavailable"))...)
	}
	allErrs = append(allErrs, validateLabelSelector(spec.Selector, fldPath.Child("selector"))...)
	if spec.UnhealthyPodEvictionPolicy != nil {
		allErrs = append(allErrs, enumCheckNotSupported(*spec.UnhealthyPodEvictionPolicy,
			[]policyv1.UnhealthyPodEvictionPolicyType{policyv1.AlwaysAllow, policyv1.IfHealthyBudget}, fldPath.Child("unhealthyPodEvictionPolicy"))...)
	}
	return allErrs
}

func validatePDBStatus(st *policyv1.PodDisruptionBudgetStatus, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, c := range []struct {
		name string
		v    int32
	}{{"disruptionsAllowed", st.DisruptionsAllowed}, {"currentHealthy", st.CurrentHealthy}, {"desiredHealthy", st.DesiredHealthy}, {"expectedPods", st.ExpectedPods}} {
		allErrs = append(allErrs, validateNonnegative(int64(c.v), p.Child(c.name))...)
	}
	return allErrs
}

// PriorityClass

const (
	highestUserDefinablePriority = 1000000000
	systemCriticalPriority       = 2 * highestUserDefinablePriority
	systemPriorityClassPrefix    = "system-"
)

// systemPriorityClasses are the only classes allowed the reserved prefix.
var systemPriorityClasses = map[string]int32{
	"system-cluster-critical": systemCriticalPriority,
	"system-node-critical":    systemCriticalPriority + 1000,
}

func validatePriorityClass(pc *schedulingv1.PriorityClass) field.ErrorList {
	allErrs := validateMeta(pc, false, nameIsDNSSubdomain)
	if strings.HasPrefix(pc.Name, systemPriorityClassPrefix) {
		if v, known := systemPriorityClasses[pc.Name]; !known {
			allErrs = append(allErrs, field.Forbidden(metadataPath.Child("name"),
				fmt.Sprintf("priority class names with '%s' prefix are reserved for system use only. error: %s is not a known system priority class", systemPriorityClassPrefix, pc.Name)))
		} else if v != pc.Value {
			allErrs = append(allErrs, field.Forbidden(metadataPath.Child("name"),
				fmt.Sprintf("priority class names with '%s' prefix are reserved for system use only. error: value of %s PriorityClass must be %d", systemPriorityClassPrefix, pc.Name, v)))
		}
	} else if pc.Value > highestUserDefinablePriority {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("value"), fmt.Sprintf("maximum allowed value of a user defined priority is %v", highestUserDefinablePriority)))
	}
	if pc.PreemptionPolicy != nil {
		allErrs = append(allErrs, enumCheck(*pc.PreemptionPolicy, []corev1.PreemptionPolicy{corev1.PreemptLowerPriority, corev1.PreemptNever}, field.NewPath("preemptionPolicy"))...)
	}
	return allErrs
}

func validatePriorityClassUpdate(n, o *schedulingv1.PriorityClass) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	// Pods already carry the resolved priority; changing it would be a lie.
	if n.Value != o.Value {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("value"), "may not be changed in an update."))
	}
	allErrs = append(allErrs, validateImmutable(n.PreemptionPolicy, o.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
	return allErrs
}

// validateSignerName checks "<domain>/<path>" signer names, used by CSRs and
// cluster trust bundles.
func validateSignerName(signer string, p *field.Path) field.ErrorList {
	if signer == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	segments := strings.Split(signer, "/")
	if len(segments) != 2 {
		return field.ErrorList{field.Invalid(p, signer, "must be a fully qualified domain and path of the form 'example.com/signer-name'")}
	}
	var allErrs field.ErrorList
	domain, rest := segments[0], segments[1]
	if len(domain) > validation.DNS1123SubdomainMaxLength {
		allErrs = append(allErrs, field.TooLong(p, "", validation.DNS1123SubdomainMaxLength))
	}
	labels := strings.Split(domain, ".")
	for _, l := range labels {
		if errs := validation.IsDNS1123Label(l); len(errs) > 0 {
			for _, e := range errs {
				allErrs = append(allErrs, field.Invalid(p, domain, fmt.Sprintf("validating label %q: %s", l, e)))
			}
			break
		}
	}
	if len(labels) < 2 {
		allErrs = append(allErrs, field.Invalid(p, domain, "should be a domain with at least two segments separated by dots"))
	}
	for _, c := range strings.Split(rest, ".") {
		if errs := validation.IsDNS1123Subdomain(c); len(errs) > 0 {
			for _, e := range errs {
				allErrs = append(allErrs, field.Invalid(p, rest, fmt.Sprintf("validating component %q: %s", c, e)))
			}
			break
		}
	}
	maxLen := validation.DNS1123SubdomainMaxLength*2 + validation.DNS1123LabelMaxLength + 2
	if len(signer) > maxLen {
		allErrs = append(allErrs, field.TooLong(p, "", maxLen))
	}
	return allErrs
}
