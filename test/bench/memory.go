package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"skiff/internal/mountinfo"
	"skiff/internal/netpol"
	"skiff/internal/network"
	"skiff/internal/proxy"
	"skiff/internal/simnodes"
)

// memTargetMB is the idle memory target of the server with its agent, and
// memUpstreamMB upstream's idle control plane (etcd, kube-apiserver,
// scheduler, controller-manager), both from our testing doc.
const (
	memTargetMB   = 150
	memUpstreamMB = 430
)

// memSettleMin is how long a server is left alone before its memory is
// read, memSettleMax the longest wait for its RSS to stop growing.
const (
	memSettleMin = 20 * time.Second
	memSettleMax = 90 * time.Second
)

// memSample is one reading of a process's memory: from /proc (kB) and,
// where it could be scraped, from the server's own /metrics (bytes; -1
// when unknown).
type memSample struct {
	rssKB, hwmKB, anonKB, fileKB int64
	heapInuse, alloc, sys        float64
	promRSS                      float64
}

func (s memSample) rssMB() float64 { return float64(s.rssKB) / 1024 }

// memFigures are the memory figures of a skiff server run as its own
// process: idle with the agent disabled, then loaded with simulated nodes
// and pods, and (when it can run here) idle with its node agent.
type memFigures struct {
	skipped     string
	bin         string
	nodes, pods int
	idle        memSample
	idleSettle  time.Duration
	// The load: loadSkipped says why it was not run; loadTime is from the
	// first node registering to the last pod Running.
	loadSkipped  string
	loaded       memSample
	nodeSetup    time.Duration
	create       *result
	loadTime     time.Duration
	loadedSettle time.Duration
	// With the node agent: the skiff process (server and agent) and
	// containerd, its child, read separately.
	agentSkipped           string
	agent, containerd      memSample
	agentSettle            time.Duration
	containerdFound        bool
	agentNodeReadyDuration time.Duration
}

// kbPerPod is the RSS increase from idle to loaded per pod.
func (f *memFigures) kbPerPod() float64 {
	if f.pods == 0 {
		return 0
	}
	return float64(f.loaded.rssKB-f.idle.rssKB) / float64(f.pods)
}

func (f *memFigures) loadedOK() bool { return f.loadSkipped == "" && f.loaded.rssKB > 0 }

func (f *memFigures) agentOK() bool { return f.agentSkipped == "" && f.agent.rssKB > 0 }

func (f *memFigures) line() string {
	s := fmt.Sprintf("BENCH memory idle_rss_mb=%.1f idle_hwm_mb=%.1f idle_heap_inuse_mb=%s", f.idle.rssMB(), float64(f.idle.hwmKB)/1024, mbOrNA(f.idle.heapInuse))
	if f.loadedOK() {
		s += fmt.Sprintf(" loaded_rss_mb=%.1f loaded_hwm_mb=%.1f loaded_heap_inuse_mb=%s nodes=%d pods=%d kb_per_pod=%.2f load_s=%.1f",
			f.loaded.rssMB(), float64(f.loaded.hwmKB)/1024, mbOrNA(f.loaded.heapInuse), f.nodes, f.pods, f.kbPerPod(), f.loadTime.Seconds())
	}
	if f.agentOK() {
		s += fmt.Sprintf(" agent_idle_rss_mb=%.1f", f.agent.rssMB())
		if f.containerdFound {
			s += fmt.Sprintf(" containerd_rss_mb=%.1f", f.containerd.rssMB())
		}
	}
	return s
}

func mbOrNA(bytes float64) string {
	if bytes < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", bytes/(1<<20))
}

