package pki

import (
	"crypto/x509"
	"net"
	"testing"
	"time"
)

func TestCSRSignedByCA(t *testing.T) {
	ca, err := LoadOrCreateCA(t.TempDir(), "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	csrPEM, _, err := NewCSR("system:node:n1", []string{"system:nodes"}, []string{"n1"}, []net.IP{net.ParseIP("10.0.0.5")})
	if err != nil {
		t.Fatal(err)
	}
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.SignCSR(csr, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := ParseCerts(certPEM)
	if err != nil || len(certs) != 1 {
		t.Fatalf("certs %v err %v", certs, err)
	}
	c := certs[0]
	if _, err := c.Verify(x509.VerifyOptions{Roots: ca.CertPool(), DNSName: "n1", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Fatal(err)
	}
	if c.Subject.CommonName != "system:node:n1" || c.Subject.Organization[0] != "system:nodes" || time.Until(c.NotAfter) > time.Hour {
		t.Fatalf("certificate %v until %v", c.Subject, c.NotAfter)
	}
	if _, err := ParseCSR([]byte("garbage")); err == nil {
		t.Fatal("garbage parsed as a CSR")
	}
}
