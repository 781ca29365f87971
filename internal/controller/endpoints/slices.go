package endpoints

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"skiff/internal/controller/controllerutil"
)

// MaxEndpointsPerSlice is upstream's default --max-endpoints-per-slice.
const MaxEndpointsPerSlice = 100

// SliceController keeps the EndpointSlices of every Service with a
// selector: endpoints grouped by address type and resolved ports, at most
// MaxEndpointsPerSlice per slice, updated in place to keep churn low.
type SliceController struct {
	client   kubernetes.Interface
	log      *slog.Logger
	max      int
	services corelisters.ServiceLister
	pods     corelisters.PodLister
	nodes    corelisters.NodeLister
	slices   discoverylisters.EndpointSliceLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	recorder record.EventRecorder
	written  *writeTracker
}

// NewSlices returns the EndpointSlice controller on factory's informers.
func NewSlices(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *SliceController {
	svcInf := factory.Core().V1().Services()
	podInf := factory.Core().V1().Pods()
	nodeInf := factory.Core().V1().Nodes()
	sliceInf := factory.Discovery().V1().EndpointSlices()
	c := &SliceController{
		client: client, log: log, max: MaxEndpointsPerSlice,
		services: svcInf.Lister(), pods: podInf.Lister(), nodes: nodeInf.Lister(), slices: sliceInf.Lister(),
		synced: []cache.InformerSynced{svcInf.Informer().HasSynced, podInf.Informer().HasSynced,
			nodeInf.Informer().HasSynced, sliceInf.Informer().HasSynced},
		queue:    controllerutil.NewQueue("endpoint_slice"),
		recorder: &record.FakeRecorder{},
		written:  &writeTracker{m: map[types.UID]map[types.UID]written{}},
	}
	enqueue := func(obj any) { controllerutil.Enqueue(c.queue, obj) }
	_, _ = svcInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, n any) { enqueue(n) },
		DeleteFunc: func(obj any) {
			obj = controllerutil.Untombstone(obj)
			if svc, ok := obj.(*corev1.Service); ok {
				c.written.forget(svc.UID)
			}
		},
	})
	_, _ = podInf.Informer().AddEventHandler(podHandler(c.services, c.queue))
	// A slice changed by someone else, or our own write arriving in the
	// cache, gets its Service looked at again.
	onSlice := func(obj any) {
		obj = controllerutil.Untombstone(obj)
		s, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok || s.Labels[labelManagedBy] != managedByController || s.Labels[labelServiceName] == "" {
			return
		}
		c.queue.Add(s.Namespace + "/" + s.Labels[labelServiceName])
	}
	_, _ = sliceInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onSlice, UpdateFunc: func(_, n any) { onSlice(n) }, DeleteFunc: onSlice,
	})
	return c
}

// Run syncs EndpointSlices until ctx ends.
func (c *SliceController) Run(ctx context.Context) error {
	rec, stop := controllerutil.NewRecorder(c.client, "endpoint-slice-controller")
	defer stop()
	c.recorder = rec
	if !controllerutil.WaitForSync(ctx, c.synced...) {
		return nil
	}
	controllerutil.RunWorkers(ctx, c.queue, 4, c.log, c.sync)
	return nil
}

// writeTracker remembers, per Service, the resourceVersion of every slice
// this controller wrote ("" once deleted), so that a sync on a cache that
// has not caught up with its own writes waits instead of acting twice.
// Entries expire, so a write overtaken by someone else's delete does not
// stall the Service for long.
type writeTracker struct {
	mu sync.Mutex
	m  map[types.UID]map[types.UID]written
}

type written struct {
	rv string
	at time.Time
}

const writeTrackerTTL = 30 * time.Second

func (w *writeTracker) wrote(svc, slice types.UID, rv string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m[svc] == nil {
		w.m[svc] = map[types.UID]written{}
	}
	w.m[svc][slice] = written{rv: rv, at: time.Now()}
}

func (w *writeTracker) forget(svc types.UID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, svc)
}

// stale says whether the cached slices of svc miss one of our writes.
func (w *writeTracker) stale(svc types.UID, cached []*discoveryv1.EndpointSlice) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	mine := w.m[svc]
	if len(mine) == 0 {
		return false
	}
	seen := map[types.UID]bool{}
	stale := false
	for _, s := range cached {
		seen[s.UID] = true
		x, ok := mine[s.UID]
		switch {
		case !ok:
		case x.rv == "" || olderRV(s.ResourceVersion, x.rv):
			stale = true // deleted or updated by us, not seen yet
		default:
			delete(mine, s.UID)
		}
	}
	for uid, x := range mine {
		switch {
		case time.Since(x.at) > writeTrackerTTL:
			delete(mine, uid)
		case seen[uid]:
		case x.rv == "":
			delete(mine, uid) // our delete has been seen
		default:
			stale = true // created by us, not seen yet
		}
	}
	return stale
}

// olderRV compares resourceVersions; skiff's are etcd revisions, numbers.
func olderRV(have, want string) bool {
	h, err1 := strconv.ParseInt(have, 10, 64)
	x, err2 := strconv.ParseInt(want, 10, 64)
	return err1 == nil && err2 == nil && h < x
}

