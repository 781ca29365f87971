package integration

import (
	"context"
	"fmt"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/scheme"

	"skiff/internal/registry"
)

// upstreamPrefixes is kube-apiserver's etcd layout for the built-in
// resources (written out here, independently of our resource table).
var upstreamPrefixes = map[string]string{
	"pods": "pods", "services": "services/specs", "endpoints": "services/endpoints", "nodes": "minions",
	"namespaces": "namespaces", "configmaps": "configmaps", "secrets": "secrets", "serviceaccounts": "serviceaccounts",
	"persistentvolumes": "persistentvolumes", "persistentvolumeclaims": "persistentvolumeclaims", "events": "events",
	"limitranges": "limitranges", "resourcequotas": "resourcequotas", "replicationcontrollers": "controllers",
	"podtemplates": "podtemplates", "deployments": "deployments", "replicasets": "replicasets", "statefulsets": "statefulsets",
	"daemonsets": "daemonsets", "controllerrevisions": "controllerrevisions", "jobs": "jobs", "cronjobs": "cronjobs",
	"ingresses": "ingress", "ingressclasses": "ingressclasses", "networkpolicies": "networkpolicies",
	"endpointslices": "endpointslices", "leases": "leases", "horizontalpodautoscalers": "horizontalpodautoscalers",
	"roles": "roles", "rolebindings": "rolebindings", "clusterroles": "clusterroles", "clusterrolebindings": "clusterrolebindings",
	"storageclasses": "storageclasses", "poddisruptionbudgets": "poddisruptionbudgets", "priorityclasses": "priorityclasses",
	"certificatesigningrequests":      "certificatesigningrequests",
	"validatingwebhookconfigurations": "validatingwebhookconfigurations", "mutatingwebhookconfigurations": "mutatingwebhookconfigurations",
	"customresourcedefinitions": "apiextensions.k8s.io/customresourcedefinitions",
}

func TestStorageLayoutMatchesUpstream(t *testing.T) {
	for _, r := range registry.All() {
		want, ok := upstreamPrefixes[r.Name]
		if !ok {
			t.Errorf("%s.%s: no upstream prefix known", r.Name, r.Group)
			continue
		}
		if r.StoragePrefix != want {
			t.Errorf("%s.%s is stored under /registry/%s, upstream uses /registry/%s", r.Name, r.Group, r.StoragePrefix, want)
		}
	}

	ts := startServer(t)
	ctx := context.Background()
	c := ts.Client
	replicas := int32(2)
	labels := map[string]string{"app": "x"}
	objs := []struct {
		key    string
		create func() (runtime.Object, error)
	}{
		{"/registry/configmaps/default/cm", func() (runtime.Object, error) {
			return c.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}, Data: map[string]string{"a": "b"}}, metav1.CreateOptions{})
		}},
		{"/registry/secrets/default/s", func() (runtime.Object, error) {
			return c.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Data: map[string][]byte{"k": []byte("v")}}, metav1.CreateOptions{})
		}},
		{"/registry/services/specs/default/svc", func() (runtime.Object, error) {
			return c.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "svc"}, Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}, metav1.CreateOptions{})
		}},
		{"/registry/pods/default/p", func() (runtime.Object, error) {
			return c.CoreV1().Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}}}, metav1.CreateOptions{})
		}},
		{"/registry/deployments/default/d", func() (runtime.Object, error) {
			return c.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d"}, Spec: appsv1.DeploymentSpec{
				Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}}}}}, metav1.CreateOptions{})
		}},
		{"/registry/minions/n1", func() (runtime.Object, error) {
			return c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{})
		}},
		{"/registry/namespaces/compat", func() (runtime.Object, error) {
			return c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "compat"}}, metav1.CreateOptions{})
		}},
	}
	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{fmt.Sprintf("http://127.0.0.1:%d", ts.EtcdPort)}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	// The upstream protobuf serializer, as kube-apiserver reads etcd.
	upstream := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
	for _, o := range objs {
		served, err := o.create()
		if err != nil {
			t.Fatalf("%s: %v", o.key, err)
		}
		resp, err := etcd.Get(ctx, o.key)
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("%s not in etcd: %v", o.key, err)
		}
		kv := resp.Kvs[0]
		decoded, _, err := upstream.Decode(kv.Value, nil, nil)
		if err != nil {
			t.Fatalf("%s: the upstream serializer cannot read the value: %v", o.key, err)
		}
		dm, _ := meta.Accessor(decoded)
		if dm.GetResourceVersion() != "" {
			t.Errorf("%s: resourceVersion stored inside the value", o.key)
		}
		sm, _ := meta.Accessor(served)
		if sm.GetResourceVersion() != fmt.Sprint(kv.ModRevision) {
			t.Errorf("%s: resourceVersion %s is not the etcd ModRevision %d", o.key, sm.GetResourceVersion(), kv.ModRevision)
		}
		dm.SetResourceVersion(sm.GetResourceVersion())
		served.GetObjectKind().SetGroupVersionKind(decoded.GetObjectKind().GroupVersionKind())
		if !apiequality.Semantic.DeepEqual(served, decoded) {
			t.Errorf("%s: stored object differs from the served one:\nserved: %+v\nstored: %+v", o.key, served, decoded)
		}
	}
}
