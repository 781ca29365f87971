package validation

import (
	"fmt"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateCreate validates a new object of any built-in kind (pointer to a
// k8s.io/api type, e.g. *corev1.Pod). Unknown types only get ObjectMeta checks
// if they have metadata, else nil.
func ValidateCreate(obj runtime.Object) field.ErrorList {
	if obj == nil || isNilPointer(obj) {
		return nil
	}
	switch o := obj.(type) {
	// core/v1
	case *corev1.Pod:
		return validatePodCreate(o)
	case *corev1.Service:
		return validateService(o)
	case *corev1.Endpoints:
		return validateEndpoints(o)
	case *corev1.Node:
		return validateNode(o)
	case *corev1.Namespace:
		return validateNamespace(o)
	case *corev1.ConfigMap:
		return validateConfigMap(o)
	case *corev1.Secret:
		return validateSecret(o)
	case *corev1.ServiceAccount:
		return validateMeta(o, true, nameIsDNSSubdomain)
	case *corev1.PersistentVolume:
		return validatePersistentVolume(o)
	case *corev1.PersistentVolumeClaim:
		return validatePersistentVolumeClaim(o)
	case *corev1.Event:
		return validateCoreEvent(o)
	case *corev1.LimitRange:
		return validateLimitRange(o)
	case *corev1.ResourceQuota:
		return validateResourceQuota(o)
	case *corev1.ReplicationController:
		return validateReplicationController(o)
	case *corev1.PodTemplate:
		return validatePodTemplate(o)
	// apps/v1
	case *appsv1.Deployment:
		return validateDeployment(o)
	case *appsv1.ReplicaSet:
		return validateReplicaSet(o)
	case *appsv1.StatefulSet:
		return validateStatefulSet(o, true)
	case *appsv1.DaemonSet:
		return validateDaemonSet(o)
	case *appsv1.ControllerRevision:
		return validateControllerRevision(o)
	// batch/v1
	case *batchv1.Job:
		return validateJobCreate(o)
	case *batchv1.CronJob:
		return validateCronJob(o)
	// networking.k8s.io/v1
	case *networkingv1.Ingress:
		return validateIngressCreate(o)
	case *networkingv1.IngressClass:
		return validateIngressClass(o)
	case *networkingv1.NetworkPolicy:
		return validateNetworkPolicy(o, nil)
	// discovery.k8s.io/v1
	case *discoveryv1.EndpointSlice:
		return validateEndpointSliceCreate(o)
	// coordination.k8s.io/v1
	case *coordinationv1.Lease:
		return validateLease(o)
	// autoscaling
	case *autoscalingv1.HorizontalPodAutoscaler:
		return validateHPAv1(o)
	case *autoscalingv2.HorizontalPodAutoscaler:
		return validateHPAv2(o)
	// rbac.authorization.k8s.io/v1
	case *rbacv1.Role:
		return validateRole(o)
	case *rbacv1.ClusterRole:
		return validateClusterRole(o)
	case *rbacv1.RoleBinding:
		return validateRoleBinding(o)
	case *rbacv1.ClusterRoleBinding:
		return validateClusterRoleBinding(o)
	// storage.k8s.io/v1
	case *storagev1.StorageClass:
		return validateStorageClass(o)
	// policy/v1
	case *policyv1.PodDisruptionBudget:
		return validatePodDisruptionBudget(o)
	// events.k8s.io/v1
	case *eventsv1.Event:
		return validateEventsV1Create(o)
	// scheduling.k8s.io/v1
	case *schedulingv1.PriorityClass:
		return validatePriorityClass(o)
	// certificates.k8s.io/v1
	case *certificatesv1.CertificateSigningRequest:
		return validateCSR(o)
	}
	return validateUnknownCreate(obj)
}

// ValidateUpdate validates an update of the main resource (metadata + spec),
// including immutable fields, given the new and old objects (same type).
func ValidateUpdate(newObj, oldObj runtime.Object) field.ErrorList {
	if errs := checkSameType(newObj, oldObj); errs != nil {
		return errs
	}
	switch n := newObj.(type) {
	case nil:
		return nil
	// core/v1
	case *corev1.Pod:
		return validatePodUpdate(n, oldObj.(*corev1.Pod))
	case *corev1.Service:
		return validateServiceUpdate(n, oldObj.(*corev1.Service))
	case *corev1.Endpoints:
		return withMetaUpdate(n, oldObj, validateEndpointsSpec(n))
	case *corev1.Node:
		return validateNodeUpdate(n, oldObj.(*corev1.Node))
	case *corev1.Namespace:
		return validateNamespaceUpdate(n, oldObj.(*corev1.Namespace))
	case *corev1.ConfigMap:
		return validateConfigMapUpdate(n, oldObj.(*corev1.ConfigMap))
	case *corev1.Secret:
		return validateSecretUpdate(n, oldObj.(*corev1.Secret))
	case *corev1.ServiceAccount:
		return validateMetaUpdate(n, oldObj.(*corev1.ServiceAccount))
	case *corev1.PersistentVolume:
		return validatePersistentVolumeUpdate(n, oldObj.(*corev1.PersistentVolume))
	case *corev1.PersistentVolumeClaim:
		return validatePersistentVolumeClaimUpdate(n, oldObj.(*corev1.PersistentVolumeClaim))
	case *corev1.Event:
		return validateCoreEventUpdate(n, oldObj.(*corev1.Event))
	case *corev1.LimitRange:
		return withMetaUpdate(n, oldObj, validateLimitRangeSpec(n))
	case *corev1.ResourceQuota:
		return validateResourceQuotaUpdate(n, oldObj.(*corev1.ResourceQuota))
	case *corev1.ReplicationController:
		return validateReplicationControllerUpdate(n, oldObj.(*corev1.ReplicationController))
	case *corev1.PodTemplate:
		return withMetaUpdate(n, oldObj, validatePodTemplateSpec(&n.Template, field.NewPath("template"), podOpts{}))
	// apps/v1
	case *appsv1.Deployment:
		return validateDeploymentUpdate(n, oldObj.(*appsv1.Deployment))
	case *appsv1.ReplicaSet:
		return validateReplicaSetUpdate(n, oldObj.(*appsv1.ReplicaSet))
	case *appsv1.StatefulSet:
		return validateStatefulSetUpdate(n, oldObj.(*appsv1.StatefulSet))
	case *appsv1.DaemonSet:
		return validateDaemonSetUpdate(n, oldObj.(*appsv1.DaemonSet))
	case *appsv1.ControllerRevision:
		return validateControllerRevisionUpdate(n, oldObj.(*appsv1.ControllerRevision))
	// batch/v1
	case *batchv1.Job:
		return validateJobUpdate(n, oldObj.(*batchv1.Job))
	case *batchv1.CronJob:
		return validateCronJobUpdate(n, oldObj.(*batchv1.CronJob))
	// networking.k8s.io/v1
	case *networkingv1.Ingress:
		return validateIngressUpdate(n, oldObj.(*networkingv1.Ingress))
	case *networkingv1.IngressClass:
		return validateIngressClassUpdate(n, oldObj.(*networkingv1.IngressClass))
	case *networkingv1.NetworkPolicy:
		return validateNetworkPolicyUpdate(n, oldObj.(*networkingv1.NetworkPolicy))
	// discovery.k8s.io/v1
	case *discoveryv1.EndpointSlice:
		return validateEndpointSliceUpdate(n, oldObj.(*discoveryv1.EndpointSlice))
	// coordination.k8s.io/v1
	case *coordinationv1.Lease:
		return withMetaUpdate(n, oldObj, validateLeaseSpec(&n.Spec, field.NewPath("spec")))
	// autoscaling
	case *autoscalingv1.HorizontalPodAutoscaler:
		return withMetaUpdate(n, oldObj, validateHPAv1Spec(n))
	case *autoscalingv2.HorizontalPodAutoscaler:
		return withMetaUpdate(n, oldObj, validateHPAv2Spec(&n.Spec, field.NewPath("spec")))
	// rbac.authorization.k8s.io/v1
	case *rbacv1.Role:
		return withMetaUpdate(n, oldObj, validatePolicyRules(n.Rules, true, field.NewPath("rules")))
	case *rbacv1.ClusterRole:
		return withMetaUpdate(n, oldObj, validateClusterRoleBody(n))
	case *rbacv1.RoleBinding:
		return validateRoleBindingUpdate(n, oldObj.(*rbacv1.RoleBinding))
	case *rbacv1.ClusterRoleBinding:
		return validateClusterRoleBindingUpdate(n, oldObj.(*rbacv1.ClusterRoleBinding))
	// storage.k8s.io/v1
	case *storagev1.StorageClass:
		return validateStorageClassUpdate(n, oldObj.(*storagev1.StorageClass))
	// policy/v1
	case *policyv1.PodDisruptionBudget:
		return withMetaUpdate(n, oldObj, validatePDBSpec(&n.Spec, field.NewPath("spec")))
	// events.k8s.io/v1
	case *eventsv1.Event:
		return validateEventsV1Update(n, oldObj.(*eventsv1.Event))
	// scheduling.k8s.io/v1
	case *schedulingv1.PriorityClass:
		return validatePriorityClassUpdate(n, oldObj.(*schedulingv1.PriorityClass))
	// certificates.k8s.io/v1
	case *certificatesv1.CertificateSigningRequest:
		return validateCSRUpdate(n, oldObj.(*certificatesv1.CertificateSigningRequest))
	}
	return validateUnknownUpdate(newObj, oldObj)
}

// ValidateStatusUpdate validates an update through the status subresource.
// Spec changes are expected to have been discarded by the caller, as upstream
// does, so only metadata and status are checked here.
func ValidateStatusUpdate(newObj, oldObj runtime.Object) field.ErrorList {
	if errs := checkSameType(newObj, oldObj); errs != nil {
		return errs
	}
	switch n := newObj.(type) {
	case nil:
		return nil
	case *corev1.Pod:
		return validatePodStatusUpdate(n, oldObj.(*corev1.Pod))
	case *corev1.Service:
		return withMetaUpdate(n, oldObj, validateLoadBalancerStatus(&n.Status.LoadBalancer, &n.Spec, field.NewPath("status", "loadBalancer")))
	case *corev1.Node:
		return withMetaUpdate(n, oldObj, validateNodeStatus(n))
	case *corev1.Namespace:
		return validateNamespaceStatusUpdate(n, oldObj.(*corev1.Namespace))
	case *corev1.PersistentVolume:
		return validateMetaUpdate(n, oldObj.(*corev1.PersistentVolume))
	case *corev1.PersistentVolumeClaim:
		return withMetaUpdate(n, oldObj, validatePVCStatus(n))
	case *corev1.ResourceQuota:
		return withMetaUpdate(n, oldObj, validateResourceQuotaStatus(&n.Status, field.NewPath("status")))
	case *corev1.ReplicationController:
		return withMetaUpdate(n, oldObj, validateReplicaCounts(replicaCountsFromRC(&n.Status), field.NewPath("status")))
	case *appsv1.Deployment:
		return validateDeploymentStatusUpdate(n, oldObj.(*appsv1.Deployment))
	case *appsv1.ReplicaSet:
		return withMetaUpdate(n, oldObj, validateReplicaCounts(replicaCountsFromRS(&n.Status), field.NewPath("status")))
	case *appsv1.StatefulSet:
		return validateStatefulSetStatusUpdate(n, oldObj.(*appsv1.StatefulSet))
	case *appsv1.DaemonSet:
		return validateDaemonSetStatusUpdate(n, oldObj.(*appsv1.DaemonSet))
	case *batchv1.Job:
		return withMetaUpdate(n, oldObj, validateJobStatus(&n.Status, field.NewPath("status")))
	case *batchv1.CronJob:
		return validateMetaUpdate(n, oldObj.(*batchv1.CronJob))
	case *networkingv1.Ingress:
		return withMetaUpdate(n, oldObj, validateIngressLoadBalancerStatus(&n.Status.LoadBalancer, field.NewPath("status", "loadBalancer")))
	case *autoscalingv1.HorizontalPodAutoscaler:
		return withMetaUpdate(n, oldObj, validateHPAv1Status(&n.Status))
	case *autoscalingv2.HorizontalPodAutoscaler:
		return withMetaUpdate(n, oldObj, validateHPAv2Status(&n.Status))
	case *policyv1.PodDisruptionBudget:
		return withMetaUpdate(n, oldObj, validatePDBStatus(&n.Status, field.NewPath("status")))
	case *certificatesv1.CertificateSigningRequest:
		return validateCSRStatusUpdate(n, oldObj.(*certificatesv1.CertificateSigningRequest))
	}
	return validateUnknownUpdate(newObj, oldObj)
}

// checkSameType rejects a mismatched pair, which would be a server bug; it
// keeps the type assertions in the dispatchers safe.
func checkSameType(newObj, oldObj runtime.Object) field.ErrorList {
	if newObj == nil && oldObj == nil {
		return nil
	}
	if newObj == nil || oldObj == nil || reflect.TypeOf(newObj) != reflect.TypeOf(oldObj) || isNilPointer(newObj) || isNilPointer(oldObj) {
		return field.ErrorList{field.InternalError(field.NewPath(""), fmt.Errorf("cannot validate update from %T to %T", oldObj, newObj))}
	}
	return nil
}

func isNilPointer(obj runtime.Object) bool {
	v := reflect.ValueOf(obj)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// withMetaUpdate prepends the generic metadata update checks to errs.
func withMetaUpdate(newObj, oldObj runtime.Object, errs field.ErrorList) field.ErrorList {
	newMeta, err1 := meta.Accessor(newObj)
	oldMeta, err2 := meta.Accessor(oldObj)
	if err1 != nil || err2 != nil {
		return errs
	}
	return append(validateMetaUpdate(newMeta, oldMeta), errs...)
}

func validateUnknownCreate(obj runtime.Object) field.ErrorList {
	if isNilPointer(obj) {
		return nil
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil
	}
	// Scope is unknown: check the namespace only when one is given.
	return validateMeta(m, m.GetNamespace() != "", nameIsPathSegment)
}

func validateUnknownUpdate(newObj, oldObj runtime.Object) field.ErrorList {
	if newObj == nil || isNilPointer(newObj) {
		return nil
	}
	newMeta, err1 := meta.Accessor(newObj)
	oldMeta, err2 := meta.Accessor(oldObj)
	if err1 != nil || err2 != nil {
		return nil
	}
	return validateMetaUpdate(newMeta, oldMeta)
}
