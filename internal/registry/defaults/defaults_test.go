package defaults

import (
	"os"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// objMeta is the metadata of every test object; it is left out of the expected
// YAML unless defaulting changes it.
var objMeta = metav1.ObjectMeta{Name: "x", Namespace: "default"}

func containers(images ...string) []corev1.Container {
	var cs []corev1.Container
	for i, image := range images {
		cs = append(cs, corev1.Container{Name: "c" + string(rune('0'+i)), Image: image})
	}
	return cs
}

func template(labels map[string]string, images ...string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: containers(images...)},
	}
}

var appLabels = map[string]string{"app": "x"}

// toYAML renders an object the way `kubectl get -o yaml` would, minus
// apiVersion/kind, which these typed objects do not carry.
func toYAML(t *testing.T, obj runtime.Object) string {
	t.Helper()
	out, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return string(out)
}

// expectYAML compares the object's YAML with want, ignoring the common
// indentation of want so cases can be written inline.
func expectYAML(t *testing.T, obj runtime.Object, want string) {
	t.Helper()
	got := toYAML(t, obj)
	want = dedent(want)
	if os.Getenv("DEFAULTS_DUMP") != "" {
		t.Logf("\n%s", got)
	}
	if got != want {
		t.Errorf("defaulted object mismatch\n--- got\n%s--- want\n%s", got, want)
	}
}

func dedent(s string) string {
	lines := strings.Split(strings.TrimPrefix(s, "\n"), "\n")
	indent := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, "\t"))
		if indent < 0 || n < indent {
			indent = n
		}
	}
	for i, l := range lines {
		if strings.TrimSpace(l) == "" {
			lines[i] = ""
			continue
		}
		lines[i] = strings.ReplaceAll(l[indent:], "\t", "  ")
	}
	return strings.TrimRight(strings.Join(lines, "\n"), "\n") + "\n"
}

type defaultCase struct {
	name string
	obj  runtime.Object
	want string
}

