package printers

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	storagev1beta1 "k8s.io/api/storage/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Annotations that mark the cluster's default StorageClass.
const (
	defaultStorageClassAnnotation     = "storageclass.kubernetes.io/is-default-class"
	betaDefaultStorageClassAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
)

func init() {
	sc := storagev1.StorageClass{}.SwaggerDoc()
	register(schema.GroupKind{Group: "storage.k8s.io", Kind: "StorageClass"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Provisioner", "string", sc["provisioner"]),
		column("ReclaimPolicy", "string", sc["reclaimPolicy"]),
		column("VolumeBindingMode", "string", sc["volumeBindingMode"]),
		column("AllowVolumeExpansion", "string", sc["allowVolumeExpansion"]),
		ageColumn,
	}, storageClassRow)

	register(schema.GroupKind{Group: "storage.k8s.io", Kind: "VolumeAttributesClass"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("DriverName", "string", storagev1beta1.VolumeAttributesClass{}.SwaggerDoc()["driverName"]),
		ageColumn,
	}, func(vac *storagev1.VolumeAttributesClass, now time.Time) ([]interface{}, error) {
		return []interface{}{vac.Name, vac.DriverName, since(vac.CreationTimestamp, now)}, nil
	})

	vaSpec := storagev1.VolumeAttachmentSpec{}.SwaggerDoc()
	register(schema.GroupKind{Group: "storage.k8s.io", Kind: "VolumeAttachment"}, []metav1.TableColumnDefinition{
		nameColumn,
		// Upstream marks this column as a name too.
		{Name: "Attacher", Type: "string", Format: "name", Description: vaSpec["attacher"]},
		column("PV", "string", storagev1.VolumeAttachmentSource{}.SwaggerDoc()["persistentVolumeName"]),
		column("Node", "string", vaSpec["nodeName"]),
		column("Attached", "boolean", storagev1.VolumeAttachmentStatus{}.SwaggerDoc()["attached"]),
		ageColumn,
	}, func(va *storagev1.VolumeAttachment, now time.Time) ([]interface{}, error) {
		pv := ""
		if va.Spec.Source.PersistentVolumeName != nil {
			pv = *va.Spec.Source.PersistentVolumeName
		}
		return []interface{}{va.Name, va.Spec.Attacher, pv, va.Spec.NodeName, va.Status.Attached, since(va.CreationTimestamp, now)}, nil
	})

	register(schema.GroupKind{Group: "storage.k8s.io", Kind: "CSINode"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Drivers", "integer", "Drivers indicates the number of CSI drivers registered on the node"),
		ageColumn,
	}, func(n *storagev1.CSINode, now time.Time) ([]interface{}, error) {
		return []interface{}{n.Name, int64(len(n.Spec.Drivers)), since(n.CreationTimestamp, now)}, nil
	})

	driver := storagev1.CSIDriverSpec{}.SwaggerDoc()
	register(schema.GroupKind{Group: "storage.k8s.io", Kind: "CSIDriver"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("AttachRequired", "boolean", driver["attachRequired"]),
		column("PodInfoOnMount", "boolean", driver["podInfoOnMount"]),
		column("StorageCapacity", "boolean", driver["storageCapacity"]),
		column("TokenRequests", "string", driver["tokenRequests"]),
		column("RequiresRepublish", "boolean", driver["requiresRepublish"]),
		column("Modes", "string", driver["volumeLifecycleModes"]),
		ageColumn,
	}, csiDriverRow)

	capacity := storagev1.CSIStorageCapacity{}.SwaggerDoc()
	register(schema.GroupKind{Group: "storage.k8s.io", Kind: "CSIStorageCapacity"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("StorageClassName", "string", capacity["storageClassName"]),
		column("Capacity", "string", capacity["capacity"]),
	}, func(c *storagev1.CSIStorageCapacity, _ time.Time) ([]interface{}, error) {
		q := "<unset>"
		if c.Capacity != nil {
			q = c.Capacity.String()
		}
		return []interface{}{c.Name, c.StorageClassName, q}, nil
	})
}

// storageClassRow shows unset policies as the values they default to and
// marks the default class in the NAME cell.
func storageClassRow(sc *storagev1.StorageClass, now time.Time) ([]interface{}, error) {
	name := sc.Name
	if sc.Annotations[defaultStorageClassAnnotation] == "true" || sc.Annotations[betaDefaultStorageClassAnnotation] == "true" {
		name += " (default)"
	}
	reclaim := string(corev1.PersistentVolumeReclaimDelete)
	if sc.ReclaimPolicy != nil {
		reclaim = string(*sc.ReclaimPolicy)
	}
	binding := string(storagev1.VolumeBindingImmediate)
	if sc.VolumeBindingMode != nil {
		binding = string(*sc.VolumeBindingMode)
	}
	expansion := sc.AllowVolumeExpansion != nil && *sc.AllowVolumeExpansion
	return []interface{}{name, sc.Provisioner, reclaim, binding, expansion, since(sc.CreationTimestamp, now)}, nil
}

func csiDriverRow(d *storagev1.CSIDriver, now time.Time) ([]interface{}, error) {
	spec := d.Spec
	attach := spec.AttachRequired == nil || *spec.AttachRequired
	tokens := "<unset>"
	if spec.TokenRequests != nil {
		audiences := make([]string, len(spec.TokenRequests))
		for i, t := range spec.TokenRequests {
			audiences[i] = t.Audience
		}
		tokens = strings.Join(audiences, ",")
	}
	modes := make([]string, len(spec.VolumeLifecycleModes))
	for i, m := range spec.VolumeLifecycleModes {
		modes[i] = string(m)
	}
	return []interface{}{
		d.Name, attach, deref(spec.PodInfoOnMount), deref(spec.StorageCapacity), tokens, deref(spec.RequiresRepublish),
		orNone(strings.Join(modes, ",")), since(d.CreationTimestamp, now),
	}, nil
}
