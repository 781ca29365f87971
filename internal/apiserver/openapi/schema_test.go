package openapi

import (
	"encoding/json"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/kube-openapi/pkg/validation/spec"
	kubectlopenapi "k8s.io/kubectl/pkg/util/openapi"

	openapiv2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
)

type testEmbedded struct {
	E bool `json:"e"`
}

type testInner struct {
	A string `json:"a"`
}

// testThing exercises every mapping rule.
type testThing struct {
	metav1.TypeMeta `json:",inline"`
	testEmbedded
	Q    resource.Quantity    `json:"q"`
	QP   *resource.Quantity   `json:"qp,omitempty"`
	IOS  intstr.IntOrString   `json:"ios,omitempty"`
	T    metav1.Time          `json:"t,omitempty"`
	MT   *metav1.MicroTime    `json:"mt,omitempty"`
	D    metav1.Duration      `json:"d,omitempty"`
	Raw  runtime.RawExtension `json:"raw,omitempty"`
	B    []byte               `json:"b,omitempty"`
	M    map[string]testInner `json:"m,omitempty"`
	S    map[string]string    `json:"s,omitempty"`
	L    []testInner          `json:"l" patchStrategy:"merge" patchMergeKey:"a"`
	Self *testThing           `json:"self,omitempty"`
	Anon struct {
		X int32 `json:"x"`
	} `json:"anon"`
	Skip       string `json:"-"`
	unexported string //nolint:unused // checks that unexported fields are skipped
	NoTag      int64
	Ptr        *string `json:"ptr"`
	F          float64 `json:"f,omitzero"`
}

func (testThing) SwaggerDoc() map[string]string {
	return map[string]string{"": "A test thing.", "q": "How much.", "l": "The list."}
}

