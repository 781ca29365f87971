// Command skiff is the single binary of the skiff cluster: `skiff server`
// runs a control plane, `skiff kubectl` is the upstream kubectl, and
// `skiff version` prints what this build is.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"skiff/internal/app"
	"skiff/internal/simnodes"
	"skiff/internal/version"
)

func main() {
	// `skiff kubectl ...` (or the binary called as kubectl) hands every
	// argument to kubectl untouched.
	if filepath.Base(os.Args[0]) == "kubectl" {
		os.Exit(runKubectl(os.Args[1:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "kubectl" {
		os.Exit(runKubectl(os.Args[2:]))
	}
	root := &cobra.Command{
		Use:           "skiff",
		Short:         "skiff: a Kubernetes-compatible cluster in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serverCommand(), versionCommand(), kubectlPlaceholder(), simNodesCommand(), agentCommand(), imageCommand(), tokenCommand(), upCommand(), downCommand())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func newLogger(level slog.Level) *slog.Logger {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)
	klog.SetSlogLogger(log)
	return log
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
}

func versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the skiff version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "skiff version %s (Kubernetes %s)\n", version.Version, version.GitVersion())
		},
	}
}

// kubectlPlaceholder documents the kubectl subcommand in help output; the
// real dispatch happens in main before cobra parses anything.
func kubectlPlaceholder() *cobra.Command {
	return &cobra.Command{
		Use:                "kubectl",
		Short:              "Run kubectl against the cluster (admin kubeconfig by default)",
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			os.Exit(runKubectl(args))
			return nil
		},
	}
}

