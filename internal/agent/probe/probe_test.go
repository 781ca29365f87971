package probe

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func hostPort(t *testing.T, raw string) (string, int) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	h, p, _ := net.SplitHostPort(u.Host)
	n, _ := strconv.Atoi(p)
	return h, n
}

func TestHTTPGet(t *testing.T) {
	var gotUA, gotHost, gotHeader string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) }))
	defer other.Close()
	// The other server, seen under another host name than 127.0.0.1.
	_, otherPort := hostPort(t, other.URL)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			gotUA, gotHost, gotHeader = r.UserAgent(), r.Host, r.Header.Get("X-Probe")
			_, _ = w.Write([]byte("fine"))
		case "/fail":
			w.WriteHeader(http.StatusInternalServerError)
		case "/local":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/away":
			http.Redirect(w, r, "http://localhost:"+strconv.Itoa(otherPort)+"/", http.StatusFound)
		}
	}))
	defer srv.Close()
	ip, port := hostPort(t, srv.URL)
	c := &corev1.Container{Name: "c", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: int32(port)}}}
	tgt := Target{PodIP: ip, Container: c}
	for _, tc := range []struct {
		name   string
		action corev1.HTTPGetAction
		want   Result
		msg    string
	}{
		{"ok by number", corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt32(int32(port))}, Success, "fine"},
		{"ok by name", corev1.HTTPGetAction{Path: "ok", Port: intstr.FromString("web")}, Success, "fine"},
		{"500", corev1.HTTPGetAction{Path: "/fail", Port: intstr.FromInt32(int32(port))}, Failure, "HTTP probe failed with statuscode: 500"},
		{"same-host redirect followed", corev1.HTTPGetAction{Path: "/local", Port: intstr.FromString("web")}, Success, "fine"},
		{"other-host redirect not followed", corev1.HTTPGetAction{Path: "/away", Port: intstr.FromString("web")}, Warning, "Probe terminated redirects"},
		{"refused", corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(1)}, Failure, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, msg, err := HTTPGet(context.Background(), &tc.action, tgt, 2*time.Second, false)
			if err != nil || r != tc.want || !strings.Contains(msg, tc.msg) {
				t.Errorf("got %v %q %v, want %v %q", r, msg, err, tc.want, tc.msg)
			}
		})
	}
	if gotUA != "kube-probe/1.37" {
		t.Errorf("User-Agent %q", gotUA)
	}
	// Headers given are sent; Host sets the request's host.
	a := corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromString("web"), HTTPHeaders: []corev1.HTTPHeader{
		{Name: "X-Probe", Value: "1"}, {Name: "Host", Value: "example.test"}, {Name: "User-Agent", Value: "mine"},
	}}
	if r, _, err := HTTPGet(context.Background(), &a, tgt, 2*time.Second, false); r != Success || err != nil {
		t.Fatalf("with headers: %v %v", r, err)
	}
	if gotUA != "mine" || gotHost != "example.test" || gotHeader != "1" {
		t.Errorf("UA %q host %q header %q", gotUA, gotHost, gotHeader)
	}
	if _, _, err := HTTPGet(context.Background(), &corev1.HTTPGetAction{Port: intstr.FromString("nope")}, tgt, time.Second, false); err == nil {
		t.Error("unknown port name: no error")
	}
}

func TestTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if r, msg := TCP(context.Background(), "127.0.0.1", port, time.Second); r != Success {
		t.Errorf("open port: %v %s", r, msg)
	}
	_ = l.Close()
	if r, msg := TCP(context.Background(), "127.0.0.1", port, time.Second); r != Failure || !strings.Contains(msg, "refused") {
		t.Errorf("closed port: %v %s", r, msg)
	}
}

func TestGRPC(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("down", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(l) }()
	defer srv.Stop()
	port := l.Addr().(*net.TCPAddr).Port
	if r, msg := GRPC(context.Background(), "127.0.0.1", port, "", 2*time.Second); r != Success {
		t.Errorf("serving: %v %s", r, msg)
	}
	if r, msg := GRPC(context.Background(), "127.0.0.1", port, "down", 2*time.Second); r != Failure || !strings.Contains(msg, "NOT_SERVING") {
		t.Errorf("not serving: %v %s", r, msg)
	}
}

func TestExec(t *testing.T) {
	exec := func(_ context.Context, id string, cmd []string, _ time.Duration) ([]byte, int32, error) {
		switch cmd[0] {
		case "ok":
			return []byte("yes"), 0, nil
		case "fail":
			return []byte("no such file"), 1, nil
		case "slow":
			return nil, 0, context.DeadlineExceeded
		}
		return nil, 0, errors.New("broken")
	}
	tgt := Target{ContainerID: "x", Exec: exec}
	for _, tc := range []struct {
		cmd     string
		want    Result
		msg     string
		wantErr bool
	}{
		{"ok", Success, "yes", false},
		{"fail", Failure, "no such file", false},
		{"slow", Failure, "timed out", false},
		{"other", Unknown, "", true},
	} {
		r, msg, err := Run(context.Background(), &corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{tc.cmd}}}, tgt, time.Second)
		if r != tc.want || !strings.Contains(msg, tc.msg) || (err != nil) != tc.wantErr {
			t.Errorf("%s: %v %q %v", tc.cmd, r, msg, err)
		}
	}
}
