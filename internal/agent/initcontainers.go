package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// isSidecar says whether an init container is a sidecar (restartPolicy
// Always): started in order like the others, but not waited for to
// complete, kept running and restarted beside the main containers.
func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// syncInitContainers runs the pod's init containers in order in this
// sandbox: each regular one must exit 0 before the next starts (restarted
// per the pod's restartPolicy when it fails), each sidecar must have
// started. done says whether the main containers may run.
func (a *Agent) syncInitContainers(ctx context.Context, pod *corev1.Pod, sandboxID string, sbCfg *runtimeapi.PodSandboxConfig,
	byName map[string][]*runtimeapi.Container, podIP string, waits map[string]waiting) (done bool, requeue time.Duration, err error) {
	blocked := false
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		hist := byName[c.Name]
		var latest *runtimeapi.Container
		if n := len(hist); n > 0 && hist[n-1].PodSandboxId == sandboxID {
			latest = hist[n-1]
		}
		if blocked {
			if latest == nil {
				waits[c.Name] = waiting{reason: "PodInitializing"}
			}
			continue
		}
		restart := func(code int32) bool { return true }
		if !isSidecar(c) {
			restart = func(code int32) bool { return code != 0 && pod.Spec.RestartPolicy != corev1.RestartPolicyNever }
		}
		r, err := a.syncContainer(ctx, pod, c, sandboxID, sbCfg, hist, podIP, waits, restart)
		if err != nil {
			return false, 0, err
		}
		if r > 0 {
			requeue = minPositive(requeue, r)
		}
		switch {
		case latest == nil:
			blocked = true
		case isSidecar(c):
			// The next one waits until this one runs and passed its
			// startup probe.
			blocked = latest.State != runtimeapi.ContainerState_CONTAINER_RUNNING || !a.containerStarted(c, latest.Id)
		case latest.State != runtimeapi.ContainerState_CONTAINER_EXITED:
			blocked = true
		default:
			st, err := a.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: latest.Id})
			if err != nil {
				return false, 0, fmt.Errorf("ContainerStatus: %w", err)
			}
			blocked = st.Status.GetExitCode() != 0
		}
	}
	return !blocked, requeue, nil
}

// initStatus turns the init containers' statuses into the pod's view:
// whether the pod is initialized, whether initialization failed for good
// (restartPolicy Never), and the names not yet done.
func initStatus(pod *corev1.Pod, statuses []corev1.ContainerStatus, mainStarted bool) (initialized, failed bool, pending []string) {
	for i, cs := range statuses {
		c := &pod.Spec.InitContainers[i]
		if isSidecar(c) {
			if cs.State.Running == nil && cs.LastTerminationState.Terminated == nil && cs.State.Terminated == nil {
				pending = append(pending, c.Name)
			}
			continue
		}
		t := cs.State.Terminated
		if t == nil && cs.State.Waiting != nil {
			t = cs.LastTerminationState.Terminated
		}
		switch {
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0:
		case t != nil && t.ExitCode != 0 && pod.Spec.RestartPolicy == corev1.RestartPolicyNever:
			failed = true
			pending = append(pending, c.Name)
		default:
			pending = append(pending, c.Name)
		}
	}
	// Once the main containers ran, the pod stays initialized.
	return len(pending) == 0 || (mainStarted && !failed), failed, pending
}

// initContainersMessage is the Initialized condition's message.
func initContainersMessage(pending []string) string {
	return fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(pending, " "))
}
