package localcluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
)

// hostTable is the host's nftables table: it masquerades what nodes send
// out of the machine.
const hostTable = "skiff-up"

// ip runs one `ip` command.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

func netnsExists(name string) bool {
	_, err := os.Stat("/run/netns/" + name)
	return err == nil
}

// setupHost makes the bridge with the host's address, and lets nodes
// reach beyond the machine (forwarding, masquerade of the node subnet).
func (c *Cluster) setupHost() error {
	if !linkExists(c.cfg.Bridge) {
		if err := ip("link", "add", c.cfg.Bridge, "type", "bridge"); err != nil {
			return err
		}
	}
	_, subnet, _ := net.ParseCIDR(c.cfg.Subnet)
	ones, _ := subnet.Mask.Size()
	if err := ip("addr", "replace", fmt.Sprintf("%s/%d", c.HostIP, ones), "dev", c.cfg.Bridge); err != nil {
		return err
	}
	if err := ip("link", "set", c.cfg.Bridge, "up"); err != nil {
		return err
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enabling IP forwarding: %w", err)
	}
	rules := fmt.Sprintf(`table ip %[1]s {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr %[2]s oifname != "%[3]s" masquerade
	}
}
`, hostTable, subnet, c.cfg.Bridge)
	// Replaced whole: delete (if there) and add in one nft run.
	script := fmt.Sprintf("table ip %s\ndelete table ip %s\n%s", hostTable, hostTable, rules)
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft: %v: %s", err, out)
	}
	return nil
}

// setupNode makes the node's namespace and its link to the bridge, if
// missing (after a reboot, all of them are).
func (c *Cluster) setupNode(n Node) error {
	if err := os.MkdirAll(n.Dir, 0o700); err != nil {
		return err
	}
	if !netnsExists(n.Netns) {
		if err := ip("netns", "add", n.Netns); err != nil {
			return err
		}
	}
	// A namespace made again (after a reboot, or deleted by hand) has no
	// eth0 while the old pair's host end may linger for a moment.
	if exec.Command("ip", "-n", n.Netns, "link", "show", "eth0").Run() != nil {
		if linkExists(n.HostLink) {
			_ = ip("link", "del", n.HostLink)
		}
		if err := ip("link", "add", n.HostLink, "type", "veth", "peer", "name", "eth0", "netns", n.Netns); err != nil {
			return err
		}
	}
	if err := ip("link", "set", n.HostLink, "master", c.cfg.Bridge, "up"); err != nil {
		return err
	}
	_, subnet, _ := net.ParseCIDR(c.cfg.Subnet)
	ones, _ := subnet.Mask.Size()
	for _, args := range [][]string{
		{"addr", "replace", fmt.Sprintf("%s/%d", n.IP, ones), "dev", "eth0"},
		{"link", "set", "eth0", "up"},
		{"link", "set", "lo", "up"},
		{"route", "replace", "default", "via", c.HostIP},
	} {
		if err := ip(append([]string{"-n", n.Netns}, args...)...); err != nil {
			return err
		}
	}
	return nil
}

// SetLink sets the node's link up or down: down cuts the node off from
// every other node and from the host, as a network partition would.
func (c *Cluster) SetLink(n Node, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	return ip("link", "set", n.HostLink, state)
}

// teardownHost removes the bridge and the host table; links and
// namespaces go with teardownNode.
func (c *Cluster) teardownHost() error {
	var errs []error
	if linkExists(c.cfg.Bridge) {
		errs = append(errs, ip("link", "del", c.cfg.Bridge))
	}
	if err := exec.Command("nft", "list", "table", "ip", hostTable).Run(); err == nil {
		if out, err := exec.Command("nft", "delete", "table", "ip", hostTable).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("nft delete table: %v: %s", err, out))
		}
	}
	return errors.Join(errs...)
}

func (c *Cluster) teardownNode(n Node) error {
	var errs []error
	if netnsExists(n.Netns) {
		errs = append(errs, ip("netns", "del", n.Netns))
	}
	// The host end usually goes with the namespace's end, a moment later.
	if linkExists(n.HostLink) {
		if err := ip("link", "del", n.HostLink); err != nil && linkExists(n.HostLink) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
