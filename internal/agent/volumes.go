package agent

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"skiff/internal/agent/volume"
)

// clusterDomain is the DNS domain of the pods' /etc/hosts entries.
const clusterDomain = "cluster.local"

// podSetup is what the last sync of a pod prepared for its containers.
type podSetup struct {
	paths map[string]string // volume name -> host path
	info  volume.PodInfo
}

// podSetups holds the podSetup of every pod being run, by UID.
type podSetups struct {
	mu sync.Mutex
	m  map[types.UID]podSetup
}

func (a *Agent) podVolumes(uid types.UID) podSetup {
	a.setups.mu.Lock()
	defer a.setups.mu.Unlock()
	return a.setups.m[uid]
}

// podInfo is what the downward API needs beyond the pod object.
func (a *Agent) podInfo(sb *runtimeapi.PodSandboxStatus) volume.PodInfo {
	info := volume.PodInfo{HostIPs: []string{a.nodeIP()}}
	if sb != nil && sb.Network != nil && sb.Network.Ip != "" {
		info.PodIPs = append(info.PodIPs, sb.Network.Ip)
		for _, ip := range sb.Network.AdditionalIps {
			info.PodIPs = append(info.PodIPs, ip.Ip)
		}
	}
	if n, err := a.nodes.Get(a.cfg.NodeName); err == nil {
		info.Allocatable = n.Status.Allocatable
	}
	return info
}

// setupVolumes prepares (or refreshes) the pod's volumes and /etc/hosts
// and remembers them for its containers.
func (a *Agent) setupVolumes(ctx context.Context, pod *corev1.Pod, sb *runtimeapi.PodSandboxStatus) error {
	info := a.podInfo(sb)
	if pod.Spec.HostNetwork {
		info.PodIPs = info.HostIPs
	}
	paths, err := a.volumes.Setup(ctx, pod, info)
	if err != nil {
		return err
	}
	if err := a.volumes.WriteHosts(pod, info.PodIPs, clusterDomain); err != nil {
		return err
	}
	a.setups.mu.Lock()
	defer a.setups.mu.Unlock()
	if a.setups.m == nil {
		a.setups.m = map[types.UID]podSetup{}
	}
	a.setups.m[pod.UID] = podSetup{paths: paths, info: info}
	return nil
}

// teardownVolumes removes what setupVolumes made, once the pod's
// containers are gone.
func (a *Agent) teardownVolumes(uid types.UID) error {
	a.setups.mu.Lock()
	delete(a.setups.m, uid)
	a.setups.mu.Unlock()
	return a.volumes.TearDown(uid)
}
