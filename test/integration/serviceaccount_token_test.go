package integration

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"skiff/internal/pki"
)

// TestServiceAccountTokens covers the ServiceAccount admission plugin
// (default account, the kube-api-access volume, automount opt-out, an
// unknown account refused), the TokenRequest API (kubectl create token,
// lifetime validation, binding to a pod) and service account tokens as
// credentials (valid while their pod exists).
func TestServiceAccountTokens(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	pods := ts.Client.CoreV1().Pods("default")
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "img"}},
			Containers:     []corev1.Container{{Name: "c", Image: "img"}},
		}}
	}
	var created *corev1.Pod
	waitFor(t, "a pod admitted with the default service account", 30*time.Second, func() bool {
		var err error
		created, err = pods.Create(ctx, pod("with-token"), metav1.CreateOptions{})
		return err == nil
	})
	if created.Spec.ServiceAccountName != "default" {
		t.Errorf("serviceAccountName %q", created.Spec.ServiceAccountName)
	}
	var vol *corev1.Volume
	for i := range created.Spec.Volumes {
		if strings.HasPrefix(created.Spec.Volumes[i].Name, "kube-api-access-") {
			vol = &created.Spec.Volumes[i]
		}
	}
	if vol == nil || vol.Projected == nil || len(vol.Projected.Sources) != 3 || vol.Projected.Sources[0].ServiceAccountToken == nil {
		t.Fatalf("no kube-api-access projected volume: %+v", created.Spec.Volumes)
	}
	for _, c := range append(created.Spec.InitContainers, created.Spec.Containers...) {
		found := false
		for _, m := range c.VolumeMounts {
			found = found || m.Name == vol.Name && m.MountPath == "/var/run/secrets/kubernetes.io/serviceaccount" && m.ReadOnly
		}
		if !found {
			t.Errorf("container %s lacks the token mount: %+v", c.Name, c.VolumeMounts)
		}
	}
	optOut := pod("no-token")
	optOut.Spec.AutomountServiceAccountToken = ptr.To(false)
	if p, err := pods.Create(ctx, optOut, metav1.CreateOptions{}); err != nil || len(p.Spec.Volumes) != 0 {
		t.Errorf("automountServiceAccountToken=false: %v, volumes %+v", err, p.Spec.Volumes)
	}
	missing := pod("missing-sa")
	missing.Spec.ServiceAccountName = "missing"
	_, err := pods.Create(ctx, missing, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `error looking up service account default/missing: serviceaccount "missing" not found`) {
		t.Errorf("unknown service account: %v", err)
	}

	// A new namespace has its default account as soon as it exists, so a
	// pod created right after it is admitted.
	if _, err := ts.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fresh"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Client.CoreV1().ServiceAccounts("fresh").Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Errorf("default service account right after its namespace: %v", err)
	}
	if _, err := ts.Client.CoreV1().Pods("fresh").Create(ctx, pod("first"), metav1.CreateOptions{}); err != nil {
		t.Errorf("pod right after its namespace: %v", err)
	}

	// kubectl create token, as a user would.
	out, err := exec.Command(skiffBin(t), "kubectl", "--kubeconfig", ts.Kubeconfig, "create", "token", "default", "--duration", "20m").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl create token: %v\n%s", err, out)
	}
	who := func(token string) (string, error) {
		cfg := rest.AnonymousClientConfig(ts.Config)
		cfg.BearerToken = token
		c, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return "", err
		}
		// The CSR API records the requester: a way to see who we are.
		csrPEM, _, err := pki.NewCSR("x", nil, nil, nil)
		if err != nil {
			return "", err
		}
		csr, err := c.CertificatesV1().CertificateSigningRequests().Create(ctx, &certificatesv1.CertificateSigningRequest{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "who-"},
			Spec: certificatesv1.CertificateSigningRequestSpec{Request: csrPEM, SignerName: "example.com/none",
				Usages: []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth}},
		}, metav1.CreateOptions{})
		if err != nil {
			return "", err
		}
		return csr.Spec.Username + " " + strings.Join(csr.Spec.Groups, ","), nil
	}
	if id, err := who(strings.TrimSpace(string(out))); err != nil || !strings.HasPrefix(id, "system:serviceaccount:default:default system:serviceaccounts,system:serviceaccounts:default") {
		t.Errorf("kubectl create token's token is %q, %v", id, err)
	}

	sas := ts.Client.CoreV1().ServiceAccounts("default")
	_, err = sas.CreateToken(ctx, "default", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](500)}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "may not specify a duration less than 10 minutes") {
		t.Errorf("500s token: %v", err)
	}
	bound, err := sas.CreateToken(ctx, "default", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "with-token", UID: created.UID},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(bound.Status.ExpirationTimestamp.Time); d < 55*time.Minute || d > 61*time.Minute {
		t.Errorf("default token lifetime %s, want an hour", d)
	}
	if _, err := who(bound.Status.Token); err != nil {
		t.Errorf("pod-bound token refused while the pod exists: %v", err)
	}
	if err := pods.Delete(ctx, "with-token", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the bound token refused once its pod is gone", 10*time.Second, func() bool {
		_, err := who(bound.Status.Token)
		return apierrors.IsUnauthorized(err)
	})
	if _, err := who("not.a.token"); !apierrors.IsUnauthorized(err) {
		t.Errorf("garbage JWT: %v", err)
	}
}
