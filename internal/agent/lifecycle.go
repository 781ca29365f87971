package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"skiff/internal/agent/probe"
)

// lifecycleState is the agent's bookkeeping for container lifecycle; its
// zero value is ready (maps made on first use, under Agent.mu).
type lifecycleState struct {
	// terminating: pods whose termination goroutine runs, by UID, with
	// the grace period it uses; killing: containers being killed in the
	// background, by ID.
	terminating map[types.UID]int64
	killing     map[string]bool
	// async counts the background terminations and kills (the workers
	// wait for them, and for the prober workers, on shutdown).
	async  sync.WaitGroup
	probes probeManager
	// orphans keeps cleanupOrphans to one round at a time.
	orphans sync.Mutex
}

// specByName is the pod's container (init ones included) of that name.
func specByName(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// minGraceAfterHook is the least a container gets to stop after its preStop
// hook used up the grace period (upstream's 2 s).
const minGraceAfterHook = 2

// runHook runs a postStart or preStop handler against a container; the
// returned message is what upstream puts in the hook's failure event.
func (a *Agent) runHook(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id, podIP string, h *corev1.LifecycleHandler) (string, error) {
	switch {
	case h.Exec != nil:
		out, code, err := a.execSync(ctx, id, h.Exec.Command, 0)
		if err == nil && code != 0 {
			err = fmt.Errorf("command '%s' exited with %d: %s", strings.Join(h.Exec.Command, " "), code, out)
		}
		if err != nil {
			return fmt.Sprintf("Exec lifecycle hook (%v) for Container %q in Pod %q failed - error: %v, message: %q", h.Exec.Command, c.Name, podDesc(pod), err, string(out)), err
		}
		return "", nil
	case h.HTTPGet != nil:
		t := probe.Target{PodIP: podIP, Container: c}
		req, err := probe.HTTPRequest(ctx, h.HTTPGet, t)
		if err == nil {
			client := probe.HTTPClient(30*time.Second, true)
			var resp *http.Response
			resp, err = client.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
				_ = resp.Body.Close()
				if resp.StatusCode >= http.StatusBadRequest {
					err = fmt.Errorf("HTTP lifecycle hook (%s) returned status %d", h.HTTPGet.Path, resp.StatusCode)
				}
			}
			client.CloseIdleConnections()
		}
		if err != nil {
			return fmt.Sprintf("HTTP lifecycle hook (%s) for Container %q in Pod %q failed - error: %v", h.HTTPGet.Path, c.Name, podDesc(pod), err), err
		}
		return "", nil
	case h.Sleep != nil:
		t := time.NewTimer(time.Duration(h.Sleep.Seconds) * time.Second)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		return "", nil
	}
	err := errors.New("lifecycle hook has no handler")
	return err.Error(), err
}

func podDesc(pod *corev1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}

// killContainer stops one container as upstream does: event Killing with
// message (default "Stopping container c"), the preStop hook within the
// grace period, then StopContainer with what is left of it (at least 2 s
// after a hook). pod and c may be nil (orphans: no hook, no event).
func (a *Agent) killContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id, name, podIP string, grace int64, message string) error {
	if message == "" {
		message = fmt.Sprintf("Stopping container %s", name)
	}
	if pod != nil {
		a.recorder.Event(pod, corev1.EventTypeNormal, "Killing", message)
	}
	if pod != nil && c != nil && c.Lifecycle != nil && c.Lifecycle.PreStop != nil && grace > 0 {
		start := time.Now()
		hctx, cancel := context.WithTimeout(ctx, time.Duration(grace)*time.Second)
		msg, err := a.runHook(hctx, pod, c, id, podIP, c.Lifecycle.PreStop)
		cancel()
		if err != nil {
			a.recorder.Event(pod, corev1.EventTypeWarning, "FailedPreStopHook", msg)
		}
		grace = max(grace-int64(time.Since(start)/time.Second), minGraceAfterHook)
	}
	cctx, cancel := context.WithTimeout(ctx, time.Duration(grace)*time.Second+30*time.Second)
	defer cancel()
	if _, err := a.rt.StopContainer(cctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: grace}); err != nil {
		return fmt.Errorf("StopContainer %s: %w", id, err)
	}
	return nil
}

