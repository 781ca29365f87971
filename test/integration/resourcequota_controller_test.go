package integration

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

func TestResourceQuotaControllerUsage(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.Client
	const ns = "rq"
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hard := corev1.ResourceList{
		corev1.ResourcePods: resource.MustParse("10"), "requests.cpu": resource.MustParse("4"), "limits.memory": resource.MustParse("2Gi"),
		"count/configmaps": resource.MustParse("5"), "count/deployments.apps": resource.MustParse("3"),
		corev1.ResourceServicesNodePorts: resource.MustParse("4"), corev1.ResourceServicesLoadBalancers: resource.MustParse("1"),
	}
	if _, err := c.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "compute"}, Spec: corev1.ResourceQuotaSpec{Hard: hard}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A second quota scoped to terminating pods only sees those.
	if _, err := c.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "terminating"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("5")}, Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	usedIs := func(name string, want map[corev1.ResourceName]string) func() bool {
		return func() bool {
			q, err := c.CoreV1().ResourceQuotas(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil || len(q.Status.Hard) != len(q.Spec.Hard) || len(q.Status.Used) != len(q.Spec.Hard) {
				return false
			}
			for n, v := range want {
				got, ok := q.Status.Used[n]
				if !ok || got.Cmp(resource.MustParse(v)) != 0 {
					return false
				}
			}
			return true
		}
	}
	waitFor(t, "empty usage", 30*time.Second, usedIs("compute", map[corev1.ResourceName]string{"pods": "0", "requests.cpu": "0", "limits.memory": "0", "count/configmaps": "1"}))

	pod := func(name string, cpu, mem string, deadline *int64) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{ActiveDeadlineSeconds: deadline, Containers: []corev1.Container{{Name: "c", Image: "img:1",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}, Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(mem)}}}}}}
	}
	for i, p := range []*corev1.Pod{pod("a", "500m", "256Mi", nil), pod("b", "1", "512Mi", nil), pod("c", "250m", "256Mi", ptr.To[int64](60))} {
		if _, err := c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
	}
	if _, err := c.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "lb"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
		Ports: []corev1.ServicePort{{Name: "a", Port: 80}, {Name: "b", Port: 443}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "usage of three pods and a load balancer", 30*time.Second, usedIs("compute", map[corev1.ResourceName]string{
		"pods": "3", "requests.cpu": "1750m", "limits.memory": "1Gi", "services.loadbalancers": "1", "services.nodeports": "2", "count/deployments.apps": "0"}))
	waitFor(t, "terminating scope counting one pod", 30*time.Second, usedIs("terminating", map[corev1.ResourceName]string{"pods": "1"}))

	// kubectl describe shows the used amounts.
	e := &workloadEnv{t: t, ts: ts, c: c, ns: ns}
	out := e.kubectl("describe", "quota", "compute")
	for _, re := range []string{`pods\s+3\s+10`, `requests\.cpu\s+1750m\s+4`, `limits\.memory\s+1Gi\s+2Gi`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Fatalf("describe quota does not match %q:\n%s", re, out)
		}
	}

	// Deleting a pod gives its share back; so does finishing.
	if err := c.CoreV1().Pods(ns).Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "usage after a delete", 30*time.Second, usedIs("compute", map[corev1.ResourceName]string{"pods": "2", "requests.cpu": "750m", "limits.memory": "512Mi"}))
	// The scheduler and the controller write these objects too: retry
	// conflicts.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := c.CoreV1().Pods(ns).Get(ctx, "a", metav1.GetOptions{})
		if err != nil {
			return err
		}
		p.Status.Phase = corev1.PodSucceeded
		_, err = c.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "usage after a pod finished", 30*time.Second, usedIs("compute", map[corev1.ResourceName]string{"pods": "1", "requests.cpu": "250m"}))
	for i := 0; i < 2; i++ {
		if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm%d", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, webDeployment(0), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "object counts", 30*time.Second, usedIs("compute", map[corev1.ResourceName]string{"count/configmaps": "3", "count/deployments.apps": "1"}))
	// Raising a limit shows in status.hard.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		q, err := c.CoreV1().ResourceQuotas(ns).Get(ctx, "compute", metav1.GetOptions{})
		if err != nil {
			return err
		}
		q.Spec.Hard[corev1.ResourcePods] = resource.MustParse("20")
		_, err = c.CoreV1().ResourceQuotas(ns).Update(ctx, q, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "status.hard follows spec.hard", 30*time.Second, func() bool {
		q, err := c.CoreV1().ResourceQuotas(ns).Get(ctx, "compute", metav1.GetOptions{})
		if err != nil {
			return false
		}
		h := q.Status.Hard[corev1.ResourcePods]
		return h.Cmp(resource.MustParse("20")) == 0
	})
}
