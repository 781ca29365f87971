package validation

import (
	"encoding/json"
	"reflect"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxConfigSize bounds the payload of a ConfigMap or Secret (1 MiB), which
// must fit in one etcd value next to its metadata.
const maxConfigSize = 1 * 1024 * 1024

const immutableWhenSetMsg = "field is immutable when `immutable` is set"

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ConfigMap

func validateConfigMap(cm *corev1.ConfigMap) field.ErrorList {
	allErrs := validateMeta(cm, true, nameIsDNSSubdomain)
	return append(allErrs, validateConfigMapData(cm)...)
}

func validateConfigMapData(cm *corev1.ConfigMap) field.ErrorList {
	var allErrs field.ErrorList
	total := 0
	dataPath, binPath := field.NewPath("data"), field.NewPath("binaryData")
	for _, k := range sortedKeys(cm.Data) {
		allErrs = append(allErrs, invalidFor(dataPath.Key(k), k, validation.IsConfigMapKey(k))...)
		// Both maps project into the same set of files/variables.
		if _, dup := cm.BinaryData[k]; dup {
			allErrs = append(allErrs, field.Invalid(dataPath.Key(k), k, "duplicate of key present in binaryData"))
		}
		total += len(cm.Data[k])
	}
	for _, k := range sortedKeys(cm.BinaryData) {
		allErrs = append(allErrs, invalidFor(binPath.Key(k), k, validation.IsConfigMapKey(k))...)
		total += len(cm.BinaryData[k])
	}
	if total > maxConfigSize {
		allErrs = append(allErrs, field.TooLong(field.NewPath(""), "", maxConfigSize))
	}
	return allErrs
}

func validateConfigMapUpdate(n, o *corev1.ConfigMap) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	if o.Immutable != nil && *o.Immutable {
		if n.Immutable == nil || !*n.Immutable {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("immutable"), immutableWhenSetMsg))
		}
		if !sameMap(n.Data, o.Data) {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("data"), immutableWhenSetMsg))
		}
		if !sameMap(n.BinaryData, o.BinaryData) {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("binaryData"), immutableWhenSetMsg))
		}
	}
	return append(allErrs, validateConfigMapData(n)...)
}

// sameMap treats nil and empty as equal: both serialize to nothing.
func sameMap[V any](a, b map[string]V) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

// Secret

// secretData is what the secret will hold once stringData, a write-only
// convenience, is merged into data (it wins on conflicts).
func secretData(s *corev1.Secret) map[string][]byte {
	if len(s.StringData) == 0 {
		return s.Data
	}
	out := make(map[string][]byte, len(s.Data)+len(s.StringData))
	for k, v := range s.Data {
		out[k] = v
	}
	for k, v := range s.StringData {
		out[k] = []byte(v)
	}
	return out
}

func validateSecret(s *corev1.Secret) field.ErrorList {
	allErrs := validateMeta(s, true, nameIsDNSSubdomain)
	return append(allErrs, validateSecretData(s)...)
}

