// Package podtopologyspread owns the PodTopologySpread plugin: a pod's
// topologySpreadConstraints keep the matching pods spread over topology
// domains, as a filter (whenUnsatisfiable: DoNotSchedule) and as a score
// (ScheduleAnyway). A pod without constraints that belongs to a Service,
// ReplicaSet, ReplicationController or StatefulSet gets upstream's system
// default constraints (soft, over hostname and zone).
package podtopologyspread

import (
	"context"
	"maps"
	"math"
	"slices"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	v1helper "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"skiff/internal/scheduler/framework"
)

// Name is the plugin's name.
const Name = "PodTopologySpread"

// Reasons, as upstream gives them.
const (
	ErrReasonConstraintsNotMatch = "node(s) didn't match pod topology spread constraints"
	ErrReasonNodeLabelNotMatch   = ErrReasonConstraintsNotMatch + " (missing required label)"
)

// SystemDefaultConstraints are upstream's defaults for pods without
// constraints: soft spreading over nodes (maxSkew 3) and zones (maxSkew 5).
var SystemDefaultConstraints = []v1.TopologySpreadConstraint{
	{TopologyKey: v1.LabelHostname, WhenUnsatisfiable: v1.ScheduleAnyway, MaxSkew: 3},
	{TopologyKey: v1.LabelTopologyZone, WhenUnsatisfiable: v1.ScheduleAnyway, MaxSkew: 5},
}

const (
	preFilterKey = "podtopologyspread/prefilter"
	preScoreKey  = "podtopologyspread/prescore"
)

// Plugin is the PodTopologySpread filter and score. Without the listers
// (no Init), pods without constraints get none.
type Plugin struct {
	Services     corelisters.ServiceLister
	Controllers  corelisters.ReplicationControllerLister
	ReplicaSets  appslisters.ReplicaSetLister
	StatefulSets appslisters.StatefulSetLister
}

var (
	_ framework.PreFilterPlugin = (*Plugin)(nil)
	_ framework.FilterPlugin    = (*Plugin)(nil)
	_ framework.PreScorePlugin  = (*Plugin)(nil)
	_ framework.ScorePlugin     = (*Plugin)(nil)
	_ framework.ScoreNormalizer = (*Plugin)(nil)
	_ framework.Initializer     = (*Plugin)(nil)

	_ framework.PreFilterExtensions = (*Plugin)(nil)
)

// Name returns the plugin's name.
func (*Plugin) Name() string { return Name }

// Init takes the listers the default constraints need.
func (p *Plugin) Init(h framework.Handle) error {
	f := h.SharedInformerFactory()
	p.Services = f.Core().V1().Services().Lister()
	p.Controllers = f.Core().V1().ReplicationControllers().Lister()
	p.ReplicaSets = f.Apps().V1().ReplicaSets().Lister()
	p.StatefulSets = f.Apps().V1().StatefulSets().Lister()
	return nil
}

// constraint is a topology spread constraint resolved for matching.
type constraint struct {
	maxSkew    int32
	key        string
	selector   labels.Selector
	minDomains int32
	// honorAffinity, honorTaints: the node inclusion policies.
	honorAffinity, honorTaints bool
}

func toConstraints(pod *v1.Pod, cs []v1.TopologySpreadConstraint, when v1.UnsatisfiableConstraintAction, defaultSel labels.Selector) ([]constraint, error) {
	var out []constraint
	for _, c := range cs {
		if c.WhenUnsatisfiable != when {
			continue
		}
		sel := defaultSel
		if sel == nil {
			var err error
			if sel, err = metav1.LabelSelectorAsSelector(c.LabelSelector); err != nil {
				return nil, err
			}
			// matchLabelKeys: only pods with the same values for these
			// keys (a new revision spreads on its own).
			for _, k := range c.MatchLabelKeys {
				if v, ok := pod.Labels[k]; ok {
					r, err := labels.NewRequirement(k, selection.Equals, []string{v})
					if err != nil {
						return nil, err
					}
					sel = sel.Add(*r)
				}
			}
		}
		mc := constraint{maxSkew: c.MaxSkew, key: c.TopologyKey, selector: sel, minDomains: 1,
			honorAffinity: c.NodeAffinityPolicy == nil || *c.NodeAffinityPolicy == v1.NodeInclusionPolicyHonor,
			honorTaints:   c.NodeTaintsPolicy != nil && *c.NodeTaintsPolicy == v1.NodeInclusionPolicyHonor}
		if c.MinDomains != nil {
			mc.minDomains = *c.MinDomains
		}
		out = append(out, mc)
	}
	return out, nil
}

