// Package nodelifecycle owns node health: the node lifecycle controller
// marks a node whose kubelet stopped renewing its Lease and posting status
// as Ready=Unknown after a grace period, marks its pods not ready, and
// keeps the node's condition taints (not-ready, unreachable, pressure,
// unschedulable) in step with its conditions; the taint eviction
// controller deletes pods from nodes with NoExecute taints they do not
// tolerate, or tolerate only for a while.
package nodelifecycle

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	coordlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"skiff/internal/controller/controllerutil"
)

// Config holds upstream's node lifecycle settings.
type Config struct {
	// MonitorPeriod is how often node health is checked (--node-monitor-period, 5s).
	MonitorPeriod time.Duration
	// GracePeriod is how long a node may stay silent before it is
	// Unknown (--node-monitor-grace-period, 50s).
	GracePeriod time.Duration
	// StartupGracePeriod is the same for a node that never posted a
	// Ready condition (--node-startup-grace-period, 60s).
	StartupGracePeriod time.Duration
	// EvictionRate is how many nodes per second get NoExecute taints in a
	// healthy zone (--node-eviction-rate, 0.1), SecondaryEvictionRate in a
	// partially disrupted one (--secondary-node-eviction-rate, 0.01; 0 in
	// zones of at most LargeClusterSizeThreshold nodes, default 50).
	EvictionRate, SecondaryEvictionRate float64
	LargeClusterSizeThreshold           int
	// UnhealthyZoneThreshold is the share of not-ready nodes (at least 3)
	// that makes a zone partially disrupted (--unhealthy-zone-threshold, 0.55).
	UnhealthyZoneThreshold float64
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.MonitorPeriod, 5*time.Second)
	def(&c.GracePeriod, 50*time.Second)
	def(&c.StartupGracePeriod, 60*time.Second)
	if c.EvictionRate == 0 {
		c.EvictionRate = 0.1
	}
	if c.SecondaryEvictionRate == 0 {
		c.SecondaryEvictionRate = 0.01
	}
	if c.LargeClusterSizeThreshold == 0 {
		c.LargeClusterSizeThreshold = 50
	}
	if c.UnhealthyZoneThreshold == 0 {
		c.UnhealthyZoneThreshold = 0.55
	}
	return c
}

// Messages and reasons as upstream writes them.
const (
	reasonUnknown      = "NodeStatusUnknown"
	messageUnknown     = "Kubelet stopped posting node status."
	reasonNeverUpdated = "NodeStatusNeverUpdated"
	messageNever       = "Kubelet never posted node status."
)

// probe is what was last seen of a node's liveness, and when (by this
// controller's clock, so that node clocks do not matter).
type probe struct {
	renew, heartbeat time.Time // as written by the node
	seen             time.Time // local time of the last change
}

// Controller is the node lifecycle controller.
type Controller struct {
	client   kubernetes.Interface
	log      *slog.Logger
	cfg      Config
	nodes    corelisters.NodeLister
	leases   coordlisters.LeaseLister
	pods     cache.SharedIndexInformer
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string] // node names, for condition taints
	recorder record.EventRecorder
	now      func() time.Time

	mu       sync.Mutex
	probes   map[string]*probe
	limiters map[string]*rate.Limiter // per zone
}

// New returns the node lifecycle controller on factory's informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, cfg Config, log *slog.Logger) *Controller {
	nodeInf := factory.Core().V1().Nodes()
	leaseInf := factory.Coordination().V1().Leases()
	podInf := factory.Core().V1().Pods().Informer()
	if err := controllerutil.IndexPodsByNode(podInf); err != nil {
		log.Warn("indexing pods by node", "err", err)
	}
	c := &Controller{
		client: client, log: log, cfg: cfg.withDefaults(),
		nodes: nodeInf.Lister(), leases: leaseInf.Lister(), pods: podInf,
		synced:   []cache.InformerSynced{nodeInf.Informer().HasSynced, leaseInf.Informer().HasSynced, podInf.HasSynced},
		queue:    controllerutil.NewQueue("node_lifecycle_controller"),
		recorder: &record.FakeRecorder{},
		now:      time.Now,
		probes:   map[string]*probe{},
		limiters: map[string]*rate.Limiter{},
	}
	_, _ = nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { controllerutil.Enqueue(c.queue, obj) },
		UpdateFunc: func(_, obj any) { controllerutil.Enqueue(c.queue, obj) },
		DeleteFunc: func(obj any) {
			obj = controllerutil.Untombstone(obj)
			if n, ok := obj.(*corev1.Node); ok {
				c.mu.Lock()
				delete(c.probes, n.Name)
				c.mu.Unlock()
			}
		},
	})
	return c
}

