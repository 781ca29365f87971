// Package server is the node agent's HTTPS server, its kubelet API on port
// 10250: /healthz, container logs read from the CRI log files, and exec,
// attach and port-forward, for which the CRI runtime is asked for a
// streaming URL (containerd's streaming server, on loopback) and the
// client's SPDY or WebSocket upgrade is proxied to it. Only the API
// server's kubelet client identity may use it.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/proxy"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Labels the agent puts on sandboxes and containers (see package agent).
const (
	labelPodUID        = "io.kubernetes.pod.uid"
	labelContainerName = "io.kubernetes.container.name"
)

// Config is what the server is told.
type Config struct {
	// Addr is where HTTPS is served, e.g. ":10250".
	Addr string
	// Listener, when set, is used instead of Addr (tests).
	Listener net.Listener
	// Cert is the serving certificate; ClientCA verifies client
	// certificates.
	Cert     tls.Certificate
	ClientCA *x509.CertPool
	// Runtime is the CRI runtime service.
	Runtime runtimeapi.RuntimeServiceClient
	// Pod returns a pod bound to this node (an apierrors NotFound error
	// when there is none).
	Pod    func(namespace, name string) (*corev1.Pod, error)
	Logger *slog.Logger
}

// Server is the kubelet API server.
type Server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
}

// New returns a server; it serves once Run is called.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	s.mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", s.serveLogs)
	for _, m := range []string{"GET", "POST"} {
		s.mux.HandleFunc(m+" /exec/{ns}/{pod}/{container}", s.serveExec)
		s.mux.HandleFunc(m+" /attach/{ns}/{pod}/{container}", s.serveAttach)
		s.mux.HandleFunc(m+" /portForward/{ns}/{pod}", s.servePortForward)
	}
	return s
}

// ServeHTTP authorizes and routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/healthz" {
		if code, msg := authorize(r); code != http.StatusOK {
			http.Error(w, msg, code)
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// Run serves HTTPS until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	ln := s.cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.cfg.Addr); err != nil {
			return fmt.Errorf("kubelet server: %w", err)
		}
	}
	tlsCfg := &tls.Config{
		Certificates: []tls.Certificate{s.cfg.Cert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    s.cfg.ClientCA,
		MinVersion:   tls.VersionTLS12,
		// Streaming upgrades need HTTP/1.1.
		NextProtos: []string{"http/1.1"},
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(tls.NewListener(ln, tlsCfg)) }()
	s.log.Info("kubelet server listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Streams and followed logs do not end on their own.
		_ = srv.Close()
	}
	return nil
}

// KubeletClientCN is the common name of the API server's client
// certificate for kubelets.
const KubeletClientCN = "kube-apiserver-kubelet-client"

// authorize admits the API server's kubelet client (by name, or as a
// member of system:masters): 401 without a verified certificate, 403 for
// anyone else.
func authorize(r *http.Request) (int, string) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return http.StatusUnauthorized, "Unauthorized"
	}
	cert := r.TLS.VerifiedChains[0][0]
	if cert.Subject.CommonName == KubeletClientCN {
		return http.StatusOK, ""
	}
	for _, o := range cert.Subject.Organization {
		if o == "system:masters" {
			return http.StatusOK, ""
		}
	}
	// Upstream's wording for a denied kubelet API request.
	verb := "get"
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		verb = "create"
	}
	sub := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)[0]
	return http.StatusForbidden, fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=nodes, subresource=%s)", cert.Subject.CommonName, verb, sub)
}

// httpError writes err with the status code its kind calls for.
func httpError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		code = int(se.Status().Code)
	}
	http.Error(w, err.Error(), code)
}

// pod finds the pod of a request.
func (s *Server) pod(r *http.Request) (*corev1.Pod, error) {
	ns, name := r.PathValue("ns"), r.PathValue("pod")
	pod, err := s.cfg.Pod(ns, name)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, apierrors.NewNotFound(corev1.Resource("pods"), name)
		}
		return nil, err
	}
	return pod, nil
}

// containers lists the runtime's instances of a pod's container, newest
// first.
func (s *Server) containers(ctx context.Context, pod *corev1.Pod, name string) ([]*runtimeapi.Container, error) {
	resp, err := s.cfg.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		LabelSelector: map[string]string{labelPodUID: string(pod.UID), labelContainerName: name},
	}})
	if err != nil {
		return nil, fmt.Errorf("ListContainers: %w", err)
	}
	cs := resp.Containers
	sort.Slice(cs, func(i, j int) bool {
		if a, b := cs[i].Metadata.GetAttempt(), cs[j].Metadata.GetAttempt(); a != b {
			return a > b
		}
		return cs[i].CreatedAt > cs[j].CreatedAt
	})
	return cs, nil
}

