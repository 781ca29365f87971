// Package replicaset holds the ReplicaSet controller and the
// ReplicationController manager. Both keep spec.replicas active pods that
// match their selector: they adopt matching orphans, release pods that stop
// matching, create missing pods in slow-start bursts and delete surplus
// ones, the least valuable first. A ReplicationController is handled as the
// ReplicaSet it is equivalent to (see kind), so the logic exists once.
package replicaset

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/kubectl/pkg/util/podutils"

	"skiff/internal/controller/controllerutil"
)

// burstReplicas caps the creates or deletes of one sync, as upstream.
const burstReplicas = 500

// slowStartInitialBatch is the size of the first batch of creates; each
// next batch doubles while all succeed.
const slowStartInitialBatch = 1

// podDeletionCostAnnotation lets users say which pods to remove first.
const podDeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// Controller reconciles ReplicaSets (or ReplicationControllers) with their
// pods.
type Controller struct {
	client       kubernetes.Interface
	kind         *kind
	pods         corelisters.PodLister
	podsSynced   cache.InformerSynced
	queue        workqueue.TypedRateLimitingInterface[string]
	exp          *controllerutil.Expectations
	recorder     record.EventRecorder
	stopRecorder func()
	log          *slog.Logger
	workers      int

	// going holds the pods whose delete was already counted when their
	// deletionTimestamp appeared, until they are gone.
	goingMu sync.Mutex
	going   map[types.UID]bool
}

// New returns the ReplicaSet controller.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	return newController(client, factory, log, replicaSetKind(client, factory))
}

// NewReplicationController returns the ReplicationController manager, the
// same controller over core/v1 ReplicationControllers.
func NewReplicationController(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	return newController(client, factory, log, replicationControllerKind(client, factory))
}

func newController(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger, k *kind) *Controller {
	podInf := factory.Core().V1().Pods()
	c := &Controller{
		client:     client,
		kind:       k,
		pods:       podInf.Lister(),
		podsSynced: podInf.Informer().HasSynced,
		queue:      controllerutil.NewQueue(k.queueName),
		exp:        controllerutil.NewExpectations(),
		log:        log,
		workers:    5,
		going:      map[types.UID]bool{},
	}
	c.recorder, c.stopRecorder = controllerutil.NewRecorder(client, k.component)
	_, _ = k.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur any) { c.enqueue(cur) },
		DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				c.exp.Forget(key)
				c.queue.Add(key)
			}
		},
	})
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	return c
}

// Run syncs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	defer c.stopRecorder()
	if !controllerutil.WaitForSync(ctx, c.kind.informer.HasSynced, c.podsSynced) {
		return nil
	}
	controllerutil.RunWorkers(ctx, c.queue, c.workers, c.log, c.sync)
	return nil
}

func (c *Controller) enqueue(obj any) { controllerutil.Enqueue(c.queue, obj) }

// owner returns the controller of pod if it is one of ours.
func (c *Controller) owner(pod *corev1.Pod) *appsv1.ReplicaSet {
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != c.kind.gvk.Kind {
		return nil
	}
	rs, ok := c.kind.cached(pod.Namespace, ref.Name)
	if !ok || rs.UID != ref.UID {
		return nil
	}
	return rs
}

// enqueueMatching queues every controller whose selector matches an orphan
// pod, so that one of them adopts it.
func (c *Controller) enqueueMatching(pod *corev1.Pod) {
	for _, rs := range c.kind.list(pod.Namespace) {
		sel, err := selectorOf(rs)
		if err != nil || sel.Empty() {
			continue
		}
		if sel.Matches(labels.Set(pod.Labels)) {
			c.enqueue(rs)
		}
	}
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		// Seen for the first time already going: a delete to account for.
		c.podGone(pod, false)
		return
	}
	if metav1.GetControllerOf(pod) != nil {
		if rs := c.owner(pod); rs != nil {
			key := keyOf(rs)
			c.exp.Observed(key, true)
			c.queue.Add(key)
		}
		return
	}
	c.enqueueMatching(pod)
}

