package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/knftables"
)

const testNode = "node-a"

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// harness drives a Proxy whose informer stores are fed directly.
type harness struct {
	t   *testing.T
	p   *Proxy
	nft *knftables.Fake
	reg *prometheus.Registry
	ct  *recordConntrack
}

// recordConntrack records conntrack cleanups instead of touching the
// host's conntrack table.
type recordConntrack struct{ filters []string }

func (r *recordConntrack) clear(fs []flowFilter) error {
	for _, f := range fs {
		r.filters = append(r.filters, f.String())
	}
	sort.Strings(r.filters)
	return nil
}

func (r *recordConntrack) take() []string {
	out := r.filters
	r.filters = nil
	return out
}

func newHarness(t *testing.T, nft *knftables.Fake) *harness {
	t.Helper()
	if nft == nil {
		nft = knftables.NewFake(knftables.IPv4Family, TableName)
	}
	reg := prometheus.NewRegistry()
	p, err := New(fake.NewClientset(), Config{NodeName: testNode, NFT: nft, Logger: quietLogger(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ct := &recordConntrack{}
	p.ct = ct
	return &harness{t: t, p: p, nft: nft, reg: reg, ct: ct}
}

func (h *harness) node(podCIDR string, ips ...string) {
	h.t.Helper()
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: testNode}, Spec: v1.NodeSpec{PodCIDR: podCIDR}}
	for _, ip := range ips {
		n.Status.Addresses = append(n.Status.Addresses, v1.NodeAddress{Type: v1.NodeInternalIP, Address: ip})
	}
	if err := h.p.nodes.GetStore().Update(n); err != nil {
		h.t.Fatal(err)
	}
	h.p.onNode(n)
}

func (h *harness) svc(s *v1.Service) {
	h.t.Helper()
	if err := h.p.services.GetStore().Update(s); err != nil {
		h.t.Fatal(err)
	}
	h.p.onService(s)
}

func (h *harness) delSvc(s *v1.Service) {
	h.t.Helper()
	if err := h.p.services.GetStore().Delete(s); err != nil {
		h.t.Fatal(err)
	}
	h.p.onService(s)
}

func (h *harness) slice(s *discovery.EndpointSlice) {
	h.t.Helper()
	if err := h.p.slices.GetStore().Update(s); err != nil {
		h.t.Fatal(err)
	}
	h.p.onSlice(s)
}

func (h *harness) sync() {
	h.t.Helper()
	if err := h.p.syncRules(context.Background()); err != nil {
		h.t.Fatalf("sync: %v", err)
	}
}

func (h *harness) rules(chain string) []string {
	h.t.Helper()
	c := h.nft.Table.Chains[chain]
	if c == nil {
		h.t.Fatalf("no chain %q; have:\n%s", chain, h.nft.Dump())
	}
	var out []string
	for _, r := range c.Rules {
		out = append(out, r.Rule)
	}
	return out
}

// gauge reads a gauge from the harness's registry.
func (h *harness) gauge(name string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	h.t.Fatalf("no metric %s", name)
	return 0
}

func (h *harness) hasChain(chain string) bool { return h.nft.Table.Chains[chain] != nil }

// mapValue returns the value of key in map m, "" if absent.
func (h *harness) mapValue(m string, key ...string) string {
	h.t.Helper()
	e := h.nft.Table.Maps[m].FindElement(key...)
	if e == nil {
		return ""
	}
	return strings.Join(e.Value, " . ")
}

func (h *harness) setHas(s string, key ...string) bool {
	return h.nft.Table.Sets[s].FindElement(key...) != nil
}

// --- object builders ---

type svcOpt func(*v1.Service)

func service(name, ip string, opts ...svcOpt) *v1.Service {
	s := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec: v1.ServiceSpec{
			Type: v1.ServiceTypeClusterIP, ClusterIP: ip, ClusterIPs: []string{ip},
			Ports: []v1.ServicePort{{Name: "http", Protocol: v1.ProtocolTCP, Port: 80}},
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func nodePort(np int32, etp v1.ServiceExternalTrafficPolicy) svcOpt {
	return func(s *v1.Service) {
		s.Spec.Type = v1.ServiceTypeNodePort
		s.Spec.Ports[0].NodePort = np
		s.Spec.ExternalTrafficPolicy = etp
	}
}

type ep struct {
	ip          string
	node        string
	ready       bool
	serving     bool
	terminating bool
}

func ready(ip, node string) ep { return ep{ip: ip, node: node, ready: true, serving: true} }

func slice(svcName string, port int32, eps ...ep) *discovery.EndpointSlice {
	s := &discovery.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "ns", Name: svcName + "-x1",
			Labels: map[string]string{labelServiceName: svcName},
		},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       []discovery.EndpointPort{{Name: ptr("http"), Protocol: ptr(v1.ProtocolTCP), Port: ptr(port)}},
	}
	for _, e := range eps {
		s.Endpoints = append(s.Endpoints, discovery.Endpoint{
			Addresses: []string{e.ip},
			Conditions: discovery.EndpointConditions{
				Ready: ptr(e.ready), Serving: ptr(e.serving), Terminating: ptr(e.terminating),
			},
			NodeName: ptr(e.node),
		})
	}
	return s
}

func chainName(prefix, svc, portName string) string {
	return hashedName(prefix, "ns/"+svc+"/tcp/"+portName)
}

func epChain(svc, portName, ip string, port int) string {
	return hashedName(prefixEndpoint, "ns/"+svc+"/tcp/"+portName+"__"+ip+"/"+strconv.Itoa(port))
}

func affSet(svc, portName, ip string, port int) string {
	return hashedName(prefixAffinity, "ns/"+svc+"/tcp/"+portName+"__"+ip+"/"+strconv.Itoa(port))
}

// dispatch is the expected endpoint cascade over verdicts: rule i applies
// verdict i with probability 1/(N-i), the last one takes what is left.
func dispatch(verdicts ...string) []string {
	out := make([]string, len(verdicts))
	for i, v := range verdicts {
		out[i] = "numgen random mod " + strconv.Itoa(len(verdicts)-i) + " 0 " + v
	}
	if len(out) > 0 {
		out[len(out)-1] = verdicts[len(verdicts)-1]
	}
	return out
}

// gotos turns chain names into goto verdicts.
func gotos(chains ...string) []string {
	out := make([]string, len(chains))
	for i, c := range chains {
		out[i] = "goto " + c
	}
	return out
}

// dnat is the verdict that sends a TCP connection straight to ip:port.
func dnat(ip string, port int) string {
	return "meta l4proto tcp dnat to " + ip + ":" + strconv.Itoa(port)
}

// endsWith reports whether rules ends with the rules want.
func endsWith(rules, want []string) bool {
	return len(rules) >= len(want) && strings.Join(rules[len(rules)-len(want):], "\n") == strings.Join(want, "\n")
}

const podCIDR = "10.42.0.0/24"

func masqRule(cip, port string) string {
	return "ip daddr " + cip + " tcp dport " + port + " ip saddr != " + podCIDR + " jump mark-for-masquerade"
}

// --- tests ---

func TestClusterIPDispatch(t *testing.T) {
	h := newHarness(t, nil)
	h.node(podCIDR, "192.168.1.10")
	h.svc(service("web", "10.43.0.20"))
	h.slice(slice("web", 8080, ready("10.42.0.5", testNode), ready("10.42.1.7", "node-b"), ready("10.42.2.9", "node-c")))
	h.sync()

	sc := chainName(prefixService, "web", "http")
	if got := h.mapValue(mapServiceIPs, "10.43.0.20", "tcp", "80"); got != "goto "+sc {
		t.Fatalf("service-ips element = %q, want goto %s", got, sc)
	}
	if !h.setHas(setClusterIPs, "10.43.0.20") {
		t.Error("cluster IP not in cluster-ips set")
	}
	want := []string{
		masqRule("10.43.0.20", "80"),
		"numgen random mod 3 0 meta l4proto tcp dnat to 10.42.0.5:8080",
		"numgen random mod 2 0 meta l4proto tcp dnat to 10.42.1.7:8080",
		"meta l4proto tcp dnat to 10.42.2.9:8080",
	}
	if got := h.rules(sc); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("service chain:\n got %q\nwant %q", got, want)
	}
	// Without affinity there are no endpoint chains; hairpin traffic is
	// caught by the hairpin set instead.
	for name := range h.nft.Table.Chains {
		if strings.HasPrefix(name, prefixEndpoint+"-") {
			t.Errorf("unexpected endpoint chain %s", name)
		}
	}
	for _, ip := range []string{"10.42.0.5", "10.42.1.7", "10.42.2.9"} {
		if !h.setHas(setHairpin, ip, ip) {
			t.Errorf("hairpin set lacks %s . %s", ip, ip)
		}
	}
	// The fixed part: the services chain dispatches through the maps.
	if got := h.rules(chainServices); len(got) != 2 || !strings.Contains(got[0], "vmap @service-ips") {
		t.Fatalf("services chain: %q", got)
	}
	if got := h.rules(chainMasquerading); got[0] != "ct status dnat ip saddr . ip daddr @hairpin jump mark-for-masquerade" || got[len(got)-1] != "masquerade fully-random" {
		t.Fatalf("masquerading chain: %q", got)
	}
}

