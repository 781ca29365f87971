package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"skiff/internal/agent/volume"
)

// Labels and annotations the agent puts on sandboxes and containers (the
// upstream kubelet's names, so tools like crictl show the same things).
const (
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelPodUID        = "io.kubernetes.pod.uid"
	labelContainerName = "io.kubernetes.container.name"
	annoRestartCount   = "io.kubernetes.container.restartCount"
	annoTermGrace      = "io.kubernetes.pod.terminationGracePeriod"

	// Upstream's container restart back-off: 10 s doubling to 5 min, reset
	// after 10 min of running fine.
	initialBackoff = 10 * time.Second
	maxBackoff     = 5 * time.Minute
	backoffReset   = 10 * time.Minute
)

// waiting is why a container is not running yet.
type waiting struct{ reason, message string }

// syncPod makes the runtime match one pod and writes the pod's status. It
// returns how soon to look again when something is pending (back-off).
func (a *Agent) syncPod(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	pod, err := a.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		// Gone from the API (force-deleted): cleanupOrphans stops what is
		// left, now rather than at its next round.
		a.cleanupOrphansAsync(ctx)
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if pod.DeletionTimestamp != nil {
		a.terminateAsync(ctx, pod)
		return 0, nil
	}
	sandboxes, err := a.podSandboxes(ctx, pod.UID)
	if err != nil {
		return 0, err
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		// A finished pod keeps its containers (for logs) but not its network.
		a.lc.probes.stopPod(pod.UID)
		if a.busy(pod.UID) {
			return 0, nil // its containers are being stopped gracefully
		}
		for _, sb := range sandboxes {
			if sb.State == runtimeapi.PodSandboxState_SANDBOX_READY {
				if _, err := a.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
					return 0, err
				}
			}
		}
		return 0, nil
	}

	left, hasDeadline := activeDeadline(pod)
	if hasDeadline && left <= 0 {
		return 0, a.failPod(ctx, pod, "DeadlineExceeded", "Pod was active on the node longer than the specified deadline")
	}

	// The sandbox: reuse the ready one (also after an agent restart),
	// otherwise replace whatever is there with a new attempt.
	var sb *runtimeapi.PodSandbox
	var attempt uint32
	for _, s := range sandboxes {
		if s.State == runtimeapi.PodSandboxState_SANDBOX_READY && sb == nil {
			sb = s
		}
		attempt = max(attempt, s.Metadata.GetAttempt()+1)
	}
	if sb == nil {
		if !pod.Spec.HostNetwork {
			ok, err := a.ensureNetwork()
			if err != nil {
				return 0, err
			}
			if !ok {
				return 0, a.writeStatus(ctx, pod, nil, nil, nil)
			}
		}
		for _, s := range sandboxes {
			_, _ = a.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: s.Id})
			_, _ = a.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: s.Id})
		}
		cfg := a.sandboxConfig(pod, attempt)
		// The CRI writes the sandbox's resolv.conf once, at creation.
		dnsCfg, err := a.podDNSConfig(pod)
		if err != nil {
			a.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
			return 0, fmt.Errorf("pod DNS config: %w", err)
		}
		cfg.DnsConfig = dnsCfg
		if err := os.MkdirAll(cfg.LogDirectory, 0o755); err != nil {
			return 0, err
		}
		resp, err := a.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
		if err != nil {
			a.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
			return 0, fmt.Errorf("RunPodSandbox: %w", err)
		}
		a.log.Info("started pod sandbox", "pod", key, "sandbox", resp.PodSandboxId)
		sb = &runtimeapi.PodSandbox{Id: resp.PodSandboxId, Metadata: cfg.Metadata, State: runtimeapi.PodSandboxState_SANDBOX_READY}
	}
	sbCfg := a.sandboxConfig(pod, sb.Metadata.GetAttempt())
	sbStatus, err := a.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sb.Id})
	if err != nil {
		return 0, fmt.Errorf("PodSandboxStatus: %w", err)
	}
	if err := a.setupVolumes(ctx, pod, sbStatus.Status); err != nil {
		a.recorder.Event(pod, corev1.EventTypeWarning, "FailedMount", err.Error())
		a.queue.AddAfter(key, 2*time.Second)
		return 0, a.writeStatus(ctx, pod, sbStatus.Status, nil, nil)
	}

	byName, err := a.podContainers(ctx, pod.UID)
	if err != nil {
		return 0, err
	}
	podIP := sbStatus.Status.GetNetwork().GetIp()
	if pod.Spec.HostNetwork {
		podIP = a.nodeIP()
	}
	waits := map[string]waiting{}
	initDone, requeue, err := a.syncInitContainers(ctx, pod, sb.Id, sbCfg, byName, podIP, waits)
	if err != nil {
		return 0, err
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		if !initDone {
			waits[c.Name] = waiting{reason: "PodInitializing"}
			continue
		}
		r, err := a.syncContainer(ctx, pod, c, sb.Id, sbCfg, byName[c.Name], podIP, waits, func(code int32) bool { return shouldRestart(pod.Spec.RestartPolicy, code) })
		if err != nil {
			return 0, err
		}
		if r > 0 {
			requeue = minPositive(requeue, r)
		}
	}
	byName, err = a.podContainers(ctx, pod.UID)
	if err != nil {
		return 0, err
	}
	a.ensureProbes(ctx, pod, byName, podIP)
	if hasDeadline {
		requeue = minPositive(requeue, left)
	}
	return requeue, a.writeStatus(ctx, pod, sbStatus.Status, byName, waits)
}

