package validation

import (
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// want names one expected error by type and field path; messages are
// deliberately not compared.
type want struct {
	typ  field.ErrorType
	path string
}

func required(p string) want     { return want{field.ErrorTypeRequired, p} }
func invalid(p string) want      { return want{field.ErrorTypeInvalid, p} }
func forbidden(p string) want    { return want{field.ErrorTypeForbidden, p} }
func notSupported(p string) want { return want{field.ErrorTypeNotSupported, p} }
func duplicate(p string) want    { return want{field.ErrorTypeDuplicate, p} }
func notFound(p string) want     { return want{field.ErrorTypeNotFound, p} }
func tooLong(p string) want      { return want{field.ErrorTypeTooLong, p} }
func tooMany(p string) want      { return want{field.ErrorTypeTooMany, p} }

// expectErrs checks that errs contains every wanted error and nothing on a
// path outside the wanted ones. No wants means "valid".
func expectErrs(t *testing.T, errs field.ErrorList, wants ...want) {
	t.Helper()
	have := map[want]bool{}
	for _, e := range errs {
		have[want{e.Type, e.Field}] = true
	}
	paths := map[string]bool{}
	for _, w := range wants {
		paths[w.path] = true
		if !have[w] {
			t.Errorf("missing %s error at %q; got:\n%s", w.typ, w.path, describe(errs))
		}
	}
	for _, e := range errs {
		if !paths[e.Field] {
			t.Errorf("unexpected error: %v\nall errors:\n%s", e, describe(errs))
		}
	}
}

func describe(errs field.ErrorList) string {
	if len(errs) == 0 {
		return "  (none)"
	}
	lines := make([]string, 0, len(errs))
	for _, e := range errs {
		lines = append(lines, "  "+e.Error())
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

var created = metav1.NewTime(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))

// objMeta is server-populated metadata of a stored object.
func objMeta(ns, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:              name,
		Namespace:         ns,
		UID:               types.UID("6f2c7a7e-1111-4b5e-9d55-" + strings.Repeat("a", 12)),
		ResourceVersion:   "1",
		CreationTimestamp: created,
	}
}

// Defaulted building blocks, as upstream defaulting leaves them.

func validContainer(name string) corev1.Container {
	return corev1.Container{
		Name:                     name,
		Image:                    "nginx:1.27",
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		ImagePullPolicy:          corev1.PullIfNotPresent,
	}
}

func validPodSpec() corev1.PodSpec {
	return corev1.PodSpec{
		Containers:                    []corev1.Container{validContainer("app")},
		RestartPolicy:                 corev1.RestartPolicyAlways,
		TerminationGracePeriodSeconds: ptrTo[int64](30),
		DNSPolicy:                     corev1.DNSClusterFirst,
		SecurityContext:               &corev1.PodSecurityContext{},
		SchedulerName:                 corev1.DefaultSchedulerName,
		EnableServiceLinks:            ptrTo(true),
	}
}

func validPod() *corev1.Pod {
	return &corev1.Pod{ObjectMeta: objMeta("default", "web-0"), Spec: validPodSpec()}
}

func validTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       validPodSpec(),
	}
}

func validDeployment() *appsv1.Deployment {
	maxUnavail, maxSurge := intstr.FromString("25%"), intstr.FromString("25%")
	return &appsv1.Deployment{
		ObjectMeta: objMeta("default", "web"),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptrTo[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: validTemplate(),
			Strategy: appsv1.DeploymentStrategy{
				Type:          appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &maxUnavail, MaxSurge: &maxSurge},
			},
			RevisionHistoryLimit:    ptrTo[int32](10),
			ProgressDeadlineSeconds: ptrTo[int32](600),
		},
	}
}

func validReplicaSet() *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: objMeta("default", "web-5d8f"),
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptrTo[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: validTemplate(),
		},
	}
}

func validStatefulSet() *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: objMeta("default", "db"),
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptrTo[int32](3),
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template:            validTemplate(),
			ServiceName:         "db",
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
				Type:          appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptrTo[int32](0)},
			},
			RevisionHistoryLimit: ptrTo[int32](10),
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			},
		},
	}
}

func validDaemonSet() *appsv1.DaemonSet {
	one, zero := intstr.FromInt32(1), intstr.FromInt32(0)
	return &appsv1.DaemonSet{
		ObjectMeta: objMeta("kube-system", "agent"),
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: validTemplate(),
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
				Type:          appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &one, MaxSurge: &zero},
			},
			RevisionHistoryLimit: ptrTo[int32](10),
		},
	}
}

func validRC() *corev1.ReplicationController {
	t := validTemplate()
	return &corev1.ReplicationController{
		ObjectMeta: objMeta("default", "legacy"),
		Spec: corev1.ReplicationControllerSpec{
			Replicas: ptrTo[int32](1),
			Selector: map[string]string{"app": "web"},
			Template: &t,
		},
	}
}

func jobTemplate() corev1.PodTemplateSpec {
	t := validTemplate()
	t.Spec.RestartPolicy = corev1.RestartPolicyNever
	return t
}

// validJob is a Job after the server generated its selector and labels.
func validJob() *batchv1.Job {
	m := objMeta("default", "pi")
	t := jobTemplate()
	t.Labels = map[string]string{
		"batch.kubernetes.io/controller-uid": string(m.UID),
		"batch.kubernetes.io/job-name":       "pi",
		"controller-uid":                     string(m.UID),
		"job-name":                           "pi",
	}
	return &batchv1.Job{
		ObjectMeta: m,
		Spec: batchv1.JobSpec{
			Parallelism:          ptrTo[int32](1),
			Completions:          ptrTo[int32](1),
			BackoffLimit:         ptrTo[int32](6),
			CompletionMode:       ptrTo(batchv1.NonIndexedCompletion),
			Suspend:              ptrTo(false),
			PodReplacementPolicy: ptrTo(batchv1.TerminatingOrFailed),
			ManualSelector:       nil,
			Selector:             &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/controller-uid": string(m.UID)}},
			Template:             t,
		},
	}
}

func validCronJob() *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: objMeta("default", "nightly"),
		Spec: batchv1.CronJobSpec{
			Schedule:                   "0 3 * * *",
			ConcurrencyPolicy:          batchv1.AllowConcurrent,
			Suspend:                    ptrTo(false),
			SuccessfulJobsHistoryLimit: ptrTo[int32](3),
			FailedJobsHistoryLimit:     ptrTo[int32](1),
			JobTemplate: batchv1.JobTemplateSpec{
				Spec: batchv1.JobSpec{
					BackoffLimit:         ptrTo[int32](6),
					CompletionMode:       ptrTo(batchv1.NonIndexedCompletion),
					PodReplacementPolicy: ptrTo(batchv1.TerminatingOrFailed),
					Template:             jobTemplate(),
				},
			},
		},
	}
}

func validService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: objMeta("default", "web"),
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeClusterIP,
			Selector:              map[string]string{"app": "web"},
			ClusterIP:             "10.96.0.10",
			ClusterIPs:            []string{"10.96.0.10"},
			IPFamilies:            []corev1.IPFamily{corev1.IPv4Protocol},
			IPFamilyPolicy:        ptrTo(corev1.IPFamilyPolicySingleStack),
			SessionAffinity:       corev1.ServiceAffinityNone,
			InternalTrafficPolicy: ptrTo(corev1.ServiceInternalTrafficPolicyCluster),
			Ports: []corev1.ServicePort{{
				Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080),
			}},
		},
	}
}

func quantity(s string) resource.Quantity { return resource.MustParse(s) }

func ptrTo[T any](v T) *T { return &v }
