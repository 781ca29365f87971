package ingress

import (
	"crypto/tls"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/utils/ptr"
)

// stubSources serves every service with port 80 "http" and one endpoint.
func stubSources() sources {
	return sources{
		service: func(ns, name string) (*corev1.Service, error) {
			if name == "missing" {
				return nil, errors.New("not found")
			}
			return mkService(ns, name, "http", 80), nil
		},
		slices: func(ns, svc string) ([]*discoveryv1.EndpointSlice, error) {
			if svc == "empty" {
				return nil, nil
			}
			return []*discoveryv1.EndpointSlice{mkSlice(ns, svc, "http", 8080, "10.42.0.1")}, nil
		},
	}
}

var (
	exact  = networkingv1.PathTypeExact
	prefix = networkingv1.PathTypePrefix
	impl   = networkingv1.PathTypeImplementationSpecific
)

func TestMatch(t *testing.T) {
	a := mkIngress("default", "a", 0, nil,
		pathSpec{"foo.example.com", "/", prefix, "root", 80},
		pathSpec{"foo.example.com", "/foo", prefix, "foo-prefix", 80},
		pathSpec{"foo.example.com", "/foo", exact, "foo-exact", 80},
		pathSpec{"foo.example.com", "/foo/bar/", prefix, "foobar", 80},
		pathSpec{"foo.example.com", "/aaa/bbb", prefix, "aaabbb", 80},
		pathSpec{"foo.example.com", "/aaa/bbb/", exact, "aaabbb-exact-slash", 80},
		pathSpec{"foo.example.com", "/impl", impl, "impl", 80},
		pathSpec{"*.wild.example.com", "/", prefix, "wild", 80},
		pathSpec{"exactonly.example.com", "/only", exact, "only", 80},
		pathSpec{"", "/any", prefix, "anyhost", 80},
	)
	// A younger Ingress: its duplicate path loses, its new paths merge.
	b := mkIngress("other", "b", 5, nil,
		pathSpec{"foo.example.com", "/foo", prefix, "younger", 80},
		pathSpec{"foo.example.com", "/baz", prefix, "baz", 80},
		pathSpec{"x.wild.example.com", "/x", prefix, "x-exact-host", 80},
	)
	c := mkIngress("default", "c", 10, nil, pathSpec{"defaulted.example.com", "/p", exact, "p", 80})
	c.Spec.DefaultBackend = ptr.To(ingressBackend("host-default", 80))
	d := mkIngress("default", "d", 20, nil)
	d.Spec.DefaultBackend = ptr.To(ingressBackend("younger-default", 80))

	tests := []struct {
		host, path string
		want       string // service, "" for 404
	}{
		{"foo.example.com", "/", "root"},
		{"foo.example.com", "/foo", "foo-exact"},
		{"FOO.example.com:8080", "/foo", "foo-exact"},
		{"foo.example.com.", "/foo/", "foo-prefix"},
		{"foo.example.com", "/foo/x", "foo-prefix"},
		{"foo.example.com", "/foobar", "root"},
		{"foo.example.com", "/foo/bar", "foobar"},
		{"foo.example.com", "/foo/bar/baz", "foobar"},
		{"foo.example.com", "/foo/barbaz", "foo-prefix"},
		{"foo.example.com", "/aaa/bbb/", "aaabbb-exact-slash"},
		{"foo.example.com", "/aaa/bbb", "aaabbb"},
		{"foo.example.com", "/aaa/bbbxyz", "root"},
		{"foo.example.com", "/impl/x", "impl"},
		{"foo.example.com", "/baz/1", "baz"},
		{"foo.example.com", "//foo//x", "foo-prefix"},
		{"foo.example.com", "/x/../foo", "foo-exact"},
		{"a.wild.example.com", "/anything", "wild"},
		{"x.wild.example.com", "/x", "x-exact-host"},
		{"x.wild.example.com", "/y", "c-global"}, // the exact host hides the wildcard
		{"a.b.wild.example.com", "/", "c-global"},
		{"wild.example.com", "/", "c-global"},
		{"exactonly.example.com", "/only", "only"},
		{"exactonly.example.com", "/only/", "c-global"},
		{"unknown.example.com", "/any/1", "anyhost"},
		{"foo.example.com", "/any", "root"}, // a named host hides the host-less rules
		{"", "/any", "anyhost"},
		{"defaulted.example.com", "/p", "p"},
		{"defaulted.example.com", "/q", "host-default"},
		{"unknown.example.com", "/q", "c-global"},
	}
	tbl, problems := build([]*networkingv1.Ingress{d, c, b, a}, stubSources())
	if len(problems) != 0 {
		t.Errorf("problems: %v", problems)
	}
	for _, tc := range tests {
		want := tc.want
		if want == "c-global" {
			// The cluster-wide default is the oldest Ingress's
			// defaultBackend: c's, not the younger d's.
			want = "host-default"
		}
		tg := tbl.match(tc.host, tc.path)
		got := ""
		if tg != nil {
			got = tg.backend.service
		}
		if got != want {
			t.Errorf("match(%q, %q) = %q, want %q", tc.host, tc.path, got, want)
		}
	}

	// Without any default backend, unmatched requests get nil (404).
	tbl, _ = build([]*networkingv1.Ingress{a}, stubSources())
	if tg := tbl.match("nothing.example.com", "/"); tg != nil {
		t.Errorf("no default backend: got %v, want 404", tg.backend.service)
	}
	if tg := tbl.match("foo.example.com", "/foo"); tg == nil || tg.ingress != "a" || tg.namespace != "default" {
		t.Errorf("target ingress = %+v", tg)
	}
}

