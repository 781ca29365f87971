package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
)

func cm(name, v string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Data: map[string]string{"v": v}}
}

func TestCodecRoundTripWithEnvelope(t *testing.T) {
	c := NewCodec(scheme.Scheme)
	in := cm("a", "1")
	in.ResourceVersion = "99"
	data, err := c.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(data[:4]) != "k8s\x00" {
		t.Fatalf("value does not start with the protobuf envelope: %q", data[:4])
	}
	if in.ResourceVersion != "99" || in.Kind != "" {
		t.Fatalf("Encode changed its input: %+v", in.TypeMeta)
	}
	out, err := c.Decode(data, 7)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.ConfigMap)
	if got.ResourceVersion != "7" || got.Data["v"] != "1" || got.Name != "a" {
		t.Fatalf("round trip: %+v", got)
	}
}

func TestMemoryStore(t *testing.T) {
	ctx := context.Background()
	s := NewMemory(NewCodec(scheme.Scheme))
	if _, err := s.Create(ctx, "/r/ns/a", cm("a", "1"), []Claim{{Key: "/claim/x", Value: []byte("a")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "/r/ns/a", cm("a", "1"), nil); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("second create: %v", err)
	}
	if _, err := s.Create(ctx, "/r/ns/b", cm("b", "1"), []Claim{{Key: "/claim/x"}}); !errors.Is(err, ErrClaimTaken) {
		t.Fatalf("create with a taken claim: %v", err)
	}
	if _, err := s.Get(ctx, "/r/ns/b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("object with a refused claim was stored: %v", err)
	}
	rev, _ := s.Revision(ctx)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := s.Watch(wctx, "/r/", rev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, "/r/ns/a", func(cur runtime.Object) (runtime.Object, error) {
		cur.(*corev1.ConfigMap).Data["v"] = "2"
		return cur, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "/r/ns/a", nil, func(runtime.Object) []Claim { return []Claim{{Key: "/claim/x", Release: true}} }); err != nil {
		t.Fatal(err)
	}
	for _, want := range []EventType{Modified, Deleted} {
		select {
		case ev := <-events:
			if ev.Type != want {
				t.Fatalf("event %s, want %s", ev.Type, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s event", want)
		}
	}
	if _, err := s.Create(ctx, "/r/ns/b", cm("b", "1"), []Claim{{Key: "/claim/x"}}); err != nil {
		t.Fatalf("released claim could not be taken again: %v", err)
	}
	s.Compact(rev + 1)
	old, _ := s.Watch(ctx, "/r/", rev)
	if ev := <-old; ev.Type != Error || !errors.Is(ev.Err, ErrExpired) {
		t.Fatalf("watch from a compacted revision: %+v", ev)
	}
}

// Each named encoding is built once however many readers ask at the same
// time, and different names never share a result.
func TestSharedBuildsOncePerKey(t *testing.T) {
	var sh Shared
	var builds [3]atomic.Int32
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 3 {
				key := fmt.Sprint("k", (k+g)%3)
				b, err := sh.Get(key, func() ([]byte, error) {
					builds[(k+g)%3].Add(1)
					return []byte(key), nil
				})
				if err != nil || string(b) != key {
					t.Errorf("Get(%s) = %q, %v", key, b, err)
				}
			}
		}()
	}
	wg.Wait()
	for k := range builds {
		if n := builds[k].Load(); n != 1 {
			t.Errorf("k%d built %d times, want 1", k, n)
		}
	}
	boom := errors.New("boom")
	if _, err := sh.Get("bad", func() ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("error not returned: %v", err)
	}
	if _, err := sh.Get("bad", func() ([]byte, error) { return []byte("x"), nil }); !errors.Is(err, boom) {
		t.Fatalf("a failed build is not kept: %v", err)
	}
}
