package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"skiff/internal/agent/images"
)

// podEvent says whether the pod has an event of that reason whose message
// contains msg.
func (n *node) podEvent(t *testing.T, pod, reason, msg string) bool {
	t.Helper()
	evs, err := n.client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod})
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

// podStatusColumn is the STATUS `kubectl get pods` shows for the pod (the
// server's table).
func (n *node) podStatusColumn(t *testing.T, name string) string {
	t.Helper()
	raw, err := n.client.CoreV1().RESTClient().Get().Namespace("default").Resource("pods").Name(name).
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(context.Background())
	if err != nil {
		return ""
	}
	var tbl metav1.Table
	if err := json.Unmarshal(raw, &tbl); err != nil || len(tbl.Rows) != 1 {
		return ""
	}
	for i, c := range tbl.ColumnDefinitions {
		if c.Name == "Status" && i < len(tbl.Rows[0].Cells) {
			s, _ := tbl.Rows[0].Cells[i].(string)
			return s
		}
	}
	return ""
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

// podContainers is the runtime's containers of a pod (all attempts).
func (n *node) podContainers(t *testing.T, uid string) []*runtimeapi.Container {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := n.runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		LabelSelector: map[string]string{"io.kubernetes.pod.uid": uid},
	}})
	if err != nil {
		t.Fatalf("ListContainers: %v", err)
	}
	return resp.Containers
}

