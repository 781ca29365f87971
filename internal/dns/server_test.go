package dns

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func svc(ns, name, clusterIP string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: clusterIP, ClusterIPs: []string{clusterIP}, Ports: ports},
	}
}

func headless(ns, name string, ports ...corev1.ServicePort) *corev1.Service {
	s := svc(ns, name, corev1.ClusterIPNone, ports...)
	return s
}

type ep struct {
	ip       string
	hostname string
	ready    bool
}

func slice(ns, svcName, name string, eps []ep, ports ...discoveryv1.EndpointPort) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svcName}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       ports,
	}
	for _, e := range eps {
		x := discoveryv1.Endpoint{Addresses: []string{e.ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(e.ready)}}
		if e.hostname != "" {
			x.Hostname = ptr.To(e.hostname)
		}
		es.Endpoints = append(es.Endpoints, x)
	}
	return es
}

func port(name string, proto corev1.Protocol, p int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Protocol: proto, Port: p}
}

func eport(name string, proto corev1.Protocol, p int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr.To(name), Protocol: ptr.To(proto), Port: ptr.To(p)}
}

// fakeUpstream serves example.com A, big.example (many records, so UDP
// truncates) and NXDOMAIN for the rest, on UDP and TCP.
func fakeUpstream(t testing.TB) string {
	t.Helper()
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		switch strings.ToLower(q.Name) {
		case "example.com.":
			if q.Qtype == mdns.TypeA {
				m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: net.ParseIP("192.0.2.7")})
			}
		case "big.example.":
			for i := range 60 {
				m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: net.IPv4(198, 51, 100, byte(i))})
			}
		default:
			m.Rcode = mdns.RcodeNameError
		}
		if o := r.IsEdns0(); o != nil {
			m.SetEdns0(o.UDPSize(), false)
		}
		if _, ok := w.RemoteAddr().(*net.UDPAddr); ok {
			size := mdns.MinMsgSize
			if o := r.IsEdns0(); o != nil {
				size = int(o.UDPSize())
			}
			m.Truncate(size)
		}
		_ = w.WriteMsg(m)
	})
	pc, ln, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*mdns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		go func() { _ = s.ActivateAndServe() }()
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	return pc.LocalAddr().String()
}

// deadAddr is a local UDP/TCP address nothing listens on. It is on
// 127.0.0.2 so that a client socket (source 127.0.0.1) given the same
// ephemeral port cannot end up connected to itself.
func deadAddr(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	a := pc.LocalAddr().String()
	_ = pc.Close()
	return a
}

