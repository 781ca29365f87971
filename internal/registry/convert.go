package registry

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// converters translate between a served version and the version its
// resource is stored in, for resources served in several groups or
// versions over one storage (core and events.k8s.io Events, autoscaling
// v1 and v2 HorizontalPodAutoscalers).
var converters = map[string]struct {
	toStorage, fromStorage func(runtime.Object) (runtime.Object, error)
}{}

func convKey(r *Resource) string { return r.Group + "/" + r.Version + "/" + r.Name }

// ToStorage converts an object of r's served version to its stored form.
func ToStorage(r *Resource, obj runtime.Object) (runtime.Object, error) {
	if r.IsCustom() {
		if r.Strategy.Convert != nil {
			return webhookToStorage(r, obj)
		}
		// Conversion strategy None: only the apiVersion changes.
		u, ok := obj.(*unstructured.Unstructured)
		if ok && r.Strategy.StorageVersion != "" && r.Strategy.StorageVersion != r.Version {
			u.SetAPIVersion(r.Group + "/" + r.Strategy.StorageVersion)
		}
		return obj, nil
	}
	if c, ok := converters[convKey(r)]; ok {
		return c.toStorage(obj)
	}
	return obj, nil
}

// FromStorage converts a stored object to r's served version.
func FromStorage(r *Resource, obj runtime.Object) (runtime.Object, error) {
	if r.IsCustom() {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return obj, nil
		}
		if r.Strategy.Convert != nil {
			out, err := webhookFromStorage(r, []*unstructured.Unstructured{u})
			if err != nil {
				return nil, err
			}
			return out[0], nil
		}
		// Stored objects are shared with other readers: copy before the
		// apiVersion is rewritten or defaults are applied on read.
		want := r.Group + "/" + r.Version
		if u.GetAPIVersion() != want || r.Strategy.Default != nil {
			u = u.DeepCopy()
			u.SetAPIVersion(want)
			if r.Strategy.Default != nil {
				r.Strategy.Default(u)
			}
		}
		return u, nil
	}
	if c, ok := converters[convKey(r)]; ok {
		out, err := c.fromStorage(obj)
		if err != nil {
			return nil, fmt.Errorf("converting stored %s: %w", r.Name, err)
		}
		return out, nil
	}
	return obj, nil
}
