package validation

import (
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const (
	ingressClassAnnotation       = "kubernetes.io/ingress.class"
	maxLenIngressClassController = 250
)

var (
	pathTypes            = []networkingv1.PathType{networkingv1.PathTypeExact, networkingv1.PathTypeImplementationSpecific, networkingv1.PathTypePrefix}
	invalidPathSequences = []string{"//", "/./", "/../", "%2f", "%2F"}
	invalidPathSuffixes  = []string{"/..", "/."}
)

// Ingress

func validateIngressCreate(ing *networkingv1.Ingress) field.ErrorList {
	allErrs := validateMeta(ing, true, nameIsDNSSubdomain)
	allErrs = append(allErrs, validateIngressSpec(&ing.Spec, specPath, false)...)
	// The legacy annotation and the field must not point at different classes.
	if v, ok := ing.Annotations[ingressClassAnnotation]; ok && ing.Spec.IngressClassName != nil && v != *ing.Spec.IngressClassName {
		allErrs = append(allErrs, field.Invalid(metadataPath.Child("annotations").Key(ingressClassAnnotation), v, "must match `ingressClassName` when both are specified"))
	}
	return allErrs
}

func validateIngressUpdate(n, o *networkingv1.Ingress) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	// Objects stored before secret names were checked must stay updatable.
	allowBadSecret := false
	for _, t := range o.Spec.TLS {
		allowBadSecret = allowBadSecret || (t.SecretName != "" && len(nameIsDNSSubdomain(t.SecretName, false)) > 0)
	}
	return append(allErrs, validateIngressSpec(&n.Spec, specPath, allowBadSecret)...)
}

func validateIngressSpec(spec *networkingv1.IngressSpec, fldPath *field.Path, allowBadSecret bool) field.ErrorList {
	var allErrs field.ErrorList
	if len(spec.Rules) == 0 && spec.DefaultBackend == nil {
		allErrs = append(allErrs, field.Invalid(fldPath, spec.Rules, "either `defaultBackend` or `rules` must be specified"))
	}
	if spec.DefaultBackend != nil {
		allErrs = append(allErrs, validateIngressBackend(spec.DefaultBackend, fldPath.Child("defaultBackend"))...)
	}
	for i, rule := range spec.Rules {
		p := fldPath.Child("rules").Index(i)
		if rule.Host != "" {
			hp := p.Child("host")
			if _, isIP := parseIP(rule.Host); isIP {
				allErrs = append(allErrs, field.Invalid(hp, rule.Host, "must be a DNS name, not an IP address"))
			}
			allErrs = append(allErrs, validateIngressHost(rule.Host, hp)...)
		}
		if rule.HTTP != nil {
			hp := p.Child("http")
			if len(rule.HTTP.Paths) == 0 {
				allErrs = append(allErrs, field.Required(hp.Child("paths"), ""))
			}
			for j := range rule.HTTP.Paths {
				allErrs = append(allErrs, validateHTTPIngressPath(&rule.HTTP.Paths[j], hp.Child("paths").Index(j))...)
			}
		}
	}
	for i, t := range spec.TLS {
		p := fldPath.Child("tls").Index(i)
		for j, h := range t.Hosts {
			allErrs = append(allErrs, validateIngressHost(h, p.Child("hosts").Index(j))...)
		}
		if t.SecretName != "" && !allowBadSecret {
			allErrs = append(allErrs, validateName(nameIsDNSSubdomain, t.SecretName, p.Child("secretName"))...)
		}
	}
	if spec.IngressClassName != nil {
		allErrs = append(allErrs, validateName(nameIsDNSSubdomain, *spec.IngressClassName, fldPath.Child("ingressClassName"))...)
	}
	return allErrs
}

// validateIngressHost accepts a DNS name or a "*." wildcard one.
func validateIngressHost(host string, p *field.Path) field.ErrorList {
	if strings.Contains(host, "*") {
		return invalidFor(p, host, validation.IsWildcardDNS1123Subdomain(host))
	}
	return validateDNS1123Subdomain(host, p)
}

