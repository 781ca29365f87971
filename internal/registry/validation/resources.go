package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource-name classification, as the scheduler and quota system see it.

var standardContainerResources = map[corev1.ResourceName]bool{
	corev1.ResourceCPU:              true,
	corev1.ResourceMemory:           true,
	corev1.ResourceEphemeralStorage: true,
}

var standardResources = map[corev1.ResourceName]bool{
	corev1.ResourceCPU:                      true,
	corev1.ResourceMemory:                   true,
	corev1.ResourceEphemeralStorage:         true,
	corev1.ResourceRequestsCPU:              true,
	corev1.ResourceRequestsMemory:           true,
	corev1.ResourceRequestsEphemeralStorage: true,
	corev1.ResourceLimitsCPU:                true,
	corev1.ResourceLimitsMemory:             true,
	corev1.ResourceLimitsEphemeralStorage:   true,
	corev1.ResourcePods:                     true,
	corev1.ResourceQuotas:                   true,
	corev1.ResourceServices:                 true,
	corev1.ResourceReplicationControllers:   true,
	corev1.ResourceSecrets:                  true,
	corev1.ResourcePersistentVolumeClaims:   true,
	corev1.ResourceConfigMaps:               true,
	corev1.ResourceStorage:                  true,
	corev1.ResourceRequestsStorage:          true,
	corev1.ResourceServicesNodePorts:        true,
	corev1.ResourceServicesLoadBalancers:    true,
}

var standardQuotaResources = map[corev1.ResourceName]bool{
	corev1.ResourcePods:                     true,
	corev1.ResourceCPU:                      true,
	corev1.ResourceMemory:                   true,
	corev1.ResourceEphemeralStorage:         true,
	corev1.ResourceRequestsCPU:              true,
	corev1.ResourceRequestsMemory:           true,
	corev1.ResourceRequestsStorage:          true,
	corev1.ResourceRequestsEphemeralStorage: true,
	corev1.ResourceLimitsCPU:                true,
	corev1.ResourceLimitsMemory:             true,
	corev1.ResourceLimitsEphemeralStorage:   true,
	corev1.ResourceServices:                 true,
	corev1.ResourceReplicationControllers:   true,
	corev1.ResourceQuotas:                   true,
	corev1.ResourceSecrets:                  true,
	corev1.ResourceConfigMaps:               true,
	corev1.ResourcePersistentVolumeClaims:   true,
	corev1.ResourceServicesNodePorts:        true,
	corev1.ResourceServicesLoadBalancers:    true,
}

// integerResources are counted in whole units.
var integerResources = map[corev1.ResourceName]bool{
	corev1.ResourcePods:                   true,
	corev1.ResourceQuotas:                 true,
	corev1.ResourceServices:               true,
	corev1.ResourceReplicationControllers: true,
	corev1.ResourceSecrets:                true,
	corev1.ResourceConfigMaps:             true,
	corev1.ResourcePersistentVolumeClaims: true,
	corev1.ResourceServicesNodePorts:      true,
	corev1.ResourceServicesLoadBalancers:  true,
}

const (
	hugePagesPrefix         = corev1.ResourceHugePagesPrefix
	hugePagesRequestsPrefix = corev1.ResourceRequestsHugePagesPrefix
	hugePagesLimitsPrefix   = "limits." + corev1.ResourceHugePagesPrefix
	kubernetesDomainPrefix  = corev1.ResourceDefaultNamespacePrefix
	requestsPrefix          = corev1.DefaultResourceRequestsPrefix
)

func isHugePageResource(name corev1.ResourceName) bool {
	return strings.HasPrefix(string(name), hugePagesPrefix)
}

// isNativeResource: unqualified names and kubernetes.io/ names belong to the
// system; everything else is an extended resource.
func isNativeResource(name corev1.ResourceName) bool {
	return !strings.Contains(string(name), "/") || strings.Contains(string(name), kubernetesDomainPrefix)
}

