package printers

import (
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	resourcev1 "k8s.io/api/resource/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var (
	webLabels   = map[string]string{"app": "web"}
	webSelector = &metav1.LabelSelector{MatchLabels: webLabels}
	webTemplate = corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Name: "web", Image: "nginx:1.25"}, {Name: "log", Image: "fluent-bit:3"},
	}}}
)

func nsMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(3 * 24 * time.Hour)}
}

func TestAppsRows(t *testing.T) {
	runRowCases(t, []rowCase{
		{
			name: "deployment",
			obj: &appsv1.Deployment{ObjectMeta: nsMeta("web"), Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(3)), Selector: webSelector, Template: webTemplate},
				Status: appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}},
			want: []interface{}{"web", "2/3", int64(3), int64(2), "3d", "web,log", "nginx:1.25,fluent-bit:3", "app=web"},
		},
		{
			name: "deployment with an invalid selector",
			obj: &appsv1.Deployment{ObjectMeta: nsMeta("bad"), Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Bogus"}},
			}}},
			want: []interface{}{"bad", "0/0", int64(0), int64(0), "3d", "", "", "<invalid>"},
		},
		{
			name: "replicaset",
			obj: &appsv1.ReplicaSet{ObjectMeta: nsMeta("web-5d"), Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(2)), Selector: webSelector, Template: webTemplate},
				Status: appsv1.ReplicaSetStatus{Replicas: 2, ReadyReplicas: 1}},
			want: []interface{}{"web-5d", int64(2), int64(2), int64(1), "3d", "web,log", "nginx:1.25,fluent-bit:3", "app=web"},
		},
		{
			name: "statefulset",
			obj: &appsv1.StatefulSet{ObjectMeta: nsMeta("db"), Spec: appsv1.StatefulSetSpec{Replicas: ptr(int32(3)), Template: webTemplate},
				Status: appsv1.StatefulSetStatus{ReadyReplicas: 3}},
			want: []interface{}{"db", "3/3", "3d", "web,log", "nginx:1.25,fluent-bit:3"},
		},
		{
			name: "daemonset",
			obj: &appsv1.DaemonSet{ObjectMeta: nsMeta("agent"), Spec: appsv1.DaemonSetSpec{Selector: webSelector, Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{NodeSelector: map[string]string{"kubernetes.io/os": "linux"}, Containers: []corev1.Container{{Name: "a", Image: "agent:1"}}},
			}}, Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2, UpdatedNumberScheduled: 3, NumberAvailable: 2}},
			want: []interface{}{"agent", int64(3), int64(3), int64(2), int64(3), int64(2), "kubernetes.io/os=linux", "3d", "a", "agent:1", "app=web"},
		},
		{
			name: "daemonset without node selector",
			obj:  &appsv1.DaemonSet{ObjectMeta: nsMeta("agent")},
			want: []interface{}{"agent", int64(0), int64(0), int64(0), int64(0), int64(0), "<none>", "3d", "", "", "<none>"},
		},
		{
			name: "controllerrevision owned by a statefulset",
			obj: &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "db-7c", CreationTimestamp: ago(time.Hour), OwnerReferences: []metav1.OwnerReference{
				{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", Controller: ptr(true)},
			}}, Revision: 2},
			want: []interface{}{"db-7c", "statefulset.apps/db", int64(2), "60m"},
		},
		{
			name: "controllerrevision without controller",
			obj:  &appsv1.ControllerRevision{ObjectMeta: nsMeta("orphan"), Revision: 1},
			want: []interface{}{"orphan", "<none>", int64(1), "3d"},
		},
	})
}

func TestControllerRevisionBadOwner(t *testing.T) {
	cr := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "x", OwnerReferences: []metav1.OwnerReference{
		{APIVersion: "a/b/c", Kind: "Thing", Name: "t", Controller: ptr(true)},
	}}}
	if _, err := Row(cr, now); err == nil {
		t.Error("an unparsable owner apiVersion should be an error")
	}
}

