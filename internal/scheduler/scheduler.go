// Package scheduler owns skiff's scheduler: it watches pods without a node
// and the nodes of the cluster through the API, runs the Filter plugins to
// find the nodes a pod fits, the Score plugins to rank them, and binds the
// pod to the best one through pods/binding. A pod that fits nowhere gets
// the PodScheduled=False condition and a FailedScheduling event saying why,
// and is tried again when nodes or bound pods change.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"

	"skiff/internal/scheduler/framework"
	"skiff/internal/scheduler/plugins/nodeaffinity"
	"skiff/internal/scheduler/plugins/nodename"
	"skiff/internal/scheduler/plugins/nodeports"
	"skiff/internal/scheduler/plugins/noderesources"
	"skiff/internal/scheduler/plugins/nodeunschedulable"
	"skiff/internal/scheduler/plugins/tainttoleration"
)

// DefaultSchedulerName is the schedulerName of the pods this scheduler
// takes.
const DefaultSchedulerName = v1.DefaultSchedulerName

// ErrNoNodesAvailable is the message when the cluster has no nodes.
const ErrNoNodesAvailable = "no nodes available to schedule pods"

const nodeNameIndex = "spec.nodeName"

// WeightedScore is a score plugin with its weight.
type WeightedScore struct {
	Plugin framework.ScorePlugin
	Weight int64
}

// Profile is the plugin set one scheduler name runs.
type Profile struct {
	Filters []framework.FilterPlugin
	Scores  []WeightedScore
}

// DefaultProfile is the plugins in upstream's default order and weights.
func DefaultProfile() Profile {
	taints := &tainttoleration.Plugin{}
	affinity := &nodeaffinity.Plugin{}
	fit := &noderesources.Fit{}
	return Profile{
		Filters: []framework.FilterPlugin{
			&nodeunschedulable.Plugin{}, &nodename.Plugin{}, taints, affinity, &nodeports.Plugin{}, fit,
		},
		Scores: []WeightedScore{
			{Plugin: taints, Weight: 3},
			{Plugin: affinity, Weight: 2},
			{Plugin: fit, Weight: 1},
			{Plugin: &noderesources.BalancedAllocation{}, Weight: 1},
		},
	}
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
}

// Scheduler places pods on nodes.
type Scheduler struct {
	client  kubernetes.Interface
	log     *slog.Logger
	cfg     Config
	profile Profile
	queue   workqueue.TypedRateLimitingInterface[string]
	metrics *metrics

	podLister  corelisters.PodLister
	podIndexer cache.Indexer
	nodeLister corelisters.NodeLister
	recorder   events.EventRecorder

	mu sync.Mutex
	// assumed are pods bound by us that the informer hasn't shown bound
	// yet, by key; they count on their node meanwhile.
	assumed map[string]*v1.Pod
	// unschedulable are pods that fit no node, waiting for a change.
	unschedulable map[string]bool
	// moves counts cluster changes, so that a pod failing while a change
	// arrived is retried rather than parked.
	moves uint64
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
	return &Scheduler{
		client:  client,
		log:     log,
		cfg:     cfg,
		profile: DefaultProfile(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](cfg.InitialBackoff, cfg.MaxBackoff),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "scheduler"}),
		metrics:       newMetrics(cfg.Registerer),
		assumed:       map[string]*v1.Pod{},
		unschedulable: map[string]bool{},
	}
}

// responsibleFor reports whether pod waits for this scheduler.
func responsibleFor(pod *v1.Pod) bool {
	return pod.Spec.NodeName == "" && pod.Spec.SchedulerName == DefaultSchedulerName && pod.DeletionTimestamp == nil &&
		pod.Status.Phase != v1.PodSucceeded && pod.Status.Phase != v1.PodFailed
}

func podKey(pod *v1.Pod) string { return pod.Namespace + "/" + pod.Name }