// syncContainer brings one container of the pod to where it should be:
// started if missing, restarted (after its back-off) when it exited and
// restart says so, killed when it failed its liveness or startup probe.
// It returns how soon to look again.
func (a *Agent) syncContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, sandboxID string, sbCfg *runtimeapi.PodSandboxConfig,
	hist []*runtimeapi.Container, podIP string, waits map[string]waiting, restart func(exitCode int32) bool) (time.Duration, error) {
	var latest *runtimeapi.Container
	if len(hist) > 0 {
		latest = hist[len(hist)-1]
	}
	var next uint32
	switch {
	case latest == nil:
	case latest.State == runtimeapi.ContainerState_CONTAINER_CREATED && latest.PodSandboxId == sandboxID:
		// Created but never started (agent died in between): start it.
		if _, err := a.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: latest.Id}); err != nil {
			return 0, fmt.Errorf("StartContainer: %w", err)
		}
		return 0, nil
	case latest.State == runtimeapi.ContainerState_CONTAINER_RUNNING && latest.PodSandboxId == sandboxID:
		if kind, failed := a.probeFailure(c, latest.Id); failed {
			// Killed; the exit brings it back here to be restarted.
			a.killContainerAsync(ctx, pod, c, latest.Id, podIP, containerGrace(pod, kind.of(c)),
				fmt.Sprintf("Container %s failed %s probe, will be restarted", c.Name, strings.ToLower(kind.String())))
		}
		return 0, nil
	default:
		st, err := a.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: latest.Id})
		if err != nil {
			return 0, fmt.Errorf("ContainerStatus: %w", err)
		}
		if latest.PodSandboxId == sandboxID && !restart(st.Status.GetExitCode()) {
			return 0, nil
		}
		bkey := string(pod.UID) + "/" + c.Name
		if wait, in := a.inBackoff(bkey, st.Status); in {
			waits[c.Name] = waiting{"CrashLoopBackOff", fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", a.backoffDelay(bkey), c.Name, pod.Name, pod.Namespace, pod.UID)}
			a.recorder.Eventf(pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID)
			return wait, nil
		}
		next = latest.Metadata.GetAttempt() + 1
	}
	imageRef, w := a.ensureImage(ctx, pod, c)
	if w != nil {
		waits[c.Name] = *w
		return time.Second, nil
	}
	if err := a.startContainer(ctx, pod, c, sandboxID, sbCfg, imageRef, next); err != nil {
		reason := "CreateContainerError"
		if errors.As(err, new(configError)) {
			reason = "CreateContainerConfigError"
		}
		waits[c.Name] = waiting{reason, err.Error()}
		a.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return 5 * time.Second, nil
	}
	if next > 0 {
		a.noteRestart(string(pod.UID) + "/" + c.Name)
	}
	a.postStart(ctx, pod, c, next, podIP)
	return 0, nil
}