// includes applies the node inclusion policies.
func (c *constraint) includes(pod *v1.Pod, node *v1.Node, aff nodeaffinity.RequiredNodeAffinity) bool {
	if c.honorAffinity {
		if ok, _ := aff.Match(node); !ok {
			return false
		}
	}
	if c.honorTaints {
		_, untolerated := v1helper.FindMatchingUntoleratedTaint(klog.Background(), node.Spec.Taints, pod.Spec.Tolerations, func(t *v1.Taint) bool {
			return t.Effect == v1.TaintEffectNoSchedule || t.Effect == v1.TaintEffectNoExecute
		}, false)
		if untolerated {
			return false
		}
	}
	return true
}

func hasAllKeys(node *v1.Node, cs []constraint) bool {
	for _, c := range cs {
		if _, ok := node.Labels[c.key]; !ok {
			return false
		}
	}
	return true
}

// countMatching counts the pods on a node, in namespace ns, not being
// deleted, that sel selects.
func countMatching(pods []*v1.Pod, sel labels.Selector, ns string) int64 {
	var n int64
	for _, p := range pods {
		if p.Namespace == ns && p.DeletionTimestamp == nil && sel.Matches(labels.Set(p.Labels)) {
			n++
		}
	}
	return n
}

type topologyPair struct{ key, value string }

// preFilterState has the matching pods per domain of each hard
// constraint, and the smallest count per topology key.
type preFilterState struct {
	constraints []constraint
	counts      map[topologyPair]int64
	minCounts   []int64
}

// PreFilter counts the pods matching each DoNotSchedule constraint in
// every domain of the eligible nodes.
func (p *Plugin) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo) *framework.Status {
	cs, err := toConstraints(pod, pod.Spec.TopologySpreadConstraints, v1.DoNotSchedule, nil)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(cs) == 0 {
		state.Write(preFilterKey, (*preFilterState)(nil))
		return framework.NewStatus(framework.Skip)
	}
	state.Write(preFilterKey, computePreFilter(pod, cs, framework.SnapshotFrom(state, nodes).Nodes))
	return nil
}

// Clone copies the counts for a dry run.
func (s *preFilterState) Clone() framework.StateData {
	if s == nil {
		return s
	}
	c := *s
	c.counts, c.minCounts = maps.Clone(s.counts), slices.Clone(s.minCounts)
	return &c
}

// update adds delta for a pod placed on (or taken off) node.
func (s *preFilterState) update(pod, other *v1.Pod, node *v1.Node, delta int64) {
	if other.Namespace != pod.Namespace || !hasAllKeys(node, s.constraints) {
		return
	}
	aff := nodeaffinity.GetRequiredNodeAffinity(pod)
	for i := range s.constraints {
		c := &s.constraints[i]
		if !c.includes(pod, node, aff) || !c.selector.Matches(labels.Set(other.Labels)) {
			continue
		}
		s.counts[topologyPair{c.key, node.Labels[c.key]}] += delta
	}
	s.updateMins()
}

// AddPod counts a pod preemption puts back on node.
func (p *Plugin) AddPod(_ context.Context, state *framework.CycleState, pod, podToAdd *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	if v, ok := state.Read(preFilterKey); ok && v.(*preFilterState) != nil {
		v.(*preFilterState).update(pod, podToAdd, ni.Node, 1)
	}
	return nil
}

// RemovePod uncounts a pod preemption takes off node.
func (p *Plugin) RemovePod(_ context.Context, state *framework.CycleState, pod, podToRemove *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	if v, ok := state.Read(preFilterKey); ok && v.(*preFilterState) != nil {
		v.(*preFilterState).update(pod, podToRemove, ni.Node, -1)
	}
	return nil
}

func computePreFilter(pod *v1.Pod, cs []constraint, nodes []*framework.NodeInfo) *preFilterState {
	s := &preFilterState{constraints: cs, counts: map[topologyPair]int64{}, minCounts: make([]int64, len(cs))}
	aff := nodeaffinity.GetRequiredNodeAffinity(pod)
	for _, ni := range nodes {
		if !hasAllKeys(ni.Node, cs) {
			continue
		}
		for i := range cs {
			c := &cs[i]
			if !c.includes(pod, ni.Node, aff) {
				continue
			}
			s.counts[topologyPair{c.key, ni.Node.Labels[c.key]}] += countMatching(ni.Pods, c.selector, pod.Namespace)
		}
	}
	s.updateMins()
	return s
}