// startServer runs a Server over a fake clientset holding objs.
func startServer(t testing.TB, client kubernetes.Interface, upstreams []string, reg prometheus.Registerer) *Server {
	t.Helper()
	s, err := New(client, Config{Listen: "127.0.0.1:0", Upstreams: upstreams, Registerer: reg, Logger: slogDiscard()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server not ready")
	}
	return s
}

func query(t testing.TB, addr, netw, name string, qtype uint16, edns uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	c := &mdns.Client{Net: netw, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("query %s %s over %s: %v", name, mdns.TypeToString[qtype], netw, err)
	}
	return r
}

// rrs renders a section as sorted "TYPE data" strings, names and TTLs left out
// unless the owner name differs from the question.
func rrs(q string, section []mdns.RR) []string {
	var out []string
	for _, rr := range section {
		if rr.Header().Rrtype == mdns.TypeOPT {
			continue
		}
		f := strings.Fields(rr.String())
		s := strings.Join(f[3:], " ")
		if !strings.EqualFold(rr.Header().Name, q) {
			s = rr.Header().Name + " " + s
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func testObjects() []runtime.Object {
	web := headless("prod", "web", port("http", corev1.ProtocolTCP, 80))
	pnr := headless("prod", "early")
	pnr.Spec.PublishNotReadyAddresses = true
	ext := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "ext"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"},
	}
	return []runtime.Object{
		svc("default", "kubernetes", "10.43.0.1", port("https", corev1.ProtocolTCP, 443)),
		svc("prod", "api", "10.43.5.6", port("http", corev1.ProtocolTCP, 80), port("dns", corev1.ProtocolUDP, 53)),
		web, pnr, ext,
		headless("prod", "empty"),
		slice("prod", "web", "web-abc", []ep{
			{ip: "10.42.0.10", hostname: "web-0", ready: true},
			{ip: "10.42.1.11", hostname: "web-1", ready: true},
			{ip: "10.42.1.12", ready: true},
			{ip: "10.42.2.13", hostname: "web-2", ready: false},
		}, eport("http", corev1.ProtocolTCP, 8080)),
		slice("prod", "early", "early-x", []ep{{ip: "10.42.3.1", ready: false}, {ip: "10.42.3.2", ready: true}}),
		slice("prod", "empty", "empty-x", []ep{{ip: "10.42.4.1", ready: false}}),
		slice("prod", "api", "api-x", []ep{{ip: "10.42.5.1", hostname: "api-0", ready: true}}, eport("http", corev1.ProtocolTCP, 8080)),
	}
}

func TestRecords(t *testing.T) {
	up := fakeUpstream(t)
	reg := prometheus.NewRegistry()
	s := startServer(t, fake.NewClientset(testObjects()...), []string{up}, reg)
	addr := s.Addr()

	const (
		a    = mdns.TypeA
		aaaa = mdns.TypeAAAA
		srv  = mdns.TypeSRV
		ptr  = mdns.TypePTR
	)
	soa := "SOA ns.dns.cluster.local. hostmaster.cluster.local."
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  int
		answer []string
		extra  []string
		auth   string // prefix of the authority section's record, if any
	}{
		{"clusterIP A", "api.prod.svc.cluster.local.", a, mdns.RcodeSuccess, []string{"A 10.43.5.6"}, nil, ""},
		{"case-insensitive", "API.Prod.SVC.cluster.LOCAL.", a, mdns.RcodeSuccess, []string{"A 10.43.5.6"}, nil, ""},
		{"kubernetes", "kubernetes.default.svc.cluster.local.", a, mdns.RcodeSuccess, []string{"A 10.43.0.1"}, nil, ""},
		{"clusterIP AAAA is NODATA", "api.prod.svc.cluster.local.", aaaa, mdns.RcodeSuccess, nil, nil, soa},
		{"clusterIP TXT is NODATA", "api.prod.svc.cluster.local.", mdns.TypeTXT, mdns.RcodeSuccess, nil, nil, soa},
		{"missing service", "nope.prod.svc.cluster.local.", a, mdns.RcodeNameError, nil, nil, soa},
		{"search-path miss", "api.prod.svc.cluster.local.prod.svc.cluster.local.", a, mdns.RcodeNameError, nil, nil, soa},
		{"namespace with services", "prod.svc.cluster.local.", a, mdns.RcodeSuccess, nil, nil, soa},
		{"namespace without services", "ghost.svc.cluster.local.", a, mdns.RcodeNameError, nil, nil, soa},
		{"svc zone", "svc.cluster.local.", a, mdns.RcodeSuccess, nil, nil, soa},
		{"apex SOA", "cluster.local.", mdns.TypeSOA, mdns.RcodeSuccess, []string{soa + " "}, nil, ""},
		{"apex NS", "cluster.local.", mdns.TypeNS, mdns.RcodeSuccess, []string{"NS ns.dns.cluster.local."}, nil, ""},
		{"dns-version", "dns-version.cluster.local.", mdns.TypeTXT, mdns.RcodeSuccess, []string{`TXT "1.1.0"`}, nil, ""},
		{"unknown kind", "foo.bar.cluster.local.", a, mdns.RcodeNameError, nil, nil, soa},
		{"headless ready only", "web.prod.svc.cluster.local.", a, mdns.RcodeSuccess, []string{"A 10.42.0.10", "A 10.42.1.11", "A 10.42.1.12"}, nil, ""},
		{"headless AAAA NODATA", "web.prod.svc.cluster.local.", aaaa, mdns.RcodeSuccess, nil, nil, soa},
		{"headless publishNotReady", "early.prod.svc.cluster.local.", a, mdns.RcodeSuccess, []string{"A 10.42.3.1", "A 10.42.3.2"}, nil, ""},
		{"headless no ready endpoints", "empty.prod.svc.cluster.local.", a, mdns.RcodeNameError, nil, nil, soa},
		{"hostname", "web-0.web.prod.svc.cluster.local.", a, mdns.RcodeSuccess, []string{"A 10.42.0.10"}, nil, ""},
		{"hostname not ready", "web-2.web.prod.svc.cluster.local.", a, mdns.RcodeNameError, nil, nil, soa},
		{"dashed endpoint", "10-42-1-12.web.prod.svc.cluster.local.", a, mdns.RcodeSuccess, []string{"A 10.42.1.12"}, nil, ""},
		{"hostname on clusterIP service", "api-0.api.prod.svc.cluster.local.", a, mdns.RcodeSuccess, []string{"A 10.42.5.1"}, nil, ""},
		{"missing hostname", "web-9.web.prod.svc.cluster.local.", a, mdns.RcodeNameError, nil, nil, soa},
		{"ExternalName", "ext.prod.svc.cluster.local.", a, mdns.RcodeSuccess, []string{"CNAME db.example.com."}, nil, ""},
		{"SRV clusterIP", "_http._tcp.api.prod.svc.cluster.local.", srv, mdns.RcodeSuccess,
			[]string{"SRV 0 100 80 api.prod.svc.cluster.local."}, []string{"api.prod.svc.cluster.local. A 10.43.5.6"}, ""},
		{"SRV udp port", "_dns._udp.api.prod.svc.cluster.local.", srv, mdns.RcodeSuccess,
			[]string{"SRV 0 100 53 api.prod.svc.cluster.local."}, []string{"api.prod.svc.cluster.local. A 10.43.5.6"}, ""},
		{"SRV wrong proto", "_dns._tcp.api.prod.svc.cluster.local.", srv, mdns.RcodeNameError, nil, nil, soa},
		{"SRV name A is NODATA", "_http._tcp.api.prod.svc.cluster.local.", a, mdns.RcodeSuccess, nil, nil, soa},
		{"proto ENT", "_tcp.api.prod.svc.cluster.local.", srv, mdns.RcodeSuccess, nil, nil, soa},
		{"SRV of service name", "api.prod.svc.cluster.local.", srv, mdns.RcodeSuccess,
			[]string{"SRV 0 50 53 api.prod.svc.cluster.local.", "SRV 0 50 80 api.prod.svc.cluster.local."}, []string{"A 10.43.5.6"}, ""},
		{"SRV headless", "_http._tcp.web.prod.svc.cluster.local.", srv, mdns.RcodeSuccess,
			[]string{"SRV 0 33 8080 10-42-1-12.web.prod.svc.cluster.local.", "SRV 0 33 8080 web-0.web.prod.svc.cluster.local.", "SRV 0 33 8080 web-1.web.prod.svc.cluster.local."},
			[]string{"10-42-1-12.web.prod.svc.cluster.local. A 10.42.1.12", "web-0.web.prod.svc.cluster.local. A 10.42.0.10", "web-1.web.prod.svc.cluster.local. A 10.42.1.11"}, ""},
		{"PTR clusterIP", "6.5.43.10.in-addr.arpa.", ptr, mdns.RcodeSuccess, []string{"PTR api.prod.svc.cluster.local."}, nil, ""},
		{"PTR headless endpoint", "10.0.42.10.in-addr.arpa.", ptr, mdns.RcodeSuccess, []string{"PTR web-0.web.prod.svc.cluster.local."}, nil, ""},
		{"PTR headless dashed", "12.1.42.10.in-addr.arpa.", ptr, mdns.RcodeSuccess, []string{"PTR 10-42-1-12.web.prod.svc.cluster.local."}, nil, ""},
		{"PTR unknown forwarded", "1.2.0.192.in-addr.arpa.", ptr, mdns.RcodeNameError, nil, nil, ""},
		{"pod A", "10-42-0-99.prod.pod.cluster.local.", a, mdns.RcodeSuccess, []string{"A 10.42.0.99"}, nil, ""},
		{"pod AAAA NODATA", "10-42-0-99.prod.pod.cluster.local.", aaaa, mdns.RcodeSuccess, nil, nil, soa},
		{"pod IPv6", "fd00--1.prod.pod.cluster.local.", aaaa, mdns.RcodeSuccess, []string{"AAAA fd00::1"}, nil, ""},
		{"pod bad ip", "not-an-ip.prod.pod.cluster.local.", a, mdns.RcodeNameError, nil, nil, soa},
		{"forwarded", "example.com.", a, mdns.RcodeSuccess, []string{"A 192.0.2.7"}, nil, ""},
		{"forwarded NXDOMAIN", "nothing.example.", a, mdns.RcodeNameError, nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, netw := range []string{"udp", "tcp"} {
				r := query(t, addr, netw, tt.qname, tt.qtype, 0)
				if r.Rcode != tt.rcode {
					t.Fatalf("%s: rcode %s, want %s", netw, mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tt.rcode])
				}
				got := rrs(tt.qname, r.Answer)
				if tt.qtype == mdns.TypeSOA && len(got) == 1 && strings.HasPrefix(got[0], tt.answer[0]) {
					got = tt.answer
				}
				if !slices.Equal(got, tt.answer) {
					t.Errorf("%s: answer %q, want %q", netw, got, tt.answer)
				}
				if got := rrs(tt.qname, r.Extra); !slices.Equal(got, tt.extra) {
					t.Errorf("%s: extra %q, want %q", netw, got, tt.extra)
				}
				if tt.auth != "" {
					if len(r.Ns) != 1 || !strings.HasPrefix(rrs("cluster.local.", r.Ns)[0], tt.auth) {
						t.Errorf("%s: authority %v, want %s", netw, r.Ns, tt.auth)
					}
					if r.Ns[0].Header().Ttl != 5 {
						t.Errorf("SOA TTL %d, want 5", r.Ns[0].Header().Ttl)
					}
				}
				for _, rr := range r.Answer {
					if rr.Header().Rrtype != mdns.TypeSOA && tt.answer != nil && !strings.HasPrefix(tt.name, "forwarded") && rr.Header().Ttl != 5 {
						t.Errorf("TTL %d, want 5", rr.Header().Ttl)
					}
				}
			}
		})
	}

	if n := counter(s.m.requests.WithLabelValues("tcp", "A")); n == 0 {
		t.Error("skiff_dns_requests_total{proto=tcp,type=A} not counted")
	}
	if n := counter(s.m.fwdRequests.WithLabelValues(up)); n == 0 {
		t.Error("skiff_dns_forward_requests_total not counted")
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, mf := range mfs {
		seen[mf.GetName()] = true
	}
	for _, n := range []string{"skiff_dns_requests_total", "skiff_dns_responses_total", "skiff_dns_request_duration_seconds", "skiff_dns_forward_requests_total", "skiff_dns_forward_responses_total"} {
		if !seen[n] {
			t.Errorf("metric %s not gathered", n)
		}
	}
}

func counter(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func answerOf(t *testing.T, addr, name string, qtype uint16) (int, []string) {
	r := query(t, addr, "udp", name, qtype, 0)
	return r.Rcode, rrs(name, r.Answer)
}

func TestUpdates(t *testing.T) {
	client := fake.NewClientset(testObjects()...)
	s := startServer(t, client, []string{deadAddr(t)}, nil)
	ctx := context.Background()
	const host = "web-0.web.prod.svc.cluster.local."

	// The pod behind web-0 is recreated with another IP.
	es, err := client.DiscoveryV1().EndpointSlices("prod").Get(ctx, "web-abc", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	es.Endpoints[0].Addresses = []string{"10.42.0.77"}
	if _, err := client.DiscoveryV1().EndpointSlices("prod").Update(ctx, es, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web-0 to move", func() bool {
		_, a := answerOf(t, s.Addr(), host, mdns.TypeA)
		return slices.Equal(a, []string{"A 10.42.0.77"})
	})
	if _, a := answerOf(t, s.Addr(), "77.0.42.10.in-addr.arpa.", mdns.TypePTR); !slices.Equal(a, []string{"PTR web-0.web.prod.svc.cluster.local."}) {
		t.Errorf("PTR of the new address: %q", a)
	}

	// web-2 becomes ready.
	es.Endpoints[3].Conditions.Ready = ptr.To(true)
	if _, err := client.DiscoveryV1().EndpointSlices("prod").Update(ctx, es, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web-2 ready", func() bool {
		rc, _ := answerOf(t, s.Addr(), "web-2.web.prod.svc.cluster.local.", mdns.TypeA)
		return rc == mdns.RcodeSuccess
	})

	// A new service appears, then goes away.
	if _, err := client.CoreV1().Services("fresh").Create(ctx, svc("fresh", "new", "10.43.9.9"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "new service", func() bool {
		_, a := answerOf(t, s.Addr(), "new.fresh.svc.cluster.local.", mdns.TypeA)
		return slices.Equal(a, []string{"A 10.43.9.9"})
	})
	if rc, _ := answerOf(t, s.Addr(), "fresh.svc.cluster.local.", mdns.TypeA); rc != mdns.RcodeSuccess {
		t.Errorf("namespace with a service: %s", mdns.RcodeToString[rc])
	}
	if err := client.CoreV1().Services("fresh").Delete(ctx, "new", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "service gone", func() bool {
		rc, _ := answerOf(t, s.Addr(), "new.fresh.svc.cluster.local.", mdns.TypeA)
		return rc == mdns.RcodeNameError
	})
	if rc, _ := answerOf(t, s.Addr(), "fresh.svc.cluster.local.", mdns.TypeA); rc != mdns.RcodeNameError {
		t.Errorf("namespace without services: %s", mdns.RcodeToString[rc])
	}
}

func TestForwarding(t *testing.T) {
	up := fakeUpstream(t)
	dead := deadAddr(t)

	t.Run("next upstream on failure", func(t *testing.T) {
		s := startServer(t, fake.NewClientset(), []string{dead, up}, nil)
		if _, a := answerOf(t, s.Addr(), "example.com.", mdns.TypeA); !slices.Equal(a, []string{"A 192.0.2.7"}) {
			t.Errorf("answer %q", a)
		}
	})
	t.Run("all upstreams fail", func(t *testing.T) {
		s := startServer(t, fake.NewClientset(), []string{dead}, nil)
		if rc, _ := answerOf(t, s.Addr(), "example.com.", mdns.TypeA); rc != mdns.RcodeServerFailure {
			t.Errorf("rcode %s, want SERVFAIL", mdns.RcodeToString[rc])
		}
		// Cluster names do not depend on upstreams.
		if rc, _ := answerOf(t, s.Addr(), "x.y.svc.cluster.local.", mdns.TypeA); rc != mdns.RcodeNameError {
			t.Errorf("rcode %s, want NXDOMAIN", mdns.RcodeToString[rc])
		}
	})
	t.Run("truncated upstream answer retried over TCP", func(t *testing.T) {
		s := startServer(t, fake.NewClientset(), []string{up}, nil)
		// Over UDP without EDNS, the client sees TC; over TCP, all 60.
		r := query(t, s.Addr(), "udp", "big.example.", mdns.TypeA, 0)
		if !r.Truncated {
			t.Errorf("UDP answer not truncated (%d records)", len(r.Answer))
		}
		r = query(t, s.Addr(), "tcp", "big.example.", mdns.TypeA, 0)
		if r.Truncated || len(r.Answer) != 60 {
			t.Errorf("TCP: truncated %v, %d records, want 60", r.Truncated, len(r.Answer))
		}
		r = query(t, s.Addr(), "udp", "big.example.", mdns.TypeA, 4096)
		if r.Truncated || len(r.Answer) != 60 {
			t.Errorf("UDP with EDNS0 4096: truncated %v, %d records, want 60", r.Truncated, len(r.Answer))
		}
		if r.IsEdns0() == nil {
			t.Error("no OPT in the answer to an EDNS0 query")
		}
	})
	t.Run("resolv.conf upstreams", func(t *testing.T) {
		host, p, _ := net.SplitHostPort(up)
		f := t.TempDir() + "/resolv.conf"
		if err := writeFile(f, "search example\nnameserver "+host+"\noptions ndots:2\n"); err != nil {
			t.Fatal(err)
		}
		ups, err := resolveUpstreams(nil, f)
		if err != nil || !slices.Equal(ups, []string{host + ":53"}) {
			t.Errorf("resolveUpstreams = %v, %v", ups, err)
		}
		ups, _ = resolveUpstreams([]string{"192.0.2.1", "[2001:db8::1]", host + ":" + p}, f)
		if want := []string{"192.0.2.1:53", "[2001:db8::1]:53", up}; !slices.Equal(ups, want) {
			t.Errorf("resolveUpstreams = %v, want %v", ups, want)
		}
	})
}

func TestTruncation(t *testing.T) {
	objs := []runtime.Object{headless("big", "many")}
	var eps []ep
	for i := range 100 {
		eps = append(eps, ep{ip: fmt.Sprintf("10.42.%d.%d", i/200, i%200+1), ready: true})
	}
	objs = append(objs, slice("big", "many", "many-1", eps))
	s := startServer(t, fake.NewClientset(objs...), []string{deadAddr(t)}, nil)
	const name = "many.big.svc.cluster.local."

	r := query(t, s.Addr(), "udp", name, mdns.TypeA, 0)
	r.Compress = true // as sent
	if !r.Truncated || r.Len() > mdns.MinMsgSize {
		t.Errorf("UDP: truncated %v, %d bytes", r.Truncated, r.Len())
	}
	r = query(t, s.Addr(), "tcp", name, mdns.TypeA, 0)
	if r.Truncated || len(r.Answer) != 100 {
		t.Errorf("TCP: truncated %v, %d records", r.Truncated, len(r.Answer))
	}
	r = query(t, s.Addr(), "udp", name, mdns.TypeA, 4096)
	if r.Truncated || len(r.Answer) != 100 {
		t.Errorf("UDP EDNS0 4096: truncated %v, %d records", r.Truncated, len(r.Answer))
	}
	r = query(t, s.Addr(), "udp", name, mdns.TypeA, 1232)
	r.Compress = true
	if !r.Truncated || r.Len() > 1232 || r.IsEdns0() == nil {
		t.Errorf("UDP EDNS0 1232: truncated %v, %d bytes, opt %v", r.Truncated, r.Len(), r.IsEdns0())
	}
}

func TestNewErrors(t *testing.T) {
	c := fake.NewClientset()
	for _, cfg := range []Config{{}, {Listen: "nope"}, {Listen: "127.0.0.1:0", ClusterDomain: "bad..domain"}} {
		if _, err := New(c, cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	reg := prometheus.NewRegistry()
	if _, err := New(c, Config{Listen: "127.0.0.1:0", Upstreams: []string{"192.0.2.1"}, Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(c, Config{Listen: "127.0.0.1:0", Upstreams: []string{"192.0.2.1"}, Registerer: reg}); err == nil {
		t.Error("registering twice succeeded")
	}
}

func TestQueryBench(t *testing.T) {
	s := startServer(t, fake.NewClientset(testObjects()...), []string{deadAddr(t)}, nil)
	qps, err := QueryBench(context.Background(), s.Addr(), []string{"api.prod.svc.cluster.local", "web.prod.svc.cluster.local"}, 300*time.Millisecond, 2)
	if err != nil || qps <= 0 {
		t.Fatalf("QueryBench = %v, %v", qps, err)
	}
	t.Logf("%.0f queries/s", qps)
	if _, err := QueryBench(context.Background(), deadAddr(t), []string{"x"}, 100*time.Millisecond, 1); err == nil {
		t.Error("QueryBench against nothing succeeded")
	}
}

func BenchmarkServe(b *testing.B) {
	objs := testObjects()
	for i := range 1000 {
		objs = append(objs, svc(fmt.Sprintf("ns%d", i%20), fmt.Sprintf("svc%d", i), fmt.Sprintf("10.43.%d.%d", 10+i/250, i%250+1)))
	}
	s := startServer(b, fake.NewClientset(objs...), []string{deadAddr(b)}, nil)
	names := []string{"api.prod.svc.cluster.local.", "web.prod.svc.cluster.local.", "svc500.ns0.svc.cluster.local.", "web-0.web.prod.svc.cluster.local."}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
		conn, err := c.Dial(s.Addr())
		if err != nil {
			b.Error(err)
			return
		}
		defer func() { _ = conn.Close() }()
		i := 0
		for pb.Next() {
			m := new(mdns.Msg)
			m.SetQuestion(names[i%len(names)], mdns.TypeA)
			i++
			if _, _, err := c.ExchangeWithConn(m, conn); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func TestDropSelf(t *testing.T) {
	s := &Server{upstreams: []string{"10.0.0.1:53", "10.230.0.2:53", "10.0.0.2:53"}, log: slogDiscard()}
	s.dropSelf("10.230.0.2:53")
	if want := []string{"10.0.0.1:53", "10.0.0.2:53"}; !slices.Equal(s.upstreams, want) {
		t.Errorf("upstreams %v, want %v", s.upstreams, want)
	}
}

func TestOpcodeAndMalformed(t *testing.T) {
	s := startServer(t, fake.NewClientset(), []string{deadAddr(t)}, nil)
	m := new(mdns.Msg)
	m.SetNotify("cluster.local.")
	r, err := mdns.Exchange(m, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != mdns.RcodeNotImplemented {
		t.Errorf("NOTIFY: %s, want NOTIMP", mdns.RcodeToString[r.Rcode])
	}
	m = new(mdns.Msg)
	m.Id = mdns.Id()
	m.Question = []mdns.Question{{Name: "a.cluster.local.", Qtype: mdns.TypeA, Qclass: mdns.ClassINET}, {Name: "b.cluster.local.", Qtype: mdns.TypeA, Qclass: mdns.ClassINET}}
	if r, err = mdns.Exchange(m, s.Addr()); err != nil {
		t.Fatal(err)
	}
	if r.Rcode != mdns.RcodeFormatError {
		t.Errorf("two questions: %s, want FORMERR", mdns.RcodeToString[r.Rcode])
	}
}
