package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestPodCreate(t *testing.T) {
	probe := func(h corev1.ProbeHandler) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: h, TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
	}
	httpGet := corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080), Scheme: corev1.URISchemeHTTP}}
	cases := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []want
	}{
		{name: "valid minimal", mutate: func(*corev1.Pod) {}},
		{name: "valid rich pod", mutate: func(p *corev1.Pod) {
			c := &p.Spec.Containers[0]
			c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}, {Name: "metrics", ContainerPort: 9090, Protocol: corev1.ProtocolTCP}}
			c.Env = []corev1.EnvVar{
				{Name: "PLAIN", Value: "x"},
				{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
				{Name: "APP_LABEL", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels['app']"}}},
				{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "password"}}},
				{Name: "MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
			}
			c.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}
			c.Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: quantity("100m"), corev1.ResourceMemory: quantity("64Mi"), "example.com/gpu": quantity("1")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: quantity("1"), corev1.ResourceMemory: quantity("128Mi"), "example.com/gpu": quantity("1")},
			}
			c.LivenessProbe = probe(httpGet)
			c.ReadinessProbe = probe(corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}})
			c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}}
			c.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "cfg", MountPath: "/etc/cfg", ReadOnly: true}}
			p.Spec.Volumes = []corev1.Volume{
				{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptrTo[int32](0644)}}},
			}
			sidecar := validContainer("proxy")
			sidecar.RestartPolicy = ptrTo(corev1.ContainerRestartPolicyAlways)
			sidecar.ReadinessProbe = probe(httpGet)
			p.Spec.InitContainers = []corev1.Container{validContainer("init"), sidecar}
			p.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
			p.Spec.Tolerations = []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptrTo[int64](300)},
				{Operator: corev1.TolerationOpExists},
			}
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: corev1.PodAffinityTerm{
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, TopologyKey: "kubernetes.io/hostname",
				}}},
			}}
			p.Spec.ActiveDeadlineSeconds = ptrTo[int64](3600)
			p.Spec.Hostname, p.Spec.Subdomain = "web-0", "web"
			p.Spec.ServiceAccountName = "web"
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptrTo[int64](1000), FSGroup: ptrTo[int64](2000), Sysctls: []corev1.Sysctl{{Name: "net.core.somaxconn", Value: "1024"}}}
		}},
		{name: "no containers", mutate: func(p *corev1.Pod) { p.Spec.Containers = nil }, want: []want{required("spec.containers")}},
		{name: "container name missing", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Name = "" }, want: []want{required("spec.containers[0].name")}},
		{name: "container name not a DNS label", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Name = "My_App" }, want: []want{invalid("spec.containers[0].name")}},
		{name: "duplicate container names", mutate: func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, validContainer("app"))
		}, want: []want{duplicate("spec.containers[1].name")}},
		{name: "init container clashes with container", mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{validContainer("app")}
		}, want: []want{duplicate("spec.initContainers[0].name")}},
		{name: "image missing", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, want: []want{required("spec.containers[0].image")}},
		{name: "image padded", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = " nginx" }, want: []want{invalid("spec.containers[0].image")}},
		{name: "port out of range", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 70000, Protocol: corev1.ProtocolTCP}}
		}, want: []want{invalid("spec.containers[0].ports[0].containerPort")}},
		{name: "port missing and bad protocol", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Protocol: "HTTP"}}
		}, want: []want{required("spec.containers[0].ports[0].containerPort"), notSupported("spec.containers[0].ports[0].protocol")}},
		{name: "port names bad and duplicate", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{
				{Name: "http", ContainerPort: 80, Protocol: corev1.ProtocolTCP},
				{Name: "http", ContainerPort: 81, Protocol: corev1.ProtocolTCP},
				{Name: "this-name-is-too-long", ContainerPort: 82, Protocol: corev1.ProtocolTCP},
			}
		}, want: []want{duplicate("spec.containers[0].ports[1].name"), invalid("spec.containers[0].ports[2].name")}},
		{name: "host port conflict", mutate: func(p *corev1.Pod) {
			c2 := validContainer("other")
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080, Protocol: corev1.ProtocolTCP}}
			c2.Ports = []corev1.ContainerPort{{ContainerPort: 81, HostPort: 8080, Protocol: corev1.ProtocolTCP}}
			p.Spec.Containers = append(p.Spec.Containers, c2)
		}, want: []want{duplicate("spec.containers[1].ports[0].hostPort")}},
		{name: "hostNetwork port mismatch", mutate: func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 81, Protocol: corev1.ProtocolTCP}}
		}, want: []want{invalid("spec.containers[0].ports[0].hostPort")}},
		{name: "env name empty and with equals", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: ""}, {Name: "A=B"}}
		}, want: []want{required("spec.containers[0].env[0].name"), invalid("spec.containers[0].env[1].name")}},
		{name: "valueFrom with no source", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{}}}
		}, want: []want{invalid("spec.containers[0].env[0].valueFrom")}},
		{name: "valueFrom with two sources", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
				FieldRef:        &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"},
				ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}, Key: "k"},
			}}}
		}, want: []want{invalid("spec.containers[0].env[0].valueFrom")}},
		{name: "value and valueFrom", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "X", Value: "v", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"},
			}}}
		}, want: []want{invalid("spec.containers[0].env[0].valueFrom")}},
		{name: "unsupported fieldPath and bad key", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{
				{Name: "X", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.hostname"}}},
				{Name: "Y", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "a/b"}}},
			}
		}, want: []want{notSupported("spec.containers[0].env[0].valueFrom.fieldRef.fieldPath"), invalid("spec.containers[0].env[1].valueFrom.secretKeyRef.key")}},
		{name: "envFrom without source", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{Prefix: "P_"}}
		}, want: []want{invalid("spec.containers[0].envFrom")}},
		{name: "requests exceed limits", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: quantity("2")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: quantity("1")},
			}
		}, want: []want{invalid("spec.containers[0].resources.requests")}},
		{name: "negative quantity and unknown resource", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Limits: corev1.ResourceList{corev1.ResourceMemory: quantity("-1Mi"), "gpu": quantity("1")},
			}
		}, want: []want{invalid("spec.containers[0].resources.limits[memory]"), invalid("spec.containers[0].resources.limits[gpu]")}},
		{name: "extended resource must be whole and equal", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{"example.com/gpu": quantity("500m")},
			}
		}, want: []want{invalid("spec.containers[0].resources.requests[example.com/gpu]"), required("spec.containers[0].resources.limits")}},
		{name: "volume without source and bad name", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "Data"}}
		}, want: []want{required("spec.volumes[0]"), invalid("spec.volumes[0].name")}},
		{name: "volume with two sources", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{
				EmptyDir: &corev1.EmptyDirVolumeSource{},
				HostPath: &corev1.HostPathVolumeSource{Path: "/tmp"},
			}}}
		}, want: []want{forbidden("spec.volumes[0].emptyDir")}},
		{name: "duplicate volume names", mutate: func(p *corev1.Pod) {
			ed := corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: ed}, {Name: "v", VolumeSource: ed}}
		}, want: []want{duplicate("spec.volumes[1].name")}},
		{name: "volume source fields", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{
				{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{DefaultMode: ptrTo[int32](01000)}}},
				{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "x"}, Items: []corev1.KeyToPath{{Key: "k", Path: "../etc"}}}}},
				{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/a/../b"}}},
				{Name: "pvc", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{}}},
			}
		}, want: []want{
			required("spec.volumes[0].secret.secretName"), invalid("spec.volumes[0].secret.defaultMode"),
			invalid("spec.volumes[1].configMap.items[0].path"), invalid("spec.volumes[2].hostPath.path"),
			required("spec.volumes[3].persistentVolumeClaim.claimName"),
		}},
		{name: "mount of unknown volume", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "missing", MountPath: "/x"}}
		}, want: []want{notFound("spec.containers[0].volumeMounts[0].name")}},
		{name: "mount path missing and duplicate", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "v", MountPath: "/x"}, {Name: "v", MountPath: "/x"}, {Name: "v"}}
		}, want: []want{invalid("spec.containers[0].volumeMounts[1].mountPath"), required("spec.containers[0].volumeMounts[2].mountPath")}},
		{name: "bidirectional propagation needs privileged", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "v", MountPath: "/x", MountPropagation: ptrTo(corev1.MountPropagationBidirectional)}}
		}, want: []want{forbidden("spec.containers[0].volumeMounts[0].mountPropagation")}},
		{name: "bad enums", mutate: func(p *corev1.Pod) {
			p.Spec.RestartPolicy = "Sometimes"
			p.Spec.DNSPolicy = "Google"
			p.Spec.Containers[0].ImagePullPolicy = "Maybe"
			p.Spec.Containers[0].TerminationMessagePolicy = ""
		}, want: []want{
			notSupported("spec.restartPolicy"), notSupported("spec.dnsPolicy"),
			notSupported("spec.containers[0].imagePullPolicy"), required("spec.containers[0].terminationMessagePolicy"),
		}},
		{name: "dnsPolicy None needs dnsConfig", mutate: func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSNone }, want: []want{required("spec.dnsConfig")}},
		{name: "dnsConfig values", mutate: func(p *corev1.Pod) {
			p.Spec.DNSPolicy = corev1.DNSNone
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1", "not-an-ip"}, Searches: []string{"svc.cluster.local", "bad..domain"}}
		}, want: []want{invalid("spec.dnsConfig.nameservers[1]"), invalid("spec.dnsConfig.searches[1]")}},
		{name: "probe without handler", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{SuccessThreshold: 1}
		}, want: []want{required("spec.containers[0].livenessProbe")}},
		{name: "probe with two handlers and bad thresholds", mutate: func(p *corev1.Pod) {
			pr := probe(httpGet)
			pr.Exec = &corev1.ExecAction{Command: []string{"true"}}
			pr.SuccessThreshold = 2
			pr.FailureThreshold = -1
			p.Spec.Containers[0].LivenessProbe = pr
		}, want: []want{forbidden("spec.containers[0].livenessProbe.httpGet"), invalid("spec.containers[0].livenessProbe.successThreshold"), invalid("spec.containers[0].livenessProbe.failureThreshold")}},
		{name: "httpGet probe fields", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe = probe(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(0), Scheme: "FTP"}})
		}, want: []want{required("spec.containers[0].readinessProbe.httpGet.path"), invalid("spec.containers[0].readinessProbe.httpGet.port"), notSupported("spec.containers[0].readinessProbe.httpGet.scheme")}},
		{name: "init container with probe and bad restartPolicy", mutate: func(p *corev1.Pod) {
			ic := validContainer("init")
			ic.LivenessProbe = probe(httpGet)
			ic2 := validContainer("init2")
			ic2.RestartPolicy = ptrTo(corev1.ContainerRestartPolicy("OnFailure"))
			p.Spec.InitContainers = []corev1.Container{ic, ic2}
		}, want: []want{forbidden("spec.initContainers[0].livenessProbe"), notSupported("spec.initContainers[1].restartPolicy")}},
		{name: "regular container restartPolicy", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].RestartPolicy = ptrTo(corev1.ContainerRestartPolicyAlways)
		}, want: []want{forbidden("spec.containers[0].restartPolicy")}},
		{name: "tolerations", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{
				{Key: "k", Operator: corev1.TolerationOpExists, Value: "v"},
				{Key: "k", Operator: "Like"},
				{Key: "k", Operator: corev1.TolerationOpEqual, Value: "v", Effect: "Evict"},
				{Operator: corev1.TolerationOpEqual},
				{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: ptrTo[int64](1)},
			}
		}, want: []want{
			invalid("spec.tolerations[0].operator"), notSupported("spec.tolerations[1].operator"),
			notSupported("spec.tolerations[2].effect"), invalid("spec.tolerations[3].operator"), invalid("spec.tolerations[4].effect"),
		}},
		{name: "nodeSelector label", mutate: func(p *corev1.Pod) {
			p.Spec.NodeSelector = map[string]string{"bad key!": "v"}
		}, want: []want{invalid("spec.nodeSelector")}},
		{name: "grace period and deadline", mutate: func(p *corev1.Pod) {
			p.Spec.TerminationGracePeriodSeconds = ptrTo[int64](-1)
			p.Spec.ActiveDeadlineSeconds = ptrTo[int64](0)
		}, want: []want{invalid("spec.terminationGracePeriodSeconds"), invalid("spec.activeDeadlineSeconds")}},
		{name: "grace period required", mutate: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = nil }, want: []want{required("spec.terminationGracePeriodSeconds")}},
		{name: "security context ranges", mutate: func(p *corev1.Pod) {
			p.Spec.SecurityContext.RunAsUser = ptrTo[int64](-1)
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{
				Privileged: ptrTo(true), AllowPrivilegeEscalation: ptrTo(false), RunAsGroup: ptrTo[int64](-5),
			}
		}, want: []want{invalid("spec.securityContext.runAsUser"), invalid("spec.containers[0].securityContext"), invalid("spec.containers[0].securityContext.runAsGroup")}},
		{name: "sysctl on host network", mutate: func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "net.ipv4.ip_forward", Value: "1"}, {Name: "Bad Name"}}
		}, want: []want{invalid("spec.securityContext.sysctls[0].name"), invalid("spec.securityContext.sysctls[1].name")}},
		{name: "affinity terms", mutate: func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{
				NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{}},
				PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
				}}},
			}
		}, want: []want{required("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"), required("spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey")}},
		{name: "topology spread", mutate: func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 0, WhenUnsatisfiable: "Sometimes"}}
		}, want: []want{invalid("spec.topologySpreadConstraints[0].maxSkew"), required("spec.topologySpreadConstraints[0].topologyKey"), notSupported("spec.topologySpreadConstraints[0].whenUnsatisfiable")}},
		{name: "names in spec", mutate: func(p *corev1.Pod) {
			p.Spec.ServiceAccountName = "Bad_SA"
			p.Spec.NodeName = "node_1"
			p.Spec.Hostname = "a.b"
			p.Spec.PriorityClassName = "UPPER"
		}, want: []want{invalid("spec.serviceAccountName"), invalid("spec.nodeName"), invalid("spec.hostname"), invalid("spec.priorityClassName")}},
		{name: "ephemeral containers on create", mutate: func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debug", Image: "busybox", TerminationMessagePolicy: corev1.TerminationMessageReadFile, ImagePullPolicy: corev1.PullAlways,
			}}}
		}, want: []want{forbidden("spec.ephemeralContainers")}},
		{name: "nodeName with scheduling gates", mutate: func(p *corev1.Pod) {
			p.Spec.NodeName = "node-1"
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/gate"}}
		}, want: []want{forbidden("spec.nodeName")}},
		{name: "projected token without service account", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "tok", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptrTo[int64](3600)}}},
			}}}}
		}, want: []want{forbidden("spec.volumes[0].projected.sources[0].serviceAccountToken")}},
		{name: "metadata", mutate: func(p *corev1.Pod) {
			p.Name = "Web_0"
			p.Namespace = ""
			p.Labels = map[string]string{"app": "bad value!"}
		}, want: []want{invalid("metadata.name"), required("metadata.namespace"), invalid("metadata.labels")}},
		{name: "mirror pod needs node", mutate: func(p *corev1.Pod) {
			p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
		}, want: []want{invalid("metadata.annotations[kubernetes.io/config.mirror]")}},
		{name: "os specific fields", mutate: func(p *corev1.Pod) {
			p.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
			p.Spec.SecurityContext.RunAsUser = ptrTo[int64](1)
		}, want: []want{forbidden("spec.securityContext.runAsUser")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := validPod()
			tc.mutate(pod)
			expectErrs(t, ValidateCreate(pod), tc.want...)
		})
	}
}

