package netpol

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/knftables"
)

const testNode = "n1"

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type podOpt func(*v1.Pod)

func onNode(n string) podOpt      { return func(p *v1.Pod) { p.Spec.NodeName = n } }
func hostNet() podOpt             { return func(p *v1.Pod) { p.Spec.HostNetwork = true } }
func phase(ph v1.PodPhase) podOpt { return func(p *v1.Pod) { p.Status.Phase = ph } }
func port(name string, n int32, proto v1.Protocol) podOpt {
	return func(p *v1.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, v1.ContainerPort{Name: name, ContainerPort: n, Protocol: proto})
	}
}

func mkPod(ns, name, ip string, lbls map[string]string, opts ...podOpt) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls},
		Spec:       v1.PodSpec{NodeName: testNode, Containers: []v1.Container{{Name: "c"}}},
		Status:     v1.PodStatus{Phase: v1.PodRunning, PodIP: ip, PodIPs: []v1.PodIP{{IP: ip}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func mkNS(name string, lbls map[string]string) *v1.Namespace {
	l := map[string]string{"kubernetes.io/metadata.name": name}
	for k, v := range lbls {
		l[k] = v
	}
	return &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
}

func testNodeObj() *v1.Node {
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: testNode},
		Spec:       v1.NodeSpec{PodCIDR: "10.42.1.0/24"},
		Status: v1.NodeStatus{Addresses: []v1.NodeAddress{
			{Type: v1.NodeInternalIP, Address: "192.168.1.10"},
			{Type: v1.NodeHostName, Address: "n1"},
		}},
	}
}

// world is the cluster every semantics case starts from.
func world() (pods []*v1.Pod, nss []*v1.Namespace) {
	pods = []*v1.Pod{
		mkPod("default", "web", "10.42.1.10", map[string]string{"app": "web"}, port("http", 8080, v1.ProtocolTCP), port("dns", 5353, v1.ProtocolUDP)),
		mkPod("default", "client", "10.42.1.11", map[string]string{"role": "client"}),
		mkPod("default", "stranger", "10.42.1.12", map[string]string{"role": "stranger"}),
		mkPod("default", "remote-web", "10.42.2.30", map[string]string{"app": "web"}, onNode("n2"), port("http", 8080, v1.ProtocolTCP)),
		mkPod("default", "hostnet", "192.168.1.10", map[string]string{"app": "web"}, hostNet()),
		mkPod("default", "done", "10.42.1.99", map[string]string{"role": "client"}, phase(v1.PodSucceeded)),
		mkPod("other", "client", "10.42.2.20", map[string]string{"role": "client"}, onNode("n2")),
		mkPod("other", "web2", "10.42.2.21", map[string]string{"app": "web"}, onNode("n2"), port("http", 9090, v1.ProtocolTCP)),
		mkPod("kube-system", "dns", "10.42.2.53", map[string]string{"k8s-app": "dns"}, onNode("n2")),
	}
	nss = []*v1.Namespace{mkNS("default", map[string]string{"team": "a"}), mkNS("other", map[string]string{"team": "b"}), mkNS("kube-system", nil)}
	return pods, nss
}

type polOpt func(*networkingv1.NetworkPolicy)

func mkPol(ns, name string, sel map[string]string, opts ...polOpt) *networkingv1.NetworkPolicy {
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: sel}},
	}
	for _, o := range opts {
		o(np)
	}
	return np
}

func types(ts ...networkingv1.PolicyType) polOpt {
	return func(np *networkingv1.NetworkPolicy) { np.Spec.PolicyTypes = ts }
}

func ingress(rules ...networkingv1.NetworkPolicyIngressRule) polOpt {
	return func(np *networkingv1.NetworkPolicy) { np.Spec.Ingress = append(np.Spec.Ingress, rules...) }
}

func egress(rules ...networkingv1.NetworkPolicyEgressRule) polOpt {
	return func(np *networkingv1.NetworkPolicy) { np.Spec.Egress = append(np.Spec.Egress, rules...) }
}

func sel(kv ...string) *metav1.LabelSelector {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return &metav1.LabelSelector{MatchLabels: m}
}

func podPeer(kv ...string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{PodSelector: sel(kv...)}
}

func nsPeer(kv ...string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{NamespaceSelector: sel(kv...)}
}

