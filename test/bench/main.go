// Command bench measures skiff's API server against the raw etcd it runs
// on: a skiff server is started in this process on a temporary data dir,
// driven with client-go, and the same embedded etcd is driven directly with
// the etcd client in the same run, so every skiff figure can be reported
// relative to the etcd floor measured under the same conditions.
//
//	go run ./test/bench -out docs/benchmarks.md   (make bench)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"skiff/internal/app"
)

const (
	namespace   = "bench"
	rawPrefix   = "/bench/raw/"
	mediaProto  = "application/vnd.kubernetes.protobuf"
	payloadSize = 128
)

type options struct {
	out     string
	n       int
	workers int
	gets    int
	lists   int
	updates int
	pods    int
	// watchers all watch watchEvents updates; watchersPerConn share one
	// HTTP/2 connection; watchWait bounds the wait for every delivery.
	watchers, watchEvents, watchersPerConn int
	watchWait                              time.Duration
	// schedNodes are the cluster sizes the scheduler is measured on, with
	// schedPods pods each; schedWait bounds the wait for all binds.
	schedNodes []int
	schedPods  int
	schedWait  time.Duration
	// startupPods pods are started on one real node (podStartupBench).
	startupPods int
	// dnsServices names are queried from the cluster DNS; the proxy syncs
	// proxyServices Services on the real kernel.
	dnsServices   int
	proxyServices []int
	timeout       time.Duration
	cpuProfile    string
	verbose       bool

	// memNodes simulated nodes with memPods pods load the server whose
	// memory is measured (memNodes 0: no memory figures; memPods 0: idle
	// only); memWait bounds the wait for them; memAgent also measures a
	// server with its node agent (root).
	memNodes, memPods int
	memWait           time.Duration
	memAgent          bool
	memHeapProfile    string
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == proxyChildFlag {
		os.Exit(proxyChild(os.Args[2]))
	}
	var o options
	flag.StringVar(&o.out, "out", "", "markdown report to write (empty: stdout only)")
	flag.IntVar(&o.n, "n", 10000, "number of ConfigMaps (and raw etcd keys)")
	flag.IntVar(&o.workers, "workers", 32, "concurrent workers")
	flag.IntVar(&o.gets, "gets", 0, "number of random gets (default 2*n)")
	flag.IntVar(&o.lists, "lists", 20, "number of full lists / ranges")
	flag.IntVar(&o.updates, "updates", 1000, "updates in the watch burst (at most n)")
	flag.IntVar(&o.pods, "pods", 10000, "number of Pods listed from the watch cache (0: skip)")
	flag.IntVar(&o.watchers, "watchers", 1000, "concurrent watchers in the fan-out (0: skip)")
	flag.IntVar(&o.watchEvents, "watch-events", 1000, "updates every fan-out watcher receives")
	flag.IntVar(&o.watchersPerConn, "watchers-per-conn", 100, "fan-out watchers per HTTP/2 connection (one clientset each)")
	flag.DurationVar(&o.watchWait, "watch-wait", 90*time.Second, "longest wait for every fan-out delivery after the burst")
	schedNodes := flag.String("sched-nodes", "1000,5000", "comma-separated node counts for the scheduling benchmark (empty: skip)")
	flag.IntVar(&o.schedPods, "sched-pods", 10000, "pods scheduled per node count")
	flag.DurationVar(&o.schedWait, "sched-wait", 3*time.Minute, "longest wait for every pod to be bound")
	flag.IntVar(&o.dnsServices, "dns-services", 1000, "services the cluster DNS benchmark queries (0: skip)")
	proxyServices := flag.String("proxy-services", "1000,10000", "comma-separated service counts for the proxy sync benchmark (root; empty: skip)")
	flag.IntVar(&o.startupPods, "startup-pods", 100, "pods started on one real node (root, containerd) against bare CRI calls (0: skip)")
	flag.IntVar(&o.memNodes, "memory-nodes", 1000, "simulated nodes in the memory benchmark of a server process (0: skip it)")
	flag.IntVar(&o.memPods, "memory-pods", 30000, "pods run on them (0: idle memory only)")
	flag.DurationVar(&o.memWait, "memory-wait", 10*time.Minute, "longest wait for the memory benchmark's nodes and pods to be Running")
	flag.BoolVar(&o.memAgent, "memory-agent", true, "also measure the idle memory of a server with its node agent (root, containerd)")
	flag.StringVar(&o.memHeapProfile, "memory-heapprofile", "", "write the loaded server's heap profile (from its /debug/pprof) here")
	flag.DurationVar(&o.timeout, "timeout", 25*time.Minute, "abort the whole run after this long")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole process (client, API server and etcd)")
	flag.BoolVar(&o.verbose, "v", false, "log the server at info level (default: warnings)")
	flag.Parse()
	o.schedNodes = counts("-sched-nodes", *schedNodes)
	o.proxyServices = counts("-proxy-services", *proxyServices)
	if o.n <= 0 || o.workers <= 0 || o.lists <= 0 || o.pods < 0 || o.watchers < 0 || o.watchEvents <= 0 || o.watchersPerConn <= 0 {
		fmt.Fprintln(os.Stderr, "bench: -n, -workers, -lists, -watch-events and -watchers-per-conn must be positive; -pods and -watchers not negative")
		os.Exit(2)
	}
	if o.gets <= 0 {
		o.gets = 2 * o.n
	}
	o.updates = max(1, min(o.updates, o.n))
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// counts parses a comma-separated list of positive counts (exits on a bad one).
func counts(flagName, list string) []int {
	var out []int
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		var n int
		if _, err := fmt.Sscan(f, &n); err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "bench: %s takes positive counts, e.g. 1000,5000\n", flagName)
			os.Exit(2)
		}
		out = append(out, n)
	}
	return out
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// server is the in-process skiff server.
type server struct {
	cfg  app.ServerConfig
	stop func() error
}

