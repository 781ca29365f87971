package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestKubectl runs one scenario with three kubectl clients against one
// server: our embedded `skiff kubectl` and the oldest and newest upstream
// kubectl builds installed next to the kubectl on PATH. Each client works in
// its own namespace, so they run side by side.
func TestKubectl(t *testing.T) {
	clients := kubectlClients(t)
	ts := startServer(t)
	manifests, err := filepath.Abs("../manifests")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if c.missing != "" {
				t.Skip(c.missing)
			}
			k := newKubectlRunner(t, c, ts.Kubeconfig, manifests)
			k.scenario(t)
		})
	}
}

// kubectlClient is one kubectl build the scenario runs with.
type kubectlClient struct {
	name     string
	argv     []string // the command, before kubectl's own arguments
	missing  string   // why the client is skipped, if it is
	nodePort int      // the NodePort its copy of the manifests asks for
	// enumInExplain: the build's `explain` prints an "enum: a, b" line for
	// fields whose schema lists enum values (not 1.27's templates).
	enumInExplain bool
}

// kubectlClients finds the clients: skiff's own and the upstream builds
// kubectl.1.27 and kubectl.1.33 in the directory the kubectl on PATH really
// lives in. A missing upstream build fails the test unless
// SKIFF_ALLOW_MISSING_KUBECTL=1.
func kubectlClients(t *testing.T) []kubectlClient {
	t.Helper()
	clients := []kubectlClient{{name: "skiff", argv: []string{skiffBin(t), "kubectl"}, nodePort: 30080, enumInExplain: true}}
	allowMissing := os.Getenv("SKIFF_ALLOW_MISSING_KUBECTL") == "1"
	dir, dirErr := upstreamKubectlDir()
	for i, v := range []string{"1.27", "1.33"} {
		c := kubectlClient{name: "kubectl-" + v, nodePort: 30081 + i, enumInExplain: v != "1.27"}
		bin := ""
		if dirErr == nil {
			bin = filepath.Join(dir, "kubectl."+v)
		}
		switch _, err := os.Stat(bin); {
		case dirErr != nil:
			c.missing = fmt.Sprintf("kubectl.%s not found: %v", v, dirErr)
		case err != nil:
			c.missing = fmt.Sprintf("kubectl.%s not found: %v", v, err)
		default:
			c.argv = []string{bin}
		}
		if c.missing != "" && !allowMissing {
			t.Fatalf("%s (install the Google Cloud SDK kubectl builds, or set SKIFF_ALLOW_MISSING_KUBECTL=1 to skip)", c.missing)
		}
		clients = append(clients, c)
	}
	return clients
}

// upstreamKubectlDir is where the kubectl on PATH really is, symlinks
// resolved: the Cloud SDK keeps its versioned builds next to it.
func upstreamKubectlDir() (string, error) {
	p, err := exec.LookPath("kubectl")
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	return filepath.Dir(real), nil
}

// kubectlRunner runs one client with a clean environment in its namespace.
type kubectlRunner struct {
	client    kubectlClient
	ns        string
	dir       string // scratch: HOME, cache, temp files
	env       []string
	manifests string // test/manifests, or a copy with another nodePort
}

func newKubectlRunner(t *testing.T, c kubectlClient, kubeconfig, manifests string) *kubectlRunner {
	t.Helper()
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	tmp := filepath.Join(dir, "tmp")
	for _, d := range []string{home, tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	k := &kubectlRunner{
		client: c,
		ns:     "kubectl-" + strings.ReplaceAll(strings.TrimPrefix(c.name, "kubectl-"), ".", "-"),
		dir:    dir,
		env: []string{
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"HOME=" + home,
			"KUBECONFIG=" + kubeconfig,
			"KUBECACHEDIR=" + filepath.Join(dir, "cache"),
			"TMPDIR=" + tmp,
		},
		manifests: manifests,
	}
	// NodePort 30080 can be taken once per cluster: the first client uses
	// test/manifests as it is, the others a copy asking for their own port.
	if c.nodePort != 30080 {
		k.manifests = filepath.Join(dir, "manifests")
		copyManifests(t, manifests, k.manifests, c.nodePort)
	}
	return k
}

func copyManifests(t *testing.T, from, to string, nodePort int) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	replaced := false
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("nodePort: 30080")) {
			b = bytes.ReplaceAll(b, []byte("nodePort: 30080"), fmt.Appendf(nil, "nodePort: %d", nodePort))
			replaced = true
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !replaced {
		t.Fatalf("no nodePort: 30080 in %s to replace", from)
	}
}

