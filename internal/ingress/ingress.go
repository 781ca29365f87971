// Package ingress is skiff's built-in Ingress controller: an HTTP/HTTPS
// layer-7 router for networking.k8s.io/v1 Ingress objects of the IngressClass
// "skiff". Every node's agent runs a Router inside the node's network
// namespace, listening on ports 80 and 443; it keeps an immutable routing
// table built from Ingress, Service, EndpointSlice, IngressClass and TLS
// Secret informers, swaps it atomically on every change, and proxies each
// request straight to a ready pod IP of the matched Service (the node routes
// to every pod CIDR). It plays the part ingress-nginx plays in a stock
// cluster.
//
// The servers run one StatusController (under their controller-manager
// lease) that publishes the Ready nodes' InternalIPs in
// status.loadBalancer.ingress of every Ingress of the class, and call
// EnsureClass once to create the IngressClass. See README.md.
package ingress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	netlisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"skiff/internal/informerutil"
)

// Names shared with the rest of the cluster.
const (
	// DefaultClassName is the IngressClass served by default.
	DefaultClassName = "skiff"
	// ControllerName is the spec.controller of skiff's IngressClass.
	ControllerName = "skiff.io/ingress"
	// DefaultClassAnnotation marks the cluster's default IngressClass.
	DefaultClassAnnotation = "ingressclass.kubernetes.io/is-default-class"
	// LegacyClassAnnotation is the pre-IngressClass way to pick a class.
	LegacyClassAnnotation = "kubernetes.io/ingress.class"
	// SSLRedirectAnnotation set to "false" on an Ingress turns off the
	// HTTP→HTTPS redirect of its TLS hosts (ingress-nginx's annotation).
	SSLRedirectAnnotation = "nginx.ingress.kubernetes.io/ssl-redirect"
)

// Config configures a Router (and a StatusController).
type Config struct {
	// NodeName is the node this router runs on (logs only).
	NodeName string
	// HTTPAddr is the plain HTTP listen address; default ":80". Port 0
	// picks a free port (tests); see Addrs.
	HTTPAddr string
	// HTTPSAddr is the TLS listen address; default ":443".
	HTTPSAddr string
	// ClassName is the IngressClass served; default "skiff".
	ClassName string
	// SecretsClient reads the kubernetes.io/tls Secrets named by
	// spec.tls. A node's own identity (system:node:<name>) may not read
	// arbitrary Secrets, so the agent must pass a client whose identity
	// may list/watch Secrets of type kubernetes.io/tls in all namespaces.
	// Nil: the main client is used.
	SecretsClient kubernetes.Interface
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the skiff_ingress_* metrics; nil: not
	// registered.
	Registerer prometheus.Registerer
	// Recorder records Events on the Ingresses served (nil: none).
	Recorder record.EventRecorder
}

