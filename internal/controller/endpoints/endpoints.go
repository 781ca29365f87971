package endpoints

import (
	"context"
	"log/slog"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"skiff/internal/controller/controllerutil"
)

// maxEndpointsAddresses is how many addresses an Endpoints object holds
// before it is truncated, as upstream.
const maxEndpointsAddresses = 1000

// Controller keeps one core/v1 Endpoints object per Service with a
// selector.
//
//nolint:staticcheck // core/v1 Endpoints is deprecated but still served and read
type Controller struct {
	client    kubernetes.Interface
	log       *slog.Logger
	services  corelisters.ServiceLister
	pods      corelisters.PodLister
	endpoints corelisters.EndpointsLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
}

// New returns the Endpoints controller on factory's informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	svcInf := factory.Core().V1().Services()
	podInf := factory.Core().V1().Pods()
	epInf := factory.Core().V1().Endpoints() //nolint:staticcheck // see Controller
	c := &Controller{
		client: client, log: log,
		services: svcInf.Lister(), pods: podInf.Lister(), endpoints: epInf.Lister(),
		synced: []cache.InformerSynced{svcInf.Informer().HasSynced, podInf.Informer().HasSynced, epInf.Informer().HasSynced},
		queue:  controllerutil.NewQueue("endpoint"),
	}
	enqueue := func(obj any) { controllerutil.Enqueue(c.queue, obj) }
	_, _ = svcInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, n any) { enqueue(n) }, DeleteFunc: enqueue,
	})
	_, _ = podInf.Informer().AddEventHandler(podHandler(c.services, c.queue))
	// An Endpoints object removed by someone else is put back.
	_, _ = epInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: enqueue})
	return c
}

// Run syncs Endpoints until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if !controllerutil.WaitForSync(ctx, c.synced...) {
		return nil
	}
	controllerutil.RunWorkers(ctx, c.queue, 4, c.log, c.sync)
	return nil
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		// The Service is gone, and so go its endpoints (a selectorless
		// Service's hand-made Endpoints too, as upstream).
		err := c.client.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{}) //nolint:staticcheck // see Controller
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	if err != nil {
		return err
	}
	if svc.Spec.Selector == nil || svc.DeletionTimestamp != nil {
		return nil
	}
	pods, err := c.pods.Pods(ns).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	if err != nil {
		return err
	}
	subsets, truncated := endpointSubsets(svc, pods)

	want := &corev1.Endpoints{ //nolint:staticcheck // see Controller
		ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: ns, Labels: serviceLabels(svc)},
		Subsets:    subsets,
	}
	if truncated {
		want.Annotations = map[string]string{annotationTruncated: "truncated"}
	}
	cur, err := c.endpoints.Endpoints(ns).Get(name)
	if apierrors.IsNotFound(err) {
		_, err = c.client.CoreV1().Endpoints(ns).Create(ctx, want, metav1.CreateOptions{}) //nolint:staticcheck // see Controller
		if apierrors.IsAlreadyExists(err) {
			c.queue.Add(key) // the cache is behind; look again
			return nil
		}
		return err
	}
	if err != nil {
		return err
	}
	if apiequality.Semantic.DeepEqual(normalize(cur.Subsets), normalize(want.Subsets)) &&
		apiequality.Semantic.DeepEqual(cur.Labels, want.Labels) &&
		cur.Annotations[annotationTruncated] == want.Annotations[annotationTruncated] {
		return nil
	}
	upd := cur.DeepCopy()
	upd.Subsets = want.Subsets
	upd.Labels = want.Labels
	if truncated {
		if upd.Annotations == nil {
			upd.Annotations = map[string]string{}
		}
		upd.Annotations[annotationTruncated] = "truncated"
	} else {
		delete(upd.Annotations, annotationTruncated)
	}
	_, err = c.client.CoreV1().Endpoints(ns).Update(ctx, upd, metav1.UpdateOptions{}) //nolint:staticcheck // see Controller
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		c.queue.Add(key)
		return nil
	}
	return err
}

