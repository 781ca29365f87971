package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func running(d time.Duration) corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(d)}}
}

func waiting(reason string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
}

func terminated(code int32, reason string) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason}}
}

func lastTerminated(d time.Duration) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", FinishedAt: ago(d)}}
}

func podWith(spec corev1.PodSpec, status corev1.PodStatus) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: ago(10 * time.Minute)}, Spec: spec, Status: status}
}

var twoContainers = corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}, {Name: "b"}}}

func TestPodStatusCells(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	cases := []struct {
		name                    string
		pod                     *corev1.Pod
		ready, status, restarts string
	}{
		{
			name:  "pending, unscheduled",
			pod:   podWith(twoContainers, corev1.PodStatus{Phase: corev1.PodPending}),
			ready: "0/2", status: "Pending", restarts: "0",
		},
		{
			name: "scheduling gated",
			pod: podWith(twoContainers, corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated},
			}}),
			ready: "0/2", status: "SchedulingGated", restarts: "0",
		},
		{
			name: "container creating",
			pod: podWith(twoContainers, corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "a", State: waiting("ContainerCreating")}, {Name: "b", State: waiting("ContainerCreating")},
			}}),
			ready: "0/2", status: "ContainerCreating", restarts: "0",
		},
		{
			name: "running and ready",
			pod: podWith(twoContainers, corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "a", Ready: true, State: running(time.Minute)}, {Name: "b", Ready: true, State: running(time.Minute)},
			}}),
			ready: "2/2", status: "Running", restarts: "0",
		},
		{
			name: "crash loop with last restart time",
			pod: podWith(twoContainers, corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "a", Ready: true, State: running(time.Minute), RestartCount: 1, LastTerminationState: lastTerminated(20 * time.Minute)},
				{Name: "b", State: waiting("CrashLoopBackOff"), RestartCount: 4, LastTerminationState: lastTerminated(5 * time.Minute)},
			}}),
			ready: "1/2", status: "CrashLoopBackOff", restarts: "5 (5m ago)",
		},
		{
			name: "image pull error",
			pod: podWith(corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}}, corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "a", State: waiting("ErrImagePull")},
			}}),
			ready: "0/1", status: "ErrImagePull", restarts: "0",
		},
		{
			name: "completed",
			pod: podWith(corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}}, corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "a", State: terminated(0, "Completed")},
			}}),
			ready: "0/1", status: "Completed", restarts: "0",
		},
		{
			name: "one completed next to a running one is Running when the pod is ready",
			pod: podWith(twoContainers, corev1.PodStatus{Phase: corev1.PodRunning,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
				ContainerStatuses: []corev1.ContainerStatus{
					{Name: "a", Ready: true, State: running(time.Minute)}, {Name: "b", State: terminated(0, "Completed")},
				}}),
			ready: "1/2", status: "Running", restarts: "0",
		},
		{
			name: "one completed next to a running one is NotReady otherwise",
			pod: podWith(twoContainers, corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "a", Ready: true, State: running(time.Minute)}, {Name: "b", State: terminated(0, "Completed")},
			}}),
			ready: "1/2", status: "NotReady", restarts: "0",
		},
		{
			name: "terminated without reason shows signal",
			pod: podWith(corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}}, corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "a", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Signal: 9}}},
			}}),
			ready: "0/1", status: "Signal:9", restarts: "0",
		},
		{
			name: "terminated without reason or signal shows exit code",
			pod: podWith(corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}}, corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "a", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3}}},
			}}),
			ready: "0/1", status: "ExitCode:3", restarts: "0",
		},
		{
			name:  "evicted",
			pod:   podWith(twoContainers, corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted"}),
			ready: "0/2", status: "Evicted", restarts: "0",
		},
		{
			name: "init container running",
			pod: podWith(corev1.PodSpec{InitContainers: []corev1.Container{{Name: "i0"}, {Name: "i1"}}, Containers: []corev1.Container{{Name: "a"}}},
				corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
					{Name: "i0", State: terminated(0, "Completed")},
					{Name: "i1", State: running(time.Minute)},
				}, ContainerStatuses: []corev1.ContainerStatus{{Name: "a", State: waiting("PodInitializing")}}}),
			ready: "0/1", status: "Init:1/2", restarts: "0",
		},
		{
			name: "init container waiting on PodInitializing counts as progress",
			pod: podWith(corev1.PodSpec{InitContainers: []corev1.Container{{Name: "i0"}}, Containers: []corev1.Container{{Name: "a"}}},
				corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
					{Name: "i0", State: waiting("PodInitializing")},
				}}),
			ready: "0/1", status: "Init:0/1", restarts: "0",
		},
		{
			name: "init container crash looping",
			pod: podWith(corev1.PodSpec{InitContainers: []corev1.Container{{Name: "i0"}}, Containers: []corev1.Container{{Name: "a"}}},
				corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
					{Name: "i0", State: waiting("CrashLoopBackOff"), RestartCount: 3, LastTerminationState: lastTerminated(2 * time.Minute)},
				}}),
			ready: "0/1", status: "Init:CrashLoopBackOff", restarts: "3 (2m ago)",
		},
		{
			name: "init container failed",
			pod: podWith(corev1.PodSpec{InitContainers: []corev1.Container{{Name: "i0"}}, Containers: []corev1.Container{{Name: "a"}}},
				corev1.PodStatus{Phase: corev1.PodFailed, InitContainerStatuses: []corev1.ContainerStatus{
					{Name: "i0", State: terminated(1, "Error")},
				}}),
			ready: "0/1", status: "Init:Error", restarts: "0",
		},
		{
			name: "init container failed without reason",
			pod: podWith(corev1.PodSpec{InitContainers: []corev1.Container{{Name: "i0"}}, Containers: []corev1.Container{{Name: "a"}}},
				corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
					{Name: "i0", State: terminated(2, "")},
				}}),
			ready: "0/1", status: "Init:ExitCode:2", restarts: "0",
		},
		{
			name: "sidecar counts as a container and its restarts stay",
			pod: podWith(corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: "init"}, {Name: "proxy", RestartPolicy: &always}},
				Containers:     []corev1.Container{{Name: "a"}},
			}, corev1.PodStatus{Phase: corev1.PodRunning,
				Conditions: []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}},
				InitContainerStatuses: []corev1.ContainerStatus{
					{Name: "init", State: terminated(0, "Completed"), RestartCount: 2, LastTerminationState: lastTerminated(time.Hour)},
					{Name: "proxy", Ready: true, Started: ptr(true), State: running(time.Minute), RestartCount: 1, LastTerminationState: lastTerminated(3 * time.Minute)},
				},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "a", Ready: true, State: running(time.Minute)}},
			}),
			ready: "2/2", status: "Running", restarts: "1 (3m ago)",
		},
		{
			name: "terminating",
			pod: func() *corev1.Pod {
				p := podWith(twoContainers, corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
					{Name: "a", Ready: true, State: running(time.Minute)}, {Name: "b", Ready: true, State: running(time.Minute)},
				}})
				p.DeletionTimestamp = agoPtr(time.Second)
				return p
			}(),
			ready: "2/2", status: "Terminating", restarts: "0",
		},
		{
			name: "deleted on a lost node",
			pod: func() *corev1.Pod {
				p := podWith(twoContainers, corev1.PodStatus{Phase: corev1.PodRunning, Reason: "NodeLost"})
				p.DeletionTimestamp = agoPtr(time.Second)
				return p
			}(),
			ready: "0/2", status: "Unknown", restarts: "0",
		},
		{
			name: "deleting a finished pod keeps its status",
			pod: func() *corev1.Pod {
				p := podWith(corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}}, corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{
					{Name: "a", State: terminated(0, "Completed")},
				}})
				p.DeletionTimestamp = agoPtr(time.Second)
				return p
			}(),
			ready: "0/1", status: "Completed", restarts: "0",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cells, err := Row(tc.pod, now)
			if err != nil {
				t.Fatal(err)
			}
			if cells[1] != tc.ready || cells[2] != tc.status || cells[3] != tc.restarts {
				t.Errorf("READY, STATUS, RESTARTS = %v, %v, %v; want %v, %v, %v", cells[1], cells[2], cells[3], tc.ready, tc.status, tc.restarts)
			}
		})
	}
}

