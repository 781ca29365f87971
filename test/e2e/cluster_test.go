package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"skiff/internal/localcluster"
	"skiff/internal/mountinfo"
)

// The local cluster of these tests: its own names, bridge and subnet, so
// that it never meets a cluster a user made with `skiff up`.
const (
	clusterPrefix = "e2e-n"
	clusterBridge = "skiffe2e0"
	clusterSubnet = "10.229.0.0/24"
	echoImage2    = "docker.io/skiff/echo:2"
)

// testCluster is a running local cluster with helpers.
type testCluster struct {
	*localcluster.Cluster
	cfg    localcluster.Config
	bin    string
	client kubernetes.Interface
}

// kubectl runs `skiff kubectl` against the cluster.
func (c *testCluster) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(c.bin, append([]string{"kubectl", "--kubeconfig", c.Kubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// startCluster builds a 3-node cluster with the code of `skiff up`; the
// cleanup runs `skiff down`'s code and checks that nothing is left.
func startCluster(t *testing.T) *testCluster {
	t.Helper()
	requireHost(t)
	bin := skiffBin(t)
	if _, err := os.Stat("/run/netns/" + clusterPrefix + "1"); err == nil {
		t.Skipf("network namespace %s1 exists already; not touching it", clusterPrefix)
	}
	dir := filepath.Join(t.TempDir(), "up")
	cfg := localcluster.Config{
		Dir: dir, Nodes: 3, Prefix: clusterPrefix, Bridge: clusterBridge, Subnet: clusterSubnet, Binary: bin,
		// Node failures are noticed within seconds, not the default 50.
		ServerArgs: []string{"--node-monitor-grace-period", "12s", "--node-monitor-period", "1s"},
		Out:        testWriter{t},
	}
	before := netnsNames()
	t.Cleanup(func() {
		downAndCheck(t, cfg)
		for _, ns := range netnsNames() {
			if !slices.Contains(before, ns) {
				t.Errorf("network namespace %s left after down", ns)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	c, err := localcluster.Up(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("3 nodes Ready %.1fs after Up", time.Since(start).Seconds())
	client, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	tc := &testCluster{Cluster: c, cfg: cfg, bin: bin, client: client}
	out := tc.kubectl(t, "get", "nodes", "-o", "wide")
	t.Logf("skiff kubectl get nodes:\n%s", out)
	if strings.Count(out, " Ready ") != 3 {
		t.Fatalf("want 3 Ready nodes")
	}
	a1, a2 := echoArchive(t, echoImage), echoArchive(t, echoImage2)
	for _, n := range c.Nodes {
		sock := filepath.Join(n.Dir, "agent", "containerd", "containerd.sock")
		importImage(t, sock, a1)
		importImage(t, sock, a2)
	}
	return tc
}

// downAndCheck removes the cluster and checks that no namespace, link,
// mount, nftables table or process of it is left on the machine.
func downAndCheck(t *testing.T, cfg localcluster.Config) {
	if t.Failed() {
		for i := 1; i <= cfg.Nodes; i++ {
			log := filepath.Join(cfg.Dir, fmt.Sprintf("%s%d", clusterPrefix, i), "skiff.log")
			if out, err := exec.Command("tail", "-n", "60", log).CombinedOutput(); err == nil {
				t.Logf("last lines of %s:\n%s", log, out)
			}
		}
	}
	if err := localcluster.Down(context.Background(), cfg, false); err != nil {
		t.Errorf("down: %v", err)
	}
	out, _ := exec.Command("ip", "netns", "list").CombinedOutput()
	if strings.Contains(string(out), clusterPrefix) {
		t.Errorf("network namespaces left after down:\n%s", out)
	}
	if _, err := net.InterfaceByName(clusterBridge); err == nil {
		t.Errorf("bridge %s left after down", clusterBridge)
	}
	if m, _ := mountinfo.Under(cfg.Dir); len(m) > 0 {
		t.Errorf("mounts left after down: %v", m)
	}
	if exec.Command("nft", "list", "table", "ip", "skiff-up").Run() == nil {
		t.Errorf("nftables table skiff-up left after down")
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), cfg.Dir) {
			t.Errorf("process left after down: %s", strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	if _, err := os.Stat(cfg.Dir); err == nil {
		t.Errorf("state dir %s left after down", cfg.Dir)
	}
}

// netnsNames lists the named network namespaces (pods' are cni-...).
func netnsNames() []string {
	entries, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// echoInfo is what the echo server's /info answers.
type echoInfo struct {
	Pod        string `json:"pod"`
	RemoteAddr string `json:"remoteAddr"`
}

var noKeepAlive = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func getInfo(url string) (echoInfo, error) {
	var info echoInfo
	resp, err := noKeepAlive.Get(url)
	if err != nil {
		return info, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return info, err
	}
	if resp.StatusCode != http.StatusOK {
		return info, fmt.Errorf("%s: %s", resp.Status, body)
	}
	return info, json.Unmarshal(body, &info)
}

// echoDeployment runs the echo server the way a rolling update loses no
// request: readiness from /healthz, and a preStop pause so that every
// node's proxy drops the endpoint before the server stops.
func echoDeployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxUnavailable: ptr.To(intstr.FromInt32(0)), MaxSurge: ptr.To(intstr.FromInt32(1)),
			}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](15),
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
						MaxSkew: 1, TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.ScheduleAnyway,
						LabelSelector: &metav1.LabelSelector{MatchLabels: labels},
					}},
					// A dead node's pods move after 2 s, not 300.
					Tolerations: []corev1.Toleration{
						{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](2)},
						{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](2)},
					},
					Containers: []corev1.Container{{
						Name: "echo", Image: echoImage,
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 9876}},
						Env:   []corev1.EnvVar{{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
							PeriodSeconds: 1,
						},
						Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 4}}},
					}},
				},
			},
		},
	}
}

