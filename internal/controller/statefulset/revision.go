package statefulset

import (
	"bytes"
	"context"
	"fmt"
	"skiff/internal/controller/history"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// revisionHashLabel carries the hash of a ControllerRevision's data.
const revisionHashLabel = "controller.kubernetes.io/hash"

// newRevision builds the revision number n of set's current template.
func newRevision(set *appsv1.StatefulSet, n int64, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	data, err := history.TemplatePatch(set)
	if err != nil {
		return nil, err
	}
	return history.New(set, controllerKind, set.Spec.Template.Labels, revisionHashLabel, data, n, collisionCount), nil
}

// revisions works out the current and update revisions of set from its
// sorted revs, creating the update revision or renumbering an earlier
// equal one (a rollback) as needed. It returns the collision count to
// record: a different revision already holding the wanted name bumps it.
func (c *Controller) revisions(ctx context.Context, set *appsv1.StatefulSet, revs []*appsv1.ControllerRevision) (current, update *appsv1.ControllerRevision, collisionCount int32, err error) {
	if set.Status.CollisionCount != nil {
		collisionCount = *set.Status.CollisionCount
	}
	next := int64(1)
	if len(revs) > 0 {
		next = revs[len(revs)-1].Revision + 1
	}
	want, err := newRevision(set, next, &collisionCount)
	if err != nil {
		return nil, nil, collisionCount, err
	}
	var equal []*appsv1.ControllerRevision
	for _, r := range revs {
		if bytes.Equal(r.Data.Raw, want.Data.Raw) {
			equal = append(equal, r)
		}
	}
	switch {
	case len(equal) > 0 && equal[len(equal)-1] == revs[len(revs)-1]:
		update = equal[len(equal)-1]
	case len(equal) > 0:
		// Going back to an earlier template: it becomes the newest revision.
		r := equal[len(equal)-1].DeepCopy()
		r.Revision = next
		if update, err = c.client.AppsV1().ControllerRevisions(set.Namespace).Update(ctx, r, metav1.UpdateOptions{}); err != nil {
			return nil, nil, collisionCount, err
		}
	default:
		update, err = c.client.AppsV1().ControllerRevisions(set.Namespace).Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			existing, gerr := c.client.AppsV1().ControllerRevisions(set.Namespace).Get(ctx, want.Name, metav1.GetOptions{})
			if gerr != nil {
				return nil, nil, collisionCount, gerr
			}
			if metav1.IsControlledBy(existing, set) && bytes.Equal(existing.Data.Raw, want.Data.Raw) {
				// Ours, not yet in the cache.
				update, err = existing, nil
			} else {
				collisionCount++
				return nil, nil, collisionCount, fmt.Errorf("revision name %s collides with a different revision", want.Name)
			}
		}
		if err != nil {
			return nil, nil, collisionCount, err
		}
	}
	for _, r := range revs {
		if r.Name == set.Status.CurrentRevision {
			current = r
			break
		}
	}
	if current == nil {
		current = update
	}
	return current, update, collisionCount, nil
}

// truncateHistory deletes the oldest revisions beyond
// revisionHistoryLimit that neither a pod nor the set's status uses.
func (c *Controller) truncateHistory(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, revs []*appsv1.ControllerRevision, current, update *appsv1.ControllerRevision) error {
	live := map[string]bool{current.Name: true, update.Name: true}
	for _, p := range pods {
		live[revisionOf(p)] = true
	}
	var unused []*appsv1.ControllerRevision
	for _, r := range revs {
		if !live[r.Name] {
			unused = append(unused, r)
		}
	}
	limit := 10
	if set.Spec.RevisionHistoryLimit != nil {
		limit = int(*set.Spec.RevisionHistoryLimit)
	}
	for i := 0; i < len(unused)-limit; i++ {
		err := c.client.AppsV1().ControllerRevisions(set.Namespace).Delete(ctx, unused[i].Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}
