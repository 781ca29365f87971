package printers

import (
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const admissionGroup = "admissionregistration.k8s.io"

func init() {
	webhookColumns := []metav1.TableColumnDefinition{
		nameColumn,
		column("Webhooks", "integer", "Webhooks indicates the number of webhooks registered in this configuration"),
		ageColumn,
	}
	register(schema.GroupKind{Group: admissionGroup, Kind: "MutatingWebhookConfiguration"}, webhookColumns,
		func(c *admissionregistrationv1.MutatingWebhookConfiguration, now time.Time) ([]interface{}, error) {
			return []interface{}{c.Name, int64(len(c.Webhooks)), since(c.CreationTimestamp, now)}, nil
		})
	register(schema.GroupKind{Group: admissionGroup, Kind: "ValidatingWebhookConfiguration"}, webhookColumns,
		func(c *admissionregistrationv1.ValidatingWebhookConfiguration, now time.Time) ([]interface{}, error) {
			return []interface{}{c.Name, int64(len(c.Webhooks)), since(c.CreationTimestamp, now)}, nil
		})

	paramKindColumn := column("ParamKind", "string", "ParamKind specifies the kind of resources used to parameterize this policy")
	register(schema.GroupKind{Group: admissionGroup, Kind: "ValidatingAdmissionPolicy"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Validations", "integer", "Validations indicates the number of validation rules defined in this configuration"),
		paramKindColumn,
		ageColumn,
	}, func(p *admissionregistrationv1.ValidatingAdmissionPolicy, now time.Time) ([]interface{}, error) {
		return []interface{}{p.Name, int64(len(p.Spec.Validations)), paramKind(p.Spec.ParamKind), since(p.CreationTimestamp, now)}, nil
	})
	register(schema.GroupKind{Group: admissionGroup, Kind: "MutatingAdmissionPolicy"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Mutations", "integer", "Mutation indicates the number of mutations rules defined in this configuration"),
		paramKindColumn,
		ageColumn,
	}, func(p *admissionregistrationv1.MutatingAdmissionPolicy, now time.Time) ([]interface{}, error) {
		return []interface{}{p.Name, int64(len(p.Spec.Mutations)), paramKind(p.Spec.ParamKind), since(p.CreationTimestamp, now)}, nil
	})

	bindingColumns := []metav1.TableColumnDefinition{
		nameColumn,
		column("PolicyName", "string", "PolicyName indicates the policy definition which the policy binding binded to"),
		column("ParamRef", "string", "ParamRef indicates the param resource which sets the configuration param"),
		ageColumn,
	}
	register(schema.GroupKind{Group: admissionGroup, Kind: "ValidatingAdmissionPolicyBinding"}, bindingColumns,
		func(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding, now time.Time) ([]interface{}, error) {
			return []interface{}{b.Name, b.Spec.PolicyName, paramRef(b.Spec.ParamRef), since(b.CreationTimestamp, now)}, nil
		})
	register(schema.GroupKind{Group: admissionGroup, Kind: "MutatingAdmissionPolicyBinding"}, bindingColumns,
		func(b *admissionregistrationv1.MutatingAdmissionPolicyBinding, now time.Time) ([]interface{}, error) {
			return []interface{}{b.Name, b.Spec.PolicyName, paramRef(b.Spec.ParamRef), since(b.CreationTimestamp, now)}, nil
		})
}

func paramKind(k *admissionregistrationv1.ParamKind) string {
	if k == nil {
		return "<unset>"
	}
	return k.APIVersion + "/" + k.Kind
}

// paramRef names the parameter object; a reference without a namespace may
// be to a cluster-scoped object or to one in every namespace, hence "*/".
func paramRef(r *admissionregistrationv1.ParamRef) string {
	switch {
	case r == nil:
		return "<unset>"
	case r.Name != "" && r.Namespace != "":
		return r.Namespace + "/" + r.Name
	case r.Name != "":
		return "*/" + r.Name
	case r.Selector != nil:
		return r.Selector.String()
	default:
		return "<unset>"
	}
}
