package garbagecollector

import (
	"encoding/json"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// objectRef names one object the collector works on: the resource it is
// watched as, its kind, and its identity. It is the work queue's key.
type objectRef struct {
	Resource  schema.GroupVersionResource
	Kind      string
	Namespace string
	Name      string
	UID       types.UID
}

func (r objectRef) String() string {
	s := r.Resource.GroupResource().String() + " "
	if r.Namespace != "" {
		s += r.Namespace + "/"
	}
	return s + r.Name + " (" + string(r.UID) + ")"
}

// ownerState is what an owner reference points at.
type ownerState int

const (
	// ownerSolid: the owner exists and is not waiting for its dependents.
	ownerSolid ownerState = iota
	// ownerDangling: no object with the reference's uid exists where the
	// reference says (never existed, deleted, or replaced by another uid).
	ownerDangling
	// ownerWaiting: the owner is being deleted in the foreground: it has a
	// deletionTimestamp and the foregroundDeletion finalizer.
	ownerWaiting
)

func (s ownerState) String() string {
	switch s {
	case ownerSolid:
		return "solid"
	case ownerDangling:
		return "dangling"
	case ownerWaiting:
		return "waiting"
	}
	return "unknown"
}

// classification sorts an object's owner references by the state of the
// owner they point at.
type classification struct {
	solid, dangling, waiting []metav1.OwnerReference
}

func (c *classification) add(ref metav1.OwnerReference, s ownerState) {
	switch s {
	case ownerSolid:
		c.solid = append(c.solid, ref)
	case ownerDangling:
		c.dangling = append(c.dangling, ref)
	case ownerWaiting:
		c.waiting = append(c.waiting, ref)
	}
}

// stateOf is the state of an owner that exists with the referenced uid.
func stateOf(owner metav1.Object) ownerState {
	if isDeletingDependents(owner) {
		return ownerWaiting
	}
	return ownerSolid
}

// action is what the collector does with an object whose owners were
// classified. The zero action does nothing.
type action struct {
	// removeOwners lists owner uids to drop from the object's references.
	removeOwners []types.UID
	// unblock clears blockOwnerDeletion on the object's references before it
	// is deleted, to break a cycle of foreground deletions.
	unblock bool
	// deletePolicy, when set, deletes the object with that propagation.
	deletePolicy *metav1.DeletionPropagation
}

// decide applies upstream's rules to an object (not being deleted) with
// owner references:
//   - an object with at least one solid owner stays; references to dangling
//     owners and to owners waiting for their dependents are removed;
//   - otherwise, if an owner waits for its dependents and the object has
//     dependents of its own, it is deleted in the foreground (after its
//     references are made non-blocking when one of its dependents is itself
//     deleting dependents, which would otherwise be a cycle);
//   - otherwise it is deleted, honouring an orphan or foregroundDeletion
//     finalizer it already carries, else in the background.
func decide(c classification, hasDependents, dependentDeletingDependents bool, finalizers []string) action {
	switch {
	case len(c.solid) > 0:
		var uids []types.UID
		for _, r := range c.dangling {
			uids = append(uids, r.UID)
		}
		for _, r := range c.waiting {
			uids = append(uids, r.UID)
		}
		return action{removeOwners: uids}
	case len(c.waiting) > 0 && hasDependents:
		p := metav1.DeletePropagationForeground
		return action{unblock: dependentDeletingDependents, deletePolicy: &p}
	default:
		p := metav1.DeletePropagationBackground
		switch {
		case slices.Contains(finalizers, metav1.FinalizerOrphanDependents):
			p = metav1.DeletePropagationOrphan
		case slices.Contains(finalizers, metav1.FinalizerDeleteDependents):
			p = metav1.DeletePropagationForeground
		}
		return action{deletePolicy: &p}
	}
}

// isDeletingDependents reports an object being deleted in the foreground.
func isDeletingDependents(m metav1.Object) bool {
	return m.GetDeletionTimestamp() != nil && slices.Contains(m.GetFinalizers(), metav1.FinalizerDeleteDependents)
}

// isOrphaning reports an object being deleted whose dependents are to be
// orphaned.
func isOrphaning(m metav1.Object) bool {
	return m.GetDeletionTimestamp() != nil && slices.Contains(m.GetFinalizers(), metav1.FinalizerOrphanDependents)
}

// needsAttention reports whether the collector has anything to look at in
// an object: owner references to check, or a deletion to carry out.
func needsAttention(m metav1.Object) bool {
	return len(m.GetOwnerReferences()) > 0 || isDeletingDependents(m) || isOrphaning(m)
}

// refToOwner returns dep's reference to owner when dep really is a dependent
// of owner: the reference carries owner's uid, names owner's kind and name,
// and dep may have owner at all (a namespaced owner only has dependents in
// its own namespace; a cluster-scoped owner has them anywhere).
func refToOwner(dep metav1.Object, owner objectRef) (metav1.OwnerReference, bool) {
	if owner.Namespace != "" && dep.GetNamespace() != owner.Namespace {
		return metav1.OwnerReference{}, false
	}
	for _, r := range dep.GetOwnerReferences() {
		if r.UID != owner.UID || r.Name != owner.Name || r.Kind != owner.Kind {
			continue
		}
		gv, err := schema.ParseGroupVersion(r.APIVersion)
		if err != nil || gv.Group != owner.Resource.Group {
			continue
		}
		return r, true
	}
	return metav1.OwnerReference{}, false
}

// blocks reports whether a reference holds back its owner's foreground
// deletion.
func blocks(r metav1.OwnerReference) bool {
	return r.BlockOwnerDeletion != nil && *r.BlockOwnerDeletion
}

// refsChanged reports a change of owner references that matters to the
// collector: an owner added or removed, or its blocking flag changed.
func refsChanged(a, b []metav1.OwnerReference) bool {
	if len(a) != len(b) {
		return true
	}
	for i := range a {
		if a[i].UID != b[i].UID || a[i].Name != b[i].Name || a[i].Kind != b[i].Kind ||
			a[i].APIVersion != b[i].APIVersion || blocks(a[i]) != blocks(b[i]) {
			return true
		}
	}
	return false
}

// withoutOwners returns refs minus those with the given uids, and whether any
// was removed.
func withoutOwners(refs []metav1.OwnerReference, uids []types.UID) ([]metav1.OwnerReference, bool) {
	var out []metav1.OwnerReference
	for _, r := range refs {
		if !slices.Contains(uids, r.UID) {
			out = append(out, r)
		}
	}
	return out, len(out) != len(refs)
}

// unblocked returns refs with every blockOwnerDeletion cleared, and whether
// any was set.
func unblocked(refs []metav1.OwnerReference) ([]metav1.OwnerReference, bool) {
	out := make([]metav1.OwnerReference, len(refs))
	changed := false
	f := false
	for i, r := range refs {
		if blocks(r) {
			r.BlockOwnerDeletion = &f
			changed = true
		}
		out[i] = r
	}
	return out, changed
}

// without returns list minus s, and whether s was there.
func without(list []string, s string) ([]string, bool) {
	var out []string
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out, len(out) != len(list)
}

// metadataPatch is a JSON merge patch that sets one metadata field
// (ownerReferences or finalizers) on the object at resourceVersion rv. The
// resourceVersion makes it conditional: the server answers 409 Conflict if
// the object changed since it was read. An empty value removes the field.
func metadataPatch(rv, field string, value any) ([]byte, error) {
	switch v := value.(type) {
	case []metav1.OwnerReference:
		if len(v) == 0 {
			value = nil
		}
	case []string:
		if len(v) == 0 {
			value = nil
		}
	}
	return json.Marshal(map[string]any{
		"metadata": map[string]any{
			"resourceVersion": rv,
			field:             value,
		},
	})
}