func TestPodUpdate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(newPod, oldPod *corev1.Pod)
		want   []want
	}{
		{name: "no change", mutate: func(_, _ *corev1.Pod) {}},
		{name: "image change allowed", mutate: func(n, _ *corev1.Pod) { n.Spec.Containers[0].Image = "nginx:1.28" }},
		{name: "labels change allowed", mutate: func(n, _ *corev1.Pod) { n.Labels = map[string]string{"tier": "web"} }},
		{name: "activeDeadlineSeconds set and lowered", mutate: func(n, o *corev1.Pod) {
			o.Spec.ActiveDeadlineSeconds = ptrTo[int64](100)
			n.Spec.ActiveDeadlineSeconds = ptrTo[int64](50)
		}},
		{name: "activeDeadlineSeconds raised", mutate: func(n, o *corev1.Pod) {
			o.Spec.ActiveDeadlineSeconds = ptrTo[int64](100)
			n.Spec.ActiveDeadlineSeconds = ptrTo[int64](200)
		}, want: []want{invalid("spec.activeDeadlineSeconds")}},
		{name: "activeDeadlineSeconds removed", mutate: func(n, o *corev1.Pod) {
			o.Spec.ActiveDeadlineSeconds = ptrTo[int64](100)
		}, want: []want{invalid("spec.activeDeadlineSeconds")}},
		{name: "toleration added", mutate: func(n, _ *corev1.Pod) {
			n.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}}
		}},
		{name: "toleration seconds changed", mutate: func(n, o *corev1.Pod) {
			o.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptrTo[int64](10)}}
			n.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptrTo[int64](5)}}
		}},
		{name: "toleration removed", mutate: func(n, o *corev1.Pod) {
			o.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}}
		}, want: []want{forbidden("spec.tolerations")}},
		{name: "forbidden spec change", mutate: func(n, _ *corev1.Pod) {
			n.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}}
		}, want: []want{forbidden("spec")}},
		{name: "container added", mutate: func(n, _ *corev1.Pod) {
			n.Spec.Containers = append(n.Spec.Containers, validContainer("extra"))
		}, want: []want{forbidden("spec.containers")}},
		{name: "image cleared", mutate: func(n, _ *corev1.Pod) { n.Spec.Containers[0].Image = "" }, want: []want{required("spec.containers[0].image")}},
		{name: "negative grace to one", mutate: func(n, o *corev1.Pod) {
			o.Spec.TerminationGracePeriodSeconds = ptrTo[int64](-1)
			n.Spec.TerminationGracePeriodSeconds = ptrTo[int64](1)
		}},
		{name: "scheduling gate removed", mutate: func(n, o *corev1.Pod) {
			o.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}}
		}},
		{name: "scheduling gate added", mutate: func(n, _ *corev1.Pod) {
			n.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}}
		}, want: []want{forbidden("spec.schedulingGates[0].name")}},
		{name: "gated pod gains node selector", mutate: func(n, o *corev1.Pod) {
			o.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}}
			n.Spec.SchedulingGates = o.Spec.SchedulingGates
			n.Spec.NodeSelector = map[string]string{"zone": "a"}
		}},
		{name: "identity immutable", mutate: func(n, _ *corev1.Pod) {
			n.Name = "other"
			n.UID = "x"
		}, want: []want{invalid("metadata.name"), invalid("metadata.uid")}},
		{name: "resourceVersion required", mutate: func(n, _ *corev1.Pod) { n.ResourceVersion = "" }, want: []want{invalid("metadata.resourceVersion")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			oldPod, newPod := validPod(), validPod()
			tc.mutate(newPod, oldPod)
			expectErrs(t, ValidateUpdate(newPod, oldPod), tc.want...)
		})
	}
}