// killContainerAsync kills a running container of a live pod (failed
// liveness/startup probe, failed postStart hook) without holding a worker
// for its grace period; the relist notices the exit and the normal restart
// path (restartPolicy, back-off) takes over.
func (a *Agent) killContainerAsync(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id, podIP string, grace int64, message string) {
	a.mu.Lock()
	if a.lc.killing == nil {
		a.lc.killing = map[string]bool{}
	}
	if a.lc.killing[id] {
		a.mu.Unlock()
		return
	}
	a.lc.killing[id] = true
	a.mu.Unlock()
	a.lc.async.Add(1)
	go func() {
		defer a.lc.async.Done()
		if err := a.killContainer(ctx, pod, c, id, c.Name, podIP, grace, message); err != nil && ctx.Err() == nil {
			a.log.Warn("killing container", "pod", pod.Namespace+"/"+pod.Name, "container", c.Name, "err", err)
		}
		a.mu.Lock()
		delete(a.lc.killing, id)
		a.mu.Unlock()
		a.queue.Add(pod.Namespace + "/" + pod.Name)
	}()
}

// containerGrace is how long a container of a live pod gets to stop: the
// probe's own terminationGracePeriodSeconds, else the pod's.
func containerGrace(pod *corev1.Pod, p *corev1.Probe) int64 {
	if p != nil && p.TerminationGracePeriodSeconds != nil {
		return *p.TerminationGracePeriodSeconds
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return *g
	}
	return corev1.DefaultTerminationGracePeriodSeconds
}

// terminateAsync terminates a deleted pod in its own goroutine so that its
// grace period does not hold one of the few sync workers; a pod already
// terminating is left to that goroutine. On failure the pod is queued
// again.
func (a *Agent) terminateAsync(ctx context.Context, pod *corev1.Pod) {
	grace := deletionGrace(pod)
	a.mu.Lock()
	if a.lc.terminating == nil {
		a.lc.terminating = map[types.UID]int64{}
	}
	if inUse, ok := a.lc.terminating[pod.UID]; ok {
		shorter := grace < inUse
		if shorter {
			a.lc.terminating[pod.UID] = grace
		}
		a.mu.Unlock()
		if shorter {
			// The deletion's grace period was cut (a second delete): stop
			// the containers again with the shorter one; the running
			// termination goes on once they are gone.
			a.lc.async.Add(1)
			go func() {
				defer a.lc.async.Done()
				byName, err := a.podContainers(ctx, pod.UID)
				if err == nil {
					err = a.stopContainers(ctx, nil, byName, grace, func(string) bool { return true })
				}
				if err != nil && ctx.Err() == nil {
					a.log.Warn("shortening a pod's termination", "pod", pod.Namespace+"/"+pod.Name, "err", err)
				}
			}()
		}
		return
	}
	a.lc.terminating[pod.UID] = grace
	a.mu.Unlock()
	a.lc.async.Add(1)
	go func() {
		defer a.lc.async.Done()
		err := a.terminatePod(ctx, pod)
		a.mu.Lock()
		delete(a.lc.terminating, pod.UID)
		a.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			a.log.Warn("terminating pod", "pod", pod.Namespace+"/"+pod.Name, "err", err)
			a.queue.AddRateLimited(pod.Namespace + "/" + pod.Name)
		}
	}()
}

// cleanupOrphansAsync runs cleanupOrphans now, in the background (a pod
// force-deleted from the API has its containers killed at once rather than
// at the next periodic cleanup).
func (a *Agent) cleanupOrphansAsync(ctx context.Context) {
	a.lc.async.Add(1)
	go func() {
		defer a.lc.async.Done()
		a.cleanupOrphans(ctx)
	}()
}

