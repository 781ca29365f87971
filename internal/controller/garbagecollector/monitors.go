package garbagecollector

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"

	"skiff/internal/controller/controllerutil"
)

// Index names of every monitor's cache.
const (
	ownerIndex = "ownerUID" // objects by the uids of their owners
	uidIndex   = "uid"      // objects by their own uid
)

// resourceInfo is what discovery says about one resource.
type resourceInfo struct {
	gvr        schema.GroupVersionResource
	kind       string
	namespaced bool
}

// monitor is a metadata-only informer over one resource.
type monitor struct {
	info     resourceInfo
	informer cache.SharedIndexInformer
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{} // closed when the informer has stopped
}

// discoveryResult is one pass of discovery: every served kind (for owner
// lookups) and the resources to watch (list, watch and delete).
type discoveryResult struct {
	kinds     map[schema.GroupKind]resourceInfo
	deletable map[schema.GroupResource]resourceInfo
	// failed lists the groups that could not be discovered this time: what
	// is known about them is kept.
	failed map[string]bool
}

func (c *Controller) discover() (*discoveryResult, error) {
	lists, err := discovery.ServerPreferredResources(c.client.Discovery())
	res := &discoveryResult{kinds: map[schema.GroupKind]resourceInfo{}, deletable: map[schema.GroupResource]resourceInfo{}, failed: map[string]bool{}}
	if err != nil {
		var gdf *discovery.ErrGroupDiscoveryFailed
		if !errors.As(err, &gdf) || len(lists) == 0 {
			return nil, err
		}
		for gv := range gdf.Groups {
			res.failed[gv.Group] = true
		}
	}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if r.Name == "" || r.Kind == "" || strings.Contains(r.Name, "/") {
				continue
			}
			info := resourceInfo{gvr: gv.WithResource(r.Name), kind: r.Kind, namespaced: r.Namespaced}
			gk := schema.GroupKind{Group: gv.Group, Kind: r.Kind}
			if _, dup := res.kinds[gk]; !dup {
				res.kinds[gk] = info
			}
			gr := info.gvr.GroupResource()
			if c.cfg.IgnoredResources[gr] {
				continue
			}
			if slices.Contains(r.Verbs, "list") && slices.Contains(r.Verbs, "watch") && slices.Contains(r.Verbs, "delete") {
				res.deletable[gr] = info
			}
		}
	}
	return res, nil
}

// resync runs discovery and brings the monitors in line with it: new
// resources get a monitor, vanished ones lose theirs. Groups that failed
// discovery keep what they had.
func (c *Controller) resync(ctx context.Context) error {
	res, err := c.discover()
	if err != nil {
		return err
	}
	var started, stopped []*monitor
	c.mu.Lock()
	for gk, info := range c.kinds {
		if res.failed[gk.Group] {
			if _, ok := res.kinds[gk]; !ok {
				res.kinds[gk] = info
			}
		}
	}
	c.kinds = res.kinds
	for gr, m := range c.monitors {
		want, ok := res.deletable[gr]
		if ok && want == m.info {
			continue
		}
		if !ok && res.failed[gr.Group] {
			continue
		}
		delete(c.monitors, gr)
		stopped = append(stopped, m)
	}
	for gr, info := range res.deletable {
		if _, ok := c.monitors[gr]; ok {
			continue
		}
		m, err := c.newMonitor(ctx, info)
		if err != nil {
			c.log.Warn("cannot watch resource", "resource", gr.String(), "err", err)
			continue
		}
		c.monitors[gr] = m
		started = append(started, m)
	}
	c.mu.Unlock()
	for _, m := range stopped {
		c.log.Debug("stop watching", "resource", m.info.gvr.String())
		m.cancel()
	}
	for _, m := range started {
		c.log.Debug("start watching", "resource", m.info.gvr.String())
		go func() {
			defer close(m.done)
			m.informer.Run(m.ctx.Done())
		}()
	}
	return nil
}

// stopMonitors stops every informer and waits (a bounded time) for them.
func (c *Controller) stopMonitors() {
	c.mu.Lock()
	mons := c.monitors
	c.monitors = map[schema.GroupResource]*monitor{}
	c.mu.Unlock()
	for _, m := range mons {
		m.cancel()
	}
	deadline := time.After(10 * time.Second)
	for _, m := range mons {
		select {
		case <-m.done:
		case <-deadline:
			return
		}
	}
}

// newMonitor builds a monitor, not yet started, that runs until ctx ends or
// it is cancelled.
func (c *Controller) newMonitor(ctx context.Context, info resourceInfo) (*monitor, error) {
	inf := metadatainformer.NewFilteredMetadataInformer(c.metadata, info.gvr, metav1.NamespaceAll, c.cfg.ResyncPeriod,
		cache.Indexers{ownerIndex: ownerUIDs, uidIndex: ownUID}, nil).Informer()
	if err := inf.SetTransform(trim); err != nil {
		return nil, err
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.onAdd(info, obj) },
		UpdateFunc: func(oldObj, newObj any) { c.onUpdate(info, oldObj, newObj) },
		DeleteFunc: func(obj any) { c.onDelete(info, obj) },
	}); err != nil {
		return nil, err
	}
	mctx, cancel := context.WithCancel(ctx)
	return &monitor{info: info, informer: inf, ctx: mctx, cancel: cancel, done: make(chan struct{})}, nil
}

// trim drops what the collector never reads from cached objects.
func trim(obj any) (any, error) {
	if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
		m.ManagedFields = nil
		m.Annotations = nil
	}
	return obj, nil
}

func ownerUIDs(obj any) ([]string, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil
	}
	refs := m.GetOwnerReferences()
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		out = append(out, string(r.UID))
	}
	return out, nil
}

