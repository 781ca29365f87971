package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"skiff/internal/agent/images"
)

// kubectl runs `skiff kubectl` against n with a time limit and returns
// its combined output.
func kubectl(t *testing.T, n *node, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := kubectlCmd(ctx, t, n, args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func kubectlCmd(ctx context.Context, t *testing.T, n *node, args ...string) *exec.Cmd {
	t.Helper()
	all := append([]string{"kubectl", "--kubeconfig", filepath.Join(n.dir, "kubeconfig.yaml")}, args...)
	cmd := exec.CommandContext(ctx, skiffBin(t), all...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// mustKubectl is kubectl that fails the test on an error.
func mustKubectl(t *testing.T, n *node, args ...string) string {
	t.Helper()
	out, err := kubectl(t, n, time.Minute, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for a process to write while the test
// reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// background starts kubectl and stops it (if still running) at cleanup.
func background(t *testing.T, n *node, args ...string) (*exec.Cmd, *syncBuffer, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	cmd := kubectlCmd(ctx, t, n, args...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	exited := make(chan struct{})
	go func() { done <- cmd.Wait(); cancel(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
	})
	return cmd, out, done
}

// openPTY opens a pseudo-terminal pair.
func openPTY(t *testing.T) (ptmx, tty *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	unlock := int32(0)
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	var num uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&num))); e != 0 {
		t.Fatal(e)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", num), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ptmx, tty
}

// TestKubectlStreaming is Done-when 2 of the node agent: a two-container
// pod driven with the real kubectl through the API server and the
// kubelet server: exec (plain and with a terminal), logs (-f, --tail,
// --previous), port-forward and attach, plus the API's errors.
func TestKubectlStreaming(t *testing.T) {
	requireHost(t)
	skiffBin(t)
	n := startNode(t, false)
	n.waitReady(t)
	importEchoImage(t, n)
	ctx := context.Background()
	pods := n.client.CoreV1().Pods("default")

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "twocontainers", Namespace: "default",
			Annotations: map[string]string{"kubectl.kubernetes.io/default-container": "echo"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{
				{Name: "echo", Image: echoImage, Env: []corev1.EnvVar{{Name: "POD_NAME", Value: "twocontainers"}}},
				{Name: "shell", Image: images.BusyboxImage, Command: []string{"sh", "-c", "sleep 3600"}},
			},
		},
	}
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = pods.Delete(context.Background(), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	})

	waitFor(t, "kubectl get pods: 2/2 Running", 2*time.Minute, func() bool {
		out, _ := kubectl(t, n, 30*time.Second, "get", "pods", "twocontainers", "--no-headers")
		f := strings.Fields(out)
		return len(f) >= 3 && f[1] == "2/2" && f[2] == "Running"
	})

	t.Run("exec", func(t *testing.T) {
		out := mustKubectl(t, n, "exec", "-v=6", "twocontainers", "-c", "shell", "--", "wget", "-qO-", "localhost:9876/info")
		if !strings.Contains(out, `"pod":"twocontainers"`) {
			t.Errorf("exec wget /info answered %q", out)
		}
		// kubectl speaks WebSocket first; the API server translates it.
		if strings.Contains(out, "RemoteCommand fallback") {
			t.Errorf("exec fell back to SPDY:\n%s", streamPath(out))
		}
		// The exit code comes back.
		if out, err := kubectl(t, n, time.Minute, "exec", "twocontainers", "-c", "shell", "--", "sh", "-c", "echo to-stderr >&2; exit 3"); err == nil {
			t.Errorf("exec exit 3 succeeded: %s", out)
		} else if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || !strings.Contains(out, "to-stderr") {
			t.Errorf("exec exit 3: %v, %q", err, out)
		}
		// stdin is passed.
		cmd := kubectlCmd(ctx, t, n, "exec", "-i", "twocontainers", "-c", "shell", "--", "tr", "a-z", "A-Z")
		cmd.Stdin = strings.NewReader("hello stdin\n")
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "HELLO STDIN") {
			t.Errorf("exec -i tr: %v, %q", err, out)
		}
	})

	t.Run("exec-tty", func(t *testing.T) {
		ptmx, tty := openPTY(t)
		defer ptmx.Close()
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		cmd := kubectlCmd(cctx, t, n, "exec", "-it", "twocontainers", "-c", "shell", "--", "sh")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		tty.Close()
		out := &syncBuffer{}
		go func() { _, _ = io.Copy(out, ptmx) }()
		// The shell's prompt, then a command whose output differs from its echo.
		_, _ = ptmx.Write([]byte("echo tty-$((40+2)); [ -t 0 ] && echo is-a-tty\n"))
		waitFor(t, "the interactive shell's answer", 30*time.Second, func() bool {
			s := out.String()
			return strings.Contains(s, "tty-42") && strings.Contains(s, "\nis-a-tty")
		})
		_, _ = ptmx.Write([]byte("exit 0\n"))
		if err := cmd.Wait(); err != nil {
			t.Errorf("kubectl exec -it: %v\n%s", err, out.String())
		}
	})

	t.Run("logs", func(t *testing.T) {
		mustKubectl(t, n, "exec", "twocontainers", "-c", "shell", "--", "wget", "-qO-", "localhost:9876/info?marker=one")
		// The default-container annotation picks echo.
		out := mustKubectl(t, n, "logs", "twocontainers")
		if !strings.Contains(out, "echo listening on :9876") || !strings.Contains(out, "marker=one") {
			t.Errorf("kubectl logs: %q", out)
		}
		out = mustKubectl(t, n, "logs", "twocontainers", "-c", "echo", "--tail=1")
		if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !strings.Contains(out, "marker=one") {
			t.Errorf("kubectl logs --tail=1: %q", out)
		}
		out = mustKubectl(t, n, "logs", "twocontainers", "-c", "echo", "--timestamps", "--limit-bytes=10")
		if len(out) != 10 || !strings.HasPrefix(out, "20") {
			t.Errorf("kubectl logs --timestamps --limit-bytes=10: %q", out)
		}
		// The server's errors.
		if out, err := kubectl(t, n, time.Minute, "logs", "twocontainers", "-c", "nope"); err == nil || !strings.Contains(out, "container nope is not valid for pod twocontainers") {
			t.Errorf("logs -c nope: %v %q", err, out)
		}
		raw, err := pods.GetLogs("twocontainers", &corev1.PodLogOptions{}).DoRaw(ctx)
		if err == nil || !strings.Contains(string(raw), "a container name must be specified for pod twocontainers, choose one of: [echo shell]") {
			t.Errorf("logs without a container: %v %q", err, raw)
		}
		if out, err := kubectl(t, n, time.Minute, "logs", "nosuchpod"); err == nil || !strings.Contains(out, `pods "nosuchpod" not found`) {
			t.Errorf("logs nosuchpod: %v %q", err, out)
		}
		if out, err := kubectl(t, n, time.Minute, "logs", "twocontainers", "-c", "echo", "--previous"); err == nil || !strings.Contains(out, `previous terminated container "echo" in pod "twocontainers" not found`) {
			t.Errorf("logs --previous before a restart: %v %q", err, out)
		}

		// A container that cannot start has no logs yet.
		absent := busyboxPod("absent", corev1.RestartPolicyAlways, "true")
		absent.Spec.Containers[0].Image, absent.Spec.Containers[0].ImagePullPolicy = "docker.io/skiff/absent:1", corev1.PullNever
		if _, err := pods.Create(ctx, absent, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "logs of a container that cannot start", time.Minute, func() bool {
			out, err := kubectl(t, n, 30*time.Second, "logs", "absent")
			return err != nil && strings.Contains(out, `container "c" in pod "absent" is waiting to start: ErrImageNeverPull`)
		})
		if err := pods.Delete(ctx, "absent", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Error(err)
		}

		// -f shows new lines as they come and ends when the container does.
		_, follow, done := background(t, n, "logs", "-f", "twocontainers", "-c", "echo")
		mustKubectl(t, n, "exec", "twocontainers", "-c", "shell", "--", "wget", "-qO-", "localhost:9876/info?marker=two")
		waitFor(t, "logs -f to show a new request", 30*time.Second, func() bool { return strings.Contains(follow.String(), "marker=two") })
		mustKubectl(t, n, "exec", "twocontainers", "-c", "shell", "--", "wget", "-qO-", "localhost:9876/exit?code=3")
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("logs -f ended with %v: %s", err, follow.String())
			}
		case <-time.After(30 * time.Second):
			t.Errorf("logs -f still running 30s after the container exited")
		}
		if !strings.Contains(follow.String(), "/exit?code=3") {
			t.Errorf("logs -f missed the last request: %q", follow.String())
		}
		waitFor(t, "echo restarted", time.Minute, func() bool {
			p, err := pods.Get(ctx, "twocontainers", metav1.GetOptions{})
			if err != nil {
				return false
			}
			for _, cs := range p.Status.ContainerStatuses {
				if cs.Name == "echo" && cs.RestartCount >= 1 && cs.State.Running != nil {
					return true
				}
			}
			return false
		})
		out = mustKubectl(t, n, "logs", "twocontainers", "-c", "echo", "--previous")
		if !strings.Contains(out, "/exit?code=3") || !strings.Contains(out, "marker=two") {
			t.Errorf("logs --previous: %q", out)
		}
		out = mustKubectl(t, n, "logs", "twocontainers", "-c", "echo")
		if strings.Contains(out, "marker=two") || !strings.Contains(out, "echo listening") {
			t.Errorf("logs after the restart: %q", out)
		}
	})

	t.Run("port-forward", func(t *testing.T) {
		port := freePort(t)
		_, out, done := background(t, n, "port-forward", "-v=6", "pod/twocontainers", fmt.Sprintf("%d:9876", port))
		waitFor(t, "port-forward to listen", 30*time.Second, func() bool {
			select {
			case err := <-done:
				t.Fatalf("port-forward ended: %v\n%s", err, out.String())
			default:
			}
			return strings.Contains(out.String(), fmt.Sprintf("Forwarding from 127.0.0.1:%d", port))
		})
		for i := range 3 {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/info", port))
			if err != nil {
				t.Fatalf("GET %d through port-forward: %v\n%s", i, err, out.String())
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), `"pod":"twocontainers"`) {
				t.Errorf("GET through port-forward: %d %q", resp.StatusCode, body)
			}
		}
		// kubectl tunnels SPDY over WebSocket; the API server relays it.
		if strings.Contains(out.String(), "fallback to secondary dialer") {
			t.Errorf("port-forward fell back to SPDY:\n%s", streamPath(out.String()))
		}
	})

	t.Run("attach", func(t *testing.T) {
		_, out, done := background(t, n, "attach", "twocontainers", "-c", "echo", "-v=6")
		// attach shows what the container writes from now on.
		waitFor(t, "attach output", 30*time.Second, func() bool {
			select {
			case err := <-done:
				t.Fatalf("attach ended: %v\n%s", err, out.String())
			default:
			}
			_, _ = kubectl(t, n, 30*time.Second, "exec", "twocontainers", "-c", "shell", "--", "wget", "-qO-", "localhost:9876/info?marker=attached")
			return strings.Contains(out.String(), "marker=attached")
		})
		if strings.Contains(out.String(), "RemoteCommand fallback") {
			t.Errorf("attach fell back to SPDY:\n%s", streamPath(out.String()))
		}
	})

	t.Run("attach-tty", func(t *testing.T) {
		// A container with a terminal on stdin, as `kubectl run -it` makes.
		shell := busyboxPod("interactive", corev1.RestartPolicyAlways, "")
		shell.Spec.Containers[0].Command = []string{"sh"}
		shell.Spec.Containers[0].Stdin, shell.Spec.Containers[0].TTY = true, true
		if _, err := pods.Create(ctx, shell, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = pods.Delete(context.Background(), "interactive", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
		}()
		waitFor(t, "the interactive pod to run", time.Minute, func() bool {
			p, err := pods.Get(ctx, "interactive", metav1.GetOptions{})
			return err == nil && p.Status.Phase == corev1.PodRunning
		})
		ptmx, tty := openPTY(t)
		defer ptmx.Close()
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		cmd := kubectlCmd(cctx, t, n, "attach", "-it", "interactive")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		tty.Close()
		out := &syncBuffer{}
		go func() { _, _ = io.Copy(out, ptmx) }()
		waitFor(t, "the attached shell's answer", 30*time.Second, func() bool {
			_, _ = ptmx.Write([]byte("echo attach-$((40+2))\n"))
			time.Sleep(300 * time.Millisecond)
			return strings.Contains(out.String(), "attach-42")
		})
		// Leaving the shell ends the container's process and the attach.
		_, _ = ptmx.Write([]byte("exit\n"))
		if err := cmd.Wait(); err != nil && cctx.Err() != nil {
			t.Errorf("kubectl attach -it did not end: %v\n%s", err, out.String())
		}
	})

	t.Run("node-proxy", func(t *testing.T) {
		out := mustKubectl(t, n, "get", "--raw", "/api/v1/nodes/"+n.name+"/proxy/healthz")
		if strings.TrimSpace(out) != "ok" {
			t.Errorf("nodes/proxy/healthz: %q", out)
		}
		// The API server's kubelet client may read logs through nodes/proxy.
		out = mustKubectl(t, n, "get", "--raw", "/api/v1/nodes/"+n.name+"/proxy/containerLogs/default/twocontainers/shell")
		if out != "" {
			t.Errorf("shell container logs through nodes/proxy: %q", out)
		}
	})
}

// streamPath picks the lines of kubectl -v=6 output that say which
// protocol the stream used.
func streamPath(out string) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		l := sc.Text()
		if strings.Contains(l, "websocket") || strings.Contains(l, "WebSocket") || strings.Contains(l, "SPDY") || strings.Contains(l, "spdy") || strings.Contains(l, "fallback") || strings.Contains(l, "101") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}
