package servicelb

import (
	"context"
	"log/slog"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func readyNode(name, ip string, ready bool) *corev1.Node {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}},
		Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}},
	}}
}

func svc(name string, typ corev1.ServiceType, class *string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{Type: typ, LoadBalancerClass: class, Ports: []corev1.ServicePort{{Port: 80}}}}
}

func ips(s *corev1.Service) []string {
	var out []string
	for _, in := range s.Status.LoadBalancer.Ingress {
		out = append(out, in.IP)
	}
	return out
}

// TestIngressFollowsReadyNodes: a LoadBalancer Service gets the Ready
// nodes' addresses (sorted), follows a node that fails or leaves, and a
// Service that stops being a LoadBalancer loses them; other classes and
// types are left alone.
func TestIngressFollowsReadyNodes(t *testing.T) {
	client := fake.NewClientset(
		readyNode("b", "10.0.0.12", true), readyNode("a", "10.0.0.9", true), readyNode("c", "10.0.0.13", false),
		svc("lb", corev1.ServiceTypeLoadBalancer, nil), svc("other", corev1.ServiceTypeLoadBalancer, ptr.To("example.com/lb")),
		svc("cip", corev1.ServiceTypeClusterIP, nil))
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, slog.Default())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	go func() { _ = c.Run(ctx) }()

	get := func(name string) *corev1.Service {
		s, err := client.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	waitIPs := func(name string, want []string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !reflect.DeepEqual(ips(get(name)), want) {
			if time.Now().After(deadline) {
				t.Fatalf("%s ingress %v, want %v", name, ips(get(name)), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitIPs("lb", []string{"10.0.0.9", "10.0.0.12"})
	if _, err := client.CoreV1().Nodes().Update(ctx, readyNode("c", "10.0.0.13", true), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitIPs("lb", []string{"10.0.0.9", "10.0.0.12", "10.0.0.13"})
	if err := client.CoreV1().Nodes().Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitIPs("lb", []string{"10.0.0.12", "10.0.0.13"})
	s := get("lb")
	s.Spec.Type = corev1.ServiceTypeClusterIP
	if _, err := client.CoreV1().Services("default").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitIPs("lb", nil)
	if got := ips(get("other")); got != nil {
		t.Errorf("a Service of another load-balancer class got %v", got)
	}
	if got := ips(get("cip")); got != nil {
		t.Errorf("a ClusterIP Service got %v", got)
	}
}
