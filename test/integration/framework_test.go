// Package integration tests skiff's API server on a real embedded etcd,
// driven by client-go and by upstream kubectl builds.
package integration

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"skiff/internal/app"
)

// freePort asks the kernel for an unused loopback port.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testServer is a skiff server started by a test.
type testServer struct {
	DataDir    string
	Kubeconfig string
	Port       int
	EtcdPort   int
	Config     *rest.Config
	Client     kubernetes.Interface
	stop       func()
}

func serverConfig(t testing.TB, dataDir string) app.ServerConfig {
	cfg := app.DefaultServerConfig()
	cfg.DataDir = dataDir
	cfg.BindAddress = "127.0.0.1"
	cfg.AdvertiseAddress = "127.0.0.1"
	cfg.HTTPSPort = freePort(t)
	cfg.EtcdClientPort = freePort(t)
	cfg.EtcdPeerPort = freePort(t)
	cfg.WriteKubeconfig = filepath.Join(dataDir, "kubeconfig.yaml")
	return cfg
}

// startServer runs a server in this process until the test ends.
func startServer(t testing.TB, opts ...func(*app.ServerConfig)) *testServer {
	t.Helper()
	dir := t.TempDir()
	cfg := serverConfig(t, dir)
	for _, o := range opts {
		o(&cfg)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ready := make(chan struct{})
	cfg.Ready = func() { close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.RunServer(ctx, cfg) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("server stopped: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("server not ready after 60s")
	}
	ts := &testServer{DataDir: dir, Kubeconfig: cfg.WriteKubeconfig, Port: cfg.HTTPSPort, EtcdPort: cfg.EtcdClientPort}
	ts.stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("server did not stop within 30s")
		}
	}
	t.Cleanup(ts.stop)
	ts.loadClient(t)
	return ts
}

func (ts *testServer) loadClient(t testing.TB) {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", ts.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	rc.QPS, rc.Burst = 1000, 2000
	ts.Config = rc
	ts.Client = kubernetes.NewForConfigOrDie(rc)
}

// skiffBin is the built binary (make integration sets SKIFF_BIN).
func skiffBin(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("SKIFF_BIN"); b != "" {
		return b
	}
	b, err := filepath.Abs("../../bin/skiff")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b); err != nil {
		t.Fatalf("skiff binary not built (run make build or set SKIFF_BIN): %v", err)
	}
	return b
}

// serverProcess is a `skiff server` child process.
type serverProcess struct {
	cmd *exec.Cmd
	cfg app.ServerConfig
	log *os.File
}

// startServerProcess runs `skiff server` with cfg's dirs and ports.
func startServerProcess(t testing.TB, cfg app.ServerConfig) *serverProcess {
	t.Helper()
	return startServerProcessArgs(t, cfg)
}

// startServerProcessArgs is startServerProcess with extra flags.
func startServerProcessArgs(t testing.TB, cfg app.ServerConfig, extra ...string) *serverProcess {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(cfg.DataDir, "server.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(skiffBin(t), "server",
		"--data-dir", cfg.DataDir, "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--https-listen-port", fmt.Sprint(cfg.HTTPSPort),
		"--etcd-client-port", fmt.Sprint(cfg.EtcdClientPort), "--etcd-peer-port", fmt.Sprint(cfg.EtcdPeerPort),
		"--write-kubeconfig", cfg.WriteKubeconfig, "--disable-agent")
	cmd.Args = append(cmd.Args, extra...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: cmd, cfg: cfg, log: logf}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			waitDone := make(chan struct{})
			go func() { _ = p.cmd.Wait(); close(waitDone) }()
			select {
			case <-waitDone:
			case <-time.After(20 * time.Second):
				_ = p.cmd.Process.Kill()
				<-waitDone
			}
		}
		logf.Close()
	})
	return p
}

// waitReady polls /readyz until the server answers ok.
func waitReady(t testing.TB, kubeconfig string) *rest.Config {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err == nil {
			c, err := kubernetes.NewForConfig(rc)
			if err == nil {
				body, err := c.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(context.Background())
				if err == nil && strings.TrimSpace(string(body)) == "ok" {
					rc.QPS, rc.Burst = 1000, 2000
					return rc
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("server not ready within 60s")
	return nil
}
