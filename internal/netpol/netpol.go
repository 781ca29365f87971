// Package netpol enforces NetworkPolicies (networking.k8s.io/v1) for the
// pods of one node. It runs inside every node agent, watches
// NetworkPolicies, Pods, Namespaces and its own Node, and programs one
// nftables table (ip skiff-netpol) through sigs.k8s.io/knftables: a filter
// chain on the forward hook sends traffic from and to isolated local pods
// through per-pod chains that return for allowed traffic and drop the rest.
// Changes are coalesced and the table is rewritten in one atomic
// transaction. See README.md for the table layout and the semantics.
package netpol

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	netlisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/knftables"

	"skiff/internal/informerutil"
	"skiff/internal/syncloop"
)

// TableName is the nftables table (family ip) the enforcer owns.
const TableName = "skiff-netpol"

const (
	// coalesceInterval bounds how often a burst of changes is synced.
	coalesceInterval = 100 * time.Millisecond
	// resyncPeriod re-applies the table even without changes, repairing
	// anything that altered it behind our back.
	resyncPeriod = 5 * time.Minute
	maxBackoff   = 30 * time.Second
)

// Config configures an Enforcer.
type Config struct {
	// NodeName: enforce for pods with spec.nodeName == NodeName (pods with
	// hostNetwork are never isolated).
	NodeName string
	// NFT is the nftables interface; nil: knftables.New(knftables.IPv4Family, TableName).
	NFT knftables.Interface
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the metrics; nil: not registered.
	Registerer prometheus.Registerer
	// Recorder records the component's Events on its Node (nil: none).
	Recorder record.EventRecorder
}

// Enforcer keeps the node's NetworkPolicy table in sync.
type Enforcer struct {
	cfg         Config
	log         *slog.Logger
	nft         knftables.Interface
	m           *metrics
	factory     informers.SharedInformerFactory
	nodeFactory informers.SharedInformerFactory
	synced      []cache.InformerSynced
	pods        corelisters.PodLister
	namespaces  corelisters.NamespaceLister
	nodes       corelisters.NodeLister
	policies    netlisters.NetworkPolicyLister
	syncs       *syncloop.Loop
	// mu serialises table writes with the drop counter reads of scrapes.
	mu          sync.Mutex
	lastApplied string
	applied     bool   // the table was written by this process
	dropCarried uint64 // drops counted by tables replaced since
}

// New builds an Enforcer. It registers its informers and metrics but
// touches neither the API server nor nftables until Run.
func New(client kubernetes.Interface, cfg Config) (*Enforcer, error) {
	if client == nil {
		return nil, errors.New("netpol: nil client")
	}
	if cfg.NodeName == "" {
		return nil, errors.New("netpol: Config.NodeName is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NFT == nil {
		nft, err := knftables.New(knftables.IPv4Family, TableName)
		if err != nil {
			return nil, fmt.Errorf("netpol: nftables unavailable: %w", err)
		}
		cfg.NFT = nft
	}
	failed, recovered := syncloop.NodeEvents(cfg.Recorder, cfg.NodeName, "NetworkPolicySync", "applying the network policies")
	e := &Enforcer{
		cfg:   cfg,
		log:   cfg.Logger.With("component", "netpol"),
		nft:   cfg.NFT,
		m:     newMetrics(),
		syncs: syncloop.New(syncloop.Config{MinInterval: coalesceInterval, Resync: resyncPeriod, MaxBackoff: maxBackoff, Failed: failed, Recovered: recovered}),
	}
	e.m.dropped = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "skiff_netpol_dropped_packets_total",
		Help: "Packets dropped because no NetworkPolicy allowed them.",
	}, func() float64 { return float64(e.droppedPackets()) })
	if cfg.Registerer != nil {
		if err := e.m.register(cfg.Registerer); err != nil {
			return nil, fmt.Errorf("netpol: registering metrics: %w", err)
		}
	}
	// Every pod of the cluster is cached (peers may be anywhere): drop
	// managed fields, which are never read, to save memory.
	e.factory = informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(informerutil.StripManagedFields))
	e.nodeFactory = informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTransform(informerutil.StripManagedFields),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", cfg.NodeName).String()
		}))
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { e.trigger() },
		UpdateFunc: func(any, any) { e.trigger() },
		DeleteFunc: func(any) { e.trigger() },
	}
	podInf := e.factory.Core().V1().Pods()
	nsInf := e.factory.Core().V1().Namespaces()
	polInf := e.factory.Networking().V1().NetworkPolicies()
	nodeInf := e.nodeFactory.Core().V1().Nodes()
	for _, inf := range []cache.SharedIndexInformer{podInf.Informer(), nsInf.Informer(), polInf.Informer(), nodeInf.Informer()} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return nil, fmt.Errorf("netpol: adding event handler: %w", err)
		}
		e.synced = append(e.synced, inf.HasSynced)
	}
	e.pods = podInf.Lister()
	e.namespaces = nsInf.Lister()
	e.policies = polInf.Lister()
	e.nodes = nodeInf.Lister()
	return e, nil
}

