package printers

import (
	"fmt"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	rbacv1beta1 "k8s.io/api/rbac/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Roles and ClusterRoles have no printer upstream and use the default
// Name / Created At table.
func init() {
	register(schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"},
		bindingColumns(rbacv1beta1.RoleBinding{}.SwaggerDoc()["roleRef"], "roleBinding"),
		func(rb *rbacv1.RoleBinding, now time.Time) ([]interface{}, error) {
			return bindingRow(rb.Name, rb.RoleRef, rb.Subjects, rb.CreationTimestamp, now), nil
		})
	register(schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"},
		bindingColumns(rbacv1beta1.ClusterRoleBinding{}.SwaggerDoc()["roleRef"], "clusterRoleBinding"),
		func(crb *rbacv1.ClusterRoleBinding, now time.Time) ([]interface{}, error) {
			return bindingRow(crb.Name, crb.RoleRef, crb.Subjects, crb.CreationTimestamp, now), nil
		})
}

func bindingColumns(roleRefDoc, kind string) []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn,
		column("Role", "string", roleRefDoc),
		ageColumn,
		wideColumn("Users", "string", "Users in the "+kind),
		wideColumn("Groups", "string", "Groups in the "+kind),
		wideColumn("ServiceAccounts", "string", "ServiceAccounts in the "+kind),
	}
}

func bindingRow(name string, ref rbacv1.RoleRef, subjects []rbacv1.Subject, created metav1.Time, now time.Time) []interface{} {
	var users, groups, serviceAccounts []string
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.ServiceAccountKind:
			serviceAccounts = append(serviceAccounts, s.Namespace+"/"+s.Name)
		case rbacv1.UserKind:
			users = append(users, s.Name)
		case rbacv1.GroupKind:
			groups = append(groups, s.Name)
		}
	}
	return []interface{}{
		name, fmt.Sprintf("%s/%s", ref.Kind, ref.Name), since(created, now),
		strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(serviceAccounts, ", "),
	}
}
