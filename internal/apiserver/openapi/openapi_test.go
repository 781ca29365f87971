package openapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	openapiv2 "github.com/google/gnostic-models/openapiv2"
	openapiv3 "github.com/google/gnostic-models/openapiv3"
	"google.golang.org/protobuf/proto"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/openapi"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/rest"
	"k8s.io/kubectl/pkg/explain"
	explainv2 "k8s.io/kubectl/pkg/explain/v2"
	kubectlopenapi "k8s.io/kubectl/pkg/util/openapi"
)

var allVerbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// testResources is a small but realistic set: namespaced and cluster-scoped
// kinds, core and named groups, status and scale subresources.
func testResources() []Resource {
	return []Resource{
		{Version: "v1", Resource: "pods", Kind: "Pod", Namespaced: true, Verbs: allVerbs,
			Subresources: []string{"status"}, Object: &corev1.Pod{}, List: &corev1.PodList{}},
		{Version: "v1", Resource: "services", Kind: "Service", Namespaced: true, Verbs: allVerbs,
			Subresources: []string{"status"}, Object: &corev1.Service{}, List: &corev1.ServiceList{}},
		{Version: "v1", Resource: "configmaps", Kind: "ConfigMap", Namespaced: true, Verbs: allVerbs,
			Object: &corev1.ConfigMap{}, List: &corev1.ConfigMapList{}},
		{Version: "v1", Resource: "namespaces", Kind: "Namespace", Verbs: []string{"create", "delete", "get", "list", "patch", "update", "watch"},
			Subresources: []string{"status", "finalize"}, Object: &corev1.Namespace{}, List: &corev1.NamespaceList{}},
		{Group: "apps", Version: "v1", Resource: "deployments", Kind: "Deployment", Namespaced: true, Verbs: allVerbs,
			Subresources: []string{"status", "scale"}, Object: &appsv1.Deployment{}, List: &appsv1.DeploymentList{}},
	}
}

// testServer serves the handler and returns a client config for it.
func testServer(t *testing.T) *rest.Config {
	t.Helper()
	srv := httptest.NewServer(NewHandler(testResources()))
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL}
}

func discoveryClient(t *testing.T, cfg *rest.Config) *discovery.DiscoveryClient {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dc
}

var (
	deploymentGVK = appsv1.SchemeGroupVersion.WithKind("Deployment")
	podGVK        = corev1.SchemeGroupVersion.WithKind("Pod")
	namespaceGVK  = corev1.SchemeGroupVersion.WithKind("Namespace")
)

