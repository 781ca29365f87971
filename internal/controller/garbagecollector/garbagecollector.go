// Package garbagecollector owns the garbage collector: it deletes objects
// whose owners (metadata.ownerReferences) are all gone, carries out
// foreground deletion (an owner with the foregroundDeletion finalizer waits
// until its blocking dependents are gone) and orphaning (an owner with the
// orphan finalizer has its references removed from its dependents), with
// upstream Kubernetes' semantics. It watches the metadata of every resource
// that can be listed, watched and deleted, and meets the API server only
// through client-go. See README.md for the vocabulary.
package garbagecollector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
)

// Config tunes the collector; zero values take the defaults.
type Config struct {
	// Workers is how many objects are processed at once (default 5).
	Workers int
	// DiscoveryPeriod is how often the served resources are discovered
	// again, so that new kinds are watched (default 30s).
	DiscoveryPeriod time.Duration
	// ResyncPeriod is how often every cached object is looked at again
	// (default 10m); it makes the collector level-triggered even if an
	// event was missed.
	ResyncPeriod time.Duration
	// InitialSyncTimeout bounds the wait for the first list of every
	// resource before work starts (default 60s). Deletions that need every
	// dependent known (foreground, orphan) wait for it in any case.
	InitialSyncTimeout time.Duration
	// IgnoredResources are never watched (default: events, as upstream).
	IgnoredResources map[schema.GroupResource]bool
}

func (c Config) withDefaults() Config {
	if c.Workers <= 0 {
		c.Workers = 5
	}
	if c.DiscoveryPeriod <= 0 {
		c.DiscoveryPeriod = 30 * time.Second
	}
	if c.ResyncPeriod <= 0 {
		c.ResyncPeriod = 10 * time.Minute
	}
	if c.InitialSyncTimeout <= 0 {
		c.InitialSyncTimeout = 60 * time.Second
	}
	if c.IgnoredResources == nil {
		c.IgnoredResources = map[schema.GroupResource]bool{
			{Group: "", Resource: "events"}:              true,
			{Group: "events.k8s.io", Resource: "events"}: true,
		}
	}
	return c
}

const (
	// absentCacheSize is how many confirmed absent owners are remembered.
	absentCacheSize = 500
	// orphanParallelism bounds the concurrent patches of one owner's
	// dependents.
	orphanParallelism = 4
	// eventAfterFailures is how many failed attempts on an object make it
	// worth a Warning event.
	eventAfterFailures = 5
	// notSyncedDelay is how long work that needs complete caches waits.
	notSyncedDelay = time.Second
)

// errInvalidOwnerNamespace marks a cluster-scoped object that names a
// namespaced owner: such a reference can never resolve, and the object is
// left alone (as upstream).
var errInvalidOwnerNamespace = errors.New("cluster-scoped object refers to a namespaced owner")

// errUnknownKind marks an owner reference to a kind the server does not
// serve (maybe not yet): the object is looked at again later.
var errUnknownKind = errors.New("owner kind is not served")

// Controller is the garbage collector.
type Controller struct {
	client   kubernetes.Interface
	metadata metadata.Interface
	log      *slog.Logger
	cfg      Config
	queue    workqueue.TypedRateLimitingInterface[objectRef]
	absent   *absentCache
	recorder record.EventRecorder

	mu       sync.RWMutex
	monitors map[schema.GroupResource]*monitor
	kinds    map[schema.GroupKind]resourceInfo
}

// New returns a garbage collector using the given clients.
func New(client kubernetes.Interface, meta metadata.Interface, log *slog.Logger, cfg Config) *Controller {
	return &Controller{
		client:   client,
		metadata: meta,
		log:      log,
		cfg:      cfg.withDefaults(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[objectRef](),
			workqueue.TypedRateLimitingQueueConfig[objectRef]{Name: "garbage-collector"}),
		absent:   newAbsentCache(absentCacheSize),
		recorder: &record.FakeRecorder{},
		monitors: map[schema.GroupResource]*monitor{},
		kinds:    map[schema.GroupKind]resourceInfo{},
	}
}

