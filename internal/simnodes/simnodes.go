// Package simnodes owns simulated nodes: Nodes registered through the API
// that renew their Leases and report the pods bound to them as running,
// without running containers. They let the control plane be exercised at
// scale before real nodes exist, talking to the server only through the API
// like a real node agent.
package simnodes

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Annotations on a pod that make a simulated node end it, so that pods of
// Jobs can succeed or fail: AnnotationExitCode gives the exit code of every
// container (0: the pod Succeeded, else it Failed) and AnnotationRunFor how
// long (a Go duration, default 0) the pod runs before that, counted from
// status.startTime (which has one-second precision).
const (
	AnnotationExitCode = "simnodes.skiff.io/exit-code"
	AnnotationRunFor   = "simnodes.skiff.io/run-for"
)

// Config says how many nodes to simulate and how big they are.
type Config struct {
	Count  int
	Prefix string // node name prefix, default "sim-node-"
	CPU    string // default "4"
	Memory string // default "16Gi"
	Pods   int    // default 110
	// LeaseDuration and RenewInterval as the kubelet's (40 s, 10 s).
	LeaseDuration time.Duration
	RenewInterval time.Duration
	// Workers update pod statuses concurrently (default 8).
	Workers int
}

// Sim runs the simulated nodes.
type Sim struct {
	cfg    Config
	client kubernetes.Interface
	log    *slog.Logger

	mu      sync.Mutex
	stopped map[string]bool
	nodes   map[string]int // name -> index
	nextIP  map[string]int // name -> pods given an IP so far
}

// New returns simulated nodes that talk to the API through client.
func New(client kubernetes.Interface, cfg Config, log *slog.Logger) *Sim {
	if cfg.Prefix == "" {
		cfg.Prefix = "sim-node-"
	}
	if cfg.CPU == "" {
		cfg.CPU = "4"
	}
	if cfg.Memory == "" {
		cfg.Memory = "16Gi"
	}
	if cfg.Pods == 0 {
		cfg.Pods = 110
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = 40 * time.Second
	}
	if cfg.RenewInterval == 0 {
		cfg.RenewInterval = 10 * time.Second
	}
	if cfg.Workers == 0 {
		cfg.Workers = 8
	}
	s := &Sim{cfg: cfg, client: client, log: log, stopped: map[string]bool{}, nodes: map[string]int{}, nextIP: map[string]int{}}
	for i := 0; i < cfg.Count; i++ {
		s.nodes[s.NodeName(i)] = i
	}
	return s
}

// NodeName is the name of simulated node i.
func (s *Sim) NodeName(i int) string { return fmt.Sprintf("%s%d", s.cfg.Prefix, i) }

// StopHeartbeat stops (or with false resumes) the lease renewals of a node,
// as if it had failed.
func (s *Sim) StopHeartbeat(node string, stop bool) {
	s.mu.Lock()
	s.stopped[node] = stop
	s.mu.Unlock()
}

func (s *Sim) heartbeatStopped(node string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped[node]
}

// nodeIP is the InternalIP of node i, from 10.200.0.0/16.
func nodeIP(i int) string {
	return net.IPv4(10, 200, byte(i/250), byte(i%250+1)).String()
}

// podIP picks an address for the n-th pod of node i: from the node's
// spec.podCIDR when it has one, else from 10.(64+i/256).(i%256).0/24.
func podIP(node *corev1.Node, i, n int) string {
	base := net.IPv4(10, byte(64+i/256), byte(i%256), 0).To4()
	if _, cidr, err := net.ParseCIDR(node.Spec.PodCIDR); err == nil && cidr.IP.To4() != nil {
		base = cidr.IP.To4()
	}
	ip := make(net.IP, 4)
	copy(ip, base)
	ip[3] = byte(n%253 + 2)
	return ip.String()
}

