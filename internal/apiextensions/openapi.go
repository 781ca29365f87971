package apiextensions

import (
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// reversedGroup turns "stable.example.com" into "com.example.stable", as
// upstream names the schemas of custom resources.
func reversedGroup(group string) string {
	parts := strings.Split(group, ".")
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, ".")
}

// OpenAPIV3 returns the OpenAPI v3 document of a custom group version and
// its hash; ok is false when the group version is not served here.
func (c *Controller) OpenAPIV3(gv schema.GroupVersion) (doc []byte, hash string, ok bool) {
	served := c.ForGroupVersion(gv)
	if len(served) == 0 {
		return nil, "", false
	}
	schemas := map[string]interface{}{}
	paths := map[string]interface{}{}
	for _, s := range served {
		r := s.Resource
		name := fmt.Sprintf("%s.%s.%s", reversedGroup(r.Group), r.Version, r.Kind)
		var root spec.Schema
		if s.Schema != nil {
			root = *s.Schema.OpenAPI()
		} else {
			root = spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}}}
		}
		props := map[string]spec.Schema{}
		for k, v := range root.Properties {
			props[k] = v
		}
		props["apiVersion"] = spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"string"}, Description: "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"}}
		props["kind"] = spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"string"}, Description: "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"}}
		props["metadata"] = spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, Description: "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"}}
		root.Properties = props
		ext := spec.Extensions{}
		for k, v := range root.Extensions {
			ext[k] = v
		}
		root.Extensions = ext
		root.Extensions["x-kubernetes-group-version-kind"] = []interface{}{map[string]interface{}{"group": r.Group, "version": r.Version, "kind": r.Kind}}
		schemas[name] = root
		listName := name + "List"
		schemas[listName] = map[string]interface{}{
			"type":        "object",
			"description": fmt.Sprintf("%s is a list of %s", r.Kind+"List", r.Kind),
			"required":    []string{"items"},
			"properties": map[string]interface{}{
				"apiVersion": props["apiVersion"],
				"kind":       props["kind"],
				"metadata":   map[string]interface{}{"type": "object", "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"},
				"items":      map[string]interface{}{"type": "array", "description": fmt.Sprintf("List of %s. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md", r.Name), "items": map[string]interface{}{"$ref": "#/components/schemas/" + name}},
			},
			"x-kubernetes-group-version-kind": []interface{}{map[string]interface{}{"group": r.Group, "version": r.Version, "kind": r.Kind + "List"}},
		}
		base := "/apis/" + r.Group + "/" + r.Version
		if r.Namespaced {
			base += "/namespaces/{namespace}"
		}
		ref := map[string]interface{}{"$ref": "#/components/schemas/" + name}
		content := map[string]interface{}{"application/json": map[string]interface{}{"schema": ref}, "application/yaml": map[string]interface{}{"schema": ref}}
		gvk := map[string]interface{}{"group": r.Group, "version": r.Version, "kind": r.Kind}
		patchBody := map[string]interface{}{}
		for _, mt := range []string{"application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"} {
			patchBody[mt] = map[string]interface{}{"schema": map[string]interface{}{"type": "object"}}
		}
		paths[base+"/"+r.Name+"/{name}"] = map[string]interface{}{
			"get": map[string]interface{}{
				"description": "read the specified " + r.Kind, "operationId": "read" + r.Kind,
				"responses":                       map[string]interface{}{"200": map[string]interface{}{"description": "OK", "content": content}},
				"x-kubernetes-action":             "get",
				"x-kubernetes-group-version-kind": gvk,
			},
			// Custom resources take no strategic merge patch: kubectl
			// apply reads that from here and sends a merge patch.
			"patch": map[string]interface{}{
				"description": "partially update the specified " + r.Kind, "operationId": "patch" + r.Kind,
				"requestBody":                     map[string]interface{}{"content": patchBody, "required": true},
				"responses":                       map[string]interface{}{"200": map[string]interface{}{"description": "OK", "content": content}},
				"x-kubernetes-action":             "patch",
				"x-kubernetes-group-version-kind": gvk,
			},
		}
	}
	out := map[string]interface{}{
		"openapi": "3.0.0",
		"info":    map[string]interface{}{"title": "Kubernetes CRD Swagger", "version": "v0.1.0"},
		"paths":   paths,
		"components": map[string]interface{}{
			"schemas": schemas,
		},
	}
	data, err := json.Marshal(out)
	if err != nil {
		return nil, "", false
	}
	sum := sha512.Sum512(data)
	return data, strings.ToUpper(fmt.Sprintf("%x", sum[:])), true
}
