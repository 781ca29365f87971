package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
)

// holdFinalizer keeps a dependent around after the garbage collector has
// deleted it, so that a test can see what waits for it.
const holdFinalizer = "skiff.test/hold"

// gcTimeout bounds how long the collector may take for one step.
const gcTimeout = 30 * time.Second

type gcEnv struct {
	t  *testing.T
	c  kubernetes.Interface
	ns string
}

func newGCEnv(t *testing.T, c kubernetes.Interface, ns string) *gcEnv {
	t.Helper()
	if _, err := c.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
	return &gcEnv{t: t, c: c, ns: ns}
}

func ref(apiVersion, kind string, m metav1.Object, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: m.GetName(), UID: m.GetUID(), BlockOwnerDeletion: &block}
}

func cmRef(cm *corev1.ConfigMap, block bool) metav1.OwnerReference {
	return ref("v1", "ConfigMap", cm, block)
}

func deployRef(d *appsv1.Deployment, block bool) metav1.OwnerReference {
	return ref("apps/v1", "Deployment", d, block)
}

func (e *gcEnv) cm(name string, finalizers []string, refs ...metav1.OwnerReference) *corev1.ConfigMap {
	return e.cmIn(e.ns, name, finalizers, refs...)
}

func (e *gcEnv) cmIn(ns, name string, finalizers []string, refs ...metav1.OwnerReference) *corev1.ConfigMap {
	e.t.Helper()
	cm, err := e.c.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Finalizers: finalizers, OwnerReferences: refs},
		Data:       map[string]string{"k": "v"},
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create configmap %s/%s: %v", ns, name, err)
	}
	return cm
}

func (e *gcEnv) secret(name string, refs ...metav1.OwnerReference) *corev1.Secret {
	return e.secretIn(e.ns, name, refs...)
}

func (e *gcEnv) secretIn(ns, name string, refs ...metav1.OwnerReference) *corev1.Secret {
	e.t.Helper()
	s, err := e.c.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: refs},
		StringData: map[string]string{"k": "v"},
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create secret %s/%s: %v", ns, name, err)
	}
	return s
}

func (e *gcEnv) deployment(name string, finalizers []string) *appsv1.Deployment {
	e.t.Helper()
	labels := map[string]string{"app": name}
	d, err := e.c.AppsV1().Deployments(e.ns).Create(context.Background(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Finalizers: finalizers},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.com/app:1"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create deployment %s: %v", name, err)
	}
	return d
}

// getter reads one object; it returns apierrors NotFound once it is gone.
type getter func(ctx context.Context) (metav1.Object, error)

func (e *gcEnv) cmGet(name string) getter { return e.cmGetIn(e.ns, name) }

func (e *gcEnv) cmGetIn(ns, name string) getter {
	return func(ctx context.Context) (metav1.Object, error) {
		return e.c.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	}
}

func (e *gcEnv) secretGet(name string) getter { return e.secretGetIn(e.ns, name) }

func (e *gcEnv) secretGetIn(ns, name string) getter {
	return func(ctx context.Context) (metav1.Object, error) {
		return e.c.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	}
}

func (e *gcEnv) deployGet(name string) getter {
	return func(ctx context.Context) (metav1.Object, error) {
		return e.c.AppsV1().Deployments(e.ns).Get(ctx, name, metav1.GetOptions{})
	}
}

