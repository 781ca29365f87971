package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	policyv1beta1 "k8s.io/api/policy/v1beta1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiserver/admission"
	"skiff/internal/registry"
	"skiff/internal/storage"
)

// Eviction constants, as upstream spells them.
const (
	// evictionRetries bounds the attempts when the pod or its budget
	// changes under an eviction.
	evictionRetries = 5
	// maxDisruptedPods bounds a budget's status.disruptedPods: evictions the
	// disruption controller has not confirmed yet.
	maxDisruptedPods  = 2000
	evictionBudgetMsg = "Cannot evict pod as it would violate the pod's disruption budget."
	evictionManyPDBs  = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
	// disruptionReason is the DisruptionTarget condition's reason for pods
	// deleted through the eviction subresource.
	disruptionReason = "EvictionByEvictionAPI"
)

var pdbGR = schema.GroupResource{Group: "policy", Resource: "poddisruptionbudget"}

// decodeEviction reads a policy/v1 (or, for old clients, v1beta1) Eviction,
// as a policy/v1 one (the two have the same fields).
func (s *Server) decodeEviction(q *request) (*policyv1.Eviction, error) {
	info, _, err := requestSerializer(q.r)
	if err != nil {
		return nil, err
	}
	data, err := readBody(q)
	if err != nil {
		return nil, err
	}
	want := policyv1.SchemeGroupVersion.WithKind("Eviction")
	obj, _, err := info.Serializer.Decode(data, &want, nil)
	if err != nil {
		return nil, badRequest("error decoding Eviction: %v", err)
	}
	var e *policyv1.Eviction
	switch in := obj.(type) {
	case *policyv1.Eviction:
		e = in
	case *policyv1beta1.Eviction:
		e = &policyv1.Eviction{ObjectMeta: in.ObjectMeta, DeleteOptions: in.DeleteOptions}
	default:
		return nil, badRequest("the kind in the data (%s) does not match the expected kind (Eviction)", obj.GetObjectKind().GroupVersionKind().Kind)
	}
	if ns := e.Namespace; ns != "" && ns != q.namespace {
		return nil, badRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	e.SetGroupVersionKind(want)
	return e, nil
}

// serveEviction evicts a pod (pods/eviction): it is deleted unless that
// would take a PodDisruptionBudget covering it below its minimum, which is
// answered 429 for the client to retry later. The Eviction is admitted as
// a create of pods/eviction, as upstream: NamespaceLifecycle and the
// mutating phase first, the validating phase once its name and options
// are checked.
func (s *Server) serveEviction(q *request) {
	ctx := q.r.Context()
	if err := validateDryRun(q); err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	eviction, err := s.decodeEviction(q)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	if err := s.admitNamespace(ctx, q.namespace, q.name, q.res); err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	attrs := admissionAttributes(ctx, q, admission.Create, eviction, nil)
	attrs.Name = q.name
	if err := s.admitMutating(ctx, q, attrs); err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	if eviction.Name != q.name {
		s.writeError(q.w, q.r, badRequest("name in URL does not match name in Eviction object"))
		return
	}
	opts, err := evictionDeleteOptions(q, eviction.DeleteOptions)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	if err := s.admitValidating(ctx, q, attrs); err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	if err := s.evict(ctx, q, opts); err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	s.writeObject(q, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
}

// evictionDeleteOptions merges the URL's dryRun into the eviction's delete
// options and validates them.
func evictionDeleteOptions(q *request, opts *metav1.DeleteOptions) (*metav1.DeleteOptions, error) {
	dry := q.r.URL.Query()["dryRun"]
	if opts == nil {
		opts = &metav1.DeleteOptions{DryRun: dry}
	} else if len(dry) > 0 && !reflect.DeepEqual(opts.DryRun, dry) {
		return nil, badRequest("Cannot evict pod %s: dryRun in DeleteOptions (%v) differs from dryRun in CreateOptions (%v)", q.name, opts.DryRun, dry)
	}
	var errs field.ErrorList
	for _, d := range opts.DryRun {
		if d != metav1.DryRunAll {
			errs = append(errs, field.NotSupported(field.NewPath("deleteOptions", "dryRun"), d, []string{"All"}))
		}
	}
	if p := opts.PropagationPolicy; p != nil {
		switch *p {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
		default:
			errs = append(errs, field.NotSupported(field.NewPath("deleteOptions", "propagationPolicy"), *p, []string{"Foreground", "Background", "Orphan", "nil"}))
		}
	}
	if g := opts.GracePeriodSeconds; g != nil && *g < 0 {
		zero := int64(0)
		opts.GracePeriodSeconds = &zero
	}
	if len(errs) > 0 {
		return nil, invalid(policyv1.SchemeGroupVersion.WithKind("Eviction").GroupKind(), q.name, errs)
	}
	return opts, nil
}

// budgetTooManyRequests is the 429 of an eviction the budget cannot take now.
func budgetTooManyRequests(retryAfter int, cause string) *apierrors.StatusError {
	err := apierrors.NewTooManyRequests(evictionBudgetMsg, retryAfter)
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Type: policyv1.DisruptionBudgetCause, Message: cause})
	return err
}

