package apiextensions

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"skiff/internal/pki"
	"skiff/internal/registry"
)

// convWebhook is a conversion webhook for widgets: v1 has spec.size, v2
// spec.replicas. tamper, when set, edits each answer before it is sent.
type convWebhook struct {
	*httptest.Server
	calls  atomic.Int32
	delay  time.Duration
	tamper func(resp *apiextensionsv1.ConversionResponse)
	mu     sync.Mutex
	last   *apiextensionsv1.ConversionRequest
}

func convert(obj map[string]interface{}, to string) {
	spec, _ := obj["spec"].(map[string]interface{})
	if spec != nil {
		switch {
		case strings.HasSuffix(to, "/v2"):
			if v, ok := spec["size"]; ok {
				spec["replicas"] = v
				delete(spec, "size")
			}
		case strings.HasSuffix(to, "/v1"):
			if v, ok := spec["replicas"]; ok {
				spec["size"] = v
				delete(spec, "replicas")
			}
		}
	}
	obj["apiVersion"] = to
}

func (cw *convWebhook) handle(w http.ResponseWriter, r *http.Request) {
	cw.calls.Add(1)
	if cw.delay > 0 {
		time.Sleep(cw.delay)
	}
	var review struct {
		metav1.TypeMeta
		Request *apiextensionsv1.ConversionRequest `json:"request"`
	}
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
		http.Error(w, "bad review", http.StatusBadRequest)
		return
	}
	cw.mu.Lock()
	cw.last = review.Request
	cw.mu.Unlock()
	resp := &apiextensionsv1.ConversionResponse{UID: review.Request.UID, Result: metav1.Status{Status: metav1.StatusSuccess}}
	for _, raw := range review.Request.Objects {
		var obj map[string]interface{}
		if err := json.Unmarshal(raw.Raw, &obj); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		convert(obj, review.Request.DesiredAPIVersion)
		b, _ := json.Marshal(obj)
		resp.ConvertedObjects = append(resp.ConvertedObjects, runtime.RawExtension{Raw: b})
	}
	if cw.tamper != nil {
		cw.tamper(resp)
	}
	_ = json.NewEncoder(w).Encode(map[string]interface{}{"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview", "response": resp})
}

func newConvWebhook(t *testing.T) *convWebhook {
	t.Helper()
	cw := &convWebhook{}
	cw.Server = httptest.NewTLSServer(http.HandlerFunc(cw.handle))
	t.Cleanup(cw.Close)
	return cw
}

func (cw *convWebhook) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cw.Certificate().Raw})
}

// webhookCRD is a widgets CRD with versions v1 (storage) and v2 converted
// by cw.
func webhookCRD(t *testing.T, cw *convWebhook) *apiextensionsv1.CustomResourceDefinition {
	return crdFrom(t, validCRD, func(c *apiextensionsv1.CustomResourceDefinition) {
		v2 := *c.Spec.Versions[0].DeepCopy()
		v2.Name, v2.Storage = "v2", false
		v2.Schema.OpenAPIV3Schema.Properties["spec"] = apiextensionsv1.JSONSchemaProps{Type: "object",
			Properties: map[string]apiextensionsv1.JSONSchemaProps{"replicas": {Type: "integer"}}}
		c.Spec.Versions = append(c.Spec.Versions, v2)
		u := cw.URL + "/convert"
		c.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.WebhookConverter,
			Webhook: &apiextensionsv1.WebhookConversion{ConversionReviewVersions: []string{"v1", "v1beta1"},
				ClientConfig: &apiextensionsv1.WebhookClientConfig{URL: &u, CABundle: cw.caPEM()}}}
	})
}

func storedWidget(rv string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]interface{}{"name": "w", "namespace": "ns", "uid": "u-1", "resourceVersion": rv, "generation": int64(1),
			"labels": map[string]interface{}{"a": "b"}},
		"spec": map[string]interface{}{"size": int64(3)},
	}}
}

