package localcluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// TestLayout: a new cluster is laid out from the config; an existing one
// from its state file, whatever the config says now.
func TestLayout(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(Config{Dir: dir, Nodes: 3, Binary: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Exists || c.HostIP != "10.230.0.1" || len(c.Nodes) != 3 {
		t.Fatalf("new cluster: exists %v host %s nodes %d", c.Exists, c.HostIP, len(c.Nodes))
	}
	want := []Node{
		{Name: "skiff-1", Netns: "skiff-1", IP: "10.230.0.2", HostLink: "skiffbr0v1", Dir: filepath.Join(dir, "skiff-1"), Server: true},
		{Name: "skiff-2", Netns: "skiff-2", IP: "10.230.0.3", HostLink: "skiffbr0v2", Dir: filepath.Join(dir, "skiff-2")},
		{Name: "skiff-3", Netns: "skiff-3", IP: "10.230.0.4", HostLink: "skiffbr0v3", Dir: filepath.Join(dir, "skiff-3")},
	}
	for i, n := range c.Nodes {
		if n != want[i] {
			t.Errorf("node %d: %+v, want %+v", i, n, want[i])
		}
	}
	if err := c.saveState(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(Config{Dir: dir, Nodes: 5, Prefix: "other-", Subnet: "10.1.2.0/24", Binary: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	if !again.Exists || len(again.Nodes) != 3 || again.Nodes[2].Name != "skiff-3" || again.Nodes[2].IP != "10.230.0.4" {
		t.Fatalf("reopened: %+v", again.Nodes)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Nodes: 251},
		{Subnet: "10.0.0.0/16"},
		{Subnet: "fd00::/120"},
		{Bridge: "a-bridge-name-too-long"},
	} {
		cfg.Dir, cfg.Binary = t.TempDir(), "/bin/true"
		if _, err := Open(cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}

func TestHostLinkName(t *testing.T) {
	for _, tc := range []struct {
		bridge string
		i      int
		want   string
	}{
		{"skiffbr0", 1, "skiffbr0v1"},
		{"skiffe2e0", 12, "skiffe2e0v12"},
		{"abcdefghijklmno", 3, "abcdefghijklmv3"},
		{"abcdefghijklmno", 123, "abcdefghijkv123"},
	} {
		got := hostLinkName(tc.bridge, tc.i)
		if got != tc.want || len(got) > 15 {
			t.Errorf("hostLinkName(%q, %d) = %q, want %q", tc.bridge, tc.i, got, tc.want)
		}
	}
}

func TestStatFields(t *testing.T) {
	f := statFields("123 (a (weird) name) S 45 123 123 0")
	if len(f) < 2 || f[0] != "S" || f[1] != "45" {
		t.Fatalf("statFields: %q", f)
	}
	if statFields("garbage") != nil {
		t.Fatal("statFields of garbage")
	}
}

// TestPointsTo: Down removes a kubeconfig only when it is this cluster's.
func TestPointsTo(t *testing.T) {
	dir := t.TempDir()
	write := func(name, server string) string {
		cfg := clientcmdapi.NewConfig()
		cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: server}
		p := filepath.Join(dir, name)
		if err := clientcmd.WriteToFile(*cfg, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if !pointsTo(write("ours", "https://10.230.0.2:6443"), "10.230.0.2") {
		t.Error("our kubeconfig not recognised")
	}
	if pointsTo(write("theirs", "https://127.0.0.1:6443"), "10.230.0.2") {
		t.Error("another cluster's kubeconfig taken for ours")
	}
	if pointsTo(filepath.Join(dir, "missing"), "10.230.0.2") {
		t.Error("a missing file taken for ours")
	}
}

func TestTail(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(p, []byte("1\n2\n3\n4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := tail(p, 2); got != "3\n4" {
		t.Fatalf("tail: %q", got)
	}
	if got := tailString("only", 5); got != "only" || strings.Contains(tail("/nonexistent", 2), "x") {
		t.Fatalf("tailString: %q", got)
	}
}

// TestStartedProcessRunning: a node process this Cluster started counts as
// running at once, even while its command line does not name the node
// (it is still in nsenter's execve), and stops counting when it exits.
func TestStartedProcessRunning(t *testing.T) {
	c, err := Open(Config{Dir: t.TempDir(), Nodes: 1, Binary: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	n := c.Nodes[0]
	if err := os.MkdirAll(n.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	if err := os.WriteFile(pidPath(n), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		t.Fatal(err)
	}
	if c.running(n) {
		t.Fatalf("a process not started by the cluster and not naming the node counts as running")
	}
	c.adopt(n, cmd)
	if got := c.pid(n); got != cmd.Process.Pid {
		t.Fatalf("pid of a started process = %d, want %d", got, cmd.Process.Pid)
	}
	_ = cmd.Process.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for c.running(n) {
		if time.Now().After(deadline) {
			t.Fatalf("still running after it was killed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