func shouldRestart(policy corev1.RestartPolicy, exitCode int32) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return true
}

func minPositive(a, b time.Duration) time.Duration {
	if a <= 0 || b < a {
		return b
	}
	return a
}

// inBackoff says whether a restart must wait, and how long.
func (a *Agent) inBackoff(key string, st *runtimeapi.ContainerStatus) (time.Duration, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.backoff[key]
	if e == nil {
		return 0, false
	}
	// A container that ran long enough starts over at the initial delay.
	if st != nil && st.StartedAt > 0 && st.FinishedAt-st.StartedAt > int64(backoffReset) {
		delete(a.backoff, key)
		return 0, false
	}
	if d := time.Until(e.until); d > 0 {
		return d, true
	}
	return 0, false
}

func (a *Agent) backoffDelay(key string) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e := a.backoff[key]; e != nil {
		return e.delay
	}
	return initialBackoff
}

// noteRestart records a restart: the next one waits twice as long.
func (a *Agent) noteRestart(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.backoff[key]
	if e == nil {
		e = &backoffEntry{delay: initialBackoff}
		a.backoff[key] = e
	} else {
		e.delay = min(2*e.delay, maxBackoff)
	}
	e.until = time.Now().Add(e.delay)
}

// ensureImage makes the container's image present per imagePullPolicy and
// returns its ID, or why the container has to wait.
func (a *Agent) ensureImage(ctx context.Context, pod *corev1.Pod, c *corev1.Container) (string, *waiting) {
	spec := &runtimeapi.ImageSpec{Image: c.Image, UserSpecifiedImage: c.Image}
	st, err := a.rt.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: spec})
	present := err == nil && st.Image != nil
	policy := c.ImagePullPolicy
	if policy == "" {
		policy = corev1.PullIfNotPresent
	}
	if present && policy != corev1.PullAlways {
		a.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.Image)
		return st.Image.Id, nil
	}
	if policy == corev1.PullNever {
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
		a.recorder.Event(pod, corev1.EventTypeWarning, "ErrImageNeverPull", msg)
		return "", &waiting{"ErrImageNeverPull", msg}
	}
	bkey := string(pod.UID) + "/" + c.Name + "/pull"
	if _, in := a.inBackoff(bkey, nil); in {
		msg := fmt.Sprintf("Back-off pulling image %q", c.Image)
		return "", &waiting{"ImagePullBackOff", msg}
	}
	a.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
	start := time.Now()
	// Each matching pull secret in turn, then anonymously, as upstream.
	var resp *runtimeapi.PullImageResponse
	for _, auth := range append(a.pullAuths(ctx, pod, c.Image), nil) {
		resp, err = a.rt.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec, Auth: auth})
		if err == nil {
			break
		}
	}
	if err != nil {
		a.noteRestart(bkey)
		msg := fmt.Sprintf("Failed to pull image %q: %v", c.Image, err)
		a.recorder.Event(pod, corev1.EventTypeWarning, "Failed", msg)
		return "", &waiting{"ErrImagePull", msg}
	}
	a.mu.Lock()
	delete(a.backoff, bkey)
	a.mu.Unlock()
	a.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Successfully pulled image %q in %s", c.Image, time.Since(start).Round(time.Millisecond))
	return resp.ImageRef, nil
}

