// Package localcluster builds a multi-node skiff cluster on one machine
// (`skiff up`, `skiff down`): every node is a network namespace with a
// veth on a host bridge and its own address, running its own skiff
// process (the first the server, the others agents that join it) with its
// own containerd and data dir. A node can be stopped, killed or cut off
// (link down) on its own. The state dir keeps everything a node owns, so
// `Up` on an existing dir resumes the same cluster, also after a reboot.
package localcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"skiff/internal/bootstraptoken"
)

// defaultDir is where `skiff up` keeps a cluster's state.
const defaultDir = "/var/lib/skiff/up"

// Config says where the cluster lives and how it is laid out. Zero values
// are the defaults of `skiff up`.
type Config struct {
	// Dir holds the cluster's state (default /var/lib/skiff/up).
	Dir string
	// Nodes is how many nodes a new cluster gets (default 3); an existing
	// cluster keeps its count.
	Nodes int
	// Prefix names the nodes and their namespaces: <Prefix>1 is the
	// server (default "skiff-").
	Prefix string
	// Bridge is the host bridge (default skiffbr0) and Subnet its /24:
	// the host has .1, node i has .(i+1) (default 10.230.0.0/24).
	Bridge, Subnet string
	// Binary is the skiff executable the nodes run (default: this one).
	Binary string
	// ServerArgs and AgentArgs are extra flags for the nodes.
	ServerArgs, AgentArgs []string
	// WriteKubeconfig is a second place the admin kubeconfig is written.
	WriteKubeconfig string
	// Out receives progress lines (nil: discarded).
	Out io.Writer
}

func (c *Config) defaults() error {
	if c.Dir == "" {
		c.Dir = defaultDir
	}
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.Prefix == "" {
		c.Prefix = "skiff-"
	}
	if c.Bridge == "" {
		c.Bridge = "skiffbr0"
	}
	if c.Subnet == "" {
		c.Subnet = "10.230.0.0/24"
	}
	if c.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		c.Binary = exe
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Nodes < 1 || c.Nodes > 250 {
		return fmt.Errorf("--nodes must be between 1 and 250, not %d", c.Nodes)
	}
	if len(c.Bridge) > 15 {
		return fmt.Errorf("bridge name %q is longer than 15 characters", c.Bridge)
	}
	ip, n, err := net.ParseCIDR(c.Subnet)
	if err != nil || ip.To4() == nil {
		return fmt.Errorf("subnet %q: want an IPv4 CIDR", c.Subnet)
	}
	if ones, _ := n.Mask.Size(); ones != 24 {
		return fmt.Errorf("subnet %q: want a /24", c.Subnet)
	}
	return nil
}

// state is what the state dir remembers of the cluster's layout.
type state struct {
	Nodes  int    `json:"nodes"`
	Prefix string `json:"prefix"`
	Bridge string `json:"bridge"`
	Subnet string `json:"subnet"`
	// Kubeconfig is the extra kubeconfig Up wrote, removed by Down.
	Kubeconfig string `json:"kubeconfig,omitempty"`
}

// Node is one machine of the cluster.
type Node struct {
	Name string
	// Netns is the node's network namespace (under /run/netns).
	Netns string
	// IP is the node's address on the host bridge; HostLink the host end
	// of its veth.
	IP, HostLink string
	// Dir holds the node's data, logs and PID file.
	Dir string
	// Server says whether the node runs the server.
	Server bool
}

// Cluster is a local cluster as laid out in its state dir.
type Cluster struct {
	cfg   Config
	Nodes []Node
	// HostIP is the host's address on the bridge.
	HostIP string
	// Kubeconfig is the admin kubeconfig (server at the first node's IP).
	Kubeconfig string
	// Exists says whether the state dir held the cluster already.
	Exists bool

	mu sync.Mutex
	// children are the node processes this Cluster started, by node
	// name; the channel closes when the process exits.
	children map[string]child
}

type child struct {
	pid    int
	exited chan struct{}
}

