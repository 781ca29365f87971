package apiserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff/internal/apiserver/admission"
)

// seen is what a recording plugin saw of one admission call.
type seen struct {
	phase       string // "admit" or "validate"
	op          admission.Operation
	resource    string
	subresource string
	namespace   string
	name        string
	object      runtime.Object
	oldObject   runtime.Object
	options     runtime.Object
	dryRun      bool
}

// recorder is a mutating and validating plugin that records every call and
// refuses, in the validating phase, deletes, connects and subresource
// creates of objects labelled deny=true or names starting with "deny".
type recorder struct {
	mu    sync.Mutex
	calls []seen
}

func (r *recorder) Name() string { return "Recorder" }

func (r *recorder) record(phase string, a *admission.Attributes) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, seen{phase, a.Operation, a.Resource.Resource, a.Subresource, a.Namespace, a.Name, a.Object, a.OldObject, a.Options, a.DryRun})
}

func (r *recorder) Admit(_ context.Context, a *admission.Attributes) error {
	r.record("admit", a)
	return nil
}

func (r *recorder) Validate(_ context.Context, a *admission.Attributes) error {
	r.record("validate", a)
	if a.Operation == admission.Create && a.Subresource == "" || a.Operation == admission.Update {
		return nil
	}
	if strings.HasPrefix(a.Name, "deny") {
		return errors.New("denied by name")
	}
	for _, o := range []runtime.Object{a.Object, a.OldObject} {
		if m, err := meta.Accessor(o); o != nil && err == nil && m.GetLabels()["deny"] == "true" {
			return errors.New("denied by label")
		}
	}
	return nil
}

// take returns the calls for op since the last take.
func (r *recorder) take(op admission.Operation) []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []seen
	for _, c := range r.calls {
		if c.op == op {
			out = append(out, c)
		}
	}
	r.calls = nil
	return out
}

func newRecordingServer(t *testing.T) (*recorder, func(method, path string, body any) (int, string)) {
	t.Helper()
	rec := &recorder{}
	ts, _, _ := newTestServerWith(t, func(c *Config) { c.Hooks.Admission = admission.NewChain(rec) })
	return rec, func(method, path string, body any) (int, string) {
		t.Helper()
		ct := ""
		if body != nil {
			ct = "application/json"
		}
		code, data := do(t, ts, method, path, ct, body)
		return code, string(data)
	}
}

