package ingress

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestRoutingTwoHosts(t *testing.T) {
	pa, pb, pd := backendServer(t, "svc-a"), backendServer(t, "svc-b"), backendServer(t, "svc-default")
	ing := mkIngress("default", "web", 0, ptr.To("skiff"),
		pathSpec{"a.example.com", "/", prefix, "svc-a", 80},
		pathSpec{"b.example.com", "/api", prefix, "svc-b", "http"},
	)
	other := mkIngress("default", "not-ours", 0, ptr.To("nginx"), pathSpec{"c.example.com", "/", prefix, "svc-a", 80})
	tr := startRouter(t,
		ing, other,
		mkService("default", "svc-a", "", 80), mkSlice("default", "svc-a", "", pa, "127.0.0.1"),
		mkService("default", "svc-b", "http", 8080), mkSlice("default", "svc-b", "http", pb, "127.0.0.1"),
		mkService("default", "svc-default", "", 80), mkSlice("default", "svc-default", "", pd, "127.0.0.1"),
	)
	tr.waitBody(t, "a.example.com", "/x", 200, "svc-a")
	tr.waitBody(t, "b.example.com", "/api/v1", 200, "svc-b")
	tr.waitBody(t, "b.example.com", "/apix", 404, "default backend - 404")
	tr.waitBody(t, "c.example.com", "/", 404, "default backend - 404")

	// A default backend catches what no rule matches.
	ctx := context.Background()
	def := mkIngress("default", "catchall", 1, ptr.To("skiff"))
	def.Spec.DefaultBackend = ptr.To(ingressBackend("svc-default", 80))
	if _, err := tr.client.NetworkingV1().Ingresses("default").Create(ctx, def, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr.waitBody(t, "c.example.com", "/", 200, "svc-default")
	tr.waitBody(t, "b.example.com", "/apix", 200, "svc-default")
	tr.waitBody(t, "a.example.com", "/x", 200, "svc-a")

	if got := counterValue(tr.m.requests.WithLabelValues("web", "default", "svc-a", "200")); got < 1 {
		t.Errorf("requests_total{web,svc-a,200} = %v", got)
	}
	if got := counterValue(tr.m.reloads); got < 2 {
		t.Errorf("config_reloads_total = %v, want >= 2", got)
	}
	if n := gatheredSeries(t, tr.reg, "skiff_ingress_request_duration_seconds"); n == 0 {
		t.Error("no duration histogram series")
	}
}

func TestClassDefault(t *testing.T) {
	p := backendServer(t, "svc")
	ing := mkIngress("default", "noclass", 0, nil, pathSpec{"h.example.com", "/", prefix, "svc", 80})
	tr := startRouter(t, ing, mkService("default", "svc", "", 80), mkSlice("default", "svc", "", p, "127.0.0.1"))
	tr.waitBody(t, "h.example.com", "/", 404, "default backend - 404")
	// Making our class the default picks up Ingresses without a class.
	if err := EnsureClass(context.Background(), tr.client); err != nil {
		t.Fatal(err)
	}
	tr.waitBody(t, "h.example.com", "/", 200, "svc")
}

func TestForwardedHeaders(t *testing.T) {
	got := make(chan *http.Request, 1)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Clone(context.Background())
	}))
	defer s.Close()
	tr := startRouter(t,
		mkIngress("default", "web", 0, ptr.To("skiff"), pathSpec{"app.example.com", "/", prefix, "svc", 80}),
		mkService("default", "svc", "", 80), mkSlice("default", "svc", "", serverPort(t, s), "127.0.0.1"))
	eventually(t, "route", func() bool { return tr.table.Load().match("app.example.com", "/") != nil })

	req, _ := http.NewRequest(http.MethodGet, tr.http+"/path?q=1", nil)
	req.Host = "app.example.com"
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	req.Header.Set("X-Forwarded-Proto", "https") // spoofed: replaced
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r := <-got
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(tr.http, "http://"))
	for h, want := range map[string]string{
		"X-Forwarded-For":   "203.0.113.7, 127.0.0.1",
		"X-Forwarded-Proto": "http",
		"X-Forwarded-Host":  "app.example.com",
		"X-Forwarded-Port":  port,
		"X-Real-Ip":         "127.0.0.1",
	} {
		if g := r.Header.Get(h); g != want {
			t.Errorf("%s = %q, want %q", h, g, want)
		}
	}
	if r.Host != "app.example.com" {
		t.Errorf("Host = %q, want preserved", r.Host)
	}
	if r.URL.RequestURI() != "/path?q=1" {
		t.Errorf("URI = %q", r.URL.RequestURI())
	}
	if r.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-ID")
	}
}

