// Package informerutil holds what skiff's components share about their
// informers (client-go shared informer caches).
package informerutil

import "k8s.io/apimachinery/pkg/api/meta"

// StripManagedFields is an informer transform
// (informers.WithTransform) that drops managedFields before objects enter
// the cache: no component reads them, and they are often the larger part
// of an object. Updates made from cached objects keep the stored
// managedFields (the server takes them from the live object when a request
// carries none).
func StripManagedFields(obj any) (any, error) {
	if a, err := meta.Accessor(obj); err == nil {
		a.SetManagedFields(nil)
	}
	return obj, nil
}
