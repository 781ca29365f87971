package integration

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// opsWebhook is a validating webhook served by the test over TLS: it
// refuses a request whose object or old object is labelled deny=true, and
// a request on a subresource of a pod so labelled (an Eviction or a
// connect's options carry no labels of their own, so it reads the pod, as
// policy webhooks do). It records the operations it was asked about.
type opsWebhook struct {
	*httptest.Server
	client kubernetes.Interface
	mu     sync.Mutex
	seen   []string // "OPERATION resource[/sub] name objectKind"
}

const opsDenyMsg = "objects labelled deny=true are protected"

func newOpsWebhook(t *testing.T, client kubernetes.Interface) *opsWebhook {
	t.Helper()
	h := &opsWebhook{client: client}
	h.Server = httptest.NewTLSServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.Close)
	return h
}

func (h *opsWebhook) serve(w http.ResponseWriter, r *http.Request) {
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
		http.Error(w, "bad review", http.StatusBadRequest)
		return
	}
	req := review.Request
	res := req.Resource.Resource
	if req.SubResource != "" {
		res += "/" + req.SubResource
	}
	h.mu.Lock()
	h.seen = append(h.seen, fmt.Sprintf("%s %s %s %s", req.Operation, res, req.Name, req.Kind.Kind))
	h.mu.Unlock()
	deny := false
	for _, raw := range [][]byte{req.Object.Raw, req.OldObject.Raw} {
		var m struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
		}
		if len(raw) > 0 && json.Unmarshal(raw, &m) == nil && m.Metadata.Labels["deny"] == "true" {
			deny = true
		}
	}
	if req.Resource.Resource == "pods" && req.SubResource != "" {
		name, _, _ := strings.Cut(req.Name, ":") // pods/proxy names may carry a port
		pod, err := h.client.CoreV1().Pods(req.Namespace).Get(r.Context(), name, metav1.GetOptions{})
		deny = err != nil || pod.Labels["deny"] == "true"
	}
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: !deny}
	if deny {
		resp.Result = &metav1.Status{Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden, Message: opsDenyMsg}
	}
	review.Response, review.Request = resp, nil
	_ = json.NewEncoder(w).Encode(&review)
}

func (h *opsWebhook) saw(entry string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.seen {
		if s == entry {
			return true
		}
	}
	return false
}