func (a *Agent) startContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, sandboxID string, sbCfg *runtimeapi.PodSandboxConfig, imageRef string, attempt uint32) error {
	vols := a.podVolumes(pod.UID)
	envs, lookup, err := a.containerEnv(ctx, pod, c, vols.info)
	if err != nil {
		return err
	}
	expandAll := func(in []string) []string {
		var out []string
		for _, s := range in {
			out = append(out, expand(s, lookup))
		}
		return out
	}
	mounts, err := a.volumes.Mounts(pod, c, vols.paths, func(s string) string { return expand(s, lookup) })
	if err != nil {
		return configError{err}
	}
	if tl, err := a.volumes.TerminationLog(pod, c, attempt); err != nil {
		return err
	} else if tl != nil {
		mounts = append(mounts, tl)
	}
	if err := os.MkdirAll(filepath.Join(sbCfg.LogDirectory, c.Name), 0o755); err != nil {
		return err
	}
	sc := &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: namespaceOptions(pod)}
	if s := c.SecurityContext; s != nil {
		sc.Privileged = ptr.Deref(s.Privileged, false)
		if s.RunAsUser != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *s.RunAsUser}
		}
		if s.RunAsGroup != nil {
			sc.RunAsGroup = &runtimeapi.Int64Value{Value: *s.RunAsGroup}
		}
		sc.ReadonlyRootfs = ptr.Deref(s.ReadOnlyRootFilesystem, false)
	}
	if err := a.applySecurity(ctx, pod, c, imageRef, sc); err != nil {
		return err
	}
	cfg := &runtimeapi.ContainerConfig{
		Metadata:   &runtimeapi.ContainerMetadata{Name: c.Name, Attempt: attempt},
		Image:      &runtimeapi.ImageSpec{Image: imageRef, UserSpecifiedImage: c.Image},
		Command:    expandAll(c.Command),
		Args:       expandAll(c.Args),
		WorkingDir: c.WorkingDir,
		Envs:       envs,
		Mounts:     mounts,
		Labels: map[string]string{
			labelPodName: pod.Name, labelPodNamespace: pod.Namespace, labelPodUID: string(pod.UID), labelContainerName: c.Name,
		},
		Annotations: map[string]string{annoRestartCount: fmt.Sprint(attempt)},
		LogPath:     filepath.Join(c.Name, fmt.Sprintf("%d.log", attempt)),
		Stdin:       c.Stdin,
		StdinOnce:   c.StdinOnce,
		Tty:         c.TTY,
		Linux:       &runtimeapi.LinuxContainerConfig{SecurityContext: sc, Resources: linuxResources(pod, c, memTotal())},
	}
	resp, err := a.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sandboxID, Config: cfg, SandboxConfig: sbCfg})
	if err != nil {
		return fmt.Errorf("CreateContainer: %w", err)
	}
	a.recorder.Eventf(pod, corev1.EventTypeNormal, "Created", "Created container %s", c.Name)
	if _, err := a.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: resp.ContainerId}); err != nil {
		return fmt.Errorf("StartContainer: %w", err)
	}
	a.recorder.Eventf(pod, corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
	return nil
}

func namespaceOptions(pod *corev1.Pod) *runtimeapi.NamespaceOption {
	ns := &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD}
	if pod.Spec.HostNetwork {
		ns.Network = runtimeapi.NamespaceMode_NODE
	}
	if pod.Spec.HostPID {
		ns.Pid = runtimeapi.NamespaceMode_NODE
	} else if ptr.Deref(pod.Spec.ShareProcessNamespace, false) {
		ns.Pid = runtimeapi.NamespaceMode_POD
	}
	if pod.Spec.HostIPC {
		ns.Ipc = runtimeapi.NamespaceMode_NODE
	}
	return ns
}

