package printers

import (
	"fmt"
	"strings"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func init() {
	spec := autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()
	columns := []metav1.TableColumnDefinition{
		nameColumn,
		column("Reference", "string", spec["scaleTargetRef"]),
		column("Targets", "string", spec["metrics"]),
		column("MinPods", "string", spec["minReplicas"]),
		column("MaxPods", "string", spec["maxReplicas"]),
		column("Replicas", "string", autoscalingv2.HorizontalPodAutoscalerStatus{}.SwaggerDoc()["currentReplicas"]),
		ageColumn,
	}
	gk := schema.GroupKind{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}
	register(gk, columns, func(h *autoscalingv2.HorizontalPodAutoscaler, now time.Time) ([]interface{}, error) {
		return hpaRow(&h.ObjectMeta, h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name, h.Spec.MinReplicas,
			h.Spec.MaxReplicas, h.Status.CurrentReplicas, h.Spec.Metrics, h.Status.CurrentMetrics, now), nil
	})
	register(gk, columns, func(h *autoscalingv1.HorizontalPodAutoscaler, now time.Time) ([]interface{}, error) {
		specs, statuses := v1CPUMetrics(h)
		return hpaRow(&h.ObjectMeta, h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name, h.Spec.MinReplicas,
			h.Spec.MaxReplicas, h.Status.CurrentReplicas, specs, statuses, now), nil
	})
}

func hpaRow(m *metav1.ObjectMeta, kind, name string, minReplicas *int32, maxReplicas, current int32,
	specs []autoscalingv2.MetricSpec, statuses []autoscalingv2.MetricStatus, now time.Time) []interface{} {
	minPods := "<unset>"
	if minReplicas != nil {
		minPods = fmt.Sprintf("%d", *minReplicas)
	}
	return []interface{}{
		m.Name, kind + "/" + name, hpaTargets(specs, statuses), minPods, int64(maxReplicas), int64(current),
		since(m.CreationTimestamp, now),
	}
}

// v1CPUMetrics expresses autoscaling/v1's CPU target and reading as the
// equivalent v2 resource metric.
func v1CPUMetrics(h *autoscalingv1.HorizontalPodAutoscaler) ([]autoscalingv2.MetricSpec, []autoscalingv2.MetricStatus) {
	var specs []autoscalingv2.MetricSpec
	var statuses []autoscalingv2.MetricStatus
	if h.Spec.TargetCPUUtilizationPercentage != nil {
		specs = []autoscalingv2.MetricSpec{{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{
				Type: autoscalingv2.UtilizationMetricType, AverageUtilization: h.Spec.TargetCPUUtilizationPercentage,
			}},
		}}
	}
	if h.Status.CurrentCPUUtilizationPercentage != nil {
		statuses = []autoscalingv2.MetricStatus{{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{
				AverageUtilization: h.Status.CurrentCPUUtilizationPercentage,
			}},
		}}
	}
	return specs, statuses
}

// hpaTargets renders "current/target" per metric, pairing each spec with the
// status at the same index, and summarises past the second metric.
func hpaTargets(specs []autoscalingv2.MetricSpec, statuses []autoscalingv2.MetricStatus) string {
	if len(specs) == 0 {
		return "<none>"
	}
	const max = 2
	list := make([]string, 0, len(specs))
	for i, spec := range specs {
		var st *autoscalingv2.MetricStatus
		if i < len(statuses) {
			st = &statuses[i]
		}
		list = append(list, hpaTarget(spec, st))
	}
	if len(list) > max {
		return fmt.Sprintf("%s + %d more...", strings.Join(list[:max], ", "), len(list)-max)
	}
	return strings.Join(list, ", ")
}

func hpaTarget(spec autoscalingv2.MetricSpec, st *autoscalingv2.MetricStatus) string {
	const unknown = "<unknown>"
	switch {
	case spec.Type == autoscalingv2.ExternalMetricSourceType && spec.External != nil:
		var current *autoscalingv2.MetricValueStatus
		if st != nil && st.External != nil {
			current = &st.External.Current
		}
		return valueTarget(spec.External.Target, current)
	case spec.Type == autoscalingv2.PodsMetricSourceType && spec.Pods != nil:
		current := unknown
		if st != nil && st.Pods != nil {
			current = st.Pods.Current.AverageValue.String()
		}
		return current + "/" + spec.Pods.Target.AverageValue.String()
	case spec.Type == autoscalingv2.ObjectMetricSourceType && spec.Object != nil:
		var current *autoscalingv2.MetricValueStatus
		if st != nil && st.Object != nil {
			current = &st.Object.Current
		}
		return valueTarget(spec.Object.Target, current)
	case spec.Type == autoscalingv2.ResourceMetricSourceType && spec.Resource != nil:
		var current *autoscalingv2.MetricValueStatus
		if st != nil && st.Resource != nil {
			current = &st.Resource.Current
		}
		return resourceTarget(spec.Resource.Name, spec.Resource.Target, current)
	case spec.Type == autoscalingv2.ContainerResourceMetricSourceType && spec.ContainerResource != nil:
		var current *autoscalingv2.MetricValueStatus
		if st != nil && st.ContainerResource != nil {
			current = &st.ContainerResource.Current
		}
		return resourceTarget(spec.ContainerResource.Name, spec.ContainerResource.Target, current)
	default:
		return "<unknown type>"
	}
}

// valueTarget renders an object or external metric, marking averaged
// targets with "(avg)".
func valueTarget(target autoscalingv2.MetricTarget, current *autoscalingv2.MetricValueStatus) string {
	cur := "<unknown>"
	if target.AverageValue != nil {
		if current != nil && current.AverageValue != nil {
			cur = current.AverageValue.String()
		}
		return fmt.Sprintf("%s/%s (avg)", cur, target.AverageValue.String())
	}
	if current != nil {
		cur = current.Value.String()
	}
	return cur + "/" + target.Value.String()
}

// resourceTarget renders "name: current/target", as a quantity for average
// value targets and as a percentage for utilization targets.
func resourceTarget(name corev1.ResourceName, target autoscalingv2.MetricTarget, current *autoscalingv2.MetricValueStatus) string {
	cur := "<unknown>"
	if target.AverageValue != nil {
		if current != nil {
			cur = current.AverageValue.String()
		}
		return fmt.Sprintf("%s: %s/%s", name, cur, target.AverageValue.String())
	}
	if current != nil && current.AverageUtilization != nil {
		cur = fmt.Sprintf("%d%%", *current.AverageUtilization)
	}
	goal := "<auto>"
	if target.AverageUtilization != nil {
		goal = fmt.Sprintf("%d%%", *target.AverageUtilization)
	}
	return fmt.Sprintf("%s: %s/%s", name, cur, goal)
}
