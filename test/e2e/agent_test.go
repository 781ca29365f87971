// Package e2e runs skiff with its node agent on the real containerd, runc
// and CNI plugins of this machine. The tests need root and skip (saying
// why) without it or without containerd; `make test` runs them as root.
package e2e

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// requireHost skips unless this machine can run real containers.
func requireHost(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("e2e: needs root (containerd, runc, CNI); run as root, e.g. `sudo make test`")
	}
	for _, bin := range []string{"containerd", "ctr", "runc", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("e2e: %s not installed (hack/install-deps.sh installs it)", bin)
		}
	}
	for _, f := range []string{"/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/portmap", "/usr/lib/cni/loopback", "/bin/busybox"} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("e2e: %s missing (hack/install-deps.sh installs it)", f)
		}
	}
	if _, err := net.InterfaceByName("skiff0"); err == nil {
		t.Skip("e2e: a skiff0 bridge already exists on this machine (a skiff node runs here?); not touching it")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// node is a skiff server with its in-process agent, all state under one
// temporary directory.
type node struct {
	dir     string
	name    string
	client  kubernetes.Interface
	runtime *agent.Runtime

	// With a separate agent: its config and how to stop it.
	agentCfg    agent.Config
	agentCancel context.CancelFunc
	agentDone   chan error
}

// startAgent runs the node agent in this process, outside the server (so
// that a test can stop and restart it).
func (n *node) startAgent(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n.agentCancel, n.agentDone = cancel, make(chan error, 1)
	go func() { n.agentDone <- agent.New(n.client, n.agentCfg).Run(ctx) }()
}

// stopAgent stops the agent and its containerd (not the containers).
func (n *node) stopAgent(t *testing.T) {
	t.Helper()
	if n.agentCancel == nil {
		return
	}
	n.agentCancel()
	n.agentCancel = nil
	select {
	case err := <-n.agentDone:
		if err != nil {
			t.Errorf("agent: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Error("agent did not stop within 60s")
	}
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startNode starts a server; with separateAgent the agent runs beside it
// (startAgent) instead of inside it.
func startNode(t *testing.T, separateAgent bool, opts ...func(*app.ServerConfig)) *node {
	t.Helper()
	// Short paths: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "skiff-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	n := &node{dir: dir, name: "e2e-node"}
	cfg := app.DefaultServerConfig()
	cfg.DataDir = filepath.Join(dir, "server")
	cfg.BindAddress, cfg.AdvertiseAddress = "127.0.0.1", "127.0.0.1"
	cfg.HTTPSPort, cfg.EtcdClientPort, cfg.EtcdPeerPort = freePort(t), freePort(t), freePort(t)
	cfg.WriteKubeconfig = filepath.Join(dir, "kubeconfig.yaml")
	cfg.ClusterCIDR = "10.242.0.0/16"
	cfg.Agent = agent.Config{NodeName: n.name, DataDir: filepath.Join(dir, "agent"), PodLogsDir: filepath.Join(dir, "pods"), NodeIP: "127.0.0.1"}
	if separateAgent {
		cfg.DisableAgent = true
	}
	for _, o := range opts {
		o(&cfg)
	}
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	var w io.Writer = logFile
	if testing.Verbose() {
		w = io.MultiWriter(logFile, os.Stderr)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
	n.agentCfg = cfg.Agent
	n.agentCfg.Logger = cfg.Logger.With("component", "agent")
	ready := make(chan struct{})
	cfg.Ready = func() { close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.RunServer(ctx, cfg) }()

	t.Cleanup(func() {
		n.cleanup(t, cancel, done)
		logFile.Close()
		if t.Failed() {
			t.Logf("state kept for inspection in %s (server.log, agent/containerd/containerd.log)", dir)
			return
		}
		os.RemoveAll(dir)
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("server stopped: %v", err)
	case <-time.After(90 * time.Second):
		t.Fatal("server not ready after 90s")
	}
	rc, err := clientcmd.BuildConfigFromFlags("", cfg.WriteKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	n.client = kubernetes.NewForConfigOrDie(rc)
	if separateAgent {
		n.startAgent(t)
	}
	sock := filepath.Join(cfg.Agent.DataDir, "containerd", "containerd.sock")
	waitFor(t, "containerd socket", 2*time.Minute, func() bool { _, err := os.Stat(sock); return err == nil })
	n.runtime, err = agent.DialRuntime(sock)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// cleanup leaves the machine as it was: sandboxes removed through the CRI,
// the server and its containerd stopped, stray shims killed, mounts under
// the temp dir unmounted, the bridge deleted.
func (n *node) cleanup(t *testing.T, cancel context.CancelFunc, done <-chan error) {
	if n.runtime != nil {
		removeSandboxes(t, n.runtime)
		n.runtime.Close()
	}
	n.stopAgent(t)
	cancel()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Error("server did not stop within 60s")
	}
	cleanupHost(t, n.dir)
}

// removeSandboxes stops and removes every sandbox (and so container) of
// the runtime, if it answers.
func removeSandboxes(t *testing.T, rt *agent.Runtime) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return
	}
	for _, sb := range resp.Items {
		_, _ = rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id})
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			t.Logf("cleanup: removing sandbox %s: %v", sb.Id, err)
		}
	}
}

// cleanupHost kills the shims of the containerd under dir, unmounts what
// is mounted below dir and deletes the pod bridge.
func cleanupHost(t *testing.T, dir string) {
	// Shims of our containerd (started with -address <our socket>).
	sock := filepath.Join(dir, "agent", "containerd", "containerd.sock")
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), "containerd-shim") || !strings.Contains(string(b), sock) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
			t.Logf("cleanup: killing leftover shim %d", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if err := mountinfo.UnmountUnder(dir); err != nil {
		t.Logf("cleanup: %v", err)
	}
	// The node's network and proxy tables in this (the host's) namespace.
	for _, table := range []string{network.TableName, proxy.TableName, netpol.TableName} {
		if exec.Command("nft", "list", "table", "ip", table).Run() == nil {
			if out, err := exec.Command("nft", "delete", "table", "ip", table).CombinedOutput(); err != nil {
				t.Logf("cleanup: deleting nftables table %s: %v: %s", table, err, out)
			}
		}
	}
	if _, err := net.InterfaceByName("skiff0"); err == nil {
		if out, err := exec.Command("ip", "link", "del", "skiff0").CombinedOutput(); err != nil {
			t.Logf("cleanup: deleting skiff0: %v: %s", err, out)
		}
	}
}

// waitReady waits for the node to be Ready with a pod CIDR and returns it.
func (n *node) waitReady(t *testing.T) *corev1.Node {
	t.Helper()
	ctx := context.Background()
	var nodeObj *corev1.Node
	waitFor(t, "node Ready with a pod CIDR", 2*time.Minute, func() bool {
		nd, err := n.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil || nd.Spec.PodCIDR == "" {
			return false
		}
		for _, c := range nd.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				nodeObj = nd
				return true
			}
		}
		return false
	})
	if !strings.HasPrefix(nodeObj.Status.NodeInfo.ContainerRuntimeVersion, "containerd://") {
		t.Errorf("containerRuntimeVersion = %q", nodeObj.Status.NodeInfo.ContainerRuntimeVersion)
	}
	waitFor(t, "the node's lease", time.Minute, func() bool {
		_, err := n.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, n.name, metav1.GetOptions{})
		return err == nil
	})
	return nodeObj
}