// postStart runs the container's postStart hook right after it started;
// on failure the container is killed and restarted per restartPolicy.
func (a *Agent) postStart(ctx context.Context, pod *corev1.Pod, c *corev1.Container, attempt uint32, podIP string) {
	if c.Lifecycle == nil || c.Lifecycle.PostStart == nil {
		return
	}
	byName, err := a.podContainers(ctx, pod.UID)
	if err != nil {
		return
	}
	var id string
	for _, rc := range byName[c.Name] {
		if rc.Metadata.GetAttempt() == attempt {
			id = rc.Id
		}
	}
	if id == "" {
		return
	}
	msg, err := a.runHook(ctx, pod, c, id, podIP, c.Lifecycle.PostStart)
	if err == nil {
		return
	}
	a.recorder.Event(pod, corev1.EventTypeWarning, "FailedPostStartHook", msg)
	a.killContainerAsync(ctx, pod, c, id, podIP, containerGrace(pod, nil), "FailedPostStartHook")
}

// activeDeadline says how long the pod may still run under its
// activeDeadlineSeconds (counted from status.startTime), and whether it
// has a deadline at all.
func activeDeadline(pod *corev1.Pod) (time.Duration, bool) {
	d := pod.Spec.ActiveDeadlineSeconds
	if d == nil || pod.Status.StartTime == nil {
		return 0, false
	}
	return time.Until(pod.Status.StartTime.Add(time.Duration(*d) * time.Second)), true
}

// failPod ends a pod that must not run any more (activeDeadlineSeconds):
// its status becomes Failed with reason and message at once, so nothing
// restarts, and its containers are stopped in the background within their
// grace period; their final states are written after.
func (a *Agent) failPod(ctx context.Context, pod *corev1.Pod, reason, message string) error {
	a.recorder.Event(pod, corev1.EventTypeWarning, reason, message)
	updated := pod.DeepCopy()
	updated.Status.Phase, updated.Status.Reason, updated.Status.Message = corev1.PodFailed, reason, message
	pods := a.client.CoreV1().Pods(pod.Namespace)
	fresh, err := pods.UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	a.mu.Lock()
	if a.lc.terminating == nil {
		a.lc.terminating = map[types.UID]int64{}
	}
	if _, ok := a.lc.terminating[pod.UID]; ok {
		a.mu.Unlock()
		return nil
	}
	a.lc.terminating[pod.UID] = containerGrace(pod, nil)
	a.mu.Unlock()
	a.lc.probes.stopPod(pod.UID)
	a.lc.async.Add(1)
	go func() {
		defer a.lc.async.Done()
		defer a.queue.Add(pod.Namespace + "/" + pod.Name)
		defer func() {
			a.mu.Lock()
			delete(a.lc.terminating, pod.UID)
			a.mu.Unlock()
		}()
		byName, err := a.podContainers(ctx, pod.UID)
		if err == nil {
			err = a.stopContainers(ctx, fresh, byName, containerGrace(fresh, nil), func(string) bool { return true })
		}
		if err == nil {
			byName, err = a.podContainers(ctx, pod.UID)
		}
		if err == nil {
			err = a.writeStatus(ctx, fresh, nil, byName, nil)
		}
		if err != nil && ctx.Err() == nil {
			a.log.Warn("stopping a failed pod", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		}
	}()
	return nil
}

// busy says whether a background termination of the pod is running.
func (a *Agent) busy(uid types.UID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.lc.terminating[uid]
	return ok
}

// deletionGrace is how long a deleted pod's containers get: the
// deletion's grace period, else the pod's terminationGracePeriodSeconds.
func deletionGrace(pod *corev1.Pod) int64 {
	if g := pod.DeletionGracePeriodSeconds; g != nil {
		return *g
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return *g
	}
	return corev1.DefaultTerminationGracePeriodSeconds
}

// fallbackMessage is the tail of a failed container's log (the last 80
// lines, at most 2 KiB), for terminationMessagePolicy
// FallbackToLogsOnError.
func fallbackMessage(logPath string) string {
	data, err := os.ReadFile(logPath)
	if err != nil {
		return ""
	}
	// CRI log lines: "<time> <stream> <P|F> <text>"; P lines continue.
	var out strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, " ", 4)
		if len(parts) < 4 {
			continue
		}
		out.WriteString(parts[3])
		if parts[2] != "P" {
			out.WriteByte('\n')
		}
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) > 80 {
		lines = lines[len(lines)-80:]
	}
	msg := strings.Join(lines, "\n")
	if len(msg) > 2048 {
		msg = msg[len(msg)-2048:]
	}
	return msg
}
