package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

func validPV() *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: objMeta("", "pv-1"),
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: quantity("10Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			VolumeMode:                    ptrTo(corev1.PersistentVolumeFilesystem),
			PersistentVolumeSource:        corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs.local", Path: "/exports/a"}},
		},
	}
}

func validPVC() *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: objMeta("default", "data"),
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: quantity("1Gi")}},
			StorageClassName: ptrTo("standard"),
			VolumeMode:       ptrTo(corev1.PersistentVolumeFilesystem),
		},
	}
}

func TestPersistentVolume(t *testing.T) {
	expectErrs(t, ValidateCreate(validPV()))

	pv := validPV()
	pv.Spec.AccessModes = nil
	pv.Spec.Capacity = nil
	pv.Spec.NFS = nil
	expectErrs(t, ValidateCreate(pv), required("spec.accessModes"), required("spec.capacity"), notSupported("spec.capacity"), required("spec"))

	pv = validPV()
	pv.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod, corev1.ReadOnlyMany, "WriteSometimes"}
	pv.Spec.PersistentVolumeReclaimPolicy = "Shred"
	pv.Spec.HostPath = &corev1.HostPathVolumeSource{Path: "/x"}
	expectErrs(t, ValidateCreate(pv), notSupported("spec.accessModes"), forbidden("spec.accessModes"), notSupported("spec.persistentVolumeReclaimPolicy"), forbidden("spec.nfs"))

	pv = validPV()
	pv.Spec.NFS = nil
	pv.Spec.Local = &corev1.LocalVolumeSource{Path: "/mnt/disk"}
	expectErrs(t, ValidateCreate(pv), required("spec.nodeAffinity"))

	pv = validPV()
	pv.Namespace = "default"
	expectErrs(t, ValidateCreate(pv), forbidden("metadata.namespace"))

	o, n := validPV(), validPV()
	n.Spec.Capacity[corev1.ResourceStorage] = quantity("20Gi")
	n.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
	expectErrs(t, ValidateUpdate(n, o))
	n.Spec.NFS.Path = "/exports/b"
	expectErrs(t, ValidateUpdate(n, o), forbidden("spec.persistentvolumesource"))
}

func TestPersistentVolumeClaim(t *testing.T) {
	expectErrs(t, ValidateCreate(validPVC()))

	pvc := validPVC()
	pvc.Spec.AccessModes = nil
	pvc.Spec.Resources.Requests = nil
	pvc.Spec.StorageClassName = ptrTo("Fast_SSD")
	expectErrs(t, ValidateCreate(pvc), required("spec.accessModes"), required("spec.resources[storage]"), invalid("spec.storageClassName"))

	pvc = validPVC()
	pvc.Spec.Resources.Requests[corev1.ResourceStorage] = quantity("0")
	pvc.Spec.VolumeMode = ptrTo(corev1.PersistentVolumeMode("Tape"))
	expectErrs(t, ValidateCreate(pvc), invalid("spec.resources[storage]"), notSupported("spec.volumeMode"))

	bound := func() *corev1.PersistentVolumeClaim {
		p := validPVC()
		p.Spec.VolumeName = "pv-1"
		p.Status.Phase = corev1.ClaimBound
		p.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: quantity("1Gi")}
		return p
	}
	t.Run("bind sets volumeName", func(t *testing.T) {
		o, n := validPVC(), validPVC()
		n.Spec.VolumeName = "pv-1"
		expectErrs(t, ValidateUpdate(n, o))
	})
	t.Run("bound claim grows", func(t *testing.T) {
		o, n := bound(), bound()
		n.Spec.Resources.Requests[corev1.ResourceStorage] = quantity("5Gi")
		expectErrs(t, ValidateUpdate(n, o))
	})
	t.Run("bound claim shrinks below capacity", func(t *testing.T) {
		o, n := bound(), bound()
		n.Spec.Resources.Requests[corev1.ResourceStorage] = quantity("512Mi")
		expectErrs(t, ValidateUpdate(n, o), forbidden("spec.resources.requests.storage"))
	})
	t.Run("unbound claim resize", func(t *testing.T) {
		o, n := validPVC(), validPVC()
		n.Spec.Resources.Requests[corev1.ResourceStorage] = quantity("2Gi")
		expectErrs(t, ValidateUpdate(n, o), forbidden("spec"))
	})
	t.Run("access modes immutable", func(t *testing.T) {
		o, n := bound(), bound()
		n.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		expectErrs(t, ValidateUpdate(n, o), forbidden("spec"))
	})
}

func TestStorageClass(t *testing.T) {
	sc := &storagev1.StorageClass{
		ObjectMeta:        objMeta("", "fast"),
		Provisioner:       "csi.example.com",
		Parameters:        map[string]string{"type": "ssd"},
		ReclaimPolicy:     ptrTo(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode: ptrTo(storagev1.VolumeBindingWaitForFirstConsumer),
	}
	expectErrs(t, ValidateCreate(sc))

	bad := sc.DeepCopy()
	bad.Provisioner = ""
	bad.ReclaimPolicy = ptrTo(corev1.PersistentVolumeReclaimRecycle)
	bad.VolumeBindingMode = ptrTo(storagev1.VolumeBindingMode("Later"))
	expectErrs(t, ValidateCreate(bad), required("provisioner"), notSupported("reclaimPolicy"), notSupported("volumeBindingMode"))

	n := sc.DeepCopy()
	n.AllowVolumeExpansion = ptrTo(true)
	expectErrs(t, ValidateUpdate(n, sc))
	n.Parameters = map[string]string{"type": "hdd"}
	n.Provisioner = "other.example.com"
	expectErrs(t, ValidateUpdate(n, sc), forbidden("parameters"), forbidden("provisioner"))
}
