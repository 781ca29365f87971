package integration

import (
	"strings"
	"testing"
)

// TestPodSecurity labels a namespace with Pod Security Standards levels
// using `skiff kubectl` and checks that the PodSecurity admission plugin
// refuses, warns about and admits pods with upstream's messages.
func TestPodSecurity(t *testing.T) {
	ts := startServer(t)
	k := newKubectlRunner(t, kubectlClient{name: "skiff", argv: []string{skiffBin(t), "kubectl"}, nodePort: 30080}, ts.Kubeconfig, "")
	k.ns = "psa"
	k.run(t, "create", "namespace", "psa")

	// enforce=restricted: a privileged pod is refused.
	k.run(t, "label", "namespace", "psa", "pod-security.kubernetes.io/enforce=restricted")
	r := k.fail(t, "run", "p", "--image=skiff.local/echo:1", "--restart=Never", "--privileged")
	want := `Error from server (Forbidden): pods "p" is forbidden: violates PodSecurity "restricted:latest": ` +
		`privileged (container "p" must not set securityContext.privileged=true), ` +
		`allowPrivilegeEscalation != false (container "p" must set securityContext.allowPrivilegeEscalation=false), ` +
		`unrestricted capabilities (container "p" must set securityContext.capabilities.drop=["ALL"]), ` +
		`runAsNonRoot != true (pod or container "p" must set securityContext.runAsNonRoot=true), ` +
		`seccompProfile (pod or container "p" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`
	if strings.TrimSpace(r.stderr) != want {
		t.Errorf("want stderr %s\n%s", want, r)
	}
	if r := k.exec(t, "", nil, "get", "pod", "p"); r.code == 0 {
		t.Errorf("the refused pod exists:\n%s", r)
	}

	// Deployments are only warned about.
	r = k.run(t, "create", "deployment", "d", "--image=skiff.local/echo:1")
	if !strings.Contains(r.stderr, `Warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "echo" must set securityContext.allowPrivilegeEscalation=false)`) {
		t.Errorf("want a restricted warning:\n%s", r)
	}

	// Invalid levels are refused.
	r = k.fail(t, "label", "namespace", "psa", "pod-security.kubernetes.io/enforce=strict", "--overwrite")
	if !strings.Contains(r.stderr, `metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict"`) {
		t.Errorf("want an invalid label error:\n%s", r)
	}

	// warn=baseline only: admitted with a warning.
	k.run(t, "label", "namespace", "psa", "pod-security.kubernetes.io/enforce-", "pod-security.kubernetes.io/warn=baseline")
	r = k.run(t, "run", "p", "--image=skiff.local/echo:1", "--restart=Never", "--privileged")
	if !strings.Contains(r.stderr, `Warning: would violate PodSecurity "baseline:latest": privileged (container "p" must not set securityContext.privileged=true)`) {
		t.Errorf("want a baseline warning:\n%s", r)
	}
	k.run(t, "get", "pod", "p")

	// Raising the enforce level warns about the pods violating it.
	r = k.run(t, "label", "namespace", "psa", "pod-security.kubernetes.io/enforce=baseline")
	for _, w := range []string{
		`Warning: existing pods in namespace "psa" violate the new PodSecurity enforce level "baseline:latest"`,
		`Warning: p: privileged`,
	} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("want %s:\n%s", w, r)
		}
	}
}
