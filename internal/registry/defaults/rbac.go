package defaults

import (
	rbacv1 "k8s.io/api/rbac/v1"
)

func roleBinding(rb *rbacv1.RoleBinding) {
	if rb.RoleRef.APIGroup == "" {
		rb.RoleRef.APIGroup = rbacv1.GroupName
	}
	subjects(rb.Subjects)
}

func clusterRoleBinding(crb *rbacv1.ClusterRoleBinding) {
	if crb.RoleRef.APIGroup == "" {
		crb.RoleRef.APIGroup = rbacv1.GroupName
	}
	subjects(crb.Subjects)
}

// subjects puts users and groups in the RBAC group; service accounts are
// core objects and keep the empty group.
func subjects(list []rbacv1.Subject) {
	for i := range list {
		s := &list[i]
		if s.APIGroup != "" {
			continue
		}
		switch s.Kind {
		case rbacv1.UserKind, rbacv1.GroupKind:
			s.APIGroup = rbacv1.GroupName
		}
	}
}
