// Package resourcequota owns the ResourceQuota admission plugin: a create
// that would take a namespace's usage beyond a quota's hard limits is
// refused with 403, with upstream's message.
package resourcequota

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/apiserver/admission"
)

// Lister lists the objects of a resource in a namespace (read-only).
type Lister func(ctx context.Context, gvr schema.GroupVersionResource, namespace string) ([]runtime.Object, error)

// Plugin enforces ResourceQuotas on create.
type Plugin struct {
	list Lister
}

var _ admission.ValidatingPlugin = (*Plugin)(nil)

// New returns the plugin reading quotas and usage through list.
func New(list Lister) *Plugin { return &Plugin{list: list} }

// Name implements admission.Plugin.
func (p *Plugin) Name() string { return "ResourceQuota" }

var quotaGVR = schema.GroupVersionResource{Version: "v1", Resource: "resourcequotas"}

// objectCountNames are the legacy names of object counts.
var objectCountNames = map[string]string{
	"pods": "pods", "services": "services", "configmaps": "configmaps", "secrets": "secrets",
	"persistentvolumeclaims": "persistentvolumeclaims", "replicationcontrollers": "replicationcontrollers",
	"resourcequotas": "resourcequotas",
}

// Validate implements admission.ValidatingPlugin.
func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	if a.Operation != admission.Create || a.Subresource != "" || a.Namespace == "" {
		return nil
	}
	quotas, err := p.list(ctx, quotaGVR, a.Namespace)
	if err != nil || len(quotas) == 0 {
		return err
	}
	requested := p.requested(a)
	if len(requested) == 0 {
		return nil
	}
	var used corev1.ResourceList
	for _, qo := range quotas {
		q, ok := qo.(*corev1.ResourceQuota)
		if !ok {
			continue
		}
		var names []corev1.ResourceName
		for name := range q.Spec.Hard {
			if _, ok := requested[name]; ok {
				names = append(names, name)
			}
		}
		if pod, ok := a.Object.(*corev1.Pod); ok {
			if missing := missingCompute(pod, q.Spec.Hard); len(missing) > 0 {
				return admission.NewForbidden(a, fmt.Errorf("failed quota: %s: must specify %s", q.Name, strings.Join(missing, ",")))
			}
		}
		if len(names) == 0 {
			continue
		}
		if used == nil {
			if used, err = p.usage(ctx, a, requested); err != nil {
				return err
			}
		}
		sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
		var over []corev1.ResourceName
		for _, name := range names {
			total := used[name].DeepCopy()
			total.Add(requested[name])
			hard := q.Spec.Hard[name]
			if total.Cmp(hard) > 0 {
				over = append(over, name)
			}
		}
		if len(over) > 0 {
			return admission.NewForbidden(a, fmt.Errorf("exceeded quota: %s, requested: %s, used: %s, limited: %s",
				q.Name, format(over, requested), format(over, used), format(over, q.Spec.Hard)))
		}
	}
	return nil
}

func format(names []corev1.ResourceName, list corev1.ResourceList) string {
	parts := make([]string, 0, len(names))
	for _, n := range names {
		q := list[n]
		parts = append(parts, fmt.Sprintf("%s=%s", n, q.String()))
	}
	return strings.Join(parts, ",")
}

// countName is "count/<resource>[.<group>]".
func countName(gvr schema.GroupVersionResource) corev1.ResourceName {
	if gvr.Group == "" {
		return corev1.ResourceName("count/" + gvr.Resource)
	}
	return corev1.ResourceName("count/" + gvr.Resource + "." + gvr.Group)
}

// requested is what creating a.Object adds to the namespace's usage.
func (p *Plugin) requested(a *admission.Attributes) corev1.ResourceList {
	one := resource.MustParse("1")
	out := corev1.ResourceList{countName(a.Resource): one}
	if a.Resource.Group == "" {
		if legacy, ok := objectCountNames[a.Resource.Resource]; ok {
			out[corev1.ResourceName(legacy)] = one
		}
	}
	switch o := a.Object.(type) {
	case *corev1.Pod:
		for name, q := range podCompute(o) {
			out[name] = q
		}
	case *corev1.Service:
		switch o.Spec.Type {
		case corev1.ServiceTypeNodePort:
			out[corev1.ResourceServicesNodePorts] = *resource.NewQuantity(int64(len(o.Spec.Ports)), resource.DecimalSI)
		case corev1.ServiceTypeLoadBalancer:
			out[corev1.ResourceServicesLoadBalancers] = one
			out[corev1.ResourceServicesNodePorts] = *resource.NewQuantity(int64(len(o.Spec.Ports)), resource.DecimalSI)
		}
	}
	return out
}

// podCompute is the compute a pod charges against quotas.
func podCompute(pod *corev1.Pod) corev1.ResourceList {
	out := corev1.ResourceList{}
	add := func(name corev1.ResourceName, q resource.Quantity) {
		cur := out[name]
		cur.Add(q)
		out[name] = cur
	}
	for _, c := range pod.Spec.Containers {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := c.Resources.Requests[r]; ok {
				add("requests."+r, q)
				add(r, q)
			}
			if q, ok := c.Resources.Limits[r]; ok {
				add("limits."+r, q)
			}
		}
	}
	return out
}

// missingCompute lists the compute resources a quota tracks that the pod's
// containers do not state.
func missingCompute(pod *corev1.Pod, hard corev1.ResourceList) []string {
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

// usage is the namespace's current use of the requested resources.
func (p *Plugin) usage(ctx context.Context, a *admission.Attributes, requested corev1.ResourceList) (corev1.ResourceList, error) {
	objs, err := p.list(ctx, a.Resource, a.Namespace)
	if err != nil {
		return nil, err
	}
	used := corev1.ResourceList{}
	add := func(name corev1.ResourceName, q resource.Quantity) {
		cur := used[name]
		cur.Add(q)
		used[name] = cur
	}
	for _, obj := range objs {
		if pod, ok := obj.(*corev1.Pod); ok && (pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed) {
			// Finished pods no longer use the quota.
			continue
		}
		sub := p.requested(&admission.Attributes{Resource: a.Resource, Object: obj})
		for name := range requested {
			if q, ok := sub[name]; ok {
				add(name, q)
			}
		}
	}
	for name := range requested {
		if _, ok := used[name]; !ok {
			used[name] = resource.MustParse("0")
		}
	}
	return used, nil
}
