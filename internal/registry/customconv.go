package registry

import (
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// Conversion of custom resources whose CRD has conversion strategy
// Webhook: Strategy.Convert calls the webhook (and caches its answers);
// these functions decide what needs converting and turn failures into
// InternalErrors, as upstream answers a failed conversion with a 500.

// webhookToStorage converts a custom object of r's served version to the
// storage version.
func webhookToStorage(r *Resource, obj runtime.Object) (runtime.Object, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok || r.Strategy.StorageVersion == "" {
		return obj, nil
	}
	want := r.Group + "/" + r.Strategy.StorageVersion
	switch u.GetAPIVersion() {
	case want:
		return u, nil
	case "":
		// Objects built by the server itself may carry no apiVersion
		// yet: they are in the served version.
		u = u.DeepCopy()
		u.SetAPIVersion(r.Group + "/" + r.Version)
	}
	out, err := r.Strategy.Convert([]*unstructured.Unstructured{u}, want)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return out[0], nil
}

// webhookFromStorage converts stored objects to r's served version with
// one call of Strategy.Convert for those in another version, and applies
// the served version's defaults. Objects that need neither are returned
// as they are (shared with the store's readers).
func webhookFromStorage(r *Resource, stored []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	want := r.Group + "/" + r.Version
	out := make([]*unstructured.Unstructured, len(stored))
	var todo []*unstructured.Unstructured
	var at []int
	for i, u := range stored {
		if u.GetAPIVersion() == want {
			out[i] = u
			if r.Strategy.Default != nil {
				out[i] = u.DeepCopy()
				r.Strategy.Default(out[i])
			}
			continue
		}
		todo = append(todo, u)
		at = append(at, i)
	}
	if len(todo) == 0 {
		return out, nil
	}
	converted, err := r.Strategy.Convert(todo, want)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	for j, u := range converted {
		if r.Strategy.Default != nil {
			r.Strategy.Default(u)
		}
		out[at[j]] = u
	}
	return out, nil
}

// FromStorageList converts stored objects to r's served version as
// FromStorage does for each. The objects of a custom resource converted by
// a webhook go to it in one ConversionReview.
func FromStorageList(r *Resource, stored []runtime.Object) ([]runtime.Object, error) {
	out := make([]runtime.Object, len(stored))
	if !r.IsCustom() || r.Strategy.Convert == nil {
		for i, it := range stored {
			o, err := FromStorage(r, it)
			if err != nil {
				return nil, err
			}
			out[i] = o
		}
		return out, nil
	}
	var us []*unstructured.Unstructured
	var at []int
	for i, it := range stored {
		if u, ok := it.(*unstructured.Unstructured); ok {
			us = append(us, u)
			at = append(at, i)
		} else {
			out[i] = it
		}
	}
	converted, err := webhookFromStorage(r, us)
	if err != nil {
		return nil, err
	}
	for j, u := range converted {
		out[at[j]] = u
	}
	return out, nil
}
