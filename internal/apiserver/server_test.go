package apiserver

import (
	"bytes"
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

	"skiff/internal/registry"
	"skiff/internal/registry/defaults"
	"skiff/internal/registry/validation"
	"skiff/internal/storage"
)

const testToken = "test-admin-token"

// newTestServer serves the API on an in-memory store over plain HTTP.
func newTestServer(t *testing.T) (*httptest.Server, *storage.Memory) {
	ts, store, _ := newTestServerWith(t, func(*Config) {})
	return ts, store
}

func newTestServerWith(t *testing.T, opt func(*Config)) (*httptest.Server, *storage.Memory, *Server) {
	t.Helper()
	store := storage.NewMemory(storage.NewCodec(registry.Scheme))
	cfg := Config{
		Store:  store,
		Tokens: map[string]User{testToken: {Name: "admin", Groups: []string{"system:masters"}}},
		Hooks: Hooks{
			Default: defaults.Default, ValidateCreate: validation.ValidateCreate,
			ValidateUpdate: validation.ValidateUpdate, ValidateStatusUpdate: validation.ValidateStatusUpdate,
		},
		Port: 6443,
	}
	opt(&cfg)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.bootstrapOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(s.ready)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts, store, s
}

func do(t *testing.T, ts *httptest.Server, method, path, contentType string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, ts.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
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

func deployment(name string) *appsv1.Deployment {
	replicas := int32(1)
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}},
			},
		},
	}
}

func TestGenerationStatusAndConflict(t *testing.T) {
	ts, _ := newTestServer(t)
	base := "/apis/apps/v1/namespaces/default/deployments"
	code, body := do(t, ts, "POST", base, "application/json", deployment("d"))
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	var d appsv1.Deployment
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	if d.Generation != 1 || d.UID == "" || d.ResourceVersion == "" || d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		t.Fatalf("create did not set system fields and defaults: %+v", d.ObjectMeta)
	}

	// A metadata-only change keeps the generation; a spec change bumps it.
	code, body = do(t, ts, "PATCH", base+"/d", "application/merge-patch+json", `{"metadata":{"labels":{"x":"y"}}}`)
	if code != http.StatusOK {
		t.Fatalf("patch: %d %s", code, body)
	}
	_ = json.Unmarshal(body, &d)
	if d.Generation != 1 {
		t.Fatalf("label change bumped generation to %d", d.Generation)
	}
	code, body = do(t, ts, "PATCH", base+"/d", "application/merge-patch+json", `{"spec":{"replicas":3},"status":{"replicas":7}}`)
	if code != http.StatusOK {
		t.Fatalf("patch: %d %s", code, body)
	}
	_ = json.Unmarshal(body, &d)
	if d.Generation != 2 || *d.Spec.Replicas != 3 || d.Status.Replicas != 0 {
		t.Fatalf("spec patch: generation %d replicas %d status.replicas %d (status must not change through the main resource)", d.Generation, *d.Spec.Replicas, d.Status.Replicas)
	}

	// The status subresource changes status only.
	code, body = do(t, ts, "PATCH", base+"/d/status", "application/merge-patch+json", `{"spec":{"replicas":9},"status":{"replicas":7}}`)
	if code != http.StatusOK {
		t.Fatalf("status patch: %d %s", code, body)
	}
	_ = json.Unmarshal(body, &d)
	if *d.Spec.Replicas != 3 || d.Status.Replicas != 7 || d.Generation != 2 {
		t.Fatalf("status patch changed spec or missed status: replicas %d status %d gen %d", *d.Spec.Replicas, d.Status.Replicas, d.Generation)
	}

	// A stale resourceVersion gets 409.
	stale := deployment("d")
	stale.ResourceVersion = "2"
	code, body = do(t, ts, "PUT", base+"/d", "application/json", stale)
	if code != http.StatusConflict {
		t.Fatalf("stale update: %d %s", code, body)
	}
	// The scale subresource reads and writes spec.replicas.
	code, body = do(t, ts, "PATCH", base+"/d/scale", "application/merge-patch+json", `{"spec":{"replicas":5}}`)
	if code != http.StatusOK || !strings.Contains(string(body), `"replicas":5`) {
		t.Fatalf("scale patch: %d %s", code, body)
	}
}

