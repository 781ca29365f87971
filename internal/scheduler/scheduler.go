// Package scheduler owns skiff's scheduler: it watches pods without a node
// and the nodes of the cluster through the API, runs the Filter plugins to
// find the nodes a pod fits, the Score plugins to rank them, and binds the
// pod to the best one through pods/binding. A pod that fits nowhere gets
// the PodScheduled=False condition and a FailedScheduling event saying why,
// may preempt lower-priority pods (DefaultPreemption), and is tried again
// when nodes or bound pods change. Pending pods wait in a priority queue
// (queue.go): higher priority first, failed pods backing off.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"

	"skiff/internal/informerutil"
	"skiff/internal/scheduler/framework"
	"skiff/internal/scheduler/plugins/defaultbinder"
	"skiff/internal/scheduler/plugins/defaultpreemption"
	"skiff/internal/scheduler/plugins/imagelocality"
	"skiff/internal/scheduler/plugins/interpodaffinity"
	"skiff/internal/scheduler/plugins/nodeaffinity"
	"skiff/internal/scheduler/plugins/nodename"
	"skiff/internal/scheduler/plugins/nodeports"
	"skiff/internal/scheduler/plugins/noderesources"
	"skiff/internal/scheduler/plugins/nodeunschedulable"
	"skiff/internal/scheduler/plugins/podtopologyspread"
	"skiff/internal/scheduler/plugins/tainttoleration"
	"skiff/internal/scheduler/plugins/volumebinding"
)

// DefaultSchedulerName is the schedulerName of the pods this scheduler
// takes.
const DefaultSchedulerName = v1.DefaultSchedulerName

// ErrNoNodesAvailable is the message when the cluster has no nodes.
const ErrNoNodesAvailable = "no nodes available to schedule pods"

// Profile is the plugin set one scheduler name runs. Each plugin takes
// part in every extension point it implements, in the order given.
type Profile struct {
	// SchedulerName is the spec.schedulerName of the pods it takes.
	SchedulerName string
	Plugins       []framework.Plugin
	// ScoreWeights weighs the Score plugins by name (default 1).
	ScoreWeights map[string]int64
	// PercentageOfNodesToScore bounds how many feasible nodes are looked
	// for in big clusters (0: upstream's adaptive default).
	PercentageOfNodesToScore int

	// recorder reports events as SchedulerName.
	recorder events.EventRecorder
}

// DefaultProfile is the plugins in upstream's default order and weights.
// The scheduler adds the DefaultBinder when a profile has no bind plugin.
func DefaultProfile() Profile {
	return Profile{
		SchedulerName: DefaultSchedulerName,
		Plugins: []framework.Plugin{
			&nodeunschedulable.Plugin{}, &nodename.Plugin{}, &tainttoleration.Plugin{}, &nodeaffinity.Plugin{},
			&nodeports.Plugin{}, &noderesources.Fit{}, &volumebinding.Plugin{}, &podtopologyspread.Plugin{},
			&interpodaffinity.Plugin{}, &defaultpreemption.Plugin{}, &noderesources.BalancedAllocation{}, &imagelocality.Plugin{},
		},
		ScoreWeights: map[string]int64{tainttoleration.Name: 3, nodeaffinity.Name: 2, podtopologyspread.Name: 2, interpodaffinity.Name: 2},
	}
}

// weight is a Score plugin's weight in the profile.
func (p *Profile) weight(name string) int64 {
	if w, ok := p.ScoreWeights[name]; ok {
		return w
	}
	return 1
}

// Config is what the scheduler is given.
type Config struct {
	// Registerer, when set, gets the scheduler's metrics.
	Registerer prometheus.Registerer
	// InitialBackoff and MaxBackoff bound the retry delay of a pod that
	// failed (defaults 1s and 10s, as upstream).
	InitialBackoff, MaxBackoff time.Duration
	// UnschedulableRetry is how long an unschedulable pod waits when
	// nothing changes in the cluster (default 5m).
	UnschedulableRetry time.Duration
	// Profiles are the scheduler names served (default: DefaultProfile).
	Profiles []Profile
}

