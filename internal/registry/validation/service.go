package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	serviceTypes            = []corev1.ServiceType{corev1.ServiceTypeClusterIP, corev1.ServiceTypeExternalName, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort}
	sessionAffinities       = []corev1.ServiceAffinity{corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone}
	ipFamilies              = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	ipFamilyPolicies        = []corev1.IPFamilyPolicy{corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack, corev1.IPFamilyPolicySingleStack}
	externalTrafficPolicies = []corev1.ServiceExternalTrafficPolicy{corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal}
	internalTrafficPolicies = []corev1.ServiceInternalTrafficPolicy{corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal}
	trafficDistributions    = []string{corev1.ServiceTrafficDistributionPreferClose, corev1.ServiceTrafficDistributionPreferSameNode, corev1.ServiceTrafficDistributionPreferSameZone}
)

// maxClientIPAffinitySeconds caps ClientIP session affinity at one day.
const maxClientIPAffinitySeconds = 86400

// clusterIPsOf returns the cluster IPs as upstream sees them after its
// create strategy synced spec.clusterIP into spec.clusterIPs.
func clusterIPsOf(svc *corev1.Service) []string {
	if len(svc.Spec.ClusterIPs) == 0 && svc.Spec.ClusterIP != "" {
		return []string{svc.Spec.ClusterIP}
	}
	return svc.Spec.ClusterIPs
}

func isHeadless(svc *corev1.Service) bool {
	ips := clusterIPsOf(svc)
	return len(ips) == 1 && ips[0] == corev1.ClusterIPNone
}

// externallyAccessible: only these services route traffic from outside.
func externallyAccessible(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer || svc.Spec.Type == corev1.ServiceTypeNodePort ||
		(svc.Spec.Type == corev1.ServiceTypeClusterIP && len(svc.Spec.ExternalIPs) > 0)
}

func validateService(svc *corev1.Service) field.ErrorList {
	allErrs := validateMeta(svc, true, nameIsDNSLabel)
	return append(allErrs, validateServiceSpec(svc)...)
}

