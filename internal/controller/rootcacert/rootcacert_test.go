package rootcacert

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
)

func TestPublishesCA(t *testing.T) {
	const ca = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
	client := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}})
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, []byte(ca), slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done; factory.Shutdown() }()

	published := func() bool {
		cm, err := client.CoreV1().ConfigMaps("a").Get(ctx, Name, metav1.GetOptions{})
		return err == nil && len(cm.Data) == 1 && cm.Data[Key] == ca
	}
	wait := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if published() {
				return
			}
		}
		t.Fatalf("timed out waiting for %s", what)
	}
	wait("the CA published")
	cm, _ := client.CoreV1().ConfigMaps("a").Get(ctx, Name, metav1.GetOptions{})
	cm.Data = map[string]string{Key: "tampered", "extra": "x"}
	cm.ResourceVersion = "2"
	if _, err := client.CoreV1().ConfigMaps("a").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	wait("a tampered bundle restored")
	if err := client.CoreV1().ConfigMaps("a").Delete(ctx, Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	wait("a deleted bundle re-created")
}
