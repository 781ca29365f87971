package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// hostIP is a global unicast address of this machine: pods/proxy and
// services/proxy refuse loopback targets (as upstream), so the stand-in
// pod listens on a real interface.
func hostIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address to stand in for a pod IP")
	return ""
}

func TestProxySubresource(t *testing.T) {
	ip := hostIP(t)
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	backend := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, _ = fmt.Fprintf(w, "%s %s body=%s", r.Method, r.URL.RequestURI(), body)
	})}
	go func() { _ = backend.Serve(ln) }()
	t.Cleanup(func() { _ = backend.Close() })
	port := int32(ln.Addr().(*net.TCPAddr).Port)

	ts := startServer(t)
	c := ts.Client
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	pod, err := c.CoreV1().Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "echo"},
		Spec: corev1.PodSpec{NodeName: "nowhere", Containers: []corev1.Container{{Name: "c", Image: "img:1",
			Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: port}}}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status.PodIP, pod.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	if _, err := c.CoreV1().Pods("default").UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"echo", "empty"} {
		if _, err := c.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("web")}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The slice is written by hand: there is no selector, so no controller
	// manages it.
	ready, pname := true, "http"
	if _, err := c.DiscoveryV1().EndpointSlices("default").Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "echo-1", Labels: map[string]string{discoveryv1.LabelServiceName: "echo"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "echo"}}},
		Ports: []discoveryv1.EndpointPort{{Name: &pname, Port: &port}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	rc := c.CoreV1().RESTClient()
	get := func(resource, name, path string, params map[string]string) string {
		t.Helper()
		req := rc.Get().Namespace("default").Resource(resource).Name(name).SubResource("proxy").Suffix(path)
		for k, v := range params {
			req = req.Param(k, v)
		}
		body, err := req.DoRaw(ctx)
		if err != nil {
			t.Fatalf("GET %s/%s/proxy/%s: %v", resource, name, path, err)
		}
		return string(body)
	}
	if got, want := get("pods", "echo", "a/b", map[string]string{"q": "1"}), "GET /a/b?q=1 body="; got != want {
		t.Errorf("pods/proxy: %q, want %q", got, want)
	}
	if got, want := get("services", "echo:http", "x/y", map[string]string{"k": "v"}), "GET /x/y?k=v body="; got != want {
		t.Errorf("services/proxy: %q, want %q", got, want)
	}
	body, err := rc.Post().Namespace("default").Resource("pods").Name(fmt.Sprintf("echo:%d", port)).SubResource("proxy").Suffix("submit").
		Body([]byte("payload")).DoRaw(ctx)
	if err != nil || string(body) != "POST /submit body=payload" {
		t.Errorf("POST pods/proxy: %q, %v", body, err)
	}
	body, err = rc.Post().Namespace("default").Resource("services").Name("http:echo:80").SubResource("proxy").Suffix("submit").
		Body([]byte("svc")).DoRaw(ctx)
	if err != nil || string(body) != "POST /submit body=svc" {
		t.Errorf("POST services/proxy: %q, %v", body, err)
	}
	// Error() decodes the Status; DoRaw would give a generic message.
	err = rc.Get().Namespace("default").Resource("services").Name("empty:http").SubResource("proxy").Do(ctx).Error()
	if !apierrors.IsServiceUnavailable(err) || !strings.Contains(err.Error(), `no endpoints available for service "empty"`) {
		t.Errorf("service without endpoints: %v", err)
	}

	out, err := exec.CommandContext(ctx, skiffBin(t), "kubectl", "--kubeconfig", ts.Kubeconfig,
		"get", "--raw", "/api/v1/namespaces/default/services/echo:80/proxy/raw?x=y").CombinedOutput()
	if err != nil || string(out) != "GET /raw?x=y body=" {
		t.Errorf("kubectl get --raw: %q, %v", out, err)
	}
}