func TestEndpointSelection(t *testing.T) {
	for _, tc := range []struct {
		name    string
		eps     []ep
		wantEPs []string // endpoint IPs in the service chain; nil: no chain
		verdict string   // no-endpoint-services verdict when wantEPs is nil
	}{
		{name: "ready only", eps: []ep{ready("10.42.0.5", "x"), {ip: "10.42.0.6", serving: true, terminating: true}}, wantEPs: []string{"10.42.0.5"}},
		{name: "terminating fallback", eps: []ep{{ip: "10.42.0.6", serving: true, terminating: true}, {ip: "10.42.0.7", terminating: true}, {ip: "10.42.0.8"}}, wantEPs: []string{"10.42.0.6"}},
		{name: "nothing usable", eps: []ep{{ip: "10.42.0.7", terminating: true}, {ip: "10.42.0.8"}}, verdict: verdictReject},
		{name: "no endpoints", verdict: verdictReject},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.node(podCIDR)
			h.svc(service("web", "10.43.0.20"))
			h.slice(slice("web", 8080, tc.eps...))
			h.sync()
			sc := chainName(prefixService, "web", "http")
			if tc.wantEPs == nil {
				if h.hasChain(sc) {
					t.Fatalf("unexpected service chain %s", sc)
				}
				if got := h.mapValue(mapNoEndpointServices, "10.43.0.20", "tcp", "80"); got != tc.verdict {
					t.Fatalf("no-endpoint-services = %q, want %q", got, tc.verdict)
				}
				if got := h.mapValue(mapServiceIPs, "10.43.0.20", "tcp", "80"); got != "" {
					t.Fatalf("service-ips still has %q", got)
				}
				if got := h.rules(chainReject); got[0] != "meta l4proto tcp reject with tcp reset" || got[1] != "reject" {
					t.Fatalf("reject chain %q", got)
				}
				return
			}
			var verdicts []string
			for _, ip := range tc.wantEPs {
				verdicts = append(verdicts, dnat(ip, 8080))
			}
			got := h.rules(sc)
			if !endsWith(got, dispatch(verdicts...)) {
				t.Fatalf("dispatch = %q, want it to end with %q", got, dispatch(verdicts...))
			}
		})
	}
}