func TestNoEndpoints503AndDead502(t *testing.T) {
	// A port nothing listens on: bind, note, close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	tr := startRouter(t,
		mkIngress("default", "web", 0, ptr.To("skiff"),
			pathSpec{"h", "/empty", prefix, "empty", 80},
			pathSpec{"h", "/nosvc", prefix, "nosvc", 80},
			pathSpec{"h", "/dead", prefix, "dead", 80}),
		mkService("default", "empty", "", 80),
		mkService("default", "dead", "", 80), mkSlice("default", "dead", "", dead, "127.0.0.1"),
	)
	eventually(t, "route", func() bool { return tr.table.Load().match("h", "/") != nil || len(tr.table.Load().exact) > 0 })
	for _, p := range []string{"/empty", "/nosvc"} {
		code, body, _ := tr.get(t, "h", p)
		if code != 503 || !strings.Contains(body, "503 Service Temporarily Unavailable") {
			t.Errorf("%s: %d %q, want 503 page", p, code, body)
		}
	}
	code, body, _ := tr.get(t, "h", "/dead")
	if code != 502 || !strings.Contains(body, "502 Bad Gateway") {
		t.Errorf("/dead: %d %q, want 502 page", code, body)
	}
	if got := counterValue(tr.m.upstreamErrors.WithLabelValues("web", "default", "dead")); got != 1 {
		t.Errorf("upstream_errors_total = %v, want 1", got)
	}
}

func TestRetryNextEndpoint(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skip("no 127.0.0.2:", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	// Same port on two loopback addresses: one live, one refusing.
	live, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Skip("port taken:", err)
	}
	s := &httptest.Server{Listener: live, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "live")
	})}}
	s.Start()
	defer s.Close()
	tr := startRouter(t,
		mkIngress("default", "web", 0, ptr.To("skiff"), pathSpec{"h", "/", prefix, "svc", 80}),
		mkService("default", "svc", "", 80), mkSlice("default", "svc", "", port, "127.0.0.1", "127.0.0.2"))
	tr.waitBody(t, "h", "/", 200, "live")
	for range 6 {
		if code, body, _ := tr.get(t, "h", "/"); code != 200 || body != "live" {
			t.Fatalf("got %d %q; a refused endpoint must be retried on the next", code, body)
		}
	}
}

func TestWebSocket(t *testing.T) {
	up := websocket.Upgrader{}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, append([]byte("echo:"), msg...)); err != nil {
				return
			}
		}
	}))
	defer s.Close()
	tr := startRouter(t,
		mkIngress("default", "ws", 0, ptr.To("skiff"), pathSpec{"ws.example.com", "/ws", prefix, "svc", 80}),
		mkService("default", "svc", "", 80), mkSlice("default", "svc", "", serverPort(t, s), "127.0.0.1"))
	eventually(t, "route", func() bool { return tr.table.Load().match("ws.example.com", "/ws") != nil })

	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial("ws"+strings.TrimPrefix(tr.http, "http")+"/ws", http.Header{"Host": {"ws.example.com"}})
	if err != nil {
		t.Fatalf("dial: %v (resp %v)", err, resp)
	}
	defer c.Close()
	for i := range 3 {
		msg := fmt.Sprintf("hello %d", i)
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, got, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "echo:"+msg {
			t.Fatalf("got %q", got)
		}
	}
}

