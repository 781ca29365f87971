package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/knftables"
)

// childRoleEnv selects a child role when the test binary is re-executed
// inside a test network namespace.
const childRoleEnv = "SKIFF_PROXY_TEST_CHILD"

func TestMain(m *testing.M) {
	if role := os.Getenv(childRoleEnv); role != "" {
		os.Exit(runChild(role))
	}
	os.Exit(m.Run())
}

// netns creates a network namespace for the test, deleted in Cleanup.
func netns(t testing.TB, name string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, nftables)")
	}
	for _, bin := range []string{"ip", "nft", "nsenter"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed", bin)
		}
	}
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

func mustRun(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// runInNetns re-executes the test binary in ns with the given child role.
// The namespace is the test's own, so the child may treat it as disposable.
func runInNetns(t testing.TB, ns, role string) string {
	t.Helper()
	return runInNetnsTimeout(t, ns, role, 2*time.Minute)
}

func runInNetnsTimeout(t testing.TB, ns, role string, timeout time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", "--net=/run/netns/"+ns, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childRoleEnv+"="+role, DisposableNetnsEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child %s: %v\n%s", role, err, out)
	}
	return string(out)
}

// TestKernel programs the rules into a real kernel inside a throwaway
// network namespace, checks the kernel accepts them, and sends traffic
// through them: a ClusterIP and a NodePort to a Go listener, a Service
// without endpoints and an unknown ClusterIP port refused at once, and a
// three-endpoint Service whose connections spread evenly. A second run
// takes the table over and syncs incrementally.
func TestKernel(t *testing.T) {
	ns := netns(t, "proxy")
	mustRun(t, "ip", "-n", ns, "link", "set", "lo", "up")
	// A veth pair (both ends in the namespace; the dummy driver may be
	// missing) carries the "node" and "endpoint" addresses.
	mustRun(t, "ip", "-n", ns, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1")
	mustRun(t, "ip", "-n", ns, "addr", "add", "10.99.0.1/24", "dev", "veth0")
	mustRun(t, "ip", "-n", ns, "addr", "add", "10.99.0.2/24", "dev", "veth0")
	mustRun(t, "ip", "-n", ns, "addr", "add", "10.99.0.3/24", "dev", "veth0")
	mustRun(t, "ip", "-n", ns, "addr", "add", "10.99.0.4/24", "dev", "veth0")
	mustRun(t, "ip", "-n", ns, "link", "set", "veth0", "up")
	mustRun(t, "ip", "-n", ns, "link", "set", "veth1", "up")
	mustRun(t, "ip", "-n", ns, "route", "add", "10.43.0.0/16", "dev", "veth0", "src", "10.99.0.1")

	// A table as the vmap-dispatch version left it: the take-over must
	// replace it in place, dropping the anonymous map with its rule.
	oldSvc := hashedName(prefixService, "ns/web/tcp/http")
	oldEP := hashedName(prefixEndpoint, "ns/web/tcp/http__10.99.0.9/8080")
	// And an endpoint chain of the per-endpoint-chain version, for a
	// Service without affinity, which now DNATs in its service chain.
	oldSpread := hashedName(prefixService, "ns/spread/tcp/http")
	oldSpreadEP := hashedName(prefixEndpoint, "ns/spread/tcp/http__10.99.0.2/8081")
	old := "table ip " + TableName + " {\n" +
		"\tchain mark-for-masquerade {\n\t\tmeta mark set meta mark | 0x00004000\n\t}\n" +
		"\tchain " + oldEP + " {\n\t\tmeta l4proto tcp dnat to 10.99.0.9:8080\n\t}\n" +
		"\tchain " + oldSvc + " {\n\t\tnumgen random mod 1 vmap { 0 : goto " + oldEP + " }\n\t}\n" +
		"\tchain " + oldSpreadEP + " {\n\t\tip saddr 10.99.0.2 jump mark-for-masquerade\n\t\tmeta l4proto tcp dnat to 10.99.0.2:8081\n\t}\n" +
		"\tchain " + oldSpread + " {\n\t\tgoto " + oldSpreadEP + "\n\t}\n}\n"
	seed := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	seed.Stdin = strings.NewReader(old)
	if b, err := seed.CombinedOutput(); err != nil {
		t.Fatalf("seeding the old table: %v\n%s", err, b)
	}

	out := runInNetns(t, ns, "first")
	t.Logf("first run:\n%s", out)
	if strings.Contains(out, "recreating") {
		t.Errorf("take-over of the vmap-form table fell back to recreating it:\n%s", out)
	}
	table := mustRun(t, "ip", "netns", "exec", ns, "nft", "list", "table", "ip", TableName)
	t.Logf("kernel table:\n%s", table)
	for _, gone := range []string{"vmap {", oldEP, oldSpreadEP} {
		if strings.Contains(table, gone) {
			t.Errorf("kernel table still has %q from the old table:\n%s", gone, table)
		}
	}
	for _, want := range []string{
		"numgen random mod 3 0 meta l4proto tcp dnat to 10.99.0.2:8081",
		"numgen random mod 2 0 meta l4proto tcp dnat to 10.99.0.3:8081",
		"masquerade fully-random", "update @affinity-", "dnat to 10.99.0.2:8080",
		"ct status dnat ip saddr . ip daddr @hairpin jump mark-for-masquerade",
		"10.99.0.2 . 10.99.0.2",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("kernel table lacks %q:\n%s", want, table)
		}
	}
	// Only the affinity Service (web, one endpoint) keeps an endpoint chain.
	if n := strings.Count(table, "chain "+prefixEndpoint+"-"); n != 1 {
		t.Errorf("kernel table has %d endpoint chains, want 1 (web's, for affinity):\n%s", n, table)
	}

	out = runInNetns(t, ns, "restart")
	t.Logf("restart run:\n%s", out)
	if strings.Contains(out, "recreating") {
		t.Errorf("take-over fell back to recreating the table:\n%s", out)
	}
	table = mustRun(t, "ip", "netns", "exec", ns, "nft", "list", "table", "ip", TableName)
	if strings.Contains(table, "10.43.0.51") && strings.Contains(table, "nope") {
		t.Errorf("deleted service still in the table:\n%s", table)
	}
}