// Run schedules pods until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	defer s.queue.ShutDown()
	factory := informers.NewSharedInformerFactory(s.client, 0)
	podInf := factory.Core().V1().Pods().Informer()
	nodeInf := factory.Core().V1().Nodes().Informer()
	if err := podInf.AddIndexers(cache.Indexers{nodeNameIndex: func(obj interface{}) ([]string, error) {
		if p, ok := obj.(*v1.Pod); ok && p.Spec.NodeName != "" {
			return []string{p.Spec.NodeName}, nil
		}
		return nil, nil
	}}); err != nil {
		return err
	}
	s.podIndexer = podInf.GetIndexer()
	s.podLister = factory.Core().V1().Pods().Lister()
	s.nodeLister = factory.Core().V1().Nodes().Lister()

	if _, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { s.onPod(nil, obj) },
		UpdateFunc: s.onPod,
		DeleteFunc: s.onPodDelete,
	}); err != nil {
		return err
	}
	if _, err := nodeInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(interface{}) { s.moveAll() },
		UpdateFunc: func(old, cur interface{}) {
			o, ok1 := old.(*v1.Node)
			n, ok2 := cur.(*v1.Node)
			if !ok1 || !ok2 || nodeChanged(o, n) {
				s.moveAll()
			}
		},
	}); err != nil {
		return err
	}

	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: s.client.EventsV1()})
	broadcaster.StartRecordingToSink(ctx.Done())
	defer broadcaster.Shutdown()
	s.recorder = broadcaster.NewRecorder(scheme.Scheme, DefaultSchedulerName)

	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), podInf.HasSynced, nodeInf.HasSynced) {
		return ctx.Err()
	}
	go func() {
		<-ctx.Done()
		s.queue.ShutDown()
	}()
	s.log.Info("scheduler started")
	for s.processNext(ctx) {
	}
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
		s.mu.Lock()
		delete(s.assumed, key)
		wasUnschedulable := s.unschedulable[key]
		delete(s.unschedulable, key)
		s.mu.Unlock()
		if wasUnschedulable {
			s.queue.Forget(key)
		}
		// A pod finishing frees its node's resources.
		if o, ok := old.(*v1.Pod); ok && isTerminal(pod) && !isTerminal(o) {
			s.moveAll()
		}
		return
	}
	if !responsibleFor(pod) {
		return
	}
	if o, ok := old.(*v1.Pod); ok {
		s.mu.Lock()
		parked := s.unschedulable[key]
		s.mu.Unlock()
		// Our own status writes must not retry a parked pod; a change of
		// spec, labels or annotations may.
		if parked && equality.Semantic.DeepEqual(o.Spec, pod.Spec) && equality.Semantic.DeepEqual(o.Labels, pod.Labels) &&
			equality.Semantic.DeepEqual(o.Annotations, pod.Annotations) {
			return
		}
		if parked {
			s.mu.Lock()
			delete(s.unschedulable, key)
			s.mu.Unlock()
		}
	}
	s.queue.Add(key)
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
	s.mu.Lock()
	_, wasAssumed := s.assumed[key]
	delete(s.assumed, key)
	delete(s.unschedulable, key)
	s.mu.Unlock()
	s.queue.Forget(key)
	if pod.Spec.NodeName != "" || wasAssumed {
		s.moveAll()
	}
}

// moveAll retries every parked pod, with its backoff.
func (s *Scheduler) moveAll() {
	s.mu.Lock()
	s.moves++
	keys := make([]string, 0, len(s.unschedulable))
	for k := range s.unschedulable {
		keys = append(keys, k)
	}
	clear(s.unschedulable)
	s.mu.Unlock()
	for _, k := range keys {
		s.queue.AddRateLimited(k)
	}
}

func (s *Scheduler) processNext(ctx context.Context) bool {
	key, quit := s.queue.Get()
	if quit {
		return false
	}
	defer s.queue.Done(key)
	s.scheduleOne(ctx, key)
	return true
}