// TestContainerLifecycle is Done-when 3, 5 and 6 of the node agent:
// an httpGet liveness probe failing restarts the container (Unhealthy,
// Killing, restartCount), an exec readiness probe gates Ready, exit 1 with
// Always goes into CrashLoopBackOff with growing delays, Never ends
// Failed; a 32Mi memory limit OOM-kills a 64M allocation and the cpu limit
// is in the container's cgroup; deletion runs preStop, waits the grace
// period and the pod leaves the API only when its containers are gone; a
// forced deletion with grace 0 removes it at once and the containers go.
// Also: init containers in order with a sidecar, capabilities dropped and
// no_new_privs, a postStart hook, runAsNonRoot refusing a root image,
// activeDeadlineSeconds and FallbackToLogsOnError.
func TestContainerLifecycle(t *testing.T) {
	requireHost(t)
	n := startNode(t, false)
	n.waitReady(t)
	ctx := context.Background()
	pods := n.client.CoreV1().Pods("default")

	// preStop calls come here (the agent runs httpGet hooks from the node).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var preStops atomic.Int32
	hookSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/prestop" {
			preStops.Add(1)
		}
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hookSrv.Serve(l) }()
	defer hookSrv.Close()
	hookPort := l.Addr().(*net.TCPAddr).Port

	probes := busyboxPod("probes", corev1.RestartPolicyAlways, "mkdir -p /www && echo ok > /www/healthz && exec httpd -f -p 8080 -h /www")
	probes.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
	probes.Spec.Containers[0].LivenessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
		PeriodSeconds: 1, FailureThreshold: 2,
	}
	// Startup (tcpSocket) holds the others back until httpd listens.
	probes.Spec.Containers[0].StartupProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(8080)}},
		PeriodSeconds: 1, FailureThreshold: 30,
	}
	probes.Spec.Containers[0].ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "/tmp/ready"}}},
		PeriodSeconds: 1,
	}
	crash := busyboxPod("crash", corev1.RestartPolicyAlways, "exit 1")
	never := busyboxPod("never", corev1.RestartPolicyNever, "exit 1")
	oom := busyboxPod("oom", corev1.RestartPolicyNever, `x=$(head -c 64000000 /dev/zero | tr "\0" a); echo ${#x}; sleep 1`)
	oom.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")}
	limited := busyboxPod("limited", corev1.RestartPolicyAlways, "trap 'exit 0' TERM; while true; do sleep 1; done")
	limited.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("48Mi")}
	// Ignores SIGTERM: only the grace period's end (SIGKILL) stops it.
	graceful := busyboxPod("graceful", corev1.RestartPolicyAlways, "trap '' TERM; while true; do sleep 1; done")
	graceful.Spec.TerminationGracePeriodSeconds = ptr.To[int64](4)
	graceful.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{
		Host: "127.0.0.1", Port: intstr.FromInt(hookPort), Path: "/prestop",
	}}}
	forced := busyboxPod("forced", corev1.RestartPolicyAlways, "trap '' TERM; while true; do sleep 1; done")
	forced.Spec.TerminationGracePeriodSeconds = ptr.To[int64](60)
	stuck := forced.DeepCopy()
	stuck.Name = "stuck"
	// Init containers in order, a sidecar kept running beside the main one.
	initPod := busyboxPod("init", corev1.RestartPolicyAlways, "trap 'exit 0' TERM; while true; do sleep 1; done")
	initPod.Spec.InitContainers = []corev1.Container{
		// Waits for the test to let it finish.
		{Name: "i1", Image: images.BusyboxImage, Command: []string{"sh", "-c", "until [ -f /tmp/go ]; do sleep 0.2; done"}},
		{Name: "side", Image: images.BusyboxImage, Command: []string{"sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"},
			RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)},
		{Name: "i2", Image: images.BusyboxImage, Command: []string{"true"}},
	}
	// Security context and a postStart hook.
	secure := busyboxPod("secure", corev1.RestartPolicyAlways, "trap 'exit 0' TERM; while true; do sleep 1; done")
	secure.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}, AllowPrivilegeEscalation: ptr.To(false),
	}
	secure.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
		Command: []string{"sh", "-c", "echo hi > /tmp/started"},
	}}}
	nonRoot := busyboxPod("nonroot", corev1.RestartPolicyAlways, "true")
	nonRoot.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsNonRoot: ptr.To(true)}
	deadline := busyboxPod("deadline", corev1.RestartPolicyAlways, "trap 'exit 0' TERM; while true; do sleep 1; done")
	deadline.Spec.ActiveDeadlineSeconds = ptr.To[int64](3)
	fallback := busyboxPod("fallback", corev1.RestartPolicyNever, "echo boom; exit 3")
	fallback.Spec.Containers[0].TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	for _, p := range []*corev1.Pod{probes, crash, never, oom, limited, graceful, forced, stuck, initPod, secure, nonRoot, deadline, fallback} {
		p.Spec.NodeName = n.name
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Before the node's cleanup: pods gone from the API and their
	// sandboxes removed by the agent, so that it does not start new ones
	// while the node is being taken down.
	t.Cleanup(func() {
		_ = pods.DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{})
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			resp, err := n.runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
			if err != nil || len(resp.Items) == 0 {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	get := func(name string) *corev1.Pod {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return &corev1.Pod{}
		}
		return p
	}
	status := func(name string) corev1.ContainerStatus {
		p := get(name)
		if len(p.Status.ContainerStatuses) != 1 {
			return corev1.ContainerStatus{}
		}
		return p.Status.ContainerStatuses[0]
	}

	// Readiness: running but not Ready until /tmp/ready exists.
	waitFor(t, "probes running, not ready", time.Minute, func() bool {
		s := status("probes")
		return s.State.Running != nil && !s.Ready && s.Started != nil && *s.Started && n.podEvent(t, "probes", "Unhealthy", "Readiness probe failed")
	})
	if _, err := n.criExec(t, "probes", "c", "touch", "/tmp/ready"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "probes Ready", 30*time.Second, func() bool {
		p := get("probes")
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				return c.Status == corev1.ConditionTrue && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].Ready
			}
		}
		return false
	})
	// Liveness: the file goes, httpd answers 404, the container restarts
	// (and, a new container, is not ready again).
	if _, err := n.criExec(t, "probes", "c", "rm", "/www/healthz"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "probes restarted by its liveness probe", 30*time.Second, func() bool {
		s := status("probes")
		return s.RestartCount == 1 && s.State.Running != nil
	})
	if s := status("probes"); s.Ready {
		t.Error("restarted container ready without /tmp/ready")
	}
	waitFor(t, "Unhealthy and Killing events", 10*time.Second, func() bool {
		return n.podEvent(t, "probes", "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 404") &&
			n.podEvent(t, "probes", "Killing", "Container c failed liveness probe, will be restarted")
	})

	// Never: Failed with the exit code.
	waitFor(t, "never Failed", 30*time.Second, func() bool {
		p := get("never")
		return p.Status.Phase == corev1.PodFailed && len(p.Status.ContainerStatuses) == 1 &&
			p.Status.ContainerStatuses[0].State.Terminated != nil && p.Status.ContainerStatuses[0].State.Terminated.ExitCode == 1
	})

	// Resources: the cgroup has the cpu quota and memory limit; the 64M
	// allocation under 32Mi is OOM-killed.
	waitFor(t, "limited running", 30*time.Second, func() bool { return status("limited").State.Running != nil })
	quota, err := n.criExec(t, "limited", "c", "sh", "-c", "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d' ' -f1 /sys/fs/cgroup/cpu.max")
	if err != nil || strings.TrimSpace(quota) != "25000" {
		t.Errorf("cpu quota in the container's cgroup: %q %v", quota, err)
	}
	mem, err := n.criExec(t, "limited", "c", "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max")
	if err != nil || strings.TrimSpace(mem) != strconv.Itoa(48<<20) {
		t.Errorf("memory limit in the container's cgroup: %q %v", mem, err)
	}
	if q := get("limited").Status.QOSClass; q != corev1.PodQOSGuaranteed {
		t.Errorf("limited qosClass %s", q)
	}
	waitFor(t, "oom OOMKilled", time.Minute, func() bool {
		s := status("oom")
		return s.State.Terminated != nil
	})
	if s := status("oom"); s.State.Terminated.Reason != "OOMKilled" || get("oom").Status.Phase != corev1.PodFailed {
		t.Errorf("oom: %+v phase %s", s.State.Terminated, get("oom").Status.Phase)
	}
	if st := n.podStatusColumn(t, "oom"); st != "OOMKilled" {
		t.Errorf("oom STATUS %q", st)
	}

	// Init containers: i1 runs alone first, then the sidecar and i2, then
	// the main container beside the sidecar.
	waitFor(t, "init: i1 running, not initialized", 30*time.Second, func() bool {
		p := get("init")
		return len(p.Status.InitContainerStatuses) == 3 && p.Status.InitContainerStatuses[0].State.Running != nil &&
			p.Status.Phase == corev1.PodPending && podCondition(p, corev1.PodInitialized) == corev1.ConditionFalse
	})
	if st := n.podStatusColumn(t, "init"); st != "Init:0/3" {
		t.Errorf("init STATUS %q, want Init:0/3", st)
	}
	if s := get("init").Status.InitContainerStatuses; s[1].State.Waiting == nil || s[1].State.Waiting.Reason != "PodInitializing" {
		t.Errorf("sidecar before i1 completed: %+v", s[1].State)
	}
	if _, err := n.criExec(t, "init", "i1", "touch", "/tmp/go"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "init: initialized, main and sidecar running", 30*time.Second, func() bool {
		p := get("init")
		if len(p.Status.InitContainerStatuses) != 3 || len(p.Status.ContainerStatuses) != 1 {
			return false
		}
		is := p.Status.InitContainerStatuses
		done := func(s corev1.ContainerStatus) bool {
			return s.State.Terminated != nil && s.State.Terminated.ExitCode == 0
		}
		return p.Status.Phase == corev1.PodRunning && podCondition(p, corev1.PodInitialized) == corev1.ConditionTrue &&
			done(is[0]) && is[1].State.Running != nil && done(is[2]) && p.Status.ContainerStatuses[0].State.Running != nil
	})

	// Security context: no capabilities, no_new_privs; the postStart hook
	// ran; runAsNonRoot refuses the (root) busybox image.
	waitFor(t, "secure running", 30*time.Second, func() bool { return status("secure").State.Running != nil })
	procStatus, err := n.criExec(t, "secure", "c", "cat", "/proc/1/status")
	if err != nil || !strings.Contains(procStatus, "CapEff:\t0000000000000000") || !strings.Contains(procStatus, "NoNewPrivs:\t1") {
		t.Errorf("secure /proc/1/status: %v\n%s", err, procStatus)
	}
	if out, err := n.criExec(t, "secure", "c", "cat", "/tmp/started"); err != nil || strings.TrimSpace(out) != "hi" {
		t.Errorf("postStart: %q %v", out, err)
	}
	waitFor(t, "nonroot refused", 30*time.Second, func() bool {
		w := status("nonroot").State.Waiting
		return w != nil && w.Reason == "CreateContainerConfigError" && strings.Contains(w.Message, "runAsNonRoot")
	})
	// activeDeadlineSeconds and FallbackToLogsOnError.
	waitFor(t, "deadline Failed", 30*time.Second, func() bool {
		p := get("deadline")
		return p.Status.Phase == corev1.PodFailed && p.Status.Reason == "DeadlineExceeded"
	})
	waitFor(t, "fallback terminated with its log as message", 30*time.Second, func() bool {
		tm := status("fallback").State.Terminated
		return tm != nil && tm.ExitCode == 3 && strings.TrimSpace(tm.Message) == "boom"
	})

	// Graceful deletion: preStop, the grace period, then gone with its
	// containers.
	gracefulUID := string(get("graceful").UID)
	start := time.Now()
	if err := pods.Delete(ctx, "graceful", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "preStop hook called", 10*time.Second, func() bool { return preStops.Load() == 1 })
	waitFor(t, "graceful gone", 30*time.Second, func() bool {
		_, err := pods.Get(ctx, "graceful", metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return false
		}
		if cs := n.podContainers(t, gracefulUID); len(cs) != 0 {
			t.Errorf("graceful gone from the API with containers left: %v", cs)
		}
		return true
	})
	if d := time.Since(start); d < 3*time.Second {
		t.Errorf("graceful was gone after %s, before its 4s grace period", d)
	}
	if !n.podEvent(t, "graceful", "Killing", "Stopping container c") {
		t.Error("no Killing event for graceful")
	}

	// Forced deletion of a pod already terminating with a long grace
	// period: gone from the API at once, the containers follow.
	forcedUID := string(get("forced").UID)
	waitFor(t, "forced and stuck running", 30*time.Second, func() bool {
		return status("forced").State.Running != nil && status("stuck").State.Running != nil
	})
	for _, name := range []string{"forced", "stuck"} {
		if err := pods.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The agent is in the 60 s grace period: SIGTERM sent, ignored.
	waitFor(t, "forced terminating", 20*time.Second, func() bool {
		return get("forced").DeletionTimestamp != nil && n.podEvent(t, "forced", "Killing", "Stopping container c")
	})
	if len(n.podContainers(t, forcedUID)) == 0 {
		t.Fatal("forced lost its containers before its grace period ended")
	}
	start = time.Now()
	if err := pods.Delete(ctx, "forced", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "forced", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("forced still in the API after a grace-0 delete: %v", err)
	}
	waitFor(t, "forced containers gone", 20*time.Second, func() bool { return len(n.podContainers(t, forcedUID)) == 0 })
	t.Logf("forced deletion: containers gone after %s", time.Since(start).Round(time.Millisecond))
	// A second delete with a shorter grace period cuts the termination.
	start = time.Now()
	if err := pods.Delete(ctx, "stuck", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](1)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "stuck gone after its grace period was cut", 20*time.Second, func() bool {
		_, err := pods.Get(ctx, "stuck", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	t.Logf("shortened deletion: gone after %s", time.Since(start).Round(time.Millisecond))

	// CrashLoopBackOff with growing delays between attempts.
	waitFor(t, "crash restarted 3 times", 90*time.Second, func() bool { return status("crash").RestartCount >= 3 })
	waitFor(t, "crash in CrashLoopBackOff", 30*time.Second, func() bool {
		w := status("crash").State.Waiting
		return w != nil && w.Reason == "CrashLoopBackOff" && n.podStatusColumn(t, "crash") == "CrashLoopBackOff"
	})
	cs := n.podContainers(t, string(get("crash").UID))
	sort.Slice(cs, func(i, j int) bool { return cs[i].Metadata.Attempt < cs[j].Metadata.Attempt })
	if len(cs) < 4 {
		t.Fatalf("crash has %d attempts", len(cs))
	}
	var gaps []time.Duration
	for i := 1; i < 4; i++ {
		gaps = append(gaps, time.Duration(cs[i].CreatedAt-cs[i-1].CreatedAt))
	}
	t.Logf("crash restart gaps: %v", gaps)
	if gaps[1] < 9*time.Second || gaps[2] < gaps[1]+5*time.Second {
		t.Errorf("back-off does not grow: %v", gaps)
	}
	if !n.podEvent(t, "crash", "BackOff", "Back-off restarting failed container c") {
		t.Error("no BackOff event")
	}
}
