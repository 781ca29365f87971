package defaults

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
)

// Default applies Kubernetes' defaults in place to an object of any built-in
// kind (pointer to a k8s.io/api type, e.g. *appsv1.Deployment). List types
// have each of their items defaulted. Unknown types are left alone.
func Default(obj runtime.Object) {
	switch o := obj.(type) {
	// core/v1
	case *corev1.Pod:
		pod(o)
	case *corev1.PodTemplate:
		podTemplateSpec(&o.Template)
	case *corev1.ReplicationController:
		replicationController(o)
	case *corev1.Service:
		service(o)
	case *corev1.Namespace:
		namespace(o)
	case *corev1.Node:
		node(o)
	case *corev1.Secret:
		secret(o)
	case *corev1.ConfigMap:
		configMap(o)
	case *corev1.PersistentVolume:
		persistentVolume(o)
	case *corev1.PersistentVolumeClaim:
		persistentVolumeClaim(o)
	case *corev1.Endpoints: //nolint:staticcheck // core/v1 Endpoints is deprecated but still served
		endpoints(o)
	case *corev1.LimitRange:
		limitRange(o)
	case *corev1.ResourceQuota:
		resourceQuota(o)

	// apps/v1
	case *appsv1.Deployment:
		deployment(o)
	case *appsv1.ReplicaSet:
		replicaSet(o)
	case *appsv1.StatefulSet:
		statefulSet(o)
	case *appsv1.DaemonSet:
		daemonSet(o)

	// batch/v1
	case *batchv1.Job:
		job(o)
	case *batchv1.CronJob:
		cronJob(o)

	// networking/v1 and discovery/v1
	case *networkingv1.NetworkPolicy:
		networkPolicy(o)
	case *networkingv1.IngressClass:
		ingressClass(o)
	case *discoveryv1.EndpointSlice:
		endpointSlice(o)

	// autoscaling
	case *autoscalingv1.HorizontalPodAutoscaler:
		hpaV1(o)
	case *autoscalingv2.HorizontalPodAutoscaler:
		hpaV2(o)

	// rbac/v1
	case *rbacv1.RoleBinding:
		roleBinding(o)
	case *rbacv1.ClusterRoleBinding:
		clusterRoleBinding(o)

	// storage/v1
	case *storagev1.StorageClass:
		storageClass(o)
	case *storagev1.CSIDriver:
		csiDriver(o)

	// scheduling/v1
	case *schedulingv1.PriorityClass:
		priorityClass(o)

	// admissionregistration/v1
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		mutatingWebhookConfiguration(o)
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		validatingWebhookConfiguration(o)
	case *admissionregistrationv1.ValidatingAdmissionPolicy:
		validatingAdmissionPolicy(o)
	case *admissionregistrationv1.ValidatingAdmissionPolicyBinding:
		validatingAdmissionPolicyBinding(o)

	default:
		// Kinds upstream does not default (Lease, events.k8s.io Event,
		// PodDisruptionBudget, CertificateSigningRequest, Ingress,
		// ServiceAccount, ...) fall through here, as do lists.
		defaultListItems(obj)
	}
}

// defaultListItems defaults every item of a typed list such as *corev1.PodList.
// meta.ExtractList hands back pointers into the list, so the items are
// defaulted in place.
func defaultListItems(obj runtime.Object) {
	if obj == nil || !meta.IsListType(obj) {
		return
	}
	items, err := meta.ExtractList(obj)
	if err != nil {
		return
	}
	for _, item := range items {
		Default(item)
	}
}

// ptrTo returns a pointer to a copy of v; every defaulted pointer field gets a
// fresh value so objects never share defaulted storage.
func ptrTo[T any](v T) *T {
	return &v
}