func (c *Controller) updatePod(oldObj, curObj any) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	labelsChanged := !labels.Equals(old.Labels, cur.Labels)
	if cur.DeletionTimestamp != nil && old.DeletionTimestamp == nil {
		// The delete is observed as soon as the pod starts going, so that
		// a replacement is made without waiting for it to terminate.
		c.podGone(cur, false)
		return
	}
	oldRef, curRef := metav1.GetControllerOf(old), metav1.GetControllerOf(cur)
	if oldRef != nil && (curRef == nil || oldRef.UID != curRef.UID) {
		if rs := c.owner(old); rs != nil {
			c.enqueue(rs)
		}
	}
	if curRef != nil {
		if rs := c.owner(cur); rs != nil {
			c.enqueue(rs)
			// Becoming available takes minReadySeconds after becoming
			// ready: look again then.
			if rs.Spec.MinReadySeconds > 0 && !podutils.IsPodReady(old) && podutils.IsPodReady(cur) {
				c.queue.AddAfter(keyOf(rs), time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
			}
		}
		return
	}
	if labelsChanged || oldRef != nil {
		c.enqueueMatching(cur)
	}
}

func (c *Controller) deletePod(obj any) {
	pod, ok := controllerutil.Untombstone(obj).(*corev1.Pod)
	if !ok {
		return
	}
	c.podGone(pod, true)
}

// podGone accounts for a pod that started going (final false) or is gone.
// Each pod's delete lowers the expectations once, when first seen.
func (c *Controller) podGone(pod *corev1.Pod, final bool) {
	rs := c.owner(pod)
	c.goingMu.Lock()
	seen := c.going[pod.UID]
	if final {
		delete(c.going, pod.UID)
	} else if rs != nil {
		c.going[pod.UID] = true
	}
	c.goingMu.Unlock()
	if rs == nil {
		return
	}
	key := keyOf(rs)
	if !seen {
		c.exp.Observed(key, false)
	}
	c.queue.Add(key)
}

func keyOf(rs *appsv1.ReplicaSet) string { return rs.Namespace + "/" + rs.Name }

// sync reconciles one controller with its pods and writes its status.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	rs, ok := c.kind.cached(ns, name)
	if !ok {
		c.exp.Forget(key)
		return nil
	}
	needsSync := c.exp.Satisfied(key)
	selector, err := selectorOf(rs)
	if err != nil {
		c.log.Warn("invalid selector", "key", key, "err", err)
		return nil
	}
	all, err := c.pods.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	// Finished and terminating pods no longer count.
	pods, err := controllerutil.Claim(ctx, rs, c.kind.gvk, selector, controllerutil.ActivePods(all), controllerutil.PodPatcher(c.client))
	if err != nil {
		return err
	}
	var manageErr error
	if needsSync && rs.DeletionTimestamp == nil {
		manageErr = c.manage(ctx, key, rs, pods, all)
	}
	var term *int32
	if c.kind.terminating {
		n := terminating(rs, selector, all)
		term = &n
	}
	status := calculateStatus(rs, pods, term, manageErr, metav1.Now())
	updated, err := c.updateStatus(ctx, rs, status)
	if err != nil {
		return err
	}
	// Pods become available minReadySeconds after becoming ready; no pod
	// event says when, so look again then.
	if manageErr == nil && updated.Spec.MinReadySeconds > 0 && updated.Status.ReadyReplicas == replicasOf(updated) &&
		updated.Status.AvailableReplicas != replicasOf(updated) {
		c.queue.AddAfter(key, time.Duration(updated.Spec.MinReadySeconds)*time.Second)
	}
	return manageErr
}

