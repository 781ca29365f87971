// Package podgc owns the pod garbage collector: it force-deletes pods that
// no node will ever confirm gone (bound to a node that no longer exists,
// terminating without ever having been scheduled, terminating on a node
// marked out-of-service) and keeps the number of finished pods under a
// threshold, oldest first.
package podgc

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// Config holds upstream's pod GC settings.
type Config struct {
	// TerminatedThreshold is how many finished pods may exist before the
	// oldest are deleted (--terminated-pod-gc-threshold, 12500; <0: never).
	TerminatedThreshold int
	// Period is how often pods are looked at (20s).
	Period time.Duration
	// Quarantine is how long a node must have been missing before its pods
	// are orphans (40s), so that a node being re-registered keeps them.
	Quarantine time.Duration
}

func (c Config) withDefaults() Config {
	if c.TerminatedThreshold == 0 {
		c.TerminatedThreshold = 12500
	}
	if c.Period == 0 {
		c.Period = 20 * time.Second
	}
	if c.Quarantine == 0 {
		c.Quarantine = 40 * time.Second
	}
	return c
}

// Controller is the pod garbage collector.
type Controller struct {
	client kubernetes.Interface
	log    *slog.Logger
	cfg    Config
	pods   corelisters.PodLister
	nodes  corelisters.NodeLister
	synced []cache.InformerSynced
	now    func() time.Time

	mu      sync.Mutex
	missing map[string]time.Time // node name -> first seen missing
}

// New returns the pod garbage collector on factory's informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, cfg Config, log *slog.Logger) *Controller {
	podInf := factory.Core().V1().Pods()
	nodeInf := factory.Core().V1().Nodes()
	return &Controller{
		client: client, log: log, cfg: cfg.withDefaults(),
		pods: podInf.Lister(), nodes: nodeInf.Lister(),
		synced:  []cache.InformerSynced{podInf.Informer().HasSynced, nodeInf.Informer().HasSynced},
		now:     time.Now,
		missing: map[string]time.Time{},
	}
}

// Run collects every Period until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil
	}
	t := time.NewTicker(c.cfg.Period)
	defer t.Stop()
	for {
		c.collect(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (c *Controller) collect(ctx context.Context) {
	pods, err := c.pods.List(labels.Everything())
	if err != nil {
		return
	}
	c.terminated(ctx, pods)
	c.orphaned(ctx, pods)
	c.unscheduledTerminating(ctx, pods)
	c.outOfService(ctx, pods)
}

func finished(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// terminated deletes the oldest finished pods beyond the threshold.
func (c *Controller) terminated(ctx context.Context, pods []*corev1.Pod) {
	if c.cfg.TerminatedThreshold < 0 {
		return
	}
	var done []*corev1.Pod
	for _, p := range pods {
		if finished(p) && p.DeletionTimestamp == nil {
			done = append(done, p)
		}
	}
	extra := len(done) - c.cfg.TerminatedThreshold
	if extra <= 0 {
		return
	}
	sort.Slice(done, func(i, j int) bool {
		a, b := done[i].CreationTimestamp, done[j].CreationTimestamp
		if !a.Equal(&b) {
			return a.Before(&b)
		}
		return done[i].Name < done[j].Name
	})
	c.log.Info("deleting finished pods over the threshold", "count", extra, "threshold", c.cfg.TerminatedThreshold)
	for _, p := range done[:extra] {
		c.forceDelete(ctx, p, nil)
	}
}

// orphaned deletes pods bound to nodes that have been gone for the
// quarantine period (confirmed with the API, not only the cache).
func (c *Controller) orphaned(ctx context.Context, pods []*corev1.Pod) {
	now := c.now()
	gone := map[string]bool{}
	c.mu.Lock()
	seen := map[string]bool{}
	for _, p := range pods {
		n := p.Spec.NodeName
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		if _, err := c.nodes.Get(n); err == nil {
			delete(c.missing, n)
			continue
		}
		first, ok := c.missing[n]
		if !ok {
			c.missing[n] = now
			continue
		}
		if now.Sub(first) >= c.cfg.Quarantine {
			gone[n] = true
		}
	}
	for n := range c.missing {
		if !seen[n] {
			delete(c.missing, n)
		}
	}
	c.mu.Unlock()
	for n := range gone {
		_, err := c.client.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			delete(gone, n)
		}
	}
	for _, p := range pods {
		if gone[p.Spec.NodeName] {
			c.log.Info("deleting pod of a deleted node", "pod", p.Namespace+"/"+p.Name, "node", p.Spec.NodeName)
			c.forceDelete(ctx, p, &corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
				Reason: "DeletionByPodGC", Message: "PodGC: node no longer exists"})
		}
	}
}

// unscheduledTerminating deletes terminating pods no node ever ran.
func (c *Controller) unscheduledTerminating(ctx context.Context, pods []*corev1.Pod) {
	for _, p := range pods {
		if p.DeletionTimestamp != nil && p.Spec.NodeName == "" {
			c.forceDelete(ctx, p, nil)
		}
	}
}

// outOfService deletes terminating pods on not-ready nodes an operator
// marked with the node.kubernetes.io/out-of-service taint.
func (c *Controller) outOfService(ctx context.Context, pods []*corev1.Pod) {
	for _, p := range pods {
		if p.DeletionTimestamp == nil || p.Spec.NodeName == "" {
			continue
		}
		node, err := c.nodes.Get(p.Spec.NodeName)
		if err != nil || !isOutOfService(node) {
			continue
		}
		c.forceDelete(ctx, p, &corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
			Reason: "DeletionByPodGC", Message: "PodGC: node is out-of-service"})
	}
}

func isOutOfService(node *corev1.Node) bool {
	ready := false
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			ready = cond.Status == corev1.ConditionTrue
		}
	}
	if ready {
		return false
	}
	for _, t := range node.Spec.Taints {
		if t.Key == corev1.TaintNodeOutOfService && t.Effect == corev1.TaintEffectNoExecute {
			return true
		}
	}
	return false
}

// forceDelete deletes a pod with no grace period, first marking an active
// pod Failed with cond as upstream does, so its controller sees why.
func (c *Controller) forceDelete(ctx context.Context, p *corev1.Pod, cond *corev1.PodCondition) {
	if cond != nil && !finished(p) {
		upd := p.DeepCopy()
		upd.Status.Phase = corev1.PodFailed
		cond.LastTransitionTime = metav1.NewTime(c.now())
		upd.Status.Conditions = append(upd.Status.Conditions, *cond)
		if _, err := c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			c.log.Warn("marking pod failed before deleting it", "pod", p.Namespace+"/"+p.Name, "err", err)
		}
	}
	err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64), Preconditions: &metav1.Preconditions{UID: &p.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && ctx.Err() == nil {
		c.log.Warn("deleting pod", "pod", p.Namespace+"/"+p.Name, "err", err)
	}
}
