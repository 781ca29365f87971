package validation

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestDeploymentCreate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*appsv1.Deployment)
		want   []want
	}{
		{name: "valid", mutate: func(*appsv1.Deployment) {}},
		{name: "valid recreate", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		}},
		{name: "selector missing", mutate: func(d *appsv1.Deployment) { d.Spec.Selector = nil }, want: []want{required("spec.selector")}},
		{name: "selector empty", mutate: func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }, want: []want{invalid("spec.selector")}},
		{name: "selector does not match template", mutate: func(d *appsv1.Deployment) {
			d.Spec.Template.Labels = map[string]string{"app": "other"}
		}, want: []want{invalid("spec.template.metadata.labels")}},
		{name: "bad selector operator", mutate: func(d *appsv1.Deployment) {
			d.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Like"}}}
		}, want: []want{invalid("spec.selector.matchExpressions[0].operator")}},
		{name: "negative replicas", mutate: func(d *appsv1.Deployment) { d.Spec.Replicas = ptrTo[int32](-1) }, want: []want{invalid("spec.replicas")}},
		{name: "template problems reported under spec.template", mutate: func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Name = ""
			d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
		}, want: []want{required("spec.template.spec.containers[0].name"), notSupported("spec.template.spec.restartPolicy")}},
		{name: "recreate with rollingUpdate", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType
		}, want: []want{forbidden("spec.strategy.rollingUpdate")}},
		{name: "surge and unavailable both zero", mutate: func(d *appsv1.Deployment) {
			zero := intstr.FromInt32(0)
			pct := intstr.FromString("0%")
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: &pct}
		}, want: []want{invalid("spec.strategy.rollingUpdate.maxUnavailable")}},
		{name: "bad percentages", mutate: func(d *appsv1.Deployment) {
			bad, over := intstr.FromString("lots"), intstr.FromString("150%")
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: &over, MaxSurge: &bad}
		}, want: []want{invalid("spec.strategy.rollingUpdate.maxUnavailable"), invalid("spec.strategy.rollingUpdate.maxSurge")}},
		{name: "unknown strategy", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: "BlueGreen"}
		}, want: []want{notSupported("spec.strategy.type")}},
		{name: "progress deadline not above minReady", mutate: func(d *appsv1.Deployment) {
			d.Spec.MinReadySeconds = 600
		}, want: []want{invalid("spec.progressDeadlineSeconds")}},
		{name: "name", mutate: func(d *appsv1.Deployment) { d.Name = "Web" }, want: []want{invalid("metadata.name")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := validDeployment()
			tc.mutate(d)
			expectErrs(t, ValidateCreate(d), tc.want...)
		})
	}
}

func TestDeploymentUpdate(t *testing.T) {
	o, n := validDeployment(), validDeployment()
	n.Spec.Replicas = ptrTo[int32](5)
	n.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	expectErrs(t, ValidateUpdate(n, o))

	n = validDeployment()
	n.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "v": "2"}}
	n.Spec.Template.Labels = map[string]string{"app": "web", "v": "2"}
	expectErrs(t, ValidateUpdate(n, o), invalid("spec.selector"))
}

func TestDeploymentStatusUpdate(t *testing.T) {
	o, n := validDeployment(), validDeployment()
	n.Status = appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 3, AvailableReplicas: 3, UpdatedReplicas: 3, ObservedGeneration: 1}
	expectErrs(t, ValidateStatusUpdate(n, o))
	n.Status.ReadyReplicas = 4
	n.Status.AvailableReplicas = -1
	expectErrs(t, ValidateStatusUpdate(n, o), invalid("status.readyReplicas"), invalid("status.availableReplicas"))
	o.Status.CollisionCount = ptrTo[int32](2)
	n.Status = appsv1.DeploymentStatus{CollisionCount: ptrTo[int32](1)}
	expectErrs(t, ValidateStatusUpdate(n, o), invalid("status.collisionCount"))
}