// normalize treats nil and empty subsets alike.
func normalize(s []corev1.EndpointSubset) []corev1.EndpointSubset { //nolint:staticcheck // see Controller
	if len(s) == 0 {
		return nil
	}
	return s
}

// endpointSubsets packs the pods backing svc into subsets: one per
// distinct set of resolved ports, ready pods in addresses, the others in
// notReadyAddresses, each sorted by IP. Beyond maxEndpointsAddresses,
// addresses are dropped (not-ready first) and truncated is true.
func endpointSubsets(svc *corev1.Service, pods []*corev1.Pod) (subsets []corev1.EndpointSubset, truncated bool) { //nolint:staticcheck // see Controller
	type group struct {
		ports           []corev1.EndpointPort //nolint:staticcheck // see Controller
		ready, notReady []corev1.EndpointAddress
	}
	groups := map[string]*group{}
	var order []string
	total := 0
	for _, pod := range sortedPods(pods) {
		if !included(pod, false) {
			continue
		}
		addr := corev1.EndpointAddress{
			IP:        pod.Status.PodIP,
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		}
		if pod.Spec.NodeName != "" {
			n := pod.Spec.NodeName
			addr.NodeName = &n
		}
		if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name {
			addr.Hostname = pod.Spec.Hostname
		}
		var ports []corev1.EndpointPort //nolint:staticcheck // see Controller
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port, ok := findPort(pod, sp)
			if !ok {
				continue
			}
			ports = append(ports, corev1.EndpointPort{Name: sp.Name, Port: port, Protocol: protocolOf(sp.Protocol), AppProtocol: sp.AppProtocol}) //nolint:staticcheck // see Controller
		}
		if len(svc.Spec.Ports) > 0 && len(ports) == 0 {
			continue // none of the Service's ports is on this pod
		}
		k := portsKey(ports)
		g := groups[k]
		if g == nil {
			g = &group{ports: ports}
			groups[k] = g
			order = append(order, k)
		}
		if svc.Spec.PublishNotReadyAddresses || podReady(pod) {
			g.ready = append(g.ready, addr)
		} else {
			g.notReady = append(g.notReady, addr)
		}
		total++
	}
	sort.Strings(order)
	// Truncation keeps ready addresses first, spread over the subsets in
	// proportion as upstream does only roughly: ready before not ready.
	budget := maxEndpointsAddresses
	if total > budget {
		truncated = true
	}
	for _, k := range order {
		g := groups[k]
		sortAddrs(g.ready)
		sortAddrs(g.notReady)
		if n := min(len(g.ready), budget); n < len(g.ready) {
			g.ready = g.ready[:n]
		}
		budget -= len(g.ready)
	}
	for _, k := range order {
		g := groups[k]
		if n := min(len(g.notReady), budget); n < len(g.notReady) {
			g.notReady = g.notReady[:n]
		}
		budget -= len(g.notReady)
		if len(g.ready)+len(g.notReady) == 0 {
			continue
		}
		subsets = append(subsets, corev1.EndpointSubset{Addresses: g.ready, NotReadyAddresses: g.notReady, Ports: g.ports}) //nolint:staticcheck // see Controller
	}
	return subsets, truncated
}

func portsKey(ports []corev1.EndpointPort) string { //nolint:staticcheck // see Controller
	parts := make([]string, len(ports))
	for i, p := range ports {
		parts[i] = p.Name + "/" + string(p.Protocol) + "/" + strconv.Itoa(int(p.Port))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// sortAddrs orders addresses by IP numerically, then by pod name.
func sortAddrs(a []corev1.EndpointAddress) {
	sort.Slice(a, func(i, j int) bool {
		x, errX := netip.ParseAddr(a[i].IP)
		y, errY := netip.ParseAddr(a[j].IP)
		if errX == nil && errY == nil && x != y {
			return x.Less(y)
		}
		if a[i].IP != a[j].IP {
			return a[i].IP < a[j].IP
		}
		return a[i].TargetRef.Name < a[j].TargetRef.Name
	})
}
