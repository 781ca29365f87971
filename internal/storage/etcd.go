package storage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
)

// Etcd is the Store on an etcd cluster.
type Etcd struct {
	client *clientv3.Client
	codec  *Codec
	// Observe, when set, is told how long each etcd call took.
	Observe func(op string, d time.Duration)
}

var _ Store = (*Etcd)(nil)

// NewEtcd returns a Store that keeps objects in etcd through client.
func NewEtcd(client *clientv3.Client, codec *Codec) *Etcd {
	return &Etcd{client: client, codec: codec}
}

func (s *Etcd) observe(op string, start time.Time) {
	if s.Observe != nil {
		s.Observe(op, time.Since(start))
	}
}

func claimOps(claims []Claim) ([]clientv3.Cmp, []clientv3.Op) {
	var cmps []clientv3.Cmp
	var ops []clientv3.Op
	for _, c := range claims {
		if c.Release {
			ops = append(ops, clientv3.OpDelete(c.Key))
			continue
		}
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(c.Key), "=", 0))
		ops = append(ops, clientv3.OpPut(c.Key, string(c.Value)))
	}
	return cmps, ops
}

// takenClaim finds which claim of a failed transaction is held already.
func (s *Etcd) takenClaim(ctx context.Context, claims []Claim) error {
	for _, c := range claims {
		if c.Release {
			continue
		}
		resp, err := s.client.Get(ctx, c.Key, clientv3.WithCountOnly())
		if err != nil {
			return err
		}
		if resp.Count > 0 {
			return &ClaimError{Key: c.Key}
		}
	}
	return nil
}

// Create implements Store.
func (s *Etcd) Create(ctx context.Context, key string, obj runtime.Object, claims []Claim) (runtime.Object, error) {
	defer s.observe("create", time.Now())
	data, err := s.codec.Encode(obj)
	if err != nil {
		return nil, err
	}
	cmps, ops := claimOps(claims)
	cmps = append([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)}, cmps...)
	ops = append([]clientv3.Op{clientv3.OpPut(key, string(data))}, ops...)
	resp, err := s.client.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return nil, err
	}
	if !resp.Succeeded {
		exists, err := s.client.Get(ctx, key, clientv3.WithCountOnly())
		if err != nil {
			return nil, err
		}
		if exists.Count > 0 {
			return nil, ErrAlreadyExists
		}
		if err := s.takenClaim(ctx, claims); err != nil {
			return nil, err
		}
		return nil, ErrConflict
	}
	return setRevision(obj, resp.Header.Revision)
}

func setRevision(obj runtime.Object, rev int64) (runtime.Object, error) {
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	accessor.SetResourceVersion(strconv.FormatInt(rev, 10))
	return obj, nil
}

// Get implements Store.
func (s *Etcd) Get(ctx context.Context, key string) (runtime.Object, error) {
	defer s.observe("get", time.Now())
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, ErrNotFound
	}
	kv := resp.Kvs[0]
	return s.codec.Decode(kv.Value, kv.ModRevision)
}

