package daemonset

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	intstrutil "k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"
	podutil "k8s.io/kubectl/pkg/util/podutils"

	"skiff/internal/controller/controllerutil"
)

// nodeState is what one node holds of a DaemonSet.
type nodeState struct {
	node                      *corev1.Node
	shouldRun, shouldContinue bool
	// pods are the DaemonSet's live (not terminating) pods on the node,
	// oldest first.
	pods []*corev1.Pod
}

// sync reconciles one DaemonSet with the nodes.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	ds, err := c.sets.DaemonSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	if ds.DeletionTimestamp != nil {
		return nil
	}
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || sel.Empty() {
		// An empty selector would take every pod of the namespace.
		return nil
	}
	satisfied := c.exp.Satisfied(key)
	cur, old, err := c.revisionHistory(ctx, ds)
	if err != nil {
		return err
	}
	hash := revisionHash(cur)
	pods, err := c.daemonPods(ctx, ds, sel)
	if err != nil {
		return err
	}
	states, err := c.nodeStates(ds, pods)
	if err != nil {
		return err
	}
	if satisfied {
		changed, err := c.manage(ctx, key, ds, states, hash)
		if err != nil {
			return err
		}
		// A rollout step waits until the placement is settled.
		if !changed && ds.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType {
			if err := c.rollingUpdate(ctx, key, ds, states, hash); err != nil {
				return err
			}
		}
		if err := c.truncateHistory(ctx, ds, old, pods); err != nil {
			return err
		}
	}
	return c.updateStatus(ctx, key, ds, states, hash)
}

// daemonPods lists the pods the DaemonSet owns, adopting and releasing.
func (c *Controller) daemonPods(ctx context.Context, ds *appsv1.DaemonSet, sel labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.pods.Pods(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	return controllerutil.Claim(ctx, ds, dsKind, sel, all, controllerutil.PodPatcher(c.client))
}

// nodeStates says for every node whether the DaemonSet belongs there and
// which of its pods run there.
func (c *Controller) nodeStates(ds *appsv1.DaemonSet, pods []*corev1.Pod) ([]*nodeState, error) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	byNode := map[string][]*corev1.Pod{}
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if n, err := targetNode(p); err == nil {
			byNode[n] = append(byNode[n], p)
		}
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	states := make([]*nodeState, 0, len(nodes))
	for _, n := range nodes {
		st := &nodeState{node: n, pods: byNode[n.Name]}
		st.shouldRun, st.shouldContinue = placement(ds, n)
		sort.SliceStable(st.pods, func(i, j int) bool {
			return st.pods[i].CreationTimestamp.Before(&st.pods[j].CreationTimestamp)
		})
		states = append(states, st)
	}
	return states, nil
}

func surgeEnabled(ds *appsv1.DaemonSet) bool {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	return ds.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType && ru != nil && ru.MaxSurge != nil &&
		ru.MaxSurge.String() != "0" && ru.MaxSurge.String() != "0%"
}

// manage creates the missing daemon pods and deletes those that must go:
// on nodes the DaemonSet no longer fits, failed ones, and duplicates. It
// reports whether it changed anything.
func (c *Controller) manage(ctx context.Context, key string, ds *appsv1.DaemonSet, states []*nodeState, hash string) (bool, error) {
	var create []string
	var del []*corev1.Pod
	for _, st := range states {
		switch {
		case st.shouldRun && len(st.pods) == 0:
			create = append(create, st.node.Name)
		case st.shouldContinue:
			var running []*corev1.Pod
			for _, p := range st.pods {
				if p.Status.Phase == corev1.PodFailed {
					c.recorder.Eventf(ds, corev1.EventTypeWarning, reasonFailedDaemonPod, "Found failed daemon pod %s/%s on node %s, will try to kill it", p.Namespace, p.Name, st.node.Name)
					del = append(del, p)
					continue
				}
				running = append(running, p)
			}
			del = append(del, extraPods(ds, running, hash)...)
		default:
			del = append(del, st.pods...)
		}
	}
	if len(create)+len(del) == 0 {
		return false, nil
	}
	c.exp.Expect(key, len(create), len(del))
	err := errors.Join(c.deletePods(ctx, key, ds, del), c.createPods(ctx, key, ds, create, hash))
	return true, err
}

