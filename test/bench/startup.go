package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"skiff/internal/agent"
	"skiff/internal/agent/containerd"
	"skiff/internal/agent/images"
	"skiff/internal/app"
	"skiff/internal/mountinfo"
	"skiff/internal/netpol"
	"skiff/internal/network"
	"skiff/internal/proxy"
)

// startupWorkers is how many pods are started at once in both phases: the
// node agent's pod workers, and as many bare CRI clients.
const startupWorkers = 4

const echoImage = "docker.io/skiff/echo:1"

// startupFigures compares pod start-up through skiff (create → Running)
// with the bare CRI calls on the same containerd.
type startupFigures struct {
	pods            int
	skipped         string
	agent, bare     []time.Duration // per pod from the burst's start, sorted
	agentSpan, span time.Duration
}

// podStartupBench runs a server with its node agent on a real containerd
// (needs root), starts o.startupPods pods of the echo image the bare way
// (RunPodSandbox, CreateContainer, StartContainer with startupWorkers
// clients), removes them, then creates as many Pods through the API and
// times each one from the burst's start to Running as a watch sees it.
func podStartupBench(ctx context.Context, out io.Writer, o options) (*startupFigures, error) {
	f := &startupFigures{pods: o.startupPods}
	if os.Geteuid() != 0 {
		f.skipped = "needs root (containerd)"
		return f, nil
	}
	for _, bin := range []string{"containerd", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			f.skipped = bin + " not installed"
			return f, nil
		}
	}
	if _, err := net.InterfaceByName("skiff0"); err == nil {
		f.skipped = "a skiff0 bridge exists (a node runs on this machine)"
		return f, nil
	}
	dir, err := os.MkdirTemp("", "skiff-bench-startup-")
	if err != nil {
		return nil, err
	}
	agentDir := filepath.Join(dir, "agent")
	srv, err := startServer(ctx, filepath.Join(dir, "server"), o.verbose, func(c *app.ServerConfig) {
		c.DisableAgent = false
		c.Agent = agent.Config{NodeName: "bench-node", DataDir: agentDir, PodLogsDir: filepath.Join(dir, "pods"), NodeIP: "127.0.0.1"}
	})
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(agentDir, "containerd", "containerd.sock")
	defer func() {
		if rt, err := agent.DialRuntime(sock); err == nil {
			removeAllSandboxes(rt)
			_ = rt.Close()
		}
		_ = srv.stop()
		_ = mountinfo.UnmountUnder(dir)
		_ = exec.Command("ip", "link", "del", "skiff0").Run()
		// The node's tables in this (the host's) namespace.
		for _, table := range []string{network.TableName, proxy.TableName, netpol.TableName} {
			_ = exec.Command("nft", "delete", "table", "ip", table).Run()
		}
		_ = os.RemoveAll(dir)
	}()
	rc, err := clientcmd.BuildConfigFromFlags("", srv.cfg.WriteKubeconfig)
	if err != nil {
		return nil, err
	}
	rc.QPS, rc.Burst = 1000, 1000 // the burst is not to be throttled client-side
	kc, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	if err := waitUntil(ctx, 2*time.Minute, func() bool {
		n, err := kc.CoreV1().Nodes().Get(ctx, "bench-node", metav1.GetOptions{})
		if err != nil || n.Spec.PodCIDR == "" {
			return false
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	}); err != nil {
		return nil, fmt.Errorf("node not Ready: %w", err)
	}
	if err := importEcho(ctx, dir, sock); err != nil {
		return nil, err
	}
	rt, err := agent.DialRuntime(sock)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rt.Close() }()

	// One pod through skiff first: it makes the agent write the CNI
	// config, which containerd needs for any sandbox (not measured).
	pods := kc.CoreV1().Pods("default")
	warm := startupPod("startup-warmup")
	warm.Labels = nil
	if _, err := pods.Create(ctx, warm, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	if err := waitUntil(ctx, 2*time.Minute, func() bool {
		p, err := pods.Get(ctx, warm.Name, metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning
	}); err != nil {
		return nil, fmt.Errorf("warm-up pod not Running: %w", err)
	}
	if err := pods.Delete(ctx, warm.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		return nil, err
	}

	// The same pods, the bare way.
	st, err := rt.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: echoImage}})
	if err != nil || st.Image == nil {
		return nil, fmt.Errorf("echo image not in containerd: %v", err)
	}
	imageID := st.Image.Id
	began := time.Now()
	f.bare, err = runBurst(o.startupPods, func(i int) error {
		ns := &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD}
		sbCfg := &runtimeapi.PodSandboxConfig{
			Metadata:     &runtimeapi.PodSandboxMetadata{Name: fmt.Sprintf("bare-%d", i), Namespace: "bench-bare", Uid: fmt.Sprintf("bare-uid-%d", i)},
			Hostname:     fmt.Sprintf("bare-%d", i),
			LogDirectory: filepath.Join(dir, "bare", fmt.Sprint(i)),
			Linux:        &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: ns}},
		}
		if err := os.MkdirAll(sbCfg.LogDirectory, 0o755); err != nil {
			return err
		}
		sb, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sbCfg})
		if err != nil {
			return fmt.Errorf("RunPodSandbox: %w", err)
		}
		c, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sb.PodSandboxId, SandboxConfig: sbCfg, Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "echo"}, Image: &runtimeapi.ImageSpec{Image: imageID, UserSpecifiedImage: echoImage},
			LogPath: "echo.log", Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: ns}},
		}})
		if err != nil {
			return fmt.Errorf("CreateContainer: %w", err)
		}
		_, err = rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId})
		return err
	}, began)
	if err != nil {
		return nil, fmt.Errorf("bare CRI: %w", err)
	}
	f.span = f.bare[len(f.bare)-1]
	removeAllSandboxes(rt)

	// The same through skiff: Pods created in a burst, Running seen by a watch.
	w, err := pods.Watch(ctx, metav1.ListOptions{LabelSelector: "bench=startup"})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	running := map[string]time.Duration{}
	began = time.Now()
	if _, err := runBurst(o.startupPods, func(i int) error {
		_, err := pods.Create(ctx, startupPod(fmt.Sprintf("startup-%03d", i)), metav1.CreateOptions{})
		return err
	}, began); err != nil {
		return nil, fmt.Errorf("creating pods: %w", err)
	}
	deadline := time.After(5 * time.Minute)
	for len(running) < o.startupPods {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil, errors.New("pod watch closed")
			}
			if p, isPod := ev.Object.(*corev1.Pod); isPod && ev.Type != watch.Deleted && p.Status.Phase == corev1.PodRunning {
				if _, seen := running[p.Name]; !seen {
					running[p.Name] = time.Since(began)
				}
			}
		case <-deadline:
			return nil, fmt.Errorf("only %d of %d pods Running after 5 minutes", len(running), o.startupPods)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	for _, d := range running {
		f.agent = append(f.agent, d)
	}
	slices.Sort(f.agent)
	f.agentSpan = f.agent[len(f.agent)-1]
	fmt.Fprintf(out, "BENCH pod-startup pods=%d workers=%d bare_p50_ms=%.0f bare_p99_ms=%.0f skiff_p50_ms=%.0f skiff_p99_ms=%.0f ratio_p50=%.2f ratio_p99=%.2f\n",
		f.pods, startupWorkers, ms(percentile(f.bare, 50)), ms(percentile(f.bare, 99)), ms(percentile(f.agent, 50)), ms(percentile(f.agent, 99)),
		f.ratio(50), f.ratio(99))
	_ = pods.DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{LabelSelector: "bench=startup"})
	return f, nil
}