// sandboxConfig is the same for a pod every time it is asked, as the CRI
// wants it again with each CreateContainer.
func (a *Agent) sandboxConfig(pod *corev1.Pod, attempt uint32) *runtimeapi.PodSandboxConfig {
	hostname := pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	if pod.Spec.HostNetwork {
		hostname = ""
	}
	lbls := map[string]string{}
	for k, v := range pod.Labels {
		lbls[k] = v
	}
	lbls[labelPodName], lbls[labelPodNamespace], lbls[labelPodUID] = pod.Name, pod.Namespace, string(pod.UID)
	annos := map[string]string{}
	for k, v := range pod.Annotations {
		annos[k] = v
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		annos[annoTermGrace] = fmt.Sprint(*g)
	}
	var ports []*runtimeapi.PortMapping
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			proto := runtimeapi.Protocol_TCP
			switch p.Protocol {
			case corev1.ProtocolUDP:
				proto = runtimeapi.Protocol_UDP
			case corev1.ProtocolSCTP:
				proto = runtimeapi.Protocol_SCTP
			}
			ports = append(ports, &runtimeapi.PortMapping{Protocol: proto, ContainerPort: p.ContainerPort, HostPort: p.HostPort, HostIp: p.HostIP})
		}
	}
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: pod.Name, Namespace: pod.Namespace, Uid: string(pod.UID), Attempt: attempt},
		Hostname:     hostname,
		LogDirectory: filepath.Join(a.cfg.PodLogsDir, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID)),
		PortMappings: ports,
		Labels:       lbls,
		Annotations:  annos,
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: namespaceOptions(pod)},
		},
	}
}

func (a *Agent) podSandboxes(ctx context.Context, uid types.UID) ([]*runtimeapi.PodSandbox, error) {
	resp, err := a.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{labelPodUID: string(uid)}}})
	if err != nil {
		return nil, fmt.Errorf("ListPodSandbox: %w", err)
	}
	sbs := resp.Items
	sort.Slice(sbs, func(i, j int) bool { return sbs[i].CreatedAt > sbs[j].CreatedAt })
	return sbs, nil
}

// podContainers lists a pod's containers (all sandboxes) by name, oldest
// attempt first.
func (a *Agent) podContainers(ctx context.Context, uid types.UID) (map[string][]*runtimeapi.Container, error) {
	resp, err := a.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{LabelSelector: map[string]string{labelPodUID: string(uid)}}})
	if err != nil {
		return nil, fmt.Errorf("ListContainers: %w", err)
	}
	out := map[string][]*runtimeapi.Container{}
	for _, c := range resp.Containers {
		out[c.Metadata.GetName()] = append(out[c.Metadata.GetName()], c)
	}
	for _, cs := range out {
		sort.Slice(cs, func(i, j int) bool {
			if cs[i].Metadata.GetAttempt() != cs[j].Metadata.GetAttempt() {
				return cs[i].Metadata.GetAttempt() < cs[j].Metadata.GetAttempt()
			}
			return cs[i].CreatedAt < cs[j].CreatedAt
		})
	}
	return out, nil
}

// terminatePod stops a deleted pod's containers within its grace period,
// removes its sandboxes, and then tells the API server the pod is gone.
func (a *Agent) terminatePod(ctx context.Context, pod *corev1.Pod) error {
	a.lc.probes.stopPod(pod.UID)
	if err := a.killPod(ctx, pod.UID, deletionGrace(pod), pod); err != nil {
		return err
	}
	if err := a.teardownVolumes(pod.UID); err != nil {
		return err
	}
	a.lc.probes.stopPod(pod.UID) // any that a sync racing with the deletion started
	err := a.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0), Preconditions: &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return err
	}
	a.mu.Lock()
	for k := range a.backoff {
		if strings.HasPrefix(k, string(pod.UID)+"/") {
			delete(a.backoff, k)
		}
	}
	a.mu.Unlock()
	a.log.Info("pod terminated", "pod", pod.Namespace+"/"+pod.Name)
	return nil
}