func TestWatchFromResourceVersionAndCompaction(t *testing.T) {
	ts, store := newTestServer(t)
	base := "/api/v1/namespaces/default/configmaps"
	code, body := do(t, ts, "POST", base, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	var cm corev1.ConfigMap
	_ = json.Unmarshal(body, &cm)
	for _, n := range []string{"b", "c"} {
		do(t, ts, "POST", base, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"`+n+`"}}`)
	}
	code, body = do(t, ts, "GET", base+"?watch=1&timeoutSeconds=1&resourceVersion="+cm.ResourceVersion, "", nil)
	if code != http.StatusOK {
		t.Fatalf("watch: %d %s", code, body)
	}
	events := strings.Split(strings.TrimSpace(string(body)), "\n")
	if len(events) != 2 || !strings.Contains(events[0], `"name":"b"`) || !strings.Contains(events[1], `"name":"c"`) {
		t.Fatalf("watch from %s returned %q", cm.ResourceVersion, events)
	}
	rev, _ := store.Revision(context.Background())
	store.Compact(rev)
	code, body = do(t, ts, "GET", base+"?watch=1&timeoutSeconds=1&resourceVersion="+cm.ResourceVersion, "", nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"type":"ERROR"`) || !strings.Contains(string(body), `"code":410`) {
		t.Fatalf("watch from a compacted version: %d %s", code, body)
	}
}

func TestListChunking(t *testing.T) {
	ts, _ := newTestServer(t)
	base := "/api/v1/namespaces/default/configmaps"
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		do(t, ts, "POST", base, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"`+n+`","labels":{"l":"`+n+`"}}}`)
	}
	var names []string
	path := base + "?limit=2"
	for pages := 0; pages < 10; pages++ {
		code, body := do(t, ts, "GET", path, "", nil)
		if code != http.StatusOK {
			t.Fatalf("list: %d %s", code, body)
		}
		var list corev1.ConfigMapList
		_ = json.Unmarshal(body, &list)
		for _, it := range list.Items {
			names = append(names, it.Name)
		}
		if list.Continue == "" {
			break
		}
		path = base + "?limit=2&continue=" + list.Continue
	}
	if strings.Join(names, ",") != "a,b,c,d,e" {
		t.Fatalf("chunked list returned %v", names)
	}
	code, body := do(t, ts, "GET", base+"?labelSelector=l+in+(a,e)", "", nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"name":"a"`) || strings.Contains(string(body), `"name":"b"`) {
		t.Fatalf("label selector: %d %s", code, body)
	}
}

