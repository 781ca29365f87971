package storage_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"

	"skiff/internal/etcd"
	"skiff/internal/storage"
)

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func newCached(t *testing.T) (*storage.Cached, *storage.Etcd) {
	t.Helper()
	ds, err := etcd.Start(context.Background(), etcd.Config{DataDir: t.TempDir(), ClientPort: freePort(t), PeerPort: freePort(t), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ds.Close)
	e := storage.NewEtcd(ds.Client, storage.NewCodec(scheme.Scheme))
	c := storage.NewCached(e, []string{"/registry/configmaps/"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(c.Close)
	return c, e
}

func configMap(name, v string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Data: map[string]string{"v": v}}
}

// Every read after an acknowledged write sees it, although reads are served
// from the cache.
func TestCachedReadYourWrites(t *testing.T) {
	c, e := newCached(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				key := fmt.Sprintf("/registry/configmaps/ns/cm-%d-%d", w, i)
				// Written straight to etcd: the cache only learns of it by watch.
				if _, err := e.Create(ctx, key, configMap(fmt.Sprintf("cm-%d-%d", w, i), "1"), nil); err != nil {
					errs <- err
					return
				}
				if _, err := c.Get(ctx, key); err != nil {
					errs <- fmt.Errorf("get right after create of %s: %w", key, err)
					return
				}
				list, err := c.List(ctx, "/registry/configmaps/ns/", storage.ListOptions{Consistent: true})
				if err != nil {
					errs <- err
					return
				}
				found := false
				for _, it := range list.Items {
					if it.(*corev1.ConfigMap).Name == fmt.Sprintf("cm-%d-%d", w, i) {
						found = true
					}
				}
				if !found {
					errs <- fmt.Errorf("consistent list after create misses %s", key)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// A consistent read with nothing new under the prefix still returns
	// (progress notifications move the cache forward).
	if _, err := e.Create(ctx, "/registry/other/x", configMap("x", "1"), nil); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := c.Get(ctx, "/registry/configmaps/ns/cm-0-0"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("consistent read waited %v for a revision outside its prefix", d)
	}
}

func TestCachedWatchFromThePastAndSlowWatcher(t *testing.T) {
	c, e := newCached(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.WatcherBuffer = 5
	first, err := c.Create(ctx, "/registry/configmaps/ns/a", configMap("a", "1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "/registry/configmaps/ns/a"); err != nil {
		t.Fatal(err)
	}
	rv := first.(*corev1.ConfigMap).ResourceVersion
	for i := 2; i <= 3; i++ {
		if _, err := c.Update(ctx, "/registry/configmaps/ns/a", func(cur runtime.Object) (runtime.Object, error) {
			cur.(*corev1.ConfigMap).Data["v"] = fmt.Sprint(i)
			return cur, nil
		}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var rev int64
	fmt.Sscan(rv, &rev)
	events, err := c.Watch(ctx, "/registry/configmaps/ns/", rev)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2", "3"} {
		select {
		case ev := <-events:
			if ev.Type != storage.Modified || ev.Object.(*corev1.ConfigMap).Data["v"] != want {
				t.Fatalf("event %s %v, want MODIFIED v=%s", ev.Type, ev.Object, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no event from the past")
		}
	}
	// A watcher that never reads is ended instead of buffered forever.
	slow, err := c.Watch(ctx, "/registry/configmaps/ns/", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if _, err := e.Create(ctx, fmt.Sprintf("/registry/configmaps/ns/s%d", i), configMap(fmt.Sprintf("s%d", i), "1"), nil); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.After(10 * time.Second)
	for n := 0; ; n++ {
		select {
		case _, ok := <-slow:
			if !ok {
				if n > 5 {
					t.Fatalf("slow watcher got %d events with a buffer of 5", n)
				}
				return
			}
		case <-deadline:
			t.Fatal("slow watcher was not ended")
		}
	}
}

func TestCachedNotFound(t *testing.T) {
	c, _ := newCached(t)
	if _, err := c.Get(context.Background(), "/registry/configmaps/ns/none"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("get of a missing key: %v", err)
	}
}

// A write answered from a stale cached copy must not fail or be skipped: the
// store re-reads etcd before answering anything but success.
func TestCachedStaleHintRereads(t *testing.T) {
	c, e := newCached(t)
	ctx := context.Background()
	key := "/registry/configmaps/ns/stale"
	if _, err := c.Create(ctx, key, configMap("stale", "1"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, key); err != nil { // the cache has v=1 now
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		// Written behind the cache's back, then immediately acted upon.
		upd, err := e.Update(ctx, key, func(cur runtime.Object) (runtime.Object, error) {
			cur.(*corev1.ConfigMap).Data["v"] = fmt.Sprint(i + 2)
			return cur, nil
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := upd.(*corev1.ConfigMap).ResourceVersion
		_, err = c.Update(ctx, key, func(cur runtime.Object) (runtime.Object, error) {
			if got := cur.(*corev1.ConfigMap).ResourceVersion; got != want {
				return nil, fmt.Errorf("update ran on version %s, want %s", got, want)
			}
			return cur, nil
		}, nil)
		if err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
	}
	cur, err := e.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	rv := cur.(*corev1.ConfigMap).ResourceVersion
	if _, err := c.Delete(ctx, key, func(o runtime.Object) error {
		if o.(*corev1.ConfigMap).ResourceVersion != rv {
			return errors.New("precondition saw a stale version")
		}
		return nil
	}, nil); err != nil {
		t.Fatalf("delete with a precondition on the newest version: %v", err)
	}
}

// A cached list hands out, with each item, the encodings kept for that
// object version: the same for an unchanged object, fresh once it changes.
func TestCachedListKeepsEncodingsPerVersion(t *testing.T) {
	c, e := newCached(t)
	ctx := context.Background()
	for _, n := range []string{"a", "b"} {
		if _, err := e.Create(ctx, "/registry/configmaps/ns/"+n, configMap(n, "1"), nil); err != nil {
			t.Fatal(err)
		}
	}
	list := func() *storage.ListResult {
		t.Helper()
		l, err := c.List(ctx, "/registry/configmaps/ns/", storage.ListOptions{Consistent: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Items) != 2 || len(l.Encodings) != 2 {
			t.Fatalf("list has %d items and %d encodings, want 2 and 2", len(l.Items), len(l.Encodings))
		}
		return l
	}
	first := list()
	builds := 0
	for _, sh := range first.Encodings {
		if _, err := sh.Get("json", func() ([]byte, error) { builds++; return []byte("x"), nil }); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Update(ctx, "/registry/configmaps/ns/b", func(cur runtime.Object) (runtime.Object, error) {
		cm := cur.(*corev1.ConfigMap).DeepCopy()
		cm.Data["v"] = "2"
		return cm, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	second := list()
	if second.Encodings[0] != first.Encodings[0] {
		t.Error("unchanged object lost its kept encodings")
	}
	if second.Encodings[1] == first.Encodings[1] {
		t.Error("changed object kept the encodings of its previous version")
	}
	for _, sh := range second.Encodings {
		if _, err := sh.Get("json", func() ([]byte, error) { builds++; return []byte("y"), nil }); err != nil {
			t.Fatal(err)
		}
	}
	if builds != 3 {
		t.Errorf("%d encodings made, want 3 (one per object version)", builds)
	}
	// Limited and filtered lists pair each item with its own encodings.
	l, err := c.List(ctx, "/registry/configmaps/ns/", storage.ListOptions{Limit: 1, Filter: func(o runtime.Object) bool {
		return o.(*corev1.ConfigMap).Name == "b"
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 1 || len(l.Encodings) != 1 || l.Encodings[0] != second.Encodings[1] {
		t.Fatalf("filtered list: %d items, %d encodings, want b's", len(l.Items), len(l.Encodings))
	}
}