// updateMins finds each constraint's smallest domain count (0 with fewer
// domains than minDomains).
func (s *preFilterState) updateMins() {
	cs := s.constraints
	for i, c := range cs {
		domains, lowest := 0, int64(math.MaxInt64)
		for pair, n := range s.counts {
			if pair.key == c.key {
				domains++
				lowest = min(lowest, n)
			}
		}
		if domains < int(c.minDomains) || domains == 0 {
			lowest = 0
		}
		s.minCounts[i] = lowest
	}
}

// Filter rejects a node missing a constraint's topology key, or where one
// more matching pod would make the skew exceed maxSkew.
func (p *Plugin) Filter(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	var s *preFilterState
	if v, ok := state.Read(preFilterKey); ok {
		s = v.(*preFilterState)
	} else {
		cs, err := toConstraints(pod, pod.Spec.TopologySpreadConstraints, v1.DoNotSchedule, nil)
		if err != nil {
			return framework.AsStatus(err)
		}
		if len(cs) > 0 {
			s = computePreFilter(pod, cs, []*framework.NodeInfo{ni})
		}
	}
	if s == nil {
		return nil
	}
	for i, c := range s.constraints {
		v, ok := ni.Node.Labels[c.key]
		if !ok {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNodeLabelNotMatch)
		}
		var self int64
		if c.selector.Matches(labels.Set(pod.Labels)) {
			self = 1
		}
		if s.counts[topologyPair{c.key, v}]+self-s.minCounts[i] > int64(c.maxSkew) {
			return framework.NewStatus(framework.Unschedulable, ErrReasonConstraintsNotMatch)
		}
	}
	return nil
}

// defaultSelector selects the pods of the Services, ReplicationControllers,
// ReplicaSets and StatefulSets that select pod, as upstream does for the
// system default constraints.
func (p *Plugin) defaultSelector(pod *v1.Pod) labels.Selector {
	if p.Services == nil || len(pod.Labels) == 0 {
		return labels.Nothing()
	}
	podLabels := labels.Set(pod.Labels)
	set := labels.Set{}
	if svcs, err := p.Services.Services(pod.Namespace).List(labels.Everything()); err == nil {
		for _, svc := range svcs {
			if len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
				for k, v := range svc.Spec.Selector {
					set[k] = v
				}
			}
		}
	}
	if rcs, err := p.Controllers.ReplicationControllers(pod.Namespace).List(labels.Everything()); err == nil {
		for _, rc := range rcs {
			if len(rc.Spec.Selector) > 0 && labels.SelectorFromSet(rc.Spec.Selector).Matches(podLabels) {
				for k, v := range rc.Spec.Selector {
					set[k] = v
				}
			}
		}
	}
	sel := labels.NewSelector()
	if len(set) > 0 {
		sel = labels.SelectorFromSet(set)
	}
	addReqs := func(ls *metav1.LabelSelector) {
		s, err := metav1.LabelSelectorAsSelector(ls)
		if err != nil || s.Empty() || !s.Matches(podLabels) {
			return
		}
		reqs, _ := s.Requirements()
		sel = sel.Add(reqs...)
	}
	if rss, err := p.ReplicaSets.ReplicaSets(pod.Namespace).List(labels.Everything()); err == nil {
		for _, rs := range rss {
			addReqs(rs.Spec.Selector)
		}
	}
	if sss, err := p.StatefulSets.StatefulSets(pod.Namespace).List(labels.Everything()); err == nil {
		for _, ss := range sss {
			addReqs(ss.Spec.Selector)
		}
	}
	return sel
}

// softConstraints are the pod's ScheduleAnyway constraints, or the system
// defaults when it has none at all; systemDefaulted says which.
func (p *Plugin) softConstraints(pod *v1.Pod) (cs []constraint, systemDefaulted bool, err error) {
	if len(pod.Spec.TopologySpreadConstraints) > 0 {
		cs, err = toConstraints(pod, pod.Spec.TopologySpreadConstraints, v1.ScheduleAnyway, nil)
		return cs, false, err
	}
	sel := p.defaultSelector(pod)
	if sel.Empty() {
		return nil, true, nil
	}
	if _, ok := sel.Requirements(); !ok {
		return nil, true, nil
	}
	cs, err = toConstraints(pod, SystemDefaultConstraints, v1.ScheduleAnyway, sel)
	return cs, true, err
}

// preScoreState has the matching pods per domain of each soft constraint
// (per-node counts are taken in Score), the nodes ignored for lacking a
// topology key, and each constraint's normalizing weight.
type preScoreState struct {
	constraints []constraint
	counts      map[topologyPair]*int64
	ignored     map[string]bool
	weights     []float64
}