func serverCommand() *cobra.Command {
	cfg := app.DefaultServerConfig()
	var verbose, profiling bool
	var mode string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a skiff server: API server and embedded etcd (and later the rest of the control plane)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			cfg.Logger = newLogger(level)
			var m uint32
			if _, err := fmt.Sscanf(mode, "%o", &m); err != nil {
				return fmt.Errorf("invalid --write-kubeconfig-mode %q: %w", mode, err)
			}
			cfg.KubeconfigMode = os.FileMode(m)
			cfg.DisableProfiling = !profiling
			ctx, cancel := signalContext()
			defer cancel()
			err := app.RunServer(ctx, cfg)
			if err == nil {
				cfg.Logger.Info("skiff server stopped")
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVarP(&cfg.DataDir, "data-dir", "d", cfg.DataDir, "directory for the server's state (etcd data, certificates)")
	f.StringVar(&cfg.BindAddress, "bind-address", cfg.BindAddress, "address the API server listens on")
	f.IntVar(&cfg.HTTPSPort, "https-listen-port", cfg.HTTPSPort, "HTTPS port of the API server")
	f.StringVar(&cfg.AdvertiseAddress, "advertise-address", "", "IP other nodes reach the API server on (default: the default route's address)")
	f.StringVar(&cfg.AdvertiseAddress, "node-ip", "", "alias of --advertise-address")
	f.StringVarP(&cfg.WriteKubeconfig, "write-kubeconfig", "o", cfg.WriteKubeconfig, "where to write the admin kubeconfig")
	f.StringVar(&mode, "write-kubeconfig-mode", "0600", "file mode of the admin kubeconfig")
	f.StringSliceVar(&cfg.DatastoreEndpoints, "datastore-endpoint", nil, "external etcd endpoints (http://HOST:PORT,...) instead of the embedded etcd")
	f.IntVar(&cfg.EtcdClientPort, "etcd-client-port", cfg.EtcdClientPort, "loopback client port of the embedded etcd")
	f.IntVar(&cfg.EtcdPeerPort, "etcd-peer-port", cfg.EtcdPeerPort, "loopback peer port of the embedded etcd")
	f.StringVar(&cfg.ClusterCIDR, "cluster-cidr", cfg.ClusterCIDR, "IPv4 range of pod IPs; each node gets a part of it")
	f.IntVar(&cfg.NodeCIDRMaskSize, "node-cidr-mask-size", cfg.NodeCIDRMaskSize, "prefix length of each node's pod CIDR")
	f.DurationVar(&cfg.NodeLifecycle.MonitorPeriod, "node-monitor-period", 5*time.Second, "how often node health is checked")
	f.DurationVar(&cfg.NodeLifecycle.GracePeriod, "node-monitor-grace-period", 50*time.Second, "how long a node may stop renewing its lease and status before it is marked Unknown")
	f.DurationVar(&cfg.NodeLifecycle.StartupGracePeriod, "node-startup-grace-period", 60*time.Second, "the same for a node that never posted status")
	f.Float64Var(&cfg.NodeLifecycle.EvictionRate, "node-eviction-rate", 0.1, "nodes per second tainted for eviction in a healthy zone")
	f.Float64Var(&cfg.NodeLifecycle.SecondaryEvictionRate, "secondary-node-eviction-rate", 0.01, "nodes per second tainted for eviction in a partially disrupted zone larger than --large-cluster-size-threshold")
	f.IntVar(&cfg.NodeLifecycle.LargeClusterSizeThreshold, "large-cluster-size-threshold", 50, "zone size above which the secondary eviction rate applies (below it: none)")
	f.IntVar(&cfg.PodGC.TerminatedThreshold, "terminated-pod-gc-threshold", 12500, "finished pods kept before the oldest are deleted (negative: never)")
	f.Float64Var(&cfg.NodeLifecycle.UnhealthyZoneThreshold, "unhealthy-zone-threshold", 0.55, "share of not-ready nodes (at least 3) that makes a zone partially disrupted")
	f.StringVar(&cfg.ServiceCIDR, "service-cidr", cfg.ServiceCIDR, "IPv4 range of Service cluster IPs")
	f.StringVar(&cfg.ClusterDNS, "cluster-dns", "10.43.0.10", "cluster IP of the kube-dns Service; the server answers DNS on its address, port 53 (empty: no cluster DNS)")
	f.StringVar(&cfg.ClusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS domain")
	f.StringVar(&cfg.NodePortRange, "service-node-port-range", cfg.NodePortRange, "port range of NodePort Services")
	f.StringSliceVar(&cfg.TLSSANs, "tls-san", nil, "extra names or IPs for the serving certificate")
	f.IntVar(&cfg.WatchCacheSize, "watch-cache-size", 0, "most recent events kept per resource for watches that resume: those of the last 75 s, at least 100 (default 10000)")
	f.IntVar(&cfg.MaxRequestsInflight, "max-requests-inflight", 0, "concurrent read requests before 429 (default 400; watches not counted)")
	f.IntVar(&cfg.MaxMutatingRequestsInflight, "max-mutating-requests-inflight", 0, "concurrent write requests before 429 (default 200)")
	f.BoolVar(&cfg.DisableAgent, "disable-agent", false, "do not run a node agent in the server process")
	f.BoolVar(&profiling, "profiling", true, "serve Go profiles at /debug/pprof to cluster admins")
	addAgentFlags(f, &cfg.Agent)
	f.BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	return cmd
}

func simNodesCommand() *cobra.Command {
	var cfg simnodes.Config
	var kubeconfig string
	cmd := &cobra.Command{
		Use:   "sim-nodes",
		Short: "Register simulated nodes that report their pods running, without containers (for testing the control plane at scale)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger(slog.LevelInfo)
			rc, err := adminConfig(kubeconfig)
			if err != nil {
				return err
			}
			rc.QPS, rc.Burst = 200, 400
			client, err := kubernetes.NewForConfig(rc)
			if err != nil {
				return err
			}
			ctx, cancel := signalContext()
			defer cancel()
			return simnodes.New(client, cfg, log).Run(ctx)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Count, "count", 3, "number of nodes")
	f.StringVar(&cfg.Prefix, "prefix", "sim-node-", "node name prefix")
	f.StringVar(&cfg.CPU, "cpu", "4", "CPU capacity of each node")
	f.StringVar(&cfg.Memory, "memory", "16Gi", "memory capacity of each node")
	f.IntVar(&cfg.Pods, "pods", 110, "pod capacity of each node")
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig (default: KUBECONFIG, then /etc/skiff/skiff.yaml)")
	return cmd
}

// adminConfig is the client config of the commands that act as the
// cluster's admin: kubeconfig, else KUBECONFIG, else the server's admin
// kubeconfig.
func adminConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		kubeconfig = os.Getenv("KUBECONFIG")
	}
	if kubeconfig == "" {
		kubeconfig = adminKubeconfig
	}
	return clientcmd.BuildConfigFromFlags("", kubeconfig)
}
