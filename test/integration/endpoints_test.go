package integration

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"skiff/internal/simnodes"
)

// readyIPs are the IPs of the ready, not deleting pods with app=label.
func readyIPs(t *testing.T, c kubernetes.Interface, ns, label string) []string {
	t.Helper()
	pods, err := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + label})
	if err != nil {
		t.Fatal(err)
	}
	var ips []string
	for _, p := range pods.Items {
		ready := false
		for _, c := range p.Status.Conditions {
			ready = ready || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
		}
		if ready && p.DeletionTimestamp == nil && p.Status.PodIP != "" {
			ips = append(ips, p.Status.PodIP)
		}
	}
	sort.Strings(ips)
	return ips
}

// endpointIPs returns the ready IPs of a Service per its Endpoints and per
// its EndpointSlices.
func endpointIPs(t *testing.T, c kubernetes.Interface, ns, svc string) (eps, slices []string) {
	t.Helper()
	ctx := context.Background()
	if ep, err := c.CoreV1().Endpoints(ns).Get(ctx, svc, metav1.GetOptions{}); err == nil { //nolint:staticcheck // Endpoints are still served and read
		for _, s := range ep.Subsets {
			for _, a := range s.Addresses {
				eps = append(eps, a.IP)
			}
		}
	}
	list, err := c.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + svc})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && *e.Conditions.Ready {
				slices = append(slices, e.Addresses...)
			}
		}
	}
	sort.Strings(eps)
	sort.Strings(slices)
	return eps, slices
}

func TestEndpointsFollowReadyPods(t *testing.T) {
	ts := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := simnodes.New(ts.Client, simnodes.Config{Count: 2, RenewInterval: time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()
	defer func() { cancel(); <-done }()

	c := ts.Client
	if _, err := c.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mkPod := func(name, app string) {
		t.Helper()
		_, err := c.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": app}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	// match waits until both kinds of endpoints list exactly the ready
	// pods, want of them, and reports how long that took.
	match := func(what string, want int) time.Duration {
		t.Helper()
		start := time.Now()
		var last string
		deadline := start.Add(30 * time.Second)
		for time.Now().Before(deadline) {
			ready := readyIPs(t, c, "default", "web")
			eps, slices := endpointIPs(t, c, "default", "web")
			if len(ready) == want && fmt.Sprint(ready) == fmt.Sprint(eps) && fmt.Sprint(ready) == fmt.Sprint(slices) {
				return time.Since(start)
			}
			last = fmt.Sprintf("ready pods %v, endpoints %v, slices %v", ready, eps, slices)
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("%s: endpoints never matched the ready pods; last: %s", what, last)
		return 0
	}
	for i := 0; i < 3; i++ {
		mkPod(fmt.Sprintf("web-%d", i), "web")
	}
	mkPod("other", "db") // not selected
	match("three pods", 3)

	// Scaling up: the new pods show up as soon as they are ready.
	for i := 3; i < 6; i++ {
		mkPod(fmt.Sprintf("web-%d", i), "web")
	}
	t.Logf("endpoints followed a scale-up after %v (from the creates)", match("six pods", 6))

	// A pod turning unready leaves the ready lists, stays as not ready.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := c.CoreV1().Pods("default").Get(ctx, "web-0", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for i := range p.Status.Conditions {
			if p.Status.Conditions[i].Type == corev1.PodReady {
				p.Status.Conditions[i].Status = corev1.ConditionFalse
			}
		}
		_, err = c.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	match("one pod unready", 5)
	ep, err := c.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{}) //nolint:staticcheck // Endpoints are still served
	if err != nil || len(ep.Subsets) != 1 || len(ep.Subsets[0].NotReadyAddresses) != 1 || ep.Subsets[0].Ports[0].Port != 8080 {
		t.Fatalf("Endpoints %+v (err %v): want one not-ready address and the named port resolved to 8080", ep, err)
	}

	// Scaling down.
	for i := 3; i < 6; i++ {
		if err := c.CoreV1().Pods("default").Delete(ctx, fmt.Sprintf("web-%d", i), metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("endpoints followed a scale-down after %v (from the deletes)", match("after scale-down", 2))

	// kubectl shows both.
	for _, args := range [][]string{{"get", "endpoints", "web"}, {"get", "endpointslices", "-l", "kubernetes.io/service-name=web"}} {
		out, err := exec.Command(skiffBin(t), append([]string{"kubectl", "--kubeconfig", ts.Kubeconfig}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
		if !strings.Contains(string(out), "8080") {
			t.Fatalf("kubectl %v:\n%s", args, out)
		}
	}
}
