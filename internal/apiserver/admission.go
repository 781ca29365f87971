package apiserver

import (
	"context"
	"errors"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/apiserver/admission"
	"skiff/internal/registry"
	"skiff/internal/storage"
)

// admissionAttributes describes the request q for the admission chain.
func admissionAttributes(ctx context.Context, q *request, op admission.Operation, obj, old runtime.Object) *admission.Attributes {
	a := &admission.Attributes{
		Operation:   op,
		Resource:    schema.GroupVersionResource{Group: q.res.Group, Version: q.res.Version, Resource: q.res.Name},
		Subresource: q.subresource,
		Namespace:   q.namespace,
		Name:        q.name,
		Object:      obj,
		OldObject:   old,
		DryRun:      isDryRun(q),
	}
	if q.viaSubresource != "" {
		a.Subresource = q.viaSubresource
	}
	switch op {
	case admission.Create, admission.Update:
		a.Options = operationOptions(q, op)
	}
	if obj != nil {
		// A create's name is the object's (possibly generated) name.
		if m, err := meta.Accessor(obj); err == nil && m.GetName() != "" {
			a.Name = m.GetName()
		}
	}
	u := UserFrom(ctx)
	a.User = admission.UserInfo{Name: u.Name, Groups: u.Groups}
	return a
}

// operationOptions are the CreateOptions or UpdateOptions of a create or
// update (a PUT, or a PATCH whose PatchOptions carry the same fields), as
// upstream hands them to admission, with their kind.
func operationOptions(q *request, op admission.Operation) runtime.Object {
	query := q.r.URL.Query()
	dry, manager, validation := query["dryRun"], query.Get("fieldManager"), query.Get("fieldValidation")
	if op == admission.Create {
		o := &metav1.CreateOptions{DryRun: dry, FieldManager: manager, FieldValidation: validation}
		o.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("CreateOptions"))
		return o
	}
	o := &metav1.UpdateOptions{DryRun: dry, FieldManager: manager, FieldValidation: validation}
	o.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("UpdateOptions"))
	return o
}

// immortalNamespaces may not be deleted (kube-apiserver's
// NamespaceLifecycle configuration).
var immortalNamespaces = map[string]bool{metav1.NamespaceDefault: true, metav1.NamespaceSystem: true, metav1.NamespacePublic: true}

// deleteAdmission returns the admission of deleting one object of q,
// called with the stored object each time the delete is about to be
// written, as upstream's delete validation: NamespaceLifecycle, then the
// chain's mutating and validating phases, with operation DELETE, the
// object as OldObject and opts as the options. name is the object's name,
// "" for each object of a deletecollection (upstream's attributes do not
// name it either).
func (s *Server) deleteAdmission(q *request, name string, opts *metav1.DeleteOptions) func(ctx context.Context, stored runtime.Object) error {
	options := opts.DeepCopy()
	options.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("DeleteOptions"))
	return func(ctx context.Context, stored runtime.Object) error {
		if q.res.Group == "" && q.res.Name == "namespaces" && immortalNamespaces[name] {
			return apierrors.NewForbidden(q.gr(), name, errors.New("this namespace may not be deleted"))
		}
		if s.hooks.Admission == nil {
			return nil
		}
		served, err := registry.FromStorage(q.res, stored)
		if err != nil {
			return err
		}
		// The stored object may be shared with the cache.
		old := served.DeepCopyObject()
		old.GetObjectKind().SetGroupVersionKind(q.res.GVK())
		a := admissionAttributes(ctx, q, admission.Delete, nil, old)
		a.Name = name
		a.Options = options
		a.DryRun = len(opts.DryRun) > 0
		if err := s.admitMutating(ctx, q, a); err != nil {
			return err
		}
		return s.admitValidating(ctx, q, a)
	}
}

// admitSubresourceCreate admits what a create of a subresource posts
// (pods/binding's Binding, serviceaccounts/token's TokenRequest) before it
// takes effect: both phases, operation CREATE, named after the parent.
func (s *Server) admitSubresourceCreate(ctx context.Context, q *request, obj runtime.Object) error {
	a := admissionAttributes(ctx, q, admission.Create, obj, nil)
	a.Name = q.name
	if err := s.admitMutating(ctx, q, a); err != nil {
		return err
	}
	return s.admitValidating(ctx, q, a)
}

// admitConnect runs admission for a connect request (exec, attach,
// port-forward, proxy) before it is made: operation CONNECT, with the
// request's options as the object, as upstream's connect handler.
//
// A connect cannot be a dry run: any dryRun parameter is refused first, as
// upstream's connect handler does. Mutating admission may change opts in
// place; the caller makes the request from them afterwards.
func (s *Server) admitConnect(ctx context.Context, q *request, opts runtime.Object) error {
	if _, ok := q.r.URL.Query()["dryRun"]; ok {
		return badRequest("dryRun is not supported")
	}
	if s.hooks.Admission == nil {
		return nil
	}
	a := admissionAttributes(ctx, q, admission.Connect, opts, nil)
	a.Name = q.name
	a.DryRun = false
	if err := s.admitMutating(ctx, q, a); err != nil {
		return err
	}
	return s.admitValidating(ctx, q, a)
}

// admitMutating runs the mutating phase of the admission chain.
func (s *Server) admitMutating(ctx context.Context, q *request, a *admission.Attributes) error {
	if s.hooks.Admission == nil {
		return nil
	}
	err := s.hooks.Admission.Admit(ctx, a)
	s.admissionWarnings(q, a)
	return err
}

