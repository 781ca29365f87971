// Package openapi owns the API server's OpenAPI documents: the Swagger 2.0
// document at /openapi/v2 and the OpenAPI 3.0 discovery document and
// per-group-version documents under /openapi/v3.
//
// The schemas are derived by reflection from the Go API types, described by
// their SwaggerDoc methods, and named and shaped the way upstream's
// generated definitions are, so that client-go, kubectl (explain, field
// validation detection, strategic merge patch) and other clients read them
// as they read a real cluster's. Paths, operation ids, actions and query
// parameters follow the layout of upstream's API installer.
package openapi

import (
	"bytes"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	openapiv2 "github.com/google/gnostic-models/openapiv2"
	openapiv3 "github.com/google/gnostic-models/openapiv3"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/runtime"
)

// Resource describes one served resource (one per group/version/resource;
// subresources listed by name).
type Resource struct {
	Group, Version, Resource, Kind string // Group "" = core
	Namespaced                     bool
	Verbs                          []string // e.g. create delete deletecollection get list patch update watch
	// Subresources served under the resource: "status" (same kind),
	// "scale" (autoscaling/v1 Scale) and "finalize" are described; others
	// are left out because their request types are not known here.
	Subresources []string
	Object       runtime.Object // zero value of the type, e.g. &corev1.Pod{}
	List         runtime.Object // e.g. &corev1.PodList{}
}

// Content types; the "@v1.0" spellings are the ones client-go sends, the
// ".v1.0" ones are what upstream answers with and also accepts.
const (
	mimeJSON          = "application/json"
	mimeV2Proto       = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
	mimeV2ProtoClient = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
	mimeV3Proto       = "application/com.github.proto-openapi.spec.v3.v1.0+protobuf"
	mimeV3ProtoClient = "application/com.github.proto-openapi.spec.v3@v1.0+protobuf"
	v3Prefix          = "/openapi/v3"
	cacheImmutable    = "public, immutable"
)

// rendering is one document in JSON, with its protobuf form made on first
// use: the conversion goes through gnostic's YAML parser, costs more than
// building everything else, and many clients never ask for it.
type rendering struct {
	json     []byte
	etag     string // upstream's: upper-case hex SHA-512 of the JSON
	modified time.Time
	protoFn  func([]byte) (proto.Message, error)
	once     sync.Once
	pb       []byte
	pbErr    error
}

func newRendering(v any, modified time.Time, protoFn func([]byte) (proto.Message, error)) (*rendering, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return newRenderingBytes(data, modified, protoFn), nil
}

func newRenderingBytes(data []byte, modified time.Time, protoFn func([]byte) (proto.Message, error)) *rendering {
	return &rendering{json: data, etag: fmt.Sprintf("%X", sha512.Sum512(data)), modified: modified, protoFn: protoFn}
}

func (r *rendering) protobuf() ([]byte, error) {
	r.once.Do(func() {
		msg, err := r.protoFn(r.json)
		if err != nil {
			r.pbErr = err
			return
		}
		r.pb, r.pbErr = proto.Marshal(msg)
	})
	return r.pb, r.pbErr
}

func v2Proto(data []byte) (proto.Message, error) { return openapiv2.ParseDocument(data) }
func v3Proto(data []byte) (proto.Message, error) { return openapiv3.ParseDocument(data) }

type handler struct {
	v2        *rendering
	discovery *rendering
	groups    map[string]*rendering // keyed by "api/v1", "apis/apps/v1"
}

// NewHandler builds the documents once and serves GET /openapi/v2 and
// /openapi/v3, /openapi/v3/<api/v1 | apis/<group>/<version>>.
// It panics on a Resource without version, resource, kind or object, which
// is a programming error in the caller's static resource table.
func NewHandler(resources []Resource) http.Handler {
	h, err := newHandler(resources)
	if err != nil {
		panic(fmt.Sprintf("openapi: building documents: %v", err))
	}
	return h
}

