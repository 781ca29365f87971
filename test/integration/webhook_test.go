package integration

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestAdmissionWebhooks serves a validating and a mutating webhook over TLS
// from the test and registers them: the validating one can deny a create,
// the mutating one adds a label, and an unreachable webhook with
// failurePolicy Ignore does not block anything.
func TestAdmissionWebhooks(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	hooks := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
			http.Error(w, "bad review", http.StatusBadRequest)
			return
		}
		var cm corev1.ConfigMap
		_ = json.Unmarshal(review.Request.Object.Raw, &cm)
		resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		switch r.URL.Path {
		case "/validate":
			if cm.Labels["deny"] == "true" {
				resp.Allowed = false
				resp.Result = &metav1.Status{Message: "configmaps labelled deny=true are not allowed"}
			}
		case "/mutate":
			pt := admissionv1.PatchTypeJSONPatch
			resp.PatchType = &pt
			resp.Patch = []byte(`[{"op":"add","path":"/metadata/labels","value":{"mutated":"yes"}}]`)
			if cm.Labels != nil {
				resp.Patch = []byte(`[{"op":"add","path":"/metadata/labels/mutated","value":"yes"}]`)
			}
			resp.Warnings = []string{"mutated by the test webhook"}
		}
		review.Response = resp
		_ = json.NewEncoder(w).Encode(&review)
	}))
	defer hooks.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hooks.Certificate().Raw})
	none := admissionregistrationv1.SideEffectClassNone
	fail, ignore := admissionregistrationv1.Fail, admissionregistrationv1.Ignore
	rules := []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
	}}
	url := func(path string) *string { u := hooks.URL + path; return &u }
	unreachable := "https://127.0.0.1:1/never"
	if _, err := ts.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "deny"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			{Name: "deny.skiff.test", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: url("/validate"), CABundle: caPEM},
				Rules: rules, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}, FailurePolicy: &fail},
			{Name: "gone.skiff.test", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &unreachable, CABundle: caPEM},
				Rules: rules, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}, FailurePolicy: &ignore},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "label"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "label.skiff.test", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: url("/mutate"), CABundle: caPEM},
			Rules: rules, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cms := ts.Client.CoreV1().ConfigMaps("default")
	ok, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "fine"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("allowed create: %v", err)
	}
	if ok.Labels["mutated"] != "yes" {
		t.Fatalf("mutating webhook's patch not applied: %v", ok.Labels)
	}
	_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "denied", Labels: map[string]string{"deny": "true"}}}, metav1.CreateOptions{})
	if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), `admission webhook "deny.skiff.test" denied the request: configmaps labelled deny=true are not allowed`) {
		t.Fatalf("denied create: %v", err)
	}
	if _, err := cms.Get(ctx, "denied", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a denied object was stored: %v", err)
	}
}
