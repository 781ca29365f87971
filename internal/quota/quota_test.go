package quota

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

var now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func podWith(cpu, memLimit string) *corev1.Pod {
	c := corev1.Container{Name: "c", Image: "i"}
	if cpu != "" {
		c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
	}
	if memLimit != "" {
		c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(memLimit)}
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
}

func want(t *testing.T, got corev1.ResourceList, w map[corev1.ResourceName]string) {
	t.Helper()
	if len(got) != len(w) {
		t.Fatalf("got %v, want %v", got, w)
	}
	for n, v := range w {
		if q, ok := got[n]; !ok || q.Cmp(resource.MustParse(v)) != 0 {
			t.Fatalf("%s: got %v, want %s (all: %v)", n, got[n], v, got)
		}
	}
}

func TestPodUsage(t *testing.T) {
	p := podWith("250m", "128Mi")
	want(t, Usage(PodsGVR, p, now), map[corev1.ResourceName]string{
		"count/pods": "1", "pods": "1", "cpu": "250m", "requests.cpu": "250m", "limits.memory": "128Mi"})

	// Finished pods and pods past their grace period only count as objects.
	done := podWith("1", "")
	done.Status.Phase = corev1.PodFailed
	want(t, Usage(PodsGVR, done, now), map[corev1.ResourceName]string{"count/pods": "1"})
	gone := podWith("1", "")
	ts := metav1.NewTime(now.Add(-time.Minute))
	gone.DeletionTimestamp, gone.DeletionGracePeriodSeconds = &ts, ptr.To[int64](30)
	if PodCounts(gone, now) {
		t.Fatal("pod past its grace period still counts")
	}
	gone.DeletionGracePeriodSeconds = ptr.To[int64](90)
	if !PodCounts(gone, now) {
		t.Fatal("pod within its grace period does not count")
	}

	// Init containers raise the effective request.
	p = podWith("100m", "")
	p.Spec.InitContainers = []corev1.Container{{Name: "i", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}}}}
	if q := PodCompute(p)["requests.cpu"]; q.Cmp(resource.MustParse("500m")) != 0 {
		t.Fatalf("requests.cpu with init container: %v", q.String())
	}
}

func TestServiceAndClaimUsage(t *testing.T) {
	np := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 1}, {Port: 2}}}}
	want(t, Usage(ServicesGVR, np, now), map[corev1.ResourceName]string{"count/services": "1", "services": "1", "services.nodeports": "2", "services.loadbalancers": "0"})
	lb := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, AllocateLoadBalancerNodePorts: ptr.To(false),
		Ports: []corev1.ServicePort{{Port: 1, NodePort: 30001}, {Port: 2}}}}
	want(t, Usage(ServicesGVR, lb, now), map[corev1.ResourceName]string{"count/services": "1", "services": "1", "services.nodeports": "1", "services.loadbalancers": "1"})

	pvc := &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("gold"),
		Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("5Gi")}}}}
	want(t, Usage(ClaimsGVR, pvc, now), map[corev1.ResourceName]string{"count/persistentvolumeclaims": "1", "persistentvolumeclaims": "1", "requests.storage": "5Gi",
		"gold.storageclass.storage.k8s.io/requests.storage": "5Gi", "gold.storageclass.storage.k8s.io/persistentvolumeclaims": "1"})

	dep := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	want(t, Usage(dep, &corev1.ConfigMap{}, now), map[corev1.ResourceName]string{"count/deployments.apps": "1"})
}

func TestResourceOf(t *testing.T) {
	for name, gr := range map[corev1.ResourceName]schema.GroupResource{
		"count/deployments.apps": {Group: "apps", Resource: "deployments"}, "count/pods": {Resource: "pods"},
		"pods": {Resource: "pods"}, "requests.cpu": {Resource: "pods"}, "memory": {Resource: "pods"}, "limits.ephemeral-storage": {Resource: "pods"},
		"configmaps": {Resource: "configmaps"}, "services.nodeports": {Resource: "services"}, "requests.storage": {Resource: "persistentvolumeclaims"},
		"gold.storageclass.storage.k8s.io/persistentvolumeclaims": {Resource: "persistentvolumeclaims"},
	} {
		got, ok := ResourceOf(name)
		if !ok || got != gr {
			t.Errorf("%s: got %v %v, want %v", name, got, ok, gr)
		}
	}
}

func TestScopes(t *testing.T) {
	bestEffort := podWith("", "")
	burstable := podWith("100m", "")
	terminating := podWith("100m", "")
	terminating.Spec.ActiveDeadlineSeconds = ptr.To[int64](10)
	high := podWith("", "")
	high.Spec.PriorityClassName = "high"
	q := func(scopes []corev1.ResourceQuotaScope, sel ...corev1.ScopedResourceSelectorRequirement) *corev1.ResourceQuota {
		out := &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Scopes: scopes}}
		if len(sel) > 0 {
			out.Spec.ScopeSelector = &corev1.ScopeSelector{MatchExpressions: sel}
		}
		return out
	}
	for _, c := range []struct {
		name  string
		quota *corev1.ResourceQuota
		obj   runtime.Object
		want  bool
	}{
		{"no scope", q(nil), &corev1.Service{}, true},
		{"scope, not a pod", q([]corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotTerminating}), &corev1.Service{}, false},
		{"BestEffort", q([]corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}), bestEffort, true},
		{"BestEffort, burstable", q([]corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}), burstable, false},
		{"NotBestEffort", q([]corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotBestEffort}), burstable, true},
		{"Terminating", q([]corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating}), terminating, true},
		{"NotTerminating", q([]corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotTerminating}), terminating, false},
		{"both", q([]corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotBestEffort}), terminating, true},
		{"PriorityClass In", q(nil, corev1.ScopedResourceSelectorRequirement{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{"high"}}), high, true},
		{"PriorityClass NotIn", q(nil, corev1.ScopedResourceSelectorRequirement{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpNotIn, Values: []string{"high"}}), high, false},
		{"PriorityClass Exists", q([]corev1.ResourceQuotaScope{corev1.ResourceQuotaScopePriorityClass}), bestEffort, false},
		{"PriorityClass DoesNotExist", q(nil, corev1.ScopedResourceSelectorRequirement{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpDoesNotExist}), bestEffort, true},
	} {
		if got := Matches(c.quota, c.obj); got != c.want {
			t.Errorf("%s: got %v", c.name, got)
		}
	}
}

func TestUsed(t *testing.T) {
	done := podWith("1", "")
	done.Status.Phase = corev1.PodSucceeded
	objs := []runtime.Object{podWith("500m", ""), podWith("1", ""), done}
	hard := corev1.ResourceList{"pods": resource.MustParse("10"), "requests.cpu": resource.MustParse("4"), "count/pods": resource.MustParse("10"), "services": resource.MustParse("1")}
	want(t, Used(&corev1.ResourceQuota{}, hard, PodsGVR, objs, now), map[corev1.ResourceName]string{"pods": "2", "requests.cpu": "1500m", "count/pods": "3"})
}
