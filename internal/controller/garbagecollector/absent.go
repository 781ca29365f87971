package garbagecollector

import (
	"container/list"
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// absentKey is an owner known not to exist where a reference looks for it:
// no object with that uid is at namespace/name. A uid is never reused, so
// once absent it stays absent.
type absentKey struct {
	UID       types.UID
	Namespace string
	Name      string
}

// absentCache remembers recently confirmed absent owners, so that the many
// dependents of a deleted owner cost one lookup rather than one each. It is
// a fixed-size LRU and safe for concurrent use.
type absentCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of absentKey, most recent first
	items map[absentKey]*list.Element
}

func newAbsentCache(max int) *absentCache {
	return &absentCache{max: max, order: list.New(), items: map[absentKey]*list.Element{}}
}

func (c *absentCache) Add(k absentKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.items[k] = c.order.PushFront(k)
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(absentKey))
	}
}

func (c *absentCache) Has(k absentKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if ok {
		c.order.MoveToFront(e)
	}
	return ok
}
