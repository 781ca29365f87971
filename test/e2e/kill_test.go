package e2e

import (
	"context"
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

	"skiff/internal/agent"
)

// skiffBin is the built binary (make e2e sets SKIFF_BIN).
func skiffBin(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("SKIFF_BIN"); b != "" {
		return b
	}
	b, err := filepath.Abs("../../bin/skiff")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b); err != nil {
		t.Skipf("e2e: skiff binary not built (run make build or set SKIFF_BIN): %v", err)
	}
	return b
}

// TestAgentSurvivesKill9 kills `skiff server` (and so its agent and
// containerd) with SIGKILL while a pod runs, starts it again, and checks
// the pod was adopted: same container, same IP, no restart, still Ready.
func TestAgentSurvivesKill9(t *testing.T) {
	requireHost(t)
	bin := skiffBin(t)
	dir, err := os.MkdirTemp("", "skiff-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig.yaml")
	args := []string{"server", "-d", filepath.Join(dir, "server"),
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--https-listen-port", strconv.Itoa(freePort(t)), "--etcd-client-port", strconv.Itoa(freePort(t)), "--etcd-peer-port", strconv.Itoa(freePort(t)),
		"-o", kubeconfig, "--agent-data-dir", filepath.Join(dir, "agent"), "--pod-logs-dir", filepath.Join(dir, "pods"),
		"--node-name", "e2e-node", "--cluster-cidr", "10.242.0.0/16"}
	logPath := filepath.Join(dir, "server.log")
	var server *exec.Cmd
	start := func() {
		t.Helper()
		logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer logFile.Close()
		server = exec.Command(bin, args...)
		server.Stdout, server.Stderr = logFile, logFile
		server.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := server.Start(); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(dir, "agent", "containerd", "containerd.sock")
	rt, err := agent.DialRuntime(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if server != nil && server.ProcessState == nil {
			removeSandboxes(t, rt)
			_ = server.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = server.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = server.Process.Kill()
				<-done
			}
		}
		rt.Close()
		cleanupHost(t, dir)
		if t.Failed() {
			t.Logf("state kept for inspection in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	start()
	waitFor(t, "kubeconfig", 90*time.Second, func() bool { _, err := os.Stat(kubeconfig); return err == nil })
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(rc)
	n := &node{dir: dir, name: "e2e-node", client: client, runtime: rt}
	n.waitReady(t)
	ctx := context.Background()
	pods := client.CoreV1().Pods("default")
	if _, err := pods.Create(ctx, busyboxPod("sleeper", corev1.RestartPolicyAlways, "sleep 3600"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ready := func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].Ready
	}
	var before *corev1.Pod
	waitFor(t, "sleeper Running", 2*time.Minute, func() bool {
		p, err := pods.Get(ctx, "sleeper", metav1.GetOptions{})
		before = p
		return err == nil && ready(p)
	})
	id := strings.TrimPrefix(before.Status.ContainerStatuses[0].ContainerID, "containerd://")
	st, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	info := st.Info["info"]
	i := strings.Index(info, `"pid":`)
	if i < 0 {
		t.Fatalf("no pid in verbose status: %.200s", info)
	}
	pid := strings.TrimSpace(strings.FieldsFunc(info[i+6:], func(r rune) bool { return r == ',' || r == '}' })[0])

	if err := server.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = server.Wait()
	killedAt := time.Now()
	if _, err := os.Stat("/proc/" + pid); err != nil {
		t.Fatalf("the container's process %s died with the agent: %v", pid, err)
	}

	start()
	waitFor(t, "the node's lease renewed by the new agent", 2*time.Minute, func() bool {
		l, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "e2e-node", metav1.GetOptions{})
		return err == nil && l.Spec.RenewTime != nil && l.Spec.RenewTime.After(killedAt)
	})
	waitFor(t, "the runtime back with the container still running", time.Minute, func() bool {
		st, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
		return err == nil && st.Status.State == runtimeapi.ContainerState_CONTAINER_RUNNING
	})
	// Give the new agent a few relists to (wrongly) act, then compare.
	time.Sleep(3 * time.Second)
	after, err := pods.Get(ctx, "sleeper", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !ready(after) || after.Status.ContainerStatuses[0].ContainerID != before.Status.ContainerStatuses[0].ContainerID ||
		after.Status.ContainerStatuses[0].RestartCount != 0 || after.Status.PodIP != before.Status.PodIP {
		t.Errorf("pod changed across kill -9:\nbefore %+v\nafter  %+v", before.Status, after.Status)
	}
	if err := pods.Delete(ctx, "sleeper", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "sleeper gone", time.Minute, func() bool {
		_, err := pods.Get(ctx, "sleeper", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}