// runningContainer returns the ID of the pod's running container name.
func (s *Server) runningContainer(r *http.Request) (string, error) {
	pod, err := s.pod(r)
	if err != nil {
		return "", err
	}
	name := r.PathValue("container")
	cs, err := s.containers(r.Context(), pod, name)
	if err != nil {
		return "", err
	}
	for _, c := range cs {
		if c.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
			return c.Id, nil
		}
	}
	return "", apierrors.NewNotFound(corev1.Resource("container"), name)
}

func boolParam(q url.Values, name string) bool {
	v := q.Get(name)
	b, _ := strconv.ParseBool(v)
	return b
}

// streamOpts reads the stdin/stdout/stderr/tty query of exec and attach.
func streamOpts(r *http.Request) (stdin, stdout, stderr, tty bool, err error) {
	q := r.URL.Query()
	stdin, stdout, stderr, tty = boolParam(q, "input") || boolParam(q, "stdin"), boolParam(q, "output") || boolParam(q, "stdout"), boolParam(q, "error") || boolParam(q, "stderr"), boolParam(q, "tty")
	if tty && stderr {
		// A terminal merges stderr into stdout.
		stderr = false
	}
	if !stdin && !stdout && !stderr {
		return false, false, false, false, apierrors.NewBadRequest("you must specify at least 1 of stdin, stdout, stderr")
	}
	return stdin, stdout, stderr, tty, nil
}

func (s *Server) serveExec(w http.ResponseWriter, r *http.Request) {
	id, err := s.runningContainer(r)
	if err != nil {
		httpError(w, err)
		return
	}
	stdin, stdout, stderr, tty, err := streamOpts(r)
	if err != nil {
		httpError(w, err)
		return
	}
	cmd := r.URL.Query()["command"]
	if len(cmd) == 0 {
		httpError(w, apierrors.NewBadRequest("you must specify at least one command for the container"))
		return
	}
	resp, err := s.cfg.Runtime.Exec(r.Context(), &runtimeapi.ExecRequest{ContainerId: id, Cmd: cmd, Tty: tty, Stdin: stdin, Stdout: stdout, Stderr: stderr})
	if err != nil {
		httpError(w, fmt.Errorf("Exec: %w", err))
		return
	}
	s.proxyStream(w, r, resp.Url)
}

func (s *Server) serveAttach(w http.ResponseWriter, r *http.Request) {
	id, err := s.runningContainer(r)
	if err != nil {
		httpError(w, err)
		return
	}
	stdin, stdout, stderr, tty, err := streamOpts(r)
	if err != nil {
		httpError(w, err)
		return
	}
	resp, err := s.cfg.Runtime.Attach(r.Context(), &runtimeapi.AttachRequest{ContainerId: id, Tty: tty, Stdin: stdin, Stdout: stdout, Stderr: stderr})
	if err != nil {
		httpError(w, fmt.Errorf("Attach: %w", err))
		return
	}
	s.proxyStream(w, r, resp.Url)
}

func (s *Server) servePortForward(w http.ResponseWriter, r *http.Request) {
	pod, err := s.pod(r)
	if err != nil {
		httpError(w, err)
		return
	}
	resp, err := s.cfg.Runtime.ListPodSandbox(r.Context(), &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
		LabelSelector: map[string]string{labelPodUID: string(pod.UID)},
		State:         &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY},
	}})
	if err != nil {
		httpError(w, fmt.Errorf("ListPodSandbox: %w", err))
		return
	}
	if len(resp.Items) == 0 {
		httpError(w, apierrors.NewNotFound(corev1.Resource("pods"), pod.Name))
		return
	}
	sbs := resp.Items
	sort.Slice(sbs, func(i, j int) bool { return sbs[i].CreatedAt > sbs[j].CreatedAt })
	var ports []int32
	for _, p := range r.URL.Query()["port"] {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			httpError(w, apierrors.NewBadRequest(fmt.Sprintf("invalid port %q", p)))
			return
		}
		ports = append(ports, int32(n))
	}
	pf, err := s.cfg.Runtime.PortForward(r.Context(), &runtimeapi.PortForwardRequest{PodSandboxId: sbs[0].Id, Port: ports})
	if err != nil {
		httpError(w, fmt.Errorf("PortForward: %w", err))
		return
	}
	s.proxyStream(w, r, pf.Url)
}

// proxyStream hands the client's upgrade to the runtime's streaming URL.
func (s *Server) proxyStream(w http.ResponseWriter, r *http.Request, streamURL string) {
	u, err := url.Parse(streamURL)
	if err != nil {
		httpError(w, fmt.Errorf("runtime streaming URL %q: %w", streamURL, err))
		return
	}
	h := proxy.NewUpgradeAwareHandler(u, nil, false, true, responder{s.log})
	h.ServeHTTP(w, r)
}

