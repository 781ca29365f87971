package podgc

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func TestCollect(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	mk := func(name, node string, phase corev1.PodPhase, age time.Duration, deleting bool) {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns",
			CreationTimestamp: metav1.NewTime(time.Now().Add(-age))},
			Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase}}
		if deleting {
			now := metav1.Now()
			p.DeletionTimestamp = &now
		}
		if _, err := client.CoreV1().Pods("ns").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*corev1.Node{
		{ObjectMeta: metav1.ObjectMeta{Name: "alive"}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "oos"}, Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: corev1.TaintNodeOutOfService, Effect: corev1.TaintEffectNoExecute}}},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}}},
	} {
		if _, err := client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 5; i++ {
		mk(fmt.Sprintf("done-%d", i), "alive", corev1.PodSucceeded, time.Duration(10-i)*time.Hour, false)
	}
	mk("running", "alive", corev1.PodRunning, time.Hour, false)
	mk("orphan", "deleted-node", corev1.PodRunning, time.Hour, false)
	mk("unscheduled-deleting", "", corev1.PodPending, time.Hour, true)
	mk("oos-deleting", "oos", corev1.PodRunning, time.Hour, true)
	mk("alive-deleting", "alive", corev1.PodRunning, time.Hour, true)

	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, Config{TerminatedThreshold: 3, Quarantine: time.Minute}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	clock := time.Now()
	c.now = func() time.Time { return clock }
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	factory.WaitForCacheSync(stop)

	exists := func(name string) bool {
		_, err := client.CoreV1().Pods("ns").Get(ctx, name, metav1.GetOptions{})
		return err == nil
	}
	c.collect(ctx)
	for name, want := range map[string]bool{
		"done-0": false, "done-1": false, "done-2": true, "done-3": true, "done-4": true, // the two oldest go
		"running": true, "unscheduled-deleting": false, "oos-deleting": false, "alive-deleting": true,
		"orphan": true, // still in quarantine
	} {
		if got := exists(name); got != want {
			t.Errorf("after the first pass %s exists=%v, want %v", name, got, want)
		}
	}
	clock = clock.Add(2 * time.Minute)
	c.collect(ctx)
	if exists("orphan") {
		t.Error("the pod of a node gone for longer than the quarantine was kept")
	}
}
