package apiserver

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const applyCT = "application/apply-patch+yaml"

// doAs is do with a User-Agent.
func doAs(t *testing.T, ts *httptest.Server, userAgent, method, path, contentType, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("User-Agent", userAgent)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func applyDeployment(replicas string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: ` + replicas + `
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: img:1
`
}

// decodeDeployment decodes into a new value: json.Unmarshal into a used
// one merges list elements.
func decodeDeployment(t *testing.T, body []byte) appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return d
}

// entry finds the managedFields entry of manager (and subresource).
func entry(t *testing.T, m metav1.ObjectMeta, manager, subresource string) *metav1.ManagedFieldsEntry {
	t.Helper()
	for i := range m.ManagedFields {
		e := &m.ManagedFields[i]
		if e.Manager == manager && e.Subresource == subresource {
			return e
		}
	}
	t.Fatalf("no managedFields entry for %q (subresource %q) in %s", manager, subresource, managedString(m))
	return nil
}

func managedString(m metav1.ObjectMeta) string {
	var b strings.Builder
	for _, e := range m.ManagedFields {
		fields := ""
		if e.FieldsV1 != nil {
			fields = string(e.FieldsV1.Raw)
		}
		b.WriteString("\n  " + e.Manager + " " + string(e.Operation) + " " + e.APIVersion + " sub=" + e.Subresource + " " + fields)
	}
	return b.String()
}

// owns reports whether e's fields name every one of the paths, given as
// fieldsV1 fragments like `"f:replicas"`.
func owns(e *metav1.ManagedFieldsEntry, fragments ...string) bool {
	if e.FieldsV1 == nil {
		return false
	}
	for _, f := range fragments {
		if !strings.Contains(string(e.FieldsV1.Raw), f) {
			return false
		}
	}
	return true
}

func TestApplyCreateAndUpdate(t *testing.T) {
	ts, _ := newTestServer(t)
	path := "/apis/apps/v1/namespaces/default/deployments/web"

	// The manager is required for apply.
	code, body := do(t, ts, "PATCH", path, applyCT, applyDeployment("2"))
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(body), "fieldManager: Required value: is required for apply patch") {
		t.Fatalf("apply without fieldManager: %d %s", code, body)
	}

	// Apply to a missing object creates it through the create path.
	code, body = do(t, ts, "PATCH", path+"?fieldManager=test", applyCT, applyDeployment("2"))
	if code != http.StatusCreated {
		t.Fatalf("apply create: %d %s", code, body)
	}
	d := decodeDeployment(t, body)
	if d.UID == "" || d.Generation != 1 || *d.Spec.Replicas != 2 || d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		t.Fatalf("apply create did not go through the create path: %+v %+v", d.ObjectMeta, d.Spec)
	}
	e := entry(t, d.ObjectMeta, "test", "")
	if e.Operation != metav1.ManagedFieldsOperationApply || e.APIVersion != "apps/v1" || e.Time == nil || e.FieldsType != "FieldsV1" {
		t.Fatalf("apply entry: %+v", e)
	}
	if !owns(e, `"f:replicas"`, `"k:{\"name\":\"web\"}"`, `"f:image"`) || owns(e, `"f:strategy"`) {
		t.Fatalf("apply entry should own what was applied, not defaults: %s", e.FieldsV1.Raw)
	}
	if len(d.ManagedFields) != 1 {
		t.Fatalf("want one entry after an apply create:%s", managedString(d.ObjectMeta))
	}

	// Applying again changes the object; the same manager needs no force.
	code, body = do(t, ts, "PATCH", path+"?fieldManager=test", applyCT, applyDeployment("4"))
	if code != http.StatusOK {
		t.Fatalf("apply update: %d %s", code, body)
	}
	d = decodeDeployment(t, body)
	if *d.Spec.Replicas != 4 || d.Generation != 2 {
		t.Fatalf("apply update: replicas %d generation %d", *d.Spec.Replicas, d.Generation)
	}
	// A field left out of the configuration is removed.
	code, body = do(t, ts, "PATCH", path+"?fieldManager=test", applyCT, strings.Replace(applyDeployment("4"), "  labels:\n    app: web\nspec:", "spec:", 1))
	if code != http.StatusOK {
		t.Fatalf("apply without labels: %d %s", code, body)
	}
	d = decodeDeployment(t, body)
	if len(d.Labels) != 0 {
		t.Fatalf("labels the applier dropped remain: %v", d.Labels)
	}

	// A name that does not match the URL, and managedFields in the patch.
	code, body = do(t, ts, "PATCH", "/apis/apps/v1/namespaces/default/deployments/other?fieldManager=test", applyCT, applyDeployment("1"))
	if code != http.StatusBadRequest || !strings.Contains(string(body), "does not match the name on the URL") {
		t.Fatalf("apply with another name: %d %s", code, body)
	}
	code, body = do(t, ts, "PATCH", path+"?fieldManager=test", applyCT, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","managedFields":[{"manager":"x","operation":"Apply"}]}}`)
	if code != http.StatusBadRequest || !strings.Contains(string(body), "metadata.managedFields must be nil") {
		t.Fatalf("apply with managedFields: %d %s", code, body)
	}
	// force belongs to apply only.
	code, body = do(t, ts, "PATCH", path+"?force=true", "application/merge-patch+json", `{}`)
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(body), "may not be specified for non-apply patch") {
		t.Fatalf("merge patch with force: %d %s", code, body)
	}
	// Unknown fields cannot be applied (upstream answers 500).
	code, body = do(t, ts, "PATCH", path+"?fieldManager=test", applyCT, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"bogus":1}}`)
	if code != http.StatusInternalServerError || !strings.Contains(string(body), "field not declared in schema") {
		t.Fatalf("apply with an unknown field: %d %s", code, body)
	}
	// Strict field validation refuses duplicate fields.
	code, body = do(t, ts, "PATCH", path+"?fieldManager=test&fieldValidation=Strict", applyCT, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  name: web\n")
	if code != http.StatusBadRequest || !strings.Contains(string(body), "error strict decoding YAML") {
		t.Fatalf("strict apply with a duplicate field: %d %s", code, body)
	}
	// Dry run changes nothing.
	code, body = do(t, ts, "PATCH", path+"?fieldManager=test&dryRun=All", applyCT, applyDeployment("9"))
	if code != http.StatusOK || !strings.Contains(string(body), `"replicas":9`) {
		t.Fatalf("dry-run apply: %d %s", code, body)
	}
	_, body = do(t, ts, "GET", path, "", nil)
	d = decodeDeployment(t, body)
	if *d.Spec.Replicas != 4 {
		t.Fatalf("dry-run apply was stored: replicas %d", *d.Spec.Replicas)
	}
}

func TestApplyConflictAndForce(t *testing.T) {
	ts, _ := newTestServer(t)
	base := "/apis/apps/v1/namespaces/default/deployments"
	// Created by a client whose manager comes from its User-Agent.
	dep, _ := json.Marshal(deployment("web"))
	code, body := doAs(t, ts, "kubectl-create/v1.33.0 (linux/amd64) kubernetes/abc", "POST", base, "application/json", string(dep))
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	d := decodeDeployment(t, body)
	e := entry(t, d.ObjectMeta, "kubectl-create", "")
	if e.Operation != metav1.ManagedFieldsOperationUpdate || e.Time == nil || !owns(e, `"f:replicas"`, `"f:strategy"`) {
		t.Fatalf("create entry: %+v%s", e, managedString(d.ObjectMeta))
	}

	// Applying another value of a field another manager set conflicts.
	code, body = do(t, ts, "PATCH", base+"/web?fieldManager=other", applyCT, applyDeployment("3"))
	if code != http.StatusConflict {
		t.Fatalf("conflicting apply: %d %s", code, body)
	}
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if st.Reason != metav1.StatusReasonConflict || st.Kind != "Status" || st.Details == nil || len(st.Details.Causes) == 0 {
		t.Fatalf("conflict status: %s", body)
	}
	found := false
	for _, c := range st.Details.Causes {
		if c.Type == metav1.CauseTypeFieldManagerConflict && c.Field == ".spec.replicas" && c.Message == `conflict with "kubectl-create" using apps/v1` {
			found = true
		}
	}
	if !found {
		t.Fatalf("no FieldManagerConflict cause for .spec.replicas: %s", body)
	}
	if !strings.Contains(st.Message, `conflict with "kubectl-create" using apps/v1: .spec.replicas`) {
		t.Fatalf("conflict message: %q", st.Message)
	}
	// Applying the value a field already has co-owns it without conflict.
	code, body = do(t, ts, "PATCH", base+"/web?fieldManager=same", applyCT, applyDeployment("1"))
	if code != http.StatusOK {
		t.Fatalf("apply of the same values: %d %s", code, body)
	}

	// force=true takes the fields over.
	code, body = do(t, ts, "PATCH", base+"/web?fieldManager=other&force=true", applyCT, applyDeployment("3"))
	if code != http.StatusOK {
		t.Fatalf("forced apply: %d %s", code, body)
	}
	d = decodeDeployment(t, body)
	if *d.Spec.Replicas != 3 {
		t.Fatalf("forced apply: replicas %d", *d.Spec.Replicas)
	}
	if !owns(entry(t, d.ObjectMeta, "other", ""), `"f:replicas"`) || owns(entry(t, d.ObjectMeta, "kubectl-create", ""), `"f:replicas"`) {
		t.Fatalf("replicas should have moved to the forcing manager:%s", managedString(d.ObjectMeta))
	}
}

func TestManagedFieldsOfWrites(t *testing.T) {
	ts, _ := newTestServer(t)
	base := "/apis/apps/v1/namespaces/default/deployments"
	dep, _ := json.Marshal(deployment("d"))
	code, body := do(t, ts, "POST", base+"?fieldManager=creator", "application/json", string(dep))
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	d := decodeDeployment(t, body)
	if len(d.ManagedFields) != 1 || entry(t, d.ObjectMeta, "creator", "").Operation != metav1.ManagedFieldsOperationUpdate {
		t.Fatalf("after create:%s", managedString(d.ObjectMeta))
	}

	// An update by another client adds its entry for what it changed; the
	// managedFields it left out are kept.
	d.Spec.Template.Spec.Containers[0].Image = "img:2"
	d.ManagedFields = nil
	upd, _ := json.Marshal(d)
	code, body = doAs(t, ts, "updater/1.0", "PUT", base+"/d", "application/json", string(upd))
	if code != http.StatusOK {
		t.Fatalf("update: %d %s", code, body)
	}
	d = decodeDeployment(t, body)
	if e := entry(t, d.ObjectMeta, "updater", ""); !owns(e, `"f:image"`) || owns(e, `"f:replicas"`) {
		t.Fatalf("update entry: %s", e.FieldsV1.Raw)
	}
	if owns(entry(t, d.ObjectMeta, "creator", ""), `"f:image"`) {
		t.Fatalf("image should have left the creator:%s", managedString(d.ObjectMeta))
	}

	// Status and scale writes are recorded with their subresource.
	code, body = do(t, ts, "PATCH", base+"/d/status?fieldManager=ctrl", "application/merge-patch+json", `{"status":{"replicas":1},"metadata":{"managedFields":[]}}`)
	if code != http.StatusOK {
		t.Fatalf("status patch: %d %s", code, body)
	}
	d = decodeDeployment(t, body)
	if e := entry(t, d.ObjectMeta, "ctrl", "status"); e.Operation != metav1.ManagedFieldsOperationUpdate || !owns(e, `"f:status"`, `"f:replicas"`) || owns(e, `"f:spec"`) {
		t.Fatalf("status entry: %+v", e)
	}
	if len(d.ManagedFields) != 3 {
		t.Fatalf("a status write must not reset managedFields:%s", managedString(d.ObjectMeta))
	}
	code, body = do(t, ts, "PATCH", base+"/d/scale?fieldManager=scaler", "application/merge-patch+json", `{"spec":{"replicas":5}}`)
	if code != http.StatusOK {
		t.Fatalf("scale patch: %d %s", code, body)
	}
	_, body = do(t, ts, "GET", base+"/d", "", nil)
	d = decodeDeployment(t, body)
	if e := entry(t, d.ObjectMeta, "scaler", "scale"); e.APIVersion != "apps/v1" || !owns(e, `"f:replicas"`) {
		t.Fatalf("scale entry: %+v", e)
	}
	if owns(entry(t, d.ObjectMeta, "creator", ""), `"f:replicas"`) {
		t.Fatalf("replicas should have moved to the scaler:%s", managedString(d.ObjectMeta))
	}

	// Apply through the scale subresource conflicts with the scaler.
	scale := `{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"d"},"spec":{"replicas":7}}`
	code, body = do(t, ts, "PATCH", base+"/d/scale?fieldManager=hpa", applyCT, scale)
	if code != http.StatusConflict || !strings.Contains(string(body), `conflict with \"scaler\" with subresource \"scale\"`) {
		t.Fatalf("scale apply: %d %s", code, body)
	}
	code, body = do(t, ts, "PATCH", base+"/d/scale?fieldManager=hpa&force=true", applyCT, scale)
	if code != http.StatusOK || !strings.Contains(string(body), `"replicas":7`) {
		t.Fatalf("forced scale apply: %d %s", code, body)
	}
	_, body = do(t, ts, "GET", base+"/d", "", nil)
	d = decodeDeployment(t, body)
	if e := entry(t, d.ObjectMeta, "hpa", "scale"); e.Operation != metav1.ManagedFieldsOperationApply || !owns(e, `"f:replicas"`) || *d.Spec.Replicas != 7 {
		t.Fatalf("scale apply entry: %+v replicas %d", e, *d.Spec.Replicas)
	}

	// An empty list resets managedFields; the object is then untracked
	// until the next apply, as upstream.
	code, body = do(t, ts, "PATCH", base+"/d", "application/merge-patch+json", `{"metadata":{"managedFields":[]}}`)
	if code != http.StatusOK {
		t.Fatalf("reset: %d %s", code, body)
	}
	d = decodeDeployment(t, body)
	if len(d.ManagedFields) != 0 {
		t.Fatalf("managedFields not reset:%s", managedString(d.ObjectMeta))
	}
	// managedFields that do not decode are replaced by the live ones.
	code, body = do(t, ts, "PATCH", base+"/d", "application/merge-patch+json", `{"metadata":{"labels":{"x":"y"},"managedFields":[{"manager":"m","operation":"Bogus","apiVersion":"apps/v1","fieldsType":"FieldsV1","fieldsV1":{}}]}}`)
	if code != http.StatusOK || len(decodeDeployment(t, body).ManagedFields) != 0 {
		t.Fatalf("undecodable managedFields: %d %s", code, body)
	}
	// Sent managedFields that decode replace the live ones.
	code, body = do(t, ts, "PATCH", base+"/d?fieldManager=writer", "application/merge-patch+json", `{"metadata":{"labels":{"x":"z"},"managedFields":[{"manager":"m","operation":"Update","apiVersion":"apps/v1","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{"f:x":{}}}}}]}}`)
	if code != http.StatusOK {
		t.Fatalf("managedFields write: %d %s", code, body)
	}
	d = decodeDeployment(t, body)
	// m's only field went to writer, and an empty entry is dropped.
	if !owns(entry(t, d.ObjectMeta, "writer", ""), `"f:x"`) || len(d.ManagedFields) != 1 {
		t.Fatalf("after writing managedFields:%s", managedString(d.ObjectMeta))
	}

	// Other kinds: a ConfigMap created without a manager is recorded
	// under its User-Agent.
	code, body = doAs(t, ts, "kubectl/v1.33.0 (linux/amd64)", "POST", "/api/v1/namespaces/default/configmaps", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1"}}`)
	if code != http.StatusCreated {
		t.Fatalf("configmap: %d %s", code, body)
	}
	var cm corev1.ConfigMap
	_ = json.Unmarshal(body, &cm)
	if !owns(entry(t, cm.ObjectMeta, "kubectl", ""), `"f:data"`, `"f:a"`) {
		t.Fatalf("configmap entry:%s", managedString(cm.ObjectMeta))
	}
	// A field manager over 128 characters is refused.
	code, body = do(t, ts, "POST", "/api/v1/namespaces/default/configmaps?fieldManager="+strings.Repeat("m", 129), "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c2"}}`)
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(body), "CreateOptions") {
		t.Fatalf("long fieldManager: %d %s", code, body)
	}
}

// Apply to a Service allocates its cluster IP through the create path, and
// re-applying keeps it, owned by nobody.
func TestApplyService(t *testing.T) {
	ts, _ := newTestServer(t)
	path := "/api/v1/namespaces/default/services/s?fieldManager=test"
	svc := "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  selector:\n    app: s\n  ports:\n  - port: 80\n"
	code, body := do(t, ts, "PATCH", path, applyCT, svc)
	if code != http.StatusCreated {
		t.Fatalf("apply create service: %d %s", code, body)
	}
	var s1 corev1.Service
	_ = json.Unmarshal(body, &s1)
	if s1.Spec.ClusterIP == "" || owns(entry(t, s1.ObjectMeta, "test", ""), `"f:clusterIP"`) {
		t.Fatalf("service: clusterIP %q%s", s1.Spec.ClusterIP, managedString(s1.ObjectMeta))
	}
	code, body = do(t, ts, "PATCH", path, applyCT, strings.Replace(svc, "port: 80", "port: 81", 1))
	if code != http.StatusOK {
		t.Fatalf("re-apply service: %d %s", code, body)
	}
	var s2 corev1.Service
	_ = json.Unmarshal(body, &s2)
	if s2.Spec.ClusterIP != s1.Spec.ClusterIP || s2.Spec.Ports[0].Port != 81 {
		t.Fatalf("re-apply: clusterIP %q (was %q) port %d", s2.Spec.ClusterIP, s1.Spec.ClusterIP, s2.Spec.Ports[0].Port)
	}
	// Apply into a missing namespace is refused like a create.
	code, body = do(t, ts, "PATCH", "/api/v1/namespaces/nope/services/s?fieldManager=test", applyCT, svc)
	if code != http.StatusNotFound || !strings.Contains(string(body), `namespaces \"nope\" not found`) {
		t.Fatalf("apply into a missing namespace: %d %s", code, body)
	}
}

