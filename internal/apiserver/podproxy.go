package apiserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/conversion/queryparams"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	"k8s.io/apimachinery/pkg/util/proxy"

	"skiff/internal/registry"
)

// proxySubresources are the subresources served by the node's kubelet,
// listed in discovery as upstream lists them.
var proxySubresources = map[schema.GroupResource][]registry.Subresource{
	{Resource: "pods"}: {
		{Name: "attach", Kind: "PodAttachOptions", Verbs: []string{"create", "get"}},
		{Name: "exec", Kind: "PodExecOptions", Verbs: []string{"create", "get"}},
		{Name: "log", Kind: "Pod", Verbs: []string{"get"}},
		{Name: "portforward", Kind: "PodPortForwardOptions", Verbs: []string{"create", "get"}},
	},
	{Resource: "nodes"}: {
		{Name: "proxy", Kind: "NodeProxyOptions", Verbs: []string{"create", "delete", "get", "patch", "update"}},
	},
}

// defaultKubeletPort is used when a node does not report its kubelet port.
const defaultKubeletPort = 10250

// kubeletClient holds the transport to kubelets, made once.
type kubeletClient struct {
	once sync.Once
	tr   *http.Transport
}

// kubeletTransport is TLS with the server's kubelet client certificate,
// verifying kubelets against the kubelet CA (or the client CA).
func (s *Server) kubeletTransport() *http.Transport {
	s.kubelet.once.Do(func() {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: s.cfg.KubeletCA, NextProtos: []string{"http/1.1"}}
		if cfg.RootCAs == nil {
			cfg.RootCAs = s.cfg.ClientCA
		}
		if s.cfg.KubeletClientCert != nil {
			cfg.Certificates = []tls.Certificate{*s.cfg.KubeletClientCert}
		}
		s.kubelet.tr = &http.Transport{TLSClientConfig: cfg, Proxy: nil, DialContext: (&net.Dialer{}).DialContext}
	})
	return s.kubelet.tr
}

// kubeletURL is the address of path on the kubelet of node.
func (s *Server) kubeletURL(ctx context.Context, node, path string, query url.Values) (*url.URL, error) {
	res := registry.Lookup("", "v1", "nodes")
	obj, err := s.store.Get(ctx, storageKey(res, "", node))
	if err != nil {
		return nil, toStatusError(err, res.GroupResource(), node)
	}
	n, ok := obj.(*corev1.Node)
	if !ok {
		return nil, fmt.Errorf("stored node %s is a %T", node, obj)
	}
	host := ""
	for _, t := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName} {
		for _, a := range n.Status.Addresses {
			if a.Type == t && host == "" {
				host = a.Address
			}
		}
	}
	if host == "" {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("no preferred addresses found; known addresses: %v", n.Status.Addresses))
	}
	port := int(n.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port <= 0 {
		port = defaultKubeletPort
	}
	return &url.URL{Scheme: "https", Host: net.JoinHostPort(host, strconv.Itoa(port)), Path: path, RawQuery: query.Encode()}, nil
}

// servePodProxy serves the subresources a kubelet answers: pods/log,
// pods/exec, pods/attach, pods/portforward and nodes/proxy. It reports
// false for any other request.
func (s *Server) servePodProxy(q *request) bool {
	gr := q.gr()
	if q.name == "" || q.subresource == "" {
		return false
	}
	switch {
	case gr == schema.GroupResource{Resource: "pods"}:
		switch q.subresource {
		case "log":
			if q.r.Method != http.MethodGet && q.r.Method != http.MethodHead {
				s.writeError(q.w, q.r, methodNotSupported(gr, q.verb))
				return true
			}
			s.servePodLog(q)
		case "exec", "attach", "portforward":
			if q.r.Method != http.MethodGet && q.r.Method != http.MethodPost {
				s.writeError(q.w, q.r, methodNotSupported(gr, q.verb))
				return true
			}
			s.servePodStream(q)
		default:
			return false
		}
		return true
	case gr == schema.GroupResource{Resource: "nodes"} && q.subresource == "proxy":
		s.serveNodeProxy(q, nil)
		return true
	}
	return false
}

