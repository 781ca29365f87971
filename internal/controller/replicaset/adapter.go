package replicaset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// kind adapts one controlled resource to the controller, which works on
// the apps/v1 ReplicaSet form of it: a ReplicationController is viewed as
// the ReplicaSet it is equivalent to, and converted back for writes and
// events.
type kind struct {
	gvk       schema.GroupVersionKind
	component string
	queueName string
	// terminating says whether the status reports terminatingReplicas.
	terminating bool
	informer    cache.SharedIndexInformer
	// view turns an informer object into its ReplicaSet form.
	view func(obj any) (*appsv1.ReplicaSet, bool)
	// original turns the ReplicaSet form back into the real object, for
	// events.
	original func(rs *appsv1.ReplicaSet) runtime.Object
	// get reads the live object from the API server.
	get func(ctx context.Context, ns, name string) (*appsv1.ReplicaSet, error)
	// updateStatus writes rs.Status.
	updateStatus func(ctx context.Context, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error)
}

// cached returns the informer's copy of ns/name in ReplicaSet form.
func (k *kind) cached(ns, name string) (*appsv1.ReplicaSet, bool) {
	obj, ok, err := k.informer.GetIndexer().GetByKey(ns + "/" + name)
	if err != nil || !ok {
		return nil, false
	}
	return k.view(obj)
}

// list returns the informer's objects in ns in ReplicaSet form.
func (k *kind) list(ns string) []*appsv1.ReplicaSet {
	objs, err := k.informer.GetIndexer().ByIndex(cache.NamespaceIndex, ns)
	if err != nil {
		return nil
	}
	out := make([]*appsv1.ReplicaSet, 0, len(objs))
	for _, o := range objs {
		if rs, ok := k.view(o); ok {
			out = append(out, rs)
		}
	}
	return out
}

func replicaSetKind(client kubernetes.Interface, factory informers.SharedInformerFactory) *kind {
	return &kind{
		gvk:         appsv1.SchemeGroupVersion.WithKind("ReplicaSet"),
		component:   "replicaset-controller",
		queueName:   "replicaset",
		terminating: true,
		informer:    factory.Apps().V1().ReplicaSets().Informer(),
		view: func(obj any) (*appsv1.ReplicaSet, bool) {
			rs, ok := obj.(*appsv1.ReplicaSet)
			return rs, ok
		},
		original: func(rs *appsv1.ReplicaSet) runtime.Object { return rs },
		get: func(ctx context.Context, ns, name string) (*appsv1.ReplicaSet, error) {
			return client.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
		},
		updateStatus: func(ctx context.Context, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
			return client.AppsV1().ReplicaSets(rs.Namespace).UpdateStatus(ctx, rs, metav1.UpdateOptions{})
		},
	}
}

func replicationControllerKind(client kubernetes.Interface, factory informers.SharedInformerFactory) *kind {
	return &kind{
		gvk:       corev1.SchemeGroupVersion.WithKind("ReplicationController"),
		component: "replication-controller",
		queueName: "replicationmanager",
		informer:  factory.Core().V1().ReplicationControllers().Informer(),
		view: func(obj any) (*appsv1.ReplicaSet, bool) {
			rc, ok := obj.(*corev1.ReplicationController)
			if !ok {
				return nil, false
			}
			return rcToRS(rc), true
		},
		original: func(rs *appsv1.ReplicaSet) runtime.Object { return rsToRC(rs) },
		get: func(ctx context.Context, ns, name string) (*appsv1.ReplicaSet, error) {
			rc, err := client.CoreV1().ReplicationControllers(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			return rcToRS(rc), nil
		},
		updateStatus: func(ctx context.Context, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
			rc, err := client.CoreV1().ReplicationControllers(rs.Namespace).UpdateStatus(ctx, rsToRC(rs), metav1.UpdateOptions{})
			if err != nil {
				return nil, err
			}
			return rcToRS(rc), nil
		},
	}
}

// rcToRS views a ReplicationController as the equivalent ReplicaSet: same
// metadata, its selector map as matchLabels, the same template and status.
func rcToRS(rc *corev1.ReplicationController) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: *rc.ObjectMeta.DeepCopy(),
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        rc.Spec.Replicas,
			MinReadySeconds: rc.Spec.MinReadySeconds,
			Selector:        &metav1.LabelSelector{MatchLabels: rc.Spec.Selector},
		},
		Status: appsv1.ReplicaSetStatus{
			Replicas:             rc.Status.Replicas,
			FullyLabeledReplicas: rc.Status.FullyLabeledReplicas,
			ReadyReplicas:        rc.Status.ReadyReplicas,
			AvailableReplicas:    rc.Status.AvailableReplicas,
			ObservedGeneration:   rc.Status.ObservedGeneration,
		},
	}
	if rs.Spec.Replicas == nil {
		one := int32(1)
		rs.Spec.Replicas = &one
	}
	if rc.Spec.Template != nil {
		rs.Spec.Template = *rc.Spec.Template.DeepCopy()
	}
	// An RC without a selector selects its template's labels.
	if len(rc.Spec.Selector) == 0 {
		rs.Spec.Selector.MatchLabels = rs.Spec.Template.Labels
	}
	for _, c := range rc.Status.Conditions {
		rs.Status.Conditions = append(rs.Status.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetConditionType(c.Type), Status: c.Status,
			LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
		})
	}
	return rs
}

// rsToRC is the inverse of rcToRS.
func rsToRC(rs *appsv1.ReplicaSet) *corev1.ReplicationController {
	rc := &corev1.ReplicationController{
		ObjectMeta: *rs.ObjectMeta.DeepCopy(),
		Spec: corev1.ReplicationControllerSpec{
			Replicas:        rs.Spec.Replicas,
			MinReadySeconds: rs.Spec.MinReadySeconds,
			Template:        rs.Spec.Template.DeepCopy(),
		},
		Status: corev1.ReplicationControllerStatus{
			Replicas:             rs.Status.Replicas,
			FullyLabeledReplicas: rs.Status.FullyLabeledReplicas,
			ReadyReplicas:        rs.Status.ReadyReplicas,
			AvailableReplicas:    rs.Status.AvailableReplicas,
			ObservedGeneration:   rs.Status.ObservedGeneration,
		},
	}
	if rs.Spec.Selector != nil {
		rc.Spec.Selector = rs.Spec.Selector.MatchLabels
	}
	for _, c := range rs.Status.Conditions {
		rc.Status.Conditions = append(rc.Status.Conditions, corev1.ReplicationControllerCondition{
			Type: corev1.ReplicationControllerConditionType(c.Type), Status: c.Status,
			LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
		})
	}
	return rc
}

// selectorOf returns the label selector of rs.
func selectorOf(rs *appsv1.ReplicaSet) (labels.Selector, error) {
	return metav1.LabelSelectorAsSelector(rs.Spec.Selector)
}
