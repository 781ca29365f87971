// Package proxy is skiff's service proxy, the equivalent of kube-proxy in
// nftables mode. It runs inside every node agent, watches Services,
// EndpointSlices and its own Node, and programs one nftables table
// (ip skiff-proxy) through sigs.k8s.io/knftables so that ClusterIPs,
// NodePorts, LoadBalancer ingress IPs and externalIPs reach the Services'
// endpoints. Syncs are coalesced and incremental: only the chains of the
// Services whose Service or EndpointSlices changed are rewritten, the shared
// verdict maps are updated element by element. The rules stay in place when
// the proxy stops, and the next run takes the table over. See README.md for
// the table layout.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/knftables"

	"skiff/internal/syncloop"
)

// TableName is the nftables table (family ip) the proxy owns.
const TableName = "skiff-proxy"

const (
	defaultMinSyncInterval = 100 * time.Millisecond
	// resyncPeriod re-checks the node and retries pending work even when
	// no event arrives; fullSyncPeriod rewrites the whole table now and
	// then, repairing anything changed behind our back (upstream: 1h).
	resyncPeriod   = 30 * time.Second
	fullSyncPeriod = time.Hour
	maxBackoff     = 30 * time.Second

	labelServiceName      = discovery.LabelServiceName
	labelServiceProxyName = "service.kubernetes.io/service-proxy-name"
	annotationTriggerTime = v1.EndpointsLastChangeTriggerTime
	indexByService        = "service"
)

// Config configures a Proxy.
type Config struct {
	// NodeName is this node; its Node object gives the node addresses
	// (NodePort destinations) and spec.podCIDR (what counts as local).
	NodeName string
	// NFT is the nftables interface; nil means knftables.New(IPv4, TableName).
	NFT knftables.Interface
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the proxy's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// MinSyncInterval is the coalescing window between syncs; default 100ms.
	MinSyncInterval time.Duration
	// Recorder records the component's Events on its Node (nil: none).
	Recorder record.EventRecorder
}

// syncStats describes the last successful sync.
type syncStats struct {
	full            bool
	chainsWritten   int // per-service chains created or rewritten
	servicesWritten int // Services with any chain created, rewritten or deleted
	operations      int // operations in the transaction
}

// Proxy programs the service rules of one node.
type Proxy struct {
	cfg Config
	log *slog.Logger
	nft knftables.Interface
	m   *metrics
	ct  conntrackCleaner

	factory     informers.SharedInformerFactory
	nodeFactory informers.SharedInformerFactory
	services    cache.SharedIndexInformer
	slices      cache.SharedIndexInformer
	nodes       cache.SharedIndexInformer

	syncs *syncloop.Loop

	mu       sync.Mutex
	dirty    map[string]struct{}  // Service keys whose rules must be recomputed
	needFull bool                 // rewrite the whole table next time
	triggers map[string]time.Time // earliest pending endpoints change per Service

	// Below: owned by the sync loop.
	initialized  bool
	node         nodeInfo
	applied      map[string]*piece             // Service key -> what is in the table for it
	want         map[string]map[string]elemDef // element id -> Service key -> element it wants
	appliedElems map[string]elemDef            // element id -> element in the table
	pieceObjects int
	lastFull     time.Time
	last         syncStats
}

// New builds a Proxy. It registers its informers and metrics but touches
// neither the API server nor nftables until Run.
func New(client kubernetes.Interface, cfg Config) (*Proxy, error) {
	if client == nil {
		return nil, errors.New("proxy: nil client")
	}
	return newProxy(client, cfg)
}

