package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/btree"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/runtime"
)

// Cached is the Store the API server uses: writes go to etcd, while reads
// and watches are served from an in-memory watch cache per resource, fed by
// one etcd watch each. Reads that must be consistent wait until the cache has
// caught up with etcd's current revision, which it learns with one request
// shared by every read waiting at that moment.
type Cached struct {
	etcd     *Etcd
	prefixes []string // resource prefixes, longest first
	log      *slog.Logger
	// streamCtx selects the etcd watch stream all caches share, so that one
	// progress request reaches all of them.
	streamCtx context.Context
	stop      context.CancelFunc

	mu     sync.Mutex
	caches map[string]*watchCache

	revisions batcher
	progress  batcher
	// EventWindow is how many recent events each cache keeps for watches
	// that start in the past.
	EventWindow int
	// WatcherBuffer is how many events a watcher may fall behind before it
	// is ended (it then resumes from its last version, or relists).
	WatcherBuffer int
}

var _ Store = (*Cached)(nil)

// NewCached returns a caching Store over etcd for the given resource
// prefixes (each ends with "/"). Keys under no prefix are read from etcd.
func NewCached(etcd *Etcd, prefixes []string, log *slog.Logger) *Cached {
	ps := append([]string(nil), prefixes...)
	sort.Slice(ps, func(i, j int) bool { return len(ps[i]) > len(ps[j]) })
	streamCtx, stop := context.WithCancel(clientv3.WithRequireLeader(context.Background()))
	c := &Cached{etcd: etcd, prefixes: ps, log: log, streamCtx: streamCtx, stop: stop, caches: map[string]*watchCache{},
		EventWindow: 10000, WatcherBuffer: 1000}
	c.revisions.fn = func(ctx context.Context) (int64, error) { return etcd.Revision(ctx) }
	c.progress.fn = func(ctx context.Context) (int64, error) {
		return 0, etcd.client.RequestProgress(c.streamCtx)
	}
	return c
}

// AddPrefix caches one more resource prefix (ending with "/"), e.g. a
// custom resource once its definition is served.
func (c *Cached) AddPrefix(prefix string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.prefixes {
		if p == prefix {
			return
		}
	}
	ps := append(append([]string(nil), c.prefixes...), prefix)
	sort.Slice(ps, func(i, j int) bool { return len(ps[i]) > len(ps[j]) })
	c.prefixes = ps
}

// Close stops every cache.
func (c *Cached) Close() { c.stop() }

// cacheFor returns the cache of the resource that holds key or prefix,
// starting it on first use; nil when no resource prefix matches.
func (c *Cached) cacheFor(ctx context.Context, key string) (*watchCache, error) {
	var prefix string
	c.mu.Lock()
	for _, p := range c.prefixes {
		if strings.HasPrefix(key, p) {
			prefix = p
			break
		}
	}
	if prefix == "" {
		c.mu.Unlock()
		return nil, nil
	}
	wc, ok := c.caches[prefix]
	if !ok {
		wc = newWatchCache(c, prefix)
		c.caches[prefix] = wc
		go wc.run()
	}
	c.mu.Unlock()
	return wc, wc.waitReady(ctx)
}

// fresh waits until wc reflects every write acknowledged before the call.
func (c *Cached) fresh(ctx context.Context, wc *watchCache) error {
	rev, err := c.revisions.do(ctx)
	if err != nil {
		return err
	}
	return wc.waitFor(ctx, rev, func() { _, _ = c.progress.do(ctx) })
}

// Create implements Store.
func (c *Cached) Create(ctx context.Context, key string, obj runtime.Object, claims []Claim) (runtime.Object, error) {
	return c.etcd.Create(ctx, key, obj, claims)
}

// Get implements Store: a consistent read served from the cache.
func (c *Cached) Get(ctx context.Context, key string) (runtime.Object, error) {
	wc, err := c.cacheFor(ctx, key)
	if err != nil || wc == nil {
		return c.etcd.Get(ctx, key)
	}
	if err := c.fresh(ctx, wc); err != nil {
		return c.etcd.Get(ctx, key)
	}
	e, ok := wc.get(key)
	if !ok {
		return nil, ErrNotFound
	}
	return e.obj.DeepCopyObject(), nil
}

// GetAny returns the cached object without waiting for freshness (reads
// with resourceVersion "0").
func (c *Cached) GetAny(ctx context.Context, key string) (runtime.Object, error) {
	wc, err := c.cacheFor(ctx, key)
	if err != nil || wc == nil {
		return c.etcd.Get(ctx, key)
	}
	e, ok := wc.get(key)
	if !ok {
		return nil, ErrNotFound
	}
	return e.obj.DeepCopyObject(), nil
}

