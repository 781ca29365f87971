// Package agent is skiff's node agent (the kubelet): it registers this
// machine as a Node, keeps its Lease and status fresh, and runs the pods
// bound to it through a CRI runtime (containerd supervised by the agent, or
// any CRI endpoint given): a sandbox per pod with its network from CNI,
// images pulled per imagePullPolicy, containers created, started and
// restarted per restartPolicy, and the pod status written back; init
// containers and sidecars, probes, lifecycle hooks and cgroup resources
// (lifecycle.go, probes.go, resources.go). Pods that are being deleted are
// stopped (preStop, grace period) and then confirmed gone to the API server.
//
// The kubelet API (logs, exec, attach, port-forward) is package server,
// started by Run; volumes are package volume; the environment is env.go;
// joining a cluster with a bootstrap token is join.go.
//
// Not yet here: stats, pod-level cgroups, DNS configuration (dnsPolicy).
package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"skiff/internal/agent/containerd"
	"skiff/internal/agent/images"
	"skiff/internal/agent/server"
	"skiff/internal/agent/volume"
	"skiff/internal/syncloop"
)

// Config is what the agent is told.
type Config struct {
	// NodeName defaults to the hostname.
	NodeName string
	// DataDir holds containerd's files, the CNI config and the image
	// archives the agent writes (default /var/lib/skiff/agent).
	DataDir string
	// PodLogsDir is where container logs go (default /var/log/pods).
	PodLogsDir string
	// RuntimeEndpoint is an existing CRI socket; empty: run our containerd.
	RuntimeEndpoint string
	// ContainerdBinary is the containerd executable (default: on PATH).
	ContainerdBinary string
	// CNIBinDir holds the CNI plugins (default /usr/lib/cni).
	CNIBinDir string
	// NodeIP is the InternalIP reported (default: the default route's).
	NodeIP string
	// BusyboxPath, when it exists, is imported as images.BusyboxImage
	// (default /bin/busybox; "-" disables).
	BusyboxPath string
	// LeaseDuration and RenewInterval as upstream (40 s, 10 s);
	// StatusInterval is how often node status is posted (default 10 s).
	LeaseDuration, RenewInterval, StatusInterval time.Duration
	// SyncFrequency is how often every pod is synced again even when
	// nothing about it changed (default 20 s).
	SyncFrequency time.Duration
	// ClusterDNS, ClusterDomain and ResolvConf shape pods' resolv.conf, as
	// kubelet's flags of the same names (default 10.43.0.10,
	// cluster.local, /etc/resolv.conf); see dns.go.
	ClusterDNS    []string
	ClusterDomain string
	ResolvConf    string
	// ContainerLogMaxSize and ContainerLogMaxFiles bound each container's
	// logs, as upstream's flags of the same names (10Mi, 5 files).
	ContainerLogMaxSize  int64
	ContainerLogMaxFiles int
	// ServerPort is the kubelet HTTPS port (default 10250; negative: no
	// server). It is served only with a ServingCert; ClientCA verifies
	// the API server's client certificate.
	ServerPort  int
	ServingCert *tls.Certificate
	ClientCA    *x509.CertPool
	Logger      *slog.Logger
}

func (c *Config) defaults() {
	if c.NodeName == "" {
		c.NodeName, _ = os.Hostname()
	}
	if c.DataDir == "" {
		c.DataDir = "/var/lib/skiff/agent"
	}
	if c.PodLogsDir == "" {
		c.PodLogsDir = "/var/log/pods"
	}
	if c.CNIBinDir == "" {
		c.CNIBinDir = "/usr/lib/cni"
	}
	if c.BusyboxPath == "" {
		c.BusyboxPath = "/bin/busybox"
	}
	if c.LeaseDuration == 0 {
		c.LeaseDuration = 40 * time.Second
	}
	if c.RenewInterval == 0 {
		c.RenewInterval = 10 * time.Second
	}
	if c.StatusInterval == 0 {
		c.StatusInterval = 10 * time.Second
	}
	if c.SyncFrequency == 0 {
		c.SyncFrequency = 20 * time.Second
	}
	if c.ContainerLogMaxSize == 0 {
		c.ContainerLogMaxSize = 10 << 20
	}
	if c.ContainerLogMaxFiles == 0 {
		c.ContainerLogMaxFiles = 5
	}
	if c.ServerPort == 0 {
		c.ServerPort = 10250
	}
	if c.ClusterDNS == nil {
		c.ClusterDNS = []string{"10.43.0.10"}
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = "cluster.local"
	}
	if c.ResolvConf == "" {
		c.ResolvConf = "/etc/resolv.conf"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Agent is one node's kubelet.
type Agent struct {
	cfg    Config
	client kubernetes.Interface
	log    *slog.Logger

	rt             *Runtime
	runtimeName    string
	runtimeVersion string

	pods     corelisters.PodLister
	services corelisters.ServiceLister
	volumes  *volume.Manager
	setups   podSetups
	nodes    corelisters.NodeLister
	queue    workqueue.TypedRateLimitingInterface[string]

	recorder record.EventRecorder

	mu sync.Mutex
	// backoff per pod UID + container (restarts and image pulls).
	backoff map[string]*backoffEntry
	// cniCIDR is the pod CIDR the CNI config was written for.
	cniCIDR string
	// lastState is the relist's view of container states, by container ID.
	lastState map[string]runtimeapi.ContainerState

	// lc is the container lifecycle's state (lifecycle.go, probes.go).
	lc lifecycleState
}

type backoffEntry struct {
	delay time.Duration
	until time.Time
}

// New returns an agent; it does nothing before Run.
func New(client kubernetes.Interface, cfg Config) *Agent {
	cfg.defaults()
	return &Agent{
		cfg:       cfg,
		client:    client,
		log:       cfg.Logger,
		queue:     workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "pod-workers"}),
		backoff:   map[string]*backoffEntry{},
		lastState: map[string]runtimeapi.ContainerState{},
		volumes:   volume.New(filepath.Join(cfg.DataDir, "pods"), client),
	}
}