// podNodes maps the pods with the label app=name to their nodes.
func podNodes(t *testing.T, client kubernetes.Interface, selector string) map[string]string {
	t.Helper()
	pods, err := client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range pods.Items {
		out[p.Name] = p.Spec.NodeName
	}
	return out
}

// TestMultiNodeCluster is issue 6's walkthrough on a cluster of three
// network namespaces made by `skiff up`'s code: pods across nodes,
// NodePort and LoadBalancer Services from outside, a rolling update that
// loses no request, cluster DNS from pods, StatefulSet names, endpoint
// propagation to every node's proxy, and a node that dies.
func TestMultiNodeCluster(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	core := c.client.CoreV1()

	// The walkthrough: 3 echo replicas over the 3 nodes behind a NodePort.
	if _, err := c.client.AppsV1().Deployments("default").Create(ctx, echoDeployment("echo", 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "echo"}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "echo"},
		Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
	}}
	svc, err := core.Services("default").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nodePort := svc.Spec.Ports[0].NodePort
	c.kubectl(t, "rollout", "status", "deployment/echo", "--timeout=3m")
	placement := podNodes(t, c.client, "app=echo")
	nodesUsed := map[string]bool{}
	for _, n := range placement {
		nodesUsed[n] = true
	}
	if len(nodesUsed) != 3 {
		t.Fatalf("echo pods on %d nodes, want 3: %v", len(nodesUsed), placement)
	}
	for _, n := range c.Nodes {
		// The endpoints reach each node's proxy a moment after the
		// rollout is complete.
		waitFor(t, "the NodePort on "+n.Name, 30*time.Second, func() bool {
			_, err := getInfo(fmt.Sprintf("http://%s:%d/info", n.IP, nodePort))
			return err == nil
		})
		seen := map[string]bool{}
		for i := 0; i < 100 && len(seen) < 3; i++ {
			info, err := getInfo(fmt.Sprintf("http://%s:%d/info", n.IP, nodePort))
			if err != nil {
				t.Fatalf("NodePort on %s: %v", n.Name, err)
			}
			seen[info.Pod] = true
		}
		if len(seen) != 3 {
			t.Fatalf("NodePort on %s answered from %v, want all 3 pods", n.Name, seen)
		}
		t.Logf("http://%s:%d/info answered from all 3 pods", n.IP, nodePort)
	}

	// The node's components and the node controller report on the Node:
	// kubectl describe node shows their events.
	for _, n := range c.Nodes {
		out := c.kubectl(t, "describe", "node", n.Name)
		for _, want := range []string{"Starting kubelet.", "Starting the service proxy.", "status is now: NodeReady", "Registered Node " + n.Name + " in Controller"} {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl describe node %s shows no event %q:\n%s", n.Name, want, out)
			}
		}
	}

	t.Run("pod network and DNS", func(t *testing.T) { testPodNetworkAndDNS(t, c) })
	t.Run("StatefulSet DNS", func(t *testing.T) { testStatefulSetDNS(t, c) })
	t.Run("endpoint propagation", func(t *testing.T) { testEndpointPropagation(t, c) })
	t.Run("LoadBalancer", func(t *testing.T) { testLoadBalancer(t, c) })
	t.Run("Ingress", func(t *testing.T) { testIngress(t, c) })
	t.Run("NetworkPolicy", func(t *testing.T) { testNetworkPolicy(t, c) })

	// Scale, set image and undo while a client keeps asking the NodePort
	// of every node in turn: not one request may fail.
	var ok, failed atomic.Int64
	var failMu sync.Mutex
	var failures []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			n := c.Nodes[i%len(c.Nodes)]
			if _, err := getInfo(fmt.Sprintf("http://%s:%d/info", n.IP, nodePort)); err != nil {
				failed.Add(1)
				failMu.Lock()
				failures = append(failures, fmt.Sprintf("%s via %s: %v", time.Now().Format("15:04:05.000"), n.Name, err))
				failMu.Unlock()
			} else {
				ok.Add(1)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	c.kubectl(t, "scale", "deployment/echo", "--replicas=5")
	c.kubectl(t, "rollout", "status", "deployment/echo", "--timeout=3m")
	c.kubectl(t, "set", "image", "deployment/echo", "echo="+echoImage2)
	c.kubectl(t, "rollout", "status", "deployment/echo", "--timeout=3m")
	c.kubectl(t, "rollout", "undo", "deployment/echo")
	c.kubectl(t, "rollout", "status", "deployment/echo", "--timeout=3m")
	close(stop)
	wg.Wait()
	t.Logf("during scale, set image and rollout undo: %d requests answered, %d failed", ok.Load(), failed.Load())
	if failed.Load() > 0 || ok.Load() < 50 {
		t.Fatalf("requests failed during the rolling update (%d ok):\n%s", ok.Load(), strings.Join(failures, "\n"))
	}
	d, err := c.client.AppsV1().Deployments("default").Get(ctx, "echo", metav1.GetOptions{})
	if err != nil || d.Spec.Template.Spec.Containers[0].Image != echoImage {
		t.Fatalf("after undo the image is not %s: %v", echoImage, err)
	}

	t.Run("node failure", func(t *testing.T) { testNodeFailure(t, c, nodePort) })
	t.Run("resume after a reboot", func(t *testing.T) { testResume(t, c, nodePort) })
}

