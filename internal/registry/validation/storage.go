package validation

import (
	"path"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	accessModes     = []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOnce, corev1.ReadWriteOncePod}
	volumeModes     = []corev1.PersistentVolumeMode{corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem}
	reclaimPolicies = []corev1.PersistentVolumeReclaimPolicy{corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRecycle, corev1.PersistentVolumeReclaimRetain}
)

// validateAccessModes: ReadWriteOncePod is exclusive and cannot be combined.
func validateAccessModes(modes []corev1.PersistentVolumeAccessMode, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	rwop, other := false, false
	for _, m := range modes {
		known := false
		for _, a := range accessModes {
			known = known || m == a
		}
		if !known {
			allErrs = append(allErrs, field.NotSupported(fldPath, m, accessModes))
			continue
		}
		if m == corev1.ReadWriteOncePod {
			rwop = true
		} else {
			other = true
		}
	}
	if rwop && other {
		allErrs = append(allErrs, field.Forbidden(fldPath, "may not use ReadWriteOncePod with other access modes"))
	}
	return allErrs
}

// PersistentVolume

func validatePersistentVolume(pv *corev1.PersistentVolume) field.ErrorList {
	allErrs := validateMeta(pv, false, nameIsDNSSubdomain)
	return append(allErrs, validatePVSpec(&pv.Spec, field.NewPath("spec"))...)
}