func validateHTTPIngressPath(path *networkingv1.HTTPIngressPath, p *field.Path) field.ErrorList {
	if path.PathType == nil {
		return field.ErrorList{field.Required(p.Child("pathType"), "pathType must be specified")}
	}
	var allErrs field.ErrorList
	pp := p.Child("path")
	switch *path.PathType {
	case networkingv1.PathTypeExact, networkingv1.PathTypePrefix:
		if !strings.HasPrefix(path.Path, "/") {
			allErrs = append(allErrs, field.Invalid(pp, path.Path, "must be an absolute path"))
		}
		// Sequences a proxy might normalise differently than the controller.
		for _, seq := range invalidPathSequences {
			if strings.Contains(path.Path, seq) {
				allErrs = append(allErrs, field.Invalid(pp, path.Path, fmt.Sprintf("must not contain '%s'", seq)))
			}
		}
		for _, suf := range invalidPathSuffixes {
			if strings.HasSuffix(path.Path, suf) {
				allErrs = append(allErrs, field.Invalid(pp, path.Path, fmt.Sprintf("cannot end with '%s'", suf)))
			}
		}
	case networkingv1.PathTypeImplementationSpecific:
		if path.Path != "" && !strings.HasPrefix(path.Path, "/") {
			allErrs = append(allErrs, field.Invalid(pp, path.Path, "must be an absolute path"))
		}
	default:
		allErrs = append(allErrs, field.NotSupported(p.Child("pathType"), *path.PathType, pathTypes))
	}
	return append(allErrs, validateIngressBackend(&path.Backend, p.Child("backend"))...)
}

func validateIngressBackend(b *networkingv1.IngressBackend, p *field.Path) field.ErrorList {
	switch {
	case b.Resource != nil && b.Service != nil:
		return field.ErrorList{field.Invalid(p, "", "cannot set both resource and service backends")}
	case b.Resource != nil:
		return validateTypedLocalObjectReference(b.Resource, p.Child("resource"))
	case b.Service != nil:
		var allErrs field.ErrorList
		if b.Service.Name == "" {
			allErrs = append(allErrs, field.Required(p.Child("service", "name"), ""))
		} else {
			allErrs = append(allErrs, validateName(nameIsDNSLabel, b.Service.Name, p.Child("service", "name"))...)
		}
		port := b.Service.Port
		switch {
		case port.Name != "" && port.Number != 0:
			allErrs = append(allErrs, field.Invalid(p, "", "cannot set both port name & port number"))
		case port.Name != "":
			allErrs = append(allErrs, invalidFor(p.Child("service", "port", "name"), port.Name, validation.IsValidPortName(port.Name))...)
		case port.Number != 0:
			allErrs = append(allErrs, validatePortNum(port.Number, p.Child("service", "port", "number"))...)
		default:
			allErrs = append(allErrs, field.Required(p, "port name or number is required"))
		}
		return allErrs
	default:
		return field.ErrorList{field.Invalid(p, "", "resource or service backend is required")}
	}
}

func validateTypedLocalObjectReference(ref *corev1.TypedLocalObjectReference, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if ref.APIGroup != nil {
		allErrs = append(allErrs, validateDNS1123Subdomain(*ref.APIGroup, p.Child("apiGroup"))...)
	}
	allErrs = append(allErrs, requiredPathSegment(ref.Kind, p.Child("kind"))...)
	return append(allErrs, requiredPathSegment(ref.Name, p.Child("name"))...)
}

func requiredPathSegment(v string, p *field.Path) field.ErrorList {
	if v == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	return invalidFor(p, v, content.IsPathSegmentName(v))
}

func validateIngressLoadBalancerStatus(st *networkingv1.IngressLoadBalancerStatus, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i, ing := range st.Ingress {
		p := fldPath.Child("ingress").Index(i)
		if ing.IP != "" {
			allErrs = append(allErrs, validateIP(ing.IP, p.Child("ip"))...)
		}
		allErrs = append(allErrs, validateLBHostname(ing.Hostname, p.Child("hostname"))...)
	}
	return allErrs
}

// IngressClass

func validateIngressClass(ic *networkingv1.IngressClass) field.ErrorList {
	allErrs := validateMeta(ic, false, nameIsDNSSubdomain)
	return append(allErrs, validateIngressClassSpec(&ic.Spec, specPath)...)
}