// Scheduler places pods on nodes.
type Scheduler struct {
	client    kubernetes.Interface
	log       *slog.Logger
	cfg       Config
	profiles  map[string]*Profile
	queue     *schedulingQueue
	metrics   *metrics
	cache     *nodeCache
	nominated *nominator

	podLister corelisters.PodLister
	factory   informers.SharedInformerFactory
	binds     sync.WaitGroup

	mu sync.Mutex
	// nextStart is where the next search for feasible nodes begins, so
	// that in big clusters every node gets its turn.
	nextStart int
}

// New returns a scheduler using client.
func New(client kubernetes.Interface, log *slog.Logger, cfg Config) *Scheduler {
	if cfg.InitialBackoff == 0 {
		cfg.InitialBackoff = time.Second
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	if cfg.UnschedulableRetry == 0 {
		cfg.UnschedulableRetry = 5 * time.Minute
	}
	if len(cfg.Profiles) == 0 {
		cfg.Profiles = []Profile{DefaultProfile()}
	}
	s := &Scheduler{
		client:    client,
		log:       log,
		cfg:       cfg,
		profiles:  map[string]*Profile{},
		queue:     newSchedulingQueue(cfg, cfg.Registerer),
		metrics:   newMetrics(cfg.Registerer),
		cache:     newNodeCache(),
		nominated: newNominator(),
		factory:   informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(informerutil.StripManagedFields)),
	}
	for i := range cfg.Profiles {
		p := cfg.Profiles[i]
		if p.SchedulerName == "" {
			p.SchedulerName = DefaultSchedulerName
		}
		hasBinder := false
		for _, pl := range p.Plugins {
			_, ok := pl.(framework.BindPlugin)
			hasBinder = hasBinder || ok
		}
		if !hasBinder {
			p.Plugins = append(slices.Clone(p.Plugins), &defaultbinder.Plugin{Client: client})
		}
		s.profiles[p.SchedulerName] = &p
	}
	return s
}

// responsibleFor reports whether pod waits for one of this scheduler's
// profiles.
func (s *Scheduler) responsibleFor(pod *v1.Pod) bool {
	return pod.Spec.NodeName == "" && s.profiles[pod.Spec.SchedulerName] != nil && pod.DeletionTimestamp == nil &&
		pod.Status.Phase != v1.PodSucceeded && pod.Status.Phase != v1.PodFailed
}

func podKey(pod *v1.Pod) string { return pod.Namespace + "/" + pod.Name }

// Run schedules pods until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	defer s.queue.Close()
	factory := s.factory
	podInf := factory.Core().V1().Pods().Informer()
	nodeInf := factory.Core().V1().Nodes().Informer()
	s.podLister = factory.Core().V1().Pods().Lister()

	if _, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { s.onPod(nil, obj) },
		UpdateFunc: s.onPod,
		DeleteFunc: s.onPodDelete,
	}); err != nil {
		return err
	}
	if _, err := nodeInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			if n, ok := obj.(*v1.Node); ok {
				s.cache.setNode(n)
			}
			s.moveAll()
		},
		UpdateFunc: func(old, cur interface{}) {
			o, ok1 := old.(*v1.Node)
			n, ok2 := cur.(*v1.Node)
			if ok2 {
				s.cache.setNode(n)
			}
			if !ok1 || !ok2 || nodeChanged(o, n) {
				s.moveAll()
			}
		},
		DeleteFunc: func(obj interface{}) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if n, ok := obj.(*v1.Node); ok {
				s.cache.removeNode(n.Name)
			}
		},
	}); err != nil {
		return err
	}

	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: s.client.EventsV1()})
	broadcaster.StartRecordingToSink(ctx.Done())
	defer broadcaster.Shutdown()
	// Each profile reports its events under its own scheduler name, and
	// its plugins get their informers before the factory starts.
	for _, prof := range s.profiles {
		prof.recorder = broadcaster.NewRecorder(scheme.Scheme, prof.SchedulerName)
		h := &handle{s: s, prof: prof}
		for _, pl := range prof.Plugins {
			if in, ok := pl.(framework.Initializer); ok {
				if err := in.Init(h); err != nil {
					return fmt.Errorf("initializing plugin %s: %w", pl.Name(), err)
				}
			}
		}
	}

	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("waiting for %v informer: %w", typ, ctx.Err())
		}
	}
	go s.queue.run(ctx.Done())
	s.log.Info("scheduler started")
	for s.processNext(ctx) {
	}
	s.binds.Wait()
	factory.Shutdown()
	return nil
}

