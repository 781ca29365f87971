package apiserver

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff/internal/registry"
	"skiff/internal/storage"
)

// Services hold their cluster IPs and node ports through claim keys written
// in the same etcd transaction as the Service, so two Services can never hold
// the same value, under concurrency or across restarts. Cluster IPs are
// claimed with IPAddress objects where upstream keeps them.
const (
	ipClaimPrefix       = "/registry/ipaddresses/"
	nodePortClaimPrefix = "/registry/skiff/servicenodeports/"
)

// claimCodec encodes the IPAddress objects of cluster IP claims.
var claimCodec = storage.NewCodec(registry.Scheme)

func needsClusterIP(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName
}

func needsNodePorts(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
}

func (s *Server) ipClaim(svc *corev1.Service, ip string) storage.Claim {
	addr := &networkingv1.IPAddress{
		ObjectMeta: metav1.ObjectMeta{Name: ip, Labels: map[string]string{
			"ipaddress.kubernetes.io/ip-family":  "IPv4",
			"ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io",
		}, CreationTimestamp: metav1.Now()},
		Spec: networkingv1.IPAddressSpec{ParentRef: &networkingv1.ParentReference{Resource: "services", Namespace: svc.Namespace, Name: svc.Name}},
	}
	data, err := claimCodec.Encode(addr)
	if err != nil {
		data = []byte(svc.Namespace + "/" + svc.Name)
	}
	return storage.Claim{Key: ipClaimPrefix + ip, Value: data}
}

// serviceClaims lists the claims a service holds.
func (s *Server) serviceClaims(svc *corev1.Service) []storage.Claim {
	var claims []storage.Claim
	for _, ip := range svc.Spec.ClusterIPs {
		if ip != "" && ip != corev1.ClusterIPNone {
			claims = append(claims, s.ipClaim(svc, ip))
		}
	}
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			claims = append(claims, storage.Claim{Key: nodePortClaimPrefix + strconv.Itoa(int(p.NodePort)), Value: []byte(svc.Namespace + "/" + svc.Name)})
		}
	}
	return claims
}

func (s *Server) randomServiceIP() string {
	cidr := s.cfg.ServiceCIDR
	ones, bits := cidr.Mask.Size()
	size := uint64(1) << uint(bits-ones)
	base := binary.BigEndian.Uint32(cidr.IP.To4())
	// Skip the network address, .1 (the kubernetes Service) and broadcast.
	off := 2 + rand.Uint64N(size-3)
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, base+uint32(off))
	return ip.String()
}

func (s *Server) randomNodePort(used map[int32]bool) int32 {
	for {
		p := int32(s.cfg.NodePortRange.Base + rand.IntN(s.cfg.NodePortRange.Size))
		if !used[p] {
			return p
		}
	}
}

// allocateService fills the cluster IP and node ports a service needs and
// checks requested ones against the ranges.
func (s *Server) allocateService(svc *corev1.Service) error {
	var errs field.ErrorList
	if needsClusterIP(svc) {
		if svc.Spec.ClusterIP == "" && len(svc.Spec.ClusterIPs) > 0 {
			svc.Spec.ClusterIP = svc.Spec.ClusterIPs[0]
		}
		switch ip := svc.Spec.ClusterIP; ip {
		case "":
			svc.Spec.ClusterIP = s.randomServiceIP()
		case corev1.ClusterIPNone:
		default:
			parsed := net.ParseIP(ip)
			if parsed != nil && !s.cfg.ServiceCIDR.Contains(parsed) {
				errs = append(errs, field.Invalid(field.NewPath("spec", "clusterIPs").Index(0), ip,
					fmt.Sprintf("failed to allocate IP %s: the provided IP (%s) is not in the valid range. The range of valid IPs is %s", ip, ip, s.cfg.ServiceCIDR)))
			}
		}
		svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		if svc.Spec.ClusterIP != corev1.ClusterIPNone || len(svc.Spec.IPFamilies) == 0 {
			svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		}
		if svc.Spec.IPFamilyPolicy == nil {
			p := corev1.IPFamilyPolicySingleStack
			svc.Spec.IPFamilyPolicy = &p
		}
	}
	if needsNodePorts(svc) {
		used := map[int32]bool{}
		for _, p := range svc.Spec.Ports {
			used[p.NodePort] = true
		}
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort == 0 {
				p.NodePort = s.randomNodePort(used)
				used[p.NodePort] = true
			} else if !s.cfg.NodePortRange.Contains(int(p.NodePort)) {
				errs = append(errs, field.Invalid(field.NewPath("spec", "ports").Index(i).Child("nodePort"), p.NodePort,
					fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %s", s.cfg.NodePortRange)))
			}
		}
	}
	if len(errs) > 0 {
		return invalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), svc.Name, errs)
	}
	return nil
}

// beforeCreate runs kind-specific create logic and returns the claims the
// object must hold.
func (s *Server) beforeCreate(_ context.Context, q *request, obj runtime.Object) ([]storage.Claim, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil, nil
	}
	if err := s.allocateService(svc); err != nil {
		return nil, err
	}
	return s.serviceClaims(svc), nil
}

