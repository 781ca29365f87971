package netpol

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// direction is ingress or egress, as in policyTypes.
type direction string

const (
	dirIngress direction = "ingress"
	dirEgress  direction = "egress"
)

// ipRange is an inclusive range of IPv4 addresses as integers.
type ipRange struct{ lo, hi uint32 }

// portRange is an inclusive destination port range of one protocol; lo == 0
// means every port of the protocol.
type portRange struct {
	proto  string // nft name: tcp, udp, sctp
	lo, hi uint16
}

// tuple is one resolved (destination address, protocol, port) of an egress
// rule with a named port: named ports resolve against each destination pod.
type tuple struct {
	ip    uint32
	proto string
	port  uint16
}

// clause is one allow term of an isolated pod's chain: a packet matches if
// its peer address matches and its destination port matches, or if it
// matches one of the tuples. A clause matching nothing is never built.
type clause struct {
	allPeers bool
	peers    []ipRange // merged, sorted; used when !allPeers
	allPorts bool
	ports    []portRange
	tuples   []tuple // when set, the clause is tuples only
}

// isolated is one local pod isolated in one direction, with the union of
// the clauses of all policies selecting it.
type isolated struct {
	key     string // namespace/name
	ips     []uint32
	clauses []clause
}

// desired is the complete state the table should express.
type desired struct {
	nodeIPs  []uint32
	ingress  []isolated
	egress   []isolated
	policies int
}

// inputs is a consistent snapshot of the informer caches.
type inputs struct {
	nodeName   string
	node       *v1.Node
	pods       []*v1.Pod
	namespaces map[string]map[string]string // name -> labels
	policies   []*networkingv1.NetworkPolicy
}

// podInfo is a pod that can be a peer or an isolated pod.
type podInfo struct {
	pod *v1.Pod
	ips []uint32
}

// ipv4 parses s as an IPv4 address (IPv4-mapped IPv6 included).
func ipv4(s string) (uint32, bool) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return 0, false
	}
	a = a.Unmap()
	if !a.Is4() {
		return 0, false
	}
	b := a.As4()
	return binary.BigEndian.Uint32(b[:]), true
}

// cidrRange parses an IPv4 CIDR into its address range.
func cidrRange(s string) (ipRange, bool) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return ipRange{}, false
	}
	p = p.Masked()
	if !p.Addr().Is4() {
		return ipRange{}, false
	}
	b := p.Addr().As4()
	lo := binary.BigEndian.Uint32(b[:])
	hostBits := 32 - p.Bits()
	var size uint64 = 1 << uint(hostBits)
	return ipRange{lo: lo, hi: uint32(uint64(lo) + size - 1)}, true
}

func formatIP(ip uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], ip)
	return netip.AddrFrom4(b).String()
}

