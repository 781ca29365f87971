package volume

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"skiff/internal/mountinfo"
)

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteAtomicSwapsAndPrunes(t *testing.T) {
	dir := t.TempDir()
	changed, err := writeAtomic(dir, map[string]File{"a": {Data: []byte("1"), Mode: 0o644}, "sub/b": {Data: []byte("2"), Mode: 0o600}})
	if err != nil || !changed {
		t.Fatalf("first write: changed %v err %v", changed, err)
	}
	if got := read(t, filepath.Join(dir, "a")); got != "1" {
		t.Fatalf("a = %q", got)
	}
	if target, _ := os.Readlink(filepath.Join(dir, "a")); target != "..data/a" {
		t.Fatalf("a links to %q, want ..data/a", target)
	}
	if st, _ := os.Stat(filepath.Join(dir, "sub/b")); st.Mode().Perm() != 0o600 {
		t.Fatalf("sub/b mode %v", st.Mode())
	}
	first, _ := os.Readlink(filepath.Join(dir, dataLink))

	changed, err = writeAtomic(dir, map[string]File{"a": {Data: []byte("1"), Mode: 0o644}, "sub/b": {Data: []byte("2"), Mode: 0o600}})
	if err != nil || changed {
		t.Fatalf("same content rewritten: changed %v err %v", changed, err)
	}

	changed, err = writeAtomic(dir, map[string]File{"a": {Data: []byte("one"), Mode: 0o644}})
	if err != nil || !changed {
		t.Fatalf("update: changed %v err %v", changed, err)
	}
	if got := read(t, filepath.Join(dir, "a")); got != "one" {
		t.Fatalf("a after update = %q", got)
	}
	if _, err := os.Lstat(filepath.Join(dir, "sub")); !os.IsNotExist(err) {
		t.Fatalf("removed key still visible: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, first)); !os.IsNotExist(err) {
		t.Fatalf("old data dir %s left behind", first)
	}
	if _, err := writeAtomic(dir, map[string]File{"../x": {}}); err == nil {
		t.Fatal("a path with .. was accepted")
	}
}

func testPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid-1", Labels: map[string]string{"b": "2", "a": "1"}},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
			Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
		}}}},
	}
}

func TestDownwardValues(t *testing.T) {
	pod := testPod()
	info := PodInfo{PodIPs: []string{"10.1.0.2"}, HostIPs: []string{"192.0.2.1"}, Allocatable: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}
	fields := map[string]string{
		"metadata.name": "p", "metadata.namespace": "ns", "metadata.uid": "uid-1", "metadata.labels['a']": "1",
		"metadata.labels": "a=\"1\"\nb=\"2\"", "spec.nodeName": "n1", "status.podIP": "10.1.0.2", "status.hostIP": "192.0.2.1",
	}
	for path, want := range fields {
		if got, err := FieldValue(pod, path, info); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", path, got, err, want)
		}
	}
	if _, err := FieldValue(pod, "spec.bogus", info); err == nil {
		t.Error("unknown field path accepted")
	}
	res := []struct {
		resource, divisor, want string
	}{
		{"limits.cpu", "", "1"}, // 250m rounds up to 1 core
		{"limits.cpu", "1m", "250"},
		{"requests.memory", "1Mi", "64"},
		{"limits.memory", "", "1073741824"}, // unset: node allocatable
		{"requests.cpu", "", "0"},
	}
	for _, r := range res {
		ref := &corev1.ResourceFieldSelector{ContainerName: "c", Resource: r.resource}
		if r.divisor != "" {
			ref.Divisor = resource.MustParse(r.divisor)
		}
		if got, err := ResourceValue(pod, ref, info); err != nil || got != r.want {
			t.Errorf("%s/%s = %q, %v; want %q", r.resource, r.divisor, got, err, r.want)
		}
	}
}

func noTmpfs(string, int64) error { return nil }

