package integration

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
)

// gizmoConversion is a conversion webhook for gizmos: v1 (storage) has
// spec.size, v2 spec.replicas. While failing is set it answers with a
// failure.
type gizmoConversion struct {
	calls, objects atomic.Int32
	failing        atomic.Bool
}

func (g *gizmoConversion) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.calls.Add(1)
	var review apiextensionsv1.ConversionReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
		http.Error(w, "bad review", http.StatusBadRequest)
		return
	}
	resp := &apiextensionsv1.ConversionResponse{UID: review.Request.UID, Result: metav1.Status{Status: metav1.StatusSuccess}}
	if g.failing.Load() {
		resp.Result = metav1.Status{Status: metav1.StatusFailure, Message: "gizmo converter is down"}
	}
	to := review.Request.DesiredAPIVersion
	for _, raw := range review.Request.Objects {
		g.objects.Add(1)
		var obj map[string]interface{}
		if err := json.Unmarshal(raw.Raw, &obj); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		from, to2 := "size", "replicas"
		if to == "conv.example.com/v1" {
			from, to2 = "replicas", "size"
		}
		if spec, ok := obj["spec"].(map[string]interface{}); ok {
			if v, ok := spec[from]; ok {
				spec[to2] = v
				delete(spec, from)
			}
		}
		obj["apiVersion"] = to
		b, _ := json.Marshal(obj)
		resp.ConvertedObjects = append(resp.ConvertedObjects, runtime.RawExtension{Raw: b})
	}
	review.Request, review.Response = nil, resp
	_ = json.NewEncoder(w).Encode(&review)
}