func validateServiceSpec(svc *corev1.Service) field.ErrorList {
	var allErrs field.ErrorList
	spec := &svc.Spec
	clusterIPs := clusterIPsOf(svc)
	headless := isHeadless(svc)

	if len(spec.Ports) == 0 && !headless && spec.Type != corev1.ServiceTypeExternalName {
		allErrs = append(allErrs, field.Required(specPath.Child("ports"), ""))
	}
	switch spec.Type {
	case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort:
		if headless {
			allErrs = append(allErrs, field.Invalid(specPath.Child("clusterIPs").Index(0), clusterIPs[0], fmt.Sprintf("may not be set to 'None' for %s services", spec.Type)))
		}
	case corev1.ServiceTypeExternalName:
		// An alias has no cluster IP and no IP family.
		if len(clusterIPs) > 0 {
			allErrs = append(allErrs, field.Forbidden(specPath.Child("clusterIPs"), "may not be set for ExternalName services"))
		}
		if len(spec.IPFamilies) > 0 {
			allErrs = append(allErrs, field.Forbidden(specPath.Child("ipFamilies"), "may not be set for ExternalName services"))
		}
		if spec.IPFamilyPolicy != nil {
			allErrs = append(allErrs, field.Forbidden(specPath.Child("ipFamilyPolicy"), "may not be set for ExternalName services"))
		}
		// A trailing dot marks a fully qualified name.
		cname := strings.TrimSuffix(spec.ExternalName, ".")
		if cname == "" {
			allErrs = append(allErrs, field.Required(specPath.Child("externalName"), ""))
		} else {
			allErrs = append(allErrs, validateDNS1123Subdomain(cname, specPath.Child("externalName"))...)
		}
	}

	portNames := map[string]bool{}
	portsPath := specPath.Child("ports")
	for i := range spec.Ports {
		allErrs = append(allErrs, validateServicePort(&spec.Ports[i], len(spec.Ports) > 1, portNames, portsPath.Index(i))...)
	}
	if spec.Selector != nil {
		allErrs = append(allErrs, metav1validation.ValidateLabels(spec.Selector, specPath.Child("selector"))...)
	}

	allErrs = append(allErrs, enumCheck(spec.SessionAffinity, sessionAffinities, specPath.Child("sessionAffinity"))...)
	cfgPath := specPath.Child("sessionAffinityConfig")
	switch spec.SessionAffinity {
	case corev1.ServiceAffinityClientIP:
		const when = "when session affinity type is ClientIP"
		switch cfg := spec.SessionAffinityConfig; {
		case cfg == nil:
			allErrs = append(allErrs, field.Required(cfgPath, when))
		case cfg.ClientIP == nil:
			allErrs = append(allErrs, field.Required(cfgPath.Child("clientIP"), when))
		case cfg.ClientIP.TimeoutSeconds == nil:
			allErrs = append(allErrs, field.Required(cfgPath.Child("clientIP", "timeoutSeconds"), when))
		default:
			if t := *cfg.ClientIP.TimeoutSeconds; t <= 0 || t > maxClientIPAffinitySeconds {
				allErrs = append(allErrs, field.Invalid(cfgPath.Child("clientIP", "timeoutSeconds"), t, fmt.Sprintf("must be greater than 0 and less than %d", maxClientIPAffinitySeconds)))
			}
		}
	case corev1.ServiceAffinityNone:
		if spec.SessionAffinityConfig != nil {
			allErrs = append(allErrs, field.Forbidden(cfgPath, "must not be set when session affinity is None"))
		}
	}

	allErrs = append(allErrs, validateClusterIPsRelatedFields(svc)...)

	for i, ip := range spec.ExternalIPs {
		p := specPath.Child("externalIPs").Index(i)
		if errs := validateIP(ip, p); len(errs) != 0 {
			allErrs = append(allErrs, errs...)
		} else {
			allErrs = append(allErrs, validateNonSpecialIP(ip, p)...)
		}
	}
	allErrs = append(allErrs, enumCheck(spec.Type, serviceTypes, specPath.Child("type"))...)

	nodePorts := map[string]bool{}
	ports := map[string]bool{}
	for i, port := range spec.Ports {
		p := portsPath.Index(i)
		if port.NodePort != 0 {
			switch spec.Type {
			case corev1.ServiceTypeClusterIP, corev1.ServiceTypeExternalName:
				allErrs = append(allErrs, field.Forbidden(p.Child("nodePort"), fmt.Sprintf("may not be used when `type` is '%s'", spec.Type)))
			default:
				// The allocator checks the configured range; only sanity here.
				allErrs = append(allErrs, validatePortNum(port.NodePort, p.Child("nodePort"))...)
			}
			key := fmt.Sprintf("%s/%d", port.Protocol, port.NodePort)
			if nodePorts[key] {
				allErrs = append(allErrs, field.Duplicate(p.Child("nodePort"), port.NodePort))
			}
			nodePorts[key] = true
		}
		key := fmt.Sprintf("%s/%d", port.Protocol, port.Port)
		if ports[key] {
			allErrs = append(allErrs, field.Duplicate(p, corev1.ServicePort{Protocol: port.Protocol, Port: port.Port}))
		}
		ports[key] = true
	}

	if len(spec.LoadBalancerSourceRanges) > 0 {
		p := specPath.Child("loadBalancerSourceRanges")
		if spec.Type != corev1.ServiceTypeLoadBalancer {
			allErrs = append(allErrs, field.Forbidden(p, "may only be used when `type` is 'LoadBalancer'"))
		}
		for i, r := range spec.LoadBalancerSourceRanges {
			// Historically space padding was tolerated here.
			allErrs = append(allErrs, validateCIDR(strings.TrimSpace(r), p.Index(i))...)
		}
	} else if v, ok := svc.Annotations[corev1.AnnotationLoadBalancerSourceRangesKey]; ok {
		p := metadataPath.Child("annotations").Key(corev1.AnnotationLoadBalancerSourceRangesKey)
		if spec.Type != corev1.ServiceTypeLoadBalancer {
			allErrs = append(allErrs, field.Forbidden(p, "may only be used when `type` is 'LoadBalancer'"))
		}
		if v = strings.TrimSpace(v); v != "" {
			for _, r := range strings.Split(v, ",") {
				allErrs = append(allErrs, validateCIDR(strings.TrimSpace(r), p)...)
			}
		}
	}
	if spec.AllocateLoadBalancerNodePorts != nil && spec.Type != corev1.ServiceTypeLoadBalancer {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("allocateLoadBalancerNodePorts"), "may only be used when `type` is 'LoadBalancer'"))
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer && spec.AllocateLoadBalancerNodePorts == nil {
		allErrs = append(allErrs, field.Required(specPath.Child("allocateLoadBalancerNodePorts"), ""))
	}
	if spec.LoadBalancerClass != nil {
		if spec.Type == corev1.ServiceTypeLoadBalancer {
			allErrs = append(allErrs, validateQualifiedName(*spec.LoadBalancerClass, specPath.Child("loadBalancerClass"))...)
		} else {
			allErrs = append(allErrs, field.Forbidden(specPath.Child("loadBalancerClass"), "may only be used when `type` is 'LoadBalancer'"))
		}
	}

	etpPath := specPath.Child("externalTrafficPolicy")
	if !externallyAccessible(svc) {
		if spec.ExternalTrafficPolicy != "" {
			allErrs = append(allErrs, field.Invalid(etpPath, spec.ExternalTrafficPolicy, "may only be set for externally-accessible services"))
		}
	} else {
		allErrs = append(allErrs, enumCheck(spec.ExternalTrafficPolicy, externalTrafficPolicies, etpPath)...)
	}
	// The health check port is allocated by the server when it is needed;
	// here it must only be absent when it is not.
	needsHealthCheck := spec.Type == corev1.ServiceTypeLoadBalancer && spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	if spec.HealthCheckNodePort != 0 {
		if !needsHealthCheck {
			allErrs = append(allErrs, field.Invalid(specPath.Child("healthCheckNodePort"), spec.HealthCheckNodePort,
				"may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
		} else {
			allErrs = append(allErrs, validatePortNum(spec.HealthCheckNodePort, specPath.Child("healthCheckNodePort"))...)
		}
	}
	itpPath := specPath.Child("internalTrafficPolicy")
	if spec.InternalTrafficPolicy == nil {
		if spec.Type != corev1.ServiceTypeExternalName {
			allErrs = append(allErrs, field.Required(itpPath, ""))
		}
	} else {
		allErrs = append(allErrs, enumCheckNotSupported(*spec.InternalTrafficPolicy, internalTrafficPolicies, itpPath)...)
	}
	if spec.TrafficDistribution != nil {
		allErrs = append(allErrs, enumCheckNotSupported(*spec.TrafficDistribution, trafficDistributions, specPath.Child("trafficDistribution"))...)
	}
	return allErrs
}

func validateServicePort(sp *corev1.ServicePort, requireName bool, names map[string]bool, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if requireName && sp.Name == "" {
		allErrs = append(allErrs, field.Required(p.Child("name"), ""))
	} else if sp.Name != "" {
		allErrs = append(allErrs, validateDNS1123Label(sp.Name, p.Child("name"))...)
		if names[sp.Name] {
			allErrs = append(allErrs, field.Duplicate(p.Child("name"), sp.Name))
		}
		names[sp.Name] = true
	}
	allErrs = append(allErrs, validatePortNum(sp.Port, p.Child("port"))...)
	allErrs = append(allErrs, enumCheck(sp.Protocol, protocols, p.Child("protocol"))...)
	allErrs = append(allErrs, validatePortNumOrName(sp.TargetPort, p.Child("targetPort"))...)
	if sp.AppProtocol != nil {
		allErrs = append(allErrs, validateQualifiedName(*sp.AppProtocol, p.Child("appProtocol"))...)
	}
	return allErrs
}

// validateClusterIPsRelatedFields checks clusterIP(s), ipFamilies and
// ipFamilyPolicy against each other.
func validateClusterIPsRelatedFields(svc *corev1.Service) field.ErrorList {
	spec := &svc.Spec
	if spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	var allErrs field.ErrorList
	ipsPath := specPath.Child("clusterIPs")
	clusterIPs := clusterIPsOf(svc)
	if spec.ClusterIP != "" && len(spec.ClusterIPs) > 0 && spec.ClusterIPs[0] != spec.ClusterIP {
		allErrs = append(allErrs, field.Invalid(ipsPath, spec.ClusterIPs, "first value must match `clusterIP`"))
	}
	if spec.ClusterIP == "" && len(spec.ClusterIPs) != 0 {
		allErrs = append(allErrs, field.Invalid(ipsPath, spec.ClusterIPs, "must be empty when `clusterIP` is not specified"))
	}
	seen := map[corev1.IPFamily]bool{}
	for i, f := range spec.IPFamilies {
		allErrs = append(allErrs, enumCheckNotSupported(f, ipFamilies, specPath.Child("ipFamilies").Index(i))...)
		if seen[f] {
			allErrs = append(allErrs, field.Duplicate(specPath.Child("ipFamilies").Index(i), f))
		}
		seen[f] = true
	}
	if spec.IPFamilyPolicy != nil {
		allErrs = append(allErrs, enumCheckNotSupported(*spec.IPFamilyPolicy, ipFamilyPolicies, specPath.Child("ipFamilyPolicy"))...)
	}
	invalid := false
	for i, ip := range clusterIPs {
		if i == 0 && ip == corev1.ClusterIPNone {
			if len(clusterIPs) > 1 {
				invalid = true
				allErrs = append(allErrs, field.Invalid(ipsPath, clusterIPs, "'None' must be the first and only value"))
			}
			continue
		}
		errs := validateIP(ip, ipsPath.Index(i))
		invalid = invalid || len(errs) > 0
		allErrs = append(allErrs, errs...)
	}
	if len(clusterIPs) > 2 {
		allErrs = append(allErrs, field.Invalid(ipsPath, clusterIPs, "may only hold up to 2 values"))
	}
	if invalid {
		return allErrs
	}
	if len(clusterIPs) == 2 && ipFamily(clusterIPs[0]) == ipFamily(clusterIPs[1]) {
		allErrs = append(allErrs, field.Invalid(ipsPath, clusterIPs, "may specify no more than one IP for each IP family"))
	}
	if !isHeadless(svc) {
		for i, ip := range clusterIPs {
			if i >= len(spec.IPFamilies) {
				break
			}
			if spec.IPFamilies[i] == corev1.IPv4Protocol && isIPv6String(ip) {
				allErrs = append(allErrs, field.Invalid(ipsPath.Index(i), ip, fmt.Sprintf("expected an IPv4 value as indicated by `ipFamilies[%v]`", i)))
			}
			if spec.IPFamilies[i] == corev1.IPv6Protocol && !isIPv6String(ip) {
				allErrs = append(allErrs, field.Invalid(ipsPath.Index(i), ip, fmt.Sprintf("expected an IPv6 value as indicated by `ipFamilies[%v]`", i)))
			}
		}
	}
	return allErrs
}

// validateServiceUpdate: allocated addresses are immutable; a service may
// only gain or drop its secondary family.
//
// Like upstream, this expects the server to have carried the allocated
// clusterIPs (and node ports) over from the old object when the request
// omitted them.
func validateServiceUpdate(n, o *corev1.Service) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	if n.Spec.Type != corev1.ServiceTypeExternalName && o.Spec.Type != corev1.ServiceTypeExternalName && !(isHeadless(n) && isHeadless(o)) {
		newIPs, oldIPs := clusterIPsOf(n), clusterIPsOf(o)
		ipsPath := specPath.Child("clusterIPs")
		switch {
		case len(oldIPs) == len(newIPs):
			for i := range oldIPs {
				if oldIPs[i] != newIPs[i] {
					allErrs = append(allErrs, field.Invalid(ipsPath.Index(i), newIPs, "may not change once set"))
				}
			}
		case len(oldIPs) > len(newIPs):
			if len(newIPs) == 0 {
				allErrs = append(allErrs, field.Invalid(ipsPath.Index(0), newIPs, "primary clusterIP can not be unset"))
			} else if newIPs[0] != oldIPs[0] {
				allErrs = append(allErrs, field.Invalid(ipsPath.Index(0), newIPs, "may not change once set"))
			}
			if len(newIPs) == 1 && (n.Spec.IPFamilyPolicy == nil || *n.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack) {
				allErrs = append(allErrs, field.Invalid(specPath.Child("ipFamilyPolicy"), n.Spec.IPFamilyPolicy, "must be set to 'SingleStack' when releasing the secondary clusterIP"))
			}
		default:
			if len(oldIPs) > 0 && newIPs[0] != oldIPs[0] {
				allErrs = append(allErrs, field.Invalid(ipsPath.Index(0), newIPs, "may not change once set"))
			}
		}
		if isHeadless(n) == isHeadless(o) {
			allErrs = append(allErrs, validateIPFamiliesUpdate(n, o)...)
		}
	}
	if n.Spec.Type == corev1.ServiceTypeLoadBalancer && o.Spec.Type == corev1.ServiceTypeLoadBalancer &&
		!equalStringPtr(n.Spec.LoadBalancerClass, o.Spec.LoadBalancerClass) {
		allErrs = append(allErrs, field.Invalid(specPath.Child("loadBalancerClass"), n.Spec.LoadBalancerClass, "may not change once set"))
	}
	needsHC := func(s *corev1.Service) bool {
		return s.Spec.Type == corev1.ServiceTypeLoadBalancer && s.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	}
	if needsHC(n) && needsHC(o) && n.Spec.HealthCheckNodePort != o.Spec.HealthCheckNodePort {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("healthCheckNodePort"), "field is immutable"))
	}
	return append(allErrs, validateServiceSpec(n)...)
}

