// Package dns is skiff's cluster DNS server: it answers the Kubernetes
// DNS-based service discovery schema (<svc>.<ns>.svc.<domain>, headless and
// StatefulSet endpoint names, SRV, PTR, <dashed-ip>.<ns>.pod.<domain>) from
// Service and EndpointSlice informer caches, and forwards every other name
// to upstream resolvers. It plays the part CoreDNS's kubernetes and forward
// plugins play in a stock cluster; each skiff server runs one, and pods
// reach them through the kube-dns Service (see EnsureService).
package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"skiff/internal/informerutil"
)

// Config configures a Server.
type Config struct {
	// Listen is the host:port served on both UDP and TCP, e.g.
	// "10.230.0.2:53". Port 0 picks a free port (tests); see Addr.
	Listen string
	// ClusterDomain is the zone answered from the cluster; default
	// "cluster.local".
	ClusterDomain string
	// Upstreams are host:port resolvers other names are forwarded to, in
	// order of preference; default: the nameservers of ResolvConf.
	Upstreams []string
	// ResolvConf is read for Upstreams when none are given; default
	// /etc/resolv.conf.
	ResolvConf string
	// TTL of cluster records, as CoreDNS's kubernetes plugin: default 5.
	TTL uint32
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the skiff_dns_* metrics; nil: not registered.
	Registerer prometheus.Registerer
}

// forwardTimeout bounds one exchange with one upstream; a client resolver
// gives up after 5s (resolv.conf default), so two upstreams can be tried.
const forwardTimeout = 2 * time.Second

// Server is a cluster DNS server. Create it with New, then Run it.
type Server struct {
	cfg       Config
	zone      string // lower case, fully qualified ClusterDomain
	log       *slog.Logger
	upstreams []string
	factory   informers.SharedInformerFactory
	svcs      cache.SharedIndexInformer
	slices    cache.SharedIndexInformer
	m         *metrics
	serial    uint32

	mu    sync.Mutex
	addr  string
	ready chan struct{}
}

// New validates cfg and sets up the informers; nothing is served until Run.
func New(client kubernetes.Interface, cfg Config) (*Server, error) {
	if client == nil {
		return nil, errors.New("dns: nil client")
	}
	if cfg.Listen == "" {
		return nil, errors.New("dns: Config.Listen is required")
	}
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return nil, fmt.Errorf("dns: bad Listen %q: %w", cfg.Listen, err)
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = "/etc/resolv.conf"
	}
	if cfg.TTL == 0 {
		cfg.TTL = 5
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	zone := strings.ToLower(mdns.Fqdn(strings.Trim(cfg.ClusterDomain, ".")))
	if _, ok := mdns.IsDomainName(zone); !ok || zone == "." {
		return nil, fmt.Errorf("dns: bad ClusterDomain %q", cfg.ClusterDomain)
	}
	s := &Server{
		cfg:    cfg,
		zone:   zone,
		log:    cfg.Logger.With("component", "dns"),
		ready:  make(chan struct{}),
		serial: uint32(time.Now().Unix()),
	}
	ups, err := resolveUpstreams(cfg.Upstreams, cfg.ResolvConf)
	if err != nil {
		// Cluster names still work without upstreams; forwarded names get
		// SERVFAIL.
		s.log.Warn("no upstream resolvers; names outside the cluster domain will fail", "err", err)
	}
	s.upstreams = ups
	s.m = newMetrics()
	if cfg.Registerer != nil {
		if err := s.m.register(cfg.Registerer); err != nil {
			return nil, fmt.Errorf("dns: registering metrics: %w", err)
		}
	}
	s.factory = informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(informerutil.StripManagedFields))
	s.svcs = s.factory.Core().V1().Services().Informer()
	s.slices = s.factory.Discovery().V1().EndpointSlices().Informer()
	if err := s.svcs.AddIndexers(cache.Indexers{indexClusterIP: clusterIPIndex}); err != nil {
		return nil, fmt.Errorf("dns: service indexers: %w", err)
	}
	if err := s.slices.AddIndexers(cache.Indexers{indexService: sliceServiceIndex, indexAddress: sliceAddressIndex}); err != nil {
		return nil, fmt.Errorf("dns: endpointslice indexers: %w", err)
	}
	return s, nil
}