// List implements Store. Lists of the newest state are served from the
// cache; lists at a given revision (and continuations) from etcd.
func (c *Cached) List(ctx context.Context, prefix string, opts ListOptions) (*ListResult, error) {
	if opts.Revision > 0 || opts.StartKey != "" {
		return c.etcd.List(ctx, prefix, opts)
	}
	wc, err := c.cacheFor(ctx, prefix)
	if err != nil || wc == nil {
		return c.etcd.List(ctx, prefix, opts)
	}
	if opts.Consistent {
		if err := c.fresh(ctx, wc); err != nil {
			return c.etcd.List(ctx, prefix, opts)
		}
	}
	return wc.list(prefix, opts), nil
}

// Update implements Store, starting from the cached object: a stale cache
// only costs a retry against etcd.
func (c *Cached) Update(ctx context.Context, key string, fn UpdateFunc, claimsFn func(old, updated runtime.Object) []Claim) (runtime.Object, error) {
	return c.etcd.update(ctx, key, c.hint(ctx, key), fn, claimsFn)
}

// Delete implements Store.
func (c *Cached) Delete(ctx context.Context, key string, precondition func(runtime.Object) error, claimsFn func(runtime.Object) []Claim) (runtime.Object, error) {
	return c.etcd.delete(ctx, key, c.hint(ctx, key), precondition, claimsFn)
}

func (c *Cached) hint(ctx context.Context, key string) *current {
	wc, err := c.cacheFor(ctx, key)
	if err != nil || wc == nil {
		return nil
	}
	e, ok := wc.get(key)
	if !ok {
		return nil
	}
	return &current{value: e.value, modRev: e.modRev, obj: e.obj.DeepCopyObject()}
}

// Revision implements Store.
func (c *Cached) Revision(ctx context.Context) (int64, error) {
	return c.revisions.do(ctx)
}

// Watch implements Store. Watches within the cache's event window are served
// from memory; older ones from etcd (which answers ErrExpired if compacted).
func (c *Cached) Watch(ctx context.Context, prefix string, revision int64) (<-chan Event, error) {
	wc, err := c.cacheFor(ctx, prefix)
	if err != nil || wc == nil {
		return c.etcd.Watch(ctx, prefix, revision)
	}
	if revision == 0 {
		if err := c.fresh(ctx, wc); err != nil {
			return nil, err
		}
	}
	ch, ok := wc.watch(ctx, prefix, revision)
	if !ok {
		return c.etcd.Watch(ctx, prefix, revision)
	}
	return ch, nil
}

// entry is one cached object version. Entries are replaced, never changed,
// when the object changes, so encodings kept in enc stay valid for as long
// as the entry is reachable.
type entry struct {
	key    string
	value  []byte
	modRev int64
	obj    runtime.Object
	// enc keeps the wire encodings of obj (per format and served version),
	// each made at its first use by a list and dropped with the entry.
	enc Shared
}

func entryLess(a, b *entry) bool { return a.key < b.key }

type cacheWatcher struct {
	prefix string
	// after is the revision the watch starts after: a cache that lags
	// behind it must not send what the client has already seen.
	after int64
	ch    chan Event
	done  bool
}

// watchCache mirrors one resource prefix.
type watchCache struct {
	c      *Cached
	prefix string

	mu       sync.RWMutex
	cond     *sync.Cond
	ready    chan struct{}
	err      error
	items    *btree.BTreeG[*entry]
	rev      int64 // the etcd revision the cache reflects
	window   eventRing
	oldest   int64 // events after this revision are all in window
	watchers map[*cacheWatcher]bool
}

func newWatchCache(c *Cached, prefix string) *watchCache {
	wc := &watchCache{c: c, prefix: prefix, ready: make(chan struct{}), items: btree.NewG(32, entryLess), watchers: map[*cacheWatcher]bool{}}
	wc.cond = sync.NewCond(&wc.mu)
	return wc
}

func (wc *watchCache) waitReady(ctx context.Context) error {
	select {
	case <-wc.ready:
		return wc.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run fills the cache and keeps it current until the store closes; when
// the etcd watch breaks it starts over, ending every watcher.
func (wc *watchCache) run() {
	stop := make(chan struct{})
	defer close(stop)
	// A quiet resource trims its window too.
	go func() {
		t := time.NewTicker(eventFreshness / 5)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				wc.mu.Lock()
				wc.trim(now)
				wc.mu.Unlock()
			}
		}
	}()
	first := true
	for {
		err := wc.sync(first)
		first = false
		if errors.Is(err, errAbandoned) {
			return
		}
		if wc.c.streamCtx.Err() != nil {
			wc.reset(errors.New("storage closed"))
			return
		}
		wc.c.log.Warn("watch cache restarting", "prefix", wc.prefix, "err", err)
		time.Sleep(time.Second)
	}
}

