package ingress

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"time"
)

// stateKey carries a request's reqState from serveHTTP to the proxy hooks.
type stateKey struct{}

// reqState is what the proxy hooks need about one routed request.
type reqState struct {
	target *target
	idx    int    // endpoint in use; the retrying transport advances it
	proto  string // "http" or "https", as received
	port   string // the listener's port
}

// statusClientClosed is nginx's code for a client that went away.
const statusClientClosed = 499

// newProxy builds the reverse proxy shared by all requests: no response
// buffering (FlushInterval -1 streams), Upgrade pass-through (WebSocket),
// one retry over the next endpoint when a connection cannot be made.
func (r *Router) newProxy() *httputil.ReverseProxy {
	base := &http.Transport{
		Proxy:                 nil, // never an environment proxy: pods are direct
		DialContext:           (&net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       60 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true, // pass Accept-Encoding through untouched
	}
	return &httputil.ReverseProxy{
		Rewrite:       r.rewrite,
		Transport:     &retryTransport{base: base},
		FlushInterval: -1,
		ErrorHandler:  r.proxyError,
		ErrorLog:      slog.NewLogLogger(r.log.Handler(), slog.LevelDebug),
	}
}

// serveHTTP routes one request: 404 without a match, a redirect to HTTPS
// for TLS hosts, 503 without ready endpoints, else the proxy.
func (r *Router) serveHTTP(w http.ResponseWriter, req *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	tg := r.table.Load().match(req.Host, req.URL.Path)
	var ing, ns, svc string
	if tg != nil {
		ing, ns, svc = tg.ingress, tg.namespace, tg.backend.service
	}
	defer func() {
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		r.m.requests.WithLabelValues(ing, ns, svc, strconv.Itoa(status)).Inc()
		r.m.duration.WithLabelValues(ing, ns, svc).Observe(time.Since(start).Seconds())
	}()
	proto, port := "http", "80"
	if req.TLS != nil {
		proto, port = "https", "443"
	}
	if la, ok := req.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, p, err := net.SplitHostPort(la.String()); err == nil {
			port = p
		}
	}
	switch {
	case tg == nil:
		writeErrorPage(rec, http.StatusNotFound)
	case req.TLS == nil && tg.sslRedirect:
		http.Redirect(rec, req, r.httpsURL(req), http.StatusPermanentRedirect)
	case len(tg.backend.endpoints) == 0:
		writeErrorPage(rec, http.StatusServiceUnavailable)
	default:
		st := &reqState{target: tg, idx: tg.backend.pick(), proto: proto, port: port}
		r.proxy.ServeHTTP(rec, req.WithContext(context.WithValue(req.Context(), stateKey{}, st)))
	}
}

// httpsURL is where a plain-HTTP request to a TLS host is redirected.
func (r *Router) httpsURL(req *http.Request) string {
	host := req.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	_, port := r.Addrs()
	if _, p, err := net.SplitHostPort(port); err == nil {
		port = p
	}
	if port != "" && port != "443" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return "https://" + host + req.URL.RequestURI()
}

// rewrite points the outbound request at the chosen endpoint, keeps the
// Host header and sets the X-Forwarded-* headers as ingress-nginx does.
func (r *Router) rewrite(pr *httputil.ProxyRequest) {
	st, _ := pr.In.Context().Value(stateKey{}).(*reqState)
	if st == nil {
		return
	}
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = st.target.backend.endpoints[st.idx]
	pr.Out.Host = pr.In.Host
	client := pr.In.RemoteAddr
	if h, _, err := net.SplitHostPort(client); err == nil {
		client = h
	}
	xff := client
	if prior := pr.In.Header.Values("X-Forwarded-For"); len(prior) > 0 {
		xff = strings.Join(prior, ", ") + ", " + client
	}
	h := pr.Out.Header
	h.Set("X-Forwarded-For", xff)
	h.Set("X-Real-IP", client)
	h.Set("X-Forwarded-Proto", st.proto)
	h.Set("X-Scheme", st.proto)
	h.Set("X-Forwarded-Port", st.port)
	if pr.In.Host != "" {
		h.Set("X-Forwarded-Host", pr.In.Host)
	}
	if h.Get("X-Request-ID") == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		h.Set("X-Request-ID", hex.EncodeToString(b[:]))
	}
}

// proxyError answers a request whose endpoint failed: 502 (504 on a
// timeout), or nothing when the client itself went away.
func (r *Router) proxyError(w http.ResponseWriter, req *http.Request, err error) {
	st, _ := req.Context().Value(stateKey{}).(*reqState)
	if req.Context().Err() != nil || errors.Is(err, context.Canceled) {
		if rec, ok := w.(*recorder); ok && rec.status == 0 {
			rec.status = statusClientClosed
		}
		return
	}
	code := http.StatusBadGateway
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		code = http.StatusGatewayTimeout
	}
	if st != nil {
		tg := st.target
		r.m.upstreamErrors.WithLabelValues(tg.ingress, tg.namespace, tg.backend.service).Inc()
		r.log.Debug("upstream error", "ingress", tg.namespace+"/"+tg.ingress, "service", tg.backend.service,
			"endpoint", tg.backend.endpoints[st.idx], "err", err)
	}
	writeErrorPage(w, code)
}

// retryTransport retries a request that could not connect, on the next
// endpoints of its backend (as nginx's proxy_next_upstream error), when
// the request has no body (nothing was consumed).
type retryTransport struct {
	base http.RoundTripper
}

// maxTries bounds the endpoints one request tries.
const maxTries = 3

// RoundTrip implements http.RoundTripper.
func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	st, _ := req.Context().Value(stateKey{}).(*reqState)
	if err == nil || st == nil || (req.Body != nil && req.Body != http.NoBody) {
		return resp, err
	}
	eps := st.target.backend.endpoints
	for try := 1; try < min(len(eps), maxTries) && isDialError(err) && req.Context().Err() == nil; try++ {
		st.idx = (st.idx + 1) % len(eps)
		next := req.Clone(req.Context())
		next.URL.Host = eps[st.idx]
		resp, err = t.base.RoundTrip(next)
	}
	return resp, err
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// Error pages, shaped as nginx's and its default backend's.
var errorPages = map[int]string{
	http.StatusBadGateway:         errorHTML("502 Bad Gateway"),
	http.StatusServiceUnavailable: errorHTML("503 Service Temporarily Unavailable"),
	http.StatusGatewayTimeout:     errorHTML("504 Gateway Time-out"),
}

func errorHTML(title string) string {
	return "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + title +
		"</h1></center>\r\n<hr><center>skiff</center>\r\n</body>\r\n</html>\r\n"
}

// writeErrorPage writes the router's own page for code.
func writeErrorPage(w http.ResponseWriter, code int) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	if page, ok := errorPages[code]; ok {
		h.Set("Content-Type", "text/html")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, page)
		return
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	if code == http.StatusNotFound {
		_, _ = io.WriteString(w, "default backend - 404")
		return
	}
	_, _ = io.WriteString(w, http.StatusText(code))
}

// recorder notes the status code for metrics while passing flushes and
// hijacks (WebSocket upgrades) through.
type recorder struct {
	http.ResponseWriter
	status int
}

// WriteHeader implements http.ResponseWriter.
func (w *recorder) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush implements http.Flusher.
func (w *recorder) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// Hijack implements http.Hijacker; ReverseProxy hijacks for 101 responses.
func (w *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return c, rw, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