// skiffBinary is the skiff binary to run: $SKIFF_BIN, else bin/skiff in
// the working directory or the nearest parent holding a go.mod.
func skiffBinary() (string, error) {
	if b := os.Getenv("SKIFF_BIN"); b != "" {
		if _, err := os.Stat(b); err != nil {
			return "", fmt.Errorf("SKIFF_BIN=%s: %v", b, err)
		}
		return b, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b := filepath.Join(dir, "bin", "skiff"); fileExists(b) {
			return b, nil
		}
		if fileExists(filepath.Join(dir, "go.mod")) {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("no skiff binary: run `make build` (bin/skiff) or set SKIFF_BIN")
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// serverProc is a skiff server running as a child process.
type serverProc struct {
	cmd        *exec.Cmd
	exited     chan struct{}
	waitErr    error
	log        string
	kubeconfig string
}

// startServerProc runs `skiff server` on dir with free ports and waits
// until its kubeconfig exists and /readyz answers ok.
func startServerProc(ctx context.Context, bin, dir string, extra ...string) (*serverProc, *kubernetes.Clientset, error) {
	ports := make([]int, 3)
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return nil, nil, err
		}
		ports[i] = p
	}
	kubeconfig := filepath.Join(dir, "kubeconfig.yaml")
	args := append([]string{"server", "-d", filepath.Join(dir, "server"),
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--https-listen-port", strconv.Itoa(ports[0]), "--etcd-client-port", strconv.Itoa(ports[1]), "--etcd-peer-port", strconv.Itoa(ports[2]),
		"--kubelet-port", "-1", "--cluster-dns", "", "-o", kubeconfig}, extra...)
	logPath := filepath.Join(dir, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The server dies with the bench; Pdeathsig follows the forking OS
	// thread, so that thread stays locked while the server runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	sp := &serverProc{cmd: cmd, exited: make(chan struct{}), log: logPath, kubeconfig: kubeconfig}
	startErr := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer logFile.Close()
		if err := cmd.Start(); err != nil {
			startErr <- err
			close(sp.exited)
			return
		}
		startErr <- nil
		sp.waitErr = cmd.Wait()
		close(sp.exited)
	}()
	if err := <-startErr; err != nil {
		return nil, nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	fail := func(err error) (*serverProc, *kubernetes.Clientset, error) {
		sp.stop()
		return nil, nil, fmt.Errorf("%w\n%s", err, sp.logTail())
	}
	var kc *kubernetes.Clientset
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if kc == nil && fileExists(kubeconfig) {
			rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err == nil {
				rc.QPS, rc.Burst = 100000, 100000
				kc, err = kubernetes.NewForConfig(rc)
			}
			if err != nil {
				kc = nil // written but maybe not completely yet
			}
		}
		if kc != nil {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			body, err := kc.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(rctx)
			cancel()
			if err == nil && strings.TrimSpace(string(body)) == "ok" {
				return sp, kc, nil
			}
		}
		if time.Now().After(deadline) {
			return fail(errors.New("server process not ready after 2 minutes"))
		}
		select {
		case <-sp.exited:
			return fail(fmt.Errorf("server process exited before ready: %v", sp.waitErr))
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (sp *serverProc) pid() int { return sp.cmd.Process.Pid }

// stop sends SIGTERM, waits up to 30 s, then kills the process. It may be
// called more than once.
func (sp *serverProc) stop() {
	select {
	case <-sp.exited:
		return
	default:
	}
	_ = sp.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-sp.exited:
	case <-time.After(30 * time.Second):
		fmt.Fprintf(os.Stderr, "bench: server pid %d did not stop within 30s after SIGTERM; killing it\n", sp.pid())
		_ = sp.cmd.Process.Kill()
		<-sp.exited
	}
}

// logTail is the end of the server's log, for error messages.
func (sp *serverProc) logTail() string {
	b, err := os.ReadFile(sp.log)
	if err != nil {
		return ""
	}
	const keep = 3000
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return "server log (end):\n" + string(b)
}

// procMemory reads VmRSS, VmHWM, RssAnon and RssFile (kB) of pid.
func procMemory(pid int) (memSample, error) {
	s := memSample{heapInuse: -1, alloc: -1, sys: -1, promRSS: -1}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var kb int64
		if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb); err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			s.rssKB = kb
		case "VmHWM":
			s.hwmKB = kb
		case "RssAnon":
			s.anonKB = kb
		case "RssFile":
			s.fileKB = kb
		}
	}
	if s.rssKB == 0 {
		return s, fmt.Errorf("no VmRSS for pid %d", pid)
	}
	return s, sc.Err()
}

// scrapeMemMetrics adds the Go runtime's and the process collector's
// figures from the server's /metrics to s (left at -1 if absent).
func scrapeMemMetrics(ctx context.Context, kc *kubernetes.Clientset, s *memSample) {
	body, err := kc.Discovery().RESTClient().Get().AbsPath("/metrics").SetHeader("Accept", "text/plain").DoRaw(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: scraping /metrics for memory:", err)
		return
	}
	for _, line := range strings.Split(string(body), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		var dst *float64
		switch name {
		case "go_memstats_heap_inuse_bytes":
			dst = &s.heapInuse
		case "go_memstats_alloc_bytes":
			dst = &s.alloc
		case "go_memstats_sys_bytes":
			dst = &s.sys
		case "process_resident_memory_bytes":
			dst = &s.promRSS
		default:
			continue
		}
		var v float64
		if _, err := fmt.Sscan(strings.TrimSpace(val), &v); err == nil {
			*dst = v
		}
	}
}

