package validation

import (
	"fmt"
	"path"
	"path/filepath"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const fileModeErrorMsg = "must be a number between 0 and 0777 (octal), both inclusive"

// volumeType is one possible source of a volume: whether it is set and how
// to check it.
type volumeType struct {
	name  string
	set   bool
	check func(*field.Path) field.ErrorList
}

// validateOneVolumeType enforces "exactly one source" and runs the check of
// the first one set.
func validateOneVolumeType(types []volumeType, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	n := 0
	for _, t := range types {
		if !t.set {
			continue
		}
		if n > 0 {
			allErrs = append(allErrs, field.Forbidden(fldPath.Child(t.name), "may not specify more than 1 volume type"))
			continue
		}
		n++
		if t.check != nil {
			allErrs = append(allErrs, t.check(fldPath.Child(t.name))...)
		}
	}
	if n == 0 {
		allErrs = append(allErrs, field.Required(fldPath, "must specify a volume type"))
	}
	return allErrs
}

// requireStrings builds a check that reports each empty string as Required.
func requireStrings(pairs ...interface{}) func(*field.Path) field.ErrorList {
	return func(p *field.Path) field.ErrorList {
		var allErrs field.ErrorList
		for i := 0; i+1 < len(pairs); i += 2 {
			name, _ := pairs[i].(string)
			switch v := pairs[i+1].(type) {
			case string:
				if v == "" {
					allErrs = append(allErrs, field.Required(p.Child(name), ""))
				}
			case []string:
				if len(v) == 0 {
					allErrs = append(allErrs, field.Required(p.Child(name), ""))
				}
			}
		}
		return allErrs
	}
}

// validateVolumes checks spec.volumes and returns the valid ones by name for
// volume mounts to resolve.
func validateVolumes(volumes []corev1.Volume, opts podOpts, fldPath *field.Path) (map[string]corev1.VolumeSource, field.ErrorList) {
	var allErrs field.ErrorList
	byName := map[string]corev1.VolumeSource{}
	createdPVCs := map[string]bool{}
	if opts.podName != "" {
		for _, v := range volumes {
			if v.Ephemeral != nil {
				createdPVCs[opts.podName+"-"+v.Name] = true
			}
		}
	}
	for i := range volumes {
		v := &volumes[i]
		p := fldPath.Index(i)
		el := validateVolumeSource(&v.VolumeSource, v.Name, opts, p)
		if v.Name == "" {
			el = append(el, field.Required(p.Child("name"), ""))
		} else {
			el = append(el, validateDNS1123Label(v.Name, p.Child("name"))...)
		}
		if _, dup := byName[v.Name]; dup {
			el = append(el, field.Duplicate(p.Child("name"), v.Name))
		}
		if len(el) == 0 {
			byName[v.Name] = v.VolumeSource
		} else {
			allErrs = append(allErrs, el...)
		}
		if v.PersistentVolumeClaim != nil && createdPVCs[v.PersistentVolumeClaim.ClaimName] {
			allErrs = append(allErrs, field.Invalid(p.Child("persistentVolumeClaim", "claimName"), v.PersistentVolumeClaim.ClaimName,
				"must not reference a PVC that gets created for an ephemeral volume"))
		}
	}
	return byName, allErrs
}

func validateVolumeSource(s *corev1.VolumeSource, volName string, opts podOpts, fldPath *field.Path) field.ErrorList {
	types := []volumeType{
		{"hostPath", s.HostPath != nil, func(p *field.Path) field.ErrorList { return validateHostPath(s.HostPath, p) }},
		{"emptyDir", s.EmptyDir != nil, func(p *field.Path) field.ErrorList {
			if s.EmptyDir.SizeLimit != nil && s.EmptyDir.SizeLimit.Sign() < 0 {
				return field.ErrorList{field.Forbidden(p.Child("sizeLimit"), "SizeLimit field must be a valid resource quantity")}
			}
			return nil
		}},
		{"gcePersistentDisk", s.GCEPersistentDisk != nil, func(p *field.Path) field.ErrorList {
			return append(requireStrings("pdName", s.GCEPersistentDisk.PDName)(p), validatePartition(s.GCEPersistentDisk.Partition, p)...)
		}},
		{"awsElasticBlockStore", s.AWSElasticBlockStore != nil, func(p *field.Path) field.ErrorList {
			return append(requireStrings("volumeID", s.AWSElasticBlockStore.VolumeID)(p), validatePartition(s.AWSElasticBlockStore.Partition, p)...)
		}},
		{"gitRepo", s.GitRepo != nil, func(p *field.Path) field.ErrorList {
			return append(requireStrings("repository", s.GitRepo.Repository)(p), validateLocalDescendingPath(s.GitRepo.Directory, p.Child("directory"))...)
		}},
		{"secret", s.Secret != nil, func(p *field.Path) field.ErrorList {
			allErrs := requireStrings("secretName", s.Secret.SecretName)(p)
			allErrs = append(allErrs, validateFileMode(s.Secret.DefaultMode, p.Child("defaultMode"))...)
			return append(allErrs, validateKeyToPaths(s.Secret.Items, p.Child("items"))...)
		}},
		{"nfs", s.NFS != nil, func(p *field.Path) field.ErrorList { return validateNFS(s.NFS, p) }},
		{"iscsi", s.ISCSI != nil, func(p *field.Path) field.ErrorList {
			return validateISCSI(s.ISCSI.TargetPortal, s.ISCSI.IQN, s.ISCSI.Lun, p)
		}},
		{"glusterfs", s.Glusterfs != nil, requireStrings("endpoints", strOf(s.Glusterfs, func(g *corev1.GlusterfsVolumeSource) string { return g.EndpointsName }),
			"path", strOf(s.Glusterfs, func(g *corev1.GlusterfsVolumeSource) string { return g.Path }))},
		{"persistentVolumeClaim", s.PersistentVolumeClaim != nil, func(p *field.Path) field.ErrorList {
			return requireStrings("claimName", s.PersistentVolumeClaim.ClaimName)(p)
		}},
		{"rbd", s.RBD != nil, func(p *field.Path) field.ErrorList {
			return requireStrings("monitors", s.RBD.CephMonitors, "image", s.RBD.RBDImage)(p)
		}},
		{"flexVolume", s.FlexVolume != nil, func(p *field.Path) field.ErrorList { return requireStrings("driver", s.FlexVolume.Driver)(p) }},
		{"cinder", s.Cinder != nil, func(p *field.Path) field.ErrorList { return requireStrings("volumeID", s.Cinder.VolumeID)(p) }},
		{"cephfs", s.CephFS != nil, func(p *field.Path) field.ErrorList { return requireStrings("monitors", s.CephFS.Monitors)(p) }},
		{"flocker", s.Flocker != nil, func(p *field.Path) field.ErrorList { return validateFlocker(s.Flocker, p) }},
		{"downwardAPI", s.DownwardAPI != nil, func(p *field.Path) field.ErrorList {
			allErrs := validateFileMode(s.DownwardAPI.DefaultMode, p.Child("defaultMode"))
			for i := range s.DownwardAPI.Items {
				allErrs = append(allErrs, validateDownwardAPIFile(&s.DownwardAPI.Items[i], p.Child("items").Index(i))...)
			}
			return allErrs
		}},
		{"fc", s.FC != nil, func(p *field.Path) field.ErrorList { return validateFC(s.FC, p) }},
		{"azureFile", s.AzureFile != nil, func(p *field.Path) field.ErrorList {
			return requireStrings("secretName", s.AzureFile.SecretName, "shareName", s.AzureFile.ShareName)(p)
		}},
		{"configMap", s.ConfigMap != nil, func(p *field.Path) field.ErrorList {
			allErrs := requireStrings("name", s.ConfigMap.Name)(p)
			allErrs = append(allErrs, validateFileMode(s.ConfigMap.DefaultMode, p.Child("defaultMode"))...)
			return append(allErrs, validateKeyToPaths(s.ConfigMap.Items, p.Child("items"))...)
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
		{"projected", s.Projected != nil, func(p *field.Path) field.ErrorList { return validateProjected(s.Projected, p) }},
		{"portworxVolume", s.PortworxVolume != nil, func(p *field.Path) field.ErrorList {
			return requireStrings("volumeID", s.PortworxVolume.VolumeID)(p)
		}},
		{"scaleIO", s.ScaleIO != nil, func(p *field.Path) field.ErrorList {
			return requireStrings("gateway", s.ScaleIO.Gateway, "system", s.ScaleIO.System, "volumeName", s.ScaleIO.VolumeName)(p)
		}},
		{"storageos", s.StorageOS != nil, func(p *field.Path) field.ErrorList {
			return requireStrings("volumeName", s.StorageOS.VolumeName)(p)
		}},
		{"csi", s.CSI != nil, func(p *field.Path) field.ErrorList {
			allErrs := validateCSIDriverName(s.CSI.Driver, p.Child("driver"))
			if ref := s.CSI.NodePublishSecretRef; ref != nil {
				if ref.Name == "" {
					allErrs = append(allErrs, field.Required(p.Child("nodePublishSecretRef", "name"), ""))
				} else {
					allErrs = append(allErrs, validateName(nameIsDNSSubdomain, ref.Name, p.Child("nodePublishSecretRef", "name"))...)
				}
			}
			return allErrs
		}},
		{"ephemeral", s.Ephemeral != nil, func(p *field.Path) field.ErrorList {
			if s.Ephemeral.VolumeClaimTemplate == nil {
				return field.ErrorList{field.Required(p.Child("volumeClaimTemplate"), "")}
			}
			tp := p.Child("volumeClaimTemplate")
			allErrs := validateTemplateMetaOnly(&s.Ephemeral.VolumeClaimTemplate.ObjectMeta, tp.Child("metadata"))
			allErrs = append(allErrs, validatePVCSpec(&s.Ephemeral.VolumeClaimTemplate.Spec, tp.Child("spec"))...)
			// The generated claim is named <pod>-<volume>.
			if opts.podName != "" && volName != "" {
				pvcName := opts.podName + "-" + volName
				for _, msg := range nameIsDNSSubdomain(pvcName, false) {
					allErrs = append(allErrs, field.Invalid(fldPath.Child("name"), volName, fmt.Sprintf("PVC name %q: %v", pvcName, msg)))
				}
			}
			return allErrs
		}},
		{"image", s.Image != nil, func(p *field.Path) field.ErrorList {
			var allErrs field.ErrorList
			if opts.isPod && s.Image.Reference == "" {
				allErrs = append(allErrs, field.Required(p.Child("reference"), ""))
			}
			return append(allErrs, enumCheck(s.Image.PullPolicy, pullPolicies, p.Child("pullPolicy"))...)
		}},
	}
	return validateOneVolumeType(types, fldPath)
}

// strOf reads a string field from a possibly nil source without panicking;
// the check only runs when the source is set.
func strOf[T any](src *T, get func(*T) string) string {
	if src == nil {
		return ""
	}
	return get(src)
}

// validateTemplateMetaOnly: embedded claim templates may carry only labels
// and annotations; anything else would be silently ignored, so reject it.
func validateTemplateMetaOnly(m *metav1.ObjectMeta, fldPath *field.Path) field.ErrorList {
	allErrs := validateTemplateMeta(m, fldPath)
	rest := *m
	rest.Labels, rest.Annotations = nil, nil
	v := reflect.ValueOf(rest)
	for i := 0; i < v.NumField(); i++ {
		if !v.Field(i).IsZero() {
			allErrs = append(allErrs, field.Forbidden(fldPath.Child(jsonName(v.Type().Field(i))), "cannot be set"))
		}
	}
	return allErrs
}

var hostPathTypes = []corev1.HostPathType{
	corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory, corev1.HostPathFileOrCreate,
	corev1.HostPathFile, corev1.HostPathSocket, corev1.HostPathCharDev, corev1.HostPathBlockDev,
}

func validateHostPath(hp *corev1.HostPathVolumeSource, p *field.Path) field.ErrorList {
	if hp.Path == "" {
		return field.ErrorList{field.Required(p.Child("path"), "")}
	}
	allErrs := validatePathNoBacksteps(hp.Path, p.Child("path"))
	if hp.Type != nil {
		found := false
		for _, t := range hostPathTypes {
			found = found || *hp.Type == t
		}
		if !found {
			allErrs = append(allErrs, field.NotSupported(p.Child("type"), *hp.Type, hostPathTypes))
		}
	}
	return allErrs
}

func validateNFS(nfs *corev1.NFSVolumeSource, p *field.Path) field.ErrorList {
	allErrs := requireStrings("server", nfs.Server, "path", nfs.Path)(p)
	if !path.IsAbs(nfs.Path) {
		allErrs = append(allErrs, field.Invalid(p.Child("path"), nfs.Path, "must be an absolute path"))
	}
	return allErrs
}

func validateISCSI(portal, iqn string, lun int32, p *field.Path) field.ErrorList {
	allErrs := requireStrings("targetPortal", portal, "iqn", iqn)(p)
	if iqn != "" && !strings.HasPrefix(iqn, "iqn") && !strings.HasPrefix(iqn, "eui") && !strings.HasPrefix(iqn, "naa") {
		allErrs = append(allErrs, field.Invalid(p.Child("iqn"), iqn, "must be valid format starting with iqn, eui, or naa"))
	}
	if lun < 0 || lun > 255 {
		allErrs = append(allErrs, field.Invalid(p.Child("lun"), lun, validation.InclusiveRangeError(0, 255)))
	}
	return allErrs
}

func validatePartition(partition int32, p *field.Path) field.ErrorList {
	if partition < 0 || partition > 255 {
		return field.ErrorList{field.Invalid(p.Child("partition"), partition, validation.InclusiveRangeError(1, 255))}
	}
	return nil
}

func validateFlocker(f *corev1.FlockerVolumeSource, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if f.DatasetName == "" && f.DatasetUUID == "" {
		allErrs = append(allErrs, field.Required(p, "one of datasetName and datasetUUID is required"))
	}
	if f.DatasetName != "" && f.DatasetUUID != "" {
		allErrs = append(allErrs, field.Invalid(p, "resource", "datasetName and datasetUUID can not be specified simultaneously"))
	}
	if strings.Contains(f.DatasetName, "/") {
		allErrs = append(allErrs, field.Invalid(p.Child("datasetName"), f.DatasetName, "must not contain '/'"))
	}
	return allErrs
}

func validateFC(fc *corev1.FCVolumeSource, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(fc.TargetWWNs) == 0 && len(fc.WWIDs) == 0 {
		allErrs = append(allErrs, field.Required(p.Child("targetWWNs"), "must specify either targetWWNs or wwids, but not both"))
	}
	if len(fc.TargetWWNs) != 0 && len(fc.WWIDs) != 0 {
		allErrs = append(allErrs, field.Invalid(p.Child("targetWWNs"), fc.TargetWWNs, "targetWWNs and wwids can not be specified simultaneously"))
	}
	if len(fc.TargetWWNs) != 0 {
		if fc.Lun == nil {
			allErrs = append(allErrs, field.Required(p.Child("lun"), "lun is required if targetWWNs is specified"))
		} else if *fc.Lun < 0 || *fc.Lun > 255 {
			allErrs = append(allErrs, field.Invalid(p.Child("lun"), *fc.Lun, validation.InclusiveRangeError(0, 255)))
		}
	}
	return allErrs
}

func validateCSIDriverName(driver string, p *field.Path) field.ErrorList {
	if driver == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	var allErrs field.ErrorList
	if len(driver) > 63 {
		allErrs = append(allErrs, field.TooLong(p, "", 63))
	}
	return append(allErrs, invalidFor(p, driver, validation.IsDNS1123Subdomain(strings.ToLower(driver)))...)
}

func validateFileMode(mode *int32, p *field.Path) field.ErrorList {
	if mode != nil && (*mode > 0777 || *mode < 0) {
		return field.ErrorList{field.Invalid(p, *mode, fileModeErrorMsg)}
	}
	return nil
}

func validateKeyToPaths(items []corev1.KeyToPath, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i := range items {
		allErrs = append(allErrs, validateKeyToPath(&items[i], fldPath.Index(i))...)
	}
	return allErrs
}

func validateKeyToPath(kp *corev1.KeyToPath, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if kp.Key == "" {
		allErrs = append(allErrs, field.Required(p.Child("key"), ""))
	}
	if kp.Path == "" {
		allErrs = append(allErrs, field.Required(p.Child("path"), ""))
	}
	allErrs = append(allErrs, validateLocalNonReservedPath(kp.Path, p.Child("path"))...)
	return append(allErrs, validateFileMode(kp.Mode, p.Child("mode"))...)
}

func validateDownwardAPIFile(f *corev1.DownwardAPIVolumeFile, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if f.Path == "" {
		allErrs = append(allErrs, field.Required(p.Child("path"), ""))
	}
	allErrs = append(allErrs, validateLocalNonReservedPath(f.Path, p.Child("path"))...)
	switch {
	case f.FieldRef != nil:
		allErrs = append(allErrs, validateObjectFieldSelector(f.FieldRef, volumeFieldPaths, p.Child("fieldRef"))...)
		if f.ResourceFieldRef != nil {
			allErrs = append(allErrs, field.Invalid(p, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		}
	case f.ResourceFieldRef != nil:
		allErrs = append(allErrs, validateResourceFieldSelector(f.ResourceFieldRef, true, p.Child("resourceFieldRef"))...)
	default:
		allErrs = append(allErrs, field.Required(p, "one of fieldRef and resourceFieldRef is required"))
	}
	return append(allErrs, validateFileMode(f.Mode, p.Child("mode"))...)
}

func validateProjected(proj *corev1.ProjectedVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := validateFileMode(proj.DefaultMode, fldPath.Child("defaultMode"))
	paths := map[string]bool{}
	claimPath := func(pth string) {
		if pth == "" {
			return
		}
		if paths[pth] {
			allErrs = append(allErrs, field.Invalid(fldPath, pth, "conflicting duplicate paths"))
		}
		paths[pth] = true
	}
	for i, src := range proj.Sources {
		sp := fldPath.Child("sources").Index(i)
		n := 0
		if src.Secret != nil {
			n++
			p := sp.Child("secret")
			if src.Secret.Name == "" {
				allErrs = append(allErrs, field.Required(p.Child("name"), ""))
			}
			allErrs = append(allErrs, validateKeyToPaths(src.Secret.Items, p.Child("items"))...)
			for _, kp := range src.Secret.Items {
				claimPath(kp.Path)
			}
		}
		if src.ConfigMap != nil {
			n++
			p := sp.Child("configMap")
			if src.ConfigMap.Name == "" {
				allErrs = append(allErrs, field.Required(p.Child("name"), ""))
			}
			allErrs = append(allErrs, validateKeyToPaths(src.ConfigMap.Items, p.Child("items"))...)
			for _, kp := range src.ConfigMap.Items {
				claimPath(kp.Path)
			}
		}
		if src.DownwardAPI != nil {
			n++
			p := sp.Child("downwardAPI")
			for j := range src.DownwardAPI.Items {
				allErrs = append(allErrs, validateDownwardAPIFile(&src.DownwardAPI.Items[j], p.Child("items").Index(j))...)
				claimPath(src.DownwardAPI.Items[j].Path)
			}
		}
		if sat := src.ServiceAccountToken; sat != nil {
			n++
			p := sp.Child("serviceAccountToken")
			if sat.ExpirationSeconds != nil {
				if *sat.ExpirationSeconds < 10*60 {
					allErrs = append(allErrs, field.Invalid(p.Child("expirationSeconds"), *sat.ExpirationSeconds, "may not specify a duration less than 10 minutes"))
				}
				if *sat.ExpirationSeconds > 1<<32 {
					allErrs = append(allErrs, field.Invalid(p.Child("expirationSeconds"), *sat.ExpirationSeconds, "may not specify a duration larger than 2^32 seconds"))
				}
			}
			if sat.Path == "" {
				allErrs = append(allErrs, field.Required(p.Child("path"), ""))
			} else {
				allErrs = append(allErrs, validateLocalNonReservedPath(sat.Path, p.Child("path"))...)
			}
			claimPath(sat.Path)
		}
		if ctb := src.ClusterTrustBundle; ctb != nil {
			n++
			p := sp.Child("clusterTrustBundle")
			switch {
			case ctb.Name != nil && ctb.SignerName != nil:
				allErrs = append(allErrs, field.Invalid(p, ctb, "only one of name and signerName may be used"))
			case ctb.Name != nil:
				if *ctb.Name == "" {
					allErrs = append(allErrs, field.Required(p.Child("name"), "must be a valid object name"))
				}
				if ctb.LabelSelector != nil {
					allErrs = append(allErrs, field.Invalid(p.Child("labelSelector"), ctb.LabelSelector, "labelSelector must be unset if name is specified"))
				}
			case ctb.SignerName != nil:
				allErrs = append(allErrs, validateSignerName(*ctb.SignerName, p.Child("signerName"))...)
				allErrs = append(allErrs, validateLabelSelector(ctb.LabelSelector, p.Child("labelSelector"))...)
			default:
				allErrs = append(allErrs, field.Required(p, "either name or signerName must be specified"))
			}
			if ctb.Path == "" {
				allErrs = append(allErrs, field.Required(p.Child("path"), ""))
			}
			allErrs = append(allErrs, validateLocalNonReservedPath(ctb.Path, p.Child("path"))...)
			claimPath(ctb.Path)
		}
		if src.PodCertificate != nil {
			n++
		}
		if n > 1 {
			allErrs = append(allErrs, field.Forbidden(sp, "may not specify more than 1 volume type per source"))
		}
	}
	return allErrs
}

// Paths

// validatePathNoBacksteps rejects any ".." element.
func validatePathNoBacksteps(target string, p *field.Path) field.ErrorList {
	for _, item := range strings.Split(filepath.ToSlash(target), "/") {
		if item == ".." {
			return field.ErrorList{field.Invalid(p, target, "must not contain '..'")}
		}
	}
	return nil
}

// validateLocalDescendingPath: relative and without "..".
func validateLocalDescendingPath(target string, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if path.IsAbs(target) {
		allErrs = append(allErrs, field.Invalid(p, target, "must be a relative path"))
	}
	return append(allErrs, validatePathNoBacksteps(target, p)...)
}

// validateLocalNonReservedPath additionally rejects names starting with ".."
// which the kubelet uses for its atomic-writer bookkeeping.
func validateLocalNonReservedPath(target string, p *field.Path) field.ErrorList {
	allErrs := validateLocalDescendingPath(target, p)
	if strings.HasPrefix(target, "..") && !strings.HasPrefix(target, "../") {
		allErrs = append(allErrs, field.Invalid(p, target, "must not start with '..'"))
	}
	return allErrs
}

// Mounts

var mountPropagations = []corev1.MountPropagationMode{corev1.MountPropagationBidirectional, corev1.MountPropagationHostToContainer, corev1.MountPropagationNone}

func validateVolumeMounts(c *corev1.Container, vols map[string]corev1.VolumeSource, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	devices := map[string]string{}
	for _, d := range c.VolumeDevices {
		devices[d.Name] = d.DevicePath
	}
	devicePaths := map[string]bool{}
	for _, d := range c.VolumeDevices {
		devicePaths[d.DevicePath] = true
	}
	mountPoints := map[string]bool{}
	for i, m := range c.VolumeMounts {
		p := fldPath.Index(i)
		if m.Name == "" {
			allErrs = append(allErrs, field.Required(p.Child("name"), ""))
		}
		src, ok := vols[m.Name]
		if !ok {
			allErrs = append(allErrs, field.NotFound(p.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			allErrs = append(allErrs, field.Required(p.Child("mountPath"), ""))
		}
		if mountPoints[m.MountPath] {
			allErrs = append(allErrs, field.Invalid(p.Child("mountPath"), m.MountPath, "must be unique"))
		}
		mountPoints[m.MountPath] = true
		if _, clash := devices[m.Name]; clash {
			allErrs = append(allErrs, field.Invalid(p.Child("name"), m.Name, "must not already exist in volumeDevices"))
		}
		if devicePaths[m.MountPath] {
			allErrs = append(allErrs, field.Invalid(p.Child("mountPath"), m.MountPath, "must not already exist as a path in volumeDevices"))
		}
		if ok && src.Image != nil {
			if m.SubPath != "" {
				allErrs = append(allErrs, field.Invalid(p.Child("subPath"), m.SubPath, "not allowed in image volume sources"))
			}
			if m.SubPathExpr != "" {
				allErrs = append(allErrs, field.Invalid(p.Child("subPathExpr"), m.SubPathExpr, "not allowed in image volume sources"))
			}
		}
		if m.SubPath != "" {
			allErrs = append(allErrs, validateLocalDescendingPath(m.SubPath, p.Child("subPath"))...)
		}
		if m.SubPathExpr != "" {
			if m.SubPath != "" {
				allErrs = append(allErrs, field.Invalid(p.Child("subPathExpr"), m.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
			}
			allErrs = append(allErrs, validateLocalDescendingPath(m.SubPathExpr, p.Child("subPathExpr"))...)
		}
		if m.MountPropagation != nil {
			allErrs = append(allErrs, enumCheck(*m.MountPropagation, mountPropagations, p.Child("mountPropagation"))...)
			privileged := c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged
			if *m.MountPropagation == corev1.MountPropagationBidirectional && !privileged {
				allErrs = append(allErrs, field.Forbidden(p.Child("mountPropagation"), "Bidirectional mount propagation is available only to privileged containers"))
			}
		}
		if m.RecursiveReadOnly != nil {
			rp := p.Child("recursiveReadOnly")
			switch *m.RecursiveReadOnly {
			case corev1.RecursiveReadOnlyDisabled:
			case corev1.RecursiveReadOnlyEnabled, corev1.RecursiveReadOnlyIfPossible:
				if !m.ReadOnly {
					allErrs = append(allErrs, field.Forbidden(rp, "may only be specified when readOnly is true"))
				}
				if m.MountPropagation != nil && *m.MountPropagation != corev1.MountPropagationNone {
					allErrs = append(allErrs, field.Forbidden(rp, "may only be specified when mountPropagation is None or not specified"))
				}
			default:
				allErrs = append(allErrs, field.NotSupported(rp, *m.RecursiveReadOnly, []corev1.RecursiveReadOnlyMode{corev1.RecursiveReadOnlyDisabled, corev1.RecursiveReadOnlyEnabled, corev1.RecursiveReadOnlyIfPossible}))
			}
		}
	}
	return allErrs
}

func validateVolumeDevices(c *corev1.Container, vols map[string]corev1.VolumeSource, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	mounts := map[string]bool{}
	mountPaths := map[string]bool{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = true
		mountPaths[m.MountPath] = true
	}
	names, paths := map[string]bool{}, map[string]bool{}
	for i, d := range c.VolumeDevices {
		p := fldPath.Index(i)
		if d.Name == "" {
			allErrs = append(allErrs, field.Required(p.Child("name"), ""))
		}
		if names[d.Name] {
			allErrs = append(allErrs, field.Invalid(p.Child("name"), d.Name, "must be unique"))
		}
		// Raw block devices only come from persistent claims.
		if src, ok := vols[d.Name]; !ok {
			allErrs = append(allErrs, field.NotFound(p.Child("name"), d.Name))
		} else if src.PersistentVolumeClaim == nil && src.Ephemeral == nil {
			allErrs = append(allErrs, field.Invalid(p.Child("name"), d.Name, "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode"))
		}
		if d.DevicePath == "" {
			allErrs = append(allErrs, field.Required(p.Child("devicePath"), ""))
		}
		if paths[d.DevicePath] {
			allErrs = append(allErrs, field.Invalid(p.Child("devicePath"), d.DevicePath, "must be unique"))
		}
		if d.DevicePath != "" && len(validatePathNoBacksteps(d.DevicePath, p)) > 0 {
			allErrs = append(allErrs, field.Invalid(p.Child("devicePath"), d.DevicePath, "can not contain backsteps ('..')"))
		} else {
			paths[d.DevicePath] = true
		}
		if mounts[d.Name] {
			allErrs = append(allErrs, field.Invalid(p.Child("name"), d.Name, "must not already exist in volumeMounts"))
		}
		if mountPaths[d.DevicePath] {
			allErrs = append(allErrs, field.Invalid(p.Child("devicePath"), d.DevicePath, "must not already exist as a path in volumeMounts"))
		}
		if d.Name != "" {
			names[d.Name] = true
		}
	}
	return allErrs
}