func TestExternalPaths(t *testing.T) {
	local := v1.ServiceExternalTrafficPolicyLocal
	cluster := v1.ServiceExternalTrafficPolicyCluster
	eps := []ep{ready("10.42.0.5", testNode), ready("10.42.1.7", "node-b")}
	ext := chainName(prefixExternal, "web", "http")
	sc := chainName(prefixService, "web", "http")
	lc := chainName(prefixLocal, "web", "http")
	for _, tc := range []struct {
		name  string
		svc   *v1.Service
		eps   []ep
		check func(t *testing.T, h *harness)
	}{
		{name: "nodeport cluster", svc: service("web", "10.43.0.20", nodePort(30080, cluster)), eps: eps, check: func(t *testing.T, h *harness) {
			if got := h.mapValue(mapServiceNodePorts, "tcp", "30080"); got != "goto "+ext {
				t.Fatalf("service-nodeports = %q", got)
			}
			want := []string{"jump mark-for-masquerade", "goto " + sc}
			if got := h.rules(ext); strings.Join(got, ";") != strings.Join(want, ";") {
				t.Fatalf("external chain %q, want %q", got, want)
			}
			for _, ip := range []string{"192.168.1.10", "203.0.113.4"} {
				if !h.setHas(setNodePortIPs, ip) {
					t.Errorf("nodeport-ips lacks %s", ip)
				}
			}
		}},
		{name: "nodeport local", svc: service("web", "10.43.0.20", nodePort(30080, local)), eps: eps, check: func(t *testing.T, h *harness) {
			want := []string{
				"ip saddr " + podCIDR + " goto " + sc,
				"fib saddr type local jump mark-for-masquerade",
				"fib saddr type local goto " + sc,
				"goto " + lc,
			}
			if got := h.rules(ext); strings.Join(got, ";") != strings.Join(want, ";") {
				t.Fatalf("external chain %q, want %q", got, want)
			}
			got := h.rules(lc)
			if !endsWith(got, dispatch(dnat("10.42.0.5", 8080))) {
				t.Fatalf("local chain dispatch %q", got)
			}
			if got := h.rules(sc); !endsWith(got, dispatch(dnat("10.42.0.5", 8080), dnat("10.42.1.7", 8080))) {
				t.Fatalf("cluster chain dispatch %q", got)
			}
		}},
		{name: "nodeport local without local endpoints", svc: service("web", "10.43.0.20", nodePort(30080, local)), eps: []ep{ready("10.42.1.7", "node-b")}, check: func(t *testing.T, h *harness) {
			if got := h.mapValue(mapNoEndpointNodePorts, "tcp", "30080"); got != verdictDrop {
				t.Fatalf("no-endpoint-nodeports = %q, want drop", got)
			}
			if h.hasChain(ext) || h.mapValue(mapServiceNodePorts, "tcp", "30080") != "" {
				t.Fatal("external path programmed without local endpoints")
			}
			// Cluster IP traffic still works.
			if got := h.mapValue(mapServiceIPs, "10.43.0.20", "tcp", "80"); got != "goto "+sc {
				t.Fatalf("service-ips = %q", got)
			}
		}},
		{name: "nodeport no endpoints", svc: service("web", "10.43.0.20", nodePort(30080, cluster)), check: func(t *testing.T, h *harness) {
			if got := h.mapValue(mapNoEndpointNodePorts, "tcp", "30080"); got != verdictReject {
				t.Fatalf("no-endpoint-nodeports = %q, want reject", got)
			}
		}},
		{name: "external IP", svc: service("web", "10.43.0.20", func(s *v1.Service) { s.Spec.ExternalIPs = []string{"198.51.100.7", "2001:db8::1"} }), eps: eps, check: func(t *testing.T, h *harness) {
			if got := h.mapValue(mapServiceIPs, "198.51.100.7", "tcp", "80"); got != "goto "+ext {
				t.Fatalf("externalIP element = %q", got)
			}
			if got := h.rules(ext); got[0] != "jump mark-for-masquerade" {
				t.Fatalf("external chain %q", got)
			}
		}},
		{name: "load balancer ingress", svc: service("web", "10.43.0.20", nodePort(30080, cluster), func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeLoadBalancer
			s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: "192.168.1.10"}, {Hostname: "lb.example"}}
		}), eps: eps, check: func(t *testing.T, h *harness) {
			if got := h.mapValue(mapServiceIPs, "192.168.1.10", "tcp", "80"); got != "goto "+ext {
				t.Fatalf("LB element = %q", got)
			}
			if got := h.mapValue(mapServiceNodePorts, "tcp", "30080"); got != "goto "+ext {
				t.Fatalf("LB nodeport = %q", got)
			}
		}},
		{name: "load balancer local no local endpoints", svc: service("web", "10.43.0.20", nodePort(30080, local), func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeLoadBalancer
			s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: "192.168.1.10"}}
		}), eps: []ep{ready("10.42.1.7", "node-b")}, check: func(t *testing.T, h *harness) {
			if got := h.mapValue(mapNoEndpointServices, "192.168.1.10", "tcp", "80"); got != verdictDrop {
				t.Fatalf("LB no-endpoint verdict = %q", got)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.node(podCIDR, "192.168.1.10", "203.0.113.4")
			h.svc(tc.svc)
			h.slice(slice("web", 8080, tc.eps...))
			h.sync()
			tc.check(t, h)
		})
	}
}

func TestInternalTrafficPolicyLocal(t *testing.T) {
	h := newHarness(t, nil)
	h.node(podCIDR)
	itp := v1.ServiceInternalTrafficPolicyLocal
	h.svc(service("web", "10.43.0.20", func(s *v1.Service) { s.Spec.InternalTrafficPolicy = &itp }))
	h.slice(slice("web", 8080, ready("10.42.0.5", testNode), ready("10.42.1.7", "node-b")))
	h.sync()
	lc := chainName(prefixLocal, "web", "http")
	if got := h.mapValue(mapServiceIPs, "10.43.0.20", "tcp", "80"); got != "goto "+lc {
		t.Fatalf("service-ips = %q, want goto %s", got, lc)
	}
	want := append([]string{masqRule("10.43.0.20", "80")}, dispatch(dnat("10.42.0.5", 8080))...)
	if got := h.rules(lc); strings.Join(got, ";") != strings.Join(want, ";") {
		t.Fatalf("local chain %q, want %q", got, want)
	}
	if h.hasChain(chainName(prefixService, "web", "http")) {
		t.Fatal("cluster chain programmed for iTP Local without external path")
	}

	// The local endpoint goes away: drop (endpoints exist elsewhere).
	h.slice(slice("web", 8080, ready("10.42.1.7", "node-b")))
	h.sync()
	if got := h.mapValue(mapNoEndpointServices, "10.43.0.20", "tcp", "80"); got != verdictDrop {
		t.Fatalf("no-endpoint-services = %q, want drop", got)
	}
	if h.hasChain(lc) || h.mapValue(mapServiceIPs, "10.43.0.20", "tcp", "80") != "" {
		t.Fatal("local chain or element left behind")
	}
}

