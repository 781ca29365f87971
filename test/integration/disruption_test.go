package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

func TestDisruptionBudgetAndEviction(t *testing.T) {
	e := newWorkloadEnv(t, "pdb")
	ctx := context.Background()
	if _, err := e.c.AppsV1().Deployments(e.ns).Create(ctx, webDeployment(3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitRolledOut("web", 3)
	if _, err := e.c.PolicyV1().PodDisruptionBudgets(e.ns).Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(2)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pdbAllows := func(n int32) func() bool {
		return func() bool {
			pdb, err := e.c.PolicyV1().PodDisruptionBudgets(e.ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false
			}
			s := pdb.Status
			return s.ObservedGeneration == pdb.Generation && s.DisruptionsAllowed == n && s.CurrentHealthy == 3 &&
				s.DesiredHealthy == 2 && s.ExpectedPods == 3 && apimeta.IsStatusConditionTrue(s.Conditions, policyv1.DisruptionAllowedCondition)
		}
	}
	waitFor(t, "budget allowing one disruption", 30*time.Second, pdbAllows(1))

	// Discovery lists the subresource as upstream does.
	res, err := e.c.Discovery().ServerResourcesForGroupVersion("v1")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range res.APIResources {
		if r.Name == "pods/eviction" {
			found = r.Group == "policy" && r.Version == "v1" && r.Kind == "Eviction" && strings.Join(r.Verbs, ",") == "create"
		}
	}
	if !found {
		t.Fatalf("pods/eviction not in discovery as policy/v1 Eviction with verb create: %+v", res.APIResources)
	}

	pods := e.pods("app=web")
	if len(pods) != 3 {
		t.Fatalf("want 3 pods, got %d", len(pods))
	}
	evict := func(name string) (int, []byte) {
		body, _ := json.Marshal(&policyv1.Eviction{
			TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "Eviction"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		})
		var code int
		out, _ := e.c.CoreV1().RESTClient().Post().Namespace(e.ns).Resource("pods").Name(name).SubResource("eviction").
			Body(body).SetHeader("Content-Type", "application/json").Do(ctx).StatusCode(&code).Raw()
		return code, out
	}
	code, out := evict(pods[0].Name)
	if code != http.StatusCreated {
		t.Fatalf("first eviction: %d %s", code, out)
	}
	var st metav1.Status
	if err := json.Unmarshal(out, &st); err != nil || st.Status != metav1.StatusSuccess || st.Kind != "Status" {
		t.Fatalf("first eviction answered %s", out)
	}
	// The pod is being deleted, marked as evicted.
	p, err := e.c.CoreV1().Pods(e.ns).Get(ctx, pods[0].Name, metav1.GetOptions{})
	if err == nil {
		if p.DeletionTimestamp == nil {
			t.Fatalf("evicted pod not being deleted")
		}
		ok := false
		for _, c := range p.Status.Conditions {
			ok = ok || c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue && c.Reason == "EvictionByEvictionAPI"
		}
		if !ok {
			t.Fatalf("evicted pod has no DisruptionTarget condition: %+v", p.Status.Conditions)
		}
	} else if !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}

	// A second eviction right away would take the budget below 2.
	err = e.c.PolicyV1().Evictions(e.ns).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: pods[1].Name, Namespace: e.ns}})
	if !apierrors.IsTooManyRequests(err) {
		t.Fatalf("second eviction: want 429, got %v", err)
	}
	se := err.(*apierrors.StatusError)
	if se.ErrStatus.Message != "Cannot evict pod as it would violate the pod's disruption budget." {
		t.Fatalf("429 message %q", se.ErrStatus.Message)
	}
	if d := se.ErrStatus.Details; d == nil || len(d.Causes) != 1 || d.Causes[0].Type != "DisruptionBudget" ||
		!strings.HasPrefix(d.Causes[0].Message, "The disruption budget web needs 2 healthy pods and has ") {
		t.Fatalf("429 details %+v", se.ErrStatus.Details)
	}

	// Once the replacement is ready, the budget allows one again and a
	// drain of a node running a pod evicts it.
	e.waitRolledOut("web", 3)
	waitFor(t, "budget allowing one disruption again", 60*time.Second, pdbAllows(1))
	node := e.pods("app=web")[0].Spec.NodeName
	cmd := exec.Command(skiffBin(t), "kubectl", "--kubeconfig", e.ts.Kubeconfig, "drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=120s")
	out, err = cmd.CombinedOutput()
	t.Logf("kubectl drain %s:\n%s", node, out)
	if err != nil {
		t.Fatalf("kubectl drain: %v\n%s", err, out)
	} else if !strings.Contains(string(out), "evicting pod") || !strings.Contains(string(out), "drained") {
		t.Fatalf("kubectl drain printed %s", out)
	}
	waitFor(t, "no web pods on the drained node", 30*time.Second, func() bool {
		for _, p := range e.pods("app=web") {
			if p.Spec.NodeName == node {
				return false
			}
		}
		return true
	})
	e.waitRolledOut("web", 3)
	waitFor(t, "budget allowing one disruption after the drain", 60*time.Second, pdbAllows(1))

	// With no disruption allowed, drain keeps retrying and gives up at its
	// timeout, saying why.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pdb, err := e.c.PolicyV1().PodDisruptionBudgets(e.ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		pdb.Spec.MinAvailable = ptr.To(intstr.FromInt32(3))
		_, err = e.c.PolicyV1().PodDisruptionBudgets(e.ns).Update(ctx, pdb, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "budget allowing no disruption", 30*time.Second, func() bool {
		pdb, err := e.c.PolicyV1().PodDisruptionBudgets(e.ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && pdb.Status.ObservedGeneration == pdb.Generation && pdb.Status.DisruptionsAllowed == 0 &&
			apimeta.IsStatusConditionFalse(pdb.Status.Conditions, policyv1.DisruptionAllowedCondition)
	})
	node = e.pods("app=web")[0].Spec.NodeName
	out, err = exec.Command(skiffBin(t), "kubectl", "--kubeconfig", e.ts.Kubeconfig, "drain", node, "--ignore-daemonsets", "--timeout=7s").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Cannot evict pod as it would violate the pod's disruption budget.") {
		t.Fatalf("drain against a full budget: %v\n%s", err, out)
	}
}