// newProxy is New without the client check: benchmarks feed the informer
// stores directly and never start them.
func newProxy(client kubernetes.Interface, cfg Config) (*Proxy, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("proxy: Config.NodeName is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MinSyncInterval <= 0 {
		cfg.MinSyncInterval = defaultMinSyncInterval
	}
	if cfg.NFT == nil {
		nft, err := knftables.New(knftables.IPv4Family, TableName)
		if err != nil {
			return nil, fmt.Errorf("proxy: nftables unavailable: %w", err)
		}
		cfg.NFT = nft
	}
	failed, recovered := syncloop.NodeEvents(cfg.Recorder, cfg.NodeName, "SyncProxyRules", "syncing the service rules")
	p := &Proxy{
		cfg:          cfg,
		log:          cfg.Logger.With("component", "proxy"),
		nft:          cfg.NFT,
		m:            newMetrics(),
		ct:           netlinkConntrack{},
		syncs:        syncloop.New(syncloop.Config{MinInterval: cfg.MinSyncInterval, Resync: resyncPeriod, MaxBackoff: maxBackoff, Failed: failed, Recovered: recovered}),
		dirty:        map[string]struct{}{},
		triggers:     map[string]time.Time{},
		applied:      map[string]*piece{},
		want:         map[string]map[string]elemDef{},
		appliedElems: map[string]elemDef{},
	}
	if err := p.m.register(cfg.Registerer); err != nil {
		return nil, fmt.Errorf("proxy: registering metrics: %w", err)
	}

	p.factory = informers.NewSharedInformerFactory(client, 0)
	p.services = p.factory.Core().V1().Services().Informer()
	p.slices = p.factory.Discovery().V1().EndpointSlices().Informer()
	p.nodeFactory = informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", cfg.NodeName).String()
		}))
	p.nodes = p.nodeFactory.Core().V1().Nodes().Informer()

	if err := p.slices.AddIndexers(cache.Indexers{indexByService: sliceServiceIndex}); err != nil {
		return nil, fmt.Errorf("proxy: slice index: %w", err)
	}
	if _, err := p.services.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    p.onService,
		UpdateFunc: func(old, cur any) { p.onServiceUpdate(old, cur) },
		DeleteFunc: p.onService,
	}); err != nil {
		return nil, err
	}
	if _, err := p.slices.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    p.onSlice,
		UpdateFunc: func(_, cur any) { p.onSlice(cur) },
		DeleteFunc: p.onSlice,
	}); err != nil {
		return nil, err
	}
	if _, err := p.nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    p.onNode,
		UpdateFunc: func(_, cur any) { p.onNode(cur) },
		DeleteFunc: p.onNode,
	}); err != nil {
		return nil, err
	}
	return p, nil
}

// sliceServiceIndex indexes EndpointSlices by the namespace/name of their
// Service.
func sliceServiceIndex(obj any) ([]string, error) {
	s, ok := obj.(*discovery.EndpointSlice)
	if !ok {
		return nil, nil
	}
	name := s.Labels[labelServiceName]
	if name == "" {
		return nil, nil
	}
	return []string{s.Namespace + "/" + name}, nil
}

func untombstone(obj any) any {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}

func (p *Proxy) onService(obj any) {
	svc, ok := untombstone(obj).(*v1.Service)
	if !ok {
		return
	}
	p.m.serviceChanges.Inc()
	p.markDirty(svc.Namespace+"/"+svc.Name, time.Time{})
}

func (p *Proxy) onServiceUpdate(old, cur any) {
	o, ok1 := old.(*v1.Service)
	c, ok2 := cur.(*v1.Service)
	if ok1 && ok2 && o.ResourceVersion == c.ResourceVersion && o.ResourceVersion != "" {
		return // informer resync, nothing changed
	}
	p.onService(cur)
}

func (p *Proxy) onSlice(obj any) {
	s, ok := untombstone(obj).(*discovery.EndpointSlice)
	if !ok {
		return
	}
	name := s.Labels[labelServiceName]
	if name == "" {
		return
	}
	p.m.endpointChanges.Inc()
	var trigger time.Time
	if v := s.Annotations[annotationTriggerTime]; v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			trigger = t
		}
	}
	p.markDirty(s.Namespace+"/"+name, trigger)
}

func (p *Proxy) onNode(obj any) {
	n, ok := untombstone(obj).(*v1.Node)
	if !ok || n.Name != p.cfg.NodeName {
		return
	}
	// The sync compares the node's addresses and pod CIDR with what the
	// rules were built from; nothing to record here.
	p.requestSync()
}

