package app

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"skiff/internal/agent"
	"skiff/internal/apiserver"
	"skiff/internal/controller/bootstrapsigner"
	"skiff/internal/controller/certificates"
	"skiff/internal/controller/cronjob"
	"skiff/internal/controller/daemonset"
	"skiff/internal/controller/deployment"
	"skiff/internal/controller/disruption"
	"skiff/internal/controller/endpoints"
	"skiff/internal/controller/garbagecollector"
	"skiff/internal/controller/job"
	"skiff/internal/controller/namespace"
	"skiff/internal/controller/nodeipam"
	"skiff/internal/controller/nodelifecycle"
	"skiff/internal/controller/podgc"
	"skiff/internal/controller/replicaset"
	"skiff/internal/controller/resourcequota"
	"skiff/internal/controller/rootcacert"
	"skiff/internal/controller/serviceaccount"
	"skiff/internal/controller/servicelb"
	"skiff/internal/controller/statefulset"
	"skiff/internal/controller/ttlafterfinished"
	"skiff/internal/etcd"
	"skiff/internal/informerutil"
	"skiff/internal/ingress"
	"skiff/internal/pki"
	"skiff/internal/registry"
	"skiff/internal/scheduler"
	"skiff/internal/storage"
)

// ServerConfig is what `skiff server` is told.
type ServerConfig struct {
	DataDir            string
	BindAddress        string
	HTTPSPort          int
	AdvertiseAddress   string
	WriteKubeconfig    string
	KubeconfigMode     os.FileMode
	DatastoreEndpoints []string
	EtcdClientPort     int
	EtcdPeerPort       int
	ServiceCIDR        string
	NodePortRange      string
	// ClusterCIDR is where pod CIDRs come from, NodeCIDRMaskSize their size.
	ClusterCIDR      string
	NodeCIDRMaskSize int
	// ClusterDNS is the kube-dns Service IP; with it set, the server
	// serves cluster DNS on its advertise address, port DNSPort (53).
	ClusterDNS    string
	DNSPort       int
	ClusterDomain string
	DisableAgent  bool
	// Agent configures the in-process node agent. It runs unless
	// DisableAgent, and only when Agent.DataDir is set (the CLI sets it;
	// in-process test servers leave it empty and get no agent).
	Agent   agent.Config
	TLSSANs []string
	// NodeLifecycle holds the node health settings (--node-monitor-period,
	// --node-monitor-grace-period, ...); zero values are upstream's defaults.
	NodeLifecycle nodelifecycle.Config
	// PodGC holds the pod garbage collector's settings
	// (--terminated-pod-gc-threshold); zero values are the defaults.
	PodGC podgc.Config
	// WatchCacheSize is how many recent events each resource's watch cache
	// keeps for watches that start in the past (0: the default).
	WatchCacheSize int
	// MaxRequestsInflight and MaxMutatingRequestsInflight bound concurrent
	// read and write requests (0: the defaults, 400 and 200).
	MaxRequestsInflight, MaxMutatingRequestsInflight int
	// DisableProfiling turns off /debug/pprof on the API server
	// (--profiling=false).
	DisableProfiling bool
	Logger           *slog.Logger
	// Ready, when set, is called once the API serves requests.
	Ready func()
}

// DefaultServerConfig returns the documented defaults.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		DataDir:          "/var/lib/skiff/server",
		BindAddress:      "0.0.0.0",
		HTTPSPort:        6443,
		WriteKubeconfig:  "/etc/skiff/skiff.yaml",
		KubeconfigMode:   0o600,
		EtcdClientPort:   2379,
		EtcdPeerPort:     2380,
		ServiceCIDR:      "10.43.0.0/16",
		ClusterCIDR:      "10.42.0.0/16",
		NodeCIDRMaskSize: 24,
		NodePortRange:    "30000-32767",
	}
}

func parsePortRange(s string) (apiserver.PortRange, error) {
	lo, hi, ok := strings.Cut(s, "-")
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil || a <= 0 || b < a || b > 65535 {
		return apiserver.PortRange{}, fmt.Errorf("invalid port range %q (want BASE-MAX)", s)
	}
	return apiserver.PortRange{Base: a, Size: b - a + 1}, nil
}