// budgetBusy is the 429 for a budget the controller has not caught up with.
func budgetBusy(name string) *apierrors.StatusError {
	return budgetTooManyRequests(10, fmt.Sprintf("The disruption budget %s is still being processed by the server.", name))
}

// canIgnorePDB: a pod that is not running, or already going away, is no
// disruption the budgets could prevent.
func canIgnorePDB(pod *corev1.Pod) bool {
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed, corev1.PodPending:
		return true
	}
	return pod.DeletionTimestamp != nil
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func rvUnset(opts *metav1.DeleteOptions) bool {
	return opts.Preconditions == nil || opts.Preconditions.ResourceVersion == nil
}

func withRV(opts *metav1.DeleteOptions, rv string) *metav1.DeleteOptions {
	out := opts.DeepCopy()
	if out.Preconditions == nil {
		out.Preconditions = &metav1.Preconditions{}
	}
	out.Preconditions.ResourceVersion = &rv
	return out
}

func (s *Server) getPod(ctx context.Context, q *request) (*corev1.Pod, error) {
	return s.storedPod(ctx, q.namespace, q.name)
}

func (s *Server) evict(ctx context.Context, q *request, opts *metav1.DeleteOptions) error {
	dryRun := len(opts.DryRun) > 0
	var pod *corev1.Pod
	for attempt := 0; ; attempt++ {
		var err error
		if pod, err = s.getPod(ctx, q); err != nil {
			return err
		}
		if !canIgnorePDB(pod) {
			break
		}
		delOpts := opts
		// A pending pod may start meanwhile; a terminal one stays terminal.
		if pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed && rvUnset(opts) {
			delOpts = withRV(opts, pod.ResourceVersion)
		}
		err = s.markAndDeletePod(ctx, q, delOpts)
		if apierrors.IsConflict(err) && rvUnset(opts) && attempt < evictionRetries {
			continue
		}
		return err
	}

	pdbs, err := s.podBudgets(ctx, pod)
	if err != nil {
		return err
	}
	if len(pdbs) > 1 {
		return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Message: evictionManyPDBs, Code: http.StatusInternalServerError}}
	}
	unhealthyDelete := false
	if len(pdbs) == 1 {
		pdb := pdbs[0]
		if !podReady(pod) {
			// An unready pod does not count as healthy: deleting it leaves
			// the budget as it is, when the policy or the budget allow.
			if p := pdb.Spec.UnhealthyPodEvictionPolicy; p != nil && *p == policyv1.AlwaysAllow {
				unhealthyDelete = true
			} else if pdb.Status.CurrentHealthy >= pdb.Status.DesiredHealthy && pdb.Status.DesiredHealthy > 0 {
				unhealthyDelete = true
			}
		}
		if !unhealthyDelete {
			if err := s.takeDisruption(ctx, pdb, pod.Name, dryRun); err != nil {
				return err
			}
		}
	}
	delOpts := opts
	if unhealthyDelete {
		// The pod must not have become ready since it was read.
		delOpts = withRV(opts, pod.ResourceVersion)
	}
	err = s.markAndDeletePod(ctx, q, delOpts)
	if err != nil && apierrors.IsConflict(err) && unhealthyDelete && rvUnset(opts) {
		return budgetBusy(pdbs[0].Name)
	}
	return err
}

// podBudgets lists the budgets in the pod's namespace selecting it.
func (s *Server) podBudgets(ctx context.Context, pod *corev1.Pod) ([]*policyv1.PodDisruptionBudget, error) {
	res := registry.Lookup("policy", "v1", "poddisruptionbudgets")
	list, err := s.store.List(ctx, storagePrefix(res, pod.Namespace), storage.ListOptions{Consistent: true})
	if err != nil {
		return nil, toStatusError(err, res.GroupResource(), "")
	}
	var out []*policyv1.PodDisruptionBudget
	for _, it := range list.Items {
		obj, err := registry.FromStorage(res, it)
		if err != nil {
			return nil, err
		}
		pdb, ok := obj.(*policyv1.PodDisruptionBudget)
		if !ok {
			continue
		}
		// policy/v1: an empty selector selects every pod, none selects none.
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		out = append(out, pdb)
	}
	return out, nil
}