// List implements Store. With a filter, pages are filled by reading further
// batches until Limit items matched or the prefix is exhausted.
func (s *Etcd) List(ctx context.Context, prefix string, opts ListOptions) (*ListResult, error) {
	defer s.observe("list", time.Now())
	start := prefix
	if opts.StartKey != "" {
		start = opts.StartKey
	}
	end := clientv3.GetPrefixRangeEnd(prefix)
	res := &ListResult{Remaining: -1}
	rev := opts.Revision
	batch := opts.Limit
	if opts.Filter != nil && batch > 0 && batch < 100 {
		batch = 100
	}
	for {
		getOpts := []clientv3.OpOption{clientv3.WithRange(end)}
		if rev > 0 {
			getOpts = append(getOpts, clientv3.WithRev(rev))
		} else if !opts.Consistent {
			getOpts = append(getOpts, clientv3.WithSerializable())
		}
		if batch > 0 {
			getOpts = append(getOpts, clientv3.WithLimit(batch))
		}
		resp, err := s.client.Get(ctx, start, getOpts...)
		if err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				return nil, ErrExpired
			}
			if errors.Is(err, rpctypes.ErrFutureRev) {
				return nil, ErrTooLargeResourceVersion
			}
			return nil, err
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for i, kv := range resp.Kvs {
			obj, err := s.codec.Decode(kv.Value, kv.ModRevision)
			if err != nil {
				return nil, fmt.Errorf("key %s: %w", kv.Key, err)
			}
			if opts.Filter != nil && !opts.Filter(obj) {
				continue
			}
			res.Items = append(res.Items, obj)
			if opts.Limit > 0 && int64(len(res.Items)) == opts.Limit {
				if i < len(resp.Kvs)-1 || resp.More {
					res.NextKey = string(kv.Key) + "\x00"
					if opts.Filter == nil {
						res.Remaining = resp.Count - int64(i) - 1
					}
				}
				res.Revision = rev
				return res, nil
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	res.Revision = rev
	return res, nil
}

// current is a known state of a key: its value and revision, and the
// decoded object (which the caller may modify).
type current struct {
	value  []byte
	modRev int64
	obj    runtime.Object
}

// read returns the current state of key from etcd.
func (s *Etcd) read(ctx context.Context, key string) (*current, error) {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, ErrNotFound
	}
	kv := resp.Kvs[0]
	obj, err := s.codec.Decode(kv.Value, kv.ModRevision)
	if err != nil {
		return nil, err
	}
	return &current{value: kv.Value, modRev: kv.ModRevision, obj: obj}, nil
}

// Update implements Store.
func (s *Etcd) Update(ctx context.Context, key string, fn UpdateFunc, claimsFn func(old, updated runtime.Object) []Claim) (runtime.Object, error) {
	return s.update(ctx, key, nil, fn, claimsFn)
}

// update is Update starting from hint, a possibly stale state of the key
// (from a cache); a stale hint only costs a retry.
func (s *Etcd) update(ctx context.Context, key string, hint *current, fn UpdateFunc, claimsFn func(old, updated runtime.Object) []Claim) (runtime.Object, error) {
	defer s.observe("update", time.Now())
	for {
		cur := hint
		hint = nil
		// A hint may be stale: any answer other than a successful write is
		// only given after reading the key from etcd itself.
		fromHint := cur != nil
		if cur == nil {
			var err error
			if cur, err = s.read(ctx, key); err != nil {
				return nil, err
			}
		}
		current := cur.obj
		old := current.DeepCopyObject()
		updated, err := fn(current)
		if err != nil {
			if fromHint {
				continue
			}
			return nil, err
		}
		data, err := s.codec.Encode(updated)
		if err != nil {
			return nil, err
		}
		if string(data) == string(cur.value) {
			if fromHint {
				continue
			}
			// Nothing changed: upstream writes nothing and keeps the version.
			return setRevision(updated, cur.modRev)
		}
		var claims []Claim
		if claimsFn != nil {
			claims = claimsFn(old, updated)
		}
		cmps, ops := claimOps(claims)
		cmps = append([]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", cur.modRev)}, cmps...)
		ops = append([]clientv3.Op{clientv3.OpPut(key, string(data))}, ops...)
		txn, err := s.client.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return nil, err
		}
		if txn.Succeeded {
			return setRevision(updated, txn.Header.Revision)
		}
		if err := s.takenClaim(ctx, claims); err != nil {
			return nil, err
		}
		// The object changed under us: read it again and retry.
	}
}

// Delete implements Store.
func (s *Etcd) Delete(ctx context.Context, key string, precondition func(runtime.Object) error, claimsFn func(runtime.Object) []Claim) (runtime.Object, error) {
	return s.delete(ctx, key, nil, precondition, claimsFn)
}

func (s *Etcd) delete(ctx context.Context, key string, hint *current, precondition func(runtime.Object) error, claimsFn func(runtime.Object) []Claim) (runtime.Object, error) {
	defer s.observe("delete", time.Now())
	for {
		cur := hint
		hint = nil
		fromHint := cur != nil
		if cur == nil {
			var err error
			if cur, err = s.read(ctx, key); err != nil {
				return nil, err
			}
		}
		current := cur.obj
		if precondition != nil {
			if err := precondition(current); err != nil {
				if fromHint {
					continue
				}
				return nil, err
			}
		}
		var claims []Claim
		if claimsFn != nil {
			claims = claimsFn(current)
		}
		_, ops := claimOps(claims)
		ops = append([]clientv3.Op{clientv3.OpDelete(key)}, ops...)
		txn, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", cur.modRev)).Then(ops...).Commit()
		if err != nil {
			return nil, err
		}
		if txn.Succeeded {
			return setRevision(current, txn.Header.Revision)
		}
	}
}

// Revision implements Store.
func (s *Etcd) Revision(ctx context.Context) (int64, error) {
	resp, err := s.client.Get(ctx, "/registry/health-revision", clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	return resp.Header.Revision, nil
}

// Watch implements Store.
func (s *Etcd) Watch(ctx context.Context, prefix string, revision int64) (<-chan Event, error) {
	return s.watch(clientv3.WithRequireLeader(ctx), ctx, prefix, revision, true)
}

// watch watches on the etcd watch stream that streamCtx selects (watches
// sharing a stream get progress notifications together) until ctx ends.
// watch watches prefix after revision. Unless decodePrev, a Modified
// event keeps the previous value undecoded for the caller (the watch
// cache, which holds that version already decoded).
func (s *Etcd) watch(streamCtx, ctx context.Context, prefix string, revision int64, decodePrev bool) (<-chan Event, error) {
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithProgressNotify()}
	if revision > 0 {
		opts = append(opts, clientv3.WithRev(revision+1))
	}
	wctx, cancel := context.WithCancel(streamCtx)
	go func() {
		select {
		case <-ctx.Done():
			cancel()
		case <-wctx.Done():
		}
	}()
	wch := s.client.Watch(wctx, prefix, opts...)
	out := make(chan Event, 100)
	go func() {
		defer cancel()
		defer close(out)
		send := func(ev Event) bool {
			select {
			case out <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for resp := range wch {
			if resp.CompactRevision != 0 {
				send(Event{Type: Error, Err: ErrExpired})
				return
			}
			if err := resp.Err(); err != nil {
				send(Event{Type: Error, Err: err})
				return
			}
			if resp.IsProgressNotify() {
				if !send(Event{Type: Progress, Revision: resp.Header.Revision}) {
					return
				}
				continue
			}
			for _, e := range resp.Events {
				ev, err := s.convertEvent(e, decodePrev)
				if err != nil {
					send(Event{Type: Error, Err: err})
					return
				}
				if !send(ev) {
					return
				}
			}
		}
	}()
	return out, nil
}

func (s *Etcd) convertEvent(e *clientv3.Event, decodePrev bool) (Event, error) {
	rev := e.Kv.ModRevision
	var ev Event
	ev.Revision = rev
	ev.Key = string(e.Kv.Key)
	if e.Type == mvccpb.DELETE {
		ev.value = nil
	} else {
		ev.value = e.Kv.Value
	}
	switch {
	case e.Type == mvccpb.DELETE:
		ev.Type = Deleted
		if e.PrevKv == nil {
			return ev, fmt.Errorf("delete event of %s without previous value", e.Kv.Key)
		}
		obj, err := s.codec.Decode(e.PrevKv.Value, rev)
		if err != nil {
			return ev, err
		}
		ev.Object = obj
		return ev, nil
	case e.IsCreate():
		ev.Type = Added
	default:
		ev.Type = Modified
	}
	obj, err := s.codec.Decode(e.Kv.Value, rev)
	if err != nil {
		return ev, err
	}
	ev.Object = obj
	if e.PrevKv != nil && ev.Type == Modified {
		if !decodePrev {
			ev.prevValue, ev.prevRev = e.PrevKv.Value, e.PrevKv.ModRevision
			return ev, nil
		}
		prev, err := s.codec.Decode(e.PrevKv.Value, e.PrevKv.ModRevision)
		if err != nil {
			return ev, err
		}
		ev.PrevObject = prev
	}
	return ev, nil
}

type rawList struct {
	entries []*entry
	rev     int64
}

// listRaw reads every key under prefix, consistently, in pages.
func (s *Etcd) listRaw(ctx context.Context, prefix string) (*rawList, error) {
	out := &rawList{}
	end := clientv3.GetPrefixRangeEnd(prefix)
	start := prefix
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(1000)}
		if out.rev > 0 {
			opts = append(opts, clientv3.WithRev(out.rev))
		}
		resp, err := s.client.Get(ctx, start, opts...)
		if err != nil {
			return nil, err
		}
		if out.rev == 0 {
			out.rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			obj, err := s.codec.Decode(kv.Value, kv.ModRevision)
			if err != nil {
				return nil, fmt.Errorf("key %s: %w", kv.Key, err)
			}
			out.entries = append(out.entries, &entry{key: string(kv.Key), value: kv.Value, modRev: kv.ModRevision, obj: obj})
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return out, nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}
