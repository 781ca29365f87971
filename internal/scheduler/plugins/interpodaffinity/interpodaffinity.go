// Package interpodaffinity owns the InterPodAffinity plugin: the filter for
// a pod's required pod affinity and anti-affinity and for the required
// anti-affinity of the pods already placed (symmetry), and the score for
// preferred terms of both the pod and the placed pods.
package interpodaffinity

import (
	"context"
	"maps"
	"sync"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"

	"skiff/internal/scheduler/framework"
)

// Name is the plugin's name.
const Name = "InterPodAffinity"

// Reasons, as upstream gives them.
const (
	ErrReasonExistingAntiAffinityRulesNotMatch = "node(s) didn't satisfy existing pods anti-affinity rules"
	ErrReasonAffinityRulesNotMatch             = "node(s) didn't match pod affinity rules"
	ErrReasonAntiAffinityRulesNotMatch         = "node(s) didn't match pod anti-affinity rules"
)

// HardPodAffinityWeight is how much a placed pod's required affinity term
// that the incoming pod matches counts in scoring (upstream's default).
const HardPodAffinityWeight = 1

const (
	preFilterKey = "interpodaffinity/prefilter"
	preScoreKey  = "interpodaffinity/prescore"
)

// Plugin is the InterPodAffinity filter and score.
type Plugin struct {
	// Namespaces resolves namespaceSelectors; without it they match no
	// namespace.
	Namespaces corelisters.NamespaceLister
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

// Init takes the namespace lister, and retries parked pods when
// namespace labels change (a namespaceSelector may match then).
func (p *Plugin) Init(h framework.Handle) error {
	inf := h.SharedInformerFactory().Core().V1().Namespaces()
	p.Namespaces = inf.Lister()
	_, err := inf.Informer().AddEventHandler(labelChangeHandler(h.MoveAllToActive))
	return err
}

// term is an affinity term resolved for matching.
type term struct {
	key        string
	selector   labels.Selector
	namespaces map[string]bool
	// nsSelector matches namespaces by label (nil: none).
	nsSelector labels.Selector
	weight     int64
}

// matches says whether pod, in a namespace with nsLabels, is selected by
// the term.
func (t *term) matches(pod *v1.Pod, nsLabels labels.Set) bool {
	if !t.namespaces[pod.Namespace] && (t.nsSelector == nil || !t.nsSelector.Matches(nsLabels)) {
		return false
	}
	return t.selector.Matches(labels.Set(pod.Labels))
}

// newTerm resolves an affinity term of a pod in namespace ns.
func newTerm(ns string, at *v1.PodAffinityTerm, weight int64) (*term, error) {
	sel, err := metav1.LabelSelectorAsSelector(at.LabelSelector)
	if err != nil {
		return nil, err
	}
	t := &term{key: at.TopologyKey, selector: sel, namespaces: map[string]bool{}, weight: weight}
	for _, n := range at.Namespaces {
		t.namespaces[n] = true
	}
	if at.NamespaceSelector != nil {
		if t.nsSelector, err = metav1.LabelSelectorAsSelector(at.NamespaceSelector); err != nil {
			return nil, err
		}
	} else if len(at.Namespaces) == 0 {
		t.namespaces[ns] = true
	}
	return t, nil
}

func requiredTerms(ns string, ts []v1.PodAffinityTerm) ([]*term, error) {
	out := make([]*term, 0, len(ts))
	for i := range ts {
		t, err := newTerm(ns, &ts[i], HardPodAffinityWeight)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func weightedTerms(ns string, ts []v1.WeightedPodAffinityTerm, sign int64) ([]*term, error) {
	out := make([]*term, 0, len(ts))
	for i := range ts {
		t, err := newTerm(ns, &ts[i].PodAffinityTerm, sign*int64(ts[i].Weight))
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// podTerms are the terms of one pod.
type podTerms struct {
	affinity, antiAffinity                   []*term // required
	preferredAffinity, preferredAntiAffinity []*term // weighted (anti negative)
}

func termsOf(pod *v1.Pod) (*podTerms, error) {
	pt := &podTerms{}
	a := pod.Spec.Affinity
	if a == nil {
		return pt, nil
	}
	var err error
	if pa := a.PodAffinity; pa != nil {
		if pt.affinity, err = requiredTerms(pod.Namespace, pa.RequiredDuringSchedulingIgnoredDuringExecution); err != nil {
			return nil, err
		}
		if pt.preferredAffinity, err = weightedTerms(pod.Namespace, pa.PreferredDuringSchedulingIgnoredDuringExecution, 1); err != nil {
			return nil, err
		}
	}
	if pa := a.PodAntiAffinity; pa != nil {
		if pt.antiAffinity, err = requiredTerms(pod.Namespace, pa.RequiredDuringSchedulingIgnoredDuringExecution); err != nil {
			return nil, err
		}
		if pt.preferredAntiAffinity, err = weightedTerms(pod.Namespace, pa.PreferredDuringSchedulingIgnoredDuringExecution, -1); err != nil {
			return nil, err
		}
	}
	return pt, nil
}

// resolveNamespaces turns the incoming pod's namespaceSelectors into
// namespace names once per cycle, so matching placed pods needs no lookup.
func (p *Plugin) resolveNamespaces(terms ...[]*term) {
	for _, ts := range terms {
		for _, t := range ts {
			if t.nsSelector == nil {
				continue
			}
			if p.Namespaces != nil {
				if nss, err := p.Namespaces.List(t.nsSelector); err == nil {
					for _, ns := range nss {
						t.namespaces[ns.Name] = true
					}
				}
			}
			t.nsSelector = nil
		}
	}
}

// namespaceLabels returns the labels of namespace ns.
func (p *Plugin) namespaceLabels(ns string) labels.Set {
	if p.Namespaces == nil {
		return nil
	}
	n, err := p.Namespaces.Get(ns)
	if err != nil {
		return nil
	}
	return n.Labels
}

type topologyPair struct{ key, value string }

// preFilterState is what Filter needs, counted once over the cluster.
type preFilterState struct {
	// existingAntiAffinity counts, per topology pair, the placed pods'
	// required anti-affinity terms matching the incoming pod.
	existingAntiAffinity map[topologyPair]int64
	// affinity and antiAffinity count, per topology pair, the placed pods
	// matching the incoming pod's required terms.
	affinity, antiAffinity map[topologyPair]int64
	terms                  *podTerms
	// matchesOwnAffinity: the pod matches all its own affinity terms, so
	// the first pod of a group may go anywhere.
	matchesOwnAffinity bool
	// nsLabels are the labels of the pod's namespace.
	nsLabels labels.Set
}

// Clone copies the counts for a dry run.
func (s *preFilterState) Clone() framework.StateData {
	if s == nil {
		return s
	}
	c := *s
	c.existingAntiAffinity, c.affinity, c.antiAffinity = maps.Clone(s.existingAntiAffinity), maps.Clone(s.affinity), maps.Clone(s.antiAffinity)
	return &c
}

// update adds delta for one placed pod on node to the counts.
func (s *preFilterState) update(pod, existing *v1.Pod, node *v1.Node, delta int64) {
	if framework.HasRequiredPodAntiAffinity(existing) {
		if et, err := cachedTermsOf(existing); err == nil {
			for _, t := range et.antiAffinity {
				if v, ok := node.Labels[t.key]; ok && t.matches(pod, s.nsLabels) {
					s.existingAntiAffinity[topologyPair{t.key, v}] += delta
				}
			}
		}
	}
	countBy(s.affinity, s.terms.affinity, existing, node, true, delta)
	countBy(s.antiAffinity, s.terms.antiAffinity, existing, node, false, delta)
	for _, m := range []map[topologyPair]int64{s.existingAntiAffinity, s.affinity, s.antiAffinity} {
		for k, v := range m {
			if v <= 0 {
				delete(m, k)
			}
		}
	}
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

// PreFilter counts the matches of the pod's required terms and of the
// placed pods' required anti-affinity terms, by topology pair.
func (p *Plugin) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo) *framework.Status {
	snap := framework.SnapshotFrom(state, nodes)
	terms, err := termsOf(pod)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(terms.affinity) == 0 && len(terms.antiAffinity) == 0 && len(snap.HavePodsWithRequiredAntiAffinity) == 0 {
		state.Write(preFilterKey, (*preFilterState)(nil))
		return framework.NewStatus(framework.Skip)
	}
	p.resolveNamespaces(terms.affinity, terms.antiAffinity)
	s := &preFilterState{
		existingAntiAffinity: map[topologyPair]int64{}, affinity: map[topologyPair]int64{}, antiAffinity: map[topologyPair]int64{},
		terms: terms, nsLabels: p.namespaceLabels(pod.Namespace),
	}
	nsLabels := s.nsLabels
	for _, ni := range snap.HavePodsWithRequiredAntiAffinity {
		for _, existing := range ni.PodsWithRequiredAntiAffinity {
			et, err := cachedTermsOf(existing)
			if err != nil {
				continue
			}
			for _, t := range et.antiAffinity {
				if v, ok := ni.Node.Labels[t.key]; ok && t.matches(pod, nsLabels) {
					s.existingAntiAffinity[topologyPair{t.key, v}]++
				}
			}
		}
	}
	if len(terms.affinity) > 0 || len(terms.antiAffinity) > 0 {
		for _, ni := range snap.Nodes {
			for _, existing := range ni.Pods {
				count(s.affinity, terms.affinity, existing, ni.Node, true)
				count(s.antiAffinity, terms.antiAffinity, existing, ni.Node, false)
			}
		}
		s.matchesOwnAffinity = true
		for _, t := range terms.affinity {
			if !t.matches(pod, nil) {
				s.matchesOwnAffinity = false
			}
		}
	}
	state.Write(preFilterKey, s)
	return nil
}

// count adds existing to the counts of the pair of each term it matches;
// for affinity, a pod counts only when it matches every term, as upstream.
func count(counts map[topologyPair]int64, terms []*term, existing *v1.Pod, node *v1.Node, all bool) {
	countBy(counts, terms, existing, node, all, 1)
}

func countBy(counts map[topologyPair]int64, terms []*term, existing *v1.Pod, node *v1.Node, all bool, delta int64) {
	if len(terms) == 0 {
		return
	}
	if all {
		for _, t := range terms {
			if !t.matches(existing, nil) {
				return
			}
		}
	}
	for _, t := range terms {
		if !all && !t.matches(existing, nil) {
			continue
		}
		if v, ok := node.Labels[t.key]; ok {
			counts[topologyPair{t.key, v}] += delta
		}
	}
}

func readPreFilter(state *framework.CycleState, p *Plugin, pod *v1.Pod, ni *framework.NodeInfo) (*preFilterState, *framework.Status) {
	if v, ok := state.Read(preFilterKey); ok {
		return v.(*preFilterState), nil
	}
	// Called without PreFilter: count over this node alone.
	st := framework.NewCycleState()
	if s := p.PreFilter(context.Background(), st, pod, []*framework.NodeInfo{ni}); !s.IsSuccess() && s.Code != framework.Skip {
		return nil, s
	}
	v, _ := st.Read(preFilterKey)
	return v.(*preFilterState), nil
}

// Filter applies the pod's affinity, then its anti-affinity, then the
// placed pods' anti-affinity, in upstream's order.
func (p *Plugin) Filter(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	s, st := readPreFilter(state, p, pod, ni)
	if st != nil {
		return st
	}
	if s == nil {
		return nil
	}
	node := ni.Node
	if !satisfiesAffinity(s, node) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonAffinityRulesNotMatch)
	}
	for _, t := range s.terms.antiAffinity {
		if v, ok := node.Labels[t.key]; ok && s.antiAffinity[topologyPair{t.key, v}] > 0 {
			return framework.NewStatus(framework.Unschedulable, ErrReasonAntiAffinityRulesNotMatch)
		}
	}
	if len(s.existingAntiAffinity) > 0 {
		for k, v := range node.Labels {
			if s.existingAntiAffinity[topologyPair{k, v}] > 0 {
				return framework.NewStatus(framework.Unschedulable, ErrReasonExistingAntiAffinityRulesNotMatch)
			}
		}
	}
	return nil
}

// satisfiesAffinity: every affinity term has a matching pod in the node's
// domain; or no pod anywhere matches and the pod matches its own terms
// (it starts the group), on a node that has all the topology keys.
func satisfiesAffinity(s *preFilterState, node *v1.Node) bool {
	ok := true
	for _, t := range s.terms.affinity {
		v, has := node.Labels[t.key]
		if !has {
			return false
		}
		if s.affinity[topologyPair{t.key, v}] <= 0 {
			ok = false
		}
	}
	if ok {
		return true
	}
	return len(s.affinity) == 0 && s.matchesOwnAffinity
}

// termCache keeps the parsed terms of placed pods, so that a cycle doesn't
// parse every placed pod's selectors again; a pod's uid and
// resourceVersion name its terms. The map is dropped when it grows large,
// which bounds what replaced pods leave behind.
var termCache = struct {
	sync.Mutex
	m map[termKey]*podTerms
}{m: map[termKey]*podTerms{}}

type termKey struct {
	uid types.UID
	rv  string
}

const termCacheMax = 20000

// cachedTermsOf returns the terms of a placed pod; they must not be
// changed.
func cachedTermsOf(pod *v1.Pod) (*podTerms, error) {
	if pod.UID == "" || pod.ResourceVersion == "" {
		return termsOf(pod)
	}
	key := termKey{pod.UID, pod.ResourceVersion}
	termCache.Lock()
	pt, ok := termCache.m[key]
	termCache.Unlock()
	if ok {
		return pt, nil
	}
	pt, err := termsOf(pod)
	if err != nil {
		return nil, err
	}
	termCache.Lock()
	if len(termCache.m) >= termCacheMax {
		termCache.m = map[termKey]*podTerms{}
	}
	termCache.m[key] = pt
	termCache.Unlock()
	return pt, nil
}