// testResume kills every node and removes what a reboot removes (the
// namespaces, links, bridge, host table and mounts), then runs Up again on
// the same state dir: the same cluster comes back with its workloads.
func testResume(t *testing.T, c *testCluster, nodePort int32) {
	for _, n := range c.Nodes {
		if err := c.KillNode(n); err != nil {
			t.Fatal(err)
		}
	}
	if err := mountinfo.UnmountUnder(c.cfg.Dir); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes {
		run(t, "ip", "netns", "del", n.Netns)
	}
	run(t, "ip", "link", "del", clusterBridge)
	run(t, "nft", "delete", "table", "ip", "skiff-up")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	if _, err := localcluster.Up(ctx, c.cfg); err != nil {
		t.Fatal(err)
	}
	t.Logf("the cluster is back, 3 nodes Ready, %.1fs after Up", time.Since(start).Seconds())
	c.kubectl(t, "rollout", "status", "deployment/echo", "--timeout=3m")
	for _, n := range c.Nodes {
		waitFor(t, "the NodePort on "+n.Name+" after the restart", time.Minute, func() bool {
			_, err := getInfo(fmt.Sprintf("http://%s:%d/info", n.IP, nodePort))
			return err == nil
		})
	}
	t.Logf("deployment echo available again and its NodePort answers on every node")
}

