package garbagecollector

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	metafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
)

var (
	cmGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	crGVR = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}
)

func partial(apiVersion, kind, ns, name, uid string, mutate ...func(*metav1.PartialObjectMetadata)) *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: apiVersion, Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid), ResourceVersion: "7"},
	}
	for _, f := range mutate {
		f(m)
	}
	return m
}

func owned(refs ...metav1.OwnerReference) func(*metav1.PartialObjectMetadata) {
	return func(m *metav1.PartialObjectMetadata) { m.OwnerReferences = refs }
}

func deleting(finalizers ...string) func(*metav1.PartialObjectMetadata) {
	return func(m *metav1.PartialObjectMetadata) {
		now := metav1.NewTime(time.Now())
		m.DeletionTimestamp = &now
		m.Finalizers = finalizers
	}
}

func cmOwnerRef(name, uid string) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: name, UID: types.UID(uid), BlockOwnerDeletion: boolPtr(true)}
}

// newTestController returns a collector over a fake metadata client holding
// objs, knowing ConfigMaps and ClusterRoles, with no monitors (every lookup
// goes to the fake server).
func newTestController(t *testing.T, objs ...runtime.Object) (*Controller, *metafake.FakeMetadataClient) {
	t.Helper()
	scheme := metafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	fc := metafake.NewSimpleMetadataClient(scheme, objs...)
	c := New(nil, fc, slog.New(slog.NewTextHandler(io.Discard, nil)), Config{})
	c.kinds = map[schema.GroupKind]resourceInfo{
		{Kind: "ConfigMap"}: {gvr: cmGVR, kind: "ConfigMap", namespaced: true},
		{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}: {gvr: crGVR, kind: "ClusterRole"},
	}
	return c, fc
}

func cmRef(ns, name, uid string) objectRef {
	return objectRef{Resource: cmGVR, Kind: "ConfigMap", Namespace: ns, Name: name, UID: types.UID(uid)}
}

// writes lists the delete and patch actions, as "delete NAME POLICY" and
// "patch NAME BODY".
func writes(fc *metafake.FakeMetadataClient) []string {
	var out []string
	for _, a := range fc.Actions() {
		switch a := a.(type) {
		case clienttesting.DeleteActionImpl:
			p := "-"
			if o := a.GetDeleteOptions(); o.PropagationPolicy != nil {
				p = string(*o.PropagationPolicy)
			}
			out = append(out, "delete "+a.GetName()+" "+p)
		case clienttesting.PatchActionImpl:
			var v map[string]map[string]any
			_ = json.Unmarshal(a.GetPatch(), &v)
			delete(v["metadata"], "resourceVersion")
			b, _ := json.Marshal(v["metadata"])
			out = append(out, "patch "+a.GetName()+" "+string(b))
		}
	}
	return out
}

