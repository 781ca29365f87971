package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"sort"
	"strings"

	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// dockerAuth is one registry's entry of a docker config.
type dockerAuth struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	Auth          string `json:"auth,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
}

// pullAuths are the credentials of the pod's imagePullSecrets
// (kubernetes.io/dockerconfigjson and kubernetes.io/dockercfg) that apply
// to image, most specific registry path first; missing or unreadable
// secrets are skipped, as upstream's kubelet skips them.
func (a *Agent) pullAuths(ctx context.Context, pod *corev1.Pod, image string) []*runtimeapi.AuthConfig {
	if len(pod.Spec.ImagePullSecrets) == 0 {
		return nil
	}
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return nil
	}
	target := reference.Domain(named) + "/" + reference.Path(named)
	type match struct {
		keyLen int
		auth   *runtimeapi.AuthConfig
	}
	var found []match
	for _, ref := range pod.Spec.ImagePullSecrets {
		sec, err := a.client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			a.log.Debug("image pull secret not readable", "pod", pod.Namespace+"/"+pod.Name, "secret", ref.Name, "err", err)
			continue
		}
		for key, entry := range dockerAuths(sec) {
			if prefix := registryKey(key); matchesRegistry(prefix, target) {
				found = append(found, match{len(prefix), authConfig(key, entry)})
			}
		}
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].keyLen > found[j].keyLen })
	out := make([]*runtimeapi.AuthConfig, 0, len(found))
	for _, m := range found {
		out = append(out, m.auth)
	}
	return out
}

// dockerAuths reads the registry entries of a pull secret.
func dockerAuths(sec *corev1.Secret) map[string]dockerAuth {
	var auths map[string]dockerAuth
	switch sec.Type {
	case corev1.SecretTypeDockerConfigJson:
		var cfg struct {
			Auths map[string]dockerAuth `json:"auths"`
		}
		if json.Unmarshal(sec.Data[corev1.DockerConfigJsonKey], &cfg) == nil {
			auths = cfg.Auths
		}
	case corev1.SecretTypeDockercfg:
		_ = json.Unmarshal(sec.Data[corev1.DockerConfigKey], &auths)
	}
	return auths
}

// registryKey normalises a docker config key ("https://index.docker.io/v1/",
// "registry.example.com:5000/team") to "host[:port][/path]".
func registryKey(key string) string {
	k := strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	k = strings.TrimSuffix(k, "/")
	switch k {
	case "index.docker.io/v1", "index.docker.io", "registry-1.docker.io", "docker.io":
		return "docker.io"
	}
	return k
}

// matchesRegistry says whether the credentials of prefix apply to the
// image "domain/path": the same registry, and prefix's path (if any) a
// leading part of the image's.
func matchesRegistry(prefix, target string) bool {
	return target == prefix || strings.HasPrefix(target, prefix+"/")
}

func authConfig(key string, e dockerAuth) *runtimeapi.AuthConfig {
	ac := &runtimeapi.AuthConfig{Username: e.Username, Password: e.Password, Auth: e.Auth, ServerAddress: key,
		IdentityToken: e.IdentityToken, RegistryToken: e.RegistryToken}
	if ac.Username == "" && e.Auth != "" {
		if dec, err := base64.StdEncoding.DecodeString(e.Auth); err == nil {
			if u, p, ok := strings.Cut(string(dec), ":"); ok {
				ac.Username, ac.Password = u, p
			}
		}
	}
	return ac
}