// client-go's discovery asks for the protobuf v2 document and decodes it
// into gnostic's model; kubectl then indexes it by GVK.
func TestV2ProtobufThroughDiscovery(t *testing.T) {
	doc, err := discoveryClient(t, testServer(t)).OpenAPISchema()
	if err != nil {
		t.Fatalf("OpenAPISchema: %v", err)
	}
	if doc.GetSwagger() != "2.0" || doc.GetInfo().GetTitle() != "Kubernetes" || !strings.HasPrefix(doc.GetInfo().GetVersion(), "v1.") {
		t.Errorf("swagger %q info %v", doc.GetSwagger(), doc.GetInfo())
	}
	var paths []string
	for _, p := range doc.GetPaths().GetPath() {
		paths = append(paths, p.GetName())
	}
	for _, want := range []string{
		"/api/v1/namespaces/{namespace}/pods",
		"/api/v1/namespaces/{namespace}/pods/{name}",
		"/api/v1/namespaces/{namespace}/pods/{name}/status",
		"/api/v1/pods",
		"/api/v1/namespaces",
		"/api/v1/namespaces/{name}",
		"/api/v1/namespaces/{name}/finalize",
		"/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale",
		"/apis/apps/v1/watch/namespaces/{namespace}/deployments",
	} {
		if !contains(paths, want) {
			t.Errorf("path %s missing", want)
		}
	}

	ids := map[string]string{}
	for _, p := range doc.GetPaths().GetPath() {
		v := p.GetValue()
		for method, op := range map[string]*openapiv2.Operation{"get": v.GetGet(), "put": v.GetPut(),
			"post": v.GetPost(), "patch": v.GetPatch(), "delete": v.GetDelete()} {
			if op != nil {
				ids[method+" "+p.GetName()] = op.GetOperationId()
			}
		}
	}
	for key, want := range map[string]string{
		"get /api/v1/namespaces":                                  "listCoreV1Namespace",
		"post /api/v1/namespaces":                                 "createCoreV1Namespace",
		"get /api/v1/namespaces/{name}/status":                    "readCoreV1NamespaceStatus",
		"put /api/v1/namespaces/{name}/finalize":                  "replaceCoreV1NamespaceFinalize",
		"get /api/v1/pods":                                        "listCoreV1PodForAllNamespaces",
		"delete /api/v1/namespaces/{namespace}/pods":              "deleteCoreV1CollectionNamespacedPod",
		"delete /api/v1/namespaces/{namespace}/pods/{name}":       "deleteCoreV1NamespacedPod",
		"patch /api/v1/namespaces/{namespace}/pods/{name}/status": "patchCoreV1NamespacedPodStatus",
		"get /api/v1/watch/namespaces/{namespace}/pods/{name}":    "watchCoreV1NamespacedPod",
		"get /api/v1/watch/namespaces/{namespace}/pods":           "watchCoreV1NamespacedPodList",
	} {
		if ids[key] != want {
			t.Errorf("%s: operationId %q, want %q", key, ids[key], want)
		}
	}
	if _, ok := ids["delete /api/v1/namespaces"]; ok {
		t.Error("deletecollection published for namespaces, which do not serve it")
	}

	res, err := kubectlopenapi.NewOpenAPIData(doc)
	if err != nil {
		t.Fatalf("kubectl cannot index the v2 document: %v", err)
	}
	for _, gvk := range []schema.GroupVersionKind{deploymentGVK, podGVK, namespaceGVK,
		{Group: "autoscaling", Version: "v1", Kind: "Scale"}} {
		if res.LookupResource(gvk) == nil {
			t.Errorf("no v2 model for %v", gvk)
		}
	}
	// kubectl apply picks strategic merge patch when PATCH consumes it.
	if c := res.GetConsumes(deploymentGVK, "PATCH"); !contains(c, "application/strategic-merge-patch+json") {
		t.Errorf("PATCH consumes %v", c)
	}

	// The v2 explain renderer (kubectl explain -o plaintext-openapiv2).
	var out bytes.Buffer
	if err := explain.PrintModelDescription([]string{"spec", "containers"}, &out, res.LookupResource(podGVK), podGVK, false, 0); err != nil {
		t.Fatal(err)
	}
	if !regexpMatch(`name\s+<string> -required-`, out.String()) {
		t.Errorf("v2 explain of pod.spec.containers lacks required name:\n%s", out.String())
	}
	out.Reset()
	if err := explain.PrintModelDescription([]string{"spec", "strategy"}, &out, res.LookupResource(deploymentGVK), deploymentGVK, false, 0); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "Possible enum values:") || !strings.Contains(got, "Kill all existing pods before creating new ones.") {
		t.Errorf("v2 explain of deployment.spec.strategy lacks the enum values:\n%s", got)
	}
}

// kubectl's verifiers decide server-side field validation from the PATCH
// operation of the GVK: v3 first, v2 as fallback.
func TestFieldValidationSupported(t *testing.T) {
	cfg := testServer(t)
	dc := discoveryClient(t, cfg)
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v3 := resource.NewQueryParamVerifierV3(dyn, dc.OpenAPIV3(), resource.QueryParamFieldValidation)
	v2 := resource.NewQueryParamVerifier(dyn, dc, resource.QueryParamFieldValidation)
	for _, gvk := range []schema.GroupVersionKind{deploymentGVK, podGVK, namespaceGVK} {
		if err := v3.HasSupport(gvk); err != nil {
			t.Errorf("v3 verifier, %v: %v", gvk, err)
		}
		if err := v2.HasSupport(gvk); err != nil {
			t.Errorf("v2 verifier, %v: %v", gvk, err)
		}
	}
	// A group-version that is not served is reported as unsupported, not
	// as a broken document.
	if err := v3.HasSupport(schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}); !resource.IsParamUnsupportedError(err) {
		t.Errorf("unserved GVK: %v", err)
	}
}