// TestKernelSyncBench runs KernelSyncBench with 1000 Services of 10
// endpoints in a throwaway network namespace.
func TestKernelSyncBench(t *testing.T) {
	ns := netns(t, "proxykbench")
	r := kernelBenchInNetns(t, ns, 1000, 10*time.Minute)
	t.Logf("1000 services x 10 endpoints: full %v (nft %v), incremental %v (nft %v)", r.full, r.fullNFT, r.incremental, r.incrementalNFT)
	if r.full <= 0 || r.incremental <= 0 || r.incremental >= r.full {
		t.Fatalf("implausible durations %+v", r)
	}
	if out := mustRun(t, "ip", "netns", "exec", ns, "nft", "list", "tables"); strings.Contains(out, TableName) {
		t.Fatalf("KernelSyncBench left its table behind: %s", out)
	}
}

// TestKernelSyncBenchRefuses checks the guards that keep KernelSyncBench
// out of the host's network namespace. It never reaches nftables: the
// host-namespace case runs only when this process is in PID 1's namespace.
func TestKernelSyncBenchRefuses(t *testing.T) {
	t.Run("without the variable", func(t *testing.T) {
		t.Setenv(DisposableNetnsEnv, "")
		if _, _, err := KernelSyncBench(10, 1); err == nil || !strings.Contains(err.Error(), DisposableNetnsEnv) {
			t.Fatalf("without %s: err = %v", DisposableNetnsEnv, err)
		}
	})
	t.Run("in PID 1's namespace", func(t *testing.T) {
		self, err1 := os.Stat("/proc/self/ns/net")
		pid1, err2 := os.Stat("/proc/1/ns/net")
		if err1 != nil || err2 != nil || !os.SameFile(self, pid1) {
			// Running it anyway would touch this namespace's nftables.
			t.Skip("cannot see that this process is in PID 1's network namespace (or it is not)")
		}
		t.Setenv(DisposableNetnsEnv, "1")
		if _, _, err := KernelSyncBench(10, 1); err == nil || !strings.Contains(err.Error(), "PID 1") {
			t.Fatalf("in the host namespace: err = %v", err)
		}
	})
}

// BenchmarkSyncKernel1000Services and BenchmarkSyncKernel10000Services
// are BenchmarkSync1000Services/10000Services against the real kernel (nft
// binary + netlink) in a throwaway network namespace, through
// KernelSyncBench.
func BenchmarkSyncKernel1000Services(b *testing.B) { benchmarkKernel(b, 1000) }

// BenchmarkSyncKernel10000Services: see BenchmarkSyncKernel1000Services.
func BenchmarkSyncKernel10000Services(b *testing.B) { benchmarkKernel(b, 10000) }

