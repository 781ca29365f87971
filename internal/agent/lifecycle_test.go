package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

// runFakeAgent runs an agent against a fake CRI on a node that has a pod
// CIDR; the returned wait ends the agent and says whether Run returned.
func runFakeAgent(t *testing.T) (*Agent, *fakeCRI, kubernetes.Interface, context.Context) {
	t.Helper()
	cri, endpoint := startFakeCRI(t)
	client := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{PodCIDR: "10.42.1.0/24"}})
	statusSubresource(client)
	dir := t.TempDir()
	a := New(client, Config{NodeName: "n1", DataDir: dir, PodLogsDir: filepath.Join(dir, "pods"), RuntimeEndpoint: endpoint, NodeIP: "10.0.0.5",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		// Run waited for the prober workers and background kills.
		if n := a.lc.probes.count(); n != 0 {
			t.Errorf("%d prober workers left after Run returned", n)
		}
	})
	return a, cri, client, ctx
}

// statusSubresource makes the fake client's pod status updates write only
// the status, as the API server does (by default they replace the whole
// object, which can undo a test's deletion with the agent's older copy).
func statusSubresource(client *fake.Clientset) {
	gvr := corev1.SchemeGroupVersion.WithResource("pods")
	client.PrependReactor("update", "pods", func(action clienttesting.Action) (bool, runtime.Object, error) {
		ua, ok := action.(clienttesting.UpdateAction)
		if !ok || ua.GetSubresource() != "status" {
			return false, nil, nil
		}
		in := ua.GetObject().(*corev1.Pod)
		cur, err := client.Tracker().Get(gvr, in.Namespace, in.Name)
		if err != nil {
			return true, nil, err
		}
		p := cur.(*corev1.Pod).DeepCopy()
		p.Status = in.Status
		return true, p, client.Tracker().Update(gvr, p, in.Namespace)
	})
}

func hasEvent(ctx context.Context, client kubernetes.Interface, reason, msg string) bool {
	evs, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		return false
	}
	for _, e := range evs.Items {
		if e.Reason == reason && strings.Contains(e.Message, msg) {
			return true
		}
	}
	return false
}

// podReady says whether the API shows the pod Ready.
func podReady(ctx context.Context, client kubernetes.Interface, name string) bool {
	p, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
	return err == nil && condition(p, corev1.PodReady) == corev1.ConditionTrue
}