func TestBatchRows(t *testing.T) {
	suspend := true
	runRowCases(t, []rowCase{
		{
			name: "job running",
			obj: &batchv1.Job{ObjectMeta: nsMeta("pi"), Spec: batchv1.JobSpec{Completions: ptr(int32(1)), Parallelism: ptr(int32(1)), Selector: webSelector, Template: webTemplate},
				Status: batchv1.JobStatus{StartTime: agoPtr(45 * time.Second), Active: 1}},
			want: []interface{}{"pi", "Running", "0/1", "45s", "3d", "web,log", "nginx:1.25,fluent-bit:3", "app=web"},
		},
		{
			name: "job complete",
			obj: &batchv1.Job{ObjectMeta: nsMeta("pi"), Spec: batchv1.JobSpec{Completions: ptr(int32(5))},
				Status: batchv1.JobStatus{Succeeded: 5, StartTime: agoPtr(time.Hour), CompletionTime: agoPtr(time.Hour - 72*time.Second),
					Conditions: []batchv1.JobCondition{{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue}, {Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}},
			want: []interface{}{"pi", "Complete", "5/5", "72s", "3d", "", "", "<none>"},
		},
		{
			name: "job failed",
			obj: &batchv1.Job{ObjectMeta: nsMeta("pi"), Spec: batchv1.JobSpec{Completions: ptr(int32(1))},
				Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue}, {Type: batchv1.JobFailed, Status: corev1.ConditionTrue}}}},
			want: []interface{}{"pi", "Failed", "0/1", "", "3d", "", "", "<none>"},
		},
		{
			name: "job failing",
			obj: &batchv1.Job{ObjectMeta: nsMeta("pi"), Spec: batchv1.JobSpec{Completions: ptr(int32(1))},
				Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue}}}},
			want: []interface{}{"pi", "FailureTarget", "0/1", "", "3d", "", "", "<none>"},
		},
		{
			name: "job suspended, work queue",
			obj: &batchv1.Job{ObjectMeta: nsMeta("q"), Spec: batchv1.JobSpec{Parallelism: ptr(int32(4))},
				Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobSuspended, Status: corev1.ConditionTrue}}}},
			want: []interface{}{"q", "Suspended", "0/1 of 4", "", "3d", "", "", "<none>"},
		},
		{
			name: "job with neither completions nor parallelism",
			obj:  &batchv1.Job{ObjectMeta: nsMeta("q")},
			want: []interface{}{"q", "Running", "0/1", "", "3d", "", "", "<none>"},
		},
		{
			name: "job terminating",
			obj: func() *batchv1.Job {
				j := &batchv1.Job{ObjectMeta: nsMeta("pi"), Spec: batchv1.JobSpec{Completions: ptr(int32(2))}, Status: batchv1.JobStatus{Succeeded: 1}}
				j.DeletionTimestamp = agoPtr(time.Second)
				return j
			}(),
			want: []interface{}{"pi", "Terminating", "1/2", "", "3d", "", "", "<none>"},
		},
		{
			name: "cronjob never run",
			obj:  &batchv1.CronJob{ObjectMeta: nsMeta("hello"), Spec: batchv1.CronJobSpec{Schedule: "*/1 * * * *", Suspend: ptr(false)}},
			want: []interface{}{"hello", "*/1 * * * *", "<none>", "False", int64(0), "<none>", "3d", "", "", "<none>"},
		},
		{
			name: "cronjob suspended with time zone",
			obj: &batchv1.CronJob{ObjectMeta: nsMeta("nightly"), Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", TimeZone: ptr("Europe/Berlin"), Suspend: &suspend,
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: webTemplate}}},
				Status: batchv1.CronJobStatus{Active: []corev1.ObjectReference{{Name: "nightly-1"}}, LastScheduleTime: agoPtr(9 * time.Hour)}},
			want: []interface{}{"nightly", "0 3 * * *", "Europe/Berlin", "True", int64(1), "9h", "3d", "web,log", "nginx:1.25,fluent-bit:3", "<none>"},
		},
		{
			name: "cronjob with suspend unset",
			obj:  &batchv1.CronJob{ObjectMeta: nsMeta("raw"), Spec: batchv1.CronJobSpec{Schedule: "@daily"}},
			want: []interface{}{"raw", "@daily", "<none>", "<unset>", int64(0), "<none>", "3d", "", "", "<none>"},
		},
	})
}