func TestConntrackCleanup(t *testing.T) {
	h := newHarness(t, nil)
	h.node(podCIDR, "192.168.1.10")
	h.svc(service("dns", "10.43.0.10", nodePort(30053, v1.ServiceExternalTrafficPolicyCluster), func(s *v1.Service) {
		s.Spec.Ports[0].Protocol = v1.ProtocolUDP
		s.Spec.Ports = append(s.Spec.Ports, v1.ServicePort{Name: "tcp", Protocol: v1.ProtocolTCP, Port: 53})
	}))
	udpSlice := func(ips ...string) *discovery.EndpointSlice {
		var eps []ep
		for _, ip := range ips {
			eps = append(eps, ready(ip, testNode))
		}
		s := slice("dns", 53, eps...)
		s.Ports = []discovery.EndpointPort{
			{Name: ptr("http"), Protocol: ptr(v1.ProtocolUDP), Port: ptr(int32(5353))},
			{Name: ptr("tcp"), Protocol: ptr(v1.ProtocolTCP), Port: ptr(int32(5353))},
		}
		return s
	}
	h.slice(udpSlice("10.42.0.5", "10.42.0.6"))
	h.sync()
	// Got endpoints: flows that were never DNATed go.
	want := []string{"17 10.43.0.10:80 reply-src 10.43.0.10", "17 192.168.1.10:30053 reply-src 192.168.1.10"}
	if got := h.ct.take(); strings.Join(got, ";") != strings.Join(want, ";") {
		t.Fatalf("first sync cleared %q, want %q", got, want)
	}
	h.slice(udpSlice("10.42.0.5"))
	h.sync()
	want = []string{"17 10.43.0.10:80 reply-src 10.42.0.6", "17 :30053 reply-src 10.42.0.6"}
	if got := h.ct.take(); strings.Join(got, ";") != strings.Join(want, ";") {
		t.Fatalf("endpoint removal cleared %q, want %q", got, want)
	}
	h.slice(udpSlice("10.42.0.5"))
	h.sync()
	if got := h.ct.take(); len(got) != 0 {
		t.Fatalf("no-op sync cleared %q", got)
	}
}

func TestSessionAffinity(t *testing.T) {
	h := newHarness(t, nil)
	h.node(podCIDR)
	h.svc(service("web", "10.43.0.20", func(s *v1.Service) {
		s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
		s.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr(int32(300))}}
	}))
	h.slice(slice("web", 8080, ready("10.42.0.5", testNode), ready("10.42.1.7", "node-b")))
	h.sync()
	sc := chainName(prefixService, "web", "http")
	e1, e2 := epChain("web", "http", "10.42.0.5", 8080), epChain("web", "http", "10.42.1.7", 8080)
	a1, a2 := affSet("web", "http", "10.42.0.5", 8080), affSet("web", "http", "10.42.1.7", 8080)
	want := append([]string{masqRule("10.43.0.20", "80"), "ip saddr @" + a1 + " goto " + e1, "ip saddr @" + a2 + " goto " + e2}, dispatch(gotos(e1, e2)...)...)
	if got := h.rules(sc); strings.Join(got, ";") != strings.Join(want, ";") {
		t.Fatalf("service chain\n got %q\nwant %q", got, want)
	}
	if got := h.rules(e1); strings.Join(got, ";") != "update @"+a1+" { ip saddr };"+dnat("10.42.0.5", 8080) {
		t.Fatalf("endpoint chain %q", got)
	}
	set := h.nft.Table.Sets[a1]
	if set == nil || set.Timeout == nil || *set.Timeout != 300*time.Second {
		t.Fatalf("affinity set %+v", set)
	}

	// Default timeout when unset; a timeout change recreates the sets.
	h.svc(service("web", "10.43.0.20", func(s *v1.Service) { s.Spec.SessionAffinity = v1.ServiceAffinityClientIP }))
	h.sync()
	if set := h.nft.Table.Sets[a1]; set == nil || *set.Timeout != defaultAffinityTimeout {
		t.Fatalf("affinity set after change %+v", set)
	}
	// Affinity off: the sets and endpoint chains go away, the service
	// chain DNATs directly.
	h.svc(service("web", "10.43.0.20"))
	h.sync()
	if h.nft.Table.Sets[a1] != nil || h.nft.Table.Sets[a2] != nil {
		t.Fatal("affinity sets left behind")
	}
	if h.hasChain(e1) || h.hasChain(e2) {
		t.Fatal("endpoint chains left behind")
	}
	if got := h.rules(sc); !endsWith(got, dispatch(dnat("10.42.0.5", 8080), dnat("10.42.1.7", 8080))) {
		t.Fatalf("service chain without affinity %q", got)
	}
}