// clientPod starts a busybox pod on node and waits for it to run.
func (c *testCluster) clientPod(t *testing.T, name, node string) {
	t.Helper()
	p := busyboxPod(name, corev1.RestartPolicyAlways, "sleep 3600")
	p.Spec.NodeName = node
	p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
	if _, err := c.client.CoreV1().Pods("default").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.kubectl(t, "wait", "--for=condition=Ready", "pod/"+name, "--timeout=2m")
}

// execIn runs a command in a pod; busybox's wget has no timeout of its
// own that works, so callers wrap it in `timeout`.
func (c *testCluster) execIn(pod string, cmd ...string) (string, error) {
	out, err := exec.Command(c.bin, append([]string{"kubectl", "--kubeconfig", c.Kubeconfig, "exec", pod, "--"}, cmd...)...).CombinedOutput()
	return string(out), err
}

func testPodNetworkAndDNS(t *testing.T, c *testCluster) {
	nodeA := c.Nodes[0].Name
	c.clientPod(t, "client-a", nodeA)
	placement := podNodes(t, c.client, "app=echo")
	for _, url := range []string{"http://echo.default.svc.cluster.local/info", "http://echo/info"} {
		fromNodes := map[string]bool{}
		for i := 0; i < 60 && len(fromNodes) < 3; i++ {
			out, err := c.execIn("client-a", "timeout", "5", "wget", "-qO-", url)
			if err != nil {
				t.Fatalf("wget %s from %s: %v\n%s", url, nodeA, err, out)
			}
			var info echoInfo
			if err := json.Unmarshal([]byte(out), &info); err != nil {
				t.Fatalf("wget %s: %q: %v", url, out, err)
			}
			fromNodes[placement[info.Pod]] = true
		}
		if len(fromNodes) != 3 {
			t.Fatalf("%s from a pod on %s reached pods on %v, want all 3 nodes", url, nodeA, fromNodes)
		}
		t.Logf("%s from a pod on %s reached pods on nodes %v", url, nodeA, keys(fromNodes))
	}
	// A pod on another node, by its IP: no NAT between pods.
	client, err := c.client.CoreV1().Pods("default").Get(context.Background(), "client-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pods, err := c.client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "app=echo"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName == nodeA {
			continue
		}
		out, err := c.execIn("client-a", "timeout", "5", "wget", "-qO-", fmt.Sprintf("http://%s:9876/info", p.Status.PodIP))
		if err != nil {
			t.Fatalf("pod %s (%s on %s) by IP: %v\n%s", p.Name, p.Status.PodIP, p.Spec.NodeName, err, out)
		}
		var info echoInfo
		if err := json.Unmarshal([]byte(out), &info); err != nil {
			t.Fatal(err)
		}
		host, _, _ := net.SplitHostPort(info.RemoteAddr)
		if info.Pod != p.Name || host != client.Status.PodIP {
			t.Fatalf("pod %s by IP answered %+v; want itself, seeing the client's pod IP %s", p.Name, info, client.Status.PodIP)
		}
		t.Logf("pod %s on %s answered a pod on %s directly; it saw the client's own address %s", p.Name, p.Spec.NodeName, nodeA, host)
		break
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func testStatefulSetDNS(t *testing.T, c *testCluster) {
	ctx := context.Background()
	labels := map[string]string{"app": "web"}
	headless := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{
		ClusterIP: corev1.ClusterIPNone, Selector: labels,
		Ports: []corev1.ServicePort{{Name: "http", Port: 9876}},
	}}
	if _, err := c.client.CoreV1().Services("default").Create(ctx, headless, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.StatefulSetSpec{
		Replicas: ptr.To[int32](2), ServiceName: "web", Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{{Name: "echo", Image: echoImage, Env: []corev1.EnvVar{{Name: "POD_NAME",
				ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}},
		}},
	}}
	if _, err := c.client.AppsV1().StatefulSets("default").Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.kubectl(t, "rollout", "status", "statefulset/web", "--timeout=3m")
	// busybox's nslookup tries the search domains only for names without
	// a dot, so it is given the full name; the short name web-0.web goes
	// through the C library's resolver (search domains, ndots:5) in wget.
	lookup := func(wantIP string) {
		t.Helper()
		var out, fetched string
		waitFor(t, "web-0.web resolving to "+wantIP, time.Minute, func() bool {
			var err error
			out, err = c.execIn("client-a", "nslookup", "web-0.web.default.svc.cluster.local")
			if err != nil || !strings.Contains(out, "Address: "+wantIP) {
				return false
			}
			fetched, err = c.execIn("client-a", "timeout", "5", "wget", "-qO-", "http://web-0.web:9876/info")
			var info echoInfo
			return err == nil && json.Unmarshal([]byte(fetched), &info) == nil && info.Pod == "web-0" && strings.Contains(fetched, wantIP)
		})
		t.Logf("nslookup web-0.web.default.svc.cluster.local:\n%s\nwget http://web-0.web:9876/info: %s", strings.TrimSpace(out), strings.TrimSpace(fetched))
	}
	ip0 := func() string {
		p, err := c.client.CoreV1().Pods("default").Get(ctx, "web-0", metav1.GetOptions{})
		if err != nil {
			return ""
		}
		return p.Status.PodIP
	}
	first := ip0()
	lookup(first)
	if err := c.client.CoreV1().Pods("default").Delete(ctx, "web-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web-0 re-created with a new IP", 2*time.Minute, func() bool {
		ip := ip0()
		return ip != "" && ip != first
	})
	c.kubectl(t, "wait", "--for=condition=Ready", "pod/web-0", "--timeout=2m")
	lookup(ip0())
}

