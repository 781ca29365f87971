package apiserver

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gwebsocket "github.com/gorilla/websocket"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// tunnelPrefix marks the WebSocket subprotocols of port-forward tunneling
// ("SPDY over WebSocket"): the client speaks SPDY inside binary messages.
const tunnelPrefix = "SPDY/3.1+"

// servePortForwardTunnel serves a tunneled port-forward (what kubectl
// tries first): the kubelet is asked for an ordinary SPDY upgrade, the
// client's WebSocket is accepted with the tunneled form of the protocol
// the kubelet chose, and bytes are relayed between the two. It reports
// false when the client offers no tunneling protocol.
func (s *Server) servePortForwardTunnel(q *request, u *url.URL) bool {
	var offered []string
	for _, h := range q.r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range splitComma(h) {
			if rest, ok := strings.CutPrefix(p, tunnelPrefix); ok {
				offered = append(offered, rest)
			}
		}
	}
	if len(offered) == 0 {
		return false
	}
	backend, protocol, err := s.dialKubeletSPDY(q.r, u, offered)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return true
	}
	defer func() { _ = backend.Close() }()
	up := gwebsocket.Upgrader{
		Subprotocols: []string{tunnelPrefix + protocol},
		// Authenticated by client certificate or token, not by cookie.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	ws, err := up.Upgrade(q.w, q.r, nil)
	if err != nil {
		// Upgrade has answered the client already.
		return true
	}
	defer func() { _ = ws.Close() }()
	var once sync.Once
	done := make(chan struct{})
	stop := func() { once.Do(func() { close(done) }) }
	go func() {
		// Kubelet to client: each read becomes one binary message.
		defer stop()
		buf := make([]byte, 32<<10)
		for {
			n, err := backend.Read(buf)
			if n > 0 {
				if werr := ws.WriteMessage(gwebsocket.BinaryMessage, buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				_ = ws.WriteControl(gwebsocket.CloseMessage, gwebsocket.FormatCloseMessage(gwebsocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
				return
			}
		}
	}()
	go func() {
		// Client to kubelet.
		defer stop()
		for {
			typ, r, err := ws.NextReader()
			if err != nil {
				return
			}
			if typ != gwebsocket.BinaryMessage {
				continue
			}
			if _, err := io.Copy(backend, r); err != nil {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-q.r.Context().Done():
	}
	return true
}

// bufferedConn reads through the reader that read the upgrade response.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// dialKubeletSPDY asks the kubelet at u for an SPDY upgrade offering
// protocols and returns the upgraded connection and the chosen protocol.
func (s *Server) dialKubeletSPDY(r *http.Request, u *url.URL, protocols []string) (net.Conn, string, error) {
	cfg := s.kubeletTransport().TLSClientConfig.Clone()
	host, _, _ := net.SplitHostPort(u.Host)
	cfg.ServerName = host
	d := &tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: 30 * time.Second}}
	conn, err := d.DialContext(r.Context(), "tcp", u.Host)
	if err != nil {
		return nil, "", apierrors.NewServiceUnavailable(fmt.Sprintf("error trying to reach the kubelet: %v", err))
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, u.String(), nil)
	if err != nil {
		_ = conn.Close()
		return nil, "", err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "SPDY/3.1")
	for _, p := range protocols {
		req.Header.Add("X-Stream-Protocol-Version", p)
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := req.Write(conn); err != nil {
		_ = conn.Close()
		return nil, "", apierrors.NewServiceUnavailable(fmt.Sprintf("error trying to reach the kubelet: %v", err))
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		_ = conn.Close()
		return nil, "", apierrors.NewServiceUnavailable(fmt.Sprintf("error reading the kubelet's answer: %v", err))
	}
	// A 101 has no body: what follows it is the upgraded stream, in br.
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		_ = conn.Close()
		se := kubeletError(resp.StatusCode, string(body))
		return nil, "", se
	}
	_ = conn.SetDeadline(time.Time{})
	return &bufferedConn{Conn: conn, r: br}, resp.Header.Get("X-Stream-Protocol-Version"), nil
}
