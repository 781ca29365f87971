package main

import (
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// contentTypeCounter counts the media types of the API server's responses,
// so the report says which encoding the client really got.
type contentTypeCounter struct {
	mu     sync.Mutex
	counts map[string]int
	lastMT string
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (c *contentTypeCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(r)
		if err == nil {
			mt, _, perr := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			if perr != nil {
				mt = resp.Header.Get("Content-Type")
			}
			c.mu.Lock()
			if c.counts == nil {
				c.counts = map[string]int{}
			}
			c.counts[mt]++
			c.lastMT = mt
			c.mu.Unlock()
		}
		return resp, err
	})
}

func (c *contentTypeCounter) last() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastMT
}

// snapshot returns "type: count" pairs, most frequent first.
func (c *contentTypeCounter) snapshot() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range c.counts {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || (all[i].v == all[j].v && all[i].k < all[j].k) })
	var parts []string
	for _, e := range all {
		parts = append(parts, e.k+": "+strconv.Itoa(e.v))
	}
	return strings.Join(parts, ", ")
}
