package dns

import (
	"net/netip"
	"slices"
	"strings"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// Cache indexes, maintained incrementally by the informers, that make a
// query a handful of map lookups.
const (
	indexClusterIP = "clusterIP" // Service by each of its cluster IPs (PTR)
	indexService   = "service"   // EndpointSlice by <ns>/<service-name>
	indexAddress   = "address"   // EndpointSlice by each endpoint address (PTR)
)

// dnsSchemaVersion is the schema version the spec has dns-version.<domain>
// answer with.
const dnsSchemaVersion = "1.1.0"

func clusterIPIndex(obj any) ([]string, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil, nil
	}
	var out []string
	for _, ip := range serviceIPs(svc) {
		out = append(out, ip.String())
	}
	return out, nil
}

func sliceServiceIndex(obj any) ([]string, error) {
	es, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	name := es.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return nil, nil
	}
	return []string{es.Namespace + "/" + name}, nil
}

func sliceAddressIndex(obj any) ([]string, error) {
	es, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || es.AddressType == discoveryv1.AddressTypeFQDN {
		return nil, nil
	}
	var out []string
	for _, ep := range es.Endpoints {
		for _, a := range ep.Addresses {
			if ip, err := netip.ParseAddr(a); err == nil {
				out = append(out, ip.Unmap().String())
			}
		}
	}
	return out, nil
}

// serviceIPs are a non-headless Service's cluster IPs.
func serviceIPs(svc *corev1.Service) []netip.Addr {
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	var out []netip.Addr
	for _, s := range ips {
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, ip.Unmap())
		}
	}
	return out
}

func isHeadless(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP == corev1.ClusterIPNone
}

// answer resolves r from the caches. nil means r is not ours: forward it.
func (s *Server) answer(r *mdns.Msg) *mdns.Msg {
	if r.Opcode != mdns.OpcodeQuery {
		return reply(r, mdns.RcodeNotImplemented)
	}
	if len(r.Question) != 1 {
		return reply(r, mdns.RcodeFormatError)
	}
	q := r.Question[0]
	if q.Qclass != mdns.ClassINET {
		return nil
	}
	if q.Qtype == mdns.TypePTR {
		if ip, ok := parseReverse(q.Name); ok {
			if names := s.ptrNames(ip); len(names) > 0 {
				m := reply(r, mdns.RcodeSuccess)
				m.Authoritative = true
				for _, n := range names {
					m.Answer = append(m.Answer, &mdns.PTR{Hdr: s.hdr(q.Name, mdns.TypePTR), Ptr: n})
				}
				return m
			}
		}
		// An address the cluster does not know: the reverse zones fall
		// through to the upstreams (below, as the name is not in the zone).
	}
	pn := parseName(q.Name, s.zone)
	if pn.kind == kindNone {
		return nil
	}
	rcode, ans, extra := s.resolve(pn, q.Name, q.Qtype)
	m := reply(r, rcode)
	m.Authoritative = true
	m.Answer, m.Extra = ans, append(extra, m.Extra...) // keep OPT last
	if len(ans) == 0 {
		m.Ns = []mdns.RR{s.soa()}
	}
	return m
}

func (s *Server) hdr(name string, t uint16) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: t, Class: mdns.ClassINET, Ttl: s.cfg.TTL}
}

// soa is the zone's SOA, shaped like CoreDNS's, sent in the authority
// section of negative answers so resolvers can cache them for TTL.
func (s *Server) soa() *mdns.SOA {
	return &mdns.SOA{
		Hdr:     s.hdr(s.zone, mdns.TypeSOA),
		Ns:      "ns.dns." + s.zone,
		Mbox:    "hostmaster." + s.zone,
		Serial:  s.serial,
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  s.cfg.TTL,
	}
}

var (
	nxdomain = mdns.RcodeNameError
	noerror  = mdns.RcodeSuccess
)

