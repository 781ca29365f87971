package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Upstream's cgroup numbers: cpu shares per CPU and the least shares, the
// CFS period and the least quota, and the OOM score adjustments by QoS
// class.
const (
	sharesPerCPU  = 1024
	minShares     = 2
	cfsPeriod     = 100000
	minCFSQuota   = 1000
	guaranteedOOM = -997
	bestEffortOOM = 1000
)

// qosClass is the pod's QoS class as upstream computes it: Guaranteed when
// every container (init ones too) has cpu and memory limits equal to its
// requests, BestEffort when none has any request or limit, else Burstable.
func qosClass(pod *corev1.Pod) corev1.PodQOSClass {
	all := make([]corev1.Container, 0, len(pod.Spec.InitContainers)+len(pod.Spec.Containers))
	all = append(all, pod.Spec.InitContainers...)
	all = append(all, pod.Spec.Containers...)
	some, guaranteed := false, true
	for _, c := range all {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[name]
			lim, hasLim := c.Resources.Limits[name]
			if (hasReq && !req.IsZero()) || (hasLim && !lim.IsZero()) {
				some = true
			}
			if !hasLim || lim.IsZero() {
				guaranteed = false
				continue
			}
			// A missing request defaults to the limit.
			if hasReq && req.Cmp(lim) != 0 {
				guaranteed = false
			}
		}
	}
	switch {
	case !some:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// linuxResources maps a container's requests and limits to the cgroup
// settings the CRI applies: cpu.shares from requests.cpu, a CFS quota from
// limits.cpu, the memory limit (swap limited to it, no swap use), and the
// OOM score adjustment of the pod's QoS class. memCapacity is the node's
// memory, for Burstable containers' OOM score.
func linuxResources(pod *corev1.Pod, c *corev1.Container, memCapacity int64) *runtimeapi.LinuxContainerResources {
	r := &runtimeapi.LinuxContainerResources{CpuShares: minShares}
	cpuReq, ok := c.Resources.Requests[corev1.ResourceCPU]
	if !ok {
		cpuReq = c.Resources.Limits[corev1.ResourceCPU]
	}
	if m := cpuReq.MilliValue(); m > 0 {
		r.CpuShares = max(m*sharesPerCPU/1000, minShares)
	}
	if lim, ok := c.Resources.Limits[corev1.ResourceCPU]; ok && !lim.IsZero() {
		r.CpuPeriod = cfsPeriod
		r.CpuQuota = max(lim.MilliValue()*cfsPeriod/1000, minCFSQuota)
	}
	if lim, ok := c.Resources.Limits[corev1.ResourceMemory]; ok && !lim.IsZero() {
		r.MemoryLimitInBytes = lim.Value()
		if swapControllerV1() {
			// No swap use beyond the limit (upstream's NoSwap).
			r.MemorySwapLimitInBytes = lim.Value()
		}
	}
	r.OomScoreAdj = oomScoreAdj(pod, c, memCapacity)
	return r
}

// swapControllerV1 says whether a cgroup v1 memory controller with swap
// accounting is there (runc refuses a swap limit it cannot set).
func swapControllerV1() bool {
	_, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
	return err == nil
}

// oomScoreAdj is upstream's policy: Guaranteed pods are killed last,
// BestEffort first, Burstable in between by their share of the node's
// memory. The kernel bounds it to [-1000, 1000]; a containerd with
// restrict_oom_score_adj (ours) further raises values below its own.
func oomScoreAdj(pod *corev1.Pod, c *corev1.Container, memCapacity int64) int64 {
	switch qosClass(pod) {
	case corev1.PodQOSGuaranteed:
		return guaranteedOOM
	case corev1.PodQOSBestEffort:
		return bestEffortOOM
	}
	if memCapacity <= 0 {
		return bestEffortOOM - 1
	}
	req := c.Resources.Requests[corev1.ResourceMemory]
	adj := bestEffortOOM - (1000*req.Value())/memCapacity
	// Burstable stays strictly between Guaranteed and BestEffort.
	if adj < 1000+guaranteedOOM {
		return 1000 + guaranteedOOM
	}
	if adj >= bestEffortOOM {
		return bestEffortOOM - 1
	}
	return adj
}

// applySecurity adds what the container's securityContext says beyond
// user, group and privileged: capabilities (names without CAP_, "ALL"),
// no_new_privs (allowPrivilegeEscalation: false), and the runAsNonRoot
// check against the user the image runs as.
func (a *Agent) applySecurity(ctx context.Context, pod *corev1.Pod, c *corev1.Container, imageRef string, sc *runtimeapi.LinuxContainerSecurityContext) error {
	s := c.SecurityContext
	if s != nil && s.Capabilities != nil {
		caps := &runtimeapi.Capability{}
		for _, n := range s.Capabilities.Add {
			caps.AddCapabilities = append(caps.AddCapabilities, capName(n))
		}
		for _, n := range s.Capabilities.Drop {
			caps.DropCapabilities = append(caps.DropCapabilities, capName(n))
		}
		sc.Capabilities = caps
	}
	if s != nil && s.AllowPrivilegeEscalation != nil {
		sc.NoNewPrivs = !*s.AllowPrivilegeEscalation
	}
	psc := pod.Spec.SecurityContext
	if sc.RunAsUser == nil && psc != nil && psc.RunAsUser != nil {
		sc.RunAsUser = &runtimeapi.Int64Value{Value: *psc.RunAsUser}
	}
	if sc.RunAsGroup == nil && psc != nil && psc.RunAsGroup != nil {
		sc.RunAsGroup = &runtimeapi.Int64Value{Value: *psc.RunAsGroup}
	}
	nonRoot := psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
	if s != nil && s.RunAsNonRoot != nil {
		nonRoot = *s.RunAsNonRoot
	}
	if !nonRoot {
		return nil
	}
	if sc.RunAsUser != nil {
		if sc.RunAsUser.Value == 0 {
			return configError{errors.New("container's runAsUser breaks non-root policy")}
		}
		return nil
	}
	st, err := a.rt.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: imageRef}})
	if err != nil || st.Image == nil {
		return configError{fmt.Errorf("failed to inspect image %q for runAsNonRoot: %v", imageRef, err)}
	}
	switch {
	case st.Image.Uid != nil && st.Image.Uid.Value == 0:
		return configError{errors.New("container has runAsNonRoot and image will run as root")}
	case st.Image.Uid == nil && st.Image.Username != "":
		return configError{fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root", st.Image.Username)}
	case st.Image.Uid == nil:
		return configError{errors.New("container has runAsNonRoot and image will run as root")}
	}
	return nil
}

// capName is a capability as the CRI wants it ("CAP_" prefixed, "ALL" as
// is).
func capName(c corev1.Capability) string {
	n := strings.ToUpper(string(c))
	if n == "ALL" || strings.HasPrefix(n, "CAP_") {
		return n
	}
	return "CAP_" + n
}
