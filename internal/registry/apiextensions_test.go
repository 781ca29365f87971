package registry

import (
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsv1beta1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1beta1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"skiff/internal/storage"
)

func TestCRDStoredAsV1beta1Protobuf(t *testing.T) {
	sel := ".status.selector"
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.example.com", Finalizers: []string{"customresourcecleanup.apiextensions.k8s.io"}},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "example.com", Scope: apiextensionsv1.NamespaceScoped,
			Names:      apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList", ShortNames: []string{"wd"}},
			Conversion: &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.NoneConverter},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
					"spec": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{"size": {Type: "integer", Default: &apiextensionsv1.JSON{Raw: []byte("3")}}}},
				}}},
				Subresources:             &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}, Scale: &apiextensionsv1.CustomResourceSubresourceScale{SpecReplicasPath: ".spec.size", StatusReplicasPath: ".status.size", LabelSelectorPath: &sel}},
				AdditionalPrinterColumns: []apiextensionsv1.CustomResourceColumnDefinition{{Name: "Size", Type: "integer", JSONPath: ".spec.size"}},
				SelectableFields:         []apiextensionsv1.SelectableField{{JSONPath: ".spec.size"}},
			}},
		},
		Status: apiextensionsv1.CustomResourceDefinitionStatus{StoredVersions: []string{"v1"}, AcceptedNames: apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Kind: "Widget"},
			Conditions: []apiextensionsv1.CustomResourceDefinitionCondition{{Type: apiextensionsv1.Established, Status: apiextensionsv1.ConditionTrue, Reason: "InitialNamesAccepted", ObservedGeneration: 2}}},
	}
	crd.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
	stored, err := ToStorage(CRDResource, crd.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	codec := storage.NewCodec(Scheme)
	data, err := codec.Encode(stored)
	if err != nil {
		t.Fatal(err)
	}
	if string(data[:4]) != "k8s\x00" {
		t.Fatalf("not protobuf: %q", data[:10])
	}
	decoded, err := codec.Decode(data, 7)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := decoded.(*apiextensionsv1beta1.CustomResourceDefinition); !ok {
		t.Fatalf("stored as %T, want v1beta1", decoded)
	}
	back, err := FromStorage(CRDResource, decoded)
	if err != nil {
		t.Fatal(err)
	}
	crd.ResourceVersion = "7"
	if !apiequality.Semantic.DeepEqual(back, crd) {
		t.Fatalf("round trip lost data:\n%+v\n%+v", back, crd)
	}
}

func TestCustomResourceStoredAsJSON(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]interface{}{"name": "w", "namespace": "ns", "resourceVersion": "5"}, "spec": map[string]interface{}{"size": int64(1)}}}
	codec := storage.NewCodec(Scheme)
	data, err := codec.Encode(u)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w","namespace":"ns"},"spec":{"size":1}}
`; string(data) != want {
		t.Fatalf("stored %s, want %s", data, want)
	}
	if u.GetResourceVersion() != "5" {
		t.Fatal("encoding changed the object")
	}
	back, err := codec.Decode(data, 9)
	if err != nil {
		t.Fatal(err)
	}
	if bu := back.(*unstructured.Unstructured); bu.GetResourceVersion() != "9" || bu.GetName() != "w" {
		t.Fatalf("decoded %v", bu.Object)
	}
}