// Run collects garbage until ctx ends. Discovery and API failures are
// retried, never returned.
func (c *Controller) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	c.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "garbage-collector-controller"})
	defer c.stopMonitors()

	for {
		err := c.resync(ctx)
		if err == nil {
			break
		}
		c.log.Warn("discovery failed, retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
	syncCtx, cancel := context.WithTimeout(ctx, c.cfg.InitialSyncTimeout)
	if !cache.WaitForCacheSync(syncCtx.Done(), c.allSynced) && ctx.Err() == nil {
		c.log.Warn("not every resource listed in time; starting anyway", "unsynced", c.unsynced())
	}
	cancel()
	if ctx.Err() != nil {
		return nil
	}

	var wg sync.WaitGroup
	for i := 0; i < c.cfg.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.processNext(ctx) {
			}
		}()
	}
	ticker := time.NewTicker(c.cfg.DiscoveryPeriod)
	defer ticker.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-ticker.C:
			if err := c.resync(ctx); err != nil {
				c.log.Warn("discovery failed", "err", err)
			}
		}
	}
	c.queue.ShutDown()
	wg.Wait()
	return nil
}

func (c *Controller) processNext(ctx context.Context) bool {
	ref, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(ref)
	after, err := c.sync(ctx, ref)
	switch {
	case err != nil && ctx.Err() != nil:
		// Shutting down.
	case errors.Is(err, errUnknownKind):
		c.log.Debug("owner kind not served yet", "object", ref.String(), "err", err)
		c.queue.AddRateLimited(ref)
	case err != nil:
		n := c.queue.NumRequeues(ref)
		c.log.Warn("garbage collection failed", "object", ref.String(), "attempt", n+1, "err", err)
		if n+1 == eventAfterFailures {
			c.recorder.Eventf(involved(ref), corev1.EventTypeWarning, "GarbageCollectionFailed", "garbage collector: %v", err)
		}
		c.queue.AddRateLimited(ref)
	case after > 0:
		c.queue.Forget(ref)
		c.queue.AddAfter(ref, after)
	default:
		c.queue.Forget(ref)
	}
	return true
}

func involved(ref objectRef) *corev1.ObjectReference {
	return &corev1.ObjectReference{
		APIVersion: ref.Resource.GroupVersion().String(),
		Kind:       ref.Kind,
		Namespace:  ref.Namespace,
		Name:       ref.Name,
		UID:        ref.UID,
	}
}

