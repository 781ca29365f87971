package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

const cpTaint = "node-role.kubernetes.io/control-plane"

// schedNode creates a Ready node with the given cpu (memory 4Gi, 110 pods).
func schedNode(t *testing.T, c kubernetes.Interface, name, cpu string, labels map[string]string, taints ...corev1.Taint) {
	t.Helper()
	ctx := context.Background()
	n, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.NodeSpec{Taints: taints},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(cpu),
		corev1.ResourceMemory: resource.MustParse("4Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := c.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Status.Capacity = res
		n.Status.Allocatable = res
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		_, err = c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func schedPod(t *testing.T, c kubernetes.Interface, ns, name, cpu string, mutate ...func(*corev1.Pod)) {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("128Mi"),
			}}}}},
	}
	for _, m := range mutate {
		m(p)
	}
	if _, err := c.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitPod polls the pod until cond holds, failing after 20s.
func waitPod(t *testing.T, c kubernetes.Interface, ns, name, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last *corev1.Pod
	for time.Now().Before(deadline) {
		p, err := c.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			last = p
			if cond(p) {
				return p
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("pod %s/%s: timed out waiting until %s; last: spec.nodeName=%q conditions=%+v", ns, name, what, last.Spec.NodeName, last.Status.Conditions)
	return nil
}

func bound(p *corev1.Pod) bool { return p.Spec.NodeName != "" }

func scheduledCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodScheduled {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func unschedulableWith(msg string) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool {
		c := scheduledCondition(p)
		return p.Spec.NodeName == "" && c != nil && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable && c.Message == msg
	}
}

func hasEvent(t *testing.T, c kubernetes.Interface, ns, pod, reason, message string) bool {
	t.Helper()
	list, err := c.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list.Items {
		if e.InvolvedObject.Name == pod && e.Reason == reason && (message == "" || e.Message == message) {
			return true
		}
	}
	return false
}

func waitEvent(t *testing.T, c kubernetes.Interface, ns, pod, reason, message string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if hasEvent(t, c, ns, pod, reason, message) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no %s event for pod %s/%s with message %q", reason, ns, pod, message)
}

func TestScheduler(t *testing.T) {
	ts := startServer(t)
	c := ts.Client
	ctx := context.Background()
	const ns = "sched"
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	schedNode(t, c, "node-a", "2", map[string]string{"zone": "a"})
	schedNode(t, c, "node-b", "2", map[string]string{"zone": "b", "disk": "ssd"})
	schedNode(t, c, "node-cp", "2", map[string]string{"role": "control-plane"},
		corev1.Taint{Key: cpTaint, Effect: corev1.TaintEffectNoSchedule})

	t.Run("fits", func(t *testing.T) {
		schedPod(t, c, ns, "small", "500m")
		p := waitPod(t, c, ns, "small", "bound", bound)
		if p.Spec.NodeName != "node-a" && p.Spec.NodeName != "node-b" {
			t.Fatalf("small bound to %q, want an untainted node", p.Spec.NodeName)
		}
		if cond := scheduledCondition(p); cond == nil || cond.Status != corev1.ConditionTrue {
			t.Fatalf("PodScheduled condition = %+v, want True", cond)
		}
		waitEvent(t, c, ns, "small", "Scheduled", fmt.Sprintf("Successfully assigned %s/small to %s", ns, p.Spec.NodeName))
	})

	t.Run("nodeSelector", func(t *testing.T) {
		schedPod(t, c, ns, "ssd", "100m", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} })
		if p := waitPod(t, c, ns, "ssd", "bound", bound); p.Spec.NodeName != "node-b" {
			t.Fatalf("ssd bound to %q, want node-b", p.Spec.NodeName)
		}
	})

	t.Run("tolerations", func(t *testing.T) {
		cp := func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"role": "control-plane"} }
		schedPod(t, c, ns, "cp-tolerating", "100m", cp, func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: cpTaint, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
		})
		if p := waitPod(t, c, ns, "cp-tolerating", "bound", bound); p.Spec.NodeName != "node-cp" {
			t.Fatalf("cp-tolerating bound to %q, want node-cp", p.Spec.NodeName)
		}
		schedPod(t, c, ns, "cp-intolerant", "100m", cp)
		msg := "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match Pod's node affinity/selector." +
			" preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
		waitPod(t, c, ns, "cp-intolerant", "unschedulable", unschedulableWith(msg))
	})

	t.Run("insufficient", func(t *testing.T) {
		schedPod(t, c, ns, "huge", "3")
		msg := "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu." +
			" preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."
		waitPod(t, c, ns, "huge", "unschedulable", unschedulableWith(msg))
		waitEvent(t, c, ns, "huge", "FailedScheduling", msg)

		// Requests add up: node-a and node-b have at most 1.9 cpu left, so two 1.3 cpu pods go one to each and a third fits neither.
		schedPod(t, c, ns, "fill-1", "1300m")
		schedPod(t, c, ns, "fill-2", "1300m")
		p1 := waitPod(t, c, ns, "fill-1", "bound", bound)
		p2 := waitPod(t, c, ns, "fill-2", "bound", bound)
		if p1.Spec.NodeName == p2.Spec.NodeName || p1.Spec.NodeName == "node-cp" || p2.Spec.NodeName == "node-cp" {
			t.Fatalf("fill pods on %q and %q, want one on each untainted node", p1.Spec.NodeName, p2.Spec.NodeName)
		}
		schedPod(t, c, ns, "fill-3", "1300m")
		waitPod(t, c, ns, "fill-3", "unschedulable", unschedulableWith(
			"0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu."+
				" preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."))

		// A bigger node joining lets the pending pods in.
		schedNode(t, c, "node-big", "8", nil)
		if p := waitPod(t, c, ns, "huge", "bound", bound); p.Spec.NodeName != "node-big" {
			t.Fatalf("huge bound to %q, want node-big", p.Spec.NodeName)
		}
		if p := waitPod(t, c, ns, "fill-3", "bound", bound); p.Spec.NodeName != "node-big" {
			t.Fatalf("fill-3 bound to %q, want node-big", p.Spec.NodeName)
		}

		// Deleting a bound pod frees its share.
		schedPod(t, c, ns, "fill-4", "6")
		waitPod(t, c, ns, "fill-4", "unschedulable", func(p *corev1.Pod) bool {
			cond := scheduledCondition(p)
			return cond != nil && cond.Status == corev1.ConditionFalse
		})
		if err := c.CoreV1().Pods(ns).Delete(ctx, "huge", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
			t.Fatal(err)
		}
		if p := waitPod(t, c, ns, "fill-4", "bound", bound); p.Spec.NodeName != "node-big" {
			t.Fatalf("fill-4 bound to %q, want node-big", p.Spec.NodeName)
		}
	})

	t.Run("otherScheduler", func(t *testing.T) {
		schedPod(t, c, ns, "custom", "100m", func(p *corev1.Pod) { p.Spec.SchedulerName = "my-scheduler" })
		time.Sleep(time.Second)
		p, err := c.CoreV1().Pods(ns).Get(ctx, "custom", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.NodeName != "" || scheduledCondition(p) != nil {
			t.Fatalf("pod for another scheduler was touched: nodeName=%q conditions=%+v", p.Spec.NodeName, p.Status.Conditions)
		}
	})
}