// kubectlResult is what one kubectl run printed and how it exited.
type kubectlResult struct {
	cmd    string
	stdout string
	stderr string
	code   int
}

func (r kubectlResult) String() string {
	return fmt.Sprintf("$ %s\nexit %d\n--- stdout:\n%s--- stderr:\n%s", r.cmd, r.code, r.stdout, r.stderr)
}

// exec runs kubectl -n <ns> args... with extra environment and stdin.
func (k *kubectlRunner) exec(t *testing.T, stdin string, extraEnv []string, args ...string) kubectlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	full := append(append(append([]string(nil), k.client.argv[1:]...), "-n", k.ns), args...)
	cmd := exec.CommandContext(ctx, k.client.argv[0], full...)
	cmd.Env = append(append([]string(nil), k.env...), extraEnv...)
	cmd.Dir = k.dir
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := kubectlResult{cmd: "kubectl -n " + k.ns + " " + strings.Join(args, " "), stdout: out.String(), stderr: errOut.String()}
	if cmd.ProcessState != nil {
		r.code = cmd.ProcessState.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", r.cmd, err)
	}
	if ctx.Err() != nil {
		t.Errorf("%s: still running after 30s\n%s", r.cmd, r)
	}
	return r
}

// run runs kubectl and fails the test unless it exits 0.
func (k *kubectlRunner) run(t *testing.T, args ...string) kubectlResult {
	t.Helper()
	r := k.exec(t, "", nil, args...)
	if r.code != 0 {
		t.Fatalf("want exit 0:\n%s", r)
	}
	return r
}

// fail runs kubectl and fails the test unless it exits non-zero.
func (k *kubectlRunner) fail(t *testing.T, args ...string) kubectlResult {
	t.Helper()
	r := k.exec(t, "", nil, args...)
	if r.code == 0 {
		t.Fatalf("want a non-zero exit:\n%s", r)
	}
	return r
}

// jsonpath reads one field of an object with -o jsonpath.
func (k *kubectlRunner) jsonpath(t *testing.T, object, path string) string {
	t.Helper()
	return k.run(t, "get", object, "-o", "jsonpath={"+path+"}").stdout
}

// expectField asserts one field's value, read with -o jsonpath.
func (k *kubectlRunner) expectField(t *testing.T, object, path, want string) {
	t.Helper()
	if got := k.jsonpath(t, object, path); got != want {
		t.Errorf("%s %s = %q, want %q", object, path, got, want)
	}
}

// generation is deployment/web's metadata.generation.
func (k *kubectlRunner) generation(t *testing.T) int {
	t.Helper()
	s := k.jsonpath(t, "deployment/web", ".metadata.generation")
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("metadata.generation %q: %v", s, err)
	}
	return n
}

func (k *kubectlRunner) writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(k.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// table is a printed table: its header with single spaces and its rows by
// the first column.
type table struct {
	header string
	rows   map[string][]string
	lines  map[string]string
}

func parseTable(out string) table {
	tb := table{rows: map[string][]string{}, lines: map[string]string{}}
	for i, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if i == 0 {
			tb.header = strings.Join(f, " ")
			continue
		}
		tb.rows[f[0]] = f
		tb.lines[f[0]] = line
	}
	return tb
}

// getTable runs `get <kind>` and checks the header is upstream's.
func (k *kubectlRunner) getTable(t *testing.T, kind, header string) table {
	t.Helper()
	r := k.run(t, "get", kind)
	tb := parseTable(r.stdout)
	if tb.header != header {
		t.Errorf("get %s header = %q, want %q\n%s", kind, tb.header, header, r)
	}
	return tb
}

// expectRow checks a row exists and, for each column index given in cols,
// has the value given.
func expectRow(t *testing.T, tb table, name string, cols map[int]string) {
	t.Helper()
	row, ok := tb.rows[name]
	if !ok {
		t.Errorf("no row %q in table (rows: %v)", name, tb.lines)
		return
	}
	for i, want := range cols {
		if i >= len(row) || row[i] != want {
			t.Errorf("row %q column %d: want %q in %q", name, i, want, tb.lines[name])
		}
	}
}