func isExtendedResource(name corev1.ResourceName) bool {
	if isNativeResource(name) || strings.HasPrefix(string(name), requestsPrefix) {
		return false
	}
	return len(validation.IsQualifiedName(requestsPrefix+string(name))) == 0
}

// isOvercommitAllowed: requests may be below limits only for native,
// non-hugepage resources.
func isOvercommitAllowed(name corev1.ResourceName) bool {
	return isNativeResource(name) && !isHugePageResource(name)
}

func isIntegerResource(name corev1.ResourceName) bool {
	return integerResources[name] || strings.HasPrefix(string(name), "count/") || isExtendedResource(name)
}

func isStandardResource(name corev1.ResourceName) bool {
	return standardResources[name] || isHugePageResource(name) || strings.HasPrefix(string(name), hugePagesRequestsPrefix)
}

func isStandardQuotaResource(name corev1.ResourceName) bool {
	return standardQuotaResources[name] || isHugePageResource(name) || strings.HasPrefix(string(name), hugePagesRequestsPrefix)
}

// validateResourceName: a qualified name, and a standard one unless it is
// domain-prefixed.
func validateResourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	allErrs := invalidFor(fldPath, name, validation.IsQualifiedName(string(name)))
	if len(allErrs) != 0 {
		return allErrs
	}
	if !strings.Contains(string(name), "/") && !isStandardResource(name) {
		allErrs = append(allErrs, field.Invalid(fldPath, name, "must be a standard resource type or fully qualified"))
	}
	return allErrs
}

func validateContainerResourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	allErrs := validateResourceName(name, fldPath)
	if !strings.Contains(string(name), "/") {
		if !standardContainerResources[name] && !isHugePageResource(name) {
			allErrs = append(allErrs, field.Invalid(fldPath, name, "must be a standard resource for containers"))
		}
	} else if !isNativeResource(name) && !isExtendedResource(name) {
		allErrs = append(allErrs, field.Invalid(fldPath, name, "doesn't follow extended resource name standard"))
	}
	return allErrs
}

// validatePodLevelResourceName: pod-level resources only support cpu,
// memory and hugepages.
func validatePodLevelResourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	allErrs := validateResourceName(name, fldPath)
	if len(allErrs) != 0 {
		return allErrs
	}
	if name != corev1.ResourceCPU && name != corev1.ResourceMemory && !isHugePageResource(name) {
		allErrs = append(allErrs, field.NotSupported(fldPath, name, []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, hugePagesPrefix + "<size>"}))
	}
	return allErrs
}

func validateQuotaResourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	allErrs := validateResourceName(name, fldPath)
	if !strings.Contains(string(name), "/") && !isStandardQuotaResource(name) {
		allErrs = append(allErrs, field.Invalid(fldPath, name, "must be a standard resource for quota"))
	}
	return allErrs
}

// validateResourceQuantity: never negative, whole numbers for countable
// resources.
func validateResourceQuantity(name corev1.ResourceName, q resource.Quantity, fldPath *field.Path) field.ErrorList {
	allErrs := validateNonNegativeQuantity(q, fldPath)
	if isIntegerResource(name) && q.MilliValue()%1000 != 0 {
		allErrs = append(allErrs, field.Invalid(fldPath, q.String(), "must be an integer"))
	}
	return allErrs
}

// validateHugePageValue: hugepage amounts must be whole pages.
func validateHugePageValue(name corev1.ResourceName, q resource.Quantity, fldPath *field.Path) field.ErrorList {
	size, err := resource.ParseQuantity(strings.TrimPrefix(string(name), hugePagesPrefix))
	if err != nil || size.Value() <= 0 {
		return field.ErrorList{field.Invalid(fldPath, name, "must be hugepages-<size> with a valid page size")}
	}
	if q.Value()%size.Value() != 0 {
		return field.ErrorList{field.Invalid(fldPath, q.String(), fmt.Sprintf("%s is not positive integer multiple of %s", q.String(), name))}
	}
	return nil
}