// settle leaves the process alone for memSettleMin, then until its RSS
// grew by less than 1% over the last 5 s (at most memSettleMax), and
// returns how long that took.
func settle(ctx context.Context, pid int) (time.Duration, error) {
	began := time.Now()
	prev := int64(0)
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(5 * time.Second):
		}
		m, err := procMemory(pid)
		if err != nil {
			return 0, err
		}
		waited := time.Since(began)
		if waited >= memSettleMax || (waited >= memSettleMin && prev > 0 && m.rssKB-prev < prev/100) {
			return waited, nil
		}
		prev = m.rssKB
	}
}

// sampleServer reads pid's memory from /proc and the server's /metrics.
func sampleServer(ctx context.Context, pid int, kc *kubernetes.Clientset) (memSample, error) {
	s, err := procMemory(pid)
	if err != nil {
		return s, err
	}
	scrapeMemMetrics(ctx, kc, &s)
	return s, nil
}

// memoryBench measures a skiff server in its own process, so that the
// RSS is the server's alone: idle (agent disabled), then with o.memNodes
// simulated nodes running o.memPods pods, then idle with its node agent.
func memoryBench(ctx context.Context, out io.Writer, o options) (*memFigures, error) {
	f := &memFigures{nodes: o.memNodes, pods: o.memPods}
	bin, err := skiffBinary()
	if err != nil {
		f.skipped = err.Error()
		fmt.Fprintln(os.Stderr, "bench: memory skipped:", f.skipped)
		return f, nil
	}
	f.bin = bin
	if err := serverMemory(ctx, o, f); err != nil {
		return nil, err
	}
	f.agentSkipped = agentMemory(ctx, o, f)
	if f.agentSkipped != "" {
		fmt.Fprintln(os.Stderr, "bench: memory with agent skipped:", f.agentSkipped)
	}
	fmt.Fprintln(out, f.line())
	return f, nil
}