func tcp(p int) networkingv1.NetworkPolicyPort {
	proto := v1.ProtocolTCP
	ip := intstr.FromInt32(int32(p))
	return networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &ip}
}

func proto(pr v1.Protocol, p intstr.IntOrString) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Protocol: &pr, Port: &p}
}

// check is one new connection and whether policy allows it.
type check struct {
	from, to string // pod key (namespace/name) or IPv4 address
	proto    string
	port     uint16
	want     bool
}

func TestSemantics(t *testing.T) {
	denyAllIngress := mkPol("default", "deny-all", nil, types(networkingv1.PolicyTypeIngress))
	webSel := map[string]string{"app": "web"}
	endPort := int32(8100)
	cases := []struct {
		name        string
		policies    []*networkingv1.NetworkPolicy
		checks      []check
		wantIngress []string // isolated local pods, if non-nil
		wantEgress  []string
	}{
		{
			name: "default allow",
			checks: []check{
				{"default/client", "default/web", "tcp", 80, true},
				{"203.0.113.5", "default/web", "udp", 53, true},
				{"default/web", "203.0.113.5", "tcp", 443, true},
			},
			wantIngress: []string{}, wantEgress: []string{},
		},
		{
			name:     "deny-all ingress",
			policies: []*networkingv1.NetworkPolicy{denyAllIngress},
			checks: []check{
				{"default/client", "default/web", "tcp", 80, false},
				{"other/client", "default/web", "tcp", 80, false},
				{"203.0.113.5", "default/client", "udp", 53, false},
				// The node and its bridge gateway reach local pods.
				{"192.168.1.10", "default/web", "tcp", 80, true},
				{"10.42.1.1", "default/web", "tcp", 80, true},
				// Egress is not isolated.
				{"default/web", "other/web2", "tcp", 80, true},
				// A pod on another node is not isolated here.
				{"default/client", "default/remote-web", "tcp", 8080, true},
			},
			wantIngress: []string{"default/client", "default/stranger", "default/web"}, wantEgress: []string{},
		},
		{
			name: "allow from label",
			policies: []*networkingv1.NetworkPolicy{denyAllIngress, mkPol("default", "allow-client", webSel,
				ingress(networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{podPeer("role", "client")}}))},
			checks: []check{
				{"default/client", "default/web", "tcp", 80, true},
				{"default/client", "default/web", "udp", 9999, true},
				{"default/stranger", "default/web", "tcp", 80, false},
				// podSelector alone means the policy's namespace.
				{"other/client", "default/web", "tcp", 80, false},
				// Finished pods are not peers.
				{"10.42.1.99", "default/web", "tcp", 80, false},
			},
		},
		{
			name: "namespaceSelector",
			policies: []*networkingv1.NetworkPolicy{mkPol("default", "from-b", webSel,
				ingress(networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{nsPeer("team", "b")}}))},
			checks: []check{
				{"other/client", "default/web", "tcp", 80, true},
				{"other/web2", "default/web", "tcp", 80, true},
				{"default/client", "default/web", "tcp", 80, false},
				{"kube-system/dns", "default/web", "tcp", 80, false},
			},
		},
		{
			name: "namespaceSelector by metadata.name",
			policies: []*networkingv1.NetworkPolicy{mkPol("default", "from-ks", webSel,
				ingress(networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{nsPeer("kubernetes.io/metadata.name", "kube-system")}}))},
			checks: []check{
				{"kube-system/dns", "default/web", "tcp", 80, true},
				{"other/client", "default/web", "tcp", 80, false},
			},
		},
		{
			name: "both selectors in one peer",
			policies: []*networkingv1.NetworkPolicy{mkPol("default", "and", webSel,
				ingress(networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: sel("team", "b"), PodSelector: sel("role", "client"),
				}}}))},
			checks: []check{
				{"other/client", "default/web", "tcp", 80, true},
				{"other/web2", "default/web", "tcp", 80, false},
				{"default/client", "default/web", "tcp", 80, false},
			},
		},
		{
			name: "selectors in two peers",
			policies: []*networkingv1.NetworkPolicy{mkPol("default", "or", webSel,
				ingress(networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{
					nsPeer("team", "b"), podPeer("role", "client"),
				}}))},
			checks: []check{
				{"other/client", "default/web", "tcp", 80, true},
				{"other/web2", "default/web", "tcp", 80, true},
				{"default/client", "default/web", "tcp", 80, true},
				{"default/stranger", "default/web", "tcp", 80, false},
			},
		},
		{
			name: "ipBlock with except",
			policies: []*networkingv1.NetworkPolicy{mkPol("default", "cidr", webSel,
				ingress(networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{{
					IPBlock: &networkingv1.IPBlock{CIDR: "203.0.113.0/24", Except: []string{"203.0.113.128/25", "203.0.113.7/32"}},
				}}}))},
			checks: []check{
				{"203.0.113.5", "default/web", "tcp", 80, true},
				{"203.0.113.8", "default/web", "tcp", 80, true},
				{"203.0.113.7", "default/web", "tcp", 80, false},
				{"203.0.113.200", "default/web", "tcp", 80, false},
				{"default/client", "default/web", "tcp", 80, false},
			},
		},
		{
			name: "named port resolves against the destination pod",
			policies: []*networkingv1.NetworkPolicy{mkPol("default", "named", webSel,
				ingress(networkingv1.NetworkPolicyIngressRule{Ports: []networkingv1.NetworkPolicyPort{
					proto(v1.ProtocolTCP, intstr.FromString("http")),
					proto(v1.ProtocolTCP, intstr.FromString("dns")), // the pod's "dns" is UDP
					proto(v1.ProtocolTCP, intstr.FromString("missing")),
				}}))},
			checks: []check{
				{"default/client", "default/web", "tcp", 8080, true},
				{"203.0.113.5", "default/web", "tcp", 8080, true},
				{"default/client", "default/web", "tcp", 80, false},
				{"default/client", "default/web", "udp", 8080, false},
				{"default/client", "default/web", "udp", 5353, false},
				{"default/client", "default/web", "tcp", 5353, false},
			},
		},
		{
			name: "unresolvable named port allows nothing",
			policies: []*networkingv1.NetworkPolicy{mkPol("default", "named", webSel,
				ingress(networkingv1.NetworkPolicyIngressRule{Ports: []networkingv1.NetworkPolicyPort{
					proto(v1.ProtocolTCP, intstr.FromString("missing")),
				}}))},
			checks: []check{
				{"default/client", "default/web", "tcp", 8080, false},
				{"default/client", "default/web", "udp", 1, false},
			},
		},
		{
			name: "endPort",
			policies: []*networkingv1.NetworkPolicy{mkPol("default", "range", webSel,
				ingress(networkingv1.NetworkPolicyIngressRule{Ports: []networkingv1.NetworkPolicyPort{func() networkingv1.NetworkPolicyPort {
					p := tcp(8000)
					p.EndPort = &endPort
					return p
				}()}}))},
			checks: []check{
				{"default/client", "default/web", "tcp", 8000, true},
				{"default/client", "default/web", "tcp", 8050, true},
				{"default/client", "default/web", "tcp", 8100, true},
				{"default/client", "default/web", "tcp", 8101, false},
				{"default/client", "default/web", "tcp", 7999, false},
				{"default/client", "default/web", "udp", 8050, false},
			},
		},
		{
			name: "protocol without port",
			policies: []*networkingv1.NetworkPolicy{mkPol("default", "udp", webSel,
				ingress(networkingv1.NetworkPolicyIngressRule{Ports: []networkingv1.NetworkPolicyPort{{Protocol: func() *v1.Protocol { p := v1.ProtocolUDP; return &p }()}}}))},
			checks: []check{
				{"default/client", "default/web", "udp", 1234, true},
				{"default/client", "default/web", "tcp", 1234, false},
			},
		},
		{
			name: "egress deny with DNS allowed",
			policies: []*networkingv1.NetworkPolicy{mkPol("default", "dns-only", nil, types(networkingv1.PolicyTypeEgress),
				egress(networkingv1.NetworkPolicyEgressRule{Ports: []networkingv1.NetworkPolicyPort{
					proto(v1.ProtocolUDP, intstr.FromInt32(53)), tcp(53),
				}}))},
			checks: []check{
				{"default/client", "kube-system/dns", "udp", 53, true},
				{"default/client", "kube-system/dns", "tcp", 53, true},
				{"default/client", "203.0.113.5", "udp", 53, true},
				{"default/client", "kube-system/dns", "udp", 54, false},
				{"default/client", "default/web", "tcp", 80, false},
				{"default/client", "203.0.113.5", "tcp", 443, false},
				// Ingress stays open.
				{"other/client", "default/web", "tcp", 80, true},
				// Remote pods' egress is not ours.
				{"other/client", "203.0.113.5", "tcp", 443, true},
			},
			wantIngress: []string{}, wantEgress: []string{"default/client", "default/stranger", "default/web"},
		},
		{
			name: "egress named port resolves against the destination pods",
			policies: []*networkingv1.NetworkPolicy{mkPol("default", "to-http", map[string]string{"role": "client"}, types(networkingv1.PolicyTypeEgress),
				egress(networkingv1.NetworkPolicyEgressRule{
					To:    []networkingv1.NetworkPolicyPeer{{NamespaceSelector: sel(), PodSelector: sel("app", "web")}},
					Ports: []networkingv1.NetworkPolicyPort{proto(v1.ProtocolTCP, intstr.FromString("http"))},
				}))},
			checks: []check{
				{"default/client", "default/web", "tcp", 8080, true},
				{"default/client", "other/web2", "tcp", 9090, true},
				{"default/client", "other/web2", "tcp", 8080, false},
				{"default/client", "default/web", "tcp", 9090, false},
				{"default/client", "kube-system/dns", "tcp", 8080, false},
			},
			wantIngress: []string{}, wantEgress: []string{"default/client"},
		},
		{
			name: "union of two policies",
			policies: []*networkingv1.NetworkPolicy{
				mkPol("default", "p1", webSel, ingress(networkingv1.NetworkPolicyIngressRule{
					From: []networkingv1.NetworkPolicyPeer{podPeer("role", "client")}, Ports: []networkingv1.NetworkPolicyPort{tcp(80)}})),
				mkPol("default", "p2", webSel, ingress(networkingv1.NetworkPolicyIngressRule{
					From: []networkingv1.NetworkPolicyPeer{podPeer("role", "stranger")}, Ports: []networkingv1.NetworkPolicyPort{tcp(443)}})),
			},
			checks: []check{
				{"default/client", "default/web", "tcp", 80, true},
				{"default/client", "default/web", "tcp", 443, false},
				{"default/stranger", "default/web", "tcp", 443, true},
				{"default/stranger", "default/web", "tcp", 80, false},
			},
			wantIngress: []string{"default/web"},
		},
		{
			name: "egress rules alone isolate ingress too (policyTypes default)",
			policies: []*networkingv1.NetworkPolicy{mkPol("default", "eg", webSel,
				egress(networkingv1.NetworkPolicyEgressRule{}))},
			checks: []check{
				{"default/client", "default/web", "tcp", 80, false},
				{"default/web", "203.0.113.5", "tcp", 80, true},
			},
			wantIngress: []string{"default/web"}, wantEgress: []string{"default/web"},
		},
		{
			name: "local pod to local pod needs both directions",
			policies: []*networkingv1.NetworkPolicy{
				mkPol("default", "client-egress", map[string]string{"role": "client"}, types(networkingv1.PolicyTypeEgress),
					egress(networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{podPeer("app", "web")}})),
				mkPol("default", "web-ingress", webSel, ingress(networkingv1.NetworkPolicyIngressRule{
					From: []networkingv1.NetworkPolicyPeer{podPeer("role", "stranger")}})),
			},
			checks: []check{
				{"default/client", "default/web", "tcp", 80, false},
				{"default/stranger", "default/web", "tcp", 80, true},
				{"default/client", "default/stranger", "tcp", 80, false},
			},
		},
		{
			name:     "policy in another namespace selects nothing here",
			policies: []*networkingv1.NetworkPolicy{mkPol("other", "deny", nil, types(networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress))},
			checks: []check{
				{"default/client", "default/web", "tcp", 80, true},
			},
			wantIngress: []string{}, wantEgress: []string{},
		},
		{
			name: "empty from allows all sources; hostNetwork pods are never isolated",
			policies: []*networkingv1.NetworkPolicy{mkPol("default", "all", webSel,
				ingress(networkingv1.NetworkPolicyIngressRule{Ports: []networkingv1.NetworkPolicyPort{tcp(80)}}))},
			checks: []check{
				{"203.0.113.200", "default/web", "tcp", 80, true},
				{"203.0.113.200", "default/web", "tcp", 81, false},
			},
			wantIngress: []string{"default/web"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pods, nss := world()
			in := inputs{nodeName: testNode, node: testNodeObj(), pods: pods, policies: tc.policies, namespaces: map[string]map[string]string{}}
			for _, ns := range nss {
				in.namespaces[ns.Name] = ns.Labels
			}
			d := compute(in, func(msg string, args ...any) { t.Logf("warn: %s %v", msg, args) })
			addr := func(s string) uint32 {
				if ip, ok := ipv4(s); ok {
					return ip
				}
				for _, p := range pods {
					if podKey(p) == s {
						ip, _ := ipv4(p.Status.PodIP)
						return ip
					}
				}
				t.Fatalf("unknown endpoint %q", s)
				return 0
			}
			for _, c := range tc.checks {
				if got := d.allows(addr(c.from), addr(c.to), c.proto, c.port); got != c.want {
					t.Errorf("%s -> %s %s/%d: allowed=%v, want %v", c.from, c.to, c.proto, c.port, got, c.want)
				}
			}
			keys := func(l []isolated) []string {
				out := []string{}
				for _, i := range l {
					out = append(out, i.key)
				}
				return out
			}
			if tc.wantIngress != nil && !slices.Equal(keys(d.ingress), tc.wantIngress) {
				t.Errorf("isolated for ingress = %v, want %v", keys(d.ingress), tc.wantIngress)
			}
			if tc.wantEgress != nil && !slices.Equal(keys(d.egress), tc.wantEgress) {
				t.Errorf("isolated for egress = %v, want %v", keys(d.egress), tc.wantEgress)
			}
			// Every case renders into a transaction the fake accepts.
			nft := knftables.NewFake(knftables.IPv4Family, TableName)
			tx := nft.NewTransaction()
			render(tx, d)
			if err := nft.Run(context.Background(), tx); err != nil {
				t.Fatalf("rendered transaction rejected: %v\n%s", err, tx)
			}
		})
	}
}