func TestNetworkingRows(t *testing.T) {
	rules := func(hosts ...string) []networkingv1.IngressRule {
		var rs []networkingv1.IngressRule
		for _, h := range hosts {
			rs = append(rs, networkingv1.IngressRule{Host: h})
		}
		return rs
	}
	runRowCases(t, []rowCase{
		{
			name: "ingress",
			obj: &networkingv1.Ingress{ObjectMeta: nsMeta("web"), Spec: networkingv1.IngressSpec{IngressClassName: ptr("nginx"), Rules: rules("a.example.com", "b.example.com"),
				TLS: []networkingv1.IngressTLS{{Hosts: []string{"a.example.com"}}}},
				Status: networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{Ingress: []networkingv1.IngressLoadBalancerIngress{
					{IP: "203.0.113.8"}, {Hostname: "lb.example.com"},
				}}}},
			want: []interface{}{"web", "nginx", "a.example.com,b.example.com", "203.0.113.8,lb.example.com", "80, 443", "3d"},
		},
		{
			name: "ingress without class or hosts",
			obj:  &networkingv1.Ingress{ObjectMeta: nsMeta("catch-all"), Spec: networkingv1.IngressSpec{Rules: rules("")}},
			want: []interface{}{"catch-all", "<none>", "*", "", "80", "3d"},
		},
		{
			name: "ingress with many hosts",
			obj:  &networkingv1.Ingress{ObjectMeta: nsMeta("many"), Spec: networkingv1.IngressSpec{Rules: rules("a", "", "b", "c", "d", "e")}},
			want: []interface{}{"many", "<none>", "a,b,c + 3 more...", "", "80", "3d"},
		},
		{
			name: "ingress with exactly three hosts among more rules",
			obj:  &networkingv1.Ingress{ObjectMeta: nsMeta("three"), Spec: networkingv1.IngressSpec{Rules: rules("a", "", "b", "c")}},
			want: []interface{}{"three", "<none>", "a,b,c", "", "80", "3d"},
		},
		{
			name: "ingressclass",
			obj: &networkingv1.IngressClass{ObjectMeta: nsMeta("nginx"), Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx",
				Parameters: &networkingv1.IngressClassParametersReference{APIGroup: ptr("k8s.example.com"), Kind: "IngressParameters", Name: "external"}}},
			want: []interface{}{"nginx", "k8s.io/ingress-nginx", "IngressParameters.k8s.example.com/external", "3d"},
		},
		{
			name: "ingressclass without parameters",
			obj:  &networkingv1.IngressClass{ObjectMeta: nsMeta("plain"), Spec: networkingv1.IngressClassSpec{Controller: "example.com/ic"}},
			want: []interface{}{"plain", "example.com/ic", "<none>", "3d"},
		},
		{
			name: "networkpolicy",
			obj:  &networkingv1.NetworkPolicy{ObjectMeta: nsMeta("deny"), Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: webLabels}}},
			want: []interface{}{"deny", "app=web", "3d"},
		},
		{
			name: "networkpolicy selecting everything",
			obj:  &networkingv1.NetworkPolicy{ObjectMeta: nsMeta("all")},
			want: []interface{}{"all", "<none>", "3d"},
		},
		{
			name: "servicecidr",
			obj:  &networkingv1.ServiceCIDR{ObjectMeta: nsMeta("kubernetes"), Spec: networkingv1.ServiceCIDRSpec{CIDRs: []string{"10.96.0.0/12", "fd00:10:96::/112"}}},
			want: []interface{}{"kubernetes", "10.96.0.0/12,fd00:10:96::/112", "3d"},
		},
		{
			name: "ipaddress",
			obj: &networkingv1.IPAddress{ObjectMeta: nsMeta("10.96.0.1"), Spec: networkingv1.IPAddressSpec{ParentRef: &networkingv1.ParentReference{
				Resource: "services", Namespace: "default", Name: "kubernetes",
			}}},
			want: []interface{}{"10.96.0.1", "services/default/kubernetes"},
		},
		{
			name: "endpointslice",
			obj: &discoveryv1.EndpointSlice{ObjectMeta: nsMeta("web-abc"), AddressType: discoveryv1.AddressTypeIPv4,
				Ports:     []discoveryv1.EndpointPort{{Port: ptr(int32(80))}, {Name: ptr("metrics")}, {}},
				Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1", "10.0.0.2"}}, {Addresses: []string{"10.0.0.3"}}, {Addresses: []string{"10.0.0.4"}}}},
			want: []interface{}{"web-abc", "IPv4", "80,metrics,*", "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...", "3d"},
		},
		{
			name: "endpointslice empty",
			obj:  &discoveryv1.EndpointSlice{ObjectMeta: nsMeta("empty"), AddressType: discoveryv1.AddressTypeIPv6},
			want: []interface{}{"empty", "IPv6", "<unset>", "<unset>", "3d"},
		},
	})
}

