package scheduler

import (
	"sync"

	v1 "k8s.io/api/core/v1"

	"skiff/internal/scheduler/framework"
)

// nodeCache keeps one NodeInfo per node, up to date with the informers
// and with the pods this scheduler has assumed onto nodes but whose
// binding the informer has not shown yet. A NodeInfo is never changed once
// handed out: a change builds a new one, so a snapshot stays valid for the
// whole scheduling cycle that took it, without locks.
type nodeCache struct {
	mu      sync.Mutex
	nodes   map[string]*cachedNode
	list    []*cachedNode     // nodes that exist, in snapshot order
	podNode map[string]string // pod key -> node it counts on
	assumed map[string]bool   // pod keys assumed, not yet seen bound
	// images counts the nodes holding each image. It is replaced, never
	// changed, once a snapshot took it.
	images map[string]int
}

type cachedNode struct {
	node *v1.Node // nil while only pods refer to it
	pods map[string]*v1.Pod
	info *framework.NodeInfo // nil: rebuild on next snapshot
	idx  int                 // position in list, -1 when not in it
	// images are the normalized image names of node.
	images map[string]int64
}

func newNodeCache() *nodeCache {
	return &nodeCache{nodes: map[string]*cachedNode{}, podNode: map[string]string{}, assumed: map[string]bool{}, images: map[string]int{}}
}

func (c *nodeCache) entry(name string) *cachedNode {
	e := c.nodes[name]
	if e == nil {
		e = &cachedNode{pods: map[string]*v1.Pod{}, idx: -1}
		c.nodes[name] = e
	}
	return e
}

// setNode adds or updates a node.
func (c *nodeCache) setNode(n *v1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(n.Name)
	e.node, e.info = n, nil
	if e.idx < 0 {
		e.idx = len(c.list)
		c.list = append(c.list, e)
	}
	// Heartbeats keep the images: count only real changes.
	imgs := framework.NodeImageNames(n)
	if !sameKeys(imgs, e.images) {
		c.countImagesLocked(e.images, -1)
		c.countImagesLocked(imgs, 1)
		e.images = imgs
	}
}

func sameKeys(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

// countImagesLocked adds delta to the node counts of names, copying the
// map first since snapshots may hold the current one.
func (c *nodeCache) countImagesLocked(names map[string]int64, delta int) {
	if len(names) == 0 {
		return
	}
	next := make(map[string]int, len(c.images)+len(names))
	for k, v := range c.images {
		next[k] = v
	}
	for k := range names {
		next[k] += delta
		if next[k] <= 0 {
			delete(next, k)
		}
	}
	c.images = next
}

// removeNode drops a node; its pods stay accounted until they go.
func (c *nodeCache) removeNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.nodes[name]
	if e == nil || e.idx < 0 {
		return
	}
	last := len(c.list) - 1
	c.list[e.idx] = c.list[last]
	c.list[e.idx].idx = e.idx
	c.list = c.list[:last]
	c.countImagesLocked(e.images, -1)
	e.idx, e.node, e.info, e.images = -1, nil, nil, nil
	if len(e.pods) == 0 {
		delete(c.nodes, name)
	}
}

// setPod accounts for a pod bound (or assumed) to a node, or forgets it
// when it has no node or has finished.
func (c *nodeCache) setPod(key string, p *v1.Pod, assumed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !assumed && c.assumed[key] && p.Spec.NodeName == "" {
		return // the informer is behind our own binding
	}
	c.dropLocked(key)
	if p.Spec.NodeName == "" || isTerminal(p) {
		return
	}
	e := c.entry(p.Spec.NodeName)
	e.pods[key], e.info = p, nil
	c.podNode[key] = p.Spec.NodeName
	if assumed {
		c.assumed[key] = true
	}
}

// removePod forgets a pod (deleted, or an assumption undone).
func (c *nodeCache) removePod(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(key)
}

func (c *nodeCache) dropLocked(key string) {
	delete(c.assumed, key)
	name, ok := c.podNode[key]
	if !ok {
		return
	}
	delete(c.podNode, key)
	e := c.nodes[name]
	if e == nil {
		return
	}
	delete(e.pods, key)
	e.info = nil
	if e.node == nil && len(e.pods) == 0 {
		delete(c.nodes, name)
	}
}

// isAssumed says whether key was assumed and not yet seen bound.
func (c *nodeCache) isAssumed(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.assumed[key]
}

// snapshot returns the NodeInfo of every node, with the image counts.
func (c *nodeCache) snapshot() *framework.Snapshot {
	c.mu.Lock()
	images := c.images
	c.mu.Unlock()
	return framework.NewSnapshot(c.nodeInfos(), images)
}

// nodeInfos returns the NodeInfo of every node.
func (c *nodeCache) nodeInfos() []*framework.NodeInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*framework.NodeInfo, len(c.list))
	for i, e := range c.list {
		if e.info == nil {
			pods := make([]*v1.Pod, 0, len(e.pods))
			for _, p := range e.pods {
				pods = append(pods, p)
			}
			e.info = framework.NewNodeInfo(e.node, pods...)
		}
		out[i] = e.info
	}
	return out
}