// waitGone waits until every getter answers NotFound.
func (e *gcEnv) waitGone(what string, gets ...getter) {
	e.t.Helper()
	deadline := time.Now().Add(gcTimeout)
	for i, get := range gets {
		for {
			obj, err := get(context.Background())
			if apierrors.IsNotFound(err) {
				break
			}
			if err != nil {
				e.t.Fatalf("%s (#%d): %v", what, i, err)
			}
			if time.Now().After(deadline) {
				e.t.Fatalf("timed out waiting for %s (#%d: %s/%s, deletionTimestamp %v, finalizers %v, ownerReferences %v) to be deleted",
					what, i, obj.GetNamespace(), obj.GetName(), obj.GetDeletionTimestamp(), obj.GetFinalizers(), obj.GetOwnerReferences())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// waitFor polls get until cond holds for the object.
func (e *gcEnv) waitFor(what string, get getter, cond func(metav1.Object) bool) metav1.Object {
	e.t.Helper()
	deadline := time.Now().Add(gcTimeout)
	for {
		obj, err := get(context.Background())
		if err != nil {
			e.t.Fatalf("%s: %v", what, err)
		}
		if cond(obj) {
			return obj
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mustExist reads an object that must still be there.
func (e *gcEnv) mustExist(what string, get getter) metav1.Object {
	e.t.Helper()
	obj, err := get(context.Background())
	if err != nil {
		e.t.Fatalf("%s should still exist: %v", what, err)
	}
	return obj
}

// settle gives the collector time to act on everything created so far: it
// waits for a dangling sentinel, created now, to be collected, then a
// little more.
func (e *gcEnv) settle() {
	e.t.Helper()
	name := "sentinel-" + string(uuid.NewUUID())[:8]
	e.cm(name, nil, metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "nobody", UID: uuid.NewUUID()})
	e.waitGone("sentinel", e.cmGet(name))
	time.Sleep(time.Second)
}

// removeHold removes the hold finalizer of a deleted configmap, which lets
// the server remove it. The server may leave it behind with no finalizers
// when its watch cache lags (a known server issue, see the collector's
// README); deleting it once more finishes the job, as the collector does.
func (e *gcEnv) removeHold(name string) {
	e.t.Helper()
	ctx := context.Background()
	patch := []byte(`{"metadata":{"finalizers":null}}`)
	cm, err := e.c.CoreV1().ConfigMaps(e.ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		e.t.Fatalf("remove hold finalizer of %s: %v", name, err)
	}
	err = e.c.CoreV1().ConfigMaps(e.ns).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cm.UID}})
	if err != nil && !apierrors.IsNotFound(err) {
		e.t.Fatalf("delete %s after removing its hold finalizer: %v", name, err)
	}
}

// waitEvent waits for an event with the given reason about the object
// named name (in the env's namespace, or default for cluster-scoped ones).
func (e *gcEnv) waitEvent(name, reason string) {
	e.t.Helper()
	waitFor(e.t, reason+" event about "+name, gcTimeout, func() bool {
		evs, err := e.c.CoreV1().Events(e.ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, ev := range evs.Items {
			if ev.Reason == reason {
				return true
			}
		}
		return false
	})
}

func refUIDs(m metav1.Object) []types.UID {
	var out []types.UID
	for _, r := range m.GetOwnerReferences() {
		out = append(out, r.UID)
	}
	return out
}

func policy(p metav1.DeletionPropagation) metav1.DeleteOptions {
	return metav1.DeleteOptions{PropagationPolicy: &p}
}

func TestGarbageCollector(t *testing.T) {
	ts := startServer(t)
	c := ts.Client
	ctx := context.Background()

	t.Run("Background", func(t *testing.T) {
		t.Parallel()
		e := newGCEnv(t, c, "gc-background")
		owner := e.cm("owner", nil)
		child := e.cm("child", nil, cmRef(owner, false))
		e.secret("secret", cmRef(owner, true))
		e.cm("grandchild", nil, cmRef(child, false))
		e.cm("bystander", nil)
		if err := c.CoreV1().ConfigMaps(e.ns).Delete(ctx, "owner", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitGone("dependents of a deleted owner", e.cmGet("child"), e.secretGet("secret"), e.cmGet("grandchild"))
		e.mustExist("an object without owners", e.cmGet("bystander"))
	})

	t.Run("Foreground", func(t *testing.T) {
		t.Parallel()
		e := newGCEnv(t, c, "gc-foreground")
		d := e.deployment("web", nil)
		e.cm("blocking", nil, deployRef(d, true))
		e.secret("blocking", deployRef(d, true))
		e.cm("nonblocking", nil, deployRef(d, false))
		e.cm("held", []string{holdFinalizer}, deployRef(d, true))

		if err := c.AppsV1().Deployments(e.ns).Delete(ctx, "web", policy(metav1.DeletePropagationForeground)); err != nil {
			t.Fatal(err)
		}
		got := e.mustExist("owner being deleted in the foreground", e.deployGet("web"))
		if got.GetDeletionTimestamp() == nil || !slices.Contains(got.GetFinalizers(), metav1.FinalizerDeleteDependents) {
			t.Fatalf("owner: deletionTimestamp %v, finalizers %v; want set and foregroundDeletion", got.GetDeletionTimestamp(), got.GetFinalizers())
		}
		e.waitGone("dependents of a foreground deletion", e.cmGet("blocking"), e.secretGet("blocking"), e.cmGet("nonblocking"))
		e.waitFor("held dependent deleted", e.cmGet("held"), func(m metav1.Object) bool { return m.GetDeletionTimestamp() != nil })
		e.settle()
		got = e.mustExist("owner with a blocking dependent left", e.deployGet("web"))
		if !slices.Contains(got.GetFinalizers(), metav1.FinalizerDeleteDependents) {
			t.Fatalf("owner lost its foregroundDeletion finalizer while a blocking dependent exists: %v", got.GetFinalizers())
		}
		e.removeHold("held")
		e.waitGone("held dependent, then the owner", e.cmGet("held"), e.deployGet("web"))
	})

	t.Run("ForegroundWaitsOnlyForBlockingDependents", func(t *testing.T) {
		t.Parallel()
		e := newGCEnv(t, c, "gc-nonblocking")
		owner := e.cm("owner", nil)
		e.cm("held", []string{holdFinalizer}, cmRef(owner, false))
		if err := c.CoreV1().ConfigMaps(e.ns).Delete(ctx, "owner", policy(metav1.DeletePropagationForeground)); err != nil {
			t.Fatal(err)
		}
		// The owner goes while its non-blocking dependent is still there.
		e.waitGone("owner with only a non-blocking dependent", e.cmGet("owner"))
		e.mustExist("held dependent", e.cmGet("held"))
		e.waitFor("held dependent deleted", e.cmGet("held"), func(m metav1.Object) bool { return m.GetDeletionTimestamp() != nil })
		e.removeHold("held")
		e.waitGone("held dependent", e.cmGet("held"))
	})

	t.Run("ForegroundChain", func(t *testing.T) {
		t.Parallel()
		e := newGCEnv(t, c, "gc-chain")
		a := e.cm("a", nil)
		b := e.cm("b", nil, cmRef(a, true))
		e.cm("c", []string{holdFinalizer}, cmRef(b, true))
		if err := c.CoreV1().ConfigMaps(e.ns).Delete(ctx, "a", policy(metav1.DeletePropagationForeground)); err != nil {
			t.Fatal(err)
		}
		// b has a dependent of its own, so it is deleted in the foreground too.
		e.waitFor("middle of the chain deleted in the foreground", e.cmGet("b"), func(m metav1.Object) bool {
			return m.GetDeletionTimestamp() != nil && slices.Contains(m.GetFinalizers(), metav1.FinalizerDeleteDependents)
		})
		e.waitFor("end of the chain deleted", e.cmGet("c"), func(m metav1.Object) bool { return m.GetDeletionTimestamp() != nil })
		e.settle()
		e.mustExist("head of the chain", e.cmGet("a"))
		e.mustExist("middle of the chain", e.cmGet("b"))
		e.removeHold("c")
		e.waitGone("the chain, from the end", e.cmGet("c"), e.cmGet("b"), e.cmGet("a"))
	})

	t.Run("ForegroundPresetFinalizer", func(t *testing.T) {
		t.Parallel()
		e := newGCEnv(t, c, "gc-fg-preset")
		d := e.deployment("web", []string{metav1.FinalizerDeleteDependents})
		e.cm("dep", nil, deployRef(d, true))
		e.settle()
		e.mustExist("dependent of an owner not being deleted", e.cmGet("dep"))
		if err := c.AppsV1().Deployments(e.ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitGone("dependent, then owner", e.cmGet("dep"), e.deployGet("web"))
	})

	t.Run("Orphan", func(t *testing.T) {
		t.Parallel()
		e := newGCEnv(t, c, "gc-orphan")
		d := e.deployment("web", nil)
		other := e.cm("other-owner", nil)
		e.cm("only", nil, deployRef(d, true))
		e.secret("shared", deployRef(d, false), cmRef(other, false))
		if err := c.AppsV1().Deployments(e.ns).Delete(ctx, "web", policy(metav1.DeletePropagationOrphan)); err != nil {
			t.Fatal(err)
		}
		e.waitGone("orphaning owner", e.deployGet("web"))
		e.settle()
		only := e.mustExist("orphaned dependent", e.cmGet("only"))
		if len(only.GetOwnerReferences()) != 0 {
			t.Errorf("orphaned configmap still has owner references %v", only.GetOwnerReferences())
		}
		shared := e.mustExist("orphaned dependent with another owner", e.secretGet("shared"))
		if got := refUIDs(shared); !slices.Equal(got, []types.UID{other.UID}) {
			t.Errorf("orphaned secret has owner uids %v, want only %v", got, other.UID)
		}
	})

	t.Run("OrphanPresetFinalizer", func(t *testing.T) {
		t.Parallel()
		e := newGCEnv(t, c, "gc-orphan-preset")
		owner := e.cm("owner", []string{metav1.FinalizerOrphanDependents})
		e.cm("dep", nil, cmRef(owner, true))
		if err := c.CoreV1().ConfigMaps(e.ns).Delete(ctx, "owner", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitGone("orphaning owner", e.cmGet("owner"))
		e.settle()
		if dep := e.mustExist("orphaned dependent", e.cmGet("dep")); len(dep.GetOwnerReferences()) != 0 {
			t.Errorf("orphaned configmap still has owner references %v", dep.GetOwnerReferences())
		}
	})

	t.Run("Dangling", func(t *testing.T) {
		t.Parallel()
		e := newGCEnv(t, c, "gc-dangling")
		d := e.deployment("real", nil)
		e.cm("never-existed", nil, metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "ghost", UID: uuid.NewUUID()})
		e.secret("wrong-uid", metav1.OwnerReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "real", UID: uuid.NewUUID()})
		e.cm("wrong-name", nil, metav1.OwnerReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "other", UID: d.UID})
		e.waitGone("objects whose owners never existed", e.cmGet("never-existed"), e.secretGet("wrong-uid"), e.cmGet("wrong-name"))
		e.mustExist("deployment named by a dangling reference", e.deployGet("real"))

		live := e.cm("live", nil)
		e.cm("mixed", nil, cmRef(live, false), metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "ghost", UID: uuid.NewUUID()})
		e.waitFor("dangling reference removed next to a live owner", e.cmGet("mixed"), func(m metav1.Object) bool {
			return slices.Equal(refUIDs(m), []types.UID{live.UID})
		})
	})

	t.Run("ClusterScopedOwner", func(t *testing.T) {
		t.Parallel()
		e := newGCEnv(t, c, "gc-cluster-a")
		b := newGCEnv(t, c, "gc-cluster-b")
		cr, err := c.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "gc-owner"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		crRef := ref("rbac.authorization.k8s.io/v1", "ClusterRole", cr, true)
		e.cm("dep", nil, crRef)
		b.secret("dep", crRef)
		e.settle()
		e.mustExist("dependent of a live cluster-scoped owner", e.cmGet("dep"))
		b.mustExist("dependent of a live cluster-scoped owner", b.secretGet("dep"))
		if err := c.RbacV1().ClusterRoles().Delete(ctx, "gc-owner", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitGone("namespaced dependents of a cluster-scoped owner", e.cmGet("dep"), b.secretGet("dep"))
	})

	t.Run("OwnerInAnotherNamespace", func(t *testing.T) {
		t.Parallel()
		e := newGCEnv(t, c, "gc-xns-a")
		b := newGCEnv(t, c, "gc-xns-b")
		owner := e.cm("owner", nil)
		e.cm("same-namespace", nil, cmRef(owner, false))
		// A namespaced owner can only own objects of its own namespace: from
		// namespace b this reference is dangling.
		b.cm("other-namespace", nil, cmRef(owner, false))
		b.waitGone("dependent in another namespace than its owner", b.cmGet("other-namespace"))
		b.waitEvent("other-namespace", "OwnerRefInvalidNamespace")
		e.settle()
		e.mustExist("owner", e.cmGet("owner"))
		e.mustExist("dependent in its owner's namespace", e.cmGet("same-namespace"))
	})

	t.Run("ClusterScopedDependentOfNamespacedKind", func(t *testing.T) {
		t.Parallel()
		e := newGCEnv(t, c, "gc-invalid")
		owner := e.cm("owner", nil)
		name := "gc-invalid-dependent"
		if _, err := c.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{
			Name: name, OwnerReferences: []metav1.OwnerReference{cmRef(owner, false)},
		}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.settle()
		if _, err := c.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Fatalf("cluster-scoped object naming a namespaced owner must be left alone: %v", err)
		}
		(&gcEnv{t: t, c: c, ns: metav1.NamespaceDefault}).waitEvent(name, "OwnerRefInvalidNamespace")
		if err := c.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ManyDependents", func(t *testing.T) {
		t.Parallel()
		e := newGCEnv(t, c, "gc-many")
		owner := e.cm("owner", nil)
		const n = 200
		var gets []getter
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("dep-%03d", i)
			e.cm(name, nil, cmRef(owner, true))
			gets = append(gets, e.cmGet(name))
		}
		if err := c.CoreV1().ConfigMaps(e.ns).Delete(ctx, "owner", policy(metav1.DeletePropagationForeground)); err != nil {
			t.Fatal(err)
		}
		e.waitGone("many dependents, then their owner", append(gets, e.cmGet("owner"))...)
	})
}