func (p *Proxy) markDirty(key string, trigger time.Time) {
	p.mu.Lock()
	p.dirty[key] = struct{}{}
	if !trigger.IsZero() {
		if old, ok := p.triggers[key]; !ok || trigger.Before(old) {
			p.triggers[key] = trigger
		}
	}
	p.mu.Unlock()
	p.requestSync()
}

func (p *Proxy) requestSync() { p.syncs.Kick() }

// Run starts the informers and keeps the table in sync until ctx ends. It
// returns nil then and leaves the rules in place, so that service traffic
// keeps flowing across an agent restart.
func (p *Proxy) Run(ctx context.Context) error {
	p.factory.Start(ctx.Done())
	p.nodeFactory.Start(ctx.Done())
	defer p.factory.Shutdown()
	defer p.nodeFactory.Shutdown()
	// Syncing before the caches are complete would delete the rules of
	// Services not listed yet.
	if !cache.WaitForCacheSync(ctx.Done(), p.services.HasSynced, p.slices.HasSynced, p.nodes.HasSynced) {
		return nil
	}
	p.log.Info("service proxy started", "node", p.cfg.NodeName, "table", TableName)
	if p.cfg.Recorder != nil {
		p.cfg.Recorder.Eventf(syncloop.NodeReference(p.cfg.NodeName), v1.EventTypeNormal, "Starting", "Starting the service proxy.")
	}
	p.loop(ctx)
	p.log.Info("service proxy stopped; rules left in place")
	return nil
}

// loop runs syncs: at most one per MinSyncInterval, on events, on retries
// after failures (with backoff) and every resyncPeriod, a full one when
// the last is fullSyncPeriod old.
func (p *Proxy) loop(ctx context.Context) {
	p.syncs.Run(ctx, p.log, "syncing service rules", func(ctx context.Context, periodic bool) error {
		if periodic && time.Since(p.lastFull) >= fullSyncPeriod {
			p.mu.Lock()
			p.needFull = true
			p.mu.Unlock()
		}
		return p.syncRules(ctx)
	})
}

// currentNode reads this node's addresses and pod CIDR from the cache.
func (p *Proxy) currentNode() nodeInfo {
	obj, ok, err := p.nodes.GetStore().GetByKey(p.cfg.NodeName)
	if err != nil || !ok {
		return nodeInfo{}
	}
	n, _ := obj.(*v1.Node)
	return nodeInfoFrom(n)
}

// buildFor computes the piece of the Service key from the caches; nil if
// the Service is gone or not ours.
func (p *Proxy) buildFor(key string, ni nodeInfo) *piece {
	obj, ok, err := p.services.GetStore().GetByKey(key)
	if err != nil || !ok {
		return nil
	}
	svc, _ := obj.(*v1.Service)
	if svc == nil || svc.Labels[labelServiceProxyName] != "" {
		return nil
	}
	objs, _ := p.slices.GetIndexer().ByIndex(indexByService, key)
	slices := make([]*discovery.EndpointSlice, 0, len(objs))
	for _, o := range objs {
		if s, ok := o.(*discovery.EndpointSlice); ok {
			slices = append(slices, s)
		}
	}
	pc := buildPiece(svc, slices, p.cfg.NodeName, ni)
	if len(pc.chains) == 0 && len(pc.sets) == 0 && len(pc.elems) == 0 {
		return nil
	}
	return pc
}

