// Package history holds the ControllerRevision helpers the StatefulSet and
// DaemonSet controllers share: what a revision stores (the pod template
// as the strategic-merge patch kubectl rollout undo applies), its hash and
// name, and the order of a history.
package history

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"

	"skiff/internal/controller/controllerutil"
)

// appsCodec encodes workloads as apps/v1, the form kubectl compares
// revisions against when it rolls back.
var appsCodec = scheme.Codecs.LegacyCodec(appsv1.SchemeGroupVersion)

// TemplatePatch is what a revision of obj (a StatefulSet or DaemonSet)
// stores: a strategic-merge patch replacing spec.template. kubectl rollout
// undo applies it as is and compares it byte for byte with the patch of
// the live object, so it is built the way kubectl builds it.
func TemplatePatch(obj runtime.Object) ([]byte, error) {
	raw, err := runtime.Encode(appsCodec, obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	spec, _ := m["spec"].(map[string]any)
	tmpl, _ := spec["template"].(map[string]any)
	if tmpl == nil {
		tmpl = map[string]any{}
	}
	tmpl["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": tmpl}})
}

// TemplateOf reads the pod template back out of a revision.
func TemplateOf(rev *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
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

// Hash hashes a revision's data and the collision count, if any.
func Hash(data []byte, collisionCount *int32) string {
	h := fnv.New32()
	h.Write(data)
	if collisionCount != nil {
		h.Write([]byte(strconv.FormatInt(int64(*collisionCount), 16)))
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// Name is <prefix>-<hash>, the prefix cut so the name stays a valid DNS
// subdomain.
func Name(prefix, hash string) string {
	if len(prefix) > 223 {
		prefix = prefix[:223]
	}
	return prefix + "-" + hash
}

// New builds revision number n of owner (of kind gvk) holding data: named
// after the owner and the hash, labelled with the template's labels plus
// hashLabel=<hash>, annotated like the owner, and controlled by it.
func New(owner metav1.Object, gvk schema.GroupVersionKind, templateLabels map[string]string, hashLabel string, data []byte, n int64, collisionCount *int32) *appsv1.ControllerRevision {
	hash := Hash(data, collisionCount)
	lbls := make(map[string]string, len(templateLabels)+1)
	for k, v := range templateLabels {
		lbls[k] = v
	}
	lbls[hashLabel] = hash
	var ann map[string]string
	if a := owner.GetAnnotations(); len(a) > 0 {
		ann = make(map[string]string, len(a))
		for k, v := range a {
			ann[k] = v
		}
	}
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            Name(owner.GetName(), hash),
			Namespace:       owner.GetNamespace(),
			Labels:          lbls,
			Annotations:     ann,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(owner, gvk)},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: n,
	}
}

// Sort orders revisions oldest first: by revision number, then creation
// time, then name.
func Sort(revs []*appsv1.ControllerRevision) {
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

// Patcher patches ControllerRevisions through client, for adoption.
func Patcher(client kubernetes.Interface) controllerutil.PatchFunc {
	return func(ctx context.Context, ns, name string, patch []byte) error {
		_, err := client.AppsV1().ControllerRevisions(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		return err
	}
}
