// Package controllerutil holds what the workload controllers share: a
// named work queue and its worker loop, an event recorder, expectations of
// creates and deletes not yet seen by the informers, claiming objects by
// selector and controller reference, and pods built from a template.
package controllerutil

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
)

// Event reasons shared by the controllers, as upstream spells them.
const (
	SuccessfulCreate = "SuccessfulCreate"
	FailedCreate     = "FailedCreate"
	SuccessfulDelete = "SuccessfulDelete"
	FailedDelete     = "FailedDelete"
)

// NewQueue returns a rate-limited queue of object keys whose metrics are
// exported under name (workqueue_depth{name=...} and friends).
func NewQueue(name string) workqueue.TypedRateLimitingInterface[string] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: name})
}

// Untombstone returns the object inside a deleted-object tombstone (what
// an informer hands to DeleteFunc when it missed the delete), or obj.
func Untombstone(obj any) any {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return d.Obj
	}
	return obj
}

// NamespaceActive says whether the namespace exists and is not being
// deleted, as controllers that fill every namespace need to know.
func NamespaceActive(namespaces corelisters.NamespaceLister, name string) (bool, error) {
	ns, err := namespaces.Get(name)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return ns.Status.Phase != corev1.NamespaceTerminating && ns.DeletionTimestamp == nil, nil
}

// Enqueue adds the namespace/name key of obj (also a deleted-object
// tombstone) to q.
func Enqueue(q workqueue.TypedRateLimitingInterface[string], obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		q.Add(key)
	}
}

// RunWorkers calls syncKey for queued keys on n goroutines until ctx ends,
// then shuts the queue down and waits for them. A failed key is retried
// with backoff; syncKey asks for a later look itself with AddAfter.
func RunWorkers(ctx context.Context, q workqueue.TypedRateLimitingInterface[string], n int, log *slog.Logger, syncKey func(ctx context.Context, key string) error) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				key, quit := q.Get()
				if quit {
					return
				}
				err := syncKey(ctx, key)
				switch {
				case err == nil:
					q.Forget(key)
				case ctx.Err() != nil:
				case apierrors.IsConflict(err):
					// Optimistic concurrency at work: a newer copy is coming.
					log.Debug("sync conflicted, retrying", "key", key, "err", err)
					q.AddRateLimited(key)
				default:
					log.Warn("sync failed, retrying", "key", key, "attempt", q.NumRequeues(key)+1, "err", err)
					q.AddRateLimited(key)
				}
				q.Done(key)
			}
		}()
	}
	<-ctx.Done()
	q.ShutDown()
	wg.Wait()
}

// NewRecorder returns an event recorder writing core/v1 Events as
// component, and the function that stops it.
func NewRecorder(client kubernetes.Interface, component string) (record.EventRecorder, func()) {
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	return b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component}), b.Shutdown
}

// WaitForSync waits for the informers to list; false when ctx ended first.
func WaitForSync(ctx context.Context, synced ...cache.InformerSynced) bool {
	return cache.WaitForCacheSync(ctx.Done(), synced...)
}

// expectationsTTL bounds how long a controller waits for its own writes to
// show up in the informers before it trusts what it sees again.
const expectationsTTL = 5 * time.Minute

// Expectations counts, per controller key, the creates and deletes issued
// but not yet observed through the informers, so that a controller does
// not act twice on a stale cache.
type Expectations struct {
	mu sync.Mutex
	m  map[string]*expectation
}

type expectation struct {
	adds, dels int
	at         time.Time
}

// NewExpectations returns empty expectations.
func NewExpectations() *Expectations { return &Expectations{m: map[string]*expectation{}} }

// Expect records that adds creates and dels deletes are about to be issued
// for key, replacing what was expected before.
func (e *Expectations) Expect(key string, adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{adds: adds, dels: dels, at: time.Now()}
}

// Observed lowers the expectations of key by one create (add) or delete.
// A create or delete that failed is reported the same way.
func (e *Expectations) Observed(key string, add bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.m[key]; x != nil {
		if add {
			x.adds--
		} else {
			x.dels--
		}
	}
}

// Satisfied says whether key has nothing outstanding (or waited too long).
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.m[key]
	return x == nil || (x.adds <= 0 && x.dels <= 0) || time.Since(x.at) > expectationsTTL
}

// Forget drops what was expected for key (its owner is gone).
func (e *Expectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}

