package garbagecollector

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	kubefake "k8s.io/client-go/kubernetes/fake"
	metafake "k8s.io/client-go/metadata/fake"
)

// TestRun drives the whole collector (discovery, monitors, handlers, queue,
// workers) against fake clients: background, foreground and orphan.
func TestRun(t *testing.T) {
	scheme := metafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	block := func(name, uid string, b bool) metav1.OwnerReference {
		r := cmOwnerRef(name, uid)
		r.BlockOwnerDeletion = &b
		return r
	}
	objs := []runtime.Object{
		partial("v1", "ConfigMap", "ns", "bg", "bg"),
		partial("v1", "ConfigMap", "ns", "bg-dep", "bg-dep", owned(block("bg", "bg", false))),
		partial("v1", "ConfigMap", "ns", "fg", "fg"),
		partial("v1", "ConfigMap", "ns", "fg-dep1", "fg-dep1", owned(block("fg", "fg", true))),
		partial("v1", "ConfigMap", "ns", "fg-dep2", "fg-dep2", owned(block("fg", "fg", false))),
		partial("v1", "ConfigMap", "ns", "or", "or"),
		partial("v1", "ConfigMap", "ns", "keep", "keep"),
		partial("v1", "ConfigMap", "ns", "or-dep", "or-dep", owned(block("or", "or", true), block("keep", "keep", false))),
		partial("v1", "ConfigMap", "other", "x-dep", "x-dep", owned(block("bg", "bg", false))),
	}
	fc := metafake.NewSimpleMetadataClient(scheme, objs...)
	kc := kubefake.NewClientset()
	kc.Resources = []*metav1.APIResourceList{{GroupVersion: "v1", APIResources: []metav1.APIResource{
		{Name: "configmaps", Namespaced: true, Kind: "ConfigMap", Verbs: metav1.Verbs{"get", "list", "watch", "delete", "patch"}},
		{Name: "events", Namespaced: true, Kind: "Event", Verbs: metav1.Verbs{"get", "list", "watch", "delete", "create"}},
	}}}
	c := New(kc, fc, slog.New(slog.NewTextHandler(io.Discard, nil)), Config{Workers: 2, DiscoveryPeriod: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not stop")
		}
	}()

	ri := func(ns string) interface {
		Get(context.Context, string, metav1.GetOptions, ...string) (*metav1.PartialObjectMetadata, error)
	} {
		return fc.Resource(cmGVR).Namespace(ns)
	}
	gone := func(ns, name string) bool {
		_, err := ri(ns).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("monitors", func() bool {
		c.mu.RLock()
		defer c.mu.RUnlock()
		_, events := c.monitors[schema.GroupResource{Resource: "events"}]
		return len(c.monitors) == 1 && !events && c.allSynced()
	})
	// Cross-namespace reference: x-dep in "other" names bg of "ns".
	waitFor("dependent in another namespace than its owner collected", func() bool { return gone("other", "x-dep") })

	// Background: the owner goes, then its dependent.
	if err := fc.Resource(cmGVR).Namespace("ns").Delete(ctx, "bg", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("background dependent collected", func() bool { return gone("ns", "bg-dep") })

	// Foreground: mark fg deleted with the finalizer, as the server does.
	markDeleted := func(name, finalizer string) {
		t.Helper()
		m, err := ri("ns").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		now := metav1.NewTime(time.Now())
		m.DeletionTimestamp = &now
		m.Finalizers = []string{finalizer}
		m.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}
		if err := fc.Tracker().Update(cmGVR, m, "ns"); err != nil {
			t.Fatal(err)
		}
	}
	markDeleted("fg", metav1.FinalizerDeleteDependents)
	waitFor("foreground dependents and owner collected", func() bool {
		return gone("ns", "fg-dep1") && gone("ns", "fg-dep2") && gone("ns", "fg")
	})

	// Orphan: the dependent stays, without its reference to the owner.
	markDeleted("or", metav1.FinalizerOrphanDependents)
	waitFor("orphaning owner removed", func() bool { return gone("ns", "or") })
	dep, err := ri("ns").Get(ctx, "or-dep", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("orphaned dependent: %v", err)
	}
	if len(dep.OwnerReferences) != 1 || dep.OwnerReferences[0].UID != types.UID("keep") {
		t.Errorf("orphaned dependent's references: %v", dep.OwnerReferences)
	}
}

// TestResync checks that discovery changes start and stop monitors.
func TestResync(t *testing.T) {
	scheme := metafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	fc := metafake.NewSimpleMetadataClient(scheme)
	kc := kubefake.NewClientset()
	verbs := metav1.Verbs{"get", "list", "watch", "delete"}
	cms := metav1.APIResource{Name: "configmaps", Namespaced: true, Kind: "ConfigMap", Verbs: verbs}
	secrets := metav1.APIResource{Name: "secrets", Namespaced: true, Kind: "Secret", Verbs: verbs}
	status := metav1.APIResource{Name: "configmaps/status", Namespaced: true, Kind: "ConfigMap", Verbs: verbs}
	noWatch := metav1.APIResource{Name: "bindings", Namespaced: true, Kind: "Binding", Verbs: metav1.Verbs{"create", "get"}}
	c := New(kc, fc, slog.New(slog.NewTextHandler(io.Discard, nil)), Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer c.stopMonitors()

	watched := func() []string {
		c.mu.RLock()
		defer c.mu.RUnlock()
		var out []string
		for gr := range c.monitors {
			out = append(out, gr.String())
		}
		slices.Sort(out)
		return out
	}
	step := func(resources []metav1.APIResource, want ...string) {
		t.Helper()
		kc.Resources = []*metav1.APIResourceList{{GroupVersion: "v1", APIResources: resources}}
		if err := c.resync(ctx); err != nil {
			t.Fatal(err)
		}
		if got := watched(); !slices.Equal(got, want) {
			t.Errorf("watched %v, want %v", got, want)
		}
	}
	step([]metav1.APIResource{cms, status, noWatch}, "configmaps")
	if _, ok := c.kindInfo(schema.GroupKind{Kind: "Binding"}); !ok {
		t.Error("a kind that cannot be watched is still known, for owner lookups")
	}
	step([]metav1.APIResource{cms, secrets}, "configmaps", "secrets")
	step([]metav1.APIResource{secrets}, "secrets")
}