func TestPodUpdateForbiddenMessage(t *testing.T) {
	oldPod, newPod := validPod(), validPod()
	newPod.Spec.RestartPolicy = corev1.RestartPolicyNever
	errs := ValidateUpdate(newPod, oldPod)
	if len(errs) != 1 {
		t.Fatalf("want one error, got %v", errs)
	}
	// The message must point at what changed, not just at spec.
	if !strings.Contains(errs[0].Detail, "spec.restartPolicy") {
		t.Errorf("detail does not name the changed field: %q", errs[0].Detail)
	}
}

func TestPodStatusUpdate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(newPod, oldPod *corev1.Pod)
		want   []want
	}{
		{name: "running with IPs", mutate: func(n, _ *corev1.Pod) {
			n.Status.Phase = corev1.PodRunning
			n.Status.PodIP = "10.0.0.5"
			n.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.5"}, {IP: "fd00::5"}}
			n.Status.HostIP = "192.168.1.2"
			n.Status.HostIPs = []corev1.HostIP{{IP: "192.168.1.2"}}
			n.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		}},
		{name: "bad phase", mutate: func(n, _ *corev1.Pod) { n.Status.Phase = "Sleeping" }, want: []want{notSupported("status.phase")}},
		{name: "terminal phase left", mutate: func(n, o *corev1.Pod) {
			o.Status.Phase = corev1.PodSucceeded
			n.Status.Phase = corev1.PodRunning
		}, want: []want{forbidden("status.phase")}},
		{name: "bad IPs", mutate: func(n, _ *corev1.Pod) {
			n.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "10.0.0.2"}}
			n.Status.HostIPs = []corev1.HostIP{{IP: "bogus"}}
		}, want: []want{invalid("status.podIPs"), invalid("status.hostIPs[0].ip"), invalid("status.hostIPs[0]")}},
		{name: "node name change", mutate: func(n, _ *corev1.Pod) { n.Spec.NodeName = "node-2" }, want: []want{forbidden("status.nodeName")}},
		{name: "terminated container restarted", mutate: func(n, o *corev1.Pod) {
			o.Spec.RestartPolicy = corev1.RestartPolicyNever
			o.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}}
			n.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
		}, want: []want{forbidden("status.containerStatuses[0].state")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			oldPod, newPod := validPod(), validPod()
			tc.mutate(newPod, oldPod)
			expectErrs(t, ValidateStatusUpdate(newPod, oldPod), tc.want...)
		})
	}
}

func TestPodTemplateObject(t *testing.T) {
	pt := &corev1.PodTemplate{ObjectMeta: objMeta("default", "tmpl"), Template: validTemplate()}
	expectErrs(t, ValidateCreate(pt))
	pt.Template.Spec.Containers = nil
	pt.Template.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name: "debug", Image: "busybox", TerminationMessagePolicy: corev1.TerminationMessageReadFile, ImagePullPolicy: corev1.PullAlways,
	}}}
	expectErrs(t, ValidateCreate(pt), required("template.spec.containers"), forbidden("template.spec.ephemeralContainers"))
}