// startupPod is one echo server pod (without a service account token, so
// that only the start-up is measured).
func startupPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"bench": "startup"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](0), AutomountServiceAccountToken: ptr.To(false),
			Containers: []corev1.Container{{Name: "echo", Image: echoImage, ImagePullPolicy: corev1.PullIfNotPresent}},
		},
	}
}

func (f *startupFigures) ratio(p float64) float64 {
	b := percentile(f.bare, p)
	if b <= 0 {
		return 0
	}
	return float64(percentile(f.agent, p)) / float64(b)
}

// runBurst runs n calls on startupWorkers goroutines and returns each
// call's completion time after began, sorted.
func runBurst(n int, call func(i int) error, began time.Time) ([]time.Duration, error) {
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var mu sync.Mutex
	var done []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	for range startupWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				err := call(i)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				done = append(done, time.Since(began))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(done)
	return done, firstErr
}

// importEcho builds test/images/echo statically and imports it as
// echoImage, as `skiff image build --import` would.
func importEcho(ctx context.Context, dir, sock string) error {
	bin := filepath.Join(dir, "echo")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./test/images/echo")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building the echo server (run from the repository root): %v\n%s", err, out)
	}
	files, err := images.FilesFrom(bin)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := images.WriteArchive(&buf, images.Image{Ref: echoImage, Entrypoint: []string{"/echo"}, Ports: []string{"9876/tcp"}, Files: files}); err != nil {
		return err
	}
	archive := filepath.Join(dir, "echo.tar")
	if err := os.WriteFile(archive, buf.Bytes(), 0o600); err != nil {
		return err
	}
	return containerd.ImportImage(ctx, sock, archive)
}

func removeAllSandboxes(rt *agent.Runtime) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return
	}
	for _, sb := range resp.Items {
		_, _ = rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id})
		_, _ = rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id})
	}
}

func waitUntil(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

func (r *report) startupMarkdown(p func(string, ...any)) {
	f := r.startup
	if f == nil {
		return
	}
	p("## Pod start-up on one node\n\n")
	if f.skipped != "" {
		p("Skipped in this run: %s.\n\n", f.skipped)
		return
	}
	p("A server with its node agent on its own containerd; %d pods of the echo image (`test/images/echo`, already imported). First the bare CRI calls a kubelet makes (RunPodSandbox with the CNI bridge, CreateContainer, StartContainer) from %d concurrent clients on the same containerd, the physical limit; then the same number of Pods created through the API in one burst, each timed from the burst's start to the watch seeing it Running (scheduling, the agent's %d pod workers, CNI, status write). Times are from the start of each burst, so they include queueing.\n\n",
		f.pods, startupWorkers, startupWorkers)
	p("| | p50 | p99 | all started |\n|---|---:|---:|---:|\n")
	p("| bare CRI | %.0f ms | %.0f ms | %.1f s |\n", ms(percentile(f.bare, 50)), ms(percentile(f.bare, 99)), f.span.Seconds())
	p("| skiff create → Running | %.0f ms | %.0f ms | %.1f s |\n", ms(percentile(f.agent, 50)), ms(percentile(f.agent, 99)), f.agentSpan.Seconds())
	p("| skiff ÷ bare | %.2f | %.2f | %.2f |\n\n", f.ratio(50), f.ratio(99), f.agentSpan.Seconds()/f.span.Seconds())
}
