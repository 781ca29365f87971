package validation

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestNode(t *testing.T) {
	node := &corev1.Node{
		ObjectMeta: objMeta("", "node-1.example.com"),
		Spec: corev1.NodeSpec{
			PodCIDR:  "10.244.1.0/24",
			PodCIDRs: []string{"10.244.1.0/24", "fd00:1::/64"},
			Taints:   []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}},
		},
		Status: corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourceCPU: quantity("4"), corev1.ResourcePods: quantity("110")}},
	}
	expectErrs(t, ValidateCreate(node))

	bad := node.DeepCopy()
	bad.Spec.PodCIDR = "10.244.1.0/33"
	bad.Spec.PodCIDRs = nil
	bad.Spec.Taints = append(bad.Spec.Taints,
		corev1.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule},
		corev1.Taint{Key: "bad key", Effect: "Sometimes"})
	expectErrs(t, ValidateCreate(bad), invalid("spec.podCIDR"), duplicate("spec.taints[1]"), invalid("spec.taints[2].key"), notSupported("spec.taints[2].effect"))

	bad = node.DeepCopy()
	bad.Spec.PodCIDR = ""
	bad.Spec.PodCIDRs = []string{"10.0.0.0/24", "10.1.0.0/24"}
	expectErrs(t, ValidateCreate(bad), invalid("spec.podCIDRs"))

	n := node.DeepCopy()
	n.Spec.Unschedulable = true
	n.Spec.Taints = nil
	expectErrs(t, ValidateUpdate(n, node))
	n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.2.0/24", []string{"10.244.2.0/24"}
	expectErrs(t, ValidateUpdate(n, node), forbidden("spec.podCIDRs"))

	fresh := node.DeepCopy()
	fresh.Spec.PodCIDR, fresh.Spec.PodCIDRs = "", nil
	expectErrs(t, ValidateUpdate(node.DeepCopy(), fresh))

	n = node.DeepCopy()
	n.Status.Allocatable = corev1.ResourceList{corev1.ResourcePods: quantity("1.5")}
	expectErrs(t, ValidateStatusUpdate(n, node), invalid("status.allocatable[pods]"))
}

func TestLease(t *testing.T) {
	l := &coordinationv1.Lease{
		ObjectMeta: objMeta("kube-system", "kube-scheduler"),
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptrTo("a"), LeaseDurationSeconds: ptrTo[int32](15), LeaseTransitions: ptrTo[int32](3)},
	}
	expectErrs(t, ValidateCreate(l))
	bad := l.DeepCopy()
	bad.Spec.LeaseDurationSeconds = ptrTo[int32](0)
	bad.Spec.LeaseTransitions = ptrTo[int32](-1)
	expectErrs(t, ValidateCreate(bad), invalid("spec.leaseDurationSeconds"), invalid("spec.leaseTransitions"))
	expectErrs(t, ValidateUpdate(bad, l), invalid("spec.leaseDurationSeconds"), invalid("spec.leaseTransitions"))
}

func TestHPA(t *testing.T) {
	v1 := &autoscalingv1.HorizontalPodAutoscaler{
		ObjectMeta: objMeta("default", "web"),
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef:                 autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:                    ptrTo[int32](2),
			MaxReplicas:                    10,
			TargetCPUUtilizationPercentage: ptrTo[int32](80),
		},
	}
	expectErrs(t, ValidateCreate(v1))
	bad1 := v1.DeepCopy()
	bad1.Spec.MinReplicas = ptrTo[int32](0)
	bad1.Spec.MaxReplicas = 0
	bad1.Spec.ScaleTargetRef.Name = ""
	bad1.Spec.TargetCPUUtilizationPercentage = ptrTo[int32](0)
	expectErrs(t, ValidateCreate(bad1), invalid("spec.minReplicas"), invalid("spec.maxReplicas"), required("spec.scaleTargetRef.name"), invalid("spec.targetCPUUtilizationPercentage"))

	v2 := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: objMeta("default", "web"),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    ptrTo[int32](1),
			MaxReplicas:    5,
			Metrics: []autoscalingv2.MetricSpec{{
				Type:     autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptrTo[int32](70)}},
			}},
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{
				StabilizationWindowSeconds: ptrTo[int32](300),
				SelectPolicy:               ptrTo(autoscalingv2.MaxChangePolicySelect),
				Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}},
			}},
		},
	}
	expectErrs(t, ValidateCreate(v2))
	bad2 := v2.DeepCopy()
	bad2.Spec.MinReplicas = ptrTo[int32](6)
	bad2.Spec.Metrics = []autoscalingv2.MetricSpec{
		{Type: autoscalingv2.PodsMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU}},
		{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType}}},
	}
	bad2.Spec.Behavior.ScaleDown.Policies[0].PeriodSeconds = 0
	expectErrs(t, ValidateCreate(bad2), invalid("spec.maxReplicas"), forbidden("spec.metrics[0].resource"),
		required("spec.metrics[1].resource.target.averageUtilization"), invalid("spec.behavior.scaleDown.policies[0].periodSeconds"))
	expectErrs(t, ValidateUpdate(bad2, v2), invalid("spec.maxReplicas"), forbidden("spec.metrics[0].resource"),
		required("spec.metrics[1].resource.target.averageUtilization"), invalid("spec.behavior.scaleDown.policies[0].periodSeconds"))
}

