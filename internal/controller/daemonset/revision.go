package daemonset

import (
	"bytes"
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"skiff/internal/controller/controllerutil"
	"skiff/internal/controller/history"
)

// revisionHistory returns the DaemonSet's revisions (oldest first) and the
// current one, creating it or renumbering an earlier equal one (a
// rollback) so that it is the newest.
func (c *Controller) revisionHistory(ctx context.Context, ds *appsv1.DaemonSet) (cur *appsv1.ControllerRevision, old []*appsv1.ControllerRevision, err error) {
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return nil, nil, err
	}
	all, err := c.revisions.ControllerRevisions(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, nil, err
	}
	revs, err := controllerutil.Claim(ctx, ds, dsKind, sel, all, history.Patcher(c.client))
	if err != nil {
		return nil, nil, err
	}
	history.Sort(revs)
	data, err := history.TemplatePatch(ds)
	if err != nil {
		return nil, nil, err
	}
	next := int64(1)
	if len(revs) > 0 {
		next = revs[len(revs)-1].Revision + 1
	}
	for _, r := range revs {
		if bytes.Equal(r.Data.Raw, data) {
			cur = r // the last equal one wins
		}
	}
	for _, r := range revs {
		if r != cur {
			old = append(old, r)
		}
	}
	switch {
	case cur != nil && cur == revs[len(revs)-1]:
		return cur, old, nil
	case cur != nil:
		r := cur.DeepCopy()
		r.Revision = next
		cur, err = c.client.AppsV1().ControllerRevisions(ds.Namespace).Update(ctx, r, metav1.UpdateOptions{})
		return cur, old, err
	}
	want := history.New(ds, dsKind, ds.Spec.Template.Labels, appsv1.DefaultDaemonSetUniqueLabelKey, data, next, ds.Status.CollisionCount)
	cur, err = c.client.AppsV1().ControllerRevisions(ds.Namespace).Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		existing, gerr := c.client.AppsV1().ControllerRevisions(ds.Namespace).Get(ctx, want.Name, metav1.GetOptions{})
		if gerr != nil {
			return nil, nil, gerr
		}
		if metav1.IsControlledBy(existing, ds) && bytes.Equal(existing.Data.Raw, data) {
			return existing, old, nil // ours, not yet in the cache
		}
		// Another revision holds the name: a new collision count gives a
		// new hash on the next sync.
		n := int32(0)
		if ds.Status.CollisionCount != nil {
			n = *ds.Status.CollisionCount
		}
		n++
		updated := ds.DeepCopy()
		updated.Status.CollisionCount = &n
		if _, uerr := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); uerr != nil {
			return nil, nil, uerr
		}
		return nil, nil, fmt.Errorf("revision name %s of daemonset %s/%s collides, collision count now %d", want.Name, ds.Namespace, ds.Name, n)
	}
	return cur, old, err
}

// revisionHash is the hash label of a revision or a pod.
func revisionHash(obj metav1.Object) string {
	return obj.GetLabels()[appsv1.DefaultDaemonSetUniqueLabelKey]
}

// truncateHistory deletes the oldest revisions beyond
// revisionHistoryLimit (default 10) that no pod still uses.
func (c *Controller) truncateHistory(ctx context.Context, ds *appsv1.DaemonSet, old []*appsv1.ControllerRevision, pods []*corev1.Pod) error {
	inUse := map[string]bool{}
	for _, p := range pods {
		inUse[revisionHash(p)] = true
	}
	var unused []*appsv1.ControllerRevision
	for _, r := range old {
		if h := revisionHash(r); h == "" || !inUse[h] {
			unused = append(unused, r)
		}
	}
	limit := 10
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = int(*ds.Spec.RevisionHistoryLimit)
	}
	for i := 0; i < len(unused)-limit; i++ {
		err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Delete(ctx, unused[i].Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}
