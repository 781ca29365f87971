package integration

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	autoscalingv1ac "k8s.io/client-go/applyconfigurations/autoscaling/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
)

// TestApply runs server-side apply with kubectl (`apply --server-side`,
// conflicts with other managers, `--force-conflicts`, the move from
// client-side apply) and with client-go's typed Apply.
func TestApply(t *testing.T) {
	clients := kubectlClients(t)
	ts := startServer(t)
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			if c.missing != "" {
				t.Skip(c.missing)
			}
			c.nodePort = 30080 // no manifests to copy
			k := newKubectlRunner(t, c, ts.Kubeconfig, "")
			k.ns = "apply-" + strings.ReplaceAll(c.name, ".", "-")
			k.applyScenario(t)
		})
	}
	t.Run("client-go", func(t *testing.T) { clientGoApply(t, ts) })
}

func applyManifest(name, replicas string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ` + name + `
spec:
  replicas: ` + replicas + `
  selector:
    matchLabels:
      app: ` + name + `
  template:
    metadata:
      labels:
        app: ` + name + `
    spec:
      containers:
      - name: web
        image: skiff.local/echo:1
`
}

// deployment reads a deployment with its managedFields.
func (k *kubectlRunner) deployment(t *testing.T, name string) appsv1.Deployment {
	t.Helper()
	r := k.run(t, "get", "deployment", name, "-o", "json", "--show-managed-fields")
	var d appsv1.Deployment
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	return d
}

// replicasOwners names the managedFields entries owning spec.replicas, as
// "manager/operation[/subresource]".
func replicasOwners(d appsv1.Deployment) []string {
	var out []string
	for _, e := range d.ManagedFields {
		if e.FieldsV1 == nil || !strings.Contains(string(e.FieldsV1.Raw), `"f:replicas"`) || !strings.Contains(string(e.FieldsV1.Raw), `"f:spec"`) {
			continue
		}
		s := e.Manager + "/" + string(e.Operation)
		if e.Subresource != "" {
			s += "/" + e.Subresource
		}
		out = append(out, s)
	}
	return out
}

func (k *kubectlRunner) applyScenario(t *testing.T) {
	k.run(t, "create", "namespace", k.ns)
	web2 := k.writeFile(t, "web2.yaml", applyManifest("web", "2"))
	web3 := k.writeFile(t, "web3.yaml", applyManifest("web", "3"))

	// Apply creates, then applies again.
	r := k.run(t, "apply", "--server-side", "-f", web2)
	contains(t, "apply --server-side output", r.stdout, "deployment.apps/web serverside-applied")
	d := k.deployment(t, "web")
	if *d.Spec.Replicas != 2 || d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		t.Fatalf("applied deployment: replicas %d strategy %q", *d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	if got := strings.Join(replicasOwners(d), ","); got != "kubectl/Apply" {
		t.Errorf("spec.replicas owners after apply: %q", got)
	}
	r = k.run(t, "apply", "--server-side", "-f", web2)
	contains(t, "second apply output", r.stdout, "deployment.apps/web serverside-applied")

	// Another manager applying another value conflicts, and is told how
	// to take the field over.
	r = k.fail(t, "apply", "--server-side", "--field-manager=other", "-f", web3)
	contains(t, "conflicting apply", r.stderr, `Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas`, "--force-conflicts")

	// kubectl scale changes replicas through the scale subresource; the
	// next apply of the old value conflicts with it.
	k.run(t, "scale", "deployment/web", "--replicas=5")
	d = k.deployment(t, "web")
	owners := replicasOwners(d)
	if len(owners) != 1 || !strings.HasSuffix(owners[0], "/Update/scale") {
		t.Fatalf("spec.replicas owners after scale: %v", owners)
	}
	scaler, _, _ := strings.Cut(owners[0], "/")
	r = k.fail(t, "apply", "--server-side", "-f", web2)
	contains(t, "apply after scale", r.stderr, `Apply failed with 1 conflict: conflict with "`+scaler+`" with subresource "scale" using apps/v1: .spec.replicas`)
	k.expectField(t, "deployment/web", ".spec.replicas", "5")

	// --force-conflicts wins.
	r = k.run(t, "apply", "--server-side", "--force-conflicts", "-f", web2)
	contains(t, "forced apply output", r.stdout, "deployment.apps/web serverside-applied")
	d = k.deployment(t, "web")
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas after a forced apply: %d", *d.Spec.Replicas)
	}
	if got := strings.Join(replicasOwners(d), ","); got != "kubectl/Apply" {
		t.Errorf("spec.replicas owners after a forced apply: %q", got)
	}
	r = k.run(t, "apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", web3)
	contains(t, "forced apply by another manager", r.stdout, "deployment.apps/web serverside-applied")
	k.expectField(t, "deployment/web", ".spec.replicas", "3")

	// An object made by client-side apply: another manager's server-side
	// apply of another value conflicts with kubectl-client-side-apply;
	// kubectl's own server-side apply takes over the fields its
	// last-applied configuration names, as upstream upgrades them.
	csa2 := k.writeFile(t, "csa2.yaml", applyManifest("csa", "2"))
	csa3 := k.writeFile(t, "csa3.yaml", applyManifest("csa", "3"))
	r = k.run(t, "apply", "-f", csa2)
	contains(t, "client-side apply output", r.stdout, "deployment.apps/csa created")
	if got := strings.Join(replicasOwners(k.deployment(t, "csa")), ","); got != "kubectl-client-side-apply/Update" {
		t.Errorf("spec.replicas owners after client-side apply: %q", got)
	}
	r = k.fail(t, "apply", "--server-side", "--field-manager=other", "-f", csa3)
	contains(t, "server-side apply over client-side apply", r.stderr,
		`Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas`)
	r = k.run(t, "apply", "--server-side", "-f", csa3)
	contains(t, "server-side apply after client-side apply", r.stdout, "deployment.apps/csa serverside-applied")
	d = k.deployment(t, "csa")
	if got := strings.Join(replicasOwners(d), ","); got != "kubectl/Apply" || *d.Spec.Replicas != 3 {
		t.Errorf("after the move to server-side apply: replicas %d owned by %q", *d.Spec.Replicas, got)
	}

	// Apply of a kind with server-allocated fields.
	svc := k.writeFile(t, "svc.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports:\n  - port: 80\n")
	r = k.run(t, "apply", "--server-side", "-f", svc)
	contains(t, "service apply", r.stdout, "service/web serverside-applied")
	ip := k.jsonpath(t, "service/web", ".spec.clusterIP")
	k.run(t, "apply", "--server-side", "-f", svc)
	k.expectField(t, "service/web", ".spec.clusterIP", ip)
}

func clientGoApply(t *testing.T, ts *testServer) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := ts.Client
	ns := "apply-client-go"
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	config := func(replicas int32) *appsv1ac.DeploymentApplyConfiguration {
		labels := map[string]string{"app": "typed"}
		return appsv1ac.Deployment("typed", ns).
			WithLabels(labels).
			WithSpec(appsv1ac.DeploymentSpec().
				WithReplicas(replicas).
				WithSelector(metav1ac.LabelSelector().WithMatchLabels(labels)).
				WithTemplate(corev1ac.PodTemplateSpec().
					WithLabels(labels).
					WithSpec(corev1ac.PodSpec().WithContainers(corev1ac.Container().WithName("c").WithImage("skiff.local/echo:1")))))
	}
	deployments := c.AppsV1().Deployments(ns)
	d, err := deployments.Apply(ctx, config(2), metav1.ApplyOptions{FieldManager: "test"})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if *d.Spec.Replicas != 2 || d.UID == "" || len(d.ManagedFields) != 1 || d.ManagedFields[0].Manager != "test" ||
		d.ManagedFields[0].Operation != metav1.ManagedFieldsOperationApply || d.ManagedFields[0].Time == nil {
		t.Fatalf("applied deployment: replicas %d managedFields %+v", *d.Spec.Replicas, d.ManagedFields)
	}
	// What the manager applied can be read back from managedFields.
	extracted, err := appsv1ac.ExtractDeployment(d, "test")
	if err != nil {
		t.Fatal(err)
	}
	if extracted.Spec == nil || *extracted.Spec.Replicas != 2 || len(extracted.Spec.Template.Spec.Containers) != 1 || extracted.Spec.Strategy != nil {
		t.Fatalf("extracted configuration: %+v", extracted.Spec)
	}

	// Another manager's value conflicts unless forced.
	_, err = deployments.Apply(ctx, config(3), metav1.ApplyOptions{FieldManager: "test2"})
	var se *apierrors.StatusError
	if !apierrors.IsConflict(err) || !errors.As(err, &se) || se.ErrStatus.Details == nil || len(se.ErrStatus.Details.Causes) != 1 ||
		se.ErrStatus.Details.Causes[0].Type != metav1.CauseTypeFieldManagerConflict || se.ErrStatus.Details.Causes[0].Field != ".spec.replicas" {
		t.Fatalf("conflicting apply: %#v", err)
	}
	if err.Error() != `Apply failed with 1 conflict: conflict with "test": .spec.replicas` {
		t.Errorf("conflict message: %q", err.Error())
	}
	d, err = deployments.Apply(ctx, config(3), metav1.ApplyOptions{FieldManager: "test2", Force: true})
	if err != nil || *d.Spec.Replicas != 3 {
		t.Fatalf("forced apply: %v", err)
	}

	// Status and scale have their own appliers. The deployment controller
	// owns the status through its updates, so the apply takes it over.
	d, err = deployments.ApplyStatus(ctx, appsv1ac.Deployment("typed", ns).WithStatus(appsv1ac.DeploymentStatus().WithObservedGeneration(7)), metav1.ApplyOptions{FieldManager: "ctrl", Force: true})
	if err != nil || d.Status.ObservedGeneration != 7 {
		t.Fatalf("apply status: %v", err)
	}
	if !hasEntry(d.ManagedFields, "ctrl", metav1.ManagedFieldsOperationApply, "status") {
		t.Errorf("no status Apply entry: %+v", d.ManagedFields)
	}
	sc, err := deployments.ApplyScale(ctx, "typed", autoscalingv1ac.Scale().WithSpec(autoscalingv1ac.ScaleSpec().WithReplicas(4)), metav1.ApplyOptions{FieldManager: "hpa", Force: true})
	if err != nil || sc.Spec.Replicas != 4 {
		t.Fatalf("apply scale: %v", err)
	}
	d, err = deployments.Get(ctx, "typed", metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 4 || !hasEntry(d.ManagedFields, "hpa", metav1.ManagedFieldsOperationApply, "scale") {
		t.Fatalf("after apply scale: %v %+v", err, d.ManagedFields)
	}

	// Writes of other verbs record Update entries for their manager.
	cm, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}, Data: map[string]string{"a": "1"}}, metav1.CreateOptions{FieldManager: "maker"})
	if err != nil || !hasEntry(cm.ManagedFields, "maker", metav1.ManagedFieldsOperationUpdate, "") {
		t.Fatalf("create: %v %+v", err, cm.ManagedFields)
	}
	cm.Data["b"] = "2"
	cm, err = c.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{FieldManager: "changer"})
	if err != nil || !hasEntry(cm.ManagedFields, "changer", metav1.ManagedFieldsOperationUpdate, "") || len(cm.ManagedFields) != 2 {
		t.Fatalf("update: %v %+v", err, cm.ManagedFields)
	}
}

func hasEntry(entries []metav1.ManagedFieldsEntry, manager string, op metav1.ManagedFieldsOperationType, subresource string) bool {
	for _, e := range entries {
		if e.Manager == manager && e.Operation == op && e.Subresource == subresource {
			return true
		}
	}
	return false
}