// syncRules brings the table up to date with the caches.
func (p *Proxy) syncRules(ctx context.Context) error {
	p.mu.Lock()
	dirty := p.dirty
	p.dirty = map[string]struct{}{}
	full := p.needFull || !p.initialized
	p.needFull = false
	triggers := p.triggers
	p.triggers = map[string]time.Time{}
	p.mu.Unlock()

	start := time.Now()
	ni := p.currentNode()
	if full || !ni.equal(p.node) {
		// Full resync, or the pod CIDR / node IPs every chain depends on
		// changed: recompute every Service (writing only what differs).
		for _, key := range p.services.GetStore().ListKeys() {
			dirty[key] = struct{}{}
		}
		for key := range p.applied {
			dirty[key] = struct{}{}
		}
	}
	pieces := make(map[string]*piece, len(dirty))
	for key := range dirty {
		pieces[key] = p.buildFor(key, ni)
	}

	// Stale connectionless flows, computed against what is applied now
	// and cleared only once the new rules are in.
	var flows []flowFilter
	for key, pc := range pieces {
		flows = append(flows, staleFlows(p.applied[key], pc, ni.ips)...)
	}

	var (
		stats syncStats
		err   error
	)
	if full {
		stats, err = p.fullSync(ctx, ni, pieces)
	} else {
		stats, err = p.partialSync(ctx, ni, pieces)
	}
	elapsed := time.Since(start)
	if err != nil {
		p.m.syncFailures.Inc()
		p.mu.Lock()
		for k := range dirty {
			p.dirty[k] = struct{}{}
		}
		for k, t := range triggers {
			if old, ok := p.triggers[k]; !ok || t.Before(old) {
				p.triggers[k] = t
			}
		}
		// The in-memory view may no longer match the table.
		p.needFull = true
		p.mu.Unlock()
		return err
	}

	if len(flows) > 0 {
		if err := p.ct.clear(flows); err != nil {
			p.log.Warn("clearing stale conntrack entries failed", "err", err, "filters", len(flows))
		}
	}
	p.last = stats
	p.m.syncDuration.Observe(elapsed.Seconds())
	if full {
		p.m.syncFullDuration.Observe(elapsed.Seconds())
	} else {
		p.m.syncPartialDuration.Observe(elapsed.Seconds())
	}
	p.m.lastSync.SetToCurrentTime()
	p.m.chainsWritten.Set(float64(stats.chainsWritten))
	p.m.servicesWritten.Set(float64(stats.servicesWritten))
	p.m.chainsWrittenTotal.Add(float64(stats.chainsWritten))
	p.m.objects.WithLabelValues(TableName).Set(float64(baseObjectCount() + p.pieceObjects + len(p.appliedElems) + len(p.node.ips)))
	now := time.Now()
	for _, t := range triggers {
		if d := now.Sub(t); d >= 0 {
			p.m.programming.Observe(d.Seconds())
		}
	}
	if stats.operations > 0 {
		p.log.Debug("synced service rules", "full", full, "services", len(dirty),
			"chainsWritten", stats.chainsWritten, "operations", stats.operations, "took", elapsed)
	}
	return nil
}

func pieceObjectCount(pc *piece) int {
	if pc == nil {
		return 0
	}
	n := len(pc.chains) + len(pc.sets)
	for _, r := range pc.chains {
		n += len(r)
	}
	return n
}