// serveNodeProxyPath serves /api/v1/nodes/NAME/proxy/PATH..., which has
// more segments than a resource path; it reports whether it did.
func (s *Server) serveNodeProxyPath(w http.ResponseWriter, r *http.Request, gv schema.GroupVersion, rest []string) bool {
	if gv.Group != "" || gv.Version != "v1" || len(rest) < 4 || rest[0] != "nodes" || rest[2] != "proxy" {
		return false
	}
	res := registry.Lookup("", "v1", "nodes")
	q := &request{w: w, r: r, res: res, name: rest[1], subresource: "proxy", verb: verbFor(r, rest[1], false)}
	if q.verb == "" {
		s.writeError(w, r, methodNotSupported(res.GroupResource(), strings.ToLower(r.Method)))
		return true
	}
	if err := s.authorize(q); err != nil {
		s.writeError(w, r, err)
		return true
	}
	s.serveNodeProxy(q, rest[3:])
	return true
}

// serveNodeProxy proxies a request (nodes/proxy, subpath the segments after
// "proxy") to path on a node's kubelet, once admitted as a CONNECT.
func (s *Server) serveNodeProxy(q *request, subpath []string) {
	opts := &corev1.NodeProxyOptions{Path: proxySubpath(subpath, q.r.URL.Path)}
	opts.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NodeProxyOptions"))
	if err := s.admitConnect(q.r.Context(), q, opts); err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	path := opts.Path
	if path == "" {
		path = "/"
	}
	u, err := s.kubeletURL(q.r.Context(), q.name, path, q.r.URL.Query())
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	s.proxyToKubelet(q.w, q.r, u, false)
}

