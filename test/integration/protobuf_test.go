package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// TestProtobufInformerWithWatchList drives an informer whose client speaks
// protobuf (requests, responses and the watch stream). client-go uses
// watch-list (sendInitialEvents) by default; the server's counter of
// initial-event watches shows it was used.
func TestProtobufInformerWithWatchList(t *testing.T) {
	ts := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := rest.CopyConfig(ts.Config)
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf"
	client := kubernetes.NewForConfigOrDie(cfg)

	for i := 0; i < 3; i++ {
		if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pre-%d", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	before := metricSum(t, ts.Client, "skiff_apiserver_watch_initial_events_total", `resource="configmaps"`)
	rec := &recorder{}
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace("default"))
	inf := factory.Core().V1().ConfigMaps().Informer()
	if _, err := inf.AddEventHandler(rec.handler()); err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("protobuf informer did not sync")
	}
	ours := 0
	for _, o := range inf.GetStore().List() {
		if o.(*corev1.ConfigMap).Name != rootCAConfigMap {
			ours++
		}
	}
	if ours != 3 {
		t.Fatalf("initial state has %d of our objects, want 3", ours)
	}
	if after := metricSum(t, ts.Client, "skiff_apiserver_watch_initial_events_total", `resource="configmaps"`); after <= before {
		t.Errorf("the informer did not use watch-list (initial-event watches %v before, %v after)", before, after)
	}
	cm, err := client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "live"}, Data: map[string]string{"v": "1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["v"] = "2"
	if _, err := client.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.CoreV1().ConfigMaps("default").Delete(ctx, "live", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "protobuf watch events", 20*time.Second, func() bool {
		ev := rec.snapshot()
		return len(ev) >= 6 && ev[len(ev)-1] == "delete live"
	})
	got := rec.snapshot()[3:]
	want := []string{"add live 1", "update live 2", "delete live"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("protobuf watch events %v, want %v", got, want)
		}
	}
}
