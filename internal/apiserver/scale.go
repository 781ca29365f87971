package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
)

var scaleGVK = autoscalingv1.SchemeGroupVersion.WithKind("Scale")

// scaleOf reads the Scale view of a scalable object.
func scaleOf(obj runtime.Object) (*autoscalingv1.Scale, error) {
	sc := &autoscalingv1.Scale{}
	setKind(sc, scaleGVK)
	var replicas *int32
	var selector string
	switch o := obj.(type) {
	case *appsv1.Deployment:
		sc.ObjectMeta, replicas, sc.Status.Replicas = o.ObjectMeta, o.Spec.Replicas, o.Status.Replicas
		selector = selectorString(o.Spec.Selector)
	case *appsv1.ReplicaSet:
		sc.ObjectMeta, replicas, sc.Status.Replicas = o.ObjectMeta, o.Spec.Replicas, o.Status.Replicas
		selector = selectorString(o.Spec.Selector)
	case *appsv1.StatefulSet:
		sc.ObjectMeta, replicas, sc.Status.Replicas = o.ObjectMeta, o.Spec.Replicas, o.Status.Replicas
		selector = selectorString(o.Spec.Selector)
	case *corev1.ReplicationController:
		sc.ObjectMeta, replicas, sc.Status.Replicas = o.ObjectMeta, o.Spec.Replicas, o.Status.Replicas
		selector = labels.SelectorFromSet(o.Spec.Selector).String()
	case *unstructured.Unstructured:
		res := customResourceFor(o)
		if res == nil {
			return nil, fmt.Errorf("%s has no scale subresource", o.GetKind())
		}
		om, err := objectMetaOf(o)
		if err != nil {
			return nil, err
		}
		var n int32
		sc.ObjectMeta = *om
		n, sc.Status.Replicas, selector = customScale(o, res)
		replicas = &n
	default:
		return nil, fmt.Errorf("%T has no scale subresource", obj)
	}
	sc.ObjectMeta = metav1.ObjectMeta{Name: sc.Name, Namespace: sc.Namespace, UID: sc.UID, ResourceVersion: sc.ResourceVersion, CreationTimestamp: sc.CreationTimestamp}
	if replicas != nil {
		sc.Spec.Replicas = *replicas
	}
	sc.Status.Selector = selector
	return sc, nil
}

func selectorString(ls *metav1.LabelSelector) string {
	if ls == nil {
		return ""
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return ""
	}
	return sel.String()
}

func setReplicas(obj runtime.Object, n int32) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o.Spec.Replicas = &n
	case *appsv1.ReplicaSet:
		o.Spec.Replicas = &n
	case *appsv1.StatefulSet:
		o.Spec.Replicas = &n
	case *corev1.ReplicationController:
		o.Spec.Replicas = &n
	case *unstructured.Unstructured:
		if res := customResourceFor(o); res != nil {
			_ = unstructured.SetNestedField(o.Object, int64(n), jsonPathParts(res.Strategy.SpecReplicasPath)...)
		}
	}
}