// resolve answers a parsed cluster-zone name: an rcode, the answer and the
// additional records. NOERROR with no answer is NODATA.
func (s *Server) resolve(pn queryName, qname string, qtype uint16) (int, []mdns.RR, []mdns.RR) {
	switch pn.kind {
	case kindApex:
		switch qtype {
		case mdns.TypeSOA:
			return noerror, []mdns.RR{s.soa()}, nil
		case mdns.TypeNS:
			return noerror, []mdns.RR{&mdns.NS{Hdr: s.hdr(s.zone, mdns.TypeNS), Ns: "ns.dns." + s.zone}}, nil
		}
		return noerror, nil, nil
	case kindDNSVersion:
		if qtype == mdns.TypeTXT {
			return noerror, []mdns.RR{&mdns.TXT{Hdr: s.hdr(qname, mdns.TypeTXT), Txt: []string{dnsSchemaVersion}}}, nil
		}
		return noerror, nil, nil
	case kindSvcZone, kindPodZone, kindPodNamespace:
		return noerror, nil, nil
	case kindNamespace:
		keys, _ := s.svcs.GetIndexer().IndexKeys(cache.NamespaceIndex, pn.namespace)
		if len(keys) == 0 {
			return nxdomain, nil, nil
		}
		return noerror, nil, nil
	case kindPod:
		return noerror, addrRecords(s, qname, qtype, []netip.Addr{pn.ip}), nil
	}

	svc := s.service(pn.namespace, pn.service)
	if svc == nil {
		return nxdomain, nil, nil
	}
	switch pn.kind {
	case kindService:
		if svc.Spec.Type == corev1.ServiceTypeExternalName {
			return s.externalName(svc, qname)
		}
		if qtype == mdns.TypeSRV {
			return s.srv(svc, "", "", qname)
		}
		if isHeadless(svc) {
			eps := s.endpoints(svc)
			if len(eps) == 0 {
				// As CoreDNS: a headless service with no ready endpoints
				// has no names at all.
				return nxdomain, nil, nil
			}
			return noerror, addrRecords(s, qname, qtype, allAddrs(eps)), nil
		}
		return noerror, addrRecords(s, qname, qtype, serviceIPs(svc)), nil
	case kindEndpoint:
		var addrs []netip.Addr
		for _, ep := range s.endpoints(svc) {
			if ep.name == pn.endpoint {
				addrs = append(addrs, ep.addr)
			}
		}
		if len(addrs) == 0 {
			return nxdomain, nil, nil
		}
		return noerror, addrRecords(s, qname, qtype, addrs), nil
	case kindProto:
		for _, p := range svc.Spec.Ports {
			if p.Name != "" && strings.EqualFold(string(p.Protocol), pn.proto) {
				return noerror, nil, nil
			}
		}
		return nxdomain, nil, nil
	case kindSRV:
		rc, ans, extra := s.srv(svc, pn.port, pn.proto, qname)
		if qtype != mdns.TypeSRV {
			return rc, nil, nil // the name exists (or not), but holds only SRV
		}
		return rc, ans, extra
	}
	return nxdomain, nil, nil
}

func (s *Server) externalName(svc *corev1.Service, qname string) (int, []mdns.RR, []mdns.RR) {
	target := mdns.Fqdn(strings.ToLower(svc.Spec.ExternalName))
	if _, ok := mdns.IsDomainName(target); !ok || svc.Spec.ExternalName == "" {
		return noerror, nil, nil
	}
	return noerror, []mdns.RR{&mdns.CNAME{Hdr: s.hdr(qname, mdns.TypeCNAME), Target: target}}, nil
}

// service gets a Service from the cache; nil when absent.
func (s *Server) service(ns, name string) *corev1.Service {
	obj, ok, err := s.svcs.GetIndexer().GetByKey(ns + "/" + name)
	if err != nil || !ok {
		return nil
	}
	svc, _ := obj.(*corev1.Service)
	return svc
}

// endpoint is one address of one EndpointSlice endpoint, with the label it
// has under its service's name: its hostname, or its dashed address.
type endpoint struct {
	name  string
	addr  netip.Addr
	slice *discoveryv1.EndpointSlice
}

// endpoints are the service's addresses that DNS publishes: ready ones,
// or all of them with publishNotReadyAddresses. Deduplicated (an endpoint
// may sit in two slices while the controller moves it), sorted by address.
func (s *Server) endpoints(svc *corev1.Service) []endpoint {
	objs, _ := s.slices.GetIndexer().ByIndex(indexService, svc.Namespace+"/"+svc.Name)
	seen := map[netip.Addr]bool{}
	var out []endpoint
	for _, o := range objs {
		es, ok := o.(*discoveryv1.EndpointSlice)
		if !ok || es.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		for i := range es.Endpoints {
			ep := &es.Endpoints[i]
			if !svc.Spec.PublishNotReadyAddresses && ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil || seen[ip.Unmap()] {
					continue
				}
				ip = ip.Unmap()
				seen[ip] = true
				name := dashedIP(ip)
				if ep.Hostname != nil && *ep.Hostname != "" {
					name = strings.ToLower(*ep.Hostname)
				}
				out = append(out, endpoint{name: name, addr: ip, slice: es})
			}
		}
	}
	slices.SortFunc(out, func(a, b endpoint) int { return a.addr.Compare(b.addr) })
	return out
}

func allAddrs(eps []endpoint) []netip.Addr {
	out := make([]netip.Addr, 0, len(eps))
	for _, e := range eps {
		out = append(out, e.addr)
	}
	return out
}

// addrRecords are the A or AAAA records (by qtype) for addrs; none for
// other types, which makes the answer NODATA.
func addrRecords(s *Server, name string, qtype uint16, addrs []netip.Addr) []mdns.RR {
	var out []mdns.RR
	for _, ip := range addrs {
		switch {
		case qtype == mdns.TypeA && ip.Is4():
			out = append(out, &mdns.A{Hdr: s.hdr(name, mdns.TypeA), A: ip.AsSlice()})
		case qtype == mdns.TypeAAAA && ip.Is6():
			out = append(out, &mdns.AAAA{Hdr: s.hdr(name, mdns.TypeAAAA), AAAA: ip.AsSlice()})
		}
	}
	return out
}

