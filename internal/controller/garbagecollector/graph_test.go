package garbagecollector

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

func boolPtr(b bool) *bool { return &b }

func oref(uid string, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "o-" + uid, UID: types.UID(uid), BlockOwnerDeletion: boolPtr(block)}
}

func TestDecide(t *testing.T) {
	bg, fg, orphan := metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan
	tests := []struct {
		name          string
		cls           classification
		hasDeps       bool
		depDeleting   bool
		finalizers    []string
		wantRemove    []types.UID
		wantUnblock   bool
		wantDeleteVia *metav1.DeletionPropagation
	}{
		{name: "solid owner only: keep", cls: classification{solid: []metav1.OwnerReference{oref("a", false)}}},
		{name: "solid and dangling: drop the dangling reference",
			cls:        classification{solid: []metav1.OwnerReference{oref("a", false)}, dangling: []metav1.OwnerReference{oref("b", true)}},
			wantRemove: []types.UID{"b"}},
		{name: "solid and waiting: drop the waiting reference",
			cls:        classification{solid: []metav1.OwnerReference{oref("a", false)}, dangling: []metav1.OwnerReference{oref("b", false)}, waiting: []metav1.OwnerReference{oref("c", true)}},
			wantRemove: []types.UID{"b", "c"}},
		{name: "all dangling: background", cls: classification{dangling: []metav1.OwnerReference{oref("a", false), oref("b", false)}}, wantDeleteVia: &bg},
		{name: "all dangling, orphan finalizer: orphan", cls: classification{dangling: []metav1.OwnerReference{oref("a", false)}},
			finalizers: []string{"x/y", metav1.FinalizerOrphanDependents}, wantDeleteVia: &orphan},
		{name: "all dangling, foreground finalizer: foreground", cls: classification{dangling: []metav1.OwnerReference{oref("a", false)}},
			finalizers: []string{metav1.FinalizerDeleteDependents}, wantDeleteVia: &fg},
		{name: "waiting owner, no dependents: background", cls: classification{waiting: []metav1.OwnerReference{oref("a", true)}}, wantDeleteVia: &bg},
		{name: "waiting owner, dependents: foreground", cls: classification{waiting: []metav1.OwnerReference{oref("a", true)}}, hasDeps: true, wantDeleteVia: &fg},
		{name: "waiting owner, dependent deleting its dependents: unblock then foreground",
			cls: classification{waiting: []metav1.OwnerReference{oref("a", true)}, dangling: []metav1.OwnerReference{oref("b", false)}}, hasDeps: true, depDeleting: true,
			wantUnblock: true, wantDeleteVia: &fg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decide(tt.cls, tt.hasDeps, tt.depDeleting, tt.finalizers)
			if !slices.Equal(got.removeOwners, tt.wantRemove) {
				t.Errorf("removeOwners = %v, want %v", got.removeOwners, tt.wantRemove)
			}
			if got.unblock != tt.wantUnblock {
				t.Errorf("unblock = %v, want %v", got.unblock, tt.wantUnblock)
			}
			switch {
			case (got.deletePolicy == nil) != (tt.wantDeleteVia == nil):
				t.Errorf("deletePolicy = %v, want %v", got.deletePolicy, tt.wantDeleteVia)
			case got.deletePolicy != nil && *got.deletePolicy != *tt.wantDeleteVia:
				t.Errorf("deletePolicy = %s, want %s", *got.deletePolicy, *tt.wantDeleteVia)
			}
		})
	}
}

func TestRefToOwner(t *testing.T) {
	cmOwner := objectRef{Resource: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, Kind: "ConfigMap", Namespace: "a", Name: "owner", UID: "u1"}
	crOwner := objectRef{Resource: schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}, Kind: "ClusterRole", Name: "cr", UID: "u2"}
	good := metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: "u1", BlockOwnerDeletion: boolPtr(true)}
	crRef := metav1.OwnerReference{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole", Name: "cr", UID: "u2"}
	dep := func(ns string, refs ...metav1.OwnerReference) *metav1.PartialObjectMetadata {
		return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "d", OwnerReferences: refs}}
	}
	with := func(f func(*metav1.OwnerReference)) metav1.OwnerReference {
		r := good
		f(&r)
		return r
	}
	tests := []struct {
		name  string
		dep   metav1.Object
		owner objectRef
		want  bool
	}{
		{"same namespace", dep("a", good), cmOwner, true},
		{"other namespace: not a dependent", dep("b", good), cmOwner, false},
		{"cluster-scoped dependent of a namespaced owner", dep("", good), cmOwner, false},
		{"cluster-scoped owner, namespaced dependent", dep("b", crRef), crOwner, true},
		{"cluster-scoped owner, cluster-scoped dependent", dep("", crRef), crOwner, true},
		{"wrong name", dep("a", with(func(r *metav1.OwnerReference) { r.Name = "x" })), cmOwner, false},
		{"wrong kind", dep("a", with(func(r *metav1.OwnerReference) { r.Kind = "Secret" })), cmOwner, false},
		{"wrong group", dep("a", with(func(r *metav1.OwnerReference) { r.APIVersion = "apps/v1" })), cmOwner, false},
		{"other version of the same group", dep("a", with(func(r *metav1.OwnerReference) { r.APIVersion = "v2" })), cmOwner, true},
		{"wrong uid", dep("a", with(func(r *metav1.OwnerReference) { r.UID = "u9" })), cmOwner, false},
		{"second of two references", dep("a", crRef, good), cmOwner, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := refToOwner(tt.dep, tt.owner)
			if ok != tt.want {
				t.Fatalf("refToOwner = %v, want %v", ok, tt.want)
			}
			if ok && r.UID != tt.owner.UID {
				t.Errorf("returned reference %v", r)
			}
		})
	}
}

