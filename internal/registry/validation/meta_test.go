package validation

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestNameRules checks that each kind applies its own name rule.
func TestNameRules(t *testing.T) {
	cases := []struct {
		kind string
		obj  func(name string) runtime.Object
		// accepted and rejected names for this kind
		ok, bad []string
	}{
		{"Namespace (DNS label)", func(n string) runtime.Object {
			return &corev1.Namespace{ObjectMeta: objMeta("", n)}
		}, []string{"team-a"}, []string{"team.a", "Team", strings.Repeat("a", 64)}},
		{"Service (DNS label)", func(n string) runtime.Object {
			s := validService()
			s.Name = n
			return s
		}, []string{"web", "1web"}, []string{"web.svc", "web_svc"}},
		{"ConfigMap (DNS subdomain)", func(n string) runtime.Object {
			return &corev1.ConfigMap{ObjectMeta: objMeta("default", n)}
		}, []string{"app.config", "a-b"}, []string{"App", "a_b", strings.Repeat("a", 254)}},
		{"Role (path segment)", func(n string) runtime.Object {
			return &rbacv1.Role{ObjectMeta: objMeta("default", n)}
		}, []string{"system:controller:x", "Upper_Case"}, []string{"a/b", "..", "a%b"}},
		{"StatefulSet (DNS label)", func(n string) runtime.Object {
			s := validStatefulSet()
			s.Name = n
			return s
		}, []string{"db"}, []string{"db.primary"}},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			for _, n := range tc.ok {
				expectErrs(t, ValidateCreate(tc.obj(n)))
			}
			for _, n := range tc.bad {
				expectErrs(t, ValidateCreate(tc.obj(n)), invalid("metadata.name"))
			}
		})
	}
}

func TestMetadataCommon(t *testing.T) {
	cm := func() *corev1.ConfigMap { return &corev1.ConfigMap{ObjectMeta: objMeta("default", "cfg")} }
	cases := []struct {
		name   string
		mutate func(*corev1.ConfigMap)
		want   []want
	}{
		{name: "name required", mutate: func(c *corev1.ConfigMap) { c.Name = "" }, want: []want{required("metadata.name")}},
		{name: "generateName checked", mutate: func(c *corev1.ConfigMap) { c.GenerateName = "Bad_" }, want: []want{invalid("metadata.generateName")}},
		{name: "namespace format", mutate: func(c *corev1.ConfigMap) { c.Namespace = "Default" }, want: []want{invalid("metadata.namespace")}},
		{name: "labels", mutate: func(c *corev1.ConfigMap) {
			c.Labels = map[string]string{"example.com/ok": "yes", "bad key": "v", "k": strings.Repeat("v", 64)}
		}, want: []want{invalid("metadata.labels")}},
		{name: "annotations size", mutate: func(c *corev1.ConfigMap) {
			c.Annotations = map[string]string{"big": strings.Repeat("x", 256*1024+1)}
		}, want: []want{tooLong("metadata.annotations")}},
		{name: "annotation key", mutate: func(c *corev1.ConfigMap) {
			c.Annotations = map[string]string{"not a key": "v"}
		}, want: []want{invalid("metadata.annotations")}},
		{name: "finalizers", mutate: func(c *corev1.ConfigMap) {
			c.Finalizers = []string{"example.com/cleanup", "kubernetes", "cleanup"}
		}, want: []want{invalid("metadata.finalizers[2]")}},
		{name: "owner references", mutate: func(c *corev1.ConfigMap) {
			c.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}}
		}, want: []want{required("metadata.ownerReferences[0].uid")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := cm()
			tc.mutate(c)
			expectErrs(t, ValidateCreate(c), tc.want...)
		})
	}
}

func TestMetadataUpdate(t *testing.T) {
	o := &corev1.ConfigMap{ObjectMeta: objMeta("default", "cfg")}
	cases := []struct {
		name   string
		mutate func(*corev1.ConfigMap)
		want   []want
	}{
		{name: "labels and annotations may change", mutate: func(c *corev1.ConfigMap) {
			c.Labels = map[string]string{"a": "b"}
			c.Annotations = map[string]string{"note": "x"}
			c.Generation = 2
		}},
		{name: "identity immutable", mutate: func(c *corev1.ConfigMap) {
			c.Name = "other"
			c.Namespace = "kube-system"
			c.UID = "different"
			c.CreationTimestamp = metav1.Now()
		}, want: []want{invalid("metadata.name"), invalid("metadata.namespace"), invalid("metadata.uid"), invalid("metadata.creationTimestamp")}},
		{name: "resourceVersion required", mutate: func(c *corev1.ConfigMap) { c.ResourceVersion = "" }, want: []want{invalid("metadata.resourceVersion")}},
		{name: "bad label", mutate: func(c *corev1.ConfigMap) { c.Labels = map[string]string{"-bad": "v"} }, want: []want{invalid("metadata.labels")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := o.DeepCopy()
			tc.mutate(n)
			expectErrs(t, ValidateUpdate(n, o), tc.want...)
			// The status path checks metadata the same way.
			expectErrs(t, ValidateStatusUpdate(n, o), tc.want...)
		})
	}
}

func TestScopeFromKind(t *testing.T) {
	d := validDeployment()
	d.Namespace = ""
	expectErrs(t, ValidateCreate(d), required("metadata.namespace"))

	n := &corev1.Node{ObjectMeta: objMeta("default", "node-1")}
	expectErrs(t, ValidateCreate(n), forbidden("metadata.namespace"))
}

func TestUnknownKinds(t *testing.T) {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("example.com/v1")
	u.SetKind("Widget")
	u.SetName("w1")
	u.SetNamespace("default")
	expectErrs(t, ValidateCreate(u))

	u.SetName("a/b")
	u.SetLabels(map[string]string{"bad key": "x"})
	expectErrs(t, ValidateCreate(u), invalid("metadata.name"), invalid("metadata.labels"))

	o := u.DeepCopy()
	o.SetName("w1")
	o.SetLabels(nil)
	o.SetResourceVersion("1")
	n := o.DeepCopy()
	n.SetName("w2")
	expectErrs(t, ValidateUpdate(n, o), invalid("metadata.name"))

	// Objects without metadata have nothing to check.
	expectErrs(t, ValidateCreate(&metav1.Status{}))
	expectErrs(t, ValidateCreate(nil))
}

func TestMismatchedUpdateTypes(t *testing.T) {
	errs := ValidateUpdate(validDeployment(), validReplicaSet())
	if len(errs) != 1 || errs[0].Type != "InternalError" {
		t.Fatalf("want one internal error, got %v", errs)
	}
	var nilDeployment *appsv1.Deployment
	errs = ValidateUpdate(nilDeployment, validDeployment())
	if len(errs) != 1 {
		t.Fatalf("want one error for a nil new object, got %v", errs)
	}
	expectErrs(t, ValidateUpdate(nil, nil))
	expectErrs(t, ValidateCreate(nilDeployment))
}