// testEndpointPropagation measures how long after a pod becomes ready its
// address is in the service rules of every node.
func testEndpointPropagation(t *testing.T, c *testCluster) {
	ctx := context.Background()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "prop"}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "prop"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(9876)}},
	}}
	if _, err := c.client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "prop", Labels: map[string]string{"app": "prop"}}, Spec: corev1.PodSpec{
		NodeName: c.Nodes[1].Name, TerminationGracePeriodSeconds: ptr.To[int64](1),
		Containers: []corev1.Container{{Name: "echo", Image: echoImage, Env: []corev1.EnvVar{{Name: "POD_NAME", Value: "prop"}}, ReadinessProbe: &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(9876)}}, PeriodSeconds: 1,
		}}},
	}}
	if _, err := c.client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var ready time.Time
	var ip string
	waitFor(t, "pod prop Ready", 2*time.Minute, func() bool {
		p, err := c.client.CoreV1().Pods("default").Get(ctx, "prop", metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				ready, ip = time.Now(), p.Status.PodIP
				return true
			}
		}
		return false
	})
	var lags []string
	for _, n := range c.Nodes {
		waitFor(t, "the pod's address in "+n.Name+"'s proxy rules", 30*time.Second, func() bool {
			out, _ := exec.Command("nsenter", "--net=/run/netns/"+n.Netns, "nft", "list", "table", "ip", "skiff-proxy").Output()
			return strings.Contains(string(out), ip+" ") || strings.Contains(string(out), ip+":")
		})
		lags = append(lags, fmt.Sprintf("%s %.0f ms", n.Name, float64(time.Since(ready).Microseconds())/1000))
	}
	// Observed from the test's own Ready poll (every 100 ms), so each lag
	// is at most that much too short or long.
	t.Logf("pod Ready → its endpoint in the proxy rules of each node: %s", strings.Join(lags, ", "))
}

func testLoadBalancer(t *testing.T, c *testCluster) {
	ctx := context.Background()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "echo-lb"}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "echo"},
		Ports: []corev1.ServicePort{{Port: 8080, TargetPort: intstr.FromString("http")}},
	}}
	if _, err := c.client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var ips []string
	for _, n := range c.Nodes {
		ips = append(ips, n.IP)
	}
	want := strings.Join(ips, ",")
	var out string
	waitFor(t, "EXTERNAL-IP "+want, time.Minute, func() bool {
		o, err := exec.Command(c.bin, "kubectl", "--kubeconfig", c.Kubeconfig, "get", "svc", "echo-lb").CombinedOutput()
		out = string(o)
		return err == nil && strings.Contains(out, want)
	})
	t.Logf("kubectl get svc echo-lb:\n%s", strings.TrimSpace(out))
	// The status reaches each node's proxy a moment after it is written.
	for _, ip := range ips {
		waitFor(t, "the LoadBalancer answering on "+ip+":8080", 30*time.Second, func() bool {
			_, err := getInfo(fmt.Sprintf("http://%s:8080/info", ip))
			return err == nil
		})
	}
	t.Logf("the LoadBalancer answers on port 8080 of %s", want)
}

