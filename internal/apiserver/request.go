package apiserver

import (
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/registry"
)

// request is one parsed resource request.
type request struct {
	w           http.ResponseWriter
	r           *http.Request
	verb        string
	res         *registry.Resource
	namespace   string
	name        string
	subresource string
	out         output
	// viaSubresource is the subresource the client addressed when the
	// server serves it as a write of the main resource (scale); admission
	// sees the request as a write of that subresource, as upstream's does.
	viaSubresource string
}

func (q *request) gr() schema.GroupResource { return q.res.GroupResource() }

func (q *request) query(name string) string { return q.r.URL.Query().Get(name) }

// namespaceSubresources are the subresources of a namespace itself, so
// /api/v1/namespaces/x/status is not a resource "status" in namespace x.
var namespaceSubresources = map[string]bool{"status": true, "finalize": true}

// parseResourcePath reads the part of a path after the group version:
// [watch/][namespaces/NS/]RESOURCE[/NAME[/SUBRESOURCE]].
func parseResourcePath(parts []string) (ns, resource, name, sub string, watch bool, ok bool) {
	if len(parts) > 0 && parts[0] == "watch" {
		watch = true
		parts = parts[1:]
	}
	if len(parts) == 0 {
		return "", "", "", "", false, false
	}
	if parts[0] == "namespaces" && len(parts) >= 2 {
		if len(parts) == 2 || (len(parts) == 3 && namespaceSubresources[parts[2]]) {
			resource, name = "namespaces", parts[1]
			if len(parts) == 3 {
				sub = parts[2]
			}
			return "", resource, name, sub, watch, true
		}
		ns = parts[1]
		parts = parts[2:]
	}
	switch len(parts) {
	case 1:
		return ns, parts[0], "", "", watch, true
	case 2:
		return ns, parts[0], parts[1], "", watch, true
	case 3:
		return ns, parts[0], parts[1], parts[2], watch, true
	}
	return "", "", "", "", false, false
}

func isWatchParam(v string) bool { return v == "true" || v == "1" }

// serveAPI routes everything under /api and /apis.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(path, "/")
	var gv schema.GroupVersion
	var rest []string
	switch parts[0] {
	case "api":
		if len(parts) == 1 {
			s.serveCoreVersions(w, r)
			return
		}
		gv = schema.GroupVersion{Version: parts[1]}
		rest = parts[2:]
	case "apis":
		if len(parts) == 1 {
			s.serveGroups(w, r)
			return
		}
		if len(parts) == 2 {
			s.serveGroup(w, r, parts[1])
			return
		}
		gv = schema.GroupVersion{Group: parts[1], Version: parts[2]}
		rest = parts[3:]
	default:
		s.writeError(w, r, notFoundPath())
		return
	}
	if len(rest) == 0 {
		s.serveResourceList(w, r, gv)
		return
	}
	if s.serveNodeProxyPath(w, r, gv, rest) {
		return
	}
	if s.serveProxySubresource(w, r, gv, rest) {
		return
	}
	ns, resource, name, sub, watchPath, ok := parseResourcePath(rest)
	if !ok {
		s.writeError(w, r, notFoundPath())
		return
	}
	res := registry.Lookup(gv.Group, gv.Version, resource)
	if res == nil {
		s.writeError(w, r, notFoundPath())
		return
	}
	if (ns != "" && !res.Namespaced) || (sub != "" && !s.hasSubresource(res, sub)) {
		s.writeError(w, r, notFoundPath())
		return
	}
	q := &request{w: w, r: r, res: res, namespace: ns, name: name, subresource: sub}
	q.verb = verbFor(r, name, watchPath)
	if q.verb == "" {
		s.writeError(w, r, methodNotSupported(res.GroupResource(), strings.ToLower(r.Method)))
		return
	}
	out, err := negotiateOutput(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q.out = out
	customOutput(q)
	if err := s.authorize(q); err != nil {
		s.writeError(w, r, err)
		return
	}
	// Streams and proxies hijack the connection: they bypass instrument.
	if s.servePodProxy(q) {
		return
	}
	s.instrument(q, func() { s.dispatch(q) })
}

func verbFor(r *http.Request, name string, watchPath bool) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if watchPath || isWatchParam(r.URL.Query().Get("watch")) {
			return "watch"
		}
		if name == "" {
			return "list"
		}
		return "get"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		if name == "" {
			return "deletecollection"
		}
		return "delete"
	}
	return ""
}

func (s *Server) hasSubresource(res *registry.Resource, sub string) bool {
	switch sub {
	case "status":
		return res.Status
	case "scale":
		return res.Scale
	}
	for _, sr := range res.ExtraSubresources {
		if sr.Name == sub {
			return true
		}
	}
	for _, sr := range proxySubresources[res.GroupResource()] {
		if sr.Name == sub {
			return true
		}
	}
	return false
}

func hasVerb(verbs []string, verb string) bool {
	for _, v := range verbs {
		if v == verb {
			return true
		}
	}
	return false
}

// dispatch runs the verb handler of a parsed request.
func (s *Server) dispatch(q *request) {
	gr := q.gr()
	if q.subresource == "" && !hasVerb(q.res.Verbs, q.verb) {
		s.writeError(q.w, q.r, methodNotSupported(gr, q.verb))
		return
	}
	if q.res.Namespaced && q.namespace == "" && q.name != "" {
		s.writeError(q.w, q.r, notFoundPath())
		return
	}
	// A collection takes no PUT or PATCH, and the all-namespaces collection
	// of a namespaced resource only lists and watches: 405, as upstream's
	// router answers for a known path with an unrouted method.
	if q.name == "" && (q.verb == "update" || q.verb == "patch") ||
		q.res.Namespaced && q.namespace == "" && (q.verb == "create" || q.verb == "deletecollection") {
		s.writeError(q.w, q.r, methodNotSupported(gr, q.verb))
		return
	}
	switch q.subresource {
	case "":
	case "status", "approval":
		switch q.verb {
		case "get", "update", "patch":
		default:
			s.writeError(q.w, q.r, methodNotSupported(gr, q.verb))
			return
		}
	case "scale":
		s.serveScale(q)
		return
	case "finalize":
		if q.verb != "update" {
			s.writeError(q.w, q.r, methodNotSupported(gr, q.verb))
			return
		}
		s.serveUpdate(q)
		return
	case "binding":
		if q.verb != "create" {
			s.writeError(q.w, q.r, methodNotSupported(gr, q.verb))
			return
		}
		s.serveBinding(q)
		return
	case "eviction":
		if q.verb != "create" {
			s.writeError(q.w, q.r, methodNotSupported(gr, q.verb))
			return
		}
		s.serveEviction(q)
		return
	case "token":
		if q.verb != "create" {
			s.writeError(q.w, q.r, methodNotSupported(gr, q.verb))
			return
		}
		s.serveTokenRequest(q)
		return
	default:
		s.writeError(q.w, q.r, notFoundPath())
		return
	}
	switch q.verb {
	case "get":
		s.serveGet(q)
	case "list":
		s.serveList(q)
	case "watch":
		s.serveWatch(q)
	case "create":
		if q.name != "" {
			s.writeError(q.w, q.r, methodNotSupported(gr, q.verb))
			return
		}
		s.serveCreate(q)
	case "update":
		s.serveUpdate(q)
	case "patch":
		s.servePatch(q)
	case "delete":
		s.serveDelete(q)
	case "deletecollection":
		s.serveDeleteCollection(q)
	default:
		s.writeError(q.w, q.r, apierrors.NewMethodNotSupported(gr, q.verb))
	}
}