// validateResourceRequirements checks names and quantities and that requests
// do not exceed limits (or equal them where overcommit is impossible).
func validateResourceRequirements(req *corev1.ResourceRequirements, nameFn func(corev1.ResourceName, *field.Path) field.ErrorList, podClaims map[string]bool, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	limPath := fldPath.Child("limits")
	reqPath := fldPath.Child("requests")
	hasCPUOrMemory, hasHugePages := false, false
	for _, name := range sortedResourceNames(req.Limits) {
		q := req.Limits[name]
		p := limPath.Key(string(name))
		allErrs = append(allErrs, nameFn(name, p)...)
		allErrs = append(allErrs, validateResourceQuantity(name, q, p)...)
		if isHugePageResource(name) {
			hasHugePages = true
			allErrs = append(allErrs, validateHugePageValue(name, q, p)...)
		}
		if name == corev1.ResourceCPU || name == corev1.ResourceMemory {
			hasCPUOrMemory = true
		}
	}
	for _, name := range sortedResourceNames(req.Requests) {
		q := req.Requests[name]
		p := reqPath.Key(string(name))
		allErrs = append(allErrs, nameFn(name, p)...)
		allErrs = append(allErrs, validateResourceQuantity(name, q, p)...)
		if limit, ok := req.Limits[name]; ok {
			if q.Cmp(limit) != 0 && !isOvercommitAllowed(name) {
				allErrs = append(allErrs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be equal to %s limit of %s", name, limit.String())))
			} else if q.Cmp(limit) > 0 {
				allErrs = append(allErrs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
			}
		} else if !isOvercommitAllowed(name) {
			allErrs = append(allErrs, field.Required(limPath, "Limit must be set for non overcommitable resources"))
		}
		if isHugePageResource(name) {
			hasHugePages = true
			allErrs = append(allErrs, validateHugePageValue(name, q, p)...)
		}
		if name == corev1.ResourceCPU || name == corev1.ResourceMemory {
			hasCPUOrMemory = true
		}
	}
	if hasHugePages && !hasCPUOrMemory {
		allErrs = append(allErrs, field.Forbidden(fldPath, "HugePages require cpu or memory"))
	}
	allErrs = append(allErrs, validateResourceClaimRefs(req.Claims, podClaims, fldPath.Child("claims"))...)
	return allErrs
}

// validateResourceClaimRefs: a container may only use claims the pod declares.
func validateResourceClaimRefs(claims []corev1.ResourceClaim, podClaims map[string]bool, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	seen := map[string]bool{}
	for i, c := range claims {
		p := fldPath.Index(i)
		if c.Name == "" {
			allErrs = append(allErrs, field.Required(p, ""))
			continue
		}
		key := c.Name
		if c.Request != "" {
			allErrs = append(allErrs, validateDNS1123Label(c.Request, p.Child("request"))...)
			key += "/" + c.Request
		}
		if seen[key] {
			allErrs = append(allErrs, field.Duplicate(p, key))
		}
		seen[key] = true
		if !podClaims[c.Name] {
			e := field.NotFound(p, c.Name)
			e.Detail = "must be one of the names in pod.spec.resourceClaims"
			allErrs = append(allErrs, e)
		}
	}
	return allErrs
}

func sortedResourceNames(list corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(list))
	for n := range list {
		names = append(names, n)
	}
	sortStrings(names)
	return names
}

// LimitRange

var limitRangeTypes = map[corev1.LimitType]bool{
	corev1.LimitTypePod:                   true,
	corev1.LimitTypeContainer:             true,
	corev1.LimitTypePersistentVolumeClaim: true,
}

func validateLimitRange(lr *corev1.LimitRange) field.ErrorList {
	allErrs := validateMeta(lr, true, nameIsDNSSubdomain)
	return append(allErrs, validateLimitRangeSpec(lr)...)
}

func validateLimitRangeSpec(lr *corev1.LimitRange) field.ErrorList {
	var allErrs field.ErrorList
	fldPath := field.NewPath("spec", "limits")
	seenTypes := map[corev1.LimitType]bool{}
	for i := range lr.Spec.Limits {
		limit := &lr.Spec.Limits[i]
		idxPath := fldPath.Index(i)
		typeErrs := invalidFor(idxPath.Child("type"), limit.Type, validation.IsQualifiedName(string(limit.Type)))
		if len(typeErrs) == 0 && !strings.Contains(string(limit.Type), "/") && !limitRangeTypes[limit.Type] {
			typeErrs = append(typeErrs, field.Invalid(idxPath.Child("type"), limit.Type, "must be a standard limit type or fully qualified"))
		}
		allErrs = append(allErrs, typeErrs...)
		if seenTypes[limit.Type] {
			allErrs = append(allErrs, field.Duplicate(idxPath.Child("type"), limit.Type))
		}
		seenTypes[limit.Type] = true

		nameFn := validateResourceName
		if limit.Type == corev1.LimitTypePod || limit.Type == corev1.LimitTypeContainer {
			nameFn = validateContainerResourceName
		}
		checkNames := func(list corev1.ResourceList, p *field.Path) {
			for _, n := range sortedResourceNames(list) {
				allErrs = append(allErrs, nameFn(n, p.Key(string(n)))...)
			}
		}
		checkNames(limit.Max, idxPath.Child("max"))
		checkNames(limit.Min, idxPath.Child("min"))
		checkNames(limit.MaxLimitRequestRatio, idxPath.Child("maxLimitRequestRatio"))
		if limit.Type == corev1.LimitTypePod {
			if len(limit.Default) > 0 {
				allErrs = append(allErrs, field.Forbidden(idxPath.Child("default"), "may not be specified when `type` is 'Pod'"))
			}
			if len(limit.DefaultRequest) > 0 {
				allErrs = append(allErrs, field.Forbidden(idxPath.Child("defaultRequest"), "may not be specified when `type` is 'Pod'"))
			}
		} else {
			checkNames(limit.Default, idxPath.Child("default"))
			checkNames(limit.DefaultRequest, idxPath.Child("defaultRequest"))
		}
		if limit.Type == corev1.LimitTypePersistentVolumeClaim {
			_, hasMin := limit.Min[corev1.ResourceStorage]
			_, hasMax := limit.Max[corev1.ResourceStorage]
			if !hasMin && !hasMax {
				allErrs = append(allErrs, field.Required(idxPath.Child("limits"), "either minimum or maximum storage value is required, but neither was provided"))
			}
		}
		allErrs = append(allErrs, validateLimitRangeBounds(limit, idxPath)...)
	}
	return allErrs
}

// validateLimitRangeBounds checks the ordering min <= defaultRequest <=
// default <= max for every resource mentioned anywhere in the item.
func validateLimitRangeBounds(limit *corev1.LimitRangeItem, idxPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	names := map[corev1.ResourceName]bool{}
	for _, l := range []corev1.ResourceList{limit.Max, limit.Min, limit.Default, limit.DefaultRequest, limit.MaxLimitRequestRatio} {
		for n := range l {
			names[n] = true
		}
	}
	keys := make([]corev1.ResourceName, 0, len(names))
	for n := range names {
		keys = append(keys, n)
	}
	sortStrings(keys)
	for _, k := range keys {
		minQ, hasMin := limit.Min[k]
		maxQ, hasMax := limit.Max[k]
		def, hasDef := limit.Default[k]
		defReq, hasDefReq := limit.DefaultRequest[k]
		ratio, hasRatio := limit.MaxLimitRequestRatio[k]
		key := string(k)
		if hasMin && hasMax && minQ.Cmp(maxQ) > 0 {
			allErrs = append(allErrs, field.Invalid(idxPath.Child("min").Key(key), minQ.String(), fmt.Sprintf("min value %s is greater than max value %s", minQ.String(), maxQ.String())))
		}
		if hasDefReq && hasMin && minQ.Cmp(defReq) > 0 {
			allErrs = append(allErrs, field.Invalid(idxPath.Child("defaultRequest").Key(key), defReq.String(), fmt.Sprintf("min value %s is greater than default request value %s", minQ.String(), defReq.String())))
		}
		if hasDefReq && hasMax && defReq.Cmp(maxQ) > 0 {
			allErrs = append(allErrs, field.Invalid(idxPath.Child("defaultRequest").Key(key), defReq.String(), fmt.Sprintf("default request value %s is greater than max value %s", defReq.String(), maxQ.String())))
		}
		if hasDefReq && hasDef && defReq.Cmp(def) > 0 {
			allErrs = append(allErrs, field.Invalid(idxPath.Child("defaultRequest").Key(key), defReq.String(), fmt.Sprintf("default request value %s is greater than default limit value %s", defReq.String(), def.String())))
		}
		if hasDef && hasMin && minQ.Cmp(def) > 0 {
			allErrs = append(allErrs, field.Invalid(idxPath.Child("default").Key(key), minQ.String(), fmt.Sprintf("min value %s is greater than default value %s", minQ.String(), def.String())))
		}
		if hasDef && hasMax && def.Cmp(maxQ) > 0 {
			allErrs = append(allErrs, field.Invalid(idxPath.Child("default").Key(key), maxQ.String(), fmt.Sprintf("default value %s is greater than max value %s", def.String(), maxQ.String())))
		}
		if hasRatio && ratio.Cmp(*resource.NewQuantity(1, resource.DecimalSI)) < 0 {
			allErrs = append(allErrs, field.Invalid(idxPath.Child("maxLimitRequestRatio").Key(key), ratio.String(), fmt.Sprintf("ratio %s is less than 1", ratio.String())))
		}
		if hasRatio && hasMin && hasMax && minQ.Sign() > 0 {
			limitRatio := maxQ.AsApproximateFloat64() / minQ.AsApproximateFloat64()
			if ratio.AsApproximateFloat64() > limitRatio {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("maxLimitRequestRatio").Key(key), ratio.String(), fmt.Sprintf("ratio %s is greater than max/min = %f", ratio.String(), limitRatio)))
			}
		}
		if !isOvercommitAllowed(k) && hasDef && hasDefReq && def.Cmp(defReq) != 0 {
			allErrs = append(allErrs, field.Invalid(idxPath.Child("defaultRequest").Key(key), defReq.String(), fmt.Sprintf("default value %s must equal to defaultRequest value %s in %s", def.String(), defReq.String(), k)))
		}
	}
	return allErrs
}

