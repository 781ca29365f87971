package ingress

import (
	"cmp"
	"crypto/tls"
	"math/rand/v2"
	"net"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// table is one immutable routing snapshot. Requests load the current one
// and never see it change; rebuilds swap in a new one.
type table struct {
	exact    map[string]*hostRoutes // by lower-case host
	wildcard map[string]*hostRoutes // "*.example.com" keyed ".example.com"
	anyHost  *hostRoutes            // rules without a host
	def      *target                // oldest Ingress's spec.defaultBackend
	certs    certStore

	ingressCount int
}

// hostRoutes are the paths of one host, merged over all Ingresses, in
// match order.
type hostRoutes struct {
	routes []*route
	def    *target // the host's Ingress's spec.defaultBackend
	seen   map[string]bool
}

// route is one path of a rule.
type route struct {
	exact  bool
	path   string // Exact: as written; Prefix: without trailing "/" ("" = all)
	target *target
}

// target is where a matched request goes.
type target struct {
	namespace string
	ingress   string
	backend   *backend
	// sslRedirect sends plain-HTTP requests to HTTPS (the host is in the
	// Ingress's spec.tls).
	sslRedirect bool
}

// backend is one service port and its ready endpoints at build time.
type backend struct {
	namespace string
	service   string // "" for a resource backend
	endpoints []string
	next      atomic.Uint32
}

// pick chooses the endpoint index for a request, round robin.
func (b *backend) pick() int {
	return int(b.next.Add(1)-1) % len(b.endpoints)
}

// certStore maps SNI names to certificates.
type certStore struct {
	exact    map[string]*tls.Certificate
	wildcard map[string]*tls.Certificate // keyed ".example.com"
	def      *tls.Certificate            // a spec.tls entry without hosts
}

func emptyTable() *table {
	return &table{
		exact:    map[string]*hostRoutes{},
		wildcard: map[string]*hostRoutes{},
		certs:    certStore{exact: map[string]*tls.Certificate{}, wildcard: map[string]*tls.Certificate{}},
	}
}

// match returns the target of a request for host and path, or nil (404).
// As nginx picks one server block per request, one host group answers: the
// exact host's rules if any Ingress names that host, else the wildcard
// host's, else the rules without a host. Within it the longest path wins,
// Exact before Prefix on equal length, the older Ingress on a tie.
// Unmatched, the group's own default backend (spec.defaultBackend of the
// oldest Ingress with a rule for the host) applies, then the cluster-wide
// one (spec.defaultBackend of the oldest Ingress having one).
func (t *table) match(host, reqPath string) *target {
	host = normalizeHost(host)
	g := t.exact[host]
	if g == nil {
		if i := strings.IndexByte(host, '.'); i > 0 {
			g = t.wildcard[host[i:]]
		}
	}
	if g == nil {
		g = t.anyHost
	}
	if g == nil {
		return t.def
	}
	p := normalizePath(reqPath)
	for _, r := range g.routes {
		if r.matches(p) {
			return r.target
		}
	}
	if g.def != nil {
		return g.def
	}
	return t.def
}

func (r *route) matches(p string) bool {
	if r.exact {
		return p == r.path
	}
	if r.path == "" {
		return true
	}
	// Element-wise: /foo matches /foo and /foo/..., never /foobar.
	return strings.HasPrefix(p, r.path) && (len(p) == len(r.path) || p[len(r.path)] == '/')
}

// normalizeHost lower-cases a Host header or SNI name and drops the port
// and a trailing dot.
func normalizeHost(h string) string {
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
	return strings.ToLower(h)
}

// normalizePath cleans a request path for matching only ("//", "/./" and
// "/../" as nginx resolves them); the request is forwarded unchanged.
func normalizePath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// wildcardSuffix returns ".example.com" for "*.example.com".
func wildcardSuffix(host string) (string, bool) {
	if s, ok := strings.CutPrefix(host, "*"); ok && strings.HasPrefix(s, ".") && len(s) > 1 {
		return s, true
	}
	return "", false
}

// hostCovered reports whether a TLS host entry covers a rule host.
func hostCovered(tlsHost, ruleHost string) bool {
	if tlsHost == ruleHost {
		return true
	}
	if s, ok := wildcardSuffix(tlsHost); ok {
		if i := strings.IndexByte(ruleHost, '.'); i > 0 && ruleHost[i:] == s && !strings.HasPrefix(ruleHost, "*") {
			return true
		}
	}
	return false
}

// sources is what a build reads; the Router's listers, or stubs in tests.
type sources struct {
	service func(ns, name string) (*corev1.Service, error)
	slices  func(ns, service string) ([]*discoveryv1.EndpointSlice, error)
	cert    func(ns, name string) (*tls.Certificate, error)
}

// builder assembles one table.
type builder struct {
	src      sources
	t        *table
	backends map[string]*backend
	problems []string
}

// build turns the Ingresses of our class into a table. ings need not be
// sorted; the oldest Ingress wins every conflict.
func build(ings []*networkingv1.Ingress, src sources) (*table, []string) {
	ings = slices.Clone(ings)
	slices.SortFunc(ings, func(a, b *networkingv1.Ingress) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	b := &builder{src: src, t: emptyTable(), backends: map[string]*backend{}}
	b.t.ingressCount = len(ings)
	for _, ing := range ings {
		b.addIngress(ing)
	}
	for _, g := range b.groups() {
		slices.SortStableFunc(g.routes, func(x, y *route) int {
			if c := cmp.Compare(len(y.path), len(x.path)); c != 0 {
				return c // longer first
			}
			if x.exact != y.exact {
				if x.exact {
					return -1
				}
				return 1
			}
			return 0 // stable: older Ingress first
		})
		g.seen = nil
	}
	return b.t, b.problems
}

func (b *builder) groups() []*hostRoutes {
	var gs []*hostRoutes
	for _, g := range b.t.exact {
		gs = append(gs, g)
	}
	for _, g := range b.t.wildcard {
		gs = append(gs, g)
	}
	if b.t.anyHost != nil {
		gs = append(gs, b.t.anyHost)
	}
	return gs
}

func (b *builder) group(host string) *hostRoutes {
	if host == "" {
		if b.t.anyHost == nil {
			b.t.anyHost = &hostRoutes{seen: map[string]bool{}}
		}
		return b.t.anyHost
	}
	m, key := b.t.exact, host
	if s, ok := wildcardSuffix(host); ok {
		m, key = b.t.wildcard, s
	}
	g := m[key]
	if g == nil {
		g = &hostRoutes{seen: map[string]bool{}}
		m[key] = g
	}
	return g
}

func (b *builder) addIngress(ing *networkingv1.Ingress) {
	var tlsHosts []string
	redirect := ing.Annotations[SSLRedirectAnnotation] != "false"
	var ruleHosts []string
	for _, rule := range ing.Spec.Rules {
		if h := strings.ToLower(rule.Host); h != "" {
			ruleHosts = append(ruleHosts, h)
		}
	}
	for _, t := range ing.Spec.TLS {
		for _, h := range t.Hosts {
			tlsHosts = append(tlsHosts, strings.ToLower(h))
		}
		b.addCert(ing, t, ruleHosts)
	}
	var def *target
	if ing.Spec.DefaultBackend != nil {
		def = b.target(ing, ing.Spec.DefaultBackend, false)
		if b.t.def == nil {
			b.t.def = def
		}
	}
	for _, rule := range ing.Spec.Rules {
		host := strings.ToLower(rule.Host)
		g := b.group(host)
		if g.def == nil && host != "" {
			g.def = def
		}
		if rule.HTTP == nil {
			continue
		}
		ssl := false
		if redirect && host != "" {
			ssl = slices.ContainsFunc(tlsHosts, func(th string) bool { return hostCovered(th, host) })
		}
		for _, p := range rule.HTTP.Paths {
			r := &route{path: p.Path}
			if p.PathType != nil && *p.PathType == networkingv1.PathTypeExact {
				r.exact = true
				if r.path == "" {
					r.path = "/"
				}
			} else {
				// Prefix, and ImplementationSpecific treated as Prefix.
				r.path = strings.TrimRight(r.path, "/")
			}
			key := strconv.FormatBool(r.exact) + " " + r.path
			if g.seen[key] {
				continue // an older Ingress has this path
			}
			g.seen[key] = true
			r.target = b.target(ing, &p.Backend, ssl)
			g.routes = append(g.routes, r)
		}
	}
}

// target resolves one IngressBackend into a target, sharing backends.
func (b *builder) target(ing *networkingv1.Ingress, ib *networkingv1.IngressBackend, ssl bool) *target {
	t := &target{namespace: ing.Namespace, ingress: ing.Name, sslRedirect: ssl}
	if ib.Service == nil {
		// Resource backends are not proxied: 503.
		t.backend = &backend{namespace: ing.Namespace}
		return t
	}
	key := ing.Namespace + "/" + ib.Service.Name + ":" + ib.Service.Port.Name + "/" + strconv.Itoa(int(ib.Service.Port.Number))
	if be, ok := b.backends[key]; ok {
		t.backend = be
		return t
	}
	be := &backend{namespace: ing.Namespace, service: ib.Service.Name}
	be.next.Store(rand.Uint32()) // nodes should not all start at the same pod
	be.endpoints = b.endpoints(ing.Namespace, ib.Service)
	b.backends[key] = be
	t.backend = be
	return t
}

// endpoints returns the ready host:port endpoints of a service backend.
func (b *builder) endpoints(ns string, sb *networkingv1.IngressServiceBackend) []string {
	if b.src.service == nil {
		return nil
	}
	svc, err := b.src.service(ns, sb.Name)
	if err != nil || svc == nil {
		b.problems = append(b.problems, "service "+ns+"/"+sb.Name+" not found")
		return nil
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if (sb.Port.Name != "" && p.Name == sb.Port.Name) || (sb.Port.Name == "" && p.Port == sb.Port.Number) {
			sp = p
			break
		}
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		port := sb.Port.Number
		if sp != nil {
			port = sp.Port
		}
		if svc.Spec.ExternalName == "" || port == 0 {
			return nil
		}
		return []string{net.JoinHostPort(svc.Spec.ExternalName, strconv.Itoa(int(port)))}
	}
	if sp == nil {
		b.problems = append(b.problems, "service "+ns+"/"+sb.Name+" has no port "+portString(sb.Port))
		return nil
	}
	if b.src.slices == nil {
		return nil
	}
	sls, err := b.src.slices(ns, sb.Name)
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, sl := range sls {
		if sl.AddressType != discoveryv1.AddressTypeIPv4 && sl.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		port := int32(0)
		for _, p := range sl.Ports {
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			proto := corev1.ProtocolTCP
			if p.Protocol != nil {
				proto = *p.Protocol
			}
			if name == sp.Name && proto == corev1.ProtocolTCP && p.Port != nil {
				port = *p.Port
				break
			}
		}
		if port == 0 {
			continue
		}
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				if _, err := netip.ParseAddr(a); err != nil {
					continue
				}
				hp := net.JoinHostPort(a, strconv.Itoa(int(port)))
				if !seen[hp] {
					seen[hp] = true
					out = append(out, hp)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func portString(p networkingv1.ServiceBackendPort) string {
	if p.Name != "" {
		return p.Name
	}
	return strconv.Itoa(int(p.Number))
}

// addCert files the certificate of one spec.tls entry under its hosts (or
// the Ingress's rule hosts when it names none).
func (b *builder) addCert(ing *networkingv1.Ingress, t networkingv1.IngressTLS, ruleHosts []string) {
	if t.SecretName == "" || b.src.cert == nil {
		return
	}
	c, err := b.src.cert(ing.Namespace, t.SecretName)
	if err != nil {
		b.problems = append(b.problems, "ingress "+ing.Namespace+"/"+ing.Name+": TLS secret "+t.SecretName+": "+err.Error())
		return
	}
	hosts := t.Hosts
	if len(hosts) == 0 {
		hosts = ruleHosts
	}
	if len(hosts) == 0 {
		if b.t.certs.def == nil {
			b.t.certs.def = c
		}
		return
	}
	for _, h := range hosts {
		h = strings.ToLower(h)
		m, key := b.t.certs.exact, h
		if s, ok := wildcardSuffix(h); ok {
			m, key = b.t.certs.wildcard, s
		}
		if _, dup := m[key]; !dup {
			m[key] = c
		}
	}
}

// lookup returns the certificate for an SNI name, nil when none.
func (c *certStore) lookup(name string) *tls.Certificate {
	name = normalizeHost(name)
	if cert := c.exact[name]; cert != nil {
		return cert
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if cert := c.wildcard[name[i:]]; cert != nil {
			return cert
		}
	}
	return c.def
}

// buildTable builds a table from the Router's caches.
func (r *Router) buildTable() *table {
	all, err := r.ingresses.List(labels.Everything())
	if err != nil {
		r.log.Error("listing ingresses", "err", err)
		return r.table.Load()
	}
	isDefault := r.classIsDefault()
	var ours []*networkingv1.Ingress
	for _, ing := range all {
		if classMatches(ing, r.cfg.ClassName, isDefault) {
			ours = append(ours, ing)
		}
	}
	r.announce(ours)
	refs := backendServices(ours)
	r.backends.Store(&refs)
	t, problems := build(ours, sources{
		service: func(ns, name string) (*corev1.Service, error) { return r.services.Services(ns).Get(name) },
		slices: func(ns, svc string) ([]*discoveryv1.EndpointSlice, error) {
			return r.slices.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc}))
		},
		cert: r.certs.get(r.secrets),
	})
	r.certs.sweep()
	for _, p := range problems {
		r.log.Debug("ingress configuration problem", "problem", p)
	}
	return t
}

// backendServices are the Services ("namespace/name") the Ingresses route
// to, default backends included.
func backendServices(ings []*networkingv1.Ingress) map[string]bool {
	refs := map[string]bool{}
	add := func(ns string, b *networkingv1.IngressBackend) {
		if b != nil && b.Service != nil {
			refs[ns+"/"+b.Service.Name] = true
		}
	}
	for _, ing := range ings {
		add(ing.Namespace, ing.Spec.DefaultBackend)
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for i := range rule.HTTP.Paths {
				add(ing.Namespace, &rule.HTTP.Paths[i].Backend)
			}
		}
	}
	return refs
}

// announce records a Sync event on each Ingress of the class that is new
// or whose spec changed, as ingress-nginx does when it takes one in.
func (r *Router) announce(ours []*networkingv1.Ingress) {
	if r.cfg.Recorder == nil {
		return
	}
	seen := make(map[types.UID]bool, len(ours))
	for _, ing := range ours {
		seen[ing.UID] = true
		if g, ok := r.announced[ing.UID]; ok && g == ing.Generation {
			continue
		}
		r.announced[ing.UID] = ing.Generation
		r.cfg.Recorder.Event(ing, corev1.EventTypeNormal, "Sync", "Scheduled for sync")
	}
	for uid := range r.announced {
		if !seen[uid] {
			delete(r.announced, uid)
		}
	}
}

// classIsDefault reports whether our IngressClass is the cluster default.
func (r *Router) classIsDefault() bool {
	ic, err := r.classes.Get(r.cfg.ClassName)
	return err == nil && ic.Annotations[DefaultClassAnnotation] == "true"
}

// classMatches reports whether an Ingress belongs to class: by
// spec.ingressClassName, else by the legacy annotation, else when class is
// the cluster default.
func classMatches(ing *networkingv1.Ingress, class string, isDefault bool) bool {
	if ing.Spec.IngressClassName != nil && *ing.Spec.IngressClassName != "" {
		return *ing.Spec.IngressClassName == class
	}
	if a := ing.Annotations[LegacyClassAnnotation]; a != "" {
		return a == class
	}
	return isDefault
}