// errAbandoned ends a cache whose first fill failed: callers were told, and
// the next one starts a new cache.
var errAbandoned = errors.New("watch cache abandoned")

func (wc *watchCache) sync(first bool) error {
	ctx := wc.c.streamCtx
	res, err := wc.c.etcd.listRaw(ctx, wc.prefix)
	if err != nil {
		if first {
			wc.mu.Lock()
			wc.err = err
			wc.mu.Unlock()
			close(wc.ready)
			// Later calls retry through a new cache; this one stops.
			wc.c.mu.Lock()
			delete(wc.c.caches, wc.prefix)
			wc.c.mu.Unlock()
			return errAbandoned
		}
		return err
	}
	items := btree.NewG(32, entryLess)
	for _, e := range res.entries {
		items.ReplaceOrInsert(e)
	}
	wc.reset(nil)
	wc.mu.Lock()
	wc.items, wc.rev, wc.oldest = items, res.rev, res.rev
	wc.window.reset(wc.c.EventWindow)
	wc.cond.Broadcast()
	wc.mu.Unlock()
	if first {
		close(wc.ready)
	}
	events, err := wc.c.etcd.watch(ctx, ctx, wc.prefix, res.rev, false)
	if err != nil {
		return err
	}
	for ev := range events {
		switch ev.Type {
		case Error:
			return fmt.Errorf("etcd watch: %w", ev.Err)
		case Progress:
			wc.advance(ev.Revision)
		default:
			if err := wc.apply(ev); err != nil {
				return err
			}
		}
	}
	return errors.New("etcd watch closed")
}

// reset ends every watcher (they resume from their last version).
func (wc *watchCache) reset(err error) {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	for w := range wc.watchers {
		wc.end(w)
	}
	if err != nil {
		wc.err = err
	}
}

func (wc *watchCache) end(w *cacheWatcher) {
	if !w.done {
		w.done = true
		close(w.ch)
	}
	delete(wc.watchers, w)
}

func (wc *watchCache) advance(rev int64) {
	wc.mu.Lock()
	if rev > wc.rev {
		wc.rev = rev
		for w := range wc.watchers {
			if rev <= w.after {
				continue
			}
			select {
			case w.ch <- Event{Type: Progress, Revision: rev}:
			default:
			}
		}
	}
	wc.cond.Broadcast()
	wc.mu.Unlock()
}

func (wc *watchCache) apply(ev Event) error {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	if ev.prevValue != nil {
		// The previous version is the cached one: share it rather than
		// decode it again (an event then costs one object, not two).
		if old, ok := wc.items.Get(&entry{key: ev.Key}); ok && old.modRev == ev.prevRev {
			ev.PrevObject = old.obj
		} else {
			prev, err := wc.c.etcd.codec.Decode(ev.prevValue, ev.prevRev)
			if err != nil {
				return err
			}
			ev.PrevObject = prev
		}
		ev.prevValue = nil
	}
	if ev.Type == Deleted {
		wc.items.Delete(&entry{key: ev.Key})
	} else {
		wc.items.ReplaceOrInsert(&entry{key: ev.Key, value: ev.value, modRev: ev.Revision, obj: ev.Object})
	}
	ev.value = nil
	// The window keeps the event without the encodings its watchers make
	// now: those go with the event once sent; a watcher resuming from the
	// window encodes its own.
	now := time.Now()
	if dropped, full := wc.window.push(ev, now); full {
		wc.oldest = dropped
	}
	wc.trim(now)
	ev.Shared = &Shared{}
	if ev.Revision > wc.rev {
		wc.rev = ev.Revision
	}
	for w := range wc.watchers {
		if ev.Revision > w.after && strings.HasPrefix(ev.Key, w.prefix) {
			wc.send(w, ev)
		}
	}
	wc.cond.Broadcast()
	return nil
}

// Recent events are kept for eventFreshness (as upstream's watch cache
// sizes its window), at least minWindowEvents of them and at most
// EventWindow.
const (
	eventFreshness  = 75 * time.Second
	minWindowEvents = 100
)

// trim drops the window's events older than eventFreshness (wc.mu held).
func (wc *watchCache) trim(now time.Time) {
	if dropped, ok := wc.window.dropBefore(now.Add(-eventFreshness), minWindowEvents); ok {
		wc.oldest = dropped
	}
}

// send delivers ev, ending a watcher that fell too far behind.
func (wc *watchCache) send(w *cacheWatcher, ev Event) {
	select {
	case w.ch <- ev:
	default:
		wc.end(w)
	}
}