func TestOverloadAnswers429(t *testing.T) {
	ts, _, s := newTestServerWith(t, func(c *Config) { c.MaxReadOnlyInflight, c.MaxMutatingInflight = 1, 1 })
	s.readOnly <- struct{}{} // one read in flight: the limit
	req, _ := http.NewRequest("GET", ts.URL+"/api/v1/namespaces", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("over the limit: %d Retry-After=%q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Writes have their own limit, and watches are not limited.
	if code, body := do(t, ts, "POST", "/api/v1/namespaces/default/configmaps", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"w"}}`); code != http.StatusCreated {
		t.Fatalf("write while reads are saturated: %d %s", code, body)
	}
	if code, _ := do(t, ts, "GET", "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1", "", nil); code != http.StatusOK {
		t.Fatalf("watch while reads are saturated: %d", code)
	}
	<-s.readOnly
	if code, _ := do(t, ts, "GET", "/api/v1/namespaces", "", nil); code != http.StatusOK {
		t.Fatalf("after the load went away: %d", code)
	}
}

func TestGracefulPodDeletion(t *testing.T) {
	ts, _ := newTestServer(t)
	base := "/api/v1/namespaces/default/pods"
	pod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"%s"},"spec":{"nodeName":"%s","containers":[{"name":"c","image":"img"}]}}`
	for _, p := range [][2]string{{"bound", "node-1"}, {"unbound", ""}} {
		if code, body := do(t, ts, "POST", base, "application/json", strings.Replace(strings.Replace(pod, "%s", p[0], 1), "%s", p[1], 1)); code != http.StatusCreated {
			t.Fatalf("create %s: %d %s", p[0], code, body)
		}
	}
	// An unscheduled pod goes at once.
	if code, _ := do(t, ts, "DELETE", base+"/unbound", "", nil); code != http.StatusOK {
		t.Fatalf("delete unbound: %d", code)
	}
	if code, _ := do(t, ts, "GET", base+"/unbound", "", nil); code != http.StatusNotFound {
		t.Fatalf("unbound pod still there: %d", code)
	}
	// A pod on a node stays, marked, until deleted with a grace period of 0.
	code, body := do(t, ts, "DELETE", base+"/bound", "", nil)
	if code != http.StatusOK {
		t.Fatalf("graceful delete: %d %s", code, body)
	}
	var p corev1.Pod
	_ = json.Unmarshal(body, &p)
	if p.DeletionTimestamp == nil || p.DeletionGracePeriodSeconds == nil || *p.DeletionGracePeriodSeconds != 30 {
		t.Fatalf("graceful delete did not mark the pod: %+v", p.ObjectMeta)
	}
	if code, _ := do(t, ts, "GET", base+"/bound", "", nil); code != http.StatusOK {
		t.Fatalf("pod removed before its grace period: %d", code)
	}
	code, body = do(t, ts, "DELETE", base+"/bound", "application/json", `{"gracePeriodSeconds":5}`)
	_ = json.Unmarshal(body, &p)
	if code != http.StatusOK || *p.DeletionGracePeriodSeconds != 5 {
		t.Fatalf("shorter grace period: %d %+v", code, p.ObjectMeta)
	}
	if code, _ := do(t, ts, "DELETE", base+"/bound?gracePeriodSeconds=0", "", nil); code != http.StatusOK {
		t.Fatalf("final delete: %d", code)
	}
	if code, _ := do(t, ts, "GET", base+"/bound", "", nil); code != http.StatusNotFound {
		t.Fatalf("pod still there after a delete with grace 0: %d", code)
	}
}

func TestCascadeFinalizers(t *testing.T) {
	ts, _ := newTestServer(t)
	base := "/api/v1/namespaces/default/configmaps"
	for _, c := range []struct{ name, policy, finalizer string }{
		{"fg", "Foreground", "foregroundDeletion"},
		{"orphan", "Orphan", "orphan"},
	} {
		do(t, ts, "POST", base, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"`+c.name+`"}}`)
		code, body := do(t, ts, "DELETE", base+"/"+c.name, "application/json", `{"propagationPolicy":"`+c.policy+`"}`)
		var cm corev1.ConfigMap
		_ = json.Unmarshal(body, &cm)
		if code != http.StatusOK || cm.DeletionTimestamp == nil || len(cm.Finalizers) != 1 || cm.Finalizers[0] != c.finalizer {
			t.Fatalf("%s delete: %d %+v", c.policy, code, cm.ObjectMeta)
		}
		// Removing the finalizer (the garbage collector's job) lets it go.
		if code, body := do(t, ts, "PATCH", base+"/"+c.name, "application/merge-patch+json", `{"metadata":{"finalizers":null}}`); code != http.StatusOK {
			t.Fatalf("removing the finalizer: %d %s", code, body)
		}
		if code, _ := do(t, ts, "GET", base+"/"+c.name, "", nil); code != http.StatusNotFound {
			t.Fatalf("%s: object still there after its last finalizer went: %d", c.name, code)
		}
	}
	// Background (the default) removes the object at once.
	do(t, ts, "POST", base, "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"bg"}}`)
	if code, _ := do(t, ts, "DELETE", base+"/bg", "application/json", `{"propagationPolicy":"Background"}`); code != http.StatusOK {
		t.Fatalf("background delete: %d", code)
	}
	if code, _ := do(t, ts, "GET", base+"/bg", "", nil); code != http.StatusNotFound {
		t.Fatalf("background delete left the object: %d", code)
	}
}
