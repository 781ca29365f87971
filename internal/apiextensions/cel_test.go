package apiextensions

import (
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

const ruleCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-validations:
            - {rule: "self.minReplicas <= self.replicas", message: "minReplicas must not exceed replicas"}
            properties:
              replicas: {type: integer}
              minReplicas: {type: integer}
              mode:
                type: string
                enum: [A, B]
                x-kubernetes-validations:
                - {rule: "self == oldSelf", message: "Value is immutable"}
`

func setRule(rule string) func(*apiextensionsv1.CustomResourceDefinition) {
	return func(c *apiextensionsv1.CustomResourceDefinition) {
		for i := range c.Spec.Versions {
			spec := c.Spec.Versions[i].Schema.OpenAPIV3Schema.Properties["spec"]
			spec.XValidations[0].Rule = rule
			c.Spec.Versions[i].Schema.OpenAPIV3Schema.Properties["spec"] = spec
		}
	}
}

func addVersion(c *apiextensionsv1.CustomResourceDefinition) {
	v2 := *c.Spec.Versions[0].DeepCopy()
	v2.Name, v2.Storage = "v2", false
	c.Spec.Versions = append(c.Spec.Versions, v2)
}

func TestValidateCRDRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*apiextensionsv1.CustomResourceDefinition)
		want   []string
	}{
		{"valid", nil, nil},
		{"rule does not compile", setRule("self.minReplicas <= self.replicas &&"), []string{
			`spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: Invalid value: {"Rule":"self.minReplicas \u003c= self.replicas \u0026\u0026","Message":"minReplicas must not exceed replicas","MessageExpression":"","Reason":null,"FieldPath":"","OptionalOldSelf":null}: compilation failed: ERROR: <input>:1:37: Syntax error`}},
		{"same schema in two versions reported once", func(c *apiextensionsv1.CustomResourceDefinition) {
			addVersion(c)
			setRule("nope")(c)
		}, []string{`spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: Invalid value: {"Rule":"nope","Message":"minReplicas must not exceed replicas","MessageExpression":"","Reason":null,"FieldPath":"","OptionalOldSelf":null}: compilation failed: ERROR: <input>:1:1: undeclared reference to 'nope'`}},
		{"different schemas reported per version", func(c *apiextensionsv1.CustomResourceDefinition) {
			addVersion(c)
			spec := c.Spec.Versions[1].Schema.OpenAPIV3Schema.Properties["spec"]
			spec.XValidations[0].Rule = "nope"
			c.Spec.Versions[1].Schema.OpenAPIV3Schema.Properties["spec"] = spec
		}, []string{`spec.versions[1].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: Invalid value: `}},
		{"bad reason", func(c *apiextensionsv1.CustomResourceDefinition) {
			spec := c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
			r := apiextensionsv1.FieldValueErrorReason("Nope")
			spec.XValidations[0].Reason = &r
			c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = spec
		}, []string{`spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].reason: Unsupported value: "Nope"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := ValidateCRD(crdFrom(t, ruleCRD, tc.mutate), nil)
			if len(errs) != len(tc.want) {
				t.Fatalf("errors = %v, want %q", errs, tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %d = %q, want it to contain %q", i, errs[i].Error(), w)
				}
			}
		})
	}
}

func widget(t *testing.T, src string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(src), &u.Object); err != nil {
		t.Fatal(err)
	}
	// JSON numbers are int64 in custom objects.
	u.Object = toInt64(u.Object).(map[string]interface{})
	return u
}

func TestServedResourceRunsRules(t *testing.T) {
	served, err := resourcesFor(crdFrom(t, ruleCRD, nil))
	if err != nil {
		t.Fatal(err)
	}
	validate := served[0].Resource.Strategy.Validate
	check := func(name string, errs field.ErrorList, want ...string) {
		t.Helper()
		var got []string
		for _, e := range errs {
			got = append(got, e.Error())
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: errors:\n%s\nwant:\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	good := widget(t, "{apiVersion: example.com/v1, kind: Widget, metadata: {name: w}, spec: {replicas: 3, minReplicas: 1, mode: A}}")
	check("valid create", validate(good, nil))
	bad := widget(t, "{apiVersion: example.com/v1, kind: Widget, metadata: {name: w}, spec: {replicas: 1, minReplicas: 3, mode: A}}")
	check("invalid create", validate(bad, nil), `spec: Invalid value: minReplicas must not exceed replicas`)
	changed := widget(t, "{apiVersion: example.com/v1, kind: Widget, metadata: {name: w}, spec: {replicas: 3, minReplicas: 1, mode: B}}")
	check("immutable field changed", validate(changed, good), `spec.mode: Invalid value: "B": Value is immutable`)
	check("immutable field unchanged", validate(good.DeepCopy(), good))
	// A schema error that makes the rules meaningless stops them.
	wrong := widget(t, "{apiVersion: example.com/v1, kind: Widget, metadata: {name: w}, spec: {replicas: 1, minReplicas: 3, mode: C}}")
	check("blocked", validate(wrong, nil),
		`spec.mode: Unsupported value: "C": supported values: "A", "B"`,
		`<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation`)
}

// A rule over the per-expression cost limit is refused on create and when
// its schema changes; an update that leaves the schema as it was keeps it,
// as upstream allows.
func TestValidateCRDRuleCost(t *testing.T) {
	const digits = "[0,1,2,3,4,5,6,7,8,9]"
	rule := digits + ".all(a, " + digits + ".all(b, " + digits + ".all(c, " + digits + ".all(d, " + digits + ".all(e, " + digits + ".all(f, a + b + c + d + e + f >= 0))))))"
	crd := crdFrom(t, ruleCRD, setRule(rule))
	const want = `spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: Forbidden: estimated rule cost exceeds budget by factor of 1.`
	if errs := ValidateCRD(crd, nil); len(errs) != 1 || !strings.Contains(errs[0].Error(), want) {
		t.Fatalf("create: %v", errs)
	}
	relabelled := crd.DeepCopy()
	relabelled.Labels = map[string]string{"team": "a"}
	if errs := ValidateCRD(relabelled, crd); len(errs) != 0 {
		t.Errorf("update with the schema unchanged: %v", errs)
	}
	changed := crd.DeepCopy()
	changed.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["other"] = apiextensionsv1.JSONSchemaProps{Type: "string"}
	if errs := ValidateCRD(changed, crd); len(errs) != 1 || !strings.Contains(errs[0].Error(), want) {
		t.Errorf("update changing the schema: %v", errs)
	}
}