func TestRBAC(t *testing.T) {
	role := &rbacv1.Role{
		ObjectMeta: objMeta("default", "system:pod-reader"),
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}},
	}
	expectErrs(t, ValidateCreate(role))
	badRole := role.DeepCopy()
	badRole.Name = "a/b"
	badRole.Rules = []rbacv1.PolicyRule{{}, {Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}}
	expectErrs(t, ValidateCreate(badRole), invalid("metadata.name"), required("rules[0].verbs"), required("rules[0].apiGroups"),
		required("rules[0].resources"), invalid("rules[1].nonResourceURLs"))

	cr := &rbacv1.ClusterRole{
		ObjectMeta: objMeta("", "health"),
		Rules:      []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}},
	}
	expectErrs(t, ValidateCreate(cr))
	agg := cr.DeepCopy()
	agg.AggregationRule = &rbacv1.AggregationRule{}
	expectErrs(t, ValidateCreate(agg), required("aggregationRule.clusterRoleSelectors"))

	rb := &rbacv1.RoleBinding{
		ObjectMeta: objMeta("default", "read-pods"),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
		Subjects: []rbacv1.Subject{
			{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "jane"},
			{Kind: rbacv1.ServiceAccountKind, Name: "builder"},
		},
	}
	expectErrs(t, ValidateCreate(rb))
	badRB := rb.DeepCopy()
	badRB.RoleRef = rbacv1.RoleRef{APIGroup: "example.com", Kind: "Policy"}
	badRB.Subjects = []rbacv1.Subject{{Kind: "Robot", Name: "r2"}, {Kind: rbacv1.GroupKind, Name: "devs"}}
	expectErrs(t, ValidateCreate(badRB), notSupported("roleRef.apiGroup"), notSupported("roleRef.kind"), required("roleRef.name"),
		notSupported("subjects[0].kind"), notSupported("subjects[1].apiGroup"))
	n := rb.DeepCopy()
	n.Subjects = n.Subjects[:1]
	expectErrs(t, ValidateUpdate(n, rb))
	n.RoleRef.Name = "admin"
	expectErrs(t, ValidateUpdate(n, rb), invalid("roleRef"))

	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: objMeta("", "ci"),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "ci", Namespace: "ci"}},
	}
	expectErrs(t, ValidateCreate(crb))
	badCRB := crb.DeepCopy()
	badCRB.RoleRef.Kind = "Role"
	badCRB.Subjects[0].Namespace = ""
	expectErrs(t, ValidateCreate(badCRB), notSupported("roleRef.kind"), required("subjects[0].namespace"))
	n2 := crb.DeepCopy()
	n2.RoleRef.Name = "edit"
	expectErrs(t, ValidateUpdate(n2, crb), invalid("roleRef"))
}