// sync looks at one object and does what its state asks: nothing, delete
// it, drop some of its owner references, or carry on its own foreground or
// orphaning deletion. A positive duration asks to look again after it.
func (c *Controller) sync(ctx context.Context, ref objectRef) (time.Duration, error) {
	if c.nothingToDo(ref) {
		return 0, nil
	}
	latest, err := c.get(ctx, ref)
	if err != nil {
		return 0, err
	}
	if latest == nil {
		// Gone: its dependents may now be garbage.
		for _, d := range c.dependentsOf(ref) {
			c.queue.Add(d.ref)
		}
		return 0, nil
	}
	if latest.DeletionTimestamp != nil {
		switch {
		case isOrphaning(latest):
			return c.orphanDependents(ctx, ref, latest)
		case isDeletingDependents(latest):
			return c.processDeletingDependents(ctx, ref, latest)
		}
		// Being deleted is a one-way trip: nothing to decide.
		return 0, nil
	}
	if len(latest.OwnerReferences) == 0 {
		return 0, nil
	}
	cls, err := c.classify(ctx, ref, latest.OwnerReferences)
	if errors.Is(err, errInvalidOwnerNamespace) {
		c.log.Debug("cluster-scoped object refers to a namespaced owner", "object", ref.String())
		c.recorder.Eventf(involved(ref), corev1.EventTypeWarning, "OwnerRefInvalidNamespace", "%v", err)
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	c.reportInvalidNamespace(ref, cls.dangling)
	deps := c.dependentsOf(ref)
	depDeleting := false
	for _, d := range deps {
		if isDeletingDependents(d.meta) {
			depDeleting = true
			break
		}
	}
	act := decide(cls, len(deps) > 0, depDeleting, latest.Finalizers)
	if len(act.removeOwners) > 0 {
		c.log.Debug("removing references to absent or deleting owners", "object", ref.String(), "owners", act.removeOwners)
		return 0, c.removeOwnerRefs(ctx, ref, latest, act.removeOwners)
	}
	if act.unblock {
		if err := c.unblockOwnerRefs(ctx, ref, latest); err != nil {
			return 0, err
		}
	}
	if act.deletePolicy != nil {
		c.log.Debug("deleting object whose owners are gone", "object", ref.String(), "propagation", *act.deletePolicy)
		return 0, c.deleteObject(ctx, ref, latest, *act.deletePolicy)
	}
	return 0, nil
}

// reportInvalidNamespace records an event for dangling references of a
// namespaced object whose owner uid exists in another namespace: a
// namespaced owner only owns objects of its own namespace.
func (c *Controller) reportInvalidNamespace(ref objectRef, dangling []metav1.OwnerReference) {
	if ref.Namespace == "" {
		return
	}
	for _, r := range dangling {
		for _, o := range c.cachedByUID(r.UID) {
			if o.ref.Namespace != "" && o.ref.Namespace != ref.Namespace {
				c.recorder.Eventf(involved(ref), corev1.EventTypeWarning, "OwnerRefInvalidNamespace",
					"ownerRef [%s/%s, namespace: %s, name: %s, uid: %s] does not exist in namespace %q",
					r.APIVersion, r.Kind, o.ref.Namespace, r.Name, r.UID, ref.Namespace)
			}
		}
	}
}

// nothingToDo answers from the caches alone for the common case: an object
// that is not being deleted and whose every owner is cached, alive and not
// waiting for its dependents. Anything else goes to the API server.
func (c *Controller) nothingToDo(ref objectRef) bool {
	m, ok := c.cachedObject(ref.Resource.GroupResource(), ref.Namespace, ref.Name)
	if !ok || m.UID != ref.UID {
		return false
	}
	if m.DeletionTimestamp != nil {
		return !isDeletingDependents(m) && !isOrphaning(m)
	}
	for _, r := range m.OwnerReferences {
		owner, ok := c.cachedOwner(ref, r)
		if !ok || stateOf(owner) != ownerSolid {
			return false
		}
	}
	return true
}

// cachedOwner finds the owner r of the object ref in the caches.
func (c *Controller) cachedOwner(ref objectRef, r metav1.OwnerReference) (*metav1.PartialObjectMetadata, bool) {
	gv, err := schema.ParseGroupVersion(r.APIVersion)
	if err != nil {
		return nil, false
	}
	info, ok := c.kindInfo(schema.GroupKind{Group: gv.Group, Kind: r.Kind})
	if !ok || (ref.Namespace == "" && info.namespaced) {
		return nil, false
	}
	ns := ""
	if info.namespaced {
		ns = ref.Namespace
	}
	owner, ok := c.cachedObject(info.gvr.GroupResource(), ns, r.Name)
	if !ok || owner.UID != r.UID {
		return nil, false
	}
	return owner, true
}

// get reads the live object; nil when it is gone (or replaced by another
// object of the same name).
func (c *Controller) get(ctx context.Context, ref objectRef) (*metav1.PartialObjectMetadata, error) {
	m, err := c.metadata.Resource(ref.Resource).Namespace(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if m.UID != ref.UID {
		return nil, nil
	}
	return m, nil
}

// classify sorts the owner references of the object ref.
func (c *Controller) classify(ctx context.Context, ref objectRef, refs []metav1.OwnerReference) (classification, error) {
	var cls classification
	for _, r := range refs {
		s, err := c.ownerState(ctx, ref, r)
		if err != nil {
			return classification{}, err
		}
		cls.add(r, s)
	}
	return cls, nil
}

// ownerState looks up the owner r of the object ref: in the absent cache,
// then the monitors' caches (an owner found there exists), then at the API
// server (only an answer from the server makes an owner dangling). A
// namespaced owner is looked for in the dependent's namespace, a
// cluster-scoped one at cluster scope.
func (c *Controller) ownerState(ctx context.Context, ref objectRef, r metav1.OwnerReference) (ownerState, error) {
	gv, err := schema.ParseGroupVersion(r.APIVersion)
	if err != nil {
		// A malformed apiVersion cannot name any owner.
		return ownerDangling, nil
	}
	info, ok := c.kindInfo(schema.GroupKind{Group: gv.Group, Kind: r.Kind})
	if !ok {
		return 0, fmt.Errorf("%w: %s %s", errUnknownKind, r.APIVersion, r.Kind)
	}
	if ref.Namespace == "" && info.namespaced {
		return 0, fmt.Errorf("%w: %s %s %s", errInvalidOwnerNamespace, r.Kind, r.Name, r.UID)
	}
	ns := ""
	if info.namespaced {
		ns = ref.Namespace
	}
	key := absentKey{UID: r.UID, Namespace: ns, Name: r.Name}
	if c.absent.Has(key) {
		return ownerDangling, nil
	}
	if owner, ok := c.cachedObject(info.gvr.GroupResource(), ns, r.Name); ok && owner.UID == r.UID {
		return stateOf(owner), nil
	}
	owner, err := c.metadata.Resource(info.gvr).Namespace(ns).Get(ctx, r.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		c.absent.Add(key)
		return ownerDangling, nil
	case err != nil:
		return 0, err
	case owner.UID != r.UID:
		c.absent.Add(key)
		return ownerDangling, nil
	}
	return stateOf(owner), nil
}

// processDeletingDependents carries on the foreground deletion of owner:
// its dependents are queued (each is deleted, or loses its reference to
// owner if it has other owners), and once no dependent blocks it the
// foregroundDeletion finalizer is removed, which lets the server delete it.
func (c *Controller) processDeletingDependents(ctx context.Context, owner objectRef, latest *metav1.PartialObjectMetadata) (time.Duration, error) {
	if !c.allSynced() {
		return notSyncedDelay, nil
	}
	blocking := 0
	for _, d := range c.dependentsOf(owner) {
		if blocks(d.owner) {
			blocking++
		}
		// A dependent already being deleted needs nothing; one that failed
		// recently keeps its backoff.
		if d.meta.DeletionTimestamp == nil && c.queue.NumRequeues(d.ref) == 0 {
			c.queue.Add(d.ref)
		}
	}
	if blocking > 0 {
		c.log.Debug("foreground deletion waits for blocking dependents", "owner", owner.String(), "blocking", blocking)
		return 0, nil
	}
	c.log.Debug("foreground deletion done, removing finalizer", "owner", owner.String())
	return 0, c.removeFinalizer(ctx, owner, latest, metav1.FinalizerDeleteDependents)
}

// orphanDependents removes owner's references from its dependents, then the
// orphan finalizer from owner.
func (c *Controller) orphanDependents(ctx context.Context, owner objectRef, latest *metav1.PartialObjectMetadata) (time.Duration, error) {
	if !c.allSynced() {
		return notSyncedDelay, nil
	}
	deps := c.dependentsOf(owner)
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, orphanParallelism)
	)
	for _, d := range deps {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := c.removeOwnerRefs(ctx, d.ref, d.meta, []types.UID{owner.UID}); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("orphaning %s: %w", d.ref, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return 0, utilerrors.NewAggregate(errs)
	}
	c.log.Debug("orphaned dependents, removing finalizer", "owner", owner.String(), "dependents", len(deps))
	return 0, c.removeFinalizer(ctx, owner, latest, metav1.FinalizerOrphanDependents)
}

// patchMeta changes one metadata field of the object ref with a merge patch
// conditional on its resourceVersion; on a conflict it reads the object
// again and retries. edit computes the new value from the current object
// and reports whether anything changes. It returns the patched object, or
// nil when nothing changed or the object is gone (not an error).
func (c *Controller) patchMeta(ctx context.Context, ref objectRef, current *metav1.PartialObjectMetadata, field string,
	edit func(*metav1.PartialObjectMetadata) (any, bool)) (*metav1.PartialObjectMetadata, error) {
	var out *metav1.PartialObjectMetadata
	first := true
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		out = nil
		if !first || current == nil {
			latest, err := c.get(ctx, ref)
			if err != nil || latest == nil {
				return err
			}
			current = latest
		}
		first = false
		value, changed := edit(current)
		if !changed {
			return nil
		}
		patch, err := metadataPatch(current.ResourceVersion, field, value)
		if err != nil {
			return err
		}
		out, err = c.metadata.Resource(ref.Resource).Namespace(ref.Namespace).Patch(ctx, ref.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		if apierrors.IsNotFound(err) {
			out = nil
			return nil
		}
		return err
	})
	return out, err
}

