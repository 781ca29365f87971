package integration

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A new namespace gets its default ServiceAccount and the cluster CA
// bundle, as on upstream clusters.
func TestNamespaceDefaults(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	if _, err := ts.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fresh"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"default", "kube-system", "fresh"} {
		waitFor(t, "default service account in "+ns, 30*time.Second, func() bool {
			_, err := ts.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
			return err == nil
		})
		waitFor(t, "kube-root-ca.crt in "+ns, 30*time.Second, func() bool {
			cm, err := ts.Client.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
			return err == nil && string(cm.Data["ca.crt"]) == string(ts.Config.CAData)
		})
	}
}
