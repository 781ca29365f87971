package volume

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Mounts turns a container's volumeMounts into CRI mounts over the host
// paths Setup returned, adding the pod's /etc/hosts. expand resolves
// $(VAR) in subPathExpr against the container's environment.
func (m *Manager) Mounts(pod *corev1.Pod, c *corev1.Container, paths map[string]string, expand func(string) string) ([]*runtimeapi.Mount, error) {
	readOnlyKind := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		src := v.VolumeSource
		// As upstream: these are always mounted read-only.
		readOnlyKind[v.Name] = src.ConfigMap != nil || src.Secret != nil || src.DownwardAPI != nil || src.Projected != nil
	}
	var out []*runtimeapi.Mount
	hasHosts := false
	for _, vm := range c.VolumeMounts {
		host, ok := paths[vm.Name]
		if !ok {
			return nil, fmt.Errorf("cannot find volume %q to mount into container %q", vm.Name, c.Name)
		}
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			sub = expand(vm.SubPathExpr)
		}
		if sub != "" {
			if err := validPath(sub); err != nil {
				return nil, fmt.Errorf("volumeMounts %q subPath: %w", vm.Name, err)
			}
			host = filepath.Join(host, sub)
			if _, err := os.Lstat(host); os.IsNotExist(err) {
				if err := os.MkdirAll(host, 0o755); err != nil {
					return nil, err
				}
			}
		}
		prop := runtimeapi.MountPropagation_PROPAGATION_PRIVATE
		if vm.MountPropagation != nil {
			switch *vm.MountPropagation {
			case corev1.MountPropagationHostToContainer:
				prop = runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER
			case corev1.MountPropagationBidirectional:
				prop = runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL
			}
		}
		hasHosts = hasHosts || vm.MountPath == "/etc/hosts"
		out = append(out, &runtimeapi.Mount{
			ContainerPath: vm.MountPath, HostPath: host,
			Readonly: vm.ReadOnly || readOnlyKind[vm.Name], Propagation: prop,
		})
	}
	if !pod.Spec.HostNetwork && !hasHosts {
		out = append(out, &runtimeapi.Mount{ContainerPath: "/etc/hosts", HostPath: m.hostsPath(pod)})
	}
	return out, nil
}

func (m *Manager) hostsPath(pod *corev1.Pod) string {
	return filepath.Join(m.PodDir(pod.UID), "etc-hosts")
}

// WriteHosts writes the pod's managed /etc/hosts, as upstream's kubelet
// does: localhost entries, the pod's own name on its IPs (with its
// subdomain's FQDN when it has one), and spec.hostAliases.
func (m *Manager) WriteHosts(pod *corev1.Pod, podIPs []string, clusterDomain string) error {
	if pod.Spec.HostNetwork {
		return nil
	}
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file.\n")
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	host := pod.Name
	if pod.Spec.Hostname != "" {
		host = pod.Spec.Hostname
	}
	names := host
	if pod.Spec.Subdomain != "" {
		names = fmt.Sprintf("%s.%s.%s.svc.%s\t%s", host, pod.Spec.Subdomain, pod.Namespace, clusterDomain, host)
	}
	for _, ip := range podIPs {
		fmt.Fprintf(&b, "%s\t%s\n", ip, names)
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range pod.Spec.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	path := m.hostsPath(pod)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	if old, err := os.ReadFile(path); err == nil && string(old) == b.String() {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// TerminationLog makes the empty host file a container instance writes its
// termination message to (terminationMessagePath) and returns its mount;
// nil when the container mounts something there itself.
func (m *Manager) TerminationLog(pod *corev1.Pod, c *corev1.Container, attempt uint32) (*runtimeapi.Mount, error) {
	if c.TerminationMessagePath == "" {
		return nil, nil
	}
	for _, vm := range c.VolumeMounts {
		if vm.MountPath == c.TerminationMessagePath {
			return nil, nil
		}
	}
	dir := filepath.Join(m.PodDir(pod.UID), "containers", c.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, fmt.Sprint(attempt))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o666)
	if err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	// Any user the container runs as may write it.
	if err := os.Chmod(path, 0o666); err != nil {
		return nil, err
	}
	return &runtimeapi.Mount{ContainerPath: c.TerminationMessagePath, HostPath: path}, nil
}

// maxTerminationMessage bounds what is read of a termination message, as
// upstream does.
const maxTerminationMessage = 4096

// TerminationMessage reads what an exited container wrote to its
// termination message file, found through the runtime's record of its
// mounts.
func TerminationMessage(st *runtimeapi.ContainerStatus, path string) string {
	if path == "" {
		return ""
	}
	for _, mnt := range st.GetMounts() {
		if mnt.ContainerPath != path {
			continue
		}
		f, err := os.Open(mnt.HostPath)
		if err != nil {
			return ""
		}
		defer f.Close()
		buf := make([]byte, maxTerminationMessage)
		n, _ := io.ReadFull(f, buf)
		return string(buf[:n])
	}
	return ""
}
