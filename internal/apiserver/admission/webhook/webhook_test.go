package webhook

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	rschema "k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/apiserver/admission"
)

// reviewServer is a TLS webhook that records the raw AdmissionReviews it
// gets and answers with respond.
type reviewServer struct {
	*httptest.Server
	mu      sync.Mutex
	raw     [][]byte
	respond func(*admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse
}

func newReviewServer(t *testing.T, respond func(*admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse) *reviewServer {
	t.Helper()
	rs := &reviewServer{respond: respond}
	rs.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		rs.mu.Lock()
		rs.raw = append(rs.raw, data)
		rs.mu.Unlock()
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(data, &review); err != nil || review.Request == nil {
			http.Error(w, "bad review", http.StatusBadRequest)
			return
		}
		resp := rs.respond(review.Request)
		resp.UID = review.Request.UID
		review.Response, review.Request = resp, nil
		_ = json.NewEncoder(w).Encode(&review)
	}))
	t.Cleanup(rs.Close)
	return rs
}

// last is the last review received, as generic JSON.
func (rs *reviewServer) last(t *testing.T) map[string]any {
	t.Helper()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.raw) == 0 {
		t.Fatal("the webhook was not called")
	}
	var out map[string]any
	if err := json.Unmarshal(rs.raw[len(rs.raw)-1], &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func (rs *reviewServer) calls() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return len(rs.raw)
}

func (rs *reviewServer) clientConfig() admissionregistrationv1.WebhookClientConfig {
	u := rs.URL + "/validate"
	return admissionregistrationv1.WebhookClientConfig{URL: &u, CABundle: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rs.Certificate().Raw})}
}

func rule(ops []admissionregistrationv1.OperationType, resources ...string) admissionregistrationv1.RuleWithOperations {
	return admissionregistrationv1.RuleWithOperations{Operations: ops,
		Rule: admissionregistrationv1.Rule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: resources}}
}

func validatingPlugin(cc admissionregistrationv1.WebhookClientConfig, rules ...admissionregistrationv1.RuleWithOperations) *Plugin {
	none := admissionregistrationv1.SideEffectClassNone
	return New(Sources{Validating: func(context.Context) ([]admissionregistrationv1.ValidatingWebhookConfiguration, error) {
		return []admissionregistrationv1.ValidatingWebhookConfiguration{{Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "check.skiff.test", ClientConfig: cc, Rules: rules, SideEffects: &none,
			ObjectSelector: &metav1.LabelSelector{}, AdmissionReviewVersions: []string{"v1"},
		}}}}, nil
	}})
}

// denyLabelled refuses requests whose object or oldObject is labelled
// deny=true, and connects to names starting with "deny".
func denyLabelled(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	for _, raw := range [][]byte{req.Object.Raw, req.OldObject.Raw} {
		var m struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
		}
		if len(raw) > 0 && json.Unmarshal(raw, &m) == nil && m.Metadata.Labels["deny"] == "true" {
			return &admissionv1.AdmissionResponse{Result: &metav1.Status{Message: "labelled deny=true", Code: http.StatusForbidden}}
		}
	}
	if strings.HasPrefix(req.Name, "deny") {
		return &admissionv1.AdmissionResponse{Result: &metav1.Status{Message: "no " + string(req.Operation) + " to " + req.Name}}
	}
	return &admissionv1.AdmissionResponse{Allowed: true}
}

func TestDeleteReview(t *testing.T) {
	rs := newReviewServer(t, denyLabelled)
	p := validatingPlugin(rs.clientConfig(), rule([]admissionregistrationv1.OperationType{admissionregistrationv1.Delete}, "configmaps"))
	old := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "ns"}}
	opts := &metav1.DeleteOptions{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "DeleteOptions"}, DryRun: []string{"All"}}
	a := &admission.Attributes{Operation: admission.Delete, Resource: rschema.GroupVersionResource{Version: "v1", Resource: "configmaps"},
		Namespace: "ns", Name: "cm", OldObject: old, Options: opts, DryRun: true}
	if err := p.Validate(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	req := rs.last(t)["request"].(map[string]any)
	if req["operation"] != "DELETE" || req["name"] != "cm" || req["namespace"] != "ns" || req["dryRun"] != true {
		t.Errorf("request: %v", req)
	}
	if v, ok := req["object"]; !ok || v != nil {
		t.Errorf("object: want null, got %v (present %v)", v, ok)
	}
	if o, _ := req["oldObject"].(map[string]any); o["kind"] != "ConfigMap" || o["metadata"].(map[string]any)["name"] != "cm" {
		t.Errorf("oldObject: %v", req["oldObject"])
	}
	if o, _ := req["options"].(map[string]any); o["kind"] != "DeleteOptions" || o["apiVersion"] != "meta.k8s.io/v1" {
		t.Errorf("options: %v", req["options"])
	}
	if k, _ := req["kind"].(map[string]any); k["kind"] != "ConfigMap" || k["version"] != "v1" {
		t.Errorf("kind: %v", req["kind"])
	}

	// A refusal carries the webhook's message and code.
	old.Labels = map[string]string{"deny": "true"}
	err := p.Validate(context.Background(), a)
	if !apierrors.IsForbidden(err) || err.Error() != `admission webhook "check.skiff.test" denied the request: labelled deny=true` {
		t.Errorf("denied delete: %v", err)
	}
}

