// Package disruption owns the disruption controller: it keeps the status of
// every PodDisruptionBudget current (how many of its pods are healthy, how
// many must be, how many may be disrupted now) for the pods/eviction
// subresource to decide on, and forgets evictions that never deleted their
// pod.
package disruption

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	corev1apply "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"skiff/internal/controller/controllerutil"
)

// StalePodDisruptionTimeout is how long a pod that is not being deleted
// keeps a DisruptionTarget condition before the controller withdraws it.
const StalePodDisruptionTimeout = 2 * time.Minute

// fieldManager owns the withdrawn DisruptionTarget conditions, as upstream.
const fieldManager = "DisruptionController"

// DeletionTimeout is how long an eviction recorded in a budget's
// status.disruptedPods keeps its pod out of the healthy count while the
// pod is not seen being deleted.
const DeletionTimeout = 2 * time.Minute

// Event and DisruptionAllowed condition reasons, as upstream spells them.
const (
	reasonNoPods         = "NoPods"
	reasonCalculateFail  = "CalculateExpectedPodCountFailed"
	reasonUnmanagedPods  = "UnmanagedPods"
	reasonNotDeleted     = "NotDeleted"
	reasonSyncFailed     = policyv1.SyncFailedReason
	reasonSufficientPods = policyv1.SufficientPodsReason
	reasonInsufficient   = policyv1.InsufficientPodsReason
)

// Controller is the disruption controller.
type Controller struct {
	client kubernetes.Interface
	log    *slog.Logger
	queue  workqueue.TypedRateLimitingInterface[string]
	// stale holds pods whose DisruptionTarget condition may have outlived
	// the deletion it announced.
	stale    workqueue.TypedRateLimitingInterface[string]
	recorder record.EventRecorder
	stop     func()
	now      func() time.Time

	pdbs   policylisters.PodDisruptionBudgetLister
	pods   corelisters.PodLister
	rcs    corelisters.ReplicationControllerLister
	rss    appslisters.ReplicaSetLister
	deps   appslisters.DeploymentLister
	sets   appslisters.StatefulSetLister
	synced []cache.InformerSynced
}

// New returns the disruption controller on factory's informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	pdbInf := factory.Policy().V1().PodDisruptionBudgets()
	podInf := factory.Core().V1().Pods()
	rcInf := factory.Core().V1().ReplicationControllers()
	rsInf := factory.Apps().V1().ReplicaSets()
	depInf := factory.Apps().V1().Deployments()
	ssInf := factory.Apps().V1().StatefulSets()
	rec, stop := controllerutil.NewRecorder(client, "controllermanager")
	c := &Controller{
		client: client, log: log, queue: controllerutil.NewQueue("disruption"), stale: controllerutil.NewQueue("stale_pod_disruption"), recorder: rec, stop: stop, now: time.Now,
		pdbs: pdbInf.Lister(), pods: podInf.Lister(), rcs: rcInf.Lister(), rss: rsInf.Lister(), deps: depInf.Lister(), sets: ssInf.Lister(),
		synced: []cache.InformerSynced{pdbInf.Informer().HasSynced, podInf.Informer().HasSynced, rcInf.Informer().HasSynced,
			rsInf.Informer().HasSynced, depInf.Informer().HasSynced, ssInf.Informer().HasSynced},
	}
	_, _ = pdbInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { controllerutil.Enqueue(c.queue, obj) },
		UpdateFunc: func(_, obj any) { controllerutil.Enqueue(c.queue, obj) },
		DeleteFunc: func(obj any) { controllerutil.Enqueue(c.queue, obj) },
	})
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.podChanged,
		UpdateFunc: func(old, cur any) {
			c.podChanged(cur)
			// A relabelled pod may have left a budget.
			if o, ok := old.(*corev1.Pod); ok {
				if n, ok := cur.(*corev1.Pod); ok && !reflect.DeepEqual(o.Labels, n.Labels) {
					c.podChanged(old)
				}
			}
		},
		DeleteFunc: func(obj any) {
			obj = controllerutil.Untombstone(obj)
			c.podChanged(obj)
		},
	})
	// The controllers' listers give the expected scale; a change of scale
	// shows up through their pods, so they need no handlers of their own.
	return c
}

// podChanged queues the budgets selecting the pod.
func (c *Controller) podChanged(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if has, wait := staleDisruption(pod, c.now()); has {
		c.stale.AddAfter(pod.Namespace+"/"+pod.Name, wait)
	}
	for _, pdb := range c.budgetsFor(pod) {
		controllerutil.Enqueue(c.queue, pdb)
	}
}

