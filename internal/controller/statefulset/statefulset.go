// Package statefulset holds the StatefulSet controller. It gives each
// replica a stable identity: a pod named <set>-<ordinal> with its own
// persistent volume claims, re-created with the same name and claims when
// it goes. Pods are created and removed in ordinal order (OrderedReady) or
// all at once (Parallel). Every template the set has had is kept as a
// ControllerRevision, which is what kubectl rollout history and undo read,
// and pods not at the newest revision are replaced from the highest
// ordinal down (RollingUpdate) or when the user deletes them (OnDelete).
package statefulset

import (
	"context"
	"log/slog"
	"strings"
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
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/kubectl/pkg/util/podutils"

	"skiff/internal/controller/controllerutil"
	"skiff/internal/controller/history"
)

// controllerKind is what the set is called in owner references.
var controllerKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// pendingTTL bounds how long a sync waits for its own writes to reach the
// informers before trusting them again.
const pendingTTL = time.Minute

// Controller reconciles StatefulSets with their pods, claims and revisions.
type Controller struct {
	client       kubernetes.Interface
	sets         appslisters.StatefulSetLister
	pods         corelisters.PodLister
	revs         appslisters.ControllerRevisionLister
	claims       corelisters.PersistentVolumeClaimLister
	synced       []cache.InformerSynced
	queue        workqueue.TypedRateLimitingInterface[string]
	recorder     record.EventRecorder
	stopRecorder func()
	log          *slog.Logger

	// pending holds, per set, the pods this controller created or deleted
	// and has not yet seen so in the pod cache. Pods have fixed names, so
	// acting on a stale cache would create a pod twice or delete (and
	// report) it twice; a sync waits until the cache caught up instead.
	mu      sync.Mutex
	pending map[string]*pendingOps
}

type pendingOps struct {
	creates map[string]bool      // pod names
	deletes map[string]types.UID // pod name → uid deleted
	at      time.Time
}

// New returns the StatefulSet controller, its informers registered on
// factory.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	setInf := factory.Apps().V1().StatefulSets()
	podInf := factory.Core().V1().Pods()
	revInf := factory.Apps().V1().ControllerRevisions()
	claimInf := factory.Core().V1().PersistentVolumeClaims()
	c := &Controller{
		client:  client,
		sets:    setInf.Lister(),
		pods:    podInf.Lister(),
		revs:    revInf.Lister(),
		claims:  claimInf.Lister(),
		synced:  []cache.InformerSynced{setInf.Informer().HasSynced, podInf.Informer().HasSynced, revInf.Informer().HasSynced, claimInf.Informer().HasSynced},
		queue:   controllerutil.NewQueue("statefulset"),
		log:     log,
		pending: map[string]*pendingOps{},
	}
	c.recorder, c.stopRecorder = controllerutil.NewRecorder(client, "statefulset-controller")
	_, _ = setInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur any) { c.enqueue(cur) },
		DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				c.forgetPending(key)
				c.queue.Add(key)
			}
		},
	})
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.podChanged(obj, false) },
		UpdateFunc: c.podUpdated,
		DeleteFunc: func(obj any) { c.podChanged(obj, true) },
	})
	_, _ = revInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.ownedChanged,
		UpdateFunc: func(_, cur any) { c.ownedChanged(cur) },
		DeleteFunc: c.ownedChanged,
	})
	return c
}

// Run syncs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	defer c.stopRecorder()
	if !controllerutil.WaitForSync(ctx, c.synced...) {
		return nil
	}
	controllerutil.RunWorkers(ctx, c.queue, 5, c.log, c.sync)
	return nil
}

func (c *Controller) enqueue(obj any) { controllerutil.Enqueue(c.queue, obj) }

// ownerOf returns the set controlling obj, if it is one of ours.
func (c *Controller) ownerOf(obj metav1.Object) *appsv1.StatefulSet {
	ref := metav1.GetControllerOf(obj)
	if ref == nil || ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return nil
	}
	set, err := c.sets.StatefulSets(obj.GetNamespace()).Get(ref.Name)
	if err != nil || set.UID != ref.UID {
		return nil
	}
	return set
}