func TestConnectReview(t *testing.T) {
	rs := newReviewServer(t, denyLabelled)
	p := validatingPlugin(rs.clientConfig(), rule([]admissionregistrationv1.OperationType{admissionregistrationv1.Connect}, "pods/exec"))
	opts := &corev1.PodExecOptions{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodExecOptions"}, Stdout: true, Command: []string{"ls"}}
	a := &admission.Attributes{Operation: admission.Connect, Resource: rschema.GroupVersionResource{Version: "v1", Resource: "pods"},
		Subresource: "exec", Namespace: "ns", Name: "deny-pod", Object: opts}
	err := p.Validate(context.Background(), a)
	if !apierrors.IsBadRequest(err) || err.Error() != `admission webhook "check.skiff.test" denied the request: no CONNECT to deny-pod` {
		t.Errorf("denied connect: %v", err)
	}
	req := rs.last(t)["request"].(map[string]any)
	if req["operation"] != "CONNECT" || req["subResource"] != "exec" || req["dryRun"] != false {
		t.Errorf("request: %v", req)
	}
	if k, _ := req["kind"].(map[string]any); k["kind"] != "PodExecOptions" || k["version"] != "v1" {
		t.Errorf("kind: %v", req["kind"])
	}
	if o, _ := req["object"].(map[string]any); o["kind"] != "PodExecOptions" || o["stdout"] != true {
		t.Errorf("object: %v", req["object"])
	}
	if v, ok := req["oldObject"]; ok && v != nil {
		t.Errorf("oldObject: %v", v)
	}
	if v, ok := req["options"]; ok && v != nil {
		t.Errorf("options: %v", v)
	}
	// Another subresource of pods is not sent to a pods/exec webhook.
	n := rs.calls()
	a.Subresource = "attach"
	if err := p.Validate(context.Background(), a); err != nil || rs.calls() != n {
		t.Errorf("pods/attach: %v, %d calls", err, rs.calls()-n)
	}
}

func TestCreateReviewOptions(t *testing.T) {
	rs := newReviewServer(t, denyLabelled)
	p := validatingPlugin(rs.clientConfig(), rule([]admissionregistrationv1.OperationType{admissionregistrationv1.Create}, "pods/eviction"))
	ev := &policyv1.Eviction{TypeMeta: metav1.TypeMeta{APIVersion: "policy/v1", Kind: "Eviction"}, ObjectMeta: metav1.ObjectMeta{Name: "deny-p", Namespace: "ns"}}
	opts := &metav1.CreateOptions{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "CreateOptions"}, FieldManager: "kubectl"}
	a := &admission.Attributes{Operation: admission.Create, Resource: rschema.GroupVersionResource{Version: "v1", Resource: "pods"},
		Subresource: "eviction", Namespace: "ns", Name: "deny-p", Object: ev, Options: opts}
	if err := p.Validate(context.Background(), a); err == nil || !strings.Contains(err.Error(), "no CREATE to deny-p") {
		t.Errorf("denied eviction: %v", err)
	}
	req := rs.last(t)["request"].(map[string]any)
	if k, _ := req["kind"].(map[string]any); k["group"] != "policy" || k["kind"] != "Eviction" {
		t.Errorf("kind: %v", req["kind"])
	}
	if r, _ := req["resource"].(map[string]any); r["resource"] != "pods" || req["subResource"] != "eviction" {
		t.Errorf("resource: %v %v", req["resource"], req["subResource"])
	}
	if o, _ := req["options"].(map[string]any); o["kind"] != "CreateOptions" || o["fieldManager"] != "kubectl" {
		t.Errorf("options: %v", req["options"])
	}
}

func TestMutatingPatchOnDelete(t *testing.T) {
	rs := newReviewServer(t, func(*admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
		pt := admissionv1.PatchTypeJSONPatch
		return &admissionv1.AdmissionResponse{Allowed: true, PatchType: &pt, Patch: []byte(`[{"op":"add","path":"/metadata/labels","value":{"a":"b"}}]`)}
	})
	none := admissionregistrationv1.SideEffectClassNone
	p := New(Sources{Mutating: func(context.Context) ([]admissionregistrationv1.MutatingWebhookConfiguration, error) {
		return []admissionregistrationv1.MutatingWebhookConfiguration{{Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "patch.skiff.test", ClientConfig: rs.clientConfig(), SideEffects: &none, AdmissionReviewVersions: []string{"v1"},
			Rules: []admissionregistrationv1.RuleWithOperations{rule([]admissionregistrationv1.OperationType{admissionregistrationv1.OperationAll}, "*")},
		}}}}, nil
	}})
	a := &admission.Attributes{Operation: admission.Delete, Resource: rschema.GroupVersionResource{Version: "v1", Resource: "configmaps"},
		Namespace: "ns", Name: "cm", OldObject: &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}}
	err := p.Admit(context.Background(), a)
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), `admission webhook "patch.skiff.test" attempted to modify the object, which is not supported for this operation`) {
		t.Errorf("patch on delete: %v", err)
	}
}