// Open reads the cluster in cfg.Dir, or lays out a new one from cfg when
// the dir holds none (nothing is created yet).
func Open(cfg Config) (*Cluster, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	st := state{Nodes: cfg.Nodes, Prefix: cfg.Prefix, Bridge: cfg.Bridge, Subnet: cfg.Subnet, Kubeconfig: cfg.WriteKubeconfig}
	data, err := os.ReadFile(filepath.Join(cfg.Dir, "cluster.json"))
	exists := err == nil
	switch {
	case exists:
		if err := json.Unmarshal(data, &st); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(cfg.Dir, "cluster.json"), err)
		}
		cfg.Prefix, cfg.Bridge, cfg.Subnet = st.Prefix, st.Bridge, st.Subnet
		if cfg.WriteKubeconfig == "" {
			cfg.WriteKubeconfig = st.Kubeconfig
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	base, _, _ := net.ParseCIDR(st.Subnet)
	addr := func(i int) string {
		ip := base.To4()
		return net.IPv4(ip[0], ip[1], ip[2], byte(i)).String()
	}
	c := &Cluster{cfg: cfg, HostIP: addr(1), Kubeconfig: filepath.Join(cfg.Dir, "kubeconfig.yaml"), Exists: exists}
	for i := 1; i <= st.Nodes; i++ {
		name := fmt.Sprintf("%s%d", st.Prefix, i)
		c.Nodes = append(c.Nodes, Node{
			Name: name, Netns: name, IP: addr(i + 1), HostLink: hostLinkName(st.Bridge, i),
			Dir: filepath.Join(cfg.Dir, name), Server: i == 1,
		})
	}
	return c, nil
}

// hostLinkName names the host end of node i's veth after the bridge, so
// that two clusters with different bridges never share link names.
func hostLinkName(bridge string, i int) string {
	suffix := fmt.Sprintf("v%d", i)
	if len(bridge)+len(suffix) > 15 {
		bridge = bridge[:15-len(suffix)]
	}
	return bridge + suffix
}

func (c *Cluster) saveState() error {
	st := state{Nodes: len(c.Nodes), Prefix: c.cfg.Prefix, Bridge: c.cfg.Bridge, Subnet: c.cfg.Subnet, Kubeconfig: c.cfg.WriteKubeconfig}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.cfg.Dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.cfg.Dir, "cluster.json"), data, 0o600)
}

// Server is the node that runs the server.
func (c *Cluster) Server() Node { return c.Nodes[0] }

// Node returns the node called name.
func (c *Cluster) Node(name string) (Node, error) {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n, nil
		}
	}
	return Node{}, fmt.Errorf("no node %q in the cluster in %s", name, c.cfg.Dir)
}

