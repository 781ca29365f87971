package registry

import (
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestEveryResourceIsInTheScheme(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range All() {
		key := r.Group + "/" + r.Version + "/" + r.Name
		if seen[key] {
			t.Errorf("%s listed twice", key)
		}
		seen[key] = true
		_ = r.New()
		_ = r.NewList()
		if r.StoragePrefix == "" || r.Singular == "" || len(r.Verbs) == 0 {
			t.Errorf("%s is missing storage prefix, singular or verbs", key)
		}
	}
}

func TestHPAv1RoundTripKeepsV2Fields(t *testing.T) {
	hpa := Lookup("autoscaling", "v1", "horizontalpodautoscalers")
	min := int32(2)
	util := int32(60)
	mem := resource.MustParse("1Gi")
	v2 := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "h", Namespace: "ns"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"},
			MinReplicas:    &min, MaxReplicas: 5,
			Metrics: []autoscalingv2.MetricSpec{
				{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &util}}},
				{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &mem}}},
			},
		},
	}
	served, err := FromStorage(hpa, v2)
	if err != nil {
		t.Fatal(err)
	}
	v1 := served.(*autoscalingv1.HorizontalPodAutoscaler)
	if v1.Spec.TargetCPUUtilizationPercentage == nil || *v1.Spec.TargetCPUUtilizationPercentage != 60 {
		t.Fatalf("v1 view lost the CPU target: %+v", v1.Spec)
	}
	back, err := ToStorage(hpa, v1)
	if err != nil {
		t.Fatal(err)
	}
	if !apiequality.Semantic.DeepEqual(back, v2) {
		t.Fatalf("v2 -> v1 -> v2 lost data:\n%+v\n%+v", back, v2)
	}
}

func TestEventsViewsShareStorage(t *testing.T) {
	ev := Lookup("events.k8s.io", "v1", "events")
	in := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "ns"},
		Regarding:  corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: "ns"},
		Reason:     "Started", Note: "started container", Type: "Normal",
		ReportingController: "skiff/kubelet", ReportingInstance: "node-1", Action: "Start",
		DeprecatedCount: 3,
	}
	stored, err := ToStorage(ev, in)
	if err != nil {
		t.Fatal(err)
	}
	core := stored.(*corev1.Event)
	if core.InvolvedObject.Name != "p" || core.Message != "started container" || core.Count != 3 {
		t.Fatalf("core view: %+v", core)
	}
	back, err := FromStorage(ev, core)
	if err != nil {
		t.Fatal(err)
	}
	if !apiequality.Semantic.DeepEqual(back, in) {
		t.Fatalf("events.k8s.io -> core -> events.k8s.io lost data:\n%+v\n%+v", back, in)
	}
	fields := SelectableFields(Lookup("", "v1", "events"), core)
	if fields["involvedObject.name"] != "p" || fields["reason"] != "Started" {
		t.Fatalf("selectable fields of a core event: %v", fields)
	}
}