func TestRuleMatches(t *testing.T) {
	ops := func(o ...admissionregistrationv1.OperationType) []admissionregistrationv1.OperationType { return o }
	attrs := func(op admission.Operation, resource, sub, ns string) *admission.Attributes {
		return &admission.Attributes{Operation: op, Resource: rschema.GroupVersionResource{Version: "v1", Resource: resource}, Subresource: sub, Namespace: ns}
	}
	cluster, namespaced := admissionregistrationv1.ClusterScope, admissionregistrationv1.NamespacedScope
	scoped := func(r admissionregistrationv1.RuleWithOperations, s admissionregistrationv1.ScopeType) admissionregistrationv1.RuleWithOperations {
		r.Scope = &s
		return r
	}
	del, con, cre := admissionregistrationv1.Delete, admissionregistrationv1.Connect, admissionregistrationv1.Create
	for _, tc := range []struct {
		name string
		rule admissionregistrationv1.RuleWithOperations
		a    *admission.Attributes
		want bool
	}{
		{"delete configmaps", rule(ops(del), "configmaps"), attrs(admission.Delete, "configmaps", "", "ns"), true},
		{"create rule, delete request", rule(ops(cre), "configmaps"), attrs(admission.Delete, "configmaps", "", "ns"), false},
		{"any operation", rule(ops(admissionregistrationv1.OperationAll), "configmaps"), attrs(admission.Connect, "configmaps", "", "ns"), true},
		{"pods/eviction", rule(ops(cre), "pods/eviction"), attrs(admission.Create, "pods", "eviction", "ns"), true},
		{"pods/eviction is not pods", rule(ops(cre), "pods"), attrs(admission.Create, "pods", "eviction", "ns"), false},
		{"pods is not pods/eviction", rule(ops(cre), "pods/eviction"), attrs(admission.Create, "pods", "", "ns"), false},
		{"pods/exec", rule(ops(con), "pods/exec"), attrs(admission.Connect, "pods", "exec", "ns"), true},
		{"pods/exec is not pods/attach", rule(ops(con), "pods/exec"), attrs(admission.Connect, "pods", "attach", "ns"), false},
		{"pods/*", rule(ops(con), "pods/*"), attrs(admission.Connect, "pods", "portforward", "ns"), true},
		{"pods/* is not services/proxy", rule(ops(con), "pods/*"), attrs(admission.Connect, "services", "proxy", "ns"), false},
		{"*/*", rule(ops(con), "*/*"), attrs(admission.Connect, "nodes", "proxy", ""), true},
		{"*/* takes main resources", rule(ops(del), "*/*"), attrs(admission.Delete, "configmaps", "", "ns"), true},
		{"*/proxy", rule(ops(con), "*/proxy"), attrs(admission.Connect, "services", "proxy", "ns"), true},
		{"* is not a subresource", rule(ops(con), "*"), attrs(admission.Connect, "pods", "exec", "ns"), false},
		{"namespaced scope", scoped(rule(ops(del), "*"), namespaced), attrs(admission.Delete, "configmaps", "", "ns"), true},
		{"cluster scope, namespaced request", scoped(rule(ops(del), "*"), cluster), attrs(admission.Delete, "configmaps", "", "ns"), false},
		{"a namespace is cluster-scoped", scoped(rule(ops(del), "*"), cluster), attrs(admission.Delete, "namespaces", "", "ns"), true},
		{"a namespace is not namespaced", scoped(rule(ops(del), "*"), namespaced), attrs(admission.Delete, "namespaces", "", "ns"), false},
	} {
		if got := ruleMatches(tc.rule, tc.a, tc.a.Namespace != ""); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestObjectSelector(t *testing.T) {
	p := New(Sources{})
	h := hook{rules: []admissionregistrationv1.RuleWithOperations{rule([]admissionregistrationv1.OperationType{admissionregistrationv1.OperationAll}, "*", "*/*")}}
	labelled := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"team": "a"}}}
	execOpts := &corev1.PodExecOptions{}
	for _, tc := range []struct {
		name     string
		sel      *metav1.LabelSelector
		obj, old runtime.Object
		want     bool
	}{
		{"empty selector, connect options", &metav1.LabelSelector{}, execOpts, nil, true},
		{"empty selector, delete", &metav1.LabelSelector{}, nil, labelled, true},
		{"selector, delete of a match", &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}, nil, labelled, true},
		{"selector, delete of another", &metav1.LabelSelector{MatchLabels: map[string]string{"team": "b"}}, nil, labelled, false},
		{"selector, connect options", &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}, execOpts, nil, false},
	} {
		h.objectSelector = tc.sel
		a := &admission.Attributes{Operation: admission.Connect, Resource: rschema.GroupVersionResource{Version: "v1", Resource: "pods"}, Subresource: "exec", Object: tc.obj, OldObject: tc.old}
		got, err := p.selected(context.Background(), a, h)
		if err != nil || got != tc.want {
			t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}