// extraPods picks the pods to delete when a node has more than one: all
// but the oldest, or, while surging, all but the oldest old pod and the
// newest updated one.
func extraPods(ds *appsv1.DaemonSet, pods []*corev1.Pod, hash string) []*corev1.Pod {
	if len(pods) <= 1 {
		return nil
	}
	if !surgeEnabled(ds) {
		return pods[1:]
	}
	var keepOld, keepNew *corev1.Pod
	for _, p := range pods {
		if revisionHash(p) == hash {
			keepNew = p // pods are oldest first: the last one wins
		} else if keepOld == nil {
			keepOld = p
		}
	}
	var out []*corev1.Pod
	for _, p := range pods {
		if p != keepOld && p != keepNew {
			out = append(out, p)
		}
	}
	return out
}

// split returns a node's newest updated pod and its oldest other pod.
func split(pods []*corev1.Pod, hash string) (newPod, oldPod *corev1.Pod) {
	for _, p := range pods {
		if revisionHash(p) == hash {
			newPod = p
		} else if oldPod == nil {
			oldPod = p
		}
	}
	return newPod, oldPod
}

// maxUnavailableAndSurge resolves the rolling update bounds against the
// number of nodes that should run the daemon (percentages round up).
func maxUnavailableAndSurge(ds *appsv1.DaemonSet, desired int) (int, int) {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	unavailable, surge := 1, 0
	if ru != nil && ru.MaxSurge != nil {
		if v, err := intstrutil.GetScaledValueFromIntOrPercent(ru.MaxSurge, desired, true); err == nil {
			surge = v
		}
	}
	if ru != nil && ru.MaxUnavailable != nil {
		if v, err := intstrutil.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, desired, true); err == nil {
			unavailable = v
		}
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1 // validation forbids both zero; be safe anyway
	}
	return unavailable, surge
}

// rollingUpdate replaces old pods within the DaemonSet's bounds: without
// surge, old pods are deleted while at most maxUnavailable nodes lack an
// available pod (manage then creates the new ones); with surge, new pods
// start beside old ones on at most maxSurge nodes and the old pod goes once
// the new one is available.
func (c *Controller) rollingUpdate(ctx context.Context, key string, ds *appsv1.DaemonSet, states []*nodeState, hash string) error {
	now := metav1.NewTime(c.now())
	available := func(p *corev1.Pod) bool { return podutil.IsPodAvailable(p, ds.Spec.MinReadySeconds, now) }
	desired := 0
	for _, st := range states {
		if st.shouldRun {
			desired++
		}
	}
	maxUnavailable, maxSurge := maxUnavailableAndSurge(ds, desired)
	var del []*corev1.Pod
	var create []string
	if maxSurge == 0 {
		unavailable := 0
		var mustGo, candidates []*corev1.Pod
		for _, st := range states {
			if !st.shouldRun {
				continue
			}
			newPod, oldPod := split(st.pods, hash)
			switch {
			case newPod == nil && oldPod == nil, newPod != nil && oldPod != nil:
				unavailable++ // manage sorts these out
			case newPod != nil:
				if !available(newPod) {
					unavailable++
				}
			case !available(oldPod):
				// Replacing a pod that does not serve costs nothing.
				mustGo = append(mustGo, oldPod)
			default:
				candidates = append(candidates, oldPod)
			}
		}
		budget := max(0, maxUnavailable-unavailable)
		budget = min(budget, len(candidates))
		del = append(mustGo, candidates[:budget]...)
	} else {
		surging := 0
		var candidates []string
		for _, st := range states {
			if !st.shouldRun {
				continue
			}
			newPod, oldPod := split(st.pods, hash)
			switch {
			case oldPod == nil:
				// Up to date or empty: manage's business.
			case newPod == nil && !available(oldPod):
				create = append(create, st.node.Name)
			case newPod == nil:
				candidates = append(candidates, st.node.Name)
			case available(newPod):
				del = append(del, oldPod)
			default:
				surging++
			}
		}
		budget := min(max(0, maxSurge-surging), len(candidates))
		create = append(create, candidates[:budget]...)
	}
	if len(del)+len(create) == 0 {
		return nil
	}
	c.exp.Expect(key, len(create), len(del))
	return errors.Join(c.deletePods(ctx, key, ds, del), c.createPods(ctx, key, ds, create, hash))
}

