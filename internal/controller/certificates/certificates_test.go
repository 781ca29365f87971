package certificates

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"skiff/internal/pki"
)

func csrFor(t *testing.T, name, cn string, orgs, dns []string, ips []net.IP, signer string, usages ...certificatesv1.KeyUsage) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	pem, _, err := pki.NewCSR(cn, orgs, dns, ips)
	if err != nil {
		t.Fatal(err)
	}
	return &certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certificatesv1.CertificateSigningRequestSpec{Request: pem, SignerName: signer, Usages: usages}}
}

func TestAutoApproval(t *testing.T) {
	client := certificatesv1.KubeAPIServerClientKubeletSignerName
	serving := certificatesv1.KubeletServingSignerName
	ip := []net.IP{net.ParseIP("10.0.0.5")}
	cases := []struct {
		name    string
		csr     *certificatesv1.CertificateSigningRequest
		user    string
		groups  []string
		approve bool
	}{
		{"bootstrap client", csrFor(t, "a", "system:node:n1", []string{"system:nodes"}, nil, nil, client, "digital signature", "client auth"), "system:bootstrap:abcdef", []string{"system:bootstrappers"}, true},
		{"renewal by the node", csrFor(t, "b", "system:node:n1", []string{"system:nodes"}, nil, nil, client, "client auth"), "system:node:n1", []string{"system:nodes"}, true},
		{"another node's name", csrFor(t, "c", "system:node:n2", []string{"system:nodes"}, nil, nil, client, "client auth"), "system:node:n1", []string{"system:nodes"}, false},
		{"client with SANs", csrFor(t, "d", "system:node:n1", []string{"system:nodes"}, []string{"x"}, nil, client, "client auth"), "system:bootstrap:abcdef", []string{"system:bootstrappers"}, false},
		{"masters group asked", csrFor(t, "e", "system:node:n1", []string{"system:masters"}, nil, nil, client, "client auth"), "system:bootstrap:abcdef", []string{"system:bootstrappers"}, false},
		{"serving by the node", csrFor(t, "f", "system:node:n1", []string{"system:nodes"}, []string{"n1"}, ip, serving, "digital signature", "server auth"), "system:node:n1", []string{"system:nodes"}, true},
		{"serving by a bootstrapper", csrFor(t, "g", "system:node:n1", []string{"system:nodes"}, []string{"n1"}, ip, serving, "server auth"), "system:bootstrap:abcdef", []string{"system:bootstrappers"}, false},
		{"user client cert", csrFor(t, "h", "jane", nil, nil, nil, certificatesv1.KubeAPIServerClientSignerName, "client auth"), "jane", nil, false},
	}
	for _, c := range cases {
		c.csr.Spec.Username, c.csr.Spec.Groups = c.user, c.groups
		req, err := pki.ParseCSR(c.csr.Spec.Request)
		if err != nil {
			t.Fatal(err)
		}
		if got := autoApproval(c.csr, req) != ""; got != c.approve {
			t.Errorf("%s: approved %v, want %v", c.name, got, c.approve)
		}
	}
}

func TestApproveAndSign(t *testing.T) {
	ca, err := pki.LoadOrCreateCA(t.TempDir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	csr := csrFor(t, "node-csr", "system:node:n1", []string{"system:nodes"}, nil, nil, certificatesv1.KubeAPIServerClientKubeletSignerName, "digital signature", "client auth")
	csr.Spec.Username, csr.Spec.Groups = "system:bootstrap:abcdef", []string{"system:bootstrappers"}
	client := fake.NewClientset(csr)
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, ca, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	go func() { _ = c.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		got, err := client.CertificatesV1().CertificateSigningRequests().Get(ctx, "node-csr", metav1.GetOptions{})
		if err == nil && len(got.Status.Certificate) > 0 {
			certs, err := pki.ParseCerts(got.Status.Certificate)
			if err != nil || certs[0].Subject.CommonName != "system:node:n1" {
				t.Fatalf("certificate %v %v", certs, err)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the request was not approved and signed")
}