func validatePVSpec(spec *corev1.PersistentVolumeSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(spec.AccessModes) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("accessModes"), ""))
	}
	allErrs = append(allErrs, validateAccessModes(spec.AccessModes, fldPath.Child("accessModes"))...)

	capPath := fldPath.Child("capacity")
	if len(spec.Capacity) == 0 {
		allErrs = append(allErrs, field.Required(capPath, ""))
	}
	if _, ok := spec.Capacity[corev1.ResourceStorage]; !ok || len(spec.Capacity) > 1 {
		allErrs = append(allErrs, field.NotSupported(capPath, spec.Capacity, []corev1.ResourceName{corev1.ResourceStorage}))
	}
	for _, r := range sortedResourceNames(spec.Capacity) {
		allErrs = append(allErrs, validatePositiveQuantity(spec.Capacity[r], capPath.Key(string(r)))...)
	}
	if spec.PersistentVolumeReclaimPolicy != "" {
		allErrs = append(allErrs, enumCheck(spec.PersistentVolumeReclaimPolicy, reclaimPolicies, fldPath.Child("persistentVolumeReclaimPolicy"))...)
	}
	hasNodeAffinity := false
	if spec.NodeAffinity != nil {
		hasNodeAffinity = true
		if spec.NodeAffinity.Required == nil {
			allErrs = append(allErrs, field.Required(fldPath.Child("nodeAffinity", "required"), "must specify required node constraints"))
		} else {
			allErrs = append(allErrs, validateNodeSelector(spec.NodeAffinity.Required, false, fldPath.Child("nodeAffinity", "required"))...)
		}
	}

	s := &spec.PersistentVolumeSource
	types := []volumeType{
		{"gcePersistentDisk", s.GCEPersistentDisk != nil, func(p *field.Path) field.ErrorList {
			return append(requireStrings("pdName", s.GCEPersistentDisk.PDName)(p), validatePartition(s.GCEPersistentDisk.Partition, p)...)
		}},
		{"awsElasticBlockStore", s.AWSElasticBlockStore != nil, func(p *field.Path) field.ErrorList {
			return append(requireStrings("volumeID", s.AWSElasticBlockStore.VolumeID)(p), validatePartition(s.AWSElasticBlockStore.Partition, p)...)
		}},
		{"hostPath", s.HostPath != nil, func(p *field.Path) field.ErrorList { return validateHostPath(s.HostPath, p) }},
		{"glusterfs", s.Glusterfs != nil, func(p *field.Path) field.ErrorList {
			return requireStrings("endpoints", s.Glusterfs.EndpointsName, "path", s.Glusterfs.Path)(p)
		}},
		{"nfs", s.NFS != nil, func(p *field.Path) field.ErrorList { return validateNFS(s.NFS, p) }},
		{"rbd", s.RBD != nil, func(p *field.Path) field.ErrorList {
			return requireStrings("monitors", s.RBD.CephMonitors, "image", s.RBD.RBDImage)(p)
		}},
		{"iscsi", s.ISCSI != nil, func(p *field.Path) field.ErrorList {
			return validateISCSI(s.ISCSI.TargetPortal, s.ISCSI.IQN, s.ISCSI.Lun, p)
		}},
		{"cinder", s.Cinder != nil, func(p *field.Path) field.ErrorList { return requireStrings("volumeID", s.Cinder.VolumeID)(p) }},
		{"cephfs", s.CephFS != nil, func(p *field.Path) field.ErrorList { return requireStrings("monitors", s.CephFS.Monitors)(p) }},
		{"fc", s.FC != nil, func(p *field.Path) field.ErrorList { return validateFC(s.FC, p) }},
		{"flocker", s.Flocker != nil, func(p *field.Path) field.ErrorList { return validateFlocker(s.Flocker, p) }},
		{"flexVolume", s.FlexVolume != nil, func(p *field.Path) field.ErrorList { return requireStrings("driver", s.FlexVolume.Driver)(p) }},
		{"azureFile", s.AzureFile != nil, func(p *field.Path) field.ErrorList {
			return requireStrings("secretName", s.AzureFile.SecretName, "shareName", s.AzureFile.ShareName)(p)
		}},
		{"vsphereVolume", s.VsphereVolume != nil, func(p *field.Path) field.ErrorList {
			return requireStrings("volumePath", s.VsphereVolume.VolumePath)(p)
		}},
		{"quobyte", s.Quobyte != nil, func(p *field.Path) field.ErrorList {
			return requireStrings("registry", s.Quobyte.Registry, "volume", s.Quobyte.Volume)(p)
		}},
		{"azureDisk", s.AzureDisk != nil, func(p *field.Path) field.ErrorList {
			return requireStrings("diskName", s.AzureDisk.DiskName, "diskURI", s.AzureDisk.DataDiskURI)(p)
		}},
		{"photonPersistentDisk", s.PhotonPersistentDisk != nil, func(p *field.Path) field.ErrorList {
			return requireStrings("pdID", s.PhotonPersistentDisk.PdID)(p)
		}},
		{"portworxVolume", s.PortworxVolume != nil, func(p *field.Path) field.ErrorList {
			return requireStrings("volumeID", s.PortworxVolume.VolumeID)(p)
		}},
		{"scaleIO", s.ScaleIO != nil, func(p *field.Path) field.ErrorList {
			return requireStrings("gateway", s.ScaleIO.Gateway, "system", s.ScaleIO.System, "volumeName", s.ScaleIO.VolumeName)(p)
		}},
		{"local", s.Local != nil, func(p *field.Path) field.ErrorList {
			if s.Local.Path == "" {
				return field.ErrorList{field.Required(p.Child("path"), "")}
			}
			allErrs := validatePathNoBacksteps(s.Local.Path, p.Child("path"))
			// A local volume only exists on one node.
			if !hasNodeAffinity {
				allErrs = append(allErrs, field.Required(fldPath.Child("nodeAffinity"), "Local volume requires node affinity"))
			}
			return allErrs
		}},
		{"storageos", s.StorageOS != nil, func(p *field.Path) field.ErrorList {
			return requireStrings("volumeName", s.StorageOS.VolumeName)(p)
		}},
		{"csi", s.CSI != nil, func(p *field.Path) field.ErrorList {
			allErrs := validateCSIDriverName(s.CSI.Driver, p.Child("driver"))
			if s.CSI.VolumeHandle == "" {
				allErrs = append(allErrs, field.Required(p.Child("volumeHandle"), ""))
			}
			refs := []struct {
				name string
				ref  *corev1.SecretReference
			}{
				{"controllerPublishSecretRef", s.CSI.ControllerPublishSecretRef},
				{"controllerExpandSecretRef", s.CSI.ControllerExpandSecretRef},
				{"nodePublishSecretRef", s.CSI.NodePublishSecretRef},
				{"nodeExpandSecretRef", s.CSI.NodeExpandSecretRef},
				{"nodeStageSecretRef", s.CSI.NodeStageSecretRef},
			}
			for _, r := range refs {
				if r.ref != nil {
					allErrs = append(allErrs, validateSecretReference(r.ref, p.Child(r.name))...)
				}
			}
			return allErrs
		}},
	}
	allErrs = append(allErrs, validateOneVolumeType(types, fldPath)...)

	// Recycling "/" would wipe the host.
	if s.HostPath != nil && path.Clean(s.HostPath.Path) == "/" && spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimRecycle {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("persistentVolumeReclaimPolicy"), "may not be 'recycle' for a hostPath mount of '/'"))
	}
	if spec.StorageClassName != "" {
		allErrs = append(allErrs, validateName(nameIsDNSSubdomain, spec.StorageClassName, fldPath.Child("storageClassName"))...)
	}
	if spec.VolumeMode != nil {
		allErrs = append(allErrs, enumCheck(*spec.VolumeMode, volumeModes, fldPath.Child("volumeMode"))...)
	}
	if spec.VolumeAttributesClassName != nil {
		if *spec.VolumeAttributesClassName == "" {
			allErrs = append(allErrs, field.Required(fldPath.Child("volumeAttributesClassName"), "an empty string is disallowed"))
		} else {
			allErrs = append(allErrs, validateName(nameIsDNSSubdomain, *spec.VolumeAttributesClassName, fldPath.Child("volumeAttributesClassName"))...)
		}
		if s.CSI == nil {
			allErrs = append(allErrs, field.Required(fldPath.Child("csi"), "has to be specified when using volumeAttributesClassName"))
		}
	}
	return allErrs
}

