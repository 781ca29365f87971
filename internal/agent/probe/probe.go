// Package probe runs the node agent's container probes and the network
// part of lifecycle hooks, with the upstream kubelet's semantics: exec (a
// command through the CRI's ExecSync, success on exit 0), httpGet (success
// on a status 200-399, redirects followed only on the same host, User-Agent
// kube-probe/<major.minor>), tcpSocket (a connection opens) and grpc (the
// grpc.health.v1 Check answers SERVING).
package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"skiff/internal/version"
)

// Result is a probe's outcome.
type Result int

// The outcomes; Warning counts as a success (upstream: a redirect to
// another host is not followed and reported, not failed).
const (
	Success Result = iota
	Warning
	Failure
	Unknown
)

// String is the result's name, for logs.
func (r Result) String() string {
	switch r {
	case Success:
		return "success"
	case Warning:
		return "warning"
	case Failure:
		return "failure"
	}
	return "unknown"
}

// UserAgent is what HTTP probes and hooks send unless told otherwise.
var UserAgent = "kube-probe/" + version.KubeMajor + "." + version.KubeMinor

// maxBody is how much of a response body a probe reads (for its message).
const maxBody = 10 << 10

// ExecFunc runs cmd in a container and returns its combined output and
// exit code; err is for failing to run it at all (timeouts included).
type ExecFunc func(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (output []byte, exitCode int32, err error)

// Target is what a probe runs against.
type Target struct {
	// PodIP is the default host for httpGet, tcpSocket and grpc.
	PodIP string
	// Container resolves named ports.
	Container *corev1.Container
	// ContainerID is where exec probes run.
	ContainerID string
	// Exec runs exec probes.
	Exec ExecFunc
}

// Run runs one probe handler with a timeout and says how it went, with a
// message for events when it did not succeed.
func Run(ctx context.Context, h *corev1.ProbeHandler, t Target, timeout time.Duration) (Result, string, error) {
	switch {
	case h.Exec != nil:
		return Exec(ctx, t, h.Exec.Command, timeout)
	case h.HTTPGet != nil:
		return HTTPGet(ctx, h.HTTPGet, t, timeout, false)
	case h.TCPSocket != nil:
		port, err := ResolvePort(h.TCPSocket.Port, t.Container)
		if err != nil {
			return Unknown, "", err
		}
		host := h.TCPSocket.Host
		if host == "" {
			host = t.PodIP
		}
		r, msg := TCP(ctx, host, port, timeout)
		return r, msg, nil
	case h.GRPC != nil:
		host := t.PodIP
		service := ""
		if h.GRPC.Service != nil {
			service = *h.GRPC.Service
		}
		r, msg := GRPC(ctx, host, int(h.GRPC.Port), service, timeout)
		return r, msg, nil
	}
	return Unknown, "", errors.New("missing probe handler")
}

// Exec runs cmd in the target container: exit 0 is success, any other
// code a failure whose message is the command's output.
func Exec(ctx context.Context, t Target, cmd []string, timeout time.Duration) (Result, string, error) {
	if t.Exec == nil {
		return Unknown, "", errors.New("no exec runner")
	}
	out, code, err := t.Exec(ctx, t.ContainerID, cmd, timeout)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded {
			return Failure, fmt.Sprintf("command %q timed out", strings.Join(cmd, " ")), nil
		}
		return Unknown, "", err
	}
	if code != 0 {
		msg := string(out)
		if msg == "" {
			msg = fmt.Sprintf("command %q exited with %d", strings.Join(cmd, " "), code)
		}
		return Failure, msg, nil
	}
	return Success, string(out), nil
}

// ResolvePort turns a probe's port (a number or a container port name)
// into a number.
func ResolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		if p.IntVal <= 0 || p.IntVal > 65535 {
			return 0, fmt.Errorf("invalid port number: %d", p.IntVal)
		}
		return int(p.IntVal), nil
	}
	if c != nil {
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				return int(cp.ContainerPort), nil
			}
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil && n > 0 && n <= 65535 {
		return n, nil
	}
	return 0, fmt.Errorf("couldn't find port: %v in %v", p.StrVal, containerName(c))
}