func startServer(ctx context.Context, dir string, verbose bool, opts ...func(*app.ServerConfig)) (*server, error) {
	cfg := app.DefaultServerConfig()
	cfg.DataDir = dir
	cfg.BindAddress = "127.0.0.1"
	cfg.AdvertiseAddress = "127.0.0.1"
	cfg.WriteKubeconfig = filepath.Join(dir, "kubeconfig.yaml")
	cfg.DisableAgent = true
	for _, p := range []*int{&cfg.HTTPSPort, &cfg.EtcdClientPort, &cfg.EtcdPeerPort} {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		*p = port
	}
	for _, o := range opts {
		o(&cfg)
	}
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ready := make(chan struct{})
	cfg.Ready = func() { close(ready) }
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- app.RunServer(sctx, cfg) }()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("server did not stop within 30s")
		}
	}
	select {
	case <-ready:
	case err := <-done:
		cancel()
		return nil, fmt.Errorf("server stopped before ready: %v", err)
	case <-time.After(90 * time.Second):
		_ = stop()
		return nil, errors.New("server not ready after 90s")
	case <-ctx.Done():
		_ = stop()
		return nil, ctx.Err()
	}
	return &server{cfg: cfg, stop: stop}, nil
}

// cpuTime is this process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs a phase, records its CPU time and prints its BENCH line.
func measure(out io.Writer, f func() (*result, error)) (*result, error) {
	c0 := cpuTime()
	r, err := f()
	if err != nil {
		return nil, err
	}
	r.CPU = cpuTime() - c0
	fmt.Fprintln(out, r.line())
	return r, nil
}

func cmName(i int) string { return fmt.Sprintf("cm-%05d", i) }

func newConfigMap(name string, rng *rand.Rand) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"app": "bench"}},
		Data:       map[string]string{"payload": randString(rng, payloadSize)},
	}
}

