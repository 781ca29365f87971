package apiserver

import (
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff/internal/gzipjoin"
)

// Responses larger than gzipThreshold are gzip-compressed for clients that
// accept it, at the fastest level: upstream's defaults (client-go asks for
// gzip unless told not to). Watches are never compressed.
const gzipThreshold = 128 << 10

// acceptsGzip says whether the request's Accept-Encoding allows gzip.
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, tok := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(tok), ";")
			if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
				continue
			}
			if q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q="); ok {
				if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
					return false
				}
			}
			return true
		}
	}
	return false
}

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

// writeBody writes a whole response body, compressed when it is large and
// the client accepts gzip.
func writeBody(w http.ResponseWriter, r *http.Request, code int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	if len(body) <= gzipThreshold || !acceptsGzip(r) {
		w.WriteHeader(code)
		_, _ = w.Write(body)
		return
	}
	h.Set("Content-Encoding", "gzip")
	h.Add("Vary", "Accept-Encoding")
	w.WriteHeader(code)
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(w)
	_, _ = zw.Write(body)
	_ = zw.Close()
	zw.Reset(nil)
	gzipWriters.Put(zw)
}

// A compressed list is cut into chunks of consecutive items, each
// compressed on its own and kept while its items do not change; a list
// request compresses only the chunks it has not seen. Where a chunk ends
// depends only on the item there (a hash of its name), so an added or
// removed object changes the chunk around it and not every chunk after.
const (
	chunkBoundary = 64      // one item in this many ends a chunk, on average
	chunkMaxItems = 256     // ...and no chunk holds more
	chunkMaxBytes = 1 << 20 // or more bytes than this
	// chunkCacheBytes bounds the encodings one generation of the cache
	// keeps alive; an unused chunk is dropped after at most two
	// generations (or chunkCacheAge).
	chunkCacheBytes = 256 << 20
	chunkCacheAge   = 2 * time.Minute
)

// chunkKey names a chunk by its first item's encoding, the number of items
// and whether a separator comes before the first item (JSON lists).
type chunkKey struct {
	first *byte
	n     int
	lead  bool
}

// chunkEntry is a compressed chunk. It holds its items' encodings: an
// encoding's address identifies it only while it cannot be freed and
// reused.
type chunkEntry struct {
	items [][]byte
	seg   gzipjoin.Segment
}

func (e *chunkEntry) matches(items [][]byte) bool {
	if len(e.items) != len(items) {
		return false
	}
	for i, b := range items {
		if len(b) != len(e.items[i]) || &b[0] != &e.items[i][0] {
			return false
		}
	}
	return true
}

// chunkCache keeps compressed chunks in two generations: a chunk used in
// the current one stays, the previous one is dropped at the next turn.
type chunkCache struct {
	mu        sync.Mutex
	cur, prev map[chunkKey]*chunkEntry
	curBytes  int
	turned    time.Time
	hits      func()
	misses    func()
}

func newChunkCache(hits, misses func()) *chunkCache {
	return &chunkCache{cur: map[chunkKey]*chunkEntry{}, turned: time.Now(), hits: hits, misses: misses}
}

// segment returns the compressed chunk of items (each framed by frame),
// compressing it when it is not kept.
func (c *chunkCache) segment(items [][]byte, lead bool, frame func(i int, b []byte) []byte) gzipjoin.Segment {
	for _, b := range items {
		if len(b) == 0 { // no address to know it by
			return compressChunk(items, frame)
		}
	}
	k := chunkKey{first: &items[0][0], n: len(items), lead: lead}
	c.mu.Lock()
	e := c.cur[k]
	if e == nil {
		if e = c.prev[k]; e != nil && e.matches(items) {
			c.keep(k, e)
		}
	}
	c.mu.Unlock()
	if e != nil && e.matches(items) {
		c.hits()
		return e.seg
	}
	c.misses()
	e = &chunkEntry{items: items, seg: compressChunk(items, frame)}
	c.mu.Lock()
	c.keep(k, e)
	c.mu.Unlock()
	return e.seg
}

func compressChunk(items [][]byte, frame func(i int, b []byte) []byte) gzipjoin.Segment {
	parts := make([][]byte, 0, 2*len(items))
	for i, b := range items {
		if f := frame(i, b); len(f) > 0 {
			parts = append(parts, f)
		}
		parts = append(parts, b)
	}
	return gzipjoin.Compress(parts...)
}

// keep puts e in the current generation; c.mu is held.
func (c *chunkCache) keep(k chunkKey, e *chunkEntry) {
	if c.curBytes > chunkCacheBytes || time.Since(c.turned) > chunkCacheAge {
		c.prev, c.cur, c.curBytes, c.turned = c.cur, map[chunkKey]*chunkEntry{}, 0, time.Now()
	}
	if old := c.cur[k]; old != nil {
		c.curBytes -= int(old.seg.Size)
	}
	c.cur[k] = e
	c.curBytes += int(e.seg.Size)
}

// chunkEnds returns where each chunk of the list's items ends (exclusive).
func chunkEnds(objs []runtime.Object, items [][]byte) []int {
	var ends []int
	n, size := 0, 0
	for i, it := range items {
		n++
		size += len(it)
		end := n >= chunkMaxItems || size >= chunkMaxBytes
		if !end {
			if m, err := meta.Accessor(objs[i]); err == nil {
				end = fnv1a(fnv1a(fnv1a(fnvOffset, m.GetNamespace()), "/"), m.GetName())%chunkBoundary == 0
			}
		}
		if end || i == len(items)-1 {
			ends = append(ends, i+1)
			n, size = 0, 0
		}
	}
	return ends
}

const fnvOffset = 2166136261

// fnv1a continues a 32-bit FNV-1a hash h over s.
func fnv1a(h uint32, s string) uint32 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}
