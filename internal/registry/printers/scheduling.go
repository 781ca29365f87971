package printers

import (
	"time"

	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func init() {
	pc := schedulingv1.PriorityClass{}.SwaggerDoc()
	register(schema.GroupKind{Group: "scheduling.k8s.io", Kind: "PriorityClass"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Value", "integer", pc["value"]),
		column("Global-Default", "boolean", pc["globalDefault"]),
		ageColumn,
		// Upstream gives PreemptionPolicy priority 0, so it shows without -o wide.
		column("PreemptionPolicy", "string", pc["preemptionPolicy"]),
	}, func(p *schedulingv1.PriorityClass, now time.Time) ([]interface{}, error) {
		policy := ""
		if p.PreemptionPolicy != nil {
			policy = string(*p.PreemptionPolicy)
		}
		return []interface{}{p.Name, int64(p.Value), p.GlobalDefault, since(p.CreationTimestamp, now), policy}, nil
	})
}
