package dns

import (
	"net/netip"
	"strings"
)

// nameKind says which part of the cluster zone a query name falls in.
type nameKind int

const (
	kindNone         nameKind = iota // not in the cluster zone
	kindInvalid                      // in the zone, but no such name can exist
	kindApex                         // <domain>
	kindDNSVersion                   // dns-version.<domain>
	kindSvcZone                      // svc.<domain>
	kindNamespace                    // <ns>.svc.<domain>
	kindService                      // <svc>.<ns>.svc.<domain>
	kindEndpoint                     // <endpoint>.<svc>.<ns>.svc.<domain>
	kindProto                        // _<proto>.<svc>.<ns>.svc.<domain> (empty non-terminal)
	kindSRV                          // _<port>._<proto>.<svc>.<ns>.svc.<domain>
	kindPodZone                      // pod.<domain>
	kindPodNamespace                 // <ns>.pod.<domain>
	kindPod                          // <dashed-ip>.<ns>.pod.<domain>
)

// queryName is a query name split into the parts the Kubernetes DNS
// schema gives meaning to.
type queryName struct {
	kind      nameKind
	namespace string
	service   string
	endpoint  string     // kindEndpoint: a hostname or dashed IP
	port      string     // kindSRV: the port name, without "_"
	proto     string     // kindSRV, kindProto: "tcp", "udp" or "sctp", without "_"
	ip        netip.Addr // kindPod
}

// parseName splits name (any case, with or without the final dot) against
// the cluster domain zone, which must be lower case and fully qualified
// ("cluster.local."). It never fails: names outside the zone are kindNone,
// names inside it that the schema has no place for are kindInvalid.
func parseName(name, zone string) queryName {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	var rest string
	switch {
	case name == zone:
		return queryName{kind: kindApex}
	case strings.HasSuffix(name, "."+zone):
		rest = strings.TrimSuffix(name, "."+zone)
	default:
		return queryName{kind: kindNone}
	}
	// Escaped characters (a "\." inside a label, "\032") never form valid
	// Kubernetes names; refusing them keeps the split below honest.
	if strings.ContainsAny(rest, `\`) {
		return queryName{kind: kindInvalid}
	}
	labels := strings.Split(rest, ".")
	for _, l := range labels {
		if l == "" {
			return queryName{kind: kindInvalid}
		}
	}
	n := len(labels)
	switch labels[n-1] {
	case "dns-version":
		if n == 1 {
			return queryName{kind: kindDNSVersion}
		}
	case "svc":
		switch n {
		case 1:
			return queryName{kind: kindSvcZone}
		case 2:
			return queryName{kind: kindNamespace, namespace: labels[0]}
		case 3:
			return queryName{kind: kindService, service: labels[0], namespace: labels[1]}
		case 4:
			q := queryName{service: labels[1], namespace: labels[2]}
			if p, ok := strings.CutPrefix(labels[0], "_"); ok {
				if p == "" {
					return queryName{kind: kindInvalid}
				}
				q.kind, q.proto = kindProto, p
				return q
			}
			q.kind, q.endpoint = kindEndpoint, labels[0]
			return q
		case 5:
			port, ok1 := strings.CutPrefix(labels[0], "_")
			proto, ok2 := strings.CutPrefix(labels[1], "_")
			if !ok1 || !ok2 || port == "" || proto == "" {
				return queryName{kind: kindInvalid}
			}
			return queryName{kind: kindSRV, port: port, proto: proto, service: labels[2], namespace: labels[3]}
		}
	case "pod":
		switch n {
		case 1:
			return queryName{kind: kindPodZone}
		case 2:
			return queryName{kind: kindPodNamespace, namespace: labels[0]}
		case 3:
			ip, ok := parseDashedIP(labels[0])
			if !ok {
				return queryName{kind: kindInvalid}
			}
			return queryName{kind: kindPod, namespace: labels[1], ip: ip}
		}
	}
	return queryName{kind: kindInvalid}
}

// parseDashedIP reads the dashed form of an address used in pod and
// endpoint names: "10-42-0-5" for 10.42.0.5, "fd00--1" for fd00::1.
func parseDashedIP(s string) (netip.Addr, bool) {
	if ip, err := netip.ParseAddr(strings.ReplaceAll(s, "-", ".")); err == nil && ip.Is4() {
		return ip, true
	}
	ip, err := netip.ParseAddr(strings.ReplaceAll(s, "-", ":"))
	if err != nil || !ip.Is6() || ip.Is4In6() || ip.Zone() != "" {
		return netip.Addr{}, false
	}
	return ip, true
}

// dashedIP is the inverse of parseDashedIP.
func dashedIP(ip netip.Addr) string {
	if ip.Is4() {
		return strings.ReplaceAll(ip.String(), ".", "-")
	}
	return strings.ReplaceAll(ip.String(), ":", "-")
}

// parseReverse reads a full PTR query name (4.3.2.1.in-addr.arpa. or the 32
// nibbles of an ip6.arpa. name). Partial names are not addresses.
func parseReverse(name string) (netip.Addr, bool) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa"); ok {
		l := strings.Split(rest, ".")
		if len(l) != 4 {
			return netip.Addr{}, false
		}
		ip, err := netip.ParseAddr(l[3] + "." + l[2] + "." + l[1] + "." + l[0])
		if err != nil || !ip.Is4() {
			return netip.Addr{}, false
		}
		return ip, true
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa"); ok {
		l := strings.Split(rest, ".")
		if len(l) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i, nib := range l {
			if len(nib) != 1 {
				return netip.Addr{}, false
			}
			v := strings.IndexByte("0123456789abcdef", nib[0])
			if v < 0 {
				return netip.Addr{}, false
			}
			// l[0] is the lowest nibble of the last byte.
			pos := 31 - i
			if pos%2 == 0 {
				b[pos/2] |= byte(v) << 4
			} else {
				b[pos/2] |= byte(v)
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}
