package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
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

// JoinConfig is how a node joins a cluster.
type JoinConfig struct {
	// Server is the API server's URL (https://HOST:6443).
	Server string
	// Token is a join token (`skiff token create`, or the server's
	// <data-dir>/token); it is used only until the node has its own
	// certificate.
	Token string
	// DataDir is the agent's data dir: the node's kubeconfig and
	// certificates are kept there.
	DataDir  string
	NodeName string
	// NodeIP goes into the serving certificate (default: the address
	// this machine reaches the server from).
	NodeIP string
}

// Joined is what joining gives the agent: its API credentials and its
// kubelet serving certificate, and the cluster CA that verifies callers.
type Joined struct {
	Rest        *rest.Config
	ServingCert *tls.Certificate
	ClientCA    *x509.CertPool
	NodeIP      string
}

// Join returns the node's credentials, getting them on the first run as
// upstream's TLS bootstrap does: the cluster CA from the public
// cluster-info ConfigMap, trusted because it is signed with the token;
// then a client certificate for system:node:<name> through a
// CertificateSigningRequest made with the token (approved and signed by
// the server); then a serving certificate asked with the node's own
// credentials. Later runs reuse what is in the data dir.
func Join(ctx context.Context, cfg JoinConfig) (*Joined, error) {
	dir := filepath.Join(cfg.DataDir, "pki")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(cfg.DataDir, "kubelet.kubeconfig")
	rc, caPEM, err := loadNodeKubeconfig(kubeconfig)
	if err != nil {
		if cfg.Token == "" {
			return nil, fmt.Errorf("this node has not joined yet (%s): give --token", kubeconfig)
		}
		if rc, caPEM, err = bootstrapClient(ctx, cfg, kubeconfig); err != nil {
			return nil, err
		}
	}
	nodeIP := cfg.NodeIP
	if nodeIP == "" {
		nodeIP = localAddrTo(rc.Host)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	names := []string{cfg.NodeName}
	ips := []net.IP{net.ParseIP(nodeIP), net.IPv4(127, 0, 0, 1)}
	kp, err := pki.LoadOrIssue(filepath.Join(dir, "kubelet-serving.crt"), filepath.Join(dir, "kubelet-serving.key"),
		func(c *x509.Certificate) bool { return pki.Covers(c, names, ips) },
		func() (*pki.KeyPair, error) {
			return requestCertificate(ctx, client, cfg.NodeName, certificatesv1.KubeletServingSignerName, names, ips)
		})
	if err != nil {
		return nil, fmt.Errorf("kubelet serving certificate: %w", err)
	}
	serving, err := kp.TLS()
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("the cluster CA in the node kubeconfig is not PEM")
	}
	return &Joined{Rest: rc, ServingCert: &serving, ClientCA: pool, NodeIP: nodeIP}, nil
}

// loadNodeKubeconfig reads the node's kubeconfig when its certificate is
// valid for more than a day.
func loadNodeKubeconfig(path string) (*rest.Config, []byte, error) {
	kc, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return nil, nil, err
	}
	rc, err := clientcmd.NewDefaultClientConfig(*kc, nil).ClientConfig()
	if err != nil {
		return nil, nil, err
	}
	certs, err := pki.ParseCerts(rc.CertData)
	if err != nil || time.Until(certs[0].NotAfter) < 24*time.Hour {
		return nil, nil, fmt.Errorf("the node certificate in %s is missing or expires soon", path)
	}
	return rc, rc.CAData, nil
}

