package resourcequota

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/apiserver/admission"
)

func pod(name, cpu string) *corev1.Pod {
	c := corev1.Container{Name: "c", Image: "i"}
	if cpu != "" {
		c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
}

func TestComputeQuota(t *testing.T) {
	podsGVR := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	existing := []runtime.Object{pod("a", "500m"), pod("b", "1")}
	quota := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "compute"}, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"requests.cpu": resource.MustParse("2")}}}
	p := New(func(_ context.Context, gvr schema.GroupVersionResource, _ string) ([]runtime.Object, error) {
		if gvr == quotaGVR {
			return []runtime.Object{quota}, nil
		}
		return existing, nil
	})
	for _, c := range []struct {
		pod  *corev1.Pod
		want string
	}{
		{pod("fits", "500m"), ""},
		{pod("over", "600m"), "exceeded quota: compute, requested: requests.cpu=600m, used: requests.cpu=1500m, limited: requests.cpu=2"},
		{pod("unstated", ""), "failed quota: compute: must specify requests.cpu"},
	} {
		a := &admission.Attributes{Operation: admission.Create, Resource: podsGVR, Namespace: "ns", Name: c.pod.Name, Object: c.pod}
		err := p.Validate(context.Background(), a)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.pod.Name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want %q", c.pod.Name, err, c.want)
		}
	}
}