// budgetsFor lists the budgets in the pod's namespace whose selector
// matches it (an empty selector matches every pod, a missing one none).
func (c *Controller) budgetsFor(pod *corev1.Pod) []*policyv1.PodDisruptionBudget {
	all, err := c.pdbs.PodDisruptionBudgets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*policyv1.PodDisruptionBudget
	for _, pdb := range all {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		out = append(out, pdb)
	}
	return out
}

// Run syncs budgets until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	defer c.stop()
	if !controllerutil.WaitForSync(ctx, c.synced...) {
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		controllerutil.RunWorkers(ctx, c.stale, 1, c.log, c.syncStalePod)
	}()
	controllerutil.RunWorkers(ctx, c.queue, 2, c.log, c.sync)
	<-done
	return nil
}

// staleDisruption reports whether a pod not being deleted carries a true
// DisruptionTarget condition, and how long until it is stale.
func staleDisruption(pod *corev1.Pod, now time.Time) (bool, time.Duration) {
	if pod.DeletionTimestamp != nil {
		return false, 0
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue {
			wait := StalePodDisruptionTimeout - now.Sub(c.LastTransitionTime.Time)
			if wait < 0 {
				wait = 0
			}
			return true, wait
		}
	}
	return false, 0
}

// syncStalePod withdraws the DisruptionTarget condition of a pod that was
// not deleted after all (the eviction's delete failed, say), so that it is
// not taken for a pod on its way out.
func (c *Controller) syncStalePod(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	has, wait := staleDisruption(pod, c.now())
	if !has {
		return nil
	}
	if wait > 0 {
		c.stale.AddAfter(key, wait)
		return nil
	}
	apply := corev1apply.Pod(pod.Name, pod.Namespace).WithResourceVersion(pod.ResourceVersion).
		WithStatus(corev1apply.PodStatus().WithConditions(corev1apply.PodCondition().
			WithType(corev1.DisruptionTarget).WithStatus(corev1.ConditionFalse).WithLastTransitionTime(metav1.NewTime(c.now()))))
	_, err = c.client.CoreV1().Pods(ns).ApplyStatus(ctx, apply, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pdb, err := c.pdbs.PodDisruptionBudgets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	err = c.trySync(ctx, pdb)
	if err == nil || apierrors.IsConflict(err) {
		// A conflict means a newer version is on its way to the informer.
		return err
	}
	c.log.Warn("failed to sync budget", "pdb", key, "err", err)
	return c.failSafe(ctx, pdb, err)
}

func (c *Controller) trySync(ctx context.Context, pdb *policyv1.PodDisruptionBudget) error {
	pods, err := c.podsFor(pdb)
	if err != nil {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, reasonNoPods, "Failed to get pods: %v", err)
		return err
	}
	if len(pods) == 0 {
		c.recorder.Event(pdb, corev1.EventTypeNormal, reasonNoPods, "No matching pods found")
	}
	expected, desired, unmanaged, err := c.expectedPodCount(ctx, pdb, pods)
	if err != nil {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, reasonCalculateFail, "Failed to calculate the number of expected pods: %v", err)
		return err
	}
	if len(unmanaged) > 0 {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, reasonUnmanagedPods, "Pods selected by this PodDisruptionBudget (selector: %v) were found "+
			"to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. "+
			"To account for these pods please set \".spec.minAvailable\" field of the PDB to an integer value.", pdb.Spec.Selector)
	}
	now := c.now()
	disrupted, recheck := c.disruptedPods(pods, pdb, now)
	healthy := countHealthy(pods, disrupted, now)
	if err := c.updateStatus(ctx, pdb, healthy, desired, expected, disrupted); err != nil {
		return err
	}
	if recheck != nil {
		// An eviction that does not delete its pod stops counting then.
		c.queue.AddAfter(pdb.Namespace+"/"+pdb.Name, recheck.Sub(now))
	}
	return nil
}

// podsFor lists the pods the budget selects.
func (c *Controller) podsFor(pdb *policyv1.PodDisruptionBudget) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		return nil, err
	}
	return c.pods.Pods(pdb.Namespace).List(sel)
}

// expectedPodCount resolves the budget's minAvailable or maxUnavailable
// into how many pods there should be and how many must stay healthy.
func (c *Controller) expectedPodCount(ctx context.Context, pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod) (expected, desired int32, unmanaged []string, err error) {
	switch {
	case pdb.Spec.MaxUnavailable != nil:
		if expected, unmanaged, err = c.expectedScale(ctx, pdb, pods); err != nil {
			return 0, 0, nil, err
		}
		maxUnavailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, int(expected), true)
		if err != nil {
			return 0, 0, nil, err
		}
		desired = expected - int32(maxUnavailable)
		if desired < 0 {
			desired = 0
		}
	case pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.Type == intstr.Int:
		desired = pdb.Spec.MinAvailable.IntVal
		expected = int32(len(pods))
	case pdb.Spec.MinAvailable != nil:
		if expected, unmanaged, err = c.expectedScale(ctx, pdb, pods); err != nil {
			return 0, 0, nil, err
		}
		minAvailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, int(expected), true)
		if err != nil {
			return 0, 0, nil, err
		}
		desired = int32(minAvailable)
	}
	return expected, desired, unmanaged, nil
}