// TestAdmissionOperations registers a validating webhook for DELETE of
// configmaps, CREATE of pods/eviction and CONNECT of pods/exec and
// pods/proxy, and checks that each of those requests is sent to it and
// refused when it says so, leaving the objects as they were.
func TestAdmissionOperations(t *testing.T) {
	ts := startServer(t)
	c := ts.Client
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hook := newOpsWebhook(t, c)

	const ns = "admission-ops"
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"admission-ops": "guarded"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	url := hook.URL + "/validate"
	none := admissionregistrationv1.SideEffectClassNone
	fail := admissionregistrationv1.Fail
	rule := func(op admissionregistrationv1.OperationType, resources ...string) admissionregistrationv1.RuleWithOperations {
		return admissionregistrationv1.RuleWithOperations{Operations: []admissionregistrationv1.OperationType{op},
			Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: resources}}
	}
	const hookName = "ops.skiff.test"
	if _, err := c.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "ops"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:         hookName,
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hook.Certificate().Raw})},
			Rules: []admissionregistrationv1.RuleWithOperations{
				rule(admissionregistrationv1.Delete, "configmaps"),
				rule(admissionregistrationv1.Create, "pods/eviction"),
				rule(admissionregistrationv1.Connect, "pods/exec", "pods/proxy"),
			},
			// Only this test's namespace: the controllers' own writes
			// elsewhere are none of the webhook's business.
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"admission-ops": "guarded"}},
			SideEffects:             &none,
			FailurePolicy:           &fail,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	denied := func(what string, err error) {
		t.Helper()
		want := fmt.Sprintf("admission webhook %q denied the request: %s", hookName, opsDenyMsg)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want a 403 %q", what, err, want)
		}
	}

	// DELETE of one object.
	cms := c.CoreV1().ConfigMaps(ns)
	for _, cm := range []*corev1.ConfigMap{
		{ObjectMeta: metav1.ObjectMeta{Name: "protected", Labels: map[string]string{"deny": "true", "set": "a"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "plain", Labels: map[string]string{"set": "b"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "plain-a", Labels: map[string]string{"set": "a"}}},
	} {
		if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	denied("delete of a labelled configmap", cms.Delete(ctx, "protected", metav1.DeleteOptions{}))
	if _, err := cms.Get(ctx, "protected", metav1.GetOptions{}); err != nil {
		t.Errorf("a refused delete removed the configmap: %v", err)
	}
	if !hook.saw("DELETE configmaps protected ConfigMap") {
		t.Errorf("the webhook did not see the delete: %v", hook.seen)
	}
	if err := cms.Delete(ctx, "plain", metav1.DeleteOptions{}); err != nil {
		t.Errorf("delete of an unlabelled configmap: %v", err)
	}
	if _, err := cms.Get(ctx, "plain", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("configmap plain after its delete: %v", err)
	}

	// A deletecollection fails on the protected object, which stays.
	denied("deletecollection", cms.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "set=a"}))
	if _, err := cms.Get(ctx, "protected", metav1.GetOptions{}); err != nil {
		t.Errorf("deletecollection removed the protected configmap: %v", err)
	}

	// CREATE of pods/eviction.
	pods := c.CoreV1().Pods(ns)
	for _, p := range []*corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Name: "guarded", Labels: map[string]string{"deny": "true"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "free"}},
	} {
		p.Spec = corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}}
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	denied("eviction of a labelled pod", c.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "guarded", Namespace: ns}}))
	if _, err := pods.Get(ctx, "guarded", metav1.GetOptions{}); err != nil {
		t.Errorf("a refused eviction removed the pod: %v", err)
	}
	if !hook.saw("CREATE pods/eviction guarded Eviction") {
		t.Errorf("the webhook did not see the eviction: %v", hook.seen)
	}
	if err := c.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "free", Namespace: ns}}); err != nil {
		t.Errorf("eviction of an unlabelled pod: %v", err)
	}
	waitFor(t, "the evicted pod to go", 30*time.Second, func() bool {
		_, err := pods.Get(ctx, "free", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})

	// CONNECT of pods/proxy: refused before the pod's address is looked
	// up (it has none).
	err := c.CoreV1().RESTClient().Get().Namespace(ns).Resource("pods").Name("guarded:8080").SubResource("proxy").Suffix("healthz").Do(ctx).Error()
	denied("pods/proxy of a labelled pod", err)
	if !hook.saw("CONNECT pods/proxy guarded:8080 PodProxyOptions") {
		t.Errorf("the webhook did not see the proxy connect: %v", hook.seen)
	}

	// What a user sees: kubectl exec (CONNECT pods/exec) and kubectl delete.
	kubectl := func(args ...string) (string, error) {
		cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
		defer ccancel()
		out, err := exec.CommandContext(cctx, skiffBin(t), append([]string{"kubectl", "--kubeconfig", ts.Kubeconfig, "-n", ns}, args...)...).CombinedOutput()
		return string(out), err
	}
	want := fmt.Sprintf("admission webhook %q denied the request: %s", hookName, opsDenyMsg)
	out, err := kubectl("exec", "guarded", "--", "ls")
	if err == nil || !strings.Contains(out, want) {
		t.Errorf("kubectl exec: %v\n%s", err, out)
	}
	t.Logf("kubectl exec into a protected pod:\n%s", out)
	if !hook.saw("CONNECT pods/exec guarded PodExecOptions") {
		t.Errorf("the webhook did not see the exec: %v", hook.seen)
	}
	out, err = kubectl("delete", "configmap", "protected")
	if err == nil || !strings.Contains(out, "Error from server (Forbidden): "+want) {
		t.Errorf("kubectl delete: %v\n%s", err, out)
	}
	t.Logf("kubectl delete of a protected configmap:\n%s", out)
}
