package registry

import (
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Strategy is per-kind behaviour that the resource table does not describe
// itself. The CustomResourceDefinition kind and the custom resources it
// defines carry one; the API server runs these hooks besides its own.
type Strategy struct {
	// Custom is true for custom resources: objects are
	// *unstructured.Unstructured and stored as JSON.
	Custom bool
	// CRDName names the CustomResourceDefinition of a custom resource.
	CRDName string
	// Default fills in defaults of a (decoded or stored) object.
	Default func(obj runtime.Object)
	// Prune drops fields a custom resource's schema does not know and
	// returns their paths.
	Prune func(obj runtime.Object) []string
	// Validate checks an object on create (old is nil) and update.
	Validate func(obj, old runtime.Object) field.ErrorList
	// ValidateStatus checks an update through the status subresource.
	ValidateStatus func(obj, old runtime.Object) field.ErrorList
	// PrepareForCreate and PrepareForUpdate adjust an object before it is
	// validated (e.g. reset fields clients may not set).
	PrepareForCreate func(obj runtime.Object)
	PrepareForUpdate func(obj, old runtime.Object)
	// PrepareForDelete marks an object about to be deleted (finalizers,
	// conditions): when set, a delete only marks the object and its
	// finalizer's owner removes it later.
	PrepareForDelete func(obj runtime.Object)
	// Columns and Row render the server-side Table; nil uses the defaults.
	Columns []metav1.TableColumnDefinition
	Row     func(obj runtime.Object, now time.Time) ([]interface{}, error)
	// SelectableFields returns the values of the resource's Fields.
	SelectableFields func(obj runtime.Object) map[string]string
	// Scale paths of the scale subresource (JSON paths such as
	// ".spec.replicas"); set when Resource.Scale is true on custom resources.
	SpecReplicasPath, StatusReplicasPath, LabelSelectorPath string
	// StorageVersion is the version a custom resource is stored in.
	StorageVersion string
	// Convert converts custom objects to apiVersion (group/version) when
	// the CRD's conversion strategy is Webhook; nil for strategy None.
	// It returns new objects the caller owns, one per input, in order.
	Convert func(objs []*unstructured.Unstructured, apiVersion string) ([]*unstructured.Unstructured, error)
	// Terminating is set while the CRD of a custom resource is being
	// deleted: its objects can be read and deleted, not created.
	Terminating bool
}

// IsCustom reports whether r is a custom resource.
func (r *Resource) IsCustom() bool { return r.Strategy != nil && r.Strategy.Custom }

var custom atomic.Pointer[[]*Resource]

func customResources() []*Resource {
	if p := custom.Load(); p != nil {
		return *p
	}
	return nil
}

// SetCustom replaces the set of served custom resources.
func SetCustom(resources []*Resource) {
	cp := append([]*Resource(nil), resources...)
	for _, r := range cp {
		if r.Verbs == nil {
			r.Verbs = verbsAll
		}
	}
	custom.Store(&cp)
}

// Custom returns the served custom resources.
func Custom() []*Resource { return customResources() }

// LookupKind finds a served resource by its group, version and kind.
func LookupKind(group, version, kind string) *Resource {
	for _, r := range All() {
		if r.Group == group && r.Version == version && r.Kind == kind {
			return r
		}
	}
	return nil
}
