package proxy

import (
	"slices"
	"sort"
	"time"

	"sigs.k8s.io/knftables"
)

// Verdict-map and set types of the shared objects.
const (
	typeAddrProtoPort = "ipv4_addr . inet_proto . inet_service : verdict"
	typeProtoPort     = "inet_proto . inet_service : verdict"
)

// baseChain is one of the fixed chains; hook chains carry type/hook/priority.
type baseChain struct {
	name     string
	typ      knftables.BaseChainType
	hook     knftables.BaseChainHook
	priority knftables.BaseChainPriority
	rules    []string
}

// baseChains is the fixed part of the table, in creation order.
var baseChains = []baseChain{
	// Regular chains first so that the hook chains' jumps resolve.
	{name: chainMarkForMasquerade, rules: []string{
		"meta mark set meta mark | " + masqueradeMark,
	}},
	{name: chainMasquerading, rules: []string{
		// Hairpin: an endpoint that reached itself through a Service
		// (source == destination after DNAT). Masquerading makes its
		// reply come back through the NAT instead of straight to itself.
		"ct status dnat ip saddr . ip daddr @" + setHairpin + " jump " + chainMarkForMasquerade,
		"meta mark & " + masqueradeMark + " == 0 return",
		// Clear the bit so a packet re-entering the stack (e.g. through
		// a tunnel) is not masqueraded twice.
		"meta mark set meta mark ^ " + masqueradeMark,
		"masquerade fully-random",
	}},
	{name: chainReject, rules: []string{
		// TCP gets a reset, everything else icmp port-unreachable, so
		// clients fail at once instead of hanging.
		"meta l4proto tcp reject with tcp reset",
		"reject",
	}},
	{name: chainServices, rules: []string{
		"ip daddr . meta l4proto . th dport vmap @" + mapServiceIPs,
		"ip daddr @" + setNodePortIPs + " meta l4proto . th dport vmap @" + mapServiceNodePorts,
	}},
	{name: chainServiceEndpointCheck, rules: []string{
		"ip daddr . meta l4proto . th dport vmap @" + mapNoEndpointServices,
	}},
	{name: chainNodePortEndpointChk, rules: []string{
		"ip daddr @" + setNodePortIPs + " meta l4proto . th dport vmap @" + mapNoEndpointNodePorts,
	}},
	{name: chainClusterIPsCheck, rules: []string{
		// A cluster IP on a port the Service does not have.
		"ip daddr @" + setClusterIPs + " reject",
	}},
	{name: chainNATPrerouting, typ: knftables.NATType, hook: knftables.PreroutingHook, priority: knftables.DNATPriority, rules: []string{
		"jump " + chainServices,
	}},
	{name: chainNATOutput, typ: knftables.NATType, hook: knftables.OutputHook, priority: knftables.DNATPriority, rules: []string{
		"jump " + chainServices,
	}},
	{name: chainNATPostrouting, typ: knftables.NATType, hook: knftables.PostroutingHook, priority: knftables.SNATPriority, rules: []string{
		"jump " + chainMasquerading,
	}},
	// The filter chains run just before DNAT (-110; dstnat is -100) so
	// they see the original destination of a Service without endpoints;
	// forward and input see packets after prerouting's DNAT anyway.
	{name: chainFilterInput, typ: knftables.FilterType, hook: knftables.InputHook, priority: "-110", rules: []string{
		"ct state new jump " + chainNodePortEndpointChk,
		"ct state new jump " + chainServiceEndpointCheck,
	}},
	{name: chainFilterForward, typ: knftables.FilterType, hook: knftables.ForwardHook, priority: "-110", rules: []string{
		"ct state new jump " + chainServiceEndpointCheck,
		"ct state new jump " + chainClusterIPsCheck,
	}},
	{name: chainFilterOutput, typ: knftables.FilterType, hook: knftables.OutputHook, priority: "-110", rules: []string{
		"ct state new jump " + chainServiceEndpointCheck,
	}},
	// After nat-output's DNAT: whatever still goes to a cluster IP hit no
	// service port.
	{name: chainFilterOutputPostDNAT, typ: knftables.FilterType, hook: knftables.OutputHook, priority: "-90", rules: []string{
		"ct state new jump " + chainClusterIPsCheck,
	}},
}

