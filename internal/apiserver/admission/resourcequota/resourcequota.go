// Package resourcequota owns the ResourceQuota admission plugin: a create
// that would take a namespace's usage beyond a quota's hard limits is
// refused with 403, with upstream's message. Usage is counted by package
// quota, as the ResourceQuota controller counts it.
package resourcequota

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/apiserver/admission"
	"skiff/internal/quota"
)

// Plugin enforces ResourceQuotas on create.
type Plugin struct {
	list admission.Lister
}

var _ admission.ValidatingPlugin = (*Plugin)(nil)

// New returns the plugin reading quotas and usage through list.
func New(list admission.Lister) *Plugin { return &Plugin{list: list} }

// Name implements admission.Plugin.
func (p *Plugin) Name() string { return "ResourceQuota" }

var quotaGVR = schema.GroupVersionResource{Version: "v1", Resource: "resourcequotas"}

// Validate implements admission.ValidatingPlugin.
func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	if a.Operation != admission.Create || a.Subresource != "" || a.Namespace == "" {
		return nil
	}
	quotas, err := p.list(ctx, quotaGVR, a.Namespace)
	if err != nil || len(quotas) == 0 {
		return err
	}
	now := time.Now()
	requested := quota.Usage(a.Resource, a.Object, now)
	var objs []runtime.Object
	listed := false
	for _, qo := range quotas {
		q, ok := qo.(*corev1.ResourceQuota)
		if !ok || !quota.Matches(q, a.Object) {
			continue
		}
		if pod, ok := a.Object.(*corev1.Pod); ok {
			if missing := quota.MissingCompute(pod, q.Spec.Hard); len(missing) > 0 {
				return admission.NewForbidden(a, fmt.Errorf("failed quota: %s: must specify %s", q.Name, strings.Join(missing, ",")))
			}
		}
		hard := corev1.ResourceList{}
		var names []corev1.ResourceName
		for name, v := range q.Spec.Hard {
			if _, ok := requested[name]; ok {
				hard[name] = v
				names = append(names, name)
			}
		}
		if len(names) == 0 {
			continue
		}
		if !listed {
			if objs, err = p.list(ctx, a.Resource, a.Namespace); err != nil {
				return err
			}
			listed = true
		}
		used := quota.Used(q, hard, a.Resource, objs, now)
		sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
		var over []corev1.ResourceName
		for _, name := range names {
			total := used[name].DeepCopy()
			total.Add(requested[name])
			if total.Cmp(hard[name]) > 0 {
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