// killPod stops every container of the pod (in parallel, each with the
// grace period, its preStop hook run first) and then stops and removes its
// sandboxes.
func (a *Agent) killPod(ctx context.Context, uid types.UID, grace int64, pod *corev1.Pod) error {
	byName, err := a.podContainers(ctx, uid)
	if err != nil {
		return err
	}
	// The main containers first, then the sidecars (upstream's order).
	sidecar := func(name string) bool {
		if pod == nil {
			return false
		}
		for i := range pod.Spec.InitContainers {
			if pod.Spec.InitContainers[i].Name == name {
				return isSidecar(&pod.Spec.InitContainers[i])
			}
		}
		return false
	}
	for _, sidecars := range []bool{false, true} {
		if err := a.stopContainers(ctx, pod, byName, grace, func(name string) bool { return sidecar(name) == sidecars }); err != nil {
			return err
		}
	}
	sbs, err := a.podSandboxes(ctx, uid)
	if err != nil {
		return err
	}
	for _, sb := range sbs {
		if _, err := a.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			return fmt.Errorf("StopPodSandbox: %w", err)
		}
		if _, err := a.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			return fmt.Errorf("RemovePodSandbox: %w", err)
		}
	}
	return nil
}

// stopContainers kills the pod's running containers whose names match, in
// parallel, each with the grace period.
func (a *Agent) stopContainers(ctx context.Context, pod *corev1.Pod, byName map[string][]*runtimeapi.Container, grace int64, match func(string) bool) error {
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for name, cs := range byName {
		if !match(name) {
			continue
		}
		for _, c := range cs {
			if c.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
				continue
			}
			var spec *corev1.Container
			podIP := ""
			if pod != nil {
				spec = specByName(pod, name)
				podIP = pod.Status.PodIP
			}
			wg.Add(1)
			go func(id, name string) {
				defer wg.Done()
				if err := a.killContainer(ctx, pod, spec, id, name, podIP, grace, ""); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}(c.Id, name)
		}
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if len(all) > 0 {
		return errors.Join(all...)
	}
	return nil
}

// cleanupOrphans removes sandboxes of pods that no longer exist in the API
// (force-deleted, or deleted while the agent was down).
func (a *Agent) cleanupOrphans(ctx context.Context) {
	// One round at a time (periodic and after a force deletion).
	if !a.lc.orphans.TryLock() {
		return
	}
	defer a.lc.orphans.Unlock()
	pods, err := a.pods.List(labels.Everything())
	if err != nil {
		return
	}
	known := map[string]bool{}
	for _, p := range pods {
		known[string(p.UID)] = true
	}
	resp, err := a.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return
	}
	done := map[string]bool{}
	for _, sb := range resp.Items {
		uid := sb.Labels[labelPodUID]
		if uid == "" || known[uid] || done[uid] {
			continue
		}
		done[uid] = true
		a.lc.probes.stopPod(types.UID(uid))
		a.log.Info("removing sandbox of a pod that no longer exists", "pod", sb.Metadata.GetNamespace()+"/"+sb.Metadata.GetName(), "uid", uid)
		if err := a.killPod(ctx, types.UID(uid), 2, nil); err != nil {
			a.log.Warn("removing orphaned pod", "uid", uid, "err", err)
			known[uid] = true // its volumes stay until its containers are gone
		}
	}
	// Volumes of pods that are gone and have no sandbox left.
	uids, err := a.volumes.PodUIDs()
	if err != nil {
		a.log.Warn("listing pod directories", "err", err)
	}
	for _, uid := range uids {
		if known[string(uid)] {
			continue
		}
		if sbs, err := a.podSandboxes(ctx, uid); err != nil || len(sbs) > 0 {
			continue
		}
		if err := a.teardownVolumes(uid); err != nil {
			a.log.Warn("removing the volumes of a pod that no longer exists", "uid", uid, "err", err)
		}
	}
}