// CNIConfDir is where the agent writes the pod network config.
func (a *Agent) CNIConfDir() string { return filepath.Join(a.cfg.DataDir, "cni", "net.d") }

// Run runs the agent until ctx ends. The containerd it started is stopped
// on return; the containers it runs are left running (an agent restart
// adopts them).
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	defer a.queue.ShutDown()

	if err := os.MkdirAll(a.cfg.DataDir, 0o700); err != nil {
		return err
	}
	endpoint := a.cfg.RuntimeEndpoint
	var sup *containerd.Supervisor
	if endpoint == "" {
		if os.Geteuid() != 0 {
			return fmt.Errorf("the node agent runs containerd, which needs root: run as root, give --container-runtime-endpoint, or run the server with --disable-agent")
		}
		sup = containerd.New(containerd.Config{
			Dir: filepath.Join(a.cfg.DataDir, "containerd"), Binary: a.cfg.ContainerdBinary,
			SandboxImage: images.PauseImage, CNIBinDir: a.cfg.CNIBinDir, CNIConfDir: a.CNIConfDir(),
			Logger: a.log.With("component", "containerd"),
		})
		supErr := make(chan error, 1)
		wg.Add(1)
		go func() { defer wg.Done(); supErr <- sup.Run(ctx) }()
		select {
		case <-sup.Ready():
		case err := <-supErr:
			return fmt.Errorf("containerd: %w", err)
		case <-time.After(2 * time.Minute):
			return fmt.Errorf("containerd did not open %s within 2m (see %s)", sup.Address(), filepath.Join(a.cfg.DataDir, "containerd", "containerd.log"))
		case <-ctx.Done():
			return nil
		}
		endpoint = sup.Endpoint()
	}
	rt, err := DialRuntime(endpoint)
	if err != nil {
		return err
	}
	defer func() { _ = rt.Close() }()
	a.rt = rt
	vctx, vcancel := context.WithTimeout(ctx, time.Minute)
	v, err := rt.waitVersion(vctx)
	vcancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	a.runtimeName, a.runtimeVersion = v.RuntimeName, v.RuntimeVersion
	a.log.Info("container runtime is up", "endpoint", endpoint, "runtime", v.RuntimeName, "version", v.RuntimeVersion, "criVersion", v.RuntimeApiVersion)
	if sup != nil {
		if err := a.ensureImages(ctx, sup.Address()); err != nil {
			return err
		}
	}

	// Events come from "kubelet" on this host, as upstream's do.
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: a.client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	a.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: a.cfg.NodeName})
	a.recorder.Eventf(syncloop.NodeReference(a.cfg.NodeName), corev1.EventTypeNormal, "Starting", "Starting kubelet.")

	if err := a.registerNode(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	a.renewLease(ctx)

	podFactory := informers.NewSharedInformerFactoryWithOptions(a.client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = "spec.nodeName=" + a.cfg.NodeName
	}))
	podInf := podFactory.Core().V1().Pods()
	a.pods = podInf.Lister()
	nodeFactory := informers.NewSharedInformerFactoryWithOptions(a.client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = "metadata.name=" + a.cfg.NodeName
	}))
	nodeInf := nodeFactory.Core().V1().Nodes()
	a.nodes = nodeInf.Lister()
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			a.queue.Add(key)
		}
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, n any) { enqueue(n) }, DeleteFunc: enqueue,
	}); err != nil {
		return err
	}
	if _, err := nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		// A new pod CIDR unblocks pods waiting for the network.
		UpdateFunc: func(o, n any) {
			if o.(*corev1.Node).Spec.PodCIDR != n.(*corev1.Node).Spec.PodCIDR {
				a.enqueueAll()
			}
		},
	}); err != nil {
		return err
	}
	podFactory.Start(ctx.Done())
	nodeFactory.Start(ctx.Done())
	// Services, for the service environment variables of new containers.
	svcFactory := informers.NewSharedInformerFactory(a.client, 0)
	svcInf := svcFactory.Core().V1().Services()
	a.services = svcInf.Lister()
	svcInf.Informer() // registered before Start
	svcFactory.Start(ctx.Done())
	defer svcFactory.Shutdown()
	defer podFactory.Shutdown()
	defer nodeFactory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), podInf.Informer().HasSynced, nodeInf.Informer().HasSynced, svcInf.Informer().HasSynced) {
		return nil
	}

	wg.Add(3)
	go func() { defer wg.Done(); a.heartbeat(ctx) }()
	go func() { defer wg.Done(); wait.UntilWithContext(ctx, a.relist, time.Second) }()
	go func() { defer wg.Done(); wait.UntilWithContext(ctx, a.cleanupOrphans, 10*time.Second) }()
	wg.Add(1)
	go func() { defer wg.Done(); wait.UntilWithContext(ctx, a.rotateLogs, 10*time.Second) }()
	// Every pod is synced again periodically, as upstream's syncFrequency:
	// this is what brings edited ConfigMaps and Secrets into mounted volumes.
	wg.Add(1)
	go func() {
		defer wg.Done()
		wait.UntilWithContext(ctx, func(context.Context) { a.enqueueAll() }, a.cfg.SyncFrequency)
	}()
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); a.worker(ctx) }()
	}
	a.startServer(ctx, &wg)
	a.log.Info("node agent running", "node", a.cfg.NodeName)
	<-ctx.Done()
	return nil
}