func TestBuildEndpoints(t *testing.T) {
	ing := mkIngress("ns", "i", 0, nil,
		pathSpec{"h", "/named", prefix, "web", "web"},
		pathSpec{"h", "/num", prefix, "web", 8000},
		pathSpec{"h", "/badport", prefix, "web", 1},
		pathSpec{"h", "/missing", prefix, "missing", 80},
	)
	ing.Spec.Rules[0].HTTP.Paths = append(ing.Spec.Rules[0].HTTP.Paths, networkingv1.HTTPIngressPath{
		Path: "/res", PathType: &prefix, Backend: networkingv1.IngressBackend{Resource: &corev1.TypedLocalObjectReference{Kind: "Bucket", Name: "b"}},
	})
	notReady := mkSlice("ns", "web", "web", 9000, "10.42.1.3")
	notReady.Name = "web-2"
	notReady.Endpoints[0].Conditions.Ready = ptr.To(false)
	other := mkSlice("ns", "web", "metrics", 9100, "10.42.1.4")
	other.Name = "web-3"
	src := sources{
		service: func(ns, name string) (*corev1.Service, error) {
			if name != "web" {
				return nil, errors.New("not found")
			}
			return mkService(ns, name, "web", 8000), nil
		},
		slices: func(ns, svc string) ([]*discoveryv1.EndpointSlice, error) {
			return []*discoveryv1.EndpointSlice{mkSlice(ns, svc, "web", 9000, "10.42.1.2", "10.42.0.9"), notReady, other}, nil
		},
	}
	tbl, problems := build([]*networkingv1.Ingress{ing}, src)
	if len(problems) != 2 {
		t.Errorf("problems = %v, want 2 (bad port, missing service)", problems)
	}
	for path, want := range map[string][]string{
		"/named":   {"10.42.0.9:9000", "10.42.1.2:9000"},
		"/num":     {"10.42.0.9:9000", "10.42.1.2:9000"},
		"/badport": nil,
		"/missing": nil,
		"/res":     nil,
	} {
		tg := tbl.match("h", path)
		if tg == nil {
			t.Fatalf("%s: no match", path)
		}
		if got := tg.backend.endpoints; len(got) != len(want) || (len(want) > 0 && (got[0] != want[0] || got[1] != want[1])) {
			t.Errorf("%s: endpoints %v, want %v", path, got, want)
		}
	}
}

