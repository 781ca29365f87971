package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Limits on a pod's resolver configuration, as upstream's API validation
// (with expanded DNS config, GA since 1.28) and kubelet apply them.
const (
	maxDNSNameservers     = 3
	maxDNSSearchPaths     = 32
	maxDNSSearchListChars = 2048
	maxDNSSearchPathLen   = 253 // glibc aborts on longer search entries
)

// podDNSType is what a pod's dnsPolicy boils down to.
type podDNSType int

const (
	podDNSCluster podDNSType = iota // the cluster DNS, cluster search path
	podDNSHost                      // the node's resolv.conf
	podDNSNone                      // only pod.spec.dnsConfig
)

// podDNSTypeOf maps dnsPolicy as kubelet does: ClusterFirst on the host
// network means Default (the pod shares the node's resolver view), and
// ClusterFirstWithHostNet exists to ask for the cluster DNS there anyway.
// An unknown policy (the API server rejects those) is ClusterFirst.
func podDNSTypeOf(pod *corev1.Pod) podDNSType {
	switch pod.Spec.DNSPolicy {
	case corev1.DNSNone:
		return podDNSNone
	case corev1.DNSClusterFirstWithHostNet:
		return podDNSCluster
	case corev1.DNSDefault:
		return podDNSHost
	}
	if pod.Spec.HostNetwork {
		return podDNSHost
	}
	return podDNSCluster
}

// resolvConf is what a resolv.conf says, as kubelet reads it.
type resolvConf struct {
	servers, searches, options []string
}

// parseResolvConf reads resolv.conf text: nameserver lines accumulate, the
// last search and options lines win; search domains lose a trailing dot
// and "." is dropped, so one domain written two ways counts once.
func parseResolvConf(text string) resolvConf {
	var rc resolvConf
	for line := range strings.SplitSeq(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) >= 2 {
				rc.servers = append(rc.servers, f[1])
			}
		case "search":
			rc.searches = nil
			for _, s := range f[1:] {
				if s != "." {
					rc.searches = append(rc.searches, strings.TrimSuffix(s, "."))
				}
			}
		case "options":
			rc.options = append([]string(nil), f[1:]...)
		}
	}
	return rc
}

// podDNSInput is everything the pod's resolver configuration depends on.
type podDNSInput struct {
	dnsType       podDNSType
	namespace     string
	host          resolvConf
	clusterDNS    []string
	clusterDomain string
	podConfig     *corev1.PodDNSConfig
}

// buildPodDNS composes a pod's resolver configuration as kubelet does: the
// policy's base (cluster DNS with the cluster search path and ndots:5, the
// node's resolv.conf, or nothing), pod.spec.dnsConfig merged on top
// (servers and searches appended without duplicates, options overriding
// by name), then cut to the limits. The warnings are the event messages
// for what was cut.
func buildPodDNS(in podDNSInput) (*runtimeapi.DNSConfig, []string) {
	cfg := &runtimeapi.DNSConfig{}
	switch in.dnsType {
	case podDNSCluster:
		// The cluster DNS is the only nameserver: it forwards what it does
		// not own to the node's resolvers itself.
		cfg.Servers = append([]string(nil), in.clusterDNS...)
		if in.clusterDomain != "" {
			d := in.clusterDomain
			cfg.Searches = append(cfg.Searches, in.namespace+".svc."+d, "svc."+d, d)
		}
		cfg.Searches = dedupe(append(cfg.Searches, in.host.searches...))
		cfg.Options = []string{"ndots:5"}
	case podDNSHost:
		cfg.Servers = append([]string(nil), in.host.servers...)
		cfg.Searches = append([]string(nil), in.host.searches...)
		cfg.Options = append([]string(nil), in.host.options...)
	}
	if pc := in.podConfig; pc != nil {
		cfg.Servers = dedupe(append(cfg.Servers, pc.Nameservers...))
		cfg.Searches = dedupe(append(cfg.Searches, pc.Searches...))
		cfg.Options = mergeDNSOptions(cfg.Options, pc.Options)
	}

	var warnings []string
	if len(cfg.Servers) > maxDNSNameservers {
		cfg.Servers = cfg.Servers[:maxDNSNameservers]
		warnings = append(warnings, "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: "+strings.Join(cfg.Servers, " "))
	}
	searches, cut := fitSearches(cfg.Searches)
	cfg.Searches = searches
	if cut {
		warnings = append(warnings, "Search Line limits were exceeded, some search paths have been omitted, the applied search line is: "+strings.Join(cfg.Searches, " "))
	}
	return cfg, warnings
}