func randString(rng *rand.Rand, n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

func run(o options) (err error) {
	sctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(sctx, o.timeout)
	defer cancel()
	began := time.Now()
	rep := &report{opts: o, date: began, machine: machineInfo(), loadStart: loadAvg()}
	stdout := os.Stdout

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	dir, err := os.MkdirTemp("", "skiff-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := startServer(ctx, dir, o.verbose)
	if err != nil {
		return err
	}
	defer func() {
		if serr := srv.stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	fmt.Fprintf(os.Stderr, "bench: server ready in %s (https :%d, etcd :%d)\n", time.Since(began).Round(time.Millisecond), srv.cfg.HTTPSPort, srv.cfg.EtcdClientPort)

	// Clients: client-go (protobuf if it works) and a raw etcd client.
	kc, kcfg, ctr, err := newKubeClient(ctx, srv.cfg.WriteKubeconfig, rep)
	if err != nil {
		return err
	}
	ec, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{fmt.Sprintf("http://127.0.0.1:%d", srv.cfg.EtcdClientPort)},
		DialTimeout: 10 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return fmt.Errorf("etcd client: %w", err)
	}
	defer ec.Close()
	cms := kc.CoreV1().ConfigMaps(namespace)

	// The raw value size: what the API server stores for one of our objects.
	rng := rand.New(rand.NewPCG(1, 2))
	probe := newConfigMap("cm-probe", rng)
	if _, err := cms.Create(ctx, probe, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("probe create: %w", err)
	}
	gr, err := ec.Get(ctx, "/registry/configmaps/"+namespace+"/cm-probe")
	if err != nil || len(gr.Kvs) != 1 {
		return fmt.Errorf("reading stored probe from etcd: %v (found %d)", err, len(gr.Kvs))
	}
	rep.valueSize = len(gr.Kvs[0].Value)
	if err := cms.Delete(ctx, "cm-probe", metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("probe delete: %w", err)
	}
	fmt.Fprintf(os.Stderr, "bench: stored ConfigMap is %d bytes in etcd; content type %s\n", rep.valueSize, rep.contentType)

	// Warm up connections and code paths (not measured).
	for i := range 64 {
		if _, err := kc.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("warm-up get: %w", err)
		}
		if _, err := ec.Get(ctx, fmt.Sprintf("/bench/warm/%d", i)); err != nil {
			return fmt.Errorf("warm-up etcd get: %w", err)
		}
	}

	metrics := func() map[string]opStat {
		m, err := scrapeEtcdMetrics(ctx, kc)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: scraping /metrics:", err)
		}
		return m
	}

	// Writes: raw puts, then API creates.
	rawValue := []byte(randString(rng, rep.valueSize))
	if rep.etcdPut, err = measure(stdout, func() (*result, error) {
		return parallel(ctx, "etcd put", o.workers, o.n, func(ctx context.Context, _, i int) error {
			_, err := ec.Put(ctx, rawPrefix+cmName(i), string(rawValue))
			return err
		})
	}); err != nil {
		return err
	}
	objs := make([]*corev1.ConfigMap, o.n)
	for i := range objs {
		objs[i] = newConfigMap(cmName(i), rng)
	}
	rvs := make([]string, o.n)
	m0 := metrics()
	if rep.apiCreate, err = measure(stdout, func() (*result, error) {
		return parallel(ctx, "api create", o.workers, o.n, func(ctx context.Context, _, i int) error {
			c, err := cms.Create(ctx, objs[i], metav1.CreateOptions{})
			if err == nil {
				rvs[i] = c.ResourceVersion
			}
			return err
		})
	}); err != nil {
		return err
	}
	rep.serverEtcd = append(rep.serverEtcd, phaseEtcd{"create", o.n, diffStats(m0, metrics())})

	// Point reads at random names.
	rngs := make([]*rand.Rand, o.workers)
	for w := range rngs {
		rngs[w] = rand.New(rand.NewPCG(uint64(w), 42))
	}
	if rep.etcdGet, err = measure(stdout, func() (*result, error) {
		return parallel(ctx, "etcd get", o.workers, o.gets, func(ctx context.Context, w, _ int) error {
			r, err := ec.Get(ctx, rawPrefix+cmName(rngs[w].IntN(o.n)))
			if err == nil && len(r.Kvs) != 1 {
				err = errors.New("key not found")
			}
			return err
		})
	}); err != nil {
		return err
	}
	m0 = metrics()
	if rep.apiGet, err = measure(stdout, func() (*result, error) {
		return parallel(ctx, "api get", o.workers, o.gets, func(ctx context.Context, w, _ int) error {
			_, err := cms.Get(ctx, cmName(rngs[w].IntN(o.n)), metav1.GetOptions{})
			return err
		})
	}); err != nil {
		return err
	}
	rep.serverEtcd = append(rep.serverEtcd, phaseEtcd{"get", o.gets, diffStats(m0, metrics())})

	// Full reads: a linearizable range and a consistent list of everything.
	if rep.etcdRange, err = measure(stdout, func() (*result, error) {
		return sequential(ctx, "etcd range", o.lists, func(ctx context.Context, _ int) error {
			r, err := ec.Get(ctx, rawPrefix, clientv3.WithPrefix())
			if err == nil && len(r.Kvs) != o.n {
				err = fmt.Errorf("range returned %d keys, want %d", len(r.Kvs), o.n)
			}
			return err
		})
	}); err != nil {
		return err
	}
	m0 = metrics()
	if rep.apiList, err = measure(stdout, func() (*result, error) {
		return sequential(ctx, "api list", o.lists, func(ctx context.Context, _ int) error {
			l, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: ""})
			if err == nil {
				// The namespace also holds its kube-root-ca.crt.
				ours := 0
				for i := range l.Items {
					if strings.HasPrefix(l.Items[i].Name, "cm-") {
						ours++
					}
				}
				if ours != o.n {
					err = fmt.Errorf("list returned %d of our items, want %d", ours, o.n)
				}
			}
			return err
		})
	}); err != nil {
		return err
	}
	rep.serverEtcd = append(rep.serverEtcd, phaseEtcd{"list", o.lists, diffStats(m0, metrics())})

	// Watch delivery: a burst of updates while a watch is open.
	if rep.etcdWatch, err = measure(stdout, func() (*result, error) {
		return etcdWatchBurst(ctx, ec, o, rawValue)
	}); err != nil {
		return err
	}
	m0 = metrics()
	if rep.apiWatch, err = measure(stdout, func() (*result, error) {
		return apiWatchBurst(ctx, cms, o, objs, rvs)
	}); err != nil {
		return err
	}
	rep.serverEtcd = append(rep.serverEtcd, phaseEtcd{"watch-updates", o.updates, diffStats(m0, metrics())})

	// LIST of many pods from the watch cache against an etcd range of them.
	if o.pods > 0 {
		if rep.pods, err = podListBench(ctx, stdout, o, kc, kcfg, ec, metrics); err != nil {
			return err
		}
		rep.serverEtcd = append(rep.serverEtcd, rep.pods.etcdConsistent, rep.pods.etcdAnyList)
	}
	// Many watchers receiving the same burst.
	if o.watchers > 0 {
		if rep.fanout, err = watchFanout(ctx, stdout, o, kcfg, kc, metrics); err != nil {
			return err
		}
		rep.serverEtcd = append(rep.serverEtcd, rep.fanout.etcd)
	}

	rep.contentTypes = ctr.snapshot()
	// The scheduling runs each start their own server; stop this one first
	// so that they have the machine.
	if err := srv.stop(); err != nil {
		return err
	}
	srv.stop = func() error { return nil }
	if o.dnsServices > 0 || len(o.proxyServices) > 0 {
		if rep.network, err = networkBench(ctx, stdout, o.dnsServices, o.proxyServices); err != nil {
			return fmt.Errorf("networking: %w", err)
		}
	}
	if o.startupPods > 0 {
		if rep.startup, err = podStartupBench(ctx, stdout, o); err != nil {
			return fmt.Errorf("pod start-up: %w", err)
		}
	}
	for _, n := range o.schedNodes {
		f, err := schedulingBench(ctx, stdout, o, n)
		if err != nil {
			return fmt.Errorf("scheduling on %d nodes: %w", n, err)
		}
		rep.sched = append(rep.sched, f)
	}
	if o.memNodes > 0 {
		if rep.memory, err = memoryBench(ctx, stdout, o); err != nil {
			return fmt.Errorf("memory: %w", err)
		}
	}
	rep.loadEnd = loadAvg()
	rep.total = time.Since(began)
	for _, ph := range rep.serverEtcd {
		fmt.Fprintln(stdout, ph.line())
	}
	fmt.Fprintln(stdout, rep.ratioLine())
	fmt.Fprintln(stdout, rep.latencyRatioLine())
	if rep.pods != nil {
		fmt.Fprintln(stdout, rep.pods.ratioLine())
	}
	fmt.Fprintf(stdout, "BENCH info content_type=%s value_bytes=%d n=%d workers=%d total_s=%.1f\n",
		rep.contentType, rep.valueSize, o.n, o.workers, rep.total.Seconds())
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(rep.markdown()), 0o644); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "bench: wrote", o.out)
	}
	return nil
}