// testNodeFailure kills the last node: its echo pods come back on the
// others and the NodePort keeps answering there.
func testNodeFailure(t *testing.T, c *testCluster, nodePort int32) {
	ctx := context.Background()
	dead := c.Nodes[2]
	if err := c.KillNode(dead); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	waitFor(t, "5 ready echo pods, none on the dead node", 3*time.Minute, func() bool {
		pods, err := c.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=echo"})
		if err != nil {
			return false
		}
		ready := 0
		for _, p := range pods.Items {
			if p.Spec.NodeName == dead.Name || p.DeletionTimestamp != nil {
				continue
			}
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == 5
	})
	t.Logf("5 echo pods ready on the remaining nodes %.1fs after %s was killed", time.Since(killed).Seconds(), dead.Name)
	for _, n := range c.Nodes[:2] {
		for i := 0; i < 20; i++ {
			if _, err := getInfo(fmt.Sprintf("http://%s:%d/info", n.IP, nodePort)); err != nil {
				t.Fatalf("NodePort on %s after the node failure: %v", n.Name, err)
			}
		}
	}
}

// testIngress routes two hosts with path rules to two Services through
// the built-in router on port 80 of a node, and over HTTPS with a TLS
// Secret chosen by SNI.
func testIngress(t *testing.T, c *testCluster) {
	ctx := context.Background()
	certPEM, keyPEM := selfSigned(t, "a.example.com")
	if _, err := c.client.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "a-tls"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	prefix, exact := networkingv1.PathTypePrefix, networkingv1.PathTypeExact
	backend := func(svc string) networkingv1.IngressBackend {
		return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: 80}}}
	}
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "sites"}, Spec: networkingv1.IngressSpec{
		TLS: []networkingv1.IngressTLS{{Hosts: []string{"a.example.com"}, SecretName: "a-tls"}},
		Rules: []networkingv1.IngressRule{
			{Host: "a.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
				{Path: "/", PathType: &prefix, Backend: backend("echo")},
			}}}},
			{Host: "b.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
				{Path: "/info", PathType: &exact, Backend: backend("prop")},
			}}}},
		},
	}}
	if _, err := c.client.NetworkingV1().Ingresses("default").Create(ctx, ing, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Every node's router takes the Ingress in and says so, as
	// ingress-nginx's controllers do.
	waitFor(t, "a Sync event on the Ingress from every node", 30*time.Second, func() bool {
		out := c.kubectl(t, "describe", "ingress", "sites")
		return strings.Count(out, "Scheduled for sync") == len(c.Nodes)
	})
	node := c.Nodes[1]
	get := func(client *http.Client, url, host string) (int, echoInfo, error) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return 0, echoInfo{}, err
		}
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			return 0, echoInfo{}, err
		}
		defer resp.Body.Close()
		var info echoInfo
		body, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(body, &info)
		return resp.StatusCode, info, nil
	}
	plain := "http://" + node.IP + "/info"
	waitFor(t, "the Ingress routing b.example.com", 30*time.Second, func() bool {
		code, info, err := get(noKeepAlive, plain, "b.example.com")
		return err == nil && code == http.StatusOK && info.Pod == "prop"
	})
	// a.example.com has TLS: plain HTTP is redirected, as ingress-nginx does.
	noRedirect := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	code, _, err := get(noRedirect, plain, "a.example.com")
	if err != nil || code != http.StatusPermanentRedirect {
		t.Fatalf("a.example.com/info over HTTP: %d %v, want 308 to HTTPS", code, err)
	}
	if code, _, err := get(noKeepAlive, "http://"+node.IP+"/healthz", "b.example.com"); err != nil || code != http.StatusNotFound {
		t.Fatalf("b.example.com/healthz (no rule): %d %v, want 404", code, err)
	}
	t.Logf("http://%s/info: Host b.example.com → prop, Host a.example.com → 308 to HTTPS; b.example.com/healthz → 404", node.IP)

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	tlsClient := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "a.example.com"}}}
	code, info, err := get(tlsClient, "https://"+node.IP+"/info", "a.example.com")
	if err != nil || code != http.StatusOK || !strings.HasPrefix(info.Pod, "echo-") {
		t.Fatalf("https a.example.com/info (verified with the Secret's certificate): %d %+v %v", code, info, err)
	}
	t.Logf("https://%s/info with SNI a.example.com, verified against the Secret's certificate → %s", node.IP, info.Pod)
	waitFor(t, "the Ingress's status with the node addresses", 30*time.Second, func() bool {
		got, err := c.client.NetworkingV1().Ingresses("default").Get(ctx, "sites", metav1.GetOptions{})
		return err == nil && len(got.Status.LoadBalancer.Ingress) == 3
	})
}