func benchmarkKernel(b *testing.B, n int) {
	ns := netns(b, "proxybench")
	var sum benchResult
	for i := 0; i < b.N; i++ {
		r := kernelBenchInNetns(b, ns, n, 10*time.Minute)
		sum.full += r.full
		sum.incremental += r.incremental
		sum.fullNFT += r.fullNFT
		sum.incrementalNFT += r.incrementalNFT
	}
	reportBench(b, sum)
}

// kernelBenchInNetns runs kernelSyncBench(n, 10) in a child inside ns.
func kernelBenchInNetns(t testing.TB, ns string, n int, timeout time.Duration) benchResult {
	t.Helper()
	out := runInNetnsTimeout(t, ns, "bench:"+strconv.Itoa(n), timeout)
	var r benchResult
	i := strings.LastIndex(out, "BENCH ")
	if i < 0 {
		t.Fatalf("no result in child output %q", out)
	}
	if _, err := fmt.Sscanf(out[i:], "BENCH %d %d %d %d", &r.full, &r.incremental, &r.fullNFT, &r.incrementalNFT); err != nil {
		t.Fatalf("parsing child output %q: %v", out, err)
	}
	return r
}

// runChild is the part of TestKernel (or a kernel benchmark) that runs
// inside the namespace.
func runChild(role string) int {
	if n, ok := strings.CutPrefix(role, "bench:"); ok {
		count, _ := strconv.Atoi(n)
		r, err := kernelSyncBench(count, 10)
		if err != nil {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			return 1
		}
		fmt.Printf("BENCH %d %d %d %d\n", r.full, r.incremental, r.fullNFT, r.incrementalNFT)
		return 0
	}
	if err := childScenario(role); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	return 0
}

