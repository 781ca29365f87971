package storage

import (
	"context"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
)

// Memory is a Store kept in memory, for unit tests. It keeps every object
// encoded, like etcd, so callers can never share memory with it, and a
// history of changes so watches can start from a past revision.
type Memory struct {
	codec    *Codec
	mu       sync.Mutex
	rev      int64
	compact  int64
	kvs      map[string]memEntry
	claims   map[string][]byte
	history  []memChange
	watchers map[*memWatcher]bool
}

type memEntry struct {
	value          []byte
	modRev, create int64
}

type memChange struct {
	key         string
	value, prev []byte
	rev         int64
	prevRev     int64
	created     bool
	deleted     bool
}

type memWatcher struct {
	prefix string
	ch     chan Event
	ctx    context.Context
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory(codec *Codec) *Memory {
	return &Memory{codec: codec, rev: 1, kvs: map[string]memEntry{}, claims: map[string][]byte{}, watchers: map[*memWatcher]bool{}}
}

// Compact forgets history up to rev; older watches fail with ErrExpired.
func (m *Memory) Compact(rev int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.compact = rev
	i := sort.Search(len(m.history), func(i int) bool { return m.history[i].rev > rev })
	m.history = append([]memChange(nil), m.history[i:]...)
}

func (m *Memory) applyClaims(claims []Claim) error {
	for _, c := range claims {
		if _, held := m.claims[c.Key]; !c.Release && held {
			return &ClaimError{Key: c.Key}
		}
	}
	for _, c := range claims {
		if c.Release {
			delete(m.claims, c.Key)
		} else {
			m.claims[c.Key] = c.Value
		}
	}
	return nil
}

// record stores a change and tells the watchers; m.mu is held.
func (m *Memory) record(ch memChange) {
	m.history = append(m.history, ch)
	for w := range m.watchers {
		if strings.HasPrefix(ch.key, w.prefix) {
			m.deliver(w, ch)
		}
	}
}

func (m *Memory) deliver(w *memWatcher, ch memChange) {
	ev, err := m.event(ch)
	if err != nil {
		ev = Event{Type: Error, Err: err}
	}
	select {
	case w.ch <- ev:
	case <-w.ctx.Done():
	default:
		// A watcher that does not keep up is ended, never waited for.
		close(w.ch)
		delete(m.watchers, w)
	}
}

func (m *Memory) event(ch memChange) (Event, error) {
	ev := Event{Revision: ch.rev}
	switch {
	case ch.deleted:
		ev.Type = Deleted
		obj, err := m.codec.Decode(ch.prev, ch.rev)
		if err != nil {
			return ev, err
		}
		ev.Object = obj
		return ev, nil
	case ch.created:
		ev.Type = Added
	default:
		ev.Type = Modified
		prev, err := m.codec.Decode(ch.prev, ch.prevRev)
		if err != nil {
			return ev, err
		}
		ev.PrevObject = prev
	}
	obj, err := m.codec.Decode(ch.value, ch.rev)
	if err != nil {
		return ev, err
	}
	ev.Object = obj
	return ev, nil
}

// Create implements Store.
func (m *Memory) Create(_ context.Context, key string, obj runtime.Object, claims []Claim) (runtime.Object, error) {
	data, err := m.codec.Encode(obj)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.kvs[key]; ok {
		return nil, ErrAlreadyExists
	}
	if err := m.applyClaims(claims); err != nil {
		return nil, err
	}
	m.rev++
	m.kvs[key] = memEntry{value: data, modRev: m.rev, create: m.rev}
	m.record(memChange{key: key, value: data, rev: m.rev, created: true})
	return m.codec.Decode(data, m.rev)
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, key string) (runtime.Object, error) {
	m.mu.Lock()
	e, ok := m.kvs[key]
	m.mu.Unlock()
	if !ok {
		return nil, ErrNotFound
	}
	return m.codec.Decode(e.value, e.modRev)
}

// List implements Store. Past revisions are not kept: a list at a revision
// other than the current one reads the current state, or fails with
// ErrExpired when it is compacted.
func (m *Memory) List(_ context.Context, prefix string, opts ListOptions) (*ListResult, error) {
	m.mu.Lock()
	if opts.Revision > 0 && opts.Revision < m.compact {
		m.mu.Unlock()
		return nil, ErrExpired
	}
	keys := make([]string, 0)
	for k := range m.kvs {
		if strings.HasPrefix(k, prefix) && k >= opts.StartKey {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	entries := make([]memEntry, len(keys))
	for i, k := range keys {
		entries[i] = m.kvs[k]
	}
	rev := m.rev
	m.mu.Unlock()
	res := &ListResult{Revision: rev, Remaining: -1}
	if opts.Revision > 0 {
		res.Revision = opts.Revision
	}
	for i, e := range entries {
		obj, err := m.codec.Decode(e.value, e.modRev)
		if err != nil {
			return nil, err
		}
		if opts.Filter != nil && !opts.Filter(obj) {
			continue
		}
		res.Items = append(res.Items, obj)
		// Fresh for each list (nothing decoded is kept here), so that
		// lists from this store are written as cached lists are.
		res.Encodings = append(res.Encodings, &Shared{})
		if opts.Limit > 0 && int64(len(res.Items)) == opts.Limit && i < len(entries)-1 {
			res.NextKey = keys[i] + "\x00"
			if opts.Filter == nil {
				res.Remaining = int64(len(entries) - i - 1)
			}
			break
		}
	}
	return res, nil
}

// Update implements Store.
func (m *Memory) Update(ctx context.Context, key string, fn UpdateFunc, claimsFn func(old, updated runtime.Object) []Claim) (runtime.Object, error) {
	for {
		m.mu.Lock()
		e, ok := m.kvs[key]
		m.mu.Unlock()
		if !ok {
			return nil, ErrNotFound
		}
		current, err := m.codec.Decode(e.value, e.modRev)
		if err != nil {
			return nil, err
		}
		old := current.DeepCopyObject()
		updated, err := fn(current)
		if err != nil {
			return nil, err
		}
		data, err := m.codec.Encode(updated)
		if err != nil {
			return nil, err
		}
		if string(data) == string(e.value) {
			return setRevision(updated, e.modRev)
		}
		var claims []Claim
		if claimsFn != nil {
			claims = claimsFn(old, updated)
		}
		m.mu.Lock()
		if cur, ok := m.kvs[key]; !ok || cur.modRev != e.modRev {
			m.mu.Unlock()
			continue
		}
		if err := m.applyClaims(claims); err != nil {
			m.mu.Unlock()
			return nil, err
		}
		m.rev++
		m.kvs[key] = memEntry{value: data, modRev: m.rev, create: e.create}
		m.record(memChange{key: key, value: data, prev: e.value, prevRev: e.modRev, rev: m.rev})
		rev := m.rev
		m.mu.Unlock()
		return setRevision(updated, rev)
	}
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, key string, precondition func(runtime.Object) error, claimsFn func(runtime.Object) []Claim) (runtime.Object, error) {
	for {
		m.mu.Lock()
		e, ok := m.kvs[key]
		m.mu.Unlock()
		if !ok {
			return nil, ErrNotFound
		}
		current, err := m.codec.Decode(e.value, e.modRev)
		if err != nil {
			return nil, err
		}
		if precondition != nil {
			if err := precondition(current); err != nil {
				return nil, err
			}
		}
		var claims []Claim
		if claimsFn != nil {
			claims = claimsFn(current)
		}
		m.mu.Lock()
		if cur, ok := m.kvs[key]; !ok || cur.modRev != e.modRev {
			m.mu.Unlock()
			continue
		}
		_ = m.applyClaims(claims)
		m.rev++
		delete(m.kvs, key)
		m.record(memChange{key: key, prev: e.value, rev: m.rev, deleted: true})
		rev := m.rev
		m.mu.Unlock()
		return setRevision(current, rev)
	}
}

// Watch implements Store.
func (m *Memory) Watch(ctx context.Context, prefix string, revision int64) (<-chan Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := &memWatcher{prefix: prefix, ch: make(chan Event, 1000), ctx: ctx}
	if revision > 0 && revision < m.compact {
		w.ch <- Event{Type: Error, Err: ErrExpired}
		close(w.ch)
		return w.ch, nil
	}
	if revision > 0 {
		for _, ch := range m.history {
			if ch.rev > revision && strings.HasPrefix(ch.key, prefix) {
				m.deliver(w, ch)
			}
		}
	}
	m.watchers[w] = true
	go func() {
		<-ctx.Done()
		m.mu.Lock()
		if m.watchers[w] {
			delete(m.watchers, w)
			close(w.ch)
		}
		m.mu.Unlock()
	}()
	return w.ch, nil
}

// Revision implements Store.
func (m *Memory) Revision(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rev, nil
}
