package integration

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

var becameLeader = regexp.MustCompile(`msg="became leader" lease=(\S+) identity=(\S+)`)

// leadership reads which leases a server process says it took, and under
// which identity.
func leadership(t *testing.T, p *serverProcess) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.cfg.DataDir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range becameLeader.FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = m[2]
	}
	return out
}

// Two servers on one external etcd: exactly one runs the controllers and
// one the scheduler; when the controller leader is killed, the other
// server holds both leases within 15 s and its controllers work.
func TestLeaderHandover(t *testing.T) {
	dir := t.TempDir()
	endpoint := startExternalEtcd(t, dir)
	var procs []*serverProcess
	var clients []kubernetes.Interface
	for _, name := range []string{"a", "b"} {
		cfg := serverConfig(t, filepath.Join(dir, name))
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			t.Fatal(err)
		}
		p := startServerProcessArgs(t, cfg, "--datastore-endpoint", endpoint)
		procs = append(procs, p)
		clients = append(clients, kubernetes.NewForConfigOrDie(waitReady(t, cfg.WriteKubeconfig)))
	}
	ctx := context.Background()
	leases := []string{"kube-controller-manager", "kube-scheduler"}
	holder := func(c kubernetes.Interface, lease string) string {
		l, err := c.CoordinationV1().Leases("kube-system").Get(ctx, lease, metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	// Each lease is taken by exactly one of the two, and held by it.
	var leader int
	waitFor(t, "both leases taken", 30*time.Second, func() bool {
		for _, lease := range leases {
			a, b := leadership(t, procs[0])[lease], leadership(t, procs[1])[lease]
			if (a == "") == (b == "") || holder(clients[0], lease) != a+b {
				return false
			}
		}
		return true
	})
	if leadership(t, procs[1])["kube-controller-manager"] != "" {
		leader = 1
	}
	survivor := 1 - leader
	t.Logf("server %d leads the controllers; leases: %v / %v", leader, leadership(t, procs[0]), leadership(t, procs[1]))

	if err := procs[leader].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = procs[leader].cmd.Wait()
	killed := time.Now()
	waitFor(t, "the survivor to hold both leases within 15s", 15*time.Second, func() bool {
		mine := leadership(t, procs[survivor])
		for _, lease := range leases {
			if mine[lease] == "" || holder(clients[survivor], lease) != mine[lease] {
				return false
			}
		}
		return true
	})
	t.Logf("handover took %v", time.Since(killed).Round(100*time.Millisecond))

	// The survivor's controllers act: a new namespace gets its default
	// service account.
	c := clients[survivor]
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "after-handover"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the default service account from the new leader", 30*time.Second, func() bool {
		_, err := c.CoreV1().ServiceAccounts("after-handover").Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	})
}