func TestRangeHelpers(t *testing.T) {
	r, _ := cidrRange("10.0.0.0/24")
	got := subtract([]ipRange{r}, ipRange{lo: r.lo + 10, hi: r.lo + 19})
	if len(got) != 2 || got[0].hi != r.lo+9 || got[1].lo != r.lo+20 || got[1].hi != r.hi {
		t.Fatalf("subtract = %+v", got)
	}
	all, _ := cidrRange("0.0.0.0/0")
	if all.lo != 0 || all.hi != 0xffffffff {
		t.Fatalf("0.0.0.0/0 = %+v", all)
	}
	m := mergeRanges([]ipRange{{5, 5}, {1, 3}, {4, 4}, {10, 12}, {11, 20}})
	if !slices.Equal(m, []ipRange{{1, 5}, {10, 20}}) {
		t.Fatalf("merge = %+v", m)
	}
	for ip, want := range map[uint32]bool{0: false, 1: true, 5: true, 6: false, 9: false, 10: true, 20: true, 21: false} {
		if got := inRanges(m, ip); got != want {
			t.Errorf("inRanges(%d) = %v, want %v", ip, got, want)
		}
	}
	if _, ok := cidrRange("fd00::/64"); ok {
		t.Fatal("IPv6 CIDR accepted")
	}
	if pm := portMatches([]portRange{{"tcp", 80, 80}, {"tcp", 79, 85}, {"udp", 53, 53}, {"sctp", 0, 0}}); !slices.Equal(pm,
		[]string{"meta l4proto sctp", "meta l4proto tcp th dport { 79-85 }", "meta l4proto udp th dport { 53 }"}) {
		t.Fatalf("portMatches = %q", pm)
	}
}