func condition(p *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

// Probes, hooks and graceful termination against the fake CRI: readiness
// gates Ready, startup gates started, a failing liveness probe restarts
// the container with Unhealthy and Killing events, postStart and preStop
// run, and the workers go away with the pod.
func TestProbesAndHooks(t *testing.T) {
	a, cri, client, ctx := runFakeAgent(t)
	var ready, live, started atomic.Bool
	live.Store(true)
	var mu sync.Mutex
	hooks := map[string]int{}
	cri.setExec(func(_ string, cmd []string) ([]byte, int32, error) {
		ok := true
		switch cmd[0] {
		case "ready":
			ok = ready.Load()
		case "live":
			ok = live.Load()
		case "started":
			ok = started.Load()
		default:
			mu.Lock()
			hooks[cmd[0]]++
			mu.Unlock()
		}
		if ok {
			return nil, 0, nil
		}
		return []byte(cmd[0] + " says no"), 1, nil
	})
	execProbe := func(cmd string, failures int32) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{cmd}}}, PeriodSeconds: 1, FailureThreshold: failures}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-p"},
		Spec: corev1.PodSpec{NodeName: "n1", RestartPolicy: corev1.RestartPolicyAlways, TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{{
				Name: "c", Image: "example/img:1",
				ReadinessProbe: execProbe("ready", 1), LivenessProbe: execProbe("live", 2),
				Lifecycle: &corev1.Lifecycle{
					PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"poststart"}}},
					PreStop:   &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"prestop"}}},
				},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("32Mi")}},
			}, {
				Name: "s", Image: "example/img:1", StartupProbe: execProbe("started", 100),
			}}},
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	get := func() *corev1.Pod {
		p, err := client.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
		if err != nil {
			return &corev1.Pod{}
		}
		return p
	}
	status := func(p *corev1.Pod, name string) corev1.ContainerStatus {
		for _, s := range p.Status.ContainerStatuses {
			if s.Name == name {
				return s
			}
		}
		return corev1.ContainerStatus{}
	}
	waitFor(t, "running, not ready, s not started", func() bool {
		p := get()
		c, s := status(p, "c"), status(p, "s")
		return c.State.Running != nil && !c.Ready && s.State.Running != nil && s.Started != nil && !*s.Started &&
			condition(p, corev1.PodReady) == corev1.ConditionFalse
	})
	if q := get().Status.QOSClass; q != corev1.PodQOSBurstable {
		t.Errorf("qosClass %s", q)
	}
	// The cgroup settings the CRI was given.
	cs, _ := cri.rt.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: map[string]string{labelContainerName: "c"}})
	cri.rt.Lock()
	res := cri.rt.Containers[cs[0].Id].LinuxResources
	cri.rt.Unlock()
	if res.CpuQuota != 50000 || res.CpuPeriod != 100000 || res.CpuShares != 512 || res.MemoryLimitInBytes != 32<<20 {
		t.Errorf("resources: %v", res)
	}
	waitFor(t, "Unhealthy event for readiness", func() bool { return hasEvent(ctx, client, "Unhealthy", "Readiness probe failed: ready says no") })

	ready.Store(true)
	started.Store(true)
	waitFor(t, "ready and started", func() bool {
		p := get()
		s := status(p, "s")
		return status(p, "c").Ready && s.Ready && *s.Started && condition(p, corev1.PodReady) == corev1.ConditionTrue &&
			condition(p, corev1.ContainersReady) == corev1.ConditionTrue
	})
	mu.Lock()
	if hooks["poststart"] != 1 {
		t.Errorf("postStart ran %d times", hooks["poststart"])
	}
	mu.Unlock()

	// Liveness fails twice: killed (preStop first) and restarted.
	live.Store(false)
	waitFor(t, "restarted after liveness failure", func() bool {
		c := status(get(), "c")
		return c.RestartCount == 1 && c.State.Running != nil
	})
	live.Store(true)
	waitFor(t, "Unhealthy/Killing events for the liveness failure", func() bool {
		return hasEvent(ctx, client, "Unhealthy", "Liveness probe failed: live says no") &&
			hasEvent(ctx, client, "Killing", "Container c failed liveness probe, will be restarted")
	})
	mu.Lock()
	if hooks["prestop"] != 1 || hooks["poststart"] != 2 {
		t.Errorf("hooks after the restart: %v", hooks)
	}
	mu.Unlock()
	waitFor(t, "ready again", func() bool { return status(get(), "c").Ready })

	// Deletion: preStop, then gone; no prober worker left.
	p := get()
	now := metav1.Now()
	p.DeletionTimestamp = &now
	p.DeletionGracePeriodSeconds = ptr.To[int64](1)
	if _, err := client.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pod deleted", func() bool {
		_, err := client.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	mu.Lock()
	if hooks["prestop"] != 2 {
		t.Errorf("preStop on deletion: %v", hooks)
	}
	mu.Unlock()
	waitFor(t, "Killing event on deletion", func() bool { return hasEvent(ctx, client, "Killing", "Stopping container s") })
	// A sync that raced with the deletion may have started one; it ends
	// by itself at its next period.
	waitFor(t, "no prober worker left", func() bool { return a.lc.probes.count() == 0 })
}

// A failing postStart hook: FailedPostStartHook, and the container is
// killed and restarted.
func TestFailedPostStart(t *testing.T) {
	_, cri, client, ctx := runFakeAgent(t)
	cri.setExec(func(_ string, cmd []string) ([]byte, int32, error) { return []byte("nope"), 3, nil })
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-q"},
		Spec: corev1.PodSpec{NodeName: "n1", RestartPolicy: corev1.RestartPolicyAlways, TerminationGracePeriodSeconds: ptr.To[int64](0), Containers: []corev1.Container{{
			Name: "c", Image: "example/img:1",
			Lifecycle: &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"hook"}}}},
		}}},
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "FailedPostStartHook and a restart", func() bool {
		p, err := client.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
		return err == nil && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1 &&
			hasEvent(ctx, client, "FailedPostStartHook", "nope")
	})
}

