// Package apiextensions serves CustomResourceDefinitions
// (apiextensions.k8s.io/v1) and the custom resources they define: CRD
// validation and status, structural-schema validation, defaulting and
// pruning of custom objects, their table columns, scale and selectable
// fields, their OpenAPI, and the cleanup of a deleted CRD's objects.
package apiextensions

import (
	"fmt"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"sort"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/registry"
)

// CleanupFinalizer is the finalizer a CRD carries while its objects are
// being deleted.
const CleanupFinalizer = "customresourcecleanup.apiextensions.k8s.io"

func init() {
	registry.CRDResource.Strategy = &registry.Strategy{
		Default: func(obj runtime.Object) {
			if crd, ok := obj.(*apiextensionsv1.CustomResourceDefinition); ok {
				registry.Scheme.Default(crd)
			}
		},
		Validate: func(obj, old runtime.Object) field.ErrorList {
			crd, ok := obj.(*apiextensionsv1.CustomResourceDefinition)
			if !ok {
				return nil
			}
			oldCRD, _ := old.(*apiextensionsv1.CustomResourceDefinition)
			return ValidateCRD(crd, oldCRD)
		},
		ValidateStatus: func(obj, old runtime.Object) field.ErrorList {
			crd, ok := obj.(*apiextensionsv1.CustomResourceDefinition)
			if !ok {
				return nil
			}
			return validateStatus(crd)
		},
		PrepareForDelete: func(obj runtime.Object) {
			crd, ok := obj.(*apiextensionsv1.CustomResourceDefinition)
			if !ok {
				return
			}
			if !hasFinalizer(crd.Finalizers, CleanupFinalizer) {
				crd.Finalizers = append(crd.Finalizers, CleanupFinalizer)
			}
			setCondition(crd, apiextensionsv1.CustomResourceDefinitionCondition{Type: apiextensionsv1.Terminating, Status: apiextensionsv1.ConditionTrue,
				Reason: "InstanceDeletionPending", Message: "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon"})
		},
		Columns: []metav1.TableColumnDefinition{
			{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
			{Name: "Created At", Type: "date", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
		},
		Row: func(obj runtime.Object, _ time.Time) ([]interface{}, error) {
			crd, ok := obj.(*apiextensionsv1.CustomResourceDefinition)
			if !ok {
				return nil, fmt.Errorf("not a CustomResourceDefinition: %T", obj)
			}
			return []interface{}{crd.Name, crd.CreationTimestamp.UTC().Format(time.RFC3339)}, nil
		},
	}
}

func hasFinalizer(list []string, f string) bool {
	for _, x := range list {
		if x == f {
			return true
		}
	}
	return false
}

// setCondition sets or replaces a condition, keeping its transition time
// when the status does not change.
func setCondition(crd *apiextensionsv1.CustomResourceDefinition, c apiextensionsv1.CustomResourceDefinitionCondition) {
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	for i := range crd.Status.Conditions {
		existing := &crd.Status.Conditions[i]
		if existing.Type != c.Type {
			continue
		}
		if existing.Status != c.Status {
			existing.Status = c.Status
			existing.LastTransitionTime = now
		}
		existing.Reason, existing.Message = c.Reason, c.Message
		return
	}
	c.LastTransitionTime = now
	crd.Status.Conditions = append(crd.Status.Conditions, c)
}

func findCondition(crd *apiextensionsv1.CustomResourceDefinition, t apiextensionsv1.CustomResourceDefinitionConditionType) *apiextensionsv1.CustomResourceDefinitionCondition {
	for i := range crd.Status.Conditions {
		if crd.Status.Conditions[i].Type == t {
			return &crd.Status.Conditions[i]
		}
	}
	return nil
}

func conditionTrue(crd *apiextensionsv1.CustomResourceDefinition, t apiextensionsv1.CustomResourceDefinitionConditionType) bool {
	c := findCondition(crd, t)
	return c != nil && c.Status == apiextensionsv1.ConditionTrue
}

// storageVersion returns the name of the version marked storage.
func storageVersion(crd *apiextensionsv1.CustomResourceDefinition) string {
	for _, v := range crd.Spec.Versions {
		if v.Storage {
			return v.Name
		}
	}
	return ""
}

var printerColumnTypes = []string{"integer", "number", "string", "boolean", "date"}

// sameSchema reports whether old (nil on create) has version v with the
// same schema.
func sameSchema(old *apiextensionsv1.CustomResourceDefinition, v apiextensionsv1.CustomResourceDefinitionVersion) bool {
	if old == nil {
		return false
	}
	for _, ov := range old.Spec.Versions {
		if ov.Name == v.Name {
			return apiequality.Semantic.DeepEqual(ov.Schema, v.Schema)
		}
	}
	return false
}

// ValidateCRD checks a CustomResourceDefinition as upstream does for the
// parts that matter here; old is nil on create.
func ValidateCRD(crd, old *apiextensionsv1.CustomResourceDefinition) field.ErrorList {
	var errs field.ErrorList
	specPath := field.NewPath("spec")
	spec := &crd.Spec
	if want := spec.Names.Plural + "." + spec.Group; crd.Name != want {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), crd.Name, `must be spec.names.plural+"."+spec.group`))
	}
	if spec.Group == "" {
		errs = append(errs, field.Required(specPath.Child("group"), ""))
	} else {
		if msgs := utilvalidation.IsDNS1123Subdomain(spec.Group); len(msgs) > 0 {
			errs = append(errs, field.Invalid(specPath.Child("group"), spec.Group, strings.Join(msgs, ",")))
		}
		if len(strings.Split(spec.Group, ".")) < 2 {
			errs = append(errs, field.Invalid(specPath.Child("group"), spec.Group, "should be a domain with at least one dot"))
		}
	}
	switch spec.Scope {
	case "":
		errs = append(errs, field.Required(specPath.Child("scope"), ""))
	case apiextensionsv1.ClusterScoped, apiextensionsv1.NamespaceScoped:
	default:
		errs = append(errs, field.NotSupported(specPath.Child("scope"), spec.Scope, []string{string(apiextensionsv1.ClusterScoped), string(apiextensionsv1.NamespaceScoped)}))
	}
	errs = append(errs, validateNames(&spec.Names, specPath.Child("names"))...)

	versionsPath := specPath.Child("versions")
	if len(spec.Versions) == 0 {
		errs = append(errs, field.Invalid(versionsPath, spec.Versions, "must have exactly one version marked as storage version"))
	}
	storage := 0
	seen := sets.New[string]()
	for i, v := range spec.Versions {
		vp := versionsPath.Index(i)
		if v.Storage {
			storage++
		}
		if seen.Has(v.Name) {
			errs = append(errs, field.Invalid(versionsPath, spec.Versions, "must contain unique version names"))
		}
		seen.Insert(v.Name)
		if msgs := utilvalidation.IsDNS1035Label(v.Name); len(msgs) > 0 {
			errs = append(errs, field.Invalid(vp.Child("name"), v.Name, strings.Join(msgs, ",")))
		}
		if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			errs = append(errs, field.Required(vp.Child("schema", "openAPIV3Schema"), "schemas are required"))
		} else {
			schemaErrs := validateSchema(v.Schema.OpenAPIV3Schema, vp.Child("schema", "openAPIV3Schema"))
			errs = append(errs, schemaErrs...)
			// As upstream, rules are compiled only on a valid schema.
			if rp, report := validationRulesPath(spec, i); report && len(schemaErrs) == 0 {
				errs = append(errs, validateRules(v.Schema.OpenAPIV3Schema, rp, sameSchema(old, v))...)
			}
		}
		for j, c := range v.AdditionalPrinterColumns {
			cp := vp.Child("additionalPrinterColumns").Index(j)
			if c.Name == "" {
				errs = append(errs, field.Required(cp.Child("name"), ""))
			}
			if c.Type == "" {
				errs = append(errs, field.Required(cp.Child("type"), fmt.Sprintf("must be one of %s", strings.Join(printerColumnTypes, ","))))
			} else if !sets.New(printerColumnTypes...).Has(c.Type) {
				errs = append(errs, field.NotSupported(cp.Child("type"), c.Type, printerColumnTypes))
			}
			if c.JSONPath == "" {
				errs = append(errs, field.Required(cp.Child("JSONPath"), ""))
			}
		}
		if sub := v.Subresources; sub != nil && sub.Scale != nil {
			sp := vp.Child("subresources", "scale")
			if !strings.HasPrefix(sub.Scale.SpecReplicasPath, ".spec.") {
				errs = append(errs, field.Invalid(sp.Child("specReplicasPath"), sub.Scale.SpecReplicasPath, "should be a json path under .spec"))
			}
			if !strings.HasPrefix(sub.Scale.StatusReplicasPath, ".status.") {
				errs = append(errs, field.Invalid(sp.Child("statusReplicasPath"), sub.Scale.StatusReplicasPath, "should be a json path under .status"))
			}
			if p := sub.Scale.LabelSelectorPath; p != nil && !strings.HasPrefix(*p, ".spec.") && !strings.HasPrefix(*p, ".status.") {
				errs = append(errs, field.Invalid(sp.Child("labelSelectorPath"), *p, "should be a json path under either .spec or .status"))
			}
		}
		if len(v.SelectableFields) > 8 {
			errs = append(errs, field.TooMany(vp.Child("selectableFields"), len(v.SelectableFields), 8))
		}
		for j, f := range v.SelectableFields {
			if f.JSONPath == "" {
				errs = append(errs, field.Required(vp.Child("selectableFields").Index(j).Child("jsonPath"), ""))
			}
		}
	}
	if len(spec.Versions) > 0 && storage != 1 {
		errs = append(errs, field.Invalid(versionsPath, spec.Versions, "must have exactly one version marked as storage version"))
	}
	errs = append(errs, validateConversion(spec.Conversion, old, specPath.Child("conversion"))...)
	if old != nil {
		if spec.Scope != old.Spec.Scope {
			errs = append(errs, field.Invalid(specPath.Child("scope"), spec.Scope, "field is immutable"))
		}
		if spec.Group != old.Spec.Group {
			errs = append(errs, field.Invalid(specPath.Child("group"), spec.Group, "field is immutable"))
		}
		// Versions still in storage may not be dropped.
		for i, v := range old.Status.StoredVersions {
			found := false
			for _, sv := range spec.Versions {
				found = found || sv.Name == v
			}
			if !found {
				errs = append(errs, field.Invalid(field.NewPath("status", "storedVersions").Index(i), v, "must appear in spec.versions"))
			}
		}
	}
	return errs
}

