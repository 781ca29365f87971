package proxy

import (
	"net"
	"strconv"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Connectionless protocols keep their conntrack entry (and so their DNAT
// decision) for as long as packets flow. When an endpoint goes away, or a
// Service gets endpoints after packets were sent to it, the stale entries
// must be deleted or the flow sticks to the dead endpoint / the un-NATed
// path. TCP does not need this: a new connection gets a new entry.

// flowFilter selects conntrack entries to delete: protocol, original
// destination IP and port, and the reply source (the endpoint for a DNATed
// flow; the destination itself for a flow that was never DNATed).
type flowFilter struct {
	proto       uint8
	origDstIP   string
	origDstPort int
	replySrcIP  string
}

// conntrackCleaner deletes conntrack entries; replaced in unit tests.
type conntrackCleaner interface {
	clear(filters []flowFilter) error
}

// netlinkConntrack cleans the conntrack table of the current network
// namespace through netlink.
type netlinkConntrack struct{}

func (netlinkConntrack) clear(filters []flowFilter) error {
	fs := make([]netlink.CustomConntrackFilter, 0, len(filters))
	for _, f := range filters {
		var cf netlink.ConntrackFilter
		if err := cf.AddProtocol(f.proto); err != nil {
			return err
		}
		if f.origDstIP != "" {
			if err := cf.AddIP(netlink.ConntrackOrigDstIP, net.ParseIP(f.origDstIP)); err != nil {
				return err
			}
		}
		if err := cf.AddPort(netlink.ConntrackOrigDstPort, uint16(f.origDstPort)); err != nil {
			return err
		}
		if err := cf.AddIP(netlink.ConntrackReplySrcIP, net.ParseIP(f.replySrcIP)); err != nil {
			return err
		}
		fs = append(fs, &cf)
	}
	_, err := netlink.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, fs...)
	return err
}

// udpPort records, for one connectionless service port, what stale-flow
// cleanup needs: its destinations and the endpoints traffic goes to.
type udpPort struct {
	proto     uint8
	ips       []string // cluster IP, external IPs, LB ingress IPs
	port      int
	nodePort  int
	endpoints map[string]bool // endpoint IPs traffic may be DNATed to
}

func protoNumber(lproto string) uint8 {
	switch lproto {
	case "udp":
		return unix.IPPROTO_UDP
	case "sctp":
		return unix.IPPROTO_SCTP
	}
	return 0
}

// staleFlows lists the conntrack filters for the change of one Service
// from old to cur (either may be nil); nodeIPs are the NodePort addresses.
func staleFlows(old, cur *piece, nodeIPs []string) []flowFilter {
	var out []flowFilter
	var oldPorts, curPorts map[string]*udpPort
	if old != nil {
		oldPorts = old.udp
	}
	if cur != nil {
		curPorts = cur.udp
	}
	// Endpoints that no longer receive traffic of a port.
	for spn, o := range oldPorts {
		c := curPorts[spn]
		for ep := range o.endpoints {
			if c != nil && c.endpoints[ep] {
				continue
			}
			for _, ip := range o.ips {
				out = append(out, flowFilter{proto: o.proto, origDstIP: ip, origDstPort: o.port, replySrcIP: ep})
			}
			if o.nodePort != 0 {
				// Any destination: NodePort traffic may have come in on
				// any node address.
				out = append(out, flowFilter{proto: o.proto, origDstPort: o.nodePort, replySrcIP: ep})
			}
		}
	}
	// Ports that just got endpoints: flows created while there were none
	// were not DNATed.
	for spn, c := range curPorts {
		if len(c.endpoints) == 0 {
			continue
		}
		if o := oldPorts[spn]; o != nil && len(o.endpoints) > 0 {
			continue
		}
		for _, ip := range c.ips {
			out = append(out, flowFilter{proto: c.proto, origDstIP: ip, origDstPort: c.port, replySrcIP: ip})
		}
		if c.nodePort != 0 {
			for _, ip := range nodeIPs {
				out = append(out, flowFilter{proto: c.proto, origDstIP: ip, origDstPort: c.nodePort, replySrcIP: ip})
			}
		}
	}
	return out
}

func (f flowFilter) String() string {
	return strconv.Itoa(int(f.proto)) + " " + f.origDstIP + ":" + strconv.Itoa(f.origDstPort) + " reply-src " + f.replySrcIP
}