func TestNamedPorts(t *testing.T) {
	h := newHarness(t, nil)
	h.node(podCIDR)
	h.svc(service("web", "10.43.0.20", func(s *v1.Service) {
		s.Spec.Ports = []v1.ServicePort{
			{Name: "http", Protocol: v1.ProtocolTCP, Port: 80},
			{Name: "metrics", Protocol: v1.ProtocolTCP, Port: 9090},
			{Name: "dns", Protocol: v1.ProtocolUDP, Port: 53},
		}
	}))
	sl := slice("web", 8080, ready("10.42.0.5", testNode))
	sl.Ports = []discovery.EndpointPort{
		{Name: ptr("metrics"), Protocol: ptr(v1.ProtocolTCP), Port: ptr(int32(9100))},
		{Name: ptr("http"), Protocol: ptr(v1.ProtocolTCP), Port: ptr(int32(8080))},
		{Name: ptr("dns"), Protocol: ptr(v1.ProtocolUDP), Port: ptr(int32(5353))},
	}
	h.slice(sl)
	h.sync()
	for _, tc := range []struct{ port, name, proto, target string }{
		{"80", "http", "tcp", "10.42.0.5:8080"},
		{"9090", "metrics", "tcp", "10.42.0.5:9100"},
		{"53", "dns", "udp", "10.42.0.5:5353"},
	} {
		spn := "ns/web/" + tc.proto + "/" + tc.name
		if got := h.mapValue(mapServiceIPs, "10.43.0.20", tc.proto, tc.port); got != "goto "+hashedName(prefixService, spn) {
			t.Errorf("%s: element %q", tc.name, got)
		}
		if got := h.rules(hashedName(prefixService, spn)); got[len(got)-1] != "meta l4proto "+tc.proto+" dnat to "+tc.target {
			t.Errorf("%s: service chain rules %q", tc.name, got)
		}
	}
}

// A change to one Service writes that Service's chains and nothing else.
func TestIncrementalTouchesOnlyChangedService(t *testing.T) {
	h := newHarness(t, nil)
	h.node(podCIDR, "192.168.1.10")
	for i, name := range []string{"a", "b", "c"} {
		h.svc(service(name, "10.43.0."+strconv.Itoa(10+i), nodePort(int32(30010+i), v1.ServiceExternalTrafficPolicyCluster)))
		h.slice(slice(name, 8080, ready("10.42.0."+strconv.Itoa(10+i), testNode), ready("10.42.1."+strconv.Itoa(10+i), "node-b")))
	}
	h.sync()
	if !h.p.last.full || h.p.last.servicesWritten != 3 {
		t.Fatalf("first sync %+v", h.p.last)
	}

	// No change: nothing to do.
	h.p.markDirty("ns/a", time.Time{})
	h.sync()
	if h.p.last.operations != 0 || h.p.last.chainsWritten != 0 {
		t.Fatalf("no-op sync wrote %+v:\n%s", h.p.last, h.nft.LastTransaction)
	}

	h.slice(slice("b", 8080, ready("10.42.0.11", testNode), ready("10.42.2.99", "node-c")))
	h.sync()
	st := h.p.last
	// Only the service chain is rewritten; the hairpin elements change.
	if st.full || st.servicesWritten != 1 || st.chainsWritten != 1 {
		t.Fatalf("stats %+v\n%s", st, h.nft.LastTransaction)
	}
	for _, line := range strings.Split(strings.TrimSpace(h.nft.LastTransaction.String()), "\n") {
		if !strings.Contains(line, "ns/b/") && line != "delete element ip skiff-proxy hairpin { 10.42.1.11 . 10.42.1.11 }" && line != "add element ip skiff-proxy hairpin { 10.42.2.99 . 10.42.2.99 }" {
			t.Errorf("transaction touches more than service b: %q", line)
		}
	}
	if got := h.gauge("skiff_proxy_sync_proxy_rules_last_written_services"); got != 1 {
		t.Errorf("skiff_proxy_sync_proxy_rules_last_written_services = %v", got)
	}
	if got := h.gauge("skiff_proxy_sync_proxy_rules_last_written_chains"); got != 1 {
		t.Errorf("skiff_proxy_sync_proxy_rules_last_written_chains = %v", got)
	}
	if got := h.rules(chainName(prefixService, "b", "http")); !endsWith(got, dispatch(dnat("10.42.0.11", 8080), dnat("10.42.2.99", 8080))) {
		t.Fatalf("service chain not updated: %q", got)
	}
	if h.setHas(setHairpin, "10.42.1.11", "10.42.1.11") || !h.setHas(setHairpin, "10.42.2.99", "10.42.2.99") {
		t.Fatal("hairpin elements not updated")
	}
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		have[mf.GetName()] = true
	}
	for _, name := range []string{
		"skiff_proxy_sync_proxy_rules_duration_seconds", "skiff_proxy_sync_partial_proxy_rules_duration_seconds",
		"skiff_proxy_sync_full_proxy_rules_duration_seconds", "skiff_proxy_sync_proxy_rules_last_timestamp_seconds",
		"skiff_proxy_sync_proxy_rules_nftables_objects",
	} {
		if !have[name] {
			t.Errorf("metric %s not exported", name)
		}
	}
}

func TestDeleteServiceRemovesChains(t *testing.T) {
	h := newHarness(t, nil)
	h.node(podCIDR, "192.168.1.10")
	a := service("a", "10.43.0.10", nodePort(30010, v1.ServiceExternalTrafficPolicyCluster), func(s *v1.Service) {
		s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
	})
	h.svc(a)
	h.slice(slice("a", 8080, ready("10.42.0.10", testNode)))
	h.svc(service("b", "10.43.0.11"))
	h.slice(slice("b", 8080, ready("10.42.0.11", testNode)))
	h.sync()

	h.delSvc(a)
	h.sync()
	dump := h.nft.Dump()
	if strings.Contains(dump, "ns/a/") || strings.Contains(dump, "10.43.0.10") || strings.Contains(dump, "30010") {
		t.Fatalf("service a left traces:\n%s", dump)
	}
	if !strings.Contains(dump, "ns/b/") {
		t.Fatal("service b lost")
	}
	if h.p.last.servicesWritten != 1 {
		t.Fatalf("stats %+v", h.p.last)
	}
}

// normalizedDump orders element lines, whose order in the fake depends on
// insertion history.
func normalizedDump(f *knftables.Fake) string {
	var other, elems []string
	for _, l := range strings.Split(f.Dump(), "\n") {
		if strings.HasPrefix(l, "add element") {
			elems = append(elems, l)
		} else {
			other = append(other, l)
		}
	}
	sort.Strings(elems)
	return strings.Join(append(other, elems...), "\n")
}