// sliceGroup is what one group of slices (one address type, one set of
// ports) should hold.
type sliceGroup struct {
	addressType discoveryv1.AddressType
	ports       []discoveryv1.EndpointPort
	want        map[string]discoveryv1.Endpoint
	order       []string
	placed      map[string]bool
}

func (c *SliceController) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil // its slices are owned by it and collected with it
	}
	if err != nil {
		return err
	}
	if svc.Spec.Selector == nil || svc.DeletionTimestamp != nil {
		return nil
	}
	existing, err := c.slices.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{
		labelServiceName: name, labelManagedBy: managedByController}))
	if err != nil {
		return err
	}
	if c.written.stale(svc.UID, existing) {
		return nil // the informer event of our write queues this Service again
	}
	pods, err := c.pods.Pods(ns).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	if err != nil {
		return err
	}
	groups, order := c.desired(svc, pods)
	meta := c.sliceLabels(svc)

	var creates, updates, deletes []*discoveryv1.EndpointSlice
	keep := 0
	// Existing slices keep the endpoints that still belong to their group,
	// updated, in their order.
	for _, s := range existing {
		ref := metav1.GetControllerOf(s)
		g := groups[groupKey(s.AddressType, s.Ports)]
		if ref == nil || ref.UID != svc.UID || g == nil {
			deletes = append(deletes, s)
			continue
		}
		var eps []discoveryv1.Endpoint
		for _, ep := range s.Endpoints {
			k := endpointKey(ep)
			if want, ok := g.want[k]; ok && !g.placed[k] {
				eps = append(eps, want)
				g.placed[k] = true
			}
		}
		upd := s.DeepCopy()
		upd.Endpoints = eps
		upd.Labels = maps.Clone(meta) // the Service's labels are the slice's
		updates = append(updates, upd)
		keep++
	}
	// New endpoints fill the room left in existing slices, then new ones.
	for _, gk := range order {
		g := groups[gk]
		var rest []string
		for _, k := range g.order {
			if !g.placed[k] {
				rest = append(rest, k)
			}
		}
		for _, s := range updates {
			if len(rest) == 0 {
				break
			}
			if groupKey(s.AddressType, s.Ports) != gk {
				continue
			}
			for len(s.Endpoints) < c.max && len(rest) > 0 {
				s.Endpoints = append(s.Endpoints, g.want[rest[0]])
				rest = rest[1:]
			}
		}
		for len(rest) > 0 {
			n := min(c.max, len(rest))
			s := c.newSlice(svc, g, meta)
			for _, k := range rest[:n] {
				s.Endpoints = append(s.Endpoints, g.want[k])
			}
			rest = rest[n:]
			creates = append(creates, s)
		}
	}
	// Slices left empty go, except one kept as the placeholder a Service
	// with no endpoints has.
	var updated []*discoveryv1.EndpointSlice
	for _, s := range updates {
		if len(s.Endpoints) == 0 && (len(creates) > 0 || keep > 1) {
			deletes = append(deletes, s)
			keep--
			continue
		}
		updated = append(updated, s)
	}
	if len(creates) == 0 && len(updated) == 0 {
		at := discoveryv1.AddressTypeIPv4
		if len(svc.Spec.IPFamilies) > 0 && svc.Spec.IPFamilies[0] == corev1.IPv6Protocol {
			at = discoveryv1.AddressTypeIPv6
		}
		creates = append(creates, c.newSlice(svc, &sliceGroup{addressType: at}, meta))
	}

	var errs []error
	for _, s := range deletes {
		err := c.client.DiscoveryV1().EndpointSlices(ns).Delete(ctx, s.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
		if err == nil || apierrors.IsNotFound(err) {
			c.written.wrote(svc.UID, s.UID, "")
		} else if !apierrors.IsConflict(err) {
			errs = append(errs, err)
		}
	}
	for _, s := range updated {
		if old := findSlice(existing, s.UID); old != nil && apiequality.Semantic.DeepEqual(old.Endpoints, s.Endpoints) &&
			apiequality.Semantic.DeepEqual(old.Labels, s.Labels) {
			continue
		}
		got, err := c.client.DiscoveryV1().EndpointSlices(ns).Update(ctx, s, metav1.UpdateOptions{})
		switch {
		case err == nil:
			c.written.wrote(svc.UID, got.UID, got.ResourceVersion)
		case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
			c.queue.Add(key)
		default:
			errs = append(errs, err)
		}
	}
	for _, s := range creates {
		got, err := c.client.DiscoveryV1().EndpointSlices(ns).Create(ctx, s, metav1.CreateOptions{})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.written.wrote(svc.UID, got.UID, got.ResourceVersion)
	}
	if len(errs) > 0 {
		c.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToUpdateEndpointSlices",
			"Error updating Endpoint Slices for Service %s/%s: %v", ns, name, errs[0])
		return fmt.Errorf("endpoint slices of %s: %v", key, errs)
	}
	return nil
}

