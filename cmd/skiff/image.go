package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"skiff/internal/agent/containerd"
	"skiff/internal/agent/images"
)

// imageCommand builds and imports images without a registry.
func imageCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Build OCI images and import them into this node's containerd"}
	cmd.AddCommand(imageImportCommand(), imageBuildCommand())
	return cmd
}

func agentSocket(dataDir, address string) string {
	if address != "" {
		return address
	}
	return filepath.Join(dataDir, "containerd", "containerd.sock")
}

func imageImportCommand() *cobra.Command {
	var dataDir, address string
	cmd := &cobra.Command{
		Use:   "import FILE.tar...",
		Short: "Load docker or OCI image archives into the node agent's containerd",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			for _, f := range args {
				if err := containerd.ImportImage(ctx, agentSocket(dataDir, address), f); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "imported %s\n", f)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "agent-data-dir", "/var/lib/skiff/agent", "the agent's data dir (its containerd socket is under it)")
	cmd.Flags().StringVar(&address, "address", "", "containerd socket (overrides --agent-data-dir)")
	return cmd
}

func imageBuildCommand() *cobra.Command {
	var img images.Image
	var output, dataDir string
	var load bool
	cmd := &cobra.Command{
		Use:   "build -t NAME:TAG [flags] DIR|FILE",
		Short: "Make a single-layer image from a directory tree or one static binary",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if img.Ref == "" {
				return fmt.Errorf("--tag is required")
			}
			files, err := images.FilesFrom(args[0])
			if err != nil {
				return err
			}
			img.Files = files
			if st, err := os.Stat(args[0]); err == nil && !st.IsDir() && len(img.Entrypoint) == 0 {
				img.Entrypoint = []string{"/" + filepath.Base(args[0])}
			}
			var buf bytes.Buffer
			if err := images.WriteArchive(&buf, img); err != nil {
				return err
			}
			if output == "" && !load {
				return fmt.Errorf("give --output FILE.tar, --import, or both")
			}
			if output != "" {
				if err := os.WriteFile(output, buf.Bytes(), 0o644); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%s)\n", output, img.Ref)
			}
			if load {
				tmp, err := os.CreateTemp("", "skiff-image-*.tar")
				if err != nil {
					return err
				}
				defer os.Remove(tmp.Name())
				if _, err := tmp.Write(buf.Bytes()); err != nil {
					return err
				}
				if err := tmp.Close(); err != nil {
					return err
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
				defer cancel()
				if err := containerd.ImportImage(ctx, agentSocket(dataDir, ""), tmp.Name()); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "imported %s\n", img.Ref)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&img.Ref, "tag", "t", "", "image name, e.g. docker.io/me/echo:1 (give a tag other than latest, or pods will try to pull it)")
	f.StringSliceVar(&img.Entrypoint, "entrypoint", nil, "entrypoint (default for a single file: that file)")
	f.StringSliceVar(&img.Cmd, "cmd", nil, "default arguments")
	f.StringArrayVar(&img.Env, "env", nil, "environment variable KEY=VALUE (repeatable)")
	f.StringVar(&img.WorkingDir, "workdir", "", "working directory")
	f.StringSliceVar(&img.Ports, "port", nil, "exposed port, e.g. 8080/tcp")
	f.StringVarP(&output, "output", "o", "", "write the image archive here")
	f.BoolVar(&load, "import", false, "import the image into the node agent's containerd")
	f.StringVar(&dataDir, "agent-data-dir", "/var/lib/skiff/agent", "the agent's data dir, for --import")
	return cmd
}
