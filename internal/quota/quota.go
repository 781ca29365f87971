// Package quota evaluates ResourceQuota usage: what one object charges
// against a quota (object counts, pod compute, service load balancers and
// node ports, claim storage), whether a quota's scopes select it, and the
// total use of a namespace. The ResourceQuota admission plugin and the
// ResourceQuota controller both count with it, so they agree.
package quota

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	resourcehelper "k8s.io/component-helpers/resource"
)

// Well-known group/version/resources whose objects charge more than a count.
var (
	PodsGVR     = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	ServicesGVR = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	ClaimsGVR   = schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}
)

// legacyCounts are the object counts with names older than count/<resource>.
var legacyCounts = map[string]corev1.ResourceName{
	"pods": corev1.ResourcePods, "services": corev1.ResourceServices, "configmaps": corev1.ResourceConfigMaps,
	"secrets": corev1.ResourceSecrets, "persistentvolumeclaims": corev1.ResourcePersistentVolumeClaims,
	"replicationcontrollers": corev1.ResourceReplicationControllers, "resourcequotas": corev1.ResourceQuotas,
}

// storageClassSuffix joins a storage class name to its per-class resources.
const storageClassSuffix = ".storageclass.storage.k8s.io/"

// CountName is the object count resource of gvr: count/<resource>[.<group>].
func CountName(gvr schema.GroupVersionResource) corev1.ResourceName {
	if gvr.Group == "" {
		return corev1.ResourceName("count/" + gvr.Resource)
	}
	return corev1.ResourceName("count/" + gvr.Resource + "." + gvr.Group)
}

// ResourceOf is the group/resource whose objects a quota resource name
// charges (version left empty), and false for names no object charges.
func ResourceOf(name corev1.ResourceName) (schema.GroupResource, bool) {
	n := string(name)
	if rest, ok := strings.CutPrefix(n, "count/"); ok {
		res, group, _ := strings.Cut(rest, ".")
		return schema.GroupResource{Group: group, Resource: res}, res != ""
	}
	for res, legacy := range legacyCounts {
		if legacy == name {
			return schema.GroupResource{Resource: res}, true
		}
	}
	switch {
	case name == corev1.ResourceServicesLoadBalancers || name == corev1.ResourceServicesNodePorts:
		return ServicesGVR.GroupResource(), true
	case name == corev1.ResourceRequestsStorage || strings.Contains(n, storageClassSuffix):
		return ClaimsGVR.GroupResource(), true
	case isPodCompute(name):
		return PodsGVR.GroupResource(), true
	}
	return schema.GroupResource{}, false
}

// isPodCompute reports resource names pods charge beyond their count.
func isPodCompute(name corev1.ResourceName) bool {
	n := string(name)
	switch name {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
		return true
	}
	return strings.HasPrefix(n, "requests.") || strings.HasPrefix(n, "limits.") || strings.HasPrefix(n, corev1.ResourceHugePagesPrefix)
}

// Usage is what obj, an object of gvr, charges against quotas at now.
func Usage(gvr schema.GroupVersionResource, obj runtime.Object, now time.Time) corev1.ResourceList {
	one := *resource.NewQuantity(1, resource.DecimalSI)
	out := corev1.ResourceList{CountName(gvr): one}
	legacy, hasLegacy := corev1.ResourceName(""), false
	if gvr.Group == "" {
		legacy, hasLegacy = legacyCounts[gvr.Resource]
	}
	if hasLegacy && gvr.Resource != "pods" {
		out[legacy] = one
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		// A finished (or long-deleted) pod is still an object, but no
		// longer uses the namespace's pods or compute.
		if !PodCounts(o, now) {
			return out
		}
		out[corev1.ResourcePods] = one
		for name, q := range PodCompute(o) {
			out[name] = q
		}
	case *corev1.Service:
		out[corev1.ResourceServicesLoadBalancers] = *resource.NewQuantity(0, resource.DecimalSI)
		out[corev1.ResourceServicesNodePorts] = *resource.NewQuantity(0, resource.DecimalSI)
		ports := int64(len(o.Spec.Ports))
		switch o.Spec.Type {
		case corev1.ServiceTypeNodePort:
			out[corev1.ResourceServicesNodePorts] = *resource.NewQuantity(ports, resource.DecimalSI)
		case corev1.ServiceTypeLoadBalancer:
			if a := o.Spec.AllocateLoadBalancerNodePorts; a != nil && !*a {
				// Only the node ports asked for explicitly are allocated.
				ports = 0
				for _, p := range o.Spec.Ports {
					if p.NodePort != 0 {
						ports++
					}
				}
			}
			out[corev1.ResourceServicesNodePorts] = *resource.NewQuantity(ports, resource.DecimalSI)
			out[corev1.ResourceServicesLoadBalancers] = one
		}
	case *corev1.PersistentVolumeClaim:
		storage := o.Spec.Resources.Requests[corev1.ResourceStorage]
		out[corev1.ResourceRequestsStorage] = storage.DeepCopy()
		if sc := claimClass(o); sc != "" {
			out[corev1.ResourceName(sc+storageClassSuffix+string(corev1.ResourceRequestsStorage))] = storage.DeepCopy()
			out[corev1.ResourceName(sc+storageClassSuffix+string(corev1.ResourcePersistentVolumeClaims))] = one
		}
	}
	return out
}