// contains checks s has every one of subs, and names all that it lacks.
func contains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	var missing []string
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			missing = append(missing, fmt.Sprintf("%q", sub))
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s lacks %s:\n%s", what, strings.Join(missing, ", "), s)
	}
}

// The objects in test/manifests, as kubectl names them when it acts on them.
var manifestObjects = []string{
	"configmap/web-config", "cronjob.batch/tick", "daemonset.apps/agent", "deployment.apps/web",
	"ingress.networking.k8s.io/web", "job.batch/once", "pod/web-pod", "secret/web-secret",
	"service/web", "service/web-nodeport", "statefulset.apps/db",
}

func (k *kubectlRunner) scenario(t *testing.T) {
	// Every step runs even if an earlier one failed, unless the namespace
	// could not be made.
	if !t.Run("1-get-ns", k.stepGetNamespaces) {
		return
	}
	t.Run("2-create", k.stepCreate)
	t.Run("3-delete-apply", k.stepDeleteApply)
	t.Run("4-edit", k.stepEdit)
	t.Run("5-label-annotate-patch", k.stepLabelAnnotatePatch)
	t.Run("6-scale-set-image", k.stepScaleSetImage)
	t.Run("7-watch", k.stepWatch)
	t.Run("8-discovery", k.stepDiscovery)
	t.Run("9-delete", k.stepDelete)
	t.Run("10-invalid", k.stepInvalid)
}

func (k *kubectlRunner) stepGetNamespaces(t *testing.T) {
	r := k.run(t, "create", "namespace", k.ns)
	contains(t, "create namespace", r.stdout, "namespace/"+k.ns+" created")
	tb := k.getTable(t, "namespaces", "NAME STATUS AGE")
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease", k.ns} {
		expectRow(t, tb, ns, map[int]string{1: "Active"})
	}
}

