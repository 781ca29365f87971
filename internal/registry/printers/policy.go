package printers

import (
	"time"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func init() {
	register(schema.GroupKind{Group: "policy", Kind: "PodDisruptionBudget"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Min Available", "string", "The minimum number of pods that must be available."),
		column("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
		column("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
		ageColumn,
	}, func(pdb *policyv1.PodDisruptionBudget, now time.Time) ([]interface{}, error) {
		return []interface{}{
			pdb.Name, intOrStringOrNA(pdb.Spec.MinAvailable), intOrStringOrNA(pdb.Spec.MaxUnavailable),
			int64(pdb.Status.DisruptionsAllowed), since(pdb.CreationTimestamp, now),
		}, nil
	})
}

func intOrStringOrNA(v *intstr.IntOrString) string {
	if v == nil {
		return "N/A"
	}
	return v.String()
}