// desired computes every group's endpoints from the pods.
func (c *SliceController) desired(svc *corev1.Service, pods []*corev1.Pod) (map[string]*sliceGroup, []string) {
	families := svc.Spec.IPFamilies
	if len(families) == 0 {
		families = []corev1.IPFamily{corev1.IPv4Protocol}
	}
	groups := map[string]*sliceGroup{}
	var order []string
	for _, pod := range sortedPods(pods) {
		if !included(pod, true) {
			continue
		}
		var ports []discoveryv1.EndpointPort
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port, ok := findPort(pod, sp)
			if !ok {
				continue
			}
			name, proto := sp.Name, protocolOf(sp.Protocol)
			ports = append(ports, discoveryv1.EndpointPort{Name: &name, Port: &port, Protocol: &proto, AppProtocol: sp.AppProtocol})
		}
		if len(svc.Spec.Ports) > 0 && len(ports) == 0 {
			continue
		}
		for _, fam := range families {
			ip := podIP(pod, fam)
			if ip == "" {
				continue
			}
			at := discoveryv1.AddressTypeIPv4
			if fam == corev1.IPv6Protocol {
				at = discoveryv1.AddressTypeIPv6
			}
			gk := groupKey(at, ports)
			g := groups[gk]
			if g == nil {
				g = &sliceGroup{addressType: at, ports: ports, want: map[string]discoveryv1.Endpoint{}, placed: map[string]bool{}}
				groups[gk] = g
				order = append(order, gk)
			}
			ep := c.endpoint(svc, pod, ip)
			k := endpointKey(ep)
			if _, dup := g.want[k]; !dup {
				g.want[k] = ep
				g.order = append(g.order, k)
			}
		}
	}
	return groups, order
}

// endpoint describes pod as an endpoint of svc at ip.
func (c *SliceController) endpoint(svc *corev1.Service, pod *corev1.Pod, ip string) discoveryv1.Endpoint {
	terminating := pod.DeletionTimestamp != nil
	serving := podReady(pod)
	ready := svc.Spec.PublishNotReadyAddresses || (serving && !terminating)
	if svc.Spec.PublishNotReadyAddresses {
		serving = true
	}
	ep := discoveryv1.Endpoint{
		Addresses:  []string{ip},
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name {
		ep.Hostname = &pod.Spec.Hostname
	}
	if n := pod.Spec.NodeName; n != "" {
		ep.NodeName = &n
		if node, err := c.nodes.Get(n); err == nil {
			if z, ok := node.Labels[corev1.LabelTopologyZone]; ok {
				ep.Zone = &z
			}
		}
	}
	return ep
}

// podIP is pod's address of the given family, or "".
func podIP(pod *corev1.Pod, fam corev1.IPFamily) string {
	ips := pod.Status.PodIPs
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = []corev1.PodIP{{IP: pod.Status.PodIP}}
	}
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip.IP)
		if err != nil {
			continue
		}
		if a.Is4() == (fam == corev1.IPv4Protocol) {
			return ip.IP
		}
	}
	return ""
}

func (c *SliceController) newSlice(svc *corev1.Service, g *sliceGroup, meta map[string]string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    slicePrefix(svc.Name),
			Namespace:       svc.Namespace,
			Labels:          maps.Clone(meta),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))},
		},
		AddressType: g.addressType,
		Ports:       g.ports,
		Endpoints:   []discoveryv1.Endpoint{},
	}
	return s
}

// slicePrefix is the generateName of a Service's slices, short enough to
// leave room for the random suffix.
func slicePrefix(svcName string) string {
	if len(svcName) > 57 {
		svcName = svcName[:57]
	}
	return svcName + "-"
}

// sliceLabels are the labels every slice of svc carries.
func (c *SliceController) sliceLabels(svc *corev1.Service) map[string]string {
	l := serviceLabels(svc)
	l[labelServiceName] = svc.Name
	l[labelManagedBy] = managedByController
	return l
}

func groupKey(at discoveryv1.AddressType, ports []discoveryv1.EndpointPort) string {
	parts := make([]corev1.EndpointPort, 0, len(ports)) //nolint:staticcheck // reused only to build the key
	for _, p := range ports {
		ep := corev1.EndpointPort{} //nolint:staticcheck // see above
		if p.Name != nil {
			ep.Name = *p.Name
		}
		if p.Port != nil {
			ep.Port = *p.Port
		}
		if p.Protocol != nil {
			ep.Protocol = *p.Protocol
		}
		parts = append(parts, ep)
	}
	return string(at) + "|" + portsKey(parts)
}

// endpointKey identifies an endpoint across syncs: its pod, or its address.
func endpointKey(ep discoveryv1.Endpoint) string {
	if ep.TargetRef != nil && ep.TargetRef.UID != "" {
		return string(ep.TargetRef.UID) + "|" + firstAddr(ep)
	}
	return firstAddr(ep)
}

func firstAddr(ep discoveryv1.Endpoint) string {
	if len(ep.Addresses) == 0 {
		return ""
	}
	return ep.Addresses[0]
}

func findSlice(list []*discoveryv1.EndpointSlice, uid types.UID) *discoveryv1.EndpointSlice {
	for _, s := range list {
		if s.UID == uid {
			return s
		}
	}
	return nil
}
