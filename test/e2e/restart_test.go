package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"skiff/internal/agent/images"
)

func busyboxPod(name string, policy corev1.RestartPolicy, script string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			RestartPolicy:                 policy,
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers:                    []corev1.Container{{Name: "c", Image: images.BusyboxImage, Command: []string{"sh", "-c", script}}},
		},
	}
}

// TestAgentRestartPoliciesAndAdoption covers restartPolicy Always (an
// exited container is restarted, restartCount grows, lastState keeps the
// exit) and Never (the pod ends Failed with the exit code), imagePullPolicy
// Never with an absent image, and an agent restart (with its containerd)
// that adopts the running pod: same container, same IP, no restart.
func TestAgentRestartPoliciesAndAdoption(t *testing.T) {
	requireHost(t)
	n := startNode(t, true)
	n.waitReady(t)
	ctx := context.Background()
	pods := n.client.CoreV1().Pods("default")

	absent := busyboxPod("absent", corev1.RestartPolicyAlways, "true")
	absent.Spec.Containers[0].Image = "docker.io/skiff/absent:1"
	absent.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
	for _, p := range []*corev1.Pod{
		busyboxPod("sleeper", corev1.RestartPolicyAlways, "sleep 3600"),
		busyboxPod("crasher", corev1.RestartPolicyAlways, "exit 1"),
		busyboxPod("once", corev1.RestartPolicyNever, "exit 3"),
		absent,
	} {
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(name string) *corev1.Pod {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return &corev1.Pod{}
		}
		return p
	}
	status := func(p *corev1.Pod) corev1.ContainerStatus {
		if len(p.Status.ContainerStatuses) == 0 {
			return corev1.ContainerStatus{}
		}
		return p.Status.ContainerStatuses[0]
	}
	waitFor(t, "sleeper Running", 2*time.Minute, func() bool {
		p := get("sleeper")
		return p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && status(p).Ready
	})
	waitFor(t, "once Failed with exit code 3", 2*time.Minute, func() bool {
		p := get("once")
		cs := status(p)
		return p.Status.Phase == corev1.PodFailed && cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 3 && cs.RestartCount == 0
	})
	waitFor(t, "absent image: ErrImageNeverPull", time.Minute, func() bool {
		cs := status(get("absent"))
		return cs.State.Waiting != nil && cs.State.Waiting.Reason == "ErrImageNeverPull"
	})
	waitFor(t, "crasher restarted, then in CrashLoopBackOff", 2*time.Minute, func() bool {
		cs := status(get("crasher"))
		return cs.RestartCount >= 1 && cs.LastTerminationState.Terminated != nil && cs.LastTerminationState.Terminated.ExitCode == 1 &&
			cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff"
	})

	before := get("sleeper")
	beforeCS := status(before)
	n.stopAgent(t)
	// The container outlives the agent and its containerd.
	id := strings.TrimPrefix(beforeCS.ContainerID, "containerd://")
	n.startAgent(t)
	waitFor(t, "the runtime back with the container still running", 2*time.Minute, func() bool {
		st, err := n.runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
		return err == nil && st.Status.State == runtimeapi.ContainerState_CONTAINER_RUNNING
	})
	// Let the new agent sync every pod once, then compare.
	waitFor(t, "node status posted by the new agent", time.Minute, func() bool {
		nd, err := n.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, c := range nd.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue && c.LastHeartbeatTime.After(beforeCS.State.Running.StartedAt.Time) {
				return true
			}
		}
		return false
	})
	sbs, err := n.runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"io.kubernetes.pod.uid": string(before.UID)}}})
	if err != nil || len(sbs.Items) != 1 || sbs.Items[0].State != runtimeapi.PodSandboxState_SANDBOX_READY {
		t.Fatalf("sleeper sandboxes after the agent restart: %v %v", sbs, err)
	}
	// The crasher keeps being handled by the new agent.
	crashes := status(get("crasher")).RestartCount
	waitFor(t, "crasher restarted by the new agent", 2*time.Minute, func() bool {
		return status(get("crasher")).RestartCount > crashes
	})
	after := get("sleeper")
	afterCS := status(after)
	if afterCS.ContainerID != beforeCS.ContainerID || afterCS.RestartCount != 0 || after.Status.PodIP != before.Status.PodIP || after.Status.Phase != corev1.PodRunning || !afterCS.Ready {
		t.Errorf("sleeper changed across the agent restart:\nbefore %s %s %+v\nafter  %s %s %+v", before.Status.Phase, before.Status.PodIP, beforeCS, after.Status.Phase, after.Status.PodIP, afterCS)
	}

	for _, name := range []string{"sleeper", "crasher", "once", "absent"} {
		if err := pods.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "all pods gone", 2*time.Minute, func() bool {
		l, err := pods.List(ctx, metav1.ListOptions{})
		return err == nil && len(l.Items) == 0
	})
	waitFor(t, "all sandboxes gone", time.Minute, func() bool {
		l, err := n.runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
		return err == nil && len(l.Items) == 0
	})
}
