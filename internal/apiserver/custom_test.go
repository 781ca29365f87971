package apiserver

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"skiff/internal/registry"
)

func cr(spec, status map[string]interface{}, gen int64) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]interface{}{"name": "w"}}}
	if spec != nil {
		u.Object["spec"] = spec
	}
	if status != nil {
		u.Object["status"] = status
	}
	u.SetGeneration(gen)
	return u
}

func TestPrepareCustomUpdate(t *testing.T) {
	withStatus := &registry.Resource{Group: "example.com", Version: "v1", Name: "widgets", Kind: "Widget", Status: true, Generation: true,
		Strategy: &registry.Strategy{Custom: true}}
	noStatus := &registry.Resource{Group: "example.com", Version: "v1", Name: "widgets", Kind: "Widget", Generation: true,
		Strategy: &registry.Strategy{Custom: true}}
	for _, tc := range []struct {
		name       string
		res        *registry.Resource
		obj, old   *unstructured.Unstructured
		wantGen    int64
		wantStatus interface{}
	}{
		{"spec change bumps", withStatus, cr(map[string]interface{}{"a": "2"}, nil, 1), cr(map[string]interface{}{"a": "1"}, map[string]interface{}{"r": "x"}, 1), 2, map[string]interface{}{"r": "x"}},
		{"status change ignored", withStatus, cr(map[string]interface{}{"a": "1"}, map[string]interface{}{"r": "y"}, 1), cr(map[string]interface{}{"a": "1"}, map[string]interface{}{"r": "x"}, 1), 1, map[string]interface{}{"r": "x"}},
		{"metadata change keeps generation", withStatus, func() *unstructured.Unstructured {
			u := cr(map[string]interface{}{"a": "1"}, nil, 1)
			u.SetLabels(map[string]string{"x": "y"})
			return u
		}(), cr(map[string]interface{}{"a": "1"}, nil, 1), 1, nil},
		{"no status subresource: status is data", noStatus, cr(map[string]interface{}{"a": "1"}, map[string]interface{}{"r": "y"}, 1), cr(map[string]interface{}{"a": "1"}, map[string]interface{}{"r": "x"}, 1), 1, map[string]interface{}{"r": "y"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prepareUpdate(tc.res, tc.obj, tc.old)
			if tc.obj.GetGeneration() != tc.wantGen {
				t.Errorf("generation %d, want %d", tc.obj.GetGeneration(), tc.wantGen)
			}
			got := tc.obj.Object["status"]
			if (got == nil) != (tc.wantStatus == nil) || (got != nil && got.(map[string]interface{})["r"] != tc.wantStatus.(map[string]interface{})["r"]) {
				t.Errorf("status %v, want %v", got, tc.wantStatus)
			}
		})
	}
}

func TestApplyCustomStatusUpdate(t *testing.T) {
	old := cr(map[string]interface{}{"a": "1"}, map[string]interface{}{"r": "x"}, 1)
	in := cr(map[string]interface{}{"a": "changed"}, map[string]interface{}{"r": "y"}, 1)
	in.SetResourceVersion("5")
	out := applyStatusUpdate(in, old).(*unstructured.Unstructured)
	if out.Object["spec"].(map[string]interface{})["a"] != "1" || out.Object["status"].(map[string]interface{})["r"] != "y" || out.GetResourceVersion() != "5" {
		t.Fatalf("status update result %v", out.Object)
	}
}
