package network

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink"
)

// RouteTable is the part of the kernel's routing table this package owns:
// routes to pod CIDRs, marked as ours so that no other route is touched.
type RouteTable interface {
	// List returns our routes, destination CIDR → gateway.
	List() (map[string]string, error)
	// Replace adds or changes the route to dst.
	Replace(dst, gw string) error
	// Delete removes our route to dst.
	Delete(dst string) error
}

// routeProtocol marks the routes skiff adds (see /etc/iproute2/rt_protos:
// values below 253 that no daemon claims are free for private use).
const routeProtocol netlink.RouteProtocol = 0x5c

type netlinkRoutes struct{}

var _ RouteTable = netlinkRoutes{}

func (netlinkRoutes) List() (map[string]string, error) {
	rs, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: routeProtocol, Table: syscall.RT_TABLE_MAIN},
		netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, r := range rs {
		if r.Dst == nil || r.Gw == nil {
			continue
		}
		out[r.Dst.String()] = r.Gw.String()
	}
	return out, nil
}

func (netlinkRoutes) Replace(dst, gw string) error {
	_, cidr, err := net.ParseCIDR(dst)
	if err != nil {
		return err
	}
	ip := net.ParseIP(gw)
	if ip == nil {
		return fmt.Errorf("gateway %q is not an IP address", gw)
	}
	return netlink.RouteReplace(&netlink.Route{Dst: cidr, Gw: ip, Protocol: routeProtocol})
}

func (netlinkRoutes) Delete(dst string) error {
	_, cidr, err := net.ParseCIDR(dst)
	if err != nil {
		return err
	}
	err = netlink.RouteDel(&netlink.Route{Dst: cidr, Protocol: routeProtocol})
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// MemoryRoutes is a RouteTable in memory, for tests.
type MemoryRoutes struct {
	mu     sync.Mutex
	routes map[string]string
}

var _ RouteTable = (*MemoryRoutes)(nil)

// List implements RouteTable.
func (m *MemoryRoutes) List() (map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	for k, v := range m.routes {
		out[k] = v
	}
	return out, nil
}

// Replace implements RouteTable.
func (m *MemoryRoutes) Replace(dst, gw string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.routes == nil {
		m.routes = map[string]string{}
	}
	m.routes[dst] = gw
	return nil
}

// Delete implements RouteTable.
func (m *MemoryRoutes) Delete(dst string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.routes, dst)
	return nil
}