// Run registers the nodes and keeps them alive until ctx ends.
func (s *Sim) Run(ctx context.Context) error {
	for i := 0; i < s.cfg.Count; i++ {
		if err := s.register(ctx, i); err != nil {
			return err
		}
	}
	s.log.Info("simulated nodes registered", "count", s.cfg.Count)
	factory := informers.NewSharedInformerFactoryWithOptions(s.client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = "spec.nodeName!="
	}))
	pods := factory.Core().V1().Pods()
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	defer queue.ShutDown()
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { s.enqueue(queue, obj) },
		UpdateFunc: func(_, obj interface{}) { s.enqueue(queue, obj) },
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), pods.Informer().HasSynced) {
		return nil
	}
	var wg sync.WaitGroup
	for w := 0; w < s.cfg.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				key, quit := queue.Get()
				if quit {
					return
				}
				after, err := s.syncPod(ctx, key)
				switch {
				case err != nil && ctx.Err() == nil:
					queue.AddRateLimited(key)
				case after > 0:
					queue.Forget(key)
					queue.AddAfter(key, after)
				default:
					queue.Forget(key)
				}
				queue.Done(key)
			}
		}()
	}
	ticker := time.NewTicker(s.cfg.RenewInterval)
	defer ticker.Stop()
	for {
		s.renewLeases(ctx)
		select {
		case <-ctx.Done():
			queue.ShutDown()
			wg.Wait()
			return nil
		case <-ticker.C:
		}
	}
}

func (s *Sim) enqueue(queue workqueue.TypedRateLimitingInterface[string], obj interface{}) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if _, ours := s.nodes[pod.Spec.NodeName]; !ours {
		return
	}
	if key, err := cache.MetaNamespaceKeyFunc(pod); err == nil {
		queue.Add(key)
	}
}

func (s *Sim) register(ctx context.Context, i int) error {
	name := s.NodeName(i)
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			corev1.LabelHostname: name, corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64", "type": "simulated",
		}},
	}
	created, err := s.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created, err = s.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("registering %s: %w", name, err)
	}
	now := metav1.Now()
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(s.cfg.CPU),
		corev1.ResourceMemory: resource.MustParse(s.cfg.Memory),
		corev1.ResourcePods:   *resource.NewQuantity(int64(s.cfg.Pods), resource.DecimalSI),
	}
	created.Status = corev1.NodeStatus{
		Capacity: capacity, Allocatable: capacity.DeepCopy(),
		Phase:     corev1.NodeRunning,
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: nodeIP(i)}, {Type: corev1.NodeHostName, Address: name}},
		Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "simulated node is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now},
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", LastHeartbeatTime: now, LastTransitionTime: now},
			{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", LastHeartbeatTime: now, LastTransitionTime: now},
			{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", LastHeartbeatTime: now, LastTransitionTime: now},
		},
		NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.37.2-skiff-sim", OperatingSystem: "linux", Architecture: "amd64", ContainerRuntimeVersion: "simulated://1.0", OSImage: "skiff simulated node"},
	}
	// Only the status changes here, so the write need not wait for other
	// writers of the node (the IPAM controller patches its spec meanwhile).
	created.ResourceVersion = ""
	if _, err := s.client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("reporting %s ready: %w", name, err)
	}
	return nil
}

// renewLeases renews the heartbeat Lease of every node that is not stopped.
func (s *Sim) renewLeases(ctx context.Context) {
	leases := s.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	secs := int32(s.cfg.LeaseDuration / time.Second)
	for name := range s.nodes {
		if ctx.Err() != nil {
			return
		}
		if s.heartbeatStopped(name) {
			continue
		}
		now := metav1.NewMicroTime(time.Now())
		holder := name
		lease, err := leases.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, RenewTime: &now}}
			_, err = leases.Create(ctx, lease, metav1.CreateOptions{})
		} else if err == nil {
			lease.Spec.HolderIdentity, lease.Spec.LeaseDurationSeconds, lease.Spec.RenewTime = &holder, &secs, &now
			_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
		}
		if err != nil && ctx.Err() == nil {
			s.log.Warn("renewing lease", "node", name, "err", err)
		}
	}
}

