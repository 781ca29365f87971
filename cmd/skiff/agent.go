package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"skiff/internal/agent"
)

// addAgentFlags registers the node agent's flags (shared by `skiff server`
// and `skiff agent`).
func addAgentFlags(f *pflag.FlagSet, cfg *agent.Config) {
	f.StringVar(&cfg.NodeName, "node-name", "", "name of this node (default: the hostname)")
	f.StringVar(&cfg.DataDir, "agent-data-dir", "/var/lib/skiff/agent", "directory for the agent's state (containerd, CNI config, images)")
	f.StringVar(&cfg.RuntimeEndpoint, "container-runtime-endpoint", "", "CRI socket of an existing runtime (default: run containerd under the agent data dir)")
	f.StringVar(&cfg.PodLogsDir, "pod-logs-dir", "/var/log/pods", "where container logs are written")
}

// agentCommand runs a standalone node agent. The join flow (--token,
// certificates from the server) is later work: for now it authenticates
// with a kubeconfig.
func agentCommand() *cobra.Command {
	var cfg agent.Config
	var server, kubeconfig string
	var verbose bool
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
			if kubeconfig == "" {
				kubeconfig = os.Getenv("KUBECONFIG")
			}
			if kubeconfig == "" {
				return fmt.Errorf("--kubeconfig is required (joining with --token is not implemented yet)")
			}
			rc, err := clientcmd.BuildConfigFromFlags(server, kubeconfig)
			if err != nil {
				return err
			}
			rc.UserAgent = "skiff-agent"
			client, err := kubernetes.NewForConfig(rc)
			if err != nil {
				return err
			}
			ctx, cancel := signalContext()
			defer cancel()
			return agent.New(client, cfg).Run(ctx)
		},
	}
	f := cmd.Flags()
	addAgentFlags(f, &cfg)
	f.StringVar(&server, "server", "", "API server URL (overrides the kubeconfig's)")
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig with the agent's credentials (default: KUBECONFIG)")
	f.StringVar(&cfg.NodeIP, "node-ip", "", "IP address of this node (default: the default route's)")
	f.BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	return cmd
}
