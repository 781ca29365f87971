package agent

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

func TestParseResolvConf(t *testing.T) {
	rc := parseResolvConf(`# generated
nameserver 192.0.2.1
search old.example
nameserver 192.0.2.2
; comment
search corp.example. . lab.example
options ndots:2
options edns0 timeout:1
nameserver
`)
	if want := []string{"192.0.2.1", "192.0.2.2"}; !slices.Equal(rc.servers, want) {
		t.Errorf("servers %q, want %q", rc.servers, want)
	}
	if want := []string{"corp.example", "lab.example"}; !slices.Equal(rc.searches, want) {
		t.Errorf("searches %q, want %q", rc.searches, want)
	}
	if want := []string{"edns0", "timeout:1"}; !slices.Equal(rc.options, want) {
		t.Errorf("options %q, want %q", rc.options, want)
	}
}

func TestPodDNSType(t *testing.T) {
	for _, tt := range []struct {
		policy  corev1.DNSPolicy
		hostNet bool
		want    podDNSType
	}{
		{"", false, podDNSCluster},
		{corev1.DNSClusterFirst, false, podDNSCluster},
		{corev1.DNSClusterFirst, true, podDNSHost},
		{corev1.DNSClusterFirstWithHostNet, true, podDNSCluster},
		{corev1.DNSClusterFirstWithHostNet, false, podDNSCluster},
		{corev1.DNSDefault, false, podDNSHost},
		{corev1.DNSNone, false, podDNSNone},
		{corev1.DNSNone, true, podDNSNone},
	} {
		pod := &corev1.Pod{Spec: corev1.PodSpec{DNSPolicy: tt.policy, HostNetwork: tt.hostNet}}
		if got := podDNSTypeOf(pod); got != tt.want {
			t.Errorf("%q hostNetwork=%v: %v, want %v", tt.policy, tt.hostNet, got, tt.want)
		}
	}
}

func TestBuildPodDNS(t *testing.T) {
	host := resolvConf{servers: []string{"192.0.2.53"}, searches: []string{"corp.example"}, options: []string{"ndots:1", "edns0"}}
	longSearches := make([]string, 40)
	for i := range longSearches {
		longSearches[i] = fmt.Sprintf("d%d.example", i)
	}
	big := make([]string, 30)
	for i := range big {
		big[i] = strings.Repeat("x", 60) + fmt.Sprintf("%d.example", i) // 69-70 chars each; 30 of them exceed 2048
	}
	tests := []struct {
		name       string
		dnsType    podDNSType
		clusterDNS []string
		podConfig  *corev1.PodDNSConfig
		host       *resolvConf
		servers    []string
		searches   []string
		options    []string
		warnings   int
	}{
		{
			name: "cluster", dnsType: podDNSCluster,
			servers:  []string{"10.43.0.10"},
			searches: []string{"prod.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example"},
			options:  []string{"ndots:5"},
		},
		{
			name: "host", dnsType: podDNSHost,
			servers: []string{"192.0.2.53"}, searches: []string{"corp.example"}, options: []string{"ndots:1", "edns0"},
		},
		{
			name: "none without dnsConfig", dnsType: podDNSNone,
		},
		{
			name: "none with dnsConfig", dnsType: podDNSNone,
			podConfig: &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}, Searches: []string{"a.example"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}}},
			servers:   []string{"1.1.1.1"}, searches: []string{"a.example"}, options: []string{"ndots:2"},
		},
		{
			name: "cluster merged with dnsConfig", dnsType: podDNSCluster,
			podConfig: &corev1.PodDNSConfig{
				Nameservers: []string{"10.43.0.10", "1.1.1.1"},
				Searches:    []string{"svc.cluster.local", "extra.example"},
				Options:     []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}, {Name: "single-request-reopen"}, {Name: "ndots", Value: ptr.To("3")}},
			},
			servers:  []string{"10.43.0.10", "1.1.1.1"},
			searches: []string{"prod.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example", "extra.example"},
			options:  []string{"ndots:3", "single-request-reopen"},
		},
		{
			name: "host merged, option without value overrides", dnsType: podDNSHost,
			podConfig: &corev1.PodDNSConfig{Options: []corev1.PodDNSConfigOption{{Name: "ndots"}}},
			servers:   []string{"192.0.2.53"}, searches: []string{"corp.example"}, options: []string{"ndots", "edns0"},
		},
		{
			name: "too many nameservers", dnsType: podDNSCluster,
			podConfig: &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1", "8.8.8.8", "9.9.9.9"}},
			servers:   []string{"10.43.0.10", "1.1.1.1", "8.8.8.8"},
			searches:  []string{"prod.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example"},
			options:   []string{"ndots:5"}, warnings: 1,
		},
		{
			name: "too many search paths", dnsType: podDNSCluster,
			host:    &resolvConf{searches: longSearches},
			servers: []string{"10.43.0.10"},
			searches: append([]string{"prod.svc.cluster.local", "svc.cluster.local", "cluster.local"},
				longSearches[:29]...),
			options: []string{"ndots:5"}, warnings: 1,
		},
		{
			name: "search line too long", dnsType: podDNSNone,
			podConfig: &corev1.PodDNSConfig{Searches: append([]string{strings.Repeat("y", 254)}, big...)},
			searches:  big[:29], warnings: 1, // exactly 2048 chars
		},
		{
			name: "multiple cluster DNS servers", dnsType: podDNSCluster, clusterDNS: []string{"10.43.0.10", "fd00:43::a"},
			servers:  []string{"10.43.0.10", "fd00:43::a"},
			searches: []string{"prod.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example"},
			options:  []string{"ndots:5"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := podDNSInput{dnsType: tt.dnsType, namespace: "prod", host: host, clusterDNS: []string{"10.43.0.10"}, clusterDomain: "cluster.local", podConfig: tt.podConfig}
			if tt.host != nil {
				in.host = *tt.host
			}
			if tt.clusterDNS != nil {
				in.clusterDNS = tt.clusterDNS
			}
			cfg, warnings := buildPodDNS(in)
			if !slices.Equal(cfg.Servers, tt.servers) {
				t.Errorf("servers %q, want %q", cfg.Servers, tt.servers)
			}
			if !slices.Equal(cfg.Searches, tt.searches) {
				t.Errorf("searches %q, want %q", cfg.Searches, tt.searches)
			}
			if !slices.Equal(cfg.Options, tt.options) {
				t.Errorf("options %q, want %q", cfg.Options, tt.options)
			}
			if len(warnings) != tt.warnings {
				t.Errorf("warnings %q, want %d", warnings, tt.warnings)
			}
			if n := len(strings.Join(cfg.Searches, " ")); n > maxDNSSearchListChars {
				t.Errorf("search line %d chars", n)
			}
		})
	}
	// The host's slices are not aliased by the result.
	cfg, _ := buildPodDNS(podDNSInput{dnsType: podDNSHost, host: host, podConfig: &corev1.PodDNSConfig{Nameservers: []string{"x"}}})
	cfg.Servers[0] = "changed"
	if host.servers[0] != "192.0.2.53" {
		t.Error("buildPodDNS modified the host config")
	}
}