func validateNames(n *apiextensionsv1.CustomResourceDefinitionNames, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if n.Plural == "" {
		errs = append(errs, field.Required(p.Child("plural"), ""))
	} else if msgs := utilvalidation.IsDNS1035Label(n.Plural); len(msgs) > 0 {
		errs = append(errs, field.Invalid(p.Child("plural"), n.Plural, strings.Join(msgs, ",")))
	}
	if n.Singular != "" {
		if msgs := utilvalidation.IsDNS1035Label(n.Singular); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child("singular"), n.Singular, strings.Join(msgs, ",")))
		}
	}
	if n.Kind == "" {
		errs = append(errs, field.Required(p.Child("kind"), ""))
	} else if msgs := utilvalidation.IsDNS1035Label(strings.ToLower(n.Kind)); len(msgs) > 0 {
		errs = append(errs, field.Invalid(p.Child("kind"), n.Kind, "may have mixed case, but should otherwise match: "+strings.Join(msgs, ",")))
	}
	switch n.ListKind {
	case "":
		errs = append(errs, field.Required(p.Child("listKind"), ""))
	case n.Kind:
		errs = append(errs, field.Invalid(p.Child("listKind"), n.ListKind, "kind and listKind may not be the same"))
	}
	for i, s := range n.ShortNames {
		if msgs := utilvalidation.IsDNS1035Label(s); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child("shortNames").Index(i), s, strings.Join(msgs, ",")))
		}
	}
	for i, c := range n.Categories {
		if msgs := utilvalidation.IsDNS1035Label(c); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child("categories").Index(i), c, strings.Join(msgs, ",")))
		}
	}
	return errs
}

