package garbagecollector

import (
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/lru"
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
type absentCache struct{ c *lru.Cache }

func newAbsentCache(max int) *absentCache { return &absentCache{c: lru.New(max)} }

func (c *absentCache) Add(k absentKey) { c.c.Add(k, struct{}{}) }

func (c *absentCache) Has(k absentKey) bool {
	_, ok := c.c.Get(k)
	return ok
}
