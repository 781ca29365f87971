package printers

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
)

func init() {
	rcSpec := corev1.ReplicationControllerSpec{}.SwaggerDoc()
	rcStatus := corev1.ReplicationControllerStatus{}.SwaggerDoc()
	register(schema.GroupKind{Kind: "ReplicationController"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Desired", "integer", rcSpec["replicas"]),
		column("Current", "integer", rcStatus["replicas"]),
		column("Ready", "integer", rcStatus["readyReplicas"]),
		ageColumn,
		wideColumn("Containers", "string", containersDescription),
		wideColumn("Images", "string", imagesDescription),
		wideColumn("Selector", "string", rcSpec["selector"]),
	}, replicationControllerRow)

	svcSpec := corev1.ServiceSpec{}.SwaggerDoc()
	register(schema.GroupKind{Kind: "Service"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Type", "string", svcSpec["type"]),
		column("Cluster-IP", "string", svcSpec["clusterIP"]),
		column("External-IP", "string", svcSpec["externalIPs"]),
		column("Port(s)", "string", svcSpec["ports"]),
		ageColumn,
		wideColumn("Selector", "string", svcSpec["selector"]),
	}, serviceRow)

	register(schema.GroupKind{Kind: "Endpoints"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Endpoints", "string", corev1.Endpoints{}.SwaggerDoc()["subsets"]), //nolint:staticcheck // core/v1 Endpoints is deprecated but still served
		ageColumn,
	}, func(ep *corev1.Endpoints, now time.Time) ([]interface{}, error) { //nolint:staticcheck // core/v1 Endpoints is deprecated but still served
		return []interface{}{ep.Name, formatEndpoints(ep), since(ep.CreationTimestamp, now)}, nil
	})

	nodeStatus := corev1.NodeStatus{}.SwaggerDoc()
	nodeInfo := corev1.NodeSystemInfo{}.SwaggerDoc()
	register(schema.GroupKind{Kind: "Node"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Status", "string", "The status of the node"),
		column("Roles", "string", "The roles of the node"),
		ageColumn,
		column("Version", "string", nodeInfo["kubeletVersion"]),
		wideColumn("Internal-IP", "string", nodeStatus["addresses"]),
		wideColumn("External-IP", "string", nodeStatus["addresses"]),
		wideColumn("OS-Image", "string", nodeInfo["osImage"]),
		wideColumn("Kernel-Version", "string", nodeInfo["kernelVersion"]),
		wideColumn("Container-Runtime", "string", nodeInfo["containerRuntimeVersion"]),
	}, nodeRow)

	// events.k8s.io Events print exactly like core ones.
	event := corev1.Event{}.SwaggerDoc()
	eventColumns := []metav1.TableColumnDefinition{
		column("Last Seen", "string", event["lastTimestamp"]),
		column("Type", "string", event["type"]),
		column("Reason", "string", event["reason"]),
		column("Object", "string", event["involvedObject"]),
		wideColumn("Subobject", "string", corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]),
		wideColumn("Source", "string", event["source"]),
		column("Message", "string", event["message"]),
		wideColumn("First Seen", "string", event["firstTimestamp"]),
		wideColumn("Count", "string", event["count"]),
		{Name: "Name", Type: "string", Format: "name", Priority: 1, Description: objectMetaDoc["name"]},
	}
	register(schema.GroupKind{Kind: "Event"}, eventColumns, eventRow)
	register(schema.GroupKind{Group: "events.k8s.io", Kind: "Event"}, eventColumns,
		func(e *eventsv1.Event, now time.Time) ([]interface{}, error) {
			return eventRow(coreEvent(e), now)
		})

	register(schema.GroupKind{Kind: "Namespace"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Status", "string", "The status of the namespace"),
		ageColumn,
	}, func(ns *corev1.Namespace, now time.Time) ([]interface{}, error) {
		return []interface{}{ns.Name, string(ns.Status.Phase), since(ns.CreationTimestamp, now)}, nil
	})

	secret := corev1.Secret{}.SwaggerDoc()
	register(schema.GroupKind{Kind: "Secret"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Type", "string", secret["type"]),
		column("Data", "string", secret["data"]),
		ageColumn,
	}, func(s *corev1.Secret, now time.Time) ([]interface{}, error) {
		return []interface{}{s.Name, string(s.Type), int64(len(s.Data)), since(s.CreationTimestamp, now)}, nil
	})

	register(schema.GroupKind{Kind: "ServiceAccount"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Secrets", "string", corev1.ServiceAccount{}.SwaggerDoc()["secrets"]),
		ageColumn,
	}, func(sa *corev1.ServiceAccount, now time.Time) ([]interface{}, error) {
		return []interface{}{sa.Name, int64(len(sa.Secrets)), since(sa.CreationTimestamp, now)}, nil
	})

	register(schema.GroupKind{Kind: "ConfigMap"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Data", "string", corev1.ConfigMap{}.SwaggerDoc()["data"]),
		ageColumn,
	}, func(cm *corev1.ConfigMap, now time.Time) ([]interface{}, error) {
		return []interface{}{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), since(cm.CreationTimestamp, now)}, nil
	})

	pvSpec := corev1.PersistentVolumeSpec{}.SwaggerDoc()
	pvStatus := corev1.PersistentVolumeStatus{}.SwaggerDoc()
	register(schema.GroupKind{Kind: "PersistentVolume"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Capacity", "string", pvSpec["capacity"]),
		column("Access Modes", "string", pvSpec["accessModes"]),
		column("Reclaim Policy", "string", pvSpec["persistentVolumeReclaimPolicy"]),
		column("Status", "string", pvStatus["phase"]),
		column("Claim", "string", pvSpec["claimRef"]),
		column("StorageClass", "string", "StorageClass of the pv"),
		column("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
		column("Reason", "string", pvStatus["reason"]),
		ageColumn,
		wideColumn("VolumeMode", "string", pvSpec["volumeMode"]),
	}, persistentVolumeRow)

	pvcSpec := corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()
	pvcStatus := corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()
	register(schema.GroupKind{Kind: "PersistentVolumeClaim"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Status", "string", pvcStatus["phase"]),
		column("Volume", "string", pvcSpec["volumeName"]),
		column("Capacity", "string", pvcStatus["capacity"]),
		column("Access Modes", "string", pvcStatus["accessModes"]),
		column("StorageClass", "string", "StorageClass of the pvc"),
		column("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
		ageColumn,
		wideColumn("VolumeMode", "string", pvcSpec["volumeMode"]),
	}, persistentVolumeClaimRow)

	register(schema.GroupKind{Kind: "ResourceQuota"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume."),
		column("Limit", "string", "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."),
		ageColumn,
	}, resourceQuotaRow)

	register(schema.GroupKind{Kind: "ComponentStatus"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Status", "string", "Status of the component conditions"),
		column("Message", "string", "Message of the component conditions"),
		column("Error", "string", "Error of the component conditions"),
	}, componentStatusRow)
}

func replicationControllerRow(rc *corev1.ReplicationController, now time.Time) ([]interface{}, error) {
	var containers []corev1.Container
	if rc.Spec.Template != nil {
		containers = rc.Spec.Template.Spec.Containers
	}
	names, images := containerCells(containers)
	return []interface{}{
		rc.Name, int64(deref(rc.Spec.Replicas)), int64(rc.Status.Replicas), int64(rc.Status.ReadyReplicas),
		since(rc.CreationTimestamp, now),
		names, images, labels.FormatLabels(rc.Spec.Selector),
	}, nil
}

func serviceRow(svc *corev1.Service, now time.Time) ([]interface{}, error) {
	clusterIP := svc.Spec.ClusterIP
	if len(svc.Spec.ClusterIPs) > 0 {
		clusterIP = svc.Spec.ClusterIPs[0]
	}
	ports := servicePorts(svc.Spec.Ports)
	return []interface{}{
		svc.Name, string(svc.Spec.Type), orNone(clusterIP), serviceExternalIP(svc), orNone(ports),
		since(svc.CreationTimestamp, now),
		labels.FormatLabels(svc.Spec.Selector),
	}, nil
}

// servicePorts renders ports as port/protocol, or port:nodePort/protocol
// when a node port is allocated.
func servicePorts(ports []corev1.ServicePort) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		if p.NodePort > 0 {
			parts[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		} else {
			parts[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		}
	}
	return strings.Join(parts, ",")
}

func serviceExternalIP(svc *corev1.Service) string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		return orNone(strings.Join(svc.Spec.ExternalIPs, ","))
	case corev1.ServiceTypeLoadBalancer:
		addrs := loadBalancerAddresses(svc.Status.LoadBalancer.Ingress)
		addrs = append(addrs, svc.Spec.ExternalIPs...)
		if len(addrs) == 0 {
			return "<pending>"
		}
		return strings.Join(addrs, ",")
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return "<unknown>"
}