// TestAgentRunsAndDeletesPod is the first vertical slice of the node
// agent: node Ready, a busybox pod scheduled, running with an IP from the
// node's pod CIDR, its output logged, then deleted and gone from the API
// and from containerd.
func TestAgentRunsAndDeletesPod(t *testing.T) {
	requireHost(t)
	n := startNode(t, false)
	ctx := context.Background()

	nodeObj := n.waitReady(t)
	hasBusybox := false
	for _, img := range nodeObj.Status.Images {
		for _, name := range img.Names {
			hasBusybox = hasBusybox || name == images.BusyboxImage
		}
	}
	if !hasBusybox {
		t.Errorf("node images lack %s: %+v", images.BusyboxImage, nodeObj.Status.Images)
	}
	_, podNet, err := net.ParseCIDR(nodeObj.Spec.PodCIDR)
	if err != nil {
		t.Fatal(err)
	}

	// A second image made the way `skiff image build DIR` makes one, and
	// imported the way `skiff image import` does.
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := images.FilesFrom(root)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "built.tar")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	built := images.Image{Ref: "docker.io/skiff/e2e-built:1", Entrypoint: []string{"/bin/busybox", "sh", "-c"},
		Cmd: []string{"echo built $MSG; exec /bin/busybox sleep 3600"}, Env: []string{"MSG=from-image"}, Files: files}
	if err := images.WriteArchive(f, built); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ictx, icancel := context.WithTimeout(ctx, 2*time.Minute)
	err = containerd.ImportImage(ictx, filepath.Join(n.dir, "agent", "containerd", "containerd.sock"), archive)
	icancel()
	if err != nil {
		t.Fatal(err)
	}

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: "default"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](2),
			Containers: []corev1.Container{{
				Name: "shell", Image: images.BusyboxImage,
				Command: []string{"sh", "-c", "echo hello $GREETING; sleep 3600"},
				Env:     []corev1.EnvVar{{Name: "GREETING", Value: "world"}},
			}, {
				Name: "built", Image: built.Ref, ImagePullPolicy: corev1.PullNever,
			}},
		},
	}
	pod, err = n.client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var running *corev1.Pod
	waitFor(t, "pod Running with an IP", 2*time.Minute, func() bool {
		p, err := n.client.CoreV1().Pods("default").Get(ctx, "hello", metav1.GetOptions{})
		if err != nil || p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
			return false
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status != corev1.ConditionTrue {
				return false
			}
		}
		running = p
		return true
	})
	if running.Spec.NodeName != n.name {
		t.Errorf("nodeName = %q", running.Spec.NodeName)
	}
	if ip := net.ParseIP(running.Status.PodIP); !podNet.Contains(ip) {
		t.Errorf("pod IP %s not in the node's pod CIDR %s", running.Status.PodIP, podNet)
	}
	if len(running.Status.ContainerStatuses) != 2 {
		t.Fatalf("containerStatuses: %+v", running.Status.ContainerStatuses)
	}
	cs := running.Status.ContainerStatuses[0]
	if !cs.Ready || cs.State.Running == nil || !strings.HasPrefix(cs.ContainerID, "containerd://") || cs.ImageID == "" || cs.RestartCount != 0 {
		t.Errorf("container status: %+v", cs)
	}
	if running.Status.HostIP != "127.0.0.1" || running.Status.StartTime == nil {
		t.Errorf("hostIP %q startTime %v", running.Status.HostIP, running.Status.StartTime)
	}

	// The container really runs: the runtime says so and its process exists.
	id := strings.TrimPrefix(cs.ContainerID, "containerd://")
	st, err := n.runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("runtime state %v", st.Status.State)
	}
	if info := st.Info["info"]; !strings.Contains(info, `"pid":`) {
		t.Errorf("no pid in verbose status: %.200s", info)
	} else {
		rest := info[strings.Index(info, `"pid":`)+6:]
		pidStr := strings.TrimSpace(strings.FieldsFunc(rest, func(r rune) bool { return r == ',' || r == '}' })[0])
		if cmdline, err := os.ReadFile("/proc/" + pidStr + "/cmdline"); err != nil || !strings.Contains(string(cmdline), "sleep") {
			t.Errorf("container process %s: %q %v", pidStr, cmdline, err)
		}
	}
	logPath := filepath.Join(n.dir, "pods", "default_hello_"+string(pod.UID), "shell", "0.log")
	waitFor(t, "the container's output in "+logPath, 30*time.Second, func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), "hello world")
	})
	builtLog := filepath.Join(n.dir, "pods", "default_hello_"+string(pod.UID), "built", "0.log")
	waitFor(t, "the built image's output in "+builtLog, 30*time.Second, func() bool {
		b, _ := os.ReadFile(builtLog)
		return strings.Contains(string(b), "built from-image")
	})

	if err := n.client.CoreV1().Pods("default").Delete(ctx, "hello", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pod gone from the API", time.Minute, func() bool {
		_, err := n.client.CoreV1().Pods("default").Get(ctx, "hello", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	uidSel := map[string]string{"io.kubernetes.pod.uid": string(pod.UID)}
	sbs, err := n.runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{LabelSelector: uidSel}})
	if err != nil || len(sbs.Items) != 0 {
		t.Errorf("sandboxes left after delete: %v %v", sbs, err)
	}
	ctrs, err := n.runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{LabelSelector: uidSel}})
	if err != nil || len(ctrs.Containers) != 0 {
		t.Errorf("containers left after delete: %v %v", ctrs, err)
	}
}
