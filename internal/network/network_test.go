package network

import (
	"context"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/knftables"
)

func node(name, cidr, ip string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDR: cidr}}
	if ip != "" {
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: ip}}
	}
	return n
}

func TestDesired(t *testing.T) {
	for _, tc := range []struct {
		name   string
		nodes  []*corev1.Node
		routes map[string]string
		cidrs  string
		own    string
	}{
		{"alone", []*corev1.Node{node("a", "10.42.0.0/24", "10.0.0.1")}, map[string]string{}, "10.42.0.0/24", "10.42.0.0/24"},
		{"three nodes", []*corev1.Node{node("a", "10.42.0.0/24", "10.0.0.1"), node("b", "10.42.1.0/24", "10.0.0.2"), node("c", "10.42.2.0/24", "10.0.0.3")},
			map[string]string{"10.42.1.0/24": "10.0.0.2", "10.42.2.0/24": "10.0.0.3"}, "10.42.0.0/24,10.42.1.0/24,10.42.2.0/24", "10.42.0.0/24"},
		{"no CIDR yet, no address yet", []*corev1.Node{node("a", "", "10.0.0.1"), node("b", "10.42.1.0/24", ""), node("c", "10.42.2.0/24", "10.0.0.3")},
			map[string]string{"10.42.2.0/24": "10.0.0.3"}, "10.42.1.0/24,10.42.2.0/24", ""},
		{"IPv6 address ignored", []*corev1.Node{node("a", "10.42.0.0/24", "10.0.0.1"), node("b", "10.42.1.0/24", "fd00::2")},
			map[string]string{}, "10.42.0.0/24,10.42.1.0/24", "10.42.0.0/24"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			routes, cidrs, own := desired("a", tc.nodes)
			if !maps.Equal(routes, tc.routes) || strings.Join(cidrs, ",") != tc.cidrs || own != tc.own {
				t.Fatalf("got %v %v %q, want %v %v %q", routes, cidrs, own, tc.routes, tc.cidrs, tc.own)
			}
		})
	}
}

// TestFollowsNodes runs the component on a fake cluster: routes appear
// for joining nodes, follow an address change, and go with a node that
// leaves; routes that are not ours are never touched.
func TestFollowsNodes(t *testing.T) {
	client := fake.NewClientset(node("a", "10.42.0.0/24", "10.0.0.1"), node("b", "10.42.1.0/24", "10.0.0.2"))
	routes := &MemoryRoutes{}
	nft := knftables.NewFake(knftables.IPv4Family, TableName)
	var mu sync.Mutex
	sysctls := map[string]string{}
	n, err := New(client, Config{NodeName: "a", Routes: routes, NFT: nft, Sysctl: func(p, v string) error {
		mu.Lock()
		defer mu.Unlock()
		sysctls[p] = v
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.Run(ctx) }()
	defer func() { cancel(); <-done }()

	waitRoutes := func(want map[string]string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, _ := routes.List()
			if maps.Equal(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("routes %v, want %v", got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitRoutes(map[string]string{"10.42.1.0/24": "10.0.0.2"})
	ctx2 := context.Background()
	if _, err := client.CoreV1().Nodes().Create(ctx2, node("c", "10.42.2.0/24", "10.0.0.3"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRoutes(map[string]string{"10.42.1.0/24": "10.0.0.2", "10.42.2.0/24": "10.0.0.3"})
	if _, err := client.CoreV1().Nodes().Update(ctx2, node("b", "10.42.1.0/24", "10.0.0.9"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRoutes(map[string]string{"10.42.1.0/24": "10.0.0.9", "10.42.2.0/24": "10.0.0.3"})
	if err := client.CoreV1().Nodes().Delete(ctx2, "c", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRoutes(map[string]string{"10.42.1.0/24": "10.0.0.9"})

	rules, err := nft.ListRules(ctx2, "postrouting")
	if err != nil || len(rules) != 1 || !strings.Contains(rules[0].Rule, "ip saddr 10.42.0.0/24 ip daddr != @pod-cidrs masquerade") {
		t.Fatalf("postrouting rules %v (%v)", rules, err)
	}
	els, err := nft.ListElements(ctx2, "set", "pod-cidrs")
	if err != nil || len(els) != 2 {
		t.Fatalf("pod-cidrs elements %v (%v), want both nodes' CIDRs", els, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if sysctls["net/ipv4/ip_forward"] != "1" || sysctls["net/bridge/bridge-nf-call-iptables"] != "1" {
		t.Fatalf("sysctls %v", sysctls)
	}
}
