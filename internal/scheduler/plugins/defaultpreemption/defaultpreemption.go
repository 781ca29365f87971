// Package defaultpreemption owns the DefaultPreemption PostFilter: when a
// pod fits no node, it looks for the node where evicting the fewest and
// least important lower-priority pods (preferring pods whose eviction
// violates no PodDisruptionBudget) lets the pod fit, nominates that node
// for the pod, and deletes the victims.
package defaultpreemption

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/events"

	"skiff/internal/scheduler/framework"
)

// Name is the plugin's name.
const Name = "DefaultPreemption"

// Messages, as upstream's.
const (
	msgNoVictims  = "No preemption victims found for incoming pod"
	msgNotHelpful = "Preemption is not helpful for scheduling"
)

// Plugin is the DefaultPreemption PostFilter.
type Plugin struct {
	handle framework.Handle
	client kubernetes.Interface
	pdbs   policylisters.PodDisruptionBudgetLister
	rec    events.EventRecorder
}

var (
	_ framework.PostFilterPlugin = (*Plugin)(nil)
	_ framework.Initializer      = (*Plugin)(nil)
)

// Name returns the plugin's name.
func (*Plugin) Name() string { return Name }

// Init takes the client, the recorder and the PodDisruptionBudget lister.
func (p *Plugin) Init(h framework.Handle) error {
	p.handle, p.client, p.rec = h, h.Client(), h.EventRecorder()
	p.pdbs = h.SharedInformerFactory().Policy().V1().PodDisruptionBudgets().Lister()
	return nil
}

// candidate is a node and the pods to evict there.
type candidate struct {
	node       string
	victims    []*v1.Pod
	violations int
}

// PostFilter preempts for pod if it may: it returns the nominated node, or
// an Unschedulable status whose message says why not.
func (p *Plugin) PostFilter(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodes []*framework.NodeInfo, statuses map[string]*framework.Status) (string, *framework.Status) {
	if p.handle == nil || len(nodes) == 0 {
		return "", framework.NewStatus(framework.Unschedulable)
	}
	if ok, msg := eligible(pod, nodes); !ok {
		return "", framework.NewStatus(framework.Unschedulable, msg)
	}
	var pdbs []*policyv1.PodDisruptionBudget
	if p.pdbs != nil {
		pdbs, _ = p.pdbs.PodDisruptionBudgets(pod.Namespace).List(labels.Everything())
	}
	fail := map[string]*framework.Status{}
	var cands []candidate
	// Like upstream, enough candidates end the search: 10% of the nodes,
	// at least 100, from a random start so that all nodes get their turn.
	enough := max(len(nodes)/10, 100)
	offset := rand.IntN(len(nodes))
	for i := range nodes {
		if len(cands) >= enough {
			break
		}
		ni := nodes[(offset+i)%len(nodes)]
		st := statuses[ni.Node.Name]
		if st != nil && st.Code == framework.UnschedulableAndUnresolvable {
			fail[ni.Node.Name] = framework.NewStatus(framework.UnschedulableAndUnresolvable, msgNotHelpful)
			continue
		}
		c, ok := p.selectVictims(ctx, state, pod, ni, pdbs)
		if !ok {
			fail[ni.Node.Name] = framework.NewStatus(framework.Unschedulable, msgNoVictims)
			continue
		}
		cands = append(cands, c)
	}
	if len(cands) == 0 {
		fe := &framework.FitError{Pod: pod, NumAllNodes: len(nodes), NodeToStatus: fail}
		return "", framework.NewStatus(framework.Unschedulable, "preemption: "+fe.Error())
	}
	best := pick(cands)
	if err := p.evict(ctx, pod, best); err != nil {
		return "", framework.AsStatus(err)
	}
	return best.node, nil
}

// eligible applies preemptionPolicy, and waits while victims of an
// earlier preemption on the nominated node are still terminating.
func eligible(pod *v1.Pod, nodes []*framework.NodeInfo) (bool, string) {
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy == v1.PreemptNever {
		return false, "not eligible due to preemptionPolicy=Never."
	}
	nom := pod.Status.NominatedNodeName
	if nom == "" {
		return true, ""
	}
	prio := framework.PodPriority(pod)
	for _, ni := range nodes {
		if ni.Node.Name != nom {
			continue
		}
		for _, q := range ni.Pods {
			if q.DeletionTimestamp != nil && framework.PodPriority(q) < prio {
				return false, "not eligible due to a terminating pod on the nominated node."
			}
		}
	}
	return true, ""
}

// moreImportant orders pods by priority, then by earlier start.
func moreImportant(a, b *v1.Pod) bool {
	pa, pb := framework.PodPriority(a), framework.PodPriority(b)
	if pa != pb {
		return pa > pb
	}
	return startTime(a).Before(startTime(b))
}

func startTime(p *v1.Pod) *metav1.Time {
	if p.Status.StartTime != nil {
		return p.Status.StartTime
	}
	return &p.CreationTimestamp
}

