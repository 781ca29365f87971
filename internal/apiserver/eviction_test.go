package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const evPods = "/api/v1/namespaces/default/pods"
const evPDBs = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"

// runningPod creates a pod bound to a node, running and ready or not.
func runningPod(t *testing.T, ts *httptest.Server, name string, ready bool) {
	t.Helper()
	body := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q,"labels":{"app":"x"}},"spec":{"nodeName":"n1","containers":[{"name":"c","image":"img"}]}}`, name)
	code, out := do(t, ts, "POST", evPods, "application/json", body)
	if code != http.StatusCreated {
		t.Fatalf("create pod: %d %s", code, out)
	}
	var p corev1.Pod
	_ = json.Unmarshal(out, &p)
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	if code, out := do(t, ts, "PUT", evPods+"/"+name+"/status", "application/json", &p); code != http.StatusOK {
		t.Fatalf("pod status: %d %s", code, out)
	}
}

// budget creates a budget over app=x with the given status.
func budget(t *testing.T, ts *httptest.Server, name string, st policyv1.PodDisruptionBudgetStatus, policy *policyv1.UnhealthyPodEvictionPolicyType) {
	t.Helper()
	one := json.RawMessage(`1`)
	body := map[string]any{"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": map[string]any{"name": name},
		"spec": map[string]any{"minAvailable": one, "selector": map[string]any{"matchLabels": map[string]string{"app": "x"}}}}
	if policy != nil {
		body["spec"].(map[string]any)["unhealthyPodEvictionPolicy"] = string(*policy)
	}
	code, out := do(t, ts, "POST", evPDBs, "application/json", body)
	if code != http.StatusCreated {
		t.Fatalf("create pdb: %d %s", code, out)
	}
	var p policyv1.PodDisruptionBudget
	_ = json.Unmarshal(out, &p)
	if st.ObservedGeneration == 0 {
		st.ObservedGeneration = p.Generation
	}
	p.Status = st
	if code, out := do(t, ts, "PUT", evPDBs+"/"+name+"/status", "application/json", &p); code != http.StatusOK {
		t.Fatalf("pdb status: %d %s", code, out)
	}
}

func evictBody(name, version string) string {
	return fmt.Sprintf(`{"apiVersion":"policy/%s","kind":"Eviction","metadata":{"name":%q,"namespace":"default"}}`, version, name)
}

func getPDB(t *testing.T, ts *httptest.Server, name string) policyv1.PodDisruptionBudget {
	t.Helper()
	_, out := do(t, ts, "GET", evPDBs+"/"+name, "", nil)
	var p policyv1.PodDisruptionBudget
	_ = json.Unmarshal(out, &p)
	return p
}

func TestEvictionHonoursBudget(t *testing.T) {
	ts, _ := newTestServer(t)
	runningPod(t, ts, "a", true)
	runningPod(t, ts, "b", true)
	budget(t, ts, "pdb", policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1, CurrentHealthy: 2, DesiredHealthy: 1, ExpectedPods: 2}, nil)

	// The URL and the body must name the same pod.
	if code, out := do(t, ts, "POST", evPods+"/a/eviction", "application/json", evictBody("b", "v1")); code != http.StatusBadRequest {
		t.Fatalf("mismatched name: %d %s", code, out)
	}
	// A dry run changes nothing.
	if code, out := do(t, ts, "POST", evPods+"/a/eviction?dryRun=All", "application/json", evictBody("a", "v1")); code != http.StatusCreated {
		t.Fatalf("dry run: %d %s", code, out)
	}
	if p := getPDB(t, ts, "pdb"); p.Status.DisruptionsAllowed != 1 {
		t.Fatalf("dry run changed the budget: %+v", p.Status)
	}

	code, out := do(t, ts, "POST", evPods+"/a/eviction", "application/json", evictBody("a", "v1"))
	var st metav1.Status
	_ = json.Unmarshal(out, &st)
	if code != http.StatusCreated || st.Status != metav1.StatusSuccess || st.Kind != "Status" {
		t.Fatalf("eviction: %d %s", code, out)
	}
	p := getPDB(t, ts, "pdb")
	if _, ok := p.Status.DisruptedPods["a"]; !ok || p.Status.DisruptionsAllowed != 0 {
		t.Fatalf("budget after eviction: %+v", p.Status)
	}
	_, out = do(t, ts, "GET", evPods+"/a", "", nil)
	var pod corev1.Pod
	_ = json.Unmarshal(out, &pod)
	marked := false
	for _, c := range pod.Status.Conditions {
		marked = marked || c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue && c.Reason == "EvictionByEvictionAPI" && c.Message == "Eviction API: evicting"
	}
	if pod.DeletionTimestamp == nil || !marked {
		t.Fatalf("evicted pod: deletion %v conditions %+v", pod.DeletionTimestamp, pod.Status.Conditions)
	}

	// Nothing left in the budget: 429 with upstream's message and cause,
	// also through the old policy/v1beta1 kind.
	code, out = do(t, ts, "POST", evPods+"/b/eviction", "application/json", evictBody("b", "v1beta1"))
	st = metav1.Status{}
	_ = json.Unmarshal(out, &st)
	if code != http.StatusTooManyRequests || st.Reason != metav1.StatusReasonTooManyRequests ||
		st.Message != "Cannot evict pod as it would violate the pod's disruption budget." ||
		st.Details == nil || len(st.Details.Causes) != 1 || st.Details.Causes[0].Type != "DisruptionBudget" ||
		st.Details.Causes[0].Message != "The disruption budget pdb needs 1 healthy pods and has 2 currently" {
		t.Fatalf("second eviction: %d %s", code, out)
	}
	// A pod already being deleted needs no budget.
	if code, out := do(t, ts, "POST", evPods+"/a/eviction", "application/json", evictBody("a", "v1")); code != http.StatusCreated {
		t.Fatalf("evicting a terminating pod: %d %s", code, out)
	}
}

func TestEvictionUnhealthyPodsAndStaleBudget(t *testing.T) {
	ts, _ := newTestServer(t)
	runningPod(t, ts, "unready", false)
	// The budget is healthy: the unready pod goes without using it.
	budget(t, ts, "pdb", policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 0, CurrentHealthy: 2, DesiredHealthy: 2, ExpectedPods: 3}, nil)
	if code, out := do(t, ts, "POST", evPods+"/unready/eviction", "application/json", evictBody("unready", "v1")); code != http.StatusCreated {
		t.Fatalf("unready pod, healthy budget: %d %s", code, out)
	}
	if p := getPDB(t, ts, "pdb"); p.Status.DisruptionsAllowed != 0 || len(p.Status.DisruptedPods) != 0 {
		t.Fatalf("budget used for an unready pod: %+v", p.Status)
	}
	do(t, ts, "DELETE", evPods+"/unready?gracePeriodSeconds=0", "", nil)
	do(t, ts, "DELETE", evPDBs+"/pdb", "", nil)

	// An unhealthy budget protects unready pods, unless AlwaysAllow.
	runningPod(t, ts, "unready2", false)
	budget(t, ts, "pdb2", policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 0, CurrentHealthy: 1, DesiredHealthy: 2, ExpectedPods: 3}, nil)
	if code, out := do(t, ts, "POST", evPods+"/unready2/eviction", "application/json", evictBody("unready2", "v1")); code != http.StatusTooManyRequests {
		t.Fatalf("unready pod, unhealthy budget: %d %s", code, out)
	}
	do(t, ts, "DELETE", evPDBs+"/pdb2", "", nil)
	always := policyv1.AlwaysAllow
	budget(t, ts, "pdb3", policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 0, CurrentHealthy: 1, DesiredHealthy: 2, ExpectedPods: 3}, &always)
	if code, out := do(t, ts, "POST", evPods+"/unready2/eviction", "application/json", evictBody("unready2", "v1")); code != http.StatusCreated {
		t.Fatalf("unready pod, AlwaysAllow: %d %s", code, out)
	}
	do(t, ts, "DELETE", evPDBs+"/pdb3", "", nil)

	// A budget the controller has not looked at since its spec changed.
	runningPod(t, ts, "c", true)
	budget(t, ts, "pdb4", policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1, ObservedGeneration: -1}, nil)
	code, out := do(t, ts, "POST", evPods+"/c/eviction", "application/json", evictBody("c", "v1"))
	var st metav1.Status
	_ = json.Unmarshal(out, &st)
	if code != http.StatusTooManyRequests || st.Details == nil || len(st.Details.Causes) != 1 ||
		st.Details.Causes[0].Message != "The disruption budget pdb4 is still being processed by the server." {
		t.Fatalf("stale budget: %d %s", code, out)
	}
	// Two budgets: 500.
	budget(t, ts, "pdb5", policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1}, nil)
	code, out = do(t, ts, "POST", evPods+"/c/eviction", "application/json", evictBody("c", "v1"))
	st = metav1.Status{}
	_ = json.Unmarshal(out, &st)
	if code != http.StatusInternalServerError || st.Message != "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support." {
		t.Fatalf("two budgets: %d %s", code, out)
	}
	// Only create is served.
	if code, _ := do(t, ts, "GET", evPods+"/c/eviction", "", nil); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET eviction: %d", code)
	}
}
