package volume

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// PodInfo is what the downward API reads beyond the pod object: the
// addresses known only once the sandbox runs, and the node's allocatable
// resources (the value of a limit a container does not set).
type PodInfo struct {
	PodIPs      []string
	HostIPs     []string
	Allocatable corev1.ResourceList
}

// FieldValue resolves a downward API fieldRef path for an environment
// variable, as upstream's kubelet does.
func FieldValue(pod *corev1.Pod, path string, info PodInfo) (string, error) {
	switch path {
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return first(info.HostIPs), nil
	case "status.hostIPs":
		return strings.Join(info.HostIPs, ","), nil
	case "status.podIP":
		return first(info.PodIPs), nil
	case "status.podIPs":
		return strings.Join(info.PodIPs, ","), nil
	}
	return metadataValue(pod, path)
}

// metadataValue resolves the metadata paths that both environment
// variables and downwardAPI volumes accept.
func metadataValue(pod *corev1.Pod, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	}
	if key, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[key], nil
	}
	if key, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[key], nil
	}
	return "", fmt.Errorf("unsupported fieldPath: %s", path)
}

// subscript splits "prefix['key']" into key.
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok || !strings.HasSuffix(rest, "']") {
		return "", false
	}
	return strings.TrimSuffix(rest, "']"), true
}

// formatMap writes labels or annotations one `key="value"` per line,
// sorted, as upstream's downwardAPI volume does.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(k + "=" + strconv.Quote(m[k]))
	}
	return b.String()
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// ResourceValue resolves a resourceFieldRef: the container's request or
// limit in units of the divisor, rounded up; a limit the container does not
// set is the node's allocatable amount.
func ResourceValue(pod *corev1.Pod, ref *corev1.ResourceFieldSelector, info PodInfo) (string, error) {
	name := ref.ContainerName
	var c *corev1.Container
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			c = &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if c == nil && pod.Spec.InitContainers[i].Name == name {
			c = &pod.Spec.InitContainers[i]
		}
	}
	if c == nil {
		return "", fmt.Errorf("container %q not found in pod %s", name, pod.Name)
	}
	kind, res, ok := strings.Cut(ref.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("unsupported container resource: %s", ref.Resource)
	}
	rn := corev1.ResourceName(res)
	var q resource.Quantity
	var set bool
	if kind == "limits" {
		q, set = c.Resources.Limits[rn]
		if !set {
			q, set = info.Allocatable[rn]
		}
	} else {
		q, set = c.Resources.Requests[rn]
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if rn == corev1.ResourceCPU {
		if !set {
			return "0", nil
		}
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	}
	switch rn {
	case corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
	default:
		if !strings.HasPrefix(res, corev1.ResourceHugePagesPrefix) {
			return "", fmt.Errorf("unsupported container resource: %s", ref.Resource)
		}
	}
	if !set {
		return "0", nil
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
}
