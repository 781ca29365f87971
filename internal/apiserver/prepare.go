package apiserver

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/uuid"

	"skiff/internal/registry"
)

var (
	metaListGK   = schema.GroupKind{Group: "meta.k8s.io", Kind: "ListOptions"}
	metaDeleteGK = schema.GroupKind{Group: "meta.k8s.io", Kind: "DeleteOptions"}
)

// generateName appends five random characters to base, from the alphabet
// upstream uses (no vowels, no confusable digits).
func generateName(base string) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	const maxBase = 63 - 5
	if len(base) > maxBase {
		base = base[:maxBase]
	}
	b := make([]byte, 5)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return base + string(b)
}

// structField returns the addressable field name of obj's struct, if any.
func structField(obj runtime.Object, name string) (reflect.Value, bool) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	f := v.Elem().FieldByName(name)
	return f, f.IsValid() && f.CanSet()
}

// prepareCreate sets the system fields of a new object.
func prepareCreate(res *registry.Resource, obj runtime.Object) {
	m, _ := meta.Accessor(obj)
	m.SetUID(uuid.NewUUID())
	m.SetCreationTimestamp(metav1.Now())
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetSelfLink("")
	if res.Generation {
		m.SetGeneration(1)
	} else {
		m.SetGeneration(0)
	}
	if res.Status && !res.KeepStatusOnCreate {
		if f, ok := structField(obj, "Status"); ok {
			f.Set(reflect.Zero(f.Type()))
		}
	}
	initialStatus(obj)
	if res.IsCustom() {
		prepareCustomCreate(res, obj)
	}
	if res.Strategy != nil && res.Strategy.PrepareForCreate != nil {
		res.Strategy.PrepareForCreate(obj)
	}
	canonicalize(obj)
}

// canonicalize sets what an object carries whatever its writer sent: a
// namespace is labelled kubernetes.io/metadata.name=<its name>, as
// upstream does, so that selectors (NetworkPolicy, webhooks) can name it.
func canonicalize(obj runtime.Object) {
	if ns, ok := obj.(*corev1.Namespace); ok {
		if ns.Labels[corev1.LabelMetadataName] != ns.Name {
			if ns.Labels == nil {
				ns.Labels = map[string]string{}
			}
			ns.Labels[corev1.LabelMetadataName] = ns.Name
		}
	}
}

// initialStatus sets the status a new object starts with.
func initialStatus(obj runtime.Object) {
	switch o := obj.(type) {
	case *corev1.Pod:
		o.Status.Phase = corev1.PodPending
		o.Status.QOSClass = qosClass(&o.Spec)
	case *corev1.PersistentVolume:
		o.Status.Phase = corev1.VolumePending
	case *corev1.PersistentVolumeClaim:
		o.Status.Phase = corev1.ClaimPending
	case *corev1.Namespace:
		o.Status.Phase = corev1.NamespaceActive
	}
}

// qosClass computes a pod's quality of service class as upstream does.
func qosClass(spec *corev1.PodSpec) corev1.PodQOSClass {
	requests := corev1.ResourceList{}
	limits := corev1.ResourceList{}
	zero := resource.MustParse("0")
	guaranteed := true
	containers := append(append([]corev1.Container(nil), spec.Containers...), spec.InitContainers...)
	for _, c := range containers {
		for name, q := range c.Resources.Requests {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory {
				continue
			}
			if q.Cmp(zero) > 0 {
				acc := requests[name]
				acc.Add(q)
				requests[name] = acc
			}
		}
		seen := 0
		for name, q := range c.Resources.Limits {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory {
				continue
			}
			if q.Cmp(zero) > 0 {
				seen++
				acc := limits[name]
				acc.Add(q)
				limits[name] = acc
			}
		}
		if seen < 2 {
			guaranteed = false
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for name, req := range requests {
			if lim, ok := limits[name]; !ok || lim.Cmp(req) != 0 {
				guaranteed = false
				break
			}
		}
	}
	if guaranteed && len(limits) == 2 {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// prepareUpdate keeps what a client may not change through the main
// resource: system metadata, and the status when there is a status
// subresource. It bumps the generation when the spec changed.
func prepareUpdate(res *registry.Resource, obj, old runtime.Object) {
	m, _ := meta.Accessor(obj)
	om, _ := meta.Accessor(old)
	if m.GetUID() == "" {
		m.SetUID(om.GetUID())
	}
	m.SetCreationTimestamp(om.GetCreationTimestamp())
	m.SetDeletionTimestamp(om.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(om.GetDeletionGracePeriodSeconds())
	m.SetGeneration(om.GetGeneration())
	m.SetSelfLink("")
	if res.Strategy != nil && res.Strategy.PrepareForUpdate != nil {
		res.Strategy.PrepareForUpdate(obj, old)
	}
	canonicalize(obj)
	if res.IsCustom() {
		prepareCustomUpdate(res, obj, old)
		return
	}
	if res.Status {
		if f, ok := structField(obj, "Status"); ok {
			of, _ := structField(old, "Status")
			f.Set(of)
		}
	}
	if res.Generation {
		nf, ok1 := structField(obj, "Spec")
		of, ok2 := structField(old, "Spec")
		if ok1 && ok2 && !apiequality.Semantic.DeepEqual(nf.Interface(), of.Interface()) {
			m.SetGeneration(om.GetGeneration() + 1)
		}
	}
}

// applyStatusUpdate returns old with the status of obj: a status update
// changes nothing else.
func applyStatusUpdate(obj, old runtime.Object) runtime.Object {
	if out, ok := applyCustomStatusUpdate(obj, old); ok {
		return out
	}
	out := old.DeepCopyObject()
	if f, ok := structField(out, "Status"); ok {
		nf, _ := structField(obj, "Status")
		f.Set(nf)
	}
	m, _ := meta.Accessor(obj)
	om, _ := meta.Accessor(out)
	om.SetResourceVersion(m.GetResourceVersion())
	return out
}

// admitNamespace refuses objects in a namespace that does not exist or is
// being deleted (upstream's NamespaceLifecycle admission).
func (s *Server) admitNamespace(ctx context.Context, ns, name string, res *registry.Resource) error {
	// Like upstream's admission, a recent state of the namespace will do.
	nsObj, err := NamespaceGetter(s.store)(ctx, ns)
	if err != nil {
		return err
	}
	if nsObj.DeletionTimestamp != nil || nsObj.Status.Phase == corev1.NamespaceTerminating {
		// Events about the namespace's own deletion are still welcome.
		if res.Name == "events" {
			return nil
		}
		err := apierrors.NewForbidden(res.GroupResource(), name, fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
		err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: "NamespaceTerminating", Message: fmt.Sprintf("namespace %s is being terminated", ns), Field: "metadata.namespace"}}
		return err
	}
	return nil
}

// applyFinalize returns old with the spec.finalizers of obj: the finalize
// subresource of a namespace changes nothing else.
func applyFinalize(obj, old runtime.Object) runtime.Object {
	out := old.DeepCopyObject()
	if ns, ok := out.(*corev1.Namespace); ok {
		if in, ok := obj.(*corev1.Namespace); ok {
			ns.Spec.Finalizers = in.Spec.Finalizers
			ns.ResourceVersion = in.ResourceVersion
		}
	}
	return out
}
