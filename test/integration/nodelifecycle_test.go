package integration

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"skiff/internal/app"
	"skiff/internal/simnodes"
)

// One of three nodes stops its heartbeats: after the grace period it is
// Unknown and tainted unreachable, and once the pods' short toleration has
// passed they are evicted and re-created on the other nodes.
func TestNodeFailureMovesPods(t *testing.T) {
	ts := startServer(t, func(c *app.ServerConfig) {
		c.NodeLifecycle.GracePeriod = 4 * time.Second
		c.NodeLifecycle.MonitorPeriod = 500 * time.Millisecond
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := simnodes.New(ts.Client, simnodes.Config{Count: 3, RenewInterval: time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()
	defer func() { cancel(); <-done }()
	failed := sim.NodeName(2)

	waitFor(t, "3 ready nodes", 30*time.Second, func() bool {
		nodes, err := ts.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil || len(nodes.Items) != 3 {
			return false
		}
		for _, n := range nodes.Items {
			if n.Spec.PodCIDR == "" || len(n.Status.Allocatable) == 0 {
				return false
			}
		}
		return true
	})

	labels := map[string]string{"app": "ha"}
	tol := func(key string) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](2)}
	}
	_, err := ts.Client.AppsV1().ReplicaSets("default").Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "ha"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](6),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers:  []corev1.Container{{Name: "c", Image: "img:1"}},
					Tolerations: []corev1.Toleration{tol(corev1.TaintNodeUnreachable), tol(corev1.TaintNodeNotReady)},
				},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// running counts running, ready, not deleting pods per node.
	running := func() (map[string]int, int) {
		pods, err := ts.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=ha"})
		if err != nil {
			return nil, 0
		}
		per, total := map[string]int{}, 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && podIsReady(&p) {
				per[p.Spec.NodeName]++
				total++
			}
		}
		return per, total
	}
	waitFor(t, "6 running pods, some on the node that will fail", 60*time.Second, func() bool {
		per, total := running()
		return total == 6 && per[failed] > 0
	})

	sim.StopHeartbeat(failed, true)
	waitFor(t, "the silent node Unknown with the unreachable taints", 30*time.Second, func() bool {
		n, err := ts.Client.CoreV1().Nodes().Get(ctx, failed, metav1.GetOptions{})
		if err != nil {
			return false
		}
		var noSched, noExec bool
		for _, tt := range n.Spec.Taints {
			noSched = noSched || (tt.Key == corev1.TaintNodeUnreachable && tt.Effect == corev1.TaintEffectNoSchedule)
			noExec = noExec || (tt.Key == corev1.TaintNodeUnreachable && tt.Effect == corev1.TaintEffectNoExecute)
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionUnknown && noSched && noExec
			}
		}
		return false
	})
	waitFor(t, "6 running pods again, none on the failed node", 60*time.Second, func() bool {
		per, total := running()
		return total == 6 && per[failed] == 0
	})
	// The evicted pods say why.
	pods, err := ts.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=ha"})
	if err != nil {
		t.Fatal(err)
	}
	evicted := 0
	for _, p := range pods.Items {
		if p.Spec.NodeName != failed {
			continue
		}
		if p.DeletionTimestamp == nil {
			t.Errorf("pod %s on the failed node not evicted", p.Name)
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.DisruptionTarget && c.Reason == "DeletionByTaintManager" {
				evicted++
			}
		}
	}
	if evicted == 0 {
		t.Error("no pod on the failed node carries the DisruptionTarget condition")
	}
}

func podIsReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