// resolve picks the element that wins when several Services want the same
// key (e.g. two Services claiming one externalIP:port): the first by key,
// so the choice is stable.
func resolve(m map[string]elemDef) (elemDef, bool) {
	best := ""
	var out elemDef
	for k, e := range m {
		if best == "" || k < best {
			best, out = k, e
		}
	}
	return out, best != ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var tableComment = knftables.PtrTo("rules for skiff's service proxy")

// fullSync rewrites the whole table in one transaction, taking over
// whatever an earlier run (or version) left there. pieces holds every
// Service.
func (p *Proxy) fullSync(ctx context.Context, ni nodeInfo, pieces map[string]*piece) (syncStats, error) {
	want := map[string]map[string]elemDef{}
	for key, pc := range pieces {
		if pc == nil {
			continue
		}
		for _, e := range pc.elems {
			id := e.id()
			if want[id] == nil {
				want[id] = map[string]elemDef{}
			}
			want[id][key] = e
		}
	}
	elems := make(map[string]elemDef, len(want))
	for id, m := range want {
		if e, ok := resolve(m); ok {
			elems[id] = e
		}
	}

	existing, err := p.nft.ListAll(ctx)
	if err != nil && !knftables.IsNotFound(err) {
		return syncStats{}, fmt.Errorf("listing table %s: %w", TableName, err)
	}
	desiredChains := map[string]bool{}
	desiredSets := map[string]bool{}
	for _, pc := range pieces {
		if pc == nil {
			continue
		}
		for c := range pc.chains {
			desiredChains[c] = true
		}
		for s := range pc.sets {
			desiredSets[s] = true
		}
	}

	tx := p.nft.NewTransaction()
	tx.Add(&knftables.Table{Comment: tableComment})
	// Empty everything first: rules reference chains and sets, and only
	// unreferenced objects can be deleted.
	for _, c := range existing["chain"] {
		tx.Flush(&knftables.Chain{Name: c})
	}
	for _, s := range existing["set"] {
		tx.Flush(&knftables.Set{Name: s})
	}
	for _, m := range existing["map"] {
		tx.Flush(&knftables.Map{Name: m})
	}
	for _, c := range existing["chain"] {
		if !desiredChains[c] && !isBaseChain(c) {
			tx.Delete(&knftables.Chain{Name: c})
		}
	}
	for _, s := range existing["set"] {
		if !desiredSets[s] && !isBaseSetOrMap(s) {
			tx.Delete(&knftables.Set{Name: s})
		}
	}
	for _, m := range existing["map"] {
		if !isBaseSetOrMap(m) {
			tx.Delete(&knftables.Map{Name: m})
		}
	}
	stats := p.writeAll(tx, ni, pieces, elems)
	err = p.nft.Run(ctx, tx)
	if err != nil {
		if ctx.Err() != nil {
			return syncStats{}, err
		}
		// Typically an object of an incompatible shape left by another
		// version. Recreate the table in one transaction: traffic on
		// established connections is unaffected (conntrack keeps the NAT).
		p.log.Warn("taking over the existing table failed, recreating it", "table", TableName, "err", err)
		tx = p.nft.NewTransaction()
		tx.Add(&knftables.Table{Comment: tableComment})
		tx.Delete(&knftables.Table{})
		tx.Add(&knftables.Table{Comment: tableComment})
		stats = p.writeAll(tx, ni, pieces, elems)
		if err := p.nft.Run(ctx, tx); err != nil {
			return syncStats{}, fmt.Errorf("full sync of table %s: %w", TableName, err)
		}
	}
	stats.full = true
	stats.operations = tx.NumOperations()

	p.applied = map[string]*piece{}
	p.pieceObjects = 0
	for key, pc := range pieces {
		if pc != nil {
			p.applied[key] = pc
			p.pieceObjects += pieceObjectCount(pc)
		}
	}
	p.want = want
	p.appliedElems = elems
	p.node = ni
	p.initialized = true
	p.lastFull = time.Now()
	return stats, nil
}

// writeAll adds the complete table contents to tx (onto empty chains).
func (p *Proxy) writeAll(tx *knftables.Transaction, ni nodeInfo, pieces map[string]*piece, elems map[string]elemDef) syncStats {
	var stats syncStats
	addBase(tx)
	for _, key := range sortedKeys(pieces) {
		pc := pieces[key]
		if pc == nil {
			continue
		}
		for _, s := range sortedKeys(pc.sets) {
			tx.Add(affinitySet(s, pc.sets[s]))
		}
		names := sortedKeys(pc.chains)
		for _, c := range names {
			tx.Add(&knftables.Chain{Name: c})
		}
		for _, c := range names {
			for _, r := range pc.chains[c] {
				tx.Add(&knftables.Rule{Chain: c, Rule: r})
			}
		}
		if len(names) > 0 {
			stats.servicesWritten++
			stats.chainsWritten += len(names)
		}
	}
	for _, ip := range ni.ips {
		tx.Add(nodeIPElement(ip))
	}
	for _, id := range sortedKeys(elems) {
		tx.Add(elementObj(elems[id]))
	}
	return stats
}

// partialSync writes only what changed for the Services in pieces (nil:
// Service gone) and the node's addresses.
func (p *Proxy) partialSync(ctx context.Context, ni nodeInfo, pieces map[string]*piece) (syncStats, error) {
	keys := sortedKeys(pieces)

	// Shared elements: recompute the winner of every id a changed Service
	// touches, and compare with what the table holds.
	touched := map[string]struct{}{}
	for _, key := range keys {
		if old := p.applied[key]; old != nil {
			for _, e := range old.elems {
				id := e.id()
				if m := p.want[id]; m != nil {
					delete(m, key)
					if len(m) == 0 {
						delete(p.want, id)
					}
				}
				touched[id] = struct{}{}
			}
		}
		if cur := pieces[key]; cur != nil {
			for _, e := range cur.elems {
				id := e.id()
				if p.want[id] == nil {
					p.want[id] = map[string]elemDef{}
				}
				p.want[id][key] = e
				touched[id] = struct{}{}
			}
		}
	}
	var delElems, addElems []elemDef
	for _, id := range sortedKeys(touched) {
		d, ok := resolve(p.want[id])
		cur, had := p.appliedElems[id]
		if had && (!ok || cur.value != d.value) {
			delElems = append(delElems, cur)
		}
		if ok && (!had || cur.value != d.value) {
			addElems = append(addElems, d)
		}
	}
	oldIPs := map[string]bool{}
	for _, ip := range p.node.ips {
		oldIPs[ip] = true
	}
	newIPs := map[string]bool{}
	for _, ip := range ni.ips {
		newIPs[ip] = true
	}

	diffs := make([]pieceDiff, len(keys))
	for i, key := range keys {
		diffs[i] = diffPieces(p.applied[key], pieces[key])
	}

	tx := p.nft.NewTransaction()
	// 1. Elements that go away or change value (they may point at chains
	// deleted below).
	for _, e := range delElems {
		tx.Delete(elementKeyOnly(e))
	}
	for _, ip := range p.node.ips {
		if !newIPs[ip] {
			tx.Delete(nodeIPElement(ip))
		}
	}
	// 2. Empty the chains to rewrite or delete, 3. delete the unused ones.
	for _, d := range diffs {
		for _, c := range d.rewriteChains {
			tx.Flush(&knftables.Chain{Name: c})
		}
		for _, c := range d.delChains {
			tx.Flush(&knftables.Chain{Name: c})
		}
	}
	for _, d := range diffs {
		for _, c := range d.delChains {
			tx.Delete(&knftables.Chain{Name: c})
		}
		for _, s := range d.delSets {
			tx.Delete(&knftables.Set{Name: s})
		}
	}
	// 4. New sets and chains, 5. their rules, 6. the new elements.
	var stats syncStats
	for i, d := range diffs {
		cur := pieces[keys[i]]
		for _, s := range d.addSets {
			tx.Add(affinitySet(s, cur.sets[s]))
		}
		for _, c := range d.newChains {
			tx.Add(&knftables.Chain{Name: c})
		}
	}
	for i, d := range diffs {
		cur := pieces[keys[i]]
		for _, list := range [][]string{d.newChains, d.rewriteChains} {
			for _, c := range list {
				for _, r := range cur.chains[c] {
					tx.Add(&knftables.Rule{Chain: c, Rule: r})
				}
			}
		}
		stats.chainsWritten += d.written()
		if d.written() > 0 || len(d.delChains) > 0 {
			stats.servicesWritten++
		}
	}
	for _, e := range addElems {
		tx.Add(elementObj(e))
	}
	for _, ip := range ni.ips {
		if !oldIPs[ip] {
			tx.Add(nodeIPElement(ip))
		}
	}

	stats.operations = tx.NumOperations()
	if stats.operations > 0 {
		if err := p.nft.Run(ctx, tx); err != nil {
			return syncStats{}, fmt.Errorf("partial sync of table %s: %w", TableName, err)
		}
	}

	for _, key := range keys {
		p.pieceObjects += pieceObjectCount(pieces[key]) - pieceObjectCount(p.applied[key])
		if pieces[key] == nil {
			delete(p.applied, key)
		} else {
			p.applied[key] = pieces[key]
		}
	}
	for _, e := range delElems {
		delete(p.appliedElems, e.id())
	}
	for _, e := range addElems {
		p.appliedElems[e.id()] = e
	}
	p.node = ni
	return stats, nil
}