// ResourceQuota

var quotaScopes = []corev1.ResourceQuotaScope{
	corev1.ResourceQuotaScopeBestEffort,
	corev1.ResourceQuotaScopeCrossNamespacePodAffinity,
	corev1.ResourceQuotaScopeNotBestEffort,
	corev1.ResourceQuotaScopeNotTerminating,
	corev1.ResourceQuotaScopePriorityClass,
	corev1.ResourceQuotaScopeTerminating,
	corev1.ResourceQuotaScopeVolumeAttributesClass,
}

// conflictingScopes are pairs that can never both match a pod.
var conflictingScopes = [][2]corev1.ResourceQuotaScope{
	{corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort},
	{corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating},
}

func isKnownQuotaScope(s corev1.ResourceQuotaScope) bool {
	for _, q := range quotaScopes {
		if q == s {
			return true
		}
	}
	return false
}

func validateResourceQuota(rq *corev1.ResourceQuota) field.ErrorList {
	allErrs := validateMeta(rq, true, nameIsDNSSubdomain)
	allErrs = append(allErrs, validateResourceQuotaSpec(&rq.Spec, field.NewPath("spec"))...)
	return append(allErrs, validateResourceQuotaStatus(&rq.Status, field.NewPath("status"))...)
}

func validateResourceQuotaUpdate(n, o *corev1.ResourceQuota) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	allErrs = append(allErrs, validateResourceQuotaSpec(&n.Spec, field.NewPath("spec"))...)
	// Scopes decide which pods are charged; changing them would corrupt usage.
	oldScopes, newScopes := map[corev1.ResourceQuotaScope]bool{}, map[corev1.ResourceQuotaScope]bool{}
	for _, s := range o.Spec.Scopes {
		oldScopes[s] = true
	}
	for _, s := range n.Spec.Scopes {
		newScopes[s] = true
	}
	same := len(oldScopes) == len(newScopes)
	for s := range newScopes {
		same = same && oldScopes[s]
	}
	if !same {
		allErrs = append(allErrs, field.Invalid(field.NewPath("spec", "scopes"), n.Spec.Scopes, fieldImmutableMsg))
	}
	return allErrs
}