func validateIPFamiliesUpdate(n, o *corev1.Service) field.ErrorList {
	if isHeadless(n) {
		return nil
	}
	var allErrs field.ErrorList
	famPath := specPath.Child("ipFamilies")
	nf, of := n.Spec.IPFamilies, o.Spec.IPFamilies
	switch {
	case len(of) == len(nf):
		for i := range of {
			if of[i] != nf[i] {
				allErrs = append(allErrs, field.Invalid(famPath.Index(0), nf, "may not change once set"))
			}
		}
	case len(of) > len(nf):
		if len(clusterIPsOf(n)) == 0 {
			allErrs = append(allErrs, field.Invalid(famPath.Index(0), nf, "primary ipFamily can not be unset"))
		}
		if len(nf) > 0 && nf[0] != of[0] {
			allErrs = append(allErrs, field.Invalid(famPath.Index(0), nf, "may not change once set"))
		}
		if len(nf) == 1 && (n.Spec.IPFamilyPolicy == nil || *n.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack) {
			allErrs = append(allErrs, field.Invalid(specPath.Child("ipFamilyPolicy"), n.Spec.IPFamilyPolicy, "must be set to 'SingleStack' when releasing the secondary ipFamily"))
		}
	default:
		if len(of) > 0 && len(nf) > 0 && nf[0] != of[0] {
			allErrs = append(allErrs, field.Invalid(famPath.Index(0), nf, "may not change once set"))
		}
	}
	return allErrs
}

func equalStringPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func validateLoadBalancerStatus(st *corev1.LoadBalancerStatus, spec *corev1.ServiceSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	ingPath := fldPath.Child("ingress")
	if spec.Type != corev1.ServiceTypeLoadBalancer && len(st.Ingress) != 0 {
		return field.ErrorList{field.Forbidden(ingPath, "may only be used when `spec.type` is 'LoadBalancer'")}
	}
	for i, ing := range st.Ingress {
		p := ingPath.Index(i)
		if ing.IP != "" {
			allErrs = append(allErrs, validateIP(ing.IP, p.Child("ip"))...)
		}
		if ing.IPMode != nil {
			if ing.IP == "" {
				allErrs = append(allErrs, field.Forbidden(p.Child("ipMode"), "may not be specified when `ip` is not set"))
			} else {
				allErrs = append(allErrs, enumCheckNotSupported(*ing.IPMode, []corev1.LoadBalancerIPMode{corev1.LoadBalancerIPModeProxy, corev1.LoadBalancerIPModeVIP}, p.Child("ipMode"))...)
			}
		}
		allErrs = append(allErrs, validateLBHostname(ing.Hostname, p.Child("hostname"))...)
	}
	return allErrs
}

func validateLBHostname(h string, p *field.Path) field.ErrorList {
	if h == "" {
		return nil
	}
	allErrs := validateDNS1123Subdomain(h, p)
	if _, ok := parseIP(h); ok {
		allErrs = append(allErrs, field.Invalid(p, h, "must be a DNS name, not an IP address"))
	}
	return allErrs
}