// advertiseIP picks the address other machines reach this server on: the
// given one, or the source address of the default route.
func advertiseIP(given string) (net.IP, error) {
	if given != "" {
		ip := net.ParseIP(given)
		if ip == nil {
			return nil, fmt.Errorf("invalid --advertise-address %q", given)
		}
		return ip, nil
	}
	conn, err := net.Dial("udp4", "192.0.2.1:9")
	if err == nil {
		defer conn.Close()
		return conn.LocalAddr().(*net.UDPAddr).IP, nil
	}
	for _, ip := range pki.LocalIPs() {
		if ip.To4() != nil && !ip.IsLoopback() {
			return ip, nil
		}
	}
	return net.IPv4(127, 0, 0, 1), nil
}

// RunServer runs the server role until ctx ends.
func RunServer(ctx context.Context, cfg ServerConfig) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	_, serviceNet, err := net.ParseCIDR(cfg.ServiceCIDR)
	if err != nil || serviceNet.IP.To4() == nil {
		return fmt.Errorf("invalid --service-cidr %q: an IPv4 CIDR is required", cfg.ServiceCIDR)
	}
	portRange, err := parsePortRange(cfg.NodePortRange)
	if err != nil {
		return err
	}
	advertise, err := advertiseIP(cfg.AdvertiseAddress)
	if err != nil {
		return err
	}
	tlsDir := filepath.Join(cfg.DataDir, "tls")
	ca, err := pki.LoadOrCreateCA(tlsDir, "skiff-server-ca")
	if err != nil {
		return fmt.Errorf("cluster CA: %w", err)
	}
	kubeSvcIP := append(net.IP(nil), serviceNet.IP.To4()...)
	kubeSvcIP[3]++
	hostname, _ := os.Hostname()
	dnsNames := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	if hostname != "" {
		dnsNames = append(dnsNames, hostname)
	}
	ips := append([]net.IP{net.IPv4(127, 0, 0, 1), kubeSvcIP, advertise}, pki.LocalIPs()...)
	for _, san := range cfg.TLSSANs {
		if ip := net.ParseIP(san); ip != nil {
			ips = append(ips, ip)
		} else {
			dnsNames = append(dnsNames, san)
		}
	}
	serving, err := pki.LoadOrIssue(filepath.Join(tlsDir, "serving-kube-apiserver.crt"), filepath.Join(tlsDir, "serving-kube-apiserver.key"),
		func(c *x509.Certificate) bool { return pki.Covers(c, dnsNames, ips) },
		func() (*pki.KeyPair, error) { return ca.IssueServing("kube-apiserver", dnsNames, ips) })
	if err != nil {
		return fmt.Errorf("serving certificate: %w", err)
	}
	admin, err := pki.LoadOrIssue(filepath.Join(tlsDir, "client-admin.crt"), filepath.Join(tlsDir, "client-admin.key"), nil,
		func() (*pki.KeyPair, error) { return ca.IssueClient("system:admin", []string{"system:masters"}) })
	if err != nil {
		return fmt.Errorf("admin certificate: %w", err)
	}
	servingTLS, err := serving.TLS()
	if err != nil {
		return err
	}
	// The API server's identity toward kubelets (logs, exec, port-forward).
	kubeletClient, err := pki.LoadOrIssue(filepath.Join(tlsDir, "client-kube-apiserver-kubelet-client.crt"), filepath.Join(tlsDir, "client-kube-apiserver-kubelet-client.key"), nil,
		func() (*pki.KeyPair, error) {
			return ca.IssueClient("kube-apiserver-kubelet-client", []string{"system:masters"})
		})
	if err != nil {
		return fmt.Errorf("kubelet client certificate: %w", err)
	}
	kubeletClientTLS, err := kubeletClient.TLS()
	if err != nil {
		return err
	}

	// Signs service account tokens. Servers sharing a datastore must share
	// this key (copy it) for their tokens to be accepted by each other.
	saKey, err := pki.LoadOrCreateKey(filepath.Join(tlsDir, "service-account.key"))
	if err != nil {
		return fmt.Errorf("service account key: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	etcdLatency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "etcd_request_duration_seconds",
		Help:    "Etcd request latency in seconds for each operation and object type.",
		Buckets: []float64{0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60},
	}, []string{"operation", "type"})
	reg.MustRegister(etcdLatency)
	registerWorkqueueMetrics(reg)

	ds, err := etcd.Start(ctx, etcd.Config{
		DataDir: cfg.DataDir, ClientPort: cfg.EtcdClientPort, PeerPort: cfg.EtcdPeerPort,
		Endpoints: cfg.DatastoreEndpoints, CompactInterval: 5 * time.Minute, Logger: log,
	})
	if err != nil {
		return err
	}
	defer ds.Close()
	etcdStore := storage.NewEtcd(ds.Client, storage.NewCodec(registry.Scheme))
	etcdStore.Observe = func(op string, d time.Duration) { etcdLatency.WithLabelValues(op, "").Observe(d.Seconds()) }
	var prefixes []string
	for _, r := range registry.All() {
		prefixes = append(prefixes, "/registry/"+r.StoragePrefix+"/")
	}
	store := storage.NewCached(etcdStore, prefixes, log)
	if cfg.WatchCacheSize > 0 {
		store.EventWindow = cfg.WatchCacheSize
	}
	defer store.Close()

	api, err := apiserver.New(apiserver.Config{
		BindAddress: cfg.BindAddress, Port: cfg.HTTPSPort,
		ServingCert: servingTLS, ClientCA: ca.CertPool(),
		KubeletClientCert: &kubeletClientTLS, KubeletCA: ca.CertPool(), ServiceAccountKey: saKey,
		Store: store, Hooks: APIHooks(store),
		AdvertiseAddress: advertise, ServiceCIDR: serviceNet, NodePortRange: portRange,
		Registerer: reg, Gatherer: reg, Logger: log,
		MaxReadOnlyInflight: cfg.MaxRequestsInflight, MaxMutatingInflight: cfg.MaxMutatingRequestsInflight,
		DisableProfiling: cfg.DisableProfiling,
	})
	if err != nil {
		return err
	}
	if cfg.WriteKubeconfig != "" {
		if err := WriteKubeconfig(cfg.WriteKubeconfig, cfg.KubeconfigMode, fmt.Sprintf("https://127.0.0.1:%d", cfg.HTTPSPort), ca.CertPEM, admin); err != nil {
			return fmt.Errorf("writing kubeconfig: %w", err)
		}
	}
	loopback := &rest.Config{
		Host:            fmt.Sprintf("https://127.0.0.1:%d", cfg.HTTPSPort),
		TLSClientConfig: rest.TLSClientConfig{CAData: ca.CertPEM, CertData: admin.CertPEM, KeyData: admin.KeyPEM},
		QPS:             100,
		Burst:           200,
		UserAgent:       "skiff-controller-manager",
	}
	comps := []Component{
		// The controllers run together under one leader lease, like
		// upstream's controller manager; the scheduler under its own.
		{Name: "controller-manager", Run: elected("kube-controller-manager", loopback, api.Ready(), log, func(ctx context.Context) error {
			return runControllers(ctx, loopback, cfg, ca, log)
		})},
		{Name: "scheduler", Run: elected("kube-scheduler", loopback, api.Ready(), log, func(ctx context.Context) error {
			schedCfg := rest.CopyConfig(loopback)
			schedCfg.UserAgent = "skiff-scheduler"
			// Binding is the scheduler's whole output; the API server's
			// inflight limits, not a client-side throttle, bound it.
			schedCfg.QPS, schedCfg.Burst = 5000, 10000
			client, err := kubernetes.NewForConfig(schedCfg)
			if err != nil {
				return err
			}
			return scheduler.New(client, log.With("component", "scheduler"), scheduler.Config{Registerer: reg}).Run(ctx)
		})},
		{Name: "apiserver", Run: api.Run},
		{Name: "join-setup", Run: func(ctx context.Context) error {
			select {
			case <-api.Ready():
			case <-ctx.Done():
				return nil
			}
			return ensureJoinSetup(ctx, loopback, cfg.DataDir, fmt.Sprintf("https://%s", net.JoinHostPort(advertise.String(), fmt.Sprint(cfg.HTTPSPort))), ca.CertPEM, log)
		}},
		{Name: "etcd-compactor", Run: ds.Run},
		{Name: "etcd-watchdog", Run: func(ctx context.Context) error {
			select {
			case err := <-ds.Err():
				return fmt.Errorf("embedded etcd stopped: %w", err)
			case <-ctx.Done():
				return nil
			}
		}},
		{Name: "readiness", Run: func(ctx context.Context) error {
			select {
			case <-api.Ready():
				log.Info("skiff server is ready", "https", fmt.Sprintf("https://%s:%d", advertise, cfg.HTTPSPort), "kubeconfig", cfg.WriteKubeconfig)
				if cfg.Ready != nil {
					cfg.Ready()
				}
			case <-ctx.Done():
			}
			<-ctx.Done()
			return nil
		}},
	}
	if cfg.ClusterDNS != "" {
		comps = append(comps, Component{Name: "dns", Run: func(ctx context.Context) error {
			return runDNS(ctx, cfg, loopback, advertise.String(), reg, log.With("component", "dns"))
		}})
	}
	if !cfg.DisableAgent && cfg.Agent.DataDir != "" {
		agentCfg := cfg.Agent
		if agentCfg.Logger == nil {
			agentCfg.Logger = log.With("component", "agent")
		}
		if agentCfg.NodeIP == "" {
			agentCfg.NodeIP = advertise.String()
		}
		if cfg.ClusterDNS != "" && len(agentCfg.ClusterDNS) == 0 {
			agentCfg.ClusterDNS = []string{cfg.ClusterDNS}
		}
		if agentCfg.ClusterDomain == "" {
			agentCfg.ClusterDomain = cfg.ClusterDomain
		}
		if agentCfg.ServingCert == nil {
			// The kubelet server's certificate, from the cluster CA.
			kubeletIPs := []net.IP{net.IPv4(127, 0, 0, 1)}
			if ip := net.ParseIP(agentCfg.NodeIP); ip != nil {
				kubeletIPs = append(kubeletIPs, ip)
			}
			kubeletNames := []string{"localhost"}
			for _, n := range []string{agentCfg.NodeName, hostname} {
				if n != "" {
					kubeletNames = append(kubeletNames, n)
				}
			}
			kp, err := pki.LoadOrIssue(filepath.Join(tlsDir, "serving-kubelet.crt"), filepath.Join(tlsDir, "serving-kubelet.key"),
				func(c *x509.Certificate) bool { return pki.Covers(c, kubeletNames, kubeletIPs) },
				func() (*pki.KeyPair, error) { return ca.IssueServing("kubelet", kubeletNames, kubeletIPs) })
			if err != nil {
				return fmt.Errorf("kubelet serving certificate: %w", err)
			}
			cert, err := kp.TLS()
			if err != nil {
				return err
			}
			agentCfg.ServingCert, agentCfg.ClientCA = &cert, ca.CertPool()
		}
		if agentCfg.NodeName == "" {
			agentCfg.NodeName = hostname
		}
		nodeUser := "system:node:" + agentCfg.NodeName
		nodeClient, err := pki.LoadOrIssue(filepath.Join(tlsDir, "client-kubelet.crt"), filepath.Join(tlsDir, "client-kubelet.key"),
			func(c *x509.Certificate) bool { return c.Subject.CommonName == nodeUser },
			func() (*pki.KeyPair, error) { return ca.IssueClient(nodeUser, []string{"system:nodes"}) })
		if err != nil {
			return fmt.Errorf("node client certificate: %w", err)
		}
		comps = append(comps, Component{Name: "node", Run: func(ctx context.Context) error {
			select {
			case <-api.Ready():
			case <-ctx.Done():
				return nil
			}
			// The in-process node authenticates as itself, so that node
			// authorization applies to it as to any joined node.
			agentRest := rest.CopyConfig(loopback)
			agentRest.CertData, agentRest.KeyData = nodeClient.CertPEM, nodeClient.KeyPEM
			agentRest.UserAgent = "skiff-agent"
			client, err := kubernetes.NewForConfig(agentRest)
			if err != nil {
				return err
			}
			node, err := nodeComponents(client, agentCfg, reg, log)
			if err != nil {
				return err
			}
			return runAll(ctx, log, node)
		}})
	}
	return runAll(ctx, log, comps)
}