func validateSecretReference(ref *corev1.SecretReference, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if ref.Name == "" {
		allErrs = append(allErrs, field.Required(p.Child("name"), ""))
	} else {
		allErrs = append(allErrs, validateDNS1123Subdomain(ref.Name, p.Child("name"))...)
	}
	if ref.Namespace == "" {
		allErrs = append(allErrs, field.Required(p.Child("namespace"), ""))
	} else {
		allErrs = append(allErrs, validateDNS1123Label(ref.Namespace, p.Child("namespace"))...)
	}
	return allErrs
}

func validatePersistentVolumeUpdate(n, o *corev1.PersistentVolume) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	allErrs = append(allErrs, validatePVSpec(&n.Spec, field.NewPath("spec"))...)
	newSrc := n.Spec.PersistentVolumeSource
	// An expand secret may be added later to volumes created without one.
	if o.Spec.CSI != nil && o.Spec.CSI.ControllerExpandSecretRef == nil && newSrc.CSI != nil && newSrc.CSI.ControllerExpandSecretRef != nil {
		csi := *newSrc.CSI
		csi.ControllerExpandSecretRef = nil
		newSrc.CSI = &csi
	}
	if !equality.Semantic.DeepEqual(newSrc, o.Spec.PersistentVolumeSource) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "persistentvolumesource"),
			"spec.persistentvolumesource is immutable after creation\n"+describeChanges("spec", o.Spec.PersistentVolumeSource, newSrc)))
	}
	allErrs = append(allErrs, validateImmutable(n.Spec.VolumeMode, o.Spec.VolumeMode, field.NewPath("spec", "volumeMode"))...)
	if o.Spec.NodeAffinity != nil && !equality.Semantic.DeepEqual(n.Spec.NodeAffinity, o.Spec.NodeAffinity) {
		allErrs = append(allErrs, field.Invalid(field.NewPath("spec", "nodeAffinity"), n.Spec.NodeAffinity, fieldImmutableMsg))
	}
	if o.Spec.VolumeAttributesClassName != nil && n.Spec.VolumeAttributesClassName == nil {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "volumeAttributesClassName"), "update from non-nil value to nil is forbidden"))
	}
	return allErrs
}