// freshDump is the table a full sync from scratch makes of h's caches.
func freshDump(t *testing.T, h *harness) string {
	t.Helper()
	f := newHarness(t, nil)
	for _, o := range h.p.nodes.GetStore().List() {
		if err := f.p.nodes.GetStore().Add(o); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range h.p.services.GetStore().List() {
		if err := f.p.services.GetStore().Add(o); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range h.p.slices.GetStore().List() {
		if err := f.p.slices.GetStore().Add(o); err != nil {
			t.Fatal(err)
		}
	}
	f.sync()
	return normalizedDump(f.nft)
}

// After any sequence of incremental syncs the table equals what a full
// sync of the same state would write.
func TestIncrementalMatchesFull(t *testing.T) {
	h := newHarness(t, nil)
	itp := v1.ServiceInternalTrafficPolicyLocal
	steps := []func(){
		func() { h.node("", "192.168.1.10") },
		func() { h.svc(service("a", "10.43.0.10")) },
		func() { h.slice(slice("a", 8080, ready("10.42.0.10", testNode))) },
		func() { h.node(podCIDR, "192.168.1.10", "192.168.2.10") },
		func() {
			h.svc(service("b", "10.43.0.11", nodePort(30011, v1.ServiceExternalTrafficPolicyLocal), func(s *v1.Service) { s.Spec.ExternalIPs = []string{"198.51.100.1"} }))
		},
		func() { h.slice(slice("b", 9000, ready("10.42.0.20", testNode), ready("10.42.1.20", "node-b"))) },
		func() {
			h.svc(service("c", "10.43.0.12", func(s *v1.Service) { s.Spec.ExternalIPs = []string{"198.51.100.1"} }))
		},
		func() { h.slice(slice("c", 80, ready("10.42.1.30", "node-b"))) },
		func() { h.slice(slice("b", 9000, ready("10.42.1.20", "node-b"))) },
		func() {
			h.svc(service("a", "10.43.0.10", func(s *v1.Service) {
				s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
				s.Spec.InternalTrafficPolicy = &itp
			}))
		},
		func() { h.delSvc(service("b", "10.43.0.11")) },
		func() { h.node(podCIDR, "192.168.2.10") },
		func() { h.slice(slice("a", 8080)) },
		func() {
			h.svc(service("a", "10.43.0.10", func(s *v1.Service) { s.Spec.ClusterIP = "None"; s.Spec.ClusterIPs = nil }))
		},
	}
	for i, step := range steps {
		step()
		h.sync()
		if got, want := normalizedDump(h.nft), freshDump(t, h); got != want {
			t.Fatalf("step %d: incremental table differs from full sync\n--- incremental\n%s\n--- full\n%s", i, got, want)
		}
	}
	// c took over externalIP 198.51.100.1 when b went away.
	if got := h.mapValue(mapServiceIPs, "198.51.100.1", "tcp", "80"); got != "goto "+chainName(prefixExternal, "c", "http") {
		t.Fatalf("shared externalIP element = %q", got)
	}
}

// A new Proxy takes over the table an earlier run left, removing what no
// longer exists, and then continues incrementally.
func TestRestartTakesOverTable(t *testing.T) {
	nft := knftables.NewFake(knftables.IPv4Family, TableName)
	h1 := newHarness(t, nft)
	h1.node(podCIDR, "192.168.1.10")
	h1.svc(service("a", "10.43.0.10", nodePort(30010, v1.ServiceExternalTrafficPolicyCluster)))
	h1.slice(slice("a", 8080, ready("10.42.0.10", testNode)))
	h1.svc(service("b", "10.43.0.11"))
	h1.slice(slice("b", 8080, ready("10.42.0.11", testNode)))
	h1.sync()
	// Leftovers of some older version.
	tx := nft.NewTransaction()
	tx.Add(&knftables.Chain{Name: "endpoint-OLD-ns/gone/tcp/__10.42.0.99/80"})
	tx.Add(&knftables.Map{Name: "old-map", Type: "ipv4_addr : verdict"})
	if err := nft.Run(context.Background(), tx); err != nil {
		t.Fatal(err)
	}

	// Restart while service b was deleted and a changed.
	h2 := newHarness(t, nft)
	h2.node(podCIDR, "192.168.1.10")
	h2.svc(service("a", "10.43.0.10", nodePort(30010, v1.ServiceExternalTrafficPolicyCluster)))
	h2.slice(slice("a", 8080, ready("10.42.0.10", testNode), ready("10.42.0.12", testNode)))
	h2.sync()
	if !h2.p.last.full {
		t.Fatal("first sync after restart was not full")
	}
	if got, want := normalizedDump(nft), freshDump(t, h2); got != want {
		t.Fatalf("taken-over table differs from a fresh one\n--- got\n%s\n--- want\n%s", got, want)
	}
	h2.slice(slice("a", 8080, ready("10.42.0.10", testNode)))
	h2.sync()
	if h2.p.last.full || h2.p.last.servicesWritten != 1 {
		t.Fatalf("second sync %+v", h2.p.last)
	}
}

// Run against a fake clientset: events reach the table, and the table stays
// when Run returns.
func TestRunEndToEnd(t *testing.T) {
	client := fake.NewClientset(
		&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: testNode}, Spec: v1.NodeSpec{PodCIDR: podCIDR},
			Status: v1.NodeStatus{Addresses: []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: "192.168.1.10"}}}},
		service("web", "10.43.0.20"),
	)
	nft := knftables.NewFake(knftables.IPv4Family, TableName)
	p, err := New(client, Config{NodeName: testNode, NFT: nft, Logger: quietLogger(), MinSyncInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; table:\n%s", what, nft.Dump())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	element := func(m string, key ...string) string {
		// Read through the Interface: the fake locks there.
		els, err := nft.ListElements(context.Background(), "map", m)
		if err != nil {
			return ""
		}
		for _, e := range els {
			if strings.Join(e.Key, ",") == strings.Join(key, ",") {
				return strings.Join(e.Value, " ")
			}
		}
		return ""
	}
	waitFor("reject for service without endpoints", func() bool {
		return element(mapNoEndpointServices, "10.43.0.20", "tcp", "80") == verdictReject
	})
	sl := slice("web", 8080, ready("10.42.0.5", testNode))
	sl.Annotations = map[string]string{annotationTriggerTime: time.Now().Format(time.RFC3339Nano)}
	if _, err := client.DiscoveryV1().EndpointSlices("ns").Create(ctx, sl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor("dispatch to the new endpoint", func() bool {
		return element(mapServiceIPs, "10.43.0.20", "tcp", "80") == "goto "+chainName(prefixService, "web", "http")
	})
	if d := time.Since(start); d > time.Second {
		t.Errorf("endpoint change took %v to reach the rules", d)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if element(mapServiceIPs, "10.43.0.20", "tcp", "80") == "" {
		t.Fatal("rules removed when Run ended")
	}
}

func TestServicesWithoutRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		svc  *v1.Service
	}{
		{"headless", service("x", "None")},
		{"external name", service("x", "", func(s *v1.Service) { s.Spec.Type = v1.ServiceTypeExternalName; s.Spec.ExternalName = "example.com" })},
		{"ipv6 only", service("x", "fd00::10")},
		{"other proxy", service("x", "10.43.0.9", func(s *v1.Service) { s.Labels = map[string]string{labelServiceProxyName: "other"} })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.node(podCIDR)
			h.svc(tc.svc)
			h.slice(slice("x", 8080, ready("10.42.0.5", testNode)))
			h.sync()
			if dump := h.nft.Dump(); strings.Contains(dump, "ns/x/") || strings.Contains(dump, "10.43.0.9") {
				t.Fatalf("rules for %s:\n%s", tc.name, dump)
			}
		})
	}
}

