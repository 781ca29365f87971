package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAgentAgainstFakeCRI drives the whole pod lifecycle against the
// cri-api fake runtime: node registration, CNI config on the pod CIDR,
// sandbox and container creation, status, a restart after the container
// exits, and termination of a pod being deleted.
func TestAgentAgainstFakeCRI(t *testing.T) {
	cri, endpoint := startFakeCRI(t)
	client := fake.NewClientset()
	dir := t.TempDir()
	a := New(client, Config{
		NodeName: "n1", DataDir: dir, PodLogsDir: filepath.Join(dir, "pods"), RuntimeEndpoint: endpoint, NodeIP: "10.0.0.5",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	var node *corev1.Node
	waitFor(t, "node registered Ready", func() bool {
		n, err := client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		if err != nil || len(n.Status.Conditions) == 0 {
			return false
		}
		node = n
		return true
	})
	if node.Status.NodeInfo.ContainerRuntimeVersion != "fakeRuntime://0.1.0" || node.Status.Capacity.Pods().Value() != maxPods {
		t.Errorf("node status: %+v", node.Status)
	}
	waitFor(t, "lease", func() bool {
		_, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "n1", metav1.GetOptions{})
		return err == nil
	})

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-1"},
		Spec: corev1.PodSpec{NodeName: "n1", RestartPolicy: corev1.RestartPolicyAlways, Containers: []corev1.Container{{
			Name: "c", Image: "example/img:1", Command: []string{"sh"}, Args: []string{"-c", "x"},
			Env: []corev1.EnvVar{{Name: "A", Value: "b"}}, Ports: []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}},
		}}},
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// No pod CIDR yet: the pod waits, nothing is created.
	time.Sleep(300 * time.Millisecond)
	if calls := strings.Join(cri.rt.GetCalls(), ","); strings.Contains(calls, "RunPodSandbox") {
		t.Fatalf("sandbox created before the node had a pod CIDR: %s", calls)
	}
	node, _ = client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	node.Spec.PodCIDR = "10.42.3.0/24"
	if _, err := client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	get := func() *corev1.Pod {
		p, err := client.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
		if err != nil {
			return &corev1.Pod{}
		}
		return p
	}
	waitFor(t, "pod Running", func() bool {
		p := get()
		return p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].Ready
	})
	p := get()
	if p.Status.PodIP == "" || p.Status.HostIP != "10.0.0.5" || p.Status.StartTime == nil {
		t.Errorf("pod status: %+v", p.Status)
	}
	conf, err := os.ReadFile(filepath.Join(dir, "cni", "net.d", "10-skiff.conflist"))
	if err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Plugins []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(conf, &parsed); err != nil || len(parsed.Plugins) != 2 || parsed.Plugins[0]["bridge"] != "skiff0" || !strings.Contains(string(conf), "10.42.3.0/24") {
		t.Errorf("CNI config: %s %v", conf, err)
	}

	// The sandbox and container got what the pod asked for.
	sbs, _ := cri.rt.ListPodSandbox(ctx, nil)
	if len(sbs) != 1 || sbs[0].Labels[labelPodUID] != "uid-1" {
		t.Fatalf("sandboxes: %v", sbs)
	}
	cs, _ := cri.rt.ListContainers(ctx, nil)
	if len(cs) != 1 {
		t.Fatalf("containers: %v", cs)
	}
	id := cs[0].Id
	cri.rt.Lock()
	fc := cri.rt.Containers[id]
	image, name := fc.GetImage().GetImage(), fc.Metadata.GetName()
	cri.rt.Unlock()
	if image != "example/img:1" || name != "c" {
		t.Errorf("container image %q name %q", image, name)
	}

	// The container exits: it is restarted (attempt 1), restartCount 1.
	cri.exit(id, 2)
	waitFor(t, "container restarted", func() bool {
		p := get()
		if len(p.Status.ContainerStatuses) != 1 {
			return false
		}
		s := p.Status.ContainerStatuses[0]
		return s.RestartCount == 1 && s.State.Running != nil && s.LastTerminationState.Terminated != nil && s.LastTerminationState.Terminated.ExitCode == 2
	})
	// It exits again within the back-off: CrashLoopBackOff.
	cs, _ = cri.rt.ListContainers(ctx, &runtimeapi.ContainerFilter{State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}})
	if len(cs) != 1 {
		t.Fatalf("running containers: %v", cs)
	}
	cri.exit(cs[0].Id, 1)
	waitFor(t, "CrashLoopBackOff", func() bool {
		p := get()
		if len(p.Status.ContainerStatuses) != 1 {
			return false
		}
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == "CrashLoopBackOff" && strings.Contains(w.Message, "back-off 10s")
	})

	// Deletion: the API server marks the pod; the agent stops everything
	// and confirms with a delete of grace 0.
	p = get()
	now := metav1.Now()
	p.DeletionTimestamp = &now
	p.DeletionGracePeriodSeconds = new(int64)
	if _, err := client.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pod deleted", func() bool {
		_, err := client.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	if sbs, _ := cri.rt.ListPodSandbox(ctx, nil); len(sbs) != 0 {
		t.Errorf("sandboxes left: %v", sbs)
	}
}

