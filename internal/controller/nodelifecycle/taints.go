package nodelifecycle

import (
	"context"
	"slices"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// conditionTaintKeys are the NoSchedule taints this controller owns.
var conditionTaintKeys = []string{
	corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable, corev1.TaintNodeMemoryPressure,
	corev1.TaintNodeDiskPressure, corev1.TaintNodePIDPressure, corev1.TaintNodeNetworkUnavailable,
	corev1.TaintNodeUnschedulable,
}

// conditionTaints are the NoSchedule taints a node's conditions call for.
func conditionTaints(node *corev1.Node) []string {
	var keys []string
	if r := condition(node, corev1.NodeReady); r != nil {
		switch r.Status {
		case corev1.ConditionFalse:
			keys = append(keys, corev1.TaintNodeNotReady)
		case corev1.ConditionUnknown:
			keys = append(keys, corev1.TaintNodeUnreachable)
		}
	}
	for t, key := range map[corev1.NodeConditionType]string{
		corev1.NodeMemoryPressure:     corev1.TaintNodeMemoryPressure,
		corev1.NodeDiskPressure:       corev1.TaintNodeDiskPressure,
		corev1.NodePIDPressure:        corev1.TaintNodePIDPressure,
		corev1.NodeNetworkUnavailable: corev1.TaintNodeNetworkUnavailable,
	} {
		if cond := condition(node, t); cond != nil && cond.Status == corev1.ConditionTrue {
			keys = append(keys, key)
		}
	}
	if node.Spec.Unschedulable {
		keys = append(keys, corev1.TaintNodeUnschedulable)
	}
	return keys
}

// syncTaints keeps a node's NoSchedule condition taints in step with its
// conditions and spec.unschedulable.
func (c *Controller) syncTaints(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	want := conditionTaints(node)
	taints := make([]corev1.Taint, 0, len(node.Spec.Taints)+len(want))
	changed := false
	for _, t := range node.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule && slices.Contains(conditionTaintKeys, t.Key) && !slices.Contains(want, t.Key) {
			changed = true
			continue
		}
		taints = append(taints, t)
	}
	for _, key := range want {
		if !hasTaint(taints, key, corev1.TaintEffectNoSchedule) {
			taints = append(taints, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule})
			changed = true
		}
	}
	if !changed {
		return nil
	}
	_, err = c.writeTaints(ctx, node, taints)
	return err
}

// writeTaints replaces the node's taints; written is false when the node
// changed or went away meanwhile (the informer brings it back to us).
func (c *Controller) writeTaints(ctx context.Context, node *corev1.Node, taints []corev1.Taint) (written bool, err error) {
	upd := node.DeepCopy()
	upd.Spec.Taints = taints
	_, err = c.client.CoreV1().Nodes().Update(ctx, upd, metav1.UpdateOptions{})
	switch {
	case apierrors.IsConflict(err):
		c.queue.Add(node.Name)
		return false, nil
	case apierrors.IsNotFound(err):
		return false, nil
	}
	return err == nil, err
}

func hasTaint(taints []corev1.Taint, key string, effect corev1.TaintEffect) bool {
	for _, t := range taints {
		if t.Key == key && t.Effect == effect {
			return true
		}
	}
	return false
}

// notReady says whether a node's Ready condition is anything but True.
func notReady(node *corev1.Node) bool {
	r := condition(node, corev1.NodeReady)
	return r == nil || r.Status != corev1.ConditionTrue
}

// evictionTaints keeps the NoExecute not-ready and unreachable taints in
// step with each node's Ready condition. New taints are added at a rate
// per zone that depends on how disrupted the zone is; when every zone is
// fully disrupted the fault is taken to be the control plane's own
// network, and the taints are removed rather than added.
func (c *Controller) evictionTaints(ctx context.Context, nodes []*corev1.Node) {
	type zone struct{ total, notReady int }
	zones := map[string]*zone{}
	for _, n := range nodes {
		z := zones[zoneOf(n)]
		if z == nil {
			z = &zone{}
			zones[zoneOf(n)] = z
		}
		z.total++
		if notReady(n) {
			z.notReady++
		}
	}
	allDown := len(zones) > 0
	for _, z := range zones {
		allDown = allDown && z.notReady == z.total
	}
	for name, z := range zones {
		r := c.cfg.EvictionRate
		if z.notReady > 2 && float64(z.notReady)/float64(z.total) >= c.cfg.UnhealthyZoneThreshold && z.notReady < z.total {
			r = 0 // partial disruption
			if z.total > c.cfg.LargeClusterSizeThreshold {
				r = c.cfg.SecondaryEvictionRate
			}
		}
		c.mu.Lock()
		l := c.limiters[name]
		if l == nil {
			l = rate.NewLimiter(rate.Limit(r), 1)
			c.limiters[name] = l
		} else if l.Limit() != rate.Limit(r) {
			l.SetLimit(rate.Limit(r))
		}
		c.mu.Unlock()
	}
	for _, n := range nodes {
		var want string
		if r := condition(n, corev1.NodeReady); !allDown && r != nil {
			switch r.Status {
			case corev1.ConditionFalse:
				want = corev1.TaintNodeNotReady
			case corev1.ConditionUnknown:
				want = corev1.TaintNodeUnreachable
			}
		}
		had := ""
		var taints []corev1.Taint
		for _, t := range n.Spec.Taints {
			if t.Effect == corev1.TaintEffectNoExecute && (t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable) {
				if t.Key == want {
					taints = append(taints, t)
				}
				had = t.Key
				continue
			}
			taints = append(taints, t)
		}
		if had == want && hasTaint(n.Spec.Taints, want, corev1.TaintEffectNoExecute) || (want == "" && had == "") {
			continue
		}
		var turn *rate.Limiter
		if want != "" && !hasTaint(taints, want, corev1.TaintEffectNoExecute) {
			// A fresh taint (not a swap between the two) waits its turn.
			// The turn is taken only once the write held: one lost to a
			// concurrent update is retried on the next pass.
			if had == "" {
				c.mu.Lock()
				turn = c.limiters[zoneOf(n)]
				c.mu.Unlock()
				if turn.Limit() == 0 || turn.Tokens() < 1 {
					continue
				}
			}
			now := metav1.NewTime(c.now())
			taints = append(taints, corev1.Taint{Key: want, Effect: corev1.TaintEffectNoExecute, TimeAdded: &now})
		}
		written, err := c.writeTaints(ctx, n, taints)
		if written && turn != nil {
			turn.Allow()
		}
		switch {
		case err != nil && ctx.Err() == nil:
			c.log.Warn("updating NoExecute taints", "node", n.Name, "err", err)
		case written && want != "":
			c.log.Info("tainted node for eviction", "node", n.Name, "taint", want)
		}
	}
}