func TestSync(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		objs    []runtime.Object
		item    objectRef
		want    []string
		wantErr error
	}{
		{
			name: "owner never existed: background delete",
			objs: []runtime.Object{partial("v1", "ConfigMap", "ns", "dep", "d", owned(cmOwnerRef("ghost", "g")))},
			item: cmRef("ns", "dep", "d"),
			want: []string{"delete dep Background"},
		},
		{
			name: "owner name taken by another uid: dangling",
			objs: []runtime.Object{
				partial("v1", "ConfigMap", "ns", "owner", "new"),
				partial("v1", "ConfigMap", "ns", "dep", "d", owned(cmOwnerRef("owner", "old"))),
			},
			item: cmRef("ns", "dep", "d"),
			want: []string{"delete dep Background"},
		},
		{
			name: "owner lives in another namespace: dangling",
			objs: []runtime.Object{
				partial("v1", "ConfigMap", "other", "owner", "o"),
				partial("v1", "ConfigMap", "ns", "dep", "d", owned(cmOwnerRef("owner", "o"))),
			},
			item: cmRef("ns", "dep", "d"),
			want: []string{"delete dep Background"},
		},
		{
			name: "live owner: nothing",
			objs: []runtime.Object{
				partial("v1", "ConfigMap", "ns", "owner", "o"),
				partial("v1", "ConfigMap", "ns", "dep", "d", owned(cmOwnerRef("owner", "o"))),
			},
			item: cmRef("ns", "dep", "d"),
		},
		{
			name: "live and dangling owners: the dangling reference goes",
			objs: []runtime.Object{
				partial("v1", "ConfigMap", "ns", "owner", "o"),
				partial("v1", "ConfigMap", "ns", "dep", "d", owned(cmOwnerRef("ghost", "g"), cmOwnerRef("owner", "o"))),
			},
			item: cmRef("ns", "dep", "d"),
			want: []string{`patch dep {"ownerReferences":[{"apiVersion":"v1","blockOwnerDeletion":true,"kind":"ConfigMap","name":"owner","uid":"o"}]}`},
		},
		{
			name: "cluster-scoped owner of a namespaced dependent",
			objs: []runtime.Object{
				partial("rbac.authorization.k8s.io/v1", "ClusterRole", "", "cr", "c"),
				partial("v1", "ConfigMap", "ns", "dep", "d", owned(metav1.OwnerReference{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole", Name: "cr", UID: "c"})),
			},
			item: cmRef("ns", "dep", "d"),
		},
		{
			name: "owner in foreground deletion, dependent without dependents: background",
			objs: []runtime.Object{
				partial("v1", "ConfigMap", "ns", "owner", "o", deleting(metav1.FinalizerDeleteDependents)),
				partial("v1", "ConfigMap", "ns", "dep", "d", owned(cmOwnerRef("owner", "o"))),
			},
			item: cmRef("ns", "dep", "d"),
			want: []string{"delete dep Background"},
		},
		{
			name: "dangling owner, dependent asks for orphaning: honoured",
			objs: []runtime.Object{partial("v1", "ConfigMap", "ns", "dep", "d", owned(cmOwnerRef("ghost", "g")), func(m *metav1.PartialObjectMetadata) {
				m.Finalizers = []string{metav1.FinalizerOrphanDependents}
			})},
			item: cmRef("ns", "dep", "d"),
			want: []string{"delete dep Orphan"},
		},
		{
			name: "being deleted without collector finalizers: nothing",
			objs: []runtime.Object{partial("v1", "ConfigMap", "ns", "dep", "d", owned(cmOwnerRef("ghost", "g")), deleting("x.io/y"))},
			item: cmRef("ns", "dep", "d"),
		},
		{
			name: "foreground deletion with no dependents left: finalizer removed, deletion finished",
			objs: []runtime.Object{partial("v1", "ConfigMap", "ns", "owner", "o", deleting(metav1.FinalizerDeleteDependents))},
			item: cmRef("ns", "owner", "o"),
			want: []string{`patch owner {"finalizers":null}`, "delete owner -"},
		},
		{
			name: "orphaning with other finalizers left",
			objs: []runtime.Object{partial("v1", "ConfigMap", "ns", "owner", "o", deleting("x.io/y", metav1.FinalizerOrphanDependents))},
			item: cmRef("ns", "owner", "o"),
			want: []string{`patch owner {"finalizers":["x.io/y"]}`},
		},
		{
			name: "object replaced by another uid: nothing",
			objs: []runtime.Object{partial("v1", "ConfigMap", "ns", "dep", "other", owned(cmOwnerRef("ghost", "g")))},
			item: cmRef("ns", "dep", "d"),
		},
		{
			name:    "owner of an unknown kind: retried later",
			objs:    []runtime.Object{partial("v1", "ConfigMap", "ns", "dep", "d", owned(metav1.OwnerReference{APIVersion: "example.com/v1", Kind: "Widget", Name: "w", UID: "w"}))},
			item:    cmRef("ns", "dep", "d"),
			wantErr: errUnknownKind,
		},
		{
			name: "cluster-scoped dependent of a namespaced kind: left alone",
			objs: []runtime.Object{partial("rbac.authorization.k8s.io/v1", "ClusterRole", "", "cr", "c", owned(cmOwnerRef("ghost", "g")))},
			item: objectRef{Resource: crGVR, Kind: "ClusterRole", Name: "cr", UID: "c"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, fc := newTestController(t, tt.objs...)
			_, err := c.sync(ctx, tt.item)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("sync: %v, want %v", err, tt.wantErr)
			}
			got := writes(fc)
			if len(got) != len(tt.want) {
				t.Fatalf("writes %q, want %q", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("write %d: %s, want %s", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestAbsentOwnerLookedUpOnce(t *testing.T) {
	objs := []runtime.Object{}
	for _, n := range []string{"a", "b", "c"} {
		objs = append(objs, partial("v1", "ConfigMap", "ns", n, n, owned(cmOwnerRef("ghost", "g"))))
	}
	c, fc := newTestController(t, objs...)
	for _, n := range []string{"a", "b", "c"} {
		if _, err := c.sync(context.Background(), cmRef("ns", n, n)); err != nil {
			t.Fatal(err)
		}
	}
	gets := 0
	for _, a := range fc.Actions() {
		if g, ok := a.(clienttesting.GetAction); ok && g.GetName() == "ghost" {
			gets++
		}
	}
	if gets != 1 {
		t.Errorf("absent owner fetched %d times, want once", gets)
	}
}
