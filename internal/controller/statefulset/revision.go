package statefulset

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes/scheme"
)

// revisionHashLabel carries the hash of a ControllerRevision's data.
const revisionHashLabel = "controller.kubernetes.io/hash"

// appsCodec encodes sets as apps/v1, the form kubectl compares revisions
// against when it rolls back.
var appsCodec = scheme.Codecs.LegacyCodec(appsv1.SchemeGroupVersion)

// templatePatch returns what a revision of set stores: a strategic-merge
// patch replacing spec.template. kubectl rollout undo applies it as is and
// compares it byte for byte with the patch of the live set, so it is built
// the way kubectl builds it.
func templatePatch(set *appsv1.StatefulSet) ([]byte, error) {
	raw, err := runtime.Encode(appsCodec, set)
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	spec, _ := obj["spec"].(map[string]any)
	tmpl, _ := spec["template"].(map[string]any)
	if tmpl == nil {
		tmpl = map[string]any{}
	}
	tmpl["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": tmpl}})
}

// templateOf reads the pod template back out of a revision.
func templateOf(rev *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
	var p struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(rev.Data.Raw, &p); err != nil {
		return nil, fmt.Errorf("revision %s: %w", rev.Name, err)
	}
	return &p.Spec.Template, nil
}

// hashRevision hashes a revision's data and the collision count, if any.
func hashRevision(data []byte, collisionCount *int32) string {
	h := fnv.New32()
	h.Write(data)
	if collisionCount != nil {
		h.Write([]byte(strconv.FormatInt(int64(*collisionCount), 16)))
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// revisionName is <prefix>-<hash>, the prefix cut so the name stays a
// valid DNS subdomain.
func revisionName(prefix, hash string) string {
	if len(prefix) > 223 {
		prefix = prefix[:223]
	}
	return prefix + "-" + hash
}

// newRevision builds the revision number n of set's current template.
func newRevision(set *appsv1.StatefulSet, n int64, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	data, err := templatePatch(set)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{}
	for k, v := range set.Spec.Template.Labels {
		labels[k] = v
	}
	hash := hashRevision(data, collisionCount)
	labels[revisionHashLabel] = hash
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            revisionName(set.Name, hash),
			Namespace:       set.Namespace,
			Labels:          labels,
			Annotations:     copyAnnotations(set.Annotations),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: n,
	}, nil
}

func copyAnnotations(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortRevisions(revs []*appsv1.ControllerRevision) {
	sort.SliceStable(revs, func(i, j int) bool {
		if revs[i].Revision != revs[j].Revision {
			return revs[i].Revision < revs[j].Revision
		}
		if !revs[i].CreationTimestamp.Equal(&revs[j].CreationTimestamp) {
			return revs[i].CreationTimestamp.Before(&revs[j].CreationTimestamp)
		}
		return revs[i].Name < revs[j].Name
	})
}

// revisions works out the current and update revisions of set from its
// sorted history, creating the update revision or renumbering an earlier
// equal one (a rollback) as needed. It returns the collision count to
// record: a different revision already holding the wanted name bumps it.
func (c *Controller) revisions(ctx context.Context, set *appsv1.StatefulSet, history []*appsv1.ControllerRevision) (current, update *appsv1.ControllerRevision, collisionCount int32, err error) {
	if set.Status.CollisionCount != nil {
		collisionCount = *set.Status.CollisionCount
	}
	next := int64(1)
	if len(history) > 0 {
		next = history[len(history)-1].Revision + 1
	}
	want, err := newRevision(set, next, &collisionCount)
	if err != nil {
		return nil, nil, collisionCount, err
	}
	var equal []*appsv1.ControllerRevision
	for _, r := range history {
		if bytes.Equal(r.Data.Raw, want.Data.Raw) {
			equal = append(equal, r)
		}
	}
	switch {
	case len(equal) > 0 && equal[len(equal)-1] == history[len(history)-1]:
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
	for _, r := range history {
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
func (c *Controller) truncateHistory(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, history []*appsv1.ControllerRevision, current, update *appsv1.ControllerRevision) error {
	live := map[string]bool{current.Name: true, update.Name: true}
	for _, p := range pods {
		live[revisionOf(p)] = true
	}
	var unused []*appsv1.ControllerRevision
	for _, r := range history {
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