func validateQuotaList(list corev1.ResourceList, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, k := range sortedResourceNames(list) {
		p := fldPath.Key(string(k))
		allErrs = append(allErrs, validateQuotaResourceName(k, p)...)
		allErrs = append(allErrs, validateResourceQuantity(k, list[k], p)...)
	}
	return allErrs
}

func validateResourceQuotaSpec(spec *corev1.ResourceQuotaSpec, fldPath *field.Path) field.ErrorList {
	allErrs := validateQuotaList(spec.Hard, fldPath.Child("hard"))
	scopeSet := map[corev1.ResourceQuotaScope]bool{}
	for _, s := range spec.Scopes {
		if !isKnownQuotaScope(s) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("scopes"), spec.Scopes, "unsupported scope"))
		}
		scopeSet[s] = true
	}
	if spec.ScopeSelector != nil {
		exprPath := fldPath.Child("scopeSelector", "matchExpressions")
		for i, req := range spec.ScopeSelector.MatchExpressions {
			p := exprPath.Index(i)
			if !isKnownQuotaScope(req.ScopeName) {
				allErrs = append(allErrs, field.Invalid(p.Child("scopeName"), req.ScopeName, "unsupported scope"))
			}
			switch req.ScopeName {
			case corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort, corev1.ResourceQuotaScopeTerminating,
				corev1.ResourceQuotaScopeNotTerminating, corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
				if req.Operator != corev1.ScopeSelectorOpExists {
					allErrs = append(allErrs, field.Invalid(p.Child("operator"), req.Operator,
						"must be 'Exists' when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity"))
				}
			}
			switch req.Operator {
			case corev1.ScopeSelectorOpIn, corev1.ScopeSelectorOpNotIn:
				if len(req.Values) == 0 {
					allErrs = append(allErrs, field.Required(p.Child("values"), "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"))
				}
			case corev1.ScopeSelectorOpExists, corev1.ScopeSelectorOpDoesNotExist:
				if len(req.Values) != 0 {
					allErrs = append(allErrs, field.Invalid(p.Child("values"), req.Values, "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"))
				}
			default:
				allErrs = append(allErrs, field.Invalid(p.Child("operator"), req.Operator, "not a valid selector operator"))
			}
			scopeSet[req.ScopeName] = true
		}
	}
	for _, pair := range conflictingScopes {
		if scopeSet[pair[0]] && scopeSet[pair[1]] {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("scopes"), spec.Scopes, "conflicting scopes"))
		}
	}
	return allErrs
}

func validateResourceQuotaStatus(status *corev1.ResourceQuotaStatus, fldPath *field.Path) field.ErrorList {
	allErrs := validateQuotaList(status.Hard, fldPath.Child("hard"))
	return append(allErrs, validateQuotaList(status.Used, fldPath.Child("used"))...)
}
