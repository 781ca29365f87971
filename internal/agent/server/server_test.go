package server

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"skiff/internal/pki"
)

// TestAuthorization serves over real TLS: only the API server's kubelet
// client (or system:masters) gets through; /healthz is open.
func TestAuthorization(t *testing.T) {
	ca, err := pki.LoadOrCreateCA(t.TempDir(), "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.LoadOrCreateCA(t.TempDir(), "other-ca")
	if err != nil {
		t.Fatal(err)
	}
	serving, err := ca.IssueServing("kubelet", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := serving.TLS()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Listener: ln, Cert: cert, ClientCA: ca.CertPool(), Logger: slog.New(slog.DiscardHandler)})
	ctx := t.Context()
	go func() { _ = s.Run(ctx) }()

	client := func(t *testing.T, issuer *pki.CA, user string, groups []string) *http.Client {
		cfg := &tls.Config{RootCAs: ca.CertPool(), MinVersion: tls.VersionTLS12}
		if issuer != nil {
			kp, err := issuer.IssueClient(user, groups)
			if err != nil {
				t.Fatal(err)
			}
			c, err := kp.TLS()
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{c}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	base := "https://" + ln.Addr().String()
	for _, tc := range []struct {
		name   string
		issuer *pki.CA
		user   string
		groups []string
		path   string
		code   int
		body   string
	}{
		{"healthz without a certificate", nil, "", nil, "/healthz", 200, "ok"},
		{"no certificate", nil, "", nil, "/containerLogs/default/p/c", 401, "Unauthorized"},
		{"another CA", other, KubeletClientCN, nil, "/containerLogs/default/p/c", 401, "Unauthorized"},
		{"a node", ca, "system:node:n1", []string{"system:nodes"}, "/containerLogs/default/p/c", 403, "Forbidden (user=system:node:n1, verb=get, resource=nodes, subresource=containerLogs)"},
		{"kubelet client", ca, KubeletClientCN, nil, "/healthz", 200, "ok"},
		// Authorized, then the route: an unknown path is 404.
		{"kubelet client, unknown path", ca, KubeletClientCN, nil, "/nope", 404, ""},
		{"system:masters", ca, "admin", []string{"system:masters"}, "/nope", 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := client(t, tc.issuer, tc.user, tc.groups).Get(base + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.body) {
				t.Errorf("%s: %d %q, want %d %q", tc.path, resp.StatusCode, body, tc.code, tc.body)
			}
		})
	}
}