func TestOtherRows(t *testing.T) {
	cluster := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, CreationTimestamp: ago(2 * time.Minute)}
	}
	runRowCases(t, []rowCase{
		{
			name: "storageclass default with unset policies",
			obj: &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "standard", CreationTimestamp: ago(time.Hour),
				Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}}, Provisioner: "rancher.io/local-path"},
			want: []interface{}{"standard (default)", "rancher.io/local-path", "Delete", "Immediate", false, "60m"},
		},
		{
			name: "storageclass explicit",
			obj: &storagev1.StorageClass{ObjectMeta: cluster("fast"), Provisioner: "csi.example.com", ReclaimPolicy: ptr(corev1.PersistentVolumeReclaimRetain),
				VolumeBindingMode: ptr(storagev1.VolumeBindingWaitForFirstConsumer), AllowVolumeExpansion: ptr(true)},
			want: []interface{}{"fast", "csi.example.com", "Retain", "WaitForFirstConsumer", true, "2m"},
		},
		{
			name: "csidriver",
			obj: &storagev1.CSIDriver{ObjectMeta: cluster("csi.example.com"), Spec: storagev1.CSIDriverSpec{AttachRequired: ptr(false),
				TokenRequests:        []storagev1.TokenRequest{{Audience: "vault"}, {Audience: "gcp"}},
				VolumeLifecycleModes: []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecyclePersistent, storagev1.VolumeLifecycleEphemeral}}},
			want: []interface{}{"csi.example.com", false, false, false, "vault,gcp", false, "Persistent,Ephemeral", "2m"},
		},
		{
			name: "volumeattachment",
			obj: &storagev1.VolumeAttachment{ObjectMeta: cluster("csi-123"), Spec: storagev1.VolumeAttachmentSpec{Attacher: "csi.example.com", NodeName: "node-1",
				Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: ptr("pv-1")}}, Status: storagev1.VolumeAttachmentStatus{Attached: true}},
			want: []interface{}{"csi-123", "csi.example.com", "pv-1", "node-1", true, "2m"},
		},
		{
			name: "csinode",
			obj:  &storagev1.CSINode{ObjectMeta: cluster("node-1"), Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{{Name: "a"}}}},
			want: []interface{}{"node-1", int64(1), "2m"},
		},
		{
			name: "csistoragecapacity",
			obj:  &storagev1.CSIStorageCapacity{ObjectMeta: nsMeta("cap"), StorageClassName: "fast", Capacity: ptr(resource.MustParse("100Gi"))},
			want: []interface{}{"cap", "fast", "100Gi"},
		},
		{
			name: "lease",
			obj:  &coordinationv1.Lease{ObjectMeta: nsMeta("kube-scheduler"), Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("cp-1_4f2a")}},
			want: []interface{}{"kube-scheduler", "cp-1_4f2a", "3d"},
		},
		{
			name: "lease without holder",
			obj:  &coordinationv1.Lease{ObjectMeta: nsMeta("free")},
			want: []interface{}{"free", "", "3d"},
		},
		{
			name: "hpa v2",
			obj: &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: nsMeta("web"), Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"},
				MinReplicas:    ptr(int32(2)), MaxReplicas: 10,
				Metrics: []autoscalingv2.MetricSpec{
					{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU,
						Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr(int32(80))}}},
					{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceMemory,
						Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr(resource.MustParse("500Mi"))}}},
				},
			}, Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 3, CurrentMetrics: []autoscalingv2.MetricStatus{
				{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU,
					Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr(int32(42)), AverageValue: ptr(resource.MustParse("84m"))}}},
			}}},
			want: []interface{}{"web", "Deployment/web", "cpu: 42%/80%, memory: <unknown>/500Mi", "2", int64(10), int64(3), "3d"},
		},
		{
			name: "hpa v2 with more than two metrics",
			obj: &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: nsMeta("q"), Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "q"}, MaxReplicas: 5,
				Metrics: []autoscalingv2.MetricSpec{
					{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
						Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr(resource.MustParse("1k"))}}},
					{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
						Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr(resource.MustParse("30"))}}},
					{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
						Target: autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: ptr(resource.MustParse("2"))}}},
				},
			}, Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentMetrics: []autoscalingv2.MetricStatus{
				{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricStatus{Current: autoscalingv2.MetricValueStatus{AverageValue: ptr(resource.MustParse("250"))}}},
			}}},
			want: []interface{}{"q", "Deployment/q", "250/1k, <unknown>/30 (avg) + 1 more...", "<unset>", int64(5), int64(0), "3d"},
		},
		{
			name: "hpa v2 container resource and no status",
			obj: &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: nsMeta("c"), Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "StatefulSet", Name: "db"}, MinReplicas: ptr(int32(1)), MaxReplicas: 3,
				Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
					Name: corev1.ResourceCPU, Container: "db", Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr(int32(60))}}}},
			}},
			want: []interface{}{"c", "StatefulSet/db", "cpu: <unknown>/60%", "1", int64(3), int64(0), "3d"},
		},
		{
			name: "hpa v1",
			obj: &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: nsMeta("web"), Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "web"}, MinReplicas: ptr(int32(1)), MaxReplicas: 4,
				TargetCPUUtilizationPercentage: ptr(int32(50)),
			}, Status: autoscalingv1.HorizontalPodAutoscalerStatus{CurrentReplicas: 2, CurrentCPUUtilizationPercentage: ptr(int32(12))}},
			want: []interface{}{"web", "Deployment/web", "cpu: 12%/50%", "1", int64(4), int64(2), "3d"},
		},
		{
			name: "hpa v1 without target",
			obj: &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: nsMeta("web"), Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "web"}, MaxReplicas: 4}},
			want: []interface{}{"web", "Deployment/web", "<none>", "<unset>", int64(4), int64(0), "3d"},
		},
		{
			name: "rolebinding",
			obj: &rbacv1.RoleBinding{ObjectMeta: nsMeta("read"), RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"}, Subjects: []rbacv1.Subject{
				{Kind: rbacv1.UserKind, Name: "jane"}, {Kind: rbacv1.UserKind, Name: "joe"}, {Kind: rbacv1.GroupKind, Name: "devs"},
				{Kind: rbacv1.ServiceAccountKind, Namespace: "ci", Name: "runner"},
			}},
			want: []interface{}{"read", "ClusterRole/view", "3d", "jane, joe", "devs", "ci/runner"},
		},
		{
			name: "clusterrolebinding",
			obj:  &rbacv1.ClusterRoleBinding{ObjectMeta: cluster("admins"), RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"}},
			want: []interface{}{"admins", "ClusterRole/cluster-admin", "2m", "", "", ""},
		},
		{
			name: "poddisruptionbudget",
			obj: &policyv1.PodDisruptionBudget{ObjectMeta: nsMeta("web"), Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(intstr.FromString("50%"))},
				Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1}},
			want: []interface{}{"web", "50%", "N/A", int64(1), "3d"},
		},
		{
			name: "priorityclass",
			obj: &schedulingv1.PriorityClass{ObjectMeta: cluster("system-node-critical"), Value: 2000001000, GlobalDefault: false,
				PreemptionPolicy: ptr(corev1.PreemptLowerPriority)},
			want: []interface{}{"system-node-critical", int64(2000001000), false, "2m", "PreemptLowerPriority"},
		},
		{
			name: "certificatesigningrequest approved and issued",
			obj: &certificatesv1.CertificateSigningRequest{ObjectMeta: cluster("csr-abc"), Spec: certificatesv1.CertificateSigningRequestSpec{
				SignerName: "kubernetes.io/kube-apiserver-client-kubelet", Username: "system:node:node-1", ExpirationSeconds: ptr(int32(86400)),
			}, Status: certificatesv1.CertificateSigningRequestStatus{Certificate: []byte("pem"),
				Conditions: []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}}}},
			want: []interface{}{"csr-abc", "2m", "kubernetes.io/kube-apiserver-client-kubelet", "system:node:node-1", "24h", "Approved,Issued"},
		},
		{
			name: "certificatesigningrequest denied and failed",
			obj: &certificatesv1.CertificateSigningRequest{ObjectMeta: cluster("csr-x"), Status: certificatesv1.CertificateSigningRequestStatus{
				Conditions: []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved}, {Type: certificatesv1.CertificateDenied}, {Type: certificatesv1.CertificateFailed}}}},
			want: []interface{}{"csr-x", "2m", "<none>", "", "<none>", "Denied,Failed"},
		},
		{
			name: "certificatesigningrequest pending",
			obj:  &certificatesv1.CertificateSigningRequest{ObjectMeta: cluster("csr-p")},
			want: []interface{}{"csr-p", "2m", "<none>", "", "<none>", "Pending"},
		},
		{
			name: "runtimeclass",
			obj:  &nodev1.RuntimeClass{ObjectMeta: cluster("gvisor"), Handler: "runsc"},
			want: []interface{}{"gvisor", "runsc", "2m"},
		},
		{
			name: "validatingwebhookconfiguration",
			obj:  &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: cluster("v"), Webhooks: make([]admissionregistrationv1.ValidatingWebhook, 2)},
			want: []interface{}{"v", int64(2), "2m"},
		},
		{
			name: "validatingadmissionpolicy",
			obj: &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: cluster("p"), Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
				ParamKind: &admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"}, Validations: make([]admissionregistrationv1.Validation, 3)}},
			want: []interface{}{"p", int64(3), "v1/ConfigMap", "2m"},
		},
		{
			name: "validatingadmissionpolicybinding",
			obj: &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: cluster("b"), Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
				PolicyName: "p", ParamRef: &admissionregistrationv1.ParamRef{Name: "limits"}}},
			want: []interface{}{"b", "p", "*/limits", "2m"},
		},
		{
			name: "flowschema",
			obj: &flowcontrolv1.FlowSchema{ObjectMeta: cluster("exempt"), Spec: flowcontrolv1.FlowSchemaSpec{
				PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: "exempt"}, MatchingPrecedence: 1,
			}, Status: flowcontrolv1.FlowSchemaStatus{Conditions: []flowcontrolv1.FlowSchemaCondition{{Type: flowcontrolv1.FlowSchemaConditionDangling, Status: flowcontrolv1.ConditionFalse}}}},
			want: []interface{}{"exempt", "exempt", int64(1), "<none>", "2m", "False"},
		},
		{
			name: "prioritylevelconfiguration limited with queuing",
			obj: &flowcontrolv1.PriorityLevelConfiguration{ObjectMeta: cluster("workload-low"), Spec: flowcontrolv1.PriorityLevelConfigurationSpec{
				Type: flowcontrolv1.PriorityLevelEnablementLimited, Limited: &flowcontrolv1.LimitedPriorityLevelConfiguration{
					NominalConcurrencyShares: ptr(int32(100)), LimitResponse: flowcontrolv1.LimitResponse{Type: flowcontrolv1.LimitResponseTypeQueue,
						Queuing: &flowcontrolv1.QueuingConfiguration{Queues: 128, HandSize: 6, QueueLengthLimit: 50}}}}},
			want: []interface{}{"workload-low", "Limited", int32(100), int32(128), int32(6), int32(50), "2m"},
		},
		{
			name: "prioritylevelconfiguration exempt",
			obj: &flowcontrolv1.PriorityLevelConfiguration{ObjectMeta: cluster("exempt"), Spec: flowcontrolv1.PriorityLevelConfigurationSpec{
				Type: flowcontrolv1.PriorityLevelEnablementExempt}},
			want: []interface{}{"exempt", "Exempt", "<none>", "<none>", "<none>", "<none>", "2m"},
		},
	})
}

