// Package endpoints owns the two controllers that publish which pods back a
// Service: the Endpoints controller (core/v1 Endpoints, one object per
// Service) and the EndpointSlice controller (discovery.k8s.io/v1, slices of
// at most MaxEndpointsPerSlice endpoints). Both follow Services with a
// selector and the pods matching it; Services without a selector are left
// to whoever manages their endpoints.
package endpoints

import (
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/kubectl/pkg/util/podutils"

	"skiff/internal/controller/controllerutil"
)

// Labels and annotations as upstream spells them.
const (
	labelServiceName     = "kubernetes.io/service-name"
	labelManagedBy       = "endpointslice.kubernetes.io/managed-by"
	managedByController  = "endpointslice-controller.k8s.io"
	labelHeadless        = "service.kubernetes.io/headless"
	annotationTruncated  = "endpoints.kubernetes.io/over-capacity"
	annotationChangeTime = "endpoints.kubernetes.io/last-change-trigger-time"
)

// servicesFor returns the keys of the Services in pod's namespace whose
// selector matches pod's labels.
func servicesFor(services corelisters.ServiceLister, pod *corev1.Pod) []string {
	svcs, err := services.Services(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var keys []string
	for _, s := range svcs {
		if s.Spec.Selector == nil {
			continue
		}
		if labels.SelectorFromValidatedSet(s.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			keys = append(keys, s.Namespace+"/"+s.Name)
		}
	}
	return keys
}

// podHandler queues the Services a pod belongs to, before and after a
// change, so that a pod whose labels moved leaves its old Service too.
func podHandler(services corelisters.ServiceLister, q workqueue.TypedRateLimitingInterface[string]) cache.ResourceEventHandler {
	add := func(obj any) {
		obj = controllerutil.Untombstone(obj)
		if p, ok := obj.(*corev1.Pod); ok {
			for _, k := range servicesFor(services, p) {
				q.Add(k)
			}
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: add,
		UpdateFunc: func(oldObj, newObj any) {
			o, n := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
			if o.ResourceVersion == n.ResourceVersion {
				return
			}
			add(n)
			if !labels.Equals(o.Labels, n.Labels) {
				add(o)
			}
		},
		DeleteFunc: add,
	}
}

// included says whether pod appears in a Service's endpoints at all: it
// needs an IP and must not have finished. Terminating pods are kept only
// where asked (EndpointSlices list them with terminating=true).
func included(pod *corev1.Pod, keepTerminating bool) bool {
	if pod.Status.PodIP == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	return keepTerminating || pod.DeletionTimestamp == nil
}

// podReady is the pod's Ready condition.
func podReady(pod *corev1.Pod) bool { return podutils.IsPodReady(pod) }

// findPort resolves a Service port's targetPort on pod: a name is looked
// up among the pod's container ports of the same protocol; a number is
// used as is (0 means the Service port). ok is false when a named port is
// not on the pod.
func findPort(pod *corev1.Pod, sp *corev1.ServicePort) (int32, bool) {
	switch tp := sp.TargetPort; {
	case tp.Type == intstr.String && tp.StrVal != "":
		for _, c := range pod.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name == tp.StrVal && protocolOf(cp.Protocol) == protocolOf(sp.Protocol) {
					return cp.ContainerPort, true
				}
			}
		}
		return 0, false
	case tp.IntValue() != 0:
		return int32(tp.IntValue()), true
	default:
		return sp.Port, true
	}
}

func protocolOf(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// serviceLabels are the labels copied from a Service to its endpoints:
// the Service's own, plus the headless marker.
func serviceLabels(svc *corev1.Service) map[string]string {
	out := map[string]string{}
	for k, v := range svc.Labels {
		out[k] = v
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		out[labelHeadless] = ""
	} else {
		delete(out, labelHeadless)
	}
	return out
}

// sortedPods orders pods by name so that output is stable across syncs.
func sortedPods(pods []*corev1.Pod) []*corev1.Pod {
	out := append([]*corev1.Pod(nil), pods...)
	sort.Slice(out, func(i, j int) bool { return strings.Compare(out[i].Name, out[j].Name) < 0 })
	return out
}