func replicasOf(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

// manage creates or deletes pods so that len(pods) approaches the wanted
// count, by at most burstReplicas.
func (c *Controller) manage(ctx context.Context, key string, rs *appsv1.ReplicaSet, pods, all []*corev1.Pod) error {
	diff := len(pods) - int(replicasOf(rs))
	switch {
	case diff < 0:
		n := min(-diff, burstReplicas)
		c.exp.Expect(key, n, 0)
		created, err := slowStartBatch(n, slowStartInitialBatch, func() error { return c.createPod(ctx, rs) })
		// Pods never created (or refused) will not be observed.
		for i := created; i < n; i++ {
			c.exp.Observed(key, true)
		}
		return err
	case diff > 0:
		n := min(diff, burstReplicas)
		victims := podsToDelete(pods, c.relatedPods(rs, all), n)
		c.exp.Expect(key, 0, len(victims))
		errs := make(chan error, len(victims))
		var wg sync.WaitGroup
		for _, p := range victims {
			wg.Add(1)
			go func(p *corev1.Pod) {
				defer wg.Done()
				if err := c.deletePodNow(ctx, rs, p); err != nil {
					c.exp.Observed(key, false)
					if !apierrors.IsNotFound(err) {
						errs <- err
					}
				}
			}(p)
		}
		wg.Wait()
		select {
		case err := <-errs:
			return err
		default:
		}
	}
	return nil
}

func (c *Controller) createPod(ctx context.Context, rs *appsv1.ReplicaSet) error {
	pod := controllerutil.PodFromTemplate(&rs.Spec.Template, rs, c.kind.gvk, "")
	if len(pod.Labels) == 0 {
		return fmt.Errorf("unable to create pods, no labels")
	}
	created, err := c.client.CoreV1().Pods(rs.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		// A namespace being deleted refuses every create: nothing to retry
		// or report.
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
		c.recorder.Eventf(c.kind.original(rs), corev1.EventTypeWarning, controllerutil.FailedCreate, "Error creating: %v", err)
		return err
	}
	c.recorder.Eventf(c.kind.original(rs), corev1.EventTypeNormal, controllerutil.SuccessfulCreate, "Created pod: %v", created.Name)
	return nil
}

func (c *Controller) deletePodNow(ctx context.Context, rs *appsv1.ReplicaSet, pod *corev1.Pod) error {
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if err != nil {
		if !apierrors.IsNotFound(err) {
			c.recorder.Eventf(c.kind.original(rs), corev1.EventTypeWarning, controllerutil.FailedDelete, "Error deleting: %v", err)
		}
		return err
	}
	c.recorder.Eventf(c.kind.original(rs), corev1.EventTypeNormal, controllerutil.SuccessfulDelete, "Deleted pod: %v", pod.Name)
	return nil
}

// slowStartBatch calls fn count times in batches of 1, 2, 4, ... run in
// parallel, stopping after the first batch with an error, so that a call
// bound to fail (quota, webhook) is not made hundreds of times. It returns
// how many calls succeeded.
func slowStartBatch(count, initial int, fn func() error) (int, error) {
	remaining, successes := count, 0
	for batch := min(remaining, initial); batch > 0; batch = min(2*batch, remaining) {
		errs := make(chan error, batch)
		var wg sync.WaitGroup
		for i := 0; i < batch; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := fn(); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		successes += batch - len(errs)
		if len(errs) > 0 {
			return successes, <-errs
		}
		remaining -= batch
	}
	return successes, nil
}

// relatedPods returns the active pods of rs and of its siblings (the
// controllers with the same owner, e.g. the ReplicaSets of one Deployment),
// used to spread what remains over nodes when scaling down.
func (c *Controller) relatedPods(rs *appsv1.ReplicaSet, all []*corev1.Pod) []*corev1.Pod {
	owners := map[types.UID]bool{rs.UID: true}
	if ref := metav1.GetControllerOf(rs); ref != nil {
		for _, o := range c.kind.list(rs.Namespace) {
			if r := metav1.GetControllerOf(o); r != nil && r.UID == ref.UID {
				owners[o.UID] = true
			}
		}
	}
	var out []*corev1.Pod
	for _, p := range controllerutil.ActivePods(all) {
		if r := metav1.GetControllerOf(p); r != nil && owners[r.UID] {
			out = append(out, p)
		}
	}
	return out
}

// podsToDelete picks the n pods that are cheapest to lose.
func podsToDelete(pods, related []*corev1.Pod, n int) []*corev1.Pod {
	if n >= len(pods) {
		return pods
	}
	perNode := map[string]int{}
	for _, p := range related {
		if p.Spec.NodeName != "" {
			perNode[p.Spec.NodeName]++
		}
	}
	ranked := make([]rankedPod, len(pods))
	for i, p := range pods {
		ranked[i] = rankedPod{pod: p, colocated: perNode[p.Spec.NodeName]}
	}
	now := time.Now()
	sort.SliceStable(ranked, func(i, j int) bool { return deleteFirst(ranked[i], ranked[j], now) })
	out := make([]*corev1.Pod, n)
	for i := range out {
		out[i] = ranked[i].pod
	}
	return out
}

type rankedPod struct {
	pod       *corev1.Pod
	colocated int
}

var phaseRank = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

// deleteFirst orders pods by how little is lost by deleting them, as
// upstream ranks them: unscheduled before scheduled, pending before
// running, not ready before ready, lower pod-deletion-cost first, pods
// doubled up on a node before lone ones, ready for a shorter time first,
// more restarts first, newer first.
func deleteFirst(a, b rankedPod, now time.Time) bool {
	pa, pb := a.pod, b.pod
	if (pa.Spec.NodeName == "") != (pb.Spec.NodeName == "") {
		return pa.Spec.NodeName == ""
	}
	if phaseRank[pa.Status.Phase] != phaseRank[pb.Status.Phase] {
		return phaseRank[pa.Status.Phase] < phaseRank[pb.Status.Phase]
	}
	ra, rb := podutils.IsPodReady(pa), podutils.IsPodReady(pb)
	if ra != rb {
		return !ra
	}
	if ca, cb := deletionCost(pa), deletionCost(pb); ca != cb {
		return ca < cb
	}
	if a.colocated != b.colocated {
		return a.colocated > b.colocated
	}
	if ra && rb {
		ta, tb := readySince(pa), readySince(pb)
		if !ta.Equal(tb) {
			return afterOrZero(ta, tb)
		}
	}
	if xa, xb := restarts(pa), restarts(pb); xa != xb {
		return xa > xb
	}
	if !pa.CreationTimestamp.Equal(&pb.CreationTimestamp) {
		return afterOrZero(pa.CreationTimestamp.Time, pb.CreationTimestamp.Time)
	}
	return false
}

// afterOrZero says whether a is after b, a zero time being the latest.
func afterOrZero(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero()
	}
	return a.After(b)
}

