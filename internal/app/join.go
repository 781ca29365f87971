package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"skiff/internal/bootstraptoken"
	"skiff/internal/pki"
)

// TokenFile is where the server keeps its node join token, under its data
// dir; `skiff agent --token` takes its content.
func TokenFile(dataDir string) string { return filepath.Join(dataDir, "token") }

// ensureJoinSetup publishes what joining nodes need: the public
// cluster-info ConfigMap (the server's address and CA, signed with every
// join token by the bootstrap signer) and the server's own join token,
// made on first start and kept in the data dir. Then it waits for ctx.
func ensureJoinSetup(ctx context.Context, loopback *rest.Config, dataDir, serverURL string, caPEM []byte, log *slog.Logger) error {
	client, err := kubernetes.NewForConfig(loopback)
	if err != nil {
		return err
	}
	for {
		err := joinSetupOnce(ctx, client, dataDir, serverURL, caPEM)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		log.Warn("publishing cluster-info and the join token", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
	log.Info("nodes can join with the token in " + TokenFile(dataDir))
	<-ctx.Done()
	return nil
}

func joinSetupOnce(ctx context.Context, client kubernetes.Interface, dataDir, serverURL string, caPEM []byte) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[""] = &clientcmdapi.Cluster{Server: serverURL, CertificateAuthorityData: caPEM}
	kubeconfig, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	cms := client.CoreV1().ConfigMaps(bootstraptoken.ClusterInfoNamespace)
	cm, err := cms.Get(ctx, bootstraptoken.ClusterInfoName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = cms.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: bootstraptoken.ClusterInfoName},
			Data:       map[string]string{bootstraptoken.KubeconfigKey: string(kubeconfig)},
		}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	case err != nil:
		return err
	case cm.Data[bootstraptoken.KubeconfigKey] != string(kubeconfig):
		cm.Data[bootstraptoken.KubeconfigKey] = string(kubeconfig)
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}

	path := TokenFile(dataDir)
	token := ""
	if data, err := os.ReadFile(path); err == nil {
		token = strings.TrimSpace(string(data))
	}
	if _, _, err := bootstraptoken.Parse(token); err != nil {
		token = bootstraptoken.Generate()
		if err := pki.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
			return fmt.Errorf("writing the join token: %w", err)
		}
	}
	sec, err := bootstraptoken.Secret(token, 0, "the server's node join token")
	if err != nil {
		return err
	}
	_, err = client.CoreV1().Secrets(metav1.NamespaceSystem).Create(ctx, sec, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}
