package netpol

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/knftables"
)

// childRoleEnv selects a child role when the test binary is re-executed
// inside a test network namespace.
const childRoleEnv = "SKIFF_NETPOL_TEST_CHILD"

func TestMain(m *testing.M) {
	if role := os.Getenv(childRoleEnv); role != "" {
		if err := runChild(role); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// newNetns creates a network namespace for the test, deleted in Cleanup.
func newNetns(t *testing.T, name string) string {
	t.Helper()
	ns := fmt.Sprintf("skiff-t-%s-%d", name, os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot create network namespace: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("deleting netns %s: %v: %s", ns, err, out)
		}
	})
	return ns
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// childCmd re-executes the test binary in ns with a child role.
func childCmd(ctx context.Context, ns, role string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "nsenter", "--net=/run/netns/"+ns, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childRoleEnv+"="+role)
	if id, err := netnsID("/proc/self/ns/net"); err == nil {
		cmd.Env = append(cmd.Env, parentNetnsEnv+"="+id)
	}
	return cmd
}

func runChildIn(t *testing.T, ns, role string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := childCmd(ctx, ns, role).CombinedOutput()
	if err != nil {
		t.Fatalf("child %s in %s: %v\n%s", role, ns, err, out)
	}
	return string(out)
}

// TestKernel builds a node network namespace with a bridge (gateway
// 10.99.0.1) and three pod namespaces on it, applies the enforcer's rules
// inside the node namespace and checks TCP connections between the pods:
// open without policies, timing out under deny-all, and open only for the
// labelled client once an allow rule exists.
func TestKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, nftables)")
	}
	for _, bin := range []string{"ip", "nft", "nsenter"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed", bin)
		}
	}
	node := newNetns(t, "npnode")
	mustRun(t, "ip", "-n", node, "link", "set", "lo", "up")
	mustRun(t, "ip", "-n", node, "link", "add", "br0", "type", "bridge")
	mustRun(t, "ip", "-n", node, "addr", "add", "10.99.0.1/24", "dev", "br0")
	mustRun(t, "ip", "-n", node, "link", "set", "br0", "up")
	if out, err := exec.Command("ip", "netns", "exec", node, "sysctl", "-w", "net.bridge.bridge-nf-call-iptables=1").CombinedOutput(); err != nil {
		t.Skipf("bridge netfilter unavailable in the namespace: %v: %s", err, out)
	}
	pods := map[string]string{} // name -> netns
	for i, name := range []string{"a", "b", "c"} {
		ns := newNetns(t, "np"+name)
		pods[name] = ns
		veth := "v" + name
		mustRun(t, "ip", "-n", node, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
		mustRun(t, "ip", "-n", node, "link", "set", veth, "master", "br0")
		mustRun(t, "ip", "-n", node, "link", "set", veth, "up")
		mustRun(t, "ip", "-n", ns, "link", "set", "lo", "up")
		mustRun(t, "ip", "-n", ns, "addr", "add", fmt.Sprintf("10.99.0.%d/24", i+2), "dev", "eth0")
		mustRun(t, "ip", "-n", ns, "link", "set", "eth0", "up")
		mustRun(t, "ip", "-n", ns, "route", "add", "default", "via", "10.99.0.1")
	}

	// The listener on b:8080 runs for the whole test.
	ctx, cancel := context.WithCancel(context.Background())
	listener := childCmd(ctx, pods["b"], "listen:10.99.0.3:8080")
	stdout, err := listener.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	listener.Stderr = os.Stderr
	if err := listener.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = listener.Wait()
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "READY" {
				ready <- true
			}
		}
		close(ready)
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("listener exited before READY")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("listener not ready")
	}

	dial := func(from string) string {
		ns := node
		if from != "node" {
			ns = pods[from]
		}
		out := runChildIn(t, ns, "dial:10.99.0.3:8080")
		for _, w := range []string{"CONNECTED", "TIMEOUT"} {
			if strings.Contains(out, w) {
				return w
			}
		}
		t.Fatalf("dial from %s: unexpected output %q", from, out)
		return ""
	}
	expect := func(scenario string, want map[string]string) {
		t.Helper()
		for _, from := range []string{"a", "c", "node"} {
			if w, ok := want[from]; ok {
				if got := dial(from); got != w {
					t.Errorf("%s: %s -> b:8080 = %s, want %s", scenario, from, got, w)
				}
			}
		}
	}

	expect("no table", map[string]string{"a": "CONNECTED", "c": "CONNECTED"})
	for _, sc := range []struct {
		name string
		want map[string]string
	}{
		{"none", map[string]string{"a": "CONNECTED", "c": "CONNECTED"}},
		{"deny", map[string]string{"a": "TIMEOUT", "c": "TIMEOUT", "node": "CONNECTED"}},
		{"allow", map[string]string{"a": "CONNECTED", "c": "TIMEOUT", "node": "CONNECTED"}},
		{"full", map[string]string{"a": "CONNECTED", "c": "TIMEOUT"}},
		{"none", map[string]string{"a": "CONNECTED", "c": "CONNECTED"}},
	} {
		out := runChildIn(t, node, "sync:"+sc.name)
		if t.Failed() {
			t.Logf("sync %s:\n%s", sc.name, out)
		}
		expect(sc.name, sc.want)
		if sc.name == "deny" {
			// The drops are counted.
			if out := mustRun(t, "ip", "netns", "exec", node, "nft", "list", "counter", "ip", TableName, counterDrops); strings.Contains(out, "packets 0 ") {
				t.Errorf("drop counter did not count:\n%s", out)
			}
		}
		if sc.name == "full" {
			t.Logf("kernel table for %s:\n%s", sc.name, mustRun(t, "ip", "netns", "exec", node, "nft", "list", "table", "ip", TableName))
		}
		if t.Failed() {
			t.Logf("table after %s:\n%s", sc.name, mustRun(t, "ip", "netns", "exec", node, "nft", "list", "table", "ip", TableName))
			return
		}
	}
}