func ownUID(obj any) ([]string, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil
	}
	return []string{string(m.GetUID())}, nil
}

// accessor unwraps informer objects, including delete tombstones.
func accessor(obj any) (metav1.Object, bool) {
	obj = controllerutil.Untombstone(obj)
	m, err := meta.Accessor(obj)
	return m, err == nil
}

func refOf(info resourceInfo, m metav1.Object) objectRef {
	return objectRef{Resource: info.gvr, Kind: info.kind, Namespace: m.GetNamespace(), Name: m.GetName(), UID: m.GetUID()}
}

func (c *Controller) onAdd(info resourceInfo, obj any) {
	m, ok := accessor(obj)
	if !ok {
		return
	}
	if needsAttention(m) {
		c.queue.Add(refOf(info, m))
	}
}

func (c *Controller) onUpdate(info resourceInfo, oldObj, newObj any) {
	o, ok1 := accessor(oldObj)
	n, ok2 := accessor(newObj)
	if !ok1 || !ok2 {
		return
	}
	if needsAttention(n) {
		c.queue.Add(refOf(info, n))
	}
	if refsChanged(o.GetOwnerReferences(), n.GetOwnerReferences()) {
		// An owner waiting for its dependents may have lost one.
		c.enqueueWaitingOwners(n.GetNamespace(), o.GetOwnerReferences())
		c.enqueueWaitingOwners(n.GetNamespace(), n.GetOwnerReferences())
	}
}

func (c *Controller) onDelete(info resourceInfo, obj any) {
	m, ok := accessor(obj)
	if !ok {
		return
	}
	ref := refOf(info, m)
	deps := c.dependentsOf(ref)
	if len(deps) > 0 {
		c.absent.Add(absentKey{UID: ref.UID, Namespace: ref.Namespace, Name: ref.Name})
	}
	for _, d := range deps {
		c.queue.Add(d.ref)
	}
	c.enqueueWaitingOwners(m.GetNamespace(), m.GetOwnerReferences())
}

// enqueueWaitingOwners queues the owners, among refs of an object in
// namespace ns, that are being deleted in the foreground: they may be able
// to finish now.
func (c *Controller) enqueueWaitingOwners(ns string, refs []metav1.OwnerReference) {
	for _, r := range refs {
		for _, o := range c.cachedByUID(r.UID) {
			if o.ref.Namespace != "" && o.ref.Namespace != ns {
				continue
			}
			if isDeletingDependents(o.meta) {
				c.queue.Add(o.ref)
			}
		}
	}
}

// cached is an object as a monitor's cache has it.
type cached struct {
	ref  objectRef
	meta *metav1.PartialObjectMetadata
}

// dependent is a cached object with its reference to some owner.
type dependent struct {
	cached
	owner metav1.OwnerReference
}

func (c *Controller) snapshot() []*monitor {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*monitor, 0, len(c.monitors))
	for _, m := range c.monitors {
		out = append(out, m)
	}
	return out
}

// dependentsOf lists, from the caches, the objects that owner owns.
func (c *Controller) dependentsOf(owner objectRef) []dependent {
	var out []dependent
	for _, m := range c.snapshot() {
		objs, err := m.informer.GetIndexer().ByIndex(ownerIndex, string(owner.UID))
		if err != nil {
			continue
		}
		for _, obj := range objs {
			pm, ok := obj.(*metav1.PartialObjectMetadata)
			if !ok {
				continue
			}
			r, ok := refToOwner(pm, owner)
			if !ok {
				continue
			}
			out = append(out, dependent{cached: cached{ref: refOf(m.info, pm), meta: pm}, owner: r})
		}
	}
	return out
}

// cachedByUID finds objects with the given uid in the caches.
func (c *Controller) cachedByUID(uid types.UID) []cached {
	var out []cached
	for _, m := range c.snapshot() {
		objs, err := m.informer.GetIndexer().ByIndex(uidIndex, string(uid))
		if err != nil {
			continue
		}
		for _, obj := range objs {
			if pm, ok := obj.(*metav1.PartialObjectMetadata); ok {
				out = append(out, cached{ref: refOf(m.info, pm), meta: pm})
			}
		}
	}
	return out
}

// cachedObject returns the cached object of resource gr at namespace/name.
func (c *Controller) cachedObject(gr schema.GroupResource, namespace, name string) (*metav1.PartialObjectMetadata, bool) {
	c.mu.RLock()
	m, ok := c.monitors[gr]
	c.mu.RUnlock()
	if !ok {
		return nil, false
	}
	key := name
	if namespace != "" {
		key = namespace + "/" + name
	}
	obj, exists, err := m.informer.GetIndexer().GetByKey(key)
	if err != nil || !exists {
		return nil, false
	}
	pm, ok := obj.(*metav1.PartialObjectMetadata)
	return pm, ok
}

// kindInfo is the resource serving a kind.
func (c *Controller) kindInfo(gk schema.GroupKind) (resourceInfo, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	info, ok := c.kinds[gk]
	return info, ok
}

// allSynced reports whether every monitor has its initial list: only then
// do the caches know every dependent of an owner.
func (c *Controller) allSynced() bool {
	for _, m := range c.snapshot() {
		if !m.informer.HasSynced() {
			return false
		}
	}
	return true
}

// unsynced names the resources whose monitors have not listed yet.
func (c *Controller) unsynced() []string {
	var out []string
	for _, m := range c.snapshot() {
		if !m.informer.HasSynced() {
			out = append(out, m.info.gvr.GroupResource().String())
		}
	}
	slices.Sort(out)
	return out
}
