package statefulset

import (
	"context"
	"fmt"
	"skiff/internal/controller/history"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// reconcile brings set's pods one step closer to what it asks for and
// returns the status to record and when to look again (0: on events).
// OrderedReady sets move one pod at a time and stop at the first pod that
// is not yet running and ready; Parallel sets act on every pod at once.
func (c *Controller) reconcile(ctx context.Context, key string, set *appsv1.StatefulSet, pods []*corev1.Pod, current, update *appsv1.ControllerRevision, collisionCount int32) (*appsv1.StatefulSetStatus, time.Duration, error) {
	now := time.Now()
	status := computeStatus(set, pods, current, update, collisionCount, now)
	var requeue time.Duration
	if set.Spec.MinReadySeconds > 0 && status.ReadyReplicas != status.AvailableReplicas {
		requeue = time.Duration(set.Spec.MinReadySeconds) * time.Second
	}
	if set.DeletionTimestamp != nil {
		return status, requeue, nil
	}
	currentTmpl, err := history.TemplateOf(current)
	if err != nil {
		return status, requeue, err
	}
	updateTmpl, err := history.TemplateOf(update)
	if err != nil {
		return status, requeue, err
	}

	start, n := startOrdinal(set), replicasOf(set)
	replicas := make([]*corev1.Pod, n)
	var condemned []*corev1.Pod
	for _, p := range pods {
		if o := ordinalOf(set, p); inRange(set, o) {
			replicas[o-start] = p
		} else {
			condemned = append(condemned, p)
		}
	}
	// Scale down removes the highest ordinal first.
	sort.Slice(condemned, func(i, j int) bool { return ordinalOf(set, condemned[i]) > ordinalOf(set, condemned[j]) })
	monotonic := set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement

	for i, p := range replicas {
		ordinal := start + i
		switch {
		case p == nil:
			tmpl, rev := updateTmpl, update.Name
			if useCurrentRevision(set, ordinal) {
				tmpl, rev = currentTmpl, current.Name
			}
			if err := c.createPod(ctx, key, set, newPod(set, tmpl, rev, ordinal), ordinal); err != nil {
				return status, requeue, err
			}
			if monotonic {
				return status, requeue, nil
			}
			continue
		case isTerminating(p):
			// Re-created under the same name once it is gone.
			if monotonic {
				return status, requeue, nil
			}
			continue
		case isFinished(p):
			// A failed (or completed) pod is replaced.
			if err := c.deletePod(ctx, key, set, p); err != nil {
				return status, requeue, err
			}
			if monotonic {
				return status, requeue, nil
			}
			continue
		}
		if err := c.ensureClaims(ctx, set, p, ordinal, false); err != nil {
			return status, requeue, err
		}
		if monotonic && !isRunningAndReady(p) {
			return status, requeue, nil
		}
		if monotonic && !isRunningAndAvailable(p, set.Spec.MinReadySeconds, now) {
			return status, time.Duration(set.Spec.MinReadySeconds) * time.Second, nil
		}
	}

	// Lowest-ordinal unhealthy condemned pod: the only unhealthy one an
	// ordered scale down may remove.
	var firstUnhealthy *corev1.Pod
	for i := len(condemned) - 1; i >= 0; i-- {
		if !isRunningAndReady(condemned[i]) {
			firstUnhealthy = condemned[i]
			break
		}
	}
	for _, p := range condemned {
		if isTerminating(p) {
			if monotonic {
				return status, requeue, nil
			}
			continue
		}
		if monotonic && !isRunningAndReady(p) && p != firstUnhealthy {
			return status, requeue, nil
		}
		if err := c.ensureClaims(ctx, set, p, ordinalOf(set, p), true); err != nil {
			return status, requeue, err
		}
		if err := c.deletePod(ctx, key, set, p); err != nil {
			return status, requeue, err
		}
		if monotonic {
			return status, requeue, nil
		}
	}

	if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return status, requeue, nil
	}
	partition, maxUnavailable := rollingParams(set, n)
	unavailable := 0
	for _, p := range replicas {
		if p == nil || !isHealthy(p) || !isRunningAndAvailable(p, set.Spec.MinReadySeconds, now) {
			unavailable++
		}
	}
	// Replace outdated pods from the highest ordinal down to the
	// partition, keeping at most maxUnavailable pods unavailable.
	for i := n - 1; i >= partition && unavailable < maxUnavailable; i-- {
		p := replicas[i]
		if p == nil || isTerminating(p) || revisionOf(p) == update.Name {
			continue
		}
		if err := c.deletePod(ctx, key, set, p); err != nil {
			return status, requeue, err
		}
		unavailable++
	}
	return status, requeue, nil
}

// useCurrentRevision says whether the pod of ordinal, when (re-)created,
// stays at the current revision: below the partition of a rolling update
// (or, without one, among the pods not yet updated).
func useCurrentRevision(set *appsv1.StatefulSet, ordinal int) bool {
	if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return false
	}
	ru := set.Spec.UpdateStrategy.RollingUpdate
	if ru == nil {
		return ordinal < startOrdinal(set)+int(set.Status.CurrentReplicas)
	}
	partition := 0
	if ru.Partition != nil {
		partition = int(*ru.Partition)
	}
	return ordinal < startOrdinal(set)+partition
}

// rollingParams returns the index of the lowest pod a rolling update
// replaces and how many pods it may have unavailable (at least one).
func rollingParams(set *appsv1.StatefulSet, n int) (partition, maxUnavailable int) {
	maxUnavailable = 1
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		if ru.Partition != nil {
			partition = int(*ru.Partition)
		}
		if ru.MaxUnavailable != nil {
			if v, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, n, false); err == nil && v > 1 {
				maxUnavailable = v
			}
		}
	}
	if partition < 0 {
		partition = 0
	}
	return partition, maxUnavailable
}

