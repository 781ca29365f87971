package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestRestartResumesAndSideBySide runs two servers with their own data dirs
// and ports at once, stops one with SIGTERM, and checks that a second start
// on the same data dir has everything that was stored.
func TestRestartResumesAndSideBySide(t *testing.T) {
	ctx := context.Background()
	a := serverConfig(t, t.TempDir())
	b := serverConfig(t, t.TempDir())
	pa := startServerProcess(t, a)
	startServerProcess(t, b)
	ca := kubernetes.NewForConfigOrDie(waitReady(t, a.WriteKubeconfig))
	cb := kubernetes.NewForConfigOrDie(waitReady(t, b.WriteKubeconfig))
	if _, err := ca.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "only-in-a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cb.CoreV1().ConfigMaps("default").Get(ctx, "only-in-a", metav1.GetOptions{}); err == nil {
		t.Fatal("servers with different data dirs share state")
	}
	info, err := os.Stat(a.WriteKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig mode %v, want 0600", info.Mode().Perm())
	}

	// SIGTERM stops the server cleanly and promptly.
	if err := pa.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- pa.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("server exited with %v after SIGTERM", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server did not stop within 20s of SIGTERM")
	}

	startServerProcess(t, a)
	ca = kubernetes.NewForConfigOrDie(waitReady(t, a.WriteKubeconfig))
	cm, err := ca.CoreV1().ConfigMaps("default").Get(ctx, "only-in-a", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("object lost across restart: %v", err)
	}
	if cm.UID == "" {
		t.Fatal("restored object has no uid")
	}
	nss, err := ca.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil || len(nss.Items) != 4 {
		t.Fatalf("namespaces after restart: %v %v", len(nss.Items), err)
	}
}

// TestExternalDatastore runs the server on the distribution's etcd
// (--datastore-endpoint) and checks objects land there under upstream's keys.
func TestExternalDatastore(t *testing.T) {
	dir := t.TempDir()
	endpoint := startExternalEtcd(t, dir)

	cfg := serverConfig(t, filepath.Join(dir, "server"))
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := startServerProcessArgs(t, cfg, "--datastore-endpoint", endpoint)
	_ = p
	client := kubernetes.NewForConfigOrDie(waitReady(t, cfg.WriteKubeconfig))
	ctx := context.Background()
	if _, err := client.CoreV1().ConfigMaps("kube-system").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ext"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ec, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	resp, err := ec.Get(ctx, "/registry/configmaps/kube-system/ext")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("object not in the external etcd: %v %v", resp, err)
	}
	if v := resp.Kvs[0].Value; len(v) < 4 || string(v[:4]) != "k8s\x00" {
		t.Fatalf("stored value is not protobuf with the k8s envelope: %q", v[:min(len(v), 16)])
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "db")); err == nil {
		t.Error("an embedded etcd data dir was created although an external datastore was given")
	}
}

// startExternalEtcd runs the etcd of the etcd-server package on loopback
// ports until the test ends and returns its client URL.
func startExternalEtcd(t *testing.T, dir string) string {
	t.Helper()
	etcdBin, err := exec.LookPath("etcd")
	if err != nil {
		if os.Getenv("SKIFF_ALLOW_MISSING_DEPS") == "1" {
			t.Skip("etcd (the etcd-server package) is not installed")
		}
		t.Fatal("etcd (the etcd-server package) is not installed; make test installs it with hack/install-deps.sh")
	}
	clientPort, peerPort := freePort(t), freePort(t)
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	cmd := exec.Command(etcdBin, "--name", "ext", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", endpoint, "--advertise-client-urls", endpoint,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peerPort),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peerPort),
		"--initial-cluster", fmt.Sprintf("ext=http://127.0.0.1:%d", peerPort))
	logf, _ := os.Create(filepath.Join(dir, "etcd.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logf.Close() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", clientPort))
		if err == nil {
			c.Close()
			return endpoint
		}
		if time.Now().After(deadline) {
			t.Fatal("external etcd did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