func TestEvictionWithoutBudgetAndTwoBudgets(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.Client
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ev"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mk := func(name string) {
		if _, err := c.CoreV1().Pods("ev").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "x"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// A pending pod is deleted without looking at budgets.
	mk("pending")
	if err := c.PolicyV1().Evictions("ev").Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "pending", Namespace: "ev"}}); err != nil {
		t.Fatalf("evicting a pending pod: %v", err)
	}
	if _, err := c.CoreV1().Pods("ev").Get(ctx, "pending", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("pending pod still there after eviction: %v", err)
	}
	// A running pod covered by two budgets: 500.
	mk("running")
	// The scheduler writes the pod too (no nodes here): retry conflicts.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := c.CoreV1().Pods("ev").Get(ctx, "running", metav1.GetOptions{})
		if err != nil {
			return err
		}
		p.Status.Phase = corev1.PodRunning
		_, err = c.CoreV1().Pods("ev").UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b"} {
		if _, err := c.PolicyV1().PodDisruptionBudgets("ev").Create(ctx, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: n},
			Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	err := c.PolicyV1().Evictions("ev").Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "running", Namespace: "ev"}})
	if se, ok := err.(*apierrors.StatusError); !ok || se.ErrStatus.Code != http.StatusInternalServerError ||
		se.ErrStatus.Message != "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support." {
		t.Fatalf("eviction with two budgets: %v", err)
	}
	// The budget of a pod without a controller: maxUnavailable cannot be
	// resolved, so nothing may be disrupted.
	waitFor(t, "budget a unmanaged pods event", 30*time.Second, func() bool {
		evs, err := c.CoreV1().Events("ev").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, ev := range evs.Items {
			if ev.InvolvedObject.Name == "a" && ev.Reason == "UnmanagedPods" {
				return true
			}
		}
		return false
	})
}
