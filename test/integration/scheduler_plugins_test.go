package integration

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/simnodes"
)

// TestSchedulerPodAntiAffinity spreads pods that refuse to share a node:
// three fit on three nodes, a fourth stays pending with upstream's reason.
func TestSchedulerPodAntiAffinity(t *testing.T) {
	ts := startServer(t)
	c := ts.Client
	for _, n := range []string{"aa-1", "aa-2", "aa-3"} {
		schedNode(t, c, n, "4", map[string]string{corev1.LabelHostname: n})
	}
	anti := func(p *corev1.Pod) {
		p.Labels = map[string]string{"app": "web"}
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey:   corev1.LabelHostname,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			}},
		}}
	}
	nodes := map[string]bool{}
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("web-%d", i)
		schedPod(t, c, "default", name, "100m", anti)
		p := waitPod(t, c, "default", name, "bound", bound)
		nodes[p.Spec.NodeName] = true
	}
	if len(nodes) != 3 {
		t.Fatalf("replicas share nodes: %v", nodes)
	}
	schedPod(t, c, "default", "web-4", "100m", anti)
	msg := "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
	waitPod(t, c, "default", "web-4", "unschedulable for anti-affinity", unschedulableWith(msg))
	waitEvent(t, c, "default", "web-4", "FailedScheduling", msg)
}

// TestSchedulerTopologySpread keeps pods within maxSkew 1 over zones.
func TestSchedulerTopologySpread(t *testing.T) {
	ts := startServer(t)
	c := ts.Client
	schedNode(t, c, "ts-a1", "4", map[string]string{corev1.LabelTopologyZone: "a"})
	schedNode(t, c, "ts-a2", "4", map[string]string{corev1.LabelTopologyZone: "a"})
	schedNode(t, c, "ts-b1", "4", map[string]string{corev1.LabelTopologyZone: "b"})
	spread := func(p *corev1.Pod) {
		p.Labels = map[string]string{"app": "spread"}
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "spread"}},
		}}
	}
	zoneOf := map[string]string{"ts-a1": "a", "ts-a2": "a", "ts-b1": "b"}
	perZone := map[string]int{}
	for i := 1; i <= 4; i++ {
		name := fmt.Sprintf("spread-%d", i)
		schedPod(t, c, "default", name, "100m", spread)
		p := waitPod(t, c, "default", name, "bound", bound)
		perZone[zoneOf[p.Spec.NodeName]]++
		if d := perZone["a"] - perZone["b"]; d > 1 || d < -1 {
			t.Fatalf("after %d pods the zones hold %v", i, perZone)
		}
	}
	if perZone["a"] != 2 || perZone["b"] != 2 {
		t.Fatalf("zones hold %v, want 2 and 2", perZone)
	}
	// A node outside any zone is never picked for a constrained pod.
	schedNode(t, c, "ts-nozone", "4", nil)
	schedPod(t, c, "default", "spread-5", "100m", spread)
	if p := waitPod(t, c, "default", "spread-5", "bound", bound); p.Spec.NodeName == "ts-nozone" {
		t.Fatalf("pod placed on a node without the zone label")
	}
}

// TestSchedulerPreemption: a pod of a higher PriorityClass takes the place
// of a lower-priority one on a full node; an unknown class is refused.
func TestSchedulerPreemption(t *testing.T) {
	ts := startServer(t)
	c := ts.Client
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := simnodes.New(c, simnodes.Config{Count: 1, Prefix: "pre-node-", CPU: "1", RenewInterval: time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	go sim.Run(ctx)

	for name, v := range map[string]int32{"low": 10, "high": 1000} {
		if _, err := c.SchedulingV1().PriorityClasses().Create(ctx, &schedulingv1.PriorityClass{
			ObjectMeta: metav1.ObjectMeta{Name: name}, Value: v}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The built-in classes exist.
	for _, name := range []string{"system-cluster-critical", "system-node-critical"} {
		if _, err := c.SchedulingV1().PriorityClasses().Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Fatalf("built-in class %s: %v", name, err)
		}
	}

	schedPod(t, c, "default", "victim", "800m", func(p *corev1.Pod) { p.Spec.PriorityClassName = "low" })
	v := waitPod(t, c, "default", "victim", "bound", bound)
	if v.Spec.Priority == nil || *v.Spec.Priority != 10 {
		t.Fatalf("victim priority %v, want 10", v.Spec.Priority)
	}
	schedPod(t, c, "default", "preemptor", "800m", func(p *corev1.Pod) { p.Spec.PriorityClassName = "high" })
	p := waitPod(t, c, "default", "preemptor", "bound", bound)
	if p.Spec.NodeName != v.Spec.NodeName {
		t.Fatalf("preemptor on %s, want %s", p.Spec.NodeName, v.Spec.NodeName)
	}
	waitFor(t, "victim gone", 20*time.Second, func() bool {
		_, err := c.CoreV1().Pods("default").Get(ctx, "victim", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	waitEvent(t, c, "default", "victim", "Preempted", fmt.Sprintf("Preempted by pod %v on node %v", p.UID, p.Spec.NodeName))

	// An unknown class is refused at admission.
	_, err := c.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "nope"},
		Spec:       corev1.PodSpec{PriorityClassName: "no-such-class", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || err.Error() != `pods "nope" is forbidden: no PriorityClass with name no-such-class was found` {
		t.Fatalf("pod with an unknown class: %v", err)
	}
}