// PersistentVolumeClaim

func validatePersistentVolumeClaim(pvc *corev1.PersistentVolumeClaim) field.ErrorList {
	allErrs := validateMeta(pvc, true, nameIsDNSSubdomain)
	return append(allErrs, validatePVCSpec(&pvc.Spec, field.NewPath("spec"))...)
}

func validatePVCSpec(spec *corev1.PersistentVolumeClaimSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(spec.AccessModes) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("accessModes"), "at least 1 access mode is required"))
	}
	allErrs = append(allErrs, validateAccessModes(spec.AccessModes, fldPath.Child("accessModes"))...)
	if spec.Selector != nil {
		allErrs = append(allErrs, validateLabelSelector(spec.Selector, fldPath.Child("selector"))...)
	}
	storagePath := fldPath.Child("resources").Key(string(corev1.ResourceStorage))
	if q, ok := spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		allErrs = append(allErrs, field.Required(storagePath, ""))
	} else {
		allErrs = append(allErrs, validatePositiveQuantity(q, storagePath)...)
	}
	for _, name := range sortedResourceNames(spec.Resources.Requests) {
		if name != corev1.ResourceStorage {
			allErrs = append(allErrs, validatePVCResourceKey(string(name), fldPath.Child("resources", "requests").Key(string(name)))...)
		}
	}
	if spec.StorageClassName != nil && *spec.StorageClassName != "" {
		allErrs = append(allErrs, validateName(nameIsDNSSubdomain, *spec.StorageClassName, fldPath.Child("storageClassName"))...)
	}
	if spec.VolumeMode != nil {
		allErrs = append(allErrs, enumCheck(*spec.VolumeMode, volumeModes, fldPath.Child("volumeMode"))...)
	}
	if spec.DataSource != nil {
		allErrs = append(allErrs, validateDataSource(spec.DataSource.Name, spec.DataSource.Kind, spec.DataSource.APIGroup, fldPath.Child("dataSource"))...)
	}
	if ref := spec.DataSourceRef; ref != nil {
		allErrs = append(allErrs, validateDataSource(ref.Name, ref.Kind, ref.APIGroup, fldPath.Child("dataSourceRef"))...)
		if ref.Namespace != nil && *ref.Namespace != "" {
			allErrs = append(allErrs, validateName(nameIsDNSLabel, *ref.Namespace, fldPath.Child("dataSourceRef", "namespace"))...)
			if spec.DataSource != nil {
				allErrs = append(allErrs, field.Invalid(fldPath, fldPath.Child("dataSource"), "may not be specified when dataSourceRef.namespace is specified"))
			}
		} else if ds := spec.DataSource; ds != nil && !(reflect.DeepEqual(ds.APIGroup, ref.APIGroup) && ds.Kind == ref.Kind && ds.Name == ref.Name) {
			allErrs = append(allErrs, field.Invalid(fldPath, fldPath.Child("dataSource"), "must match dataSourceRef"))
		}
	}
	if spec.VolumeAttributesClassName != nil && *spec.VolumeAttributesClassName != "" {
		allErrs = append(allErrs, validateName(nameIsDNSSubdomain, *spec.VolumeAttributesClassName, fldPath.Child("volumeAttributesClassName"))...)
	}
	return allErrs
}

// validatePVCResourceKey: only storage among native resources makes sense.
func validatePVCResourceKey(key string, p *field.Path) field.ErrorList {
	allErrs := invalidFor(p, key, validation.IsQualifiedName(key))
	if len(allErrs) == 0 && isNativeResource(corev1.ResourceName(key)) {
		allErrs = append(allErrs, field.NotSupported(p, key, []corev1.ResourceName{corev1.ResourceStorage}))
	}
	return allErrs
}