func TestAgentPodDNSConfig(t *testing.T) {
	dir := t.TempDir()
	resolv := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 192.0.2.53\nsearch corp.example\noptions edns0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := record.NewFakeRecorder(10)
	a := &Agent{cfg: Config{ResolvConf: resolv}, recorder: rec, log: slog.New(slog.DiscardHandler)}
	a.cfg.defaults()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "p"}, Spec: corev1.PodSpec{DNSPolicy: corev1.DNSClusterFirst}}

	cfg, err := a.podDNSConfig(pod)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Servers, []string{"10.43.0.10"}) || !slices.Equal(cfg.Searches, []string{"prod.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example"}) || !slices.Equal(cfg.Options, []string{"ndots:5"}) {
		t.Errorf("ClusterFirst: %v", cfg)
	}

	hostNet := pod.DeepCopy()
	hostNet.Spec.HostNetwork = true
	if cfg, _ = a.podDNSConfig(hostNet); !slices.Equal(cfg.Servers, []string{"192.0.2.53"}) || !slices.Equal(cfg.Options, []string{"edns0"}) {
		t.Errorf("ClusterFirst on the host network: %v", cfg)
	}

	// No cluster DNS configured: Default, with an event.
	a.cfg.ClusterDNS = []string{}
	if cfg, _ = a.podDNSConfig(pod); !slices.Equal(cfg.Servers, []string{"192.0.2.53"}) {
		t.Errorf("without cluster DNS: %v", cfg)
	}
	if ev := <-rec.Events; !strings.Contains(ev, "MissingClusterDNS") {
		t.Errorf("event %q", ev)
	}
	a.cfg.ClusterDNS = []string{"10.43.0.10"}

	// Limits exceeded: an event.
	many := pod.DeepCopy()
	many.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1", "2.2.2.2", "3.3.3.3"}}
	if cfg, _ = a.podDNSConfig(many); len(cfg.Servers) != 3 {
		t.Errorf("servers %v", cfg.Servers)
	}
	if ev := <-rec.Events; !strings.Contains(ev, "DNSConfigForming") || !strings.Contains(ev, "Nameserver limits were exceeded") {
		t.Errorf("event %q", ev)
	}

	// A missing resolv.conf means no host resolvers, not a failure.
	a.cfg.ResolvConf = filepath.Join(dir, "missing")
	cfg, err = a.podDNSConfig(pod)
	if err != nil || !slices.Equal(cfg.Searches, []string{"prod.svc.cluster.local", "svc.cluster.local", "cluster.local"}) {
		t.Errorf("missing resolv.conf: %v, %v", cfg, err)
	}
	// An unreadable one fails the sandbox, as upstream.
	a.cfg.ResolvConf = dir
	if _, err := a.podDNSConfig(pod); err == nil {
		t.Error("reading a directory as resolv.conf succeeded")
	}
}