// trigger asks the loop for a sync; bursts collapse into one.
func (e *Enforcer) trigger() { e.syncs.Kick() }

// Run starts the informers and keeps the table in sync until ctx ends. It
// returns nil then and leaves the rules in place: policies stay enforced
// across an agent restart, and the next run replaces the table.
func (e *Enforcer) Run(ctx context.Context) error {
	e.factory.Start(ctx.Done())
	e.nodeFactory.Start(ctx.Done())
	defer e.factory.Shutdown()
	defer e.nodeFactory.Shutdown()
	// Syncing before the caches are complete would open isolated pods to
	// everything (or isolate them against peers not listed yet).
	if !cache.WaitForCacheSync(ctx.Done(), e.synced...) {
		return nil
	}
	e.log.Info("network policy enforcer started", "node", e.cfg.NodeName, "table", TableName)
	e.loop(ctx)
	e.log.Info("network policy enforcer stopped; rules left in place")
	return nil
}

// loop syncs on events (coalesced), on retries after failures (with
// backoff) and every resyncPeriod; the last two rewrite the table even
// when nothing seems changed.
func (e *Enforcer) loop(ctx context.Context) {
	e.syncs.Run(ctx, e.log, "syncing network policy rules", e.sync)
}

// snapshot reads the informer caches.
func (e *Enforcer) snapshot() (inputs, error) {
	in := inputs{nodeName: e.cfg.NodeName, namespaces: map[string]map[string]string{}}
	var err error
	if in.pods, err = e.pods.List(labels.Everything()); err != nil {
		return in, err
	}
	if in.policies, err = e.policies.List(labels.Everything()); err != nil {
		return in, err
	}
	nss, err := e.namespaces.List(labels.Everything())
	if err != nil {
		return in, err
	}
	for _, ns := range nss {
		in.namespaces[ns.Name] = ns.Labels
	}
	if n, err := e.nodes.Get(e.cfg.NodeName); err == nil {
		in.node = n
	}
	return in, nil
}

// sync computes the desired table and applies it when it differs from the
// last applied one (or when forced).
func (e *Enforcer) sync(ctx context.Context, force bool) error {
	start := time.Now()
	in, err := e.snapshot()
	if err != nil {
		return err
	}
	d := compute(in, func(msg string, args ...any) { e.log.Warn(msg, args...) })
	tx := e.nft.NewTransaction()
	render(tx, d)
	text := tx.String()
	e.mu.Lock()
	defer e.mu.Unlock()
	if !force && text == e.lastApplied {
		return nil
	}
	// The rewrite resets the drop counter: carry its value over.
	before := e.tableDrops(ctx)
	if err := e.nft.Run(ctx, tx); err != nil {
		e.lastApplied = ""
		e.m.syncErrors.Inc()
		return fmt.Errorf("writing table %s: %w", TableName, err)
	}
	e.lastApplied = text
	e.applied = true
	e.dropCarried += before
	e.m.syncDuration.Observe(time.Since(start).Seconds())
	e.m.isolated.WithLabelValues("ingress").Set(float64(len(d.ingress)))
	e.m.isolated.WithLabelValues("egress").Set(float64(len(d.egress)))
	e.m.policies.Set(float64(d.policies))
	e.log.Debug("synced network policy rules", "isolatedIngress", len(d.ingress), "isolatedEgress", len(d.egress),
		"policies", d.policies, "operations", tx.NumOperations(), "took", time.Since(start))
	return nil
}

// tableDrops reads the table's drop counter; e.mu must be held.
func (e *Enforcer) tableDrops(ctx context.Context) uint64 {
	if !e.applied {
		return 0
	}
	counters, err := e.nft.ListCounters(ctx)
	if err != nil {
		return 0
	}
	for _, c := range counters {
		if c != nil && c.Name == counterDrops && c.Packets != nil {
			return *c.Packets
		}
	}
	return 0
}

// droppedPackets is the value of skiff_netpol_dropped_packets_total.
func (e *Enforcer) droppedPackets() uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dropCarried + e.tableDrops(ctx)
}
