package apiserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/proxy"

	"skiff/internal/registry"
	"skiff/internal/storage"
)

// proxyVerbs are the discovery verbs of pods/proxy and services/proxy.
var proxyVerbs = []string{"create", "delete", "get", "patch", "update"}

func init() {
	pods, services := schema.GroupResource{Resource: "pods"}, schema.GroupResource{Resource: "services"}
	proxySubresources[pods] = append(proxySubresources[pods], registry.Subresource{Name: "proxy", Kind: "PodProxyOptions", Verbs: proxyVerbs})
	proxySubresources[services] = append(proxySubresources[services], registry.Subresource{Name: "proxy", Kind: "ServiceProxyOptions", Verbs: proxyVerbs})
}

// podProxyClient holds the transport to pods and endpoints, made once.
type podProxyClient struct {
	once sync.Once
	tr   *http.Transport
}

// podTransport reaches pods directly. It presents no client certificate
// (the kubelet one must never reach a workload) and, as upstream's proxy
// transport, does not verify a pod's serving certificate: pods have no
// identity the API server could check.
func (s *Server) podTransport() *http.Transport {
	s.podProxy.once.Do(func() {
		s.podProxy.tr = &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{}).DialContext,
			TLSClientConfig:     &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}, //nolint:gosec // pods have no verifiable identity, as upstream
			MaxIdleConnsPerHost: 4,
		}
	})
	return s.podProxy.tr
}

// proxyVerb maps a proxied request's method to the verb authorized, as
// upstream's request info does (any other method is its lower case).
func proxyVerb(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead:
		return "get"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		return "delete"
	}
	return strings.ToLower(method)
}

// serveProxySubresource serves pods/proxy and services/proxy at
// /api/v1/namespaces/NS/{pods,services}/ID/proxy[/PATH]; it reports
// false for any other path.
func (s *Server) serveProxySubresource(w http.ResponseWriter, r *http.Request, gv schema.GroupVersion, rest []string) bool {
	if gv.Group != "" || gv.Version != "v1" || len(rest) < 5 || rest[0] != "namespaces" || rest[4] != "proxy" ||
		(rest[2] != "pods" && rest[2] != "services") {
		return false
	}
	res := registry.Lookup("", "v1", rest[2])
	if res == nil {
		return false
	}
	ns, id := rest[1], rest[3]
	// The name authorized is the path segment as it is (scheme and port
	// included), as upstream's request info takes it.
	q := &request{w: w, r: r, res: res, namespace: ns, name: id, subresource: "proxy", verb: proxyVerb(r.Method)}
	if err := s.authorize(q); err != nil {
		s.writeError(w, r, err)
		return true
	}
	// Admission sees a CONNECT with the proxy options before the target is
	// looked up, as upstream's connect handler.
	var opts runtime.Object
	var path *string // the options' path, once admitted
	if rest[2] == "pods" {
		o := &corev1.PodProxyOptions{Path: proxySubpath(rest[5:], r.URL.Path)}
		opts, path = o, &o.Path
	} else {
		o := &corev1.ServiceProxyOptions{Path: proxySubpath(rest[5:], r.URL.Path)}
		opts, path = o, &o.Path
	}
	opts.GetObjectKind().SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(proxyKind(res.GroupResource(), "proxy")))
	if err := s.admitConnect(r.Context(), q, opts); err != nil {
		s.writeError(w, r, err)
		return true
	}
	if _, _, _, ok := splitSchemeNamePort(id); !ok {
		s.writeError(w, r, badRequest("invalid %s request %q", strings.TrimSuffix(rest[2], "s"), id))
		return true
	}
	var loc *url.URL
	var err error
	if rest[2] == "pods" {
		loc, err = s.podLocation(r.Context(), ns, id)
	} else {
		loc, err = s.serviceLocation(r.Context(), ns, id)
	}
	if err != nil {
		s.writeError(w, r, err)
		return true
	}
	// Without a path, the handler redirects to ".../proxy/" as upstream.
	if *path != "" {
		loc.Path = *path
	}
	s.proxyToPod(w, r, loc)
	return true
}

// proxyToPod streams the request to loc. Credentials meant for the API
// server are dropped so that workloads never see them.
func (s *Server) proxyToPod(w http.ResponseWriter, r *http.Request, loc *url.URL) {
	r = r.Clone(r.Context())
	for k := range r.Header {
		if k == "Authorization" || strings.HasPrefix(k, "Impersonate-") {
			r.Header.Del(k)
		}
	}
	if r.ContentLength == 0 {
		// An empty body wrapped by ServeHTTP would go on as a chunked one.
		r.Body = http.NoBody
	}
	h := proxy.NewUpgradeAwareHandler(loc, s.podTransport(), true, false, proxyResponder{s})
	h.ServeHTTP(w, r)
}

// splitSchemeNamePort splits "name", "name:port" or "scheme:name:port"
// (scheme http or https, or empty).
func splitSchemeNamePort(id string) (scheme, name, port string, ok bool) {
	parts := strings.Split(id, ":")
	switch len(parts) {
	case 1:
		name = parts[0]
	case 2:
		name, port = parts[0], parts[1]
	case 3:
		scheme, name, port = parts[0], parts[1], parts[2]
	default:
		return "", "", "", false
	}
	if name == "" || (scheme != "" && scheme != "http" && scheme != "https") {
		return "", "", "", false
	}
	return scheme, name, port, true
}

