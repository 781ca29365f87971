package agent

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"skiff/internal/syncloop"
	"skiff/internal/version"
)

// maxPods is upstream's default --max-pods.
const maxPods = 110

// registerNode creates the Node, or takes over the existing one, and posts
// its first status.
func (a *Agent) registerNode(ctx context.Context) error {
	nodes := a.client.CoreV1().Nodes()
	for {
		_, err := nodes.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Labels: map[string]string{
				corev1.LabelHostname:   a.cfg.NodeName,
				corev1.LabelOSStable:   runtime.GOOS,
				corev1.LabelArchStable: runtime.GOARCH,
			}}}
			_, err = nodes.Create(ctx, node, metav1.CreateOptions{})
			if err == nil {
				a.log.Info("registered node", "node", a.cfg.NodeName)
			}
		}
		if err == nil || apierrors.IsAlreadyExists(err) {
			if err = a.updateNodeStatus(ctx); err == nil {
				return nil
			}
		}
		a.log.Warn("registering node", "node", a.cfg.NodeName, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// heartbeat renews the node Lease and posts node status until ctx ends.
func (a *Agent) heartbeat(ctx context.Context) {
	lease := time.NewTicker(a.cfg.RenewInterval)
	status := time.NewTicker(a.cfg.StatusInterval)
	defer lease.Stop()
	defer status.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-lease.C:
			a.renewLease(ctx)
		case <-status.C:
			if err := a.updateNodeStatus(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("updating node status", "err", err)
			}
		}
	}
}

func (a *Agent) renewLease(ctx context.Context) {
	leases := a.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	secs := int32(a.cfg.LeaseDuration / time.Second)
	l, err := leases.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		l = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Namespace: corev1.NamespaceNodeLease},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(a.cfg.NodeName), LeaseDurationSeconds: &secs, RenewTime: &now},
		}
		if node, err := a.client.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{}); err == nil {
			l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}
		}
		_, err = leases.Create(ctx, l, metav1.CreateOptions{})
	} else if err == nil {
		l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.RenewTime = ptr.To(a.cfg.NodeName), &secs, &now
		_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	}
	if err != nil && ctx.Err() == nil {
		a.log.Warn("renewing node lease", "err", err)
	}
}

// updateNodeStatus posts capacity, addresses, node info and conditions.
func (a *Agent) updateNodeStatus(ctx context.Context) error {
	// The node-ipam and lifecycle controllers write the same object.
	return retry.RetryOnConflict(retry.DefaultRetry, func() error { return a.tryUpdateNodeStatus(ctx) })
}