func TestResourceRows(t *testing.T) {
	allocated := &resourcev1.ResourceClaim{ObjectMeta: nsMeta("gpu"), Status: resourcev1.ResourceClaimStatus{
		Allocation: &resourcev1.AllocationResult{}, ReservedFor: []resourcev1.ResourceClaimConsumerReference{{Resource: "pods", Name: "p"}},
	}}
	deleted := &resourcev1.ResourceClaim{ObjectMeta: nsMeta("old")}
	deleted.DeletionTimestamp = agoPtr(time.Second)
	runRowCases(t, []rowCase{
		{name: "claim pending", obj: &resourcev1.ResourceClaim{ObjectMeta: nsMeta("new")}, want: []interface{}{"new", "pending", "3d"}},
		{name: "claim allocated and reserved", obj: allocated, want: []interface{}{"gpu", "allocated,reserved", "3d"}},
		{name: "claim deleted before allocation", obj: deleted, want: []interface{}{"old", "deleted", "3d"}},
		{
			name: "resourceslice",
			obj: &resourcev1.ResourceSlice{ObjectMeta: nsMeta("node-1-gpu"), Spec: resourcev1.ResourceSliceSpec{
				NodeName: ptr("node-1"), Driver: "gpu.example.com", Pool: resourcev1.ResourcePool{Name: "node-1"}}},
			want: []interface{}{"node-1-gpu", "node-1", "gpu.example.com", "node-1", "3d"},
		},
		{name: "deviceclass", obj: &resourcev1.DeviceClass{ObjectMeta: nsMeta("gpu")}, want: []interface{}{"gpu", "3d"}},
	})
}