func claimClass(pvc *corev1.PersistentVolumeClaim) string {
	if pvc.Spec.StorageClassName != nil {
		return *pvc.Spec.StorageClassName
	}
	return pvc.Annotations[corev1.BetaStorageClassAnnotation]
}

// PodCounts reports whether a pod uses quota: it has not finished, and is
// not past the end of its deletion grace period.
func PodCounts(pod *corev1.Pod, now time.Time) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if pod.DeletionTimestamp != nil && pod.DeletionGracePeriodSeconds != nil {
		end := pod.DeletionTimestamp.Add(time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second)
		if now.After(end) {
			return false
		}
	}
	return true
}

// PodCompute is the compute a pod charges: its effective requests (the
// plain and the requests. names) and limits, init containers and overhead
// included.
func PodCompute(pod *corev1.Pod) corev1.ResourceList {
	out := corev1.ResourceList{}
	for name, q := range resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{}) {
		switch {
		case name == corev1.ResourceCPU || name == corev1.ResourceMemory || name == corev1.ResourceEphemeralStorage:
			out[name] = q.DeepCopy()
			out["requests."+name] = q.DeepCopy()
		case strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix):
			out[name] = q.DeepCopy()
			out["requests."+name] = q.DeepCopy()
		default:
			// Extended resources are only quota'd by their requests.
			out["requests."+name] = q.DeepCopy()
		}
	}
	for name, q := range resourcehelper.PodLimits(pod, resourcehelper.PodResourcesOptions{}) {
		switch name {
		case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
			out["limits."+name] = q.DeepCopy()
		}
	}
	return out
}

// MissingCompute lists the compute resources a quota's hard limits track
// that some container of the pod does not state, as the admission plugin
// refuses them.
func MissingCompute(pod *corev1.Pod, hard corev1.ResourceList) []string {
	var missing []string
	for _, c := range []struct {
		quota   corev1.ResourceName
		limits  bool
		resName corev1.ResourceName
	}{
		{"requests.cpu", false, corev1.ResourceCPU}, {"cpu", false, corev1.ResourceCPU},
		{"requests.memory", false, corev1.ResourceMemory}, {"memory", false, corev1.ResourceMemory},
		{"limits.cpu", true, corev1.ResourceCPU}, {"limits.memory", true, corev1.ResourceMemory},
	} {
		if _, tracked := hard[c.quota]; !tracked {
			continue
		}
		for _, ctr := range pod.Spec.Containers {
			list := ctr.Resources.Requests
			if c.limits {
				list = ctr.Resources.Limits
			}
			if _, ok := list[c.resName]; !ok {
				missing = append(missing, string(c.quota))
				break
			}
		}
	}
	return missing
}

// scopeRequirements are the quota's scopes and scope selector as one list
// of requirements (a plain scope means Exists).
func scopeRequirements(q *corev1.ResourceQuota) []corev1.ScopedResourceSelectorRequirement {
	var out []corev1.ScopedResourceSelectorRequirement
	for _, s := range q.Spec.Scopes {
		out = append(out, corev1.ScopedResourceSelectorRequirement{ScopeName: s, Operator: corev1.ScopeSelectorOpExists})
	}
	if q.Spec.ScopeSelector != nil {
		out = append(out, q.Spec.ScopeSelector.MatchExpressions...)
	}
	return out
}