// takeDisruption decrements the budget's disruptionsAllowed and records the
// pod in disruptedPods in one write, or answers why it cannot.
func (s *Server) takeDisruption(ctx context.Context, pdb *policyv1.PodDisruptionBudget, podName string, dryRun bool) error {
	res := registry.Lookup("policy", "v1", "poddisruptionbudgets")
	check := func(p *policyv1.PodDisruptionBudget) error {
		if p.Status.ObservedGeneration < p.Generation {
			return budgetBusy(p.Name)
		}
		if p.Status.DisruptionsAllowed < 0 {
			return apierrors.NewForbidden(pdbGR, p.Name, errors.New("pdb disruptions allowed is negative"))
		}
		if len(p.Status.DisruptedPods) > maxDisruptedPods {
			return apierrors.NewForbidden(pdbGR, p.Name, errors.New("DisruptedPods map too big - too many evictions not confirmed by PDB controller"))
		}
		if p.Status.DisruptionsAllowed == 0 {
			return budgetTooManyRequests(0, fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", p.Name, p.Status.DesiredHealthy, p.Status.CurrentHealthy))
		}
		return nil
	}
	if dryRun {
		return check(pdb)
	}
	_, err := s.store.Update(ctx, storageKey(res, pdb.Namespace, pdb.Name), func(current runtime.Object) (runtime.Object, error) {
		cur, err := registry.FromStorage(res, current)
		if err != nil {
			return nil, err
		}
		p, ok := cur.(*policyv1.PodDisruptionBudget)
		if !ok {
			return nil, fmt.Errorf("stored budget %s is a %T", pdb.Name, cur)
		}
		if err := check(p); err != nil {
			return nil, err
		}
		p.Status.DisruptionsAllowed--
		if p.Status.DisruptionsAllowed == 0 {
			setDisruptionAllowed(p)
		}
		if p.Status.DisruptedPods == nil {
			p.Status.DisruptedPods = map[string]metav1.Time{}
		}
		// The controller must not count the pod as healthy until it is
		// gone, or for two minutes if it never goes.
		p.Status.DisruptedPods[podName] = metav1.Now()
		return registry.ToStorage(res, p)
	}, nil)
	if err != nil {
		return toStatusError(err, pdbGR, pdb.Name)
	}
	return nil
}

// setDisruptionAllowed sets the budget's DisruptionAllowed condition from
// its status, as the disruption controller does.
func setDisruptionAllowed(p *policyv1.PodDisruptionBudget) {
	c := metav1.Condition{Type: policyv1.DisruptionAllowedCondition, ObservedGeneration: p.Status.ObservedGeneration}
	if p.Status.DisruptionsAllowed > 0 {
		c.Status, c.Reason = metav1.ConditionTrue, policyv1.SufficientPodsReason
	} else {
		c.Status, c.Reason = metav1.ConditionFalse, policyv1.InsufficientPodsReason
	}
	apimeta.SetStatusCondition(&p.Status.Conditions, c)
}

// markAndDeletePod sets the pod's DisruptionTarget condition and deletes it.
func (s *Server) markAndDeletePod(ctx context.Context, q *request, opts *metav1.DeleteOptions) error {
	if len(opts.DryRun) == 0 {
		updated, err := s.store.Update(ctx, storageKey(q.res, q.namespace, q.name), func(current runtime.Object) (runtime.Object, error) {
			pod, ok := current.(*corev1.Pod)
			if !ok {
				return nil, fmt.Errorf("stored pod %s is a %T", q.name, current)
			}
			if pre := opts.Preconditions; pre != nil {
				if uid := pre.UID; uid != nil && *uid != "" && *uid != pod.UID {
					return nil, apierrors.NewConflict(q.gr(), q.name, fmt.Errorf("the UID in the precondition (%s) does not match the UID in record (%s). The object might have been deleted and then recreated", *uid, pod.UID))
				}
				if rv := pre.ResourceVersion; rv != nil && *rv != "" && *rv != pod.ResourceVersion {
					return nil, apierrors.NewConflict(q.gr(), q.name, fmt.Errorf("the ResourceVersion in the precondition (%s) does not match the ResourceVersion in record (%s). The object might have been modified", *rv, pod.ResourceVersion))
				}
			}
			setDisruptionTarget(pod)
			return pod, nil
		}, nil)
		if err != nil {
			return toStatusError(err, q.gr(), q.name)
		}
		if !rvUnset(opts) {
			// The condition was our own write: the precondition moves on.
			m, _ := apimeta.Accessor(updated)
			opts = withRV(opts, m.GetResourceVersion())
		}
	}
	_, _, err := s.deleteOne(ctx, q, q.namespace, q.name, opts, nil)
	return err
}

// setDisruptionTarget marks the pod as about to be deleted by an eviction.
func setDisruptionTarget(pod *corev1.Pod) {
	c := corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: disruptionReason, Message: "Eviction API: evicting"}
	for i := range pod.Status.Conditions {
		cur := &pod.Status.Conditions[i]
		if cur.Type != c.Type {
			continue
		}
		if cur.Status != c.Status {
			cur.LastTransitionTime = metav1.NewTime(time.Now())
		}
		cur.Status, cur.Reason, cur.Message = c.Status, c.Reason, c.Message
		return
	}
	c.LastTransitionTime = metav1.NewTime(time.Now())
	pod.Status.Conditions = append(pod.Status.Conditions, c)
}