// expectedScale sums the scale of the controllers of the pods, each
// controller once; pods without a controller are listed as unmanaged.
func (c *Controller) expectedScale(ctx context.Context, pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod) (int32, []string, error) {
	var expected int32
	var unmanaged []string
	seen := map[types.UID]bool{}
	scales := map[types.UID]int32{}
	for _, pod := range pods {
		ref := metav1.GetControllerOf(pod)
		if ref == nil {
			unmanaged = append(unmanaged, pod.Name)
			continue
		}
		if seen[ref.UID] {
			continue
		}
		uid, scale, found, err := c.controllerScale(ctx, pod.Namespace, ref)
		if err != nil {
			return 0, nil, err
		}
		if !found {
			return 0, nil, fmt.Errorf("found no controllers for pod %q", pod.Name)
		}
		seen[ref.UID] = true
		// Pods of several ReplicaSets of one Deployment count it once.
		scales[uid] = scale
	}
	for _, n := range scales {
		expected += n
	}
	return expected, unmanaged, nil
}

// controllerScale finds the pod controller behind ref and its desired
// replicas: a Deployment when ref is one of its ReplicaSets.
func (c *Controller) controllerScale(ctx context.Context, ns string, ref *metav1.OwnerReference) (types.UID, int32, bool, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return "", 0, false, nil
	}
	switch {
	case gv.Group == "" && ref.Kind == "ReplicationController":
		rc, err := c.rcs.ReplicationControllers(ns).Get(ref.Name)
		if err != nil || rc.UID != ref.UID {
			return "", 0, false, ignoreNotFound(err)
		}
		return rc.UID, replicas(rc.Spec.Replicas), true, nil
	case gv.Group == "apps" && ref.Kind == "ReplicaSet":
		rs, err := c.rss.ReplicaSets(ns).Get(ref.Name)
		if err != nil || rs.UID != ref.UID {
			return "", 0, false, ignoreNotFound(err)
		}
		if dref := metav1.GetControllerOf(rs); dref != nil && dref.Kind == "Deployment" && strings.HasPrefix(dref.APIVersion, "apps/") {
			d, err := c.deps.Deployments(ns).Get(dref.Name)
			if err != nil || d.UID != dref.UID {
				return "", 0, false, ignoreNotFound(err)
			}
			return d.UID, replicas(d.Spec.Replicas), true, nil
		}
		return rs.UID, replicas(rs.Spec.Replicas), true, nil
	case gv.Group == "apps" && ref.Kind == "StatefulSet":
		ss, err := c.sets.StatefulSets(ns).Get(ref.Name)
		if err != nil || ss.UID != ref.UID {
			return "", 0, false, ignoreNotFound(err)
		}
		return ss.UID, replicas(ss.Spec.Replicas), true, nil
	}
	return c.scaleSubresource(ctx, ns, gv, ref)
}

// scaleSubresource reads the scale of any other controller kind that
// serves one (custom resources with a scale subresource).
func (c *Controller) scaleSubresource(ctx context.Context, ns string, gv schema.GroupVersion, ref *metav1.OwnerReference) (types.UID, int32, bool, error) {
	disco := c.client.Discovery()
	if disco == nil || disco.RESTClient() == nil {
		return "", 0, false, nil
	}
	list, err := disco.ServerResourcesForGroupVersion(gv.String())
	if err != nil {
		return "", 0, false, ignoreNotFound(err)
	}
	var resource string
	for _, r := range list.APIResources {
		if r.Kind == ref.Kind && !strings.Contains(r.Name, "/") {
			resource = r.Name
		}
	}
	hasScale := false
	for _, r := range list.APIResources {
		if r.Name == resource+"/scale" {
			hasScale = true
		}
	}
	if resource == "" || !hasScale {
		return "", 0, false, nil
	}
	path := "/apis/" + gv.Group + "/" + gv.Version
	if gv.Group == "" {
		path = "/api/" + gv.Version
	}
	data, err := disco.RESTClient().Get().AbsPath(path, "namespaces", ns, resource, ref.Name, "scale").DoRaw(ctx)
	if err != nil {
		return "", 0, false, ignoreNotFound(err)
	}
	var scale autoscalingv1.Scale
	if err := json.Unmarshal(data, &scale); err != nil {
		return "", 0, false, err
	}
	if scale.UID != ref.UID {
		return "", 0, false, nil
	}
	return scale.UID, scale.Spec.Replicas, true, nil
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// disruptedPods keeps the budget's recorded evictions whose pods still
// exist, are not being deleted yet, and were evicted less than
// DeletionTimeout ago; it returns when the oldest kept one expires.
func (c *Controller) disruptedPods(pods []*corev1.Pod, pdb *policyv1.PodDisruptionBudget, now time.Time) (map[string]metav1.Time, *time.Time) {
	out := map[string]metav1.Time{}
	var recheck *time.Time
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		at, ok := pdb.Status.DisruptedPods[pod.Name]
		if !ok {
			continue
		}
		deadline := at.Add(DeletionTimeout)
		if deadline.Before(now) {
			c.recorder.Eventf(pod, corev1.EventTypeWarning, reasonNotDeleted, "Pod was expected by PDB %s/%s to be deleted but it wasn't", pdb.Namespace, pdb.Name)
			continue
		}
		if recheck == nil || deadline.Before(*recheck) {
			recheck = &deadline
		}
		out[pod.Name] = at
	}
	return out, recheck
}