func childScenario(role string) error {
	nft, err := knftables.New(knftables.IPv4Family, TableName)
	if err != nil {
		return err
	}
	var logs bytes.Buffer
	p, err := New(fake.NewClientset(), Config{
		NodeName: testNode, NFT: nft,
		Logger: slog.New(slog.NewTextHandler(io.MultiWriter(os.Stderr, &logs), &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		return err
	}
	add := func(store interface{ Update(any) error }, obj any) error { return store.Update(obj) }
	node := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: testNode},
		Spec:       v1.NodeSpec{PodCIDR: "10.99.0.0/24"},
		Status:     v1.NodeStatus{Addresses: []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: "10.99.0.1"}}},
	}
	web := service("web", "10.43.0.50", func(s *v1.Service) { s.Spec.SessionAffinity = v1.ServiceAffinityClientIP })
	np := service("np", "10.43.0.52", nodePort(30080, v1.ServiceExternalTrafficPolicyCluster))
	// Unnamed port: chain names end in "/" (…/tcp/), as upstream's do.
	npl := service("npl", "10.43.0.54", nodePort(30081, v1.ServiceExternalTrafficPolicyLocal), func(s *v1.Service) { s.Spec.Ports[0].Name = "" })
	nplSlice := slice("npl", 8080, ready("10.99.0.2", testNode))
	nplSlice.Ports[0].Name = ptr("")
	dns := service("dns", "10.43.0.53", func(s *v1.Service) {
		s.Spec.Ports = []v1.ServicePort{{Name: "dns", Protocol: v1.ProtocolUDP, Port: 53}}
	})
	dnsSlice := slice("dns", 5353, ready("10.99.0.2", testNode))
	dnsSlice.Ports = []discovery.EndpointPort{{Name: ptr("dns"), Protocol: ptr(v1.ProtocolUDP), Port: ptr(int32(5353))}}
	spreadIPs := []string{"10.99.0.2", "10.99.0.3", "10.99.0.4"}
	spread := service("spread", "10.43.0.55", func(s *v1.Service) { s.Spec.Ports[0].Port = 81 })
	var spreadEPs []ep
	for _, ip := range spreadIPs {
		spreadEPs = append(spreadEPs, ready(ip, testNode))
	}
	objs := []struct {
		store interface{ Update(any) error }
		obj   any
	}{
		{p.nodes.GetStore(), node},
		{p.services.GetStore(), spread},
		{p.slices.GetStore(), slice("spread", 8081, spreadEPs...)},
		{p.services.GetStore(), web},
		{p.slices.GetStore(), slice("web", 8080, ready("10.99.0.2", testNode))},
		{p.services.GetStore(), np},
		{p.slices.GetStore(), slice("np", 8080, ready("10.99.0.2", testNode))},
		{p.services.GetStore(), npl},
		{p.slices.GetStore(), nplSlice},
		{p.services.GetStore(), dns},
		{p.slices.GetStore(), dnsSlice},
	}
	if role == "first" {
		objs = append(objs, struct {
			store interface{ Update(any) error }
			obj   any
		}{p.services.GetStore(), service("nope", "10.43.0.51")})
	}
	for _, o := range objs {
		if err := add(o.store, o.obj); err != nil {
			return err
		}
	}
	ctx := context.Background()
	if err := p.syncRules(ctx); err != nil {
		return fmt.Errorf("full sync: %w", err)
	}

	ln, err := net.Listen("tcp", "10.99.0.2:8080")
	if err != nil {
		return err
	}
	defer func() { _ = ln.Close() }()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// The client's address follows the greeting (hello reads
			// only the greeting; helloFrom reads it too).
			from, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			_, _ = c.Write([]byte("hello\n" + from + "\n"))
			_ = c.Close()
		}
	}()
	hello := func(addr string) error {
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			return fmt.Errorf("dial %s: %w", addr, err)
		}
		defer func() { _ = c.Close() }()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 6)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello\n" {
			return fmt.Errorf("read from %s: %q %v", addr, buf, err)
		}
		return nil
	}
	// helloFrom connects from the local address src and returns the
	// source address the server saw.
	helloFrom := func(src, addr string) (string, error) {
		d := net.Dialer{Timeout: 3 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			return "", fmt.Errorf("dial %s from %s: %w", addr, src, err)
		}
		defer func() { _ = c.Close() }()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		b, err := io.ReadAll(c)
		greeting, from, _ := strings.Cut(string(b), "\n")
		if err != nil || greeting != "hello" {
			return "", fmt.Errorf("read from %s: %q %v", addr, b, err)
		}
		return strings.TrimSpace(from), nil
	}
	refused := func(addr string) error {
		start := time.Now()
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err == nil {
			_ = c.Close()
			return fmt.Errorf("dial %s succeeded, want refused", addr)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("dial %s: %v, want connection refused", addr, err)
		}
		if d := time.Since(start); d > time.Second {
			return fmt.Errorf("dial %s refused only after %v", addr, d)
		}
		return nil
	}

	if err := hello("10.43.0.50:80"); err != nil {
		return fmt.Errorf("cluster IP: %w", err)
	}
	// Hairpin: the endpoint 10.99.0.2 reaching itself through a cluster
	// IP, with affinity (web, endpoint chain) and without (np, DNAT in the
	// service chain). It is masqueraded, so the server sees another
	// source than its own address.
	for _, addr := range []string{"10.43.0.50:80", "10.43.0.52:80"} {
		from, err := helloFrom("10.99.0.2", addr)
		if err != nil {
			return fmt.Errorf("hairpin: %w", err)
		}
		if from == "10.99.0.2" {
			return fmt.Errorf("hairpin to %s was not masqueraded: the server saw source %s", addr, from)
		}
		fmt.Printf("hairpin to %s: server saw source %s\n", addr, from)
	}
	// Not hairpin: from another pod address the source is kept.
	if from, err := helloFrom("10.99.0.3", "10.43.0.52:80"); err != nil || from != "10.99.0.3" {
		return fmt.Errorf("pod to service: server saw source %q (%v), want 10.99.0.3", from, err)
	}
	if err := checkSpread("10.43.0.55:81", spreadIPs, 8081); err != nil {
		return fmt.Errorf("three-endpoint cluster IP: %w", err)
	}
	uc, err := net.ListenPacket("udp", "10.99.0.2:5353")
	if err != nil {
		return err
	}
	defer func() { _ = uc.Close() }()
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := uc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = uc.WriteTo(buf[:n], from)
		}
	}()
	if err := echoUDP("10.43.0.53:53"); err != nil {
		return fmt.Errorf("UDP cluster IP: %w", err)
	}
	if strings.Contains(logs.String(), "conntrack") {
		return fmt.Errorf("conntrack cleanup failed: %s", logs.String())
	}
	if err := hello("10.99.0.1:30080"); err != nil {
		return fmt.Errorf("node port: %w", err)
	}
	if err := hello("10.99.0.1:30081"); err != nil {
		return fmt.Errorf("node port with externalTrafficPolicy Local, from the host: %w", err)
	}
	if err := refused("10.43.0.50:81"); err != nil {
		return fmt.Errorf("unknown cluster IP port: %w", err)
	}
	if role == "first" {
		if err := refused("10.43.0.51:80"); err != nil {
			return fmt.Errorf("service without endpoints: %w", err)
		}
		return nil
	}

	// restart: incremental changes on top of the taken-over table.

	// A UDP flow follows its endpoint's replacement once the stale
	// conntrack entry is gone.
	uc3, err := net.ListenPacket("udp", "10.99.0.3:5353")
	if err != nil {
		return err
	}
	defer func() { _ = uc3.Close() }()
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := uc3.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = uc3.WriteTo(append([]byte("3:"), buf[:n]...), from)
		}
	}()
	flow, err := net.Dial("udp", "10.43.0.53:53")
	if err != nil {
		return err
	}
	defer func() { _ = flow.Close() }()
	exchange := func(msg, want string) error {
		_ = flow.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := flow.Write([]byte(msg)); err != nil {
			return err
		}
		buf := make([]byte, 16)
		n, err := flow.Read(buf)
		if err != nil || string(buf[:n]) != want {
			return fmt.Errorf("UDP flow: got %q (%v), want %q", buf[:n], err, want)
		}
		return nil
	}
	if err := exchange("a", "a"); err != nil {
		return err
	}
	moved := slice("dns", 5353, ready("10.99.0.3", testNode))
	moved.Ports = dnsSlice.Ports
	p.slice(moved)
	if err := p.syncRules(ctx); err != nil {
		return fmt.Errorf("incremental sync: %w", err)
	}
	if err := exchange("b", "3:b"); err != nil {
		return fmt.Errorf("after endpoint change: %w", err)
	}

	sl := slice("web", 8080, ready("10.99.0.2", testNode))
	sl.Endpoints[0].Conditions = discovery.EndpointConditions{Ready: ptr(false), Serving: ptr(true), Terminating: ptr(true)}
	p.slice(sl)
	if err := p.syncRules(ctx); err != nil {
		return fmt.Errorf("incremental sync: %w", err)
	}
	if p.last.full {
		return fmt.Errorf("incremental sync stats %+v", p.last)
	}
	if err := hello("10.43.0.50:80"); err != nil {
		return fmt.Errorf("cluster IP to a terminating endpoint: %w", err)
	}
	p.slice(slice("web", 8080))
	if err := p.syncRules(ctx); err != nil {
		return fmt.Errorf("incremental sync: %w", err)
	}
	if p.last.full || p.last.servicesWritten != 1 {
		return fmt.Errorf("incremental sync stats %+v", p.last)
	}
	if err := refused("10.43.0.50:80"); err != nil {
		return fmt.Errorf("service that lost its endpoints: %w", err)
	}
	if strings.Contains(logs.String(), "recreating") {
		fmt.Fprintln(os.Stderr, "note: take-over recreated the table")
	}
	return nil
}