func validateIngressClassSpec(spec *networkingv1.IngressClassSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	cp := fldPath.Child("controller")
	if spec.Controller == "" {
		allErrs = append(allErrs, field.Required(cp, ""))
	} else {
		if len(spec.Controller) > maxLenIngressClassController {
			allErrs = append(allErrs, field.TooLong(cp, "", maxLenIngressClassController))
		}
		allErrs = append(allErrs, validation.IsDomainPrefixedPath(cp, spec.Controller)...)
	}
	params := spec.Parameters
	if params == nil {
		return allErrs
	}
	pp := fldPath.Child("parameters")
	if params.APIGroup != nil {
		allErrs = append(allErrs, validateDNS1123Subdomain(*params.APIGroup, pp.Child("apiGroup"))...)
	}
	allErrs = append(allErrs, requiredPathSegment(params.Kind, pp.Child("kind"))...)
	allErrs = append(allErrs, requiredPathSegment(params.Name, pp.Child("name"))...)
	if params.Scope == nil {
		return append(allErrs, field.Required(pp.Child("scope"), ""))
	}
	switch *params.Scope {
	case networkingv1.IngressClassParametersReferenceScopeNamespace:
		if params.Namespace == nil {
			allErrs = append(allErrs, field.Required(pp.Child("namespace"), "`parameters.scope` is set to 'Namespace'"))
		} else {
			allErrs = append(allErrs, validateName(nameIsDNSLabel, *params.Namespace, pp.Child("namespace"))...)
		}
	case networkingv1.IngressClassParametersReferenceScopeCluster:
		if params.Namespace != nil {
			allErrs = append(allErrs, field.Forbidden(pp.Child("namespace"), "`parameters.scope` is set to 'Cluster'"))
		}
	default:
		allErrs = append(allErrs, field.NotSupported(pp.Child("scope"), *params.Scope,
			[]string{networkingv1.IngressClassParametersReferenceScopeCluster, networkingv1.IngressClassParametersReferenceScopeNamespace}))
	}
	return allErrs
}

func validateIngressClassUpdate(n, o *networkingv1.IngressClass) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	// Ingresses bound to the class assume the same controller.
	allErrs = append(allErrs, validateImmutable(n.Spec.Controller, o.Spec.Controller, specPath.Child("controller"))...)
	return append(allErrs, validateIngressClassSpec(&n.Spec, specPath)...)
}

// NetworkPolicy

func validateNetworkPolicy(np *networkingv1.NetworkPolicy, legacyCIDRs map[string]bool) field.ErrorList {
	allErrs := validateMeta(np, true, nameIsDNSSubdomain)
	return append(allErrs, validateNetworkPolicySpec(&np.Spec, legacyCIDRs, specPath)...)
}

func validateNetworkPolicyUpdate(n, o *networkingv1.NetworkPolicy) field.ErrorList {
	// CIDRs already stored stay acceptable even if stricter parsing now
	// rejects them, so such policies can still be edited.
	legacy := map[string]bool{}
	collect := func(peers []networkingv1.NetworkPolicyPeer) {
		for _, peer := range peers {
			if peer.IPBlock != nil {
				legacy[peer.IPBlock.CIDR] = true
				for _, e := range peer.IPBlock.Except {
					legacy[e] = true
				}
			}
		}
	}
	for _, r := range o.Spec.Ingress {
		collect(r.From)
	}
	for _, r := range o.Spec.Egress {
		collect(r.To)
	}
	allErrs := validateMetaUpdate(n, o)
	return append(allErrs, validateNetworkPolicySpec(&n.Spec, legacy, specPath)...)
}

func validateNetworkPolicySpec(spec *networkingv1.NetworkPolicySpec, legacyCIDRs map[string]bool, fldPath *field.Path) field.ErrorList {
	allErrs := validateLabelSelector(&spec.PodSelector, fldPath.Child("podSelector"))
	for i, rule := range spec.Ingress {
		p := fldPath.Child("ingress").Index(i)
		for j := range rule.Ports {
			allErrs = append(allErrs, validateNetworkPolicyPort(&rule.Ports[j], p.Child("ports").Index(j))...)
		}
		for j := range rule.From {
			allErrs = append(allErrs, validateNetworkPolicyPeer(&rule.From[j], legacyCIDRs, p.Child("from").Index(j))...)
		}
	}
	for i, rule := range spec.Egress {
		p := fldPath.Child("egress").Index(i)
		for j := range rule.Ports {
			allErrs = append(allErrs, validateNetworkPolicyPort(&rule.Ports[j], p.Child("ports").Index(j))...)
		}
		for j := range rule.To {
			allErrs = append(allErrs, validateNetworkPolicyPeer(&rule.To[j], legacyCIDRs, p.Child("to").Index(j))...)
		}
	}
	allowed := []networkingv1.PolicyType{networkingv1.PolicyTypeEgress, networkingv1.PolicyTypeIngress}
	if len(spec.PolicyTypes) > len(allowed) {
		return append(allErrs, field.Invalid(fldPath.Child("policyTypes"), spec.PolicyTypes, "may not specify more than two policyTypes"))
	}
	for i, t := range spec.PolicyTypes {
		allErrs = append(allErrs, enumCheckNotSupported(t, allowed, fldPath.Child("policyTypes").Index(i))...)
	}
	return allErrs
}