func newHandler(resources []Resource) (*handler, error) {
	for _, r := range resources {
		if r.Version == "" || r.Resource == "" || r.Kind == "" || r.Object == nil {
			return nil, fmt.Errorf("resource %q in %q/%q: version, resource, kind and object are required", r.Resource, r.Group, r.Version)
		}
	}
	docs, err := buildDocuments(resources)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	h := &handler{groups: map[string]*rendering{}}
	if h.v2, err = newRendering(docs.v2, now, v2Proto); err != nil {
		return nil, err
	}
	type discoveryEntry struct {
		ServerRelativeURL string `json:"serverRelativeURL"`
	}
	disco := struct {
		Paths map[string]discoveryEntry `json:"paths"`
	}{Paths: map[string]discoveryEntry{}}
	for gv, doc := range docs.v3 {
		data, err := marshalV3(doc)
		if err != nil {
			return nil, err
		}
		r := newRenderingBytes(data, now, v3Proto)
		h.groups[gv] = r
		disco.Paths[gv] = discoveryEntry{ServerRelativeURL: groupURL(gv, r.etag)}
	}
	if h.discovery, err = newRendering(disco, now, nil); err != nil {
		return nil, err
	}
	return h, nil
}

// groupURL is where a group-version document lives; the hash pins its
// content so that clients may cache it for good.
func groupURL(gv, etag string) string {
	return v3Prefix + "/" + gv + "?" + url.Values{"hash": {etag}}.Encode()
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case p == "/openapi/v2":
		h.serve(w, r, h.v2, mimeV2Proto, mimeV2ProtoClient)
	case p == v3Prefix:
		serveBytes(w, r, h.discovery, mimeJSON, h.discovery.json)
	case strings.HasPrefix(p, v3Prefix+"/"):
		gv := strings.TrimPrefix(p, v3Prefix+"/")
		doc, ok := h.groups[gv]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if hash := r.URL.Query().Get("hash"); hash != "" {
			if hash != doc.etag {
				// A stale pinned URL: send the client to the current one.
				http.Redirect(w, r, groupURL(gv, doc.etag), http.StatusMovedPermanently)
				return
			}
			w.Header().Set("Cache-Control", cacheImmutable)
			w.Header().Set("Expires", time.Now().AddDate(1, 0, 0).UTC().Format(http.TimeFormat))
		}
		h.serve(w, r, doc, mimeV3Proto, mimeV3ProtoClient)
	default:
		http.NotFound(w, r)
	}
}

// serve negotiates JSON or protobuf from the Accept header.
func (h *handler) serve(w http.ResponseWriter, r *http.Request, doc *rendering, protoTypes ...string) {
	w.Header().Add("Vary", "Accept")
	switch negotiate(r.Header.Get("Accept"), protoTypes) {
	case "json":
		serveBytes(w, r, doc, mimeJSON, doc.json)
	case "proto":
		data, err := doc.protobuf()
		if err != nil {
			http.Error(w, "converting OpenAPI document to protobuf: "+err.Error(), http.StatusInternalServerError)
			return
		}
		serveBytes(w, r, doc, protoTypes[0], data)
	default:
		http.Error(w, "only JSON and protobuf OpenAPI documents are served", http.StatusNotAcceptable)
	}
}

// serveBytes lets http.ServeContent answer If-None-Match, If-Modified-Since
// and Range against the document's ETag.
func serveBytes(w http.ResponseWriter, r *http.Request, doc *rendering, contentType string, data []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("ETag", strconv.Quote(doc.etag))
	http.ServeContent(w, r, "", doc.modified, bytes.NewReader(data))
}

// negotiate picks "json", "proto" or "" (nothing acceptable) for an Accept
// header, honouring q-values; JSON wins wildcards and an empty header.
func negotiate(accept string, protoTypes []string) string {
	if strings.TrimSpace(accept) == "" {
		return "json"
	}
	type clause struct {
		typ string
		q   float64
	}
	var clauses []clause
	for _, part := range strings.Split(accept, ",") {
		// Not mime.ParseMediaType: it rejects the '@' in client-go's
		// protobuf media type.
		fields := strings.Split(part, ";")
		c := clause{typ: strings.ToLower(strings.TrimSpace(fields[0])), q: 1}
		for _, f := range fields[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
			if strings.TrimSpace(k) == "q" {
				if q, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					c.q = q
				}
			}
		}
		if c.typ != "" && c.q > 0 {
			clauses = append(clauses, c)
		}
	}
	sort.SliceStable(clauses, func(i, j int) bool { return clauses[i].q > clauses[j].q })
	for _, c := range clauses {
		switch {
		case c.typ == mimeJSON || c.typ == "*/*" || c.typ == "application/*":
			return "json"
		case protoTypes[0] == c.typ || protoTypes[1] == c.typ:
			return "proto"
		}
	}
	return ""
}