func configMap(name string, labels map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

// checkPhases checks that calls are one mutating then one validating call.
func checkPhases(t *testing.T, what string, calls []seen) {
	t.Helper()
	if len(calls) != 2 || calls[0].phase != "admit" || calls[1].phase != "validate" {
		t.Fatalf("%s: want an admit then a validate call, got %+v", what, calls)
	}
}

func TestAdmissionDelete(t *testing.T) {
	rec, req := newRecordingServer(t)
	const cms = "/api/v1/namespaces/default/configmaps"
	for _, cm := range []*corev1.ConfigMap{configMap("keep", map[string]string{"deny": "true"}), configMap("go", nil), configMap("dry", nil)} {
		if code, body := req("POST", cms, cm); code != http.StatusCreated {
			t.Fatalf("create %s: %d %s", cm.Name, code, body)
		}
	}
	rec.take(admission.Create)

	// A refused delete answers the plugin's refusal and deletes nothing.
	code, body := req("DELETE", cms+"/keep", nil)
	if code != http.StatusForbidden || !strings.Contains(body, `configmaps \"keep\" is forbidden: denied by label`) {
		t.Fatalf("denied delete: %d %s", code, body)
	}
	if code, _ := req("GET", cms+"/keep", nil); code != http.StatusOK {
		t.Fatalf("denied delete removed the object: %d", code)
	}
	calls := rec.take(admission.Delete)
	checkPhases(t, "denied delete", calls)

	code, body = req("DELETE", cms+"/go", &metav1.DeleteOptions{PropagationPolicy: pointerTo(metav1.DeletePropagationBackground)})
	if code != http.StatusOK {
		t.Fatalf("allowed delete: %d %s", code, body)
	}
	calls = rec.take(admission.Delete)
	checkPhases(t, "delete", calls)
	c := calls[1]
	if c.resource != "configmaps" || c.namespace != "default" || c.name != "go" || c.object != nil || c.dryRun {
		t.Errorf("delete attributes: %+v", c)
	}
	old, ok := c.oldObject.(*corev1.ConfigMap)
	if !ok || old.Name != "go" || old.Kind != "ConfigMap" || old.APIVersion != "v1" {
		t.Errorf("oldObject: %#v", c.oldObject)
	}
	opts, ok := c.options.(*metav1.DeleteOptions)
	if !ok || opts.Kind != "DeleteOptions" || opts.APIVersion != "meta.k8s.io/v1" || opts.PropagationPolicy == nil || *opts.PropagationPolicy != metav1.DeletePropagationBackground {
		t.Errorf("options: %#v", c.options)
	}

	// A dry run is admitted as one and keeps the object.
	if code, body := req("DELETE", cms+"/dry?dryRun=All", nil); code != http.StatusOK {
		t.Fatalf("dry-run delete: %d %s", code, body)
	}
	if calls := rec.take(admission.Delete); len(calls) != 2 || !calls[1].dryRun {
		t.Errorf("dry-run delete attributes: %+v", calls)
	}
	if code, _ := req("GET", cms+"/dry", nil); code != http.StatusOK {
		t.Fatalf("dry-run delete removed the object: %d", code)
	}

	// An immortal namespace is refused by NamespaceLifecycle.
	code, body = req("DELETE", "/api/v1/namespaces/default", nil)
	if code != http.StatusForbidden || !strings.Contains(body, `namespaces \"default\" is forbidden: this namespace may not be deleted`) {
		t.Errorf("deleting namespace default: %d %s", code, body)
	}
}

func TestAdmissionDeleteCollection(t *testing.T) {
	rec, req := newRecordingServer(t)
	const cms = "/api/v1/namespaces/default/configmaps"
	for _, cm := range []*corev1.ConfigMap{configMap("a", map[string]string{"set": "x"}), configMap("b", map[string]string{"set": "x", "deny": "true"}), configMap("c", map[string]string{"set": "y"})} {
		if code, body := req("POST", cms, cm); code != http.StatusCreated {
			t.Fatalf("create %s: %d %s", cm.Name, code, body)
		}
	}
	rec.take(admission.Create)
	code, body := req("DELETE", cms+"?labelSelector=set%3Dx", nil)
	if code != http.StatusForbidden || !strings.Contains(body, "denied by label") {
		t.Fatalf("deletecollection with a denied object: %d %s", code, body)
	}
	calls := rec.take(admission.Delete)
	if len(calls) != 4 {
		t.Fatalf("want each of the two objects admitted in both phases, got %+v", calls)
	}
	for _, c := range calls {
		if c.name != "" || c.oldObject == nil || c.options == nil {
			t.Errorf("deletecollection attributes: %+v", c)
		}
	}
	for name, want := range map[string]int{"a": http.StatusNotFound, "b": http.StatusOK, "c": http.StatusOK} {
		if code, _ := req("GET", cms+"/"+name, nil); code != want {
			t.Errorf("configmap %s after deletecollection: %d, want %d", name, code, want)
		}
	}
}

func TestAdmissionEviction(t *testing.T) {
	rec, req := newRecordingServer(t)
	const pods = "/api/v1/namespaces/default/pods"
	for _, name := range []string{"deny-me", "evict-me"} {
		pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}}}
		if code, body := req("POST", pods, pod); code != http.StatusCreated {
			t.Fatalf("create %s: %d %s", name, code, body)
		}
	}
	rec.take(admission.Create)

	code, body := req("POST", pods+"/deny-me/eviction", evictBody("deny-me", "v1beta1"))
	if code != http.StatusForbidden || !strings.Contains(body, "denied by name") {
		t.Fatalf("denied eviction: %d %s", code, body)
	}
	if code, _ := req("GET", pods+"/deny-me", nil); code != http.StatusOK {
		t.Fatalf("denied eviction deleted the pod: %d", code)
	}
	calls := rec.take(admission.Create)
	checkPhases(t, "eviction", calls)
	c := calls[1]
	ev, ok := c.object.(*policyv1.Eviction)
	if c.resource != "pods" || c.subresource != "eviction" || c.name != "deny-me" || !ok || ev.Name != "deny-me" ||
		ev.APIVersion != "policy/v1" || ev.Kind != "Eviction" || c.oldObject != nil {
		t.Errorf("eviction attributes: %+v (object %#v)", c, c.object)
	}
	if o, ok := c.options.(*metav1.CreateOptions); !ok || o.Kind != "CreateOptions" {
		t.Errorf("eviction options: %#v", c.options)
	}

	if code, body := req("POST", pods+"/evict-me/eviction", evictBody("evict-me", "v1")); code != http.StatusCreated {
		t.Fatalf("eviction: %d %s", code, body)
	}
	// The eviction's own delete is not admitted as a DELETE, as upstream.
	if calls := rec.take(admission.Delete); len(calls) != 0 {
		t.Errorf("an eviction ran delete admission: %+v", calls)
	}
}

