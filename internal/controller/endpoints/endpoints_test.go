package endpoints

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func testPod(name, ip string, ready bool, lbl string) *corev1.Pod {
	cond := corev1.ConditionFalse
	if ready {
		cond = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Labels: map[string]string{"app": lbl}},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "c",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: cond}}},
	}
}

func testService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "svc-uid", Labels: map[string]string{"tier": "front"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, ClusterIP: "10.43.0.10", Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
			{Name: "metrics", Port: 9090, Protocol: corev1.ProtocolTCP},
		}},
	}
}

func TestEndpointSubsets(t *testing.T) {
	now := metav1.Now()
	terminating := testPod("d-terminating", "10.42.0.4", true, "web")
	terminating.DeletionTimestamp = &now
	done := testPod("e-done", "10.42.0.5", false, "web")
	done.Status.Phase = corev1.PodSucceeded
	noPort := testPod("f-noport", "10.42.0.6", true, "web")
	noPort.Spec.Containers[0].Ports = nil
	pods := []*corev1.Pod{
		testPod("b-ready", "10.42.0.10", true, "web"),
		testPod("a-ready", "10.42.0.9", true, "web"),
		testPod("c-unready", "10.42.0.3", false, "web"),
		testPod("g-noip", "", true, "web"),
		terminating, done, noPort,
	}
	subsets, truncated := endpointSubsets(testService(), pods)
	if truncated {
		t.Fatal("truncated")
	}
	if len(subsets) != 2 {
		t.Fatalf("want 2 subsets (named port resolved / not), got %d: %+v", len(subsets), subsets)
	}
	var both, onlyMetrics corev1.EndpointSubset //nolint:staticcheck // testing the Endpoints controller
	for _, s := range subsets {
		if len(s.Ports) == 2 {
			both = s
		} else {
			onlyMetrics = s
		}
	}
	ips := func(a []corev1.EndpointAddress) (out []string) {
		for _, x := range a {
			out = append(out, x.IP)
		}
		return out
	}
	if got := fmt.Sprint(ips(both.Addresses)); got != "[10.42.0.9 10.42.0.10]" {
		t.Errorf("ready addresses %s, want numeric IP order [10.42.0.9 10.42.0.10]", got)
	}
	if got := fmt.Sprint(ips(both.NotReadyAddresses)); got != "[10.42.0.3]" {
		t.Errorf("not ready addresses %s", got)
	}
	for _, p := range both.Ports {
		if p.Name == "http" && p.Port != 8080 || p.Name == "metrics" && p.Port != 9090 {
			t.Errorf("port %+v not resolved", p)
		}
	}
	if got := fmt.Sprint(ips(onlyMetrics.Addresses)); got != "[10.42.0.6]" || len(onlyMetrics.Ports) != 1 {
		t.Errorf("pod without the named port: %+v", onlyMetrics)
	}
	if a := both.Addresses[0]; a.TargetRef == nil || a.TargetRef.Name != "a-ready" || a.NodeName == nil || *a.NodeName != "node-1" {
		t.Errorf("address %+v lacks its pod and node", a)
	}

	svc := testService()
	svc.Spec.PublishNotReadyAddresses = true
	subsets, _ = endpointSubsets(svc, pods)
	for _, s := range subsets {
		if len(s.NotReadyAddresses) != 0 {
			t.Errorf("publishNotReadyAddresses left not-ready addresses: %+v", s)
		}
	}

	var many []*corev1.Pod
	for i := 0; i < maxEndpointsAddresses+5; i++ {
		many = append(many, testPod(fmt.Sprintf("p%d", i), fmt.Sprintf("10.42.%d.%d", i/250, i%250+1), i%2 == 0, "web"))
	}
	subsets, truncated = endpointSubsets(testService(), many)
	n := 0
	for _, s := range subsets {
		n += len(s.Addresses) + len(s.NotReadyAddresses)
		if len(s.Addresses) != (maxEndpointsAddresses+6)/2 {
			t.Errorf("truncation dropped ready addresses: %d ready kept", len(s.Addresses))
		}
	}
	if !truncated || n != maxEndpointsAddresses {
		t.Errorf("truncated=%v with %d addresses, want true with %d", truncated, n, maxEndpointsAddresses)
	}
}