func TestPodPhase(t *testing.T) {
	running := corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	exited := func(code int32) corev1.ContainerStatus {
		return corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
	}
	backoff := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}
	creating := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
	for _, tc := range []struct {
		name     string
		policy   corev1.RestartPolicy
		statuses []corev1.ContainerStatus
		want     corev1.PodPhase
	}{
		{"creating", corev1.RestartPolicyAlways, []corev1.ContainerStatus{creating}, corev1.PodPending},
		{"one running one creating", corev1.RestartPolicyAlways, []corev1.ContainerStatus{running, creating}, corev1.PodPending},
		{"running", corev1.RestartPolicyAlways, []corev1.ContainerStatus{running}, corev1.PodRunning},
		{"crash loop", corev1.RestartPolicyAlways, []corev1.ContainerStatus{backoff}, corev1.PodRunning},
		{"never, success", corev1.RestartPolicyNever, []corev1.ContainerStatus{exited(0), exited(0)}, corev1.PodSucceeded},
		{"never, failure", corev1.RestartPolicyNever, []corev1.ContainerStatus{exited(0), exited(3)}, corev1.PodFailed},
		{"onfailure, success", corev1.RestartPolicyOnFailure, []corev1.ContainerStatus{exited(0)}, corev1.PodSucceeded},
		{"onfailure, failed and waiting", corev1.RestartPolicyOnFailure, []corev1.ContainerStatus{backoff}, corev1.PodRunning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: tc.policy}}
			if got := podPhase(pod, tc.statuses); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestShouldRestart(t *testing.T) {
	for _, tc := range []struct {
		policy corev1.RestartPolicy
		code   int32
		want   bool
	}{
		{corev1.RestartPolicyAlways, 0, true},
		{corev1.RestartPolicyAlways, 1, true},
		{corev1.RestartPolicyOnFailure, 0, false},
		{corev1.RestartPolicyOnFailure, 1, true},
		{corev1.RestartPolicyNever, 1, false},
	} {
		if got := shouldRestart(tc.policy, tc.code); got != tc.want {
			t.Errorf("shouldRestart(%s, %d) = %v", tc.policy, tc.code, got)
		}
	}
}

// An image that cannot be pulled: ErrImagePull with the runtime's message,
// then ImagePullBackOff while the back-off lasts.
func TestImagePullErrors(t *testing.T) {
	cri, endpoint := startFakeCRI(t)
	cri.img.InjectError("PullImage", errors.New("registry unreachable"))
	client := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{PodCIDR: "10.42.1.0/24"}})
	dir := t.TempDir()
	a := New(client, Config{NodeName: "n1", DataDir: dir, PodLogsDir: filepath.Join(dir, "pods"), RuntimeEndpoint: endpoint, NodeIP: "10.0.0.5",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-2"},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "example/missing:1", ImagePullPolicy: corev1.PullIfNotPresent}}},
	}
	// Every status the agent writes is seen through a watch: ErrImagePull
	// may last less than any polling interval.
	w, err := client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	deadline := time.After(20 * time.Second)
	for seen["ErrImagePull"] == "" || seen["ImagePullBackOff"] == "" {
		select {
		case ev := <-w.ResultChan():
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Waiting == nil {
				continue
			}
			wt := p.Status.ContainerStatuses[0].State.Waiting
			seen[wt.Reason] = wt.Message
		case <-deadline:
			t.Fatalf("timed out waiting for ErrImagePull then ImagePullBackOff; saw %v", seen)
		}
	}
	if !strings.Contains(seen["ErrImagePull"], "registry unreachable") {
		t.Errorf("ErrImagePull message %q lacks the runtime's error", seen["ErrImagePull"])
	}
	if p, _ := client.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{}); p.Status.Phase != corev1.PodPending {
		t.Errorf("phase %s, want Pending", p.Status.Phase)
	}
}
