package apiextensions

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

const testSchema = `
type: object
properties:
  spec:
    type: object
    properties:
      replicas:
        type: integer
        minimum: 0
        default: 1
      image:
        type: string
      mode:
        type: string
        enum: [a, b]
      ports:
        type: array
        items:
          type: object
          properties:
            port:
              type: integer
            protocol:
              type: string
              default: TCP
          required: [port]
      labels:
        type: object
        additionalProperties:
          type: string
      free:
        type: object
        x-kubernetes-preserve-unknown-fields: true
      nullableWithDefault:
        type: string
        nullable: true
        default: x
    required: [image]
  status:
    type: object
    properties:
      ready:
        type: boolean
`

func mustSchema(t *testing.T, src string) *Schema {
	t.Helper()
	var props apiextensionsv1.JSONSchemaProps
	if err := yaml.Unmarshal([]byte(src), &props); err != nil {
		t.Fatal(err)
	}
	s, err := NewSchema(&props)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func obj(t *testing.T, src string) map[string]interface{} {
	t.Helper()
	var m map[string]interface{}
	data, err := yaml.YAMLToJSON([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	// Decode numbers as the API server does (int64 for integers).
	var u interface{}
	if err := json.Unmarshal(data, &u); err != nil {
		t.Fatal(err)
	}
	m = toInt64(u).(map[string]interface{})
	return m
}

func toInt64(v interface{}) interface{} {
	switch x := v.(type) {
	case map[string]interface{}:
		for k, e := range x {
			x[k] = toInt64(e)
		}
	case []interface{}:
		for i, e := range x {
			x[i] = toInt64(e)
		}
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
	}
	return v
}

func TestSchemaValidate(t *testing.T) {
	s := mustSchema(t, testSchema)
	for _, tc := range []struct {
		name string
		obj  string
		want []string // substrings of the errors, in order
	}{
		{"valid", "spec: {image: x, replicas: 2}", nil},
		{"wrong type", `spec: {image: x, replicas: "string"}`, []string{`spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"`}},
		{"minimum", "spec: {image: x, replicas: -1}", []string{"spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0"}},
		{"required", "spec: {replicas: 1}", []string{"spec.image: Required value"}},
		{"enum", "spec: {image: x, mode: c}", []string{`spec.mode: Unsupported value: "c": supported values: "a", "b"`}},
		{"nested required", "spec: {image: x, ports: [{protocol: UDP}]}", []string{"spec.ports[0].port: Required value"}},
		{"additionalProperties type", "spec: {image: x, labels: {a: 1}}", []string{`spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of type string: "integer"`}},
		{"status type", "spec: {image: x}\nstatus: {ready: \"yes\"}", []string{`status.ready: Invalid value: "string": status.ready in body must be of type boolean: "string"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := s.Validate(obj(t, tc.obj))
			if len(errs) != len(tc.want) {
				t.Fatalf("got %d errors, want %d: %v", len(errs), len(tc.want), errs)
			}
			for i, w := range tc.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %d = %q, want it to contain %q", i, errs[i].Error(), w)
				}
			}
		})
	}
}

func TestSchemaDefault(t *testing.T) {
	s := mustSchema(t, testSchema)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"missing field", "spec: {image: x}", "spec: {image: x, replicas: 1, nullableWithDefault: x}"},
		{"set field kept", "spec: {image: x, replicas: 5, nullableWithDefault: y}", "spec: {image: x, replicas: 5, nullableWithDefault: y}"},
		{"null kept when nullable", "spec: {image: x, replicas: 5, nullableWithDefault: null}", "spec: {image: x, replicas: 5, nullableWithDefault: null}"},
		{"null replaced when not nullable", "spec: {image: x, replicas: null, nullableWithDefault: y}", "spec: {image: x, replicas: 1, nullableWithDefault: y}"},
		{"array items", "spec: {image: x, replicas: 1, nullableWithDefault: y, ports: [{port: 80}, {port: 53, protocol: UDP}]}",
			"spec: {image: x, replicas: 1, nullableWithDefault: y, ports: [{port: 80, protocol: TCP}, {port: 53, protocol: UDP}]}"},
		{"no spec, nothing to default", "status: {ready: true}", "status: {ready: true}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := obj(t, tc.in)
			s.Default(got)
			if want := obj(t, tc.want); !reflect.DeepEqual(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestSchemaPrune(t *testing.T) {
	s := mustSchema(t, testSchema)
	for _, tc := range []struct {
		name, in, want string
		pruned         []string
	}{
		{"unknown field", "spec: {image: x, foo: 1}", "spec: {image: x}", []string{"spec.foo"}},
		{"root field", "apiVersion: a/v1\nkind: K\nmetadata: {name: n}\nspec: {image: x}\nextra: 1", "apiVersion: a/v1\nkind: K\nmetadata: {name: n}\nspec: {image: x}", []string{"extra"}},
		{"preserve unknown fields", "spec: {image: x, free: {anything: {goes: 1}}}", "spec: {image: x, free: {anything: {goes: 1}}}", nil},
		{"nested in array", "spec: {image: x, ports: [{port: 1, bad: 2}]}", "spec: {image: x, ports: [{port: 1}]}", []string{"spec.ports[0].bad"}},
		{"additionalProperties kept", "spec: {image: x, labels: {a: b}}", "spec: {image: x, labels: {a: b}}", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := obj(t, tc.in)
			pruned := s.Prune(got)
			if want := obj(t, tc.want); !reflect.DeepEqual(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
			if !reflect.DeepEqual(pruned, tc.pruned) {
				t.Errorf("pruned %v, want %v", pruned, tc.pruned)
			}
		})
	}
}

func TestNewSchemaRefusesNonStructural(t *testing.T) {
	for _, tc := range []struct{ name, schema, want string }{
		{"missing type", "type: object\nproperties:\n  spec:\n    properties:\n      a: {type: string}", "type: Required value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var props apiextensionsv1.JSONSchemaProps
			if err := yaml.Unmarshal([]byte(tc.schema), &props); err != nil {
				t.Fatal(err)
			}
			_, err := NewSchema(&props)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
