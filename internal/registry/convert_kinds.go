package registry

import (
	"encoding/json"
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Events of events.k8s.io/v1 are stored as core/v1 Events (one storage,
// two views), and autoscaling/v1 HorizontalPodAutoscalers as
// autoscaling/v2 ones; v2 details v1 cannot express travel in annotations,
// as upstream does, so a v1 client never loses them.
func init() {
	converters["events.k8s.io/v1/events"] = struct {
		toStorage, fromStorage func(runtime.Object) (runtime.Object, error)
	}{eventToCore, eventFromCore}
	converters["autoscaling/v1/horizontalpodautoscalers"] = struct {
		toStorage, fromStorage func(runtime.Object) (runtime.Object, error)
	}{hpaV1ToV2, hpaV2ToV1}
}

func eventToCore(obj runtime.Object) (runtime.Object, error) {
	e, ok := obj.(*eventsv1.Event)
	if !ok {
		return nil, fmt.Errorf("expected events.k8s.io/v1 Event, got %T", obj)
	}
	out := &corev1.Event{
		ObjectMeta:          *e.ObjectMeta.DeepCopy(),
		InvolvedObject:      e.Regarding,
		Reason:              e.Reason,
		Message:             e.Note,
		Source:              e.DeprecatedSource,
		FirstTimestamp:      e.DeprecatedFirstTimestamp,
		LastTimestamp:       e.DeprecatedLastTimestamp,
		Count:               e.DeprecatedCount,
		Type:                e.Type,
		EventTime:           e.EventTime,
		Action:              e.Action,
		Related:             e.Related.DeepCopy(),
		ReportingController: e.ReportingController,
		ReportingInstance:   e.ReportingInstance,
	}
	if e.Series != nil {
		out.Series = &corev1.EventSeries{Count: e.Series.Count, LastObservedTime: e.Series.LastObservedTime}
	}
	return out, nil
}

func eventFromCore(obj runtime.Object) (runtime.Object, error) {
	e, ok := obj.(*corev1.Event)
	if !ok {
		return nil, fmt.Errorf("expected v1 Event, got %T", obj)
	}
	out := &eventsv1.Event{
		ObjectMeta:               *e.ObjectMeta.DeepCopy(),
		EventTime:                e.EventTime,
		ReportingController:      e.ReportingController,
		ReportingInstance:        e.ReportingInstance,
		Action:                   e.Action,
		Reason:                   e.Reason,
		Regarding:                e.InvolvedObject,
		Related:                  e.Related.DeepCopy(),
		Note:                     e.Message,
		Type:                     e.Type,
		DeprecatedSource:         e.Source,
		DeprecatedFirstTimestamp: e.FirstTimestamp,
		DeprecatedLastTimestamp:  e.LastTimestamp,
		DeprecatedCount:          e.Count,
	}
	if e.Series != nil {
		out.Series = &eventsv1.EventSeries{Count: e.Series.Count, LastObservedTime: e.Series.LastObservedTime}
	}
	return out, nil
}

// Annotations carrying autoscaling/v2 content through autoscaling/v1.
const (
	hpaMetricsAnnotation        = "autoscaling.alpha.kubernetes.io/metrics"
	hpaCurrentMetricsAnnotation = "autoscaling.alpha.kubernetes.io/current-metrics"
	hpaConditionsAnnotation     = "autoscaling.alpha.kubernetes.io/conditions"
	hpaBehaviorAnnotation       = "autoscaling.alpha.kubernetes.io/behavior"
)

func isCPUUtilization(m autoscalingv2.MetricSpec) bool {
	return m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
		m.Resource.Target.Type == autoscalingv2.UtilizationMetricType && m.Resource.Target.AverageUtilization != nil
}

func hpaV2ToV1(obj runtime.Object) (runtime.Object, error) {
	h, ok := obj.(*autoscalingv2.HorizontalPodAutoscaler)
	if !ok {
		return nil, fmt.Errorf("expected autoscaling/v2 HorizontalPodAutoscaler, got %T", obj)
	}
	out := &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: *h.ObjectMeta.DeepCopy()}
	out.Spec = autoscalingv1.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: h.Spec.ScaleTargetRef.Kind, Name: h.Spec.ScaleTargetRef.Name, APIVersion: h.Spec.ScaleTargetRef.APIVersion},
		MinReplicas:    h.Spec.MinReplicas,
		MaxReplicas:    h.Spec.MaxReplicas,
	}
	var other []autoscalingv2.MetricSpec
	for _, m := range h.Spec.Metrics {
		if isCPUUtilization(m) && out.Spec.TargetCPUUtilizationPercentage == nil {
			v := *m.Resource.Target.AverageUtilization
			out.Spec.TargetCPUUtilizationPercentage = &v
			continue
		}
		other = append(other, m)
	}
	out.Status = autoscalingv1.HorizontalPodAutoscalerStatus{
		ObservedGeneration: h.Status.ObservedGeneration,
		LastScaleTime:      h.Status.LastScaleTime,
		CurrentReplicas:    h.Status.CurrentReplicas,
		DesiredReplicas:    h.Status.DesiredReplicas,
	}
	var otherCurrent []autoscalingv2.MetricStatus
	for _, m := range h.Status.CurrentMetrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU && m.Resource.Current.AverageUtilization != nil && out.Status.CurrentCPUUtilizationPercentage == nil {
			v := *m.Resource.Current.AverageUtilization
			out.Status.CurrentCPUUtilizationPercentage = &v
			continue
		}
		otherCurrent = append(otherCurrent, m)
	}
	set := func(key string, v any, present bool) error {
		if !present {
			return nil
		}
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if out.Annotations == nil {
			out.Annotations = map[string]string{}
		}
		out.Annotations[key] = string(data)
		return nil
	}
	if err := set(hpaMetricsAnnotation, other, len(other) > 0); err != nil {
		return nil, err
	}
	if err := set(hpaCurrentMetricsAnnotation, otherCurrent, len(otherCurrent) > 0); err != nil {
		return nil, err
	}
	if err := set(hpaConditionsAnnotation, h.Status.Conditions, len(h.Status.Conditions) > 0); err != nil {
		return nil, err
	}
	if err := set(hpaBehaviorAnnotation, h.Spec.Behavior, h.Spec.Behavior != nil); err != nil {
		return nil, err
	}
	return out, nil
}