// beforeUpdate keeps allocated values a client left out and allocates what
// a type change needs.
func (s *Server) beforeUpdate(_ context.Context, q *request, obj, old runtime.Object) error {
	svc, ok := obj.(*corev1.Service)
	if !ok || q.subresource == "status" {
		return nil
	}
	oldSvc := old.(*corev1.Service)
	if needsClusterIP(svc) && needsClusterIP(oldSvc) && svc.Spec.ClusterIP == "" && len(svc.Spec.ClusterIPs) == 0 {
		svc.Spec.ClusterIP = oldSvc.Spec.ClusterIP
		svc.Spec.ClusterIPs = oldSvc.Spec.ClusterIPs
	}
	if needsNodePorts(svc) && needsNodePorts(oldSvc) {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort != 0 {
				continue
			}
			for _, op := range oldSvc.Spec.Ports {
				if op.Port == p.Port && op.Protocol == p.Protocol {
					p.NodePort = op.NodePort
				}
			}
		}
	}
	if !needsNodePorts(svc) && needsNodePorts(oldSvc) {
		// Fields that only make sense for external services are dropped
		// when the client left them as they were, as upstream does.
		if svc.Spec.ExternalTrafficPolicy == oldSvc.Spec.ExternalTrafficPolicy {
			svc.Spec.ExternalTrafficPolicy = ""
		}
		if svc.Spec.HealthCheckNodePort == oldSvc.Spec.HealthCheckNodePort {
			svc.Spec.HealthCheckNodePort = 0
		}
		for i := range svc.Spec.Ports {
			for _, op := range oldSvc.Spec.Ports {
				if svc.Spec.Ports[i].NodePort == op.NodePort {
					svc.Spec.Ports[i].NodePort = 0
				}
			}
		}
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer && oldSvc.Spec.Type == corev1.ServiceTypeLoadBalancer &&
		apiequality.Semantic.DeepEqual(svc.Spec.AllocateLoadBalancerNodePorts, oldSvc.Spec.AllocateLoadBalancerNodePorts) {
		svc.Spec.AllocateLoadBalancerNodePorts = nil
	}
	if !needsClusterIP(svc) {
		return nil
	}
	return s.allocateService(svc)
}

// claimFailed turns a taken claim into an error, or asks for a retry when
// the value was picked at random.
func (s *Server) claimFailed(q *request, requested runtime.Object, ce *storage.ClaimError) (bool, error) {
	svc, ok := requested.(*corev1.Service)
	if !ok {
		return false, nil
	}
	switch {
	case strings.HasPrefix(ce.Key, ipClaimPrefix):
		ip := strings.TrimPrefix(ce.Key, ipClaimPrefix)
		if svc.Spec.ClusterIP == ip || (len(svc.Spec.ClusterIPs) > 0 && svc.Spec.ClusterIPs[0] == ip) {
			return false, invalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), svc.Name, field.ErrorList{
				field.Invalid(field.NewPath("spec", "clusterIPs").Index(0), ip, fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", ip))})
		}
		return true, nil
	case strings.HasPrefix(ce.Key, nodePortClaimPrefix):
		port, _ := strconv.Atoi(strings.TrimPrefix(ce.Key, nodePortClaimPrefix))
		for i, p := range svc.Spec.Ports {
			if int(p.NodePort) == port {
				return false, invalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), svc.Name, field.ErrorList{
					field.Invalid(field.NewPath("spec", "ports").Index(i).Child("nodePort"), port, "provided port is already allocated")})
			}
		}
		return true, nil
	}
	return false, nil
}

// updateClaims returns the claim changes of a service update.
func (s *Server) updateClaims(q *request) func(old, updated runtime.Object) []storage.Claim {
	if q.res.Group != "" || q.res.Name != "services" {
		return nil
	}
	return func(old, updated runtime.Object) []storage.Claim {
		o, ok1 := old.(*corev1.Service)
		n, ok2 := updated.(*corev1.Service)
		if !ok1 || !ok2 {
			return nil
		}
		oldClaims := map[string]storage.Claim{}
		for _, c := range s.serviceClaims(o) {
			oldClaims[c.Key] = c
		}
		var out []storage.Claim
		for _, c := range s.serviceClaims(n) {
			if _, held := oldClaims[c.Key]; held {
				delete(oldClaims, c.Key)
				continue
			}
			out = append(out, c)
		}
		for _, c := range oldClaims {
			out = append(out, storage.Claim{Key: c.Key, Release: true})
		}
		return out
	}
}

// deleteClaims returns the claims released when an object is deleted.
func (s *Server) deleteClaims(q *request) func(current runtime.Object) []storage.Claim {
	if q.res.Group != "" || q.res.Name != "services" {
		return nil
	}
	return func(current runtime.Object) []storage.Claim {
		svc, ok := current.(*corev1.Service)
		if !ok {
			return nil
		}
		claims := s.serviceClaims(svc)
		for i := range claims {
			claims[i] = storage.Claim{Key: claims[i].Key, Release: true}
		}
		return claims
	}
}