func validateNetworkPolicyPort(port *networkingv1.NetworkPolicyPort, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if port.Protocol != nil {
		allErrs = append(allErrs, enumCheckNotSupported(*port.Protocol, protocols, p.Child("protocol"))...)
	}
	switch {
	case port.Port == nil:
		if port.EndPort != nil {
			allErrs = append(allErrs, field.Invalid(p.Child("endPort"), *port.EndPort, "may not be specified when `port` is not specified"))
		}
	case port.Port.Type == intstr.Int:
		allErrs = append(allErrs, validatePortNum(port.Port.IntVal, p.Child("port"))...)
		if port.EndPort != nil {
			if *port.EndPort < port.Port.IntVal {
				allErrs = append(allErrs, field.Invalid(p.Child("endPort"), *port.EndPort, "must be greater than or equal to `port`"))
			}
			allErrs = append(allErrs, validatePortNum(*port.EndPort, p.Child("endPort"))...)
		}
	default:
		if port.EndPort != nil {
			allErrs = append(allErrs, field.Invalid(p.Child("endPort"), *port.EndPort, "may not be specified when `port` is non-numeric"))
		}
		allErrs = append(allErrs, invalidFor(p.Child("port"), port.Port.StrVal, validation.IsValidPortName(port.Port.StrVal))...)
	}
	return allErrs
}

func validateNetworkPolicyPeer(peer *networkingv1.NetworkPolicyPeer, legacyCIDRs map[string]bool, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	n := 0
	if peer.PodSelector != nil {
		n++
		allErrs = append(allErrs, validateLabelSelector(peer.PodSelector, p.Child("podSelector"))...)
	}
	if peer.NamespaceSelector != nil {
		n++
		allErrs = append(allErrs, validateLabelSelector(peer.NamespaceSelector, p.Child("namespaceSelector"))...)
	}
	if peer.IPBlock != nil {
		n++
		allErrs = append(allErrs, validateIPBlock(peer.IPBlock, legacyCIDRs, p.Child("ipBlock"))...)
	}
	if n == 0 {
		allErrs = append(allErrs, field.Required(p, "must specify a peer"))
	} else if n > 1 && peer.IPBlock != nil {
		allErrs = append(allErrs, field.Forbidden(p, "may not specify both ipBlock and another peer"))
	}
	return allErrs
}

func validateIPBlock(b *networkingv1.IPBlock, legacyCIDRs map[string]bool, p *field.Path) field.ErrorList {
	if b.CIDR == "" {
		return field.ErrorList{field.Required(p.Child("cidr"), "")}
	}
	var allErrs field.ErrorList
	if !legacyCIDRs[b.CIDR] {
		allErrs = append(allErrs, validateCIDR(b.CIDR, p.Child("cidr"))...)
	}
	cidr, ok := parseCIDRLenient(b.CIDR)
	if !ok {
		return allErrs
	}
	for i, e := range b.Except {
		ep := p.Child("except").Index(i)
		if !legacyCIDRs[e] {
			allErrs = append(allErrs, validateCIDR(e, ep)...)
		}
		except, ok := parseCIDRLenient(e)
		if !ok {
			continue
		}
		if !cidr.Contains(except.Addr()) || cidr.Bits() >= except.Bits() {
			allErrs = append(allErrs, field.Invalid(ep, e, "must be a strict subset of `cidr`"))
		}
	}
	return allErrs
}

// parseCIDRLenient masks host bits, as the legacy parser did.
func parseCIDRLenient(s string) (netip.Prefix, bool) {
	ip, bits, found := strings.Cut(s, "/")
	if !found {
		return netip.Prefix{}, false
	}
	a, ok := parseIP(ip)
	if !ok {
		return netip.Prefix{}, false
	}
	pfx, err := netip.ParsePrefix(a.String() + "/" + bits)
	if err != nil {
		return netip.Prefix{}, false
	}
	return pfx.Masked(), true
}