func validateSecretData(s *corev1.Secret) field.ErrorList {
	var allErrs field.ErrorList
	dataPath := field.NewPath("data")
	for _, k := range sortedKeys(s.Data) {
		allErrs = append(allErrs, invalidFor(dataPath.Key(k), k, validation.IsConfigMapKey(k))...)
	}
	for _, k := range sortedKeys(s.StringData) {
		allErrs = append(allErrs, invalidFor(field.NewPath("stringData").Key(k), k, validation.IsConfigMapKey(k))...)
	}
	data := secretData(s)
	total := 0
	for _, v := range data {
		total += len(v)
	}
	if total > maxConfigSize {
		allErrs = append(allErrs, field.TooLong(dataPath, "", maxConfigSize))
	}

	switch s.Type {
	case corev1.SecretTypeServiceAccountToken:
		// The token itself is filled in later by a controller.
		if s.Annotations[corev1.ServiceAccountNameKey] == "" {
			allErrs = append(allErrs, field.Required(metadataPath.Child("annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	case corev1.SecretTypeDockercfg:
		allErrs = append(allErrs, validateJSONKey(data, corev1.DockerConfigKey, dataPath)...)
	case corev1.SecretTypeDockerConfigJson:
		allErrs = append(allErrs, validateJSONKey(data, corev1.DockerConfigJsonKey, dataPath)...)
	case corev1.SecretTypeBasicAuth:
		// Either may be empty, but one must be there.
		_, hasUser := data[corev1.BasicAuthUsernameKey]
		_, hasPass := data[corev1.BasicAuthPasswordKey]
		if !hasUser && !hasPass {
			allErrs = append(allErrs, field.Required(dataPath.Key(corev1.BasicAuthUsernameKey), ""))
			allErrs = append(allErrs, field.Required(dataPath.Key(corev1.BasicAuthPasswordKey), ""))
		}
	case corev1.SecretTypeSSHAuth:
		if len(data[corev1.SSHAuthPrivateKey]) == 0 {
			allErrs = append(allErrs, field.Required(dataPath.Key(corev1.SSHAuthPrivateKey), ""))
		}
	case corev1.SecretTypeTLS:
		if _, ok := data[corev1.TLSCertKey]; !ok {
			allErrs = append(allErrs, field.Required(dataPath.Key(corev1.TLSCertKey), ""))
		}
		if _, ok := data[corev1.TLSPrivateKeyKey]; !ok {
			allErrs = append(allErrs, field.Required(dataPath.Key(corev1.TLSPrivateKeyKey), ""))
		}
	}
	return allErrs
}

func validateJSONKey(data map[string][]byte, key string, dataPath *field.Path) field.ErrorList {
	raw, ok := data[key]
	if !ok {
		return field.ErrorList{field.Required(dataPath.Key(key), "")}
	}
	if err := json.Unmarshal(raw, &map[string]interface{}{}); err != nil {
		// Never echo secret contents back to the client.
		return field.ErrorList{field.Invalid(dataPath.Key(key), "<secret contents redacted>", err.Error())}
	}
	return nil
}

func validateSecretUpdate(n, o *corev1.Secret) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	// Consumers key their behaviour off the type.
	allErrs = append(allErrs, validateImmutable(n.Type, o.Type, field.NewPath("type"))...)
	if o.Immutable != nil && *o.Immutable {
		if n.Immutable == nil || !*n.Immutable {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("immutable"), immutableWhenSetMsg))
		}
		if !sameMap(secretData(n), secretData(o)) {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("data"), immutableWhenSetMsg))
		}
	}
	return append(allErrs, validateSecretData(n)...)
}

// Namespace

func validateNamespace(ns *corev1.Namespace) field.ErrorList {
	allErrs := validateMeta(ns, false, nameIsDNSLabel)
	return append(allErrs, validateNamespaceFinalizers(ns)...)
}

func validateNamespaceFinalizers(ns *corev1.Namespace) field.ErrorList {
	var allErrs field.ErrorList
	p := field.NewPath("spec", "finalizers")
	for i, f := range ns.Spec.Finalizers {
		allErrs = append(allErrs, apimachineryvalidation.ValidateFinalizerName(string(f), p.Index(i))...)
		allErrs = append(allErrs, validateKubeFinalizerName(string(f), p.Index(i))...)
	}
	return allErrs
}

func validateNamespaceUpdate(n, o *corev1.Namespace) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	return append(allErrs, validateNamespaceFinalizers(n)...)
}

// validateNamespaceStatusUpdate: the phase follows the deletion timestamp.
func validateNamespaceStatusUpdate(n, o *corev1.Namespace) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	p := field.NewPath("status", "phase")
	if n.DeletionTimestamp.IsZero() {
		if n.Status.Phase != corev1.NamespaceActive {
			allErrs = append(allErrs, field.Invalid(p, n.Status.Phase, "may only be 'Active' if `deletionTimestamp` is empty"))
		}
	} else if n.Status.Phase != corev1.NamespaceTerminating {
		allErrs = append(allErrs, field.Invalid(p, n.Status.Phase, "may only be 'Terminating' if `deletionTimestamp` is not empty"))
	}
	return allErrs
}
