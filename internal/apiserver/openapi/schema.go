package openapi

import (
	"cmp"
	"reflect"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Optional interfaces that API types implement and that openapi-gen uses
// upstream; honouring them keeps our names and special schemas identical.
type (
	modelNamer    interface{ OpenAPIModelName() string }
	swaggerDocer  interface{ SwaggerDoc() map[string]string }
	schemaTyper   interface{ OpenAPISchemaType() []string }
	schemaFormat  interface{ OpenAPISchemaFormat() string }
	v3OneOfTyper  interface{ OpenAPIV3OneOfTypes() []string }
	jsonUnmarshal interface{ UnmarshalJSON([]byte) error }
)

var (
	timeType          = reflect.TypeFor[time.Time]()
	jsonUnmarshalType = reflect.TypeFor[jsonUnmarshal]()
)

// jsonSchema is the subset of an OpenAPI schema object that reflection can
// produce. It is its own plain struct, not kube-openapi's spec.Schema,
// because encoding/json writes it several times faster, which matters with
// every built-in type served.
type jsonSchema struct {
	Description          string                 `json:"description,omitempty"`
	Type                 string                 `json:"type,omitempty"`
	Format               string                 `json:"format,omitempty"`
	Default              any                    `json:"default,omitempty"` // nil: none; 0, "" and false are kept
	Enum                 []string               `json:"enum,omitempty"`
	Ref                  string                 `json:"$ref,omitempty"`
	AllOf                []*jsonSchema          `json:"allOf,omitempty"`
	OneOf                []*jsonSchema          `json:"oneOf,omitempty"`
	Items                *jsonSchema            `json:"items,omitempty"`
	AdditionalProperties *jsonSchema            `json:"additionalProperties,omitempty"`
	Properties           map[string]*jsonSchema `json:"properties,omitempty"`
	Required             []string               `json:"required,omitempty"`
	PatchMergeKey        string                 `json:"x-kubernetes-patch-merge-key,omitempty"`
	PatchStrategy        string                 `json:"x-kubernetes-patch-strategy,omitempty"`
	GVKs                 []gvkJSON              `json:"x-kubernetes-group-version-kind,omitempty"`
}

type gvkJSON struct {
	Group   string `json:"group"`
	Kind    string `json:"kind"`
	Version string `json:"version"`
}

// schemaBuilder turns Go types into named definitions. One builder renders
// one dialect: v2 (refs under #/definitions/, no defaults) or v3 (refs under
// #/components/schemas/, $ref with siblings wrapped in allOf, defaults kept),
// which is how upstream's v2 and v3 documents differ for the same types.
type schemaBuilder struct {
	v3    bool
	defs  map[string]*jsonSchema
	names map[reflect.Type]string
	// gvks lists the group/version/kinds served by each definition name;
	// they become x-kubernetes-group-version-kind.
	gvks map[string][]schema.GroupVersionKind
}

func newSchemaBuilder(v3 bool) *schemaBuilder {
	return &schemaBuilder{
		v3:    v3,
		defs:  map[string]*jsonSchema{},
		names: map[reflect.Type]string{},
		gvks:  map[string][]schema.GroupVersionKind{},
	}
}

func (b *schemaBuilder) refPrefix() string {
	if b.v3 {
		return "#/components/schemas/"
	}
	return "#/definitions/"
}

func (b *schemaBuilder) refSchema(name string) *jsonSchema {
	return &jsonSchema{Ref: b.refPrefix() + name}
}

// zeroValue returns the zero value of t as an interface, which is how the
// optional interfaces above are probed (they all have value receivers).
func zeroValue(t reflect.Type) any {
	return reflect.New(t).Elem().Interface()
}

// declared calls an optional method on the zero value of t and reports its
// result only if t declares the method itself: a method promoted from an
// embedded field (TypeMeta's OpenAPIModelName, say) describes that field,
// not t.
func declared[R any](t reflect.Type, call func(any) (R, bool)) (R, bool) {
	var none R
	v, ok := call(zeroValue(t))
	if !ok {
		return none, false
	}
	if t.Kind() == reflect.Struct {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.Anonymous {
				continue
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ev, ok := call(zeroValue(ft)); ok && reflect.DeepEqual(ev, v) {
				return none, false
			}
		}
	}
	return v, true
}

// definitionName names t the way upstream does: the generated
// OpenAPIModelName when present, otherwise the Go package path with its
// domain reversed (k8s.io/api/core/v1.Pod -> io.k8s.api.core.v1.Pod).
func definitionName(t reflect.Type) string {
	if n, ok := declared(t, func(v any) (string, bool) {
		m, ok := v.(modelNamer)
		if !ok {
			return "", false
		}
		return m.OpenAPIModelName(), true
	}); ok {
		return n
	}
	pkg := t.PkgPath()
	if i := strings.LastIndex(pkg, "/vendor/"); i >= 0 {
		pkg = pkg[i+len("/vendor/"):]
	}
	if pkg == "" {
		return t.Name()
	}
	parts := strings.Split(pkg, "/")
	if strings.Contains(parts[0], ".") {
		dom := strings.Split(parts[0], ".")
		for i, j := 0, len(dom)-1; i < j; i, j = i+1, j-1 {
			dom[i], dom[j] = dom[j], dom[i]
		}
		parts[0] = strings.Join(dom, ".")
	}
	return strings.Join(parts, ".") + "." + t.Name()
}

func swaggerDoc(t reflect.Type) map[string]string {
	if d, ok := declared(t, func(v any) (map[string]string, bool) {
		d, ok := v.(swaggerDocer)
		if !ok {
			return nil, false
		}
		return d.SwaggerDoc(), true
	}); ok {
		return d
	}
	return fallbackDocs[t]
}

// hasDefinition reports whether t gets its own named definition: upstream
// only generates definitions for named struct types.
func hasDefinition(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t.Name() != "" && t != timeType
}

// define makes sure t has a definition and returns its name.
func (b *schemaBuilder) define(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if name, ok := b.names[t]; ok {
		return name
	}
	name := definitionName(t)
	b.names[t] = name
	if _, ok := b.defs[name]; ok {
		return name
	}
	s := &jsonSchema{}
	// Registered before filling so that recursive types terminate.
	b.defs[name] = s
	b.fillDefinition(s, t)
	return name
}

func (b *schemaBuilder) fillDefinition(s *jsonSchema, t reflect.Type) {
	doc := swaggerDoc(t)
	s.Description = doc[""]
	zero := zeroValue(t)
	if typer, ok := zero.(schemaTyper); ok {
		// Types with a custom JSON form (Quantity, IntOrString, Time, ...)
		// describe themselves; v3 may express the alternatives as oneOf.
		if f, ok := zero.(schemaFormat); ok {
			s.Format = f.OpenAPISchemaFormat()
		}
		if oneOf, ok := zero.(v3OneOfTyper); ok && b.v3 {
			for _, typ := range oneOf.OpenAPIV3OneOfTypes() {
				s.OneOf = append(s.OneOf, &jsonSchema{Type: typ})
			}
		} else if types := typer.OpenAPISchemaType(); len(types) > 0 {
			s.Type = types[0]
		}
		return
	}
	s.Type = "object"
	b.addFields(s, t, map[string]bool{})
}

// jsonField is a struct field as encoding/json sees it.
type jsonField struct {
	field     reflect.StructField
	name      string
	omitEmpty bool
	inline    bool
}

func parseJSONField(f reflect.StructField) (jsonField, bool) {
	tag, hasTag := f.Tag.Lookup("json")
	if tag == "-" {
		return jsonField{}, false
	}
	name, opts, _ := strings.Cut(tag, ",")
	jf := jsonField{field: f, name: name}
	for _, o := range strings.Split(opts, ",") {
		switch o {
		case "omitempty", "omitzero":
			jf.omitEmpty = true
		case "inline":
			jf.inline = true
		}
	}
	ft := f.Type
	if ft.Kind() == reflect.Pointer {
		ft = ft.Elem()
	}
	// encoding/json promotes the fields of an untagged embedded struct.
	if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
		jf.inline = true
	}
	if jf.inline {
		return jf, true
	}
	if !f.IsExported() {
		return jsonField{}, false
	}
	if name == "" || !hasTag {
		jf.name = f.Name
	}
	return jf, true
}