// proxySubpath is the path option of a proxy request, as upstream takes
// it: the segments after "proxy" with a leading slash, and a trailing
// slash when the request's path has one.
func proxySubpath(segments []string, urlPath string) string {
	p := strings.Join(segments, "/")
	if p != "" && !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if strings.HasSuffix(urlPath, "/") && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// streamOptions are the options of an exec, attach or port-forward
// request, read from its query as upstream's parameter codec reads them:
// a flag is true unless absent, "false" or "0".
func streamOptions(q *request) (runtime.Object, error) {
	query := q.r.URL.Query()
	flag := func(name string) bool {
		v, ok := query[name]
		return ok && len(v) > 0 && v[0] != "0" && !strings.EqualFold(v[0], "false")
	}
	var obj runtime.Object
	switch q.subresource {
	case "exec":
		obj = &corev1.PodExecOptions{Stdin: flag("stdin"), Stdout: flag("stdout"), Stderr: flag("stderr"), TTY: flag("tty"),
			Container: query.Get("container"), Command: query["command"]}
	case "attach":
		obj = &corev1.PodAttachOptions{Stdin: flag("stdin"), Stdout: flag("stdout"), Stderr: flag("stderr"), TTY: flag("tty"),
			Container: query.Get("container")}
	case "portforward":
		o := &corev1.PodPortForwardOptions{}
		for _, v := range query["ports"] {
			port, err := strconv.ParseInt(v, 10, 32)
			if err != nil {
				return nil, badRequest("unable to parse port %q: %v", v, err)
			}
			o.Ports = append(o.Ports, int32(port))
		}
		obj = o
	default:
		return nil, fmt.Errorf("no connect options for pods/%s", q.subresource)
	}
	kind := proxyKind(schema.GroupResource{Resource: "pods"}, q.subresource)
	obj.GetObjectKind().SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
	return obj, nil
}

// connectQuery is the query that asks for opts (PodExecOptions,
// PodAttachOptions, PodPortForwardOptions), as client-go encodes them.
func connectQuery(opts runtime.Object) (url.Values, error) {
	o := opts.DeepCopyObject()
	o.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
	return queryparams.Convert(o)
}

// proxyKind is the kind of a connect subresource's options, as listed in
// discovery.
func proxyKind(gr schema.GroupResource, sub string) string {
	for _, sr := range proxySubresources[gr] {
		if sr.Name == sub {
			return sr.Kind
		}
	}
	return ""
}

// proxyToKubelet hands the request (an upgrade, when upgradeRequired) to
// the kubelet at u.
func (s *Server) proxyToKubelet(w http.ResponseWriter, r *http.Request, u *url.URL, upgradeRequired bool) {
	if r.ContentLength == 0 {
		// ServeHTTP wrapped even an empty body in a MaxBytesReader, which
		// would be sent on as a chunked body ahead of the upgraded stream.
		r = r.WithContext(r.Context())
		r.Body = http.NoBody
	}
	h := proxy.NewUpgradeAwareHandler(u, s.kubeletTransport(), false, upgradeRequired, proxyResponder{s})
	h.ServeHTTP(w, r)
}

// proxyResponder writes a failed proxy attempt as a Status.
type proxyResponder struct{ s *Server }

func (p proxyResponder) Error(w http.ResponseWriter, r *http.Request, err error) {
	p.s.writeError(w, r, apierrors.NewServiceUnavailable(fmt.Sprintf("error trying to reach service: %v", err)))
}

// containerNames lists names, as upstream's messages print them.
func containerNames(cs []corev1.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

// podContainer checks the container a request names, or picks the pod's
// only container, with upstream's messages.
func podContainer(pod *corev1.Pod, name string) (string, error) {
	if name == "" {
		if len(pod.Spec.Containers) == 1 {
			return pod.Spec.Containers[0].Name, nil
		}
		msg := fmt.Sprintf("a container name must be specified for pod %s, choose one of: %v", pod.Name, containerNames(pod.Spec.Containers))
		if len(pod.Spec.InitContainers) > 0 {
			msg += fmt.Sprintf(" or one of the init containers: %v", containerNames(pod.Spec.InitContainers))
		}
		var eph []string
		for _, c := range pod.Spec.EphemeralContainers {
			eph = append(eph, c.Name)
		}
		if len(eph) > 0 {
			msg += fmt.Sprintf(" or one of the ephemeral containers: %v", eph)
		}
		return "", apierrors.NewBadRequest(msg)
	}
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range cs {
			if c.Name == name {
				return name, nil
			}
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return name, nil
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
}

// containerStatus finds the status of a pod's container.
func containerStatus(pod *corev1.Pod, name string) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses, pod.Status.EphemeralContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// logStatusError says why a container has no logs to show yet, as the
// kubelet words it.
func logStatusError(pod *corev1.Pod, name string, previous bool) error {
	st := containerStatus(pod, name)
	if st == nil {
		return apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: ContainerCreating", name, pod.Name))
	}
	switch {
	case previous:
		if st.LastTerminationState.Terminated == nil {
			return apierrors.NewBadRequest(fmt.Sprintf("previous terminated container %q in pod %q not found", name, pod.Name))
		}
	case st.State.Running != nil, st.State.Terminated != nil:
	case st.State.Waiting != nil:
		if st.LastTerminationState.Terminated == nil {
			return apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: %s", name, pod.Name, st.State.Waiting.Reason))
		}
	default:
		return apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start - no logs yet", name, pod.Name))
	}
	return nil
}

// kubeletError turns a kubelet's error answer into a Status.
func kubeletError(code int, body string) *apierrors.StatusError {
	msg := strings.TrimSpace(body)
	switch code {
	case http.StatusBadRequest:
		return apierrors.NewBadRequest(msg)
	case http.StatusNotFound:
		se := apierrors.NewBadRequest(msg)
		se.ErrStatus.Code, se.ErrStatus.Reason = http.StatusNotFound, "NotFound"
		return se
	}
	return apierrors.NewInternalError(fmt.Errorf("kubelet answered %d: %s", code, msg))
}

// servePodLog streams a container's log from its kubelet (pods/log).
func (s *Server) servePodLog(q *request) {
	pod, err := s.getPod(q.r.Context(), q)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	query := q.r.URL.Query()
	name, err := podContainer(pod, query.Get("container"))
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	if pod.Spec.NodeName == "" {
		// Not scheduled: no logs, as upstream answers.
		q.w.Header().Set("Content-Type", "text/plain")
		q.w.WriteHeader(http.StatusOK)
		return
	}
	previous, _ := strconv.ParseBool(query.Get("previous"))
	if err := logStatusError(pod, name, previous); err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	params := url.Values{}
	for _, k := range []string{"follow", "previous", "sinceSeconds", "sinceTime", "timestamps", "tailLines", "limitBytes"} {
		if v := query.Get(k); v != "" {
			params.Set(k, v)
		}
	}
	u, err := s.kubeletURL(q.r.Context(), pod.Spec.NodeName, fmt.Sprintf("/containerLogs/%s/%s/%s", pod.Namespace, pod.Name, name), params)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	req, err := http.NewRequestWithContext(q.r.Context(), http.MethodGet, u.String(), nil)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	resp, err := s.kubeletTransport().RoundTrip(req)
	if err != nil {
		s.writeError(q.w, q.r, apierrors.NewInternalError(fmt.Errorf("Get %q: %w", u.String(), err)))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		se := kubeletError(resp.StatusCode, string(body))
		s.writeError(q.w, q.r, se)
		return
	}
	q.w.Header().Set("Content-Type", "text/plain")
	q.w.WriteHeader(http.StatusOK)
	flusher, _ := q.w.(http.Flusher)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := q.w.Write(buf[:n]); werr != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if err != nil {
			return
		}
	}
}

// servePodStream serves pods/exec, pods/attach and pods/portforward: an
// SPDY upgrade is proxied to the kubelet as it is; a WebSocket one is
// translated for exec and attach (serveStreamTranslated) and tunneled for
// port-forward (servePortForwardTunnel); any other WebSocket upgrade is
// refused, which makes clients fall back to SPDY.
func (s *Server) servePodStream(q *request) {
	// Admission sees the request before the pod is looked up, as
	// upstream's connect handler.
	opts, err := streamOptions(q)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	if err := s.admitConnect(q.r.Context(), q, opts); err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	pod, err := s.getPod(q.r.Context(), q)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	// The kubelet is asked what the options say once admitted: a mutating
	// webhook may have changed them.
	query, err := connectQuery(opts)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	var path string
	switch q.subresource {
	case "portforward":
		path = fmt.Sprintf("/portForward/%s/%s", pod.Namespace, pod.Name)
	default:
		name, err := podContainer(pod, query.Get("container"))
		if err != nil {
			s.writeError(q.w, q.r, err)
			return
		}
		path = fmt.Sprintf("/%s/%s/%s/%s", q.subresource, pod.Namespace, pod.Name, name)
		query.Del("container")
	}
	if pod.Spec.NodeName == "" {
		s.writeError(q.w, q.r, badRequest("pod %s does not have a host assigned", pod.Name))
		return
	}
	u, err := s.kubeletURL(q.r.Context(), pod.Spec.NodeName, path, query)
	if err != nil {
		s.writeError(q.w, q.r, err)
		return
	}
	if wsstream.IsWebSocketRequest(q.r) {
		if q.subresource == "portforward" && s.servePortForwardTunnel(q, u) {
			return
		}
		if q.subresource != "portforward" && s.serveStreamTranslated(q, u) {
			return
		}
		// An upgrade failure (not 101) makes kubectl retry with SPDY.
		s.writeError(q.w, q.r, badRequest("WebSocket %s is not supported; use SPDY", q.subresource))
		return
	}
	if !httpstream.IsUpgradeRequest(q.r) {
		s.writeError(q.w, q.r, badRequest("Upgrade request required"))
		return
	}
	s.proxyToKubelet(q.w, q.r, u, true)
}
