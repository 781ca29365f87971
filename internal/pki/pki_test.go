package pki

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestCAPersistsAndIssues(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir, "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateCA(dir, "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Cert.Equal(again.Cert) {
		t.Fatal("a second start created a new CA instead of loading the stored one")
	}
	if info, err := os.Stat(filepath.Join(dir, "ca.key")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode: %v %v", info.Mode(), err)
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 43, 0, 1)}
	names := []string{"kubernetes.default.svc.cluster.local", "localhost"}
	serving, err := ca.IssueServing("kube-apiserver", names, ips)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := serving.TLS()
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(pair.Certificate[0])
	if !Covers(cert, names, ips) {
		t.Fatal("serving certificate does not cover its names")
	}
	if Covers(cert, []string{"other.example"}, nil) {
		t.Fatal("Covers accepted a name the certificate lacks")
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.CertPool(), DNSName: "localhost"}); err != nil {
		t.Fatalf("serving certificate does not verify against the CA: %v", err)
	}
	client, err := ca.IssueClient("system:admin", []string{"system:masters"})
	if err != nil {
		t.Fatal(err)
	}
	cp, _ := client.TLS()
	cc, _ := x509.ParseCertificate(cp.Certificate[0])
	if cc.Subject.CommonName != "system:admin" || cc.Subject.Organization[0] != "system:masters" {
		t.Fatalf("client subject %v", cc.Subject)
	}
	if _, err := cc.Verify(x509.VerifyOptions{Roots: ca.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("client certificate does not verify: %v", err)
	}
}

func TestLoadOrIssueReissuesWhenNamesChange(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir, "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	crt, key := filepath.Join(dir, "s.crt"), filepath.Join(dir, "s.key")
	issue := func(names []string) func() (*KeyPair, error) {
		return func() (*KeyPair, error) { return ca.IssueServing("s", names, nil) }
	}
	first, err := LoadOrIssue(crt, key, nil, issue([]string{"a.test"}))
	if err != nil {
		t.Fatal(err)
	}
	same, err := LoadOrIssue(crt, key, func(c *x509.Certificate) bool { return Covers(c, []string{"a.test"}, nil) }, issue([]string{"a.test"}))
	if err != nil || string(same.CertPEM) != string(first.CertPEM) {
		t.Fatalf("a still valid certificate was reissued: %v", err)
	}
	changed, err := LoadOrIssue(crt, key, func(c *x509.Certificate) bool { return Covers(c, []string{"b.test"}, nil) }, issue([]string{"b.test"}))
	if err != nil || string(changed.CertPEM) == string(first.CertPEM) {
		t.Fatalf("a certificate missing a name was kept: %v", err)
	}
}