// loadBalancerAddresses lists the distinct IPs (or, lacking one, hostnames)
// of load-balancer ingress points, sorted. The server prints the wide form,
// so nothing is truncated.
func loadBalancerAddresses(ingress []corev1.LoadBalancerIngress) []string {
	set := sets.New[string]()
	for _, ing := range ingress {
		if ing.IP != "" {
			set.Insert(ing.IP)
		} else if ing.Hostname != "" {
			set.Insert(ing.Hostname)
		}
	}
	return sets.List(set)
}

// formatEndpoints shows up to three address:port pairs and how many more
// there are.
func formatEndpoints(ep *corev1.Endpoints) string { //nolint:staticcheck // core/v1 Endpoints is deprecated but still served
	if len(ep.Subsets) == 0 {
		return "<none>"
	}
	const max = 3
	var list []string
	total := 0
	add := func(s string) {
		if len(list) < max {
			list = append(list, s)
		}
		total++
	}
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 {
			// Headless services may have no ports.
			for _, a := range ss.Addresses {
				add(a.IP)
			}
			continue
		}
		for _, port := range ss.Ports {
			for _, a := range ss.Addresses {
				add(net.JoinHostPort(a.IP, strconv.Itoa(int(port.Port))))
			}
		}
	}
	joined := strings.Join(list, ",")
	if total > max {
		return fmt.Sprintf("%s + %d more...", joined, total-max)
	}
	return joined
}

