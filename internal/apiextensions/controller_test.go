package apiextensions

import (
	"context"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff/internal/registry"
	"skiff/internal/storage"
)

func getCRD(t *testing.T, store storage.Store, name string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	obj, err := store.Get(context.Background(), crdPrefix+name)
	if err != nil {
		t.Fatal(err)
	}
	served, err := registry.FromStorage(registry.CRDResource, obj)
	if err != nil {
		t.Fatal(err)
	}
	return served.(*apiextensionsv1.CustomResourceDefinition)
}

func TestControllerEstablishesAndCleansUp(t *testing.T) {
	ctx := context.Background()
	store := storage.NewMemory(storage.NewCodec(registry.Scheme))
	c := NewController(store, nil)
	defer c.publish(map[string][]*Served{})

	crd := crdFrom(t, validCRD, nil)
	crd.CreationTimestamp = metav1.Now()
	stored, err := registry.ToStorage(registry.CRDResource, crd)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Create(ctx, crdPrefix+crd.Name, stored, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.syncAll(ctx); err != nil {
		t.Fatal(err)
	}
	got := getCRD(t, store, crd.Name)
	if !conditionTrue(got, apiextensionsv1.Established) || !conditionTrue(got, apiextensionsv1.NamesAccepted) {
		t.Fatalf("conditions %+v", got.Status.Conditions)
	}
	if got.Status.AcceptedNames.Plural != "widgets" || len(got.Status.StoredVersions) != 1 || got.Status.StoredVersions[0] != "v1" {
		t.Fatalf("status %+v", got.Status)
	}
	res := registry.Lookup("example.com", "v1", "widgets")
	if res == nil || !res.IsCustom() || !res.Namespaced || res.StoragePrefix != "example.com/widgets" {
		t.Fatalf("served resource %+v", res)
	}
	gone := c.Gone(crd.Name)

	// A second sync changes nothing (no status churn).
	rv := got.ResourceVersion
	if _, err := c.syncAll(ctx); err != nil {
		t.Fatal(err)
	}
	if again := getCRD(t, store, crd.Name); again.ResourceVersion != rv {
		t.Fatalf("idempotent sync rewrote the CRD: %s -> %s", rv, again.ResourceVersion)
	}
	if registry.Lookup("example.com", "v1", "widgets") != res {
		t.Fatal("an unchanged CRD got a new resource")
	}

	// An object of the resource, then the CRD is deleted.
	obj := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]interface{}{"name": "w", "namespace": "ns"}}}
	if _, err := store.Create(ctx, "/registry/example.com/widgets/ns/w", obj, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Update(ctx, crdPrefix+crd.Name, func(cur runtime.Object) (runtime.Object, error) {
		served, err := registry.FromStorage(registry.CRDResource, cur)
		if err != nil {
			return nil, err
		}
		d := served.(*apiextensionsv1.CustomResourceDefinition).DeepCopy()
		now := metav1.Now()
		d.DeletionTimestamp = &now
		registry.CRDResource.Strategy.PrepareForDelete(d)
		return registry.ToStorage(registry.CRDResource, d)
	}, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		more, err := c.syncAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("cleanup did not finish")
		}
	}
	if _, err := store.Get(ctx, "/registry/example.com/widgets/ns/w"); err == nil {
		t.Fatal("object of the deleted CRD still stored")
	}
	if _, err := store.Get(ctx, crdPrefix+crd.Name); err == nil {
		t.Fatal("CRD still stored after cleanup")
	}
	if _, err := c.syncAll(ctx); err != nil {
		t.Fatal(err)
	}
	if registry.Lookup("example.com", "v1", "widgets") != nil {
		t.Fatal("resource still served")
	}
	select {
	case <-gone:
	default:
		t.Fatal("watches of the deleted resource were not told")
	}
	if gvs := c.GroupVersions(); len(gvs) != 0 {
		t.Fatalf("still serving %v", gvs)
	}
	if len(c.ForGroupVersion(schema.GroupVersion{Group: "example.com", Version: "v1"})) != 0 {
		t.Fatal("still listed")
	}
}