// nodeChanged reports whether an update could let a pod fit: anything but
// heartbeats.
func nodeChanged(o, n *v1.Node) bool {
	if !equality.Semantic.DeepEqual(o.Spec, n.Spec) || !equality.Semantic.DeepEqual(o.Labels, n.Labels) ||
		!equality.Semantic.DeepEqual(o.Status.Allocatable, n.Status.Allocatable) {
		return true
	}
	if len(o.Status.Conditions) != len(n.Status.Conditions) {
		return true
	}
	for i := range o.Status.Conditions {
		if o.Status.Conditions[i].Type != n.Status.Conditions[i].Type || o.Status.Conditions[i].Status != n.Status.Conditions[i].Status {
			return true
		}
	}
	return false
}

func (s *Scheduler) onPod(old, obj interface{}) {
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	key := podKey(pod)
	if pod.Spec.NodeName != "" {
		s.cache.setPod(key, pod, false)
		s.queue.Delete(key)
		s.nominated.set(key, nil, "")
		// A pod finishing frees its node's resources.
		if o, ok := old.(*v1.Pod); ok && isTerminal(pod) && !isTerminal(o) {
			s.moveAll()
		}
		return
	}
	if !s.responsibleFor(pod) {
		s.nominated.set(key, nil, "")
		return
	}
	s.nominated.set(key, pod, pod.Status.NominatedNodeName)
	if o, ok := old.(*v1.Pod); ok {
		// Our own status writes must not retry a pod; a change of spec,
		// labels or annotations may.
		if equality.Semantic.DeepEqual(o.Spec, pod.Spec) && equality.Semantic.DeepEqual(o.Labels, pod.Labels) &&
			equality.Semantic.DeepEqual(o.Annotations, pod.Annotations) {
			return
		}
	}
	s.queue.Add(pod)
}

func isTerminal(p *v1.Pod) bool {
	return p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed
}

func (s *Scheduler) onPodDelete(obj interface{}) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	key := podKey(pod)
	wasAssumed := s.cache.isAssumed(key)
	s.cache.removePod(key)
	s.queue.Delete(key)
	s.nominated.set(key, nil, "")
	if pod.Spec.NodeName != "" || wasAssumed {
		s.moveAll()
	}
}

// moveAll retries every parked pod, with its backoff.
func (s *Scheduler) moveAll() {
	s.queue.MoveAllToActiveOrBackoff("ClusterChange")
}

func (s *Scheduler) processNext(ctx context.Context) bool {
	key, moves, ok := s.queue.Pop()
	if !ok {
		return false
	}
	defer s.queue.Done(key)
	s.scheduleOne(ctx, key, moves)
	return true
}

// scheduleOne runs one scheduling cycle for the pod with key: choose a
// node, assume the pod there, reserve and permit, then bind in the
// background so the next pod's cycle need not wait for the API.
func (s *Scheduler) scheduleOne(ctx context.Context, key string, moves uint64) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		s.queue.Delete(key)
		return
	}
	pod, err := s.podLister.Pods(ns).Get(name)
	if err != nil || !s.responsibleFor(pod) {
		s.queue.Delete(key)
		return
	}
	if s.cache.isAssumed(key) {
		return // being bound
	}
	prof := s.profiles[pod.Spec.SchedulerName]
	s.mu.Lock()
	start := s.nextStart
	s.mu.Unlock()

	begin := time.Now()
	state := framework.NewCycleState()
	snap := s.cache.snapshot()
	state.Write(framework.SnapshotKey, snap)
	nodes := snap.Nodes
	node, processed, err := schedule(ctx, prof, state, pod, nodes, start, s.nominated)
	s.mu.Lock()
	if len(nodes) > 0 {
		s.nextStart = (start + processed) % len(nodes)
	}
	s.mu.Unlock()
	if err != nil {
		s.handleFailure(ctx, prof, state, pod, key, nodes, err, moves)
		s.metrics.observe(resultOf(err), prof.SchedulerName, begin)
		return
	}

	assumed := pod.DeepCopy()
	assumed.Spec.NodeName = node
	s.cache.setPod(key, assumed, true)
	if st := runReserve(ctx, prof, state, assumed, node); !st.IsSuccess() {
		s.undo(ctx, prof, state, assumed, key, node)
		s.handleFailure(ctx, prof, state, pod, key, nodes, fmt.Errorf("reserving node %s: %s", node, st.Message()), moves)
		s.metrics.observe(resultError, prof.SchedulerName, begin)
		return
	}
	s.binds.Add(1)
	go func() {
		defer s.binds.Done()
		s.bindingCycle(ctx, prof, state, pod, assumed, key, node, begin)
	}()
}

