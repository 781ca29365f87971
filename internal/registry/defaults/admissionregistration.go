package defaults

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func validatingWebhookConfiguration(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		webhookCommon(&w.FailurePolicy, &w.MatchPolicy, &w.NamespaceSelector, &w.ObjectSelector, &w.TimeoutSeconds)
		rules(w.Rules)
		serviceReference(w.ClientConfig.Service)
	}
}

func mutatingWebhookConfiguration(c *admissionregistrationv1.MutatingWebhookConfiguration) {
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		webhookCommon(&w.FailurePolicy, &w.MatchPolicy, &w.NamespaceSelector, &w.ObjectSelector, &w.TimeoutSeconds)
		if w.ReinvocationPolicy == nil {
			w.ReinvocationPolicy = ptrTo(admissionregistrationv1.NeverReinvocationPolicy)
		}
		rules(w.Rules)
		serviceReference(w.ClientConfig.Service)
	}
}

// webhookCommon fills the fields validating and mutating webhooks share: fail
// closed, match equivalent versions, select everything, wait 10 seconds.
func webhookCommon(failure **admissionregistrationv1.FailurePolicyType, match **admissionregistrationv1.MatchPolicyType,
	nsSel, objSel **metav1.LabelSelector, timeout **int32) {
	if *failure == nil {
		*failure = ptrTo(admissionregistrationv1.Fail)
	}
	if *match == nil {
		*match = ptrTo(admissionregistrationv1.Equivalent)
	}
	if *nsSel == nil {
		*nsSel = &metav1.LabelSelector{}
	}
	if *objSel == nil {
		*objSel = &metav1.LabelSelector{}
	}
	if *timeout == nil {
		*timeout = ptrTo(int32(10))
	}
}

func rules(list []admissionregistrationv1.RuleWithOperations) {
	for i := range list {
		if list[i].Scope == nil {
			list[i].Scope = ptrTo(admissionregistrationv1.AllScopes)
		}
	}
}

func serviceReference(s *admissionregistrationv1.ServiceReference) {
	if s != nil && s.Port == nil {
		s.Port = ptrTo(int32(443))
	}
}

func validatingAdmissionPolicy(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
	if p.Spec.FailurePolicy == nil {
		p.Spec.FailurePolicy = ptrTo(admissionregistrationv1.Fail)
	}
	matchResources(p.Spec.MatchConstraints)
}

func validatingAdmissionPolicyBinding(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
	matchResources(b.Spec.MatchResources)
}

func matchResources(m *admissionregistrationv1.MatchResources) {
	if m == nil {
		return
	}
	if m.MatchPolicy == nil {
		m.MatchPolicy = ptrTo(admissionregistrationv1.Equivalent)
	}
	if m.NamespaceSelector == nil {
		m.NamespaceSelector = &metav1.LabelSelector{}
	}
	if m.ObjectSelector == nil {
		m.ObjectSelector = &metav1.LabelSelector{}
	}
	for _, list := range [][]admissionregistrationv1.NamedRuleWithOperations{m.ResourceRules, m.ExcludeResourceRules} {
		for i := range list {
			if list[i].Scope == nil {
				list[i].Scope = ptrTo(admissionregistrationv1.AllScopes)
			}
		}
	}
}