func validateDataSource(name, kind string, apiGroup *string, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if name == "" {
		allErrs = append(allErrs, field.Required(p.Child("name"), ""))
	}
	if kind == "" {
		allErrs = append(allErrs, field.Required(p.Child("kind"), ""))
	}
	group := ""
	if apiGroup != nil {
		group = *apiGroup
	}
	if group == "" && kind != "PersistentVolumeClaim" {
		allErrs = append(allErrs, field.Invalid(p, kind, "must be 'PersistentVolumeClaim' when referencing the default apiGroup"))
	}
	if group != "" {
		allErrs = append(allErrs, validateDNS1123Subdomain(group, p.Child("apiGroup"))...)
	}
	return allErrs
}

func validatePersistentVolumeClaimUpdate(n, o *corev1.PersistentVolumeClaim) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	allErrs = append(allErrs, validatePVCSpec(&n.Spec, field.NewPath("spec"))...)

	newSpec := n.Spec.DeepCopy()
	oldSpec := o.Spec.DeepCopy()
	// The binder fills in volumeName once.
	if oldSpec.VolumeName == "" {
		oldSpec.VolumeName = newSpec.VolumeName
	}
	// A class may be set on a claim that had none.
	if oldSpec.StorageClassName == nil && newSpec.StorageClassName != nil {
		if ann, ok := o.Annotations[corev1.BetaStorageClassAnnotation]; !ok || ann == *newSpec.StorageClassName {
			oldSpec.StorageClassName = newSpec.StorageClassName
		}
	}
	// Bound claims may be resized and re-classed.
	if n.Status.Phase == corev1.ClaimBound {
		if newSpec.Resources.Requests != nil {
			if q, ok := oldSpec.Resources.Requests[corev1.ResourceStorage]; ok {
				newSpec.Resources.Requests[corev1.ResourceStorage] = q
			} else {
				delete(newSpec.Resources.Requests, corev1.ResourceStorage)
			}
		}
		newSpec.VolumeAttributesClassName = oldSpec.VolumeAttributesClassName
	}
	if !equality.Semantic.DeepEqual(newSpec, oldSpec) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec"),
			"spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n"+describeChanges("spec", oldSpec, newSpec)))
	}
	oldSize := o.Spec.Resources.Requests[corev1.ResourceStorage]
	newSize := n.Spec.Resources.Requests[corev1.ResourceStorage]
	if newSize.Cmp(oldSize) < 0 {
		// Shrinking back is allowed only to recover from a failed expansion,
		// and never below what the volume actually has.
		statusSize, recorded := o.Status.Capacity[corev1.ResourceStorage]
		if !recorded {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "resources", "requests", "storage"), "field can not be less than previous value"))
		} else if newSize.Cmp(statusSize) <= 0 {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "resources", "requests", "storage"), "field can not be less than status.capacity"))
		}
	}
	allErrs = append(allErrs, validateImmutable(n.Spec.VolumeMode, o.Spec.VolumeMode, field.NewPath("spec", "volumeMode"))...)
	if o.Spec.VolumeAttributesClassName != nil && !reflect.DeepEqual(o.Spec.VolumeAttributesClassName, n.Spec.VolumeAttributesClassName) {
		if n.Spec.VolumeAttributesClassName == nil {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "volumeAttributesClassName"), "update from non-nil value to nil is forbidden"))
		} else if *n.Spec.VolumeAttributesClassName == "" {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "volumeAttributesClassName"), "update from non-nil value to an empty string is forbidden"))
		}
	}
	return allErrs
}

func validatePVCStatus(pvc *corev1.PersistentVolumeClaim) field.ErrorList {
	var allErrs field.ErrorList
	capPath := field.NewPath("status", "capacity")
	for _, r := range sortedResourceNames(pvc.Status.Capacity) {
		allErrs = append(allErrs, validateNonNegativeQuantity(pvc.Status.Capacity[r], capPath.Key(string(r)))...)
	}
	allocPath := field.NewPath("status", "allocatedResources")
	for _, r := range sortedResourceNames(pvc.Status.AllocatedResources) {
		allErrs = append(allErrs, validateNonNegativeQuantity(pvc.Status.AllocatedResources[r], allocPath.Key(string(r)))...)
	}
	return allErrs
}