// bindingCycle waits for the Permit plugins, then binds.
func (s *Scheduler) bindingCycle(ctx context.Context, prof *Profile, state *framework.CycleState, pod, assumed *v1.Pod, key, node string, begin time.Time) {
	st := runPermit(ctx, prof, state, assumed, node)
	if st.IsSuccess() {
		st = runBind(ctx, prof, state, assumed, node)
	}
	if !st.IsSuccess() {
		s.undo(ctx, prof, state, assumed, key, node)
		s.metrics.observe(resultError, prof.SchedulerName, begin)
		if apierrors.IsNotFound(st.Err) || apierrors.IsConflict(st.Err) {
			// Deleted, or bound by someone else meanwhile: the informer
			// will tell; try again later if it still waits.
			s.log.Info("binding rejected", "pod", key, "node", node, "err", st.Message())
		} else if ctx.Err() == nil {
			s.log.Warn("binding failed", "pod", key, "node", node, "err", st.Message())
		}
		if ctx.Err() == nil {
			prof.recorder.Eventf(pod, nil, v1.EventTypeWarning, "FailedScheduling", "Scheduling", "Binding rejected: %s", st.Message())
			s.queue.AddBackoff(pod)
		}
		return
	}
	s.queue.Delete(key)
	s.metrics.observe(resultScheduled, prof.SchedulerName, begin)
	prof.recorder.Eventf(pod, nil, v1.EventTypeNormal, "Scheduled", "Binding", "Successfully assigned %v/%v to %v", pod.Namespace, pod.Name, node)
	s.log.Debug("pod scheduled", "pod", key, "node", node)
}

// undo takes back an assumption: Unreserve in reverse order, then forget.
func (s *Scheduler) undo(ctx context.Context, prof *Profile, state *framework.CycleState, pod *v1.Pod, key, node string) {
	for i := len(prof.Plugins) - 1; i >= 0; i-- {
		if r, ok := prof.Plugins[i].(framework.ReservePlugin); ok {
			r.Unreserve(ctx, state, pod, node)
		}
	}
	s.cache.removePod(key)
}

func runReserve(ctx context.Context, prof *Profile, state *framework.CycleState, pod *v1.Pod, node string) *framework.Status {
	for _, pl := range prof.Plugins {
		if r, ok := pl.(framework.ReservePlugin); ok {
			if st := r.Reserve(ctx, state, pod, node); !st.IsSuccess() {
				return st
			}
		}
	}
	return nil
}