const (
	nodeRoleLabelPrefix = "node-role.kubernetes.io/"
	nodeRoleLabel       = "kubernetes.io/role"
)

func nodeRow(n *corev1.Node, now time.Time) ([]interface{}, error) {
	// Only the Ready condition feeds STATUS.
	var status []string
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				status = []string{"Ready"}
			} else {
				status = []string{"NotReady"}
			}
		}
	}
	if len(status) == 0 {
		status = []string{"Unknown"}
	}
	if n.Spec.Unschedulable {
		status = append(status, "SchedulingDisabled")
	}

	info := n.Status.NodeInfo
	return []interface{}{
		n.Name, strings.Join(status, ","), orNone(strings.Join(nodeRoles(n), ",")), since(n.CreationTimestamp, now), info.KubeletVersion,
		nodeAddress(n, corev1.NodeInternalIP), nodeAddress(n, corev1.NodeExternalIP),
		orUnknown(info.OSImage), orUnknown(info.KernelVersion), orUnknown(info.ContainerRuntimeVersion),
	}, nil
}

// nodeRoles collects roles from node-role.kubernetes.io/<role> label keys
// and from the older kubernetes.io/role=<role> label.
func nodeRoles(n *corev1.Node) []string {
	roles := sets.New[string]()
	for k, v := range n.Labels {
		switch {
		case strings.HasPrefix(k, nodeRoleLabelPrefix):
			if role := strings.TrimPrefix(k, nodeRoleLabelPrefix); role != "" {
				roles.Insert(role)
			}
		case k == nodeRoleLabel && v != "":
			roles.Insert(v)
		}
	}
	return sets.List(roles)
}