// syncPod makes a bound pod look like a node agent ran it: Running and
// Ready with an IP; a pod being deleted is confirmed gone (grace 0). A
// running pod with AnnotationExitCode is ended once AnnotationRunFor has
// passed; the returned duration asks for a later look.
func (s *Sim) syncPod(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	pod, err := s.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	i, ours := s.nodes[pod.Spec.NodeName]
	if !ours || s.heartbeatStopped(pod.Spec.NodeName) {
		return 0, nil
	}
	if pod.DeletionTimestamp != nil {
		zero := int64(0)
		err := s.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID}})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return 0, nil
		}
		return 0, err
	}
	if pod.Status.Phase == corev1.PodRunning {
		return s.maybeTerminate(ctx, pod)
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return 0, nil
	}
	node, err := s.client.CoreV1().Nodes().Get(ctx, pod.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		return 0, err
	}
	now := metav1.Now()
	s.mu.Lock()
	n := s.nextIP[node.Name]
	s.nextIP[node.Name]++
	s.mu.Unlock()
	ip := podIP(node, i, n)
	pod.Status.Phase = corev1.PodRunning
	pod.Status.HostIP = nodeIP(i)
	pod.Status.HostIPs = []corev1.HostIP{{IP: pod.Status.HostIP}}
	pod.Status.PodIP = ip
	pod.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	pod.Status.StartTime = &now
	pod.Status.Conditions = mergeConditions(pod.Status.Conditions,
		corev1.PodCondition{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue, LastTransitionTime: now},
		corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
		corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
	)
	pod.Status.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		started := true
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: "simulated://" + c.Image, ContainerID: "simulated://" + string(pod.UID) + "/" + c.Name,
			Ready: true, Started: &started, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	updated, err := s.client.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return s.maybeTerminate(ctx, updated)
}

// maybeTerminate ends a running pod annotated with AnnotationExitCode once
// it has run for AnnotationRunFor, as if its containers exited with that
// code (and restartPolicy did not restart them).
func (s *Sim) maybeTerminate(ctx context.Context, pod *corev1.Pod) (time.Duration, error) {
	v, ok := pod.Annotations[AnnotationExitCode]
	if !ok {
		return 0, nil
	}
	code, err := strconv.Atoi(v)
	if err != nil {
		s.log.Warn("ignoring bad exit code annotation", "pod", pod.Namespace+"/"+pod.Name, "value", v)
		return 0, nil
	}
	var runFor time.Duration
	if d, ok := pod.Annotations[AnnotationRunFor]; ok {
		if runFor, err = time.ParseDuration(d); err != nil {
			s.log.Warn("ignoring bad run-for annotation", "pod", pod.Namespace+"/"+pod.Name, "value", d)
		}
	}
	started := time.Now()
	if pod.Status.StartTime != nil {
		started = pod.Status.StartTime.Time
	}
	if left := time.Until(started.Add(runFor)); left > 0 {
		return left, nil
	}
	now := metav1.Now()
	phase, reason := corev1.PodSucceeded, "Completed"
	if code != 0 {
		phase, reason = corev1.PodFailed, "Error"
	}
	pod.Status.Phase = phase
	pod.Status.Conditions = mergeConditions(pod.Status.Conditions,
		corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, LastTransitionTime: now},
		corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: now},
	)
	for j := range pod.Status.ContainerStatuses {
		cs := &pod.Status.ContainerStatuses[j]
		start := now
		if cs.State.Running != nil {
			start = cs.State.Running.StartedAt
		}
		notStarted := false
		cs.Ready, cs.Started = false, &notStarted
		cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: int32(code), Reason: reason, StartedAt: start, FinishedAt: now, ContainerID: cs.ContainerID}}
	}
	_, err = s.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		// Gone, or changed meanwhile: its update event brings it back.
		return 0, nil
	}
	return 0, err
}

func mergeConditions(have []corev1.PodCondition, set ...corev1.PodCondition) []corev1.PodCondition {
	for _, c := range set {
		found := false
		for i := range have {
			if have[i].Type == c.Type {
				have[i].Status, have[i].LastTransitionTime = c.Status, c.LastTransitionTime
				found = true
			}
		}
		if !found {
			have = append(have, c)
		}
	}
	return have
}
