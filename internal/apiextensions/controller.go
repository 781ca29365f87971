package apiextensions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/registry"
	"skiff/internal/storage"
)

// Controller keeps the served custom resources in step with the stored
// CustomResourceDefinitions: it accepts names and establishes CRDs (their
// status conditions), registers their resources with package registry, and
// deletes the objects of a CRD being deleted before letting it go. It runs
// inside the API server on its store, as upstream's apiextensions
// controllers run inside kube-apiserver.
type Controller struct {
	store storage.Store
	log   *slog.Logger

	mu     sync.RWMutex
	served map[string][]*Served // by CRD name
	// changed is called (without locks held) after the served set changed.
	changed []func()
	// gone holds, per served CRD, a channel closed when it stops being
	// served (watches of its resources end then).
	gone map[string]chan struct{}
	kick chan struct{}
	// serviceAddress reaches conversion webhooks given as a Service.
	serviceAddress ServiceAddressFunc
	metrics        *conversionMetrics
}

var crdPrefix = "/registry/" + registry.CRDResource.StoragePrefix + "/"

// NewController returns a controller over store.
func NewController(store storage.Store, log *slog.Logger) *Controller {
	if log == nil {
		log = slog.Default()
	}
	return &Controller{store: store, log: log, served: map[string][]*Served{}, gone: map[string]chan struct{}{}, kick: make(chan struct{}, 1),
		metrics: newConversionMetrics()}
}

// Gone returns a channel closed once the resources of the named CRD are no
// longer served (at once if they are not served now).
func (c *Controller) Gone(crdName string) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.served[crdName]; !ok {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	ch, ok := c.gone[crdName]
	if !ok {
		ch = make(chan struct{})
		c.gone[crdName] = ch
	}
	return ch
}

// OnChange registers fn to run after the set of served resources changed.
func (c *Controller) OnChange(fn func()) {
	c.mu.Lock()
	c.changed = append(c.changed, fn)
	c.mu.Unlock()
}

// ForGroupVersion returns the served custom resources of one group version.
func (c *Controller) ForGroupVersion(gv schema.GroupVersion) []*Served {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []*Served
	for _, list := range c.served {
		for _, s := range list {
			if s.Resource.Group == gv.Group && s.Resource.Version == gv.Version {
				out = append(out, s)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Resource.Name < out[j].Resource.Name })
	return out
}

// GroupVersions lists the served custom group versions.
func (c *Controller) GroupVersions() []schema.GroupVersion {
	seen := map[schema.GroupVersion]bool{}
	var out []schema.GroupVersion
	for _, r := range registry.Custom() {
		gv := schema.GroupVersion{Group: r.Group, Version: r.Version}
		if !seen[gv] {
			seen[gv] = true
			out = append(out, gv)
		}
	}
	return out
}

// Run syncs on every change of a CRD until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	go c.watch(ctx)
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	// The served set is process-wide: a stopped server serves nothing.
	defer c.publish(map[string][]*Served{})
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.kick:
		case <-retry.C:
		}
		again, err := c.syncAll(ctx)
		if err != nil && ctx.Err() == nil {
			c.log.Warn("syncing custom resource definitions", "err", err)
			again = true
		}
		if again {
			retry.Reset(200 * time.Millisecond)
		}
	}
}

func (c *Controller) trigger() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// watch kicks a sync on every change under the CRD prefix, re-watching
// when a watch ends.
func (c *Controller) watch(ctx context.Context) {
	c.trigger()
	for ctx.Err() == nil {
		ch, err := c.store.Watch(ctx, crdPrefix, 0)
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		c.trigger() // changes while no watch was open
		for ev := range ch {
			if ev.Type != storage.Progress {
				c.trigger()
			}
		}
	}
}