func TestQOSAndResources(t *testing.T) {
	rl := func(kv ...string) corev1.ResourceList {
		l := corev1.ResourceList{}
		for i := 0; i < len(kv); i += 2 {
			l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
		}
		return l
	}
	pod := func(req, lim corev1.ResourceList) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: req, Limits: lim}}}}}
	}
	for _, tc := range []struct {
		name          string
		pod           *corev1.Pod
		qos           corev1.PodQOSClass
		shares, quota int64
		mem, oom      int64
		capacity      int64
	}{
		{"best effort", pod(nil, nil), corev1.PodQOSBestEffort, 2, 0, 0, 1000, 1 << 30},
		{"guaranteed", pod(rl("cpu", "250m", "memory", "64Mi"), rl("cpu", "250m", "memory", "64Mi")), corev1.PodQOSGuaranteed, 256, 25000, 64 << 20, -997, 1 << 30},
		{"limits only is guaranteed", pod(nil, rl("cpu", "1", "memory", "1Gi")), corev1.PodQOSGuaranteed, 1024, 100000, 1 << 30, -997, 1 << 30},
		{"burstable", pod(rl("cpu", "1m", "memory", "256Mi"), nil), corev1.PodQOSBurstable, 2, 0, 0, 750, 1 << 30},
		{"tiny quota", pod(rl("cpu", "1m"), rl("cpu", "2m", "memory", "1Gi")), corev1.PodQOSBurstable, 2, 1000, 1 << 30, 999, 1 << 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if q := qosClass(tc.pod); q != tc.qos {
				t.Errorf("qos %s, want %s", q, tc.qos)
			}
			r := linuxResources(tc.pod, &tc.pod.Spec.Containers[0], tc.capacity)
			if r.CpuShares != tc.shares || r.CpuQuota != tc.quota || r.MemoryLimitInBytes != tc.mem || r.OomScoreAdj != tc.oom {
				t.Errorf("got %v", r)
			}
		})
	}
}

func TestApplySecurity(t *testing.T) {
	a := &Agent{}
	sc := &runtimeapi.LinuxContainerSecurityContext{}
	c := &corev1.Container{SecurityContext: &corev1.SecurityContext{
		Capabilities:             &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}, Drop: []corev1.Capability{"ALL"}},
		AllowPrivilegeEscalation: ptr.To(false), RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](1000),
	}}
	sc.RunAsUser = &runtimeapi.Int64Value{Value: 1000}
	if err := a.applySecurity(context.Background(), &corev1.Pod{}, c, "img", sc); err != nil {
		t.Fatal(err)
	}
	if !sc.NoNewPrivs || sc.Capabilities.AddCapabilities[0] != "CAP_NET_ADMIN" || sc.Capabilities.DropCapabilities[0] != "ALL" {
		t.Errorf("security context: %v", sc)
	}
	sc = &runtimeapi.LinuxContainerSecurityContext{RunAsUser: &runtimeapi.Int64Value{Value: 0}}
	if err := a.applySecurity(context.Background(), &corev1.Pod{}, c, "img", sc); err == nil || !strings.Contains(err.Error(), "non-root") {
		t.Errorf("runAsUser 0 with runAsNonRoot: %v", err)
	}
}

// running is the ID of the pod's running container of that name, or "".
func (f *fakeCRI) running(ctx context.Context, name string) string {
	cs, _ := f.rt.ListContainers(ctx, &runtimeapi.ContainerFilter{
		State:         &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING},
		LabelSelector: map[string]string{labelContainerName: name},
	})
	if len(cs) != 1 {
		return ""
	}
	return cs[0].Id
}

