package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	corev1 "k8s.io/api/core/v1"

	"skiff/internal/registry"
	"skiff/internal/storage"
)

// deleteOptions reads DeleteOptions from the body or the query.
func deleteOptions(q *request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	if q.r.Body != nil {
		// readBody answers 413 when the body is over the limit.
		data, err := readBody(q)
		if err != nil {
			return nil, err
		}
		if len(data) > 0 {
			info, mt, err := requestSerializer(q.r)
			if err != nil {
				return nil, err
			}
			if mt == mediaProtobuf {
				// The envelope names the client's group version, where
				// DeleteOptions is registered too.
				want := q.res.GVK().GroupVersion().WithKind("DeleteOptions")
				if _, _, err := info.Serializer.Decode(data, &want, opts); err != nil {
					return nil, badRequest("error decoding DeleteOptions: %v", err)
				}
			} else {
				js, err := yaml.YAMLToJSON(data)
				if err == nil {
					err = json.Unmarshal(js, opts)
				}
				if err != nil {
					return nil, badRequest("error decoding DeleteOptions: %v", err)
				}
			}
		}
	}
	query := q.r.URL.Query()
	if v := query.Get("gracePeriodSeconds"); v != "" {
		g, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, badRequest("invalid gracePeriodSeconds: %s", v)
		}
		opts.GracePeriodSeconds = &g
	}
	if v := query.Get("propagationPolicy"); v != "" {
		p := metav1.DeletionPropagation(v)
		opts.PropagationPolicy = &p
	}
	if v := query.Get("orphanDependents"); v != "" {
		b := v == "true"
		opts.OrphanDependents = &b
	}
	opts.DryRun = append(opts.DryRun, query["dryRun"]...)
	var errs field.ErrorList
	if p := opts.PropagationPolicy; p != nil {
		switch *p {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
		default:
			errs = append(errs, field.NotSupported(field.NewPath("propagationPolicy"), *p, []string{"Foreground", "Background", "Orphan", "nil"}))
		}
		if opts.OrphanDependents != nil {
			errs = append(errs, field.Invalid(field.NewPath("propagationPolicy"), *p, "orphanDependents and deletionPropagation cannot be both set"))
		}
	}
	if g := opts.GracePeriodSeconds; g != nil && *g < 0 {
		zero := int64(0)
		opts.GracePeriodSeconds = &zero
	}
	for _, d := range opts.DryRun {
		if d != metav1.DryRunAll {
			errs = append(errs, field.NotSupported(field.NewPath("dryRun"), d, []string{"All"}))
		}
	}
	if len(errs) > 0 {
		return nil, invalid(metaDeleteGK, "", errs)
	}
	return opts, nil
}

// preconditionCheck enforces DeleteOptions.preconditions.
func preconditionCheck(gr schema.GroupResource, name string, opts *metav1.DeleteOptions) func(runtime.Object) error {
	return func(current runtime.Object) error {
		if opts.Preconditions == nil {
			return nil
		}
		m, err := meta.Accessor(current)
		if err != nil {
			return err
		}
		if uid := opts.Preconditions.UID; uid != nil && *uid != m.GetUID() {
			return apierrors.NewConflict(gr, name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *uid, m.GetUID()))
		}
		if rv := opts.Preconditions.ResourceVersion; rv != nil && *rv != m.GetResourceVersion() {
			return apierrors.NewConflict(gr, name, fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *rv, m.GetResourceVersion()))
		}
		return nil
	}
}

func (s *Server) serveDelete(q *request) {
	opts, err := deleteOptions(q)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	out, code, err := s.deleteOne(q.r.Context(), q, q.namespace, q.name, opts, s.deleteAdmission(q, q.name, opts))
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	s.writeObject(q, code, out)
}

