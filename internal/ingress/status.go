package ingress

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	netlisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"skiff/internal/informerutil"
)

// StatusController keeps status.loadBalancer.ingress of every Ingress of
// the class set to the Ready nodes' InternalIPs (sorted), since every node
// serves every Ingress. Run exactly one per cluster (the servers run it
// under their controller-manager lease) so nodes don't fight over the
// status.
type StatusController struct {
	cfg       Config
	client    kubernetes.Interface
	log       *slog.Logger
	factory   informers.SharedInformerFactory
	synced    []cache.InformerSynced
	nodes     corelisters.NodeLister
	ingresses netlisters.IngressLister
	classes   netlisters.IngressClassLister
	queue     workqueue.TypedRateLimitingInterface[string]
}

// statusKey is the only queue key: every change re-syncs all Ingresses
// (level-triggered; node changes affect them all anyway).
const statusKey = "all"

// NewStatusController sets up the informers; nothing happens until Run.
// Only cfg.ClassName and cfg.Logger are used.
func NewStatusController(client kubernetes.Interface, cfg Config) *StatusController {
	cfg.defaults()
	s := &StatusController{
		cfg:    cfg,
		client: client,
		log:    cfg.Logger.With("component", "ingress-status"),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "ingress-status"}),
	}
	s.factory = informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(informerutil.StripManagedFields))
	nodes := s.factory.Core().V1().Nodes()
	ing := s.factory.Networking().V1().Ingresses()
	cls := s.factory.Networking().V1().IngressClasses()
	s.nodes, s.ingresses, s.classes = nodes.Lister(), ing.Lister(), cls.Lister()
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.queue.Add(statusKey) },
		UpdateFunc: func(any, any) { s.queue.Add(statusKey) },
		DeleteFunc: func(any) { s.queue.Add(statusKey) },
	}
	for _, inf := range []cache.SharedIndexInformer{nodes.Informer(), ing.Informer(), cls.Informer()} {
		reg, err := inf.AddEventHandler(h)
		if err == nil {
			s.synced = append(s.synced, reg.HasSynced)
		}
		s.synced = append(s.synced, inf.HasSynced)
	}
	return s
}

// Run syncs the status until ctx ends; it returns nil then.
func (s *StatusController) Run(ctx context.Context) error {
	defer s.queue.ShutDown()
	s.factory.Start(ctx.Done())
	defer s.factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), s.synced...) {
		return nil
	}
	go func() {
		<-ctx.Done()
		s.queue.ShutDown()
	}()
	s.queue.Add(statusKey)
	for {
		key, quit := s.queue.Get()
		if quit {
			return nil
		}
		if err := s.sync(ctx); err != nil {
			s.log.Warn("updating ingress status", "err", err)
			s.queue.AddRateLimited(key)
		} else {
			s.queue.Forget(key)
		}
		s.queue.Done(key)
	}
}

// sync writes the wanted addresses into every Ingress of the class whose
// status differs.
func (s *StatusController) sync(ctx context.Context) error {
	nodes, err := s.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	want := nodeAddresses(nodes)
	ings, err := s.ingresses.List(labels.Everything())
	if err != nil {
		return err
	}
	ic, err := s.classes.Get(s.cfg.ClassName)
	isDefault := err == nil && ic.Annotations[DefaultClassAnnotation] == "true"
	var errs []error
	for _, ing := range ings {
		if !classMatches(ing, s.cfg.ClassName, isDefault) {
			continue
		}
		if slices.EqualFunc(ing.Status.LoadBalancer.Ingress, want, func(a, b networkingv1.IngressLoadBalancerIngress) bool {
			return a.IP == b.IP && a.Hostname == b.Hostname && len(a.Ports) == 0 && len(b.Ports) == 0
		}) {
			continue
		}
		upd := ing.DeepCopy()
		upd.Status.LoadBalancer.Ingress = want
		uctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := s.client.NetworkingV1().Ingresses(ing.Namespace).UpdateStatus(uctx, upd, metav1.UpdateOptions{})
		cancel()
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			errs = append(errs, fmt.Errorf("%s/%s: %w", ing.Namespace, ing.Name, err))
		default:
			s.log.Debug("ingress status updated", "ingress", ing.Namespace+"/"+ing.Name, "addresses", len(want))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d ingresses: %v", len(errs), errs[0])
	}
	return nil
}

// nodeAddresses returns the InternalIPs of the Ready nodes, sorted and
// de-duplicated.
func nodeAddresses(nodes []*corev1.Node) []networkingv1.IngressLoadBalancerIngress {
	var ips []netip.Addr
	for _, n := range nodes {
		if !nodeReady(n) {
			continue
		}
		for _, a := range n.Status.Addresses {
			if a.Type != corev1.NodeInternalIP {
				continue
			}
			if ip, err := netip.ParseAddr(a.Address); err == nil {
				ips = append(ips, ip.Unmap())
			}
		}
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	ips = slices.Compact(ips)
	out := make([]networkingv1.IngressLoadBalancerIngress, 0, len(ips))
	for _, ip := range ips {
		out = append(out, networkingv1.IngressLoadBalancerIngress{IP: ip.String()})
	}
	return out
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// EnsureClass creates the IngressClass "skiff" (controller
// "skiff.io/ingress", marked the cluster default) if it is missing. An
// existing class is left alone: an administrator may have changed it.
func EnsureClass(ctx context.Context, client kubernetes.Interface) error {
	_, err := client.NetworkingV1().IngressClasses().Get(ctx, DefaultClassName, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("ingress: getting IngressClass %s: %w", DefaultClassName, err)
	}
	ic := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        DefaultClassName,
			Annotations: map[string]string{DefaultClassAnnotation: "true"},
			Labels:      map[string]string{"app.kubernetes.io/managed-by": "skiff"},
		},
		Spec: networkingv1.IngressClassSpec{Controller: ControllerName},
	}
	_, err = client.NetworkingV1().IngressClasses().Create(ctx, ic, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("ingress: creating IngressClass %s: %w", DefaultClassName, err)
	}
	return nil
}