// selfSigned makes a certificate and key for host.
func selfSigned(t *testing.T, host string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// testNetworkPolicy: in a namespace of its own, a deny-all ingress policy
// blocks pod-to-pod requests across nodes; an allow rule for a label lets
// exactly the labelled pod through.
func testNetworkPolicy(t *testing.T, c *testCluster) {
	ctx := context.Background()
	const ns = "np"
	if _, err := c.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	server := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "server", Labels: map[string]string{"app": "server"}}, Spec: corev1.PodSpec{
		NodeName: c.Nodes[1].Name, TerminationGracePeriodSeconds: ptr.To[int64](1),
		Containers: []corev1.Container{{Name: "echo", Image: echoImage}},
	}}
	if _, err := c.client.CoreV1().Pods(ns).Create(ctx, server, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []struct{ name, node, label string }{{"granted", c.Nodes[0].Name, "granted"}, {"other", c.Nodes[2].Name, ""}} {
		p := busyboxPod(cl.name, corev1.RestartPolicyAlways, "sleep 3600")
		p.Namespace = ns
		p.Spec.NodeName = cl.node
		p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
		if cl.label != "" {
			p.Labels = map[string]string{"access": cl.label}
		}
		if _, err := c.client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c.kubectl(t, "wait", "-n", ns, "--for=condition=Ready", "pod/server", "pod/granted", "pod/other", "--timeout=2m")
	srv, err := c.client.CoreV1().Pods(ns).Get(ctx, "server", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://%s:9876/info", srv.Status.PodIP)
	reaches := func(from string) bool {
		out, err := exec.Command(c.bin, "kubectl", "--kubeconfig", c.Kubeconfig, "exec", "-n", ns, from, "--",
			"timeout", "3", "wget", "-qO-", url).CombinedOutput()
		return err == nil && strings.Contains(string(out), `"hostname":"server"`)
	}
	expect := func(state string, granted, other bool) {
		t.Helper()
		waitFor(t, fmt.Sprintf("%s: granted reaches the server %v, other %v", state, granted, other), time.Minute, func() bool {
			return reaches("granted") == granted && reaches("other") == other
		})
		t.Logf("%s: pod granted (on %s) reaches the server (on %s): %v; pod other (on %s): %v", state, c.Nodes[0].Name, c.Nodes[1].Name, granted, c.Nodes[2].Name, other)
	}
	expect("no policy", true, true)
	deny := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny-all"}, Spec: networkingv1.NetworkPolicySpec{
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
	}}
	if _, err := c.client.NetworkingV1().NetworkPolicies(ns).Create(ctx, deny, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("deny-all ingress", false, false)
	allow := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "allow-granted"}, Spec: networkingv1.NetworkPolicySpec{
		PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "server"}},
		Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{
			PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"access": "granted"}},
		}}}},
	}}
	if _, err := c.client.NetworkingV1().NetworkPolicies(ns).Create(ctx, allow, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("deny-all plus allow access=granted", true, false)
}
