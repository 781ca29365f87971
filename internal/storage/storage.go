// Package storage owns how API objects are kept: the Store interface the API
// server uses, its etcd implementation with upstream's key layout and value
// encoding, and the errors every implementation returns.
package storage

import (
	"context"
	"errors"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
)

// Errors returned by every Store; callers test them with errors.Is.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	ErrConflict      = errors.New("resource version conflict")
	// ErrExpired means the requested resource version was compacted away.
	ErrExpired = errors.New("resource version expired")
	// ErrClaimTaken means a claim key of a create/update is already held.
	ErrClaimTaken = errors.New("claim taken")
	// ErrTooLargeResourceVersion means a read asked for a revision the store
	// has not reached.
	ErrTooLargeResourceVersion = errors.New("too large resource version")
)

// ClaimError carries which claim key was already taken.
type ClaimError struct{ Key string }

func (e *ClaimError) Error() string        { return "claim taken: " + e.Key }
func (e *ClaimError) Is(target error) bool { return target == ErrClaimTaken }

// Claim is a key written or removed atomically with an object. Services use
// claims to hold their cluster IPs and node ports, so that two objects can
// never hold the same value, even across restarts.
type Claim struct {
	Key   string
	Value []byte
	// Release removes the claim instead of taking it.
	Release bool
}

// ListOptions selects what a List returns.
type ListOptions struct {
	// Revision to read at; 0 means the newest.
	Revision int64
	// Limit caps the number of returned items; 0 means no limit.
	Limit int64
	// StartKey continues a previous chunked list (inclusive).
	StartKey string
	// Filter keeps only matching objects; nil keeps all.
	Filter func(runtime.Object) bool
	// Consistent asks for a linearizable read when Revision is 0.
	Consistent bool
}

// ListResult is one page of a List.
type ListResult struct {
	Items []runtime.Object
	// Encodings, when set (lists served from the watch cache), holds one
	// Shared per item: wire encodings of Items[i] kept with the cached
	// object version, so that each is made once, not once per list.
	Encodings []*Shared
	Revision  int64
	// NextKey is set when more items remain; the next page starts there.
	NextKey string
	// Remaining counts the items after this page when known (no filter), else -1.
	Remaining int64
}

// EventType is the type of a watch event.
type EventType string

// Watch event types.
const (
	Added    EventType = "ADDED"
	Modified EventType = "MODIFIED"
	Deleted  EventType = "DELETED"
	// Progress reports that the store has reached Revision with no change
	// under the watched prefix.
	Progress EventType = "PROGRESS"
	// Error ends a watch; Err says why (ErrExpired when compacted).
	Error EventType = "ERROR"
)

// Event is one change seen by a watch. For Modified, PrevObject holds the
// object before the change; for Deleted, Object is the last state with the
// deletion's revision as its resource version.
type Event struct {
	Type EventType
	// Key is the changed key.
	Key        string
	Object     runtime.Object
	PrevObject runtime.Object
	Revision   int64
	Err        error
	// value is the stored value after the change (etcd watches only).
	value []byte
	// prevValue and prevRev are the previous value of a Modified event
	// left undecoded for the watch cache (see Etcd.watch).
	prevValue []byte
	prevRev   int64
	// Shared, when set, holds encodings of this event made by one watcher
	// for the others (events fanned out by the watch cache).
	Shared *Shared
}

// Shared keeps encodings of one event or of one cached object version, each
// made once, by whoever needs it first.
type Shared struct {
	mu sync.Mutex
	// Few encodings are ever asked of one object (a format per served
	// version): a slice is lighter than a map, kept per cached object.
	data []*sharedEntry
}

type sharedEntry struct {
	key  string
	once sync.Once
	b    []byte
	err  error
}

// Get returns the encoding named key, building it on first use.
func (s *Shared) Get(key string, build func() ([]byte, error)) ([]byte, error) {
	s.mu.Lock()
	var e *sharedEntry
	for _, d := range s.data {
		if d.key == key {
			e = d
			break
		}
	}
	if e == nil {
		e = &sharedEntry{key: key}
		s.data = append(s.data, e)
	}
	s.mu.Unlock()
	e.once.Do(func() { e.b, e.err = build() })
	return e.b, e.err
}

// UpdateFunc computes a new object from the current one. Returning an error
// aborts the update with that error.
type UpdateFunc func(current runtime.Object) (runtime.Object, error)

// Store keeps objects under keys. Objects carry their resource version in
// metadata.resourceVersion (the store's revision of their last write).
type Store interface {
	// Create stores obj at key if the key is free, with claims taken
	// atomically; it returns the stored object.
	Create(ctx context.Context, key string, obj runtime.Object, claims []Claim) (runtime.Object, error)
	// Get returns the object at key.
	Get(ctx context.Context, key string) (runtime.Object, error)
	// List returns objects under prefix (which must end in "/"). The
	// objects may be shared with other readers: callers must not modify
	// them (copy first).
	List(ctx context.Context, prefix string, opts ListOptions) (*ListResult, error)
	// Update reads the current object, applies fn and writes the result only
	// if the object has not changed meanwhile, retrying fn on races. The
	// claims returned by claimsFn (may be nil) are applied in the same write.
	Update(ctx context.Context, key string, fn UpdateFunc, claimsFn func(old, updated runtime.Object) []Claim) (runtime.Object, error)
	// Delete removes the object at key if precondition (may be nil) accepts
	// the current object, releasing claims in the same write.
	Delete(ctx context.Context, key string, precondition func(current runtime.Object) error, claimsFn func(current runtime.Object) []Claim) (runtime.Object, error)
	// Watch streams changes under prefix after revision (0: from now). The
	// channel closes when ctx ends or after an Error event.
	Watch(ctx context.Context, prefix string, revision int64) (<-chan Event, error)
	// Revision returns the store's current revision (a consistent read).
	Revision(ctx context.Context) (int64, error)
}