// runChild runs one child role inside a test namespace.
func runChild(role string) error {
	switch {
	case strings.HasPrefix(role, "listen:"):
		return childListen(strings.TrimPrefix(role, "listen:"))
	case strings.HasPrefix(role, "dial:"):
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(role, "dial:"), 1500*time.Millisecond)
		var ne net.Error
		switch {
		case err == nil:
			_ = c.Close()
			fmt.Println("CONNECTED")
		case errors.As(err, &ne) && ne.Timeout():
			fmt.Println("TIMEOUT")
		default:
			return err
		}
		return nil
	case strings.HasPrefix(role, "sync:"):
		return childSync(strings.TrimPrefix(role, "sync:"))
	}
	return fmt.Errorf("unknown child role %q", role)
}

func childListen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println("READY")
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		_ = c.Close()
	}
}

// parentNetnsEnv carries the test process's network namespace identity to
// the children, so that the sync child can refuse to run in it.
const parentNetnsEnv = "SKIFF_NETPOL_TEST_PARENT_NETNS"

func netnsID(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", errors.New("no stat_t")
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino), nil
}

// inHostNetns reports whether this process may share the host's network
// namespace (the test process's, or PID 1's when readable); the sync child
// refuses to touch nftables there.
func inHostNetns() bool {
	self, err := netnsID("/proc/self/ns/net")
	if err != nil {
		return true
	}
	parent := os.Getenv(parentNetnsEnv)
	if parent == "" || parent == self {
		return true
	}
	if pid1, err := netnsID("/proc/1/ns/net"); err == nil && pid1 == self {
		return true
	}
	return false
}

// childSync syncs the rules of one scenario once, from a fake clientset.
func childSync(scenario string) error {
	if inHostNetns() {
		return errors.New("refusing to write nftables in the host network namespace")
	}
	objs := []runtime.Object{
		&v1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: testNode},
			Spec:       v1.NodeSpec{PodCIDR: "10.99.0.0/24"},
			Status:     v1.NodeStatus{Addresses: []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: "10.99.0.1"}}},
		},
		mkNS("default", nil),
		mkPod("default", "a", "10.99.0.2", map[string]string{"role": "client"}),
		mkPod("default", "b", "10.99.0.3", map[string]string{"app": "web"}, port("http", 8080, v1.ProtocolTCP)),
		mkPod("default", "c", "10.99.0.4", map[string]string{"role": "other"}),
	}
	deny := mkPol("default", "deny", nil, types(networkingv1.PolicyTypeIngress))
	allow := mkPol("default", "allow", map[string]string{"app": "web"}, ingress(networkingv1.NetworkPolicyIngressRule{
		From:  []networkingv1.NetworkPolicyPeer{podPeer("role", "client")},
		Ports: []networkingv1.NetworkPolicyPort{tcp(8080)},
	}))
	endPort := int32(6000)
	switch scenario {
	case "none":
	case "deny":
		objs = append(objs, deny)
	case "allow":
		objs = append(objs, deny, allow)
	case "full":
		// Every rule shape the renderer produces, to check the kernel
		// accepts them; the outcome for a and c stays that of "allow".
		objs = append(objs, deny, allow,
			mkPol("default", "extra", map[string]string{"app": "web"}, ingress(networkingv1.NetworkPolicyIngressRule{
				From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "192.0.2.0/24", Except: []string{"192.0.2.128/25"}}}},
				Ports: []networkingv1.NetworkPolicyPort{
					proto(v1.ProtocolUDP, intstr.FromInt32(5000)),
					{Protocol: func() *v1.Protocol { p := v1.ProtocolUDP; return &p }(), Port: func() *intstr.IntOrString { p := intstr.FromInt32(5001); return &p }(), EndPort: &endPort},
					{Protocol: func() *v1.Protocol { p := v1.ProtocolSCTP; return &p }()},
					proto(v1.ProtocolTCP, intstr.FromString("http")),
				},
			})),
			mkPol("default", "a-egress", map[string]string{"role": "client"}, types(networkingv1.PolicyTypeEgress), egress(
				networkingv1.NetworkPolicyEgressRule{
					To:    []networkingv1.NetworkPolicyPeer{podPeer("app", "web")},
					Ports: []networkingv1.NetworkPolicyPort{proto(v1.ProtocolTCP, intstr.FromString("http"))},
				},
				networkingv1.NetworkPolicyEgressRule{Ports: []networkingv1.NetworkPolicyPort{proto(v1.ProtocolUDP, intstr.FromInt32(53)), tcp(53)}},
			)),
			mkPol("default", "c-egress", map[string]string{"role": "other"}, types(networkingv1.PolicyTypeEgress), egress(
				networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.99.0.0/24", Except: []string{"10.99.0.3/32"}}}}},
			)),
		)
	default:
		return fmt.Errorf("unknown scenario %q", scenario)
	}
	nft, err := knftables.New(knftables.IPv4Family, TableName)
	if err != nil {
		return err
	}
	e, err := New(fake.NewClientset(objs...), Config{
		NodeName: testNode, NFT: nft,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e.factory.Start(ctx.Done())
	e.nodeFactory.Start(ctx.Done())
	defer e.factory.Shutdown()
	defer e.nodeFactory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), e.synced...) {
		return errors.New("caches did not sync")
	}
	defer cancel()
	return e.sync(ctx, true)
}
