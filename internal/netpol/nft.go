package netpol

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/knftables"
)

// Fixed object names of the table.
const (
	chainForward  = "forward"
	setNodeIPs    = "node-ips"
	mapIngressPod = "ingress-pods"
	mapEgressPod  = "egress-pods"
	counterDrops  = "dropped"
	typeAddrVerd  = "ipv4_addr : verdict"
	tableComment  = "skiff NetworkPolicy enforcement"
	// forwardPriority: filter (0). The service proxy (table skiff-proxy)
	// DNATs in prerouting (dstnat, -100), which runs before any forward
	// chain, so the forward hook sees the post-DNAT destination pod IP,
	// which is what policies talk about. Within forward, the proxy's own
	// filter chain (-110, rejects Services without endpoints) runs first;
	// an accept there does not end the packet's traversal, so our drop at
	// 0 still applies.
	forwardPriority = knftables.FilterPriority
)

// podChainName names the chain of one isolated pod; a hash keeps names
// unique and short whatever the pod's name.
func podChainName(dir direction, key string) string {
	sum := sha256.Sum256([]byte(string(dir) + "/" + key))
	h := base32.StdEncoding.EncodeToString(sum[:])[:8]
	if len(key) > 120 {
		key = key[:120]
	}
	return fmt.Sprintf("%s-%s-%s", dir, h, key)
}

// render writes the whole table into tx: created if missing, deleted and
// recreated, so one atomic transaction replaces all previous contents.
func render(tx *knftables.Transaction, d desired) {
	comment := tableComment
	tx.Add(&knftables.Table{Comment: &comment})
	tx.Delete(&knftables.Table{})
	tx.Add(&knftables.Table{Comment: &comment})

	tx.Add(&knftables.Set{Name: setNodeIPs, Type: "ipv4_addr",
		Comment: knftables.PtrTo("this node's addresses and pod gateway")})
	for _, ip := range d.nodeIPs {
		tx.Add(&knftables.Element{Set: setNodeIPs, Key: []string{formatIP(ip)}})
	}
	tx.Add(&knftables.Counter{Name: counterDrops,
		Comment: knftables.PtrTo("packets dropped by NetworkPolicy")})
	tx.Add(&knftables.Map{Name: mapIngressPod, Type: typeAddrVerd,
		Comment: knftables.PtrTo("local pods isolated for ingress")})
	tx.Add(&knftables.Map{Name: mapEgressPod, Type: typeAddrVerd,
		Comment: knftables.PtrTo("local pods isolated for egress")})

	// Pod chains before the elements that jump to them. An address claimed
	// by two pods (a stale status) goes to the first one only: a map key
	// can have one verdict.
	for _, x := range []struct {
		dir  direction
		m    string
		list []isolated
	}{{dirIngress, mapIngressPod, d.ingress}, {dirEgress, mapEgressPod, d.egress}} {
		claimed := map[uint32]bool{}
		for _, iso := range x.list {
			name := podChainName(x.dir, iso.key)
			tx.Add(&knftables.Chain{Name: name, Comment: knftables.PtrTo(string(x.dir) + " " + iso.key)})
			for _, r := range clauseRules(x.dir, iso.clauses) {
				tx.Add(&knftables.Rule{Chain: name, Rule: r})
			}
			// Nothing allowed it: drop, so the connection attempt times out.
			tx.Add(&knftables.Rule{Chain: name, Rule: "counter name " + counterDrops + " drop"})
			for _, ip := range iso.ips {
				if claimed[ip] {
					continue
				}
				claimed[ip] = true
				tx.Add(&knftables.Element{Map: x.m, Key: []string{formatIP(ip)}, Value: []string{"jump " + name}})
			}
		}
	}

	tx.Add(&knftables.Chain{
		Name:     chainForward,
		Type:     knftables.PtrTo(knftables.FilterType),
		Hook:     knftables.PtrTo(knftables.ForwardHook),
		Priority: knftables.PtrTo(forwardPriority),
		Comment:  knftables.PtrTo("NetworkPolicy for routed and bridged pod traffic"),
	})
	for _, r := range []string{
		// Replies of allowed connections.
		"ct state established,related accept",
		// The node itself (kubelet probes, host-network pods).
		"ip saddr @" + setNodeIPs + " accept",
		// Egress first: an isolated pod chain returns when allowed and
		// drops otherwise, so both directions are checked for local
		// pod-to-pod traffic.
		"ip saddr vmap @" + mapEgressPod,
		"ip daddr vmap @" + mapIngressPod,
	} {
		tx.Add(&knftables.Rule{Chain: chainForward, Rule: r})
	}
}

// clauseRules renders the allow clauses of one pod chain; each rule
// returns to the forward chain when it matches.
func clauseRules(dir direction, clauses []clause) []string {
	peerField, dstField := "ip saddr", "ip daddr"
	if dir == dirEgress {
		peerField = "ip daddr"
	}
	var out []string
	for _, c := range clauses {
		if len(c.tuples) > 0 {
			elems := make([]string, len(c.tuples))
			for i, t := range c.tuples {
				elems[i] = fmt.Sprintf("%s . %s . %d", formatIP(t.ip), t.proto, t.port)
			}
			out = append(out, fmt.Sprintf("%s . meta l4proto . th dport { %s } return", dstField, strings.Join(elems, ", ")))
			continue
		}
		peer := ""
		if !c.allPeers {
			elems := make([]string, len(c.peers))
			for i, r := range c.peers {
				if r.lo == r.hi {
					elems[i] = formatIP(r.lo)
				} else {
					elems[i] = formatIP(r.lo) + "-" + formatIP(r.hi)
				}
			}
			peer = peerField + " { " + strings.Join(elems, ", ") + " } "
		}
		if c.allPorts {
			out = append(out, peer+"return")
			continue
		}
		for _, pm := range portMatches(c.ports) {
			out = append(out, peer+pm+" return")
		}
	}
	return out
}

// portMatches groups port ranges by protocol: one match per protocol.
func portMatches(ports []portRange) []string {
	byProto := map[string][]portRange{}
	for _, p := range ports {
		byProto[p.proto] = append(byProto[p.proto], p)
	}
	protos := make([]string, 0, len(byProto))
	for p := range byProto {
		protos = append(protos, p)
	}
	sort.Strings(protos)
	var out []string
	for _, proto := range protos {
		rs := byProto[proto]
		all := false
		var elems []string
		seen := map[string]bool{}
		sort.Slice(rs, func(i, j int) bool { return rs[i].lo < rs[j].lo })
		// Merge overlapping port ranges: anonymous interval sets reject
		// overlaps.
		var merged []portRange
		for _, r := range rs {
			if r.lo == 0 {
				all = true
				break
			}
			if n := len(merged); n > 0 && int(r.lo) <= int(merged[n-1].hi)+1 {
				if r.hi > merged[n-1].hi {
					merged[n-1].hi = r.hi
				}
				continue
			}
			merged = append(merged, r)
		}
		if all {
			out = append(out, "meta l4proto "+proto)
			continue
		}
		for _, r := range merged {
			e := strconv.Itoa(int(r.lo))
			if r.hi != r.lo {
				e += "-" + strconv.Itoa(int(r.hi))
			}
			if !seen[e] {
				seen[e] = true
				elems = append(elems, e)
			}
		}
		out = append(out, fmt.Sprintf("meta l4proto %s th dport { %s }", proto, strings.Join(elems, ", ")))
	}
	return out
}
