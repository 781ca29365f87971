package apiserver

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff/internal/apiserver/admission"
	"skiff/internal/pki"
)

// proxyRewriter is a mutating admission plugin that changes a node proxy
// path /rewrite-me into /healthz.
type proxyRewriter struct{}

func (proxyRewriter) Name() string { return "ProxyRewriter" }

func (proxyRewriter) Admit(_ context.Context, a *admission.Attributes) error {
	if o, ok := a.Object.(*corev1.NodeProxyOptions); ok && o.Path == "/rewrite-me" {
		o.Path = "/healthz"
	}
	return nil
}

// The kubelet is asked what the admitted options say, as client-go
// encodes them.
func TestConnectQuery(t *testing.T) {
	for _, tc := range []struct {
		opts runtime.Object
		want string
	}{
		{&corev1.PodExecOptions{TypeMeta: metav1.TypeMeta{Kind: "PodExecOptions", APIVersion: "v1"}, Stdin: true, Stdout: true, TTY: true, Container: "c", Command: []string{"sh", "-c", "id"}},
			"command=sh&command=-c&command=id&container=c&stdin=true&stdout=true&tty=true"},
		{&corev1.PodAttachOptions{Stderr: true}, "stderr=true"},
		{&corev1.PodPortForwardOptions{Ports: []int32{80, 8080}}, "ports=80&ports=8080"},
	} {
		q, err := connectQuery(tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := q.Encode(); got != tc.want {
			t.Errorf("%T: %s, want %s", tc.opts, got, tc.want)
		}
	}
}

// fakeKubelet is a TLS server that records what the API server asks.
type fakeKubelet struct {
	mu       sync.Mutex
	paths    []string
	users    []string
	response func(w http.ResponseWriter, r *http.Request)
}

func (k *fakeKubelet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	k.paths = append(k.paths, r.URL.RequestURI())
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		k.users = append(k.users, r.TLS.PeerCertificates[0].Subject.CommonName)
	}
	k.mu.Unlock()
	k.response(w, r)
}

func (k *fakeKubelet) last() (string, string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.paths) == 0 {
		return "", ""
	}
	return k.paths[len(k.paths)-1], k.users[len(k.users)-1]
}