func TestCoreRows(t *testing.T) {
	created := ago(90 * time.Minute)
	om := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: created}
	}
	fs := corev1.PersistentVolumeFilesystem
	runRowCases(t, []rowCase{
		{
			name: "pod wide cells",
			obj: &corev1.Pod{ObjectMeta: om("web"),
				Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "a"}},
					ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}, {ConditionType: "example.com/dns"}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.9", PodIPs: []corev1.PodIP{{IP: "10.0.0.9"}, {IP: "fd00::9"}},
					NominatedNodeName: "node-2",
					Conditions:        []corev1.PodCondition{{Type: "example.com/lb", Status: corev1.ConditionTrue}},
					ContainerStatuses: []corev1.ContainerStatus{{Name: "a", Ready: true, State: running(time.Minute)}}}},
			want: []interface{}{"web", "1/1", "Running", "0", "90m", "10.0.0.9", "node-1", "node-2", "1/2"},
		},
		{
			name: "pod with nothing yet",
			obj:  &corev1.Pod{ObjectMeta: om("new"), Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}}, Status: corev1.PodStatus{Phase: corev1.PodPending}},
			want: []interface{}{"new", "0/1", "Pending", "0", "90m", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "podtemplate",
			obj: &corev1.PodTemplate{ObjectMeta: om("tpl"), Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "nginx"}, {Name: "b", Image: "redis:7"}}},
			}},
			want: []interface{}{"tpl", "a,b", "nginx,redis:7", "app=web"},
		},
		{
			name: "replicationcontroller",
			obj: &corev1.ReplicationController{ObjectMeta: om("rc"), Spec: corev1.ReplicationControllerSpec{
				Replicas: ptr(int32(3)), Selector: map[string]string{"app": "web"},
				Template: &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "nginx"}}}},
			}, Status: corev1.ReplicationControllerStatus{Replicas: 3, ReadyReplicas: 2}},
			want: []interface{}{"rc", int64(3), int64(3), int64(2), "90m", "a", "nginx", "app=web"},
		},
		{
			name: "service clusterip",
			obj: &corev1.Service{ObjectMeta: om("kubernetes"), Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.1", ClusterIPs: []string{"10.96.0.1"},
				Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}},
			}},
			want: []interface{}{"kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP", "90m", "<none>"},
		},
		{
			name: "service nodeport with two ports and a selector",
			obj: &corev1.Service{ObjectMeta: om("web"), Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeNodePort, ClusterIPs: []string{"10.96.4.2"}, Selector: map[string]string{"app": "web"},
				Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080, Protocol: corev1.ProtocolTCP}, {Port: 53, NodePort: 30053, Protocol: corev1.ProtocolUDP}},
			}},
			want: []interface{}{"web", "NodePort", "10.96.4.2", "<none>", "80:30080/TCP,53:30053/UDP", "90m", "app=web"},
		},
		{
			name: "service headless",
			obj:  &corev1.Service{ObjectMeta: om("db"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "None", ClusterIPs: []string{"None"}}},
			want: []interface{}{"db", "ClusterIP", "None", "<none>", "<none>", "90m", "<none>"},
		},
		{
			name: "service loadbalancer pending",
			obj: &corev1.Service{ObjectMeta: om("lb"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.0.10"},
				Ports: []corev1.ServicePort{{Port: 80, NodePort: 31000, Protocol: corev1.ProtocolTCP}}}},
			want: []interface{}{"lb", "LoadBalancer", "10.96.0.10", "<pending>", "80:31000/TCP", "90m", "<none>"},
		},
		{
			name: "service loadbalancer with addresses is never truncated",
			obj: &corev1.Service{ObjectMeta: om("lb"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.0.10"},
				ExternalIPs: []string{"198.51.100.7"}},
				Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
					{Hostname: "a-very-long-hostname.elb.example.com"}, {IP: "203.0.113.5"}, {IP: "203.0.113.5"},
				}}}},
			want: []interface{}{"lb", "LoadBalancer", "10.96.0.10", "203.0.113.5,a-very-long-hostname.elb.example.com,198.51.100.7", "<none>", "90m", "<none>"},
		},
		{
			name: "service externalname",
			obj:  &corev1.Service{ObjectMeta: om("ext"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}},
			want: []interface{}{"ext", "ExternalName", "<none>", "db.example.com", "<none>", "90m", "<none>"},
		},
		{
			name: "endpoints",
			obj: &corev1.Endpoints{ObjectMeta: om("web"), Subsets: []corev1.EndpointSubset{ //nolint:staticcheck // core/v1 Endpoints is deprecated but still served
				{Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1"}, {IP: "10.0.0.2"}}, Ports: []corev1.EndpointPort{{Port: 80}, {Port: 443}}},
			}},
			want: []interface{}{"web", "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...", "90m"},
		},
		{
			name: "endpoints headless without ports, ipv6",
			obj: &corev1.Endpoints{ObjectMeta: om("db"), Subsets: []corev1.EndpointSubset{ //nolint:staticcheck // core/v1 Endpoints is deprecated but still served
				{Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1"}}},
				{Addresses: []corev1.EndpointAddress{{IP: "fd00::1"}}, Ports: []corev1.EndpointPort{{Port: 5432}}},
			}},
			want: []interface{}{"db", "10.0.0.1,[fd00::1]:5432", "90m"},
		},
		{
			name: "endpoints empty",
			obj:  &corev1.Endpoints{ObjectMeta: om("none")}, //nolint:staticcheck // core/v1 Endpoints is deprecated but still served
			want: []interface{}{"none", "<none>", "90m"},
		},
		{
			name: "node ready control plane",
			obj: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "cp-1", CreationTimestamp: created, Labels: map[string]string{
				"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "master", "node-role.kubernetes.io/": "",
			}},
				Status: corev1.NodeStatus{
					Conditions: []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
					Addresses:  []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "cp-1"}, {Type: corev1.NodeInternalIP, Address: "192.0.2.10"}},
					NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OSImage: "Debian GNU/Linux 13", KernelVersion: "6.12.0",
						ContainerRuntimeVersion: "containerd://2.1.0"},
				}},
			want: []interface{}{"cp-1", "Ready", "control-plane,master", "90m", "v1.37.2", "192.0.2.10", "<none>", "Debian GNU/Linux 13", "6.12.0", "containerd://2.1.0"},
		},
		{
			name: "node cordoned, not ready",
			obj: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w-1", CreationTimestamp: created}, Spec: corev1.NodeSpec{Unschedulable: true},
				Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}}}},
			want: []interface{}{"w-1", "NotReady,SchedulingDisabled", "<none>", "90m", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"},
		},
		{
			name: "node without conditions",
			obj:  &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w-2", CreationTimestamp: created}, Spec: corev1.NodeSpec{Unschedulable: true}},
			want: []interface{}{"w-2", "Unknown,SchedulingDisabled", "<none>", "90m", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"},
		},
		{
			name: "core event",
			obj: &corev1.Event{ObjectMeta: om("web.17f"),
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web", FieldPath: "spec.containers{a}"},
				Reason:         "BackOff", Message: "Back-off restarting failed container\n", Type: corev1.EventTypeWarning,
				Source:         corev1.EventSource{Component: "kubelet", Host: "node-1"},
				FirstTimestamp: ago(time.Hour), LastTimestamp: ago(2 * time.Minute), Count: 12},
			want: []interface{}{"2m", "Warning", "BackOff", "pod/web", "spec.containers{a}", "kubelet, node-1", "Back-off restarting failed container", "60m", int64(12), "web.17f"},
		},
		{
			name: "core event from the new API",
			obj: &corev1.Event{ObjectMeta: om("e"), InvolvedObject: corev1.ObjectReference{Kind: "Node"},
				Reason: "Starting", Type: corev1.EventTypeNormal, EventTime: metav1.NewMicroTime(now.Add(-30 * time.Second)),
				ReportingController: "kube-proxy", ReportingInstance: "kube-proxy-node-1"},
			want: []interface{}{"30s", "Normal", "Starting", "node", "", "kube-proxy, kube-proxy-node-1", "", "30s", int64(1), "e"},
		},
		{
			name: "events.k8s.io event with a series",
			obj: &eventsv1.Event{ObjectMeta: om("s"), Regarding: corev1.ObjectReference{Kind: "Deployment", Name: "web"},
				Reason: "ScalingReplicaSet", Note: "Scaled up", Type: corev1.EventTypeNormal, ReportingController: "deployment-controller",
				EventTime: metav1.NewMicroTime(now.Add(-10 * time.Minute)),
				Series:    &eventsv1.EventSeries{Count: 4, LastObservedTime: metav1.NewMicroTime(now.Add(-time.Minute))}},
			want: []interface{}{"60s", "Normal", "ScalingReplicaSet", "deployment/web", "", "deployment-controller", "Scaled up", "10m", int64(4), "s"},
		},
		{
			name: "namespace",
			obj:  &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system", CreationTimestamp: created}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
			want: []interface{}{"kube-system", "Active", "90m"},
		},
		{
			name: "secret",
			obj:  &corev1.Secret{ObjectMeta: om("tls"), Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": nil, "tls.key": nil}},
			want: []interface{}{"tls", "kubernetes.io/tls", int64(2), "90m"},
		},
		{
			name: "serviceaccount",
			obj:  &corev1.ServiceAccount{ObjectMeta: om("default")},
			want: []interface{}{"default", int64(0), "90m"},
		},
		{
			name: "configmap counts data and binary data",
			obj:  &corev1.ConfigMap{ObjectMeta: om("cfg"), Data: map[string]string{"a": "1"}, BinaryData: map[string][]byte{"b": {1}}},
			want: []interface{}{"cfg", int64(2), "90m"},
		},
		{
			name: "persistentvolume bound",
			obj: &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-1", CreationTimestamp: created}, Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod, corev1.ReadWriteOnce, corev1.ReadWriteOnce},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				ClaimRef:                      &corev1.ObjectReference{Namespace: "default", Name: "data"},
				StorageClassName:              "standard", VolumeMode: &fs,
			}, Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound}},
			want: []interface{}{"pv-1", "10Gi", "RWO,RWOP", "Retain", "Bound", "default/data", "standard", "<unset>", "", "90m", "Filesystem"},
		},
		{
			name: "persistentvolume terminating with beta class annotation",
			obj: &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-2", CreationTimestamp: created, DeletionTimestamp: agoPtr(time.Second),
				Annotations: map[string]string{corev1.BetaStorageClassAnnotation: "old"}},
				Spec:   corev1.PersistentVolumeSpec{StorageClassName: "standard", VolumeAttributesClassName: ptr("gold")},
				Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeReleased, Reason: "Released"}},
			want: []interface{}{"pv-2", "0", "", "", "Terminating", "", "old", "gold", "Released", "90m", "<unset>"},
		},
		{
			name: "persistentvolumeclaim pending",
			obj: &corev1.PersistentVolumeClaim{ObjectMeta: om("data"), Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, StorageClassName: ptr("standard"), VolumeMode: &fs,
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}},
			want: []interface{}{"data", "Pending", "", "", "", "standard", "<unset>", "90m", "Filesystem"},
		},
		{
			name: "persistentvolumeclaim bound",
			obj: &corev1.PersistentVolumeClaim{ObjectMeta: om("data"), Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-1"},
				Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany, corev1.ReadOnlyMany},
					Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}}},
			want: []interface{}{"data", "Bound", "pv-1", "10Gi", "ROX,RWX", "", "<unset>", "90m", "<unset>"},
		},
		{
			name: "resourcequota",
			obj: &corev1.ResourceQuota{ObjectMeta: om("compute"), Status: corev1.ResourceQuotaStatus{
				Hard: corev1.ResourceList{"pods": resource.MustParse("10"), "requests.cpu": resource.MustParse("1"), "limits.memory": resource.MustParse("2Gi"), "limits.cpu": resource.MustParse("2")},
				Used: corev1.ResourceList{"pods": resource.MustParse("3"), "requests.cpu": resource.MustParse("500m")},
			}},
			want: []interface{}{"compute", "pods: 3/10, requests.cpu: 500m/1", "limits.cpu: 0/2, limits.memory: 0/2Gi", "90m"},
		},
		{
			name: "limitrange uses the default table",
			obj:  &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "limits", CreationTimestamp: metav1.NewTime(time.Date(2025, 5, 1, 8, 0, 0, 0, time.UTC))}},
			want: []interface{}{"limits", "2025-05-01T08:00:00Z"},
		},
		{
			name: "componentstatus",
			obj: &corev1.ComponentStatus{ObjectMeta: metav1.ObjectMeta{Name: "etcd-0"}, Conditions: []corev1.ComponentCondition{
				{Type: corev1.ComponentHealthy, Status: corev1.ConditionTrue, Message: "ok"},
			}},
			want: []interface{}{"etcd-0", "Healthy", "ok", ""},
		},
	})
}
