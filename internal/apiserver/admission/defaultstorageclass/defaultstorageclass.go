// Package defaultstorageclass is the DefaultStorageClass admission plugin:
// a new PersistentVolumeClaim that names no StorageClass gets the
// cluster's default one (the class annotated
// storageclass.kubernetes.io/is-default-class=true; the newest if several).
package defaultstorageclass

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"

	"skiff/internal/apiserver/admission"
)

// Annotations that mark the default class, as upstream.
const (
	IsDefaultAnnotation     = "storageclass.kubernetes.io/is-default-class"
	betaIsDefaultAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
)

// Plugin sets the default class.
type Plugin struct {
	list admission.Lister
}

var _ admission.MutatingPlugin = (*Plugin)(nil)

// New returns the plugin reading StorageClasses through list.
func New(list admission.Lister) *Plugin { return &Plugin{list: list} }

// Name implements admission.Plugin.
func (p *Plugin) Name() string { return "DefaultStorageClass" }

var classesGVR = storagev1.SchemeGroupVersion.WithResource("storageclasses")

// Admit fills spec.storageClassName of a new claim that has none.
func (p *Plugin) Admit(ctx context.Context, a *admission.Attributes) error {
	if a.Operation != admission.Create || a.Subresource != "" || a.Resource.Group != "" || a.Resource.Resource != "persistentvolumeclaims" {
		return nil
	}
	pvc, ok := a.Object.(*corev1.PersistentVolumeClaim)
	if !ok || pvc.Spec.StorageClassName != nil {
		return nil // "" explicitly asks for no class
	}
	if _, ok := pvc.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		return nil
	}
	objs, err := p.list(ctx, classesGVR, "")
	if err != nil {
		return err
	}
	var best *storagev1.StorageClass
	for _, o := range objs {
		sc, ok := o.(*storagev1.StorageClass)
		if !ok || (sc.Annotations[IsDefaultAnnotation] != "true" && sc.Annotations[betaIsDefaultAnnotation] != "true") {
			continue
		}
		if best == nil || best.CreationTimestamp.Before(&sc.CreationTimestamp) ||
			(best.CreationTimestamp.Equal(&sc.CreationTimestamp) && sc.Name < best.Name) {
			best = sc
		}
	}
	if best != nil {
		name := best.Name
		pvc.Spec.StorageClassName = &name
	}
	return nil
}
