// Package resourcequota owns the ResourceQuota admission plugin: a create
// that would take a namespace's usage beyond a quota's hard limits is
// refused with 403, with upstream's message. Usage is counted by package
// quota, as the ResourceQuota controller counts it, and each admitted
// create is charged to the quota's status.used with compare-and-swap, as
// upstream does, so that concurrent creates cannot together exceed it (the
// controller recounts status.used from the objects afterwards, undoing the
// charge of a create that failed later).
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

// Charger changes a quota's status atomically: charge sees the current
// quota and may change its status or refuse with an error.
type Charger func(ctx context.Context, namespace, name string, charge func(*corev1.ResourceQuota) error) error

// Plugin enforces ResourceQuotas on create.
type Plugin struct {
	list   admission.Lister
	charge Charger
}

var _ admission.ValidatingPlugin = (*Plugin)(nil)

// New returns the plugin reading quotas and usage through list and
// charging admitted creates through charge (nil: counting only, which
// concurrent creates can outrun).
func New(list admission.Lister, charge Charger) *Plugin { return &Plugin{list: list, charge: charge} }

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
		counted := quota.Used(q, hard, a.Resource, objs, now)
		sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
		if err := exceeded(a, q, names, requested, counted); err != nil {
			return err
		}
		if p.charge == nil || a.DryRun {
			continue
		}
		// The charge re-checks against the quota as stored now: another
		// create may have been charged since it was read.
		err := p.charge(ctx, a.Namespace, q.Name, func(cur *corev1.ResourceQuota) error {
			used := corev1.ResourceList{}
			for _, name := range names {
				used[name] = counted[name]
				if s, ok := cur.Status.Used[name]; ok && s.Cmp(used[name]) > 0 {
					used[name] = s
				}
			}
			if err := exceeded(a, cur, names, requested, used); err != nil {
				return err
			}
			if cur.Status.Used == nil {
				cur.Status.Used = corev1.ResourceList{}
			}
			for _, name := range names {
				total := used[name].DeepCopy()
				total.Add(requested[name])
				cur.Status.Used[name] = total
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// exceeded refuses a create whose request would take q's usage over its
// hard limits, with upstream's message.
func exceeded(a *admission.Attributes, q *corev1.ResourceQuota, names []corev1.ResourceName, requested, used corev1.ResourceList) error {
	var over []corev1.ResourceName
	for _, name := range names {
		hard, ok := q.Spec.Hard[name]
		if !ok {
			continue
		}
		total := used[name].DeepCopy()
		total.Add(requested[name])
		if total.Cmp(hard) > 0 {
			over = append(over, name)
		}
	}
	if len(over) > 0 {
		return admission.NewForbidden(a, fmt.Errorf("exceeded quota: %s, requested: %s, used: %s, limited: %s",
			q.Name, format(over, requested), format(over, used), format(over, q.Spec.Hard)))
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
