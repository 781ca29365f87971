package bootstrapsigner

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"skiff/internal/bootstraptoken"
)

func TestSignsClusterInfoAndDropsExpiredTokens(t *testing.T) {
	valid := "abcdef.0123456789abcdef"
	good, _ := bootstraptoken.Secret(valid, time.Hour, "")
	old, _ := bootstraptoken.Secret("zzzzzz.0123456789abcdef", time.Hour, "")
	old.Data[bootstraptoken.KeyExpiration] = []byte(time.Now().Add(-time.Minute).UTC().Format(time.RFC3339))
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cluster-info", Namespace: "kube-public"},
		Data: map[string]string{"kubeconfig": "payload", "jws-kubeconfig-stale00": "x"}}
	client := fake.NewClientset(good, old, cm)
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	go func() { _ = c.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for ; time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		got, err := client.CoreV1().ConfigMaps("kube-public").Get(ctx, "cluster-info", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, oldErr := client.CoreV1().Secrets("kube-system").Get(ctx, old.Name, metav1.GetOptions{})
		sig, signed := got.Data["jws-kubeconfig-abcdef"]
		_, stale := got.Data["jws-kubeconfig-stale00"]
		_, expiredSig := got.Data["jws-kubeconfig-zzzzzz"]
		if signed && !stale && !expiredSig && oldErr != nil {
			if !bootstraptoken.Verify(sig, []byte("payload"), "abcdef", "0123456789abcdef") {
				t.Fatal("signature does not verify")
			}
			return
		}
	}
	t.Fatal("cluster-info not signed with exactly the valid token, or the expired token not deleted")
}
