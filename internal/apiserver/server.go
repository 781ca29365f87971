// Package apiserver owns the Kubernetes API: HTTPS serving, authentication,
// request routing, content negotiation, the generic REST verbs over the
// resource table of package registry, watch, discovery, tables, health and
// metrics. It is the only component that talks to the store.
package apiserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiextensions"
	"skiff/internal/apiserver/admission"
	"skiff/internal/storage"
)

var registryGR = schema.GroupResource{}

// Hooks are the per-kind behaviours the server applies; package app wires
// them from registry/defaults, registry/validation and registry/printers.
type Hooks struct {
	Default              func(obj runtime.Object)
	ValidateCreate       func(obj runtime.Object) field.ErrorList
	ValidateUpdate       func(newObj, oldObj runtime.Object) field.ErrorList
	ValidateStatusUpdate func(newObj, oldObj runtime.Object) field.ErrorList
	Columns              func(gk schema.GroupKind) []metav1.TableColumnDefinition
	Row                  func(obj runtime.Object, now time.Time) ([]interface{}, error)
	// OpenAPI serves /openapi/v2 and /openapi/v3...; nil answers 404.
	OpenAPI http.Handler
	// Admission is the admission chain run on every write (creates,
	// updates, deletes, evictions) and connect: on a create or update its
	// mutating phase after defaulting, its validating phase right after
	// validation succeeds. Nil admits everything.
	Admission *admission.Chain
	// ServiceAddress resolves a Service to a host:port to dial; CRD
	// conversion webhooks given as a Service are reached through it.
	ServiceAddress func(ctx context.Context, namespace, name string, port int32) (string, error)
}

// Config configures the API server.
type Config struct {
	// BindAddress and Port are where HTTPS is served.
	BindAddress string
	Port        int
	// Listener, when set, is used instead of BindAddress/Port (tests).
	Listener net.Listener
	// ServingCert is the server's certificate; ClientCA verifies clients.
	ServingCert tls.Certificate
	ClientCA    *x509.CertPool
	// Tokens maps bearer tokens to users (static tokens, e.g. for the node
	// bootstrap); nil accepts none.
	Tokens map[string]User
	Store  storage.Store
	Hooks  Hooks
	// AdvertiseAddress is the IP the default/kubernetes Service points at.
	AdvertiseAddress net.IP
	// ServiceCIDR and NodePortRange bound the service allocators.
	ServiceCIDR   *net.IPNet
	NodePortRange PortRange
	Registerer    prometheus.Registerer
	Gatherer      prometheus.Gatherer
	Logger        *slog.Logger
	// MaxRequestBodyBytes caps request bodies (3 MiB like upstream).
	MaxRequestBodyBytes int64
	// ExtraHealthChecks are added to /healthz, /livez and /readyz.
	ExtraHealthChecks []HealthCheck
	// MaxReadOnlyInflight and MaxMutatingInflight bound concurrent
	// requests (watches are not counted); beyond them clients get 429.
	MaxReadOnlyInflight, MaxMutatingInflight int
	// DisableProfiling turns /debug/pprof off (upstream's --profiling=false).
	DisableProfiling bool
	// BookmarkInterval is the least time between two periodic BOOKMARK
	// events on one watch (default one minute, as upstream).
	BookmarkInterval time.Duration
	// KubeletClientCert is the client certificate the server presents to
	// kubelets (logs, exec, attach, port-forward, nodes/proxy);
	// KubeletCA verifies their serving certificates.
	KubeletClientCert *tls.Certificate
	KubeletCA         *x509.CertPool
	// ServiceAccountKey signs and verifies service account tokens
	// (nil: none are issued or accepted); ServiceAccountIssuer is their
	// issuer and audience (default DefaultServiceAccountIssuer).
	ServiceAccountKey    *ecdsa.PrivateKey
	ServiceAccountIssuer string
}

// PortRange is an inclusive range of ports.
type PortRange struct{ Base, Size int }

// Contains reports whether p is in the range.
func (r PortRange) Contains(p int) bool { return p >= r.Base && p < r.Base+r.Size }

func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.Base, r.Base+r.Size-1) }

// Server is the API server.
type Server struct {
	cfg     Config
	store   storage.Store
	hooks   Hooks
	log     *slog.Logger
	metrics *metrics
	// listChunks keeps compressed chunks of large lists.
	listChunks *chunkCache
	health     *healthChecks
	mux        *http.ServeMux
	ready      chan struct{}
	// readOnly and mutating are the inflight request slots.
	readOnly, mutating chan struct{}
	// fieldManagers holds one field manager per resource and subresource.
	fieldManagers sync.Map
	// crds serves the resources of CustomResourceDefinitions.
	crds *apiextensions.Controller
	// kubelet is the client for kubelet proxying (podproxy.go).
	kubelet kubeletClient
	// podProxy reaches pods for pods/proxy and services/proxy;
	// proxyLoopback lets them reach loopback addresses (unit tests).
	podProxy      podProxyClient
	proxyLoopback bool
}