// addFields adds the JSON fields of struct t to s. Inline (embedded)
// structs are flattened after the direct fields, so a shallower field wins
// a name clash as it does in encoding/json.
func (b *schemaBuilder) addFields(s *jsonSchema, t reflect.Type, seen map[string]bool) {
	doc := swaggerDoc(t)
	var inline []reflect.Type
	for i := 0; i < t.NumField(); i++ {
		jf, ok := parseJSONField(t.Field(i))
		if !ok {
			continue
		}
		if jf.inline {
			ft := jf.field.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				inline = append(inline, ft)
			}
			continue
		}
		if seen[jf.name] {
			continue
		}
		seen[jf.name] = true
		if s.Properties == nil {
			s.Properties = map[string]*jsonSchema{}
		}
		s.Properties[jf.name] = b.fieldSchema(jf, doc[jf.name])
		// Upstream's rule when a field has neither +optional nor +required
		// (those comment markers are not visible at run time): optional iff
		// the json tag says omitempty. Pointers and slices without omitempty
		// are required upstream too, e.g. PodSpec.containers.
		if !jf.omitEmpty {
			s.Required = append(s.Required, jf.name)
		}
	}
	for _, it := range inline {
		b.addFields(s, it, seen)
	}
}

func (b *schemaBuilder) fieldSchema(jf jsonField, desc string) *jsonSchema {
	var def any
	if b.v3 {
		def = defaultFor(jf.field.Type, jf.omitEmpty)
	}
	// openapi-gen documents the values of an enum field (not of a list
	// or map of enums, whose items carry only the values).
	ft := jf.field.Type
	if ft.Kind() == reflect.Pointer {
		ft = ft.Elem()
	}
	desc = enumDescription(desc, enumValues(ft))
	s := b.decorate(b.typeSchema(jf.field.Type), desc, def,
		jf.field.Tag.Get("patchStrategy") != "" || jf.field.Tag.Get("patchMergeKey") != "")
	s.PatchStrategy = jf.field.Tag.Get("patchStrategy")
	s.PatchMergeKey = jf.field.Tag.Get("patchMergeKey")
	return s
}