func (k *kubectlRunner) stepCreate(t *testing.T) {
	r := k.run(t, "create", "-f", k.manifests)
	for _, o := range manifestObjects {
		contains(t, "create -f output", r.stdout, o+" created")
	}
	t.Run("already-exists", func(t *testing.T) {
		r := k.fail(t, "create", "-f", k.manifests)
		contains(t, "second create -f stderr", r.stderr, "AlreadyExists", `deployments.apps "web" already exists`,
			`services "web-nodeport" already exists`, `secrets "web-secret" already exists`)
	})
	t.Run("pods", func(t *testing.T) {
		tb := k.getTable(t, "pods", "NAME READY STATUS RESTARTS AGE")
		expectRow(t, tb, "web-pod", map[int]string{1: "0/1", 2: "Pending", 3: "0"})
		// A new pod's status starts as Pending with its QoS class.
		k.expectField(t, "pod/web-pod", ".status.phase", "Pending")
		k.expectField(t, "pod/web-pod", ".status.qosClass", "BestEffort")
		r := k.run(t, "get", "pods", "--field-selector", "status.phase=Pending", "-l", "app=web-pod", "-o", "name")
		if strings.TrimSpace(r.stdout) != "pod/web-pod" {
			t.Errorf("field and label selectors: want pod/web-pod\n%s", r)
		}
		r = k.run(t, "get", "pods", "-l", "app=nothing")
		contains(t, "get with an unmatched selector", r.stdout+r.stderr, "No resources found in "+k.ns+" namespace.")
	})
	t.Run("deployments", func(t *testing.T) {
		tb := k.getTable(t, "deployments", "NAME READY UP-TO-DATE AVAILABLE AGE")
		expectRow(t, tb, "web", map[int]string{1: "0/3"})
		r := k.run(t, "get", "deployments", "-o", "wide")
		wide := parseTable(r.stdout)
		if wide.header != "NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR" {
			t.Errorf("get deployments -o wide header = %q", wide.header)
		}
		expectRow(t, wide, "web", map[int]string{5: "web", 6: "skiff.local/echo:1", 7: "app=web"})
	})
	t.Run("services", func(t *testing.T) {
		tb := k.getTable(t, "services", "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE")
		expectRow(t, tb, "web", map[int]string{1: "ClusterIP", 3: "<none>", 4: "80/TCP"})
		expectRow(t, tb, "web-nodeport", map[int]string{1: "NodePort", 3: "<none>", 4: fmt.Sprintf("80:%d/TCP", k.client.nodePort)})
		wide := parseTable(k.run(t, "get", "services", "-o", "wide").stdout)
		if wide.header != "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE SELECTOR" {
			t.Errorf("get services -o wide header = %q", wide.header)
		}
		expectRow(t, wide, "web", map[int]string{6: "app=web"})
		for _, name := range []string{"web", "web-nodeport"} {
			if row := tb.rows[name]; len(row) > 2 && net.ParseIP(row[2]) == nil {
				t.Errorf("service %s: CLUSTER-IP %q is not an IP", name, row[2])
			}
		}
	})
	t.Run("statefulsets", func(t *testing.T) {
		tb := k.getTable(t, "statefulsets", "NAME READY AGE")
		expectRow(t, tb, "db", map[int]string{1: "0/2"})
	})
	t.Run("daemonsets", func(t *testing.T) {
		tb := k.getTable(t, "daemonsets", "NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE")
		expectRow(t, tb, "agent", map[int]string{6: "<none>"})
	})
	t.Run("jobs", func(t *testing.T) {
		tb := k.getTable(t, "jobs", "NAME STATUS COMPLETIONS DURATION AGE")
		expectRow(t, tb, "once", map[int]string{2: "0/1"})
	})
	t.Run("cronjobs", func(t *testing.T) {
		tb := k.getTable(t, "cronjobs", "NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE")
		expectRow(t, tb, "tick", nil)
		contains(t, "cronjob row", tb.lines["tick"], "*/5 * * * *", "False")
	})
	t.Run("configmaps", func(t *testing.T) {
		tb := k.getTable(t, "configmaps", "NAME DATA AGE")
		expectRow(t, tb, "web-config", map[int]string{1: "2"})
	})
	t.Run("secrets", func(t *testing.T) {
		// stringData is write-only: the API server merges it into data
		// (base64 in JSON) and never stores or returns it.
		tb := k.getTable(t, "secrets", "NAME TYPE DATA AGE")
		expectRow(t, tb, "web-secret", map[int]string{1: "Opaque", 2: "1"})
		k.expectField(t, "secret/web-secret", ".data.password", base64.StdEncoding.EncodeToString([]byte("s3cr3t")))
		k.expectField(t, "secret/web-secret", ".stringData", "")
	})
	t.Run("ingresses", func(t *testing.T) {
		tb := k.getTable(t, "ingresses", "NAME CLASS HOSTS ADDRESS PORTS AGE")
		expectRow(t, tb, "web", map[int]string{1: "<none>", 2: "web.example.test", 3: "80"})
	})
}

// deploymentV2 is test/manifests/deployment.yaml with 5 replicas and a new
// label.
const deploymentV2 = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
    tier: frontend
spec:
  replicas: 5
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: skiff.local/echo:1
        ports:
        - containerPort: 8080