func containerName(c *corev1.Container) string {
	if c == nil {
		return ""
	}
	return c.Name
}

// HTTPURL is the URL an httpGet action asks for.
func HTTPURL(a *corev1.HTTPGetAction, t Target) (*url.URL, error) {
	port, err := ResolvePort(a.Port, t.Container)
	if err != nil {
		return nil, err
	}
	scheme := strings.ToLower(string(a.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	host := a.Host
	if host == "" {
		host = t.PodIP
	}
	path := a.Path
	if path != "" && !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u, err := url.Parse(scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + path)
	if err != nil {
		return nil, err
	}
	return u, nil
}

// HTTPRequest builds the GET an httpGet action sends: its headers, with
// User-Agent and Accept defaulted as upstream, and a Host header used as
// the request's host.
func HTTPRequest(ctx context.Context, a *corev1.HTTPGetAction, t Target) (*http.Request, error) {
	u, err := HTTPURL(a, t)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	for _, h := range a.HTTPHeaders {
		req.Header.Add(h.Name, h.Value)
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header.Set("User-Agent", UserAgent)
	}
	if _, ok := req.Header["Accept"]; !ok {
		req.Header.Set("Accept", "*/*")
	}
	if h := req.Header.Get("Host"); h != "" {
		req.Host = h
	}
	return req, nil
}

// HTTPClient is a client as probes use: no keep-alive (each probe is a
// fresh connection), TLS not verified, redirects followed up to 10 times
// and only while they stay on the same host, unless followNonLocal.
func HTTPClient(timeout time.Duration, followNonLocal bool) *http.Client {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // probes do not verify, as upstream
		DisableKeepAlives: true,
		Proxy:             nil,
		DialContext:       (&net.Dialer{Timeout: timeout}).DialContext,
	}
	return &http.Client{
		Timeout:   timeout,
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			if !followNonLocal && req.URL.Hostname() != via[0].URL.Hostname() {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

// HTTPGet runs an httpGet probe.
func HTTPGet(ctx context.Context, a *corev1.HTTPGetAction, t Target, timeout time.Duration, followNonLocal bool) (Result, string, error) {
	req, err := HTTPRequest(ctx, a, t)
	if err != nil {
		return Unknown, "", err
	}
	client := HTTPClient(timeout, followNonLocal)
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return Failure, err.Error(), nil
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return Failure, err.Error(), nil
	}
	if resp.StatusCode >= http.StatusOK && resp.StatusCode < http.StatusBadRequest {
		if resp.StatusCode >= http.StatusMultipleChoices {
			return Warning, fmt.Sprintf("Probe terminated redirects, Response body: %v", string(body)), nil
		}
		return Success, string(body), nil
	}
	return Failure, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode), nil
}

// TCP succeeds when a connection to host:port opens within timeout.
func TCP(ctx context.Context, host string, port int, timeout time.Duration) (Result, string) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return Failure, err.Error()
	}
	_ = conn.Close()
	return Success, ""
}

// GRPC asks host:port's grpc.health.v1 service about service and succeeds
// on SERVING.
func GRPC(ctx context.Context, host string, port int, service string, timeout time.Duration) (Result, string) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithUserAgent(UserAgent))
	if err != nil {
		return Failure, fmt.Sprintf("failed to connect service %q within %v: %+v", addr, timeout, err)
	}
	defer func() { _ = conn.Close() }()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		switch status.Code(err) {
		case codes.Unimplemented:
			return Failure, fmt.Sprintf("this server does not implement the grpc health protocol (grpc.health.v1.Health): %s", status.Convert(err).Message())
		case codes.DeadlineExceeded:
			return Failure, fmt.Sprintf("timeout: health rpc did not complete within %v", timeout)
		case codes.Unavailable:
			return Failure, fmt.Sprintf("timeout: failed to connect service %q within %v: %s", addr, timeout, status.Convert(err).Message())
		}
		return Failure, fmt.Sprintf("health rpc probe failed: %v", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return Failure, fmt.Sprintf("service unhealthy (responded with %q)", resp.GetStatus().String())
	}
	return Success, ""
}
