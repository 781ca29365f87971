package dns

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseName(t *testing.T) {
	const zone = "cluster.local."
	tests := []struct {
		name string
		want queryName
	}{
		{"example.com.", queryName{kind: kindNone}},
		{"local.", queryName{kind: kindNone}},
		{"xcluster.local.", queryName{kind: kindNone}},
		{"cluster.local", queryName{kind: kindApex}},
		{"Cluster.Local.", queryName{kind: kindApex}},
		{"dns-version.cluster.local.", queryName{kind: kindDNSVersion}},
		{"svc.cluster.local.", queryName{kind: kindSvcZone}},
		{"prod.svc.cluster.local.", queryName{kind: kindNamespace, namespace: "prod"}},
		{"api.prod.svc.cluster.local.", queryName{kind: kindService, service: "api", namespace: "prod"}},
		{"web-0.web.prod.svc.cluster.local.", queryName{kind: kindEndpoint, endpoint: "web-0", service: "web", namespace: "prod"}},
		{"_tcp.web.prod.svc.cluster.local.", queryName{kind: kindProto, proto: "tcp", service: "web", namespace: "prod"}},
		{"_http._tcp.web.prod.svc.cluster.local.", queryName{kind: kindSRV, port: "http", proto: "tcp", service: "web", namespace: "prod"}},
		{"_http.tcp.web.prod.svc.cluster.local.", queryName{kind: kindInvalid}},
		{"__tcp.web.prod.svc.cluster.local.", queryName{kind: kindProto, proto: "_tcp", service: "web", namespace: "prod"}},
		{"_._tcp.web.prod.svc.cluster.local.", queryName{kind: kindInvalid}},
		{"a.b.c.d.e.svc.cluster.local.", queryName{kind: kindInvalid}},
		{"pod.cluster.local.", queryName{kind: kindPodZone}},
		{"prod.pod.cluster.local.", queryName{kind: kindPodNamespace, namespace: "prod"}},
		{"10-42-0-5.prod.pod.cluster.local.", queryName{kind: kindPod, namespace: "prod", ip: netip.MustParseAddr("10.42.0.5")}},
		{"fd00--5.prod.pod.cluster.local.", queryName{kind: kindPod, namespace: "prod", ip: netip.MustParseAddr("fd00::5")}},
		{"10-42-0.prod.pod.cluster.local.", queryName{kind: kindInvalid}},
		{"x.y.pod.cluster.local.", queryName{kind: kindInvalid}},
		{"foo.cluster.local.", queryName{kind: kindInvalid}},
		{`a\.b.prod.svc.cluster.local.`, queryName{kind: kindInvalid}},
		{"a..svc.cluster.local.", queryName{kind: kindInvalid}},
	}
	for _, tt := range tests {
		got := parseName(tt.name, zone)
		if got != tt.want {
			t.Errorf("parseName(%q) = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestParseReverse(t *testing.T) {
	for name, want := range map[string]string{
		"4.3.2.1.in-addr.arpa.": "1.2.3.4",
		"4.3.2.1.IN-ADDR.ARPA":  "1.2.3.4",
		"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.": "fd00::1",
		"3.2.1.in-addr.arpa.":     "",
		"300.3.2.1.in-addr.arpa.": "",
		"x.ip6.arpa.":             "",
		"example.com.":            "",
	} {
		ip, ok := parseReverse(name)
		if (want == "") == ok || (ok && ip.String() != want) {
			t.Errorf("parseReverse(%q) = %v, %v, want %q", name, ip, ok, want)
		}
	}
}

func FuzzParseName(f *testing.F) {
	for _, s := range []string{
		"api.prod.svc.cluster.local.", "_http._tcp.web.prod.svc.cluster.local.", "web-0.web.prod.svc.cluster.local",
		"10-42-0-5.prod.pod.cluster.local.", "fd00--1.x.pod.cluster.local.", "cluster.local.", ".", "", `\.\..cluster.local.`,
		"4.3.2.1.in-addr.arpa.", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		q := parseName(name, "cluster.local.")
		lower := strings.ToLower(strings.TrimSuffix(name, "."))
		inZone := lower == "cluster.local" || strings.HasSuffix(lower, ".cluster.local")
		if inZone != (q.kind != kindNone) {
			t.Fatalf("parseName(%q) kind %v, in zone %v", name, q.kind, inZone)
		}
		// Every part the parser returns is a label of the name.
		for _, part := range []string{q.namespace, q.service, q.endpoint} {
			if part != "" && (strings.Contains(part, ".") || !strings.Contains(lower, part)) {
				t.Fatalf("parseName(%q) returned part %q", name, part)
			}
		}
		if q.kind == kindPod {
			if !q.ip.IsValid() {
				t.Fatalf("parseName(%q): pod without address", name)
			}
			if back, ok := parseDashedIP(dashedIP(q.ip)); !ok || back != q.ip {
				t.Fatalf("dashed round trip of %v: %v %v", q.ip, back, ok)
			}
		}
		if ip, ok := parseReverse(name); ok {
			if !ip.IsValid() {
				t.Fatalf("parseReverse(%q) invalid address", name)
			}
		}
	})
}