// validateSchema checks that a version schema is structural (type
// everywhere, no additionalProperties together with properties, ...).
func validateSchema(props *apiextensionsv1.JSONSchemaProps, p *field.Path) field.ErrorList {
	internal, err := internalProps(props)
	if err != nil {
		return field.ErrorList{field.Invalid(p, "", err.Error())}
	}
	errs := validateProps(props, p)
	s, err := newStructural(internal)
	if err != nil {
		return append(errs, field.Invalid(p, "", err.Error()))
	}
	errs = append(errs, validateStructural(p, s)...)
	if props.Type != "object" {
		errs = append(errs, field.Invalid(p.Child("type"), props.Type, "must be object at the root"))
	}
	return errs
}

func validateStatus(crd *apiextensionsv1.CustomResourceDefinition) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("status", "storedVersions")
	for i, v := range crd.Status.StoredVersions {
		found := false
		for _, sv := range crd.Spec.Versions {
			if sv.Name == v {
				found = true
			}
		}
		if !found {
			errs = append(errs, field.Invalid(p.Index(i), v, "must appear in spec.versions"))
		}
	}
	return errs
}

// validateProps checks the rules of a schema the structural checks leave
// out, at every level.
func validateProps(props *apiextensionsv1.JSONSchemaProps, p *field.Path) field.ErrorList {
	if props == nil {
		return nil
	}
	var errs field.ErrorList
	if props.AdditionalProperties != nil && len(props.Properties) > 0 {
		errs = append(errs, field.Forbidden(p.Child("additionalProperties"), "additionalProperties and properties are mutual exclusive"))
	}
	if props.AdditionalProperties != nil && props.XPreserveUnknownFields != nil && *props.XPreserveUnknownFields && props.AdditionalProperties.Schema != nil {
		errs = append(errs, field.Forbidden(p.Child("additionalProperties"), "must not be used if x-kubernetes-preserve-unknown-fields is true"))
	}
	if props.Type == "array" && props.Items == nil {
		errs = append(errs, field.Required(p.Child("items"), "must be specified"))
	}
	names := make([]string, 0, len(props.Properties))
	for k := range props.Properties {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := props.Properties[k]
		errs = append(errs, validateProps(&v, p.Child("properties").Key(k))...)
	}
	if props.Items != nil && props.Items.Schema != nil {
		errs = append(errs, validateProps(props.Items.Schema, p.Child("items"))...)
	}
	if props.AdditionalProperties != nil && props.AdditionalProperties.Schema != nil {
		errs = append(errs, validateProps(props.AdditionalProperties.Schema, p.Child("additionalProperties"))...)
	}
	return errs
}