// PreScore counts the pods matching the soft constraints in the domains of
// the feasible nodes; the whole cluster is visited only for constraints
// over keys other than the hostname.
func (p *Plugin) PreScore(_ context.Context, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo) *framework.Status {
	cs, systemDefaulted, err := p.softConstraints(pod)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(cs) == 0 || len(nodes) == 0 {
		state.Write(preScoreKey, (*preScoreState)(nil))
		return framework.NewStatus(framework.Skip)
	}
	requireAll := !systemDefaulted
	s := &preScoreState{constraints: cs, counts: map[topologyPair]*int64{}, ignored: map[string]bool{}, weights: make([]float64, len(cs))}
	sizes := make([]int, len(cs))
	keyless := make([]bool, len(cs))
	for _, ni := range nodes {
		if requireAll && !hasAllKeys(ni.Node, cs) {
			s.ignored[ni.Node.Name] = true
			continue
		}
		for i, c := range cs {
			if c.key == v1.LabelHostname {
				continue
			}
			val, ok := ni.Node.Labels[c.key]
			if !ok {
				// Nodes without the key form one domain for the weight;
				// Score never reads its count, so it isn't counted (which
				// spares a visit of every node when no node has the key).
				if !keyless[i] {
					keyless[i] = true
					sizes[i]++
				}
				continue
			}
			pair := topologyPair{c.key, val}
			if s.counts[pair] == nil {
				s.counts[pair] = new(int64)
				sizes[i]++
			}
		}
	}
	if len(s.counts) > 0 {
		aff := nodeaffinity.GetRequiredNodeAffinity(pod)
		for _, ni := range framework.SnapshotFrom(state, nodes).Nodes {
			if requireAll && !hasAllKeys(ni.Node, cs) {
				continue
			}
			for i := range cs {
				c := &cs[i]
				if c.key == v1.LabelHostname || !c.includes(pod, ni.Node, aff) {
					continue
				}
				if n := s.counts[topologyPair{c.key, ni.Node.Labels[c.key]}]; n != nil {
					*n += countMatching(ni.Pods, c.selector, pod.Namespace)
				}
			}
		}
	}
	for i, c := range cs {
		size := sizes[i]
		if c.key == v1.LabelHostname {
			size = len(nodes) - len(s.ignored)
		}
		s.weights[i] = math.Log(float64(size + 2))
	}
	state.Write(preScoreKey, s)
	return nil
}

// Score is higher the more matching pods the node's domains hold (it is
// reversed in NormalizeScore).
func (p *Plugin) Score(ctx context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	v, ok := state.Read(preScoreKey)
	if !ok {
		st := framework.NewCycleState()
		if s := p.PreScore(ctx, st, pod, []*framework.NodeInfo{ni}); !s.IsSuccess() && s.Code != framework.Skip {
			return 0, s
		}
		v, _ = st.Read(preScoreKey)
	}
	s := v.(*preScoreState)
	if s == nil || s.ignored[ni.Node.Name] {
		return 0, nil
	}
	var score float64
	for i, c := range s.constraints {
		val, ok := ni.Node.Labels[c.key]
		if !ok {
			continue
		}
		var cnt int64
		if c.key == v1.LabelHostname {
			cnt = countMatching(ni.Pods, c.selector, pod.Namespace)
		} else if n := s.counts[topologyPair{c.key, val}]; n != nil {
			cnt = *n
		}
		score += float64(cnt)*s.weights[i] + float64(c.maxSkew-1)
	}
	return int64(math.Round(score)), nil
}

// NormalizeScore reverses the scores onto [0, 100]: the fewest matching
// pods scores highest; ignored nodes score 0.
func (p *Plugin) NormalizeScore(_ context.Context, state *framework.CycleState, _ *v1.Pod, scores []framework.NodeScore) *framework.Status {
	v, _ := state.Read(preScoreKey)
	s, _ := v.(*preScoreState)
	if s == nil {
		return nil
	}
	lo, hi := int64(math.MaxInt64), int64(0)
	for _, sc := range scores {
		if s.ignored[sc.Name] {
			continue
		}
		lo, hi = min(lo, sc.Score), max(hi, sc.Score)
	}
	for i := range scores {
		switch {
		case s.ignored[scores[i].Name]:
			scores[i].Score = 0
		case hi == 0:
			scores[i].Score = framework.MaxNodeScore
		default:
			scores[i].Score = framework.MaxNodeScore * (hi + lo - scores[i].Score) / hi
		}
	}
	return nil
}
