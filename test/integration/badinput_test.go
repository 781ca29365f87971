package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// requestTimeout bounds every raw request of these tests: a server that
// hangs on bad input fails the test instead of stalling it.
const requestTimeout = 10 * time.Second

// rawClient sends hand-written HTTP requests to a test server.
type rawClient struct {
	host string
	c    *http.Client
}

func newRawClient(t *testing.T, ts *testServer) *rawClient {
	t.Helper()
	cfg := rest.CopyConfig(ts.Config)
	cfg.Timeout = requestTimeout
	c, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Timeout = requestTimeout
	return &rawClient{host: strings.TrimSuffix(ts.Config.Host, "/"), c: c}
}

// anonymousClient speaks TLS to the server without any credentials.
func anonymousClient(ts *testServer) *rawClient {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // test without credentials
	return &rawClient{host: strings.TrimSuffix(ts.Config.Host, "/"), c: &http.Client{Transport: tr, Timeout: requestTimeout}}
}

// rawResponse is what a raw request got back.
type rawResponse struct {
	code   int
	header http.Header
	body   []byte
}

// unsizedReader hides its length so the request is sent without a
// Content-Length (chunked), and the server only learns the size by reading.
type unsizedReader struct{ r io.Reader }

func (u unsizedReader) Read(p []byte) (int, error) { return u.r.Read(p) }

type rawRequest struct {
	method, path, contentType, accept string
	body                              []byte
	chunked                           bool
}

func (c *rawClient) do(t *testing.T, rq rawRequest) rawResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	var body io.Reader
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
		if rq.chunked {
			body = unsizedReader{bytes.NewReader(rq.body)}
		}
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, c.host+rq.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if rq.chunked {
		req.ContentLength = -1
	}
	if rq.contentType != "" {
		req.Header.Set("Content-Type", rq.contentType)
	}
	if rq.accept != "" {
		req.Header.Set("Accept", rq.accept)
	}
	start := time.Now()
	resp, err := c.c.Do(req)
	if d := time.Since(start); d > time.Second {
		t.Logf("SLOW %s %s: %v", rq.method, rq.path, d)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", rq.method, rq.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading response: %v", rq.method, rq.path, err)
	}
	return rawResponse{code: resp.StatusCode, header: resp.Header, body: data}
}

func (c *rawClient) get(t *testing.T, path string) rawResponse {
	t.Helper()
	return c.do(t, rawRequest{method: http.MethodGet, path: path})
}

// checkStatus asserts a failure answer: the exact code and a Status body
// with that code and reason. It returns the decoded Status.
func checkStatus(t *testing.T, what string, got rawResponse, code int, reason metav1.StatusReason) metav1.Status {
	t.Helper()
	var st metav1.Status
	if got.code != code {
		t.Errorf("%s: code %d, want %d; body: %s", what, got.code, code, got.body)
	}
	if ct := got.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	if err := json.Unmarshal(got.body, &st); err != nil {
		t.Errorf("%s: body is not a Status: %v: %s", what, err, got.body)
		return st
	}
	if st.Kind != "Status" || st.APIVersion != "v1" {
		t.Errorf("%s: kind/apiVersion %q/%q, want Status/v1", what, st.Kind, st.APIVersion)
	}
	if st.Status != metav1.StatusFailure {
		t.Errorf("%s: status %q, want Failure", what, st.Status)
	}
	if st.Reason != reason {
		t.Errorf("%s: reason %q, want %q; message: %s", what, st.Reason, reason, st.Message)
	}
	if int(st.Code) != code {
		t.Errorf("%s: Status code %d, want %d", what, st.Code, code)
	}
	return st
}

func causeFields(st metav1.Status) []string {
	var out []string
	if st.Details != nil {
		for _, c := range st.Details.Causes {
			out = append(out, c.Field)
		}
	}
	sort.Strings(out)
	return out
}

const (
	nsDefault = "/api/v1/namespaces/default"
	pods      = nsDefault + "/pods"
	cms       = nsDefault + "/configmaps"
	deploys   = "/apis/apps/v1/namespaces/default/deployments"
)

func podJSON(name string) string {
	return `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"` + name + `"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`
}

