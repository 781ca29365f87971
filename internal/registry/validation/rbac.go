package validation

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// RBAC object names only need to be usable in a URL: users name roles after
// things like "system:controller:foo".

func validateRole(r *rbacv1.Role) field.ErrorList {
	allErrs := validateMeta(r, true, nameIsPathSegment)
	return append(allErrs, validatePolicyRules(r.Rules, true, field.NewPath("rules"))...)
}

func validateClusterRole(r *rbacv1.ClusterRole) field.ErrorList {
	allErrs := validateMeta(r, false, nameIsPathSegment)
	return append(allErrs, validateClusterRoleBody(r)...)
}

func validateClusterRoleBody(r *rbacv1.ClusterRole) field.ErrorList {
	allErrs := validatePolicyRules(r.Rules, false, field.NewPath("rules"))
	if ar := r.AggregationRule; ar != nil {
		p := field.NewPath("aggregationRule", "clusterRoleSelectors")
		if len(ar.ClusterRoleSelectors) == 0 {
			allErrs = append(allErrs, field.Required(p, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
		}
		for i := range ar.ClusterRoleSelectors {
			allErrs = append(allErrs, validateLabelSelector(&ar.ClusterRoleSelectors[i], p.Index(i))...)
		}
	}
	return allErrs
}

func validatePolicyRules(rules []rbacv1.PolicyRule, namespaced bool, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i, rule := range rules {
		allErrs = append(allErrs, validatePolicyRule(rule, namespaced, fldPath.Index(i))...)
	}
	return allErrs
}

func validatePolicyRule(rule rbacv1.PolicyRule, namespaced bool, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(rule.Verbs) == 0 {
		allErrs = append(allErrs, field.Required(p.Child("verbs"), "verbs must contain at least one value"))
	}
	if len(rule.NonResourceURLs) > 0 {
		// Non-resource URLs are not namespaced, and a rule is one or the other.
		if namespaced {
			allErrs = append(allErrs, field.Invalid(p.Child("nonResourceURLs"), rule.NonResourceURLs, "namespaced rules cannot apply to non-resource URLs"))
		}
		if len(rule.APIGroups) > 0 || len(rule.Resources) > 0 || len(rule.ResourceNames) > 0 {
			allErrs = append(allErrs, field.Invalid(p.Child("nonResourceURLs"), rule.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
		}
		return allErrs
	}
	if len(rule.APIGroups) == 0 {
		allErrs = append(allErrs, field.Required(p.Child("apiGroups"), "resource rules must supply at least one api group"))
	}
	if len(rule.Resources) == 0 {
		allErrs = append(allErrs, field.Required(p.Child("resources"), "resource rules must supply at least one resource"))
	}
	return allErrs
}

func validateRoleRef(ref rbacv1.RoleRef, kinds []string, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if ref.APIGroup != rbacv1.GroupName {
		allErrs = append(allErrs, field.NotSupported(p.Child("apiGroup"), ref.APIGroup, []string{rbacv1.GroupName}))
	}
	allErrs = append(allErrs, enumCheckNotSupported(ref.Kind, kinds, p.Child("kind"))...)
	if ref.Name == "" {
		allErrs = append(allErrs, field.Required(p.Child("name"), ""))
	} else {
		allErrs = append(allErrs, validateName(nameIsPathSegment, ref.Name, p.Child("name"))...)
	}
	return allErrs
}

func validateSubject(s rbacv1.Subject, namespaced bool, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if s.Name == "" {
		allErrs = append(allErrs, field.Required(p.Child("name"), ""))
	}
	switch s.Kind {
	case rbacv1.ServiceAccountKind:
		if s.Name != "" {
			allErrs = append(allErrs, validateName(nameIsDNSSubdomain, s.Name, p.Child("name"))...)
		}
		if s.APIGroup != "" {
			allErrs = append(allErrs, field.NotSupported(p.Child("apiGroup"), s.APIGroup, []string{""}))
		}
		// A cluster-wide binding cannot infer the account's namespace.
		if !namespaced && s.Namespace == "" {
			allErrs = append(allErrs, field.Required(p.Child("namespace"), ""))
		}
	case rbacv1.UserKind, rbacv1.GroupKind:
		if s.APIGroup != rbacv1.GroupName {
			allErrs = append(allErrs, field.NotSupported(p.Child("apiGroup"), s.APIGroup, []string{rbacv1.GroupName}))
		}
	default:
		allErrs = append(allErrs, field.NotSupported(p.Child("kind"), s.Kind, []string{rbacv1.ServiceAccountKind, rbacv1.UserKind, rbacv1.GroupKind}))
	}
	return allErrs
}

func validateSubjects(subjects []rbacv1.Subject, namespaced bool) field.ErrorList {
	var allErrs field.ErrorList
	p := field.NewPath("subjects")
	for i, s := range subjects {
		allErrs = append(allErrs, validateSubject(s, namespaced, p.Index(i))...)
	}
	return allErrs
}

func validateRoleBinding(rb *rbacv1.RoleBinding) field.ErrorList {
	allErrs := validateMeta(rb, true, nameIsPathSegment)
	allErrs = append(allErrs, validateRoleRef(rb.RoleRef, []string{"ClusterRole", "Role"}, field.NewPath("roleRef"))...)
	return append(allErrs, validateSubjects(rb.Subjects, true)...)
}

func validateClusterRoleBinding(rb *rbacv1.ClusterRoleBinding) field.ErrorList {
	allErrs := validateMeta(rb, false, nameIsPathSegment)
	allErrs = append(allErrs, validateRoleRef(rb.RoleRef, []string{"ClusterRole"}, field.NewPath("roleRef"))...)
	return append(allErrs, validateSubjects(rb.Subjects, false)...)
}

// validateBindingUpdate: the granted role is fixed; to grant another role,
// create another binding (this keeps escalation checks meaningful).
func validateBindingUpdate(newMeta, oldMeta metav1.Object, newRef, oldRef rbacv1.RoleRef, body field.ErrorList) field.ErrorList {
	allErrs := validateMetaUpdate(newMeta, oldMeta)
	allErrs = append(allErrs, body...)
	if newRef != oldRef {
		allErrs = append(allErrs, field.Invalid(field.NewPath("roleRef"), newRef, "cannot change roleRef"))
	}
	return allErrs
}

func validateRoleBindingUpdate(n, o *rbacv1.RoleBinding) field.ErrorList {
	body := validateRoleRef(n.RoleRef, []string{"ClusterRole", "Role"}, field.NewPath("roleRef"))
	body = append(body, validateSubjects(n.Subjects, true)...)
	return validateBindingUpdate(n, o, n.RoleRef, o.RoleRef, body)
}

func validateClusterRoleBindingUpdate(n, o *rbacv1.ClusterRoleBinding) field.ErrorList {
	body := validateRoleRef(n.RoleRef, []string{"ClusterRole"}, field.NewPath("roleRef"))
	body = append(body, validateSubjects(n.Subjects, false)...)
	return validateBindingUpdate(n, o, n.RoleRef, o.RoleRef, body)
}
