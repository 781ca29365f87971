package openapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"maps"
	"reflect"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// Media types the API server answers with; the stream variants apply
	// to lists and watches.
	responseTypes = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
	streamTypes   = []string{"application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch"}
	patchTypes    = []string{"application/json-patch+json", "application/merge-patch+json",
		"application/strategic-merge-patch+json", "application/apply-patch+yaml"}
)

const fallbackVersion = "v1.37.2"

// kubernetesVersion is the Kubernetes release matching the k8s.io/api
// modules this binary was built with: k8s.io/apimachinery v0.X.Y serves
// Kubernetes v1.X.Y.
func kubernetesVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return fallbackVersion
	}
	for _, d := range bi.Deps {
		if d.Path == "k8s.io/apimachinery" && strings.HasPrefix(d.Version, "v0.") {
			return "v1." + strings.TrimPrefix(d.Version, "v0.")
		}
	}
	return fallbackVersion
}

// The documents are written through the plain structs below rather than
// kube-openapi's spec types: those re-encode at every nesting level, which
// made marshalling all built-in resources several times slower. Each schema
// is marshalled once and shared by every document that includes it.

type info struct {
	Title   string `json:"title"`
	Version string `json:"version"`
}

type securityScheme struct {
	Description string `json:"description"`
	In          string `json:"in"`
	Name        string `json:"name"`
	Type        string `json:"type"`
}

var (
	bearerToken = map[string]securityScheme{"BearerToken": {
		Description: "Bearer Token authentication", In: "header", Name: "authorization", Type: "apiKey",
	}}
	bearerSecurity = []map[string][]string{{"BearerToken": {}}}
)

type refJSON struct {
	Ref string `json:"$ref"`
}

type v2Document struct {
	Swagger             string                     `json:"swagger"`
	Info                info                       `json:"info"`
	Paths               map[string]*v2PathItem     `json:"paths"`
	Definitions         map[string]json.RawMessage `json:"definitions"`
	Parameters          map[string]*v2Param        `json:"parameters"`
	SecurityDefinitions map[string]securityScheme  `json:"securityDefinitions"`
	Security            []map[string][]string      `json:"security"`
}

type v2PathItem struct {
	Get        *v2Operation `json:"get,omitempty"`
	Put        *v2Operation `json:"put,omitempty"`
	Post       *v2Operation `json:"post,omitempty"`
	Delete     *v2Operation `json:"delete,omitempty"`
	Patch      *v2Operation `json:"patch,omitempty"`
	Parameters []*v2Param   `json:"parameters,omitempty"`
}

type v2Operation struct {
	Description string                 `json:"description"`
	Consumes    []string               `json:"consumes"`
	Produces    []string               `json:"produces"`
	Schemes     []string               `json:"schemes"`
	Tags        []string               `json:"tags"`
	OperationID string                 `json:"operationId"`
	Parameters  []*v2Param             `json:"parameters,omitempty"`
	Responses   map[string]*v2Response `json:"responses"`
	Action      string                 `json:"x-kubernetes-action"`
	GVK         gvkJSON                `json:"x-kubernetes-group-version-kind"`
}

// v2Param is either a reference to a shared parameter or a parameter.
type v2Param struct {
	Ref         string   `json:"$ref,omitempty"`
	Name        string   `json:"name,omitempty"`
	In          string   `json:"in,omitempty"`
	Description string   `json:"description,omitempty"`
	Required    bool     `json:"required,omitempty"`
	Type        string   `json:"type,omitempty"`
	UniqueItems bool     `json:"uniqueItems,omitempty"`
	Schema      *refJSON `json:"schema,omitempty"`
}

type v2Response struct {
	Description string   `json:"description"`
	Schema      *refJSON `json:"schema,omitempty"`
}