// bootstrapClient does the token part of joining and writes the node's
// kubeconfig.
func bootstrapClient(ctx context.Context, cfg JoinConfig, kubeconfig string) (*rest.Config, []byte, error) {
	id, secret, err := bootstraptoken.Parse(cfg.Token)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid --token: %w", err)
	}
	caPEM, err := clusterCA(ctx, cfg.Server, id, secret)
	if err != nil {
		return nil, nil, err
	}
	boot := &rest.Config{Host: cfg.Server, BearerToken: cfg.Token, TLSClientConfig: rest.TLSClientConfig{CAData: caPEM}, UserAgent: "skiff-agent/bootstrap", Timeout: 30 * time.Second}
	client, err := kubernetes.NewForConfig(boot)
	if err != nil {
		return nil, nil, err
	}
	kp, err := requestCertificate(ctx, client, cfg.NodeName, certificatesv1.KubeAPIServerClientKubeletSignerName, nil, nil)
	if apierrors.IsUnauthorized(err) {
		return nil, nil, fmt.Errorf("the server refused the join token: it is unknown, expired or revoked")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("node client certificate: %w", err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["default"] = &clientcmdapi.Cluster{Server: cfg.Server, CertificateAuthorityData: caPEM}
	kc.AuthInfos["default"] = &clientcmdapi.AuthInfo{ClientCertificateData: kp.CertPEM, ClientKeyData: kp.KeyPEM}
	kc.Contexts["default"] = &clientcmdapi.Context{Cluster: "default", AuthInfo: "default"}
	kc.CurrentContext = "default"
	data, err := clientcmd.Write(*kc)
	if err != nil {
		return nil, nil, err
	}
	if err := pki.WriteFile(kubeconfig, data, 0o600); err != nil {
		return nil, nil, err
	}
	return &rest.Config{Host: cfg.Server, TLSClientConfig: rest.TLSClientConfig{CAData: caPEM, CertData: kp.CertPEM, KeyData: kp.KeyPEM}}, caPEM, nil
}

// clusterCA reads cluster-info without credentials and without trusting
// the server's certificate yet, and believes its CA only when the
// kubeconfig in it carries a valid signature made with the token.
func clusterCA(ctx context.Context, server, id, secret string) ([]byte, error) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("invalid --server %q: want https://HOST:PORT", server)
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		// Not trusted yet: what is read is checked against the token below.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // verified by the token's signature
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+"/api/v1/namespaces/"+bootstraptoken.ClusterInfoNamespace+"/configmaps/"+bootstraptoken.ClusterInfoName, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reaching the server: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading cluster-info from the server: %s", resp.Status)
	}
	var cm corev1.ConfigMap
	if err := json.Unmarshal(body, &cm); err != nil {
		return nil, fmt.Errorf("reading cluster-info: %w", err)
	}
	payload := cm.Data[bootstraptoken.KubeconfigKey]
	sig, ok := cm.Data[bootstraptoken.JWSKeyPrefix+id]
	if !ok || !bootstraptoken.Verify(sig, []byte(payload), id, secret) {
		return nil, fmt.Errorf("the join token was refused: the server does not know token %q, or it expired (create one with `skiff token create` on the server)", id)
	}
	kc, err := clientcmd.Load([]byte(payload))
	if err != nil {
		return nil, fmt.Errorf("cluster-info kubeconfig: %w", err)
	}
	for _, c := range kc.Clusters {
		if len(c.CertificateAuthorityData) > 0 {
			return c.CertificateAuthorityData, nil
		}
	}
	return nil, errors.New("cluster-info has no certificate authority")
}

// requestCertificate makes a key, asks signer for a certificate for
// system:node:<name> and waits until it is issued.
func requestCertificate(ctx context.Context, client kubernetes.Interface, nodeName, signer string, dnsNames []string, ips []net.IP) (*pki.KeyPair, error) {
	csrPEM, keyPEM, err := pki.NewCSR("system:node:"+nodeName, []string{"system:nodes"}, dnsNames, ips)
	if err != nil {
		return nil, err
	}
	usages := []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}
	prefix := "node-csr-"
	if signer == certificatesv1.KubeletServingSignerName {
		usages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth}
		prefix = "csr-"
	}
	csrs := client.CertificatesV1().CertificateSigningRequests()
	created, err := csrs.Create(ctx, &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix},
		Spec:       certificatesv1.CertificateSigningRequestSpec{Request: csrPEM, SignerName: signer, Usages: usages},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		csr, err := csrs.Get(ctx, created.Name, metav1.GetOptions{})
		if err != nil && ctx.Err() == nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
		if err == nil {
			for _, c := range csr.Status.Conditions {
				if c.Type == certificatesv1.CertificateDenied || c.Type == certificatesv1.CertificateFailed {
					return nil, fmt.Errorf("certificate signing request %s %s: %s", csr.Name, c.Type, c.Message)
				}
			}
			if len(csr.Status.Certificate) > 0 {
				return &pki.KeyPair{CertPEM: csr.Status.Certificate, KeyPEM: keyPEM}, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("certificate signing request %s was not signed within 2 minutes (approve it with `kubectl certificate approve %s`)", created.Name, created.Name)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// localAddrTo is the local address this machine reaches serverURL from.
func localAddrTo(serverURL string) string {
	u, err := url.Parse(serverURL)
	if err == nil {
		if conn, err := net.Dial("udp", u.Host); err == nil {
			defer conn.Close()
			return conn.LocalAddr().(*net.UDPAddr).IP.String()
		}
	}
	return "127.0.0.1"
}