// countHealthy counts the ready pods that are neither being deleted nor
// about to be by a recent eviction.
func countHealthy(pods []*corev1.Pod, disrupted map[string]metav1.Time, now time.Time) int32 {
	var n int32
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if at, ok := disrupted[pod.Name]; ok && at.Add(DeletionTimeout).After(now) {
			continue
		}
		if podReady(pod) {
			n++
		}
	}
	return n
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (c *Controller) updateStatus(ctx context.Context, pdb *policyv1.PodDisruptionBudget, healthy, desired, expected int32, disrupted map[string]metav1.Time) error {
	allowed := healthy - desired
	if expected <= 0 || allowed <= 0 {
		allowed = 0
	}
	st := pdb.Status
	if st.CurrentHealthy == healthy && st.DesiredHealthy == desired && st.ExpectedPods == expected &&
		st.DisruptionsAllowed == allowed && sameDisrupted(st.DisruptedPods, disrupted) &&
		st.ObservedGeneration == pdb.Generation && conditionCurrent(pdb, allowed) {
		return nil
	}
	out := pdb.DeepCopy()
	out.Status = policyv1.PodDisruptionBudgetStatus{
		CurrentHealthy: healthy, DesiredHealthy: desired, ExpectedPods: expected, DisruptionsAllowed: allowed,
		DisruptedPods: disrupted, ObservedGeneration: pdb.Generation, Conditions: out.Status.Conditions,
	}
	setDisruptionAllowed(out)
	_, err := c.client.PolicyV1().PodDisruptionBudgets(pdb.Namespace).UpdateStatus(ctx, out, metav1.UpdateOptions{})
	return err
}

func sameDisrupted(a, b map[string]metav1.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !v.Equal(&w) {
			return false
		}
	}
	return true
}

// conditionCurrent reports whether DisruptionAllowed already says what
// allowed implies.
func conditionCurrent(pdb *policyv1.PodDisruptionBudget, allowed int32) bool {
	cond := apimeta.FindStatusCondition(pdb.Status.Conditions, policyv1.DisruptionAllowedCondition)
	if cond == nil {
		return false
	}
	if allowed > 0 {
		return cond.Status == metav1.ConditionTrue && cond.Reason == reasonSufficientPods
	}
	return cond.Status == metav1.ConditionFalse && cond.Reason == reasonInsufficient
}

// setDisruptionAllowed sets DisruptionAllowed from status.disruptionsAllowed.
func setDisruptionAllowed(pdb *policyv1.PodDisruptionBudget) {
	cond := metav1.Condition{Type: policyv1.DisruptionAllowedCondition, ObservedGeneration: pdb.Status.ObservedGeneration}
	if pdb.Status.DisruptionsAllowed > 0 {
		cond.Status, cond.Reason = metav1.ConditionTrue, reasonSufficientPods
	} else {
		cond.Status, cond.Reason = metav1.ConditionFalse, reasonInsufficient
	}
	apimeta.SetStatusCondition(&pdb.Status.Conditions, cond)
}

// failSafe allows no disruptions while the budget's status cannot be
// computed, saying why in the condition.
func (c *Controller) failSafe(ctx context.Context, pdb *policyv1.PodDisruptionBudget, syncErr error) error {
	out := pdb.DeepCopy()
	out.Status.DisruptionsAllowed = 0
	apimeta.SetStatusCondition(&out.Status.Conditions, metav1.Condition{
		Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionFalse, Reason: reasonSyncFailed,
		Message: syncErr.Error(), ObservedGeneration: out.Status.ObservedGeneration,
	})
	if _, err := c.client.PolicyV1().PodDisruptionBudgets(pdb.Namespace).UpdateStatus(ctx, out, metav1.UpdateOptions{}); err != nil {
		return err
	}
	// The status is safe now; look again later, as with any failure.
	return syncErr
}
