// Package serviceaccount is the ServiceAccount admission plugin: a new
// pod runs as a service account that exists ("default" when it names
// none), gets that account's image pull secrets when it has none, and,
// unless automountServiceAccountToken says no, a projected
// "kube-api-access-*" volume (a bound token, the cluster CA from the
// kube-root-ca.crt ConfigMap, the namespace) mounted in every container at
// /var/run/secrets/kubernetes.io/serviceaccount, as upstream's plugin
// does.
package serviceaccount

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	"skiff/internal/apiserver/admission"
)

// Upstream's names and values.
const (
	DefaultName = "default"
	// MountPath is where the token, CA and namespace appear.
	MountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	// volumePrefix names the projected volume ("kube-api-access-xxxxx").
	volumePrefix = "kube-api-access-"
	// tokenSeconds is the projected token's lifetime (an hour and a bit,
	// so that tokens of this source are told apart in audits).
	tokenSeconds    = 3607
	rootCAConfigMap = "kube-root-ca.crt"
)

// Getter reads a service account (nil, nil when there is none).
type Getter func(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)

// Plugin is the ServiceAccount admission plugin.
type Plugin struct {
	get Getter
	// wait is how long a pod waits for its namespace's default service
	// account, which the service account controller creates right after
	// the namespace.
	wait time.Duration
}

// New returns the plugin reading service accounts with get.
func New(get Getter) *Plugin { return &Plugin{get: get, wait: 10 * time.Second} }

// Name is the plugin's upstream name.
func (p *Plugin) Name() string { return "ServiceAccount" }

var podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// Admit sets the pod's service account and its token volume.
func (p *Plugin) Admit(ctx context.Context, a *admission.Attributes) error {
	if a.Operation != admission.Create || a.Subresource != "" || a.Resource.Group != "" || a.Resource.Resource != "pods" {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok || isMirrorPod(pod) {
		return nil
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = DefaultName
	}
	sa, err := p.account(ctx, a.Namespace, pod.Spec.ServiceAccountName)
	if err != nil {
		return err
	}
	if len(pod.Spec.ImagePullSecrets) == 0 && len(sa.ImagePullSecrets) > 0 {
		pod.Spec.ImagePullSecrets = append([]corev1.LocalObjectReference(nil), sa.ImagePullSecrets...)
	}
	automount := true
	if sa.AutomountServiceAccountToken != nil {
		automount = *sa.AutomountServiceAccountToken
	}
	if pod.Spec.AutomountServiceAccountToken != nil {
		automount = *pod.Spec.AutomountServiceAccountToken
	}
	if automount {
		mountToken(pod)
	}
	return nil
}

// account reads the service account, waiting a little for a namespace's
// default one.
func (p *Plugin) account(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	deadline := time.Now().Add(p.wait)
	for {
		sa, err := p.get(ctx, ns, name)
		if err != nil {
			return nil, apierrors.NewInternalError(fmt.Errorf("error looking up service account %s/%s: %w", ns, name, err))
		}
		if sa != nil {
			return sa, nil
		}
		if name != DefaultName || time.Now().After(deadline) {
			return nil, apierrors.NewForbidden(podsGVR.GroupResource(), "",
				fmt.Errorf("error looking up service account %s/%s: serviceaccount %q not found", ns, name, name))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func isMirrorPod(pod *corev1.Pod) bool {
	_, ok := pod.Annotations[corev1.MirrorPodAnnotationKey]
	return ok
}

// mountToken adds the kube-api-access volume and mounts it in every
// container that does not mount something at MountPath already.
func mountToken(pod *corev1.Pod) {
	var name string
	for _, v := range pod.Spec.Volumes {
		if len(v.Name) > len(volumePrefix) && v.Name[:len(volumePrefix)] == volumePrefix && v.Projected != nil {
			name = v.Name
		}
	}
	if name == "" {
		name = volumePrefix + suffix()
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			DefaultMode: ptr.To[int32](0o644),
			Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](tokenSeconds)}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: rootCAConfigMap},
					Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
					{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
			},
		}}})
	}
	mount := func(c *corev1.Container) {
		for _, m := range c.VolumeMounts {
			if m.MountPath == MountPath {
				return
			}
		}
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: name, ReadOnly: true, MountPath: MountPath})
	}
	for i := range pod.Spec.InitContainers {
		mount(&pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		mount(&pod.Spec.Containers[i])
	}
}

// suffix is five random characters of upstream's name alphabet.
func suffix() string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 5)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}
