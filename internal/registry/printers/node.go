package printers

import (
	"time"

	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func init() {
	// Upstream describes Handler with an ObjectMeta key that does not
	// exist, so the description is empty.
	register(schema.GroupKind{Group: "node.k8s.io", Kind: "RuntimeClass"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Handler", "string", objectMetaDoc["handler"]),
		ageColumn,
	}, func(rc *nodev1.RuntimeClass, now time.Time) ([]interface{}, error) {
		return []interface{}{rc.Name, rc.Handler, since(rc.CreationTimestamp, now)}, nil
	})
}
