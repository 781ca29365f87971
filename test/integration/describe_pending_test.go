package integration

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

var (
	describeStatusPending    = regexp.MustCompile(`(?m)^Status:\s+Pending$`)
	describeFailedScheduling = regexp.MustCompile(`(?m)^\s+Warning\s+FailedScheduling\s+\S+\s+default-scheduler\s+0/3 nodes are available: `)
	describeNotScheduled     = regexp.MustCompile(`(?m)^\s+PodScheduled\s+False\s*$`)
)

// Pods that fit no node stay Pending, and `kubectl describe pod` says why
// in upstream's words, per group of nodes.
func TestDescribeUnschedulablePods(t *testing.T) {
	ts := startServer(t)
	c := ts.Client
	ns := "default"
	schedNode(t, c, "small-a", "1", map[string]string{"disk": "hdd"})
	schedNode(t, c, "small-b", "1", map[string]string{"disk": "hdd"})
	schedNode(t, c, "tainted", "8", map[string]string{"disk": "ssd"}, corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule})

	schedPod(t, c, ns, "too-much-cpu", "4")
	schedPod(t, c, ns, "no-such-label", "100m", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "nvme"} })
	schedPod(t, c, ns, "tolerates-but-big", "16", func(p *corev1.Pod) {
		p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "db", Effect: corev1.TaintEffectNoSchedule})
	})

	for _, tc := range []struct{ pod, want string }{
		{"too-much-cpu", "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 2 Insufficient cpu."},
		// Taints are looked at before node selectors, as upstream.
		{"no-such-label", "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 2 node(s) didn't match Pod's node affinity/selector."},
		{"tolerates-but-big", "0/3 nodes are available: 3 Insufficient cpu."},
	} {
		var out string
		deadline := time.Now().Add(30 * time.Second)
		for {
			b, err := exec.CommandContext(context.Background(), skiffBin(t), "kubectl", "--kubeconfig", ts.Kubeconfig, "-n", ns, "describe", "pod", tc.pod).CombinedOutput()
			out = string(b)
			if err == nil && strings.Contains(out, tc.want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("kubectl describe pod %s never showed %q:\n%s", tc.pod, tc.want, out)
			}
			time.Sleep(200 * time.Millisecond)
		}
		for _, re := range []*regexp.Regexp{describeStatusPending, describeFailedScheduling, describeNotScheduled} {
			if !re.MatchString(out) {
				t.Errorf("kubectl describe pod %s does not match %s:\n%s", tc.pod, re, out)
			}
		}
	}
}