// createPods creates a daemon pod for each node, in batches that double
// while they succeed.
func (c *Controller) createPods(ctx context.Context, key string, ds *appsv1.DaemonSet, nodes []string, hash string) error {
	batch := 1
	for start := 0; start < len(nodes); start, batch = start+batch, batch*2 {
		end := min(start+batch, len(nodes))
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		for _, node := range nodes[start:end] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := c.client.CoreV1().Pods(ds.Namespace).Create(ctx, newPod(ds, node, hash), metav1.CreateOptions{})
				if err != nil {
					c.exp.Observed(key, true)
					if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
						c.recorder.Eventf(ds, corev1.EventTypeWarning, controllerutil.FailedCreate, "Error creating: %v", err)
					}
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				c.recorder.Eventf(ds, corev1.EventTypeNormal, controllerutil.SuccessfulCreate, "Created pod: %v", p.Name)
			}()
		}
		wg.Wait()
		if firstErr != nil {
			for range nodes[end:] {
				c.exp.Observed(key, true)
			}
			return firstErr
		}
	}
	return nil
}

// deletePods deletes daemon pods.
func (c *Controller) deletePods(ctx context.Context, key string, ds *appsv1.DaemonSet, pods []*corev1.Pod) error {
	var wg sync.WaitGroup
	errs := make([]error, len(pods))
	for i, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
			switch {
			case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
				c.exp.Observed(key, false)
			case err != nil:
				c.exp.Observed(key, false)
				c.recorder.Eventf(ds, corev1.EventTypeWarning, controllerutil.FailedDelete, "Error deleting: %v", err)
				errs[i] = err
			default:
				c.recorder.Eventf(ds, corev1.EventTypeNormal, controllerutil.SuccessfulDelete, "Deleted pod: %v", p.Name)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// updateStatus writes the DaemonSet's counts and asks for another look
// when a ready pod is about to become available.
func (c *Controller) updateStatus(ctx context.Context, key string, ds *appsv1.DaemonSet, states []*nodeState, hash string) error {
	now := metav1.NewTime(c.now())
	st := ds.Status.DeepCopy()
	var desired, current, ready, available, updated, misscheduled int32
	waitAvailable := false
	for _, s := range states {
		if !s.shouldRun {
			if len(s.pods) > 0 {
				misscheduled++
			}
			continue
		}
		desired++
		if len(s.pods) == 0 {
			continue
		}
		current++
		newPod, oldPod := split(s.pods, hash)
		p := oldPod
		if newPod != nil {
			p = newPod
			updated++
		}
		if podutil.IsPodReady(p) {
			ready++
			if podutil.IsPodAvailable(p, ds.Spec.MinReadySeconds, now) {
				available++
			} else {
				waitAvailable = true
			}
		}
	}
	st.DesiredNumberScheduled, st.CurrentNumberScheduled, st.NumberMisscheduled = desired, current, misscheduled
	st.NumberReady, st.NumberAvailable, st.UpdatedNumberScheduled = ready, available, updated
	st.NumberUnavailable = max(0, desired-available)
	st.ObservedGeneration = ds.Generation
	if !equality.Semantic.DeepEqual(&ds.Status, st) {
		updatedDS := ds.DeepCopy()
		updatedDS.Status = *st
		_, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, updatedDS, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			// A newer DaemonSet is on its way through the informer.
			return nil
		}
		if err != nil {
			return err
		}
	}
	if waitAvailable && ds.Spec.MinReadySeconds > 0 {
		c.queue.AddAfter(key, time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	return nil
}