// resolveUpstreams returns the given upstreams with a default port, or the
// nameservers of resolvConf.
func resolveUpstreams(given []string, resolvConf string) ([]string, error) {
	var out []string
	for _, u := range given {
		if u == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(u); err != nil {
			u = net.JoinHostPort(strings.Trim(u, "[]"), "53")
		}
		out = append(out, u)
	}
	if len(given) > 0 {
		if len(out) == 0 {
			return nil, errors.New("all upstreams empty")
		}
		return out, nil
	}
	cc, err := mdns.ClientConfigFromFile(resolvConf)
	if err != nil {
		return nil, err
	}
	for _, ns := range cc.Servers {
		out = append(out, net.JoinHostPort(ns, cc.Port))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no nameserver in %s", resolvConf)
	}
	return out, nil
}

// Run syncs the informers, then serves on UDP and TCP until ctx ends.
// Queries are answered only once the caches are synced: the sockets are
// bound after that, so an early client retries rather than getting a
// wrong NXDOMAIN. It returns nil when ctx ends, or an error if it cannot
// listen.
func (s *Server) Run(ctx context.Context) error {
	s.factory.Start(ctx.Done())
	defer s.factory.Shutdown()
	s.log.Info("waiting for service and endpointslice caches")
	if !cache.WaitForCacheSync(ctx.Done(), s.svcs.HasSynced, s.slices.HasSynced) {
		return nil // ctx ended
	}
	pc, ln, err := listen(s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("dns: listen %s: %w", s.cfg.Listen, err)
	}
	udp := &mdns.Server{PacketConn: pc, Net: "udp", Handler: s}
	tcp := &mdns.Server{Listener: ln, Net: "tcp", Handler: s, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	s.dropSelf(pc.LocalAddr().String()) // before any query can read upstreams
	errc := make(chan error, 2)
	for _, srv := range []*mdns.Server{udp, tcp} {
		go func() { errc <- srv.ActivateAndServe() }()
	}
	s.mu.Lock()
	s.addr = pc.LocalAddr().String()
	s.mu.Unlock()
	close(s.ready)
	s.log.Info("serving cluster DNS", "addr", s.Addr(), "domain", strings.TrimSuffix(s.zone, "."), "upstreams", s.upstreams)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		runErr = fmt.Errorf("dns: serve: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = udp.ShutdownContext(sctx)
	_ = tcp.ShutdownContext(sctx)
	return runErr
}

// listen binds UDP and TCP on the same address; with port 0 the TCP port
// follows the one the kernel gave UDP, retried if it is taken.
func listen(addr string) (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 10 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, err
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		_ = pc.Close()
		lastErr = err
		if _, port, _ := net.SplitHostPort(addr); port != "0" {
			break
		}
	}
	return nil, nil, lastErr
}

// dropSelf removes our own address from the upstreams: forwarding to
// ourselves would loop until every query timed out.
func (s *Server) dropSelf(self string) {
	var kept []string
	for _, u := range s.upstreams {
		if u == self {
			s.log.Warn("ignoring upstream that is this server", "upstream", u)
			continue
		}
		kept = append(kept, u)
	}
	s.upstreams = kept
}

// Addr is the address served once listening ("" before).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Ready is closed once the caches are synced and the server is listening.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// ServeDNS answers one query: cluster-domain names and known reverse
// addresses from the caches, everything else through the upstreams.
func (s *Server) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	start := time.Now()
	proto := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		proto = "tcp"
	}
	qtype := "other"
	if len(r.Question) == 1 {
		qtype = typeLabel(r.Question[0].Qtype)
	}
	s.m.requests.WithLabelValues(proto, qtype).Inc()

	resp := s.answer(r)
	if resp == nil {
		resp = s.forward(r)
	}
	// UDP answers must fit the client's buffer: 512 bytes, or what its
	// EDNS0 OPT record advertises. Truncate sets TC so it retries on TCP.
	size := mdns.MinMsgSize
	if proto == "tcp" {
		size = mdns.MaxMsgSize
	} else if opt := r.IsEdns0(); opt != nil && int(opt.UDPSize()) > size {
		size = int(opt.UDPSize())
	}
	resp.Truncate(size) // also turns on name compression when it helps
	if err := w.WriteMsg(resp); err != nil {
		s.log.Debug("writing response", "err", err)
	}
	s.m.responses.WithLabelValues(rcodeLabel(resp.Rcode)).Inc()
	s.m.duration.WithLabelValues(qtype).Observe(time.Since(start).Seconds())
}