// writeStatus computes the pod's status from the runtime and writes it if
// it changed.
func (a *Agent) writeStatus(ctx context.Context, pod *corev1.Pod, sb *runtimeapi.PodSandboxStatus, byName map[string][]*runtimeapi.Container, waits map[string]waiting) error {
	status := *pod.Status.DeepCopy()
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	if status.StartTime == nil {
		status.StartTime = &now
	}
	ip := a.nodeIP()
	status.HostIP = ip
	status.HostIPs = []corev1.HostIP{{IP: ip}}
	status.PodIP, status.PodIPs = "", nil
	if sb != nil && sb.Network != nil && sb.Network.Ip != "" {
		status.PodIP = sb.Network.Ip
		status.PodIPs = []corev1.PodIP{{IP: sb.Network.Ip}}
		for _, extra := range sb.Network.AdditionalIps {
			status.PodIPs = append(status.PodIPs, corev1.PodIP{IP: extra.Ip})
		}
	} else if pod.Spec.HostNetwork && sb != nil {
		status.PodIP, status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	}
	var statuses []corev1.ContainerStatus
	var notReady []string
	for _, c := range pod.Spec.Containers {
		cs, err := a.containerStatus(ctx, c, byName[c.Name], waits)
		if err != nil {
			return err
		}
		if !cs.Ready {
			notReady = append(notReady, c.Name)
		}
		statuses = append(statuses, cs)
	}
	status.ContainerStatuses = statuses
	var initStatuses []corev1.ContainerStatus
	for _, c := range pod.Spec.InitContainers {
		cs, err := a.containerStatus(ctx, c, byName[c.Name], waits)
		if err != nil {
			return err
		}
		if !isSidecar(&c) {
			// A regular init container is ready once it completed.
			cs.Ready = cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0
		} else if !cs.Ready {
			notReady = append(notReady, c.Name)
		}
		initStatuses = append(initStatuses, cs)
	}
	status.InitContainerStatuses = initStatuses
	mainStarted := false
	for _, c := range pod.Spec.Containers {
		mainStarted = mainStarted || len(byName[c.Name]) > 0
	}
	initialized, initFailed, pending := initStatus(pod, initStatuses, mainStarted)
	status.Phase = podPhase(pod, statuses)
	switch {
	case pod.Status.Phase == corev1.PodFailed && pod.Status.Reason != "":
		status.Phase = corev1.PodFailed // failed by the agent (DeadlineExceeded)
	case initFailed:
		status.Phase = corev1.PodFailed
	case !initialized:
		status.Phase = corev1.PodPending
	}
	status.QOSClass = qosClass(pod)
	sandboxReady := sb != nil && sb.State == runtimeapi.PodSandboxState_SANDBOX_READY
	setCondition(&status, corev1.PodReadyToStartContainers, sandboxReady, "", "", now)
	if initialized {
		setCondition(&status, corev1.PodInitialized, true, "", "", now)
	} else {
		setCondition(&status, corev1.PodInitialized, false, "ContainersNotInitialized", initContainersMessage(pending), now)
	}
	reason, msg := "", ""
	if len(notReady) > 0 {
		reason, msg = "ContainersNotReady", fmt.Sprintf("containers with unready status: [%s]", strings.Join(notReady, " "))
	}
	if status.Phase == corev1.PodSucceeded || status.Phase == corev1.PodFailed {
		reason = "PodCompleted"
	}
	setCondition(&status, corev1.ContainersReady, len(notReady) == 0, reason, msg, now)
	setCondition(&status, corev1.PodReady, len(notReady) == 0, reason, msg, now)
	if apiequality.Semantic.DeepEqual(status, pod.Status) {
		return nil
	}
	updated := pod.DeepCopy()
	updated.Status = status
	pods := a.client.CoreV1().Pods(pod.Namespace)
	_, err := pods.UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		// Our informer lags our own last write; the runtime is the truth
		// for what we report, so write it on top of the current object,
		// as upstream's status manager does.
		fresh, gerr := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if gerr != nil {
			return gerr
		}
		if fresh.UID != pod.UID || fresh.DeletionTimestamp != nil {
			return nil
		}
		fresh.Status = status
		_, err = pods.UpdateStatus(ctx, fresh, metav1.UpdateOptions{})
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func setCondition(status *corev1.PodStatus, t corev1.PodConditionType, ok bool, reason, msg string, now metav1.Time) {
	s := corev1.ConditionFalse
	if ok {
		s, reason, msg = corev1.ConditionTrue, "", ""
	}
	for i := range status.Conditions {
		c := &status.Conditions[i]
		if c.Type == t {
			if c.Status != s {
				c.LastTransitionTime = now
			}
			c.Status, c.Reason, c.Message = s, reason, msg
			return
		}
	}
	status.Conditions = append(status.Conditions, corev1.PodCondition{Type: t, Status: s, Reason: reason, Message: msg, LastTransitionTime: now})
}

func (a *Agent) containerStatus(ctx context.Context, c corev1.Container, hist []*runtimeapi.Container, waits map[string]waiting) (corev1.ContainerStatus, error) {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Started: ptr.To(false)}
	if len(hist) == 0 {
		w := waiting{reason: "ContainerCreating"}
		if x, ok := waits[c.Name]; ok {
			w = x
		}
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: w.reason, Message: w.message}
		return cs, nil
	}
	latest := hist[len(hist)-1]
	st, err := a.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: latest.Id})
	if err != nil {
		return cs, fmt.Errorf("ContainerStatus: %w", err)
	}
	cs.RestartCount = int32(latest.Metadata.GetAttempt())
	cs.ContainerID = a.runtimeName + "://" + latest.Id
	cs.ImageID = st.Status.GetImageRef()
	cs.State = a.toState(st.Status)
	if t := cs.State.Terminated; t != nil && t.Message == "" {
		t.Message = volume.TerminationMessage(st.Status, c.TerminationMessagePath)
	}
	if t := cs.State.Terminated; t != nil && t.ExitCode != 0 && t.Message == "" && c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError {
		t.Message = fallbackMessage(st.Status.GetLogPath())
	}
	if len(hist) > 1 {
		if prev, err := a.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: hist[len(hist)-2].Id}); err == nil {
			cs.LastTerminationState = a.toState(prev.Status)
			if t := cs.LastTerminationState.Terminated; t != nil && t.Message == "" {
				t.Message = volume.TerminationMessage(prev.Status, c.TerminationMessagePath)
			}
		}
	}
	if w, ok := waits[c.Name]; ok && cs.State.Terminated != nil {
		// Exited and waiting to restart: what upstream shows as
		// CrashLoopBackOff with the exit in lastState.
		cs.LastTerminationState = cs.State
		cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: w.reason, Message: w.message}}
	}
	running := cs.State.Running != nil
	cs.Started = ptr.To(running && a.containerStarted(&c, latest.Id))
	cs.Ready = running && a.containerReady(&c, latest.Id)
	return cs, nil
}

