package ingress

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// TestSyncEvents: an Ingress taken in gets one "Sync" event, and another
// only when its spec changes (a new generation), as ingress-nginx's.
func TestSyncEvents(t *testing.T) {
	rec := record.NewFakeRecorder(10)
	r := &Router{cfg: Config{Recorder: rec}, announced: map[types.UID]int64{}}
	a := mkIngress("default", "a", 0, nil)
	a.UID, a.Generation = "uid-a", 1
	b := mkIngress("default", "b", 0, nil)
	b.UID, b.Generation = "uid-b", 1
	expect := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			select {
			case e := <-rec.Events:
				if e != "Normal Sync Scheduled for sync" {
					t.Fatalf("event %q", e)
				}
			default:
				t.Fatalf("%d events, want %d", i, n)
			}
		}
		select {
		case e := <-rec.Events:
			t.Fatalf("unexpected event %q", e)
		default:
		}
	}
	r.announce([]*networkingv1.Ingress{a, b})
	expect(2)
	r.announce([]*networkingv1.Ingress{a, b}) // an unrelated rebuild
	expect(0)
	a2 := a.DeepCopy()
	a2.Generation = 2
	r.announce([]*networkingv1.Ingress{a2, b})
	expect(1)
	r.announce([]*networkingv1.Ingress{b}) // a gone, then back (re-created)
	r.announce([]*networkingv1.Ingress{a2, b})
	expect(1)
}

// TestRebuildOnlyForBackends: a Service or EndpointSlice change asks for a
// rebuild only when an Ingress routes to that Service (any, before the
// first table was built).
func TestRebuildOnlyForBackends(t *testing.T) {
	r := &Router{kick: make(chan struct{}, 1)}
	kicked := func() bool {
		select {
		case <-r.kick:
			return true
		default:
			return false
		}
	}
	slice := mkSlice("default", "other", "http", 80, "10.0.0.1")
	r.triggerFor(slice)
	if !kicked() {
		t.Fatalf("before the first table, every change must rebuild")
	}
	ing := mkIngress("default", "a", 0, nil, pathSpec{host: "h", path: "/", typ: networkingv1.PathTypePrefix, svc: "web", port: 80})
	ing.Spec.DefaultBackend = &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "fallback"}}
	refs := backendServices([]*networkingv1.Ingress{ing})
	r.backends.Store(&refs)
	for _, tc := range []struct {
		obj  any
		want bool
	}{
		{mkSlice("default", "other", "http", 80, "10.0.0.1"), false},
		{mkService("default", "other", "http", 80), false},
		{mkSlice("kube-system", "web", "http", 80, "10.0.0.1"), false},
		{mkSlice("default", "web", "http", 80, "10.0.0.1"), true},
		{mkService("default", "web", "http", 80), true},
		{mkService("default", "fallback", "http", 80), true},
		{cache.DeletedFinalStateUnknown{Key: "default/web", Obj: mkService("default", "web", "http", 80)}, true},
		{cache.DeletedFinalStateUnknown{Key: "default/other", Obj: mkService("default", "other", "http", 80)}, false},
	} {
		r.triggerFor(tc.obj)
		if got := kicked(); got != tc.want {
			t.Errorf("%T %v: rebuild %v, want %v", tc.obj, tc.obj, got, tc.want)
		}
	}
}
