package celrules

import (
	"sort"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
)

// schemaTypes is the CEL type provider of one schema: every object node
// with properties is an object type whose fields are the (escaped)
// property names, so a misspelt field fails to compile, as upstream's.
// At run time objects are plain maps; field selection on them is map
// access. Everything else is answered by the environment's provider.
type schemaTypes struct {
	base    types.Provider
	objects map[string]*objectType
}

type objectType struct {
	t      *types.Type
	fields map[string]*types.Type
	names  []string
}

func newSchemaTypes(base types.Provider) *schemaTypes {
	return &schemaTypes{base: base, objects: map[string]*objectType{}}
}

// metadataType is what the root and embedded resources show of metadata.
func (p *schemaTypes) metadataType(name string) *types.Type {
	return p.object(name, map[string]*types.Type{"name": cel.StringType, "generateName": cel.StringType})
}

func (p *schemaTypes) object(name string, fields map[string]*types.Type) *types.Type {
	if o, ok := p.objects[name]; ok {
		return o.t
	}
	o := &objectType{t: types.NewObjectType(name), fields: fields}
	for k := range fields {
		o.names = append(o.names, k)
	}
	sort.Strings(o.names)
	p.objects[name] = o
	return o.t
}

// typeOf is the CEL type of the values at schema node s, named after its
// path (unique within the schema). embedded is true at the root.
func (p *schemaTypes) typeOf(s *structuralschema.Structural, path string, embedded bool) *cel.Type {
	if s == nil || s.XIntOrString {
		return cel.DynType
	}
	embedded = embedded || s.XEmbeddedResource
	switch s.Type {
	case "object":
		if len(s.Properties) == 0 {
			if s.AdditionalProperties != nil && s.AdditionalProperties.Structural != nil {
				return cel.MapType(cel.StringType, p.typeOf(s.AdditionalProperties.Structural, path+".@value", false))
			}
			if !embedded || s.XPreserveUnknownFields {
				return cel.MapType(cel.StringType, cel.DynType)
			}
		}
		fields := map[string]*types.Type{}
		for k := range s.Properties {
			name, ok := escapeName(k)
			if !ok {
				continue
			}
			prop := s.Properties[k]
			fields[name] = p.typeOf(&prop, path+"."+k, false)
		}
		if embedded {
			fields["apiVersion"], fields["kind"] = cel.StringType, cel.StringType
			fields["metadata"] = p.metadataType(path + ".metadata")
		}
		return p.object(path, fields)
	case "array":
		return cel.ListType(p.typeOf(s.Items, path+".@items", false))
	}
	return celType(s)
}

func (p *schemaTypes) EnumValue(name string) ref.Val { return p.base.EnumValue(name) }

func (p *schemaTypes) FindIdent(name string) (ref.Val, bool) { return p.base.FindIdent(name) }

func (p *schemaTypes) FindStructType(name string) (*types.Type, bool) {
	if o, ok := p.objects[name]; ok {
		return types.NewTypeTypeWithParam(o.t), true
	}
	return p.base.FindStructType(name)
}

func (p *schemaTypes) FindStructFieldNames(name string) ([]string, bool) {
	if o, ok := p.objects[name]; ok {
		return o.names, true
	}
	return p.base.FindStructFieldNames(name)
}

func (p *schemaTypes) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	if o, ok := p.objects[name]; ok {
		t, found := o.fields[field]
		if !found {
			return nil, false
		}
		// No getters: at run time the object is a map and the field a key.
		return &types.FieldType{Type: t}, true
	}
	return p.base.FindStructFieldType(name, field)
}

func (p *schemaTypes) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if _, ok := p.objects[name]; ok {
		return types.NewErr("cannot construct %s", name)
	}
	return p.base.NewValue(name, fields)
}
