package apiextensions

import (
	"context"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/apiextensions/celrules"
)

// validationRulesPath is where the x-kubernetes-validations errors of
// version i are reported. As upstream (whose internal form keeps one
// top-level schema when every version has the same), that is
// spec.validation.openAPIV3Schema when all versions share one schema, and
// spec.versions[i].schema.openAPIV3Schema otherwise. report is false for
// the versions after the first when they share it (one report suffices).
func validationRulesPath(spec *apiextensionsv1.CustomResourceDefinitionSpec, i int) (p *field.Path, report bool) {
	same := len(spec.Versions) > 0
	for j := range spec.Versions {
		if spec.Versions[j].Schema == nil || !equality.Semantic.DeepEqual(spec.Versions[j].Schema, spec.Versions[0].Schema) {
			same = false
			break
		}
	}
	if same {
		return field.NewPath("spec", "validation", "openAPIV3Schema"), i == 0
	}
	return field.NewPath("spec", "versions").Index(i).Child("schema", "openAPIV3Schema"), true
}

// validateRules compiles a (structurally valid) schema's validation rules
// and returns the errors of the rules that do not compile or cost too much
// (a schema unchanged by an update keeps expressions over the
// per-expression limit, as upstream allows).
func validateRules(props *apiextensionsv1.JSONSchemaProps, p *field.Path, unchanged bool) field.ErrorList {
	internal, err := internalProps(props)
	if err != nil {
		return nil // reported by validateSchema
	}
	s, err := newStructural(internal)
	if err != nil {
		return nil
	}
	limits := celrules.AllCostLimits
	if unchanged {
		limits = celrules.TotalCostLimit
	}
	_, errs := celrules.Compile(s, p, limits)
	return errs
}

// compileRules compiles the validation rules of a schema for serving; a
// CRD stored before its rules were checked may still carry a broken rule,
// reported on every write of its objects.
func (s *Schema) compileRules() {
	v, errs := celrules.Compile(s.structural, field.NewPath("openAPIV3Schema"), celrules.NoCostLimits)
	s.rules, s.rulesErr = v, errs
}

// HasRules reports whether the schema has x-kubernetes-validations rules.
func (s *Schema) HasRules() bool {
	return s != nil && (s.rules != nil || len(s.rulesErr) > 0)
}

// ValidateRules evaluates the schema's x-kubernetes-validations rules on a
// custom object; old is the stored object on update, nil on create.
func (s *Schema) ValidateRules(ctx context.Context, obj, old map[string]interface{}) field.ErrorList {
	if s == nil {
		return nil
	}
	if len(s.rulesErr) > 0 {
		return field.ErrorList{field.Invalid(nil, "object", "rule compile error: "+s.rulesErr.ToAggregate().Error())}
	}
	return s.rules.Validate(ctx, obj, old)
}

// blocksRules reports whether schema errors keep the rules from running,
// as upstream's: values of the wrong type or missing would only make the
// rules fail confusingly.
func blocksRules(errs field.ErrorList) *field.Error {
	for _, e := range errs {
		switch e.Type {
		case field.ErrorTypeNotSupported, field.ErrorTypeRequired, field.ErrorTypeTooLong, field.ErrorTypeTooMany, field.ErrorTypeTypeInvalid:
			return field.Invalid(nil, nil, "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation")
		}
	}
	return nil
}