func TestPodDisruptionBudget(t *testing.T) {
	two := intstr.FromInt32(2)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: objMeta("default", "web"),
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &two, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	}
	expectErrs(t, ValidateCreate(pdb))
	bad := pdb.DeepCopy()
	over := intstr.FromString("120%")
	bad.Spec.MaxUnavailable = &over
	expectErrs(t, ValidateCreate(bad), invalid("spec"), invalid("spec.maxUnavailable"))
	bad = pdb.DeepCopy()
	neg := intstr.FromInt32(-1)
	bad.Spec.MinAvailable = &neg
	bad.Spec.UnhealthyPodEvictionPolicy = ptrTo(policyv1.UnhealthyPodEvictionPolicyType("Never"))
	expectErrs(t, ValidateUpdate(bad, pdb), invalid("spec.minAvailable"), notSupported("spec.unhealthyPodEvictionPolicy"))
	st := pdb.DeepCopy()
	st.Status.DisruptionsAllowed = -1
	expectErrs(t, ValidateStatusUpdate(st, pdb), invalid("status.disruptionsAllowed"))
}

func TestPriorityClass(t *testing.T) {
	pc := &schedulingv1.PriorityClass{ObjectMeta: objMeta("", "high"), Value: 1000}
	expectErrs(t, ValidateCreate(pc))
	sys := &schedulingv1.PriorityClass{ObjectMeta: objMeta("", "system-node-critical"), Value: 2000001000}
	expectErrs(t, ValidateCreate(sys))

	bad := pc.DeepCopy()
	bad.Value = 2000000000
	bad.PreemptionPolicy = ptrTo(corev1.PreemptionPolicy("Always"))
	expectErrs(t, ValidateCreate(bad), forbidden("value"), notSupported("preemptionPolicy"))
	reserved := pc.DeepCopy()
	reserved.Name = "system-mine"
	expectErrs(t, ValidateCreate(reserved), forbidden("metadata.name"))

	n := pc.DeepCopy()
	n.Value = 2000
	n.Description = "changed"
	expectErrs(t, ValidateUpdate(n, pc), forbidden("value"))
}

func TestCoreEvent(t *testing.T) {
	ev := &corev1.Event{
		ObjectMeta:     objMeta("default", "web-0.17a2b3c4d5e6f708"),
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-0"},
		Reason:         "Scheduled",
		Message:        "assigned",
		Type:           corev1.EventTypeNormal,
		Count:          1,
	}
	expectErrs(t, ValidateCreate(ev))
	bad := ev.DeepCopy()
	bad.InvolvedObject.Namespace = "other"
	expectErrs(t, ValidateCreate(bad), invalid("involvedObject.namespace"))

	modern := ev.DeepCopy()
	modern.EventTime = metav1.NewMicroTime(time.Now())
	expectErrs(t, ValidateCreate(modern), required("reportingComponent"), invalid("reportingComponent"), required("reportingInstance"), required("action"))
	modern.ReportingController, modern.ReportingInstance, modern.Action = "kubelet", "node-1", "Binding"
	expectErrs(t, ValidateCreate(modern))
	expectErrs(t, ValidateUpdate(bad, ev), invalid("involvedObject.namespace"))
}

func TestEventsV1(t *testing.T) {
	ev := &eventsv1.Event{
		ObjectMeta:          objMeta("default", "web-0.17a2b3c4d5e6f708"),
		EventTime:           metav1.NewMicroTime(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)),
		ReportingController: "example.com/controller",
		ReportingInstance:   "controller-1",
		Action:              "Reconcile",
		Reason:              "Synced",
		Regarding:           corev1.ObjectReference{Kind: "Deployment", Namespace: "default", Name: "web"},
		Note:                "ok",
		Type:                corev1.EventTypeNormal,
	}
	expectErrs(t, ValidateCreate(ev))

	bad := ev.DeepCopy()
	bad.EventTime = metav1.MicroTime{}
	bad.Type = "Info"
	bad.DeprecatedCount = 3
	bad.Series = &eventsv1.EventSeries{Count: 1}
	expectErrs(t, ValidateCreate(bad), required("eventTime"), invalid("type"), invalid("deprecatedCount"),
		invalid("series.count"), required("series.lastObservedTime"))

	n := ev.DeepCopy()
	n.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(time.Now())}
	expectErrs(t, ValidateUpdate(n, ev))
	n.Note = "changed"
	expectErrs(t, ValidateUpdate(n, ev), invalid("note"))
}

func csrPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestCSR(t *testing.T) {
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: objMeta("", "jane"),
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    csrPEM(t),
			SignerName: certificatesv1.KubeAPIServerClientSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth, certificatesv1.UsageDigitalSignature},
		},
	}
	expectErrs(t, ValidateCreate(csr))

	bad := csr.DeepCopy()
	bad.Spec.Request = []byte("garbage")
	bad.Spec.SignerName = "no-slash"
	bad.Spec.Usages = []certificatesv1.KeyUsage{"teleport", certificatesv1.UsageClientAuth, certificatesv1.UsageClientAuth}
	bad.Spec.ExpirationSeconds = ptrTo[int32](60)
	expectErrs(t, ValidateCreate(bad), invalid("spec.request"), invalid("spec.signerName"), notSupported("spec.usages[0]"),
		duplicate("spec.usages[2]"), invalid("spec.expirationSeconds"))
	bad.Spec.Usages, bad.Spec.SignerName = nil, ""
	expectErrs(t, ValidateCreate(bad), invalid("spec.request"), required("spec.signerName"), required("spec.usages"), invalid("spec.expirationSeconds"))

	n := csr.DeepCopy()
	n.Spec.Usages = []certificatesv1.KeyUsage{certificatesv1.UsageServerAuth}
	expectErrs(t, ValidateUpdate(n, csr), invalid("spec"))

	n = csr.DeepCopy()
	n.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}}
	expectErrs(t, ValidateStatusUpdate(n, csr))
	n.Status.Conditions = append(n.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateDenied, Status: corev1.ConditionFalse})
	expectErrs(t, ValidateStatusUpdate(n, csr), notSupported("status.conditions[1].status"), invalid("status.conditions"))
}

func TestLimitRangeAndQuota(t *testing.T) {
	lr := &corev1.LimitRange{
		ObjectMeta: objMeta("default", "limits"),
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			Max:            corev1.ResourceList{corev1.ResourceCPU: quantity("2")},
			Min:            corev1.ResourceList{corev1.ResourceCPU: quantity("100m")},
			Default:        corev1.ResourceList{corev1.ResourceCPU: quantity("500m")},
			DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: quantity("200m")},
		}}},
	}
	expectErrs(t, ValidateCreate(lr))
	bad := lr.DeepCopy()
	bad.Spec.Limits[0].Min[corev1.ResourceCPU] = quantity("3")
	bad.Spec.Limits = append(bad.Spec.Limits,
		corev1.LimitRangeItem{Type: corev1.LimitTypeContainer},
		corev1.LimitRangeItem{Type: corev1.LimitTypePod, Default: corev1.ResourceList{corev1.ResourceCPU: quantity("1")}},
		corev1.LimitRangeItem{Type: corev1.LimitTypePersistentVolumeClaim})
	expectErrs(t, ValidateCreate(bad), invalid("spec.limits[0].min[cpu]"), invalid("spec.limits[0].defaultRequest[cpu]"),
		invalid("spec.limits[0].default[cpu]"), duplicate("spec.limits[1].type"), forbidden("spec.limits[2].default"), required("spec.limits[3].limits"))

	rq := &corev1.ResourceQuota{
		ObjectMeta: objMeta("default", "quota"),
		Spec: corev1.ResourceQuotaSpec{
			Hard:   corev1.ResourceList{corev1.ResourcePods: quantity("10"), corev1.ResourceRequestsCPU: quantity("4"), "count/deployments.apps": quantity("5")},
			Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotTerminating},
		},
	}
	expectErrs(t, ValidateCreate(rq))
	badQ := rq.DeepCopy()
	badQ.Spec.Hard["widgets"] = quantity("1")
	badQ.Spec.Hard[corev1.ResourcePods] = quantity("1.5")
	badQ.Spec.Scopes = append(badQ.Spec.Scopes, corev1.ResourceQuotaScopeTerminating)
	expectErrs(t, ValidateCreate(badQ), invalid("spec.hard[widgets]"), invalid("spec.hard[pods]"), invalid("spec.scopes"))

	n := rq.DeepCopy()
	n.Spec.Hard[corev1.ResourcePods] = quantity("20")
	expectErrs(t, ValidateUpdate(n, rq))
	n.Spec.Scopes = nil
	expectErrs(t, ValidateUpdate(n, rq), invalid("spec.scopes"))
	st := rq.DeepCopy()
	st.Status.Used = corev1.ResourceList{corev1.ResourcePods: quantity("-1")}
	expectErrs(t, ValidateStatusUpdate(st, rq), invalid("status.used[pods]"))
}