func (c *Config) defaults() {
	if c.HTTPAddr == "" {
		c.HTTPAddr = ":80"
	}
	if c.HTTPSAddr == "" {
		c.HTTPSAddr = ":443"
	}
	if c.ClassName == "" {
		c.ClassName = DefaultClassName
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Upstream timeouts, as ingress-nginx's defaults (proxy-connect-timeout 5s)
// and its keep-alive to clients (75s).
const (
	connectTimeout  = 5 * time.Second
	clientIdle      = 75 * time.Second
	readHeaderLimit = 60 * time.Second
	shutdownTimeout = 10 * time.Second
	// secretsSyncTimeout bounds the wait for the TLS Secret cache at start.
	secretsSyncTimeout = 30 * time.Second
	// coalesce groups bursts of informer events into one rebuild.
	coalesce = 50 * time.Millisecond
)

// Router is the per-node Ingress router. Create it with New, then Run it.
type Router struct {
	cfg Config
	log *slog.Logger
	m   *metrics

	factory       informers.SharedInformerFactory
	secretFactory informers.SharedInformerFactory
	synced        []cache.InformerSynced
	secretsSynced []cache.InformerSynced
	ingresses     netlisters.IngressLister
	classes       netlisters.IngressClassLister
	services      corelisters.ServiceLister
	slices        discoverylisters.EndpointSliceLister
	secrets       corelisters.SecretLister

	table    atomic.Pointer[table]
	certs    *certCache
	fakeCert *tls.Certificate
	proxy    *httputil.ReverseProxy
	kick     chan struct{}
	// backends are the Services ("namespace/name") the served Ingresses
	// route to, as of the last rebuild (nil before the first).
	backends atomic.Pointer[map[string]bool]
	// announced is the generation of each served Ingress last announced
	// with a Sync event (rebuild loop only).
	announced map[types.UID]int64

	mu        sync.Mutex
	httpAddr  string
	httpsAddr string
	ready     chan struct{}
}

// New validates cfg and sets up the informers and the proxy; nothing is
// served until Run.
func New(client kubernetes.Interface, cfg Config) (*Router, error) {
	if client == nil {
		return nil, errors.New("ingress: nil client")
	}
	cfg.defaults()
	for _, a := range []string{cfg.HTTPAddr, cfg.HTTPSAddr} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("ingress: bad listen address %q: %w", a, err)
		}
	}
	fake, err := fakeCertificate()
	if err != nil {
		return nil, fmt.Errorf("ingress: fallback certificate: %w", err)
	}
	r := &Router{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "ingress", "node", cfg.NodeName),
		m:         newMetrics(),
		certs:     newCertCache(),
		fakeCert:  fake,
		kick:      make(chan struct{}, 1),
		ready:     make(chan struct{}),
		announced: map[types.UID]int64{},
	}
	if cfg.Registerer != nil {
		if err := r.m.register(cfg.Registerer); err != nil {
			return nil, fmt.Errorf("ingress: registering metrics: %w", err)
		}
	}
	r.table.Store(emptyTable())
	r.proxy = r.newProxy()

	r.factory = informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(informerutil.StripManagedFields))
	secretsClient := cfg.SecretsClient
	if secretsClient == nil {
		secretsClient = client
	}
	r.secretFactory = informers.NewSharedInformerFactoryWithOptions(secretsClient, 0,
		informers.WithTransform(informerutil.StripManagedFields),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = "type=" + string(corev1.SecretTypeTLS)
		}))
	ing := r.factory.Networking().V1().Ingresses()
	cls := r.factory.Networking().V1().IngressClasses()
	svc := r.factory.Core().V1().Services()
	sl := r.factory.Discovery().V1().EndpointSlices()
	sec := r.secretFactory.Core().V1().Secrets()
	r.ingresses, r.classes, r.services, r.slices, r.secrets = ing.Lister(), cls.Lister(), svc.Lister(), sl.Lister(), sec.Lister()
	all := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { r.trigger() },
		UpdateFunc: func(any, any) { r.trigger() },
		DeleteFunc: func(any) { r.trigger() },
	}
	// Services and their slices matter only when an Ingress routes to
	// them: the rest of the cluster's endpoint churn rebuilds nothing.
	backends := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.triggerFor(obj) },
		UpdateFunc: func(_, obj any) { r.triggerFor(obj) },
		DeleteFunc: func(obj any) { r.triggerFor(obj) },
	}
	for _, inf := range []cache.SharedIndexInformer{ing.Informer(), cls.Informer(), svc.Informer(), sl.Informer(), sec.Informer()} {
		h := all
		if inf == svc.Informer() || inf == sl.Informer() {
			h = backends
		}
		reg, err := inf.AddEventHandler(h)
		if err != nil {
			return nil, fmt.Errorf("ingress: event handler: %w", err)
		}
		if inf == sec.Informer() {
			r.secretsSynced = []cache.InformerSynced{inf.HasSynced, reg.HasSynced}
		} else {
			r.synced = append(r.synced, inf.HasSynced, reg.HasSynced)
		}
	}
	return r, nil
}

// triggerFor asks for a rebuild when obj, a Service or EndpointSlice, is
// (or belongs to) a Service some served Ingress routes to.
func (r *Router) triggerFor(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	var key string
	switch o := obj.(type) {
	case *corev1.Service:
		key = o.Namespace + "/" + o.Name
	case *discoveryv1.EndpointSlice:
		key = o.Namespace + "/" + o.Labels[discoveryv1.LabelServiceName]
	default:
		r.trigger()
		return
	}
	if refs := r.backends.Load(); refs == nil || (*refs)[key] {
		r.trigger()
	}
}

// trigger asks the rebuild loop for a new table; bursts coalesce.
func (r *Router) trigger() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Handler returns the routing handler (what both listeners serve).
func (r *Router) Handler() http.Handler { return http.HandlerFunc(r.serveHTTP) }

// Ready is closed once the caches synced, the first table is built and
// both listeners are bound.
func (r *Router) Ready() <-chan struct{} { return r.ready }