// scheduleOne makes one attempt at placing the pod with key.
func (s *Scheduler) scheduleOne(ctx context.Context, key string) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		s.queue.Forget(key)
		return
	}
	pod, err := s.podLister.Pods(ns).Get(name)
	if err != nil || !responsibleFor(pod) {
		s.queue.Forget(key)
		return
	}
	s.mu.Lock()
	_, isAssumed := s.assumed[key]
	moves := s.moves
	s.mu.Unlock()
	if isAssumed {
		return
	}
	start := time.Now()
	node, err := s.schedulePod(ctx, pod)
	if err != nil {
		s.handleFailure(ctx, pod, key, err, moves)
		s.metrics.observe(resultOf(err), start)
		return
	}
	assumed := pod.DeepCopy()
	assumed.Spec.NodeName = node
	s.mu.Lock()
	s.assumed[key] = assumed
	s.mu.Unlock()
	err = s.client.CoreV1().Pods(pod.Namespace).Bind(ctx, &v1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     v1.ObjectReference{Kind: "Node", Name: node},
	}, metav1.CreateOptions{})
	if err != nil {
		s.mu.Lock()
		delete(s.assumed, key)
		s.mu.Unlock()
		s.metrics.observe(resultError, start)
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			// Deleted, or bound by someone else meanwhile: the informer
			// will tell; try again later if it still waits.
			s.log.Info("binding rejected", "pod", key, "node", node, "err", err)
		} else {
			s.log.Warn("binding failed", "pod", key, "node", node, "err", err)
		}
		s.recorder.Eventf(pod, nil, v1.EventTypeWarning, "FailedScheduling", "Scheduling", "Binding rejected: %v", err)
		s.queue.AddRateLimited(key)
		return
	}
	s.queue.Forget(key)
	s.metrics.observe(resultScheduled, start)
	s.recorder.Eventf(pod, nil, v1.EventTypeNormal, "Scheduled", "Binding", "Successfully assigned %v/%v to %v", pod.Namespace, pod.Name, node)
	s.log.Debug("pod scheduled", "pod", key, "node", node)
}

// errNoNodes is returned when the cluster has no nodes.
var errNoNodes = errors.New(ErrNoNodesAvailable)

// schedulePod returns the node to bind pod to, a *framework.FitError when
// it fits none, or another error.
func (s *Scheduler) schedulePod(ctx context.Context, pod *v1.Pod) (string, error) {
	nodes, err := s.snapshot()
	if err != nil {
		return "", err
	}
	return Schedule(ctx, s.profile, pod, nodes)
}

// snapshot builds the NodeInfo of every node from the informers and the
// assumed pods.
func (s *Scheduler) snapshot() ([]*framework.NodeInfo, error) {
	nodes, err := s.nodeLister.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	assumedByNode := map[string][]*v1.Pod{}
	for _, p := range s.assumed {
		assumedByNode[p.Spec.NodeName] = append(assumedByNode[p.Spec.NodeName], p)
	}
	s.mu.Unlock()
	out := make([]*framework.NodeInfo, 0, len(nodes))
	for _, n := range nodes {
		ni := framework.NewNodeInfo(n)
		objs, err := s.podIndexer.ByIndex(nodeNameIndex, n.Name)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if p, ok := o.(*v1.Pod); ok && !isTerminal(p) {
				ni.AddPod(p)
			}
		}
		for _, p := range assumedByNode[n.Name] {
			ni.AddPod(p)
		}
		out = append(out, ni)
	}
	return out, nil
}

