package nodeipam

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestAssignsDistinctSubnetsAndKeepsExisting(t *testing.T) {
	client := fake.NewClientset(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "old"}, Spec: corev1.NodeSpec{PodCIDR: "10.42.0.0/24", PodCIDRs: []string{"10.42.0.0/24"}}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "a"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "b"}},
	)
	c, err := New(client, "10.42.0.0/16", 24, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		nodes, _ := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		seen := map[string]string{}
		ok := true
		for _, n := range nodes.Items {
			if n.Spec.PodCIDR == "" {
				ok = false
				continue
			}
			if other, dup := seen[n.Spec.PodCIDR]; dup {
				t.Fatalf("%s and %s both got %s", n.Name, other, n.Spec.PodCIDR)
			}
			seen[n.Spec.PodCIDR] = n.Name
		}
		if ok {
			if seen["10.42.0.0/24"] != "old" {
				t.Fatalf("existing assignment changed: %v", seen)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes without a pod CIDR: %+v", nodes.Items)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSubnetMath(t *testing.T) {
	c, err := New(fake.NewClientset(), "10.42.0.0/16", 24, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if c.subnets() != 256 || c.subnet(0) != "10.42.0.0/24" || c.subnet(255) != "10.42.255.0/24" {
		t.Fatalf("subnets %d, first %s, last %s", c.subnets(), c.subnet(0), c.subnet(255))
	}
	if i, ok := c.index("10.42.7.0/24"); !ok || i != 7 {
		t.Fatalf("index of 10.42.7.0/24 = %d %v", i, ok)
	}
	if _, ok := c.index("10.43.0.0/24"); ok {
		t.Fatal("a subnet outside the cluster CIDR was taken as ours")
	}
	if _, err := New(fake.NewClientset(), "10.42.0.0/16", 8, nil); err == nil {
		t.Fatal("a node mask wider than the cluster CIDR was accepted")
	}
}
