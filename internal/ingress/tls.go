package ingress

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// fakeCertificate generates the self-signed certificate served for SNI
// names no Ingress has a certificate for (ingress-nginx's "fake"
// certificate, with the same subject so clients recognise it).
func fakeCertificate() (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Kubernetes Ingress Controller Fake Certificate", Organization: []string{"Acme Co"}},
		DNSNames:              []string{"ingress.local"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// getCertificate picks the certificate by SNI from the current table,
// falling back to the fake certificate.
func (r *Router) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := r.table.Load().certs.lookup(hello.ServerName); c != nil {
		return c, nil
	}
	return r.fakeCert, nil
}

// certCache keeps parsed key pairs across rebuilds, keyed by the Secret's
// resourceVersion, so a rebuild does not re-parse every certificate.
type certCache struct {
	mu   sync.Mutex
	m    map[string]cachedCert
	used map[string]bool
}

type cachedCert struct {
	version string
	cert    *tls.Certificate
	err     error
}

func newCertCache() *certCache {
	return &certCache{m: map[string]cachedCert{}, used: map[string]bool{}}
}

// sweep forgets the Secrets no build asked for since the last sweep.
func (c *certCache) sweep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.m {
		if !c.used[k] {
			delete(c.m, k)
		}
	}
	clear(c.used)
}

// get returns a cert lookup function over a Secret lister.
func (c *certCache) get(lister corelisters.SecretLister) func(ns, name string) (*tls.Certificate, error) {
	return func(ns, name string) (*tls.Certificate, error) {
		s, err := lister.Secrets(ns).Get(name)
		if err != nil {
			return nil, err
		}
		return c.parse(s)
	}
}

func (c *certCache) parse(s *corev1.Secret) (*tls.Certificate, error) {
	key := s.Namespace + "/" + s.Name
	c.mu.Lock()
	defer c.mu.Unlock()
	c.used[key] = true
	if e, ok := c.m[key]; ok && e.version == s.ResourceVersion && s.ResourceVersion != "" {
		return e.cert, e.err
	}
	cert, err := parseTLSSecret(s)
	c.m[key] = cachedCert{version: s.ResourceVersion, cert: cert, err: err}
	return cert, err
}

// parseTLSSecret loads tls.crt/tls.key of a kubernetes.io/tls Secret.
func parseTLSSecret(s *corev1.Secret) (*tls.Certificate, error) {
	if s.Type != corev1.SecretTypeTLS {
		return nil, fmt.Errorf("secret type is %q, not %q", s.Type, corev1.SecretTypeTLS)
	}
	crt, key := s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]
	if len(crt) == 0 || len(key) == 0 {
		return nil, errors.New("secret has no tls.crt or tls.key")
	}
	cert, err := tls.X509KeyPair(crt, key)
	if err != nil {
		return nil, err
	}
	return &cert, nil
}
