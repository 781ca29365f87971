// Package limitranger is the LimitRanger admission plugin: the
// LimitRanges of a namespace give new pods' containers default requests
// and limits, and bound what containers, pods and claims may ask for (min,
// max, max limit/request ratio), refusing the rest with 403 and upstream's
// messages.
package limitranger

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	resourcehelper "k8s.io/component-helpers/resource"

	"skiff/internal/apiserver/admission"
)

// AnnotationKey records on a pod which defaults were applied, as upstream.
const AnnotationKey = "kubernetes.io/limit-ranger"

// Plugin applies and enforces LimitRanges.
type Plugin struct {
	list admission.Lister
}

var (
	_ admission.MutatingPlugin   = (*Plugin)(nil)
	_ admission.ValidatingPlugin = (*Plugin)(nil)
)

// New returns the plugin reading LimitRanges through list.
func New(list admission.Lister) *Plugin { return &Plugin{list: list} }

// Name implements admission.Plugin.
func (p *Plugin) Name() string { return "LimitRanger" }

var limitRangeGVR = schema.GroupVersionResource{Version: "v1", Resource: "limitranges"}

// ranges returns the namespace's LimitRanges when a applies to them.
func (p *Plugin) ranges(ctx context.Context, a *admission.Attributes) ([]*corev1.LimitRange, error) {
	if a.Subresource != "" || a.Namespace == "" || a.Resource.Group != "" {
		return nil, nil
	}
	switch a.Resource.Resource {
	case "pods":
		if a.Operation != admission.Create {
			return nil, nil // pods' resources are immutable, as upstream only checks creates
		}
	case "persistentvolumeclaims":
		if a.Operation != admission.Create && a.Operation != admission.Update {
			return nil, nil
		}
	default:
		return nil, nil
	}
	objs, err := p.list(ctx, limitRangeGVR, a.Namespace)
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.LimitRange, 0, len(objs))
	for _, o := range objs {
		if lr, ok := o.(*corev1.LimitRange); ok {
			out = append(out, lr)
		}
	}
	return out, nil
}

// Admit gives a new pod's containers the default requests and limits.
func (p *Plugin) Admit(ctx context.Context, a *admission.Attributes) error {
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return nil
	}
	lrs, err := p.ranges(ctx, a)
	if err != nil || len(lrs) == 0 {
		return err
	}
	var notes []string
	for _, lr := range lrs {
		reqs, lims := defaults(lr)
		if len(reqs) == 0 && len(lims) == 0 {
			continue
		}
		for i := range pod.Spec.InitContainers {
			notes = append(notes, applyDefaults(&pod.Spec.InitContainers[i], "init container", reqs, lims)...)
		}
		for i := range pod.Spec.Containers {
			notes = append(notes, applyDefaults(&pod.Spec.Containers[i], "container", reqs, lims)...)
		}
	}
	if len(notes) > 0 {
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		pod.Annotations[AnnotationKey] = "LimitRanger plugin set: " + strings.Join(notes, "; ")
	}
	return nil
}

// defaults are a LimitRange's Container default requests and limits.
func defaults(lr *corev1.LimitRange) (reqs, lims corev1.ResourceList) {
	reqs, lims = corev1.ResourceList{}, corev1.ResourceList{}
	for _, item := range lr.Spec.Limits {
		if item.Type != corev1.LimitTypeContainer {
			continue
		}
		for k, v := range item.DefaultRequest {
			reqs[k] = v.DeepCopy()
		}
		for k, v := range item.Default {
			lims[k] = v.DeepCopy()
		}
	}
	return reqs, lims
}

// applyDefaults fills what a container leaves unset and says what it set.
// A container with a limit but no request gets the limit as its request,
// as API defaulting would have done.
func applyDefaults(c *corev1.Container, what string, reqs, lims corev1.ResourceList) []string {
	var setReq, setLim []string
	for _, k := range sortedNames(lims) {
		if _, ok := c.Resources.Limits[k]; ok {
			continue
		}
		if c.Resources.Limits == nil {
			c.Resources.Limits = corev1.ResourceList{}
		}
		c.Resources.Limits[k] = lims[k].DeepCopy()
		setLim = append(setLim, string(k))
	}
	for _, k := range sortedNames(reqs) {
		if _, ok := c.Resources.Requests[k]; ok {
			continue
		}
		if c.Resources.Requests == nil {
			c.Resources.Requests = corev1.ResourceList{}
		}
		v := reqs[k].DeepCopy()
		if l, ok := c.Resources.Limits[k]; ok && l.Cmp(v) < 0 {
			v = l.DeepCopy() // a default request never exceeds the limit
		}
		c.Resources.Requests[k] = v
		setReq = append(setReq, string(k))
	}
	var notes []string
	if len(setReq) > 0 {
		notes = append(notes, fmt.Sprintf("%s request for %s %s", strings.Join(setReq, ", "), what, c.Name))
	}
	if len(setLim) > 0 {
		notes = append(notes, fmt.Sprintf("%s limit for %s %s", strings.Join(setLim, ", "), what, c.Name))
	}
	return notes
}