func testConverter(t *testing.T, cw *convWebhook) *webhookConverter {
	t.Helper()
	w := newWebhookConverter(webhookCRD(t, cw), nil, newConversionMetrics())
	if w == nil {
		t.Fatal("no converter for a Webhook CRD")
	}
	return w
}

func TestWebhookConvertBothWays(t *testing.T) {
	cw := newConvWebhook(t)
	w := testConverter(t, cw)
	out, err := w.Convert([]*unstructured.Unstructured{storedWidget("5")}, "example.com/v2")
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedInt64(out[0].Object, "spec", "replicas"); got != 3 || out[0].GetAPIVersion() != "example.com/v2" {
		t.Fatalf("converted to v2: %v", out[0].Object)
	}
	cw.mu.Lock()
	if cw.last.DesiredAPIVersion != "example.com/v2" || len(cw.last.Objects) != 1 {
		t.Fatalf("request: %+v", cw.last)
	}
	cw.mu.Unlock()
	back, err := w.Convert(out, "example.com/v1")
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedInt64(back[0].Object, "spec", "size"); got != 3 || back[0].GetAPIVersion() != "example.com/v1" {
		t.Fatalf("converted back to v1: %v", back[0].Object)
	}
	if cw.calls.Load() != 2 {
		t.Fatalf("webhook calls = %d, want 2", cw.calls.Load())
	}
}