// failingNFT fails the next Run when armed.
type failingNFT struct {
	*knftables.Fake
	fail bool
}

func (f *failingNFT) Run(ctx context.Context, tx *knftables.Transaction) error {
	if f.fail {
		f.fail = false
		return errors.New("injected failure")
	}
	return f.Fake.Run(ctx, tx)
}

// A failed transaction leaves the work queued and forces a full resync.
func TestSyncFailureRetriesFull(t *testing.T) {
	fk := knftables.NewFake(knftables.IPv4Family, TableName)
	nft := &failingNFT{Fake: fk}
	reg := prometheus.NewRegistry()
	p, err := New(fake.NewClientset(), Config{NodeName: testNode, NFT: nft, Logger: quietLogger(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	p.ct = noConntrack{}
	h := &harness{t: t, p: p, nft: fk, reg: reg}
	h.node(podCIDR)
	h.svc(service("a", "10.43.0.10"))
	h.sync()
	h.slice(slice("a", 8080, ready("10.42.0.5", testNode)))
	nft.fail = true
	if err := p.syncRules(context.Background()); err == nil {
		t.Fatal("sync did not report the failure")
	}
	if got := h.mapValue(mapServiceIPs, "10.43.0.10", "tcp", "80"); got != "" {
		t.Fatalf("failed transaction applied: %q", got)
	}
	h.sync()
	if !p.last.full {
		t.Fatal("sync after a failure was not full")
	}
	if got := h.mapValue(mapServiceIPs, "10.43.0.10", "tcp", "80"); got != "goto "+chainName(prefixService, "a", "http") {
		t.Fatalf("retry did not apply the change: %q", got)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "skiff_proxy_sync_proxy_rules_nftables_sync_failures_total" && mf.GetMetric()[0].GetCounter().GetValue() != 1 {
			t.Errorf("failures counter %v", mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(nil, Config{NodeName: "x", NFT: knftables.NewFake(knftables.IPv4Family, TableName)}); err == nil {
		t.Error("nil client accepted")
	}
	if _, err := New(fake.NewClientset(), Config{NFT: knftables.NewFake(knftables.IPv4Family, TableName)}); err == nil {
		t.Error("empty NodeName accepted")
	}
}

func TestHashedName(t *testing.T) {
	long := strings.Repeat("n", 63) + "/" + strings.Repeat("s", 63) + "/tcp/" + strings.Repeat("p", 15) + "__255.255.255.255/65535"
	a, b := hashedName(prefixEndpoint, long), hashedName(prefixEndpoint, long+"x")
	if len(a) > maxNameLen || a == b {
		t.Fatalf("names %q %q", a, b)
	}
	// Stable across runs: the name is part of the table an earlier run
	// left behind.
	if got, want := hashedName(prefixService, "ns/web/tcp/http"), "service-Y6QD5CCT-ns/web/tcp/http"; got != want {
		t.Fatalf("name %q, want %q", got, want)
	}
}

func TestSyncBench(t *testing.T) {
	full, inc, err := SyncBench(50, 3)
	if err != nil {
		t.Fatal(err)
	}
	if full <= 0 || inc <= 0 {
		t.Fatalf("durations %v %v", full, inc)
	}
}

func benchmarkSync(b *testing.B, n int) {
	var sum benchResult
	for i := 0; i < b.N; i++ {
		r, err := syncBench(knftables.NewFake(knftables.IPv4Family, TableName), n, 10)
		if err != nil {
			b.Fatal(err)
		}
		sum.full += r.full
		sum.incremental += r.incremental
		sum.fullNFT += r.fullNFT
		sum.incrementalNFT += r.incrementalNFT
	}
	reportBench(b, sum)
}

func reportBench(b *testing.B, sum benchResult) {
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(per(sum.full), "full-ms/op")
	b.ReportMetric(per(sum.full-sum.fullNFT), "full-proxy-ms/op")
	b.ReportMetric(per(sum.incremental), "incr-ms/op")
	b.ReportMetric(per(sum.incremental-sum.incrementalNFT), "incr-proxy-ms/op")
}

// BenchmarkSync1000Services: full and incremental sync of 1000 Services
// with 10 endpoints each, on the fake.
func BenchmarkSync1000Services(b *testing.B) { benchmarkSync(b, 1000) }

// BenchmarkSync10000Services: the same with 10000 Services.
func BenchmarkSync10000Services(b *testing.B) { benchmarkSync(b, 10000) }

// dispatchShares reads a dispatch chain's rules the way the kernel runs
// them and returns the exact probability with which a new connection (no
// affinity entry) is DNATed to each "ip:port". It understands the rule
// forms the cascade uses: "numgen random mod M 0 V" (taken with probability
// 1/M of what is left) and a plain "V" (takes what is left), where V is
// "meta l4proto P dnat to ip:port" or "goto X" with X an endpoint chain,
// whose DNAT it follows. Rules that do not pick an endpoint (masquerade
// marking, affinity checks) are skipped; what no rule takes is returned as
// left.
func dispatchShares(t *testing.T, h *harness, rules []string) (shares map[string]*big.Rat, left *big.Rat) {
	t.Helper()
	// dest returns the DNAT destination of verdict v, or "" if v is not
	// one of the endpoint-picking forms.
	dest := func(v string) string {
		if chain, ok := strings.CutPrefix(v, "goto "); ok {
			if !strings.HasPrefix(chain, prefixEndpoint+"-") {
				t.Fatalf("dispatch verdict %q does not go to an endpoint chain", v)
			}
			if !h.hasChain(chain) {
				t.Fatalf("dispatch verdict %q: chain does not exist", v)
			}
			er := h.rules(chain)
			if len(er) == 0 {
				t.Fatalf("endpoint chain %s is empty", chain)
			}
			v = er[len(er)-1]
		}
		var proto, to string
		if n, err := fmt.Sscanf(v, "meta l4proto %s dnat to %s", &proto, &to); err != nil || n != 2 {
			return ""
		}
		return to
	}
	shares = map[string]*big.Rat{}
	left = big.NewRat(1, 1)
	for _, r := range rules {
		var take *big.Rat
		var target string
		if rest, ok := strings.CutPrefix(r, "numgen random mod "); ok {
			var m, v int64
			if _, err := fmt.Sscanf(rest, "%d %d ", &m, &v); err != nil || m < 1 || v < 0 || v >= m {
				t.Fatalf("cannot read dispatch rule %q: %v", r, err)
			}
			fields := strings.SplitN(rest, " ", 3)
			if target = dest(fields[2]); target == "" {
				t.Fatalf("dispatch rule %q picks no endpoint", r)
			}
			take = new(big.Rat).Mul(left, big.NewRat(1, m))
		} else if target = dest(r); target != "" {
			take = new(big.Rat).Set(left)
		} else {
			continue
		}
		if shares[target] == nil {
			shares[target] = new(big.Rat)
		}
		shares[target].Add(shares[target], take)
		left.Sub(left, take)
	}
	return shares, left
}

// TestDispatchUniform checks that the generated cascade gives every usable
// endpoint exactly 1/N of the new connections and leaves nothing undecided,
// for the cluster-wide chain and the node-local one, with and without
// session affinity.
func TestDispatchUniform(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 10, 64} {
		for _, affinity := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d endpoints affinity=%v", n, affinity), func(t *testing.T) {
				h := newHarness(t, nil)
				h.node(podCIDR, "192.168.1.10")
				h.svc(service("web", "10.43.0.20", nodePort(30080, v1.ServiceExternalTrafficPolicyLocal), func(s *v1.Service) {
					if affinity {
						s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
					}
				}))
				var eps []ep
				locals := 0
				all, local := map[string]bool{}, map[string]bool{}
				for i := 0; i < n; i++ {
					node := "node-b"
					ip := fmt.Sprintf("10.42.%d.%d", i/200, 1+i%200)
					all[ip+":8080"] = true
					if i%2 == 0 {
						node, locals = testNode, locals+1
						local[ip+":8080"] = true
					}
					eps = append(eps, ready(ip, node))
				}
				h.slice(slice("web", 8080, eps...))
				h.sync()
				for _, c := range []struct {
					chain string
					n     int
					dests map[string]bool
				}{{chainName(prefixService, "web", "http"), n, all}, {chainName(prefixLocal, "web", "http"), locals, local}} {
					rules := h.rules(c.chain)
					shares, left := dispatchShares(t, h, rules)
					if left.Sign() != 0 {
						t.Errorf("%s: %v of new connections fall through:\n%s", c.chain, left, strings.Join(rules, "\n"))
					}
					if len(shares) != c.n {
						t.Fatalf("%s reaches %d endpoints, want %d:\n%s", c.chain, len(shares), c.n, strings.Join(rules, "\n"))
					}
					want := big.NewRat(1, int64(c.n))
					for target, p := range shares {
						if p.Cmp(want) != 0 {
							t.Errorf("%s: %s gets %v, want %v", c.chain, target, p, want)
						}
						if !c.dests[target] {
							t.Errorf("%s: DNATs to %s, which is not one of its endpoints", c.chain, target)
						}
					}
				}
			})
		}
	}
}

// TestDispatchHasNoAnonymousSets keeps the per-service chains free of
// anonymous sets and maps: each one costs the kernel a walk of the whole
// transaction when a full sync loads it (README.md, Scale).
func TestDispatchHasNoAnonymousSets(t *testing.T) {
	h := newHarness(t, nil)
	h.node(podCIDR, "192.168.1.10")
	h.svc(service("web", "10.43.0.20", nodePort(30080, v1.ServiceExternalTrafficPolicyLocal), func(s *v1.Service) {
		s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
	}))
	h.slice(slice("web", 8080, ready("10.42.0.5", testNode), ready("10.42.1.7", "node-b"), ready("10.42.0.9", testNode)))
	h.sync()
	for name, ch := range h.nft.Table.Chains {
		if isBaseChain(name) {
			continue
		}
		for _, r := range ch.Rules {
			if strings.Contains(r.Rule, "{") && !strings.HasPrefix(r.Rule, "update @") {
				t.Errorf("chain %s: rule %q has an anonymous set or map", name, r.Rule)
			}
		}
	}
}
