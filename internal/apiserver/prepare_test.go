package apiserver

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/registry"
)

// TestNamespaceNameLabel: a namespace always carries the label
// kubernetes.io/metadata.name with its name, whatever the writer sent.
func TestNamespaceNameLabel(t *testing.T) {
	res := registry.Lookup("", "v1", "namespaces")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
	prepareCreate(res, ns)
	if got := ns.Labels[corev1.LabelMetadataName]; got != "team-a" {
		t.Fatalf("created namespace: label %q, want team-a", got)
	}
	updated := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{corev1.LabelMetadataName: "other", "x": "y"}}}
	prepareUpdate(res, updated, ns)
	if got := updated.Labels[corev1.LabelMetadataName]; got != "team-a" || updated.Labels["x"] != "y" {
		t.Fatalf("updated namespace labels %v", updated.Labels)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "team-a"}}
	prepareCreate(registry.Lookup("", "v1", "configmaps"), cm)
	if len(cm.Labels) != 0 {
		t.Fatalf("a configmap got labels %v", cm.Labels)
	}
}
