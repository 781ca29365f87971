package integration

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// Bookmarks are periodic: however often etcd reports progress (consistent
// reads ask it to, and writes to other resources advance the revision), a
// watch gets at most one bookmark per interval, not one per progress
// report.
func TestBookmarksArePaced(t *testing.T) {
	ts := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := ts.Client
	w, err := c.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{AllowWatchBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var bookmarks atomic.Int64
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type == watch.Bookmark {
				bookmarks.Add(1)
			}
		}
	}()
	// Writes elsewhere and consistent reads, for a few seconds.
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		if _, err := c.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s-%d", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := bookmarks.Load(); n > 1 {
		t.Fatalf("%d bookmarks in 3 seconds on one watch; want at most one per interval (a minute)", n)
	}
}