// waitFor waits until the cache reflects rev, asking etcd for a progress
// notification when no event would otherwise move it there.
func (wc *watchCache) waitFor(ctx context.Context, rev int64, requestProgress func()) error {
	deadline := time.Now().Add(3 * time.Second)
	wc.mu.RLock()
	reached := wc.rev >= rev
	wc.mu.RUnlock()
	if reached {
		return nil
	}
	requestProgress()
	stop := context.AfterFunc(ctx, func() {
		wc.mu.Lock()
		wc.cond.Broadcast()
		wc.mu.Unlock()
	})
	defer stop()
	timer := time.AfterFunc(time.Until(deadline), func() {
		wc.mu.Lock()
		wc.cond.Broadcast()
		wc.mu.Unlock()
	})
	defer timer.Stop()
	retry := time.Now().Add(100 * time.Millisecond)
	wc.mu.Lock()
	defer wc.mu.Unlock()
	for wc.rev < rev {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return ErrTooLargeResourceVersion
		}
		if time.Now().After(retry) {
			// A progress request can miss a watch that was not yet synced.
			wc.mu.Unlock()
			requestProgress()
			wc.mu.Lock()
			retry = time.Now().Add(100 * time.Millisecond)
			continue
		}
		waitWithTimeout(wc.cond, 100*time.Millisecond)
	}
	return nil
}

// waitWithTimeout waits on cond (whose lock is held) for at most d.
func waitWithTimeout(cond *sync.Cond, d time.Duration) {
	t := time.AfterFunc(d, func() {
		cond.L.Lock()
		cond.Broadcast()
		cond.L.Unlock()
	})
	cond.Wait()
	t.Stop()
}

func (wc *watchCache) get(key string) (*entry, bool) {
	wc.mu.RLock()
	defer wc.mu.RUnlock()
	return wc.items.Get(&entry{key: key})
}

func (wc *watchCache) list(prefix string, opts ListOptions) *ListResult {
	wc.mu.RLock()
	res := &ListResult{Revision: wc.rev, Remaining: -1}
	var matched []*entry
	total := 0
	wc.items.AscendGreaterOrEqual(&entry{key: prefix}, func(e *entry) bool {
		if !strings.HasPrefix(e.key, prefix) {
			return false
		}
		total++
		matched = append(matched, e)
		return true
	})
	wc.mu.RUnlock()
	n := len(matched)
	if opts.Filter != nil {
		// A selector may keep few of many: grow as they come.
		n = 0
	}
	if opts.Limit > 0 && opts.Limit < int64(n) {
		n = int(opts.Limit)
	}
	res.Items = make([]runtime.Object, 0, n)
	res.Encodings = make([]*Shared, 0, n)
	for i, e := range matched {
		// Shared with the cache: List results are read-only (see Store).
		obj := e.obj
		if opts.Filter != nil && !opts.Filter(obj) {
			continue
		}
		res.Items = append(res.Items, obj)
		res.Encodings = append(res.Encodings, &e.enc)
		if opts.Limit > 0 && int64(len(res.Items)) == opts.Limit && i < len(matched)-1 {
			res.NextKey = e.key + "\x00"
			if opts.Filter == nil {
				res.Remaining = int64(total - i - 1)
			}
			break
		}
	}
	return res
}

// watch starts a watcher after revision (0: from now); false means the
// revision is older than the event window.
func (wc *watchCache) watch(ctx context.Context, prefix string, revision int64) (<-chan Event, bool) {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	if revision > 0 && revision < wc.oldest {
		return nil, false
	}
	w := &cacheWatcher{prefix: prefix, after: revision, ch: make(chan Event, wc.c.WatcherBuffer)}
	if revision > 0 {
		for i := wc.window.after(revision); i < wc.window.n; i++ {
			if ev := wc.window.event(i); strings.HasPrefix(ev.Key, prefix) {
				select {
				case w.ch <- *ev:
				default:
					// More history than a watcher may buffer: etcd serves it.
					return nil, false
				}
			}
		}
	}
	wc.watchers[w] = true
	context.AfterFunc(ctx, func() {
		wc.mu.Lock()
		wc.end(w)
		wc.mu.Unlock()
	})
	return w.ch, true
}

// batcher shares one call of fn among all callers waiting at the same time;
// a caller always gets the result of a call that started after it arrived.
type batcher struct {
	fn      func(ctx context.Context) (int64, error)
	mu      sync.Mutex
	next    *round
	running bool
}

type round struct {
	done chan struct{}
	val  int64
	err  error
}

func (b *batcher) do(ctx context.Context) (int64, error) {
	b.mu.Lock()
	if b.next == nil {
		b.next = &round{done: make(chan struct{})}
	}
	r := b.next
	if !b.running {
		b.running = true
		go b.loop()
	}
	b.mu.Unlock()
	select {
	case <-r.done:
		return r.val, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (b *batcher) loop() {
	for {
		b.mu.Lock()
		r := b.next
		b.next = nil
		if r == nil {
			b.running = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r.val, r.err = b.fn(ctx)
		cancel()
		close(r.done)
	}
}
