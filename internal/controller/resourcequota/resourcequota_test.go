package resourcequota

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	"skiff/internal/quota"
)

func TestSyncComputesUsage(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pod := func(name, cpu string, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}}}, Status: corev1.PodStatus{Phase: phase}}
	}
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "ns"}, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
		"pods": resource.MustParse("10"), "requests.cpu": resource.MustParse("4"), "count/configmaps": resource.MustParse("3"),
		"services.loadbalancers": resource.MustParse("1"), "count/widgets.example.com": resource.MustParse("1"),
	}}}
	objs := []runtime.Object{q, pod("a", "500m", corev1.PodRunning), pod("b", "1", corev1.PodPending), pod("done", "2", corev1.PodSucceeded),
		pod("other-ns", "1", corev1.PodRunning), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "ns"}}}
	objs[4].(*corev1.Pod).Namespace = "elsewhere"
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, slog.New(slog.NewTextHandler(io.Discard, nil)))
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		t.Fatal("caches did not sync")
	}
	if err := c.sync(ctx, "ns/q"); err != nil {
		t.Fatal(err)
	}
	got, err := client.CoreV1().ResourceQuotas("ns").Get(ctx, "q", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !quota.Equal(got.Status.Hard, q.Spec.Hard) {
		t.Fatalf("status.hard %v", got.Status.Hard)
	}
	want := corev1.ResourceList{"pods": resource.MustParse("2"), "requests.cpu": resource.MustParse("1500m"), "count/configmaps": resource.MustParse("1"),
		"services.loadbalancers": resource.MustParse("0"), "count/widgets.example.com": resource.MustParse("0")}
	if !quota.Equal(got.Status.Used, want) {
		t.Fatalf("status.used %v, want %v", got.Status.Used, want)
	}

	// A pod created in the namespace queues the quota.
	for c.queue.Len() > 0 {
		k, _ := c.queue.Get()
		c.queue.Done(k)
	}
	if _, err := client.CoreV1().Pods("ns").Create(ctx, pod("new", "1", corev1.PodPending), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.queue.Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("quota not queued after a pod was created")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