// runPermit asks every Permit plugin; a Wait is honoured by asking again
// until its timeout.
func runPermit(ctx context.Context, prof *Profile, state *framework.CycleState, pod *v1.Pod, node string) *framework.Status {
	for _, pl := range prof.Plugins {
		p, ok := pl.(framework.PermitPlugin)
		if !ok {
			continue
		}
		st, timeout := p.Permit(ctx, state, pod, node)
		deadline := time.Now().Add(timeout)
		for st != nil && st.Code == framework.Wait {
			if time.Now().After(deadline) {
				return framework.NewStatus(framework.Unschedulable, fmt.Sprintf("rejected due to timeout after waiting %v at plugin %s", timeout, p.Name()))
			}
			select {
			case <-ctx.Done():
				return framework.AsStatus(ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
			st, _ = p.Permit(ctx, state, pod, node)
		}
		if !st.IsSuccess() {
			return st
		}
	}
	return nil
}

func runBind(ctx context.Context, prof *Profile, state *framework.CycleState, pod *v1.Pod, node string) *framework.Status {
	for _, pl := range prof.Plugins {
		if b, ok := pl.(framework.BindPlugin); ok {
			st := b.Bind(ctx, state, pod, node)
			if st != nil && st.Code == framework.Skip {
				continue
			}
			return st
		}
	}
	return framework.NewStatus(framework.Error, "no bind plugin bound the pod")
}

// errNoNodes is returned when the cluster has no nodes.
var errNoNodes = errors.New(ErrNoNodesAvailable)

// Schedule runs the profile's filters and scores for pod over all nodes
// and returns the chosen node's name (ties broken at random).
func Schedule(ctx context.Context, prof Profile, pod *v1.Pod, nodes []*framework.NodeInfo) (string, error) {
	prof.PercentageOfNodesToScore = 100
	state := framework.NewCycleState()
	state.Write(framework.SnapshotKey, framework.NewSnapshot(nodes, nil))
	node, _, err := schedule(ctx, &prof, state, pod, nodes, 0, nil)
	return node, err
}

// minFeasibleNodesToFind and minFeasibleNodesPercentageToFind are
// upstream's floors for how many feasible nodes a cycle looks for.
const (
	minFeasibleNodesToFind           = 100
	minFeasibleNodesPercentageToFind = 5
)

// numFeasibleNodesToFind is how many feasible nodes are enough among n:
// all of them in small clusters, an adaptive share in big ones (50% minus
// 1% per 125 nodes, at least 5% and 100 nodes), as upstream.
func numFeasibleNodesToFind(percentage, n int) int {
	if n < minFeasibleNodesToFind || percentage >= 100 {
		return n
	}
	if percentage <= 0 {
		percentage = max(50-n/125, minFeasibleNodesPercentageToFind)
	}
	return max(n*percentage/100, minFeasibleNodesToFind)
}

// schedule runs one cycle over nodes, starting the search at start; it
// returns the chosen node and how many nodes the search went through.
func schedule(ctx context.Context, prof *Profile, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo, start int, nom *nominator) (string, int, error) {
	if len(nodes) == 0 {
		return "", 0, errNoNodes
	}
	for _, pl := range prof.Plugins {
		if p, ok := pl.(framework.PreFilterPlugin); ok {
			st := p.PreFilter(ctx, state, pod, nodes)
			switch {
			case st.IsSuccess(), st.Code == framework.Skip:
			case st.Code == framework.Error:
				return "", 0, fmt.Errorf("running PreFilter plugin %s: %s", p.Name(), st.Message())
			default:
				statuses := make(map[string]*framework.Status, len(nodes))
				for _, ni := range nodes {
					statuses[ni.Node.Name] = st
				}
				return "", len(nodes), &framework.FitError{Pod: pod, NumAllNodes: len(nodes), NodeToStatus: statuses, PreFilterMsg: st.Message()}
			}
		}
	}
	feasible, statuses, processed, err := findFeasible(ctx, prof, state, pod, nodes, start, nom)
	if err != nil {
		return "", processed, err
	}
	if len(feasible) == 0 {
		return "", processed, &framework.FitError{Pod: pod, NumAllNodes: len(nodes), NodeToStatus: statuses}
	}
	if len(feasible) == 1 {
		return feasible[0].Node.Name, processed, nil
	}
	for _, pl := range prof.Plugins {
		if p, ok := pl.(framework.PreScorePlugin); ok {
			if st := p.PreScore(ctx, state, pod, feasible); !st.IsSuccess() && st.Code != framework.Skip {
				return "", processed, fmt.Errorf("running PreScore plugin %s: %s", p.Name(), st.Message())
			}
		}
	}
	totals, err := scoreNodes(ctx, prof, state, pod, feasible)
	if err != nil {
		return "", processed, err
	}
	return selectHost(totals), processed, nil
}

// findFeasible runs the Filter plugins over nodes from start on, in
// parallel, until enough feasible nodes are found or every node was tried.
func findFeasible(ctx context.Context, prof *Profile, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo, start int, nom *nominator) ([]*framework.NodeInfo, map[string]*framework.Status, int, error) {
	var filters []framework.FilterPlugin
	for _, pl := range prof.Plugins {
		if f, ok := pl.(framework.FilterPlugin); ok {
			filters = append(filters, f)
		}
	}
	n := len(nodes)
	want := numFeasibleNodesToFind(prof.PercentageOfNodesToScore, n)
	verdicts := make([]*framework.Status, n) // by search position
	fits := make([]bool, n)
	var next, found atomic.Int64
	var failed atomic.Pointer[framework.Status]
	workers := min(runtime.GOMAXPROCS(0), 16, (n+63)/64)
	var wg sync.WaitGroup
	for w := 0; w < max(workers, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for found.Load() < int64(want) && failed.Load() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				ni := nodes[(start+i)%n]
				fi := ni
				// Room promised to nominated pods of no lower priority
				// counts as taken.
				if extra := nom.podsFor(ni.Node.Name, pod); len(extra) > 0 {
					fi = framework.NewNodeInfo(ni.Node, append(slices.Clone(ni.Pods), extra...)...)
				}
				st := runFilters(ctx, filters, state, pod, fi)
				switch {
				case st.IsSuccess():
					fits[i] = true
					found.Add(1)
				case st.Code == framework.Error:
					failed.CompareAndSwap(nil, framework.AsStatus(fmt.Errorf("running filters on node %s: %w", ni.Node.Name, st.Err)))
				default:
					verdicts[i] = st
				}
			}
		}()
	}
	wg.Wait()
	if st := failed.Load(); st != nil {
		return nil, nil, n, st.Err
	}
	processed := min(int(next.Load()), n)
	var feasible []*framework.NodeInfo
	statuses := map[string]*framework.Status{}
	for i := 0; i < processed; i++ {
		ni := nodes[(start+i)%n]
		switch {
		case fits[i] && len(feasible) < want:
			feasible = append(feasible, ni)
		case verdicts[i] != nil:
			statuses[ni.Node.Name] = verdicts[i]
		}
	}
	return feasible, statuses, processed, nil
}