func TestPodProxy(t *testing.T) {
	ca, err := pki.LoadOrCreateCA(t.TempDir(), "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	serving, err := ca.IssueServing("kubelet", nil, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	servingTLS, err := serving.TLS()
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.IssueClient("kube-apiserver-kubelet-client", []string{"system:masters"})
	if err != nil {
		t.Fatal(err)
	}
	clientTLS, err := client.TLS()
	if err != nil {
		t.Fatal(err)
	}
	kubelet := &fakeKubelet{response: func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz":
			_, _ = w.Write([]byte("ok"))
		case strings.HasSuffix(r.URL.Path, "/broken"):
			http.Error(w, `container "broken" in pod "p" is not available`, http.StatusBadRequest)
		default:
			_, _ = w.Write([]byte("line 1\nline 2\n"))
		}
	}}
	kts := httptest.NewUnstartedServer(kubelet)
	kts.TLS = &tls.Config{Certificates: []tls.Certificate{servingTLS}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.CertPool()}
	kts.StartTLS()
	t.Cleanup(kts.Close)
	port, _ := strconv.Atoi(kts.URL[strings.LastIndex(kts.URL, ":")+1:])

	ts, _, _ := newTestServerWith(t, func(c *Config) {
		c.Hooks.Admission = admission.NewChain(proxyRewriter{})
		c.KubeletClientCert, c.KubeletCA = &clientTLS, ca.CertPool()
		c.Tokens["node-token"] = User{Name: "system:node:n2", Groups: []string{NodesGroup}}
	})

	node := &corev1.Node{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"}, ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	if code, body := do(t, ts, "POST", "/api/v1/nodes", "application/json", node); code != 201 {
		t.Fatalf("create node: %d %s", code, body)
	}
	_, body := do(t, ts, "GET", "/api/v1/nodes/n1", "", nil)
	if err := json.Unmarshal(body, node); err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "n1"}, {Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
	if code, body := do(t, ts, "PUT", "/api/v1/nodes/n1/status", "application/json", node); code != 200 {
		t.Fatalf("node status: %d %s", code, body)
	}
	pod := func(name string, containers ...string) *corev1.Pod {
		p := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: corev1.PodSpec{NodeName: "n1"}}
		for _, c := range containers {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "img:1"})
		}
		if code, body := do(t, ts, "POST", "/api/v1/namespaces/default/pods", "application/json", p); code != 201 {
			t.Fatalf("create pod: %d %s", code, body)
		}
		_, body := do(t, ts, "GET", "/api/v1/namespaces/default/pods/"+name, "", nil)
		if err := json.Unmarshal(body, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	setStatus := func(p *corev1.Pod, st ...corev1.ContainerStatus) {
		p.Status.ContainerStatuses = st
		if code, body := do(t, ts, "PUT", "/api/v1/namespaces/default/pods/"+p.Name+"/status", "application/json", p); code != 200 {
			t.Fatalf("pod status: %d %s", code, body)
		}
	}
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	two := pod("two", "a", "b")
	setStatus(two, corev1.ContainerStatus{Name: "a", State: running}, corev1.ContainerStatus{Name: "b", State: running})
	one := pod("one", "broken")
	setStatus(one, corev1.ContainerStatus{Name: "broken", State: running})
	waiting := pod("waiting", "c")
	setStatus(waiting, corev1.ContainerStatus{Name: "c", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}})

	for _, tc := range []struct {
		name, path string
		code       int
		body       string
		kubelet    string // the path the kubelet was asked, if any
	}{
		{"log", "/api/v1/namespaces/default/pods/two/log?container=a&tailLines=1&follow=true&timestamps=true", 200, "line 1\nline 2\n",
			"/containerLogs/default/two/a?follow=true&tailLines=1&timestamps=true"},
		{"log needs a container", "/api/v1/namespaces/default/pods/two/log", 400, "a container name must be specified for pod two, choose one of: [a b]", ""},
		{"log of an unknown container", "/api/v1/namespaces/default/pods/two/log?container=x", 400, "container x is not valid for pod two", ""},
		{"log of an unknown pod", "/api/v1/namespaces/default/pods/nope/log", 404, `pods \"nope\" not found`, ""},
		{"log while waiting", "/api/v1/namespaces/default/pods/waiting/log", 400, `container \"c\" in pod \"waiting\" is waiting to start: ContainerCreating`, ""},
		{"previous log without one", "/api/v1/namespaces/default/pods/two/log?container=a&previous=true", 400, `previous terminated container \"a\" in pod \"two\" not found`, ""},
		{"the kubelet's error", "/api/v1/namespaces/default/pods/one/log", 400, `container \"broken\" in pod \"p\" is not available`, "/containerLogs/default/one/broken"},
		{"exec without an upgrade", "/api/v1/namespaces/default/pods/two/exec?container=a&command=ls&stdout=true", 400, "Upgrade request required", ""},
		{"exec of an unknown container", "/api/v1/namespaces/default/pods/two/exec?container=x&command=ls", 400, "container x is not valid for pod two", ""},
		{"node proxy", "/api/v1/nodes/n1/proxy/healthz", 200, "ok", "/healthz"},
		{"node proxy of an unknown node", "/api/v1/nodes/n2/proxy/healthz", 404, `nodes \"n2\" not found`, ""},
		{"node proxy as admission changed it", "/api/v1/nodes/n1/proxy/rewrite-me", 200, "ok", "/healthz"},
		{"exec dry run", "/api/v1/namespaces/default/pods/two/exec?container=a&command=ls&dryRun=All", 400, "dryRun is not supported", ""},
		{"node proxy dry run", "/api/v1/nodes/n1/proxy/healthz?dryRun=All", 400, "dryRun is not supported", ""},
		{"pod proxy dry run", "/api/v1/namespaces/default/pods/two/proxy/?dryRun=", 400, "dryRun is not supported", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := kubelet.last()
			method := "GET"
			if strings.Contains(tc.path, "/exec") {
				method = "POST"
			}
			code, body := do(t, ts, method, tc.path, "", nil)
			if code != tc.code || !strings.Contains(string(body), tc.body) {
				t.Errorf("%d %s, want %d with %q", code, body, tc.code, tc.body)
			}
			got, user := kubelet.last()
			if tc.kubelet == "" {
				if got != before {
					t.Errorf("kubelet asked %s", got)
				}
				return
			}
			if got != tc.kubelet || user != "kube-apiserver-kubelet-client" {
				t.Errorf("kubelet asked %q as %q, want %q as kube-apiserver-kubelet-client", got, user, tc.kubelet)
			}
		})
	}
	// Another node may not use a node's kubelet through the API server.
	for _, path := range []string{"/api/v1/nodes/n1/proxy/healthz", "/api/v1/nodes/n1/proxy", "/api/v1/namespaces/default/pods/two/log?container=a"} {
		req, _ := http.NewRequest("GET", ts.URL+path, nil)
		req.Header.Set("Authorization", "Bearer node-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s as another node: %d, want 403", path, resp.StatusCode)
		}
	}
}

func TestPodProxyDiscovery(t *testing.T) {
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
		"pods/log":         "Pod get",
		"pods/exec":        "PodExecOptions create,get",
		"pods/attach":      "PodAttachOptions create,get",
		"pods/portforward": "PodPortForwardOptions create,get",
		"nodes/proxy":      "NodeProxyOptions create,delete,get,patch,update",
	} {
		if got[name] != want {
			t.Errorf("%s: %q, want %q", name, got[name], want)
		}
	}
}

func TestStreamStatus(t *testing.T) {
	if st := streamStatus(nil); st.Status != metav1.StatusSuccess {
		t.Errorf("nil: %+v", st)
	}
	st := streamStatus(exitError{3})
	if st.Reason != "NonZeroExitCode" || st.Details == nil || st.Details.Causes[0].Type != "ExitCode" || st.Details.Causes[0].Message != "3" {
		t.Errorf("exit 3: %+v", st)
	}
	if !offersProtocol(&http.Request{Header: http.Header{"Sec-Websocket-Protocol": {"base64.channel.k8s.io, v5.channel.k8s.io"}}}) {
		t.Error("v5 not seen among the offered protocols")
	}
	if offersProtocol(&http.Request{Header: http.Header{"Sec-Websocket-Protocol": {"channel.k8s.io"}}}) {
		t.Error("v1 taken for a served protocol")
	}
}

// exitError is an exec.ExitError.
type exitError struct{ code int }

func (e exitError) Error() string   { return "exit " + strconv.Itoa(e.code) }
func (e exitError) String() string  { return e.Error() }
func (e exitError) Exited() bool    { return true }
func (e exitError) ExitStatus() int { return e.code }