// WriteKubeconfig writes an admin kubeconfig for server with the given CA
// and client certificate.
func WriteKubeconfig(path string, mode os.FileMode, server string, caPEM []byte, client *pki.KeyPair) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["default"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["default"] = &clientcmdapi.AuthInfo{ClientCertificateData: client.CertPEM, ClientKeyData: client.KeyPEM}
	cfg.Contexts["default"] = &clientcmdapi.Context{Cluster: "default", AuthInfo: "default"}
	cfg.CurrentContext = "default"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	return pki.WriteFile(path, data, mode)
}

// runControllers runs every controller of the controller manager on shared
// clients until ctx ends or one fails.
func runControllers(ctx context.Context, loopback *rest.Config, cfg ServerConfig, ca *pki.CA, log *slog.Logger) error {
	client, err := kubernetes.NewForConfig(loopback)
	if err != nil {
		return err
	}
	meta, err := metadata.NewForConfig(loopback)
	if err != nil {
		return err
	}
	ipam, err := nodeipam.New(client, cfg.ClusterCIDR, cfg.NodeCIDRMaskSize, log.With("controller", "node-ipam"))
	if err != nil {
		return err
	}
	// Controllers built on factory register their informers in New; the
	// factory starts once all of them have. No controller reads
	// managedFields: the caches go without them.
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(informerutil.StripManagedFields))
	comps := []Component{
		{Name: "namespace-controller", Run: namespace.New(client, meta, log.With("controller", "namespace")).Run},
		{Name: "node-ipam-controller", Run: ipam.Run},
		{Name: "garbage-collector", Run: garbagecollector.New(client, meta, log.With("controller", "garbage-collector"), garbagecollector.Config{}).Run},
		{Name: "endpoint-controller", Run: endpoints.New(client, factory, log.With("controller", "endpoint")).Run},
		{Name: "service-lb-controller", Run: servicelb.New(client, factory, log.With("controller", "service-lb")).Run},
		{Name: "ingress-status-controller", Run: ingressStatus(client, log.With("controller", "ingress-status"))},
		{Name: "endpointslice-controller", Run: endpoints.NewSlices(client, factory, log.With("controller", "endpointslice")).Run},
		{Name: "serviceaccount-controller", Run: serviceaccount.New(client, factory, log.With("controller", "serviceaccount")).Run},
		{Name: "node-lifecycle-controller", Run: nodelifecycle.New(client, factory, cfg.NodeLifecycle, log.With("controller", "node-lifecycle")).Run},
		{Name: "taint-eviction-controller", Run: nodelifecycle.NewTaintEviction(client, factory, log.With("controller", "taint-eviction")).Run},
		{Name: "pod-garbage-collector", Run: podgc.New(client, factory, cfg.PodGC, log.With("controller", "pod-garbage-collector")).Run},
		{Name: "root-ca-cert-publisher", Run: rootcacert.New(client, factory, loopback.CAData, log.With("controller", "root-ca-cert-publisher")).Run},
		{Name: "job-controller", Run: job.New(client, factory, log.With("controller", "job")).Run},
		{Name: "cronjob-controller", Run: cronjob.New(client, factory, log.With("controller", "cronjob")).Run},
		{Name: "ttl-after-finished-controller", Run: ttlafterfinished.New(client, factory, log.With("controller", "ttl-after-finished")).Run},
		{Name: "daemonset-controller", Run: daemonset.New(client, factory, log.With("controller", "daemonset")).Run},
		{Name: "replicaset-controller", Run: replicaset.New(client, factory, log.With("controller", "replicaset")).Run},
		{Name: "replication-controller", Run: replicaset.NewReplicationController(client, factory, log.With("controller", "replicationcontroller")).Run},
		{Name: "deployment-controller", Run: deployment.New(client, factory, log.With("controller", "deployment")).Run},
		{Name: "statefulset-controller", Run: statefulset.New(client, factory, log.With("controller", "statefulset")).Run},
		{Name: "disruption-controller", Run: disruption.New(client, factory, log.With("controller", "disruption")).Run},
		{Name: "resourcequota-controller", Run: resourcequota.New(client, factory, log.With("controller", "resourcequota")).Run},
		{Name: "certificatesigningrequest-controller", Run: certificates.New(client, factory, ca, log.With("controller", "certificatesigningrequest")).Run},
		{Name: "bootstrap-signer-controller", Run: bootstrapsigner.New(client, factory, log.With("controller", "bootstrap-signer")).Run},
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	return runAll(ctx, log, comps)
}

// ingressStatus makes the default IngressClass skiff (once, kept if an
// administrator changed it) and keeps the Ingresses' addresses.
func ingressStatus(client kubernetes.Interface, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		for {
			err := ingress.EnsureClass(ctx, client)
			if err == nil {
				break
			}
			log.Error("creating the IngressClass skiff; retrying", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(2 * time.Second):
			}
		}
		return ingress.NewStatusController(client, ingress.Config{Logger: log}).Run(ctx)
	}
}