// syncAll reconciles every CRD; it reports whether work remains.
func (c *Controller) syncAll(ctx context.Context) (bool, error) {
	list, err := c.store.List(ctx, crdPrefix, storage.ListOptions{Consistent: true})
	if err != nil {
		return false, err
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, it := range list.Items {
		obj, err := registry.FromStorage(registry.CRDResource, it)
		if err != nil {
			return false, err
		}
		crd, ok := obj.(*apiextensionsv1.CustomResourceDefinition)
		if !ok {
			continue
		}
		crds = append(crds, crd.DeepCopy())
	}
	// Older CRDs keep their names when two ask for the same.
	sort.Slice(crds, func(i, j int) bool {
		if !crds[i].CreationTimestamp.Equal(&crds[j].CreationTimestamp) {
			return crds[i].CreationTimestamp.Before(&crds[j].CreationTimestamp)
		}
		return crds[i].Name < crds[j].Name
	})
	served := map[string][]*Served{}
	taken := map[string]string{} // group/plural and group/Kind -> CRD
	again := false
	var errs []error
	for _, crd := range crds {
		if crd.DeletionTimestamp != nil {
			if hasFinalizer(crd.Finalizers, CleanupFinalizer) {
				more, err := c.cleanup(ctx, crd)
				if err != nil {
					errs = append(errs, err)
				}
				again = again || more
				// The objects stay readable (not creatable) while they are
				// deleted.
				if more || err != nil {
					if res, err := c.resourcesFor(crd, true); err == nil && conditionTrue(crd, apiextensionsv1.Established) {
						served[crd.Name] = res
					}
				}
			}
			continue
		}
		conflict := ""
		for _, k := range []string{crd.Spec.Group + "/" + crd.Spec.Names.Plural, crd.Spec.Group + "/kind/" + crd.Spec.Names.Kind} {
			if other, ok := taken[k]; ok && other != crd.Name {
				conflict = k
			}
		}
		if conflict != "" {
			if err := c.setNamesConflict(ctx, crd, conflict); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		taken[crd.Spec.Group+"/"+crd.Spec.Names.Plural] = crd.Name
		taken[crd.Spec.Group+"/kind/"+crd.Spec.Names.Kind] = crd.Name
		crd.Status.AcceptedNames = crd.Spec.Names
		res, err := c.resourcesFor(crd, false)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", crd.Name, err))
			continue
		}
		served[crd.Name] = res
	}
	c.publish(served)
	// Established only once the resources are served.
	for _, crd := range crds {
		if crd.DeletionTimestamp != nil || served[crd.Name] == nil {
			continue
		}
		if err := c.establish(ctx, crd); err != nil {
			errs = append(errs, err)
		}
	}
	return again, errors.Join(errs...)
}

// resourcesFor returns the served resources of crd, reusing the current
// ones while its spec is unchanged (so that resources keep their identity
// and schemas are compiled once).
func (c *Controller) resourcesFor(crd *apiextensionsv1.CustomResourceDefinition, terminating bool) ([]*Served, error) {
	c.mu.RLock()
	cur := c.served[crd.Name]
	c.mu.RUnlock()
	if len(cur) > 0 && cur[0].Resource.Strategy.Terminating == terminating &&
		apiequality.Semantic.DeepEqual(cur[0].CRD.Spec, crd.Spec) && cur[0].CRD.UID == crd.UID {
		return cur, nil
	}
	res, err := resourcesFor(crd)
	if err != nil {
		return nil, err
	}
	c.setConverter(crd, res)
	for _, s := range res {
		s.Resource.Strategy.Terminating = terminating
	}
	return res, nil
}

// publish makes served the set of served custom resources.
func (c *Controller) publish(served map[string][]*Served) {
	var all []*registry.Resource
	names := make([]string, 0, len(served))
	for n := range served {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, s := range served[n] {
			all = append(all, s.Resource)
			if adder, ok := c.store.(interface{ AddPrefix(string) }); ok {
				adder.AddPrefix("/registry/" + s.Resource.StoragePrefix + "/")
			}
		}
	}
	c.mu.Lock()
	same := sameServed(c.served, served)
	c.served = served
	for name, ch := range c.gone {
		if _, ok := served[name]; !ok {
			close(ch)
			delete(c.gone, name)
		}
	}
	fns := append([]func(){}, c.changed...)
	c.mu.Unlock()
	registry.SetCustom(all)
	if !same {
		for _, fn := range fns {
			fn()
		}
	}
}

func sameServed(a, b map[string][]*Served) bool {
	if len(a) != len(b) {
		return false
	}
	for n, list := range a {
		other, ok := b[n]
		if !ok || len(other) != len(list) {
			return false
		}
		for i := range list {
			if list[i] != other[i] {
				return false
			}
		}
	}
	return true
}

// updateCRD rewrites a CRD's stored state with fn (given the v1 form).
func (c *Controller) updateCRD(ctx context.Context, name string, fn func(crd *apiextensionsv1.CustomResourceDefinition) bool) (*apiextensionsv1.CustomResourceDefinition, error) {
	errUnchanged := errors.New("unchanged")
	var result *apiextensionsv1.CustomResourceDefinition
	updated, err := c.store.Update(ctx, crdPrefix+name, func(cur runtime.Object) (runtime.Object, error) {
		obj, err := registry.FromStorage(registry.CRDResource, cur)
		if err != nil {
			return nil, err
		}
		crd, ok := obj.(*apiextensionsv1.CustomResourceDefinition)
		if !ok {
			return nil, fmt.Errorf("stored %T is no CustomResourceDefinition", obj)
		}
		crd = crd.DeepCopy()
		if !fn(crd) {
			result = crd
			return nil, errUnchanged
		}
		return registry.ToStorage(registry.CRDResource, crd)
	}, nil)
	if errors.Is(err, errUnchanged) {
		return result, nil
	}
	if err != nil {
		return nil, err
	}
	obj, err := registry.FromStorage(registry.CRDResource, updated)
	if err != nil {
		return nil, err
	}
	crd, _ := obj.(*apiextensionsv1.CustomResourceDefinition)
	return crd, nil
}

func (c *Controller) setNamesConflict(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition, what string) error {
	_, err := c.updateCRD(ctx, crd.Name, func(cur *apiextensionsv1.CustomResourceDefinition) bool {
		before := cur.Status.DeepCopy()
		msg := fmt.Sprintf("%q is already in use", cur.Spec.Names.Plural)
		if len(what) > 0 && what[len(cur.Spec.Group)+1:] != cur.Spec.Names.Plural {
			msg = fmt.Sprintf("%q is already in use", cur.Spec.Names.Kind)
		}
		setCondition(cur, apiextensionsv1.CustomResourceDefinitionCondition{Type: apiextensionsv1.NamesAccepted, Status: apiextensionsv1.ConditionFalse, Reason: "NameConflict", Message: msg})
		if findCondition(cur, apiextensionsv1.Established) == nil {
			setCondition(cur, apiextensionsv1.CustomResourceDefinitionCondition{Type: apiextensionsv1.Established, Status: apiextensionsv1.ConditionFalse, Reason: "NotAccepted", Message: "not all names are accepted"})
		}
		return !apiequality.Semantic.DeepEqual(before, &cur.Status)
	})
	return err
}

// establish records accepted names, NamesAccepted, Established and the
// stored versions.
func (c *Controller) establish(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) error {
	_, err := c.updateCRD(ctx, crd.Name, func(cur *apiextensionsv1.CustomResourceDefinition) bool {
		if cur.DeletionTimestamp != nil {
			return false
		}
		before := cur.Status.DeepCopy()
		cur.Status.AcceptedNames = cur.Spec.Names
		setCondition(cur, apiextensionsv1.CustomResourceDefinitionCondition{Type: apiextensionsv1.NamesAccepted, Status: apiextensionsv1.ConditionTrue, Reason: "NoConflicts", Message: "no conflicts found"})
		setCondition(cur, apiextensionsv1.CustomResourceDefinitionCondition{Type: apiextensionsv1.Established, Status: apiextensionsv1.ConditionTrue, Reason: "InitialNamesAccepted", Message: "the initial names have been accepted"})
		if sv := storageVersion(cur); sv != "" {
			found := false
			for _, v := range cur.Status.StoredVersions {
				found = found || v == sv
			}
			if !found {
				cur.Status.StoredVersions = append(cur.Status.StoredVersions, sv)
			}
		}
		for i := range cur.Status.Conditions {
			cur.Status.Conditions[i].ObservedGeneration = cur.Generation
		}
		cur.Status.ObservedGeneration = cur.Generation
		// Transition times must not make an unchanged status look changed.
		return !statusEqual(before, &cur.Status)
	})
	return err
}

func statusEqual(a, b *apiextensionsv1.CustomResourceDefinitionStatus) bool {
	if len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for i := range a.Conditions {
		x, y := a.Conditions[i], b.Conditions[i]
		if x.Type != y.Type || x.Status != y.Status || x.Reason != y.Reason || x.Message != y.Message || x.ObservedGeneration != y.ObservedGeneration {
			return false
		}
	}
	return a.ObservedGeneration == b.ObservedGeneration && apiequality.Semantic.DeepEqual(a.AcceptedNames, b.AcceptedNames) && apiequality.Semantic.DeepEqual(a.StoredVersions, b.StoredVersions)
}

// cleanup deletes the objects of a CRD being deleted, then removes its
// finalizer (and the CRD once no finalizer is left). It reports whether
// objects remain.
func (c *Controller) cleanup(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) (bool, error) {
	if _, err := c.updateCRD(ctx, crd.Name, func(cur *apiextensionsv1.CustomResourceDefinition) bool {
		before := cur.Status.DeepCopy()
		setCondition(cur, apiextensionsv1.CustomResourceDefinitionCondition{Type: apiextensionsv1.Terminating, Status: apiextensionsv1.ConditionTrue,
			Reason: "InstanceDeletionInProgress", Message: "CustomResource deletion is in progress"})
		return !statusEqual(before, &cur.Status)
	}); err != nil {
		return true, err
	}
	names := crd.Status.AcceptedNames
	if names.Plural == "" {
		names = crd.Spec.Names
	}
	prefix := "/registry/" + crd.Spec.Group + "/" + names.Plural + "/"
	list, err := c.store.List(ctx, prefix, storage.ListOptions{Consistent: true})
	if err != nil {
		return true, err
	}
	remaining := 0
	for _, it := range list.Items {
		m, err := meta.Accessor(it)
		if err != nil {
			continue
		}
		key := prefix + m.GetName()
		if m.GetNamespace() != "" {
			key = prefix + m.GetNamespace() + "/" + m.GetName()
		}
		if len(m.GetFinalizers()) > 0 {
			// Finalizers are honoured: mark the object, its owners finish.
			remaining++
			if m.GetDeletionTimestamp() == nil {
				_, _ = c.store.Update(ctx, key, func(cur runtime.Object) (runtime.Object, error) {
					out := cur.DeepCopyObject()
					om, _ := meta.Accessor(out)
					now := metav1.Now()
					var zero int64
					om.SetDeletionTimestamp(&now)
					om.SetDeletionGracePeriodSeconds(&zero)
					return out, nil
				}, nil)
			}
			continue
		}
		if _, err := c.store.Delete(ctx, key, nil, nil); err != nil && !errors.Is(err, storage.ErrNotFound) {
			remaining++
		}
	}
	if remaining > 0 {
		return true, nil
	}
	updated, err := c.updateCRD(ctx, crd.Name, func(cur *apiextensionsv1.CustomResourceDefinition) bool {
		var keep []string
		for _, f := range cur.Finalizers {
			if f != CleanupFinalizer {
				keep = append(keep, f)
			}
		}
		if len(keep) == len(cur.Finalizers) {
			return false
		}
		cur.Finalizers = keep
		return true
	})
	if err != nil {
		return true, err
	}
	if updated != nil && len(updated.Finalizers) == 0 {
		rv := updated.ResourceVersion
		_, err := c.store.Delete(ctx, crdPrefix+crd.Name, func(cur runtime.Object) error {
			m, err := meta.Accessor(cur)
			if err != nil {
				return err
			}
			if m.GetResourceVersion() != rv {
				return storage.ErrConflict
			}
			return nil
		}, nil)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return true, err
		}
	}
	return false, nil
}

// WaitNamesChecked waits (at most timeout) until the CRD name has been
// looked at by the controller (NamesAccepted set, Established when the
// names were accepted), so that a client reading right after creating a
// CRD sees its conditions.
func (c *Controller) WaitNamesChecked(ctx context.Context, name string, timeout time.Duration) {
	c.trigger()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		obj, err := c.store.Get(ctx, crdPrefix+name)
		if err == nil {
			if served, err := registry.FromStorage(registry.CRDResource, obj); err == nil {
				if crd, ok := served.(*apiextensionsv1.CustomResourceDefinition); ok {
					if conditionTrue(crd, apiextensionsv1.Established) || findCondition(crd, apiextensionsv1.NamesAccepted) != nil && !conditionTrue(crd, apiextensionsv1.NamesAccepted) {
						return
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
