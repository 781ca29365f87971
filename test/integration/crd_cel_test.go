package integration

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

const celCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: foos.cel.example.com
spec:
  group: cel.example.com
  scope: Namespaced
  names: {plural: foos, singular: foo, kind: Foo, listKind: FooList}
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
            - rule: "self.minReplicas <= self.replicas"
              message: "minReplicas must not exceed replicas"
            - rule: "self.replicas <= 10"
              messageExpression: "'replicas is %d, at most 10 allowed'.format([self.replicas])"
            properties:
              replicas: {type: integer}
              minReplicas: {type: integer}
              storageClass:
                type: string
                x-kubernetes-validations:
                - rule: "self == oldSelf"
                  message: "Value is immutable"
              endpoint:
                type: string
                x-kubernetes-validations:
                - rule: "isURL(self) && url(self).getScheme() == 'https'"
                  message: "must be an https URL"
                  reason: FieldValueForbidden
`

func TestCRDValidationRules(t *testing.T) {
	ts := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dyn := dynamic.NewForConfigOrDie(ts.Config)
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	foos := schema.GroupVersionResource{Group: "cel.example.com", Version: "v1", Resource: "foos"}
	dir := t.TempDir()

	// A CRD whose rule does not compile is refused, naming the rule.
	var bad unstructured.Unstructured
	if err := yaml.Unmarshal([]byte(strings.Replace(celCRD, "self.minReplicas <= self.replicas", "self.minReplicas <= ", 1)), &bad.Object); err != nil {
		t.Fatal(err)
	}
	_, err := dyn.Resource(crdGVR).Create(ctx, &bad, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(),
		`spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: Invalid value: `) ||
		!strings.Contains(err.Error(), `compilation failed: ERROR: <input>:1:21: Syntax error`) {
		t.Fatalf("CRD with a broken rule: %v", err)
	}

	// A message built by concatenating an unbounded string is refused for
	// its estimated cost, as upstream refuses it.
	costly := filepath.Join(dir, "costly.yaml")
	writeFile(t, costly, strings.Replace(celCRD, `'replicas is %d, at most 10 allowed'.format([self.replicas])`, `'replicas is ' + string(self.replicas) + ', at most 10 allowed'`, 1))
	out := kubectlRun(t, ts, false, "apply", "-f", costly)
	for _, want := range []string{
		`The CustomResourceDefinition "foos.cel.example.com" is invalid:`,
		`spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[1].messageExpression: Forbidden: estimated messageExpression cost exceeds budget by factor of more than 100x (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)`,
		`spec.validation.openAPIV3Schema: Forbidden: x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema exceeds budget by factor of more than 100x`,
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("kubectl apply of a CRD over the cost limit: %s\nwant %q", out, want)
		}
	}

	crdFile := filepath.Join(dir, "crd.yaml")
	writeFile(t, crdFile, celCRD)
	kubectlRun(t, ts, true, "apply", "-f", crdFile)
	kubectlRun(t, ts, true, "wait", "--for=condition=Established", "--timeout=60s", "crd/foos.cel.example.com")
	waitFor(t, "foos served", 30*time.Second, func() bool {
		_, err := dyn.Resource(foos).Namespace("default").List(ctx, metav1.ListOptions{})
		return err == nil
	})

	foo := func(name string, spec map[string]interface{}) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]interface{}{
			"apiVersion": "cel.example.com/v1", "kind": "Foo",
			"metadata": map[string]interface{}{"name": name, "namespace": "default"}, "spec": spec}}
	}
	client := dyn.Resource(foos).Namespace("default")

	// A valid object is created.
	created, err := client.Create(ctx, foo("ok", map[string]interface{}{"replicas": int64(3), "minReplicas": int64(1), "storageClass": "fast", "endpoint": "https://example.com/x"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("valid object: %v", err)
	}

	// Invalid ones get 422 with the field path and message, all failures together.
	for _, tc := range []struct {
		name string
		spec map[string]interface{}
		want []string
	}{
		{"min", map[string]interface{}{"replicas": int64(1), "minReplicas": int64(2)},
			[]string{`spec: Invalid value: minReplicas must not exceed replicas`}},
		{"both", map[string]interface{}{"replicas": int64(20), "minReplicas": int64(30)},
			[]string{`spec: Invalid value: minReplicas must not exceed replicas`, `spec: Invalid value: replicas is 20, at most 10 allowed`}},
		{"endpoint", map[string]interface{}{"replicas": int64(1), "minReplicas": int64(1), "endpoint": "http://example.com"},
			[]string{`spec.endpoint: Forbidden: must be an https URL`}},
	} {
		_, err := client.Create(ctx, foo("bad-"+tc.name, tc.spec), metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) {
			t.Fatalf("%s: want 422 Invalid, got %v", tc.name, err)
		}
		status := err.(apierrors.APIStatus).Status()
		if status.Code != 422 || status.Details == nil || len(status.Details.Causes) != len(tc.want) {
			t.Fatalf("%s: status %+v", tc.name, status)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tc.name, err.Error(), w)
			}
		}
	}

	// The transition rule refuses a change of the immutable field, and
	// lets other changes through.
	changed := created.DeepCopy()
	_ = unstructured.SetNestedField(changed.Object, "slow", "spec", "storageClass")
	if _, err := client.Update(ctx, changed, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) ||
		!strings.Contains(err.Error(), `spec.storageClass: Invalid value: "slow": Value is immutable`) {
		t.Fatalf("immutable change: %v", err)
	}
	scaled := created.DeepCopy()
	_ = unstructured.SetNestedField(scaled.Object, int64(5), "spec", "replicas")
	if _, err := client.Update(ctx, scaled, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("allowed update: %v", err)
	}

	// kubectl prints the upstream-style message.
	objFile := filepath.Join(dir, "foo.yaml")
	writeFile(t, objFile, `
apiVersion: cel.example.com/v1
kind: Foo
metadata: {name: x, namespace: default}
spec: {replicas: 1, minReplicas: 4}
`)
	out = kubectlRun(t, ts, false, "apply", "-f", objFile)
	if !strings.Contains(out, `The Foo "x" is invalid: spec: Invalid value: minReplicas must not exceed replicas`) {
		t.Fatalf("kubectl apply output: %s", out)
	}
}