// Init containers run in order (a failed one restarted), a sidecar starts
// and keeps running, the main container waits for all of them; statuses,
// the Initialized condition and the phase follow.
func TestInitContainersAndSidecars(t *testing.T) {
	_, cri, client, ctx := runFakeAgent(t)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-i"},
		Spec: corev1.PodSpec{NodeName: "n1", RestartPolicy: corev1.RestartPolicyAlways, TerminationGracePeriodSeconds: ptr.To[int64](0),
			InitContainers: []corev1.Container{
				{Name: "i1", Image: "example/img:1"},
				{Name: "side", Image: "example/img:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)},
				{Name: "i2", Image: "example/img:1"},
			},
			Containers: []corev1.Container{{Name: "c", Image: "example/img:1"}}},
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	get := func() *corev1.Pod {
		p, _ := client.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
		return p
	}
	waiting := func(s corev1.ContainerStatus) string {
		if s.State.Waiting != nil {
			return s.State.Waiting.Reason
		}
		return ""
	}
	waitFor(t, "i1 running, the rest waiting", func() bool {
		p := get()
		if len(p.Status.InitContainerStatuses) != 3 || len(p.Status.ContainerStatuses) != 1 {
			return false
		}
		is := p.Status.InitContainerStatuses
		return is[0].State.Running != nil && waiting(is[1]) == "PodInitializing" && waiting(is[2]) == "PodInitializing" &&
			waiting(p.Status.ContainerStatuses[0]) == "PodInitializing" && p.Status.Phase == corev1.PodPending &&
			condition(p, corev1.PodInitialized) == corev1.ConditionFalse
	})
	if cri.running(ctx, "side") != "" || cri.running(ctx, "c") != "" {
		t.Fatal("started before i1 completed")
	}
	cri.exit(cri.running(ctx, "i1"), 1)
	waitFor(t, "i1 restarted", func() bool {
		p := get()
		return len(p.Status.InitContainerStatuses) == 3 && p.Status.InitContainerStatuses[0].RestartCount == 1 && cri.running(ctx, "i1") != ""
	})
	cri.exit(cri.running(ctx, "i1"), 0)
	waitFor(t, "side and i2 running", func() bool { return cri.running(ctx, "side") != "" && cri.running(ctx, "i2") != "" })
	if cri.running(ctx, "c") != "" {
		t.Fatal("c started before i2 completed")
	}
	cri.exit(cri.running(ctx, "i2"), 0)
	waitFor(t, "initialized and running", func() bool {
		p := get()
		return p.Status.Phase == corev1.PodRunning && condition(p, corev1.PodInitialized) == corev1.ConditionTrue &&
			condition(p, corev1.PodReady) == corev1.ConditionTrue && cri.running(ctx, "c") != "" && cri.running(ctx, "side") != "" &&
			p.Status.InitContainerStatuses[0].Ready && p.Status.InitContainerStatuses[1].Ready
	})
	// The sidecar is restarted when it exits.
	cri.exit(cri.running(ctx, "side"), 0)
	waitFor(t, "sidecar restarted", func() bool {
		p := get()
		return p.Status.InitContainerStatuses[1].RestartCount == 1 && cri.running(ctx, "side") != ""
	})
}

// restartPolicy Never: a failed init container fails the pod and the main
// container never runs.
func TestInitContainerFailsPod(t *testing.T) {
	_, cri, client, ctx := runFakeAgent(t)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-n"},
		Spec: corev1.PodSpec{NodeName: "n1", RestartPolicy: corev1.RestartPolicyNever,
			InitContainers: []corev1.Container{{Name: "i", Image: "example/img:1"}},
			Containers:     []corev1.Container{{Name: "c", Image: "example/img:1"}}},
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "i running", func() bool { return cri.running(ctx, "i") != "" })
	cri.exit(cri.running(ctx, "i"), 2)
	waitFor(t, "pod Failed", func() bool {
		p, _ := client.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
		return p.Status.Phase == corev1.PodFailed
	})
	if cs, _ := cri.rt.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: map[string]string{labelContainerName: "c"}}); len(cs) != 0 {
		t.Errorf("main container created: %v", cs)
	}
}

// activeDeadlineSeconds: the pod ends Failed, reason DeadlineExceeded, its
// container stopped.
func TestActiveDeadline(t *testing.T) {
	_, cri, client, ctx := runFakeAgent(t)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-d"},
		Spec: corev1.PodSpec{NodeName: "n1", RestartPolicy: corev1.RestartPolicyAlways, ActiveDeadlineSeconds: ptr.To[int64](2),
			TerminationGracePeriodSeconds: ptr.To[int64](0), Containers: []corev1.Container{{Name: "c", Image: "example/img:1"}}},
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "DeadlineExceeded", func() bool {
		p, _ := client.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
		return p.Status.Phase == corev1.PodFailed && p.Status.Reason == "DeadlineExceeded" && cri.running(ctx, "c") == "" &&
			len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Terminated != nil
	})
}

func TestFallbackMessage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	data := "2026-01-01T00:00:00Z stdout F first\n2026-01-01T00:00:00Z stderr P par\n2026-01-01T00:00:00Z stderr F tial\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := fallbackMessage(path); got != "first\npartial" {
		t.Errorf("got %q", got)
	}
}

// An agent restarted over running containers probes them again, and the
// stopped agent left no prober worker behind.
func TestProbesAfterAdoption(t *testing.T) {
	cri, endpoint := startFakeCRI(t)
	var ready atomic.Bool
	cri.setExec(func(_ string, cmd []string) ([]byte, int32, error) {
		if ready.Load() {
			return nil, 0, nil
		}
		return []byte("no"), 1, nil
	})
	client := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{PodCIDR: "10.42.1.0/24"}})
	statusSubresource(client)
	dir := t.TempDir()
	start := func() (*Agent, func()) {
		a := New(client, Config{NodeName: "n1", DataDir: dir, PodLogsDir: filepath.Join(dir, "pods"), RuntimeEndpoint: endpoint, NodeIP: "10.0.0.5",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		return a, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	ctx := context.Background()
	a1, stop1 := start()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-a"},
		Spec: corev1.PodSpec{NodeName: "n1", RestartPolicy: corev1.RestartPolicyAlways, Containers: []corev1.Container{{
			Name: "c", Image: "example/img:1",
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"ready"}}}, PeriodSeconds: 1},
		}}},
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a prober worker", func() bool { return a1.lc.probes.count() == 1 && cri.running(ctx, "c") != "" })
	id := cri.running(ctx, "c")
	stop1()
	if n := a1.lc.probes.count(); n != 0 {
		t.Errorf("%d workers left by the stopped agent", n)
	}
	ready.Store(true)
	a2, stop2 := start()
	defer stop2()
	waitFor(t, "adopted container probed ready", func() bool {
		p, err := client.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
		return err == nil && a2.lc.probes.count() == 1 && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].Ready
	})
	if cri.running(ctx, "c") != id {
		t.Error("the container was replaced")
	}
}

