package integration

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestResourceQuotaAdmission(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.Client
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "quota"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().ResourceQuotas("quota").Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-quota"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("2"), "count/secrets": resource.MustParse("1")}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := c.CoreV1().Pods("quota").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i)},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("pod %d within quota: %v", i, err)
		}
	}
	// The third pod, through kubectl as a user would see it.
	cmd := exec.Command(skiffBin(t), "kubectl", "--kubeconfig", ts.Kubeconfig, "-n", "quota", "run", "p2", "--image=img:1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("third pod accepted over a quota of 2: %s", out)
	}
	want := `Error from server (Forbidden): pods "p2" is forbidden: exceeded quota: pod-quota, requested: pods=1, used: pods=2, limited: pods=2`
	if !strings.Contains(string(out), want) {
		t.Fatalf("kubectl printed %q, want %q", out, want)
	}
	_, err = c.CoreV1().Pods("quota").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p3"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("want 403 for a pod over quota, got %v", err)
	}
	// Object counts by resource name work too; deleting frees the quota.
	// (Secrets: every namespace already holds a ConfigMap, kube-root-ca.crt.)
	if _, err := c.CoreV1().Secrets("quota").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Secrets("quota").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "b"}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("second secret over count/secrets=1: %v", err)
	}
	if err := c.CoreV1().Pods("quota").Delete(ctx, "p0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Admission charges status.used; the quota controller gives the
	// deleted pod's share back when it recounts (as upstream's).
	waitFor(t, "status.used pods=1 after the delete", 30*time.Second, func() bool {
		q, err := c.CoreV1().ResourceQuotas("quota").Get(ctx, "pod-quota", metav1.GetOptions{})
		used := q.Status.Used[corev1.ResourcePods]
		return err == nil && used.Value() == 1
	})
	if _, err := c.CoreV1().Pods("quota").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p4"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("pod after one was deleted: %v", err)
	}
}

// TestResourceQuotaConcurrentCreates: twenty pods created at once in a
// namespace with a quota of three pods: exactly three are stored, the
// others refused with 403 (each create is charged to the quota with
// compare-and-swap before it is stored).
func TestResourceQuotaConcurrentCreates(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.Client
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "burst"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().ResourceQuotas("burst").Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "three"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("3")}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = c.CoreV1().Pods("burst").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%02d", i)},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}}}, metav1.CreateOptions{})
		}(i)
	}
	wg.Wait()
	created := 0
	for i, err := range errs {
		switch {
		case err == nil:
			created++
		case !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "exceeded quota: three"):
			t.Errorf("pod %d: %v", i, err)
		}
	}
	pods, err := c.CoreV1().Pods("burst").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created != 3 || len(pods.Items) != 3 {
		t.Fatalf("%d creates succeeded, %d pods stored, against a quota of 3 pods", created, len(pods.Items))
	}
}