// checkSpread serves on port of each of ips, makes new connections to addr
// and checks that each endpoint gets a share close to 1/len(ips). With 300
// connections and 3 endpoints each count is ~Binomial(300, 1/3): mean 100,
// standard deviation ~8.2, so the bounds [50, 150] are 6 deviations wide
// and a correct cascade fails them with probability below 1e-8. A cascade
// with wrong moduli (e.g. mod 3 on every rule: 33/22/44 %) still passes,
// which TestDispatchUniform covers exactly; this checks that the kernel
// runs the rules as the unit test reads them.
func checkSpread(addr string, ips []string, port int) error {
	for _, ip := range ips {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		defer func() { _ = ln.Close() }()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_, _ = c.Write([]byte(ip + "\n"))
				_ = c.Close()
			}
		}()
	}
	const conns = 300
	counts := map[string]int{}
	for i := 0; i < conns; i++ {
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			return fmt.Errorf("dial %s: %w", addr, err)
		}
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		b, err := io.ReadAll(c)
		_ = c.Close()
		if err != nil {
			return fmt.Errorf("read from %s: %w", addr, err)
		}
		counts[strings.TrimSpace(string(b))]++
	}
	for _, ip := range ips {
		if n := counts[ip]; n < 50 || n > 150 {
			return fmt.Errorf("endpoint %s got %d of %d connections (all: %v)", ip, n, conns, counts)
		}
	}
	if len(counts) != len(ips) {
		return fmt.Errorf("unexpected endpoints answered: %v", counts)
	}
	fmt.Fprintf(os.Stderr, "spread over %d connections: %v\n", conns, counts)
	return nil
}

// echoUDP sends a datagram to addr and expects it back.
func echoUDP(addr string) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		return err
	}
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "ping" {
		return fmt.Errorf("read %q: %v", buf[:n], err)
	}
	return nil
}

// slice updates an EndpointSlice in p's cache and queues its Service.
func (p *Proxy) slice(s *discovery.EndpointSlice) {
	_ = p.slices.GetStore().Update(s)
	p.onSlice(s)
}
