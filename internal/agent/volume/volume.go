// Package volume prepares a pod's volumes on the node before its
// containers start, under <agent data dir>/pods/<pod uid>/volumes/<plugin>/<name>
// as upstream's kubelet lays them out: emptyDir (on disk, or tmpfs for
// medium Memory), hostPath (with its type checks), configMap, secret,
// downwardAPI and projected (written atomically and refreshed in place on
// every sync, so a running pod sees an edited ConfigMap), and
// persistentVolumeClaim bound to a hostPath or local PersistentVolume. It
// also turns a container's volumeMounts into CRI mounts.
package volume

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"skiff/internal/mountinfo"
)

// Plugin directory names, as upstream's.
const (
	emptyDirPlugin  = "kubernetes.io~empty-dir"
	configMapPlugin = "kubernetes.io~configmap"
	secretPlugin    = "kubernetes.io~secret"
	downwardPlugin  = "kubernetes.io~downward-api"
	projectedPlugin = "kubernetes.io~projected"
)

// Manager sets up and tears down pod volumes.
type Manager struct {
	root   string
	client kubernetes.Interface
	// tmpfs mounts a tmpfs of at most size bytes (0: the default) on dir;
	// replaced in unit tests that do not run as root.
	tmpfs func(dir string, size int64) error
	now   func() time.Time

	mu     sync.Mutex
	tokens map[string]cachedToken // pod UID/audience/expiry -> token
	// tmpfsDirs are the directories known to have their tmpfs, so that a
	// resync does not read the mount table for every secret volume.
	tmpfsDirs map[string]bool
}

// cachedToken is a service account token and when to get a new one.
type cachedToken struct {
	token   string
	refresh time.Time
}

// New returns a manager keeping pod directories under root.
func New(root string, client kubernetes.Interface) *Manager {
	return &Manager{root: root, client: client, tmpfs: mountTmpfs, now: time.Now, tokens: map[string]cachedToken{}, tmpfsDirs: map[string]bool{}}
}

// PodDir is the pod's directory on the node.
func (m *Manager) PodDir(uid types.UID) string { return filepath.Join(m.root, string(uid)) }

// Setup makes every volume of pod ready and returns each one's host path
// by volume name. It is called on every sync: configMap, secret,
// downwardAPI and projected contents are rewritten when they changed.
func (m *Manager) Setup(ctx context.Context, pod *corev1.Pod, info PodInfo) (map[string]string, error) {
	paths := make(map[string]string, len(pod.Spec.Volumes))
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		p, err := m.setup(ctx, pod, v, info)
		if err != nil {
			return nil, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
		}
		paths[v.Name] = p
	}
	return paths, nil
}

func (m *Manager) dir(pod *corev1.Pod, plugin, name string) string {
	return filepath.Join(m.PodDir(pod.UID), "volumes", plugin, name)
}

func (m *Manager) setup(ctx context.Context, pod *corev1.Pod, v *corev1.Volume, info PodInfo) (string, error) {
	src := &v.VolumeSource
	switch {
	case src.EmptyDir != nil:
		dir := m.dir(pod, emptyDirPlugin, v.Name)
		if src.EmptyDir.Medium == corev1.StorageMediumMemory {
			var size int64
			if l := src.EmptyDir.SizeLimit; l != nil {
				size = l.Value()
			}
			return dir, m.ensureTmpfs(dir, size)
		}
		return dir, os.MkdirAll(dir, 0o777)
	case src.HostPath != nil:
		return src.HostPath.Path, checkHostPath(src.HostPath)
	case src.ConfigMap != nil:
		files, err := m.configMapFiles(ctx, pod.Namespace, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional, src.ConfigMap.DefaultMode)
		if err != nil {
			return "", err
		}
		dir := m.dir(pod, configMapPlugin, v.Name)
		_, err = writeAtomic(dir, files)
		return dir, err
	case src.Secret != nil:
		files, err := m.secretFiles(ctx, pod.Namespace, src.Secret.SecretName, src.Secret.Items, src.Secret.Optional, src.Secret.DefaultMode)
		if err != nil {
			return "", err
		}
		dir := m.dir(pod, secretPlugin, v.Name)
		if err := m.ensureTmpfs(dir, 0); err != nil { // secrets never touch the disk
			return "", err
		}
		_, err = writeAtomic(dir, files)
		return dir, err
	case src.DownwardAPI != nil:
		files, err := downwardFiles(pod, src.DownwardAPI.Items, src.DownwardAPI.DefaultMode, info)
		if err != nil {
			return "", err
		}
		dir := m.dir(pod, downwardPlugin, v.Name)
		_, err = writeAtomic(dir, files)
		return dir, err
	case src.Projected != nil:
		files, err := m.projectedFiles(ctx, pod, src.Projected, info)
		if err != nil {
			return "", err
		}
		dir := m.dir(pod, projectedPlugin, v.Name)
		if err := m.ensureTmpfs(dir, 0); err != nil {
			return "", err
		}
		_, err = writeAtomic(dir, files)
		return dir, err
	case src.PersistentVolumeClaim != nil:
		return m.claimPath(ctx, pod.Namespace, src.PersistentVolumeClaim.ClaimName)
	}
	return "", fmt.Errorf("volume type not supported by this node")
}