// TestCRDConversionWebhook serves a CRD with two versions converted by a
// webhook run by the test, reached by url with caBundle.
func TestCRDConversionWebhook(t *testing.T) {
	ts := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conv := &gizmoConversion{}
	hook := httptest.NewTLSServer(conv)
	defer hook.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hook.Certificate().Raw})

	dyn := dynamic.NewForConfigOrDie(ts.Config)
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	props := func(field string) *apiextensionsv1.CustomResourceValidation {
		return &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object",
			Properties: map[string]apiextensionsv1.JSONSchemaProps{"spec": {Type: "object",
				Properties: map[string]apiextensionsv1.JSONSchemaProps{field: {Type: "integer"}}}}}}
	}
	url := hook.URL + "/convert"
	crd := &apiextensionsv1.CustomResourceDefinition{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"},
		ObjectMeta: metav1.ObjectMeta{Name: "gizmos.conv.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "conv.example.com", Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "gizmos", Kind: "Gizmo"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{
				{Name: "v1", Served: true, Storage: true, Schema: props("size")},
				{Name: "v2", Served: true, Schema: props("replicas")},
			},
			Conversion: &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.WebhookConverter,
				Webhook: &apiextensionsv1.WebhookConversion{ConversionReviewVersions: []string{"v1"},
					ClientConfig: &apiextensionsv1.WebhookClientConfig{URL: &url, CABundle: caPEM}}},
		},
	}
	toUnstructured := func(obj runtime.Object) *unstructured.Unstructured {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			t.Fatal(err)
		}
		return &unstructured.Unstructured{Object: m}
	}

	// Validation: a Webhook strategy needs a client config.
	bad := crd.DeepCopy()
	bad.Spec.Conversion.Webhook.ClientConfig = nil
	_, err := dyn.Resource(crdGVR).Create(ctx, toUnstructured(bad), metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.conversion.webhookClientConfig: Required value: required when strategy is set to Webhook") {
		t.Fatalf("CRD without webhook client config: %v", err)
	}
	if _, err := dyn.Resource(crdGVR).Create(ctx, toUnstructured(crd), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	v1 := schema.GroupVersionResource{Group: "conv.example.com", Version: "v1", Resource: "gizmos"}
	v2 := schema.GroupVersionResource{Group: "conv.example.com", Version: "v2", Resource: "gizmos"}
	waitFor(t, "gizmos served", 30*time.Second, func() bool {
		_, err1 := dyn.Resource(v1).Namespace("default").List(ctx, metav1.ListOptions{})
		_, err2 := dyn.Resource(v2).Namespace("default").List(ctx, metav1.ListOptions{})
		return err1 == nil && err2 == nil
	})

	// Create in v2: stored in v1, answered in v2.
	gizmo := func(name string, replicas int64) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": "conv.example.com/v2", "kind": "Gizmo",
			"metadata": map[string]interface{}{"name": name}, "spec": map[string]interface{}{"replicas": replicas}}}
	}
	created, err := dyn.Resource(v2).Namespace("default").Create(ctx, gizmo("g1", 3), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n, _, _ := unstructured.NestedInt64(created.Object, "spec", "replicas"); n != 3 || created.GetAPIVersion() != "conv.example.com/v2" {
		t.Fatalf("created: %v", created.Object)
	}
	if conv.calls.Load() == 0 {
		t.Fatal("the conversion webhook was not called on create")
	}
	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{fmt.Sprintf("http://127.0.0.1:%d", ts.EtcdPort)}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	storedSpec := func(name string) map[string]interface{} {
		t.Helper()
		resp, err := etcd.Get(ctx, "/registry/conv.example.com/gizmos/default/"+name)
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("gizmo %s not in etcd: %v", name, err)
		}
		var stored map[string]interface{}
		if err := json.Unmarshal(resp.Kvs[0].Value, &stored); err != nil || stored["apiVersion"] != "conv.example.com/v1" {
			t.Fatalf("stored gizmo: %v %s", err, resp.Kvs[0].Value)
		}
		spec, _ := stored["spec"].(map[string]interface{})
		return spec
	}
	if spec := storedSpec("g1"); spec["size"] != float64(3) || spec["replicas"] != nil {
		t.Fatalf("stored spec = %v, want size 3 (the storage version)", spec)
	}

	// Read in both versions.
	g1v1, err := dyn.Resource(v1).Namespace("default").Get(ctx, "g1", metav1.GetOptions{})
	if n, _, _ := unstructured.NestedInt64(g1v1.Object, "spec", "size"); err != nil || n != 3 || g1v1.GetAPIVersion() != "conv.example.com/v1" {
		t.Fatalf("get v1: %v %v", g1v1, err)
	}
	g1v2, err := dyn.Resource(v2).Namespace("default").Get(ctx, "g1", metav1.GetOptions{})
	if n, _, _ := unstructured.NestedInt64(g1v2.Object, "spec", "replicas"); err != nil || n != 3 || g1v2.GetAPIVersion() != "conv.example.com/v2" {
		t.Fatalf("get v2: %v %v", g1v2, err)
	}
	if g1v2.GetUID() != g1v1.GetUID() || g1v2.GetResourceVersion() != g1v1.GetResourceVersion() {
		t.Fatalf("metadata differs between versions: %v / %v", g1v1.Object["metadata"], g1v2.Object["metadata"])
	}
	// Reads of an unchanged object are served from the cache.
	calls := conv.calls.Load()
	for i := 0; i < 3; i++ {
		if _, err := dyn.Resource(v2).Namespace("default").Get(ctx, "g1", metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if conv.calls.Load() != calls {
		t.Fatalf("repeated reads called the webhook %d times", conv.calls.Load()-calls)
	}

	// A second object created in v1, then lists in both versions.
	g2 := gizmo("g2", 0)
	g2.SetAPIVersion("conv.example.com/v1")
	g2.Object["spec"] = map[string]interface{}{"size": int64(7)}
	if _, err := dyn.Resource(v1).Namespace("default").Create(ctx, g2, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	calls, objects := conv.calls.Load(), conv.objects.Load()
	list2, err := dyn.Resource(v2).Namespace("default").List(ctx, metav1.ListOptions{})
	if err != nil || len(list2.Items) != 2 {
		t.Fatalf("list v2: %v %v", list2, err)
	}
	want := map[string]int64{"g1": 3, "g2": 7}
	for _, it := range list2.Items {
		if n, _, _ := unstructured.NestedInt64(it.Object, "spec", "replicas"); n != want[it.GetName()] || it.GetAPIVersion() != "conv.example.com/v2" {
			t.Fatalf("list v2 item: %v", it.Object)
		}
	}
	// g1 was cached; g2 went in one review at most (controllers watching
	// the preferred version v2 may have had it converted already).
	if c, o := conv.calls.Load()-calls, conv.objects.Load()-objects; c > 1 || o > 1 {
		t.Fatalf("list v2 took %d webhook calls for %d objects, want at most 1 call for g2", c, o)
	}
	list1, err := dyn.Resource(v1).Namespace("default").List(ctx, metav1.ListOptions{})
	if err != nil || len(list1.Items) != 2 {
		t.Fatalf("list v1: %v %v", list1, err)
	}
	for _, it := range list1.Items {
		if n, _, _ := unstructured.NestedInt64(it.Object, "spec", "size"); n != want[it.GetName()] {
			t.Fatalf("list v1 item: %v", it.Object)
		}
	}

	// Watch in v2, update in v1: the event comes converted.
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	w, err := dyn.Resource(v2).Namespace("default").Watch(wctx, metav1.ListOptions{ResourceVersion: list2.GetResourceVersion()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	_ = unstructured.SetNestedField(g1v1.Object, int64(5), "spec", "size")
	if _, err := dyn.Resource(v1).Namespace("default").Update(ctx, g1v1, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for got := false; !got; {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch ended")
			}
			u, _ := ev.Object.(*unstructured.Unstructured)
			if ev.Type != watch.Modified || u == nil || u.GetName() != "g1" {
				continue
			}
			if n, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas"); n != 5 || u.GetAPIVersion() != "conv.example.com/v2" {
				t.Fatalf("watch event: %v", u.Object)
			}
			got = true
		case <-wctx.Done():
			t.Fatal("no converted watch event")
		}
	}
	if spec := storedSpec("g1"); spec["size"] != float64(5) {
		t.Fatalf("stored spec after the v1 update = %v", spec)
	}
	// An update in v2 is stored in v1 too.
	g1v2, err = dyn.Resource(v2).Namespace("default").Get(ctx, "g1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedField(g1v2.Object, int64(6), "spec", "replicas")
	if _, err := dyn.Resource(v2).Namespace("default").Update(ctx, g1v2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if spec := storedSpec("g1"); spec["size"] != float64(6) || spec["replicas"] != nil {
		t.Fatalf("stored spec after the v2 update = %v", spec)
	}

	// kubectl reads the other version through the webhook too.
	out := kubectlRun(t, ts, true, "get", "gizmos.v2.conv.example.com", "-o", "jsonpath={range .items[*]}{.metadata.name}={.spec.replicas} {end}")
	if strings.TrimSpace(out) != "g1=6 g2=7" {
		t.Fatalf("kubectl get gizmos.v2: %q", out)
	}
	if out := kubectlRun(t, ts, true, "get", "gizmos.v2.conv.example.com"); !strings.Contains(out, "g1") || !strings.Contains(out, "g2") {
		t.Fatalf("kubectl get gizmos.v2 (table): %q", out)
	}

	// A failing webhook fails reads of the other version with a 500.
	conv.failing.Store(true)
	g1v1, err = dyn.Resource(v1).Namespace("default").Get(ctx, "g1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedField(g1v1.Object, int64(8), "spec", "size")
	if _, err := dyn.Resource(v1).Namespace("default").Update(ctx, g1v1, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update in the storage version needs no conversion: %v", err)
	}
	const msg = "conversion webhook for conv.example.com/v1, Kind=Gizmo failed: gizmo converter is down"
	_, err = dyn.Resource(v2).Namespace("default").Get(ctx, "g1", metav1.GetOptions{})
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), msg) {
		t.Fatalf("get v2 with a failing webhook: %v", err)
	}
	_, err = dyn.Resource(v2).Namespace("default").List(ctx, metav1.ListOptions{})
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), msg) {
		t.Fatalf("list v2 with a failing webhook: %v", err)
	}
	_, err = dyn.Resource(v2).Namespace("default").Create(ctx, gizmo("g3", 1), metav1.CreateOptions{})
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "conversion webhook for conv.example.com/v2, Kind=Gizmo failed: gizmo converter is down") {
		t.Fatalf("create v2 with a failing webhook: %v", err)
	}
	out = kubectlRun(t, ts, false, "get", "gizmos.v2.conv.example.com", "g1")
	if !strings.Contains(out, msg) {
		t.Fatalf("kubectl get with a failing webhook: %s", out)
	}
	// The calls are in upstream's conversion webhook metrics.
	if n := metricSum(t, ts.Client, "apiserver_conversion_webhook_request_total", `result="success"`); n < 1 {
		t.Errorf("successful conversion webhook calls counted: %v", n)
	}
	if n := metricSum(t, ts.Client, "apiserver_conversion_webhook_request_total", `result="failure"`, `failure_type="conversion_webhook_malformed_response_failure"`); n < 1 {
		t.Errorf("failed conversion webhook calls counted: %v", n)
	}
	if n := metricSum(t, ts.Client, "apiserver_crd_conversion_webhook_duration_seconds_count", `crd_name="gizmos.conv.example.com"`, `from_version="v1"`, `to_version="v2"`, `succeeded="false"`); n < 1 {
		t.Errorf("failed v1 -> v2 conversions observed: %v", n)
	}
}
