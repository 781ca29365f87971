package apiextensions

import (
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const validCRD = `
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
            properties:
              size: {type: integer}
`

func crdFrom(t *testing.T, src string, mutate func(*apiextensionsv1.CustomResourceDefinition)) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.Unmarshal([]byte(src), crd); err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(crd)
	}
	return crd
}

func TestValidateCRD(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*apiextensionsv1.CustomResourceDefinition)
		want   []string
	}{
		{"valid", nil, nil},
		{"name", func(c *apiextensionsv1.CustomResourceDefinition) { c.Name = "other.example.com" },
			[]string{`metadata.name: Invalid value: "other.example.com": must be spec.names.plural+"."+spec.group`}},
		{"group without dot", func(c *apiextensionsv1.CustomResourceDefinition) {
			c.Spec.Group = "example"
			c.Name = "widgets.example"
		},
			[]string{`spec.group: Invalid value: "example": should be a domain with at least one dot`}},
		{"scope", func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Scope = "Galaxy" },
			[]string{`spec.scope: Unsupported value: "Galaxy": supported values: "Cluster", "Namespaced"`}},
		{"kind required", func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Names.Kind = "" }, []string{"spec.names.kind: Required value"}},
		{"listKind required", func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Names.ListKind = "" }, []string{"spec.names.listKind: Required value"}},
		{"no storage version", func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Versions[0].Storage = false },
			[]string{"spec.versions: Invalid value: ", "must have exactly one version marked as storage version"}},
		{"two storage versions", func(c *apiextensionsv1.CustomResourceDefinition) {
			v2 := c.Spec.Versions[0]
			v2.Name = "v2"
			c.Spec.Versions = append(c.Spec.Versions, v2)
		}, []string{"must have exactly one version marked as storage version"}},
		{"schema required", func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Versions[0].Schema = nil },
			[]string{"spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required"}},
		{"type required", func(c *apiextensionsv1.CustomResourceDefinition) {
			p := c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
			p.Type = ""
			c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = p
		}, []string{"spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"}},
		{"additionalProperties with properties", func(c *apiextensionsv1.CustomResourceDefinition) {
			p := c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
			p.AdditionalProperties = &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: &apiextensionsv1.JSONSchemaProps{Type: "string"}}
			c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = p
		}, []string{"spec.versions[0].schema.openAPIV3Schema.properties[spec].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"}},
		{"printer column type", func(c *apiextensionsv1.CustomResourceDefinition) {
			c.Spec.Versions[0].AdditionalPrinterColumns = []apiextensionsv1.CustomResourceColumnDefinition{{Name: "X", Type: "float", JSONPath: ".spec.size"}}
		}, []string{`spec.versions[0].additionalPrinterColumns[0].type: Unsupported value: "float"`}},
		{"scale path", func(c *apiextensionsv1.CustomResourceDefinition) {
			c.Spec.Versions[0].Subresources = &apiextensionsv1.CustomResourceSubresources{Scale: &apiextensionsv1.CustomResourceSubresourceScale{SpecReplicasPath: ".status.x", StatusReplicasPath: ".status.y"}}
		}, []string{`spec.versions[0].subresources.scale.specReplicasPath: Invalid value: ".status.x": should be a json path under .spec`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := ValidateCRD(crdFrom(t, validCRD, tc.mutate), nil)
			if len(tc.want) == 0 {
				if len(errs) > 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			all := errs.ToAggregate()
			if all == nil {
				t.Fatalf("no errors, want %v", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(all.Error(), w) {
					t.Errorf("errors %q do not contain %q", all.Error(), w)
				}
			}
		})
	}
}

func TestValidateCRDUpdateImmutable(t *testing.T) {
	old := crdFrom(t, validCRD, nil)
	upd := crdFrom(t, validCRD, func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Scope = apiextensionsv1.ClusterScoped })
	errs := ValidateCRD(upd, old)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "spec.scope: Invalid value: \"Cluster\": field is immutable") {
		t.Fatalf("errs = %v", errs)
	}
}

func TestPrinterColumns(t *testing.T) {
	crd := crdFrom(t, validCRD, func(c *apiextensionsv1.CustomResourceDefinition) {
		c.Spec.Versions[0].AdditionalPrinterColumns = []apiextensionsv1.CustomResourceColumnDefinition{
			{Name: "Size", Type: "integer", JSONPath: ".spec.size"},
			{Name: "Missing", Type: "string", JSONPath: ".spec.nothing"},
		}
	})
	served, err := resourcesFor(crd)
	if err != nil || len(served) != 1 {
		t.Fatalf("resourcesFor: %v %v", served, err)
	}
	st := served[0].Resource.Strategy
	var names []string
	for _, c := range st.Columns {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "Name,Size,Missing" {
		t.Fatalf("columns %v", names)
	}
	u := newUnstructured(map[string]interface{}{"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]interface{}{"name": "w"}, "spec": map[string]interface{}{"size": int64(3)}})
	cells, err := st.Row(u, u.GetCreationTimestamp().Time)
	if err != nil {
		t.Fatal(err)
	}
	if len(cells) != 3 || cells[0] != "w" || cells[1] != int64(3) || cells[2] != nil {
		t.Fatalf("cells %#v", cells)
	}
}

func newUnstructured(m map[string]interface{}) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: m}
}

func TestValidateCRDUpdateKeepsStoredVersions(t *testing.T) {
	old := crdFrom(t, validCRD, func(c *apiextensionsv1.CustomResourceDefinition) { c.Status.StoredVersions = []string{"v1"} })
	upd := crdFrom(t, validCRD, func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Versions[0].Name = "v2" })
	errs := ValidateCRD(upd, old)
	if len(errs) != 1 || errs[0].Error() != `status.storedVersions[0]: Invalid value: "v1": must appear in spec.versions` {
		t.Fatalf("errs = %v", errs)
	}
}