func TestSetupConfigMapSecretDownwardAndUpdates(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "ns"}, Data: map[string]string{"k": "v1", "other": "x"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}, Data: map[string][]byte{"pw": []byte("hunter2")}},
	)
	m := New(t.TempDir(), client)
	m.tmpfs = noTmpfs
	pod := testPod()
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"},
			Items: []corev1.KeyToPath{{Key: "k", Path: "dir/k.txt", Mode: ptr.To[int32](0o400)}}}}},
		{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}},
		{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
			{Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.cpu", Divisor: resource.MustParse("1m")}},
		}}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "opt", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Optional: ptr.To(true)}}},
	}
	paths, err := m.Setup(ctx, pod, PodInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(paths["cfg"], "dir/k.txt")); got != "v1" {
		t.Errorf("configMap item = %q", got)
	}
	if _, err := os.Stat(filepath.Join(paths["cfg"], "other")); !os.IsNotExist(err) {
		t.Error("a key not listed in items was written")
	}
	if got := read(t, filepath.Join(paths["sec"], "pw")); got != "hunter2" {
		t.Errorf("secret = %q", got)
	}
	if got := read(t, filepath.Join(paths["info"], "name")) + "/" + read(t, filepath.Join(paths["info"], "cpu")); got != "p/250" {
		t.Errorf("downwardAPI = %q", got)
	}
	if st, err := os.Stat(paths["scratch"]); err != nil || !st.IsDir() {
		t.Errorf("emptyDir: %v", err)
	}
	if !strings.HasPrefix(paths["cfg"], m.PodDir(pod.UID)) || !strings.Contains(paths["cfg"], configMapPlugin) {
		t.Errorf("configMap volume at %s", paths["cfg"])
	}

	// An edit reaches the volume on the next Setup.
	cm, _ := client.CoreV1().ConfigMaps("ns").Get(ctx, "cm", metav1.GetOptions{})
	cm.Data["k"] = "v2"
	if _, err := client.CoreV1().ConfigMaps("ns").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Setup(ctx, pod, PodInfo{}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(paths["cfg"], "dir/k.txt")); got != "v2" {
		t.Errorf("configMap after edit = %q", got)
	}

	// A missing ConfigMap that is not optional fails with upstream's words.
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "gone", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}})
	_, err = m.Setup(ctx, pod, PodInfo{})
	if err == nil || !strings.Contains(err.Error(), `MountVolume.SetUp failed for volume "gone" : configmap "nope" not found`) {
		t.Errorf("missing configmap: %v", err)
	}

	if err := m.TearDown(pod.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.PodDir(pod.UID)); !os.IsNotExist(err) {
		t.Error("pod dir left after TearDown")
	}
}

func TestHostPathTypes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path string
		typ  corev1.HostPathType
		ok   bool
	}{
		{dir, corev1.HostPathDirectory, true},
		{file, corev1.HostPathDirectory, false},
		{file, corev1.HostPathFile, true},
		{filepath.Join(dir, "missing"), corev1.HostPathFile, false},
		{filepath.Join(dir, "new/dir"), corev1.HostPathDirectoryOrCreate, true},
		{filepath.Join(dir, "new/file"), corev1.HostPathFileOrCreate, true},
		{filepath.Join(dir, "anything"), corev1.HostPathUnset, true},
		{"/dev/null", corev1.HostPathCharDev, true},
		{file, corev1.HostPathSocket, false},
	}
	for _, c := range cases {
		err := checkHostPath(&corev1.HostPathVolumeSource{Path: c.path, Type: ptr.To(c.typ)})
		if (err == nil) != c.ok {
			t.Errorf("%s as %q: err %v, want ok=%v", c.path, c.typ, err, c.ok)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "new/file")); err != nil || !st.Mode().IsRegular() {
		t.Errorf("FileOrCreate did not create a file: %v", err)
	}
}