// startServer runs the kubelet HTTPS server (logs, exec, attach,
// port-forward) in wg, when configured.
func (a *Agent) startServer(ctx context.Context, wg *sync.WaitGroup) {
	if a.cfg.ServerPort < 0 || a.cfg.ServingCert == nil {
		a.log.Info("kubelet server not started: no port or no serving certificate")
		return
	}
	srv := server.New(server.Config{
		Addr: fmt.Sprintf(":%d", a.cfg.ServerPort), Cert: *a.cfg.ServingCert, ClientCA: a.cfg.ClientCA,
		Runtime: a.rt,
		Pod:     func(ns, name string) (*corev1.Pod, error) { return a.pods.Pods(ns).Get(name) },
		Logger:  a.log.With("component", "kubelet-server"),
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Run(ctx); err != nil {
			a.log.Error("kubelet server stopped", "err", err)
		}
	}()
}

// ensureImages imports skiff's own images into containerd when missing.
func (a *Agent) ensureImages(ctx context.Context, address string) error {
	type want struct {
		ref   string
		build func() (images.Image, error)
	}
	wants := []want{{images.PauseImage, images.Pause}}
	if a.cfg.BusyboxPath != "-" {
		if _, err := os.Stat(a.cfg.BusyboxPath); err == nil {
			wants = append(wants, want{images.BusyboxImage, func() (images.Image, error) { return images.Busybox(a.cfg.BusyboxPath) }})
		}
	}
	dir := filepath.Join(a.cfg.DataDir, "images")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, w := range wants {
		st, err := a.rt.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: w.ref}})
		if err == nil && st.Image != nil {
			continue
		}
		img, err := w.build()
		if err != nil {
			return fmt.Errorf("building %s: %w", w.ref, err)
		}
		var buf bytes.Buffer
		if err := images.WriteArchive(&buf, img); err != nil {
			return err
		}
		path := filepath.Join(dir, filepath.Base(w.ref)+".tar")
		if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
			return err
		}
		if err := containerd.ImportImage(ctx, address, path); err != nil {
			return err
		}
		a.log.Info("imported image", "image", w.ref)
	}
	return nil
}

func (a *Agent) enqueueAll() {
	pods, _ := a.pods.List(labels.Everything())
	for _, p := range pods {
		a.queue.Add(p.Namespace + "/" + p.Name)
	}
}

func (a *Agent) worker(ctx context.Context) {
	for {
		key, shutdown := a.queue.Get()
		if shutdown {
			// Run waits for its workers: have it wait for the background
			// terminations and prober workers too (ctx is done by now).
			a.lc.async.Wait()
			a.lc.probes.wg.Wait()
			return
		}
		requeue, err := a.syncPod(ctx, key)
		switch {
		case err != nil && ctx.Err() == nil:
			a.log.Warn("syncing pod", "pod", key, "err", err)
			a.queue.AddRateLimited(key)
		case requeue > 0:
			a.queue.Forget(key)
			a.queue.AddAfter(key, requeue)
		default:
			a.queue.Forget(key)
		}
		a.queue.Done(key)
	}
}

// relist is the agent's pod lifecycle event generator: it lists containers
// and sandboxes and enqueues the pods whose containers changed state (a
// container exiting is noticed within a second).
func (a *Agent) relist(ctx context.Context) {
	resp, err := a.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		a.log.Warn("relist: listing containers", "err", err)
		return
	}
	seen := map[string]runtimeapi.ContainerState{}
	changed := map[string]bool{}
	a.mu.Lock()
	for _, c := range resp.Containers {
		seen[c.Id] = c.State
		if old, ok := a.lastState[c.Id]; !ok || old != c.State {
			if ns, name := c.Labels[labelPodNamespace], c.Labels[labelPodName]; name != "" {
				changed[ns+"/"+name] = true
			}
		}
	}
	a.lastState = seen
	a.mu.Unlock()
	for key := range changed {
		a.queue.Add(key)
	}
}