func TestReplicaSetAndRC(t *testing.T) {
	expectErrs(t, ValidateCreate(validReplicaSet()))
	rs := validReplicaSet()
	rs.Spec.Template.Labels = nil
	expectErrs(t, ValidateCreate(rs), invalid("spec.template.metadata.labels"))

	o, n := validReplicaSet(), validReplicaSet()
	n.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}
	n.Spec.Template.Labels = map[string]string{"app": "other"}
	expectErrs(t, ValidateUpdate(n, o), invalid("spec.selector"))

	expectErrs(t, ValidateCreate(validRC()))
	rc := validRC()
	rc.Spec.Selector = nil
	rc.Spec.Replicas = ptrTo[int32](-2)
	rc.Spec.Template.Spec.ActiveDeadlineSeconds = ptrTo[int64](5)
	expectErrs(t, ValidateCreate(rc), required("spec.selector"), invalid("spec.replicas"), forbidden("spec.template.spec.activeDeadlineSeconds"))
	rc = validRC()
	rc.Spec.Template = nil
	expectErrs(t, ValidateCreate(rc), required("spec.template"))
	rc = validRC()
	rc.Spec.Selector = map[string]string{"app": "nope"}
	expectErrs(t, ValidateCreate(rc), invalid("spec.template.metadata.labels"))

	oldRC, newRC := validRC(), validRC()
	newRC.Status = corev1.ReplicationControllerStatus{Replicas: 1, ReadyReplicas: 2}
	expectErrs(t, ValidateStatusUpdate(newRC, oldRC), invalid("status.readyReplicas"))
}

func TestStatefulSetCreate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*appsv1.StatefulSet)
		want   []want
	}{
		{name: "valid", mutate: func(*appsv1.StatefulSet) {}},
		{name: "valid with claim templates mounted", mutate: func(s *appsv1.StatefulSet) {
			s.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: quantity("1Gi")}},
				},
			}}
			s.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/var/lib/data"}}
		}},
		{name: "bad claim template", mutate: func(s *appsv1.StatefulSet) {
			s.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}}
		}, want: []want{required("spec.volumeClaimTemplates[0].spec.accessModes"), required("spec.volumeClaimTemplates[0].spec.resources[storage]")}},
		{name: "mount of missing volume", mutate: func(s *appsv1.StatefulSet) {
			s.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/d"}}
		}, want: []want{notFound("spec.template.spec.containers[0].volumeMounts[0].name")}},
		{name: "empty selector", mutate: func(s *appsv1.StatefulSet) { s.Spec.Selector = &metav1.LabelSelector{} }, want: []want{invalid("spec.selector")}},
		{name: "selector mismatch", mutate: func(s *appsv1.StatefulSet) {
			s.Spec.Selector.MatchLabels = map[string]string{"app": "db"}
		}, want: []want{invalid("spec.template.metadata.labels")}},
		{name: "policies", mutate: func(s *appsv1.StatefulSet) {
			s.Spec.PodManagementPolicy = "Random"
			s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{}}
			s.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = "Keep"
		}, want: []want{invalid("spec.podManagementPolicy"), invalid("spec.updateStrategy.rollingUpdate"), notSupported("spec.persistentVolumeClaimRetentionPolicy.whenScaled")}},
		{name: "partition and maxUnavailable", mutate: func(s *appsv1.StatefulSet) {
			zero := intstr.FromInt32(0)
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptrTo[int32](-1), MaxUnavailable: &zero}
		}, want: []want{invalid("spec.updateStrategy.rollingUpdate.partition"), invalid("spec.updateStrategy.rollingUpdate.maxUnavailable")}},
		{name: "name must be a DNS label", mutate: func(s *appsv1.StatefulSet) { s.Name = "db.primary" }, want: []want{invalid("metadata.name")}},
		{name: "serviceName", mutate: func(s *appsv1.StatefulSet) { s.Spec.ServiceName = "Db" }, want: []want{invalid("spec.serviceName")}},
		{name: "restart policy", mutate: func(s *appsv1.StatefulSet) {
			s.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		}, want: []want{notSupported("spec.template.spec.restartPolicy")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := validStatefulSet()
			tc.mutate(s)
			expectErrs(t, ValidateCreate(s), tc.want...)
		})
	}
}