func TestMounts(t *testing.T) {
	m := New(t.TempDir(), fake.NewClientset())
	pod := testPod()
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
		{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	data := t.TempDir()
	paths := map[string]string{"cfg": "/host/cfg", "data": data}
	c := &corev1.Container{Name: "c", VolumeMounts: []corev1.VolumeMount{
		{Name: "cfg", MountPath: "/etc/cfg"},
		{Name: "data", MountPath: "/data", SubPathExpr: "$(POD)"},
	}}
	mounts, err := m.Mounts(pod, c, paths, func(s string) string { return strings.ReplaceAll(s, "$(POD)", "p") })
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 3 {
		t.Fatalf("mounts %v", mounts)
	}
	if !mounts[0].Readonly {
		t.Error("configMap volume not read-only")
	}
	if mounts[1].HostPath != filepath.Join(data, "p") || mounts[1].Readonly {
		t.Errorf("subPathExpr mount %+v", mounts[1])
	}
	if mounts[2].ContainerPath != "/etc/hosts" {
		t.Errorf("no /etc/hosts mount: %+v", mounts[2])
	}
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: "/x", SubPath: "../escape"})
	if _, err := m.Mounts(pod, c, paths, func(s string) string { return s }); err == nil {
		t.Error("subPath with .. accepted")
	}
	if err := m.WriteHosts(pod, []string{"10.1.0.2"}, "cluster.local"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, m.hostsPath(pod)); !strings.Contains(got, "10.1.0.2\tp\n") || !strings.HasPrefix(got, "# Kubernetes-managed hosts file.") {
		t.Errorf("hosts file:\n%s", got)
	}
}

// As root, secrets and memory emptyDirs are real tmpfs mounts that
// TearDown unmounts.
func TestTmpfsMountsAreTornDown(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount tmpfs")
	}
	client := fake.NewClientset(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}, Data: map[string][]byte{"k": []byte("v")}})
	m := New(t.TempDir(), client)
	pod := testPod()
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}},
		{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("1Mi"))}}},
	}
	t.Cleanup(func() { _ = m.TearDown(pod.UID) })
	paths, err := m.Setup(context.Background(), pod, PodInfo{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"sec", "mem"} {
		if ok, err := isMountPoint(paths[v]); err != nil || !ok {
			t.Fatalf("%s not a mount point: %v", v, err)
		}
	}
	// The size limit holds.
	if err := os.WriteFile(filepath.Join(paths["mem"], "big"), make([]byte, 2<<20), 0o644); err == nil {
		t.Error("wrote 2Mi into a 1Mi memory emptyDir")
	}
	// A second Setup does not stack another mount.
	if _, err := m.Setup(context.Background(), pod, PodInfo{}); err != nil {
		t.Fatal(err)
	}
	if mps, _ := mountinfo.Under(m.PodDir(pod.UID)); len(mps) != 2 {
		t.Fatalf("mount points after two setups: %v", mps)
	}
	if err := m.TearDown(pod.UID); err != nil {
		t.Fatal(err)
	}
	if mps, _ := mountinfo.Under(m.PodDir(pod.UID)); len(mps) != 0 {
		t.Fatalf("mounts left: %v", mps)
	}
}

func TestTerminationLog(t *testing.T) {
	m := New(t.TempDir(), fake.NewClientset())
	pod := testPod()
	c := &corev1.Container{Name: "c", TerminationMessagePath: "/dev/termination-log"}
	mnt, err := m.TerminationLog(pod, c, 2)
	if err != nil || mnt == nil || mnt.ContainerPath != "/dev/termination-log" {
		t.Fatalf("mount %+v, %v", mnt, err)
	}
	if st, err := os.Stat(mnt.HostPath); err != nil || st.Mode().Perm() != 0o666 {
		t.Fatalf("host file: %v %v", st, err)
	}
	if err := os.WriteFile(mnt.HostPath, []byte(strings.Repeat("x", 5000)), 0o666); err != nil {
		t.Fatal(err)
	}
	st := &runtimeapi.ContainerStatus{Mounts: []*runtimeapi.Mount{mnt}}
	if got := TerminationMessage(st, "/dev/termination-log"); len(got) != maxTerminationMessage {
		t.Errorf("message of %d bytes, want it cut at %d", len(got), maxTerminationMessage)
	}
	if got := TerminationMessage(st, "/elsewhere"); got != "" {
		t.Errorf("message from an unmounted path: %q", got)
	}
	c.VolumeMounts = []corev1.VolumeMount{{Name: "v", MountPath: "/dev/termination-log"}}
	if mnt, err := m.TerminationLog(pod, c, 3); err != nil || mnt != nil {
		t.Errorf("a container's own mount at the path: %+v, %v", mnt, err)
	}
}
