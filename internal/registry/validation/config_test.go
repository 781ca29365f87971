package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestConfigMap(t *testing.T) {
	valid := func() *corev1.ConfigMap {
		return &corev1.ConfigMap{
			ObjectMeta: objMeta("default", "cfg"),
			Data:       map[string]string{"app.properties": "a=b", "KEY_1": "v", ".hidden": "x"},
			BinaryData: map[string][]byte{"logo.png": {1, 2, 3}},
		}
	}
	expectErrs(t, ValidateCreate(valid()))

	cm := valid()
	cm.Data["bad/key"] = "x"
	cm.Data["logo.png"] = "dup"
	cm.BinaryData["..."] = nil
	expectErrs(t, ValidateCreate(cm), invalid("data[bad/key]"), invalid("data[logo.png]"), invalid("binaryData[...]"))

	cm = valid()
	cm.Data["big"] = strings.Repeat("x", maxConfigSize)
	expectErrs(t, ValidateCreate(cm), tooLong("[]")) // the whole object, as upstream reports it

	cm = valid()
	cm.Name = "Cfg"
	expectErrs(t, ValidateCreate(cm), invalid("metadata.name"))

	o, n := valid(), valid()
	n.Data["new"] = "v"
	expectErrs(t, ValidateUpdate(n, o))

	o.Immutable, n.Immutable = ptrTo(true), ptrTo(true)
	expectErrs(t, ValidateUpdate(n, o), forbidden("data"))
	n = valid()
	n.BinaryData = nil
	expectErrs(t, ValidateUpdate(n, o), forbidden("immutable"), forbidden("binaryData"))
}

func TestSecret(t *testing.T) {
	secret := func(typ corev1.SecretType, data map[string][]byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: objMeta("default", "s"), Type: typ, Data: data}
	}
	cases := []struct {
		name string
		s    *corev1.Secret
		want []want
	}{
		{name: "opaque", s: secret(corev1.SecretTypeOpaque, map[string][]byte{"password": []byte("x")})},
		{name: "bad key", s: secret(corev1.SecretTypeOpaque, map[string][]byte{"a b": nil}), want: []want{invalid("data[a b]")}},
		{name: "too big", s: secret(corev1.SecretTypeOpaque, map[string][]byte{"a": make([]byte, maxConfigSize+1)}), want: []want{tooLong("data")}},
		{name: "tls ok", s: secret(corev1.SecretTypeTLS, map[string][]byte{"tls.crt": []byte("c"), "tls.key": []byte("k")})},
		{name: "tls missing key", s: secret(corev1.SecretTypeTLS, map[string][]byte{"tls.crt": []byte("c")}), want: []want{required("data[tls.key]")}},
		{name: "dockerconfigjson ok", s: secret(corev1.SecretTypeDockerConfigJson, map[string][]byte{".dockerconfigjson": []byte(`{"auths":{}}`)})},
		{name: "dockerconfigjson bad json", s: secret(corev1.SecretTypeDockerConfigJson, map[string][]byte{".dockerconfigjson": []byte(`{`)}), want: []want{invalid("data[.dockerconfigjson]")}},
		{name: "dockerconfigjson missing", s: secret(corev1.SecretTypeDockerConfigJson, nil), want: []want{required("data[.dockerconfigjson]")}},
		{name: "dockercfg missing", s: secret(corev1.SecretTypeDockercfg, nil), want: []want{required("data[.dockercfg]")}},
		{name: "basic auth with password only", s: secret(corev1.SecretTypeBasicAuth, map[string][]byte{"password": nil})},
		{name: "basic auth empty", s: secret(corev1.SecretTypeBasicAuth, nil), want: []want{required("data[username]"), required("data[password]")}},
		{name: "ssh auth empty key", s: secret(corev1.SecretTypeSSHAuth, map[string][]byte{"ssh-privatekey": nil}), want: []want{required("data[ssh-privatekey]")}},
		{name: "sa token needs annotation", s: secret(corev1.SecretTypeServiceAccountToken, nil), want: []want{required("metadata.annotations[kubernetes.io/service-account.name]")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { expectErrs(t, ValidateCreate(tc.s), tc.want...) })
	}

	t.Run("stringData counts", func(t *testing.T) {
		s := secret(corev1.SecretTypeTLS, map[string][]byte{"tls.crt": []byte("c")})
		s.StringData = map[string]string{"tls.key": "k", "bad key": "v"}
		expectErrs(t, ValidateCreate(s), invalid("stringData[bad key]"))
	})
	t.Run("sa token with annotation", func(t *testing.T) {
		s := secret(corev1.SecretTypeServiceAccountToken, nil)
		s.Annotations = map[string]string{corev1.ServiceAccountNameKey: "default"}
		expectErrs(t, ValidateCreate(s))
	})
	t.Run("update", func(t *testing.T) {
		o := secret(corev1.SecretTypeOpaque, map[string][]byte{"a": []byte("1")})
		n := o.DeepCopy()
		n.Data["a"] = []byte("2")
		expectErrs(t, ValidateUpdate(n, o))
		n.Type = corev1.SecretTypeBasicAuth
		n.Data["username"] = []byte("u")
		expectErrs(t, ValidateUpdate(n, o), invalid("type"))
		o.Immutable = ptrTo(true)
		n = o.DeepCopy()
		n.Data["a"] = []byte("3")
		expectErrs(t, ValidateUpdate(n, o), forbidden("data"))
		n = o.DeepCopy()
		n.Immutable = ptrTo(false)
		expectErrs(t, ValidateUpdate(n, o), forbidden("immutable"))
	})
}

func TestNamespace(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: objMeta("", "team-a"), Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}}}
	expectErrs(t, ValidateCreate(ns))

	bad := ns.DeepCopy()
	bad.Name = "team.a"
	bad.Namespace = "default"
	bad.Spec.Finalizers = append(bad.Spec.Finalizers, "custom")
	expectErrs(t, ValidateCreate(bad), invalid("metadata.name"), forbidden("metadata.namespace"), invalid("spec.finalizers[1]"))

	long := ns.DeepCopy()
	long.Name = strings.Repeat("a", 64)
	expectErrs(t, ValidateCreate(long), invalid("metadata.name"))

	n := ns.DeepCopy()
	n.Labels = map[string]string{"team": "a"}
	expectErrs(t, ValidateUpdate(n, ns))
	n.Name = "team-b"
	expectErrs(t, ValidateUpdate(n, ns), invalid("metadata.name"))

	n = ns.DeepCopy()
	n.Status.Phase = corev1.NamespaceActive
	expectErrs(t, ValidateStatusUpdate(n, ns))
	n.Status.Phase = corev1.NamespaceTerminating
	expectErrs(t, ValidateStatusUpdate(n, ns), invalid("status.phase"))
	del := metav1.Now()
	o := ns.DeepCopy()
	o.DeletionTimestamp = &del
	n = o.DeepCopy()
	n.Status.Phase = corev1.NamespaceTerminating
	expectErrs(t, ValidateStatusUpdate(n, o))
}

func TestServiceAccount(t *testing.T) {
	sa := &corev1.ServiceAccount{ObjectMeta: objMeta("default", "builder")}
	expectErrs(t, ValidateCreate(sa))
	sa.Namespace = ""
	expectErrs(t, ValidateCreate(sa), required("metadata.namespace"))
}