func nodeAddress(n *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range n.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return "<none>"
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

func eventRow(e *corev1.Event, now time.Time) ([]interface{}, error) {
	first := since(e.FirstTimestamp, now)
	if e.FirstTimestamp.IsZero() {
		first = sinceMicro(e.EventTime, now)
	}
	last := since(e.LastTimestamp, now)
	if e.LastTimestamp.IsZero() {
		last = first
	}
	count := e.Count
	if e.Series != nil {
		last = sinceMicro(e.Series.LastObservedTime, now)
		count = e.Series.Count
	} else if count == 0 {
		// Events from the new API are singletons without a count.
		count = 1
	}
	object := strings.ToLower(e.InvolvedObject.Kind)
	if e.InvolvedObject.Name != "" {
		object += "/" + e.InvolvedObject.Name
	}
	return []interface{}{
		last, e.Type, e.Reason, object, e.InvolvedObject.FieldPath,
		eventSource(e), strings.TrimSpace(e.Message), first, int64(count), e.Name,
	}, nil
}

// eventSource is "component, host", preferring the deprecated source fields
// and falling back to the reporting controller and instance.
func eventSource(e *corev1.Event) string {
	component := firstNonEmpty(e.Source.Component, e.ReportingController)
	host := firstNonEmpty(e.Source.Host, e.ReportingInstance)
	if host == "" {
		return component
	}
	return component + ", " + host
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// coreEvent maps an events.k8s.io Event onto the core Event fields the
// printer reads.
func coreEvent(e *eventsv1.Event) *corev1.Event {
	out := &corev1.Event{
		ObjectMeta:          e.ObjectMeta,
		InvolvedObject:      e.Regarding,
		Reason:              e.Reason,
		Message:             e.Note,
		Source:              e.DeprecatedSource,
		FirstTimestamp:      e.DeprecatedFirstTimestamp,
		LastTimestamp:       e.DeprecatedLastTimestamp,
		Count:               e.DeprecatedCount,
		Type:                e.Type,
		EventTime:           e.EventTime,
		Action:              e.Action,
		ReportingController: e.ReportingController,
		ReportingInstance:   e.ReportingInstance,
	}
	if e.Series != nil {
		out.Series = &corev1.EventSeries{Count: e.Series.Count, LastObservedTime: e.Series.LastObservedTime}
	}
	return out
}

func persistentVolumeRow(pv *corev1.PersistentVolume, now time.Time) ([]interface{}, error) {
	claim := ""
	if ref := pv.Spec.ClaimRef; ref != nil {
		claim = ref.Namespace + "/" + ref.Name
	}
	phase := string(pv.Status.Phase)
	if pv.DeletionTimestamp != nil {
		phase = "Terminating"
	}
	capacity := pv.Spec.Capacity[corev1.ResourceStorage]
	class := pv.Spec.StorageClassName
	if c, ok := pv.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		class = c
	}
	return []interface{}{
		pv.Name, capacity.String(), accessModes(pv.Spec.AccessModes), string(pv.Spec.PersistentVolumeReclaimPolicy),
		phase, claim, class, unsetIfNil(pv.Spec.VolumeAttributesClassName),
		pv.Status.Reason, since(pv.CreationTimestamp, now), volumeMode(pv.Spec.VolumeMode),
	}, nil
}

func persistentVolumeClaimRow(pvc *corev1.PersistentVolumeClaim, now time.Time) ([]interface{}, error) {
	phase := string(pvc.Status.Phase)
	if pvc.DeletionTimestamp != nil {
		phase = "Terminating"
	}
	// Capacity and access modes are only meaningful once bound.
	capacity, modes := "", ""
	if pvc.Spec.VolumeName != "" {
		q := pvc.Status.Capacity[corev1.ResourceStorage]
		capacity = q.String()
		modes = accessModes(pvc.Status.AccessModes)
	}
	class := ""
	if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	if c, ok := pvc.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		class = c
	}
	return []interface{}{
		pvc.Name, phase, pvc.Spec.VolumeName, capacity, modes, class,
		unsetIfNil(pvc.Spec.VolumeAttributesClassName), since(pvc.CreationTimestamp, now), volumeMode(pvc.Spec.VolumeMode),
	}, nil
}

// accessModes abbreviates access modes in a fixed order, without repeats.
func accessModes(modes []corev1.PersistentVolumeAccessMode) string {
	has := sets.New(modes...)
	var out []string
	for _, m := range []struct {
		mode  corev1.PersistentVolumeAccessMode
		short string
	}{
		{corev1.ReadWriteOnce, "RWO"},
		{corev1.ReadOnlyMany, "ROX"},
		{corev1.ReadWriteMany, "RWX"},
		{corev1.ReadWriteOncePod, "RWOP"},
	} {
		if has.Has(m.mode) {
			out = append(out, m.short)
		}
	}
	return strings.Join(out, ",")
}

func volumeMode(m *corev1.PersistentVolumeMode) string {
	if m == nil {
		return "<unset>"
	}
	return string(*m)
}

func unsetIfNil(s *string) string {
	if s == nil {
		return "<unset>"
	}
	return *s
}

// resourceQuotaRow lists used/hard per resource, limits.* in LIMIT and
// everything else in REQUEST, sorted by resource name.
func resourceQuotaRow(rq *corev1.ResourceQuota, now time.Time) ([]interface{}, error) {
	names := make([]string, 0, len(rq.Status.Hard))
	for name := range rq.Status.Hard {
		names = append(names, string(name))
	}
	sort.Strings(names)
	var requests, limits []string
	for _, name := range names {
		used := rq.Status.Used[corev1.ResourceName(name)]
		hard := rq.Status.Hard[corev1.ResourceName(name)]
		entry := fmt.Sprintf("%s: %s/%s", name, used.String(), hard.String())
		if prefix, _, found := strings.Cut(name, "."); found && prefix == "limits" {
			limits = append(limits, entry)
		} else {
			requests = append(requests, entry)
		}
	}
	return []interface{}{rq.Name, strings.Join(requests, ", "), strings.Join(limits, ", "), since(rq.CreationTimestamp, now)}, nil
}

func componentStatusRow(cs *corev1.ComponentStatus, _ time.Time) ([]interface{}, error) {
	status, message, errText := "Unknown", "", ""
	for _, c := range cs.Conditions {
		if c.Type == corev1.ComponentHealthy {
			status = "Unhealthy"
			if c.Status == corev1.ConditionTrue {
				status = "Healthy"
			}
			message, errText = c.Message, c.Error
			break
		}
	}
	return []interface{}{cs.Name, status, message, errText}, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
