package integration

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"skiff/internal/app"
)

// recorder keeps the events an informer handler saw, in order.
type recorder struct {
	mu     sync.Mutex
	events []string
}

// rootCAConfigMap is published in every namespace by the controllers; the
// recorder leaves it out, as it is none of the tests' doing.
const rootCAConfigMap = "kube-root-ca.crt"

func (r *recorder) add(s string) {
	if f := strings.Fields(s); len(f) > 1 && f[1] == rootCAConfigMap {
		return
	}
	r.mu.Lock()
	r.events = append(r.events, s)
	r.mu.Unlock()
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

func (r *recorder) handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			cm := obj.(*corev1.ConfigMap)
			r.add("add " + cm.Name + " " + cm.Data["v"])
		},
		UpdateFunc: func(oldObj, newObj interface{}) {
			o, n := oldObj.(*corev1.ConfigMap), newObj.(*corev1.ConfigMap)
			if o.ResourceVersion == n.ResourceVersion {
				r.add("resync " + n.Name)
				return
			}
			r.add("update " + n.Name + " " + n.Data["v"])
		},
		DeleteFunc: func(obj interface{}) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			r.add("delete " + obj.(*corev1.ConfigMap).Name)
		},
	}
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// metricSum adds the values of a counter's series whose labels contain all
// of the given label pairs.
func metricSum(t *testing.T, c kubernetes.Interface, name string, labels ...string) float64 {
	t.Helper()
	body, err := c.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(line, l) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		sum += v
	}
	return sum
}

// listLike counts the requests that read a whole collection of
// configmaps: LISTs and watches that started with the current state.
func listLike(t *testing.T, c kubernetes.Interface) float64 {
	return metricSum(t, c, "apiserver_request_total", `verb="LIST"`, `resource="configmaps"`) +
		metricSum(t, c, "skiff_apiserver_watch_initial_events_total", `resource="configmaps"`)
}

func TestInformerOrderResumeAndCompaction(t *testing.T) {
	// A tiny watch cache window, so that the outage below outgrows it and
	// the resumed watch must go to etcd, where the history is compacted.
	ts := startServer(t, func(c *app.ServerConfig) { c.WatchCacheSize = 2 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	admin := ts.Client
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "inf"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The informer reaches the server through a proxy the test can cut.
	proxy := newCutProxy(t, fmt.Sprintf("127.0.0.1:%d", ts.Port))
	cfg := rest.CopyConfig(ts.Config)
	cfg.Host = "https://" + proxy.Addr()
	client := kubernetes.NewForConfigOrDie(cfg)
	rec := &recorder{}
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace("inf"))
	inf := factory.Core().V1().ConfigMaps().Informer()
	if _, err := inf.AddEventHandler(rec.handler()); err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync")
	}

	// 1. Every create, update and delete is seen, in order.
	cms := admin.CoreV1().ConfigMaps("inf")
	var want []string
	for i := 0; i < 5; i++ {
		name := fmt.Sprintf("cm-%d", i)
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"v": "1"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		want = append(want, "add "+name+" 1")
	}
	for i := 0; i < 5; i++ {
		name := fmt.Sprintf("cm-%d", i)
		cm, err := cms.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cm.Data["v"] = "2"
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		want = append(want, "update "+name+" 2")
	}
	for _, i := range []int{3, 1} {
		name := fmt.Sprintf("cm-%d", i)
		if err := cms.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		want = append(want, "delete "+name)
	}
	waitFor(t, "all events", 20*time.Second, func() bool { return len(rec.snapshot()) >= len(want) })
	if got := rec.snapshot(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events out of order or wrong:\ngot:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// 2. A broken watch resumes from its last resourceVersion: no relist.
	before := listLike(t, admin)
	watchesBefore := metricSum(t, admin, "apiserver_request_total", `verb="WATCH"`, `resource="configmaps"`)
	proxy.cut()
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after-cut"}, Data: map[string]string{"v": "1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "event after the cut", 30*time.Second, func() bool {
		ev := rec.snapshot()
		return ev[len(ev)-1] == "add after-cut 1"
	})
	waitFor(t, "the broken watch to be counted", 10*time.Second, func() bool {
		return metricSum(t, admin, "apiserver_request_total", `verb="WATCH"`, `resource="configmaps"`) > watchesBefore
	})
	if after := listLike(t, admin); after != before {
		t.Fatalf("the informer relisted after a broken watch (%v list-like requests before, %v after)", before, after)
	}
	for _, e := range rec.snapshot() {
		if strings.HasPrefix(e, "resync") {
			t.Fatalf("unexpected relist event %q", e)
		}
	}

	// 3. After compaction past the informer's version, it gets 410 and
	// relists, and ends up with the true state.
	proxy.refuse(true)
	proxy.cut()
	if err := cms.Delete(ctx, "cm-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "during-outage"}, Data: map[string]string{"v": "1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := cms.Update(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "during-outage"}, Data: map[string]string{"v": fmt.Sprint(i + 2)}}, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{fmt.Sprintf("http://127.0.0.1:%d", ts.EtcdPort)}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	resp, err := etcd.Get(ctx, "/registry/health", clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := etcd.Compact(ctx, resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
	before = listLike(t, admin)
	proxy.refuse(false)
	defer func() {
		if t.Failed() {
			for _, o := range inf.GetStore().List() {
				t.Logf("informer has %s", o.(*corev1.ConfigMap).Name)
			}
			t.Logf("events: %v", rec.snapshot())
		}
	}()
	waitFor(t, "the informer to catch up after compaction", 60*time.Second, func() bool {
		names := map[string]bool{}
		for _, o := range inf.GetStore().List() {
			if n := o.(*corev1.ConfigMap).Name; n != rootCAConfigMap {
				names[n] = true
			}
		}
		return !names["cm-0"] && names["during-outage"] && names["cm-2"] && names["cm-4"] && names["after-cut"] && len(names) == 4
	})
	if after := listLike(t, admin); after <= before {
		t.Fatalf("expected a relist after compaction (list-like requests %v before, %v after)", before, after)
	}
}