// deleteOne deletes one object. Objects with finalizers (and namespaces,
// whose content must go first) are only marked for deletion: they get a
// deletionTimestamp and the answer is 202 with the object. Otherwise the
// object is removed and the answer is 200 with a success Status (the object
// itself for pods, as upstream).
//
// admit, unless nil (an eviction, admitted as such), is the delete's
// admission: it sees the stored object before anything is written, and
// again whenever the object changed before the write.
func (s *Server) deleteOne(ctx context.Context, q *request, ns, name string, opts *metav1.DeleteOptions, admit func(context.Context, runtime.Object) error) (runtime.Object, int, error) {
	key := storageKey(q.res, ns, name)
	gr := q.gr()
	dryRun := len(opts.DryRun) > 0
	current, err := s.store.Get(ctx, key)
	if err != nil {
		return nil, 0, toStatusError(err, gr, name)
	}
	if err := preconditionCheck(gr, name, opts)(current); err != nil {
		return nil, 0, err
	}
	check := preconditionCheck(gr, name, opts)
	// admitted is the resourceVersion admission last allowed.
	admitted := ""
	if admit != nil && !gracefulPending(current, opts) {
		admitOnce := func(cur runtime.Object) error {
			m, err := meta.Accessor(cur)
			if err != nil {
				return err
			}
			if admitted != "" && m.GetResourceVersion() == admitted {
				return nil
			}
			if err := admit(ctx, cur); err != nil {
				return err
			}
			admitted = m.GetResourceVersion()
			return nil
		}
		if err := admitOnce(current); err != nil {
			return nil, 0, err
		}
		check = func(cur runtime.Object) error {
			if err := preconditionCheck(gr, name, opts)(cur); err != nil {
				return err
			}
			return admitOnce(cur)
		}
	}
	grace := gracePeriod(current, opts)
	cascade := cascadeFinalizer(opts)
	// A kind with a delete hook (CRDs) is only marked: its finalizer's
	// owner removes it.
	var prepare func(runtime.Object)
	if st := q.res.Strategy; st != nil && st.PrepareForDelete != nil {
		prepare = st.PrepareForDelete
	}
	if needsGracefulDeletion(current) || grace > 0 || cascade != "" || prepare != nil {
		if dryRun {
			out, err := s.prepareForOutput(q.res, current)
			return out, deferredDeleteCode(opts), err
		}
		updated, err := s.store.Update(ctx, key, func(cur runtime.Object) (runtime.Object, error) {
			if err := check(cur); err != nil {
				return nil, err
			}
			if prepare != nil {
				served, err := registry.FromStorage(q.res, cur)
				if err != nil {
					return nil, err
				}
				served = served.DeepCopyObject()
				markDeleted(served, gracePeriod(served, opts))
				setCascadeFinalizer(served, cascade)
				prepare(served)
				return registry.ToStorage(q.res, served)
			}
			markDeleted(cur, gracePeriod(cur, opts))
			setCascadeFinalizer(cur, cascade)
			return cur, nil
		}, nil)
		if err != nil {
			return nil, 0, toStatusError(err, gr, name)
		}
		if needsGracefulDeletion(updated) || gracePeriod(updated, opts) > 0 {
			out, err := s.prepareForOutput(q.res, updated)
			return out, deferredDeleteCode(opts), err
		}
		current = updated
		// That write was this delete's own: it needs no second admission.
		if m, err := meta.Accessor(updated); err == nil && admitted != "" {
			admitted = m.GetResourceVersion()
		}
	}
	if dryRun {
		return s.deletedResult(q, current)
	}
	deleted, err := s.store.Delete(ctx, key, check, s.deleteClaims(q))
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, 0, apierrors.NewNotFound(gr, name)
		}
		return nil, 0, toStatusError(err, gr, name)
	}
	return s.deletedResult(q, deleted)
}

func (s *Server) deletedResult(q *request, deleted runtime.Object) (runtime.Object, int, error) {
	if q.res.Group == "" && q.res.Name == "pods" {
		out, err := s.prepareForOutput(q.res, deleted)
		return out, http.StatusOK, err
	}
	m, _ := meta.Accessor(deleted)
	return &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusSuccess,
		Details: &metav1.StatusDetails{
			Name:  m.GetName(),
			Group: q.res.Group,
			Kind:  q.res.Name,
			UID:   types.UID(m.GetUID()),
		},
	}, http.StatusOK, nil
}

// gracefulPending reports a pod already terminating whose grace period
// the delete does not shorten: nothing is written, and upstream does not
// run the delete's admission either.
func gracefulPending(obj runtime.Object, opts *metav1.DeleteOptions) bool {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.DeletionTimestamp == nil || pod.DeletionGracePeriodSeconds == nil || *pod.DeletionGracePeriodSeconds == 0 {
		return false
	}
	return opts.GracePeriodSeconds == nil || *opts.GracePeriodSeconds >= *pod.DeletionGracePeriodSeconds
}

// needsGracefulDeletion reports whether deleting obj must wait: it has
// finalizers, or is a namespace whose content is not yet removed.
func needsGracefulDeletion(obj runtime.Object) bool {
	m, err := meta.Accessor(obj)
	if err != nil {
		return false
	}
	return len(m.GetFinalizers()) > 0 || hasSpecFinalizers(obj)
}

// hasSpecFinalizers reports a namespace still waiting for its content to be
// removed (spec.finalizers).
func hasSpecFinalizers(obj runtime.Object) bool {
	ns, ok := obj.(*corev1.Namespace)
	return ok && len(ns.Spec.Finalizers) > 0
}