// decorate attaches a description and default to s. In v3 a $ref ignores
// its siblings, so upstream wraps the ref in a one-element allOf whenever
// it has any (including extensions, flagged by ext); v2 clients read the
// siblings next to $ref.
func (b *schemaBuilder) decorate(s *jsonSchema, desc string, def any, ext bool) *jsonSchema {
	if b.v3 && s.Ref != "" && (desc != "" || def != nil || ext) {
		s = &jsonSchema{AllOf: []*jsonSchema{s}}
	}
	s.Description = desc
	s.Default = def
	return s
}

// typeSchema is the schema used where a value of type t appears.
func (b *schemaBuilder) typeSchema(t reflect.Type) *jsonSchema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if hasDefinition(t) {
		return b.refSchema(b.define(t))
	}
	typed := func(typ, format string) *jsonSchema {
		return &jsonSchema{Type: typ, Format: format}
	}
	switch t.Kind() {
	case reflect.Struct:
		if t == timeType {
			return typed("string", "date-time")
		}
		// An anonymous struct has no name to define, so it stays inline.
		s := typed("object", "")
		b.addFields(s, t, map[string]bool{})
		return s
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return typed("string", "byte") // encoding/json base64-encodes []byte
		}
		s := typed("array", "")
		s.Items = b.elementSchema(t.Elem())
		return s
	case reflect.Map:
		s := typed("object", "")
		s.AdditionalProperties = b.elementSchema(t.Elem())
		return s
	case reflect.Bool:
		return typed("boolean", "")
	case reflect.String:
		s := typed("string", "")
		if values := enumValues(t); values != nil {
			s.Enum = enumStrings(values)
		}
		return s
	case reflect.Int, reflect.Int16, reflect.Int32, reflect.Uint, reflect.Uint16:
		return typed("integer", "int32")
	case reflect.Int8, reflect.Uint8:
		return typed("integer", "byte")
	case reflect.Int64, reflect.Uint32, reflect.Uint64:
		return typed("integer", "int64")
	case reflect.Float32:
		return typed("number", "float")
	case reflect.Float64:
		return typed("number", "double")
	default: // interfaces and anything else: arbitrary JSON object
		return typed("object", "")
	}
}