// Validate refuses pods and claims outside their namespace's ranges.
func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	lrs, err := p.ranges(ctx, a)
	if err != nil || len(lrs) == 0 {
		return err
	}
	var errs []error
	for _, lr := range lrs {
		switch obj := a.Object.(type) {
		case *corev1.Pod:
			errs = append(errs, checkPod(lr, obj)...)
		case *corev1.PersistentVolumeClaim:
			errs = append(errs, checkClaim(lr, obj)...)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return admission.NewForbidden(a, utilerrors.NewAggregate(errs))
}

func checkPod(lr *corev1.LimitRange, pod *corev1.Pod) []error {
	var errs []error
	for _, item := range lr.Spec.Limits {
		switch item.Type {
		case corev1.LimitTypeContainer:
			for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
				for _, c := range cs {
					errs = append(errs, check(item, string(item.Type), c.Resources.Requests, c.Resources.Limits)...)
				}
			}
		case corev1.LimitTypePod:
			reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
			lims := resourcehelper.PodLimits(pod, resourcehelper.PodResourcesOptions{})
			errs = append(errs, check(item, string(item.Type), reqs, lims)...)
		}
	}
	return errs
}

func checkClaim(lr *corev1.LimitRange, pvc *corev1.PersistentVolumeClaim) []error {
	var errs []error
	for _, item := range lr.Spec.Limits {
		if item.Type != corev1.LimitTypePersistentVolumeClaim {
			continue
		}
		// Claims have requests and, optionally, limits of storage.
		errs = append(errs, check(item, string(item.Type), pvc.Spec.Resources.Requests, pvc.Spec.Resources.Limits)...)
	}
	return errs
}

// check applies one LimitRange item to requests and limits.
func check(item corev1.LimitRangeItem, kind string, reqs, lims corev1.ResourceList) []error {
	var errs []error
	for _, k := range sortedNames(item.Min) {
		min := item.Min[k]
		req, hasReq := reqs[k]
		lim, hasLim := lims[k]
		switch {
		case !hasReq:
			errs = append(errs, fmt.Errorf("minimum %s usage per %s is %s.  No request is specified", k, kind, min.String()))
		case req.Cmp(min) < 0:
			errs = append(errs, fmt.Errorf("minimum %s usage per %s is %s, but request is %s", k, kind, min.String(), req.String()))
		case hasLim && lim.Cmp(min) < 0:
			errs = append(errs, fmt.Errorf("minimum %s usage per %s is %s, but limit is %s", k, kind, min.String(), lim.String()))
		}
	}
	for _, k := range sortedNames(item.Max) {
		max := item.Max[k]
		req, hasReq := reqs[k]
		lim, hasLim := lims[k]
		if kind == string(corev1.LimitTypePersistentVolumeClaim) {
			// Claims are judged on their request.
			if hasReq && req.Cmp(max) > 0 {
				errs = append(errs, fmt.Errorf("maximum %s usage per %s is %s, but request is %s", k, kind, max.String(), req.String()))
			}
			continue
		}
		switch {
		case !hasLim:
			errs = append(errs, fmt.Errorf("maximum %s usage per %s is %s.  No limit is specified", k, kind, max.String()))
		case lim.Cmp(max) > 0:
			errs = append(errs, fmt.Errorf("maximum %s usage per %s is %s, but limit is %s", k, kind, max.String(), lim.String()))
		case hasReq && req.Cmp(max) > 0:
			errs = append(errs, fmt.Errorf("maximum %s usage per %s is %s, but request is %s", k, kind, max.String(), req.String()))
		}
	}
	for _, k := range sortedNames(item.MaxLimitRequestRatio) {
		ratio := item.MaxLimitRequestRatio[k]
		req, hasReq := reqs[k]
		lim, hasLim := lims[k]
		if !hasLim {
			errs = append(errs, fmt.Errorf("%s max limit to request ratio per %s is %s, but no limit is specified", k, kind, ratio.String()))
			continue
		}
		if !hasReq || req.IsZero() {
			errs = append(errs, fmt.Errorf("%s max limit to request ratio per %s is %s, but no request is specified or request is 0", k, kind, ratio.String()))
			continue
		}
		observed := float64(lim.MilliValue()) / float64(req.MilliValue())
		if observed > float64(ratio.MilliValue())/1000 {
			errs = append(errs, fmt.Errorf("%s max limit to request ratio per %s is %s, but provided ratio is %f", k, kind, ratio.String(), observed))
		}
	}
	return errs
}

func sortedNames(rl corev1.ResourceList) []corev1.ResourceName {
	out := make([]corev1.ResourceName, 0, len(rl))
	for k := range rl {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