// TestRender checks the table layout on the fake.
func TestRender(t *testing.T) {
	pods, nss := world()
	endPort := int32(8100)
	pols := []*networkingv1.NetworkPolicy{
		mkPol("default", "web", map[string]string{"app": "web"}, ingress(networkingv1.NetworkPolicyIngressRule{
			From: []networkingv1.NetworkPolicyPeer{podPeer("role", "client"), {IPBlock: &networkingv1.IPBlock{CIDR: "203.0.113.0/24", Except: []string{"203.0.113.128/25"}}}},
			Ports: []networkingv1.NetworkPolicyPort{tcp(80), func() networkingv1.NetworkPolicyPort {
				p := tcp(8000)
				p.EndPort = &endPort
				return p
			}()},
		})),
		mkPol("default", "client", map[string]string{"role": "client"}, types(networkingv1.PolicyTypeEgress), egress(networkingv1.NetworkPolicyEgressRule{
			To:    []networkingv1.NetworkPolicyPeer{podPeer("app", "web")},
			Ports: []networkingv1.NetworkPolicyPort{proto(v1.ProtocolTCP, intstr.FromString("http"))},
		})),
	}
	in := inputs{nodeName: testNode, node: testNodeObj(), pods: pods, policies: pols, namespaces: map[string]map[string]string{}}
	for _, ns := range nss {
		in.namespaces[ns.Name] = ns.Labels
	}
	nft := knftables.NewFake(knftables.IPv4Family, TableName)
	tx := nft.NewTransaction()
	render(tx, compute(in, nil))
	if err := nft.Run(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	dump := nft.Dump()
	ingChain := podChainName(dirIngress, "default/web")
	egChain := podChainName(dirEgress, "default/client")
	for _, want := range []string{
		"add chain ip skiff-netpol forward { type filter hook forward priority 0 ;",
		"add rule ip skiff-netpol forward ct state established,related accept",
		"add rule ip skiff-netpol forward ip saddr @node-ips accept",
		"add rule ip skiff-netpol forward ip saddr vmap @egress-pods",
		"add rule ip skiff-netpol forward ip daddr vmap @ingress-pods",
		"add element ip skiff-netpol node-ips { 10.42.1.1 }",
		"add element ip skiff-netpol node-ips { 192.168.1.10 }",
		"add element ip skiff-netpol ingress-pods { 10.42.1.10 : jump " + ingChain + " }",
		"add element ip skiff-netpol egress-pods { 10.42.1.11 : jump " + egChain + " }",
		"add rule ip skiff-netpol " + ingChain + " ip saddr { 10.42.1.11, 203.0.113.0-203.0.113.127 } meta l4proto tcp th dport { 80, 8000-8100 } return",
		"add rule ip skiff-netpol " + ingChain + " counter name dropped drop",
		"add counter ip skiff-netpol dropped",
		// remote-web is on n2 but still a destination with the named port.
		"add rule ip skiff-netpol " + egChain + " ip daddr . meta l4proto . th dport { 10.42.1.10 . tcp . 8080, 10.42.2.30 . tcp . 8080 } return",
	} {
		if !strings.Contains(dump, want) {
			t.Errorf("table lacks %q:\n%s", want, dump)
		}
	}
}

// TestEnforcerRun drives the whole enforcer with a fake clientset: the
// table follows policy changes, and metrics are set.
func TestEnforcerRun(t *testing.T) {
	pods, nss := world()
	objs := []runtime.Object{testNodeObj()}
	for _, p := range pods {
		objs = append(objs, p)
	}
	for _, ns := range nss {
		objs = append(objs, ns)
	}
	objs = append(objs, mkPol("default", "deny", nil, types(networkingv1.PolicyTypeIngress)))
	client := fake.NewClientset(objs...)
	nft := knftables.NewFake(knftables.IPv4Family, TableName)
	reg := prometheus.NewRegistry()
	e, err := New(client, Config{NodeName: testNode, NFT: nft, Logger: quietLogger(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	})
	waitFor := func(what string, cond func(dump string) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			dump := nft.Dump()
			if cond(dump) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; table:\n%s", what, dump)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	web := podChainName(dirIngress, "default/web")
	waitFor("deny-all chains", func(d string) bool {
		return strings.Contains(d, "ingress-pods { 10.42.1.10 : jump "+web+" }") &&
			strings.Contains(d, "ingress-pods { 10.42.1.11 : jump ")
	})
	if got := gaugeValue(t, reg, "skiff_netpol_isolated_pods", "ingress"); got != 3 {
		t.Errorf("isolated ingress pods metric = %v, want 3", got)
	}
	if got := gaugeValue(t, reg, "skiff_netpol_policies", ""); got != 1 {
		t.Errorf("policies metric = %v, want 1", got)
	}
	if got := gaugeValue(t, reg, "skiff_netpol_dropped_packets_total", ""); got != 0 {
		t.Errorf("dropped packets metric = %v, want 0", got)
	}

	// A new local pod is isolated as soon as it has an IP.
	if _, err := client.CoreV1().Pods("default").Create(ctx, mkPod("default", "late", "10.42.1.50", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("new pod isolated", func(d string) bool { return strings.Contains(d, "ingress-pods { 10.42.1.50 : jump ") })

	// Deleting the policy opens everything again.
	if err := client.NetworkingV1().NetworkPolicies("default").Delete(ctx, "deny", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("policy removal", func(d string) bool {
		return strings.Contains(d, "add chain ip skiff-netpol forward") && !strings.Contains(d, "add element ip skiff-netpol ingress-pods")
	})
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name, direction string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := direction == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "direction" && l.GetValue() == direction {
					match = true
				}
			}
			if match {
				if c := m.GetCounter(); c != nil {
					return c.GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("metric %s{%s} not found", name, direction)
	return 0
}

func TestNewErrors(t *testing.T) {
	if _, err := New(nil, Config{NodeName: "x", NFT: knftables.NewFake(knftables.IPv4Family, TableName)}); err == nil {
		t.Error("nil client accepted")
	}
	if _, err := New(fake.NewClientset(), Config{NFT: knftables.NewFake(knftables.IPv4Family, TableName)}); err == nil {
		t.Error("empty NodeName accepted")
	}
}

// TestDuplicateAddress: two live local pods reporting the same address
// (a stale status) must not break the transaction.
func TestDuplicateAddress(t *testing.T) {
	in := inputs{
		nodeName: testNode, node: testNodeObj(),
		pods: []*v1.Pod{
			mkPod("default", "old", "10.42.1.10", nil),
			mkPod("default", "new", "10.42.1.10", nil),
		},
		policies: []*networkingv1.NetworkPolicy{mkPol("default", "deny", nil, types(networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress))},
	}
	nft := knftables.NewFake(knftables.IPv4Family, TableName)
	tx := nft.NewTransaction()
	render(tx, compute(in, nil))
	if err := nft.Run(context.Background(), tx); err != nil {
		t.Fatalf("transaction rejected: %v\n%s", err, tx)
	}
	if n := strings.Count(nft.Dump(), "add element ip skiff-netpol ingress-pods { 10.42.1.10 "); n != 1 {
		t.Fatalf("address mapped %d times:\n%s", n, nft.Dump())
	}
}

// TestInvalidInput: bad selectors and CIDRs are skipped, never fatal.
func TestInvalidInput(t *testing.T) {
	bad := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Bogus"}}}
	pods, _ := world()
	in := inputs{
		nodeName: testNode, node: testNodeObj(), pods: pods,
		policies: []*networkingv1.NetworkPolicy{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "badsel"}, Spec: networkingv1.NetworkPolicySpec{PodSelector: *bad}},
			mkPol("default", "badpeers", map[string]string{"app": "web"}, ingress(networkingv1.NetworkPolicyIngressRule{
				From: []networkingv1.NetworkPolicyPeer{
					{PodSelector: bad}, {NamespaceSelector: bad}, {IPBlock: &networkingv1.IPBlock{CIDR: "nonsense"}},
					{IPBlock: &networkingv1.IPBlock{CIDR: "fd00::/64"}}, {},
				},
			})),
		},
	}
	var warnings int
	d := compute(in, func(string, ...any) { warnings++ })
	if warnings == 0 {
		t.Error("no warnings for invalid input")
	}
	web, _ := ipv4("10.42.1.10")
	client, _ := ipv4("10.42.1.11")
	if d.allows(client, web, "tcp", 80) {
		t.Error("invalid peers allowed traffic")
	}
	nft := knftables.NewFake(knftables.IPv4Family, TableName)
	tx := nft.NewTransaction()
	render(tx, d)
	if err := nft.Run(context.Background(), tx); err != nil {
		t.Fatalf("transaction rejected: %v", err)
	}
}
