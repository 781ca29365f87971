package ingress

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func mkNode(name string, ready bool, ips ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}
	for _, ip := range ips {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	}
	n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeHostName, Address: name})
	return n
}

func lbIPs(ing *networkingv1.Ingress) []string {
	var out []string
	for _, i := range ing.Status.LoadBalancer.Ingress {
		out = append(out, i.IP)
	}
	return out
}

func TestStatusController(t *testing.T) {
	client := fake.NewClientset(
		mkNode("n3", true, "10.230.0.10"),
		mkNode("n1", true, "10.230.0.9"),
		mkNode("n2", false, "10.230.0.2"),
		mkIngress("default", "ours", 0, ptr.To("skiff"), pathSpec{"h", "/", prefix, "s", 80}),
		mkIngress("default", "theirs", 0, ptr.To("nginx"), pathSpec{"h", "/", prefix, "s", 80}),
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	s := NewStatusController(client, Config{Logger: quietLogger()})
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	}()
	get := func(name string) *networkingv1.Ingress {
		ing, err := client.NetworkingV1().Ingresses("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return ing
	}
	waitIPs := func(want ...string) {
		t.Helper()
		eventually(t, "status "+strings.Join(want, ","), func() bool { return slices.Equal(lbIPs(get("ours")), want) })
	}
	// Sorted numerically, only Ready nodes.
	waitIPs("10.230.0.9", "10.230.0.10")

	// A node becoming Ready is added.
	n2 := mkNode("n2", true, "10.230.0.2")
	if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, n2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitIPs("10.230.0.2", "10.230.0.9", "10.230.0.10")
	// A deleted node is removed.
	if err := client.CoreV1().Nodes().Delete(ctx, "n3", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitIPs("10.230.0.2", "10.230.0.9")
	// New Ingresses get the status too.
	if _, err := client.NetworkingV1().Ingresses("default").Create(ctx,
		mkIngress("default", "late", 1, ptr.To("skiff")), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "late status", func() bool { return len(lbIPs(get("late"))) == 2 })
	if got := lbIPs(get("theirs")); len(got) != 0 {
		t.Errorf("other class's Ingress got status %v", got)
	}
}

func TestEnsureClass(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	for range 2 {
		if err := EnsureClass(ctx, client); err != nil {
			t.Fatal(err)
		}
	}
	ic, err := client.NetworkingV1().IngressClasses().Get(ctx, "skiff", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ic.Spec.Controller != ControllerName || ic.Annotations[DefaultClassAnnotation] != "true" {
		t.Errorf("class = %+v", ic)
	}
	// An administrator's change is kept.
	ic.Annotations[DefaultClassAnnotation] = "false"
	if _, err := client.NetworkingV1().IngressClasses().Update(ctx, ic, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := EnsureClass(ctx, client); err != nil {
		t.Fatal(err)
	}
	ic, _ = client.NetworkingV1().IngressClasses().Get(ctx, "skiff", metav1.GetOptions{})
	if ic.Annotations[DefaultClassAnnotation] != "false" {
		t.Error("EnsureClass overwrote an existing class")
	}
	list, _ := client.NetworkingV1().IngressClasses().List(ctx, metav1.ListOptions{})
	if len(list.Items) != 1 {
		t.Errorf("%d classes", len(list.Items))
	}
}