// proxyableIP refuses addresses the API server must not be sent to
// (loopback, link-local, unspecified, multicast), as upstream does: a
// pod status or endpoint is not to reach the server's own host.
func (s *Server) proxyableIP(addr string) error {
	ip := net.ParseIP(addr)
	if ip == nil || !ip.IsGlobalUnicast() && !(s.proxyLoopback && ip.IsLoopback()) {
		return badRequest("address not allowed")
	}
	return nil
}

// podLocation is where pods/proxy of id ("[scheme:]name[:port]") goes:
// the pod's IP with the given port, else its first declared port.
func (s *Server) podLocation(ctx context.Context, ns, id string) (*url.URL, error) {
	scheme, name, port, _ := splitSchemeNamePort(id)
	pod, err := s.storedPod(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	if port == "" {
		for _, c := range pod.Spec.Containers {
			if len(c.Ports) > 0 {
				port = strconv.Itoa(int(c.Ports[0].ContainerPort))
				break
			}
		}
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		// A named port: upstream leaves it as it is (and fails to dial);
		// a container port of that name is what is meant.
		named := ""
		for _, c := range pod.Spec.Containers {
			for _, p := range c.Ports {
				if p.Name == port && named == "" {
					named = strconv.Itoa(int(p.ContainerPort))
				}
			}
		}
		if named == "" {
			return nil, badRequest("pod %s has no container port named %q", name, port)
		}
		port = named
	}
	ip := pod.Status.PodIP
	if err := s.proxyableIP(ip); err != nil {
		return nil, err
	}
	host := ip
	if port != "" {
		host = net.JoinHostPort(ip, port)
	} else if strings.Contains(ip, ":") {
		host = "[" + ip + "]"
	}
	if scheme == "" {
		scheme = "http"
	}
	return &url.URL{Scheme: scheme, Host: host}, nil
}

// serviceLocation is where services/proxy of id ("[scheme:]name[:port]")
// goes: a random ready endpoint of the service port (by name, or by the
// service's port number), at that endpoint's port.
func (s *Server) serviceLocation(ctx context.Context, ns, id string) (*url.URL, error) {
	scheme, name, port, _ := splitSchemeNamePort(id)
	svc, err := storedObject[*corev1.Service](ctx, s, "services", ns, name)
	if err != nil {
		return nil, err
	}
	portName := port
	if n, err := strconv.ParseInt(port, 10, 64); err == nil {
		found := false
		for _, p := range svc.Spec.Ports {
			if int64(p.Port) == n {
				portName, found = p.Name, true
				break
			}
		}
		if !found {
			return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("no service port %d found for service %q", n, name))
		}
	}
	res := registry.Lookup("discovery.k8s.io", "v1", "endpointslices")
	list, err := s.store.List(ctx, storagePrefix(res, ns), storage.ListOptions{Filter: func(o runtime.Object) bool {
		es, ok := o.(*discoveryv1.EndpointSlice)
		return ok && es.Labels[discoveryv1.LabelServiceName] == name
	}})
	if err != nil {
		return nil, toStatusError(err, res.GroupResource(), "")
	}
	var targets []string
	for _, o := range list.Items {
		es := o.(*discoveryv1.EndpointSlice)
		if es.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		epPort := int32(0)
		for _, p := range es.Ports {
			if p.Port != nil && (p.Name == nil && portName == "" || p.Name != nil && *p.Name == portName) {
				epPort = *p.Port
				break
			}
		}
		if epPort == 0 {
			continue
		}
		for _, ep := range es.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready || len(ep.Addresses) == 0 {
				continue
			}
			if !s.endpointIsPod(ctx, ns, ep) {
				continue
			}
			targets = append(targets, net.JoinHostPort(ep.Addresses[0], strconv.Itoa(int(epPort))))
		}
	}
	if len(targets) == 0 {
		msg := fmt.Sprintf("no endpoints available for service %q", name)
		if len(list.Items) > 0 {
			msg = fmt.Sprintf("no endpoints available for service %q", id)
		}
		return nil, apierrors.NewServiceUnavailable(msg)
	}
	target := targets[rand.IntN(len(targets))] //nolint:gosec // load spreading, not security
	host, _, _ := net.SplitHostPort(target)
	if err := s.proxyableIP(host); err != nil {
		return nil, err
	}
	if scheme == "" {
		scheme = "http"
	}
	return &url.URL{Scheme: scheme, Host: target}, nil
}

// endpointIsPod checks, as upstream does, that an endpoint is a pod of
// the namespace with that IP: whoever may write EndpointSlices must not
// be able to send the API server to any address.
func (s *Server) endpointIsPod(ctx context.Context, ns string, ep discoveryv1.Endpoint) bool {
	ref := ep.TargetRef
	if ref == nil || ref.Kind != "Pod" || ref.Namespace != ns {
		return false
	}
	pod, err := s.storedPod(ctx, ns, ref.Name)
	if err != nil {
		return false
	}
	if pod.Status.PodIP == ep.Addresses[0] {
		return true
	}
	for _, ip := range pod.Status.PodIPs {
		if ip.IP == ep.Addresses[0] {
			return true
		}
	}
	return false
}
