package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"skiff/internal/registry"
)

// echoBackend stands in for a pod: it answers with what it was asked.
func echoBackend(t *testing.T) (*httptest.Server, int32) {
	t.Helper()
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Backend", "echo")
		_, _ = fmt.Fprintf(w, "%s %s body=%s auth=%s", r.Method, r.URL.RequestURI(), body, r.Header.Get("Authorization"))
	}))
	t.Cleanup(b.Close)
	port, _ := strconv.Atoi(b.URL[strings.LastIndex(b.URL, ":")+1:])
	return b, int32(port)
}

func TestProxySubresource(t *testing.T) {
	_, port := echoBackend(t)
	ts, store, srv := newTestServerWith(t, func(c *Config) {
		c.Tokens["node-token"] = User{Name: "system:node:n1", Groups: []string{NodesGroup}}
	})
	srv.proxyLoopback = true
	mkPod := func(name, ip string) {
		p := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "img:1",
				Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: port}}}}}}
		if code, body := do(t, ts, "POST", "/api/v1/namespaces/default/pods", "application/json", p); code != 201 {
			t.Fatalf("create pod: %d %s", code, body)
		}
		if ip == "" {
			return
		}
		_, body := do(t, ts, "GET", "/api/v1/namespaces/default/pods/"+name, "", nil)
		if err := json.Unmarshal(body, p); err != nil {
			t.Fatal(err)
		}
		p.Status.PodIP, p.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
		if code, body := do(t, ts, "PUT", "/api/v1/namespaces/default/pods/"+name+"/status", "application/json", p); code != 200 {
			t.Fatalf("pod status: %d %s", code, body)
		}
	}
	mkPod("web", "127.0.0.1")
	mkPod("pending", "")
	for _, name := range []string{"web", "empty", "stray"} {
		svc := &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("web")}}}}
		if code, body := do(t, ts, "POST", "/api/v1/namespaces/default/services", "application/json", svc); code != 201 {
			t.Fatalf("create service: %d %s", code, body)
		}
	}
	slice := func(svc, pod string) {
		ready, pname := true, "http"
		es := &discoveryv1.EndpointSlice{TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
			ObjectMeta:  metav1.ObjectMeta{Name: svc + "-1", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"127.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: pod}}},
			Ports: []discoveryv1.EndpointPort{{Name: &pname, Port: &port}}}
		// Stored directly: validation refuses loopback endpoints.
		res := registry.Lookup("discovery.k8s.io", "v1", "endpointslices")
		if _, err := store.Create(context.Background(), storageKey(res, "default", es.Name), es, nil); err != nil {
			t.Fatalf("create slice: %v", err)
		}
	}
	slice("web", "web")
	slice("stray", "pending") // the pod does not have the endpoint's IP

	p := strconv.Itoa(int(port))
	for _, tc := range []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		{"pod, first port", "GET", "/api/v1/namespaces/default/pods/web/proxy/a/b?x=1&y=2", "", 200, "GET /a/b?x=1&y=2 body= auth="},
		{"pod, port number", "GET", "/api/v1/namespaces/default/pods/web:" + p + "/proxy/", "", 200, "GET / body="},
		{"pod, port name", "POST", "/api/v1/namespaces/default/pods/http:web:web/proxy/post", "hello", 200, "POST /post body=hello"},
		{"pod, put", "PUT", "/api/v1/namespaces/default/pods/web/proxy/x", "v", 200, "PUT /x body=v"},
		{"pod, delete", "DELETE", "/api/v1/namespaces/default/pods/web/proxy/x", "", 200, "DELETE /x"},
		{"pod, options", "OPTIONS", "/api/v1/namespaces/default/pods/web/proxy/x", "", 200, "OPTIONS /x"},
		{"pod, unknown port name", "GET", "/api/v1/namespaces/default/pods/web:nope/proxy/", "", 400, `pod web has no container port named \"nope\"`},
		{"pod, bad scheme", "GET", "/api/v1/namespaces/default/pods/ftp:web:80/proxy/", "", 400, `invalid pod request \"ftp:web:80\"`},
		{"pod without an IP", "GET", "/api/v1/namespaces/default/pods/pending/proxy/", "", 400, "address not allowed"},
		{"unknown pod", "GET", "/api/v1/namespaces/default/pods/nope/proxy/", "", 404, `pods \"nope\" not found`},
		{"service, port name", "GET", "/api/v1/namespaces/default/services/web:http/proxy/s?q=v", "", 200, "GET /s?q=v body="},
		{"service, port number", "PATCH", "/api/v1/namespaces/default/services/http:web:80/proxy/s", "p", 200, "PATCH /s body=p"},
		{"service, only port", "GET", "/api/v1/namespaces/default/services/web/proxy/s", "", 503, `no endpoints available for service \"web\"`},
		{"service, unknown port number", "GET", "/api/v1/namespaces/default/services/web:81/proxy/", "", 503, `no service port 81 found for service \"web\"`},
		{"service without endpoints", "GET", "/api/v1/namespaces/default/services/empty:http/proxy/", "", 503, `no endpoints available for service \"empty\"`},
		{"service with a stray endpoint", "GET", "/api/v1/namespaces/default/services/stray:http/proxy/", "", 503, `no endpoints available for service \"stray:http\"`},
		{"unknown service", "GET", "/api/v1/namespaces/default/services/nope/proxy/", "", 404, `services \"nope\" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != "" {
				body = tc.body
			}
			code, got := do(t, ts, tc.method, tc.path, "text/plain", body)
			if code != tc.code || !strings.Contains(string(got), tc.want) {
				t.Errorf("%d %s, want %d with %q", code, got, tc.code, tc.want)
			}
		})
	}

	// Without a path, clients are sent to ".../proxy/", as upstream.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", ts.URL+"/api/v1/namespaces/default/pods/web/proxy", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusMovedPermanently || loc != "/api/v1/namespaces/default/pods/web/proxy/" {
		t.Errorf("no path: %d to %q", resp.StatusCode, loc)
	}

	// Nodes may not proxy to pods or services.
	for _, path := range []string{"/api/v1/namespaces/default/pods/web/proxy/", "/api/v1/namespaces/default/services/web:http/proxy/"} {
		req, _ := http.NewRequest("GET", ts.URL+path, nil)
		req.Header.Set("Authorization", "Bearer node-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s as a node: %d, want 403", path, resp.StatusCode)
		}
	}
}

func TestProxySubresourceLoopbackRefused(t *testing.T) {
	s := &Server{}
	for ip, ok := range map[string]bool{"10.42.0.5": true, "fd00::5": true, "127.0.0.1": false, "::1": false, "169.254.169.254": false, "0.0.0.0": false, "": false} {
		if err := s.proxyableIP(ip); (err == nil) != ok {
			t.Errorf("%q: %v", ip, err)
		}
	}
	s.proxyLoopback = true
	if err := s.proxyableIP("127.0.0.1"); err != nil {
		t.Errorf("loopback when allowed: %v", err)
	}
}

func TestProxySplitSchemeNamePort(t *testing.T) {
	for id, want := range map[string]string{
		"web": "|web||true", "web:80": "|web|80|true", "https:web:443": "https|web|443|true", "http:web:": "http|web||true",
		"ftp:web:80": "|||false", "a:b:c:d": "|||false", ":80": "|||false",
	} {
		s, n, p, ok := splitSchemeNamePort(id)
		if got := fmt.Sprintf("%s|%s|%s|%v", s, n, p, ok); got != want {
			t.Errorf("%q: %s, want %s", id, got, want)
		}
	}
}

func TestProxySubresourceDiscovery(t *testing.T) {
	ts, _ := newTestServer(t)
	_, body := do(t, ts, "GET", "/api/v1", "", nil)
	var list metav1.APIResourceList
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range list.APIResources {
		got[r.Name] = r.Kind + " " + strings.Join(r.Verbs, ",")
	}
	for name, want := range map[string]string{
		"pods/proxy":     "PodProxyOptions create,delete,get,patch,update",
		"services/proxy": "ServiceProxyOptions create,delete,get,patch,update",
	} {
		if got[name] != want {
			t.Errorf("%s: %q, want %q", name, got[name], want)
		}
	}
}

func TestProxySubresourceUpgrade(t *testing.T) {
	// The stand-in pod switches to an echo protocol after a 101.
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" || r.Header.Get("Authorization") != "" {
			http.Error(w, "want an echo upgrade without credentials", http.StatusBadRequest)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		_ = rw.Flush()
		_, _ = io.Copy(conn, rw)
	}))
	t.Cleanup(b.Close)
	port := b.URL[strings.LastIndex(b.URL, ":")+1:]
	ts, store, srv := newTestServerWith(t, func(*Config) {})
	srv.proxyLoopback = true
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ws", Namespace: "default"}, Status: corev1.PodStatus{PodIP: "127.0.0.1"}}
	if _, err := store.Create(context.Background(), storageKey(registry.Lookup("", "v1", "pods"), "default", "ws"), pod, nil); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", ts.URL+"/api/v1/namespaces/default/pods/ws:"+port+"/proxy/stream", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("%d %s, want 101", resp.StatusCode, body)
	}
	rwc := resp.Body.(io.ReadWriteCloser)
	if _, err := rwc.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(rwc, buf); err != nil || string(buf) != "ping" {
		t.Errorf("echo: %q, %v", buf, err)
	}
}