// defaultCases pairs a minimal object of each kind with the YAML upstream
// shows for it after defaulting. The constructors run per call so every test
// gets fresh objects.
func defaultCases() []defaultCase {
	return []defaultCase{
		{
			name: "pod minimal",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					containers:
					- image: nginx
						imagePullPolicy: Always
						name: c0
						resources: {}
						terminationMessagePath: /dev/termination-log
						terminationMessagePolicy: File
					dnsPolicy: ClusterFirst
					enableServiceLinks: true
					restartPolicy: Always
					schedulerName: default-scheduler
					securityContext: {}
					terminationGracePeriodSeconds: 30
				status: {}
			`,
			obj: &corev1.Pod{ObjectMeta: objMeta, Spec: corev1.PodSpec{Containers: containers("nginx")}},
		},
		{
			name: "pod with everything that has defaults",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					containers:
					- env:
						- name: A
							value: "1"
						- name: NODE
							valueFrom:
								fieldRef:
									apiVersion: v1
									fieldPath: spec.nodeName
						image: example.com/app@sha256:0123456789012345678901234567890123456789012345678901234567890123
						imagePullPolicy: IfNotPresent
						lifecycle:
							preStop:
								httpGet:
									path: /stop
									port: http
									scheme: HTTP
						livenessProbe:
							failureThreshold: 3
							httpGet:
								path: /
								port: 8080
								scheme: HTTP
							periodSeconds: 10
							successThreshold: 1
							timeoutSeconds: 1
						name: app
						ports:
						- containerPort: 8080
							hostPort: 8080
							protocol: TCP
						- containerPort: 53
							hostPort: 5353
							protocol: UDP
						readinessProbe:
							failureThreshold: 3
							grpc:
								port: 9090
								service: ""
							periodSeconds: 5
							successThreshold: 1
							timeoutSeconds: 1
						resources:
							limits:
								cpu: 1m
								memory: 128Mi
							requests:
								cpu: 1m
								memory: 64Mi
						startupProbe:
							failureThreshold: 3
							periodSeconds: 10
							successThreshold: 1
							tcpSocket:
								port: 8080
							timeoutSeconds: 1
						terminationMessagePath: /dev/termination-log
						terminationMessagePolicy: File
					dnsPolicy: ClusterFirst
					enableServiceLinks: true
					ephemeralContainers:
					- image: busybox:latest
						imagePullPolicy: Always
						name: debug
						resources: {}
						terminationMessagePath: /dev/termination-log
						terminationMessagePolicy: File
					hostNetwork: true
					initContainers:
					- image: busybox:1.36
						imagePullPolicy: IfNotPresent
						name: init
						resources:
							limits:
								cpu: 100m
							requests:
								cpu: 100m
						terminationMessagePath: /dev/termination-log
						terminationMessagePolicy: File
					restartPolicy: Always
					schedulerName: default-scheduler
					securityContext: {}
					terminationGracePeriodSeconds: 30
					volumes:
					- emptyDir: {}
						name: nothing
					- configMap:
							defaultMode: 420
							name: cm
						name: cm
					- name: sec
						secret:
							defaultMode: 256
							secretName: s
					- downwardAPI:
							defaultMode: 420
							items:
							- fieldRef:
									apiVersion: v1
									fieldPath: metadata.labels
								path: labels
						name: dapi
					- name: proj
						projected:
							defaultMode: 420
							sources:
							- serviceAccountToken:
									expirationSeconds: 3600
									path: token
							- downwardAPI:
									items:
									- fieldRef:
											apiVersion: v1
											fieldPath: metadata.namespace
										path: ns
					- hostPath:
							path: /var/log
							type: ""
						name: host
					- image:
							pullPolicy: IfNotPresent
							reference: quay.io/data:v1
						name: img
					- ephemeral:
							volumeClaimTemplate:
								metadata: {}
								spec:
									accessModes:
									- ReadWriteOnce
									resources: {}
									volumeMode: Filesystem
						name: eph
				status: {}
			`,
			obj: &corev1.Pod{ObjectMeta: objMeta, Spec: corev1.PodSpec{
				HostNetwork: true,
				InitContainers: []corev1.Container{{
					Name: "init", Image: "busybox:1.36",
					Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": resource.MustParse("100m")}},
				}},
				Containers: []corev1.Container{{
					Name:  "app",
					Image: "example.com/app@sha256:0123456789012345678901234567890123456789012345678901234567890123",
					Ports: []corev1.ContainerPort{{ContainerPort: 8080}, {ContainerPort: 53, Protocol: corev1.ProtocolUDP, HostPort: 5353}},
					Env: []corev1.EnvVar{
						{Name: "A", Value: "1"},
						{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
					},
					Resources: corev1.ResourceRequirements{
						Limits:   corev1.ResourceList{"cpu": resource.MustParse("0.0001"), "memory": resource.MustParse("128Mi")},
						Requests: corev1.ResourceList{"memory": resource.MustParse("64Mi")},
					},
					LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(8080)}}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9090}}, PeriodSeconds: 5},
					StartupProbe:   &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}},
					Lifecycle:      &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/stop", Port: intstr.FromString("http")}}},
				}},
				EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox:latest"}}},
				Volumes: []corev1.Volume{
					{Name: "nothing"},
					{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}},
					{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s", DefaultMode: ptrTo(int32(0400))}}},
					{Name: "dapi", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
					{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
						{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
						{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
					}}}},
					{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}},
					{Name: "img", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "quay.io/data:v1"}}},
					{Name: "eph", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{
						Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}},
					}}}},
				},
			}},
		},
		{
			name: "pod keeps explicit values",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					containers:
					- image: nginx:latest
						imagePullPolicy: Never
						name: c
						resources: {}
						terminationMessagePath: /tmp/msg
						terminationMessagePolicy: FallbackToLogsOnError
					dnsPolicy: Default
					enableServiceLinks: false
					restartPolicy: Never
					schedulerName: mine
					securityContext:
						runAsNonRoot: true
					terminationGracePeriodSeconds: 5
				status: {}
			`,
			obj: &corev1.Pod{ObjectMeta: objMeta, Spec: corev1.PodSpec{
				RestartPolicy:                 corev1.RestartPolicyNever,
				DNSPolicy:                     corev1.DNSDefault,
				TerminationGracePeriodSeconds: ptrTo(int64(5)),
				SchedulerName:                 "mine",
				EnableServiceLinks:            ptrTo(false),
				SecurityContext:               &corev1.PodSecurityContext{RunAsNonRoot: ptrTo(true)},
				Containers: []corev1.Container{{
					Name: "c", Image: "nginx:latest", ImagePullPolicy: corev1.PullNever,
					TerminationMessagePath: "/tmp/msg", TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
				}},
			}},
		},
		{
			name: "pod-level resources",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					containers:
					- image: a:1
						imagePullPolicy: IfNotPresent
						name: a
						resources:
							requests:
								cpu: 500m
						terminationMessagePath: /dev/termination-log
						terminationMessagePolicy: File
					- image: b:1
						imagePullPolicy: IfNotPresent
						name: b
						resources:
							requests:
								cpu: 250m
						terminationMessagePath: /dev/termination-log
						terminationMessagePolicy: File
					dnsPolicy: ClusterFirst
					enableServiceLinks: true
					resources:
						limits:
							cpu: "2"
							memory: 1Gi
						requests:
							cpu: 750m
							memory: 1Gi
					restartPolicy: Always
					schedulerName: default-scheduler
					securityContext: {}
					terminationGracePeriodSeconds: 30
				status: {}
			`,
			obj: &corev1.Pod{ObjectMeta: objMeta, Spec: corev1.PodSpec{
				Resources: &corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": resource.MustParse("2"), "memory": resource.MustParse("1Gi")}},
				Containers: []corev1.Container{
					{Name: "a", Image: "a:1", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": resource.MustParse("500m")}}},
					{Name: "b", Image: "b:1", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": resource.MustParse("250m")}}},
				},
			}},
		},
		{
			name: "pod list items",
			want: `
				items:
				- metadata:
						name: x
						namespace: default
					spec:
						containers:
						- image: redis:7
							imagePullPolicy: IfNotPresent
							name: c0
							resources: {}
							terminationMessagePath: /dev/termination-log
							terminationMessagePolicy: File
						dnsPolicy: ClusterFirst
						enableServiceLinks: true
						restartPolicy: Always
						schedulerName: default-scheduler
						securityContext: {}
						terminationGracePeriodSeconds: 30
					status: {}
				metadata: {}
			`,
			obj: &corev1.PodList{Items: []corev1.Pod{{ObjectMeta: objMeta, Spec: corev1.PodSpec{Containers: containers("redis:7")}}}},
		},
		{
			name: "podtemplate",
			want: `
				metadata:
					name: x
					namespace: default
				template:
					metadata:
						labels:
							app: x
					spec:
						containers:
						- image: nginx
							imagePullPolicy: Always
							name: c0
							resources: {}
							terminationMessagePath: /dev/termination-log
							terminationMessagePolicy: File
						dnsPolicy: ClusterFirst
						restartPolicy: Always
						schedulerName: default-scheduler
						securityContext: {}
						terminationGracePeriodSeconds: 30
			`,
			obj: &corev1.PodTemplate{ObjectMeta: objMeta, Template: template(appLabels, "nginx")},
		},
		{
			name: "replicationcontroller",
			want: `
				metadata:
					labels:
						app: x
					name: x
					namespace: default
				spec:
					replicas: 1
					selector:
						app: x
					template:
						metadata:
							labels:
								app: x
						spec:
							containers:
							- image: nginx:1.25
								imagePullPolicy: IfNotPresent
								name: c0
								resources: {}
								terminationMessagePath: /dev/termination-log
								terminationMessagePolicy: File
							dnsPolicy: ClusterFirst
							restartPolicy: Always
							schedulerName: default-scheduler
							securityContext: {}
							terminationGracePeriodSeconds: 30
				status:
					replicas: 0
			`,
			obj: &corev1.ReplicationController{ObjectMeta: objMeta, Spec: corev1.ReplicationControllerSpec{Template: ptrTo(template(appLabels, "nginx:1.25"))}},
		},
		{
			name: "service clusterip",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					internalTrafficPolicy: Cluster
					ports:
					- port: 80
						protocol: TCP
						targetPort: 80
					- name: dns
						port: 53
						protocol: UDP
						targetPort: dns
					selector:
						app: x
					sessionAffinity: None
					type: ClusterIP
				status:
					loadBalancer: {}
			`,
			obj: &corev1.Service{ObjectMeta: objMeta, Spec: corev1.ServiceSpec{Selector: appLabels, Ports: []corev1.ServicePort{{Port: 80}, {Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("dns")}}}},
		},
		{
			name: "service nodeport",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					externalTrafficPolicy: Cluster
					internalTrafficPolicy: Cluster
					ports:
					- nodePort: 30080
						port: 80
						protocol: TCP
						targetPort: 8080
					sessionAffinity: None
					type: NodePort
				status:
					loadBalancer: {}
			`,
			obj: &corev1.Service{ObjectMeta: objMeta, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080}}}},
		},
		{
			name: "service loadbalancer",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					allocateLoadBalancerNodePorts: true
					externalTrafficPolicy: Cluster
					internalTrafficPolicy: Cluster
					ports:
					- port: 443
						protocol: TCP
						targetPort: 443
					sessionAffinity: None
					type: LoadBalancer
				status:
					loadBalancer:
						ingress:
						- ip: 203.0.113.9
							ipMode: VIP
						- hostname: lb.example.com
			`,
			obj: &corev1.Service{ObjectMeta: objMeta, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 443}}},
				Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "203.0.113.9"}, {Hostname: "lb.example.com"}}}}},
		},
		{
			name: "service externalname",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					externalName: db.example.com
					sessionAffinity: None
					type: ExternalName
				status:
					loadBalancer: {}
			`,
			obj: &corev1.Service{ObjectMeta: objMeta, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}},
		},
		{
			name: "service clusterip with external ips and client affinity",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					externalIPs:
					- 198.51.100.1
					externalTrafficPolicy: Cluster
					internalTrafficPolicy: Cluster
					ports:
					- port: 80
						protocol: TCP
						targetPort: 80
					sessionAffinity: ClientIP
					sessionAffinityConfig:
						clientIP:
							timeoutSeconds: 10800
					type: ClusterIP
				status:
					loadBalancer: {}
			`,
			obj: &corev1.Service{ObjectMeta: objMeta, Spec: corev1.ServiceSpec{ExternalIPs: []string{"198.51.100.1"}, SessionAffinity: corev1.ServiceAffinityClientIP, Ports: []corev1.ServicePort{{Port: 80}}}},
		},
		{
			name: "namespace on create",
			want: `
				metadata:
					labels:
						kubernetes.io/metadata.name: team-a
					name: team-a
				spec:
					finalizers:
					- kubernetes
				status:
					phase: Active
			`,
			obj: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}},
		},
		{
			name: "namespace already stored keeps its finalizers",
			want: `
				metadata:
					creationTimestamp: "2023-11-14T22:13:20Z"
					labels:
						kubernetes.io/metadata.name: team-b
					name: team-b
				spec: {}
				status:
					phase: Terminating
			`,
			obj: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-b", CreationTimestamp: metav1.Unix(1700000000, 0)}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
		},
		{
			name: "namespace with generateName only",
			want: `
				metadata:
					generateName: tmp-
				spec:
					finalizers:
					- example.com/hold
					- kubernetes
				status:
					phase: Active
			`,
			obj: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tmp-"}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"example.com/hold"}}},
		},
		{
			name: "node",
			want: `
				metadata:
					name: n1
				spec: {}
				status:
					allocatable:
						cpu: "4"
						pods: "110"
					capacity:
						cpu: "4"
						pods: "110"
					daemonEndpoints:
						kubeletEndpoint:
							Port: 0
					nodeInfo:
						architecture: ""
						bootID: ""
						containerRuntimeVersion: ""
						kernelVersion: ""
						kubeProxyVersion: ""
						kubeletVersion: ""
						machineID: ""
						operatingSystem: ""
						osImage: ""
						systemUUID: ""
			`,
			obj: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{Capacity: corev1.ResourceList{"cpu": resource.MustParse("4"), "pods": resource.MustParse("110")}}},
		},
		{
			name: "secret",
			want: `
				metadata:
					name: x
					namespace: default
				stringData:
					k: v
				type: Opaque
			`,
			obj: &corev1.Secret{ObjectMeta: objMeta, StringData: map[string]string{"k": "v"}},
		},
		{
			name: "configmap",
			want: `
				metadata:
					name: x
					namespace: default
			`,
			obj: &corev1.ConfigMap{ObjectMeta: objMeta},
		},
		{
			name: "persistentvolume",
			want: `
				metadata:
					name: pv1
				spec:
					accessModes:
					- ReadWriteOnce
					capacity:
						storage: 1Gi
					hostPath:
						path: /data
						type: ""
					persistentVolumeReclaimPolicy: Retain
					volumeMode: Filesystem
				status:
					phase: Pending
			`,
			obj: &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv1"}, Spec: corev1.PersistentVolumeSpec{
				Capacity:               corev1.ResourceList{"storage": resource.MustParse("1Gi")},
				AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data"}},
			}},
		},
		{
			name: "persistentvolumeclaim",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					accessModes:
					- ReadWriteOnce
					resources:
						requests:
							storage: 1Gi
					volumeMode: Filesystem
				status:
					phase: Pending
			`,
			obj: &corev1.PersistentVolumeClaim{ObjectMeta: objMeta, Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{"storage": resource.MustParse("1Gi")}},
			}},
		},
		{
			name: "endpoints",
			want: `
				metadata:
					name: x
					namespace: default
				subsets:
				- addresses:
					- ip: 10.0.0.1
					ports:
					- port: 80
						protocol: TCP
			`,
			obj: &corev1.Endpoints{ObjectMeta: objMeta, Subsets: []corev1.EndpointSubset{{ //nolint:staticcheck // core/v1 Endpoints is deprecated but still served
				Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1"}},
				Ports:     []corev1.EndpointPort{{Port: 80}},
			}}},
		},
		{
			name: "limitrange",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					limits:
					- default:
							cpu: "2"
						defaultRequest:
							cpu: "2"
							memory: 64Mi
						max:
							cpu: "2"
						min:
							memory: 64Mi
						type: Container
					- max:
							cpu: "4"
						type: Pod
			`,
			obj: &corev1.LimitRange{ObjectMeta: objMeta, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
				{Type: corev1.LimitTypeContainer, Max: corev1.ResourceList{"cpu": resource.MustParse("2")}, Min: corev1.ResourceList{"memory": resource.MustParse("64Mi")}},
				{Type: corev1.LimitTypePod, Max: corev1.ResourceList{"cpu": resource.MustParse("4")}},
			}}},
		},
		{
			name: "resourcequota",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					hard:
						pods: "10"
						requests.cpu: 1m
				status: {}
			`,
			obj: &corev1.ResourceQuota{ObjectMeta: objMeta, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"requests.cpu": resource.MustParse("0.0001"), "pods": resource.MustParse("10")}}},
		},
		{
			name: "serviceaccount untouched",
			want: `
				metadata:
					name: x
					namespace: default
			`,
			obj: &corev1.ServiceAccount{ObjectMeta: objMeta},
		},
		{
			name: "deployment",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					progressDeadlineSeconds: 600
					replicas: 1
					revisionHistoryLimit: 10
					selector:
						matchLabels:
							app: x
					strategy:
						rollingUpdate:
							maxSurge: 25%
							maxUnavailable: 25%
						type: RollingUpdate
					template:
						metadata:
							labels:
								app: x
						spec:
							containers:
							- image: nginx:1.25
								imagePullPolicy: IfNotPresent
								name: c0
								resources: {}
								terminationMessagePath: /dev/termination-log
								terminationMessagePolicy: File
							dnsPolicy: ClusterFirst
							restartPolicy: Always
							schedulerName: default-scheduler
							securityContext: {}
							terminationGracePeriodSeconds: 30
				status: {}
			`,
			obj: &appsv1.Deployment{ObjectMeta: objMeta, Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: appLabels}, Template: template(appLabels, "nginx:1.25")}},
		},
		{
			name: "deployment recreate",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					progressDeadlineSeconds: 600
					replicas: 0
					revisionHistoryLimit: 10
					selector: null
					strategy:
						type: Recreate
					template:
						metadata: {}
						spec:
							containers: null
							dnsPolicy: ClusterFirst
							restartPolicy: Always
							schedulerName: default-scheduler
							securityContext: {}
							terminationGracePeriodSeconds: 30
				status: {}
			`,
			obj: &appsv1.Deployment{ObjectMeta: objMeta, Spec: appsv1.DeploymentSpec{Replicas: ptrTo(int32(0)), Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}, Template: template(nil)}},
		},
		{
			name: "replicaset",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					replicas: 1
					selector:
						matchLabels:
							app: x
					template:
						metadata:
							labels:
								app: x
						spec:
							containers:
							- image: nginx
								imagePullPolicy: Always
								name: c0
								resources: {}
								terminationMessagePath: /dev/termination-log
								terminationMessagePolicy: File
							dnsPolicy: ClusterFirst
							restartPolicy: Always
							schedulerName: default-scheduler
							securityContext: {}
							terminationGracePeriodSeconds: 30
				status:
					replicas: 0
			`,
			obj: &appsv1.ReplicaSet{ObjectMeta: objMeta, Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: appLabels}, Template: template(appLabels, "nginx")}},
		},
		{
			name: "statefulset",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					persistentVolumeClaimRetentionPolicy:
						whenDeleted: Retain
						whenScaled: Retain
					podManagementPolicy: OrderedReady
					replicas: 1
					revisionHistoryLimit: 10
					selector:
						matchLabels:
							app: x
					serviceName: x
					template:
						metadata:
							labels:
								app: x
						spec:
							containers:
							- image: postgres:16
								imagePullPolicy: IfNotPresent
								name: c0
								resources: {}
								terminationMessagePath: /dev/termination-log
								terminationMessagePolicy: File
							dnsPolicy: ClusterFirst
							restartPolicy: Always
							schedulerName: default-scheduler
							securityContext: {}
							terminationGracePeriodSeconds: 30
					updateStrategy:
						rollingUpdate:
							maxUnavailable: 1
							partition: 0
						type: RollingUpdate
					volumeClaimTemplates:
					- metadata:
							name: data
						spec:
							accessModes:
							- ReadWriteOnce
							resources:
								requests:
									storage: 1Gi
							volumeMode: Filesystem
						status:
							phase: Pending
				status:
					availableReplicas: 0
					replicas: 0
			`,
			obj: &appsv1.StatefulSet{ObjectMeta: objMeta, Spec: appsv1.StatefulSetSpec{
				ServiceName: "x", Selector: &metav1.LabelSelector{MatchLabels: appLabels}, Template: template(appLabels, "postgres:16"),
				VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
					ObjectMeta: metav1.ObjectMeta{Name: "data"},
					Spec: corev1.PersistentVolumeClaimSpec{
						AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
						Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{"storage": resource.MustParse("1Gi")}},
					},
				}},
			}},
		},
		{
			name: "statefulset ondelete",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					persistentVolumeClaimRetentionPolicy:
						whenDeleted: Retain
						whenScaled: Retain
					podManagementPolicy: OrderedReady
					replicas: 1
					revisionHistoryLimit: 10
					selector: null
					serviceName: ""
					template:
						metadata: {}
						spec:
							containers: null
							dnsPolicy: ClusterFirst
							restartPolicy: Always
							schedulerName: default-scheduler
							securityContext: {}
							terminationGracePeriodSeconds: 30
					updateStrategy:
						type: OnDelete
				status:
					availableReplicas: 0
					replicas: 0
			`,
			obj: &appsv1.StatefulSet{ObjectMeta: objMeta, Spec: appsv1.StatefulSetSpec{UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}, Template: template(nil)}},
		},
		{
			name: "daemonset",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					revisionHistoryLimit: 10
					selector:
						matchLabels:
							app: x
					template:
						metadata:
							labels:
								app: x
						spec:
							containers:
							- image: fluentd:v1
								imagePullPolicy: IfNotPresent
								name: c0
								resources: {}
								terminationMessagePath: /dev/termination-log
								terminationMessagePolicy: File
							dnsPolicy: ClusterFirst
							restartPolicy: Always
							schedulerName: default-scheduler
							securityContext: {}
							terminationGracePeriodSeconds: 30
					updateStrategy:
						rollingUpdate:
							maxSurge: 0
							maxUnavailable: 1
						type: RollingUpdate
				status:
					currentNumberScheduled: 0
					desiredNumberScheduled: 0
					numberMisscheduled: 0
					numberReady: 0
			`,
			obj: &appsv1.DaemonSet{ObjectMeta: objMeta, Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: appLabels}, Template: template(appLabels, "fluentd:v1")}},
		},
		{
			name: "controllerrevision untouched",
			want: `
				data: null
				metadata:
					name: x
					namespace: default
				revision: 1
			`,
			obj: &appsv1.ControllerRevision{ObjectMeta: objMeta, Revision: 1},
		},
		{
			name: "job",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					backoffLimit: 6
					completionMode: NonIndexed
					completions: 1
					manualSelector: false
					parallelism: 1
					podReplacementPolicy: TerminatingOrFailed
					suspend: false
					template:
						metadata: {}
						spec:
							containers:
							- image: perl:5.34.0
								imagePullPolicy: IfNotPresent
								name: c0
								resources: {}
								terminationMessagePath: /dev/termination-log
								terminationMessagePolicy: File
							dnsPolicy: ClusterFirst
							restartPolicy: Never
							schedulerName: default-scheduler
							securityContext: {}
							terminationGracePeriodSeconds: 30
				status: {}
			`,
			obj: &batchv1.Job{ObjectMeta: objMeta, Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: containers("perl:5.34.0")},
			}}},
		},
		{
			name: "job with template labels, parallelism and a pod failure policy",
			want: `
				metadata:
					labels:
						app: x
					name: x
					namespace: default
				spec:
					backoffLimit: 6
					completionMode: NonIndexed
					manualSelector: false
					parallelism: 3
					podFailurePolicy:
						rules:
						- action: Ignore
							onPodConditions:
							- status: "True"
								type: DisruptionTarget
					podReplacementPolicy: Failed
					suspend: false
					template:
						metadata:
							labels:
								app: x
						spec:
							containers:
							- image: perl:5.34.0
								imagePullPolicy: IfNotPresent
								name: c0
								resources: {}
								terminationMessagePath: /dev/termination-log
								terminationMessagePolicy: File
							dnsPolicy: ClusterFirst
							restartPolicy: Always
							schedulerName: default-scheduler
							securityContext: {}
							terminationGracePeriodSeconds: 30
				status: {}
			`,
			obj: &batchv1.Job{ObjectMeta: objMeta, Spec: batchv1.JobSpec{
				Parallelism: ptrTo(int32(3)),
				PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
					Action:          batchv1.PodFailurePolicyActionIgnore,
					OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}},
				}}},
				Template: template(appLabels, "perl:5.34.0"),
			}},
		},
		{
			name: "indexed job with backoff limit per index",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					backoffLimit: 2147483647
					backoffLimitPerIndex: 1
					completionMode: Indexed
					completions: 4
					manualSelector: false
					parallelism: 1
					podReplacementPolicy: TerminatingOrFailed
					suspend: false
					template:
						metadata: {}
						spec:
							containers:
							- image: busybox
								imagePullPolicy: Always
								name: c0
								resources: {}
								terminationMessagePath: /dev/termination-log
								terminationMessagePolicy: File
							dnsPolicy: ClusterFirst
							restartPolicy: Never
							schedulerName: default-scheduler
							securityContext: {}
							terminationGracePeriodSeconds: 30
				status: {}
			`,
			obj: &batchv1.Job{ObjectMeta: objMeta, Spec: batchv1.JobSpec{
				Completions: ptrTo(int32(4)), CompletionMode: ptrTo(batchv1.IndexedCompletion), BackoffLimitPerIndex: ptrTo(int32(1)),
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: containers("busybox")}},
			}},
		},
		{
			name: "cronjob",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					concurrencyPolicy: Allow
					failedJobsHistoryLimit: 1
					jobTemplate:
						metadata: {}
						spec:
							template:
								metadata: {}
								spec:
									containers:
									- image: busybox:1.36
										imagePullPolicy: IfNotPresent
										name: c0
										resources: {}
										terminationMessagePath: /dev/termination-log
										terminationMessagePolicy: File
									dnsPolicy: ClusterFirst
									restartPolicy: OnFailure
									schedulerName: default-scheduler
									securityContext: {}
									terminationGracePeriodSeconds: 30
					schedule: '*/5 * * * *'
					successfulJobsHistoryLimit: 3
					suspend: false
				status: {}
			`,
			obj: &batchv1.CronJob{ObjectMeta: objMeta, Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyOnFailure, Containers: containers("busybox:1.36")}},
			}}}},
		},
		{
			name: "networkpolicy",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					egress:
					- ports:
						- port: 53
							protocol: UDP
					ingress:
					- ports:
						- port: 80
							protocol: TCP
					podSelector: {}
					policyTypes:
					- Ingress
					- Egress
			`,
			obj: &networkingv1.NetworkPolicy{ObjectMeta: objMeta, Spec: networkingv1.NetworkPolicySpec{
				Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Port: ptrTo(intstr.FromInt32(80))}}}},
				Egress:  []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptrTo(corev1.ProtocolUDP), Port: ptrTo(intstr.FromInt32(53))}}}},
			}},
		},
		{
			name: "networkpolicy deny all ingress",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					podSelector: {}
					policyTypes:
					- Ingress
			`,
			obj: &networkingv1.NetworkPolicy{ObjectMeta: objMeta},
		},
		{
			name: "ingressclass",
			want: `
				metadata:
					name: nginx
				spec:
					controller: k8s.io/ingress-nginx
					parameters:
						kind: IngressParameters
						name: p
						scope: Cluster
			`,
			obj: &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "nginx"}, Spec: networkingv1.IngressClassSpec{
				Controller: "k8s.io/ingress-nginx", Parameters: &networkingv1.IngressClassParametersReference{Kind: "IngressParameters", Name: "p"},
			}},
		},
		{
			name: "ingress untouched",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					rules:
					- host: a.example.com
				status:
					loadBalancer: {}
			`,
			obj: &networkingv1.Ingress{ObjectMeta: objMeta, Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "a.example.com"}}}},
		},
		{
			name: "endpointslice",
			want: `
				addressType: IPv4
				endpoints:
				- addresses:
					- 10.0.0.1
					conditions: {}
				metadata:
					name: x
					namespace: default
				ports:
				- name: ""
					port: 80
					protocol: TCP
			`,
			obj: &discoveryv1.EndpointSlice{ObjectMeta: objMeta, AddressType: discoveryv1.AddressTypeIPv4,
				Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}}},
				Ports:     []discoveryv1.EndpointPort{{Port: ptrTo(int32(80))}}},
		},
		{
			name: "hpa v1",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					maxReplicas: 5
					minReplicas: 1
					scaleTargetRef:
						apiVersion: apps/v1
						kind: Deployment
						name: x
				status:
					currentReplicas: 0
					desiredReplicas: 0
			`,
			obj: &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: objMeta, Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "x"}, MaxReplicas: 5,
			}},
		},
		{
			name: "hpa v2 minimal",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					maxReplicas: 5
					metrics:
					- resource:
							name: cpu
							target:
								averageUtilization: 80
								type: Utilization
						type: Resource
					minReplicas: 1
					scaleTargetRef:
						apiVersion: apps/v1
						kind: Deployment
						name: x
				status:
					currentMetrics: null
					desiredReplicas: 0
			`,
			obj: &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: objMeta, Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "x"}, MaxReplicas: 5,
			}},
		},
		{
			name: "hpa v2 partial behavior",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					behavior:
						scaleDown:
							policies:
							- periodSeconds: 15
								type: Percent
								value: 100
							selectPolicy: Max
							stabilizationWindowSeconds: 60
						scaleUp:
							policies:
							- periodSeconds: 15
								type: Pods
								value: 4
							- periodSeconds: 15
								type: Percent
								value: 100
							selectPolicy: Max
							stabilizationWindowSeconds: 0
					maxReplicas: 5
					metrics:
					- resource:
							name: memory
							target:
								averageValue: 500Mi
								type: AverageValue
						type: Resource
					minReplicas: 2
					scaleTargetRef:
						apiVersion: apps/v1
						kind: Deployment
						name: x
				status:
					currentMetrics: null
					desiredReplicas: 0
			`,
			obj: &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: objMeta, Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "x"}, MinReplicas: ptrTo(int32(2)), MaxReplicas: 5,
				Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptrTo(resource.MustParse("500Mi"))},
				}}},
				Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptrTo(int32(60))}},
			}},
		},
		{
			name: "rolebinding",
			want: `
				metadata:
					name: x
					namespace: default
				roleRef:
					apiGroup: rbac.authorization.k8s.io
					kind: Role
					name: reader
				subjects:
				- apiGroup: rbac.authorization.k8s.io
					kind: User
					name: jane
				- apiGroup: rbac.authorization.k8s.io
					kind: Group
					name: devs
				- kind: ServiceAccount
					name: bot
					namespace: default
			`,
			obj: &rbacv1.RoleBinding{ObjectMeta: objMeta, RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "reader"}, Subjects: []rbacv1.Subject{
				{Kind: rbacv1.UserKind, Name: "jane"}, {Kind: rbacv1.GroupKind, Name: "devs"}, {Kind: rbacv1.ServiceAccountKind, Name: "bot", Namespace: "default"},
			}},
		},
		{
			name: "clusterrolebinding",
			want: `
				metadata:
					name: x
				roleRef:
					apiGroup: rbac.authorization.k8s.io
					kind: ClusterRole
					name: view
				subjects:
				- apiGroup: rbac.authorization.k8s.io
					kind: User
					name: jane
			`,
			obj: &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "x"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"}, Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "jane"}}},
		},
		{
			name: "role untouched",
			want: `
				metadata:
					name: x
					namespace: default
				rules:
				- apiGroups:
					- ""
					resources:
					- pods
					verbs:
					- get
			`,
			obj: &rbacv1.Role{ObjectMeta: objMeta, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, Resources: []string{"pods"}, APIGroups: []string{""}}}},
		},
		{
			name: "storageclass",
			want: `
				metadata:
					name: standard
				provisioner: example.com/csi
				reclaimPolicy: Delete
				volumeBindingMode: Immediate
			`,
			obj: &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "standard"}, Provisioner: "example.com/csi"},
		},
		{
			name: "csidriver",
			want: `
				metadata:
					name: example.com
				spec:
					attachRequired: true
					fsGroupPolicy: ReadWriteOnceWithFSType
					podInfoOnMount: false
					requiresRepublish: false
					seLinuxMount: false
					storageCapacity: false
					volumeLifecycleModes:
					- Persistent
			`,
			obj: &storagev1.CSIDriver{ObjectMeta: metav1.ObjectMeta{Name: "example.com"}},
		},
		{
			name: "priorityclass",
			want: `
				metadata:
					name: high
				preemptionPolicy: PreemptLowerPriority
				value: 1000
			`,
			obj: &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000},
		},
		{
			name: "poddisruptionbudget untouched",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					minAvailable: 1
				status:
					currentHealthy: 0
					desiredHealthy: 0
					disruptionsAllowed: 0
					expectedPods: 0
			`,
			obj: &policyv1.PodDisruptionBudget{ObjectMeta: objMeta, Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptrTo(intstr.FromInt32(1))}},
		},
		{
			name: "certificatesigningrequest untouched",
			want: `
				metadata:
					name: csr
				spec:
					request: null
					signerName: kubernetes.io/kube-apiserver-client
					usages:
					- client auth
				status: {}
			`,
			obj: &certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{Name: "csr"}, Spec: certificatesv1.CertificateSigningRequestSpec{SignerName: "kubernetes.io/kube-apiserver-client", Usages: []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth}}},
		},
		{
			name: "lease untouched",
			want: `
				metadata:
					name: x
					namespace: default
				spec:
					holderIdentity: me
			`,
			obj: &coordinationv1.Lease{ObjectMeta: objMeta, Spec: coordinationv1.LeaseSpec{HolderIdentity: ptrTo("me")}},
		},
		{
			name: "event untouched",
			want: `
				deprecatedFirstTimestamp: null
				deprecatedLastTimestamp: null
				deprecatedSource: {}
				eventTime: null
				metadata:
					name: x
					namespace: default
				note: hi
				reason: Started
				regarding: {}
				type: Normal
			`,
			obj: &eventsv1.Event{ObjectMeta: objMeta, Reason: "Started", Note: "hi", Type: "Normal"},
		},
		{
			name: "validatingwebhookconfiguration",
			want: `
				metadata:
					name: v
				webhooks:
				- admissionReviewVersions:
					- v1
					clientConfig:
						service:
							name: svc
							namespace: ns
							port: 443
					failurePolicy: Fail
					matchPolicy: Equivalent
					name: v.example.com
					namespaceSelector: {}
					objectSelector: {}
					rules:
					- apiGroups:
						- ""
						apiVersions:
						- v1
						operations:
						- CREATE
						resources:
						- pods
						scope: '*'
					sideEffects: None
					timeoutSeconds: 10
			`,
			obj: &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "v"}, Webhooks: []admissionregistrationv1.ValidatingWebhook{{
				Name:         "v.example.com",
				ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: "ns", Name: "svc"}},
				Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
				SideEffects:             ptrTo(admissionregistrationv1.SideEffectClassNone),
				AdmissionReviewVersions: []string{"v1"},
			}}},
		},
		{
			name: "mutatingwebhookconfiguration",
			want: `
				metadata:
					name: m
				webhooks:
				- admissionReviewVersions:
					- v1
					clientConfig:
						url: https://example.com/m
					failurePolicy: Fail
					matchPolicy: Equivalent
					name: m.example.com
					namespaceSelector: {}
					objectSelector: {}
					reinvocationPolicy: Never
					sideEffects: None
					timeoutSeconds: 10
			`,
			obj: &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "m"}, Webhooks: []admissionregistrationv1.MutatingWebhook{{
				Name: "m.example.com", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: ptrTo("https://example.com/m")},
				SideEffects: ptrTo(admissionregistrationv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"},
			}}},
		},
		{
			name: "validatingadmissionpolicy",
			want: `
				metadata:
					name: p
				spec:
					failurePolicy: Fail
					matchConstraints:
						matchPolicy: Equivalent
						namespaceSelector: {}
						objectSelector: {}
						resourceRules:
						- apiGroups:
							- apps
							apiVersions:
							- v1
							operations:
							- CREATE
							resources:
							- deployments
							scope: '*'
					validations:
					- expression: object.spec.replicas <= 5
				status: {}
			`,
			obj: &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
				MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
				}}}},
				Validations: []admissionregistrationv1.Validation{{Expression: "object.spec.replicas <= 5"}},
			}},
		},
	}
}

