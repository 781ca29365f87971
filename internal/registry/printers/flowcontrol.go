package printers

import (
	"time"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func init() {
	fsSpec := flowcontrolv1.FlowSchemaSpec{}.SwaggerDoc()
	register(schema.GroupKind{Group: "flowcontrol.apiserver.k8s.io", Kind: "FlowSchema"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("PriorityLevel", "string", flowcontrolv1.PriorityLevelConfigurationReference{}.SwaggerDoc()["name"]),
		column("MatchingPrecedence", "string", fsSpec["matchingPrecedence"]),
		column("DistinguisherMethod", "string", fsSpec["distinguisherMethod"]),
		ageColumn,
		column("MissingPL", "string", "references a broken or non-existent PriorityLevelConfiguration"),
	}, flowSchemaRow)

	queuing := flowcontrolv1.QueuingConfiguration{}.SwaggerDoc()
	register(schema.GroupKind{Group: "flowcontrol.apiserver.k8s.io", Kind: "PriorityLevelConfiguration"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Type", "string", flowcontrolv1.PriorityLevelConfigurationSpec{}.SwaggerDoc()["type"]),
		column("NominalConcurrencyShares", "string", flowcontrolv1.LimitedPriorityLevelConfiguration{}.SwaggerDoc()["nominalConcurrencyShares"]),
		column("Queues", "string", queuing["queues"]),
		column("HandSize", "string", queuing["handSize"]),
		column("QueueLengthLimit", "string", queuing["queueLengthLimit"]),
		ageColumn,
	}, priorityLevelRow)
}

func flowSchemaRow(fs *flowcontrolv1.FlowSchema, now time.Time) ([]interface{}, error) {
	method := "<none>"
	if fs.Spec.DistinguisherMethod != nil {
		method = string(fs.Spec.DistinguisherMethod.Type)
	}
	// "?" until the controller has judged the priority level reference.
	missing := "?"
	for _, c := range fs.Status.Conditions {
		if c.Type == flowcontrolv1.FlowSchemaConditionDangling {
			missing = string(c.Status)
			break
		}
	}
	return []interface{}{
		fs.Name, fs.Spec.PriorityLevelConfiguration.Name, int64(fs.Spec.MatchingPrecedence), method,
		since(fs.CreationTimestamp, now), missing,
	}, nil
}

func priorityLevelRow(pl *flowcontrolv1.PriorityLevelConfiguration, now time.Time) ([]interface{}, error) {
	var shares, queues, handSize, queueLength interface{} = "<none>", "<none>", "<none>", "<none>"
	if l := pl.Spec.Limited; l != nil {
		shares = deref(l.NominalConcurrencyShares)
		if q := l.LimitResponse.Queuing; q != nil {
			queues, handSize, queueLength = q.Queues, q.HandSize, q.QueueLengthLimit
		}
	}
	return []interface{}{pl.Name, string(pl.Spec.Type), shares, queues, handSize, queueLength, since(pl.CreationTimestamp, now)}, nil
}
