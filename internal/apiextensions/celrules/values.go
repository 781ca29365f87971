package celrules

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
)

// celReserved are the CEL keywords a property name is escaped from, as
// __{keyword}__.
var celReserved = map[string]bool{
	"true": true, "false": true, "null": true, "in": true, "as": true, "break": true, "const": true, "continue": true,
	"else": true, "for": true, "function": true, "if": true, "import": true, "let": true, "loop": true, "package": true,
	"namespace": true, "return": true, "var": true, "void": true, "while": true,
}

var escapableName = regexp.MustCompile(`^[a-zA-Z_.\-/][a-zA-Z0-9_.\-/]*$`)

// escapeName returns the name a schema property has in CEL: '__' becomes
// '__underscores__', '.' '__dot__', '-' '__dash__', '/' '__slash__', and CEL
// keywords '__{keyword}__'. ok is false when the name cannot be accessed
// from CEL at all.
func escapeName(name string) (string, bool) {
	if celReserved[name] {
		return "__" + name + "__", true
	}
	if !escapableName.MatchString(name) {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '_' && i+1 < len(name) && name[i+1] == '_':
			b.WriteString("__underscores__")
			i++
		case c == '.':
			b.WriteString("__dot__")
		case c == '-':
			b.WriteString("__dash__")
		case c == '/':
			b.WriteString("__slash__")
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// celType is the CEL type of a scalar schema node's values (objects and
// lists are typed by schemaTypes.typeOf).
func celType(s *structuralschema.Structural) *cel.Type {
	if s == nil || s.XIntOrString {
		return cel.DynType
	}
	switch s.Type {
	case "string":
		switch format(s) {
		case "date-time", "datetime", "date":
			return cel.TimestampType
		case "duration":
			return cel.DurationType
		case "byte":
			return cel.BytesType
		}
		return cel.StringType
	case "integer":
		return cel.IntType
	case "number":
		return cel.DoubleType
	case "boolean":
		return cel.BoolType
	}
	return cel.DynType
}

func format(s *structuralschema.Structural) string {
	if s.ValueValidation == nil {
		return ""
	}
	return s.ValueValidation.Format
}

// toNative converts an unstructured JSON value to the Go value CEL sees at
// schema s: numbers follow the schema's type, formatted strings become
// timestamps, durations or bytes, and object properties take their escaped
// names. embedded is true at the root and at embedded resources, where only
// apiVersion, kind, metadata.name and metadata.generateName of the object
// metadata are visible.
func toNative(v interface{}, s *structuralschema.Structural, embedded bool) interface{} {
	if v == nil {
		return nil
	}
	if s == nil || s.XIntOrString {
		return plain(v)
	}
	switch s.Type {
	case "object":
		m, ok := v.(map[string]interface{})
		if !ok {
			return plain(v)
		}
		out := make(map[string]interface{}, len(m))
		switch {
		case len(s.Properties) > 0:
			for k, p := range s.Properties {
				x, found := m[k]
				if !found {
					continue
				}
				name, ok := escapeName(k)
				if !ok {
					continue
				}
				p := p
				out[name] = toNative(x, &p, p.XEmbeddedResource)
			}
		case s.AdditionalProperties != nil && s.AdditionalProperties.Structural != nil:
			for k, x := range m {
				out[k] = toNative(x, s.AdditionalProperties.Structural, false)
			}
		case s.XPreserveUnknownFields || (s.AdditionalProperties != nil && s.AdditionalProperties.Bool):
			for k, x := range m {
				out[k] = plain(x)
			}
		}
		if embedded || s.XEmbeddedResource {
			for _, k := range []string{"apiVersion", "kind"} {
				if x, ok := m[k].(string); ok {
					out[k] = x
				}
			}
			if md, ok := m["metadata"].(map[string]interface{}); ok {
				meta := map[string]interface{}{}
				for _, k := range []string{"name", "generateName"} {
					if x, ok := md[k].(string); ok {
						meta[k] = x
					}
				}
				out["metadata"] = meta
			}
		}
		return out
	case "array":
		l, ok := v.([]interface{})
		if !ok {
			return plain(v)
		}
		out := make([]interface{}, len(l))
		for i, x := range l {
			out[i] = toNative(x, s.Items, s.Items != nil && s.Items.XEmbeddedResource)
		}
		if s.XListType != nil && (*s.XListType == "set" || *s.XListType == "map") {
			return newUnorderedList(out, *s.XListType == "map", s.XListMapKeys)
		}
		return out
	case "number":
		if f, ok := toFloat(v); ok {
			return f
		}
	case "integer":
		if n, ok := toInt(v); ok {
			return n
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return plain(v)
		}
		switch format(s) {
		case "date-time", "datetime":
			if t, err := strfmt.ParseDateTime(str); err == nil {
				return time.Time(t)
			}
		case "date":
			if t, err := time.Parse(strfmt.RFC3339FullDate, str); err == nil {
				return t
			}
		case "duration":
			if d, err := strfmt.ParseDuration(str); err == nil {
				return d
			}
		case "byte":
			if b, err := base64.StdEncoding.DecodeString(str); err == nil {
				return b
			}
		}
		return str
	}
	return plain(v)
}

// plain converts a value without schema: integers to int64, other numbers
// to float64, recursively.
func plain(v interface{}) interface{} {
	switch x := v.(type) {
	case map[string]interface{}:
		out := make(map[string]interface{}, len(x))
		for k, e := range x {
			out[k] = plain(e)
		}
		return out
	case []interface{}:
		out := make([]interface{}, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	case string, bool, int64, float64, nil:
		return x
	}
	if n, ok := toInt(v); ok {
		return n
	}
	if f, ok := toFloat(v); ok {
		return f
	}
	return v
}

func toInt(v interface{}) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case float64:
		if x == math.Trunc(x) && x >= math.MinInt64 && x < math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

func toFloat(v interface{}) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case int32:
		return float64(x), true
	}
	return 0, false
}

// unorderedList is a list with x-kubernetes-list-type set or map: as
// upstream's, its equality ignores order (sets compare as sets, map lists
// match elements by their keys).
type unorderedList struct {
	traits.Lister
	items  []interface{}
	isMap  bool
	keys   []string
	canons []string // canonical form of each item (set) or of its keys (map)
}

func newUnorderedList(items []interface{}, isMap bool, keys []string) *unorderedList {
	l := &unorderedList{Lister: types.DefaultTypeAdapter.NativeToValue(items).(traits.Lister), items: items, isMap: isMap, keys: keys}
	l.canons = make([]string, len(items))
	for i, it := range items {
		l.canons[i] = l.canonOf(it)
	}
	return l
}

// canonical is a comparable form of a converted value.
func canonical(v interface{}) string {
	b, err := json.Marshal(jsonable(v))
	if err != nil {
		return fmt.Sprintf("%v", err)
	}
	return string(b)
}

// jsonable replaces what JSON cannot always encode (times outside years
// 0-9999) and unorderedLists by their content.
func jsonable(v interface{}) interface{} {
	switch x := v.(type) {
	case map[string]interface{}:
		out := make(map[string]interface{}, len(x))
		for k, e := range x {
			out[k] = jsonable(e)
		}
		return out
	case []interface{}:
		out := make([]interface{}, len(x))
		for i, e := range x {
			out[i] = jsonable(e)
		}
		return out
	case *unorderedList:
		return jsonable(x.items)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return v
}

// Add implements traits.Adder with upstream's semantics for these lists:
// a set keeps each element once (the right side's new elements follow the
// left's), and a map list merges by key (a right element takes the place
// of the left one with the same keys; new keys are appended).
func (l *unorderedList) Add(other ref.Val) ref.Val {
	right, ok := other.(traits.Lister)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	items := append([]interface{}(nil), l.items...)
	at := make(map[string]int, len(items))
	for i, c := range l.canons {
		if _, seen := at[c]; !seen {
			at[c] = i
		}
	}
	for it := right.Iterator(); it.HasNext() == types.True; {
		item := nativeOf(it.Next())
		c := l.canonOf(item)
		if i, seen := at[c]; seen {
			if l.isMap {
				items[i] = item
			}
			continue
		}
		at[c] = len(items)
		items = append(items, item)
	}
	return newUnorderedList(items, l.isMap, l.keys)
}

// canonOf is the comparable form of an item: the item of a set, the keys
// of a map list's item.
func (l *unorderedList) canonOf(item interface{}) string {
	if !l.isMap {
		return canonical(item)
	}
	m, _ := item.(map[string]interface{})
	kv := make([]interface{}, len(l.keys))
	for j, k := range l.keys {
		kv[j] = m[k]
	}
	return canonical(kv)
}

// nativeOf is the Go value of a CEL value as this package holds values:
// maps with string keys and slices, recursively.
func nativeOf(v ref.Val) interface{} {
	switch x := v.Value().(type) {
	case map[ref.Val]ref.Val:
		out := make(map[string]interface{}, len(x))
		for k, e := range x {
			if ks, ok := k.Value().(string); ok {
				out[ks] = nativeOf(e)
			}
		}
		return out
	case []ref.Val:
		out := make([]interface{}, len(x))
		for i, e := range x {
			out[i] = nativeOf(e)
		}
		return out
	}
	return v.Value()
}

// Equal implements ref.Val: against any list, as upstream's, a set
// compares as a set and a map list by keys.
func (l *unorderedList) Equal(other ref.Val) ref.Val {
	o, ok := other.(*unorderedList)
	if !ok || o.isMap != l.isMap {
		right, ok := other.(traits.Lister)
		if !ok {
			return types.MaybeNoSuchOverloadErr(other)
		}
		var items []interface{}
		for it := right.Iterator(); it.HasNext() == types.True; {
			items = append(items, nativeOf(it.Next()))
		}
		o = newUnorderedList(items, l.isMap, l.keys)
	}
	if len(o.items) != len(l.items) {
		return types.False
	}
	index := make(map[string][]int, len(o.items))
	for j, c := range o.canons {
		index[c] = append(index[c], j)
	}
	for i, c := range l.canons {
		js := index[c]
		if len(js) == 0 {
			return types.False
		}
		j := js[0]
		index[c] = js[1:]
		if l.isMap && types.Equal(l.Get(types.Int(i)), o.Get(types.Int(j))) != types.True {
			return types.False
		}
	}
	return types.True
}