// baseMaps and baseSets are the fixed maps/sets with their types.
var (
	baseMaps = []*knftables.Map{
		{Name: mapServiceIPs, Type: typeAddrProtoPort, Comment: knftables.PtrTo("ClusterIP, ExternalIP and LoadBalancer IP traffic")},
		{Name: mapServiceNodePorts, Type: typeProtoPort, Comment: knftables.PtrTo("NodePort traffic")},
		{Name: mapNoEndpointServices, Type: typeAddrProtoPort, Comment: knftables.PtrTo("vmap to drop or reject packets to services with no endpoints")},
		{Name: mapNoEndpointNodePorts, Type: typeProtoPort, Comment: knftables.PtrTo("vmap to drop or reject packets to service nodeports with no endpoints")},
	}
	baseSets = []*knftables.Set{
		{Name: setClusterIPs, Type: "ipv4_addr", Comment: knftables.PtrTo("Active ClusterIPs")},
		{Name: setNodePortIPs, Type: "ipv4_addr", Comment: knftables.PtrTo("IPs that accept NodePort traffic")},
		{Name: setHairpin, Type: "ipv4_addr . ipv4_addr", Comment: knftables.PtrTo("endpoint . endpoint, to masquerade hairpin traffic")},
	}
)

// baseObjectCount is the number of objects (chains, rules, sets, maps) of
// the fixed part of the table.
func baseObjectCount() int {
	n := len(baseMaps) + len(baseSets) + len(baseChains)
	for _, c := range baseChains {
		n += len(c.rules)
	}
	return n
}

func isBaseChain(name string) bool {
	for _, c := range baseChains {
		if c.name == name {
			return true
		}
	}
	return false
}

func isBaseSetOrMap(name string) bool {
	for _, m := range baseMaps {
		if m.Name == name {
			return true
		}
	}
	for _, s := range baseSets {
		if s.Name == name {
			return true
		}
	}
	return false
}

// addBase adds the fixed maps, sets and chains with their rules. The
// chains must be empty (new or flushed) for the rules not to be doubled.
func addBase(tx *knftables.Transaction) {
	for _, m := range baseMaps {
		c := *m
		tx.Add(&c)
	}
	for _, s := range baseSets {
		c := *s
		tx.Add(&c)
	}
	for _, bc := range baseChains {
		ch := &knftables.Chain{Name: bc.name}
		if bc.hook != "" {
			ch.Type = knftables.PtrTo(bc.typ)
			ch.Hook = knftables.PtrTo(bc.hook)
			ch.Priority = knftables.PtrTo(bc.priority)
		}
		tx.Add(ch)
	}
	for _, bc := range baseChains {
		for _, r := range bc.rules {
			tx.Add(&knftables.Rule{Chain: bc.name, Rule: r})
		}
	}
}

func affinitySet(name string, timeout time.Duration) *knftables.Set {
	return &knftables.Set{
		Name:    name,
		Type:    "ipv4_addr",
		Flags:   []knftables.SetFlag{knftables.DynamicFlag, knftables.TimeoutFlag},
		Timeout: knftables.PtrTo(timeout),
	}
}

func elementObj(e elemDef) *knftables.Element {
	el := &knftables.Element{Key: e.key}
	if e.isSet {
		el.Set = e.container
	} else {
		el.Map = e.container
		el.Value = []string{e.value}
	}
	return el
}

func elementKeyOnly(e elemDef) *knftables.Element {
	el := &knftables.Element{Key: e.key}
	if e.isSet {
		el.Set = e.container
	} else {
		el.Map = e.container
	}
	return el
}

func nodeIPElement(ip string) *knftables.Element {
	return &knftables.Element{Set: setNodePortIPs, Key: []string{ip}}
}

// pieceDiff is what an incremental sync has to do for one Service.
type pieceDiff struct {
	newChains     []string // chains to create and fill
	rewriteChains []string // existing chains to flush and refill
	delChains     []string
	delSets       []string
	addSets       []string
}

func (d *pieceDiff) written() int { return len(d.newChains) + len(d.rewriteChains) }

// diffPieces compares what was applied for a Service (old, may be nil)
// with what it needs now (cur, may be nil).
func diffPieces(old, cur *piece) pieceDiff {
	var d pieceDiff
	if old == nil {
		old = newPiece()
	}
	if cur == nil {
		cur = newPiece()
	}
	setChanged := false
	for name, t := range old.sets {
		if nt, ok := cur.sets[name]; !ok || nt != t {
			d.delSets = append(d.delSets, name)
			if ok {
				setChanged = true
			}
		}
	}
	for name, t := range cur.sets {
		if ot, ok := old.sets[name]; !ok || ot != t {
			d.addSets = append(d.addSets, name)
		}
	}
	for name, rules := range cur.chains {
		oldRules, ok := old.chains[name]
		switch {
		case !ok:
			d.newChains = append(d.newChains, name)
		case setChanged || !slices.Equal(oldRules, rules):
			// A set being recreated must first lose every rule that
			// refers to it, hence the rewrite when any set changed.
			d.rewriteChains = append(d.rewriteChains, name)
		}
	}
	for name := range old.chains {
		if _, ok := cur.chains[name]; !ok {
			d.delChains = append(d.delChains, name)
		}
	}
	sort.Strings(d.newChains)
	sort.Strings(d.rewriteChains)
	sort.Strings(d.delChains)
	sort.Strings(d.delSets)
	sort.Strings(d.addSets)
	return d
}