// selectVictims removes every lower-priority pod from the node; if pod then
// fits, it adds back as many as it can, most important first, those whose
// eviction would violate a PodDisruptionBudget before the others.
func (p *Plugin) selectVictims(ctx context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo, pdbs []*policyv1.PodDisruptionBudget) (candidate, bool) {
	prio := framework.PodPriority(pod)
	var keep, potential []*v1.Pod
	for _, q := range ni.Pods {
		if framework.PodPriority(q) < prio && q.DeletionTimestamp == nil {
			potential = append(potential, q)
		} else {
			keep = append(keep, q)
		}
	}
	if len(potential) == 0 {
		return candidate{}, false
	}
	// The PreFilter state counts pods (affinity, spreading): a copy is
	// told about every pod taken off or put back.
	state = state.Clone()
	for _, q := range potential {
		if st := p.handle.RemovePod(ctx, state, pod, q, ni); !st.IsSuccess() {
			return candidate{}, false
		}
	}
	fits := func(pods []*v1.Pod) bool {
		return p.handle.Filter(ctx, state, pod, framework.NewNodeInfo(ni.Node, pods...)).IsSuccess()
	}
	if !fits(keep) {
		return candidate{}, false
	}
	sort.SliceStable(potential, func(i, j int) bool { return moreImportant(potential[i], potential[j]) })
	violating, nonViolating := splitByPDB(potential, pdbs)
	c := candidate{node: ni.Node.Name}
	reprieve := func(q *v1.Pod) bool {
		p.handle.AddPod(ctx, state, pod, q, ni)
		if fits(append(keep, q)) {
			keep = append(keep, q)
			return true
		}
		p.handle.RemovePod(ctx, state, pod, q, ni)
		c.victims = append(c.victims, q)
		return false
	}
	for _, q := range violating {
		if !reprieve(q) {
			c.violations++
		}
	}
	for _, q := range nonViolating {
		reprieve(q)
	}
	return c, len(c.victims) > 0
}

// splitByPDB sorts pods into those whose eviction would exceed a matching
// budget's allowed disruptions (counting the earlier pods) and the rest.
func splitByPDB(pods []*v1.Pod, pdbs []*policyv1.PodDisruptionBudget) (violating, nonViolating []*v1.Pod) {
	allowed := make([]int32, len(pdbs))
	sels := make([]labels.Selector, len(pdbs))
	for i, b := range pdbs {
		allowed[i] = b.Status.DisruptionsAllowed
		if s, err := metav1.LabelSelectorAsSelector(b.Spec.Selector); err == nil {
			sels[i] = s
		}
	}
	for _, q := range pods {
		violates := false
		for i, b := range pdbs {
			if sels[i] == nil || sels[i].Empty() || b.Namespace != q.Namespace || !sels[i].Matches(labels.Set(q.Labels)) {
				continue
			}
			// A pod the budget already counts as disrupted costs nothing.
			if _, done := b.Status.DisruptedPods[q.Name]; done {
				continue
			}
			allowed[i]--
			if allowed[i] < 0 {
				violates = true
			}
		}
		if violates {
			violating = append(violating, q)
		} else {
			nonViolating = append(nonViolating, q)
		}
	}
	return violating, nonViolating
}

// pick chooses among candidates as upstream: fewest budget violations,
// then the lowest highest victim priority, the lowest sum of priorities,
// the fewest victims, the latest start of the highest-priority victims.
func pick(cands []candidate) candidate {
	score := func(c candidate) []int64 {
		var sum int64
		for _, v := range c.victims {
			sum += int64(framework.PodPriority(v)) + math.MaxInt32 + 1
		}
		top := c.victims[0]
		for _, v := range c.victims {
			if moreImportant(v, top) {
				top = v
			}
		}
		return []int64{int64(c.violations), int64(framework.PodPriority(top)), sum, int64(len(c.victims)), -startTime(top).UnixNano()}
	}
	best, bestScore := cands[0], score(cands[0])
	for _, c := range cands[1:] {
		s := score(c)
		for i := range s {
			if s[i] != bestScore[i] {
				if s[i] < bestScore[i] {
					best, bestScore = c, s
				}
				break
			}
		}
	}
	return best
}

// evict marks each victim with the DisruptionTarget condition, deletes it
// and records the Preempted event.
func (p *Plugin) evict(ctx context.Context, pod *v1.Pod, c candidate) error {
	for _, v := range c.victims {
		victim := v.DeepCopy()
		cond := v1.PodCondition{Type: v1.DisruptionTarget, Status: v1.ConditionTrue, Reason: v1.PodReasonPreemptionByScheduler,
			Message: fmt.Sprintf("%s: preempting to accommodate a higher priority pod", pod.Spec.SchedulerName), LastTransitionTime: metav1.Now()}
		replaced := false
		for i := range victim.Status.Conditions {
			if victim.Status.Conditions[i].Type == v1.DisruptionTarget {
				victim.Status.Conditions[i], replaced = cond, true
			}
		}
		if !replaced {
			victim.Status.Conditions = append(victim.Status.Conditions, cond)
		}
		if _, err := p.client.CoreV1().Pods(v.Namespace).UpdateStatus(ctx, victim, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("marking victim %s/%s: %w", v.Namespace, v.Name, err)
		}
		if err := p.client.CoreV1().Pods(v.Namespace).Delete(ctx, v.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &v.UID}}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting victim %s/%s: %w", v.Namespace, v.Name, err)
		}
		if p.rec != nil {
			p.rec.Eventf(v, pod, v1.EventTypeNormal, "Preempted", "Preempting", "Preempted by pod %v on node %v", pod.UID, c.node)
		}
	}
	return nil
}
