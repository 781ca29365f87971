package registry

import (
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/install"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsv1beta1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
)

// CRDResource serves CustomResourceDefinitions (apiextensions.k8s.io/v1).
var CRDResource = &Resource{Group: "apiextensions.k8s.io", Version: "v1", Name: "customresourcedefinitions", Kind: "CustomResourceDefinition",
	Singular: "customresourcedefinition", ShortNames: []string{"crd", "crds"}, Categories: []string{"api-extensions"},
	StoragePrefix: "apiextensions.k8s.io/customresourcedefinitions", Status: true, Generation: true}

func init() {
	// The scheme learns the apiextensions types (internal, v1, v1beta1)
	// with their conversions: CRDs are served as v1 and stored as
	// v1beta1 protobuf, as upstream kube-apiserver stores them.
	install.Install(Scheme)
	builtin = append(builtin, CRDResource)
	converters[convKey(CRDResource)] = struct {
		toStorage, fromStorage func(runtime.Object) (runtime.Object, error)
	}{
		toStorage: func(obj runtime.Object) (runtime.Object, error) {
			var internal apiextensions.CustomResourceDefinition
			if err := Scheme.Convert(obj, &internal, nil); err != nil {
				return nil, err
			}
			out := &apiextensionsv1beta1.CustomResourceDefinition{}
			if err := Scheme.Convert(&internal, out, nil); err != nil {
				return nil, err
			}
			out.SetGroupVersionKind(apiextensionsv1beta1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
			return out, nil
		},
		fromStorage: func(obj runtime.Object) (runtime.Object, error) {
			if v1, ok := obj.(*apiextensionsv1.CustomResourceDefinition); ok {
				return v1, nil
			}
			var internal apiextensions.CustomResourceDefinition
			if err := Scheme.Convert(obj, &internal, nil); err != nil {
				return nil, err
			}
			out := &apiextensionsv1.CustomResourceDefinition{}
			if err := Scheme.Convert(&internal, out, nil); err != nil {
				return nil, err
			}
			out.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
			return out, nil
		},
	}
}
