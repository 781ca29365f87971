package dns

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestEnsureService(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	for range 2 {
		for _, n := range []struct{ node, addr string }{{"server-1", "10.230.0.2"}, {"server-2", "10.230.0.3"}} {
			if err := EnsureService(ctx, client, "10.43.0.10", n.node, n.addr, 53); err != nil {
				t.Fatal(err)
			}
		}
	}
	svc, err := client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP != "10.43.0.10" || svc.Spec.Selector != nil || svc.Labels["k8s-app"] != "kube-dns" || svc.Labels["kubernetes.io/name"] != "CoreDNS" {
		t.Errorf("service %+v", svc)
	}
	if len(svc.Spec.Ports) != 2 || svc.Spec.Ports[0].Name != "dns" || svc.Spec.Ports[0].Protocol != corev1.ProtocolUDP ||
		svc.Spec.Ports[1].Name != "dns-tcp" || svc.Spec.Ports[1].Protocol != corev1.ProtocolTCP || svc.Spec.Ports[1].Port != 53 {
		t.Errorf("ports %+v", svc.Spec.Ports)
	}
	list, err := client.DiscoveryV1().EndpointSlices("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=kube-dns"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 2 {
		t.Fatalf("%d slices, want 2", len(list.Items))
	}
	for _, es := range list.Items {
		if es.Labels[discoveryv1.LabelManagedBy] != "skiff-dns" || len(es.Endpoints) != 1 || !*es.Endpoints[0].Conditions.Ready ||
			len(es.Ports) != 2 || *es.Ports[0].Port != 53 || !strings.HasPrefix(es.Name, "kube-dns-server-") {
			t.Errorf("slice %+v", es)
		}
	}

	// Calls that change nothing write nothing.
	client.ClearActions()
	if err := EnsureService(ctx, client, "10.43.0.10", "server-1", "10.230.0.2", 53); err != nil {
		t.Fatal(err)
	}
	for _, a := range client.Actions() {
		if a.GetVerb() != "get" {
			t.Errorf("unexpected %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}

	// The node's address changes: the slice follows.
	if err := EnsureService(ctx, client, "10.43.0.10", "server-1", "10.230.0.9", 5353); err != nil {
		t.Fatal(err)
	}
	es, err := client.DiscoveryV1().EndpointSlices("kube-system").Get(ctx, "kube-dns-server-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if es.Endpoints[0].Addresses[0] != "10.230.0.9" || *es.Ports[1].Port != 5353 {
		t.Errorf("slice not updated: %+v", es)
	}

	// Another cluster IP cannot be had.
	if err := EnsureService(ctx, client, "10.43.0.11", "server-1", "10.230.0.9", 53); err == nil {
		t.Error("EnsureService with another cluster IP succeeded")
	}
	if err := EnsureService(ctx, client, "10.43.0.10", "server-1", "not-an-ip", 53); err == nil {
		t.Error("EnsureService with a bad address succeeded")
	}
}

// TestEndpointOwnedAndRemoved: a server's endpoint of kube-dns is owned by
// its Node (deleting the node deletes it) and removed when the server stops.
func TestEndpointOwnedAndRemoved(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "server-1", UID: "node-uid"}})
	if err := EnsureService(ctx, client, "10.43.0.10", "server-1", "10.230.0.2", 53); err != nil {
		t.Fatal(err)
	}
	es, err := client.DiscoveryV1().EndpointSlices("kube-system").Get(ctx, "kube-dns-server-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(es.OwnerReferences) != 1 || es.OwnerReferences[0].Kind != "Node" || es.OwnerReferences[0].UID != "node-uid" {
		t.Fatalf("owner references %+v", es.OwnerReferences)
	}
	if err := RemoveEndpoint(ctx, client, "server-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DiscoveryV1().EndpointSlices("kube-system").Get(ctx, "kube-dns-server-1", metav1.GetOptions{}); err == nil {
		t.Fatal("the endpoint is still there")
	}
	if err := RemoveEndpoint(ctx, client, "server-1"); err != nil {
		t.Fatalf("removing twice: %v", err)
	}
}