// Run monitors nodes until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	rec, stop := controllerutil.NewRecorder(c.client, "node-controller")
	defer stop()
	c.recorder = rec
	if !controllerutil.WaitForSync(ctx, c.synced...) {
		return nil
	}
	go controllerutil.RunWorkers(ctx, c.queue, 2, c.log, c.syncTaints)
	t := time.NewTicker(c.cfg.MonitorPeriod)
	defer t.Stop()
	for {
		c.monitor(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// monitor checks every node's liveness once, then the NoExecute taints
// zone by zone.
func (c *Controller) monitor(ctx context.Context) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return
	}
	// The zones are judged on this pass's verdicts, not on the informer's
	// copy, which may not have caught up with the writes just made.
	seen := make([]*corev1.Node, 0, len(nodes))
	for _, n := range nodes {
		upd, err := c.checkHealth(ctx, n)
		if err != nil && ctx.Err() == nil {
			c.log.Warn("updating node health", "node", n.Name, "err", err)
		}
		seen = append(seen, upd)
	}
	c.evictionTaints(ctx, seen)
}

// checkHealth marks a silent node's conditions Unknown, and returns the
// node as it now stands.
func (c *Controller) checkHealth(ctx context.Context, node *corev1.Node) (*corev1.Node, error) {
	now := c.now()
	ready := condition(node, corev1.NodeReady)
	var renew, heartbeat time.Time
	if l, err := c.leases.Leases(corev1.NamespaceNodeLease).Get(node.Name); err == nil && l.Spec.RenewTime != nil {
		renew = l.Spec.RenewTime.Time
	}
	if ready != nil {
		heartbeat = ready.LastHeartbeatTime.Time
	}
	c.mu.Lock()
	p := c.probes[node.Name]
	if p == nil {
		p = &probe{renew: renew, heartbeat: heartbeat, seen: now}
		c.probes[node.Name] = p
		c.recorder.Eventf(nodeRef(node), corev1.EventTypeNormal, "RegisteredNode", "Node %s event: Registered Node %s in Controller", node.Name, node.Name)
	} else if !renew.Equal(p.renew) || !heartbeat.Equal(p.heartbeat) {
		p.renew, p.heartbeat, p.seen = renew, heartbeat, now
	}
	silent := now.Sub(p.seen)
	c.mu.Unlock()

	grace := c.cfg.GracePeriod
	if ready == nil {
		grace = c.cfg.StartupGracePeriod
	}
	if silent <= grace {
		return node, nil
	}
	if ready != nil && ready.Status == corev1.ConditionUnknown {
		return node, nil // already marked
	}
	upd := node.DeepCopy()
	stamp := metav1.NewTime(now)
	if ready == nil {
		upd.Status.Conditions = append(upd.Status.Conditions, corev1.NodeCondition{
			Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: reasonNeverUpdated, Message: messageNever,
			LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: stamp,
		})
	}
	for i := range upd.Status.Conditions {
		cond := &upd.Status.Conditions[i]
		switch cond.Type {
		case corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure:
			if cond.Status != corev1.ConditionUnknown {
				cond.Status, cond.Reason, cond.Message, cond.LastTransitionTime = corev1.ConditionUnknown, reasonUnknown, messageUnknown, stamp
			}
		}
	}
	written, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return node, nil // looked at again next period
		}
		return node, err
	}
	c.log.Info("node stopped posting status", "node", node.Name, "silentFor", silent.Round(time.Second))
	c.recorder.Eventf(nodeRef(node), corev1.EventTypeNormal, "NodeNotReady", "Node %s status is now: NodeNotReady", node.Name)
	return written, c.markPodsNotReady(ctx, node)
}

// markPodsNotReady turns the Ready condition of the node's pods False, so
// that Services stop sending them traffic.
func (c *Controller) markPodsNotReady(ctx context.Context, node *corev1.Node) error {
	var firstErr error
	for _, pod := range controllerutil.PodsOnNode(c.pods, node.Name) {
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		upd := pod.DeepCopy()
		changed := false
		for i := range upd.Status.Conditions {
			cond := &upd.Status.Conditions[i]
			if cond.Type == corev1.PodReady && cond.Status != corev1.ConditionFalse {
				cond.Status, cond.Reason, cond.LastTransitionTime = corev1.ConditionFalse, "NodeNotReady", metav1.NewTime(c.now())
				changed = true
			}
		}
		if !changed {
			continue
		}
		_, err := c.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && firstErr == nil {
			firstErr = err
		}
		if err == nil {
			c.recorder.Event(upd, corev1.EventTypeWarning, "NodeNotReady", "Node is not ready")
		}
	}
	return firstErr
}

func condition(node *corev1.Node, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == t {
			return &node.Status.Conditions[i]
		}
	}
	return nil
}

func nodeRef(node *corev1.Node) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Node", Name: node.Name, UID: node.UID}
}

// zoneOf is the node's zone label ("" when unset).
func zoneOf(node *corev1.Node) string { return node.Labels[corev1.LabelTopologyZone] }