func (a *Agent) tryUpdateNodeStatus(ctx context.Context) error {
	nodes := a.client.CoreV1().Nodes()
	node, err := nodes.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	now := metav1.Now()
	cap := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(memTotal(), resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(maxPods, resource.DecimalSI),
	}
	node.Status.Capacity = cap
	node.Status.Allocatable = cap.DeepCopy()
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: a.nodeIP()}, {Type: corev1.NodeHostName, Address: a.cfg.NodeName}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(max(a.cfg.ServerPort, 0))
	node.Status.NodeInfo = corev1.NodeSystemInfo{
		MachineID:               readTrim("/etc/machine-id"),
		BootID:                  readTrim("/proc/sys/kernel/random/boot_id"),
		KernelVersion:           readTrim("/proc/sys/kernel/osrelease"),
		OSImage:                 osImage(),
		ContainerRuntimeVersion: a.runtimeName + "://" + a.runtimeVersion,
		KubeletVersion:          version.GitVersion(),
		KubeProxyVersion:        version.GitVersion(),
		OperatingSystem:         runtime.GOOS,
		Architecture:            runtime.GOARCH,
	}
	if imgs, err := a.rt.ListImages(ctx, &runtimeapi.ListImagesRequest{}); err == nil {
		node.Status.Images = nodeImages(imgs.Images)
	}
	// Each condition that changes is reported as an Event once the status
	// is written, as the kubelet does ("Node x status is now: NodeReady").
	var changed []string
	set := func(t corev1.NodeConditionType, status corev1.ConditionStatus, reason, msg string) {
		event := nodeStatusEvents[t][status == corev1.ConditionTrue]
		for i := range node.Status.Conditions {
			c := &node.Status.Conditions[i]
			if c.Type == t {
				if c.Status != status {
					c.LastTransitionTime = now
					changed = append(changed, event)
				}
				c.Status, c.Reason, c.Message, c.LastHeartbeatTime = status, reason, msg, now
				return
			}
		}
		node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{Type: t, Status: status, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now})
		changed = append(changed, event)
	}
	p := measureUsage(a.cfg.DataDir).pressure()
	if p.memory {
		set(corev1.NodeMemoryPressure, corev1.ConditionTrue, "KubeletHasInsufficientMemory", "kubelet has insufficient memory available")
	} else {
		set(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available")
	}
	if p.disk {
		set(corev1.NodeDiskPressure, corev1.ConditionTrue, "KubeletHasDiskPressure", "kubelet has disk pressure")
	} else {
		set(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure")
	}
	if p.pid {
		set(corev1.NodePIDPressure, corev1.ConditionTrue, "KubeletHasInsufficientPID", "kubelet has insufficient PID available")
	} else {
		set(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available")
	}
	if ready, msg := a.runtimeReady(ctx); ready {
		set(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status")
	} else {
		set(corev1.NodeReady, corev1.ConditionFalse, "KubeletNotReady", msg)
	}
	if _, err = nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		return err
	}
	if a.recorder != nil {
		for _, e := range changed {
			a.recorder.Eventf(syncloop.NodeReference(a.cfg.NodeName), corev1.EventTypeNormal, e, "Node %s status is now: %s", a.cfg.NodeName, e)
		}
	}
	return nil
}

// nodeStatusEvents are the kubelet's event reasons for a node condition
// being false or true.
var nodeStatusEvents = map[corev1.NodeConditionType]map[bool]string{
	corev1.NodeMemoryPressure: {false: "NodeHasSufficientMemory", true: "NodeHasInsufficientMemory"},
	corev1.NodeDiskPressure:   {false: "NodeHasNoDiskPressure", true: "NodeHasDiskPressure"},
	corev1.NodePIDPressure:    {false: "NodeHasSufficientPID", true: "NodeHasInsufficientPID"},
	corev1.NodeReady:          {false: "NodeNotReady", true: "NodeReady"},
}

// runtimeReady asks the CRI for RuntimeReady. The network condition is
// not required: the CNI config is written once the node has a pod CIDR,
// and pods wait for it.
func (a *Agent) runtimeReady(ctx context.Context) (bool, string) {
	st, err := a.rt.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil {
		return false, fmt.Sprintf("container runtime status check may not have completed yet: %v", err)
	}
	for _, c := range st.GetStatus().GetConditions() {
		if c.Type == runtimeapi.RuntimeReady && !c.Status {
			return false, fmt.Sprintf("container runtime is down: %s: %s", c.Reason, c.Message)
		}
	}
	return true, ""
}

func (a *Agent) nodeIP() string {
	if a.cfg.NodeIP != "" {
		return a.cfg.NodeIP
	}
	if conn, err := net.Dial("udp4", "192.0.2.1:9"); err == nil {
		defer conn.Close()
		return conn.LocalAddr().(*net.UDPAddr).IP.String()
	}
	return "127.0.0.1"
}

func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

func osImage() string {
	for _, line := range strings.Split(readTrim("/etc/os-release"), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return runtime.GOOS
}

// maxNodeImages is upstream's --node-status-max-images default.
const maxNodeImages = 50

// nodeImages lists the images on the node, largest first, as upstream does.
func nodeImages(imgs []*runtimeapi.Image) []corev1.ContainerImage {
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].Size > imgs[j].Size })
	var out []corev1.ContainerImage
	for _, img := range imgs {
		names := append(append([]string(nil), img.RepoDigests...), img.RepoTags...)
		if len(names) == 0 {
			continue
		}
		out = append(out, corev1.ContainerImage{Names: names, SizeBytes: int64(img.Size)})
		if len(out) == maxNodeImages {
			break
		}
	}
	return out
}