func TestStatefulSetUpdate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(n *appsv1.StatefulSet)
		want   []want
	}{
		{name: "allowed fields", mutate: func(n *appsv1.StatefulSet) {
			n.Spec.Replicas = ptrTo[int32](5)
			n.Spec.Template.Spec.Containers[0].Image = "postgres:17"
			n.Spec.MinReadySeconds = 10
			n.Spec.RevisionHistoryLimit = ptrTo[int32](3)
			n.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
			n.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 1}
		}},
		{name: "serviceName", mutate: func(n *appsv1.StatefulSet) { n.Spec.ServiceName = "db2" }, want: []want{forbidden("spec")}},
		{name: "podManagementPolicy", mutate: func(n *appsv1.StatefulSet) {
			n.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
		}, want: []want{forbidden("spec")}},
		{name: "selector", mutate: func(n *appsv1.StatefulSet) {
			n.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "x": "y"}}
			n.Spec.Template.Labels = map[string]string{"app": "web", "x": "y"}
		}, want: []want{forbidden("spec")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, n := validStatefulSet(), validStatefulSet()
			tc.mutate(n)
			expectErrs(t, ValidateUpdate(n, o), tc.want...)
		})
	}
}

func TestStatefulSetStatusUpdate(t *testing.T) {
	o, n := validStatefulSet(), validStatefulSet()
	n.Status = appsv1.StatefulSetStatus{Replicas: 2, ReadyReplicas: 2, CurrentReplicas: 3}
	expectErrs(t, ValidateStatusUpdate(n, o), invalid("status.currentReplicas"))
}

func TestDaemonSet(t *testing.T) {
	expectErrs(t, ValidateCreate(validDaemonSet()))

	ds := validDaemonSet()
	ds.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
	expectErrs(t, ValidateCreate(ds), notSupported("spec.template.spec.restartPolicy"))

	ds = validDaemonSet()
	one := intstr.FromInt32(1)
	ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge = &one
	expectErrs(t, ValidateCreate(ds), invalid("spec.updateStrategy.rollingUpdate.maxSurge"))

	ds = validDaemonSet()
	zero := intstr.FromInt32(0)
	ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = &zero
	expectErrs(t, ValidateCreate(ds), required("spec.updateStrategy.rollingUpdate.maxUnavailable"))

	ds = validDaemonSet()
	ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: "Sometimes"}
	ds.Spec.Selector = nil
	expectErrs(t, ValidateCreate(ds), notSupported("spec.updateStrategy.type"), required("spec.selector"))

	o, n := validDaemonSet(), validDaemonSet()
	n.Spec.Selector.MatchLabels["tier"] = "node"
	n.Spec.Template.Labels["tier"] = "node"
	expectErrs(t, ValidateUpdate(n, o), invalid("spec.selector"))

	n = validDaemonSet()
	n.Status.NumberReady = -1
	expectErrs(t, ValidateStatusUpdate(n, o), invalid("status.numberReady"))
}

func TestControllerRevision(t *testing.T) {
	cr := &appsv1.ControllerRevision{ObjectMeta: objMeta("default", "web-1"), Revision: 1, Data: runtime.RawExtension{Raw: []byte(`{}`)}}
	expectErrs(t, ValidateCreate(cr))

	bad := cr.DeepCopy()
	bad.Data = runtime.RawExtension{}
	bad.Revision = -1
	expectErrs(t, ValidateCreate(bad), required("data"), invalid("revision"))

	n := cr.DeepCopy()
	n.Data = runtime.RawExtension{Raw: []byte(`{"a":1}`)}
	expectErrs(t, ValidateUpdate(n, cr), invalid("data"))
}