// PodFromTemplate builds the pod a controller creates from its template:
// the template's labels, annotations, finalizers and spec, a generated name
// prefixed by prefix, and owner as its controller.
func PodFromTemplate(tmpl *corev1.PodTemplateSpec, owner metav1.Object, gvk schema.GroupVersionKind, prefix string) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: prefix,
			Namespace:    owner.GetNamespace(),
			Labels:       copyMap(tmpl.Labels),
			Annotations:  copyMap(tmpl.Annotations),
			Finalizers:   append([]string(nil), tmpl.Finalizers...),
		},
		Spec: *tmpl.Spec.DeepCopy(),
	}
	if prefix == "" {
		pod.GenerateName = owner.GetName() + "-"
	}
	pod.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(owner, gvk)}
	return pod
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// PatchFunc applies a strategic-merge patch to the named object.
type PatchFunc func(ctx context.Context, namespace, name string, patch []byte) error

// PodPatcher patches pods through client.
func PodPatcher(client kubernetes.Interface) PatchFunc {
	return func(ctx context.Context, ns, name string, patch []byte) error {
		_, err := client.CoreV1().Pods(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		return err
	}
}

// Claim returns the objects that belong to owner: those it controls whose
// labels still match selector, plus orphans matching selector, which it
// adopts by adding itself as controller. Objects it controls that no longer
// match are released. An owner being deleted adopts and releases nothing.
// Patches go through patch; an object gone meanwhile is skipped.
func Claim[T metav1.Object](ctx context.Context, owner metav1.Object, gvk schema.GroupVersionKind, selector labels.Selector, objs []T, patch PatchFunc) ([]T, error) {
	var claimed []T
	for _, o := range objs {
		ref := metav1.GetControllerOf(o)
		matches := selector.Matches(labels.Set(o.GetLabels()))
		switch {
		case ref != nil && ref.UID != owner.GetUID():
			continue
		case ref != nil && matches:
			claimed = append(claimed, o)
		case ref != nil:
			if owner.GetDeletionTimestamp() != nil || o.GetDeletionTimestamp() != nil {
				continue
			}
			p := fmt.Sprintf(`{"metadata":{"ownerReferences":[{"$patch":"delete","uid":%q}],"uid":%q}}`, owner.GetUID(), o.GetUID())
			if err := patch(ctx, o.GetNamespace(), o.GetName(), []byte(p)); err != nil && !isGone(err) {
				return nil, err
			}
		case matches && owner.GetDeletionTimestamp() == nil && o.GetDeletionTimestamp() == nil:
			r := metav1.NewControllerRef(owner, gvk)
			p := fmt.Sprintf(`{"metadata":{"ownerReferences":[{"apiVersion":%q,"kind":%q,"name":%q,"uid":%q,"controller":true,"blockOwnerDeletion":true}],"uid":%q}}`,
				r.APIVersion, r.Kind, r.Name, r.UID, o.GetUID())
			if err := patch(ctx, o.GetNamespace(), o.GetName(), []byte(p)); err != nil {
				if isGone(err) {
					continue
				}
				return nil, err
			}
			claimed = append(claimed, o)
		}
	}
	return claimed, nil
}

// IsPodActive says whether a pod still counts: not finished and not being
// deleted.
func IsPodActive(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil
}

// ActivePods keeps the active pods of pods.
func ActivePods(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if IsPodActive(p) {
			out = append(out, p)
		}
	}
	return out
}

// isGone says whether a patch failed because the object is gone or was
// replaced (its uid precondition no longer holds).
func isGone(err error) bool {
	return apierrors.IsNotFound(err) || apierrors.IsConflict(err) || apierrors.IsInvalid(err)
}

// NodeNameIndex indexes pods by spec.nodeName.
const NodeNameIndex = "spec.nodeName"

// IndexPodsByNode adds NodeNameIndex to a pod informer, once however many
// controllers ask; call it before the informer starts.
func IndexPodsByNode(inf cache.SharedIndexInformer) error {
	if _, ok := inf.GetIndexer().GetIndexers()[NodeNameIndex]; ok {
		return nil
	}
	return inf.AddIndexers(cache.Indexers{NodeNameIndex: func(obj any) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
			return []string{p.Spec.NodeName}, nil
		}
		return nil, nil
	}})
}

// PodsOnNode lists the pods an informer indexed with IndexPodsByNode knows
// on node.
func PodsOnNode(inf cache.SharedIndexInformer, node string) []*corev1.Pod {
	objs, err := inf.GetIndexer().ByIndex(NodeNameIndex, node)
	if err != nil {
		return nil
	}
	pods := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			pods = append(pods, p)
		}
	}
	return pods
}