// responder reports proxy errors to the client.
type responder struct{ log *slog.Logger }

func (p responder) Error(w http.ResponseWriter, r *http.Request, err error) {
	p.log.Warn("proxying a stream to the runtime", "path", r.URL.Path, "err", err)
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

// serveLogs streams a container's log (current or previous instance).
func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request) {
	pod, err := s.pod(r)
	if err != nil {
		httpError(w, err)
		return
	}
	opts, previous, err := logOptions(r.URL.Query(), time.Now())
	if err != nil {
		httpError(w, err)
		return
	}
	name := r.PathValue("container")
	// The pod status says which instance: the running or last one, or
	// the one before (lastState) for previous. Without it, the runtime's
	// newest instances are taken.
	var st *runtimeapi.ContainerStatusResponse
	if id := statusContainerID(pod, name, previous); id != "" {
		st, _ = s.cfg.Runtime.ContainerStatus(r.Context(), &runtimeapi.ContainerStatusRequest{ContainerId: id})
	}
	if st == nil {
		cs, err := s.containers(r.Context(), pod, name)
		if err != nil {
			httpError(w, err)
			return
		}
		idx := 0
		if previous {
			idx = 1
		}
		if len(cs) <= idx {
			if previous {
				httpError(w, apierrors.NewBadRequest(fmt.Sprintf("previous terminated container %q in pod %q not found", name, pod.Name)))
			} else {
				httpError(w, apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: ContainerCreating", name, pod.Name)))
			}
			return
		}
		if st, err = s.cfg.Runtime.ContainerStatus(r.Context(), &runtimeapi.ContainerStatusRequest{ContainerId: cs[idx].Id}); err != nil {
			httpError(w, fmt.Errorf("ContainerStatus: %w", err))
			return
		}
	}
	id := st.Status.GetId()
	if previous {
		opts.Follow = false
	}
	running := func() bool {
		st, err := s.cfg.Runtime.ContainerStatus(r.Context(), &runtimeapi.ContainerStatusRequest{ContainerId: id})
		return err == nil && st.Status.GetState() == runtimeapi.ContainerState_CONTAINER_RUNNING
	}
	w.Header().Set("Content-Type", "text/plain")
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	if err := ReadLogs(r.Context(), st.Status.GetLogPath(), opts, w, running, flush); err != nil && r.Context().Err() == nil {
		s.log.Warn("reading container log", "pod", pod.Namespace+"/"+pod.Name, "container", name, "err", err)
	}
}

// statusContainerID is the runtime ID of the container instance whose log
// the pod status points at ("" when it does not say).
func statusContainerID(pod *corev1.Pod, name string, previous bool) string {
	var st *corev1.ContainerStatus
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses, pod.Status.EphemeralContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				st = &list[i]
			}
		}
	}
	if st == nil {
		return ""
	}
	trim := func(id string) string {
		if _, rest, ok := strings.Cut(id, "://"); ok {
			return rest
		}
		return id
	}
	last := st.LastTerminationState.Terminated
	switch {
	case previous:
		if last != nil {
			return trim(last.ContainerID)
		}
	case st.State.Running != nil, st.State.Terminated != nil:
		return trim(st.ContainerID)
	case last != nil:
		// Waiting to restart: the last instance's log, as upstream shows.
		return trim(last.ContainerID)
	}
	return ""
}

// logOptions reads the /containerLogs query (upstream's PodLogOptions
// parameters).
func logOptions(q url.Values, now time.Time) (LogOptions, bool, error) {
	opts := LogOptions{Tail: -1, Follow: boolParam(q, "follow"), Timestamps: boolParam(q, "timestamps")}
	if v := q.Get("tailLines"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return opts, false, apierrors.NewBadRequest(fmt.Sprintf("invalid tailLines %q", v))
		}
		opts.Tail = n
	}
	if v := q.Get("limitBytes"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return opts, false, apierrors.NewBadRequest(fmt.Sprintf("invalid limitBytes %q", v))
		}
		opts.LimitBytes = n
	}
	if v := q.Get("sinceSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return opts, false, apierrors.NewBadRequest(fmt.Sprintf("invalid sinceSeconds %q", v))
		}
		opts.Since = now.Add(-time.Duration(n) * time.Second)
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return opts, false, apierrors.NewBadRequest(fmt.Sprintf("invalid sinceTime %q", v))
		}
		opts.Since = t
	}
	return opts, boolParam(q, "previous"), nil
}