func (c *Controller) removeOwnerRefs(ctx context.Context, ref objectRef, current *metav1.PartialObjectMetadata, uids []types.UID) error {
	_, err := c.patchMeta(ctx, ref, current, "ownerReferences", func(m *metav1.PartialObjectMetadata) (any, bool) {
		return withoutOwners(m.OwnerReferences, uids)
	})
	return err
}

func (c *Controller) unblockOwnerRefs(ctx context.Context, ref objectRef, current *metav1.PartialObjectMetadata) error {
	_, err := c.patchMeta(ctx, ref, current, "ownerReferences", func(m *metav1.PartialObjectMetadata) (any, bool) {
		return unblocked(m.OwnerReferences)
	})
	return err
}

// removeFinalizer removes finalizer from the object ref. When that was the
// last one of an object being deleted, the server removes the object; the
// collector then deletes it once more (uid precondition, no propagation),
// which is a no-op answered 404 when the server did, and finishes the
// deletion when it did not (see README.md, "Known server issues").
func (c *Controller) removeFinalizer(ctx context.Context, ref objectRef, current *metav1.PartialObjectMetadata, finalizer string) error {
	out, err := c.patchMeta(ctx, ref, current, "finalizers", func(m *metav1.PartialObjectMetadata) (any, bool) {
		return without(m.Finalizers, finalizer)
	})
	if err != nil || out == nil || out.DeletionTimestamp == nil || len(out.Finalizers) > 0 {
		return err
	}
	uid := out.UID
	err = c.metadata.Resource(ref.Resource).Namespace(ref.Namespace).Delete(ctx, ref.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// deleteObject deletes the object as it was read (uid and resourceVersion
// preconditions). If it changed meanwhile but not its owner references,
// the decision still holds and it is deleted with the uid precondition
// alone; otherwise it is looked at again.
func (c *Controller) deleteObject(ctx context.Context, ref objectRef, latest *metav1.PartialObjectMetadata, policy metav1.DeletionPropagation) error {
	uid, rv := latest.UID, latest.ResourceVersion
	ri := c.metadata.Resource(ref.Resource).Namespace(ref.Namespace)
	opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}, PropagationPolicy: &policy}
	err := ri.Delete(ctx, ref.Name, opts)
	if apierrors.IsConflict(err) {
		current, gerr := c.get(ctx, ref)
		if gerr != nil || current == nil {
			return gerr
		}
		if refsChanged(current.OwnerReferences, latest.OwnerReferences) {
			return err
		}
		opts.Preconditions.ResourceVersion = nil
		err = ri.Delete(ctx, ref.Name, opts)
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
