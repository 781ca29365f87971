package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apiextensionsinstall "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/install"
	apiextensionsv1beta1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1beta1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
)

var crontabGVR = schema.GroupVersionResource{Group: "stable.example.com", Version: "v1", Resource: "crontabs"}

// kubectlRun runs skiff kubectl against ts and returns its combined output.
func kubectlRun(t *testing.T, ts *testServer, wantOK bool, args ...string) string {
	t.Helper()
	cmd := exec.Command(skiffBin(t), append([]string{"kubectl", "--kubeconfig", ts.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if wantOK && err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if !wantOK && err == nil {
		t.Fatalf("kubectl %s succeeded, want failure:\n%s", strings.Join(args, " "), out)
	}
	return string(out)
}

func TestCRDLifecycle(t *testing.T) {
	ts := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dyn := dynamic.NewForConfigOrDie(ts.Config)
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

	manifest, err := filepath.Abs("../manifests/crd/crontab.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := kubectlRun(t, ts, true, "apply", "-f", manifest)
	if !strings.Contains(out, "customresourcedefinition.apiextensions.k8s.io/crontabs.stable.example.com created") {
		t.Fatalf("apply output: %s", out)
	}
	kubectlRun(t, ts, true, "wait", "--for=condition=Established", "--timeout=60s", "crd/crontabs.stable.example.com")
	crd, err := dyn.Resource(crdGVR).Get(ctx, "crontabs.stable.example.com", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sv, _, _ := unstructured.NestedStringSlice(crd.Object, "status", "storedVersions"); len(sv) != 1 || sv[0] != "v1" {
		t.Errorf("storedVersions = %v", sv)
	}

	// A dynamic informer follows the custom resources.
	var mu sync.Mutex
	var seen []string
	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, "default", nil)
	inf := factory.ForResource(crontabGVR).Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			mu.Lock()
			seen = append(seen, "add "+obj.(*unstructured.Unstructured).GetName())
			mu.Unlock()
		},
		UpdateFunc: func(old, obj interface{}) {
			u := obj.(*unstructured.Unstructured)
			if old.(*unstructured.Unstructured).GetResourceVersion() == u.GetResourceVersion() {
				return
			}
			mu.Lock()
			seen = append(seen, "update "+u.GetName())
			mu.Unlock()
		},
		DeleteFunc: func(obj interface{}) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			mu.Lock()
			seen = append(seen, "delete "+obj.(*unstructured.Unstructured).GetName())
			mu.Unlock()
		},
	})
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync")
	}
	saw := func(ev string) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, s := range seen {
				if s == ev {
					return true
				}
			}
			return false
		}
	}

	// Create with kubectl; the default fills in spec.replicas.
	dir := t.TempDir()
	obj := filepath.Join(dir, "crontab.yaml")
	writeFile(t, obj, `apiVersion: stable.example.com/v1
kind: CronTab
metadata:
  name: my-cron
spec:
  cronSpec: "* * * * */5"
  image: my-cron-image
`)
	out = kubectlRun(t, ts, true, "create", "-f", obj)
	if !strings.Contains(out, "crontab.stable.example.com/my-cron created") {
		t.Fatalf("create output: %s", out)
	}
	got, err := dyn.Resource(crontabGVR).Namespace("default").Get(ctx, "my-cron", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n, _, _ := unstructured.NestedInt64(got.Object, "spec", "replicas"); n != 1 {
		t.Errorf("spec.replicas default not applied: %v", got.Object["spec"])
	}
	if got.GetGeneration() != 1 || got.GetUID() == "" || len(got.GetManagedFields()) == 0 {
		t.Errorf("system fields: generation=%d uid=%q managedFields=%v", got.GetGeneration(), got.GetUID(), got.GetManagedFields())
	}
	waitFor(t, "informer add", 30*time.Second, saw("add my-cron"))

	// The short name and printer columns.
	out = kubectlRun(t, ts, true, "get", "ct")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "NAME SPEC REPLICAS AGE" {
		t.Fatalf("kubectl get ct:\n%s", out)
	}
	if f := strings.Fields(lines[1]); len(f) < 7 || f[0] != "my-cron" || strings.Join(f[1:6], " ") != "* * * * */5" || f[6] != "1" {
		t.Fatalf("kubectl get ct row: %q", lines[1])
	}

	// An invalid object: 422 naming the field.
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, `apiVersion: stable.example.com/v1
kind: CronTab
metadata:
  name: bad-cron
spec:
  replicas: "string"
`)
	out = kubectlRun(t, ts, false, "create", "-f", bad)
	if !strings.Contains(out, `spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"`) {
		t.Fatalf("invalid object output: %s", out)
	}
	_, err = dyn.Resource(crontabGVR).Namespace("default").Create(ctx, &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": map[string]interface{}{"name": "bad2"},
		"spec": map[string]interface{}{"replicas": "x"},
	}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Fatalf("invalid create: %v", err)
	}

	// Storage as upstream: the CRD as apiextensions.k8s.io/v1beta1
	// protobuf, custom resources as JSON.
	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{fmt.Sprintf("http://127.0.0.1:%d", ts.EtcdPort)}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	resp, err := etcd.Get(ctx, "/registry/apiextensions.k8s.io/customresourcedefinitions/crontabs.stable.example.com")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("CRD not in etcd: %v", err)
	}
	apiextScheme := runtime.NewScheme()
	apiextensionsinstall.Install(apiextScheme)
	decoded, _, err := protobuf.NewSerializer(apiextScheme, apiextScheme).Decode(resp.Kvs[0].Value, nil, nil)
	if err != nil {
		t.Fatalf("stored CRD: %v", err)
	}
	if v1beta1, ok := decoded.(*apiextensionsv1beta1.CustomResourceDefinition); !ok || v1beta1.Spec.Names.Kind != "CronTab" {
		t.Fatalf("stored CRD is %T %+v", decoded, decoded)
	}
	resp, err = etcd.Get(ctx, "/registry/stable.example.com/crontabs/default/my-cron")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("custom resource not in etcd: %v", err)
	}
	var stored map[string]interface{}
	if err := json.Unmarshal(resp.Kvs[0].Value, &stored); err != nil || stored["apiVersion"] != "stable.example.com/v1" || stored["kind"] != "CronTab" {
		t.Fatalf("stored custom resource: %v %s", err, resp.Kvs[0].Value)
	}

	// Unknown fields: refused with Strict validation, pruned otherwise.
	withUnknown := filepath.Join(dir, "unknown.yaml")
	writeFile(t, withUnknown, `apiVersion: stable.example.com/v1
kind: CronTab
metadata:
  name: other-cron
spec:
  image: other
  unknownField: dropped
`)
	out = kubectlRun(t, ts, false, "create", "-f", withUnknown)
	if !strings.Contains(out, `CronTab in version "v1" cannot be handled as a CronTab: strict decoding error: unknown field "spec.unknownField"`) {
		t.Fatalf("strict create output: %s", out)
	}
	kubectlRun(t, ts, true, "create", "--validate=false", "-f", withUnknown)
	other, err := dyn.Resource(crontabGVR).Namespace("default").Get(ctx, "other-cron", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, found, _ := unstructured.NestedFieldNoCopy(other.Object, "spec", "unknownField"); found {
		t.Errorf("unknown field not pruned: %v", other.Object["spec"])
	}

	// Scale through the scale subresource.
	out = kubectlRun(t, ts, true, "scale", "crontab/my-cron", "--replicas=3")
	if !strings.Contains(out, "crontab.stable.example.com/my-cron scaled") {
		t.Fatalf("scale output: %s", out)
	}
	got, err = dyn.Resource(crontabGVR).Namespace("default").Get(ctx, "my-cron", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n, _, _ := unstructured.NestedInt64(got.Object, "spec", "replicas"); n != 3 || got.GetGeneration() != 2 {
		t.Fatalf("after scale: replicas=%d generation=%d", n, got.GetGeneration())
	}
	waitFor(t, "informer update", 30*time.Second, saw("update my-cron"))

	// The status subresource changes only status; the main resource
	// ignores status.
	got.Object["status"] = map[string]interface{}{"replicas": int64(3), "labelSelector": "app=cron"}
	got.Object["spec"].(map[string]interface{})["image"] = "ignored"
	st, err := dyn.Resource(crontabGVR).Namespace("default").UpdateStatus(ctx, got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img, _, _ := unstructured.NestedString(st.Object, "spec", "image"); img != "my-cron-image" {
		t.Errorf("status update changed spec.image to %q", img)
	}
	if n, _, _ := unstructured.NestedInt64(st.Object, "status", "replicas"); n != 3 {
		t.Errorf("status.replicas = %d", n)
	}
	out = kubectlRun(t, ts, true, "get", "crontab", "my-cron", "-o", "jsonpath={.status.replicas}")
	if out != "3" {
		t.Errorf("status.replicas via kubectl = %q", out)
	}

	// Server-side apply works on custom resources, with managed fields.
	applied := filepath.Join(dir, "applied.yaml")
	writeFile(t, applied, `apiVersion: stable.example.com/v1
kind: CronTab
metadata:
  name: applied-cron
spec:
  image: applied
  cronSpec: "0 * * * *"
`)
	out = kubectlRun(t, ts, true, "apply", "--server-side", "-f", applied)
	if !strings.Contains(out, "crontab.stable.example.com/applied-cron serverside-applied") {
		t.Fatalf("server-side apply output: %s", out)
	}
	ap, err := dyn.Resource(crontabGVR).Namespace("default").Get(ctx, "applied-cron", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if mf := ap.GetManagedFields(); len(mf) != 1 || mf[0].Manager != "kubectl" || mf[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Fatalf("managed fields after apply: %+v", mf)
	}
	// Client-side apply of a changed custom resource (a merge patch).
	clientApplied := filepath.Join(dir, "client-applied.yaml")
	writeFile(t, clientApplied, "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: ca-cron\nspec:\n  image: one\n")
	kubectlRun(t, ts, true, "apply", "-f", clientApplied)
	writeFile(t, clientApplied, "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: ca-cron\nspec:\n  image: two\n")
	out = kubectlRun(t, ts, true, "apply", "-f", clientApplied)
	if !strings.Contains(out, "crontab.stable.example.com/ca-cron configured") {
		t.Fatalf("second apply output: %s", out)
	}
	if out := kubectlRun(t, ts, true, "get", "ct", "ca-cron", "-o", "jsonpath={.spec.image}"); out != "two" {
		t.Fatalf("after apply: image %q", out)
	}

	// Strategic merge patch is not supported for custom resources.
	out = kubectlRun(t, ts, false, "patch", "crontab", "applied-cron", "--type=strategic", "-p", `{"spec":{"image":"x"}}`)
	if !strings.Contains(out, "UnsupportedMediaType") && !strings.Contains(out, "unknown format") {
		t.Fatalf("strategic merge patch output: %s", out)
	}
	kubectlRun(t, ts, true, "patch", "crontab", "applied-cron", "--type=merge", "-p", `{"spec":{"image":"merged"}}`)

	// Selectable fields.
	list, err := dyn.Resource(crontabGVR).Namespace("default").List(ctx, metav1.ListOptions{FieldSelector: "spec.image=my-cron-image"})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("field selector list: %v %v", list, err)
	}
	list, err = dyn.Resource(crontabGVR).Namespace("default").List(ctx, metav1.ListOptions{FieldSelector: "spec.image=nothing"})
	if err != nil || len(list.Items) != 0 {
		t.Fatalf("field selector list (none): %v %v", list, err)
	}

	// kubectl explain reads the schema from OpenAPI v3.
	out = kubectlRun(t, ts, true, "explain", "crontab.spec")
	if !strings.Contains(out, "CronTabSpec is the desired schedule of a CronTab.") || !strings.Contains(out, "cronSpec") {
		t.Fatalf("kubectl explain:\n%s", out)
	}

	// deletecollection with a label selector.
	for _, n := range []string{"coll-a", "coll-b"} {
		if _, err := dyn.Resource(crontabGVR).Namespace("default").Create(ctx, &unstructured.Unstructured{Object: map[string]interface{}{
			"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": map[string]interface{}{"name": n, "labels": map[string]interface{}{"coll": "yes"}},
			"spec": map[string]interface{}{"image": "x"},
		}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := dyn.Resource(crontabGVR).Namespace("default").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "coll=yes"}); err != nil {
		t.Fatal(err)
	}
	if l, err := dyn.Resource(crontabGVR).Namespace("default").List(ctx, metav1.ListOptions{LabelSelector: "coll=yes"}); err != nil || len(l.Items) != 0 {
		t.Fatalf("after deletecollection: %v %v", l, err)
	}

	// The CRD kind itself is described too.
	out = kubectlRun(t, ts, true, "explain", "customresourcedefinition.spec.names")
	if !strings.Contains(out, "plural") {
		t.Errorf("kubectl explain crd.spec.names:\n%s", out)
	}
	out = kubectlRun(t, ts, true, "get", "crd")
	if f := strings.Fields(strings.Split(out, "\n")[0]); strings.Join(f, " ") != "NAME CREATED AT" {
		t.Errorf("kubectl get crd:\n%s", out)
	}

	// Deleting a namespace deletes its custom resources.
	if _, err := ts.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "crd-ns"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(crontabGVR).Namespace("crd-ns").Create(ctx, &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": map[string]interface{}{"name": "in-ns"},
		"spec": map[string]interface{}{"image": "x"},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := ts.Client.CoreV1().Namespaces().Delete(ctx, "crd-ns", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "namespace with custom resources gone", 60*time.Second, func() bool {
		_, err := ts.Client.CoreV1().Namespaces().Get(ctx, "crd-ns", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})

	// Deleting the CRD deletes its objects, then the resource is gone
	// and its watches end.
	w, err := dyn.Resource(crontabGVR).Namespace("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	watchEnded := make(chan struct{})
	go func() {
		defer close(watchEnded)
		for range w.ResultChan() {
		}
	}()
	out = kubectlRun(t, ts, true, "delete", "-f", manifest)
	if !strings.Contains(out, `customresourcedefinition.apiextensions.k8s.io "crontabs.stable.example.com" deleted`) {
		t.Fatalf("delete output: %s", out)
	}
	waitFor(t, "informer delete", 30*time.Second, saw("delete my-cron"))
	waitFor(t, "CRD gone", 60*time.Second, func() bool {
		_, err := dyn.Resource(crdGVR).Get(ctx, "crontabs.stable.example.com", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	waitFor(t, "custom resource no longer served", 30*time.Second, func() bool {
		_, err := dyn.Resource(crontabGVR).Namespace("default").List(ctx, metav1.ListOptions{})
		return apierrors.IsNotFound(err)
	})
	select {
	case <-watchEnded:
	case <-time.After(30 * time.Second):
		t.Fatal("watch of the deleted custom resource did not end")
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCRDClusterScopedVersions(t *testing.T) {
	ts := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dyn := dynamic.NewForConfigOrDie(ts.Config)
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	schemaProps := map[string]interface{}{"type": "object", "properties": map[string]interface{}{
		"spec": map[string]interface{}{"type": "object", "properties": map[string]interface{}{"size": map[string]interface{}{"type": "integer"}}}}}
	crd := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]interface{}{"name": "widgets.example.com"},
		"spec": map[string]interface{}{
			"group": "example.com", "scope": "Cluster",
			"names": map[string]interface{}{"plural": "widgets", "kind": "Widget"},
			"versions": []interface{}{
				map[string]interface{}{"name": "v1beta1", "served": true, "storage": false, "schema": map[string]interface{}{"openAPIV3Schema": schemaProps}},
				map[string]interface{}{"name": "v1", "served": true, "storage": true, "schema": map[string]interface{}{"openAPIV3Schema": schemaProps}},
			},
		},
	}}
	created, err := dyn.Resource(crdGVR).Create(ctx, crd, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Defaults: listKind and singular are filled in.
	if lk, _, _ := unstructured.NestedString(created.Object, "spec", "names", "listKind"); lk != "WidgetList" {
		t.Errorf("listKind = %q", lk)
	}
	// A CRD without a storage version is refused.
	bad := crd.DeepCopy()
	bad.SetName("gadgets.example.com")
	_ = unstructured.SetNestedField(bad.Object, map[string]interface{}{"plural": "gadgets", "kind": "Gadget"}, "spec", "names")
	_ = unstructured.SetNestedSlice(bad.Object, []interface{}{map[string]interface{}{"name": "v1", "served": true, "storage": false, "schema": map[string]interface{}{"openAPIV3Schema": schemaProps}}}, "spec", "versions")
	if _, err := dyn.Resource(crdGVR).Create(ctx, bad, metav1.CreateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "must have exactly one version marked as storage version") {
		t.Fatalf("CRD without storage version: %v", err)
	}

	v1 := schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
	v1beta1 := schema.GroupVersionResource{Group: "example.com", Version: "v1beta1", Resource: "widgets"}
	waitFor(t, "widgets served", 30*time.Second, func() bool {
		_, err := dyn.Resource(v1).List(ctx, metav1.ListOptions{})
		return err == nil
	})
	w := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": "example.com/v1beta1", "kind": "Widget",
		"metadata": map[string]interface{}{"name": "w1", "labels": map[string]interface{}{"tier": "a"}}, "spec": map[string]interface{}{"size": int64(2)}}}
	if _, err := dyn.Resource(v1beta1).Create(ctx, w, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := dyn.Resource(v1).Get(ctx, "w1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetAPIVersion() != "example.com/v1" || got.GetNamespace() != "" {
		t.Fatalf("read through v1: apiVersion %q namespace %q", got.GetAPIVersion(), got.GetNamespace())
	}
	list, err := dyn.Resource(v1beta1).List(ctx, metav1.ListOptions{LabelSelector: "tier=a", FieldSelector: "metadata.name=w1"})
	if err != nil || len(list.Items) != 1 || list.Items[0].GetAPIVersion() != "example.com/v1beta1" {
		t.Fatalf("list through v1beta1: %v %v", list, err)
	}
	// Generation moves on spec changes only (no status subresource: any
	// non-metadata change).
	got.SetLabels(map[string]string{"tier": "b"})
	upd, err := dyn.Resource(v1).Update(ctx, got, metav1.UpdateOptions{})
	if err != nil || upd.GetGeneration() != 1 {
		t.Fatalf("label update: generation %d, %v", upd.GetGeneration(), err)
	}
	_ = unstructured.SetNestedField(upd.Object, int64(5), "spec", "size")
	upd, err = dyn.Resource(v1).Update(ctx, upd, metav1.UpdateOptions{})
	if err != nil || upd.GetGeneration() != 2 {
		t.Fatalf("spec update: generation %d, %v", upd.GetGeneration(), err)
	}
	if err := dyn.Resource(v1).Delete(ctx, "w1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(v1).Get(ctx, "w1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after delete: %v", err)
	}
}
