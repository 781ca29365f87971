package resourcequota

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
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
	}, nil)
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

// TestConcurrentCreatesCannotExceed: twenty creates at once against a
// quota of five pods, none of them stored yet (so counting sees none):
// exactly five are admitted, because each is charged to the quota's
// status one after the other. Without the charge all twenty were.
func TestConcurrentCreatesCannotExceed(t *testing.T) {
	podsGVR := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	var mu sync.Mutex
	stored := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "pods", Namespace: "ns"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("5")}}}
	list := func(_ context.Context, gvr schema.GroupVersionResource, _ string) ([]runtime.Object, error) {
		if gvr == quotaGVR {
			mu.Lock()
			defer mu.Unlock()
			return []runtime.Object{stored.DeepCopy()}, nil
		}
		return nil, nil
	}
	charge := func(_ context.Context, _, _ string, fn func(*corev1.ResourceQuota) error) error {
		mu.Lock()
		defer mu.Unlock()
		cur := stored.DeepCopy()
		if err := fn(cur); err != nil {
			return err
		}
		stored = cur
		return nil
	}
	p := New(list, charge)
	var admitted atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			pd := pod(fmt.Sprintf("p%d", i), "")
			a := &admission.Attributes{Operation: admission.Create, Resource: podsGVR, Namespace: "ns", Name: pd.Name, Object: pd}
			err := p.Validate(context.Background(), a)
			switch {
			case err == nil:
				admitted.Add(1)
			case !strings.Contains(err.Error(), "exceeded quota: pods, requested: pods=1"):
				t.Errorf("%s: %v", pd.Name, err)
			}
		}(i)
	}
	wg.Wait()
	if got := admitted.Load(); got != 5 {
		t.Fatalf("%d creates admitted against a quota of 5 pods", got)
	}
	used := stored.Status.Used[corev1.ResourcePods]
	if used.Value() != 5 {
		t.Fatalf("status.used pods=%s, want 5", used.String())
	}
	// A dry run is checked but not charged.
	pd := pod("dry", "")
	stored.Spec.Hard[corev1.ResourcePods] = resource.MustParse("6")
	a := &admission.Attributes{Operation: admission.Create, Resource: podsGVR, Namespace: "ns", Name: pd.Name, Object: pd, DryRun: true}
	if err := p.Validate(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if used := stored.Status.Used[corev1.ResourcePods]; used.Value() != 5 {
		t.Fatalf("a dry run charged the quota: %s", used.String())
	}
}
