package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"skiff/internal/agent"
	"skiff/internal/app"
)

// addAgentFlags registers the node agent's flags (shared by `skiff server`
// and `skiff agent`).
func addAgentFlags(f *pflag.FlagSet, cfg *agent.Config) {
	f.StringVar(&cfg.NodeName, "node-name", "", "name of this node (default: the hostname)")
	f.StringVar(&cfg.DataDir, "agent-data-dir", "/var/lib/skiff/agent", "directory for the agent's state (containerd, CNI config, images)")
	f.StringVar(&cfg.RuntimeEndpoint, "container-runtime-endpoint", "", "CRI socket of an existing runtime (default: run containerd under the agent data dir)")
	f.StringVar(&cfg.PodLogsDir, "pod-logs-dir", "/var/log/pods", "where container logs are written")
	f.StringVar(&cfg.ResolvConf, "resolv-conf", "/etc/resolv.conf", "the node's resolver config: pods with dnsPolicy Default get it, cluster DNS forwards to its nameservers")
	f.IntVar(&cfg.ServerPort, "kubelet-port", 10250, "port of the kubelet HTTPS API (logs, exec, attach, port-forward); -1: not served")
}

// agentCommand runs a standalone node agent: it joins the cluster with
// --server and --token (getting its own certificates), or uses a given
// kubeconfig.
func agentCommand() *cobra.Command {
	var cfg agent.Config
	var server, kubeconfig, certFile, keyFile, clientCAFile, token, tokenFile string
	var verbose bool
	var metricsAddr string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a node agent (kubelet) that runs the pods bound to this node through containerd",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			cfg.Logger = newLogger(level)
			ctx, cancel := signalContext()
			defer cancel()
			if tokenFile != "" {
				data, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("--token-file: %w", err)
				}
				token = strings.TrimSpace(string(data))
			}
			var rc *rest.Config
			switch {
			case kubeconfig != "" && token == "":
				var err error
				if rc, err = clientcmd.BuildConfigFromFlags(server, kubeconfig); err != nil {
					return err
				}
			case server != "":
				if cfg.NodeName == "" {
					cfg.NodeName, _ = os.Hostname()
				}
				joined, err := agent.Join(ctx, agent.JoinConfig{Server: server, Token: token, DataDir: cfg.DataDir, NodeName: cfg.NodeName, NodeIP: cfg.NodeIP})
				if err != nil {
					return err
				}
				rc = joined.Rest
				cfg.ServingCert, cfg.ClientCA = joined.ServingCert, joined.ClientCA
				if cfg.NodeIP == "" {
					cfg.NodeIP = joined.NodeIP
				}
				cfg.Logger.Info("joined the cluster", "server", server, "node", cfg.NodeName)
			default:
				return fmt.Errorf("give --server and --token to join a cluster (the server keeps a token in <data-dir>/token; `skiff token create` makes more), or --kubeconfig")
			}
			rc.UserAgent = "skiff-agent"
			client, err := kubernetes.NewForConfig(rc)
			if err != nil {
				return err
			}
			if certFile != "" || keyFile != "" {
				cert, err := tls.LoadX509KeyPair(certFile, keyFile)
				if err != nil {
					return fmt.Errorf("kubelet serving certificate: %w", err)
				}
				cfg.ServingCert = &cert
			}
			if clientCAFile != "" {
				pem, err := os.ReadFile(clientCAFile)
				if err != nil {
					return err
				}
				cfg.ClientCA = x509.NewCertPool()
				if !cfg.ClientCA.AppendCertsFromPEM(pem) {
					return fmt.Errorf("--client-ca-file %s: no certificates", clientCAFile)
				}
			}
			return app.RunNode(ctx, client, cfg, metricsAddr)
		},
	}
	f := cmd.Flags()
	addAgentFlags(f, &cfg)
	f.StringVar(&server, "server", "", "API server URL (overrides the kubeconfig's)")
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig with the agent's credentials, instead of joining with a token")
	f.StringVarP(&token, "token", "t", "", "join token: the server's <data-dir>/token or one from `skiff token create`")
	f.StringVar(&tokenFile, "token-file", "", "file holding the join token")
	f.StringVar(&cfg.NodeIP, "node-ip", "", "IP address of this node (default: the default route's)")
	f.StringSliceVar(&cfg.ClusterDNS, "cluster-dns", []string{"10.43.0.10"}, "DNS server IPs of pods with dnsPolicy ClusterFirst")
	f.StringVar(&cfg.ClusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS domain")
	f.StringVar(&certFile, "tls-cert-file", "", "the kubelet API's serving certificate (without it the kubelet API is not served)")
	f.StringVar(&keyFile, "tls-private-key-file", "", "the key of --tls-cert-file")
	f.StringVar(&clientCAFile, "client-ca-file", "", "CA bundle that verifies the API server's client certificate")
	f.StringVar(&metricsAddr, "metrics-bind-address", "127.0.0.1:10249", "where the node's Prometheus metrics (network, service proxy, Go runtime) are served over HTTP; empty: not served")
	f.BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	return cmd
}