func TestWebhookConvertChecksResponse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(*apiextensionsv1.ConversionResponse)
		want   string
	}{
		{"uid", func(r *apiextensionsv1.ConversionResponse) { r.UID = "other" },
			`conversion webhook for example.com/v1, Kind=Widget failed: expected response.uid=`},
		{"failure", func(r *apiextensionsv1.ConversionResponse) {
			r.Result = metav1.Status{Status: metav1.StatusFailure, Message: "cannot convert widgets today"}
		}, `conversion webhook for example.com/v1, Kind=Widget failed: cannot convert widgets today`},
		{"failure without message", func(r *apiextensionsv1.ConversionResponse) { r.Result = metav1.Status{Status: metav1.StatusFailure} },
			`failed: response.result.status was 'Failure', not 'Success'`},
		{"count", func(r *apiextensionsv1.ConversionResponse) {
			r.ConvertedObjects = append(r.ConvertedObjects, r.ConvertedObjects[0])
		},
			`conversion webhook for example.com/v1, Kind=Widget returned 2 objects, expected 1`},
		{"apiVersion", func(r *apiextensionsv1.ConversionResponse) {
			r.ConvertedObjects[0].Raw = []byte(strings.Replace(string(r.ConvertedObjects[0].Raw), "example.com/v2", "example.com/v1", 1))
		}, `returned invalid object at index 0: invalid groupVersion (expected example.com/v2, received example.com/v1)`},
		{"kind", func(r *apiextensionsv1.ConversionResponse) {
			r.ConvertedObjects[0].Raw = []byte(strings.Replace(string(r.ConvertedObjects[0].Raw), `"Widget"`, `"Gadget"`, 1))
		}, `invalid kind (expected Widget, received Gadget)`},
		{"name", func(r *apiextensionsv1.ConversionResponse) {
			r.ConvertedObjects[0].Raw = []byte(strings.Replace(string(r.ConvertedObjects[0].Raw), `"name":"w"`, `"name":"x"`, 1))
		}, `returned invalid object: must have the same name: w != x`},
		{"bad label", func(r *apiextensionsv1.ConversionResponse) {
			r.ConvertedObjects[0].Raw = []byte(strings.Replace(string(r.ConvertedObjects[0].Raw), `"a":"b"`, `"a":"b c"`, 1))
		}, `returned invalid metadata: metadata.labels: Invalid value: "b c"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cw := newConvWebhook(t)
			cw.tamper = tc.tamper
			w := testConverter(t, cw)
			_, err := w.Convert([]*unstructured.Unstructured{storedWidget("5")}, "example.com/v2")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
			// The failure is counted with upstream's failure type.
			failure := webhookMalformedResponseFailure
			switch tc.name {
			case "count":
				failure = webhookPartialResponseFailure
			case "apiVersion", "kind", "name", "bad label":
				failure = webhookInvalidObjectFailure
			}
			if n := testutil.ToFloat64(w.metrics.requests.WithLabelValues("failure", failure)); n != 1 {
				t.Errorf("failures of type %s counted: %v, want 1", failure, n)
			}
			if n := testutil.ToFloat64(w.metrics.requests.WithLabelValues("success", "")); n != 0 {
				t.Errorf("successes counted: %v, want 0", n)
			}
		})
	}
}

func TestWebhookConvertRestoresMetadata(t *testing.T) {
	cw := newConvWebhook(t)
	cw.tamper = func(r *apiextensionsv1.ConversionResponse) {
		for i, raw := range r.ConvertedObjects {
			var obj map[string]interface{}
			_ = json.Unmarshal(raw.Raw, &obj)
			md := obj["metadata"].(map[string]interface{})
			md["resourceVersion"], md["generation"] = "999", 7
			md["labels"] = map[string]interface{}{"converted": "yes"}
			md["annotations"] = map[string]interface{}{"note": "added"}
			r.ConvertedObjects[i].Raw, _ = json.Marshal(obj)
		}
	}
	out, err := testConverter(t, cw).Convert([]*unstructured.Unstructured{storedWidget("5")}, "example.com/v2")
	if err != nil {
		t.Fatal(err)
	}
	u := out[0]
	if u.GetResourceVersion() != "5" || u.GetGeneration() != 1 {
		t.Errorf("metadata not restored: rv %q generation %d", u.GetResourceVersion(), u.GetGeneration())
	}
	if u.GetLabels()["converted"] != "yes" || u.GetLabels()["a"] != "" || u.GetAnnotations()["note"] != "added" {
		t.Errorf("labels/annotations from the webhook not kept: %v %v", u.GetLabels(), u.GetAnnotations())
	}
}

func TestWebhookConvertMetrics(t *testing.T) {
	cw := newConvWebhook(t)
	w := testConverter(t, cw)
	if _, err := w.Convert([]*unstructured.Unstructured{storedWidget("5")}, "example.com/v2"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(w.metrics.requests.WithLabelValues("success", "")); n != 1 {
		t.Errorf("successful calls counted: %v, want 1", n)
	}
	// One series, labelled as upstream's: the CRD, both versions, success.
	if n := testutil.CollectAndCount(w.metrics.crdDuration); n != 1 {
		t.Fatalf("%d CRD conversion duration series, want 1", n)
	}
	h, err := w.metrics.crdDuration.GetMetricWithLabelValues("widgets.example.com", "v1", "v2", "true")
	if err != nil {
		t.Fatal(err)
	}
	m := &dto.Metric{}
	if err := h.(prometheus.Histogram).Write(m); err != nil {
		t.Fatal(err)
	}
	if c := m.GetHistogram().GetSampleCount(); c != 1 {
		t.Errorf("CRD conversion v1 -> v2 observed %d times, want 1", c)
	}
}

func TestWebhookConvertCache(t *testing.T) {
	cw := newConvWebhook(t)
	w := testConverter(t, cw)
	obj := storedWidget("5")
	for i := 0; i < 3; i++ {
		out, err := w.Convert([]*unstructured.Unstructured{obj}, "example.com/v2")
		if err != nil {
			t.Fatal(err)
		}
		// Answers are the caller's own.
		out[0].SetName("mine")
	}
	if n := cw.calls.Load(); n != 1 {
		t.Fatalf("webhook calls = %d, want 1 (cached)", n)
	}
	// Another target version, another resourceVersion and an object
	// changed at the same resourceVersion (being written) all miss.
	if _, err := w.Convert([]*unstructured.Unstructured{obj}, "example.com/v3"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Convert([]*unstructured.Unstructured{storedWidget("6")}, "example.com/v2"); err != nil {
		t.Fatal(err)
	}
	changed := storedWidget("5")
	_ = unstructured.SetNestedField(changed.Object, int64(4), "spec", "size")
	out, err := w.Convert([]*unstructured.Unstructured{changed}, "example.com/v2")
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedInt64(out[0].Object, "spec", "replicas"); got != 4 {
		t.Fatalf("stale conversion of a changed object: %v", out[0].Object)
	}
	if n := cw.calls.Load(); n != 4 {
		t.Fatalf("webhook calls = %d, want 4", n)
	}
	// Many concurrent readers of one object (watchers) share one call.
	cw.delay = 100 * time.Millisecond
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := w.Convert([]*unstructured.Unstructured{storedWidget("7")}, "example.com/v2"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := cw.calls.Load(); n != 5 {
		t.Fatalf("webhook calls = %d, want 5 (concurrent readers share a call)", n)
	}
	// The cache is bounded.
	small := newConversionCache(2)
	for _, rv := range []string{"1", "2", "3"} {
		small.put(storedWidget(rv), "example.com/v2", storedWidget(rv))
	}
	if small.get(storedWidget("1"), "example.com/v2") != nil || small.get(storedWidget("3"), "example.com/v2") == nil || small.c.Len() != 2 {
		t.Fatal("cache not bounded to its size with the least recent entry dropped")
	}
}

func TestWebhookConvertTimeout(t *testing.T) {
	cw := newConvWebhook(t)
	cw.delay = 2 * time.Second
	w := testConverter(t, cw)
	w.timeout = 100 * time.Millisecond
	start := time.Now()
	_, err := w.Convert([]*unstructured.Unstructured{storedWidget("5")}, "example.com/v2")
	if err == nil || !strings.Contains(err.Error(), "conversion webhook for example.com/v1, Kind=Widget failed:") {
		t.Fatalf("error = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v despite the timeout", d)
	}
}

// servingFor returns a certificate for dnsName from a new CA, and the CA's
// PEM (the caBundle that trusts it).
func servingFor(t *testing.T, dnsName string) (tls.Certificate, []byte) {
	t.Helper()
	ca, err := pki.LoadOrCreateCA(t.TempDir(), "conversion-test-ca")
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.IssueServing(dnsName, []string{dnsName}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := kp.TLS()
	if err != nil {
		t.Fatal(err)
	}
	return cert, ca.CertPEM
}

func TestWebhookConvertService(t *testing.T) {
	cw := &convWebhook{}
	var path atomic.Value
	cw.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path.Store(r.URL.Path)
		cw.handle(w, r)
	}))
	cert, caPEM := servingFor(t, "conv.hooks.svc")
	cw.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	cw.StartTLS()
	t.Cleanup(cw.Close)
	crd := webhookCRD(t, cw)
	p := "/convert"
	crd.Spec.Conversion.Webhook.ClientConfig = &apiextensionsv1.WebhookClientConfig{CABundle: caPEM,
		Service: &apiextensionsv1.ServiceReference{Namespace: "hooks", Name: "conv", Path: &p}}
	var gotPort int32
	w := newWebhookConverter(crd, func(_ context.Context, namespace, name string, port int32) (string, error) {
		if namespace != "hooks" || name != "conv" {
			t.Errorf("resolved %s/%s", namespace, name)
		}
		gotPort = port
		return cw.Listener.Addr().String(), nil
	}, nil)
	out, err := w.Convert([]*unstructured.Unstructured{storedWidget("5")}, "example.com/v2")
	if err != nil {
		t.Fatal(err)
	}
	if out[0].GetAPIVersion() != "example.com/v2" || gotPort != 443 || path.Load() != "/convert" {
		t.Fatalf("apiVersion %s, port %d, path %v", out[0].GetAPIVersion(), gotPort, path.Load())
	}
}

// servedWidgets builds the served resources of the webhook CRD with their
// converter, as the controller does.
func servedWidgets(t *testing.T, cw *convWebhook) (v1, v2 *registry.Resource) {
	t.Helper()
	crd := webhookCRD(t, cw)
	served, err := resourcesFor(crd)
	if err != nil {
		t.Fatal(err)
	}
	(&Controller{}).setConverter(crd, served)
	for _, s := range served {
		switch s.Resource.Version {
		case "v1":
			v1 = s.Resource
		case "v2":
			v2 = s.Resource
		}
	}
	if v1.Strategy.Convert == nil || v2.Strategy.Convert == nil {
		t.Fatal("no converter set")
	}
	return v1, v2
}

func TestRegistryConvertsThroughWebhook(t *testing.T) {
	cw := newConvWebhook(t)
	v1, v2 := servedWidgets(t, cw)

	// Writes in v2 are stored in v1.
	in := storedWidget("")
	convert(in.Object, "example.com/v2")
	stored, err := registry.ToStorage(v2, in)
	if err != nil {
		t.Fatal(err)
	}
	su := stored.(*unstructured.Unstructured)
	if su.GetAPIVersion() != "example.com/v1" || su.Object["spec"].(map[string]interface{})["size"] != int64(3) {
		t.Fatalf("stored: %v", su.Object)
	}
	// Reads in the storage version need no call.
	calls := cw.calls.Load()
	if out, err := registry.FromStorage(v1, storedWidget("5")); err != nil || out.(*unstructured.Unstructured).GetAPIVersion() != "example.com/v1" {
		t.Fatalf("v1 read: %v %v", out, err)
	}
	if cw.calls.Load() != calls {
		t.Fatal("the webhook was called for an object already in the served version")
	}
	// A list in v2 is converted in one review.
	items := []runtime.Object{storedWidget("5"), storedWidget("6"), storedWidget("7")}
	for i, it := range items {
		it.(*unstructured.Unstructured).SetUID(types.UID(fmt.Sprintf("u-%d", i)))
	}
	out, err := registry.FromStorageList(v2, items)
	if err != nil {
		t.Fatal(err)
	}
	if cw.calls.Load() != calls+1 {
		t.Fatalf("list took %d webhook calls, want 1", cw.calls.Load()-calls)
	}
	for _, o := range out {
		if o.(*unstructured.Unstructured).GetAPIVersion() != "example.com/v2" {
			t.Fatalf("list item: %v", o)
		}
	}
	// Then each item is cached.
	if _, err := registry.FromStorage(v2, items[1]); err != nil || cw.calls.Load() != calls+1 {
		t.Fatalf("cached read called the webhook (%v)", err)
	}

	// A failing webhook makes reads fail with a 500.
	cw.tamper = func(r *apiextensionsv1.ConversionResponse) {
		r.Result = metav1.Status{Status: metav1.StatusFailure, Message: "broken"}
	}
	_, err = registry.FromStorage(v2, storedWidget("8"))
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "conversion webhook for example.com/v1, Kind=Widget failed: broken") {
		t.Fatalf("error = %v", err)
	}
	if _, err := registry.ToStorage(v2, in); !apierrors.IsInternalError(err) {
		t.Fatalf("write error = %v", err)
	}
}

func TestValidateCRDConversion(t *testing.T) {
	cw := newConvWebhook(t)
	u := "https://conv.example.com/convert"
	port := int32(0)
	badPath := "convert//x"
	for _, tc := range []struct {
		name   string
		mutate func(*apiextensionsv1.CustomResourceConversion)
		want   []string
	}{
		{"valid url", nil, nil},
		{"valid service", func(c *apiextensionsv1.CustomResourceConversion) {
			c.Webhook.ClientConfig.URL = nil
			c.Webhook.ClientConfig.Service = &apiextensionsv1.ServiceReference{Namespace: "ns", Name: "svc"}
		}, nil},
		{"no client config", func(c *apiextensionsv1.CustomResourceConversion) { c.Webhook.ClientConfig = nil },
			[]string{"spec.conversion.webhookClientConfig: Required value: required when strategy is set to Webhook"}},
		{"no webhook", func(c *apiextensionsv1.CustomResourceConversion) { c.Webhook = nil },
			[]string{"spec.conversion.webhookClientConfig: Required value: required when strategy is set to Webhook",
				"spec.conversion.conversionReviewVersions: Required value"}},
		{"url and service", func(c *apiextensionsv1.CustomResourceConversion) {
			c.Webhook.ClientConfig.Service = &apiextensionsv1.ServiceReference{Namespace: "ns", Name: "svc"}
		}, []string{"spec.conversion.webhookClientConfig: Required value: exactly one of url or service is required"}},
		{"http url", func(c *apiextensionsv1.CustomResourceConversion) {
			h := "http://x.example.com/"
			c.Webhook.ClientConfig.URL = &h
		},
			[]string{`spec.conversion.webhookClientConfig.url: Invalid value: "http": 'https' is the only allowed URL scheme; desired format: https://host[/path]`}},
		{"service fields", func(c *apiextensionsv1.CustomResourceConversion) {
			c.Webhook.ClientConfig.URL = nil
			c.Webhook.ClientConfig.Service = &apiextensionsv1.ServiceReference{Port: &port, Path: &badPath}
		}, []string{"spec.conversion.webhookClientConfig.service.name: Required value",
			"spec.conversion.webhookClientConfig.service.namespace: Required value",
			"spec.conversion.webhookClientConfig.service.port: Invalid value: 0: port is not valid: must be between 1 and 65535, inclusive",
			`spec.conversion.webhookClientConfig.service.path: Invalid value: "convert//x": must start with a '/'`,
			`spec.conversion.webhookClientConfig.service.path: Invalid value: "convert//x": segment[1] may not be empty`}},
		{"bad caBundle", func(c *apiextensionsv1.CustomResourceConversion) { c.Webhook.ClientConfig.CABundle = []byte("junk") },
			[]string{"spec.conversion.webhookClientConfig.caBundle: Invalid value:"}},
		{"review versions", func(c *apiextensionsv1.CustomResourceConversion) {
			c.Webhook.ConversionReviewVersions = []string{"v2", "v2"}
		},
			[]string{`spec.conversion.conversionReviewVersions[1]: Invalid value: "v2": duplicate version`,
				`spec.conversion.conversionReviewVersions: Invalid value: ["v2","v2"]: must include at least one of v1, v1beta1`}},
		{"no review versions", func(c *apiextensionsv1.CustomResourceConversion) { c.Webhook.ConversionReviewVersions = nil },
			[]string{"spec.conversion.conversionReviewVersions: Required value"}},
		{"none with webhook", func(c *apiextensionsv1.CustomResourceConversion) { c.Strategy = apiextensionsv1.NoneConverter },
			[]string{"spec.conversion.webhookClientConfig: Forbidden: should not be set when strategy is not set to Webhook",
				"spec.conversion.conversionReviewVersions: Forbidden: should not be set when strategy is not set to Webhook"}},
		{"strategy", func(c *apiextensionsv1.CustomResourceConversion) { c.Strategy = "Magic"; c.Webhook = nil },
			[]string{`spec.conversion.strategy: Unsupported value: "Magic": supported values: "None", "Webhook"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			crd := webhookCRD(t, cw)
			crd.Spec.Conversion.Webhook.ClientConfig.URL = &u
			if tc.mutate != nil {
				tc.mutate(crd.Spec.Conversion)
			}
			errs := ValidateCRD(crd, nil)
			if len(errs) != len(tc.want) {
				t.Fatalf("errors = %v, want %d: %v", errs, len(tc.want), tc.want)
			}
			for i, want := range tc.want {
				if !strings.HasPrefix(errs[i].Error(), want) {
					t.Errorf("error %d = %q, want %q", i, errs[i].Error(), want)
				}
			}
		})
	}
	// An update may keep the invalid caBundle of a CRD not established.
	old := webhookCRD(t, cw)
	old.Spec.Conversion.Webhook.ClientConfig.CABundle = []byte("junk")
	upd := old.DeepCopy()
	if errs := ValidateCRD(upd, old); len(errs) != 0 {
		t.Fatalf("update errors = %v", errs)
	}
}