// newKubeClient builds a client-go clientset from the kubeconfig, using
// protobuf if the server accepts it (else JSON), and creates the namespace.
func newKubeClient(ctx context.Context, kubeconfig string, rep *report) (*kubernetes.Clientset, *rest.Config, *contentTypeCounter, error) {
	base, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, nil, nil, err
	}
	base.QPS, base.Burst = 100000, 100000
	ctr := &contentTypeCounter{}
	base.Wrap(ctr.wrap)

	pb := rest.CopyConfig(base)
	pb.ContentType = mediaProto
	pb.AcceptContentTypes = mediaProto + ",application/json"
	kc, err := kubernetes.NewForConfig(pb)
	if err != nil {
		return nil, nil, nil, err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	_, perr := kc.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if perr == nil && ctr.last() == mediaProto {
		rep.contentType = "protobuf"
		return kc, pb, ctr, nil
	}
	if perr == nil {
		// Created, but the answer was not protobuf: JSON it is.
		rep.contentTypeNote = fmt.Sprintf("protobuf requested, server answered %q", ctr.last())
	} else {
		rep.contentTypeNote = fmt.Sprintf("protobuf create failed (%v)", perr)
	}
	kc, err = kubernetes.NewForConfig(base)
	if err != nil {
		return nil, nil, nil, err
	}
	rep.contentType = "json"
	if perr != nil {
		if _, err := kc.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			return nil, nil, nil, fmt.Errorf("creating namespace: %w", err)
		}
	}
	return kc, base, ctr, nil
}

