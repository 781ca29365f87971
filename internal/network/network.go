// Package network owns a node's share of the pod network outside the CNI
// plugin: routes to every other node's pod CIDR via that node's InternalIP
// (host-gateway), masquerading of pod traffic that leaves the cluster, and
// the kernel switches both need (IP forwarding, netfilter on bridged
// traffic). It follows Node objects as nodes come and go.
package network

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/knftables"

	"skiff/internal/syncloop"
)

// TableName is the nftables table (family ip) this package owns.
const TableName = "skiff-network"

// Config is what the network component is told.
type Config struct {
	// NodeName is this node; its spec.podCIDR is the source of the
	// traffic that is masqueraded.
	NodeName string
	// Routes is the kernel's routing table (nil: netlink in this network
	// namespace).
	Routes RouteTable
	// NFT manages TableName (nil: the nft command in this namespace).
	NFT knftables.Interface
	// Sysctl writes kernel switches (nil: /proc/sys); path relative to
	// /proc/sys, e.g. "net/ipv4/ip_forward".
	Sysctl func(path, value string) error
	// ResyncInterval re-applies the routes and rules even when no Node
	// changed, repairing what someone else removed (default 1 minute).
	ResyncInterval time.Duration
	Logger         *slog.Logger
	Registerer     prometheus.Registerer
	// Recorder records the component's Events on its Node (nil: none).
	Recorder record.EventRecorder
}

// Network keeps routes and masquerading in step with the cluster's Nodes.
type Network struct {
	cfg    Config
	client kubernetes.Interface
	log    *slog.Logger
	syncs  *syncloop.Loop

	mu sync.Mutex
	// applied is the route set of the last successful sync.
	applied map[string]string

	syncDuration prometheus.Histogram
	routes       prometheus.Gauge
	syncErrors   prometheus.Counter
}

// New builds the component; nothing touches the kernel before Run.
func New(client kubernetes.Interface, cfg Config) (*Network, error) {
	if cfg.NodeName == "" {
		return nil, fmt.Errorf("network: node name required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ResyncInterval == 0 {
		cfg.ResyncInterval = time.Minute
	}
	if cfg.Routes == nil {
		cfg.Routes = netlinkRoutes{}
	}
	if cfg.Sysctl == nil {
		cfg.Sysctl = writeProcSys
	}
	if cfg.NFT == nil {
		nft, err := knftables.New(knftables.IPv4Family, TableName)
		if err != nil {
			return nil, fmt.Errorf("network: nftables: %w", err)
		}
		cfg.NFT = nft
	}
	failed, recovered := syncloop.NodeEvents(cfg.Recorder, cfg.NodeName, "NetworkSync", "syncing the pod network's routes and masquerading")
	n := &Network{
		cfg: cfg, client: client, log: cfg.Logger,
		syncs: syncloop.New(syncloop.Config{Resync: cfg.ResyncInterval, Failed: failed, Recovered: recovered}),
		syncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "skiff", Subsystem: "network", Name: "sync_duration_seconds",
			Help:    "Time to bring routes and masquerade rules in step with the cluster's nodes.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		routes: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "skiff", Subsystem: "network", Name: "routes",
			Help: "Routes to other nodes' pod CIDRs this node keeps.",
		}),
		syncErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "skiff", Subsystem: "network", Name: "sync_errors_total",
			Help: "Syncs that failed and will be retried.",
		}),
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{n.syncDuration, n.routes, n.syncErrors} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return n, nil
}

// Run syncs on every Node change until ctx ends. The routes and rules stay
// when it returns: pods keep their network across an agent restart.
func (n *Network) Run(ctx context.Context) error {
	for path, value := range map[string]string{
		"net/ipv4/ip_forward": "1",
		// Service traffic between two pods on the same bridge must pass
		// the nat hooks both ways, or replies skip the reverse DNAT.
		"net/bridge/bridge-nf-call-iptables": "1",
	} {
		if err := n.cfg.Sysctl(path, value); err != nil {
			return fmt.Errorf("network: %w", err)
		}
	}
	factory := informers.NewSharedInformerFactory(n.client, 0)
	nodes := factory.Core().V1().Nodes()
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { n.kick() },
		UpdateFunc: func(o, c any) { n.nodeUpdated(o, c) },
		DeleteFunc: func(any) { n.kick() },
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), nodes.Informer().HasSynced) {
		return nil
	}
	lister := nodes.Lister()
	n.syncs.Run(ctx, n.log, "network sync", func(ctx context.Context, _ bool) error {
		all, err := lister.List(labels.Everything())
		if err == nil {
			err = n.Sync(ctx, all)
		}
		if err != nil {
			n.syncErrors.Inc()
		}
		return err
	})
	return nil
}

func (n *Network) kick() { n.syncs.Kick() }