// StorageClass

const (
	maxProvisionerParameterSize = 256 * (1 << 10)
	maxProvisionerParameterLen  = 512
)

func validateStorageClass(sc *storagev1.StorageClass) field.ErrorList {
	allErrs := validateMeta(sc, false, nameIsDNSSubdomain)
	return append(allErrs, validateStorageClassBody(sc)...)
}

func validateStorageClassBody(sc *storagev1.StorageClass) field.ErrorList {
	var allErrs field.ErrorList
	if sc.Provisioner == "" {
		allErrs = append(allErrs, field.Required(field.NewPath("provisioner"), ""))
	} else {
		allErrs = append(allErrs, validateQualifiedName(strings.ToLower(sc.Provisioner), field.NewPath("provisioner"))...)
	}
	allErrs = append(allErrs, validateStorageClassParameters(sc.Parameters, field.NewPath("parameters"))...)
	if sc.ReclaimPolicy != nil {
		allErrs = append(allErrs, enumCheckOptional(*sc.ReclaimPolicy, []corev1.PersistentVolumeReclaimPolicy{corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRetain}, field.NewPath("reclaimPolicy"))...)
	}
	if sc.VolumeBindingMode == nil {
		allErrs = append(allErrs, field.Required(field.NewPath("volumeBindingMode"), ""))
	} else {
		allErrs = append(allErrs, enumCheck(*sc.VolumeBindingMode, []storagev1.VolumeBindingMode{storagev1.VolumeBindingImmediate, storagev1.VolumeBindingWaitForFirstConsumer}, field.NewPath("volumeBindingMode"))...)
	}
	topoPath := field.NewPath("allowedTopologies")
	for i, term := range sc.AllowedTopologies {
		tp := topoPath.Index(i)
		if len(term.MatchLabelExpressions) == 0 {
			allErrs = append(allErrs, field.Required(tp, "must have at least one label expression"))
		}
		keys := map[string]bool{}
		for j, req := range term.MatchLabelExpressions {
			rp := tp.Child("matchLabelExpressions").Index(j)
			if keys[req.Key] {
				allErrs = append(allErrs, field.Duplicate(rp.Child("key"), req.Key))
			}
			keys[req.Key] = true
			allErrs = append(allErrs, validateQualifiedName(req.Key, rp.Child("key"))...)
			if len(req.Values) == 0 {
				allErrs = append(allErrs, field.Required(rp.Child("values"), ""))
			}
		}
	}
	return allErrs
}

func validateStorageClassParameters(params map[string]string, p *field.Path) field.ErrorList {
	if len(params) > maxProvisionerParameterLen {
		return field.ErrorList{field.TooLong(p, "", maxProvisionerParameterLen)}
	}
	var allErrs field.ErrorList
	total := 0
	for k, v := range params {
		if k == "" {
			allErrs = append(allErrs, field.Invalid(p, k, "field can not be empty."))
		}
		total += len(k) + len(v)
	}
	if total > maxProvisionerParameterSize {
		allErrs = append(allErrs, field.TooLong(p, "", maxProvisionerParameterSize))
	}
	return allErrs
}

func validateStorageClassUpdate(n, o *storagev1.StorageClass) field.ErrorList {
	allErrs := validateMetaUpdate(n, o)
	allErrs = append(allErrs, validateStorageClassBody(n)...)
	// Existing volumes were provisioned with these settings.
	if !reflect.DeepEqual(n.Parameters, o.Parameters) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("parameters"), "updates to parameters are forbidden."))
	}
	if n.Provisioner != o.Provisioner {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("provisioner"), "updates to provisioner are forbidden."))
	}
	if !reflect.DeepEqual(n.ReclaimPolicy, o.ReclaimPolicy) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("reclaimPolicy"), "updates to reclaimPolicy are forbidden."))
	}
	allErrs = append(allErrs, validateImmutable(n.VolumeBindingMode, o.VolumeBindingMode, field.NewPath("volumeBindingMode"))...)
	return allErrs
}