// mode is an item's mode, else the volume's default, else 0644.
func mode(item, def *int32) os.FileMode {
	switch {
	case item != nil:
		return os.FileMode(*item)
	case def != nil:
		return os.FileMode(*def)
	}
	return 0o644
}

// keyFiles maps data keys to files: every key, or only the listed items
// (each of which must exist unless the volume is optional).
func keyFiles(kind, name string, data map[string][]byte, items []corev1.KeyToPath, optional bool, def *int32) (map[string]File, error) {
	files := map[string]File{}
	if len(items) == 0 {
		for k, v := range data {
			files[k] = File{Data: v, Mode: mode(nil, def)}
		}
		return files, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("%s references non-existent %s key: %s", kind, kind, it.Key)
		}
		files[it.Path] = File{Data: v, Mode: mode(it.Mode, def)}
	}
	return files, nil
}

func (m *Manager) configMapFiles(ctx context.Context, ns, name string, items []corev1.KeyToPath, optional *bool, def *int32) (map[string]File, error) {
	cm, err := m.client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return map[string]File{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("configmap %q not found", name)
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return keyFiles("configmap", name, data, items, optional != nil && *optional, def)
}

func (m *Manager) secretFiles(ctx context.Context, ns, name string, items []corev1.KeyToPath, optional *bool, def *int32) (map[string]File, error) {
	s, err := m.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return map[string]File{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("secret %q not found", name)
	}
	return keyFiles("secret", name, s.Data, items, optional != nil && *optional, def)
}

func downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, def *int32, info PodInfo) (map[string]File, error) {
	files := map[string]File{}
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = metadataValue(pod, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			v, err = ResourceValue(pod, it.ResourceFieldRef, info)
		default:
			err = fmt.Errorf("downwardAPI item %q has neither fieldRef nor resourceFieldRef", it.Path)
		}
		if err != nil {
			return nil, err
		}
		files[it.Path] = File{Data: []byte(v), Mode: mode(it.Mode, def)}
	}
	return files, nil
}

func (m *Manager) projectedFiles(ctx context.Context, pod *corev1.Pod, p *corev1.ProjectedVolumeSource, info PodInfo) (map[string]File, error) {
	files := map[string]File{}
	add := func(more map[string]File) {
		for k, v := range more {
			files[k] = v
		}
	}
	for _, s := range p.Sources {
		var more map[string]File
		var err error
		switch {
		case s.ConfigMap != nil:
			more, err = m.configMapFiles(ctx, pod.Namespace, s.ConfigMap.Name, s.ConfigMap.Items, s.ConfigMap.Optional, p.DefaultMode)
		case s.Secret != nil:
			more, err = m.secretFiles(ctx, pod.Namespace, s.Secret.Name, s.Secret.Items, s.Secret.Optional, p.DefaultMode)
		case s.DownwardAPI != nil:
			more, err = downwardFiles(pod, s.DownwardAPI.Items, p.DefaultMode, info)
		case s.ServiceAccountToken != nil:
			var tok string
			tok, err = m.token(ctx, pod, s.ServiceAccountToken)
			more = map[string]File{s.ServiceAccountToken.Path: {Data: []byte(tok), Mode: mode(nil, p.DefaultMode)}}
		default:
			err = errors.New("projected source type not supported by this node")
		}
		if err != nil {
			return nil, err
		}
		add(more)
	}
	return files, nil
}

// claimPath is the host path behind a bound claim's hostPath or local
// PersistentVolume.
func (m *Manager) claimPath(ctx context.Context, ns, name string) (string, error) {
	pvc, err := m.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("persistentvolumeclaim %q: %w", name, err)
	}
	if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" {
		return "", fmt.Errorf("persistentvolumeclaim %q is not bound", name)
	}
	pv, err := m.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("persistentvolume %q: %w", pvc.Spec.VolumeName, err)
	}
	switch {
	case pv.Spec.HostPath != nil:
		return pv.Spec.HostPath.Path, checkHostPath(pv.Spec.HostPath)
	case pv.Spec.Local != nil:
		if _, err := os.Stat(pv.Spec.Local.Path); err != nil {
			return "", fmt.Errorf("local volume path %q: %w", pv.Spec.Local.Path, err)
		}
		return pv.Spec.Local.Path, nil
	}
	return "", fmt.Errorf("persistentvolume %q: only hostPath and local volumes are supported by this node", pv.Name)
}