// Schedule runs the profile's filters and scores for pod over nodes and
// returns the chosen node's name (ties broken at random).
func Schedule(ctx context.Context, prof Profile, pod *v1.Pod, nodes []*framework.NodeInfo) (string, error) {
	if len(nodes) == 0 {
		return "", errNoNodes
	}
	var feasible []*framework.NodeInfo
	statuses := map[string]*framework.Status{}
	for _, ni := range nodes {
		st := runFilters(ctx, prof, pod, ni)
		if st.IsSuccess() {
			feasible = append(feasible, ni)
			continue
		}
		if st.Code == framework.Error {
			return "", fmt.Errorf("running filters on node %s: %w", ni.Node.Name, st.Err)
		}
		statuses[ni.Node.Name] = st
	}
	if len(feasible) == 0 {
		return "", &framework.FitError{Pod: pod, NumAllNodes: len(nodes), NodeToStatus: statuses}
	}
	if len(feasible) == 1 {
		return feasible[0].Node.Name, nil
	}
	totals, err := scoreNodes(ctx, prof, pod, feasible)
	if err != nil {
		return "", err
	}
	return selectHost(totals), nil
}

func runFilters(ctx context.Context, prof Profile, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	for _, f := range prof.Filters {
		if st := f.Filter(ctx, pod, ni); !st.IsSuccess() {
			return st
		}
	}
	return nil
}

func scoreNodes(ctx context.Context, prof Profile, pod *v1.Pod, nodes []*framework.NodeInfo) ([]framework.NodeScore, error) {
	totals := make([]framework.NodeScore, len(nodes))
	for i, ni := range nodes {
		totals[i].Name = ni.Node.Name
	}
	for _, ws := range prof.Scores {
		scores := make([]framework.NodeScore, len(nodes))
		for i, ni := range nodes {
			sc, st := ws.Plugin.Score(ctx, pod, ni)
			if !st.IsSuccess() {
				return nil, fmt.Errorf("plugin %s scoring node %s: %s", ws.Plugin.Name(), ni.Node.Name, st.Message())
			}
			scores[i] = framework.NodeScore{Name: ni.Node.Name, Score: sc}
		}
		if n, ok := ws.Plugin.(framework.ScoreNormalizer); ok {
			if st := n.NormalizeScore(ctx, pod, scores); !st.IsSuccess() {
				return nil, fmt.Errorf("plugin %s normalizing: %s", ws.Plugin.Name(), st.Message())
			}
		}
		for i := range scores {
			totals[i].Score += scores[i].Score * ws.Weight
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
func (s *Scheduler) handleFailure(ctx context.Context, pod *v1.Pod, key string, err error, moves uint64) {
	var fitErr *framework.FitError
	reason := v1.PodReasonUnschedulable
	if !errors.As(err, &fitErr) && !errors.Is(err, errNoNodes) {
		reason = v1.PodReasonSchedulerError
		s.log.Warn("scheduling failed", "pod", key, "err", err)
	}
	msg := err.Error()
	// Park before writing the status, so that the update it causes is
	// recognised as ours.
	s.mu.Lock()
	park := reason == v1.PodReasonUnschedulable && s.moves == moves
	if park {
		s.unschedulable[key] = true
	}
	s.mu.Unlock()
	s.recorder.Eventf(pod, nil, v1.EventTypeWarning, "FailedScheduling", "Scheduling", "%s", msg)
	if uerr := s.setUnschedulable(ctx, pod, reason, msg); uerr != nil && !apierrors.IsNotFound(uerr) {
		s.log.Warn("updating pod status", "pod", key, "err", uerr)
	}
	if park {
		// Retry anyway after a while, as upstream flushes pods parked too
		// long.
		s.queue.AddAfter(key, s.cfg.UnschedulableRetry)
		return
	}
	s.queue.AddRateLimited(key)
}

// setUnschedulable sets PodScheduled=False with reason and message, unless
// the pod already says so.
func (s *Scheduler) setUnschedulable(ctx context.Context, pod *v1.Pod, reason, msg string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		updated := pod.DeepCopy()
		if !setCondition(&updated.Status, v1.PodCondition{
			Type: v1.PodScheduled, Status: v1.ConditionFalse, Reason: reason, Message: msg,
			LastProbeTime: metav1.Now(), LastTransitionTime: metav1.Now(),
		}) {
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