// serverMemory is the agent-less part: idle, then loaded.
func serverMemory(ctx context.Context, o options, f *memFigures) error {
	dir, err := os.MkdirTemp("", "skiff-bench-mem-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// Simulated nodes post their status once and then only renew leases:
	// long grace periods keep them Ready however loaded the machine is;
	// a /9 has room for a /24 per node.
	sp, kc, err := startServerProc(ctx, f.bin, dir, "--disable-agent",
		"--node-monitor-grace-period", "1h", "--node-startup-grace-period", "1h", "--cluster-cidr", "10.128.0.0/9")
	if err != nil {
		return err
	}
	defer sp.stop()
	pid := sp.pid()
	fmt.Fprintf(os.Stderr, "bench: memory: server pid %d (%s) ready; settling\n", pid, f.bin)
	if f.idleSettle, err = settle(ctx, pid); err != nil {
		return err
	}
	if f.idle, err = sampleServer(ctx, pid, kc); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: memory: idle RSS %.1f MB after %s\n", f.idle.rssMB(), f.idleSettle.Round(time.Second))
	if o.memPods == 0 {
		f.loadSkipped = "-memory-pods 0"
		return nil
	}
	// The simulated nodes keep renewing until the memory has been read.
	simCtx, stopSim := context.WithCancel(ctx)
	defer stopSim()
	if err := loadServer(ctx, simCtx, o, f, kc); err != nil {
		return fmt.Errorf("%w\n%s", err, sp.logTail())
	}
	if f.loadedSettle, err = settle(ctx, pid); err != nil {
		return err
	}
	if f.loaded, err = sampleServer(ctx, pid, kc); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: memory: loaded RSS %.1f MB (%d nodes, %d pods)\n", f.loaded.rssMB(), f.nodes, f.pods)
	if o.memHeapProfile != "" {
		// The loaded server's heap, from its /debug/pprof (go tool pprof).
		heap, err := kc.Discovery().RESTClient().Get().AbsPath("/debug/pprof/heap").DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("heap profile: %w", err)
		}
		if err := os.WriteFile(o.memHeapProfile, heap, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// loadServer registers the simulated nodes, creates the pods and waits
// until every pod is bound and Running. The simulated nodes run until
// simCtx ends.
func loadServer(ctx, simCtx context.Context, o options, f *memFigures, kc *kubernetes.Clientset) error {
	if _, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating namespace: %w", err)
	}
	began := time.Now()
	deadline := began.Add(o.memWait)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// Room for twice the pods' share per node, so that the scheduler's
	// spreading never runs out of room.
	perNode := max(110, 2*(f.pods+f.nodes-1)/f.nodes)
	sim := simnodes.New(kc, simnodes.Config{Count: f.nodes, Pods: perNode, Workers: o.workers}, logger)
	simErr := make(chan error, 1)
	go func() { simErr <- sim.Run(simCtx) }()
	// All nodes Ready with their capacity before the pods come.
	for {
		list, err := kc.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return err
		}
		ready := 0
		for i := range list.Items {
			if len(list.Items[i].Status.Allocatable) > 0 && list.Items[i].Spec.PodCIDR != "" {
				ready++
			}
		}
		if ready >= f.nodes {
			break
		}
		if err := waitTick(ctx, deadline, simErr, time.Second); err != nil {
			return fmt.Errorf("%d of %d simulated nodes ready: %w", ready, f.nodes, err)
		}
	}
	f.nodeSetup = time.Since(began)
	fmt.Fprintf(os.Stderr, "bench: memory: %d nodes ready in %s\n", f.nodes, f.nodeSetup.Round(time.Millisecond))

	pods := kc.CoreV1().Pods(namespace)
	var err error
	if f.create, err = parallel(ctx, "memory pod create", o.workers, f.pods, func(ctx context.Context, _, i int) error {
		_, err := pods.Create(ctx, newPod(i), metav1.CreateOptions{})
		return err
	}); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: memory: %d pods created at %.0f/s\n", f.pods, f.create.opsPerSec())
	if err := waitPodsRunning(ctx, kc, f.pods, deadline, simErr); err != nil {
		return err
	}
	f.loadTime = time.Since(began)
	fmt.Fprintf(os.Stderr, "bench: memory: %d pods Running on %d nodes %s after the first node\n", f.pods, f.nodes, f.loadTime.Round(time.Millisecond))
	return nil
}

// waitTick waits d, failing once deadline has passed or the simulated
// nodes have stopped.
func waitTick(ctx context.Context, deadline time.Time, simErr <-chan error, d time.Duration) error {
	if time.Now().After(deadline) {
		return errors.New("gave up (-memory-wait)")
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-simErr:
		return fmt.Errorf("simulated nodes stopped: %v", err)
	case <-time.After(d):
		return nil
	}
}

// waitPodsRunning lists the pods once and follows a watch until n of them
// are bound and Running (listing again if the watch ends).
func waitPodsRunning(ctx context.Context, kc *kubernetes.Clientset, n int, deadline time.Time, simErr <-chan error) error {
	pods := kc.CoreV1().Pods(namespace)
	running := map[string]bool{}
	isRunning := func(p *corev1.Pod) bool { return p.Spec.NodeName != "" && p.Status.Phase == corev1.PodRunning }
	for {
		list, err := pods.List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return err
		}
		clear(running)
		for i := range list.Items {
			if isRunning(&list.Items[i]) {
				running[list.Items[i].Name] = true
			}
		}
		rv := list.ResourceVersion
		list = nil // not kept while waiting
		if len(running) >= n {
			return nil
		}
		w, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: rv})
		if err != nil {
			return err
		}
		timeout := time.NewTimer(time.Until(deadline))
		progress := time.NewTicker(15 * time.Second)
		err = func() error {
			defer w.Stop()
			defer timeout.Stop()
			defer progress.Stop()
			for {
				select {
				case ev, ok := <-w.ResultChan():
					if !ok {
						return nil // list and watch again
					}
					p, isPod := ev.Object.(*corev1.Pod)
					if !isPod {
						continue
					}
					if ev.Type != watch.Deleted && isRunning(p) {
						running[p.Name] = true
					} else {
						delete(running, p.Name)
					}
					if len(running) >= n {
						return nil
					}
				case <-progress.C:
					fmt.Fprintf(os.Stderr, "bench: memory: %d of %d pods Running\n", len(running), n)
				case err := <-simErr:
					return fmt.Errorf("simulated nodes stopped: %v", err)
				case <-timeout.C:
					return fmt.Errorf("only %d of %d pods bound and Running: gave up (-memory-wait)", len(running), n)
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}()
		if err != nil || len(running) >= n {
			return err
		}
	}
}