// Matches reports whether the quota's scopes select obj. Scopes describe
// pods: a quota with any scope selects no other kind.
func Matches(q *corev1.ResourceQuota, obj runtime.Object) bool {
	reqs := scopeRequirements(q)
	if len(reqs) == 0 {
		return true
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return false
	}
	for _, r := range reqs {
		if !podMatchesScope(pod, r) {
			return false
		}
	}
	return true
}

func podMatchesScope(pod *corev1.Pod, r corev1.ScopedResourceSelectorRequirement) bool {
	switch r.ScopeName {
	case corev1.ResourceQuotaScopeTerminating:
		return pod.Spec.ActiveDeadlineSeconds != nil && *pod.Spec.ActiveDeadlineSeconds >= 0
	case corev1.ResourceQuotaScopeNotTerminating:
		return pod.Spec.ActiveDeadlineSeconds == nil || *pod.Spec.ActiveDeadlineSeconds < 0
	case corev1.ResourceQuotaScopeBestEffort:
		return bestEffort(pod)
	case corev1.ResourceQuotaScopeNotBestEffort:
		return !bestEffort(pod)
	case corev1.ResourceQuotaScopePriorityClass:
		pc := pod.Spec.PriorityClassName
		switch r.Operator {
		case corev1.ScopeSelectorOpExists:
			return pc != ""
		case corev1.ScopeSelectorOpDoesNotExist:
			return pc == ""
		case corev1.ScopeSelectorOpIn:
			return sets.New(r.Values...).Has(pc)
		case corev1.ScopeSelectorOpNotIn:
			return !sets.New(r.Values...).Has(pc)
		}
		return false
	case corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
		return crossNamespaceAffinity(pod)
	}
	return false
}

// bestEffort: no container states a CPU or memory request or limit.
func bestEffort(pod *corev1.Pod) bool {
	check := func(l corev1.ResourceList) bool {
		for name := range l {
			if name == corev1.ResourceCPU || name == corev1.ResourceMemory {
				return false
			}
		}
		return true
	}
	if r := pod.Spec.Resources; r != nil && (!check(r.Requests) || !check(r.Limits)) {
		return false
	}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if !check(c.Resources.Requests) || !check(c.Resources.Limits) {
				return false
			}
		}
	}
	return true
}

// crossNamespaceAffinity: a pod (anti-)affinity term names other
// namespaces or selects them by label.
func crossNamespaceAffinity(pod *corev1.Pod) bool {
	a := pod.Spec.Affinity
	if a == nil {
		return false
	}
	var terms []corev1.PodAffinityTerm
	if a.PodAffinity != nil {
		terms = append(terms, a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	if a.PodAntiAffinity != nil {
		terms = append(terms, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	for _, t := range terms {
		if len(t.Namespaces) > 0 || t.NamespaceSelector != nil {
			return true
		}
	}
	return false
}

// Add adds b into a (allocating a when nil) and returns it.
func Add(a, b corev1.ResourceList) corev1.ResourceList {
	if a == nil {
		a = corev1.ResourceList{}
	}
	for name, q := range b {
		cur := a[name]
		cur.Add(q)
		a[name] = cur
	}
	return a
}

// Used is the use of the resources named in hard by objs (objects of gvr)
// that the quota's scopes select; names no object of gvr charges are
// left out.
func Used(q *corev1.ResourceQuota, hard corev1.ResourceList, gvr schema.GroupVersionResource, objs []runtime.Object, now time.Time) corev1.ResourceList {
	out := corev1.ResourceList{}
	for name := range hard {
		if gr, ok := ResourceOf(name); ok && gr == gvr.GroupResource() {
			out[name] = *resource.NewQuantity(0, resource.DecimalSI)
		}
	}
	if len(out) == 0 {
		return out
	}
	for _, obj := range objs {
		if q != nil && !Matches(q, obj) {
			continue
		}
		for name, v := range Usage(gvr, obj, now) {
			if cur, ok := out[name]; ok {
				cur.Add(v)
				out[name] = cur
			}
		}
	}
	return out
}

// Equal reports whether two lists name the same resources in equal amounts.
func Equal(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for name, q := range a {
		o, ok := b[name]
		if !ok || q.Cmp(o) != 0 {
			return false
		}
	}
	return true
}
