// Package servicelb owns the service load-balancer controller: with no
// cloud to provision load balancers, a LoadBalancer Service is served by
// every node's service proxy on the nodes' own addresses, so this
// controller fills status.loadBalancer.ingress with the InternalIPs of the
// Ready nodes (as the lightweight distributions do), and keeps it current
// as nodes come, go and fail.
package servicelb

import (
	"context"
	"log/slog"
	"net"
	"reflect"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"skiff/internal/controller/controllerutil"
)

const workers = 2

// Controller keeps LoadBalancer Services' ingress addresses.
type Controller struct {
	client   kubernetes.Interface
	services corelisters.ServiceLister
	nodes    corelisters.NodeLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	recorder record.EventRecorder
	stop     func()
	log      *slog.Logger
}

// New returns the controller on the factory's Service and Node informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	svcs := factory.Core().V1().Services()
	nodes := factory.Core().V1().Nodes()
	rec, stop := controllerutil.NewRecorder(client, "service-lb-controller")
	c := &Controller{
		client: client, services: svcs.Lister(), nodes: nodes.Lister(),
		synced:   []cache.InformerSynced{svcs.Informer().HasSynced, nodes.Informer().HasSynced},
		queue:    controllerutil.NewQueue("service_lb"),
		recorder: rec, stop: stop, log: log,
	}
	enqueue := func(obj any) {
		if s, ok := controllerutil.Untombstone(obj).(*corev1.Service); ok && (s.Spec.Type == corev1.ServiceTypeLoadBalancer || len(s.Status.LoadBalancer.Ingress) > 0) {
			controllerutil.Enqueue(c.queue, s)
		}
	}
	_, _ = svcs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	})
	// Any change to a node's readiness or addresses changes every
	// LoadBalancer Service's ingress; heartbeats change neither.
	nodeChanged := func(old, cur any) {
		o, ok1 := old.(*corev1.Node)
		n, ok2 := cur.(*corev1.Node)
		if ok1 && ok2 && nodeAddress(o) == nodeAddress(n) {
			return
		}
		c.enqueueAll()
	}
	_, _ = nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.enqueueAll() },
		UpdateFunc: nodeChanged,
		DeleteFunc: func(any) { c.enqueueAll() },
	})
	return c
}

func (c *Controller) enqueueAll() {
	svcs, err := c.services.List(labels.Everything())
	if err != nil {
		return
	}
	for _, s := range svcs {
		if s.Spec.Type == corev1.ServiceTypeLoadBalancer {
			controllerutil.Enqueue(c.queue, s)
		}
	}
}

// Run keeps the statuses until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	defer c.stop()
	if !controllerutil.WaitForSync(ctx, c.synced...) {
		return nil
	}
	controllerutil.RunWorkers(ctx, c.queue, workers, c.log, c.sync)
	return nil
}

// nodeAddress is the address a Ready node serves load balancers on
// ("" when it does not: not Ready or no address).
func nodeAddress(n *corev1.Node) string {
	ready := false
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			ready = cond.Status == corev1.ConditionTrue
		}
	}
	if !ready {
		return ""
	}
	if _, excluded := n.Labels["node.kubernetes.io/exclude-from-external-load-balancers"]; excluded {
		return ""
	}
	for _, t := range []corev1.NodeAddressType{corev1.NodeExternalIP, corev1.NodeInternalIP} {
		for _, a := range n.Status.Addresses {
			if a.Type == t && net.ParseIP(a.Address) != nil {
				return a.Address
			}
		}
	}
	return ""
}

// ingress is the status every LoadBalancer Service gets: the serving
// nodes' addresses, sorted so that equal sets compare equal.
func (c *Controller) ingress() ([]corev1.LoadBalancerIngress, error) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var ips []string
	for _, n := range nodes {
		if ip := nodeAddress(n); ip != "" {
			ips = append(ips, ip)
		}
	}
	sort.Slice(ips, func(i, j int) bool {
		a, b := net.ParseIP(ips[i]), net.ParseIP(ips[j])
		return string(a.To16()) < string(b.To16())
	})
	var out []corev1.LoadBalancerIngress
	mode := corev1.LoadBalancerIPModeVIP
	for _, ip := range ips {
		out = append(out, corev1.LoadBalancerIngress{IP: ip, IPMode: &mode})
	}
	return out, nil
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var want []corev1.LoadBalancerIngress
	// A class other than ours is some other controller's to serve.
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.LoadBalancerClass == nil {
		if want, err = c.ingress(); err != nil {
			return err
		}
	} else if svc.Spec.LoadBalancerClass != nil {
		return nil
	}
	if reflect.DeepEqual(svc.Status.LoadBalancer.Ingress, want) {
		return nil
	}
	updated := svc.DeepCopy()
	updated.Status.LoadBalancer.Ingress = want
	if _, err := c.client.CoreV1().Services(ns).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	if len(want) > 0 && len(svc.Status.LoadBalancer.Ingress) == 0 {
		c.recorder.Eventf(svc, corev1.EventTypeNormal, "EnsuredLoadBalancer", "Ensured load balancer on %d node addresses", len(want))
	}
	return nil
}