// v3Document is written by marshalV3, which splices in its schemas.
type v3Document struct {
	OpenAPI  string                     `json:"openapi"`
	Info     info                       `json:"info"`
	Paths    map[string]*v3PathItem     `json:"paths"`
	Security []map[string][]string      `json:"security"`
	Schemas  map[string]json.RawMessage `json:"-"`
}

type v3PathItem struct {
	Get        *v3Operation `json:"get,omitempty"`
	Put        *v3Operation `json:"put,omitempty"`
	Post       *v3Operation `json:"post,omitempty"`
	Delete     *v3Operation `json:"delete,omitempty"`
	Patch      *v3Operation `json:"patch,omitempty"`
	Parameters []*v3Param   `json:"parameters,omitempty"`
}

type v3Operation struct {
	Description string                 `json:"description"`
	OperationID string                 `json:"operationId"`
	Parameters  []*v3Param             `json:"parameters,omitempty"`
	RequestBody *v3RequestBody         `json:"requestBody,omitempty"`
	Responses   map[string]*v3Response `json:"responses"`
	Tags        []string               `json:"tags"`
	Action      string                 `json:"x-kubernetes-action"`
	GVK         gvkJSON                `json:"x-kubernetes-group-version-kind"`
}

// v3Param is always written inline: cli-runtime's v3 field-validation
// check only recognises inline parameters (or refs of the v2 form).
type v3Param struct {
	Name        string        `json:"name"`
	In          string        `json:"in"`
	Description string        `json:"description,omitempty"`
	Required    bool          `json:"required,omitempty"`
	Schema      v3ParamSchema `json:"schema"`
}

type v3ParamSchema struct {
	Type        string `json:"type"`
	UniqueItems bool   `json:"uniqueItems"`
}

type v3MediaType struct {
	Schema refJSON `json:"schema"`
}

type v3RequestBody struct {
	Content  map[string]v3MediaType `json:"content"`
	Required bool                   `json:"required,omitempty"`
}

type v3Response struct {
	Description string                 `json:"description"`
	Content     map[string]v3MediaType `json:"content,omitempty"`
}

// documents holds both dialects of everything that is served.
type documents struct {
	v2 *v2Document
	v3 map[string]*v3Document // keyed by "api/v1", "apis/apps/v1"
}

func buildDocuments(resources []Resource) (*documents, error) {
	inf := info{Title: "Kubernetes", Version: kubernetesVersion()}
	paths := buildPaths(resources)
	b2, b3 := newSchemaBuilder(false), newSchemaBuilder(true)

	// Definitions for every served kind and its list, plus the meta types
	// that operations name. Each kind's schema carries its GVKs; the shared
	// meta types list every served group-version, as upstream's do.
	for _, b := range []*schemaBuilder{b2, b3} {
		b.addGVK(b.define(statusType), schema.GroupVersionKind{Version: "v1", Kind: "Status"})
		for _, r := range resources {
			gv := schema.GroupVersion{Group: r.Group, Version: r.Version}
			b.addGVK(b.define(reflect.TypeOf(r.Object)), gv.WithKind(r.Kind))
			if r.List != nil {
				b.addGVK(b.define(reflect.TypeOf(r.List)), gv.WithKind(listKind(r)))
			}
			b.addGVK(b.define(deleteOptionsType), gv.WithKind("DeleteOptions"))
			b.addGVK(b.define(watchEventType), gv.WithKind("WatchEvent"))
			for _, s := range r.Subresources {
				if s == "scale" {
					b.addGVK(b.define(scaleType), scaleGVK)
				}
			}
		}
		b.finish()
	}

	v2 := &v2Document{
		Swagger:             "2.0",
		Info:                inf,
		Paths:               map[string]*v2PathItem{},
		Parameters:          map[string]*v2Param{},
		SecurityDefinitions: bearerToken,
		Security:            bearerSecurity,
	}
	shared := &v2Params{defs: v2.Parameters, keys: map[param]string{}}
	docs := &documents{v2: v2, v3: map[string]*v3Document{}}
	roots := map[string]map[string]bool{}
	for p, pi := range paths {
		v2.Paths[p] = b2.v2PathItem(pi, shared)
		doc, ok := docs.v3[pi.gv]
		if !ok {
			doc = &v3Document{
				OpenAPI:  "3.0.0",
				Info:     inf,
				Paths:    map[string]*v3PathItem{},
				Security: bearerSecurity,
			}
			docs.v3[pi.gv] = doc
			roots[pi.gv] = map[string]bool{}
		}
		doc.Paths[p] = b3.v3PathItem(pi, roots[pi.gv])
	}

	var err error
	if v2.Definitions, err = marshalSchemas(b2.defs); err != nil {
		return nil, err
	}
	all3, err := marshalSchemas(b3.defs)
	if err != nil {
		return nil, err
	}
	// A group-version document carries only the schemas its paths reach.
	for gv, doc := range docs.v3 {
		doc.Schemas = map[string]json.RawMessage{}
		for name := range b3.closure(roots[gv]) {
			doc.Schemas[name] = all3[name]
		}
	}
	return docs, nil
}