func TestClassMatches(t *testing.T) {
	legacy := func(v string) *networkingv1.Ingress {
		i := mkIngress("ns", "l", 0, nil)
		i.Annotations = map[string]string{LegacyClassAnnotation: v}
		return i
	}
	tests := []struct {
		name      string
		ing       *networkingv1.Ingress
		isDefault bool
		want      bool
	}{
		{"our class", mkIngress("ns", "a", 0, ptr.To("skiff")), false, true},
		{"other class", mkIngress("ns", "a", 0, ptr.To("nginx")), true, false},
		{"no class, default", mkIngress("ns", "a", 0, nil), true, true},
		{"no class, not default", mkIngress("ns", "a", 0, nil), false, false},
		{"legacy ours", legacy("skiff"), false, true},
		{"legacy other", legacy("nginx"), true, false},
	}
	for _, tc := range tests {
		if got := classMatches(tc.ing, "skiff", tc.isDefault); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("foo.example.com", "/foo", "/foo/bar", "*.example.com", "/foo/bar/baz")
	f.Add("", "", "/", "*.", "//..//a/./b")
	f.Add("[::1]:80", "/a/", "a", "*", "%2F")
	f.Fuzz(func(t *testing.T, host, p1, p2, ruleHost, reqPath string) {
		ing := mkIngress("ns", "f", 0, nil,
			pathSpec{ruleHost, p1, exact, "s1", 80},
			pathSpec{ruleHost, p2, prefix, "s2", 80},
			pathSpec{host, p1, impl, "s3", "http"},
			pathSpec{"", p2, prefix, "empty", 80},
		)
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{ruleHost, host}, SecretName: "x"}}
		tbl, _ := build([]*networkingv1.Ingress{ing}, stubSources())
		if tg := tbl.match(host, reqPath); tg != nil && tg.backend == nil {
			t.Fatal("target without backend")
		}
		_ = tbl.match(ruleHost, p1)
		_ = tbl.certs.lookup(host)
		_ = normalizePath(reqPath)
	})
}

func TestBuildExternalNameAndCerts(t *testing.T) {
	ing := mkIngress("ns", "i", 0, nil,
		pathSpec{"ext.example.com", "/", prefix, "ext", 8443},
		pathSpec{"two.example.com", "/", prefix, "ext", 8443})
	ing.Spec.TLS = []networkingv1.IngressTLS{{SecretName: "rule-hosts"}} // no hosts: the rule hosts
	noRules := mkIngress("ns", "j", 1, nil)
	noRules.Spec.TLS = []networkingv1.IngressTLS{{SecretName: "catchall"}, {SecretName: "missing", Hosts: []string{"m.example.com"}}}
	certs := map[string]*tls.Certificate{"rule-hosts": {}, "catchall": {}}
	src := sources{
		service: func(ns, name string) (*corev1.Service, error) {
			return &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "backend.example.org"}}, nil
		},
		cert: func(ns, name string) (*tls.Certificate, error) {
			if c, ok := certs[name]; ok {
				return c, nil
			}
			return nil, errors.New("not found")
		},
	}
	tbl, problems := build([]*networkingv1.Ingress{noRules, ing}, src)
	if len(problems) != 1 {
		t.Errorf("problems = %v, want the missing secret", problems)
	}
	if tg := tbl.match("ext.example.com", "/x"); tg == nil || len(tg.backend.endpoints) != 1 || tg.backend.endpoints[0] != "backend.example.org:8443" {
		t.Errorf("ExternalName target = %+v", tg)
	}
	for name, want := range map[string]*tls.Certificate{
		"ext.example.com": certs["rule-hosts"], "TWO.example.com": certs["rule-hosts"],
		"other.example.com": certs["catchall"], "m.example.com": certs["catchall"],
	} {
		if got := tbl.certs.lookup(name); got != want {
			t.Errorf("cert for %s: %p, want %p", name, got, want)
		}
	}
	// The redirect follows spec.tls[].hosts only (as ingress-nginx).
	if tg := tbl.match("ext.example.com", "/"); tg.sslRedirect {
		t.Error("redirect without a TLS host")
	}
}