// agentMemory runs a server with its node agent (root, containerd) until
// its node is Ready, lets it settle and reads the skiff process's and
// containerd's RSS. It returns why it was skipped, or "".
func agentMemory(ctx context.Context, o options, f *memFigures) string {
	if !o.memAgent {
		return "-memory-agent=false"
	}
	if os.Geteuid() != 0 {
		return "needs root (containerd)"
	}
	for _, bin := range []string{"containerd", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			return bin + " not installed"
		}
	}
	if _, err := net.InterfaceByName("skiff0"); err == nil {
		return "a skiff0 bridge exists (a node runs on this machine)"
	}
	dir, err := os.MkdirTemp("", "skiff-bench-memagent-")
	if err != nil {
		return err.Error()
	}
	var sp *serverProc
	defer func() {
		if sp != nil {
			sp.stop()
		}
		_ = mountinfo.UnmountUnder(dir)
		_ = exec.Command("ip", "link", "del", "skiff0").Run()
		// The node's tables in this (the host's) namespace.
		for _, table := range []string{network.TableName, proxy.TableName, netpol.TableName} {
			_ = exec.Command("nft", "delete", "table", "ip", table).Run()
		}
		_ = os.RemoveAll(dir)
	}()
	const node = "bench-mem-node"
	sp, kc, err := startServerProc(ctx, f.bin, dir, "--node-name", node,
		"--agent-data-dir", filepath.Join(dir, "agent"), "--pod-logs-dir", filepath.Join(dir, "pods"))
	if err != nil {
		sp = nil
		return "server with agent did not start: " + firstLine(err.Error())
	}
	began := time.Now()
	if err := waitUntil(ctx, 2*time.Minute, func() bool {
		n, err := kc.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	}); err != nil {
		return "node with agent not Ready within 2 minutes"
	}
	f.agentNodeReadyDuration = time.Since(began)
	pid := sp.pid()
	if f.agentSettle, err = settle(ctx, pid); err != nil {
		return err.Error()
	}
	if f.agent, err = sampleServer(ctx, pid, kc); err != nil {
		return err.Error()
	}
	if cpid := childNamed(pid, "containerd"); cpid > 0 {
		if f.containerd, err = procMemory(cpid); err == nil {
			f.containerdFound = true
		}
	}
	fmt.Fprintf(os.Stderr, "bench: memory: with agent, skiff RSS %.1f MB, containerd %.1f MB\n", f.agent.rssMB(), f.containerd.rssMB())
	return ""
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// childNamed is the pid of a child process of parent with that command
// name, or 0.
func childNamed(parent int, comm string) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		fields := strings.Fields(s[closing+1:])
		if len(fields) < 2 || s[open+1:closing] != comm {
			continue
		}
		if ppid, err := strconv.Atoi(fields[1]); err == nil && ppid == parent {
			return pid
		}
	}
	return 0
}

// memTargetRow is the idle-memory row of the reference table.
func (r *report) memTargetRow(p func(string, ...any)) {
	f := r.memory
	if f == nil || f.skipped != "" {
		return
	}
	if f.agentOK() {
		p("| idle memory, server (+agent) | ~%d MB | ≤ %d MB | %.0f MB RSS with agent, %.0f MB of it anonymous (server alone %.0f MB; containerd %s besides) | %s |\n",
			memUpstreamMB, memTargetMB, f.agent.rssMB(), float64(f.agent.anonKB)/1024, f.idle.rssMB(), containerdMB(f), yesNo(f.agent.rssMB() <= memTargetMB))
		return
	}
	p("| idle memory, server (+agent) | ~%d MB | ≤ %d MB | %.0f MB RSS, %.0f MB of it anonymous; server alone (agent not measured) | %s (server only) |\n",
		memUpstreamMB, memTargetMB, f.idle.rssMB(), float64(f.idle.anonKB)/1024, yesNo(f.idle.rssMB() <= memTargetMB))
}

func containerdMB(f *memFigures) string {
	if !f.containerdFound {
		return "not found"
	}
	return fmt.Sprintf("%.0f MB", f.containerd.rssMB())
}