// computeStatus counts set's pods as they are now.
func computeStatus(set *appsv1.StatefulSet, pods []*corev1.Pod, current, update *appsv1.ControllerRevision, collisionCount int32, now time.Time) *appsv1.StatefulSetStatus {
	st := set.Status.DeepCopy()
	st.ObservedGeneration = set.Generation
	st.CurrentRevision = current.Name
	st.UpdateRevision = update.Name
	st.CollisionCount = &collisionCount
	st.Replicas, st.ReadyReplicas, st.AvailableReplicas, st.CurrentReplicas, st.UpdatedReplicas = 0, 0, 0, 0, 0
	for _, p := range pods {
		if isCreated(p) {
			st.Replicas++
		}
		if isRunningAndReady(p) {
			st.ReadyReplicas++
			if isRunningAndAvailable(p, set.Spec.MinReadySeconds, now) {
				st.AvailableReplicas++
			}
		}
		if isCreated(p) && !isTerminating(p) {
			if revisionOf(p) == current.Name {
				st.CurrentReplicas++
			}
			if revisionOf(p) == update.Name {
				st.UpdatedReplicas++
			}
		}
	}
	// A finished rolling update makes the update revision current.
	if set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType &&
		st.UpdatedReplicas == st.Replicas && st.ReadyReplicas == st.Replicas {
		st.CurrentReplicas = st.UpdatedReplicas
		st.CurrentRevision = st.UpdateRevision
	}
	return st
}

// createPod creates pod's claims and then pod.
func (c *Controller) createPod(ctx context.Context, key string, set *appsv1.StatefulSet, pod *corev1.Pod, ordinal int) error {
	if err := c.ensureClaims(ctx, set, pod, ordinal, false); err != nil {
		c.podEvent(set, "Create", pod, err)
		return err
	}
	c.expectCreate(key, pod.Name)
	_, err := c.client.CoreV1().Pods(set.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// Still going, or not yet in the cache: its events requeue us.
		c.forgetCreate(key, pod.Name)
		return nil
	}
	if err != nil {
		c.forgetCreate(key, pod.Name)
	}
	c.podEvent(set, "Create", pod, err)
	return err
}

func (c *Controller) forgetCreate(key, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.pending[key]; p != nil {
		delete(p.creates, name)
	}
}

// deletePod deletes pod, precondition on its uid so that a replacement of
// the same name is never hit.
func (c *Controller) deletePod(ctx context.Context, key string, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	c.expectDelete(key, pod)
	uid := pod.UID
	err := c.client.CoreV1().Pods(set.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	c.podEvent(set, "Delete", pod, err)
	return err
}

// ensureClaims creates the missing claims of the pod of ordinal and keeps
// the owner references of its claims in line with the retention policy.
// scaledDown says the pod is about to be removed by a scale down.
func (c *Controller) ensureClaims(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod, ordinal int, scaledDown bool) error {
	for _, want := range claimsFor(set, ordinal) {
		existing, err := c.claims.PersistentVolumeClaims(set.Namespace).Get(want.Name)
		if apierrors.IsNotFound(err) {
			if scaledDown {
				continue
			}
			want.OwnerReferences, _ = claimOwners(want.OwnerReferences, set, pod, false)
			_, err = c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Create(ctx, want, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			c.claimEvent(set, "Create", pod, want, err)
			if err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if existing.DeletionTimestamp != nil && pod.UID == "" {
			return fmt.Errorf("pod %s: PVC %s is being deleted", pod.Name, existing.Name)
		}
		refs, changed := claimOwners(existing.OwnerReferences, set, pod, scaledDown)
		if !changed || existing.DeletionTimestamp != nil {
			continue
		}
		upd := existing.DeepCopy()
		upd.OwnerReferences = refs
		if _, err := c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Update(ctx, upd, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// claimOwners returns the owner references a claim should have under the
// set's retention policy: the set owns it when whenDeleted is Delete (so
// the garbage collector removes it with the set), and a pod being scaled
// away owns it when whenScaled is Delete (so it goes with the pod).
func claimOwners(refs []metav1.OwnerReference, set *appsv1.StatefulSet, pod *corev1.Pod, scaledDown bool) ([]metav1.OwnerReference, bool) {
	whenDeleted, whenScaled := appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	if p := set.Spec.PersistentVolumeClaimRetentionPolicy; p != nil {
		if p.WhenDeleted != "" {
			whenDeleted = p.WhenDeleted
		}
		if p.WhenScaled != "" {
			whenScaled = p.WhenScaled
		}
	}
	del := appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	setOwns := whenDeleted == del && !(scaledDown && whenScaled == del)
	podOwns := scaledDown && whenScaled == del && pod.UID != ""
	out, changed := withOwner(refs, metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: set.Name, UID: set.UID}, setOwns)
	if pod.UID != "" {
		var ch bool
		out, ch = withOwner(out, metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID}, podOwns)
		changed = changed || ch
	}
	return out, changed
}

// withOwner adds ref to refs (want) or removes any reference to its uid.
func withOwner(refs []metav1.OwnerReference, ref metav1.OwnerReference, want bool) ([]metav1.OwnerReference, bool) {
	has := false
	var out []metav1.OwnerReference
	for _, r := range refs {
		if r.UID == ref.UID {
			has = true
			if !want {
				continue
			}
		}
		out = append(out, r)
	}
	if want && !has {
		out = append(out, ref)
	}
	return out, has != want
}
