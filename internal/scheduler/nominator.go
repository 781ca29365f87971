package scheduler

import (
	"sync"

	v1 "k8s.io/api/core/v1"

	"skiff/internal/scheduler/framework"
)

// nominator remembers the pending pods nominated to a node by preemption
// (status.nominatedNodeName), so that pods of no higher priority don't
// take the room freed for them while the victims terminate.
type nominator struct {
	mu     sync.RWMutex
	byNode map[string]map[string]*v1.Pod
	nodeOf map[string]string
}

func newNominator() *nominator {
	return &nominator{byNode: map[string]map[string]*v1.Pod{}, nodeOf: map[string]string{}}
}

// set records pod as nominated to node, or forgets it when node is "".
func (n *nominator) set(key string, pod *v1.Pod, node string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if old, ok := n.nodeOf[key]; ok {
		delete(n.byNode[old], key)
		if len(n.byNode[old]) == 0 {
			delete(n.byNode, old)
		}
		delete(n.nodeOf, key)
	}
	if node == "" {
		return
	}
	if n.byNode[node] == nil {
		n.byNode[node] = map[string]*v1.Pod{}
	}
	n.byNode[node][key] = pod
	n.nodeOf[key] = node
}

// podsFor lists the pods nominated to node that pod must leave room for:
// those of at least its priority, other than itself.
func (n *nominator) podsFor(node string, pod *v1.Pod) []*v1.Pod {
	if n == nil {
		return nil
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	if len(n.byNode[node]) == 0 {
		return nil
	}
	key, prio := podKey(pod), framework.PodPriority(pod)
	var out []*v1.Pod
	for k, p := range n.byNode[node] {
		if k != key && framework.PodPriority(p) >= prio {
			out = append(out, p)
		}
	}
	return out
}