func TestStreaming(t *testing.T) {
	release := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-release
		_, _ = io.WriteString(w, "second\n")
	}))
	defer s.Close()
	defer close(release)
	tr := startRouter(t,
		mkIngress("default", "stream", 0, ptr.To("skiff"), pathSpec{"h", "/", prefix, "svc", 80}),
		mkService("default", "svc", "", 80), mkSlice("default", "svc", "", serverPort(t, s), "127.0.0.1"))
	eventually(t, "route", func() bool { return tr.table.Load().match("h", "/") != nil })

	req, _ := http.NewRequest(http.MethodGet, tr.http+"/", nil)
	req.Host = "h"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(resp.Body).ReadString('\n')
		line <- l
	}()
	select {
	case l := <-line:
		if l != "first\n" {
			t.Fatalf("first chunk %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("first chunk not streamed before the backend finished")
	}
}

func TestHTTPS(t *testing.T) {
	p := backendServer(t, "secure")
	crt, key := selfSigned(t, "secure.example.com")
	wcrt, wkey := selfSigned(t, "*.wild.example.com")
	ing := mkIngress("default", "tls", 0, ptr.To("skiff"),
		pathSpec{"secure.example.com", "/", prefix, "svc", 80},
		pathSpec{"a.wild.example.com", "/", prefix, "svc", 80})
	ing.Spec.TLS = []networkingv1.IngressTLS{
		{Hosts: []string{"secure.example.com"}, SecretName: "secure-tls"},
		{Hosts: []string{"*.wild.example.com"}, SecretName: "wild-tls"},
	}
	secret := func(name string, c, k []byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: c, corev1.TLSPrivateKeyKey: k}}
	}
	tr := startRouter(t, ing, secret("secure-tls", crt, key), secret("wild-tls", wcrt, wkey),
		mkService("default", "svc", "", 80), mkSlice("default", "svc", "", p, "127.0.0.1"))
	eventually(t, "certificate", func() bool { return tr.table.Load().certs.lookup("secure.example.com") != nil })

	if cn := tlsCommonName(t, tr.https, "secure.example.com"); cn != "secure.example.com" {
		t.Errorf("SNI secure.example.com: cert %q", cn)
	}
	if cn := tlsCommonName(t, tr.https, "a.wild.example.com"); cn != "*.wild.example.com" {
		t.Errorf("SNI a.wild.example.com: cert %q", cn)
	}
	if cn := tlsCommonName(t, tr.https, "unknown.example.com"); cn != "Kubernetes Ingress Controller Fake Certificate" {
		t.Errorf("unknown SNI: cert %q, want the fake certificate", cn)
	}

	// A request over HTTPS, verifying the certificate.
	pool := x509PoolFromPEM(t, crt)
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "secure.example.com", MinVersion: tls.VersionTLS12},
	}}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, "https://"+tr.https+"/", nil)
	req.Host = "secure.example.com"
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "secure" {
		t.Errorf("HTTPS: %d %q", resp.StatusCode, b)
	}

	// Plain HTTP to a TLS host is redirected to HTTPS.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ = http.NewRequest(http.MethodGet, tr.http+"/x?y=1", nil)
	req.Host = "secure.example.com"
	resp, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, sport, _ := net.SplitHostPort(tr.https)
	if want := "https://secure.example.com:" + sport + "/x?y=1"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Errorf("redirect: %d %q, want 308 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}

	// Deleting the Secret falls back to the fake certificate.
	if err := tr.client.CoreV1().Secrets("default").Delete(context.Background(), "secure-tls", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "certificate gone", func() bool { return tr.table.Load().certs.lookup("secure.example.com") == nil })
	if cn := tlsCommonName(t, tr.https, "secure.example.com"); cn != "Kubernetes Ingress Controller Fake Certificate" {
		t.Errorf("after delete: cert %q", cn)
	}
}

func TestRebuildWhileInFlight(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		once.Do(func() { close(entered) })
		<-release
		_, _ = io.WriteString(w, "slow done")
	}))
	defer s.Close()
	tr := startRouter(t,
		mkIngress("default", "slow", 0, ptr.To("skiff"), pathSpec{"h", "/", prefix, "svc", 80}),
		mkService("default", "svc", "", 80), mkSlice("default", "svc", "", serverPort(t, s), "127.0.0.1"))
	eventually(t, "route", func() bool { return tr.table.Load().match("h", "/") != nil })

	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, tr.http+"/", nil)
		req.Host = "h"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res <- result{resp.StatusCode, string(b), err}
	}()
	<-entered
	before := counterValue(tr.m.reloads)
	// Rebuild: remove the route and the endpoints entirely.
	ctx := context.Background()
	if err := tr.client.NetworkingV1().Ingresses("default").Delete(ctx, "slow", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := tr.client.DiscoveryV1().EndpointSlices("default").Delete(ctx, "svc-abcde", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "rebuild", func() bool {
		return counterValue(tr.m.reloads) > before && tr.table.Load().match("h", "/") == nil
	})
	close(release)
	select {
	case r := <-res:
		if r.err != nil || r.code != 200 || r.body != "slow done" {
			t.Fatalf("in-flight request: %d %q %v", r.code, r.body, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("in-flight request did not complete")
	}
	tr.waitBody(t, "h", "/", 404, "default backend - 404")
}