func TestRefEdits(t *testing.T) {
	refs := []metav1.OwnerReference{oref("a", true), oref("b", false), oref("c", true)}
	got, changed := withoutOwners(refs, []types.UID{"a", "c", "z"})
	if !changed || len(got) != 1 || got[0].UID != "b" {
		t.Errorf("withoutOwners = %v, %v", got, changed)
	}
	if _, changed := withoutOwners(refs, []types.UID{"z"}); changed {
		t.Error("withoutOwners reported a change removing nothing")
	}
	un, changed := unblocked(refs)
	if !changed || slices.ContainsFunc(un, blocks) {
		t.Errorf("unblocked = %v, %v", un, changed)
	}
	if !blocks(refs[0]) {
		t.Error("unblocked modified its input")
	}
	if _, changed := unblocked(un); changed {
		t.Error("unblocked reported a change on unblocked references")
	}
	if !refsChanged(refs, un) || refsChanged(refs, slices.Clone(refs)) || !refsChanged(refs, refs[:2]) {
		t.Error("refsChanged")
	}
	fs, changed := without([]string{"a", metav1.FinalizerDeleteDependents, "b"}, metav1.FinalizerDeleteDependents)
	if !changed || !slices.Equal(fs, []string{"a", "b"}) {
		t.Errorf("without = %v, %v", fs, changed)
	}
}

func TestMetadataPatch(t *testing.T) {
	tests := []struct {
		field string
		value any
		want  string
	}{
		{"finalizers", []string(nil), `{"metadata":{"finalizers":null,"resourceVersion":"42"}}`},
		{"finalizers", []string{"x/y"}, `{"metadata":{"finalizers":["x/y"],"resourceVersion":"42"}}`},
		{"ownerReferences", []metav1.OwnerReference{}, `{"metadata":{"ownerReferences":null,"resourceVersion":"42"}}`},
		{"ownerReferences", []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "o", UID: "u"}},
			`{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"o","uid":"u"}],"resourceVersion":"42"}}`},
	}
	for _, tt := range tests {
		got, err := metadataPatch("42", tt.field, tt.value)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("metadataPatch(%s, %v) = %s, want %s", tt.field, tt.value, got, tt.want)
		}
		var v any
		if err := json.Unmarshal(got, &v); err != nil {
			t.Errorf("not JSON: %v", err)
		}
	}
}

func TestStates(t *testing.T) {
	now := metav1.NewTime(time.Now())
	m := &metav1.PartialObjectMetadata{}
	if stateOf(m) != ownerSolid || needsAttention(m) {
		t.Error("plain object")
	}
	m.Finalizers = []string{metav1.FinalizerDeleteDependents}
	if stateOf(m) != ownerSolid || needsAttention(m) {
		t.Error("foreground finalizer without deletion is not a deletion")
	}
	m.DeletionTimestamp = &now
	if stateOf(m) != ownerWaiting || !needsAttention(m) || isOrphaning(m) {
		t.Error("foreground deletion")
	}
	m.Finalizers = []string{metav1.FinalizerOrphanDependents}
	if stateOf(m) != ownerSolid || !needsAttention(m) || !isOrphaning(m) {
		t.Error("orphaning deletion")
	}
	m.Finalizers = nil
	m.OwnerReferences = []metav1.OwnerReference{oref("a", false)}
	if !needsAttention(m) {
		t.Error("object with owners")
	}
}

func TestAbsentCache(t *testing.T) {
	c := newAbsentCache(3)
	k := func(i int) absentKey { return absentKey{UID: types.UID(fmt.Sprint(i)), Namespace: "ns", Name: "n"} }
	for i := 0; i < 3; i++ {
		c.Add(k(i))
	}
	c.Has(k(0)) // 0 is now the most recent: 1 goes first.
	c.Add(k(3))
	if !c.Has(k(0)) || c.Has(k(1)) || !c.Has(k(2)) || !c.Has(k(3)) {
		t.Error("LRU eviction order")
	}
	if c.Has(absentKey{UID: "0", Namespace: "other", Name: "n"}) {
		t.Error("absence in one namespace says nothing of another")
	}

	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				c.Add(k(i % 7))
				c.Has(k(i % 5))
			}
		}()
	}
	wg.Wait()
	if n := c.c.Len(); n > 3 {
		t.Errorf("cache holds %d items, max 3", n)
	}
}