// fitSearches keeps the first maxDNSSearchPaths search domains, drops
// overlong ones, then drops from the end until the line fits in
// maxDNSSearchListChars. It reports whether anything was dropped.
func fitSearches(in []string) ([]string, bool) {
	cut := false
	if len(in) > maxDNSSearchPaths {
		in, cut = in[:maxDNSSearchPaths], true
	}
	out := make([]string, 0, len(in))
	for _, s := range in {
		if len(s) > maxDNSSearchPathLen {
			cut = true
			continue
		}
		out = append(out, s)
	}
	for len(out) > 0 && len(strings.Join(out, " ")) > maxDNSSearchListChars {
		out, cut = out[:len(out)-1], true
	}
	if len(out) == 0 {
		out = nil
	}
	return out, cut
}

// mergeDNSOptions overrides options by name ("ndots" in "ndots:5") with the
// pod's; order is kept, new names go last.
func mergeDNSOptions(base []string, pod []corev1.PodDNSConfigOption) []string {
	var names []string
	vals := map[string]string{}
	set := func(name, val string) {
		if _, ok := vals[name]; !ok {
			names = append(names, name)
		}
		vals[name] = val
	}
	for _, o := range base {
		name, val, _ := strings.Cut(o, ":")
		set(name, val)
	}
	for _, o := range pod {
		val := ""
		if o.Value != nil {
			val = *o.Value
		}
		set(o.Name, val)
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if vals[n] != "" {
			out = append(out, n+":"+vals[n])
		} else {
			out = append(out, n)
		}
	}
	return out
}

func dedupe(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := in[:0:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// podDNSConfig is the resolver configuration the CRI writes into the
// pod's sandbox as /etc/resolv.conf, by its dnsPolicy and dnsConfig.
func (a *Agent) podDNSConfig(pod *corev1.Pod) (*runtimeapi.DNSConfig, error) {
	in := podDNSInput{
		dnsType:       podDNSTypeOf(pod),
		namespace:     pod.Namespace,
		clusterDNS:    a.cfg.ClusterDNS,
		clusterDomain: a.cfg.ClusterDomain,
		podConfig:     pod.Spec.DNSConfig,
	}
	if a.cfg.ResolvConf != "" {
		b, err := os.ReadFile(a.cfg.ResolvConf)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// A node without resolv.conf has no host resolvers to pass on;
			// cluster names still work.
			a.log.Debug("no resolv.conf; pods get no host nameservers", "path", a.cfg.ResolvConf)
		case err != nil:
			return nil, fmt.Errorf("reading %s: %w", a.cfg.ResolvConf, err)
		default:
			in.host = parseResolvConf(string(b))
		}
	}
	if in.dnsType == podDNSCluster && len(in.clusterDNS) == 0 {
		msg := fmt.Sprintf("kubelet does not have ClusterDNS IP configured and cannot create Pod using %q policy. Falling back to %q policy.", corev1.DNSClusterFirst, corev1.DNSDefault)
		a.recorder.Eventf(pod, corev1.EventTypeWarning, "MissingClusterDNS", "pod: %q. %s", pod.Namespace+"/"+pod.Name, msg)
		in.dnsType = podDNSHost
	}
	cfg, warnings := buildPodDNS(in)
	for _, w := range warnings {
		a.recorder.Event(pod, corev1.EventTypeWarning, "DNSConfigForming", w)
		a.log.Warn("pod DNS config cut to limits", "pod", pod.Namespace+"/"+pod.Name, "detail", w)
	}
	return cfg, nil
}
