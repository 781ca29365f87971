package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"skiff/internal/agent"
	"skiff/internal/app"
	"skiff/internal/bootstraptoken"
	"skiff/internal/pki"
)

// TestNodeJoinAndAuthorization joins a node with the server's token (TLS
// bootstrap: signed cluster-info, CSR approved and signed by the
// controllers), refuses a wrong token, and checks node authorization with
// the node's own credentials: it reads only the Secrets and ConfigMaps its
// own pods use and writes only its own Node and pods.
func TestNodeJoinAndAuthorization(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	var token string
	waitFor(t, "the server's join token and signed cluster-info", 30*time.Second, func() bool {
		data, err := os.ReadFile(app.TokenFile(ts.DataDir))
		if err != nil {
			return false
		}
		token = strings.TrimSpace(string(data))
		id, _, err := bootstraptoken.Parse(token)
		if err != nil {
			return false
		}
		cm, err := ts.Client.CoreV1().ConfigMaps("kube-public").Get(ctx, "cluster-info", metav1.GetOptions{})
		return err == nil && cm.Data["jws-kubeconfig-"+id] != ""
	})
	server := ts.Config.Host

	_, err := agent.Join(ctx, agent.JoinConfig{Server: server, Token: "abcdef.0123456789abcdef", DataDir: t.TempDir(), NodeName: "intruder", NodeIP: "127.0.0.1"})
	if err == nil || !strings.Contains(err.Error(), "the join token was refused") {
		t.Fatalf("wrong token: %v", err)
	}

	dir := t.TempDir()
	joined, err := agent.Join(ctx, agent.JoinConfig{Server: server, Token: token, DataDir: dir, NodeName: "joiner", NodeIP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCerts(joined.Rest.CertData)
	if err != nil || certs[0].Subject.CommonName != "system:node:joiner" {
		t.Fatalf("node certificate %v, %v", certs, err)
	}
	leaf, err := pki.ParseCerts(mustRead(t, filepath.Join(dir, "pki", "kubelet-serving.crt")))
	if err != nil || leaf[0].VerifyHostname("127.0.0.1") != nil {
		t.Fatalf("serving certificate: %v", err)
	}
	// A second start reuses what the first one got, token or not.
	again, err := agent.Join(ctx, agent.JoinConfig{Server: server, DataDir: dir, NodeName: "joiner", NodeIP: "127.0.0.1"})
	if err != nil || string(again.Rest.CertData) != string(joined.Rest.CertData) {
		t.Fatalf("rejoin: %v", err)
	}
	csrs, err := ts.Client.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clientCSRs := 0
	for _, c := range csrs.Items {
		if c.Spec.SignerName != certificatesv1.KubeAPIServerClientKubeletSignerName {
			continue
		}
		clientCSRs++
		if !strings.HasPrefix(c.Spec.Username, "system:bootstrap:") {
			t.Errorf("client CSR %s requested by %q, want the bootstrap token user", c.Name, c.Spec.Username)
		}
	}
	if clientCSRs != 1 {
		t.Errorf("%d node client CSRs, want the one of the single join", clientCSRs)
	}

	node, err := kubernetes.NewForConfig(joined.Rest)
	if err != nil {
		t.Fatal(err)
	}
	admin := ts.Client.CoreV1()
	for _, name := range []string{"mine", "theirs"} {
		if _, err := admin.Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string][]byte{"k": []byte(name)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pod := func(name, nodeName, secret string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{NodeName: nodeName,
			Containers: []corev1.Container{{Name: "c", Image: "img", EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: secret}}}}}}}}
	}
	for _, p := range []*corev1.Pod{pod("on-joiner", "joiner", "mine"), pod("elsewhere", "other-node", "theirs")} {
		if _, err := admin.Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if s, err := node.CoreV1().Secrets("default").Get(ctx, "mine", metav1.GetOptions{}); err != nil || string(s.Data["k"]) != "mine" {
		t.Errorf("node reading its pod's secret: %v", err)
	}
	_, err = node.CoreV1().Secrets("default").Get(ctx, "theirs", metav1.GetOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `User "system:node:joiner" cannot get resource "secrets"`) ||
		!strings.Contains(err.Error(), "no relationship found between node 'joiner' and this object") {
		t.Errorf("node reading another node's pod's secret: %v", err)
	}
	// TLS Secrets, for the ingress router every node runs: listed only
	// with the type selector, and only those come back.
	if _, err := ts.Client.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "site-tls"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: []byte("c"), corev1.TLSPrivateKeyKey: []byte("k")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tlsList, err := node.CoreV1().Secrets("").List(ctx, metav1.ListOptions{FieldSelector: "type=kubernetes.io/tls"})
	if err != nil || len(tlsList.Items) != 1 || tlsList.Items[0].Name != "site-tls" {
		t.Fatalf("the node listing TLS secrets: %v %v", err, tlsList)
	}
	if _, err := node.CoreV1().Secrets("").List(ctx, metav1.ListOptions{FieldSelector: "type=Opaque"}); !apierrors.IsForbidden(err) {
		t.Fatalf("the node listing Opaque secrets: %v", err)
	}
	if _, err := node.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("node listing secrets: %v", err)
	}
	if _, err := node.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=mine"}); err != nil {
		t.Errorf("node listing its pod's one secret by name: %v", err)
	}
	if err := node.CoreV1().Pods("default").Delete(ctx, "elsewhere", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("node deleting another node's pod: %v", err)
	}
	if _, err := node.AppsV1().Deployments("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("node listing deployments: %v", err)
	}
	if _, err := node.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("node listing pods: %v", err)
	}

	// A request that is not a node's goes to a person: kubectl certificate
	// approve, then the signer issues it.
	csrPEM, _, err := pki.NewCSR("jane", []string{"devs"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Client.CertificatesV1().CertificateSigningRequests().Create(ctx, &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "jane"},
		Spec: certificatesv1.CertificateSigningRequestSpec{Request: csrPEM, SignerName: certificatesv1.KubeAPIServerClientSignerName,
			Usages: []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(skiffBin(t), "kubectl", "--kubeconfig", ts.Kubeconfig, "certificate", "approve", "jane").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "approved") {
		t.Fatalf("kubectl certificate approve: %v\n%s", err, out)
	}
	waitFor(t, "jane's certificate issued", 30*time.Second, func() bool {
		c, err := ts.Client.CertificatesV1().CertificateSigningRequests().Get(ctx, "jane", metav1.GetOptions{})
		return err == nil && len(c.Status.Certificate) > 0
	})
	c, _ := ts.Client.CertificatesV1().CertificateSigningRequests().Get(ctx, "jane", metav1.GetOptions{})
	if c.Spec.Username != "system:admin" {
		t.Errorf("CSR username %q, want the requester system:admin", c.Spec.Username)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