// scrapeEtcdMetrics reads the API server's etcd_request_duration_seconds
// sums and counts per operation.
func scrapeEtcdMetrics(ctx context.Context, kc *kubernetes.Clientset) (map[string]opStat, error) {
	body, err := kc.Discovery().RESTClient().Get().AbsPath("/metrics").SetHeader("Accept", "text/plain").DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	return parseEtcdMetrics(string(body)), nil
}

// opStat is a count and total duration of server-side etcd calls.
type opStat struct {
	Count int64
	Sum   float64 // seconds
}

func parseEtcdMetrics(text string) map[string]opStat {
	m := map[string]opStat{}
	for _, line := range strings.Split(text, "\n") {
		var isSum bool
		switch {
		case strings.HasPrefix(line, "etcd_request_duration_seconds_sum{"):
			isSum = true
		case strings.HasPrefix(line, "etcd_request_duration_seconds_count{"):
		default:
			continue
		}
		_, rest, _ := strings.Cut(line, `operation="`)
		op, rest, ok := strings.Cut(rest, `"`)
		if !ok {
			continue
		}
		_, val, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(strings.TrimSpace(val), &v); err != nil {
			continue
		}
		s := m[op]
		if isSum {
			s.Sum = v
		} else {
			s.Count = int64(v)
		}
		m[op] = s
	}
	return m
}

func diffStats(before, after map[string]opStat) map[string]opStat {
	d := map[string]opStat{}
	for op, a := range after {
		b := before[op]
		if a.Count-b.Count > 0 {
			d[op] = opStat{Count: a.Count - b.Count, Sum: a.Sum - b.Sum}
		}
	}
	return d
}