// enqueueMatching queues the sets whose selector matches an orphan, so
// that one adopts it.
func (c *Controller) enqueueMatching(obj metav1.Object) {
	sets, err := c.sets.StatefulSets(obj.GetNamespace()).List(labels.Everything())
	if err != nil {
		return
	}
	for _, set := range sets {
		sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		if sel.Matches(labels.Set(obj.GetLabels())) {
			c.enqueue(set)
		}
	}
}

func metaOf(obj any) metav1.Object {
	obj = controllerutil.Untombstone(obj)
	m, _ := obj.(metav1.Object)
	return m
}

func (c *Controller) podChanged(obj any, gone bool) {
	m := metaOf(obj)
	if m == nil {
		return
	}
	if set := c.ownerOf(m); set != nil {
		key, _ := cache.MetaNamespaceKeyFunc(set)
		c.observe(key, m, gone)
		c.queue.Add(key)
		return
	}
	if metav1.GetControllerOf(m) == nil {
		c.enqueueMatching(m)
	}
}

func (c *Controller) podUpdated(oldObj, curObj any) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	if oldSet := c.ownerOf(old); oldSet != nil {
		if curSet := c.ownerOf(cur); curSet == nil || curSet.UID != oldSet.UID {
			c.enqueue(oldSet)
		}
	}
	c.podChanged(cur, false)
	// A pod becomes available minReadySeconds after it became ready; no
	// event says when, so look again then.
	if set := c.ownerOf(cur); set != nil && set.Spec.MinReadySeconds > 0 && !podutils.IsPodReady(old) && podutils.IsPodReady(cur) {
		key, _ := cache.MetaNamespaceKeyFunc(set)
		c.queue.AddAfter(key, time.Duration(set.Spec.MinReadySeconds)*time.Second+time.Second)
	}
}

func (c *Controller) ownedChanged(obj any) {
	if m := metaOf(obj); m != nil {
		if set := c.ownerOf(m); set != nil {
			c.enqueue(set)
		}
	}
}

func (c *Controller) expectCreate(key, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pendingFor(key)
	p.creates[name] = true
}

func (c *Controller) expectDelete(key string, pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pendingFor(key)
	p.deletes[pod.Name] = pod.UID
}

func (c *Controller) pendingFor(key string) *pendingOps {
	p := c.pending[key]
	if p == nil {
		p = &pendingOps{creates: map[string]bool{}, deletes: map[string]types.UID{}}
		c.pending[key] = p
	}
	p.at = time.Now()
	return p
}

// observe drops what an event of pod shows done: its create, or its
// delete once it is going or gone.
func (c *Controller) observe(key string, pod metav1.Object, gone bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pending[key]
	if p == nil {
		return
	}
	delete(p.creates, pod.GetName())
	if uid, ok := p.deletes[pod.GetName()]; ok && (gone || pod.GetUID() != uid || pod.GetDeletionTimestamp() != nil) {
		delete(p.deletes, pod.GetName())
	}
}

func (c *Controller) forgetPending(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pending, key)
}

// caughtUp says whether the pod cache shows every create and delete this
// controller made for key, dropping those it shows.
func (c *Controller) caughtUp(key, ns string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pending[key]
	if p == nil {
		return true
	}
	for name := range p.creates {
		if _, err := c.pods.Pods(ns).Get(name); err == nil {
			delete(p.creates, name)
		}
	}
	for name, uid := range p.deletes {
		pod, err := c.pods.Pods(ns).Get(name)
		if err != nil || pod.UID != uid || pod.DeletionTimestamp != nil {
			delete(p.deletes, name)
		}
	}
	if len(p.creates) == 0 && len(p.deletes) == 0 || time.Since(p.at) > pendingTTL {
		delete(c.pending, key)
		return true
	}
	return false
}