func TestAdmissionConnect(t *testing.T) {
	rec, req := newRecordingServer(t)
	cases := []struct {
		method, path, resource, sub, name string
		want                              runtime.Object
	}{
		{"POST", "/api/v1/namespaces/default/pods/deny-a/exec?command=ls&command=-l&stdout=true&stderr=1&tty=false&container=c", "pods", "exec", "deny-a",
			&corev1.PodExecOptions{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodExecOptions"}, Stdout: true, Stderr: true, Container: "c", Command: []string{"ls", "-l"}}},
		{"GET", "/api/v1/namespaces/default/pods/deny-a/attach?stdin=true&stdout=true", "pods", "attach", "deny-a",
			&corev1.PodAttachOptions{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodAttachOptions"}, Stdin: true, Stdout: true}},
		{"POST", "/api/v1/namespaces/default/pods/deny-a/portforward?ports=80&ports=8080", "pods", "portforward", "deny-a",
			&corev1.PodPortForwardOptions{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodPortForwardOptions"}, Ports: []int32{80, 8080}}},
		{"GET", "/api/v1/namespaces/default/pods/deny-a:8080/proxy/x/y/", "pods", "proxy", "deny-a:8080",
			&corev1.PodProxyOptions{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodProxyOptions"}, Path: "/x/y/"}},
		{"PUT", "/api/v1/namespaces/default/services/deny-s:http/proxy", "services", "proxy", "deny-s:http",
			&corev1.ServiceProxyOptions{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceProxyOptions"}}},
		{"GET", "/api/v1/nodes/deny-n/proxy/metrics", "nodes", "proxy", "deny-n",
			&corev1.NodeProxyOptions{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "NodeProxyOptions"}, Path: "/metrics"}},
		{"GET", "/api/v1/nodes/deny-n/proxy", "nodes", "proxy", "deny-n",
			&corev1.NodeProxyOptions{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "NodeProxyOptions"}}},
	}
	for _, tc := range cases {
		// Nothing of that name exists: admission comes first, as upstream.
		code, body := req(tc.method, tc.path, nil)
		if code != http.StatusForbidden || !strings.Contains(body, "denied by name") {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, code, body)
			continue
		}
		calls := rec.take(admission.Connect)
		checkPhases(t, tc.path, calls)
		c := calls[1]
		if c.resource != tc.resource || c.subresource != tc.sub || c.name != tc.name || c.options != nil || c.oldObject != nil || c.dryRun {
			t.Errorf("%s: attributes %+v", tc.path, c)
		}
		if !equalObjects(c.object, tc.want) {
			t.Errorf("%s: object %#v, want %#v", tc.path, c.object, tc.want)
		}
	}
	// An admitted connect goes on to find its target.
	if code, body := req("GET", "/api/v1/namespaces/default/pods/missing/exec?command=ls", nil); code != http.StatusNotFound {
		t.Errorf("admitted exec of a missing pod: %d %s", code, body)
	}
	if calls := rec.take(admission.Connect); len(calls) != 2 {
		t.Errorf("admitted exec: %+v", calls)
	}
}

func TestAdmissionCreateUpdateOptions(t *testing.T) {
	rec, req := newRecordingServer(t)
	const cms = "/api/v1/namespaces/default/configmaps"
	if code, body := req("POST", cms+"?fieldManager=me", configMap("o", nil)); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	calls := rec.take(admission.Create)
	if o, ok := calls[len(calls)-1].options.(*metav1.CreateOptions); !ok || o.FieldManager != "me" || o.APIVersion != "meta.k8s.io/v1" || o.Kind != "CreateOptions" {
		t.Errorf("create options: %#v", calls[len(calls)-1].options)
	}
	if code, body := req("PUT", cms+"/o?dryRun=All", configMap("o", map[string]string{"x": "y"})); code != http.StatusOK {
		t.Fatalf("update: %d %s", code, body)
	}
	calls = rec.take(admission.Update)
	if o, ok := calls[len(calls)-1].options.(*metav1.UpdateOptions); !ok || len(o.DryRun) != 1 || o.Kind != "UpdateOptions" || !calls[len(calls)-1].dryRun {
		t.Errorf("update options: %#v", calls[len(calls)-1].options)
	}
}

func TestGracefulPending(t *testing.T) {
	now := metav1.Now()
	terminating := func(grace int64) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now, DeletionGracePeriodSeconds: &grace}}
	}
	for _, tc := range []struct {
		name string
		obj  runtime.Object
		opts *metav1.DeleteOptions
		want bool
	}{
		{"running pod", &corev1.Pod{}, &metav1.DeleteOptions{}, false},
		{"terminating, no period asked", terminating(30), &metav1.DeleteOptions{}, true},
		{"terminating, longer period", terminating(30), &metav1.DeleteOptions{GracePeriodSeconds: pointerTo(int64(60))}, true},
		{"terminating, shorter period", terminating(30), &metav1.DeleteOptions{GracePeriodSeconds: pointerTo(int64(0))}, false},
		{"period already 0", terminating(0), &metav1.DeleteOptions{}, false},
		{"not a pod", configMap("x", nil), &metav1.DeleteOptions{}, false},
	} {
		if got := gracefulPending(tc.obj, tc.opts); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestProxySubpath(t *testing.T) {
	for _, tc := range []struct {
		segs []string
		path string
		want string
	}{
		{nil, "/api/v1/nodes/n/proxy", ""},
		{nil, "/api/v1/nodes/n/proxy/", "/"},
		{[]string{""}, "/api/v1/nodes/n/proxy/", "/"},
		{[]string{"a", "b"}, "/x/proxy/a/b", "/a/b"},
		{[]string{"a", ""}, "/x/proxy/a/", "/a/"},
	} {
		if got := proxySubpath(tc.segs, tc.path); got != tc.want {
			t.Errorf("proxySubpath(%q, %q) = %q, want %q", tc.segs, tc.path, got, tc.want)
		}
	}
}

func equalObjects(a, b runtime.Object) bool {
	return a != nil && b != nil && reflect.DeepEqual(a, b)
}

func pointerTo[T any](v T) *T { return &v }

// TestAdmissionBindingAndToken: pods/binding and serviceaccounts/token
// creates are admitted (operation CREATE on the subresource, the posted
// Binding or TokenRequest as the object) before they take effect.
func TestAdmissionBindingAndToken(t *testing.T) {
	rec := &recorder{}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ts, _, _ := newTestServerWith(t, func(c *Config) {
		c.Hooks.Admission = admission.NewChain(rec)
		c.ServiceAccountKey = key
	})
	req := func(method, path string, body any) (int, string) {
		t.Helper()
		code, data := do(t, ts, method, path, "application/json", body)
		return code, string(data)
	}
	const pods = "/api/v1/namespaces/default/pods"
	for _, name := range []string{"deny-bind", "bind-me"} {
		pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}}}
		if code, body := req("POST", pods, pod); code != http.StatusCreated {
			t.Fatalf("create %s: %d %s", name, code, body)
		}
	}
	rec.take(admission.Create)
	binding := func(name string) *corev1.Binding {
		return &corev1.Binding{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Binding"}, ObjectMeta: metav1.ObjectMeta{Name: name},
			Target: corev1.ObjectReference{Kind: "Node", Name: "n1"}}
	}
	if code, body := req("POST", pods+"/deny-bind/binding", binding("deny-bind")); code != http.StatusForbidden || !strings.Contains(body, "denied by name") {
		t.Fatalf("denied binding: %d %s", code, body)
	}
	if _, body := req("GET", pods+"/deny-bind", nil); strings.Contains(body, `"nodeName":"n1"`) {
		t.Fatalf("a denied binding bound the pod: %s", body)
	}
	calls := rec.take(admission.Create)
	checkPhases(t, "binding", calls)
	if c := calls[1]; c.resource != "pods" || c.subresource != "binding" || c.name != "deny-bind" {
		t.Errorf("binding attributes: %+v", c)
	} else if b, ok := c.object.(*corev1.Binding); !ok || b.Kind != "Binding" || b.Target.Name != "n1" {
		t.Errorf("binding object: %#v", c.object)
	}
	if code, body := req("POST", pods+"/bind-me/binding", binding("bind-me")); code != http.StatusCreated {
		t.Fatalf("binding: %d %s", code, body)
	}

	const sas = "/api/v1/namespaces/default/serviceaccounts"
	tr := map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": map[string]any{}}
	for _, name := range []string{"deny-token", "token-me"} {
		if code, body := req("POST", sas, map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": name}}); code != http.StatusCreated {
			t.Fatalf("create service account %s: %d %s", name, code, body)
		}
	}
	rec.take(admission.Create)
	if code, body := req("POST", sas+"/deny-token/token", tr); code != http.StatusForbidden || !strings.Contains(body, "denied by name") {
		t.Fatalf("denied token request: %d %s", code, body)
	}
	calls = rec.take(admission.Create)
	checkPhases(t, "token request", calls)
	if c := calls[1]; c.resource != "serviceaccounts" || c.subresource != "token" || c.name != "deny-token" {
		t.Errorf("token request attributes: %+v", c)
	} else if o, ok := c.object.(*authenticationv1.TokenRequest); !ok || o.Kind != "TokenRequest" {
		t.Errorf("token request object: %#v", c.object)
	}
	if code, body := req("POST", sas+"/token-me/token", tr); code != http.StatusCreated || !strings.Contains(body, `"token":`) {
		t.Fatalf("token request: %d %s", code, body)
	}
}