func runFilters(ctx context.Context, filters []framework.FilterPlugin, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	for _, f := range filters {
		if st := f.Filter(ctx, state, pod, ni); !st.IsSuccess() {
			return st
		}
	}
	return nil
}

func scoreNodes(ctx context.Context, prof *Profile, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo) ([]framework.NodeScore, error) {
	totals := make([]framework.NodeScore, len(nodes))
	for i, ni := range nodes {
		totals[i].Name = ni.Node.Name
	}
	for _, pl := range prof.Plugins {
		sp, ok := pl.(framework.ScorePlugin)
		if !ok {
			continue
		}
		scores := make([]framework.NodeScore, len(nodes))
		for i, ni := range nodes {
			sc, st := sp.Score(ctx, state, pod, ni)
			if !st.IsSuccess() {
				return nil, fmt.Errorf("plugin %s scoring node %s: %s", sp.Name(), ni.Node.Name, st.Message())
			}
			scores[i] = framework.NodeScore{Name: ni.Node.Name, Score: sc}
		}
		if n, ok := sp.(framework.ScoreNormalizer); ok {
			if st := n.NormalizeScore(ctx, state, pod, scores); !st.IsSuccess() {
				return nil, fmt.Errorf("plugin %s normalizing: %s", sp.Name(), st.Message())
			}
		}
		w := prof.weight(sp.Name())
		for i := range scores {
			totals[i].Score += scores[i].Score * w
		}
	}
	return totals, nil
}