`

func (k *kubectlRunner) stepDeleteApply(t *testing.T) {
	r := k.run(t, "delete", "-f", k.manifests)
	for _, o := range manifestObjects {
		kind, name, _ := strings.Cut(o, "/")
		contains(t, "delete -f output", r.stdout, fmt.Sprintf("%s %q deleted", kind, name))
	}
	r = k.run(t, "apply", "-f", k.manifests)
	for _, o := range manifestObjects {
		contains(t, "apply -f output", r.stdout, o+" created")
	}
	k.expectField(t, "deployment/web", ".spec.replicas", "3")
	gen := k.generation(t)

	r = k.run(t, "apply", "-f", k.writeFile(t, "deployment-v2.yaml", deploymentV2))
	contains(t, "apply output", r.stdout, "deployment.apps/web configured")
	k.expectField(t, "deployment/web", ".spec.replicas", "5")
	k.expectField(t, "deployment/web", ".metadata.labels.tier", "frontend")
	k.expectField(t, "deployment/web", ".metadata.labels.app", "web")
	if newGen := k.generation(t); newGen <= gen {
		t.Errorf("metadata.generation went from %d to %d after a spec change", gen, newGen)
	}
}

func (k *kubectlRunner) stepEdit(t *testing.T) {
	editor := k.writeFile(t, "editor.sh", "#!/bin/sh\nsed -i 's/replicas: 5/replicas: 2/' \"$1\"\n")
	gen := k.generation(t)
	r := k.exec(t, "", []string{"EDITOR=" + editor}, "edit", "deployment/web")
	if r.code != 0 {
		t.Fatalf("want exit 0:\n%s", r)
	}
	contains(t, "edit output", r.stdout, "deployment.apps/web edited")
	k.expectField(t, "deployment/web", ".spec.replicas", "2")
	if newGen := k.generation(t); newGen <= gen {
		t.Errorf("metadata.generation went from %d to %d after edit changed replicas", gen, newGen)
	}
}

func (k *kubectlRunner) stepLabelAnnotatePatch(t *testing.T) {
	t.Run("label", func(t *testing.T) {
		contains(t, "label output", k.run(t, "label", "deployment/web", "team=blue").stdout, "deployment.apps/web labeled")
		k.expectField(t, "deployment/web", ".metadata.labels.team", "blue")
		contains(t, "label output", k.run(t, "label", "deployment/web", "team-").stdout, "deployment.apps/web unlabeled")
		if labels := k.jsonpath(t, "deployment/web", ".metadata.labels"); strings.Contains(labels, "team") {
			t.Errorf("label team still there after team-: %s", labels)
		}
		k.expectField(t, "deployment/web", ".metadata.labels.tier", "frontend")
	})
	t.Run("annotate", func(t *testing.T) {
		// 1.27 prints "annotate", later builds "annotated".
		contains(t, "annotate output", k.run(t, "annotate", "deployment/web", "note=hello world").stdout, "deployment.apps/web annotate")
		k.expectField(t, "deployment/web", ".metadata.annotations.note", "hello world")
		k.run(t, "annotate", "deployment/web", "note-")
		if ann := k.jsonpath(t, "deployment/web", ".metadata.annotations"); strings.Contains(ann, `"note"`) {
			t.Errorf("annotation note still there after note-: %s", ann)
		}
	})
	t.Run("json", func(t *testing.T) {
		r := k.run(t, "patch", "deployment/web", "--type", "json", "-p",
			`[{"op":"replace","path":"/spec/replicas","value":6},{"op":"add","path":"/metadata/labels/patched","value":"json"}]`)
		contains(t, "patch output", r.stdout, "deployment.apps/web patched")
		k.expectField(t, "deployment/web", ".spec.replicas", "6")
		k.expectField(t, "deployment/web", ".metadata.labels.patched", "json")
		// A test that does not hold fails the whole patch.
		k.fail(t, "patch", "deployment/web", "--type", "json", "-p",
			`[{"op":"test","path":"/spec/replicas","value":1},{"op":"replace","path":"/spec/replicas","value":9}]`)
		k.expectField(t, "deployment/web", ".spec.replicas", "6")
	})
	t.Run("merge", func(t *testing.T) {
		r := k.run(t, "patch", "deployment/web", "--type", "merge", "-p",
			`{"metadata":{"labels":{"patched":"merge"}},"spec":{"minReadySeconds":7}}`)
		contains(t, "patch output", r.stdout, "deployment.apps/web patched")
		k.expectField(t, "deployment/web", ".spec.minReadySeconds", "7")
		k.expectField(t, "deployment/web", ".metadata.labels.patched", "merge")
		k.run(t, "patch", "deployment/web", "--type", "merge", "-p", `{"metadata":{"labels":{"patched":null}}}`)
		if labels := k.jsonpath(t, "deployment/web", ".metadata.labels"); strings.Contains(labels, "patched") {
			t.Errorf("merge patch with null did not remove the label: %s", labels)
		}
	})
	t.Run("strategic", func(t *testing.T) {
		// Containers merge by name: the image changes, the ports stay.
		r := k.run(t, "patch", "deployment/web", "--type", "strategic", "-p",
			`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"skiff.local/echo:9"}]}}}}`)
		contains(t, "patch output", r.stdout, "deployment.apps/web patched")
		k.expectField(t, "deployment/web", ".spec.template.spec.containers[*].name", "web")
		k.expectField(t, "deployment/web", ".spec.template.spec.containers[*].image", "skiff.local/echo:9")
		k.expectField(t, "deployment/web", ".spec.template.spec.containers[0].ports[0].containerPort", "8080")
	})
}

func (k *kubectlRunner) stepScaleSetImage(t *testing.T) {
	t.Run("scale", func(t *testing.T) {
		r := k.run(t, "scale", "deployment/web", "--replicas=4", "-v=6")
		contains(t, "scale output", r.stdout, "deployment.apps/web scaled")
		contains(t, "scale request log", r.stderr, "/namespaces/"+k.ns+"/deployments/web/scale")
		k.expectField(t, "deployment/web", ".spec.replicas", "4")
		k.expectField(t, "deployment/web", ".spec.template.spec.containers[0].image", "skiff.local/echo:9")
	})
	t.Run("set-image", func(t *testing.T) {
		r := k.run(t, "set", "image", "deployment/web", "web=skiff.local/echo:2")
		contains(t, "set image output", r.stdout, "deployment.apps/web image updated")
		k.expectField(t, "deployment/web", ".spec.template.spec.containers[*].image", "skiff.local/echo:2")
		k.expectField(t, "deployment/web", ".spec.replicas", "4")
	})
}

// syncBuffer is a bytes.Buffer a process writes to while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

const watchedPod = `apiVersion: v1
kind: Pod
metadata:
  name: watched