// Addrs returns the bound HTTP and HTTPS addresses (empty before Ready).
func (r *Router) Addrs() (httpAddr, httpsAddr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.httpAddr, r.httpsAddr
}

// Run syncs the informers, builds the first routing table, serves HTTP and
// HTTPS until ctx ends, then shuts the listeners down gracefully (requests
// in flight get shutdownTimeout). It fails only when a listener cannot be
// bound or stops serving. Call it once.
func (r *Router) Run(ctx context.Context) error {
	r.factory.Start(ctx.Done())
	r.secretFactory.Start(ctx.Done())
	defer r.factory.Shutdown()
	defer r.secretFactory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), r.synced...) {
		return nil // ctx ended
	}
	// Secrets come through another identity that may lack access; plain
	// HTTP must not wait on them forever (HTTPS uses the fake certificate
	// until they sync).
	sctx, scancel := context.WithTimeout(ctx, secretsSyncTimeout)
	if !cache.WaitForCacheSync(sctx.Done(), r.secretsSynced...) {
		if ctx.Err() != nil {
			scancel()
			return nil
		}
		r.log.Warn("TLS secrets not synced yet (can the secrets client list/watch kubernetes.io/tls Secrets?); serving with the fallback certificate meanwhile")
	}
	scancel()
	r.rebuild()

	hln, err := net.Listen("tcp", r.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("ingress: listen %s: %w", r.cfg.HTTPAddr, err)
	}
	sln, err := net.Listen("tcp", r.cfg.HTTPSAddr)
	if err != nil {
		_ = hln.Close()
		return fmt.Errorf("ingress: listen %s: %w", r.cfg.HTTPSAddr, err)
	}
	errLog := slog.NewLogLogger(r.log.Handler(), slog.LevelDebug)
	// Requests outlive ctx until the graceful shutdown ends; then the rest
	// (upgraded connections, which Shutdown does not track) are cut.
	connCtx, cutConns := context.WithCancel(context.WithoutCancel(ctx))
	defer cutConns()
	newServer := func() *http.Server {
		return &http.Server{
			Handler:           r.Handler(),
			ReadHeaderTimeout: readHeaderLimit,
			IdleTimeout:       clientIdle,
			ErrorLog:          errLog,
			BaseContext:       func(net.Listener) context.Context { return connCtx },
		}
	}
	hsrv := newServer()
	ssrv := newServer()
	ssrv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.getCertificate}

	r.mu.Lock()
	r.httpAddr, r.httpsAddr = hln.Addr().String(), sln.Addr().String()
	r.mu.Unlock()

	errs := make(chan error, 2)
	go func() { errs <- hsrv.Serve(hln) }()
	go func() { errs <- ssrv.ServeTLS(sln, "", "") }()
	loopCtx, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	loopDone := make(chan struct{})
	go func() { defer close(loopDone); r.rebuildLoop(loopCtx) }()
	close(r.ready)
	r.log.Info("ingress router serving", "http", hln.Addr().String(), "https", sln.Addr().String(), "class", r.cfg.ClassName)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-errs:
		if !errors.Is(err, http.ErrServerClosed) {
			runErr = fmt.Errorf("ingress: serving: %w", err)
		}
	}
	shctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	for _, s := range []*http.Server{hsrv, ssrv} {
		if err := s.Shutdown(shctx); err != nil {
			_ = s.Close()
		}
	}
	cutConns()
	if runErr != nil {
		r.log.Error("ingress router stopped", "err", runErr)
	}
	stopLoop()
	<-loopDone
	return runErr
}

// rebuildLoop rebuilds the table after informer events until ctx ends.
func (r *Router) rebuildLoop(ctx context.Context) {
	t := time.NewTimer(0)
	if !t.Stop() {
		<-t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		}
		// Let a burst of events (a rollout) settle into one rebuild.
		t.Reset(coalesce)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		select {
		case <-r.kick:
		default:
		}
		r.rebuild()
	}
}

// rebuild builds a new table from the caches and swaps it in; requests in
// flight keep the backend they already picked.
func (r *Router) rebuild() {
	start := time.Now()
	t := r.buildTable()
	r.table.Store(t)
	r.m.reloads.Inc()
	r.log.Debug("routing table rebuilt", "ingresses", t.ingressCount, "hosts", len(t.exact)+len(t.wildcard),
		"certificates", len(t.certs.exact)+len(t.certs.wildcard), "took", time.Since(start))
}