func (r *report) memoryMarkdown(p func(string, ...any)) {
	f := r.memory
	if f == nil {
		return
	}
	p("## Memory\n\n")
	if f.skipped != "" {
		p("Skipped in this run: %s.\n\n", f.skipped)
		return
	}
	p("The skiff server runs as its own process (`%s server`, embedded etcd, API server, scheduler, controllers; no cluster DNS, no kubelet API), so the resident set is the server's alone; the bench (its client and the simulated nodes) is a separate process. Memory is read from `/proc/<pid>/status` (VmRSS; VmHWM is the peak so far; RssAnon is the process's own memory: Go heap, stacks, runtime; RssFile is file-backed pages: the executable's (those touched and those the kernel mapped around them) and etcd's memory-mapped database; clean, shared with the page cache and reclaimable, but counted in the RSS) after the server was left alone until its RSS stopped growing (at least %s), and from the server's own `/metrics` (Go runtime: heap in use, allocated heap, all memory obtained from the OS).\n\n",
		filepath.Base(f.bin), memSettleMin)
	p("- **Idle, agent disabled** (`--disable-agent`): a fresh server, nothing created; read %.0f s after it became ready. The node agent is not in this figure.\n", f.idleSettle.Seconds())
	if f.loadedOK() {
		p("- **Loaded**: the same server after %d simulated nodes (`internal/simnodes` in the bench process: Node objects that renew their Leases every 10 s and mark the pods bound to them Running and Ready, with no containers) and %d Pods (one container with requests, a port, an env var, three labels) created by %d workers, scheduled by skiff's scheduler and all Running; read %.0f s after the last pod was Running, while the nodes keep renewing. Nodes Ready %.1f s after the first registered; pods created at %.0f/s; all Running %.1f s after the first node registered.\n",
			f.nodes, f.pods, r.opts.workers, f.loadedSettle.Seconds(), f.nodeSetup.Seconds(), f.create.opsPerSec(), f.loadTime.Seconds())
	} else {
		p("- **Loaded**: not run (%s).\n", f.loadSkipped)
	}
	if f.agentOK() {
		p("- **Idle, with agent**: a second fresh server with its node agent (root; the agent runs its own containerd as a child process), read %.0f s after its node was Ready, no pods. The skiff process (server and agent) and containerd are read separately; upstream's reference figure has neither kubelet nor container runtime.\n", f.agentSettle.Seconds())
	} else {
		p("- **With agent**: not measured in this run (%s); the node agent needs root, containerd and a machine without another node on it.\n", f.agentSkipped)
	}
	p("\n| Figure | VmRSS MB | VmHWM MB | RssAnon MB | RssFile MB | Go heap in use MB | Go heap allocated MB | Go sys MB |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	row := func(label string, s memSample) {
		p("| %s | %.1f | %.1f | %.1f | %.1f | %s | %s | %s |\n", label, s.rssMB(), float64(s.hwmKB)/1024, float64(s.anonKB)/1024, float64(s.fileKB)/1024,
			mbOrNA(s.heapInuse), mbOrNA(s.alloc), mbOrNA(s.sys))
	}
	row("server idle, agent disabled", f.idle)
	if f.loadedOK() {
		row(fmt.Sprintf("server with %d nodes / %d pods, agent disabled", f.nodes, f.pods), f.loaded)
	}
	if f.agentOK() {
		row("server + agent idle (skiff process)", f.agent)
		if f.containerdFound {
			p("| containerd (child of the agent) | %.1f | %.1f | %.1f | %.1f | | | |\n", f.containerd.rssMB(), float64(f.containerd.hwmKB)/1024,
				float64(f.containerd.anonKB)/1024, float64(f.containerd.fileKB)/1024)
		}
	}
	if f.loadedOK() {
		p("\nRSS increase from idle to loaded: %.1f MB, %.2f KB per pod (nodes included)", f.loaded.rssMB()-f.idle.rssMB(), f.kbPerPod())
		if f.idle.heapInuse >= 0 && f.loaded.heapInuse >= 0 {
			p("; Go heap in use: %.1f MB, %.2f KB per pod", (f.loaded.heapInuse-f.idle.heapInuse)/(1<<20), (f.loaded.heapInuse-f.idle.heapInuse)/1024/float64(f.pods))
		}
		p(". The RSS includes heap the Go runtime has not yet returned to the OS; the heap in use is what the objects and caches need.\n")
	}
	p("\n")
}