// Managers of one object through different served versions (HPA v2 and v1
// over one storage) keep their entries: the field manager converts between
// them through the stored form.
func TestManagedFieldsAcrossVersions(t *testing.T) {
	ts, _ := newTestServer(t)
	hpa := `{"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"h"},"spec":{"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"d"},"minReplicas":1,"maxReplicas":3}}`
	code, body := do(t, ts, "POST", "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers?fieldManager=v2writer", "application/json", hpa)
	if code != http.StatusCreated {
		t.Fatalf("create v2: %d %s", code, body)
	}
	code, body = do(t, ts, "PATCH", "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/h?fieldManager=v1writer", "application/merge-patch+json", `{"spec":{"maxReplicas":5}}`)
	if code != http.StatusOK {
		t.Fatalf("patch v1: %d %s", code, body)
	}
	var m struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	_ = json.Unmarshal(body, &m)
	w1, w2 := entry(t, m.Metadata, "v1writer", ""), entry(t, m.Metadata, "v2writer", "")
	if w1.APIVersion != "autoscaling/v1" || !owns(w1, `"f:maxReplicas"`) || w2.APIVersion != "autoscaling/v2" || owns(w2, `"f:maxReplicas"`) || !owns(w2, `"f:minReplicas"`) {
		t.Fatalf("entries across versions:%s", managedString(m.Metadata))
	}
	// An apply through v1 conflicts with the v2 manager's field.
	code, body = do(t, ts, "PATCH", "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/h?fieldManager=applier", applyCT,
		`{"apiVersion":"autoscaling/v1","kind":"HorizontalPodAutoscaler","metadata":{"name":"h"},"spec":{"minReplicas":2}}`)
	if code != http.StatusConflict || !strings.Contains(string(body), `conflict with \"v2writer\" using autoscaling/v2: .spec.minReplicas`) {
		t.Fatalf("apply across versions: %d %s", code, body)
	}
}