// serveScale serves GET, PUT and PATCH of the scale subresource.
func (s *Server) serveScale(q *request) {
	// Writes record their managed fields as the scale subresource's.
	ctx := withFieldManagement(q.r.Context(), &fieldManagement{subresource: "scale"})
	switch q.verb {
	case "get":
		obj, err := s.store.Get(ctx, storageKey(q.res, q.namespace, q.name))
		if err != nil {
			s.writeError(q.w, q.r, toStatusError(err, q.gr(), q.name))
			return
		}
		sc, err := scaleOf(obj)
		if err != nil {
			s.writeError(q.w, q.r, err)
			return
		}
		s.writeObject(q, http.StatusOK, sc)
		return
	case "update", "patch":
	default:
		s.writeError(q.w, q.r, methodNotSupported(q.gr(), q.verb))
		return
	}
	if err := validateDryRun(q); err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	var body []byte
	var info runtime.SerializerInfo
	var pt types.PatchType
	if q.verb == "update" {
		var err error
		if info, _, err = requestSerializer(q.r); err != nil {
			s.writeError(q.w, q.r, err)
			return
		}
	} else {
		mt, _, _ := mime.ParseMediaType(q.r.Header.Get("Content-Type"))
		pt = types.PatchType(mt)
		switch pt {
		case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType:
			if err := validatePatchOptions(q); err != nil {
				s.writeError(q.w, q.r, err)
				return
			}
		case types.ApplyYAMLPatchType:
		default:
			s.writeError(q.w, q.r, unsupportedMediaType(mt))
			return
		}
		info, _ = serializerFor(mediaJSON)
	}
	body, err := readBody(q)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	// The scale write is an update of the main object's spec.replicas.
	main := *q
	main.subresource, main.viaSubresource = "", q.subresource
	out, _, err := s.update(ctx, &main, func(current runtime.Object) (runtime.Object, error) {
		if pt == types.ApplyYAMLPatchType {
			return s.applyScale(ctx, q, current, body)
		}
		sc, err := scaleOf(current)
		if err != nil {
			return nil, err
		}
		data := body
		if q.verb == "patch" {
			original, err := json.Marshal(sc)
			if err != nil {
				return nil, err
			}
			var jp jsonpatch.Patch
			if pt == types.JSONPatchType {
				if jp, err = jsonpatch.DecodePatch(body); err != nil {
					return nil, badRequest("%v", err)
				}
			}
			if data, err = applyPatch(pt, original, body, jp, &autoscalingv1.Scale{}); err != nil {
				return nil, err
			}
		}
		decoded, err := s.decodeObject(q, data, info)
		if err != nil {
			return nil, err
		}
		want := decoded.(*autoscalingv1.Scale)
		if want.Spec.Replicas < 0 {
			return nil, invalid(scaleGVK.GroupKind(), q.name, field.ErrorList{field.Invalid(field.NewPath("spec", "replicas"), want.Spec.Replicas, "must be greater than or equal to 0")})
		}
		if want.Name != "" && want.Name != q.name {
			return nil, badRequest("the name of the object (%s) does not match the name on the URL (%s)", want.Name, q.name)
		}
		if want.ResourceVersion != "" && want.ResourceVersion != sc.ResourceVersion {
			return nil, apierrors.NewConflict(q.gr(), q.name, fmt.Errorf("%s", objectModifiedMsg))
		}
		setReplicas(current, want.Spec.Replicas)
		return current, nil
	})
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	sc, err := scaleOf(out)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	s.writeObject(q, http.StatusOK, sc)
}

// serveBinding assigns a pod to a node (pods/binding), as the scheduler does.
func (s *Server) serveBinding(q *request) {
	ctx := q.r.Context()
	info, _, err := requestSerializer(q.r)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	data, err := readBody(q)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	binding := &corev1.Binding{}
	want := corev1.SchemeGroupVersion.WithKind("Binding")
	if _, _, err := info.Serializer.Decode(data, &want, binding); err != nil {
		s.writeError(q.w, q.r, badRequest("error decoding binding: %v", err))
		return
	}
	if binding.Name != "" && binding.Name != q.name {
		s.writeError(q.w, q.r, badRequest("the name of the object (%s) does not match the name on the URL (%s)", binding.Name, q.name))
		return
	}
	if binding.Target.Name == "" {
		s.writeError(q.w, q.r, invalid(want.GroupKind(), q.name, field.ErrorList{field.Required(field.NewPath("target", "name"), "")}))
		return
	}
	binding.SetGroupVersionKind(want)
	if err := s.admitSubresourceCreate(ctx, q, binding); err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	if isDryRun(q) {
		s.writeObject(q, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
		return
	}
	_, err = s.store.Update(ctx, storageKey(q.res, q.namespace, q.name), func(current runtime.Object) (runtime.Object, error) {
		pod := current.(*corev1.Pod)
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(q.gr(), q.name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", q.name))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(q.gr(), q.name, fmt.Errorf("pod %s is already assigned to node %q", q.name, pod.Spec.NodeName))
		}
		if binding.UID != "" && binding.UID != pod.UID {
			return nil, apierrors.NewConflict(q.gr(), q.name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", binding.UID, pod.UID))
		}
		pod.Spec.NodeName = binding.Target.Name
		for k, v := range binding.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		setPodCondition(pod, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
		return pod, nil
	}, nil)
	if err != nil {
		s.writeError(q.w, q.r, toStatusError(err, q.gr(), q.name))
		return
	}
	s.writeObject(q, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
}

func setPodCondition(pod *corev1.Pod, c corev1.PodCondition) {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == c.Type {
			if pod.Status.Conditions[i].Status != c.Status {
				pod.Status.Conditions[i] = c
			}
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, c)
}