// checkHostPath applies the hostPath type: creating what OrCreate asks
// for, and checking what is there otherwise.
func checkHostPath(h *corev1.HostPathVolumeSource) error {
	t := corev1.HostPathUnset
	if h.Type != nil {
		t = *h.Type
	}
	st, err := os.Stat(h.Path)
	switch t {
	case corev1.HostPathUnset:
		return nil
	case corev1.HostPathDirectoryOrCreate:
		if os.IsNotExist(err) {
			return os.MkdirAll(h.Path, 0o755)
		}
		if err == nil && !st.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", h.Path)
		}
		return err
	case corev1.HostPathFileOrCreate:
		if os.IsNotExist(err) {
			if err := os.MkdirAll(filepath.Dir(h.Path), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(h.Path, os.O_CREATE|os.O_RDONLY, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
		if err == nil && st.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a file", h.Path)
		}
		return err
	}
	if err != nil {
		return fmt.Errorf("hostPath type check failed: %s does not exist", h.Path)
	}
	ok := map[corev1.HostPathType]bool{
		corev1.HostPathDirectory: st.IsDir(),
		corev1.HostPathFile:      st.Mode().IsRegular(),
		corev1.HostPathSocket:    st.Mode()&os.ModeSocket != 0,
		corev1.HostPathCharDev:   st.Mode()&os.ModeCharDevice != 0,
		corev1.HostPathBlockDev:  st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0,
	}
	good, known := ok[t]
	if !known {
		return fmt.Errorf("hostPath type %q is not supported", t)
	}
	if !good {
		return fmt.Errorf("hostPath type check failed: %s is not a %s", h.Path, strings.ToLower(string(t)))
	}
	return nil
}

// ensureTmpfs mounts a tmpfs on dir unless one is there already.
func (m *Manager) ensureTmpfs(dir string, size int64) error {
	m.mu.Lock()
	known := m.tmpfsDirs[dir]
	m.mu.Unlock()
	if known {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	mounted, err := isMountPoint(dir) // after an agent restart it may be there
	if err != nil {
		return err
	}
	if !mounted {
		if err := m.tmpfs(dir, size); err != nil {
			return err
		}
	}
	m.mu.Lock()
	m.tmpfsDirs[dir] = true
	m.mu.Unlock()
	return nil
}

func mountTmpfs(dir string, size int64) error {
	opts := "mode=0755"
	if size > 0 {
		opts += fmt.Sprintf(",size=%d", size)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mounting tmpfs on %s: %w", dir, err)
	}
	return nil
}

func isMountPoint(dir string) (bool, error) { return mountinfo.IsMountPoint(dir) }

// token is the pod's service account token for a projection, asked for
// through the TokenRequest API bound to the pod, and renewed, as upstream's
// kubelet does, once 80% of its lifetime has passed or it is a day old.
func (m *Manager) token(ctx context.Context, pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection) (string, error) {
	exp := int64(3600)
	if src.ExpirationSeconds != nil {
		exp = *src.ExpirationSeconds
	}
	key := fmt.Sprintf("%s/%s/%d", pod.UID, src.Audience, exp)
	now := m.now()
	m.mu.Lock()
	c, ok := m.tokens[key]
	m.mu.Unlock()
	if ok && now.Before(c.refresh) {
		return c.token, nil
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &exp,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if src.Audience != "" {
		req.Spec.Audiences = []string{src.Audience}
	}
	tr, err := m.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("failed to fetch token: %w", err)
	}
	life := tr.Status.ExpirationTimestamp.Sub(now)
	refresh := now.Add(min(life*8/10, 24*time.Hour))
	m.mu.Lock()
	m.tokens[key] = cachedToken{token: tr.Status.Token, refresh: refresh}
	m.mu.Unlock()
	return tr.Status.Token, nil
}

// TearDown unmounts and removes everything the pod had on the node.
func (m *Manager) TearDown(uid types.UID) error {
	m.mu.Lock()
	for k := range m.tokens {
		if strings.HasPrefix(k, string(uid)+"/") {
			delete(m.tokens, k)
		}
	}
	for d := range m.tmpfsDirs {
		if strings.HasPrefix(d, m.PodDir(uid)+"/") {
			delete(m.tmpfsDirs, d)
		}
	}
	m.mu.Unlock()
	dir := m.PodDir(uid)
	mps, err := mountinfo.Under(dir)
	if err != nil {
		return err
	}
	for _, mp := range mps {
		if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmounting %s: %w", mp, err)
		}
	}
	return os.RemoveAll(dir)
}

// PodUIDs lists the pods that have a directory on the node.
func (m *Manager) PodUIDs() ([]types.UID, error) {
	entries, err := os.ReadDir(m.root)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]types.UID, 0, len(entries))
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, types.UID(e.Name()))
		}
	}
	return out, nil
}