func (s *Server) serveDeleteCollection(q *request) {
	ctx := q.r.Context()
	opts, err := deleteOptions(q)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	sel, err := s.parseSelection(q)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	lopts := storage.ListOptions{Consistent: true}
	if !sel.empty() {
		lopts.Filter = sel.matchesStored
	}
	res, err := s.store.List(ctx, storagePrefix(q.res, q.namespace), lopts)
	if err != nil {
		s.writeError(q.w, q.r, toStatusError(err, q.gr(), ""))
		return
	}
	// Each object is admitted as it is deleted, unnamed as upstream's
	// deletecollection admission.
	admit := s.deleteAdmission(q, "", opts)
	var deleted []runtime.Object
	for _, it := range res.Items {
		m, _ := meta.Accessor(it)
		if _, _, err := s.deleteOne(ctx, q, m.GetNamespace(), m.GetName(), opts, admit); err != nil {
			var se *apierrors.StatusError
			if errors.As(err, &se) && se.ErrStatus.Code == http.StatusNotFound {
				continue
			}
			s.writeError(q.w, q.r, err)
			return
		}
		out, err := registry.FromStorage(q.res, it)
		if err != nil {
			s.writeError(q.w, q.r, err)
			return
		}
		deleted = append(deleted, out)
	}
	list := q.res.NewList()
	if err := meta.SetList(list, deleted); err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	setKind(list, q.res.GVK().GroupVersion().WithKind(q.res.Kind+"List"))
	la, _ := meta.ListAccessor(list)
	la.SetResourceVersion(strconv.FormatInt(res.Revision, 10))
	s.writeObject(q, http.StatusOK, list)
}

// deferredDeleteCode is the status of a delete that did not remove the
// object yet: 200, or 202 when the client asked for cascading deletion with
// the old orphanDependents=false (upstream keeps that quirk for clients).
func deferredDeleteCode(opts *metav1.DeleteOptions) int {
	if opts.OrphanDependents != nil && !*opts.OrphanDependents {
		return http.StatusAccepted
	}
	return http.StatusOK
}

// gracePeriod is how long a pod gets to stop before it is removed; 0 means
// at once. Only pods on a node that are still running get one: the node's
// agent stops the containers and then deletes the pod with a period of 0.
func gracePeriod(obj runtime.Object, opts *metav1.DeleteOptions) int64 {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return 0
	}
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return 0
	}
	var grace int64 = corev1.DefaultTerminationGracePeriodSeconds
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	if opts.GracePeriodSeconds != nil {
		grace = *opts.GracePeriodSeconds
	}
	if pod.DeletionGracePeriodSeconds != nil && *pod.DeletionGracePeriodSeconds < grace {
		// A deletion may shorten a running grace period, never extend it.
		grace = *pod.DeletionGracePeriodSeconds
	}
	if grace < 0 {
		grace = 0
	}
	return grace
}

// markDeleted sets the deletion timestamp and grace period of an object
// being deleted; a later, shorter grace period moves the deadline earlier.
func markDeleted(obj runtime.Object, grace int64) {
	m, _ := meta.Accessor(obj)
	deadline := metav1.NewTime(time.Now().Add(time.Duration(grace) * time.Second))
	if ts := m.GetDeletionTimestamp(); ts == nil || deadline.Before(ts) {
		m.SetDeletionTimestamp(&deadline)
		m.SetDeletionGracePeriodSeconds(&grace)
	}
	if nsObj, ok := obj.(*corev1.Namespace); ok {
		nsObj.Status.Phase = corev1.NamespaceTerminating
	}
}

// Finalizers the garbage collector honours on an object being deleted.
const (
	finalizerOrphan     = metav1.FinalizerOrphanDependents
	finalizerForeground = metav1.FinalizerDeleteDependents
)

// cascadeFinalizer is the finalizer a delete's propagation policy asks
// for: dependents are deleted first (Foreground) or released (Orphan). With
// Background (the default) the object goes now and the garbage collector
// deletes the dependents afterwards.
func cascadeFinalizer(opts *metav1.DeleteOptions) string {
	if p := opts.PropagationPolicy; p != nil {
		switch *p {
		case metav1.DeletePropagationForeground:
			return finalizerForeground
		case metav1.DeletePropagationOrphan:
			return finalizerOrphan
		}
		return ""
	}
	if o := opts.OrphanDependents; o != nil && *o {
		return finalizerOrphan
	}
	return ""
}

// setCascadeFinalizer puts the requested cascade finalizer on obj, replacing
// the other one (a later delete may change its mind, as upstream allows).
func setCascadeFinalizer(obj runtime.Object, finalizer string) {
	if finalizer == "" {
		return
	}
	m, _ := meta.Accessor(obj)
	var out []string
	for _, f := range m.GetFinalizers() {
		if f != finalizerOrphan && f != finalizerForeground {
			out = append(out, f)
		}
	}
	m.SetFinalizers(append(out, finalizer))
}
