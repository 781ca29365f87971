package pki

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// ParseCSR decodes a PEM "CERTIFICATE REQUEST" and checks its signature.
func ParseCSR(data []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("PEM block type must be CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("signature of the certificate request: %w", err)
	}
	return csr, nil
}

// NewCSR makes a key and a PEM certificate request for it, for a user and
// groups (CN and O) and, for serving certificates, names and IPs.
func NewCSR(user string, groups, dnsNames []string, ips []net.IP) (csrPEM, keyPEM []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: user, Organization: groups}, DNSNames: dnsNames, IPAddresses: ips,
	}, key)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), keyPEM, nil
}

// SignCSR issues a certificate for an approved request: its subject and
// names, the given extended usages, valid for d (at most a year).
func (ca *CA) SignCSR(csr *x509.CertificateRequest, usages []x509.ExtKeyUsage, d time.Duration) ([]byte, error) {
	if d <= 0 || d > leafValidity {
		d = leafValidity
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	keyUsage := x509.KeyUsageDigitalSignature
	if _, ok := csr.PublicKey.(*ecdsa.PublicKey); !ok {
		keyUsage |= x509.KeyUsageKeyEncipherment
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      csr.Subject,
		DNSNames:     csr.DNSNames,
		IPAddresses:  csr.IPAddresses,
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.Add(d),
		KeyUsage:     keyUsage,
		ExtKeyUsage:  usages,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.Key)
	if err != nil {
		return nil, err
	}
	return encodeCert(der), nil
}

// ParseCerts decodes every CERTIFICATE block of a PEM bundle.
func ParseCerts(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate found")
	}
	return out, nil
}

// LoadOrCreateKey loads the EC private key at path, or makes one and
// stores it there (0600).
func LoadOrCreateKey(path string) (*ecdsa.PrivateKey, error) {
	if data, err := os.ReadFile(path); err == nil {
		block, _ := pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("%s: no PEM key", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		ec, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%s: not an EC key", path)
		}
		return ec, nil
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	pemData, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(path, pemData, 0o600); err != nil {
		return nil, err
	}
	return key, nil
}