// marshalV3 writes doc with its components. The schemas are spliced in as
// they are: encoding/json would re-validate every json.RawMessage, and the
// group-version documents repeat the shared schemas many times over.
func marshalV3(doc *v3Document) ([]byte, error) {
	rest, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	security, err := json.Marshal(bearerToken)
	if err != nil {
		return nil, err
	}
	names := slices.Sorted(maps.Keys(doc.Schemas))
	size := len(rest) + len(security) + 64
	for _, n := range names {
		size += len(n) + len(doc.Schemas[n]) + 4
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	buf.WriteString(`{"components":{"schemas":{`)
	for i, n := range names {
		if i > 0 {
			buf.WriteByte(',')
		}
		name, err := json.Marshal(n)
		if err != nil {
			return nil, err
		}
		buf.Write(name)
		buf.WriteByte(':')
		buf.Write(doc.Schemas[n])
	}
	buf.WriteString(`},"securitySchemes":`)
	buf.Write(security)
	buf.WriteString(`},`)
	buf.Write(rest[1:]) // rest is a non-empty object: drop its "{"
	return buf.Bytes(), nil
}

func marshalSchemas(defs map[string]*jsonSchema) (map[string]json.RawMessage, error) {
	out := make(map[string]json.RawMessage, len(defs))
	for name, s := range defs {
		data, err := json.Marshal(s)
		if err != nil {
			return nil, err
		}
		out[name] = data
	}
	return out, nil
}

// listKind is the kind of r's list type, which is normally Kind+"List".
func listKind(r Resource) string {
	t := reflect.TypeOf(r.List)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

func opGVK(o *operation) gvkJSON {
	return gvkJSON{Group: o.gvk.Group, Kind: o.gvk.Kind, Version: o.gvk.Version}
}

// v2Params are the parameters a v2 document shares under #/parameters/.
type v2Params struct {
	defs map[string]*v2Param
	keys map[param]string
}

// ref files p among the shared parameters and refers to it. Like
// upstream, the key is the name plus a hash of the definition, because
// one name (fieldManager, name) is described differently by operation.
func (ps *v2Params) ref(p param) *v2Param {
	key, ok := ps.keys[p]
	if !ok {
		sum := sha256.Sum256([]byte(p.name + "\x00" + p.in + "\x00" + p.typ + "\x00" + p.desc + "\x00" + strconv.FormatBool(p.required)))
		key = p.name + "-" + base32.StdEncoding.EncodeToString(sum[:5])
		ps.keys[p] = key
		ps.defs[key] = &v2Param{Name: p.name, In: p.in, Description: p.desc, Required: p.required, Type: p.typ, UniqueItems: true}
	}
	return &v2Param{Ref: "#/parameters/" + key}
}

func (b *schemaBuilder) ref(t reflect.Type) *refJSON {
	return &refJSON{Ref: b.refPrefix() + b.define(t)}
}

func (b *schemaBuilder) v2PathItem(pi *pathItem, shared *v2Params) *v2PathItem {
	item := &v2PathItem{}
	for _, p := range pi.params {
		item.Parameters = append(item.Parameters, shared.ref(p))
	}
	for _, o := range pi.ops {
		op := &v2Operation{
			Description: o.desc,
			Consumes:    []string{"*/*"},
			Produces:    responseTypes,
			Schemes:     []string{"https"},
			Tags:        []string{o.tag},
			OperationID: o.id,
			Responses:   map[string]*v2Response{},
			Action:      o.action,
			GVK:         opGVK(o),
		}
		if o.patch {
			op.Consumes = patchTypes
		}
		if o.list || o.stream {
			op.Produces = append(append([]string{}, responseTypes...), streamTypes...)
		}
		if o.body != nil {
			op.Parameters = append(op.Parameters, &v2Param{Name: "body", In: "body", Required: o.bodyReq, Schema: b.ref(o.body)})
		}
		for _, p := range sortParams(o.params) {
			op.Parameters = append(op.Parameters, shared.ref(p))
		}
		for _, r := range o.response {
			resp := &v2Response{Description: r.desc}
			if r.body != nil {
				resp.Schema = b.ref(r.body)
			}
			op.Responses[strconv.Itoa(r.code)] = resp
		}
		setMethod(o.method, op, &item.Get, &item.Put, &item.Post, &item.Patch, &item.Delete)
	}
	return item
}

// setMethod stores op in the slot of its HTTP method.
func setMethod[T any](method string, op *T, get, put, post, patch, del **T) {
	switch method {
	case "get":
		*get = op
	case "put":
		*put = op
	case "post":
		*post = op
	case "patch":
		*patch = op
	case "delete":
		*del = op
	}
}

func v3ParamOf(p param) *v3Param {
	return &v3Param{Name: p.name, In: p.in, Description: p.desc, Required: p.required,
		Schema: v3ParamSchema{Type: p.typ, UniqueItems: true}}
}

// v3PathItem renders pi and records in roots the schemas it names.
func (b *schemaBuilder) v3PathItem(pi *pathItem, roots map[string]bool) *v3PathItem {
	ref := func(t reflect.Type) refJSON {
		name := b.define(t)
		roots[name] = true
		return refJSON{Ref: b.refPrefix() + name}
	}
	content := func(types []string, r refJSON) map[string]v3MediaType {
		m := make(map[string]v3MediaType, len(types))
		for _, t := range types {
			m[t] = v3MediaType{Schema: r}
		}
		return m
	}
	item := &v3PathItem{}
	for _, p := range pi.params {
		item.Parameters = append(item.Parameters, v3ParamOf(p))
	}
	for _, o := range pi.ops {
		op := &v3Operation{
			Description: o.desc,
			OperationID: o.id,
			Responses:   map[string]*v3Response{},
			Tags:        []string{o.tag},
			Action:      o.action,
			GVK:         opGVK(o),
		}
		for _, p := range sortParams(o.params) {
			op.Parameters = append(op.Parameters, v3ParamOf(p))
		}
		if o.body != nil {
			consumes := []string{"*/*"}
			if o.patch {
				consumes = patchTypes
			}
			op.RequestBody = &v3RequestBody{Content: content(consumes, ref(o.body)), Required: o.bodyReq}
		}
		produces := responseTypes
		if o.list || o.stream {
			produces = append(append([]string{}, responseTypes...), streamTypes...)
		}
		for _, r := range o.response {
			resp := &v3Response{Description: r.desc}
			if r.body != nil {
				resp.Content = content(produces, ref(r.body))
			}
			op.Responses[strconv.Itoa(r.code)] = resp
		}
		setMethod(o.method, op, &item.Get, &item.Put, &item.Post, &item.Patch, &item.Delete)
	}
	return item
}