// mergeRanges sorts and merges overlapping or adjacent ranges: nftables
// interval sets reject overlapping elements.
func mergeRanges(rs []ipRange) []ipRange {
	if len(rs) == 0 {
		return nil
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].lo < rs[j].lo })
	out := []ipRange{rs[0]}
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if uint64(r.lo) <= uint64(last.hi)+1 {
			if r.hi > last.hi {
				last.hi = r.hi
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

// subtract removes ex from every range in rs.
func subtract(rs []ipRange, ex ipRange) []ipRange {
	var out []ipRange
	for _, r := range rs {
		if ex.hi < r.lo || ex.lo > r.hi {
			out = append(out, r)
			continue
		}
		if ex.lo > r.lo {
			out = append(out, ipRange{r.lo, ex.lo - 1})
		}
		if ex.hi < r.hi {
			out = append(out, ipRange{ex.hi + 1, r.hi})
		}
	}
	return out
}

// podIPv4s returns the pod's IPv4 addresses from its status.
func podIPv4s(p *v1.Pod) []uint32 {
	var out []uint32
	seen := map[uint32]bool{}
	add := func(s string) {
		if ip, ok := ipv4(s); ok && !seen[ip] {
			seen[ip] = true
			out = append(out, ip)
		}
	}
	for _, ip := range p.Status.PodIPs {
		add(ip.IP)
	}
	add(p.Status.PodIP)
	return out
}

// liveNetworkedPod reports whether the pod has its own network identity:
// policies neither isolate nor select host-network or finished pods.
func liveNetworkedPod(p *v1.Pod) bool {
	if p.Spec.HostNetwork {
		return false
	}
	return p.Status.Phase != v1.PodSucceeded && p.Status.Phase != v1.PodFailed
}

// policyTypes applies the API defaulting: Ingress always, Egress when the
// policy has egress rules.
func policyTypes(np *networkingv1.NetworkPolicy) (ingress, egress bool) {
	if len(np.Spec.PolicyTypes) == 0 {
		return true, len(np.Spec.Egress) > 0
	}
	for _, t := range np.Spec.PolicyTypes {
		switch t {
		case networkingv1.PolicyTypeIngress:
			ingress = true
		case networkingv1.PolicyTypeEgress:
			egress = true
		}
	}
	return ingress, egress
}

func protoName(p *v1.Protocol) string {
	if p == nil {
		return "tcp"
	}
	return strings.ToLower(string(*p))
}

// builder computes the desired state from one snapshot.
type builder struct {
	in       inputs
	warn     func(msg string, args ...any)
	pods     []podInfo             // live, networked pods with IPv4
	byNS     map[string][]int      // namespace -> indexes into pods
	nsNames  []string              // namespaces with pods, in order
	nsLabels map[string]labels.Set // namespace labels
	// Peers and egress clauses do not depend on the selected pod: computed
	// once per policy rule, whatever the number of pods it selects.
	peerCache   map[string]peerSet
	egressCache map[string][]clause
}

func (b *builder) namespaceLabels(ns string) labels.Set {
	if l, ok := b.nsLabels[ns]; ok {
		return l
	}
	// Not (yet) in the cache: the API server always sets this label.
	return labels.Set{"kubernetes.io/metadata.name": ns}
}

// compute builds the desired table contents.
func compute(in inputs, warn func(string, ...any)) desired {
	if warn == nil {
		warn = func(string, ...any) {}
	}
	b := &builder{in: in, warn: warn, nsLabels: map[string]labels.Set{},
		peerCache: map[string]peerSet{}, egressCache: map[string][]clause{}}
	for name, l := range in.namespaces {
		s := labels.Set{}
		for k, v := range l {
			s[k] = v
		}
		if _, ok := s["kubernetes.io/metadata.name"]; !ok {
			s["kubernetes.io/metadata.name"] = name
		}
		b.nsLabels[name] = s
	}
	for _, p := range in.pods {
		if !liveNetworkedPod(p) {
			continue
		}
		if ips := podIPv4s(p); len(ips) > 0 {
			b.pods = append(b.pods, podInfo{pod: p, ips: ips})
		}
	}
	sort.Slice(b.pods, func(i, j int) bool {
		a, c := b.pods[i].pod, b.pods[j].pod
		if a.Namespace != c.Namespace {
			return a.Namespace < c.Namespace
		}
		return a.Name < c.Name
	})
	b.byNS = map[string][]int{}
	for i, pi := range b.pods {
		ns := pi.pod.Namespace
		if _, ok := b.byNS[ns]; !ok {
			b.nsNames = append(b.nsNames, ns)
		}
		b.byNS[ns] = append(b.byNS[ns], i)
	}
	policies := append([]*networkingv1.NetworkPolicy(nil), in.policies...)
	sort.Slice(policies, func(i, j int) bool {
		return policies[i].Namespace+"/"+policies[i].Name < policies[j].Namespace+"/"+policies[j].Name
	})

	d := desired{nodeIPs: nodeAddresses(in.node), policies: len(policies)}
	for _, pi := range b.pods {
		if pi.pod.Spec.NodeName != in.nodeName {
			continue
		}
		var ing, eg *isolated
		for _, np := range policies {
			if np.Namespace != pi.pod.Namespace {
				continue
			}
			sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
			if err != nil {
				warn("invalid podSelector in NetworkPolicy", "policy", np.Namespace+"/"+np.Name, "err", err)
				continue
			}
			if !sel.Matches(labels.Set(pi.pod.Labels)) {
				continue
			}
			wantIn, wantEg := policyTypes(np)
			if wantIn {
				if ing == nil {
					ing = &isolated{key: podKey(pi.pod), ips: pi.ips}
				}
				for i, r := range np.Spec.Ingress {
					ing.clauses = append(ing.clauses, b.ingressClauses(np, i, pi, r)...)
				}
			}
			if wantEg {
				if eg == nil {
					eg = &isolated{key: podKey(pi.pod), ips: pi.ips}
				}
				for i, r := range np.Spec.Egress {
					key := fmt.Sprintf("%s/%s/egress/%d", np.Namespace, np.Name, i)
					cl, ok := b.egressCache[key]
					if !ok {
						cl = b.egressClauses(np, b.cachedPeers(key, np, r.To), r)
						b.egressCache[key] = cl
					}
					eg.clauses = append(eg.clauses, cl...)
				}
			}
		}
		if ing != nil {
			d.ingress = append(d.ingress, *ing)
		}
		if eg != nil {
			d.egress = append(d.egress, *eg)
		}
	}
	return d
}

func podKey(p *v1.Pod) string { return p.Namespace + "/" + p.Name }

// peerSet is the resolved peers of one rule.
type peerSet struct {
	all    bool
	ranges []ipRange // addresses (pods and ipBlocks), merged
	pods   []podInfo // selected pods (for egress named ports)
	blocks []ipRange // ipBlock ranges after except (for egress named ports)
}

// cachedPeers is peers, memoised under key.
func (b *builder) cachedPeers(key string, np *networkingv1.NetworkPolicy, list []networkingv1.NetworkPolicyPeer) peerSet {
	if ps, ok := b.peerCache[key]; ok {
		return ps
	}
	ps := b.peers(np, list)
	b.peerCache[key] = ps
	return ps
}

// peers resolves the from/to list of one rule of np.
func (b *builder) peers(np *networkingv1.NetworkPolicy, list []networkingv1.NetworkPolicyPeer) peerSet {
	if len(list) == 0 {
		return peerSet{all: true}
	}
	var ps peerSet
	selected := map[int]bool{}
	for _, peer := range list {
		if peer.IPBlock != nil {
			r, ok := cidrRange(peer.IPBlock.CIDR)
			if !ok {
				b.warn("ignoring ipBlock that is not an IPv4 CIDR", "policy", np.Namespace+"/"+np.Name, "cidr", peer.IPBlock.CIDR)
				continue
			}
			rs := []ipRange{r}
			for _, ex := range peer.IPBlock.Except {
				if er, ok := cidrRange(ex); ok {
					rs = subtract(rs, er)
				}
			}
			ps.blocks = append(ps.blocks, rs...)
			ps.ranges = append(ps.ranges, rs...)
			continue
		}
		if peer.PodSelector == nil && peer.NamespaceSelector == nil {
			continue // invalid (rejected by validation): matches nothing
		}
		var podSel, nsSel labels.Selector
		var err error
		if peer.PodSelector != nil {
			if podSel, err = metav1.LabelSelectorAsSelector(peer.PodSelector); err != nil {
				b.warn("invalid peer podSelector", "policy", np.Namespace+"/"+np.Name, "err", err)
				continue
			}
		} else {
			podSel = labels.Everything()
		}
		if peer.NamespaceSelector != nil {
			if nsSel, err = metav1.LabelSelectorAsSelector(peer.NamespaceSelector); err != nil {
				b.warn("invalid peer namespaceSelector", "policy", np.Namespace+"/"+np.Name, "err", err)
				continue
			}
		}
		// Namespaces first: a selector is matched once per namespace.
		namespaces := []string{np.Namespace} // podSelector alone: the policy's namespace
		if nsSel != nil {
			namespaces = namespaces[:0]
			for _, ns := range b.nsNames {
				if nsSel.Matches(b.namespaceLabels(ns)) {
					namespaces = append(namespaces, ns)
				}
			}
		}
		for _, ns := range namespaces {
			for _, i := range b.byNS[ns] {
				pi := b.pods[i]
				if selected[i] || !podSel.Matches(labels.Set(pi.pod.Labels)) {
					continue
				}
				selected[i] = true
				ps.pods = append(ps.pods, pi)
				for _, ip := range pi.ips {
					ps.ranges = append(ps.ranges, ipRange{ip, ip})
				}
			}
		}
	}
	ps.ranges = mergeRanges(ps.ranges)
	ps.blocks = mergeRanges(ps.blocks)
	return ps
}

// numericPorts converts the rule's ports, resolving named ports against
// pod (nil: named ports resolve to nothing). all is true when the rule has
// no ports. named collects the named entries for per-destination
// resolution.
func numericPorts(ports []networkingv1.NetworkPolicyPort, pod *v1.Pod) (all bool, out []portRange, named []networkingv1.NetworkPolicyPort) {
	if len(ports) == 0 {
		return true, nil, nil
	}
	for _, p := range ports {
		proto := protoName(p.Protocol)
		switch {
		case p.Port == nil:
			out = append(out, portRange{proto: proto})
		case p.Port.Type == intstr.Int:
			lo := p.Port.IntVal
			hi := lo
			if p.EndPort != nil && *p.EndPort >= lo {
				hi = *p.EndPort
			}
			if lo < 1 || hi > 65535 {
				continue
			}
			out = append(out, portRange{proto: proto, lo: uint16(lo), hi: uint16(hi)})
		default:
			if pod == nil {
				named = append(named, p)
				continue
			}
			if n, ok := namedPort(pod, p.Port.StrVal, proto); ok {
				out = append(out, portRange{proto: proto, lo: n, hi: n})
			}
		}
	}
	return false, out, named
}

// namedPort looks the name up in the pod's container ports.
func namedPort(pod *v1.Pod, name, proto string) (uint16, bool) {
	for _, c := range pod.Spec.Containers {
		for _, cp := range c.Ports {
			cpProto := "tcp"
			if cp.Protocol != "" {
				cpProto = strings.ToLower(string(cp.Protocol))
			}
			if cp.Name == name && cpProto == proto && cp.ContainerPort > 0 && cp.ContainerPort <= 65535 {
				return uint16(cp.ContainerPort), true
			}
		}
	}
	return 0, false
}

// ingressClauses: named ports resolve against the isolated (destination)
// pod itself.
func (b *builder) ingressClauses(np *networkingv1.NetworkPolicy, idx int, dst podInfo, r networkingv1.NetworkPolicyIngressRule) []clause {
	ps := b.cachedPeers(fmt.Sprintf("%s/%s/ingress/%d", np.Namespace, np.Name, idx), np, r.From)
	if !ps.all && len(ps.ranges) == 0 {
		return nil
	}
	all, ports, _ := numericPorts(r.Ports, dst.pod)
	if !all && len(ports) == 0 {
		return nil
	}
	return []clause{{allPeers: ps.all, peers: ps.ranges, allPorts: all, ports: ports}}
}

// egressClauses: named ports resolve against each destination pod, so they
// become (address, protocol, port) tuples.
func (b *builder) egressClauses(np *networkingv1.NetworkPolicy, ps peerSet, r networkingv1.NetworkPolicyEgressRule) []clause {
	if !ps.all && len(ps.ranges) == 0 {
		return nil
	}
	all, ports, named := numericPorts(r.Ports, nil)
	var out []clause
	if all || len(ports) > 0 {
		out = append(out, clause{allPeers: ps.all, peers: ps.ranges, allPorts: all, ports: ports})
	}
	if len(named) == 0 {
		return out
	}
	// Destination pods: the selected ones, every pod for "all peers", and
	// pods whose address lies in an ipBlock.
	var dsts []podInfo
	switch {
	case ps.all:
		dsts = b.pods
	default:
		dsts = append(dsts, ps.pods...)
		if len(ps.blocks) > 0 {
			for _, pi := range b.pods {
				for _, ip := range pi.ips {
					if inRanges(ps.blocks, ip) {
						dsts = append(dsts, podInfo{pod: pi.pod, ips: []uint32{ip}})
						break
					}
				}
			}
		}
	}
	seen := map[tuple]bool{}
	var tuples []tuple
	for _, p := range named {
		proto := protoName(p.Protocol)
		for _, pi := range dsts {
			n, ok := namedPort(pi.pod, p.Port.StrVal, proto)
			if !ok {
				continue
			}
			for _, ip := range pi.ips {
				t := tuple{ip: ip, proto: proto, port: n}
				if !seen[t] {
					seen[t] = true
					tuples = append(tuples, t)
				}
			}
		}
	}
	if len(tuples) > 0 {
		sort.Slice(tuples, func(i, j int) bool {
			a, c := tuples[i], tuples[j]
			if a.ip != c.ip {
				return a.ip < c.ip
			}
			if a.proto != c.proto {
				return a.proto < c.proto
			}
			return a.port < c.port
		})
		out = append(out, clause{tuples: tuples})
	}
	return out
}

// inRanges reports whether ip lies in rs, which is sorted and merged.
func inRanges(rs []ipRange, ip uint32) bool {
	i := sort.Search(len(rs), func(i int) bool { return rs[i].hi >= ip })
	return i < len(rs) && rs[i].lo <= ip
}

// nodeAddresses returns the node's IPv4 addresses and the gateway (.1) of
// its pod CIDR: traffic from them to local pods is always allowed.
func nodeAddresses(n *v1.Node) []uint32 {
	if n == nil {
		return nil
	}
	seen := map[uint32]bool{}
	var out []uint32
	add := func(ip uint32) {
		if !seen[ip] {
			seen[ip] = true
			out = append(out, ip)
		}
	}
	for _, a := range n.Status.Addresses {
		if a.Type != v1.NodeInternalIP && a.Type != v1.NodeExternalIP {
			continue
		}
		if ip, ok := ipv4(a.Address); ok {
			add(ip)
		}
	}
	cidrs := append([]string{n.Spec.PodCIDR}, n.Spec.PodCIDRs...)
	for _, c := range cidrs {
		if r, ok := cidrRange(c); ok && r.hi > r.lo {
			add(r.lo + 1)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// allows evaluates the desired state for one new connection, as the
// kernel rules do (tests use it as the reference semantics).
func (d desired) allows(src, dst uint32, proto string, port uint16) bool {
	if containsIP(d.nodeIPs, src) {
		return true
	}
	if iso := findIsolated(d.egress, src); iso != nil && !iso.matches(dst, dst, proto, port) {
		return false
	}
	if iso := findIsolated(d.ingress, dst); iso != nil && !iso.matches(src, dst, proto, port) {
		return false
	}
	return true
}

func containsIP(ips []uint32, ip uint32) bool {
	for _, x := range ips {
		if x == ip {
			return true
		}
	}
	return false
}

func findIsolated(list []isolated, ip uint32) *isolated {
	for i := range list {
		if containsIP(list[i].ips, ip) {
			return &list[i]
		}
	}
	return nil
}

// matches reports whether any clause allows the packet; peer is the remote
// address (source for ingress, destination for egress).
func (iso *isolated) matches(peer, dst uint32, proto string, port uint16) bool {
	for _, c := range iso.clauses {
		if len(c.tuples) > 0 {
			for _, t := range c.tuples {
				if t.ip == dst && t.proto == proto && t.port == port {
					return true
				}
			}
			continue
		}
		if !c.allPeers && !inRanges(c.peers, peer) {
			continue
		}
		if c.allPorts {
			return true
		}
		for _, p := range c.ports {
			if p.proto == proto && (p.lo == 0 || (port >= p.lo && port <= p.hi)) {
				return true
			}
		}
	}
	return false
}
