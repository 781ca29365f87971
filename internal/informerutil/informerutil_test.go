package informerutil

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

func TestStripManagedFields(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"a": "b"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}}}
	out, err := StripManagedFields(pod)
	if err != nil {
		t.Fatal(err)
	}
	if p := out.(*corev1.Pod); p.ManagedFields != nil || p.Name != "p" || p.Labels["a"] != "b" {
		t.Errorf("stripped pod: %+v", p.ObjectMeta)
	}
	// Tombstones and other non-objects pass unchanged.
	tomb := cache.DeletedFinalStateUnknown{Key: "ns/p"}
	if out, err := StripManagedFields(tomb); err != nil || out != tomb {
		t.Errorf("tombstone: %v %v", out, err)
	}
}
