package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// cniBridge is the bridge every pod of this node is attached to.
const cniBridge = "skiff0"

// cniConfig renders the pod network: a bridge with host-local IPAM on the
// node's pod CIDR, the node as gateway, and portmap for hostPort.
// Masquerading is not the bridge plugin's: it would hide pod addresses
// from other nodes' pods too; the network component masquerades only
// traffic that leaves the pod network. (containerd brings up the
// loopback interface of each sandbox itself, with the loopback plugin.)
func cniConfig(podCIDR, ipamDir string) ([]byte, error) {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "skiff",
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      cniBridge,
				"isGateway":   true,
				"ipMasq":      false,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": podCIDR}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": ipamDir,
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// ensureNetwork writes the CNI config once the node has a pod CIDR; false
// while it has none yet.
func (a *Agent) ensureNetwork() (bool, error) {
	node, err := a.nodes.Get(a.cfg.NodeName)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	cidr := node.Spec.PodCIDR
	if cidr == "" {
		return false, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cniCIDR == cidr {
		return true, nil
	}
	data, err := cniConfig(cidr, filepath.Join(a.cfg.DataDir, "cni", "networks"))
	if err != nil {
		return false, err
	}
	dir := a.CNIConfDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	// Atomic, so containerd's config watcher never reads half a file.
	tmp := filepath.Join(dir, ".10-skiff.conflist.tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "10-skiff.conflist")); err != nil {
		return false, fmt.Errorf("writing CNI config: %w", err)
	}
	a.cniCIDR = cidr
	a.log.Info("wrote CNI config", "podCIDR", cidr, "bridge", cniBridge)
	return true, nil
}