// Endpoints

func validateEndpoints(ep *corev1.Endpoints) field.ErrorList {
	allErrs := validateMeta(ep, true, nameIsDNSSubdomain)
	return append(allErrs, validateEndpointsSpec(ep)...)
}

func validateEndpointsSpec(ep *corev1.Endpoints) field.ErrorList {
	var allErrs field.ErrorList
	subsetsPath := field.NewPath("subsets")
	for i := range ep.Subsets {
		ss := &ep.Subsets[i]
		p := subsetsPath.Index(i)
		// Headless services may have endpoints without ports, never without addresses.
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			allErrs = append(allErrs, field.Required(p, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j := range ss.Addresses {
			allErrs = append(allErrs, validateEndpointAddress(&ss.Addresses[j], p.Child("addresses").Index(j))...)
		}
		for j := range ss.NotReadyAddresses {
			allErrs = append(allErrs, validateEndpointAddress(&ss.NotReadyAddresses[j], p.Child("notReadyAddresses").Index(j))...)
		}
		for j, port := range ss.Ports {
			pp := p.Child("ports").Index(j)
			if len(ss.Ports) > 1 && port.Name == "" {
				allErrs = append(allErrs, field.Required(pp.Child("name"), ""))
			} else if port.Name != "" {
				allErrs = append(allErrs, validateDNS1123Label(port.Name, pp.Child("name"))...)
			}
			allErrs = append(allErrs, validatePortNum(port.Port, pp.Child("port"))...)
			allErrs = append(allErrs, enumCheck(port.Protocol, protocols, pp.Child("protocol"))...)
			if port.AppProtocol != nil {
				allErrs = append(allErrs, validateQualifiedName(*port.AppProtocol, pp.Child("appProtocol"))...)
			}
		}
	}
	return allErrs
}

func validateEndpointAddress(a *corev1.EndpointAddress, p *field.Path) field.ErrorList {
	allErrs := validateIP(a.IP, p.Child("ip"))
	if a.Hostname != "" {
		allErrs = append(allErrs, validateDNS1123Label(a.Hostname, p.Child("hostname"))...)
	}
	if a.NodeName != nil {
		allErrs = append(allErrs, validateName(nameIsDNSSubdomain, *a.NodeName, p.Child("nodeName"))...)
	}
	if len(allErrs) == 0 {
		allErrs = append(allErrs, validateNonSpecialIP(a.IP, p.Child("ip"))...)
	}
	return allErrs
}

// EndpointSlice

const (
	maxEndpointSliceEndpoints = 1000
	maxEndpointAddresses      = 100
	maxEndpointSlicePorts     = 20000
	maxTopologyLabels         = 16
	maxHints                  = 8
)

var addressTypes = []discoveryv1.AddressType{discoveryv1.AddressTypeFQDN, discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6}

func validateEndpointSliceCreate(es *discoveryv1.EndpointSlice) field.ErrorList {
	allErrs := validateMeta(es, true, nameIsDNSSubdomain)
	allErrs = append(allErrs, enumCheck(es.AddressType, addressTypes, field.NewPath("addressType"))...)
	return append(allErrs, validateEndpointSliceBody(es)...)
}

func validateEndpointSliceUpdate(n, o *discoveryv1.EndpointSlice) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	allErrs = append(allErrs, validateEndpointSliceBody(n)...)
	return append(allErrs, validateImmutable(n.AddressType, o.AddressType, field.NewPath("addressType"))...)
}

func validateEndpointSliceBody(es *discoveryv1.EndpointSlice) field.ErrorList {
	var allErrs field.ErrorList
	epPath := field.NewPath("endpoints")
	if len(es.Endpoints) > maxEndpointSliceEndpoints {
		allErrs = append(allErrs, field.TooMany(epPath, len(es.Endpoints), maxEndpointSliceEndpoints))
	} else {
		for i := range es.Endpoints {
			allErrs = append(allErrs, validateSliceEndpoint(&es.Endpoints[i], es.AddressType, epPath.Index(i))...)
		}
	}
	portsPath := field.NewPath("ports")
	if len(es.Ports) > maxEndpointSlicePorts {
		return append(allErrs, field.TooMany(portsPath, len(es.Ports), maxEndpointSlicePorts))
	}
	names := map[string]bool{}
	for i, port := range es.Ports {
		p := portsPath.Index(i)
		name := ""
		if port.Name != nil {
			name = *port.Name
		}
		if name != "" {
			allErrs = append(allErrs, validateDNS1123Label(name, p.Child("name"))...)
		}
		if names[name] {
			allErrs = append(allErrs, field.Duplicate(p.Child("name"), name))
		}
		names[name] = true
		if port.Protocol == nil {
			allErrs = append(allErrs, field.Required(p.Child("protocol"), ""))
		} else {
			allErrs = append(allErrs, enumCheckNotSupported(*port.Protocol, protocols, p.Child("protocol"))...)
		}
		if port.Port != nil {
			allErrs = append(allErrs, validatePortNum(*port.Port, p.Child("port"))...)
		}
		if port.AppProtocol != nil {
			allErrs = append(allErrs, validateQualifiedName(*port.AppProtocol, p.Child("appProtocol"))...)
		}
	}
	return allErrs
}

func validateSliceEndpoint(ep *discoveryv1.Endpoint, addrType discoveryv1.AddressType, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	addrPath := p.Child("addresses")
	if len(ep.Addresses) == 0 {
		allErrs = append(allErrs, field.Required(addrPath, "must contain at least 1 address"))
	} else if len(ep.Addresses) > maxEndpointAddresses {
		allErrs = append(allErrs, field.TooMany(addrPath, len(ep.Addresses), maxEndpointAddresses))
	}
	for i, a := range ep.Addresses {
		ap := addrPath.Index(i)
		switch addrType {
		case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
			errs := validateIP(a, ap)
			if len(errs) == 0 {
				want := 4
				if addrType == discoveryv1.AddressTypeIPv6 {
					want = 6
				}
				if ipFamily(a) != want {
					errs = append(errs, field.Invalid(ap, a, fmt.Sprintf("must be a valid %s address", addrType)))
				}
			}
			if len(errs) == 0 {
				errs = validateNonSpecialIP(a, ap)
			}
			allErrs = append(allErrs, errs...)
		case discoveryv1.AddressTypeFQDN:
			allErrs = append(allErrs, validation.IsFullyQualifiedDomainName(ap, a)...)
		}
	}
	if ep.NodeName != nil {
		allErrs = append(allErrs, validateName(nameIsDNSSubdomain, *ep.NodeName, p.Child("nodeName"))...)
	}
	topoPath := p.Child("deprecatedTopology")
	if len(ep.DeprecatedTopology) > maxTopologyLabels {
		allErrs = append(allErrs, field.TooMany(topoPath, len(ep.DeprecatedTopology), maxTopologyLabels))
	}
	allErrs = append(allErrs, metav1validation.ValidateLabels(ep.DeprecatedTopology, topoPath)...)
	if ep.Hostname != nil {
		allErrs = append(allErrs, validateDNS1123Label(*ep.Hostname, p.Child("hostname"))...)
	}
	if ep.Zone != nil {
		allErrs = append(allErrs, invalidFor(p.Child("zone"), *ep.Zone, validation.IsValidLabelValue(*ep.Zone))...)
	}
	if h := ep.Hints; h != nil {
		hp := p.Child("hints")
		if len(h.ForZones) > maxHints {
			allErrs = append(allErrs, field.TooMany(hp.Child("forZones"), len(h.ForZones), maxHints))
		}
		for i, z := range h.ForZones {
			allErrs = append(allErrs, invalidFor(hp.Child("forZones").Index(i).Child("name"), z.Name, validation.IsValidLabelValue(z.Name))...)
		}
		if len(h.ForNodes) > maxHints {
			allErrs = append(allErrs, field.TooMany(hp.Child("forNodes"), len(h.ForNodes), maxHints))
		}
		for i, nd := range h.ForNodes {
			allErrs = append(allErrs, validateName(nameIsDNSSubdomain, nd.Name, hp.Child("forNodes").Index(i).Child("name"))...)
		}
	}
	return allErrs
}
