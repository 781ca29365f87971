package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"skiff/internal/agent"
	"skiff/internal/app"
)

// joinNetns is a network namespace standing for a second machine, joined
// to the host by a veth pair: the host end is joinHostIP.
const (
	joinNetns  = "skiff-e2e-join"
	joinHostIP = "10.231.0.1"
	joinNodeIP = "10.231.0.2"
)

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// makeMachine creates the namespace and its link; the cleanup deletes
// both (the veth goes with the namespace). Processes of the "machine" run
// under nsenter --net, not `ip netns exec`, which would mount a sysfs
// without the cgroup hierarchy runc needs.
func makeMachine(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/run/netns/" + joinNetns); err == nil {
		t.Skipf("e2e: network namespace %s exists already; not touching it", joinNetns)
	}
	run(t, "ip", "netns", "add", joinNetns)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", joinNetns).CombinedOutput(); err != nil {
			t.Logf("cleanup: deleting netns: %v: %s", err, out)
		}
		_ = exec.Command("ip", "link", "del", "skj0").Run()
	})
	run(t, "ip", "link", "add", "skj0", "type", "veth", "peer", "name", "eth0", "netns", joinNetns)
	run(t, "ip", "addr", "add", joinHostIP+"/24", "dev", "skj0")
	run(t, "ip", "link", "set", "skj0", "up")
	for _, args := range [][]string{
		{"addr", "add", joinNodeIP + "/24", "dev", "eth0"},
		{"link", "set", "eth0", "up"},
		{"link", "set", "lo", "up"},
		{"route", "add", "default", "via", joinHostIP},
	} {
		run(t, "ip", append([]string{"-n", joinNetns}, args...)...)
	}
}

// TestAgentJoinsWithToken is Done-when 8 of the node agent: a second
// machine (a network namespace) joins with `skiff agent --server ...
// --token ...` and becomes Ready and runs a pod; a wrong token is refused
// with a clear message; with its own credentials the joined node cannot
// read a Secret of a pod that is not bound to it.
func TestAgentJoinsWithToken(t *testing.T) {
	requireHost(t)
	bin := skiffBin(t)
	makeMachine(t)
	n := startNode(t, false, func(c *app.ServerConfig) { c.BindAddress, c.AdvertiseAddress = "0.0.0.0", joinHostIP })
	n.waitReady(t)
	ctx := context.Background()
	tokenData, err := os.ReadFile(app.TokenFile(filepath.Join(n.dir, "server")))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tokenData))
	srvCfg, err := os.ReadFile(filepath.Join(n.dir, "kubeconfig.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	port := ""
	for _, l := range strings.Split(string(srvCfg), "\n") {
		if i := strings.Index(l, "https://127.0.0.1:"); i >= 0 {
			port = strings.TrimSpace(l[i+len("https://127.0.0.1:"):])
		}
	}
	server := fmt.Sprintf("https://%s:%s", joinHostIP, port)

	// A wrong token: refused at once, with a message saying so.
	bad := exec.Command("nsenter", "--net=/run/netns/"+joinNetns, bin, "agent", "--server", server, "--token", "abcdef.0123456789abcdef",
		"--agent-data-dir", filepath.Join(n.dir, "intruder"), "--node-name", "intruder")
	out, err := bad.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "the join token was refused") {
		t.Fatalf("wrong token: err %v, output:\n%s", err, out)
	}
	t.Logf("wrong token refused: %s", lastLine(out))

	// The second machine joins.
	base := filepath.Join(n.dir, "joiner")
	agentDir := filepath.Join(base, "agent")
	var logBuf bytes.Buffer
	cmd := exec.Command("nsenter", "--net=/run/netns/"+joinNetns, bin, "agent", "--server", server, "--token", token,
		"--agent-data-dir", agentDir, "--pod-logs-dir", filepath.Join(base, "pods"), "--node-name", "e2e-joiner")
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if rt, err := agent.DialRuntime(filepath.Join(agentDir, "containerd", "containerd.sock")); err == nil {
			removeSandboxes(t, rt)
			rt.Close()
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		cleanupHost(t, base)
		if t.Failed() {
			t.Logf("joined agent output:\n%s", logBuf.String())
		}
	})
	waitFor(t, "the joined node Ready", 2*time.Minute, func() bool {
		nd, err := n.client.CoreV1().Nodes().Get(ctx, "e2e-joiner", metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, c := range nd.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	})

	core := n.client.CoreV1()
	for _, name := range []string{"joiner-secret", "server-secret"} {
		if _, err := core.Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string][]byte{"v": []byte(name)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	withSecret := func(name, nodeName, secret string) *corev1.Pod {
		p := busyboxPod(name, corev1.RestartPolicyAlways, "echo $V; sleep 3600")
		p.Spec.NodeName = nodeName
		p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "V", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: "v"}}}}
		p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
		return p
	}
	for _, p := range []*corev1.Pod{withSecret("on-joiner", "e2e-joiner", "joiner-secret"), withSecret("on-server", n.name, "server-secret")} {
		if _, err := core.Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the pod on the joined node Running with an IP", 2*time.Minute, func() bool {
		p, err := core.Pods("default").Get(ctx, "on-joiner", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && p.Status.HostIP == joinNodeIP
	})

	// The joined node's own credentials, as `kubectl` sees them.
	nodeKubeconfig := filepath.Join(agentDir, "kubelet.kubeconfig")
	kubectlAsNode := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append([]string{"kubectl", "--kubeconfig", nodeKubeconfig}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := kubectlAsNode("get", "secret", "joiner-secret", "-o", "jsonpath={.data.v}"); err != nil {
		t.Errorf("the node reading the secret of its own pod: %v\n%s", err, out)
	}
	out2, err := kubectlAsNode("get", "secret", "server-secret")
	if err == nil || !strings.Contains(out2, `secrets "server-secret" is forbidden: User "system:node:e2e-joiner" cannot get resource "secrets"`) {
		t.Errorf("the node reading another node's pod's secret: err %v\n%s", err, out2)
	}
	t.Logf("other node's secret: %s", lastLine([]byte(out2)))
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}
