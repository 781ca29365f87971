package integration

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/simnodes"
)

func TestSimulatedNodes(t *testing.T) {
	ts := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := simnodes.New(ts.Client, simnodes.Config{Count: 3, RenewInterval: time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()
	defer func() { cancel(); <-done }()

	waitFor(t, "3 ready simulated nodes with leases", 30*time.Second, func() bool {
		nodes, err := ts.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "type=simulated"})
		if err != nil || len(nodes.Items) != 3 {
			return false
		}
		for _, n := range nodes.Items {
			ready := false
			for _, c := range n.Status.Conditions {
				ready = ready || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
			}
			// The node IPAM controller gives every node its pod CIDR.
			if !ready || n.Status.Allocatable.Cpu().String() != "4" || n.Spec.PodCIDR == "" {
				return false
			}
			if _, err := ts.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, n.Name, metav1.GetOptions{}); err != nil {
				return false
			}
		}
		return true
	})

	// A pod bound to a simulated node runs there, with an IP.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "on-sim"}, Spec: corev1.PodSpec{
		NodeName: sim.NodeName(1), Containers: []corev1.Container{{Name: "c", Image: "img:1"}}}}
	if _, err := ts.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	node, err := ts.Client.CoreV1().Nodes().Get(ctx, sim.NodeName(1), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, podCIDR, err := net.ParseCIDR(node.Spec.PodCIDR)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pod running on a simulated node", 30*time.Second, func() bool {
		p, err := ts.Client.CoreV1().Pods("default").Get(ctx, "on-sim", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning && podCIDR.Contains(net.ParseIP(p.Status.PodIP)) && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].Ready
	})
	// Deleting it is graceful; the simulated node confirms and it goes.
	if err := ts.Client.CoreV1().Pods("default").Delete(ctx, "on-sim", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pod to be gone", 30*time.Second, func() bool {
		_, err := ts.Client.CoreV1().Pods("default").Get(ctx, "on-sim", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})

	// A node whose heartbeat stops keeps its old lease.
	sim.StopHeartbeat(sim.NodeName(2), true)
	before, err := ts.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, sim.NodeName(2), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	after, err := ts.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, sim.NodeName(2), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !after.Spec.RenewTime.Equal(before.Spec.RenewTime) {
		t.Fatal("a stopped node still renewed its lease")
	}
}