// elementSchema is the schema of a slice item or map value; its default
// follows the field rule as if the element were a non-omitempty field.
func (b *schemaBuilder) elementSchema(t reflect.Type) *jsonSchema {
	var def any
	if b.v3 {
		def = defaultFor(t, false)
	}
	return b.decorate(b.typeSchema(t), "", def, false)
}

// defaultFor mirrors upstream's enforced defaults: {} for value structs, the
// zero value for non-omitempty scalars, nothing for pointers, slices, maps
// and types with custom JSON decoding (their zero value decodes from null).
func defaultFor(t reflect.Type, omitEmpty bool) any {
	if t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(jsonUnmarshalType) {
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Array, reflect.Interface:
		return nil
	case reflect.Struct:
		if t.NumField() == 1 && t.Field(0).Anonymous {
			return defaultFor(t.Field(0).Type, omitEmpty)
		}
		if t == timeType {
			return nil
		}
		return map[string]any{}
	}
	if omitEmpty {
		return nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return false
	case reflect.String:
		return ""
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return 0
	case reflect.Float32, reflect.Float64:
		return 0.0
	}
	return nil
}

// addGVK records that definition name serves gvk.
func (b *schemaBuilder) addGVK(name string, gvk schema.GroupVersionKind) {
	for _, g := range b.gvks[name] {
		if g == gvk {
			return
		}
	}
	b.gvks[name] = append(b.gvks[name], gvk)
}

// finish stamps x-kubernetes-group-version-kind on the definitions, sorted
// by group, version and kind as upstream does.
func (b *schemaBuilder) finish() {
	for name, list := range b.gvks {
		s, ok := b.defs[name]
		if !ok {
			continue
		}
		sortGVKs(list)
		s.GVKs = make([]gvkJSON, 0, len(list))
		for _, g := range list {
			s.GVKs = append(s.GVKs, gvkJSON{Group: g.Group, Kind: g.Kind, Version: g.Version})
		}
	}
}

func sortGVKs(list []schema.GroupVersionKind) {
	slices.SortFunc(list, func(a, b schema.GroupVersionKind) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Version, b.Version), cmp.Compare(a.Kind, b.Kind))
	})
}

// refsOf adds to out the definition names s refers to, directly or through
// nested schemas.
func refsOf(s *jsonSchema, prefix string, out map[string]bool) {
	if s == nil {
		return
	}
	if s.Ref != "" {
		out[strings.TrimPrefix(s.Ref, prefix)] = true
	}
	refsOf(s.Items, prefix, out)
	refsOf(s.AdditionalProperties, prefix, out)
	for _, p := range s.Properties {
		refsOf(p, prefix, out)
	}
	for _, list := range [][]*jsonSchema{s.AllOf, s.OneOf} {
		for _, x := range list {
			refsOf(x, prefix, out)
		}
	}
}

// closure returns the definitions reachable from roots.
func (b *schemaBuilder) closure(roots map[string]bool) map[string]*jsonSchema {
	out := map[string]*jsonSchema{}
	queue := make([]string, 0, len(roots))
	for r := range roots {
		queue = append(queue, r)
	}
	for len(queue) > 0 {
		name := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if _, done := out[name]; done {
			continue
		}
		s, ok := b.defs[name]
		if !ok {
			continue
		}
		out[name] = s
		next := map[string]bool{}
		refsOf(s, b.refPrefix(), next)
		for n := range next {
			if _, done := out[n]; !done {
				queue = append(queue, n)
			}
		}
	}
	return out
}