spec:
  containers:
  - name: c
    image: skiff.local/echo:1
`

func (k *kubectlRunner) stepWatch(t *testing.T) {
	// A pod of its own, so the manifests' objects stay for step 9.
	r := k.exec(t, watchedPod, nil, "create", "-f", "-")
	if r.code != 0 {
		t.Fatalf("want exit 0:\n%s", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// --output-watch-events puts each event's type in a first column.
	args := append(append([]string(nil), k.client.argv[1:]...), "-n", k.ns, "get", "pods", "-w", "--output-watch-events")
	cmd := exec.CommandContext(ctx, k.client.argv[0], args...)
	cmd.Env, cmd.Dir = k.env, k.dir
	var out, errOut syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("get pods -w printed:\n%s--- stderr:\n%s", out.String(), errOut.String())
		}
	}()
	// events are the event types of the rows printed for the pod.
	events := func() []string {
		var ev []string
		for _, line := range strings.Split(out.String(), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[1] == "watched" {
				ev = append(ev, f[0])
			}
		}
		return ev
	}
	// waitEvent waits for a row of type event printed after the first
	// `after` rows of the pod (the scheduler's status writes add rows of
	// their own).
	waitEvent := func(what, event string, after int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			ev := events()
			if len(ev) > after && slices.Contains(ev[after:], event) {
				return
			}
			select {
			case err := <-exited:
				exited <- err
				t.Fatalf("get pods -w exited (%v) before %s", err, what)
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("get pods -w did not print %s (%s) within 10s; events so far %v", what, event, ev)
			}
		}
	}
	waitEvent("the initial row", "ADDED", 0)
	if h := parseTable(out.String()).header; h != "EVENT NAME READY STATUS RESTARTS AGE" {
		t.Errorf("get pods -w header = %q", h)
	}
	n := len(events())
	k.run(t, "label", "pod/watched", "color=red")
	waitEvent("a row for the label change", "MODIFIED", n)
	n = len(events())
	k.run(t, "delete", "pod/watched")
	waitEvent("a row for the deletion", "DELETED", n)
	if ev := events(); len(ev) < 3 || ev[0] != "ADDED" || ev[1] != "MODIFIED" {
		t.Errorf("watch events = %v, want ADDED, MODIFIED, ..., DELETED", ev)
	}
	k.fail(t, "get", "pod/watched")
}

func (k *kubectlRunner) stepDiscovery(t *testing.T) {
	t.Run("explain", func(t *testing.T) {
		r := k.run(t, "explain", "deployment.spec.strategy")
		contains(t, "explain output", r.stdout, "KIND:", "Deployment", "VERSION:", "v1", "DESCRIPTION:",
			"The deployment strategy to use to replace existing pods with new ones.",
			"FIELDS:", "rollingUpdate", "<RollingUpdateDeployment>", "RollingUpdate", "Recreate")
	})
	t.Run("explain-enum", func(t *testing.T) {
		// Upstream's schema lists enum values (openapi-gen's +enum) and
		// appends them to the description; explain shows both.
		r := k.run(t, "explain", "deployment.spec.strategy")
		want := []string{"Possible enum values:", "Kill all existing pods before creating new ones."}
		if k.client.enumInExplain {
			want = append(want, "enum: Recreate, RollingUpdate")
		}
		contains(t, "explain output", r.stdout, want...)
	})
	t.Run("api-resources", func(t *testing.T) {
		r := k.run(t, "api-resources")
		tb := parseTable(r.stdout)
		if tb.header != "NAME SHORTNAMES APIVERSION NAMESPACED KIND" {
			t.Errorf("api-resources header = %q", tb.header)
		}
		for _, want := range [][2]string{
			{"pods", "po"}, {"services", "svc"}, {"deployments", "deploy"}, {"statefulsets", "sts"},
			{"daemonsets", "ds"}, {"cronjobs", "cj"}, {"namespaces", "ns"}, {"nodes", "no"},
			{"configmaps", "cm"}, {"endpoints", "ep"}, {"ingresses", "ing"}, {"persistentvolumes", "pv"},
			{"persistentvolumeclaims", "pvc"}, {"serviceaccounts", "sa"},
		} {
			row, ok := tb.rows[want[0]]
			if !ok {
				t.Errorf("api-resources has no %s", want[0])
				continue
			}
			if len(row) < 2 || !strings.Contains(","+row[1]+",", ","+want[1]+",") {
				t.Errorf("api-resources: %s short names: want %s in %q", want[0], want[1], tb.lines[want[0]])
			}
		}
	})
	t.Run("short-names", func(t *testing.T) {
		tb := k.getTable(t, "deploy", "NAME READY UP-TO-DATE AVAILABLE AGE")
		expectRow(t, tb, "web", nil)
	})
	t.Run("get-all", func(t *testing.T) {
		r := k.run(t, "get", "all")
		contains(t, "get all output", r.stdout, "pod/web-pod", "service/web ", "service/web-nodeport",
			"daemonset.apps/agent", "deployment.apps/web", "statefulset.apps/db", "cronjob.batch/tick", "job.batch/once")
	})
}

func (k *kubectlRunner) stepDelete(t *testing.T) {
	r := k.run(t, "delete", "-f", k.manifests)
	for _, o := range manifestObjects {
		kind, name, _ := strings.Cut(o, "/")
		contains(t, "delete -f output", r.stdout, fmt.Sprintf("%s %q deleted", kind, name))
	}
	r = k.fail(t, "get", "-f", k.manifests)
	for _, want := range []string{`pods "web-pod" not found`, `deployments.apps "web" not found`, `services "web-nodeport" not found`,
		`configmaps "web-config" not found`, `secrets "web-secret" not found`, `ingresses.networking.k8s.io "web" not found`,
		`statefulsets.apps "db" not found`, `daemonsets.apps "agent" not found`, `jobs.batch "once" not found`, `cronjobs.batch "tick" not found`} {
		contains(t, "get -f stderr", r.stderr, want)
	}
	r = k.run(t, "get", "all")
	contains(t, "get all after delete", r.stdout+r.stderr, "No resources found in "+k.ns+" namespace.")
	// Not configmaps: upstream's kube-root-ca.crt lives in every namespace.
	r = k.run(t, "get", "secrets,ingresses")
	contains(t, "get secrets,ingresses after delete", r.stdout+r.stderr, "No resources found in "+k.ns+" namespace.")
}

const badSelector = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad-selector
spec:
  replicas: 1
  selector:
    matchLabels:
      app: one
  template:
    metadata:
      labels:
        app: two
    spec:
      containers:
      - name: c
        image: skiff.local/echo:1
`

const badField = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad-field
spec:
  replicas: 1
  replicaz: 2
  selector:
    matchLabels:
      app: x
  template:
    metadata:
      labels:
        app: x
    spec:
      containers:
      - name: c
        image: skiff.local/echo:1
`

func (k *kubectlRunner) stepInvalid(t *testing.T) {
	t.Run("selector", func(t *testing.T) {
		r := k.fail(t, "create", "-f", k.writeFile(t, "bad-selector.yaml", badSelector))
		contains(t, "create stderr", r.stderr, `The Deployment "bad-selector" is invalid`, "spec.template.metadata.labels", "selector")
		k.fail(t, "get", "deployment/bad-selector")
	})
	t.Run("unknown-field", func(t *testing.T) {
		r := k.fail(t, "create", "-f", k.writeFile(t, "bad-field.yaml", badField))
		contains(t, "create stderr", r.stderr, "unknown field", "spec.replicaz")
		k.fail(t, "get", "deployment/bad-field")
	})
}
