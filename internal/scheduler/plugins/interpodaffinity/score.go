package interpodaffinity

import (
	"context"
	"maps"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"skiff/internal/scheduler/framework"
)

// preScoreState is the summed weight per topology key and value.
type preScoreState map[string]map[string]int64

func (s preScoreState) add(key string, node *v1.Node, w int64) {
	v, ok := node.Labels[key]
	if !ok || w == 0 {
		return
	}
	if s[key] == nil {
		s[key] = map[string]int64{}
	}
	s[key][v] += w
}

// PreScore sums, by topology domain, the weights of the pod's preferred
// terms matched by placed pods and of the placed pods' terms the pod
// matches (their required affinity at HardPodAffinityWeight).
func (p *Plugin) PreScore(_ context.Context, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo) *framework.Status {
	snap := framework.SnapshotFrom(state, nodes)
	terms, err := termsOf(pod)
	if err != nil {
		return framework.AsStatus(err)
	}
	hasPreferred := len(terms.preferredAffinity) > 0 || len(terms.preferredAntiAffinity) > 0
	if !hasPreferred && len(snap.HavePodsWithAffinity) == 0 {
		state.Write(preScoreKey, preScoreState(nil))
		return framework.NewStatus(framework.Skip)
	}
	p.resolveNamespaces(terms.preferredAffinity, terms.preferredAntiAffinity)
	nsLabels := p.namespaceLabels(pod.Namespace)
	s := preScoreState{}
	visit := func(ni *framework.NodeInfo, existing *v1.Pod) {
		for _, t := range terms.preferredAffinity {
			if t.matches(existing, nil) {
				s.add(t.key, ni.Node, t.weight)
			}
		}
		for _, t := range terms.preferredAntiAffinity {
			if t.matches(existing, nil) {
				s.add(t.key, ni.Node, t.weight)
			}
		}
		if !framework.HasPodAffinity(existing) {
			return
		}
		et, err := cachedTermsOf(existing)
		if err != nil {
			return
		}
		for _, ts := range [][]*term{et.affinity, et.preferredAffinity, et.preferredAntiAffinity} {
			for _, t := range ts {
				if t.matches(pod, nsLabels) {
					s.add(t.key, ni.Node, t.weight)
				}
			}
		}
	}
	if hasPreferred {
		for _, ni := range snap.Nodes {
			for _, existing := range ni.Pods {
				visit(ni, existing)
			}
		}
	} else {
		for _, ni := range snap.HavePodsWithAffinity {
			for _, existing := range ni.PodsWithAffinity {
				visit(ni, existing)
			}
		}
	}
	state.Write(preScoreKey, s)
	return nil
}

// Score sums the weights of the node's domains.
func (p *Plugin) Score(ctx context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	v, ok := state.Read(preScoreKey)
	if !ok {
		st := framework.NewCycleState()
		if s := p.PreScore(ctx, st, pod, []*framework.NodeInfo{ni}); !s.IsSuccess() && s.Code != framework.Skip {
			return 0, s
		}
		v, _ = st.Read(preScoreKey)
	}
	s := v.(preScoreState)
	var score int64
	for key, vals := range s {
		if v, ok := ni.Node.Labels[key]; ok {
			score += vals[v]
		}
	}
	return score, nil
}

// NormalizeScore maps the sums onto [0, 100] between the lowest and the
// highest.
func (p *Plugin) NormalizeScore(_ context.Context, state *framework.CycleState, _ *v1.Pod, scores []framework.NodeScore) *framework.Status {
	if v, ok := state.Read(preScoreKey); ok && len(v.(preScoreState)) == 0 {
		return nil
	}
	if len(scores) == 0 {
		return nil
	}
	lo, hi := scores[0].Score, scores[0].Score
	for _, s := range scores {
		lo, hi = min(lo, s.Score), max(hi, s.Score)
	}
	for i := range scores {
		if hi > lo {
			scores[i].Score = int64(float64(framework.MaxNodeScore) * float64(scores[i].Score-lo) / float64(hi-lo))
		} else {
			scores[i].Score = 0
		}
	}
	return nil
}

// labelChangeHandler calls move when an object is added or its labels
// change.
func labelChangeHandler(move func()) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { move() },
		UpdateFunc: func(o, n any) {
			on, ok1 := o.(*v1.Namespace)
			nn, ok2 := n.(*v1.Namespace)
			if !ok1 || !ok2 || !maps.Equal(on.Labels, nn.Labels) {
				move()
			}
		},
	}
}