func (s *Server) svcFQDN(svc *corev1.Service) string {
	return svc.Name + "." + svc.Namespace + ".svc." + s.zone
}

// srv answers SRV for the service's ports: the one named port/proto, or
// every port when port is "" (an SRV query for the service name). A
// ClusterIP service gives one record per port targeting the service name;
// a headless one, one per endpoint targeting the endpoint's name, with
// its addresses in the additional section.
func (s *Server) srv(svc *corev1.Service, port, proto, qname string) (int, []mdns.RR, []mdns.RR) {
	var ports []corev1.ServicePort
	for _, p := range svc.Spec.Ports {
		if port == "" || (p.Name == port && strings.EqualFold(string(p.Protocol), proto)) {
			ports = append(ports, p)
		}
	}
	if len(ports) == 0 {
		if port == "" {
			return noerror, nil, nil
		}
		return nxdomain, nil, nil
	}
	srvName := qname
	var ans, extra []mdns.RR
	switch {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		target := mdns.Fqdn(strings.ToLower(svc.Spec.ExternalName))
		for _, p := range ports {
			ans = append(ans, &mdns.SRV{Hdr: s.hdr(srvName, mdns.TypeSRV), Weight: 100, Port: uint16(p.Port), Target: target})
		}
	case isHeadless(svc):
		eps := s.endpoints(svc)
		if len(eps) == 0 {
			return nxdomain, nil, nil
		}
		type rec struct {
			name   string
			target string
			port   int32
		}
		var recs []rec
		seen := map[rec]bool{}
		for _, p := range ports {
			for _, ep := range eps {
				num, ok := slicePort(ep.slice, p.Name, p.Protocol)
				if !ok {
					continue
				}
				r := rec{srvName, ep.name + "." + s.svcFQDN(svc), num}
				if !seen[r] {
					seen[r] = true
					recs = append(recs, r)
				}
			}
		}
		weight := uint16(100)
		if len(recs) > 1 {
			weight = uint16(max(1, 100/len(recs)))
		}
		added := map[netip.Addr]bool{}
		for _, r := range recs {
			ans = append(ans, &mdns.SRV{Hdr: s.hdr(r.name, mdns.TypeSRV), Weight: weight, Port: uint16(r.port), Target: r.target})
		}
		for _, ep := range eps {
			if added[ep.addr] {
				continue
			}
			added[ep.addr] = true
			target := ep.name + "." + s.svcFQDN(svc)
			t := uint16(mdns.TypeA)
			if ep.addr.Is6() {
				t = mdns.TypeAAAA
			}
			extra = append(extra, addrRecords(s, target, t, []netip.Addr{ep.addr})...)
		}
	default:
		weight := uint16(100)
		if len(ports) > 1 {
			weight = uint16(max(1, 100/len(ports)))
		}
		for _, p := range ports {
			ans = append(ans, &mdns.SRV{Hdr: s.hdr(srvName, mdns.TypeSRV), Weight: weight, Port: uint16(p.Port), Target: s.svcFQDN(svc)})
		}
		for _, ip := range serviceIPs(svc) {
			t := uint16(mdns.TypeA)
			if ip.Is6() {
				t = mdns.TypeAAAA
			}
			extra = append(extra, addrRecords(s, s.svcFQDN(svc), t, []netip.Addr{ip})...)
		}
	}
	return noerror, ans, extra
}

// slicePort is the number of the slice's port with this name and protocol.
func slicePort(es *discoveryv1.EndpointSlice, name string, proto corev1.Protocol) (int32, bool) {
	for _, p := range es.Ports {
		pname := ""
		if p.Name != nil {
			pname = *p.Name
		}
		pproto := corev1.ProtocolTCP
		if p.Protocol != nil {
			pproto = *p.Protocol
		}
		if pname == name && pproto == proto && p.Port != nil {
			return *p.Port, true
		}
	}
	return 0, false
}

// ptrNames are the names an address has in the cluster: the service name
// for a cluster IP, <endpoint>.<svc>.<ns>.svc.<domain> for an address of a
// headless service's endpoint.
func (s *Server) ptrNames(ip netip.Addr) []string {
	ip = ip.Unmap()
	var out []string
	objs, _ := s.svcs.GetIndexer().ByIndex(indexClusterIP, ip.String())
	for _, o := range objs {
		if svc, ok := o.(*corev1.Service); ok && svc.Spec.Type != corev1.ServiceTypeExternalName {
			out = append(out, s.svcFQDN(svc))
		}
	}
	objs, _ = s.slices.GetIndexer().ByIndex(indexAddress, ip.String())
	done := map[string]bool{}
	for _, o := range objs {
		es, ok := o.(*discoveryv1.EndpointSlice)
		if !ok {
			continue
		}
		svc := s.service(es.Namespace, es.Labels[discoveryv1.LabelServiceName])
		if svc == nil || !isHeadless(svc) || done[svc.Namespace+"/"+svc.Name] {
			continue
		}
		done[svc.Namespace+"/"+svc.Name] = true
		for _, ep := range s.endpoints(svc) {
			if ep.addr == ip {
				out = append(out, ep.name+"."+s.svcFQDN(svc))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
