package validation

import (
	"strings"

	"k8s.io/apimachinery/pkg/api/validate/content"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// nameFunc checks an object name; prefix is true when the value is a
// generateName prefix that will get random characters appended.
type nameFunc = apimachineryvalidation.ValidateNameFunc

var (
	nameIsDNSSubdomain = apimachineryvalidation.NameIsDNSSubdomain
	nameIsDNSLabel     = apimachineryvalidation.NameIsDNSLabel
)

// nameIsPathSegment is the loosest rule: the name only has to be usable as a
// URL path segment. RBAC objects and unknown kinds use it.
func nameIsPathSegment(name string, prefix bool) []string {
	if prefix {
		return content.IsPathSegmentPrefix(name)
	}
	return content.IsPathSegmentName(name)
}

var metadataPath = field.NewPath("metadata")

// standardFinalizers are the unqualified finalizer names the system uses;
// every other finalizer must be domain-qualified.
var standardFinalizers = map[string]bool{
	"kubernetes":                     true,
	metav1.FinalizerOrphanDependents: true,
	metav1.FinalizerDeleteDependents: true,
}

// validateMeta checks the metadata of an object being created. namespaced
// says whether the kind lives in a namespace (then it is required) or at
// cluster scope (then it is forbidden).
func validateMeta(m metav1.Object, namespaced bool, nameFn nameFunc) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaAccessor(m, namespaced, nameFn, metadataPath)
	allErrs = append(allErrs, validateKubeFinalizers(m.GetFinalizers(), metadataPath.Child("finalizers"))...)
	return allErrs
}

// validateMetaUpdate checks the metadata of an updated object: identity
// fields are immutable, labels and annotations must stay well formed.
func validateMetaUpdate(newMeta, oldMeta metav1.Object) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaAccessorUpdate(newMeta, oldMeta, metadataPath)
	allErrs = append(allErrs, validateKubeFinalizers(newMeta.GetFinalizers(), metadataPath.Child("finalizers"))...)
	return allErrs
}

func validateKubeFinalizers(finalizers []string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i, f := range finalizers {
		allErrs = append(allErrs, validateKubeFinalizerName(f, fldPath.Index(i))...)
	}
	return allErrs
}

func validateKubeFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	if strings.Contains(name, "/") || standardFinalizers[name] {
		return nil
	}
	return field.ErrorList{field.Invalid(fldPath, name, "name is neither a standard finalizer name nor is it fully qualified")}
}

// validateTemplateMeta checks the metadata embedded in a template (pod
// template, job template): only labels and annotations matter there.
func validateTemplateMeta(m *metav1.ObjectMeta, fldPath *field.Path) field.ErrorList {
	allErrs := metav1validation.ValidateLabels(m.Labels, fldPath.Child("labels"))
	allErrs = append(allErrs, apimachineryvalidation.ValidateAnnotations(m.Annotations, fldPath.Child("annotations"))...)
	return allErrs
}

// validateImmutable reports fldPath as "field is immutable" when the value
// changed (semantic equality, so equal quantities written differently pass).
func validateImmutable(newVal, oldVal interface{}, fldPath *field.Path) field.ErrorList {
	return apimachineryvalidation.ValidateImmutableField(newVal, oldVal, fldPath)
}
