package agent

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"skiff/internal/agent/probe"
)

// probeKind is which of a container's probes a worker runs.
type probeKind int

const (
	liveness probeKind = iota
	readiness
	startup
)

func (k probeKind) String() string {
	switch k {
	case liveness:
		return "Liveness"
	case readiness:
		return "Readiness"
	}
	return "Startup"
}

func (k probeKind) of(c *corev1.Container) *corev1.Probe {
	switch k {
	case liveness:
		return c.LivenessProbe
	case readiness:
		return c.ReadinessProbe
	}
	return c.StartupProbe
}

type probeKey struct {
	uid       types.UID
	container string
	kind      probeKind
}

type resultKey struct {
	containerID string
	kind        probeKind
}

// probeWorker probes one container (one ID: a restarted container gets a
// new worker) with one of its probes until stopped.
type probeWorker struct {
	key         probeKey
	podKey      string
	pod         *corev1.Pod
	container   corev1.Container
	containerID string
	podIP       string
	startedAt   time.Time
	stop        chan struct{}
	stopOnce    sync.Once
}

// probeManager holds the prober workers and what they found.
type probeManager struct {
	mu      sync.Mutex
	workers map[probeKey]*probeWorker
	results map[resultKey]probe.Result
	wg      sync.WaitGroup
}

// init makes the maps on first use; m.mu is held.
func (m *probeManager) init() {
	if m.workers == nil {
		m.workers = map[probeKey]*probeWorker{}
		m.results = map[resultKey]probe.Result{}
	}
}

// result is what the probe of kind said last about the container; ok is
// false when nothing was decided yet.
func (m *probeManager) result(containerID string, kind probeKind) (probe.Result, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	r, ok := m.results[resultKey{containerID, kind}]
	return r, ok
}

func (m *probeManager) set(containerID string, kind probeKind, r probe.Result) (changed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	k := resultKey{containerID, kind}
	old, ok := m.results[k]
	m.results[k] = r
	return !ok || old != r
}

// stopLocked ends a worker and forgets its results; m.mu is held.
func (m *probeManager) stopLocked(w *probeWorker) {
	w.stopOnce.Do(func() { close(w.stop) })
	delete(m.workers, w.key)
	delete(m.results, resultKey{w.containerID, w.key.kind})
}

// forget drops an ended worker (the agent stopping) if still registered.
func (m *probeManager) forget(w *probeWorker) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.workers[w.key] == w {
		m.stopLocked(w)
	}
}

// stopPod ends all of a pod's workers.
func (m *probeManager) stopPod(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	for k, w := range m.workers {
		if k.uid == uid {
			m.stopLocked(w)
		}
	}
}

// count is how many workers run (for tests).
func (m *probeManager) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	return len(m.workers)
}

// containerStarted says whether the container passed its startup probe
// (true when it has none).
func (a *Agent) containerStarted(c *corev1.Container, id string) bool {
	if c.StartupProbe == nil {
		return true
	}
	r, ok := a.lc.probes.result(id, startup)
	return ok && r == probe.Success
}

// containerReady says whether the running container is ready: started,
// and passing its readiness probe if it has one.
func (a *Agent) containerReady(c *corev1.Container, id string) bool {
	if !a.containerStarted(c, id) {
		return false
	}
	if c.ReadinessProbe == nil {
		return true
	}
	r, ok := a.lc.probes.result(id, readiness)
	return ok && r == probe.Success
}

// probeFailure is why a running container must be restarted (it failed
// its liveness or startup probe), or "".
func (a *Agent) probeFailure(c *corev1.Container, id string) (probeKind, bool) {
	for _, k := range []probeKind{liveness, startup} {
		if k.of(c) == nil {
			continue
		}
		if r, ok := a.lc.probes.result(id, k); ok && r == probe.Failure {
			return k, true
		}
	}
	return 0, false
}

// ensureProbes runs a worker per probe of each running container (and
// sidecar) of the pod, and stops those of containers that no longer run; called at the end
// of each sync, so containers adopted after an agent restart get theirs.
func (a *Agent) ensureProbes(ctx context.Context, pod *corev1.Pod, byName map[string][]*runtimeapi.Container, podIP string) {
	if a.busy(pod.UID) {
		return // being terminated
	}
	running := map[string]*runtimeapi.Container{}
	for name, hist := range byName {
		if l := hist[len(hist)-1]; l.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
			running[name] = l
		}
	}
	m := &a.lc.probes
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	m.init()
	want := map[probeKey]bool{}
	var probed []*corev1.Container
	for i := range pod.Spec.InitContainers {
		if isSidecar(&pod.Spec.InitContainers[i]) {
			probed = append(probed, &pod.Spec.InitContainers[i])
		}
	}
	for i := range pod.Spec.Containers {
		probed = append(probed, &pod.Spec.Containers[i])
	}
	for _, c := range probed {
		rc := running[c.Name]
		if rc == nil {
			continue
		}
		for _, kind := range []probeKind{liveness, readiness, startup} {
			p := kind.of(c)
			if p == nil {
				continue
			}
			key := probeKey{pod.UID, c.Name, kind}
			want[key] = true
			if w := m.workers[key]; w != nil {
				if w.containerID == rc.Id {
					continue
				}
				m.stopLocked(w)
			}
			w := &probeWorker{
				key: key, podKey: pod.Namespace + "/" + pod.Name, pod: pod.DeepCopy(), container: *c.DeepCopy(),
				containerID: rc.Id, podIP: podIP, startedAt: time.Unix(0, rc.CreatedAt), stop: make(chan struct{}),
			}
			if st, err := a.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: rc.Id}); err == nil && st.Status.GetStartedAt() > 0 {
				w.startedAt = time.Unix(0, st.Status.StartedAt)
			}
			m.workers[key] = w
			m.wg.Add(1)
			go a.runProbeWorker(ctx, w)
		}
	}
	for k, w := range m.workers {
		if k.uid == pod.UID && !want[k] {
			m.stopLocked(w)
		}
	}
}