// runControllers starts both controllers on a fake clientset.
func runControllers(t *testing.T, objs ...any) (*fake.Clientset, func()) {
	t.Helper()
	client := fake.NewClientset()
	// The fake does not generate names, uids or resourceVersions; the API
	// server does.
	var n atomic.Int64
	client.PrependReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		// Creates and updates carry the object.
		w, ok := a.(interface{ GetObject() runtime.Object })
		if !ok {
			return false, nil, nil
		}
		m, err := meta.Accessor(w.GetObject())
		if err != nil {
			return false, nil, nil
		}
		i := n.Add(1)
		if m.GetName() == "" && m.GetGenerateName() != "" {
			m.SetName(fmt.Sprintf("%s%05d", m.GetGenerateName(), i))
		}
		if m.GetUID() == "" {
			m.SetUID(types.UID(fmt.Sprintf("uid-%d", i)))
		}
		m.SetResourceVersion(fmt.Sprint(i))
		return false, nil, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.Service:
			_, err = client.CoreV1().Services(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *corev1.Pod:
			_, err = client.CoreV1().Pods(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eps := New(client, factory, log)
	slices := NewSlices(client, factory, log)
	slices.max = 3
	factory.Start(ctx.Done())
	done := make(chan struct{}, 2)
	go func() { _ = eps.Run(ctx); done <- struct{}{} }()
	go func() { _ = slices.Run(ctx); done <- struct{}{} }()
	return client, func() { cancel(); <-done; <-done; factory.Shutdown() }
}

func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last state: %s", what, last)
}

// sliceState summarises the slices of web: per slice its endpoint count,
// and in total which pods are listed with which conditions.
func sliceState(t *testing.T, client *fake.Clientset) (counts []int, eps map[string]string) {
	list, err := client.DiscoveryV1().EndpointSlices("ns").List(context.Background(), metav1.ListOptions{LabelSelector: labelServiceName + "=web"})
	if err != nil {
		t.Fatal(err)
	}
	eps = map[string]string{}
	for _, s := range list.Items {
		counts = append(counts, len(s.Endpoints))
		for _, e := range s.Endpoints {
			eps[e.TargetRef.Name] = fmt.Sprintf("ready=%v,serving=%v,terminating=%v", *e.Conditions.Ready, *e.Conditions.Serving, *e.Conditions.Terminating)
		}
	}
	return counts, eps
}

func TestControllersFollowPods(t *testing.T) {
	var pods []any
	for i := 0; i < 7; i++ {
		pods = append(pods, testPod(fmt.Sprintf("web-%d", i), fmt.Sprintf("10.42.0.%d", i+1), true, "web"))
	}
	client, stop := runControllers(t, append([]any{testService()}, pods...)...)
	defer stop()
	ctx := context.Background()

	eventually(t, "7 endpoints in slices of at most 3", func() (bool, string) {
		counts, eps := sliceState(t, client)
		total := 0
		for _, n := range counts {
			if n > 3 {
				return false, fmt.Sprint(counts)
			}
			total += n
		}
		return total == 7 && len(eps) == 7 && len(counts) == 3, fmt.Sprint(counts, eps)
	})
	list, _ := client.DiscoveryV1().EndpointSlices("ns").List(ctx, metav1.ListOptions{})
	s := list.Items[0]
	if s.Labels[labelManagedBy] != managedByController || s.Labels["tier"] != "front" || s.AddressType != discoveryv1.AddressTypeIPv4 ||
		len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != "svc-uid" || len(s.Ports) != 2 {
		t.Fatalf("slice metadata: %+v ports %+v", s.ObjectMeta, s.Ports)
	}
	eventually(t, "the Endpoints object", func() (bool, string) {
		ep, err := client.CoreV1().Endpoints("ns").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(ep.Subsets) == 1 && len(ep.Subsets[0].Addresses) == 7 && ep.Labels["tier"] == "front", fmt.Sprint(ep.Subsets)
	})

	// A terminating pod stays in the slices as terminating, leaves Endpoints.
	p, _ := client.CoreV1().Pods("ns").Get(ctx, "web-0", metav1.GetOptions{})
	now := metav1.Now()
	p.DeletionTimestamp = &now
	if _, err := client.CoreV1().Pods("ns").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A relabelled pod leaves both.
	p, _ = client.CoreV1().Pods("ns").Get(ctx, "web-1", metav1.GetOptions{})
	p.Labels["app"] = "other"
	if _, err := client.CoreV1().Pods("ns").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "terminating and relabelled pods reflected", func() (bool, string) {
		_, eps := sliceState(t, client)
		_, relabelled := eps["web-1"]
		return len(eps) == 6 && !relabelled && eps["web-0"] == "ready=false,serving=true,terminating=true", fmt.Sprint(eps)
	})
	eventually(t, "Endpoints without them", func() (bool, string) {
		ep, _ := client.CoreV1().Endpoints("ns").Get(ctx, "web", metav1.GetOptions{})
		return len(ep.Subsets) == 1 && len(ep.Subsets[0].Addresses) == 5, fmt.Sprint(ep.Subsets)
	})

	// With every pod gone one empty placeholder slice remains.
	for i := 0; i < 7; i++ {
		_ = client.CoreV1().Pods("ns").Delete(ctx, fmt.Sprintf("web-%d", i), metav1.DeleteOptions{})
	}
	eventually(t, "one empty placeholder slice", func() (bool, string) {
		counts, _ := sliceState(t, client)
		return len(counts) == 1 && counts[0] == 0, fmt.Sprint(counts)
	})
	eventually(t, "Endpoints with no subsets", func() (bool, string) {
		ep, err := client.CoreV1().Endpoints("ns").Get(ctx, "web", metav1.GetOptions{})
		return err == nil && len(ep.Subsets) == 0, fmt.Sprint(ep)
	})

	// Deleting the Service deletes its Endpoints.
	if err := client.CoreV1().Services("ns").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Endpoints deleted with the Service", func() (bool, string) {
		_, err := client.CoreV1().Endpoints("ns").Get(ctx, "web", metav1.GetOptions{})
		return err != nil, ""
	})
}
