package apiextensions

import (
	"fmt"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kube-openapi/pkg/validation/errors"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"

	"skiff/internal/apiextensions/celrules"
)

// Schema is the compiled structural schema of one version of a custom
// resource: it validates, defaults and prunes objects.
type Schema struct {
	structural *structuralschema.Structural
	openAPI    *spec.Schema
	validator  *validate.SchemaValidator
	// rules are the compiled x-kubernetes-validations (nil when none);
	// rulesErr holds the errors of rules that do not compile.
	rules    *celrules.Validator
	rulesErr field.ErrorList
}

// internalProps converts a v1 schema to the internal form the structural
// schema helpers take.
func internalProps(in *apiextensionsv1.JSONSchemaProps) (*apiextensions.JSONSchemaProps, error) {
	out := &apiextensions.JSONSchemaProps{}
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(in, out, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// NewSchema compiles a version's openAPIV3Schema; it fails if the schema is
// not structural.
func NewSchema(props *apiextensionsv1.JSONSchemaProps) (*Schema, error) {
	if props == nil {
		return nil, fmt.Errorf("schema is required")
	}
	internal, err := internalProps(props)
	if err != nil {
		return nil, err
	}
	s, err := structuralschema.NewStructural(internal)
	if err != nil {
		return nil, err
	}
	if errs := structuralschema.ValidateStructural(field.NewPath("openAPIV3Schema"), s); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	o := s.ToKubeOpenAPI()
	out := &Schema{structural: s, openAPI: o, validator: validate.NewSchemaValidator(o, nil, "", strfmt.Default)}
	out.compileRules()
	return out, nil
}

// OpenAPI returns the schema in kube-openapi form (for the OpenAPI documents).
func (s *Schema) OpenAPI() *spec.Schema { return s.openAPI }

// Validate checks an object (as unstructured JSON) against the schema and
// returns upstream's field errors, e.g.
// `spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"`.
func (s *Schema) Validate(obj map[string]interface{}) field.ErrorList {
	if s == nil {
		return nil
	}
	res := s.validator.Validate(obj)
	var errs field.ErrorList
	for _, e := range res.Errors {
		errs = append(errs, toFieldError(e)...)
	}
	return errs
}

func toFieldError(err error) field.ErrorList {
	switch e := err.(type) {
	case *errors.Validation:
		path := fieldPath(e.Name)
		switch e.Code() {
		case errors.RequiredFailCode:
			return field.ErrorList{field.Required(path, "")}
		case errors.InvalidTypeCode:
			// Same text as Invalid; the type lets callers see the value is unusable.
			return field.ErrorList{field.TypeInvalid(path, e.Value, e.Error())}
		case errors.EnumFailCode:
			var values []string
			for _, v := range e.Values {
				values = append(values, fmt.Sprint(v))
			}
			return field.ErrorList{field.NotSupported(path, e.Value, values)}
		case errors.TooLongFailCode:
			if n, ok := e.Valid.(int64); ok {
				return field.ErrorList{field.TooLongMaxLength(path, e.Value, int(n))}
			}
		case errors.MaxItemsFailCode:
			if n, ok := e.Valid.(int64); ok {
				if items, ok := e.Value.([]interface{}); ok {
					return field.ErrorList{field.TooMany(path, len(items), int(n))}
				}
			}
		}
		return field.ErrorList{field.Invalid(path, e.Value, e.Error())}
	case *errors.CompositeError:
		var out field.ErrorList
		for _, inner := range e.Errors {
			out = append(out, toFieldError(inner)...)
		}
		return out
	}
	return field.ErrorList{field.Invalid(field.NewPath("<nil>"), nil, err.Error())}
}

// fieldPath turns a validator name ("spec.items[0].name") into a path.
func fieldPath(name string) *field.Path {
	name = strings.TrimPrefix(name, ".")
	if name == "" {
		return field.NewPath("<nil>")
	}
	return field.NewPath(name)
}

// Default fills in the schema's defaults where obj has no value (or null
// where null is not allowed), as upstream does on decode and on read.
func (s *Schema) Default(obj map[string]interface{}) {
	if s == nil {
		return
	}
	applyDefaults(obj, s.structural)
}

func applyDefaults(x interface{}, s *structuralschema.Structural) {
	if s == nil {
		return
	}
	switch x := x.(type) {
	case map[string]interface{}:
		for k, prop := range s.Properties {
			v, found := x[k]
			if prop.Default.Object != nil && (!found || (v == nil && !prop.Nullable)) {
				x[k] = runtime.DeepCopyJSONValue(prop.Default.Object)
			}
			if v, ok := x[k]; ok {
				applyDefaults(v, &prop)
			}
		}
		if s.AdditionalProperties != nil && s.AdditionalProperties.Structural != nil {
			for k, v := range x {
				if _, known := s.Properties[k]; !known {
					applyDefaults(v, s.AdditionalProperties.Structural)
				}
			}
		}
	case []interface{}:
		for i, v := range x {
			if v == nil && s.Items != nil && s.Items.Default.Object != nil && !s.Items.Nullable {
				x[i] = runtime.DeepCopyJSONValue(s.Items.Default.Object)
				v = x[i]
			}
			applyDefaults(v, s.Items)
		}
	}
}

// HasDefaults reports whether the schema defaults any field.
func (s *Schema) HasDefaults() bool {
	return s != nil && hasDefaults(s.structural)
}

func hasDefaults(s *structuralschema.Structural) bool {
	if s == nil {
		return false
	}
	if s.Default.Object != nil {
		return true
	}
	for k := range s.Properties {
		p := s.Properties[k]
		if hasDefaults(&p) {
			return true
		}
	}
	if s.AdditionalProperties != nil && hasDefaults(s.AdditionalProperties.Structural) {
		return true
	}
	return hasDefaults(s.Items)
}

// Prune drops the fields the schema does not specify, except where
// x-kubernetes-preserve-unknown-fields keeps them. apiVersion, kind and
// metadata at the root are always kept.
// It returns the paths of the dropped fields.
func (s *Schema) Prune(obj map[string]interface{}) []string {
	if s == nil {
		return nil
	}
	return pruning.PruneWithOptions(obj, s.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
}

// Property returns the sub-schema at a dotted path such as "spec.replicas";
// nil when the schema does not describe it.
func (s *Schema) Property(path string) *structuralschema.Structural {
	if s == nil {
		return nil
	}
	cur := s.structural
	for _, p := range strings.Split(strings.Trim(path, "."), ".") {
		next, ok := cur.Properties[p]
		if !ok {
			return nil
		}
		cur = &next
	}
	return cur
}

func newStructural(in *apiextensions.JSONSchemaProps) (*structuralschema.Structural, error) {
	return structuralschema.NewStructural(in)
}

func validateStructural(p *field.Path, s *structuralschema.Structural) field.ErrorList {
	return structuralschema.ValidateStructural(p, s)
}