func deletionCost(p *corev1.Pod) int64 {
	v, err := strconv.ParseInt(p.Annotations[podDeletionCostAnnotation], 10, 32)
	if err != nil {
		return 0
	}
	return v
}

func readySince(p *corev1.Pod) time.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

func restarts(p *corev1.Pod) int32 {
	var n int32
	for _, s := range p.Status.ContainerStatuses {
		n = max(n, s.RestartCount)
	}
	return n
}

// calculateStatus counts pods as upstream does and keeps a ReplicaFailure
// condition while creating or deleting fails.
func calculateStatus(rs *appsv1.ReplicaSet, pods []*corev1.Pod, terminating *int32, manageErr error, now metav1.Time) appsv1.ReplicaSetStatus {
	st := *rs.Status.DeepCopy()
	templateSel := labels.SelectorFromSet(rs.Spec.Template.Labels)
	var labeled, ready, available int32
	for _, p := range pods {
		if templateSel.Matches(labels.Set(p.Labels)) {
			labeled++
		}
		if podutils.IsPodReady(p) {
			ready++
			if podutils.IsPodAvailable(p, rs.Spec.MinReadySeconds, now) {
				available++
			}
		}
	}
	failure := -1
	for i, c := range st.Conditions {
		if c.Type == appsv1.ReplicaSetReplicaFailure {
			failure = i
		}
	}
	switch {
	case manageErr != nil && failure < 0:
		reason := ""
		if diff := len(pods) - int(replicasOf(rs)); diff < 0 {
			reason = controllerutil.FailedCreate
		} else if diff > 0 {
			reason = controllerutil.FailedDelete
		}
		st.Conditions = append(st.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
			LastTransitionTime: now, Reason: reason, Message: manageErr.Error(),
		})
	case manageErr == nil && failure >= 0:
		st.Conditions = append(st.Conditions[:failure:failure], st.Conditions[failure+1:]...)
		if len(st.Conditions) == 0 {
			st.Conditions = nil
		}
	}
	st.Replicas = int32(len(pods))
	st.FullyLabeledReplicas = labeled
	st.ReadyReplicas = ready
	st.AvailableReplicas = available
	st.TerminatingReplicas = terminating
	return st
}

// terminating counts the pods of rs that are being deleted but have not
// finished (upstream's terminatingReplicas, on by default).
func terminating(rs *appsv1.ReplicaSet, selector labels.Selector, all []*corev1.Pod) int32 {
	var n int32
	for _, p := range all {
		if p.DeletionTimestamp == nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == rs.UID && selector.Matches(labels.Set(p.Labels)) {
			n++
		}
	}
	return n
}

// updateStatus writes st unless nothing changed, retrying once on a fresh
// copy.
func (c *Controller) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet, st appsv1.ReplicaSetStatus) (*appsv1.ReplicaSet, error) {
	st.ObservedGeneration = rs.Generation
	if apiequality.Semantic.DeepEqual(rs.Status, st) {
		return rs, nil
	}
	cur := rs.DeepCopy()
	var err error
	for attempt := 0; ; attempt++ {
		st.ObservedGeneration = cur.Generation
		cur.Status = st
		var updated *appsv1.ReplicaSet
		if updated, err = c.kind.updateStatus(ctx, cur); err == nil {
			return updated, nil
		}
		if attempt == 1 || apierrors.IsNotFound(err) {
			return nil, err
		}
		if cur, err = c.kind.get(ctx, rs.Namespace, rs.Name); err != nil {
			return nil, err
		}
	}
}
