package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"skiff/internal/bootstraptoken"
)

// tokenCommand manages node join tokens (bootstrap tokens in kube-system).
func tokenCommand() *cobra.Command {
	var kubeconfig string
	client := func() (kubernetes.Interface, error) {
		rc, err := adminConfig(kubeconfig)
		if err != nil {
			return nil, err
		}
		return kubernetes.NewForConfig(rc)
	}
	cmd := &cobra.Command{Use: "token", Short: "Manage the tokens nodes join the cluster with"}
	cmd.PersistentFlags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig (default: KUBECONFIG, then /etc/skiff/skiff.yaml)")

	var ttl time.Duration
	var description string
	create := &cobra.Command{
		Use:   "create [TOKEN]",
		Short: "Create a join token and print it (for `skiff agent --server URL --token TOKEN`)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			token := bootstraptoken.Generate()
			if len(args) == 1 {
				token = args[0]
			}
			sec, err := bootstraptoken.Secret(token, ttl, description)
			if err != nil {
				return err
			}
			if _, err := c.CoreV1().Secrets(metav1.NamespaceSystem).Create(context.Background(), sec, metav1.CreateOptions{}); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), token)
			return nil
		},
	}
	create.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token is valid (0: never expires)")
	create.Flags().StringVar(&description, "description", "", "what the token is for")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the join tokens",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			secs, err := c.CoreV1().Secrets(metav1.NamespaceSystem).List(context.Background(), metav1.ListOptions{FieldSelector: "type=" + string(bootstraptoken.SecretType)})
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "TOKEN ID\tEXPIRES\tDESCRIPTION")
			for _, s := range secs.Items {
				exp := string(s.Data[bootstraptoken.KeyExpiration])
				if exp == "" {
					exp = "<never>"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\n", s.Data[bootstraptoken.KeyID], exp, s.Data[bootstraptoken.KeyDescription])
			}
			return w.Flush()
		},
	}
	del := &cobra.Command{
		Use:   "delete TOKEN-OR-ID...",
		Short: "Revoke join tokens",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			for _, a := range args {
				id := a
				if tid, _, err := bootstraptoken.Parse(a); err == nil {
					id = tid
				}
				if err := c.CoreV1().Secrets(metav1.NamespaceSystem).Delete(context.Background(), bootstraptoken.SecretPrefix+id, metav1.DeleteOptions{}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "bootstrap token %q deleted\n", id)
			}
			return nil
		},
	}
	cmd.AddCommand(create, list, del)
	return cmd
}