func seconds(v int32, def int32) time.Duration {
	if v <= 0 {
		v = def
	}
	return time.Duration(v) * time.Second
}

// runProbeWorker probes every periodSeconds until stopped. A liveness or
// startup failure is reported once and then the worker holds until the
// container is replaced (and a new worker started).
func (a *Agent) runProbeWorker(ctx context.Context, w *probeWorker) {
	defer a.lc.probes.wg.Done()
	defer a.lc.probes.forget(w)
	p := w.key.kind.of(&w.container)
	period := seconds(p.PeriodSeconds, 10)
	// Not all workers of a node on the same tick, as upstream.
	first := time.Duration(rand.Int64N(int64(period)/10 + 1))
	timer := time.NewTimer(first)
	defer timer.Stop()
	var lastRaw probe.Result
	run := 0
	hold := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.stop:
			return
		case <-timer.C:
		}
		timer.Reset(period)
		if a.podGone(w) {
			return // a sync that raced with the pod's deletion started us
		}
		if hold {
			continue
		}
		r, ok := a.probeOnce(ctx, w, p)
		if !ok {
			continue
		}
		if r == lastRaw {
			run++
		} else {
			lastRaw, run = r, 1
		}
		threshold := p.FailureThreshold
		if threshold <= 0 {
			threshold = 3
		}
		if r == probe.Success {
			threshold = max(p.SuccessThreshold, 1)
		}
		if int32(run) < threshold {
			continue
		}
		if a.lc.probes.set(w.containerID, w.key.kind, r) {
			a.queue.Add(w.podKey)
		}
		switch {
		case r == probe.Failure && w.key.kind != readiness:
			hold = true
		case r == probe.Success && w.key.kind == startup:
			hold = true // started: nothing more to learn
		}
	}
}

// podGone says whether the worker's pod is deleted or being deleted.
func (a *Agent) podGone(w *probeWorker) bool {
	p, err := a.pods.Pods(w.pod.Namespace).Get(w.pod.Name)
	return err != nil || p.UID != w.pod.UID || p.DeletionTimestamp != nil
}

// probeOnce runs the probe if it is its time; ok is false when it was not
// run (initial delay, or waiting for the startup probe).
func (a *Agent) probeOnce(ctx context.Context, w *probeWorker, p *corev1.Probe) (probe.Result, bool) {
	if w.key.kind != startup && !a.containerStarted(&w.container, w.containerID) {
		return 0, false
	}
	if time.Since(w.startedAt) < time.Duration(p.InitialDelaySeconds)*time.Second {
		return 0, false
	}
	timeout := seconds(p.TimeoutSeconds, 1)
	pctx, cancel := context.WithTimeout(ctx, timeout+time.Second)
	defer cancel()
	t := probe.Target{PodIP: w.podIP, Container: &w.container, ContainerID: w.containerID, Exec: a.execSync}
	r, msg, err := probe.Run(pctx, &p.ProbeHandler, t, timeout)
	if ctx.Err() != nil {
		return 0, false
	}
	select {
	case <-w.stop:
		return 0, false
	default:
	}
	if err != nil {
		a.recorder.Eventf(w.pod, corev1.EventTypeWarning, "Unhealthy", "%s probe errored: %v", w.key.kind, err)
		return probe.Failure, true
	}
	switch r {
	case probe.Failure:
		a.recorder.Eventf(w.pod, corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", w.key.kind, strings.TrimSpace(msg))
	case probe.Warning:
		a.recorder.Eventf(w.pod, corev1.EventTypeWarning, "ProbeWarning", "%s probe warning: %s", w.key.kind, strings.TrimSpace(msg))
		r = probe.Success
	}
	return r, true
}

// execSync runs cmd in a container through the CRI, for exec probes and
// hooks.
func (a *Agent) execSync(ctx context.Context, id string, cmd []string, timeout time.Duration) ([]byte, int32, error) {
	req := &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: int64(timeout / time.Second)}
	resp, err := a.rt.ExecSync(ctx, req)
	if err != nil {
		if ctx.Err() != nil || strings.Contains(err.Error(), "deadline exceeded") || strings.Contains(err.Error(), "timeout") {
			return nil, 0, fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
		}
		return nil, 0, err
	}
	out := append(resp.Stdout, resp.Stderr...)
	return out, resp.ExitCode, nil
}