func (a *Agent) toState(st *runtimeapi.ContainerStatus) corev1.ContainerState {
	ts := func(ns int64) metav1.Time { return metav1.NewTime(time.Unix(0, ns).Truncate(time.Second)) }
	switch st.GetState() {
	case runtimeapi.ContainerState_CONTAINER_RUNNING:
		return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ts(st.StartedAt)}}
	case runtimeapi.ContainerState_CONTAINER_EXITED:
		reason := st.Reason
		if reason == "" {
			reason = "Error"
			if st.ExitCode == 0 {
				reason = "Completed"
			}
		}
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: st.ExitCode, Reason: reason, Message: st.Message,
			StartedAt: ts(st.StartedAt), FinishedAt: ts(st.FinishedAt), ContainerID: a.runtimeName + "://" + st.Id,
		}}
	}
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
}

// podPhase follows upstream's rules for a pod without init containers.
func podPhase(pod *corev1.Pod, statuses []corev1.ContainerStatus) corev1.PodPhase {
	var running, waitingN, stopped, succeeded int
	for _, cs := range statuses {
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.LastTerminationState.Terminated != nil:
			stopped++
		default:
			waitingN++
		}
	}
	switch {
	case waitingN > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		switch pod.Spec.RestartPolicy {
		case corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case corev1.RestartPolicyOnFailure:
			if stopped == succeeded {
				return corev1.PodSucceeded
			}
			return corev1.PodRunning
		default:
			if stopped == succeeded {
				return corev1.PodSucceeded
			}
			return corev1.PodFailed
		}
	}
	return corev1.PodPending
}
