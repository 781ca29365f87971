package validation

import (
	"fmt"
	"runtime/debug"
	"testing"

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
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/randfill"
)

func TestZZRandfillHunt(t *testing.T) {
	kinds := []func() runtime.Object{
		func() runtime.Object { return &corev1.Pod{} },
		func() runtime.Object { return &corev1.Service{} },
		func() runtime.Object { return &corev1.Endpoints{} },
		func() runtime.Object { return &corev1.Node{} },
		func() runtime.Object { return &corev1.Namespace{} },
		func() runtime.Object { return &corev1.ConfigMap{} },
		func() runtime.Object { return &corev1.Secret{} },
		func() runtime.Object { return &corev1.ServiceAccount{} },
		func() runtime.Object { return &corev1.PersistentVolume{} },
		func() runtime.Object { return &corev1.PersistentVolumeClaim{} },
		func() runtime.Object { return &corev1.Event{} },
		func() runtime.Object { return &corev1.LimitRange{} },
		func() runtime.Object { return &corev1.ResourceQuota{} },
		func() runtime.Object { return &corev1.ReplicationController{} },
		func() runtime.Object { return &corev1.PodTemplate{} },
		func() runtime.Object { return &appsv1.Deployment{} },
		func() runtime.Object { return &appsv1.ReplicaSet{} },
		func() runtime.Object { return &appsv1.StatefulSet{} },
		func() runtime.Object { return &appsv1.DaemonSet{} },
		func() runtime.Object { return &appsv1.ControllerRevision{} },
		func() runtime.Object { return &batchv1.Job{} },
		func() runtime.Object { return &batchv1.CronJob{} },
		func() runtime.Object { return &networkingv1.Ingress{} },
		func() runtime.Object { return &networkingv1.IngressClass{} },
		func() runtime.Object { return &networkingv1.NetworkPolicy{} },
		func() runtime.Object { return &discoveryv1.EndpointSlice{} },
		func() runtime.Object { return &coordinationv1.Lease{} },
		func() runtime.Object { return &autoscalingv1.HorizontalPodAutoscaler{} },
		func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscaler{} },
		func() runtime.Object { return &rbacv1.Role{} },
		func() runtime.Object { return &rbacv1.ClusterRole{} },
		func() runtime.Object { return &rbacv1.RoleBinding{} },
		func() runtime.Object { return &rbacv1.ClusterRoleBinding{} },
		func() runtime.Object { return &storagev1.StorageClass{} },
		func() runtime.Object { return &policyv1.PodDisruptionBudget{} },
		func() runtime.Object { return &eventsv1.Event{} },
		func() runtime.Object { return &schedulingv1.PriorityClass{} },
		func() runtime.Object { return &certificatesv1.CertificateSigningRequest{} },
	}
	for seed := int64(0); seed < 300; seed++ {
		for nilChance := 0; nilChance < 3; nilChance++ {
			f := randfill.NewWithSeed(seed).NilChance([]float64{0.1, 0.5, 0.9}[nilChance]).NumElements(0, 3).MaxDepth(12).Funcs(
				func(q *resource.Quantity, c randfill.Continue) { *q = *resource.NewQuantity(c.Int63n(2000)-100, resource.DecimalSI) },
				func(q *intstr.IntOrString, c randfill.Continue) {
					if c.Bool() {
						*q = intstr.FromInt32(c.Int31n(70000) - 10)
					} else {
						*q = intstr.FromString([]string{"50%", "x", "http", "200%", ""}[c.Intn(5)])
					}
				},
				func(r *runtime.RawExtension, c randfill.Continue) {},
			)
			for _, mk := range kinds {
				n, o := mk(), mk()
				f.Fill(n)
				f.Fill(o)
				func() {
					defer func() {
						if r := recover(); r != nil {
							t.Fatalf("panic on %T seed %d: %v\n%s", n, seed, r, debug.Stack())
						}
					}()
					exercise(n, o)
				}()
			}
		}
	}
	fmt.Println("hunt done")
}