// Up creates the cluster or resumes it: the bridge, every node's
// namespace and link, and every node process that is not running; then it
// waits until every node is Ready (or ctx ends).
func Up(ctx context.Context, cfg Config) (*Cluster, error) {
	c, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	if err := c.saveState(); err != nil {
		return nil, err
	}
	if err := c.setupHost(); err != nil {
		return nil, err
	}
	for _, n := range c.Nodes {
		if err := c.setupNode(n); err != nil {
			return nil, err
		}
	}
	if err := c.StartNode(c.Server()); err != nil {
		return nil, err
	}
	fmt.Fprintf(c.cfg.Out, "waiting for the server %s (%s)\n", c.Server().Name, c.Server().IP)
	if err := c.waitServer(ctx); err != nil {
		return nil, err
	}
	if len(c.Nodes) > 1 {
		if err := c.waitJoinable(ctx); err != nil {
			return nil, err
		}
	}
	for _, n := range c.Nodes[1:] {
		if err := c.StartNode(n); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(c.cfg.Out, "waiting for %d nodes to be Ready\n", len(c.Nodes))
	if err := c.WaitReady(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// waitServer waits for the server's join token and admin kubeconfig and
// writes the kubeconfig the host uses (the server's address on the bridge
// instead of its loopback).
func (c *Cluster) waitServer(ctx context.Context) error {
	srv := c.Server()
	token := filepath.Join(srv.Dir, "server", "token")
	admin := filepath.Join(srv.Dir, "server", "admin.yaml")
	for {
		_, e1 := os.Stat(token)
		_, e2 := os.Stat(admin)
		if e1 == nil && e2 == nil {
			break
		}
		if !c.running(srv) {
			return fmt.Errorf("the server %s exited; its log is %s:\n%s", srv.Name, logPath(srv), tail(logPath(srv), 20))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the server %s: %w (log: %s)", srv.Name, ctx.Err(), logPath(srv))
		case <-time.After(200 * time.Millisecond):
		}
	}
	cfg, err := clientcmd.LoadFromFile(admin)
	if err != nil {
		return err
	}
	for _, cl := range cfg.Clusters {
		cl.Server = "https://" + net.JoinHostPort(srv.IP, "6443")
	}
	paths := []string{c.Kubeconfig}
	if c.cfg.WriteKubeconfig != "" {
		paths = append(paths, c.cfg.WriteKubeconfig)
	}
	for _, p := range paths {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := clientcmd.WriteToFile(*cfg, p); err != nil {
			return fmt.Errorf("writing kubeconfig %s: %w", p, err)
		}
	}
	return nil
}

// waitJoinable waits until the server's join token can be used: the
// public cluster-info is signed with it.
func (c *Cluster) waitJoinable(ctx context.Context) error {
	data, err := os.ReadFile(filepath.Join(c.Server().Dir, "server", "token"))
	if err != nil {
		return err
	}
	id, _, err := bootstraptoken.Parse(string(data))
	if err != nil {
		return fmt.Errorf("the server's token: %w", err)
	}
	client, err := c.Client()
	if err != nil {
		return err
	}
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		cm, err := client.CoreV1().ConfigMaps(bootstraptoken.ClusterInfoNamespace).Get(cctx, bootstraptoken.ClusterInfoName, metav1.GetOptions{})
		cancel()
		if err == nil && cm.Data[bootstraptoken.JWSKeyPrefix+id] != "" {
			return nil
		}
		if !c.running(c.Server()) {
			return fmt.Errorf("the server exited; its log is %s:\n%s", logPath(c.Server()), tail(logPath(c.Server()), 20))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the server to accept its join token: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Client is an admin client of the cluster.
func (c *Cluster) Client() (kubernetes.Interface, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return nil, err
	}
	rc.QPS, rc.Burst = 50, 100
	return kubernetes.NewForConfig(rc)
}

// WaitReady waits until every node of the cluster is Ready, as reported
// after the call began: a resumed cluster's Nodes still say Ready from
// before its processes stopped.
func (c *Cluster) WaitReady(ctx context.Context) error {
	client, err := c.Client()
	if err != nil {
		return err
	}
	// Heartbeats have a one-second resolution.
	since := time.Now().Add(-time.Second)
	for {
		notReady := c.notReady(ctx, client, since)
		if len(notReady) == 0 {
			return nil
		}
		for _, n := range c.Nodes {
			if !c.running(n) {
				return fmt.Errorf("node %s exited; its log is %s:\n%s", n.Name, logPath(n), tail(logPath(n), 20))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nodes not Ready: %s: %w", strings.Join(notReady, ", "), ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (c *Cluster) notReady(ctx context.Context, client kubernetes.Interface, since time.Time) []string {
	var out []string
	for _, n := range c.Nodes {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		nd, err := client.CoreV1().Nodes().Get(cctx, n.Name, metav1.GetOptions{})
		cancel()
		if err != nil || !nodeReady(nd, since) {
			out = append(out, n.Name)
		}
	}
	return out
}

// nodeReady says whether the node reported itself Ready at since or later.
func nodeReady(nd *corev1.Node, since time.Time) bool {
	for _, cond := range nd.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue && !cond.LastHeartbeatTime.Time.Before(since)
		}
	}
	return false
}

// PrintAccess tells a user how to reach the cluster.
func (c *Cluster) PrintAccess(w io.Writer) {
	fmt.Fprintf(w, "skiff cluster up: %d nodes\n", len(c.Nodes))
	for _, n := range c.Nodes {
		role := "agent"
		if n.Server {
			role = "server"
		}
		fmt.Fprintf(w, "  %-12s %-6s %s  (netns %s, log %s)\n", n.Name, role, n.IP, n.Netns, logPath(n))
	}
	fmt.Fprintf(w, "API server: https://%s:6443\n", c.Server().IP)
	fmt.Fprintf(w, "kubeconfig: %s", c.Kubeconfig)
	if c.cfg.WriteKubeconfig != "" {
		fmt.Fprintf(w, " and %s", c.cfg.WriteKubeconfig)
	}
	fmt.Fprintf(w, "\n  skiff kubectl --kubeconfig %s get nodes\n", c.Kubeconfig)
	down := "skiff down"
	if c.cfg.Dir != defaultDir {
		down += " --dir " + c.cfg.Dir
	}
	fmt.Fprintf(w, "Stop and remove it with: %s\n", down)
}

func logPath(n Node) string { return filepath.Join(n.Dir, "skiff.log") }

// tail returns the last lines of a file, for error messages.
func tail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return tailString(string(data), lines)
}
