package integration

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestKill9DuringCreates kills the server with SIGKILL while 1,000 creates
// run concurrently; after a restart every create that was answered 201 must
// be there, and everything stored must read back whole.
func TestKill9DuringCreates(t *testing.T) {
	dir := t.TempDir()
	cfg := serverConfig(t, dir)
	p := startServerProcess(t, cfg)
	rc := waitReady(t, cfg.WriteKubeconfig)
	client := kubernetes.NewForConfigOrDie(rc)
	ctx := context.Background()

	const total, workers = 1000, 32
	var acked sync.Map
	var ackedCount atomic.Int64
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				name := fmt.Sprintf("cm-%04d", i)
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				_, err := client.CoreV1().ConfigMaps("default").Create(cctx, &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"batch": "crash"}},
					Data:       map[string]string{"i": fmt.Sprint(i), "payload": fmt.Sprintf("%0512d", i)},
				}, metav1.CreateOptions{})
				cancel()
				if err == nil {
					acked.Store(name, true)
					ackedCount.Add(1)
				}
			}
		}()
	}
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		for ackedCount.Load() < 300 {
			time.Sleep(time.Millisecond)
		}
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}()
	for i := 0; i < total; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	<-killed
	n := ackedCount.Load()
	if n >= total {
		t.Fatalf("the server was not killed before all creates finished (%d acknowledged)", n)
	}
	t.Logf("%d of %d creates acknowledged before SIGKILL", n, total)

	startServerProcess(t, cfg)
	rc = waitReady(t, cfg.WriteKubeconfig)
	client = kubernetes.NewForConfigOrDie(rc)
	list, err := client.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{LabelSelector: "batch=crash"})
	if err != nil {
		t.Fatalf("listing after restart: %v", err)
	}
	present := map[string]bool{}
	for _, cm := range list.Items {
		present[cm.Name] = true
		if cm.UID == "" || cm.CreationTimestamp.IsZero() || len(cm.Data["payload"]) != 512 || cm.Data["i"] == "" {
			t.Errorf("configmap %s is not whole: %+v", cm.Name, cm.ObjectMeta)
		}
	}
	missing := 0
	acked.Range(func(k, _ any) bool {
		if !present[k.(string)] {
			missing++
			t.Errorf("acknowledged configmap %s is missing after restart", k)
		}
		return true
	})
	if missing == 0 {
		t.Logf("all %d acknowledged creates survived; %d objects stored in all", n, len(list.Items))
	}
}