// Pods whose preStop hooks hang do not hold the sync workers: with more of
// them terminating than there are workers, a new pod still starts; and a
// pod's sidecar is stopped after its main container.
func TestTerminationDoesNotBlockWorkers(t *testing.T) {
	_, cri, client, ctx := runFakeAgent(t)
	release := make(chan struct{})
	var hooks atomic.Int32
	cri.setExec(func(_ string, cmd []string) ([]byte, int32, error) {
		if cmd[0] == "hang" {
			hooks.Add(1)
			<-release
		}
		return nil, 0, nil
	})
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	mk := func(name string, hang bool) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + types.UID(name)},
			Spec: corev1.PodSpec{NodeName: "n1", RestartPolicy: corev1.RestartPolicyAlways, TerminationGracePeriodSeconds: ptr.To[int64](30),
				InitContainers: []corev1.Container{{Name: "side-" + name, Image: "example/img:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}},
				Containers:     []corev1.Container{{Name: "main-" + name, Image: "example/img:1"}}},
		}
		if hang {
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"hang"}}}}
		}
		return p
	}
	const n = 6
	for i := range n {
		if _, err := client.CoreV1().Pods("default").Create(ctx, mk(fmt.Sprintf("p%d", i), true), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "all running", func() bool {
		for i := range n {
			if cri.running(ctx, fmt.Sprintf("main-p%d", i)) == "" || !podReady(ctx, client, fmt.Sprintf("p%d", i)) {
				return false
			}
		}
		return true
	})
	for i := range n {
		p, err := client.CoreV1().Pods("default").Get(ctx, fmt.Sprintf("p%d", i), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		now := metav1.Now()
		p.DeletionTimestamp = &now
		if _, err := client.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every preStop hook hanging", func() bool { return hooks.Load() == n })
	if _, err := client.CoreV1().Pods("default").Create(ctx, mk("late", false), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new pod started while the others terminate", func() bool { return cri.running(ctx, "main-late") != "" })
	released = true
	close(release)
	waitFor(t, "terminated pods gone", func() bool {
		pods, _ := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		return len(pods.Items) == 1
	})
	// Each main container was stopped before its sidecar.
	order := map[string]int{}
	for i, name := range cri.stoppedNames() {
		if _, ok := order[name]; !ok {
			order[name] = i
		}
	}
	for i := range n {
		m, s := order[fmt.Sprintf("main-p%d", i)], order[fmt.Sprintf("side-p%d", i)]
		if m >= s {
			t.Errorf("p%d: sidecar stopped before main (%v)", i, cri.stoppedNames())
		}
	}
}

// A second delete with a shorter grace period stops the containers at once
// even while the first termination's preStop hook still runs.
func TestShortenedGracePeriod(t *testing.T) {
	_, cri, client, ctx := runFakeAgent(t)
	release := make(chan struct{})
	defer close(release)
	var hooks atomic.Int32
	cri.setExec(func(_ string, cmd []string) ([]byte, int32, error) {
		hooks.Add(1)
		<-release
		return nil, 0, nil
	})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-s"},
		Spec: corev1.PodSpec{NodeName: "n1", RestartPolicy: corev1.RestartPolicyAlways, TerminationGracePeriodSeconds: ptr.To[int64](60),
			Containers: []corev1.Container{{Name: "c", Image: "example/img:1",
				Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"hang"}}}}}}},
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Running in the API too: the fake client's status writes replace the
	// whole object, so the deletion must come after the agent's last one.
	waitFor(t, "c running", func() bool { return cri.running(ctx, "c") != "" && podReady(ctx, client, "p") })
	p, _ := client.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
	now := metav1.Now()
	p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &now, ptr.To[int64](60)
	p, err := client.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "preStop running", func() bool { return hooks.Load() >= 1 })
	if cri.running(ctx, "c") == "" {
		t.Fatal("stopped before its preStop hook ended")
	}
	p.DeletionGracePeriodSeconds = ptr.To[int64](1)
	if _, err := client.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "c stopped with the shorter grace period", func() bool { return cri.running(ctx, "c") == "" })
}