// admitValidating runs the validating phase of the admission chain.
func (s *Server) admitValidating(ctx context.Context, q *request, a *admission.Attributes) error {
	if s.hooks.Admission == nil {
		return nil
	}
	err := s.hooks.Admission.Validate(ctx, a)
	s.admissionWarnings(q, a)
	return err
}

// admissionWarnings sends the admission warnings as Warning headers, each
// once even when the request is retried.
func (s *Server) admissionWarnings(q *request, a *admission.Attributes) {
	if q.w == nil {
		return
	}
	have := q.w.Header().Values("Warning")
	for _, msg := range a.Warnings() {
		if !slices.Contains(have, "299 - "+strconv.Quote(msg)) {
			addWarning(q.w, msg)
		}
	}
}

// NamespaceGetter returns a function reading namespaces from store, for
// admission plugins; like NamespaceLifecycle it is content with a recent
// state of the namespace when store caches one. The namespace returned must
// not be modified.
func NamespaceGetter(store storage.Store) func(ctx context.Context, name string) (*corev1.Namespace, error) {
	nsRes := registry.Lookup("", "v1", "namespaces")
	return func(ctx context.Context, name string) (*corev1.Namespace, error) {
		obj, err := getCachedOrStored(ctx, store, storageKey(nsRes, "", name))
		if err != nil {
			return nil, toStatusError(err, nsRes.GroupResource(), name)
		}
		ns, ok := obj.(*corev1.Namespace)
		if !ok {
			return nil, apierrors.NewInternalError(errors.New("stored namespace is not a v1 Namespace"))
		}
		return ns, nil
	}
}

// getCachedOrStored reads key from the watch cache as it stands, and from
// etcd when the cache has not seen it yet (a just-created object).
func getCachedOrStored(ctx context.Context, store storage.Store, key string) (runtime.Object, error) {
	get := store.Get
	if c, ok := store.(interface {
		GetAny(context.Context, string) (runtime.Object, error)
	}); ok {
		get = c.GetAny
	}
	obj, err := get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		obj, err = store.Get(ctx, key)
	}
	return obj, err
}

// GetNamespace returns the namespace name from the server's store.
func (s *Server) GetNamespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	return NamespaceGetter(s.store)(ctx, name)
}

// PodLister returns a function listing the pods of a namespace from store,
// for admission plugins. The pods returned must not be modified.
func PodLister(store storage.Store) func(ctx context.Context, namespace string) ([]*corev1.Pod, error) {
	podRes := registry.Lookup("", "v1", "pods")
	return func(ctx context.Context, namespace string) ([]*corev1.Pod, error) {
		res, err := store.List(ctx, storagePrefix(podRes, namespace), storage.ListOptions{})
		if err != nil {
			return nil, toStatusError(err, podRes.GroupResource(), "")
		}
		pods := make([]*corev1.Pod, 0, len(res.Items))
		for _, it := range res.Items {
			if pod, ok := it.(*corev1.Pod); ok {
				pods = append(pods, pod)
			}
		}
		return pods, nil
	}
}

// QuotaCharger returns a function that changes a ResourceQuota's status
// in the store with compare-and-swap (retried on conflict), for the
// ResourceQuota admission plugin: concurrent creates are charged one after
// the other, so together they cannot go beyond the quota. A quota deleted
// meanwhile charges nothing.
func QuotaCharger(store storage.Store) func(ctx context.Context, namespace, name string, charge func(*corev1.ResourceQuota) error) error {
	res := registry.Lookup("", "v1", "resourcequotas")
	return func(ctx context.Context, namespace, name string, charge func(*corev1.ResourceQuota) error) error {
		_, err := store.Update(ctx, storageKey(res, namespace, name), func(cur runtime.Object) (runtime.Object, error) {
			q, ok := cur.(*corev1.ResourceQuota)
			if !ok {
				return nil, apierrors.NewInternalError(errors.New("stored quota is not a v1 ResourceQuota"))
			}
			if err := charge(q); err != nil {
				return nil, err
			}
			return q, nil
		}, nil)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		return err
	}
}

// ObjectLister returns a function listing the objects of a resource in a
// namespace from store, for admission plugins. The objects returned must not
// be modified.
func ObjectLister(store storage.Store) func(ctx context.Context, gvr schema.GroupVersionResource, namespace string) ([]runtime.Object, error) {
	return func(ctx context.Context, gvr schema.GroupVersionResource, namespace string) ([]runtime.Object, error) {
		res := registry.Lookup(gvr.Group, gvr.Version, gvr.Resource)
		if res == nil {
			return nil, nil
		}
		list, err := store.List(ctx, storagePrefix(res, namespace), storage.ListOptions{Consistent: true})
		if err != nil {
			return nil, toStatusError(err, res.GroupResource(), "")
		}
		out := make([]runtime.Object, 0, len(list.Items))
		for _, it := range list.Items {
			served, err := registry.FromStorage(res, it)
			if err != nil {
				return nil, err
			}
			out = append(out, served)
		}
		return out, nil
	}
}

// ServiceAccountGetter reads a service account for the ServiceAccount
// admission plugin (nil, nil when there is none): from the watch cache,
// and from etcd when the cache has not seen it yet.
func ServiceAccountGetter(store storage.Store) func(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	res := registry.Lookup("", "v1", "serviceaccounts")
	return func(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
		obj, err := getCachedOrStored(ctx, store, storageKey(res, namespace, name))
		if errors.Is(err, storage.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		sa, ok := obj.(*corev1.ServiceAccount)
		if !ok {
			return nil, errors.New("stored service account is not a v1 ServiceAccount")
		}
		return sa, nil
	}
}