func TestV3RootAndDescriptions(t *testing.T) {
	dc := discoveryClient(t, testServer(t))
	root := openapi3.NewRoot(dc.OpenAPIV3())
	gvs, err := root.GroupVersions()
	if err != nil {
		t.Fatal(err)
	}
	if len(gvs) != 2 || gvs[0] != appsv1.SchemeGroupVersion || gvs[1] != corev1.SchemeGroupVersion {
		t.Errorf("group versions %v", gvs)
	}
	doc, err := root.GVSpec(appsv1.SchemeGroupVersion)
	if err != nil {
		t.Fatal(err)
	}
	strategy, ok := doc.Components.Schemas["io.k8s.api.apps.v1.DeploymentStrategy"]
	if !ok {
		t.Fatal("DeploymentStrategy schema missing")
	}
	if want := (appsv1.DeploymentStrategy{}).SwaggerDoc()[""]; strategy.Description != want || want == "" {
		t.Errorf("description %q, want %q", strategy.Description, want)
	}
	for _, name := range []string{"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
		"io.k8s.apimachinery.pkg.api.resource.Quantity", "io.k8s.api.autoscaling.v1.Scale", "io.k8s.api.core.v1.PodSpec"} {
		if _, ok := doc.Components.Schemas[name]; !ok {
			t.Errorf("apps/v1 lacks %s", name)
		}
	}
	// Only this group-version's paths.
	for p := range doc.Paths.Paths {
		if !strings.HasPrefix(p, "/apis/apps/v1/") {
			t.Errorf("foreign path %s in apps/v1", p)
		}
	}
	if _, ok := doc.Components.Schemas["io.k8s.api.core.v1.ConfigMap"]; ok {
		t.Error("apps/v1 carries the unreferenced ConfigMap schema")
	}
	list := doc.Paths.Paths["/apis/apps/v1/namespaces/{namespace}/deployments"]
	if list == nil || list.Get == nil || list.Get.OperationId != "listAppsV1NamespacedDeployment" || list.Get.Extensions["x-kubernetes-action"] != "list" {
		t.Fatalf("list operation: %+v", list)
	}
	for _, id := range []struct{ path, method, id string }{
		{"/apis/apps/v1/deployments", "get", "listAppsV1DeploymentForAllNamespaces"},
		{"/apis/apps/v1/namespaces/{namespace}/deployments", "post", "createAppsV1NamespacedDeployment"},
		{"/apis/apps/v1/namespaces/{namespace}/deployments", "delete", "deleteAppsV1CollectionNamespacedDeployment"},
		{"/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "put", "replaceAppsV1NamespacedDeployment"},
		{"/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", "patch", "patchAppsV1NamespacedDeploymentScale"},
		{"/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status", "get", "readAppsV1NamespacedDeploymentStatus"},
		{"/apis/apps/v1/watch/deployments", "get", "watchAppsV1DeploymentListForAllNamespaces"},
	} {
		p := doc.Paths.Paths[id.path]
		if p == nil {
			t.Errorf("no path %s", id.path)
			continue
		}
		var got string
		switch id.method {
		case "get":
			got = p.Get.OperationId
		case "post":
			got = p.Post.OperationId
		case "put":
			got = p.Put.OperationId
		case "patch":
			got = p.Patch.OperationId
		case "delete":
			got = p.Delete.OperationId
		}
		if got != id.id {
			t.Errorf("%s %s: operationId %q, want %q", id.method, id.path, got, id.id)
		}
	}
	scale := doc.Paths.Paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"].Patch
	var gvk map[string]string
	if err := scale.Extensions.GetObject("x-kubernetes-group-version-kind", &gvk); err != nil || gvk["group"] != "autoscaling" || gvk["kind"] != "Scale" {
		t.Errorf("scale GVK %v %v", gvk, err)
	}
}

func TestKubectlExplainV3(t *testing.T) {
	dc := discoveryClient(t, testServer(t))
	client := dc.OpenAPIV3()
	explainText := func(gvr schema.GroupVersionResource, path ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := explainv2.PrintModelDescription(path, &out, client, gvr, false, 0, "plaintext"); err != nil {
			t.Fatalf("explain %v %v: %v", gvr, path, err)
		}
		return out.String()
	}

	got := explainText(appsv1.SchemeGroupVersion.WithResource("deployments"), "spec", "strategy")
	for _, want := range []string{"GROUP:      apps", "KIND:       Deployment", "VERSION:    v1",
		"FIELD: strategy <DeploymentStrategy>",
		"The deployment strategy to use to replace existing pods with new ones.",
		"DeploymentStrategy describes how to replace existing pods with new ones.",
		"rollingUpdate\t<RollingUpdateDeployment>",
		// The enum values, listed and described, as from a real cluster.
		"type\t<string>\n  enum: Recreate, RollingUpdate\n",
		"Possible enum values:",
		"- `\"Recreate\"` Kill all existing pods before creating new ones."} {
		if !strings.Contains(got, want) {
			t.Errorf("explain deployment.spec.strategy lacks %q:\n%s", want, got)
		}
	}

	got = explainText(corev1.SchemeGroupVersion.WithResource("pods"), "spec")
	if !regexpMatch(`containers\s+<\[\]Container> -required-`, got) {
		t.Errorf("pod.spec.containers not required:\n%s", got)
	}
	got = explainText(corev1.SchemeGroupVersion.WithResource("pods"), "spec", "containers")
	if !regexpMatch(`name\s+<string> -required-`, got) || regexpMatch(`image\s+<string> -required-`, got) {
		t.Errorf("explain pod.spec.containers required markers:\n%s", got)
	}
	// Special types print as upstream's do.
	got = explainText(appsv1.SchemeGroupVersion.WithResource("deployments"), "spec", "strategy", "rollingUpdate")
	if !strings.Contains(got, "maxSurge\t<IntOrString>") {
		t.Errorf("maxSurge type:\n%s", got)
	}
	got = explainText(corev1.SchemeGroupVersion.WithResource("namespaces"))
	if !strings.Contains(got, "KIND:       Namespace") || !strings.Contains(got, "metadata\t<ObjectMeta>") {
		t.Errorf("explain namespaces:\n%s", got)
	}
}

// kubectl apply builds its strategic merge patch from the v3 schemas'
// patch extensions: containers merge by name instead of being replaced.
func TestStrategicMergePatchFromV3(t *testing.T) {
	dc := discoveryClient(t, testServer(t))
	doc, err := openapi3.NewRoot(dc.OpenAPIV3()).GVSpec(appsv1.SchemeGroupVersion)
	if err != nil {
		t.Fatal(err)
	}
	meta := strategicpatch.PatchMetaFromOpenAPIV3{
		Schema:     doc.Components.Schemas["io.k8s.api.apps.v1.Deployment"],
		SchemaList: doc.Components.Schemas,
	}
	obj := func(image string) []byte {
		return []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"` + image + `"},{"name":"b","image":"x"}]}}}}`)
	}
	patch, err := strategicpatch.CreateThreeWayMergePatch(obj("1"), obj("2"), obj("1"), meta, false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(patch), `"$setElementOrder/containers"`) || !strings.Contains(string(patch), `{"image":"2","name":"a"}`) {
		t.Errorf("patch does not merge containers by name: %s", patch)
	}
}

// Server-side apply needs schemas that convert to structured-merge-diff
// types; client-go's converter does exactly that over every group-version.
func TestTypeConverter(t *testing.T) {
	dc := discoveryClient(t, testServer(t))
	tc, err := openapi.NewTypeConverter(dc.OpenAPIV3(), false)
	if err != nil {
		t.Fatal(err)
	}
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Strategy: appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxSurge: ptrTo(intstr.FromString("25%")), MaxUnavailable: ptrTo(intstr.FromInt32(1)),
			}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "web", Image: "nginx",
				Ports: []corev1.ContainerPort{{ContainerPort: 80}},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
					corev1.ResourceCPU: apiresource.MustParse("100m"), corev1.ResourceMemory: apiresource.MustParse("1Gi"),
				}},
			}}}},
		},
	}
	typed, err := tc.ObjectToTyped(d)
	if err != nil {
		t.Fatalf("ObjectToTyped: %v", err)
	}
	// Containers are a keyed list, so managed fields name them by key.
	set, err := typed.ToFieldSet()
	if err != nil {
		t.Fatal(err)
	}
	if s := set.String(); !strings.Contains(s, `.spec.template.spec.containers[name="web"].image`) {
		t.Errorf("field set does not key containers by name:\n%s", s)
	}
}

func TestV3Protobuf(t *testing.T) {
	dc := discoveryClient(t, testServer(t))
	paths, err := dc.OpenAPIV3().Paths()
	if err != nil {
		t.Fatal(err)
	}
	gv, ok := paths["apis/apps/v1"]
	if !ok {
		t.Fatalf("paths %v", paths)
	}
	if !strings.HasPrefix(gv.ServerRelativeURL(), "/openapi/v3/apis/apps/v1?hash=") {
		t.Errorf("serverRelativeURL %q", gv.ServerRelativeURL())
	}
	data, err := gv.Schema(openapi.ContentTypeOpenAPIV3PB)
	if err != nil {
		t.Fatal(err)
	}
	var doc openapiv3.Document
	if err := proto.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range doc.GetComponents().GetSchemas().GetAdditionalProperties() {
		if s.GetName() == "io.k8s.api.apps.v1.Deployment" {
			found = true
		}
	}
	if !found || doc.GetOpenapi() != "3.0.0" {
		t.Errorf("protobuf v3 document: openapi %q, Deployment found %v", doc.GetOpenapi(), found)
	}
}

func TestHTTPBehaviour(t *testing.T) {
	srv := httptest.NewServer(NewHandler(testResources()))
	defer srv.Close()
	get := func(path string, hdr ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	// v2: JSON by default, ETag and 304.
	resp := get("/openapi/v2")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("v2: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var swagger map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&swagger); err != nil || swagger["swagger"] != "2.0" {
		t.Fatalf("v2 JSON: %v", err)
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if r := get("/openapi/v2", "If-None-Match", etag); r.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", r.StatusCode)
	}
	if r := get("/openapi/v2", "Accept", "text/html"); r.StatusCode != http.StatusNotAcceptable {
		t.Errorf("text/html: %d", r.StatusCode)
	}
	r := get("/openapi/v2", "Accept", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
	var v2doc openapiv2.Document
	body := readAll(t, r)
	if r.StatusCode != 200 || proto.Unmarshal(body, &v2doc) != nil || v2doc.GetSwagger() != "2.0" {
		t.Errorf("v2 protobuf: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
	// q-values are honoured.
	if r := get("/openapi/v2", "Accept", "application/json;q=0.5, application/com.github.proto-openapi.spec.v2.v1.0+protobuf"); !strings.Contains(r.Header.Get("Content-Type"), "protobuf") {
		t.Errorf("q-values: %s", r.Header.Get("Content-Type"))
	}

	// v3 discovery and a pinned document.
	var disco struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(readAll(t, get("/openapi/v3")), &disco); err != nil {
		t.Fatal(err)
	}
	u := disco.Paths["api/v1"].ServerRelativeURL
	if !strings.HasPrefix(u, "/openapi/v3/api/v1?hash=") {
		t.Fatalf("discovery %+v", disco)
	}
	r = get(u)
	if r.StatusCode != 200 || !strings.Contains(r.Header.Get("Cache-Control"), "immutable") || r.Header.Get("Expires") == "" {
		t.Errorf("pinned document: %d %q", r.StatusCode, r.Header.Get("Cache-Control"))
	}
	if r := get("/openapi/v3/api/v1"); r.Header.Get("Cache-Control") != "" {
		t.Errorf("unpinned document cached: %q", r.Header.Get("Cache-Control"))
	}
	if r := get("/openapi/v3/api/v1?hash=stale"); r.StatusCode != http.StatusMovedPermanently || r.Header.Get("Location") != u {
		t.Errorf("stale hash: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := get("/openapi/v3/apis/batch/v1"); r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown group-version: %d", r.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/openapi/v2", nil)
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %v %v", r, err)
	} else {
		r.Body.Close()
	}
}

func ptrTo[T any](v T) *T { return &v }

func contains(list []string, s string) bool { return slices.Contains(list, s) }

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }

func readAll(t *testing.T, r *http.Response) []byte {
	t.Helper()
	data, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The same resources must give byte-identical documents, so that ETags and
// pinned v3 URLs stay valid across restarts and replicas.
func TestDeterministic(t *testing.T) {
	a, err := newHandler(testResources())
	if err != nil {
		t.Fatal(err)
	}
	b, err := newHandler(testResources())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.v2.json, b.v2.json) || !bytes.Equal(a.discovery.json, b.discovery.json) {
		t.Error("documents differ between builds")
	}
	for gv := range a.groups {
		if !bytes.Equal(a.groups[gv].json, b.groups[gv].json) {
			t.Errorf("%s differs between builds", gv)
		}
	}
}

func TestIncompleteResourceRejected(t *testing.T) {
	if _, err := newHandler([]Resource{{Version: "v1", Resource: "pods", Kind: "Pod"}}); err == nil {
		t.Error("a resource without an object was accepted")
	}
}