// New builds an API server from cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("apiserver: no store")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxRequestBodyBytes == 0 {
		cfg.MaxRequestBodyBytes = 3 << 20
	}
	if cfg.ServiceCIDR == nil {
		_, cfg.ServiceCIDR, _ = net.ParseCIDR("10.43.0.0/16")
	}
	if cfg.NodePortRange.Size == 0 {
		cfg.NodePortRange = PortRange{Base: 30000, Size: 2768}
	}
	if cfg.Registerer == nil {
		reg := prometheus.NewRegistry()
		cfg.Registerer, cfg.Gatherer = reg, reg
	}
	if cfg.MaxReadOnlyInflight == 0 {
		cfg.MaxReadOnlyInflight = 400
	}
	if cfg.MaxMutatingInflight == 0 {
		cfg.MaxMutatingInflight = 200
	}
	s := &Server{cfg: cfg, store: cfg.Store, hooks: cfg.Hooks, log: cfg.Logger, ready: make(chan struct{}),
		readOnly: make(chan struct{}, cfg.MaxReadOnlyInflight), mutating: make(chan struct{}, cfg.MaxMutatingInflight)}
	s.crds = apiextensions.NewController(cfg.Store, cfg.Logger.With("controller", "apiextensions"))
	s.crds.OnChange(func() { s.fieldManagers.Clear() })
	s.crds.SetServiceAddress(cfg.Hooks.ServiceAddress)
	s.metrics = newMetrics(cfg.Registerer)
	if err := s.crds.RegisterMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	hits, misses := s.metrics.listChunks.WithLabelValues("hit"), s.metrics.listChunks.WithLabelValues("miss")
	s.listChunks = newChunkCache(hits.Inc, misses.Inc)
	s.health = newHealthChecks(s, cfg.ExtraHealthChecks)
	s.mux = http.NewServeMux()
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	s.mux.HandleFunc("/version", s.serveVersion)
	s.mux.HandleFunc("/version/", s.serveVersion)
	s.mux.Handle("/healthz", s.health.handler("healthz"))
	s.mux.Handle("/healthz/", s.health.handler("healthz"))
	s.mux.Handle("/livez", s.health.handler("livez"))
	s.mux.Handle("/livez/", s.health.handler("livez"))
	s.mux.Handle("/readyz", s.health.handler("readyz"))
	s.mux.Handle("/readyz/", s.health.handler("readyz"))
	s.mux.Handle("/metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}))
	if !s.cfg.DisableProfiling {
		// Go's profiles, as upstream's --profiling serves them; no default
		// role grants them, so only cluster admins may read them.
		s.mux.Handle("/debug/pprof/", s.adminsOnly(http.HandlerFunc(pprof.Index)))
		s.mux.Handle("/debug/pprof/profile", s.adminsOnly(http.HandlerFunc(pprof.Profile)))
		s.mux.Handle("/debug/pprof/symbol", s.adminsOnly(http.HandlerFunc(pprof.Symbol)))
		s.mux.Handle("/debug/pprof/trace", s.adminsOnly(http.HandlerFunc(pprof.Trace)))
	}
	if s.hooks.OpenAPI != nil {
		s.mux.Handle("/openapi/", s.customOpenAPI(s.hooks.OpenAPI))
	}
	s.mux.HandleFunc("/api", s.serveAPI)
	s.mux.HandleFunc("/api/", s.serveAPI)
	s.mux.HandleFunc("/apis", s.serveAPI)
	s.mux.HandleFunc("/apis/", s.serveAPI)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			s.writeJSON(w, http.StatusOK, rootPaths())
			return
		}
		s.writeError(w, r, notFoundPath())
	})
}

// anonymousPaths may be read without credentials, like upstream's
// system:public-info-viewer role allows, and cluster-info for joining
// nodes (authorize still limits it to a GET).
func anonymousPath(p string) bool {
	switch {
	case p == "/version", p == "/healthz", p == "/livez", p == "/readyz", p == "/api/v1/namespaces/kube-public/configmaps/cluster-info",
		strings.HasPrefix(p, "/healthz/"), strings.HasPrefix(p, "/livez/"), strings.HasPrefix(p, "/readyz/"):
		return true
	}
	return false
}

// ServeHTTP authenticates and routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		// A bug must cost one request, never the server.
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			s.writeError(w, r, apierrors.NewInternalError(fmt.Errorf("internal error while serving %s %s", r.Method, r.URL.Path)))
		}
	}()
	user, ok := s.authenticate(r)
	if !ok && !anonymousPath(r.URL.Path) {
		s.writeError(w, r, unauthorized())
		return
	}
	r = r.WithContext(withUser(r.Context(), user))
	if r.ContentLength > s.cfg.MaxRequestBodyBytes {
		s.writeError(w, r, requestTooLarge(s.cfg.MaxRequestBodyBytes))
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBodyBytes)
	}
	s.mux.ServeHTTP(w, r)
}

// Ready is closed once the server has bootstrapped its system objects.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Run serves HTTPS until ctx ends, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	ln := s.cfg.Listener
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", net.JoinHostPort(s.cfg.BindAddress, fmt.Sprint(s.cfg.Port)))
		if err != nil {
			return fmt.Errorf("apiserver listen: %w", err)
		}
	}
	tlsCfg := &tls.Config{
		Certificates: []tls.Certificate{s.cfg.ServingCert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    s.cfg.ClientCA,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}
	srv := &http.Server{
		Handler:           s,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 30 * time.Second,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(tls.NewListener(ln, tlsCfg)) }()
	crdsDone := make(chan struct{})
	go func() {
		defer close(crdsDone)
		_ = s.crds.Run(ctx)
	}()
	go func() {
		if err := s.bootstrap(ctx); err != nil {
			if ctx.Err() == nil {
				errc <- fmt.Errorf("apiserver bootstrap: %w", err)
			}
			return
		}
		close(s.ready)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Long-running watches do not end on their own; close them.
		_ = srv.Close()
	}
	<-crdsDone
	return nil
}
