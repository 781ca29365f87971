package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"skiff/internal/localcluster"
)

func addLocalClusterFlags(f *pflag.FlagSet, cfg *localcluster.Config) {
	f.StringVar(&cfg.Dir, "dir", "/var/lib/skiff/up", "directory holding the local cluster's state")
}

// upCommand builds, or resumes, a multi-node cluster on this machine.
func upCommand() *cobra.Command {
	var cfg localcluster.Config
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a local multi-node cluster: each node in its own network namespace on a host bridge (again: resume it)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Geteuid() != 0 {
				return fmt.Errorf("skiff up makes network namespaces and a bridge: run it as root")
			}
			ctx, cancel := signalContext()
			defer cancel()
			ctx, cancelT := context.WithTimeout(ctx, timeout)
			defer cancelT()
			cfg.Out = cmd.ErrOrStderr()
			c, err := localcluster.Up(ctx, cfg)
			if err != nil {
				return err
			}
			c.PrintAccess(cmd.OutOrStdout())
			return nil
		},
	}
	f := cmd.Flags()
	addLocalClusterFlags(f, &cfg)
	f.IntVar(&cfg.Nodes, "nodes", 3, "number of nodes of a new cluster (the first runs the server)")
	f.StringVarP(&cfg.WriteKubeconfig, "write-kubeconfig", "o", adminKubeconfig, "where to write the admin kubeconfig as well")
	f.StringVar(&cfg.Subnet, "subnet", "10.230.0.0/24", "the nodes' network on the host bridge (host .1, nodes .2 on)")
	f.StringVar(&cfg.Bridge, "bridge", "skiffbr0", "name of the host bridge")
	f.DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for every node to be Ready")
	return cmd
}

// downCommand stops a local cluster and removes what it made.
func downCommand() *cobra.Command {
	var cfg localcluster.Config
	var keep bool
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the local cluster of `skiff up` and remove its pods, processes, namespaces, bridge and state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Geteuid() != 0 {
				return fmt.Errorf("skiff down removes network namespaces and a bridge: run it as root")
			}
			cfg.Out = cmd.ErrOrStderr()
			if err := localcluster.Down(context.Background(), cfg, keep); err != nil {
				return err
			}
			if keep {
				fmt.Fprintf(cmd.OutOrStdout(), "local cluster stopped; its state stays in %s (`skiff up --dir %s` resumes it)\n", cfg.Dir, cfg.Dir)
			} else {
				fmt.Fprintln(cmd.OutOrStdout(), "local cluster removed")
			}
			return nil
		},
	}
	addLocalClusterFlags(cmd.Flags(), &cfg)
	cmd.Flags().BoolVar(&keep, "keep-state", false, "keep the nodes' data: a later `skiff up` resumes the same cluster")
	return cmd
}