func hpaV1ToV2(obj runtime.Object) (runtime.Object, error) {
	h, ok := obj.(*autoscalingv1.HorizontalPodAutoscaler)
	if !ok {
		return nil, fmt.Errorf("expected autoscaling/v1 HorizontalPodAutoscaler, got %T", obj)
	}
	out := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: *h.ObjectMeta.DeepCopy()}
	out.Spec = autoscalingv2.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: h.Spec.ScaleTargetRef.Kind, Name: h.Spec.ScaleTargetRef.Name, APIVersion: h.Spec.ScaleTargetRef.APIVersion},
		MinReplicas:    h.Spec.MinReplicas,
		MaxReplicas:    h.Spec.MaxReplicas,
	}
	if p := h.Spec.TargetCPUUtilizationPercentage; p != nil {
		v := *p
		out.Spec.Metrics = append(out.Spec.Metrics, autoscalingv2.MetricSpec{
			Type:     autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &v}},
		})
	}
	out.Status = autoscalingv2.HorizontalPodAutoscalerStatus{
		ObservedGeneration: h.Status.ObservedGeneration,
		LastScaleTime:      h.Status.LastScaleTime,
		CurrentReplicas:    h.Status.CurrentReplicas,
		DesiredReplicas:    h.Status.DesiredReplicas,
	}
	if p := h.Status.CurrentCPUUtilizationPercentage; p != nil {
		v := *p
		out.Status.CurrentMetrics = append(out.Status.CurrentMetrics, autoscalingv2.MetricStatus{
			Type:     autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: &v}},
		})
	}
	get := func(key string, into any) error {
		v, ok := out.Annotations[key]
		if !ok {
			return nil
		}
		delete(out.Annotations, key)
		if err := json.Unmarshal([]byte(v), into); err != nil {
			return fmt.Errorf("annotation %s: %w", key, err)
		}
		return nil
	}
	var other []autoscalingv2.MetricSpec
	var otherCurrent []autoscalingv2.MetricStatus
	if err := get(hpaMetricsAnnotation, &other); err != nil {
		return nil, err
	}
	if err := get(hpaCurrentMetricsAnnotation, &otherCurrent); err != nil {
		return nil, err
	}
	if err := get(hpaConditionsAnnotation, &out.Status.Conditions); err != nil {
		return nil, err
	}
	if _, ok := out.Annotations[hpaBehaviorAnnotation]; ok {
		out.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{}
		if err := get(hpaBehaviorAnnotation, out.Spec.Behavior); err != nil {
			return nil, err
		}
	}
	if len(out.Annotations) == 0 {
		out.Annotations = nil
	}
	out.Spec.Metrics = append(out.Spec.Metrics, other...)
	out.Status.CurrentMetrics = append(out.Status.CurrentMetrics, otherCurrent...)
	return out, nil
}