// reply starts a response to r, echoing EDNS0 when the client used it.
func reply(r *mdns.Msg, rcode int) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetRcode(r, rcode)
	if opt := r.IsEdns0(); opt != nil {
		size := opt.UDPSize()
		if size < mdns.MinMsgSize {
			size = mdns.MinMsgSize
		}
		if size > 4096 {
			size = 4096
		}
		m.SetEdns0(size, opt.Do())
	}
	return m
}

var knownTypes = map[uint16]bool{
	mdns.TypeA: true, mdns.TypeAAAA: true, mdns.TypeCNAME: true, mdns.TypeMX: true,
	mdns.TypeNS: true, mdns.TypePTR: true, mdns.TypeSOA: true, mdns.TypeSRV: true,
	mdns.TypeTXT: true, mdns.TypeANY: true, mdns.TypeHTTPS: true, mdns.TypeSVCB: true,
	mdns.TypeDS: true, mdns.TypeDNSKEY: true, mdns.TypeCAA: true,
}

// typeLabel keeps the type label's cardinality bounded, as CoreDNS does.
func typeLabel(t uint16) string {
	if knownTypes[t] {
		return mdns.TypeToString[t]
	}
	return "other"
}

func rcodeLabel(rc int) string {
	if s, ok := mdns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprint(rc)
}

type metrics struct {
	requests    *prometheus.CounterVec
	responses   *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	fwdRequests *prometheus.CounterVec
	fwdResp     *prometheus.CounterVec
	fwdDuration *prometheus.HistogramVec
}

// Buckets as CoreDNS's request duration: 0.25ms to ~8s.
var durationBuckets = prometheus.ExponentialBuckets(0.00025, 2, 16)

func newMetrics() *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "skiff", Subsystem: "dns", Name: "requests_total",
			Help: "Counter of DNS requests made per protocol and query type.",
		}, []string{"proto", "type"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "skiff", Subsystem: "dns", Name: "responses_total",
			Help: "Counter of response status codes.",
		}, []string{"rcode"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "skiff", Subsystem: "dns", Name: "request_duration_seconds",
			Help: "Histogram of the time (in seconds) each request took per query type.", Buckets: durationBuckets,
		}, []string{"type"}),
		fwdRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "skiff", Subsystem: "dns", Name: "forward_requests_total",
			Help: "Counter of requests made per upstream.",
		}, []string{"to"}),
		fwdResp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "skiff", Subsystem: "dns", Name: "forward_responses_total",
			Help: "Counter of responses received per upstream, by rcode (\"error\" when the exchange failed).",
		}, []string{"to", "rcode"}),
		fwdDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "skiff", Subsystem: "dns", Name: "forward_request_duration_seconds",
			Help: "Histogram of the time each request to an upstream took.", Buckets: durationBuckets,
		}, []string{"to", "rcode"}),
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.requests, m.responses, m.duration, m.fwdRequests, m.fwdResp, m.fwdDuration} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