// nodeUpdated syncs only when something routing depends on changed: node
// status heartbeats arrive every few seconds from every node.
func (n *Network) nodeUpdated(oldObj, curObj any) {
	o, ok1 := oldObj.(*corev1.Node)
	c, ok2 := curObj.(*corev1.Node)
	if !ok1 || !ok2 || o.Spec.PodCIDR != c.Spec.PodCIDR || internalIP(o) != internalIP(c) {
		n.kick()
	}
}

// Sync brings the routes and the masquerade table in step with nodes.
func (n *Network) Sync(ctx context.Context, nodes []*corev1.Node) error {
	start := time.Now()
	defer func() { n.syncDuration.Observe(time.Since(start).Seconds()) }()
	want, cidrs, own := desired(n.cfg.NodeName, nodes)
	if err := n.syncRoutes(want); err != nil {
		return err
	}
	if own == "" {
		// No pod CIDR yet: nothing of ours to masquerade.
		return nil
	}
	return n.syncMasquerade(ctx, own, cidrs)
}

// desired returns the routes this node needs (pod CIDR → gateway), every
// node's pod CIDR, and this node's own.
func desired(self string, nodes []*corev1.Node) (routes map[string]string, cidrs []string, own string) {
	routes = map[string]string{}
	for _, nd := range nodes {
		cidr := nd.Spec.PodCIDR
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			continue
		}
		cidrs = append(cidrs, cidr)
		if nd.Name == self {
			own = cidr
			continue
		}
		if ip := internalIP(nd); ip != "" {
			routes[cidr] = ip
		}
	}
	sort.Strings(cidrs)
	return routes, cidrs, own
}

// internalIP is the node's first IPv4 InternalIP.
func internalIP(nd *corev1.Node) string {
	for _, a := range nd.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		if ip := net.ParseIP(a.Address); ip != nil && ip.To4() != nil {
			return a.Address
		}
	}
	return ""
}

func (n *Network) syncRoutes(want map[string]string) error {
	have, err := n.cfg.Routes.List()
	if err != nil {
		return fmt.Errorf("listing routes: %w", err)
	}
	for dst, gw := range want {
		if have[dst] == gw {
			continue
		}
		if err := n.cfg.Routes.Replace(dst, gw); err != nil {
			return fmt.Errorf("route %s via %s: %w", dst, gw, err)
		}
		n.log.Info("route to a node's pods", "podCIDR", dst, "via", gw)
	}
	for dst := range have {
		if _, ok := want[dst]; ok {
			continue
		}
		if err := n.cfg.Routes.Delete(dst); err != nil {
			return fmt.Errorf("removing route %s: %w", dst, err)
		}
		n.log.Info("removed route of a node that left", "podCIDR", dst)
	}
	n.routes.Set(float64(len(want)))
	n.mu.Lock()
	n.applied = want
	n.mu.Unlock()
	return nil
}

// syncMasquerade rewrites the whole (small) table in one transaction:
// traffic from this node's pods to anything that is not a pod is
// masqueraded; pod-to-pod traffic keeps its source address on every node.
func (n *Network) syncMasquerade(ctx context.Context, own string, cidrs []string) error {
	tx := n.cfg.NFT.NewTransaction()
	tx.Add(&knftables.Table{Comment: knftables.PtrTo("skiff pod network: masquerade of traffic leaving the cluster")})
	tx.Add(&knftables.Set{Name: "pod-cidrs", Type: "ipv4_addr", Flags: []knftables.SetFlag{knftables.IntervalFlag},
		Comment: knftables.PtrTo("every node's pod CIDR")})
	tx.Flush(&knftables.Set{Name: "pod-cidrs"})
	for _, c := range cidrs {
		tx.Add(&knftables.Element{Set: "pod-cidrs", Key: []string{c}})
	}
	tx.Add(&knftables.Chain{Name: "postrouting", Type: knftables.PtrTo(knftables.NATType),
		Hook: knftables.PtrTo(knftables.PostroutingHook), Priority: knftables.PtrTo(knftables.SNATPriority)})
	tx.Flush(&knftables.Chain{Name: "postrouting"})
	tx.Add(&knftables.Rule{Chain: "postrouting", Rule: knftables.Concat(
		"ip saddr", own, "ip daddr != @pod-cidrs", "masquerade fully-random")})
	if err := n.cfg.NFT.Run(ctx, tx); err != nil {
		return fmt.Errorf("nftables %s: %w", TableName, err)
	}
	return nil
}

// Routes returns the pod CIDR → gateway routes of the last sync.
func (n *Network) Routes() map[string]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string]string, len(n.applied))
	for k, v := range n.applied {
		out[k] = v
	}
	return out
}

func writeProcSys(path, value string) error {
	p := filepath.Join("/proc/sys", path)
	cur, err := os.ReadFile(p)
	if err == nil && string(cur) == value+"\n" {
		return nil
	}
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		return fmt.Errorf("setting %s=%s: %w", path, value, err)
	}
	return nil
}