func render(t *testing.T, v any) map[string]any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameJSON compares v with the JSON text want, ignoring key order.
func sameJSON(t *testing.T, what string, v any, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad expectation: %v", what, err)
	}
	if got := render(t, v); !reflect.DeepEqual(got, w) {
		t.Errorf("%s = %s, want %s", what, jsonOf(t, v), want)
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestDefinitionNames(t *testing.T) {
	for typ, want := range map[reflect.Type]string{
		reflect.TypeFor[metav1.ObjectMeta]():    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
		reflect.TypeFor[resource.Quantity]():    "io.k8s.apimachinery.pkg.api.resource.Quantity",
		reflect.TypeFor[intstr.IntOrString]():   "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
		reflect.TypeFor[runtime.RawExtension](): "io.k8s.apimachinery.pkg.runtime.RawExtension",
		reflect.TypeFor[testThing]():            "skiff.internal.apiserver.openapi.testThing",
	} {
		if got := definitionName(typ); got != want {
			t.Errorf("%v: %q, want %q", typ, got, want)
		}
	}
}

func TestSchemaRulesV2(t *testing.T) {
	b := newSchemaBuilder(false)
	name := b.define(reflect.TypeFor[testThing]())
	s := b.defs[name]
	if s.Description != "A test thing." || s.Type != "object" {
		t.Errorf("type: %q %v", s.Description, s.Type)
	}
	wantRequired := []string{"q", "l", "anon", "NoTag", "ptr", "e"}
	if !reflect.DeepEqual(s.Required, wantRequired) {
		t.Errorf("required %v, want %v", s.Required, wantRequired)
	}
	for _, p := range []string{"Skip", "-", "skip", "unexported", "testEmbedded", "TypeMeta"} {
		if _, ok := s.Properties[p]; ok {
			t.Errorf("property %q should not exist", p)
		}
	}
	for n, want := range map[string]string{
		"kind":  `{"type":"string","description":` + jsonOf(t, metav1.TypeMeta{}.SwaggerDoc()["kind"]) + `}`,
		"e":     `{"type":"boolean"}`,
		"q":     `{"description":"How much.","$ref":"#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"}`,
		"qp":    `{"$ref":"#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"}`,
		"ios":   `{"$ref":"#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"}`,
		"b":     `{"type":"string","format":"byte"}`,
		"m":     `{"type":"object","additionalProperties":{"$ref":"#/definitions/skiff.internal.apiserver.openapi.testInner"}}`,
		"s":     `{"type":"object","additionalProperties":{"type":"string"}}`,
		"l":     `{"description":"The list.","type":"array","items":{"$ref":"#/definitions/skiff.internal.apiserver.openapi.testInner"},"x-kubernetes-patch-merge-key":"a","x-kubernetes-patch-strategy":"merge"}`,
		"self":  `{"$ref":"#/definitions/skiff.internal.apiserver.openapi.testThing"}`,
		"anon":  `{"type":"object","required":["x"],"properties":{"x":{"type":"integer","format":"int32"}}}`,
		"NoTag": `{"type":"integer","format":"int64"}`,
		"f":     `{"type":"number","format":"double"}`,
	} {
		sameJSON(t, "property "+n, s.Properties[n], want)
	}
	for def, want := range map[string]string{
		"io.k8s.apimachinery.pkg.api.resource.Quantity":   `"type":"string"`,
		"io.k8s.apimachinery.pkg.util.intstr.IntOrString": `"type":"string","format":"int-or-string"`,
		"io.k8s.apimachinery.pkg.apis.meta.v1.Time":       `"type":"string","format":"date-time"`,
		"io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime":  `"type":"string","format":"date-time"`,
		"io.k8s.apimachinery.pkg.apis.meta.v1.Duration":   `"type":"string"`,
		"io.k8s.apimachinery.pkg.runtime.RawExtension":    `"type":"object"`,
	} {
		d, ok := b.defs[def]
		if !ok {
			t.Errorf("no definition %s", def)
			continue
		}
		if got := jsonOf(t, d); !strings.Contains(got, want) || d.Description == "" || len(d.Properties) > 0 {
			t.Errorf("%s = %s, want %s and a description", def, got, want)
		}
	}
}

func TestSchemaRulesV3(t *testing.T) {
	b := newSchemaBuilder(true)
	s := b.defs[b.define(reflect.TypeFor[testThing]())]
	for n, want := range map[string]string{
		// A $ref with siblings goes into allOf; a bare one stays bare.
		"q":  `{"description":"How much.","allOf":[{"$ref":"#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity"}]}`,
		"qp": `{"$ref":"#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity"}`,
		// Defaults as upstream enforces them.
		"anon":  `{"type":"object","default":{},"required":["x"],"properties":{"x":{"type":"integer","format":"int32","default":0}}}`,
		"NoTag": `{"type":"integer","format":"int64","default":0}`,
		"e":     `{"default":false,"type":"boolean"}`,
		"m":     `{"type":"object","additionalProperties":{"default":{},"allOf":[{"$ref":"#/components/schemas/skiff.internal.apiserver.openapi.testInner"}]}}`,
		"s":     `{"type":"object","additionalProperties":{"default":"","type":"string"}}`,
		"l": `{"description":"The list.","type":"array","x-kubernetes-patch-merge-key":"a","x-kubernetes-patch-strategy":"merge",` +
			`"items":{"default":{},"allOf":[{"$ref":"#/components/schemas/skiff.internal.apiserver.openapi.testInner"}]}}`,
	} {
		sameJSON(t, "property "+n, s.Properties[n], want)
	}
	for _, n := range []string{"ptr", "qp", "t", "raw", "f", "kind"} {
		if d := s.Properties[n].Default; d != nil {
			t.Errorf("property %s has default %v", n, d)
		}
	}
	ios := jsonOf(t, b.defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"])
	if !strings.Contains(ios, `"format":"int-or-string","oneOf":[{"type":"integer"},{"type":"string"}]`) {
		t.Errorf("IntOrString v3 = %s", ios)
	}
	q := jsonOf(t, b.defs["io.k8s.apimachinery.pkg.api.resource.Quantity"])
	if !strings.Contains(q, `"oneOf":[{"type":"string"},{"type":"number"}]`) {
		t.Errorf("Quantity v3 = %s", q)
	}
}

// builtinResources serves every kind client-go knows that has a list type,
// which is every built-in resource.
func builtinResources(t testing.TB) []Resource {
	t.Helper()
	known := scheme.Scheme.AllKnownTypes()
	var out []Resource
	for gvk, typ := range known {
		if strings.HasSuffix(gvk.Kind, "List") {
			continue
		}
		listType, ok := known[gvk.GroupVersion().WithKind(gvk.Kind+"List")]
		if !ok {
			continue
		}
		out = append(out, Resource{
			Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind,
			Resource:     strings.ToLower(gvk.Kind) + "s",
			Namespaced:   len(out)%2 == 0,
			Verbs:        allVerbs,
			Subresources: []string{"status", "scale"},
			Object:       reflect.New(typ).Interface().(runtime.Object),
			List:         reflect.New(listType).Interface().(runtime.Object),
		})
	}
	if len(out) < 100 {
		t.Fatalf("only %d built-in resources found", len(out))
	}
	return out
}

// Every built-in type must render, convert to protobuf, be indexable by
// kubectl (v2) and convertible for server-side apply (v3), quickly.
func TestAllBuiltins(t *testing.T) {
	resources := builtinResources(t)
	// The best of three builds, so that a busy machine does not fail it;
	// one under the race detector, which only checks correctness here.
	builds := 3
	if raceEnabled {
		builds = 1
	}
	var h *handler
	elapsed := time.Duration(1 << 62)
	for range builds {
		start := time.Now()
		var err error
		if h, err = newHandler(resources); err != nil {
			t.Fatal(err)
		}
		elapsed = min(elapsed, time.Since(start))
	}
	t.Logf("%d resources, %d group-versions, v2 %d bytes, built in %v", len(resources), len(h.groups), len(h.v2.json), elapsed)
	if !raceEnabled && elapsed > time.Second {
		t.Errorf("building took %v, want under 1s", elapsed)
	}

	pb, err := h.v2.protobuf()
	if err != nil {
		t.Fatal(err)
	}
	var doc openapiv2.Document
	if err := proto.Unmarshal(pb, &doc); err != nil {
		t.Fatal(err)
	}
	res, err := kubectlopenapi.NewOpenAPIData(&doc)
	if err != nil {
		t.Fatalf("kubectl cannot index the v2 document: %v", err)
	}
	// Every schema as served, each decoded once although many documents
	// repeat it.
	raw := map[string]json.RawMessage{}
	for gv, r := range h.groups {
		// gnostic's YAML-based conversion is very slow under the race
		// detector; the core group alone still has every schema construct.
		if !raceEnabled || gv == "api/v1" {
			if _, err := r.protobuf(); err != nil {
				t.Errorf("%s protobuf: %v", gv, err)
			}
		}
		var d struct {
			Components struct {
				Schemas map[string]json.RawMessage `json:"schemas"`
			} `json:"components"`
		}
		if err := json.Unmarshal(r.json, &d); err != nil {
			t.Fatal(err)
		}
		maps.Copy(raw, d.Components.Schemas)
	}
	all := map[string]*spec.Schema{}
	for name, data := range raw {
		s := &spec.Schema{}
		if err := json.Unmarshal(data, s); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		all[name] = s
	}
	tc, err := managedfields.NewTypeConverter(all, false)
	if err != nil {
		t.Fatalf("v3 schemas do not convert for server-side apply: %v", err)
	}
	for _, r := range resources {
		if res.LookupResource(schemaGVK(r)) == nil {
			t.Errorf("kubectl finds no v2 model for %v", schemaGVK(r))
		}
		obj := r.Object.DeepCopyObject()
		obj.GetObjectKind().SetGroupVersionKind(schemaGVK(r))
		if _, err := tc.ObjectToTyped(obj); err != nil {
			t.Errorf("%v: %v", schemaGVK(r), err)
		}
	}
}

func schemaGVK(r Resource) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind}
}

func BenchmarkNewHandlerBuiltins(b *testing.B) {
	resources := builtinResources(b)
	for b.Loop() {
		if _, err := newHandler(resources); err != nil {
			b.Fatal(err)
		}
	}
}
