package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/apiserver/admission"
	"skiff/internal/apiserver/admission/podsecurity"
)

func newPodSecurityTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	ts, _, _ := newTestServerWith(t, func(c *Config) {
		psa, err := podsecurity.New(NamespaceGetter(c.Store))
		if err != nil {
			t.Fatal(err)
		}
		psa.Pods = PodLister(c.Store)
		c.Hooks.Admission = admission.NewChain(psa)
	})
	return ts
}

// doHeaders is do, also returning the response headers.
func doHeaders(t *testing.T, ts *httptest.Server, method, path, contentType string, body any) (int, []byte, http.Header) {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, ts.URL+path, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", contentType)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out, resp.Header
}

func createNamespace(t *testing.T, ts *httptest.Server, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if code, body := do(t, ts, "POST", "/api/v1/namespaces", "application/json", ns); code != http.StatusCreated {
		t.Fatalf("create namespace %s: %d %s", name, code, body)
	}
}

func privilegedPod(name string) *corev1.Pod {
	priv := true
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "img:1", SecurityContext: &corev1.SecurityContext{Privileged: &priv},
		}}},
	}
}

func warningOf(msg string) string { return "299 - " + strconv.Quote(msg) }

func TestPodSecurityAdmission(t *testing.T) {
	ts := newPodSecurityTestServer(t)
	createNamespace(t, ts, "strict", map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	createNamespace(t, ts, "open", nil)
	createNamespace(t, ts, "warned", map[string]string{"pod-security.kubernetes.io/warn": "baseline"})

	// Refused where restricted is enforced, with upstream's message.
	code, body, _ := doHeaders(t, ts, "POST", "/api/v1/namespaces/strict/pods", "application/json", privilegedPod("p"))
	if code != http.StatusForbidden {
		t.Fatalf("strict: %d %s", code, body)
	}
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	want := `pods "p" is forbidden: violates PodSecurity "restricted:latest": ` +
		`privileged (container "c" must not set securityContext.privileged=true), ` +
		`allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), ` +
		`unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), ` +
		`runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), ` +
		`seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`
	if st.Message != want || st.Reason != metav1.StatusReasonForbidden || st.Details == nil || st.Details.Kind != "pods" || st.Details.Name != "p" {
		t.Errorf("status %+v\nwant message %s", st, want)
	}
	// Dry runs are refused too.
	if code, body, _ := doHeaders(t, ts, "POST", "/api/v1/namespaces/strict/pods?dryRun=All", "application/json", privilegedPod("p")); code != http.StatusForbidden {
		t.Errorf("dry run: %d %s", code, body)
	}

	// Admitted in an unlabelled namespace, without warnings.
	code, body, hdr := doHeaders(t, ts, "POST", "/api/v1/namespaces/open/pods", "application/json", privilegedPod("p"))
	if code != http.StatusCreated || len(hdr.Values("Warning")) != 0 {
		t.Fatalf("open: %d %v %s", code, hdr.Values("Warning"), body)
	}

	// Admitted with a warning where baseline is warned about.
	code, body, hdr = doHeaders(t, ts, "POST", "/api/v1/namespaces/warned/pods", "application/json", privilegedPod("p"))
	wantWarning := warningOf(`would violate PodSecurity "baseline:latest": privileged (container "c" must not set securityContext.privileged=true)`)
	if code != http.StatusCreated || len(hdr.Values("Warning")) != 1 || hdr.Get("Warning") != wantWarning {
		t.Fatalf("warned: %d %q %s\nwant warning %s", code, hdr.Values("Warning"), body, wantWarning)
	}

	// Workload templates are only warned about, at the enforce level.
	d := deployment("d")
	d.Spec.Template.Spec = privilegedPod("").Spec
	code, body, hdr = doHeaders(t, ts, "POST", "/apis/apps/v1/namespaces/strict/deployments", "application/json", d)
	if code != http.StatusCreated || !strings.HasPrefix(hdr.Get("Warning"), `299 - "would violate PodSecurity \"restricted:latest\": privileged (container \"c\" must not set`) {
		t.Fatalf("deployment: %d %q %s", code, hdr.Values("Warning"), body)
	}

	// Scaling it is not checked again.
	scale := map[string]any{"spec": map[string]any{"replicas": 2}}
	code, body, hdr = doHeaders(t, ts, "PATCH", "/apis/apps/v1/namespaces/strict/deployments/d/scale", "application/merge-patch+json", scale)
	if code != http.StatusOK || len(hdr.Values("Warning")) != 0 {
		t.Errorf("scale: %d %q %s", code, hdr.Values("Warning"), body)
	}

	// Raising open's enforce level warns about its privileged pod.
	patch := map[string]any{"metadata": map[string]any{"labels": map[string]string{"pod-security.kubernetes.io/enforce": "baseline"}}}
	code, body, hdr = doHeaders(t, ts, "PATCH", "/api/v1/namespaces/open", "application/merge-patch+json", patch)
	if code != http.StatusOK {
		t.Fatalf("label namespace: %d %s", code, body)
	}
	if got, want := hdr.Values("Warning"), []string{
		warningOf(`existing pods in namespace "open" violate the new PodSecurity enforce level "baseline:latest"`),
		warningOf(`p: privileged`),
	}; !slices.Equal(got, want) {
		t.Errorf("label namespace warnings %q, want %q", got, want)
	}

	// Updates: changing the privileged pod's image is now refused,
	// changing its labels is not.
	patch = map[string]any{"metadata": map[string]any{"labels": map[string]string{"a": "b"}}}
	if code, body, _ := doHeaders(t, ts, "PATCH", "/api/v1/namespaces/open/pods/p", "application/merge-patch+json", patch); code != http.StatusOK {
		t.Errorf("label pod: %d %s", code, body)
	}
	patch = map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "c", "image": "img:2"}}}}
	code, body, _ = doHeaders(t, ts, "PATCH", "/api/v1/namespaces/open/pods/p", "application/strategic-merge-patch+json", patch)
	if code != http.StatusForbidden || !strings.Contains(string(body), `pods \"p\" is forbidden: violates PodSecurity \"baseline:latest\": privileged`) {
		t.Errorf("image update: %d %s", code, body)
	}

	// Invalid policy labels are refused.
	bad := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: "bad", Labels: map[string]string{"pod-security.kubernetes.io/enforce": "strict"}}}
	if code, body, _ := doHeaders(t, ts, "POST", "/api/v1/namespaces", "application/json", bad); code != http.StatusUnprocessableEntity {
		t.Errorf("bad labels: %d %s", code, body)
	}
}