func TestDefault(t *testing.T) {
	for _, tc := range defaultCases() {
		t.Run(tc.name, func(t *testing.T) {
			Default(tc.obj)
			expectYAML(t, tc.obj, tc.want)
		})
	}
}

// Objects pass through defaulting on every write and read, so a second pass
// must change nothing.
func TestDefaultIsIdempotent(t *testing.T) {
	for _, tc := range defaultCases() {
		t.Run(tc.name, func(t *testing.T) {
			Default(tc.obj)
			once := toYAML(t, tc.obj)
			Default(tc.obj)
			if twice := toYAML(t, tc.obj); twice != once {
				t.Errorf("second Default changed the object\n--- once\n%s--- twice\n%s", once, twice)
			}
		})
	}
}

func TestDefaultLeavesUnknownTypesAlone(t *testing.T) {
	Default(nil)
	status := &metav1.Status{Message: "m"}
	Default(status)
	if got := toYAML(t, status); got != "message: m\nmetadata: {}\n" {
		t.Errorf("status changed: %q", got)
	}
}

func TestPullPolicyFor(t *testing.T) {
	cases := map[string]corev1.PullPolicy{
		"nginx":                        corev1.PullAlways,
		"nginx:latest":                 corev1.PullAlways,
		"docker.io/library/nginx":      corev1.PullAlways,
		"localhost:5000/app":           corev1.PullAlways,
		"localhost:5000/app:latest":    corev1.PullAlways,
		"nginx:1.25":                   corev1.PullIfNotPresent,
		"localhost:5000/app:v2":        corev1.PullIfNotPresent,
		"nginx:latest-alpine":          corev1.PullIfNotPresent,
		"nginx@sha256:" + hex64:        corev1.PullIfNotPresent,
		"nginx:latest@sha256:" + hex64: corev1.PullAlways,
		"":                             corev1.PullIfNotPresent,
		"Not/A/Valid:Ref!":             corev1.PullIfNotPresent,
	}
	for image, want := range cases {
		if got := pullPolicyFor(image); got != want {
			t.Errorf("pullPolicyFor(%q) = %s, want %s", image, got, want)
		}
	}
}

const hex64 = "0123456789012345678901234567890123456789012345678901234567890123"

// A namespace that is being finalized must not get its finalizer back.
func TestNamespaceFinalizerNotReaddedOnUpdate(t *testing.T) {
	now := metav1.Unix(1700000000, 0)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "gone", DeletionTimestamp: &now}}
	Default(ns)
	if len(ns.Spec.Finalizers) != 0 {
		t.Errorf("finalizers = %v, want none", ns.Spec.Finalizers)
	}
}