func cmJSON(name, extra string) string {
	return `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"` + name + `"` + extra + `},"data":{"k":"v"}}`
}

// bigPod is a valid pod over the 3 MiB body limit.
func bigPod(name string) []byte {
	pad := strings.Repeat("x", 3<<20)
	return []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"` + name + `","annotations":{"pad":"` + pad + `"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`)
}

// copyBombPatch is a JSON patch whose copies double the object n times
// from 1 KiB: upstream bounds the growth at 3 MiB (JSONPatchMaxCopyBytes).
func copyBombPatch(n int) []byte {
	ops := []string{`{"op":"add","path":"/data/seed","value":"` + strings.Repeat("x", 1024) + `"}`}
	for i := 0; i < n; i++ {
		ops = append(ops, `{"op":"copy","from":"/data","path":"/data/c`+strconv.Itoa(i)+`"}`)
	}
	return []byte("[" + strings.Join(ops, ",") + "]")
}

// badInputCase is one request that must fail (or warn) in a precise way.
type badInputCase struct {
	name string
	req  rawRequest
	code int
	// reason of the Status body; empty for successful answers.
	reason metav1.StatusReason
	// message must contain every one of these.
	message []string
	// causes are the exact field paths of details.causes (422 only).
	causes []string
	// warning is a text the Warning header must contain; noWarning asks
	// for no Warning header at all.
	warning   string
	noWarning bool
	// absent are paths that must answer 404 afterwards (nothing created).
	absent []string
	// exists are paths that must answer 200 afterwards.
	exists []string
	// unchanged are paths whose GET must answer the same before and after.
	unchanged []string
}

func TestBadInput(t *testing.T) {
	ts := startServer(t)
	c := newRawClient(t, ts)

	// Fixtures: a config map the failing writes aim at, one whose
	// resourceVersion has moved on, and a namespace being deleted.
	mustCode := func(what string, got rawResponse, code int) {
		t.Helper()
		if got.code != code {
			t.Fatalf("%s: code %d, want %d: %s", what, got.code, code, got.body)
		}
	}
	created := c.do(t, rawRequest{method: "POST", path: cms, body: []byte(cmJSON("bi-existing", ""))})
	mustCode("create fixture", created, 201)
	var fixture metav1.PartialObjectMetadata
	if err := json.Unmarshal(created.body, &fixture); err != nil {
		t.Fatal(err)
	}
	// Updates name the current resourceVersion: they must fail for the
	// reason under test only.
	existingRV := `"resourceVersion":"` + fixture.ResourceVersion + `"`
	created = c.do(t, rawRequest{method: "POST", path: cms, body: []byte(cmJSON("bi-stale", ""))})
	mustCode("create stale fixture", created, 201)
	var stale metav1.PartialObjectMetadata
	if err := json.Unmarshal(created.body, &stale); err != nil {
		t.Fatal(err)
	}
	mustCode("update stale fixture", c.do(t, rawRequest{method: "PATCH", path: cms + "/bi-stale", contentType: "application/merge-patch+json", body: []byte(`{"data":{"k":"v2"}}`)}), 200)
	// The namespace controller removes the "kubernetes" finalizer of an
	// empty namespace at once; a finalizer of our own keeps it Terminating.
	mustCode("create namespace", c.do(t, rawRequest{method: "POST", path: "/api/v1/namespaces", body: []byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"bi-terminating"},"spec":{"finalizers":["skiff.test/hold"]}}`)}), 201)
	if got := c.do(t, rawRequest{method: "DELETE", path: "/api/v1/namespaces/bi-terminating"}); got.code != 200 && got.code != 202 {
		t.Fatalf("delete namespace: %d %s", got.code, got.body)
	}
	if got := c.get(t, "/api/v1/namespaces/bi-terminating"); !strings.Contains(string(got.body), `"phase":"Terminating"`) {
		t.Fatalf("namespace not terminating: %d %s", got.code, got.body)
	}

	existing := cms + "/bi-existing"
	badRequest := metav1.StatusReasonBadRequest
	cases := []badInputCase{
		// Bodies that cannot be decoded.
		{name: "malformed JSON", req: rawRequest{method: "POST", path: pods, body: []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bi-malformed"`)},
			code: 400, reason: badRequest, absent: []string{pods + "/bi-malformed"}},
		{name: "empty body", req: rawRequest{method: "POST", path: pods, body: []byte{}},
			code: 400, reason: badRequest},
		{name: "JSON array body", req: rawRequest{method: "POST", path: pods, body: []byte(`[` + podJSON("bi-array") + `]`)},
			code: 400, reason: badRequest, absent: []string{pods + "/bi-array"}},
		{name: "malformed YAML", req: rawRequest{method: "POST", path: pods, contentType: "application/yaml", body: []byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: bi-yaml\n   labels: [a\nspec: {\n")},
			code: 400, reason: badRequest, absent: []string{pods + "/bi-yaml"}},
		{name: "malformed protobuf", req: rawRequest{method: "POST", path: pods, contentType: "application/vnd.kubernetes.protobuf", body: []byte("k8s\x00\x0a\x05garbage")},
			code: 400, reason: badRequest},
		{name: "Service posted as pod", req: rawRequest{method: "POST", path: pods, body: []byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"bi-svc"},"spec":{"ports":[{"port":80}]}}`)},
			code: 400, reason: badRequest, message: []string{"Service"}, absent: []string{pods + "/bi-svc", nsDefault + "/services/bi-svc"}},
		{name: "Deployment posted as pod", req: rawRequest{method: "POST", path: pods, body: []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"bi-deploy-as-pod"},"spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}`)},
			code: 400, reason: badRequest, message: []string{"apps/v1"}, absent: []string{pods + "/bi-deploy-as-pod", deploys + "/bi-deploy-as-pod"}},
		{name: "YAML kind mismatch", req: rawRequest{method: "POST", path: cms, contentType: "application/yaml", body: []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: bi-yaml-secret\n")},
			code: 400, reason: badRequest, message: []string{"Secret"}, absent: []string{cms + "/bi-yaml-secret", nsDefault + "/secrets/bi-yaml-secret"}},
		{name: "unregistered version", req: rawRequest{method: "POST", path: pods, body: []byte(`{"apiVersion":"v9","kind":"Pod","metadata":{"name":"bi-v9"}}`)},
			code: 400, reason: badRequest, absent: []string{pods + "/bi-v9"}},
		{name: "namespace mismatch", req: rawRequest{method: "POST", path: cms, body: []byte(cmJSON("bi-otherns", `,"namespace":"kube-system"`))},
			code: 400, reason: badRequest, message: []string{"the namespace of the provided object does not match the namespace sent on the request"},
			absent: []string{cms + "/bi-otherns", "/api/v1/namespaces/kube-system/configmaps/bi-otherns"}},

		// Field validation.
		{name: "unknown field Strict", req: rawRequest{method: "POST", path: pods + "?fieldValidation=Strict", body: []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bi-strict"},"spec":{"foo":1,"containers":[{"name":"c","image":"busybox"}]}}`)},
			code: 400, reason: badRequest, message: []string{`unknown field "spec.foo"`}, absent: []string{pods + "/bi-strict"}},
		{name: "unknown field Strict YAML", req: rawRequest{method: "POST", path: cms + "?fieldValidation=Strict", contentType: "application/yaml", body: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bi-strict-yaml\nbogus: 1\n")},
			code: 400, reason: badRequest, message: []string{`unknown field "bogus"`}, absent: []string{cms + "/bi-strict-yaml"}},
		{name: "duplicate field Strict", req: rawRequest{method: "POST", path: cms + "?fieldValidation=Strict", body: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"bi-dup","name":"bi-dup2"}}`)},
			code: 400, reason: badRequest, message: []string{`duplicate field "metadata.name"`}, absent: []string{cms + "/bi-dup", cms + "/bi-dup2"}},
		{name: "invalid fieldValidation", req: rawRequest{method: "POST", path: cms + "?fieldValidation=Bogus", body: []byte(cmJSON("bi-badfv", ""))},
			code: 400, reason: badRequest, message: []string{"fieldValidation", "Bogus"}, absent: []string{cms + "/bi-badfv"}},
		{name: "unknown field Warn", req: rawRequest{method: "POST", path: pods + "?fieldValidation=Warn", body: []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bi-warn"},"spec":{"foo":1,"containers":[{"name":"c","image":"busybox"}]}}`)},
			code: 201, warning: `unknown field \"spec.foo\"`, exists: []string{pods + "/bi-warn"}},
		{name: "unknown field default warns", req: rawRequest{method: "POST", path: pods, body: []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bi-warn-default"},"spec":{"foo":1,"containers":[{"name":"c","image":"busybox"}]}}`)},
			code: 201, warning: `unknown field \"spec.foo\"`, exists: []string{pods + "/bi-warn-default"}},
		{name: "duplicate field default warns", req: rawRequest{method: "POST", path: cms, body: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"bi-dup-warn"},"data":{"k":"a"},"data":{"k":"b"}}`)},
			code: 201, warning: `duplicate field \"data\"`, exists: []string{cms + "/bi-dup-warn"}},
		{name: "patch unknown field warns", req: rawRequest{method: "PATCH", path: cms + "/bi-stale", contentType: "application/merge-patch+json", body: []byte(`{"foo":1}`)},
			code: 200, warning: `unknown field \"foo\"`},
		{name: "patch unknown field Ignore", req: rawRequest{method: "PATCH", path: cms + "/bi-stale?fieldValidation=Ignore", contentType: "application/merge-patch+json", body: []byte(`{"foo":1}`)},
			code: 200, noWarning: true},
		{name: "unknown field Ignore", req: rawRequest{method: "POST", path: pods + "?fieldValidation=Ignore", body: []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bi-ignore"},"spec":{"foo":1,"containers":[{"name":"c","image":"busybox"}]}}`)},
			code: 201, noWarning: true, exists: []string{pods + "/bi-ignore"}},

		// Size and media type.
		{name: "body over 3MiB", req: rawRequest{method: "POST", path: pods, body: bigPod("bi-big")},
			code: 413, reason: metav1.StatusReasonRequestEntityTooLarge, absent: []string{pods + "/bi-big"}},
		{name: "chunked body over 3MiB", req: rawRequest{method: "POST", path: pods, body: bigPod("bi-big-chunked"), chunked: true},
			code: 413, reason: metav1.StatusReasonRequestEntityTooLarge, absent: []string{pods + "/bi-big-chunked"}},
		{name: "chunked update over 3MiB", req: rawRequest{method: "PUT", path: existing, body: bigPod("bi-existing"), chunked: true},
			code: 413, reason: metav1.StatusReasonRequestEntityTooLarge, unchanged: []string{existing}},
		{name: "chunked patch over 3MiB", req: rawRequest{method: "PATCH", path: existing, contentType: "application/merge-patch+json", body: bigPod("bi-existing"), chunked: true},
			code: 413, reason: metav1.StatusReasonRequestEntityTooLarge, unchanged: []string{existing}},
		{name: "chunked delete options over 3MiB", req: rawRequest{method: "DELETE", path: existing, body: []byte(`{"kind":"DeleteOptions","apiVersion":"v1","dryRun":["` + strings.Repeat("x", 3<<20) + `"]}`), chunked: true},
			code: 413, reason: metav1.StatusReasonRequestEntityTooLarge, unchanged: []string{existing}},
		{name: "text/plain body", req: rawRequest{method: "POST", path: cms, contentType: "text/plain", body: []byte(cmJSON("bi-text", ""))},
			code: 415, reason: metav1.StatusReasonUnsupportedMediaType, absent: []string{cms + "/bi-text"}},
		{name: "text/plain update", req: rawRequest{method: "PUT", path: existing, contentType: "text/plain", body: []byte(cmJSON("bi-existing", ""))},
			code: 415, reason: metav1.StatusReasonUnsupportedMediaType, unchanged: []string{existing}},
		{name: "patch as application/json", req: rawRequest{method: "PATCH", path: existing, contentType: "application/json", body: []byte(`{"data":{"k":"x"}}`)},
			code: 415, reason: metav1.StatusReasonUnsupportedMediaType, unchanged: []string{existing}},

		{name: "unacceptable Accept", req: rawRequest{method: "GET", path: existing, accept: "text/html"},
			code: 406, reason: metav1.StatusReasonNotAcceptable},
		{name: "unacceptable Accept on create", req: rawRequest{method: "POST", path: cms, accept: "text/html", body: []byte(cmJSON("bi-accept", ""))},
			code: 406, reason: metav1.StatusReasonNotAcceptable, absent: []string{cms + "/bi-accept"}},

		// Unknown paths and verbs.
		{name: "unknown core resource", req: rawRequest{method: "GET", path: "/api/v1/foos"}, code: 404, reason: metav1.StatusReasonNotFound},
		{name: "unknown namespaced resource", req: rawRequest{method: "POST", path: nsDefault + "/foos", body: []byte(`{}`)}, code: 404, reason: metav1.StatusReasonNotFound},
		{name: "unknown apps resource", req: rawRequest{method: "GET", path: "/apis/apps/v1/foos"}, code: 404, reason: metav1.StatusReasonNotFound},
		{name: "unknown group", req: rawRequest{method: "GET", path: "/apis/nope.example.com/v1/x"}, code: 404, reason: metav1.StatusReasonNotFound},
		{name: "unknown version", req: rawRequest{method: "GET", path: "/api/v2/pods"}, code: 404, reason: metav1.StatusReasonNotFound},
		{name: "PUT on a collection", req: rawRequest{method: "PUT", path: cms, body: []byte(cmJSON("bi-existing", ""))},
			code: 405, reason: metav1.StatusReasonMethodNotAllowed, unchanged: []string{existing}},
		{name: "PATCH on a collection", req: rawRequest{method: "PATCH", path: cms, contentType: "application/merge-patch+json", body: []byte(`{"data":{"k":"x"}}`)},
			code: 405, reason: metav1.StatusReasonMethodNotAllowed, unchanged: []string{existing}},
		{name: "POST to a named object", req: rawRequest{method: "POST", path: cms + "/bi-post-named", body: []byte(cmJSON("bi-post-named", ""))},
			code: 405, reason: metav1.StatusReasonMethodNotAllowed, absent: []string{cms + "/bi-post-named"}},
		{name: "POST to all namespaces", req: rawRequest{method: "POST", path: "/api/v1/configmaps", body: []byte(cmJSON("bi-all-ns", ""))},
			code: 405, reason: metav1.StatusReasonMethodNotAllowed, absent: []string{cms + "/bi-all-ns"}},
		{name: "DELETE in all namespaces", req: rawRequest{method: "DELETE", path: "/api/v1/configmaps"},
			code: 405, reason: metav1.StatusReasonMethodNotAllowed, exists: []string{existing}},
		{name: "DELETE all namespaces", req: rawRequest{method: "DELETE", path: "/api/v1/namespaces"},
			code: 405, reason: metav1.StatusReasonMethodNotAllowed, exists: []string{"/api/v1/namespaces/default"}},
		{name: "OPTIONS on a resource", req: rawRequest{method: "OPTIONS", path: cms}, code: 405, reason: metav1.StatusReasonMethodNotAllowed},

		// Validation: 422 names every offending field.
		{name: "pod without containers", req: rawRequest{method: "POST", path: pods, body: []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bi-nocontainers"},"spec":{}}`)},
			code: 422, reason: metav1.StatusReasonInvalid, message: []string{`Pod "bi-nocontainers" is invalid`}, causes: []string{"spec.containers"}, absent: []string{pods + "/bi-nocontainers"}},
		{name: "bad container name and no image", req: rawRequest{method: "POST", path: pods, body: []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bi-badcontainer"},"spec":{"containers":[{"name":"Bad_Name"}]}}`)},
			code: 422, reason: metav1.StatusReasonInvalid, causes: []string{"spec.containers[0].image", "spec.containers[0].name"}, absent: []string{pods + "/bi-badcontainer"}},
		{name: "bad pod name", req: rawRequest{method: "POST", path: pods, body: []byte(podJSON("Bi_Bad"))},
			code: 422, reason: metav1.StatusReasonInvalid, causes: []string{"metadata.name"}, absent: []string{pods + "/Bi_Bad"}},
		{name: "deployment selector does not match labels", req: rawRequest{method: "POST", path: deploys, body: []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"bi-mismatch"},"spec":{"selector":{"matchLabels":{"app":"a"}},"template":{"metadata":{"labels":{"app":"b"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}`)},
			code: 422, reason: metav1.StatusReasonInvalid, message: []string{`Deployment.apps "bi-mismatch" is invalid`}, causes: []string{"spec.template.metadata.labels"}, absent: []string{deploys + "/bi-mismatch"}},
		{name: "invalid update", req: rawRequest{method: "PUT", path: existing, body: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"bi-existing",` + existingRV + `},"data":{"bad key!":"v"}}`)},
			code: 422, reason: metav1.StatusReasonInvalid, causes: []string{"data[bad key!]"}, unchanged: []string{existing}},
		{name: "patch to an invalid object", req: rawRequest{method: "PATCH", path: existing, contentType: "application/merge-patch+json", body: []byte(`{"data":{"bad key!":"v"}}`)},
			code: 422, reason: metav1.StatusReasonInvalid, causes: []string{"data[bad key!]"}, unchanged: []string{existing}},

		// Namespaces that cannot take new objects.
		{name: "missing namespace", req: rawRequest{method: "POST", path: "/api/v1/namespaces/bi-nope/configmaps", body: []byte(cmJSON("bi-in-missing", ""))},
			code: 404, reason: metav1.StatusReasonNotFound, message: []string{`namespaces "bi-nope" not found`}, absent: []string{"/api/v1/namespaces/bi-nope/configmaps/bi-in-missing"}},
		{name: "terminating namespace", req: rawRequest{method: "POST", path: "/api/v1/namespaces/bi-terminating/configmaps", body: []byte(cmJSON("bi-in-terminating", ""))},
			code: 403, reason: metav1.StatusReasonForbidden, message: []string{`configmaps "bi-in-terminating" is forbidden`, "unable to create new content in namespace bi-terminating because it is being terminated"},
			causes: []string{"metadata.namespace"}, absent: []string{"/api/v1/namespaces/bi-terminating/configmaps/bi-in-terminating"}},

		// Conflicts and missing objects.
		{name: "update with stale resourceVersion", req: rawRequest{method: "PUT", path: cms + "/bi-stale", body: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"bi-stale","resourceVersion":"` + stale.ResourceVersion + `"},"data":{"k":"v3"}}`)},
			code: 409, reason: metav1.StatusReasonConflict, message: []string{`Operation cannot be fulfilled on configmaps "bi-stale"`}, unchanged: []string{cms + "/bi-stale"}},
		{name: "create existing", req: rawRequest{method: "POST", path: cms, body: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"bi-existing"},"data":{"k":"other"}}`)},
			code: 409, reason: metav1.StatusReasonAlreadyExists, message: []string{`configmaps "bi-existing" already exists`}, unchanged: []string{existing}},
		{name: "get missing", req: rawRequest{method: "GET", path: cms + "/bi-missing"},
			code: 404, reason: metav1.StatusReasonNotFound, message: []string{`configmaps "bi-missing" not found`}},
		{name: "update missing", req: rawRequest{method: "PUT", path: cms + "/bi-missing", body: []byte(cmJSON("bi-missing", ""))},
			code: 404, reason: metav1.StatusReasonNotFound, absent: []string{cms + "/bi-missing"}},
		{name: "patch missing", req: rawRequest{method: "PATCH", path: cms + "/bi-missing", contentType: "application/merge-patch+json", body: []byte(`{"data":{"k":"x"}}`)},
			code: 404, reason: metav1.StatusReasonNotFound, absent: []string{cms + "/bi-missing"}},
		{name: "delete missing", req: rawRequest{method: "DELETE", path: cms + "/bi-missing"},
			code: 404, reason: metav1.StatusReasonNotFound},
		{name: "update name mismatch", req: rawRequest{method: "PUT", path: existing, body: []byte(cmJSON("bi-other", ""))},
			code: 400, reason: badRequest, unchanged: []string{existing}, absent: []string{cms + "/bi-other"}},
		{name: "malformed update", req: rawRequest{method: "PUT", path: existing, body: []byte(`{"apiVersion":"v1","kind":"ConfigMap",`)},
			code: 400, reason: badRequest, unchanged: []string{existing}},
		{name: "update unknown field Strict", req: rawRequest{method: "PUT", path: existing + "?fieldValidation=Strict", body: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"bi-existing"},"data":{"k":"x"},"foo":1}`)},
			code: 400, reason: badRequest, message: []string{`unknown field "foo"`}, unchanged: []string{existing}},

		// Selectors.
		{name: "invalid label selector", req: rawRequest{method: "GET", path: pods + "?labelSelector=a%20in%20(b"}, code: 400, reason: badRequest},
		{name: "unsupported field selector", req: rawRequest{method: "GET", path: pods + "?fieldSelector=spec.foo%3Dbar"},
			code: 400, reason: badRequest, message: []string{`field label not supported: spec.foo`}},
		{name: "malformed field selector", req: rawRequest{method: "GET", path: pods + "?fieldSelector=a"}, code: 400, reason: badRequest},
		{name: "invalid label selector on watch", req: rawRequest{method: "GET", path: pods + "?watch=1&labelSelector=a%20in%20(b"}, code: 400, reason: badRequest},
		{name: "unsupported field selector on watch", req: rawRequest{method: "GET", path: pods + "?watch=1&fieldSelector=spec.foo%3Dbar"},
			code: 400, reason: badRequest, message: []string{`field label not supported: spec.foo`}},
		{name: "invalid resourceVersion on watch", req: rawRequest{method: "GET", path: pods + "?watch=1&resourceVersion=abc"}, code: 400, reason: badRequest},
		{name: "invalid resourceVersion on list", req: rawRequest{method: "GET", path: pods + "?resourceVersion=abc"}, code: 400, reason: badRequest},
		{name: "invalid selector on deletecollection", req: rawRequest{method: "DELETE", path: cms + "?labelSelector=a%20in%20(b"},
			code: 400, reason: badRequest, exists: []string{existing}},

		// Patches.
		{name: "JSON patch failing test", req: rawRequest{method: "PATCH", path: existing, contentType: "application/json-patch+json", body: []byte(`[{"op":"test","path":"/data/k","value":"nope"},{"op":"replace","path":"/data/k","value":"changed"}]`)},
			code: 422, reason: metav1.StatusReasonInvalid, unchanged: []string{existing}},
		{name: "JSON patch copies over the size limit", req: rawRequest{method: "PATCH", path: existing, contentType: "application/json-patch+json", body: copyBombPatch(12)},
			code: 422, reason: metav1.StatusReasonInvalid, unchanged: []string{existing}},
		{name: "malformed JSON patch", req: rawRequest{method: "PATCH", path: existing, contentType: "application/json-patch+json", body: []byte(`[{"op":"replace"`)},
			code: 400, reason: badRequest, unchanged: []string{existing}},
		{name: "JSON patch not a list", req: rawRequest{method: "PATCH", path: existing, contentType: "application/json-patch+json", body: []byte(`{"op":"replace","path":"/data/k","value":"x"}`)},
			code: 400, reason: badRequest, unchanged: []string{existing}},
		{name: "malformed merge patch", req: rawRequest{method: "PATCH", path: existing, contentType: "application/merge-patch+json", body: []byte(`{"data":`)},
			code: 400, reason: badRequest, unchanged: []string{existing}},
		{name: "malformed strategic merge patch", req: rawRequest{method: "PATCH", path: existing, contentType: "application/strategic-merge-patch+json", body: []byte(`{"data":`)},
			code: 400, reason: badRequest, unchanged: []string{existing}},
		{name: "strategic merge patch with a list of lists", req: rawRequest{method: "PATCH", path: pods + "/bi-warn", contentType: "application/strategic-merge-patch+json", body: []byte(`{"spec":{"containers":[[{"name":"c"}]]}}`)},
			code: 422, reason: metav1.StatusReasonInvalid, unchanged: []string{pods + "/bi-warn"}},
		{name: "merge patch unknown field Strict", req: rawRequest{method: "PATCH", path: existing + "?fieldValidation=Strict", contentType: "application/merge-patch+json", body: []byte(`{"foo":1}`)},
			code: 400, reason: badRequest, message: []string{`unknown field "foo"`}, unchanged: []string{existing}},
		{name: "invalid dryRun", req: rawRequest{method: "POST", path: cms + "?dryRun=Bogus", body: []byte(cmJSON("bi-dryrun", ""))},
			code: 400, reason: badRequest, absent: []string{cms + "/bi-dryrun"}},
		{name: "malformed delete options", req: rawRequest{method: "DELETE", path: existing, body: []byte(`{"kind":"DeleteOptions",`)},
			code: 400, reason: badRequest, unchanged: []string{existing}},
	}

	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("duplicate case name %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			before := map[string]rawResponse{}
			for _, p := range tc.unchanged {
				got := c.get(t, p)
				if got.code != 200 {
					t.Fatalf("GET %s before: %d %s", p, got.code, got.body)
				}
				before[p] = got
			}
			got := c.do(t, tc.req)
			what := tc.req.method + " " + tc.req.path
			t.Logf("%s: %d %.400s", what, got.code, got.body)
			if tc.reason != "" {
				st := checkStatus(t, what, got, tc.code, tc.reason)
				for _, m := range tc.message {
					if !strings.Contains(st.Message, m) {
						t.Errorf("%s: message %q does not contain %q", what, st.Message, m)
					}
				}
				if tc.causes != nil || tc.code == 422 {
					if fields := causeFields(st); !slices.Equal(fields, tc.causes) {
						t.Errorf("%s: cause fields %q, want %q (%s)", what, fields, tc.causes, got.body)
					}
				}
			} else if got.code != tc.code {
				t.Errorf("%s: code %d, want %d: %s", what, got.code, tc.code, got.body)
			}
			warnings := strings.Join(got.header.Values("Warning"), "\n")
			if tc.warning != "" && !strings.Contains(warnings, tc.warning) {
				t.Errorf("%s: Warning header %q does not contain %q", what, warnings, tc.warning)
			}
			if tc.noWarning && warnings != "" {
				t.Errorf("%s: unexpected Warning header %q", what, warnings)
			}
			for _, p := range tc.absent {
				if after := c.get(t, p); after.code != 404 {
					t.Errorf("%s: GET %s afterwards: %d, want 404 (partially written): %s", what, p, after.code, after.body)
				}
			}
			for _, p := range tc.exists {
				if after := c.get(t, p); after.code != 200 {
					t.Errorf("%s: GET %s afterwards: %d, want 200: %s", what, p, after.code, after.body)
				}
			}
			for _, p := range tc.unchanged {
				if after := c.get(t, p); after.code != 200 || !bytes.Equal(after.body, before[p].body) {
					t.Errorf("%s: %s changed:\nbefore %s\nafter  %d %s", what, p, before[p].body, after.code, after.body)
				}
			}
		})
	}

	t.Run("no credentials", func(t *testing.T) {
		anon := anonymousClient(ts)
		for _, rq := range []rawRequest{
			{method: "GET", path: pods},
			{method: "GET", path: "/api"},
			{method: "GET", path: "/apis/apps/v1"},
			{method: "GET", path: "/metrics"},
			{method: "GET", path: "/api/v1/foos"},
			{method: "POST", path: cms, body: []byte(cmJSON("bi-anonymous", ""))},
			{method: "DELETE", path: existing},
		} {
			checkStatus(t, "anonymous "+rq.method+" "+rq.path, anon.do(t, rq), 401, metav1.StatusReasonUnauthorized)
		}
		if got := c.get(t, cms+"/bi-anonymous"); got.code != 404 {
			t.Errorf("anonymous create went through: %d %s", got.code, got.body)
		}
		if got := c.get(t, existing); got.code != 200 {
			t.Errorf("anonymous delete went through: %d %s", got.code, got.body)
		}
		for _, p := range []string{"/healthz", "/livez", "/readyz", "/version"} {
			if got := anon.get(t, p); got.code != 200 {
				t.Errorf("anonymous GET %s: %d, want 200: %s", p, got.code, got.body)
			}
		}
	})
}
