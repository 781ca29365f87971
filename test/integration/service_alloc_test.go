package integration

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

func nodePortService(name, clusterIP string, nodePort int32) *corev1.Service {
	typ := corev1.ServiceTypeClusterIP
	if nodePort >= 0 {
		typ = corev1.ServiceTypeNodePort
	}
	np := nodePort
	if np < 0 {
		np = 0
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Type: typ, ClusterIP: clusterIP, Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Port: 80, NodePort: np}},
		},
	}
}

func TestServiceAllocation(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	svcs := ts.Client.CoreV1().Services("default")

	kube, err := svcs.Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if kube.Spec.ClusterIP != "10.43.0.1" || kube.Spec.Ports[0].Port != 443 {
		t.Fatalf("default/kubernetes is %s:%d, want 10.43.0.1:443", kube.Spec.ClusterIP, kube.Spec.Ports[0].Port)
	}
	ep, err := ts.Client.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ep.Subsets[0].Ports[0].Port; int(got) != ts.Port {
		t.Fatalf("kubernetes endpoints port %d, want the API server's %d", got, ts.Port)
	}

	// Concurrent creates that ask for the same IP and node port: exactly one wins.
	var wg sync.WaitGroup
	results := make([]error, 8)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, results[i] = svcs.Create(ctx, nodePortService(fmt.Sprintf("same-%d", i), "10.43.9.9", 30555), metav1.CreateOptions{})
		}(i)
	}
	wg.Wait()
	ok := 0
	for _, err := range results {
		switch {
		case err == nil:
			ok++
		case apierrors.IsInvalid(err):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d creates got 10.43.9.9/30555, want exactly 1", ok)
	}

	// Concurrent dynamic allocations are all distinct and in range.
	const n = 40
	ips := make([]string, n)
	ports := make([]int32, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s, err := svcs.Create(ctx, nodePortService(fmt.Sprintf("dyn-%d", i), "", 0), metav1.CreateOptions{})
			errs[i] = err
			if err == nil {
				ips[i], ports[i] = s.Spec.ClusterIP, s.Spec.Ports[0].NodePort
			}
		}(i)
	}
	wg.Wait()
	_, cidr, _ := net.ParseCIDR("10.43.0.0/16")
	seenIP, seenPort := map[string]bool{"10.43.9.9": true, "10.43.0.1": true}, map[int32]bool{30555: true}
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Fatalf("dynamic create %d: %v", i, errs[i])
		}
		if seenIP[ips[i]] || !cidr.Contains(net.ParseIP(ips[i])) {
			t.Fatalf("cluster IP %s duplicated or out of range", ips[i])
		}
		if seenPort[ports[i]] || ports[i] < 30000 || ports[i] > 32767 {
			t.Fatalf("node port %d duplicated or out of range", ports[i])
		}
		seenIP[ips[i]], seenPort[ports[i]] = true, true
	}

	// Out of range values are refused with 422 naming the field.
	_, err = svcs.Create(ctx, nodePortService("bad-ip", "10.99.0.5", -1), metav1.CreateOptions{})
	assertInvalidField(t, err, "spec.clusterIPs[0]")
	_, err = svcs.Create(ctx, nodePortService("bad-port", "", 80), metav1.CreateOptions{})
	assertInvalidField(t, err, "spec.ports[0].nodePort")

	// Deleting releases; the values can be taken again.
	var winner string
	for i, err := range results {
		if err == nil {
			winner = fmt.Sprintf("same-%d", i)
		}
	}
	if err := svcs.Delete(ctx, winner, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := svcs.Create(ctx, nodePortService("again", "10.43.9.9", 30555), metav1.CreateOptions{}); err != nil {
		t.Fatalf("released IP/port could not be reused: %v", err)
	}
	// Switching to ClusterIP releases the node port.
	again, err := svcs.Get(ctx, "again", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	again.Spec.Type = corev1.ServiceTypeClusterIP
	if _, err := svcs.Update(ctx, again, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("type change to ClusterIP: %v", err)
	}
	if _, err := svcs.Create(ctx, nodePortService("port-reuse", "", 30555), metav1.CreateOptions{}); err != nil {
		t.Fatalf("node port released by a type change could not be reused: %v", err)
	}
	// A taken IP is refused, also for a new client after the fact.
	_, err = kubernetes.NewForConfigOrDie(ts.Config).CoreV1().Services("default").Create(ctx, nodePortService("dup", "10.43.9.9", -1), metav1.CreateOptions{})
	assertInvalidField(t, err, "spec.clusterIPs[0]")
}

func assertInvalidField(t *testing.T, err error, field string) {
	t.Helper()
	if !apierrors.IsInvalid(err) {
		t.Fatalf("want 422 Invalid on %s, got %v", field, err)
	}
	st := err.(apierrors.APIStatus).Status()
	for _, c := range st.Details.Causes {
		if c.Field == field {
			return
		}
	}
	t.Fatalf("422 does not name %s: %+v", field, st.Details.Causes)
}