// selectHost picks the highest total, uniformly at random among ties.
func selectHost(scores []framework.NodeScore) string {
	best, ties := 0, 1
	for i := 1; i < len(scores); i++ {
		switch {
		case scores[i].Score > scores[best].Score:
			best, ties = i, 1
		case scores[i].Score == scores[best].Score:
			ties++
			if rand.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return scores[best].Name
}

// handleFailure records why pod couldn't be scheduled and queues it again:
// parked until the cluster changes when it fits no node, with backoff
// otherwise.
func (s *Scheduler) handleFailure(ctx context.Context, prof *Profile, state *framework.CycleState, pod *v1.Pod, key string, nodes []*framework.NodeInfo, err error, moves uint64) {
	var fitErr *framework.FitError
	reason := v1.PodReasonUnschedulable
	if !errors.As(err, &fitErr) && !errors.Is(err, errNoNodes) {
		reason = v1.PodReasonSchedulerError
		s.log.Warn("scheduling failed", "pod", key, "err", err)
	}
	msg := err.Error()
	nominated := ""
	if fitErr != nil {
		for _, pl := range prof.Plugins {
			if p, ok := pl.(framework.PostFilterPlugin); ok {
				node, st := p.PostFilter(ctx, state, pod, nodes, fitErr.NodeToStatus)
				if st.IsSuccess() && node != "" {
					nominated = node
					break
				}
				if st != nil && st.Message() != "" {
					msg += " " + st.Message()
				}
			}
		}
	}
	// Queue before writing the status: the update it causes is ours and
	// leaves the pod where it is.
	if nominated != "" {
		s.nominated.set(key, pod, nominated)
	}
	if reason == v1.PodReasonUnschedulable {
		s.queue.AddUnschedulable(pod, moves)
	} else {
		s.queue.AddBackoff(pod)
	}
	prof.recorder.Eventf(pod, nil, v1.EventTypeWarning, "FailedScheduling", "Scheduling", "%s", msg)
	if uerr := s.setUnschedulable(ctx, pod, reason, msg, nominated); uerr != nil && !apierrors.IsNotFound(uerr) {
		s.log.Warn("updating pod status", "pod", key, "err", uerr)
	}
}

// setUnschedulable sets PodScheduled=False with reason and message, unless
// the pod already says so.
func (s *Scheduler) setUnschedulable(ctx context.Context, pod *v1.Pod, reason, msg, nominated string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		updated := pod.DeepCopy()
		changed := setCondition(&updated.Status, v1.PodCondition{
			Type: v1.PodScheduled, Status: v1.ConditionFalse, Reason: reason, Message: msg,
			LastProbeTime: metav1.Now(), LastTransitionTime: metav1.Now(),
		})
		if nominated != "" && updated.Status.NominatedNodeName != nominated {
			updated.Status.NominatedNodeName, changed = nominated, true
		}
		if !changed {
			return nil
		}
		_, err := s.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			fresh, gerr := s.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
			if gerr != nil {
				return gerr
			}
			if fresh.Spec.NodeName != "" {
				return nil
			}
			pod = fresh
		}
		return err
	})
}

// setCondition puts c into status; it reports whether anything changed.
// The transition time is kept when the status doesn't change.
func setCondition(status *v1.PodStatus, c v1.PodCondition) bool {
	for i := range status.Conditions {
		old := &status.Conditions[i]
		if old.Type != c.Type {
			continue
		}
		if old.Status == c.Status && old.Reason == c.Reason && old.Message == c.Message {
			return false
		}
		if old.Status == c.Status {
			c.LastTransitionTime = old.LastTransitionTime
		}
		*old = c
		return true
	}
	status.Conditions = append(status.Conditions, c)
	return true
}

// handle is the framework.Handle of one profile.
type handle struct {
	s    *Scheduler
	prof *Profile
}

func (h *handle) Client() kubernetes.Interface                           { return h.s.client }
func (h *handle) SharedInformerFactory() informers.SharedInformerFactory { return h.s.factory }
func (h *handle) EventRecorder() events.EventRecorder                    { return h.prof.recorder }
func (h *handle) MoveAllToActive()                                       { h.s.moveAll() }

// Filter runs the profile's filters for pod on node.
func (h *handle) Filter(ctx context.Context, state *framework.CycleState, pod *v1.Pod, node *framework.NodeInfo) *framework.Status {
	var filters []framework.FilterPlugin
	for _, pl := range h.prof.Plugins {
		if f, ok := pl.(framework.FilterPlugin); ok {
			filters = append(filters, f)
		}
	}
	return runFilters(ctx, filters, state, pod, node)
}

// AddPod tells the profile's PreFilterExtensions about podToAdd.
func (h *handle) AddPod(ctx context.Context, state *framework.CycleState, pod, podToAdd *v1.Pod, node *framework.NodeInfo) *framework.Status {
	for _, pl := range h.prof.Plugins {
		if e, ok := pl.(framework.PreFilterExtensions); ok {
			if st := e.AddPod(ctx, state, pod, podToAdd, node); !st.IsSuccess() {
				return st
			}
		}
	}
	return nil
}

// RemovePod tells the profile's PreFilterExtensions about podToRemove.
func (h *handle) RemovePod(ctx context.Context, state *framework.CycleState, pod, podToRemove *v1.Pod, node *framework.NodeInfo) *framework.Status {
	for _, pl := range h.prof.Plugins {
		if e, ok := pl.(framework.PreFilterExtensions); ok {
			if st := e.RemovePod(ctx, state, pod, podToRemove, node); !st.IsSuccess() {
				return st
			}
		}
	}
	return nil
}