// sync reconciles one set: claims its pods and revisions, works out the
// current and update revisions, creates, deletes and replaces pods, and
// writes the status.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	set, err := c.sets.StatefulSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.forgetPending(key)
		return nil
	}
	if err != nil {
		return err
	}
	if !c.caughtUp(key, ns) {
		// The pod events still to come requeue the set; look again anyway
		// should they never come.
		c.queue.AddAfter(key, pendingTTL+time.Second)
		return nil
	}
	selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil || selector.Empty() {
		c.log.Warn("invalid selector", "key", key, "err", err)
		return nil
	}
	all, err := c.pods.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	// Only pods named after the set are members; others are left alone.
	var named []*corev1.Pod
	for _, p := range all {
		if ordinalOf(set, p) >= 0 {
			named = append(named, p)
		}
	}
	pods, err := controllerutil.Claim(ctx, set, controllerKind, selector, named, controllerutil.PodPatcher(c.client))
	if err != nil {
		return err
	}
	allRevs, err := c.revs.ControllerRevisions(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	revs, err := controllerutil.Claim(ctx, set, controllerKind, selector, allRevs, history.Patcher(c.client))
	if err != nil {
		return err
	}
	history.Sort(revs)
	current, update, collisionCount, err := c.revisions(ctx, set, revs)
	if err != nil {
		if set.Status.CollisionCount == nil || *set.Status.CollisionCount != collisionCount {
			st := set.Status.DeepCopy()
			st.CollisionCount = &collisionCount
			if _, uerr := c.updateStatus(ctx, set, st); uerr != nil {
				return uerr
			}
		}
		return err
	}
	status, requeue, syncErr := c.reconcile(ctx, key, set, pods, current, update, collisionCount)
	if _, err := c.updateStatus(ctx, set, status); err != nil {
		return err
	}
	if syncErr != nil {
		return syncErr
	}
	// Only after the status records the current revision may older ones go.
	if err := c.truncateHistory(ctx, set, pods, revs, current, update); err != nil {
		return err
	}
	if requeue > 0 {
		c.queue.AddAfter(key, requeue)
	}
	return nil
}

// updateStatus writes status when it differs from set's.
func (c *Controller) updateStatus(ctx context.Context, set *appsv1.StatefulSet, status *appsv1.StatefulSetStatus) (*appsv1.StatefulSet, error) {
	if apiequality.Semantic.DeepEqual(&set.Status, status) {
		return set, nil
	}
	s := set.DeepCopy()
	s.Status = *status
	updated, err := c.client.AppsV1().StatefulSets(s.Namespace).UpdateStatus(ctx, s, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		// Usually our own previous status write, not yet in the cache: the
		// status was computed from the pods, so it holds for the newer
		// object as long as it is the same set.
		fresh, gerr := c.client.AppsV1().StatefulSets(s.Namespace).Get(ctx, s.Name, metav1.GetOptions{})
		if gerr != nil || fresh.UID != s.UID {
			return set, err
		}
		if apiequality.Semantic.DeepEqual(&fresh.Status, status) {
			return fresh, nil
		}
		fresh.Status = *status
		updated, err = c.client.AppsV1().StatefulSets(s.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{})
	}
	if apierrors.IsNotFound(err) {
		return set, nil
	}
	return updated, err
}

// podEvent records the outcome of a create or delete of pod as upstream
// words it.
func (c *Controller) podEvent(set *appsv1.StatefulSet, verb string, pod *corev1.Pod, err error) {
	if err == nil {
		c.recorder.Eventf(set, corev1.EventTypeNormal, "Successful"+verb, "%s Pod %s in StatefulSet %s successful", lower(verb), pod.Name, set.Name)
		return
	}
	c.recorder.Eventf(set, corev1.EventTypeWarning, "Failed"+verb, "%s Pod %s in StatefulSet %s failed error: %s", lower(verb), pod.Name, set.Name, err)
}

// claimEvent records the outcome of creating claim for pod.
func (c *Controller) claimEvent(set *appsv1.StatefulSet, verb string, pod *corev1.Pod, claim *corev1.PersistentVolumeClaim, err error) {
	if err == nil {
		c.recorder.Eventf(set, corev1.EventTypeNormal, "Successful"+verb, "%s Claim %s Pod %s in StatefulSet %s success", lower(verb), claim.Name, pod.Name, set.Name)
		return
	}
	c.recorder.Eventf(set, corev1.EventTypeWarning, "Failed"+verb, "%s Claim %s for Pod %s in StatefulSet %s failed error: %s", lower(verb), claim.Name, pod.Name, set.Name, err)
}

func lower(verb string) string { return strings.ToLower(verb) }
