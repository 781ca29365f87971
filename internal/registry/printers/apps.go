package printers

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	appsv1beta1 "k8s.io/api/apps/v1beta1"
	corev1 "k8s.io/api/core/v1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Column descriptions come from the same (sometimes older) API versions
// upstream's printers take them from, so the text matches.
func init() {
	deploymentStatus := extensionsv1beta1.DeploymentStatus{}.SwaggerDoc()
	register(schema.GroupKind{Group: "apps", Kind: "Deployment"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Ready", "string", "Number of the pod with ready state"),
		column("Up-to-date", "string", deploymentStatus["updatedReplicas"]),
		column("Available", "string", deploymentStatus["availableReplicas"]),
		ageColumn,
		wideColumn("Containers", "string", containersDescription),
		wideColumn("Images", "string", imagesDescription),
		wideColumn("Selector", "string", extensionsv1beta1.DeploymentSpec{}.SwaggerDoc()["selector"]),
	}, deploymentRow)

	rsSpec := extensionsv1beta1.ReplicaSetSpec{}.SwaggerDoc()
	rsStatus := extensionsv1beta1.ReplicaSetStatus{}.SwaggerDoc()
	register(schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Desired", "integer", rsSpec["replicas"]),
		column("Current", "integer", rsStatus["replicas"]),
		column("Ready", "integer", rsStatus["readyReplicas"]),
		ageColumn,
		wideColumn("Containers", "string", containersDescription),
		wideColumn("Images", "string", imagesDescription),
		wideColumn("Selector", "string", rsSpec["selector"]),
	}, replicaSetRow)

	register(schema.GroupKind{Group: "apps", Kind: "StatefulSet"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Ready", "string", "Number of the pod with ready state"),
		ageColumn,
		wideColumn("Containers", "string", containersDescription),
		wideColumn("Images", "string", imagesDescription),
	}, statefulSetRow)

	dsStatus := extensionsv1beta1.DaemonSetStatus{}.SwaggerDoc()
	register(schema.GroupKind{Group: "apps", Kind: "DaemonSet"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Desired", "integer", dsStatus["desiredNumberScheduled"]),
		column("Current", "integer", dsStatus["currentNumberScheduled"]),
		column("Ready", "integer", dsStatus["numberReady"]),
		column("Up-to-date", "integer", dsStatus["updatedNumberScheduled"]),
		column("Available", "integer", dsStatus["numberAvailable"]),
		column("Node Selector", "string", corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]),
		ageColumn,
		wideColumn("Containers", "string", containersDescription),
		wideColumn("Images", "string", imagesDescription),
		wideColumn("Selector", "string", extensionsv1beta1.DaemonSetSpec{}.SwaggerDoc()["selector"]),
	}, daemonSetRow)

	register(schema.GroupKind{Group: "apps", Kind: "ControllerRevision"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Controller", "string", "Controller of the object"),
		column("Revision", "string", appsv1beta1.ControllerRevision{}.SwaggerDoc()["revision"]),
		ageColumn,
	}, controllerRevisionRow)
}

func deploymentRow(d *appsv1.Deployment, now time.Time) ([]interface{}, error) {
	selector := "<invalid>"
	if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
		selector = s.String()
	}
	names, images := containerCells(d.Spec.Template.Spec.Containers)
	return []interface{}{
		d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, deref(d.Spec.Replicas)),
		int64(d.Status.UpdatedReplicas), int64(d.Status.AvailableReplicas), since(d.CreationTimestamp, now),
		names, images, selector,
	}, nil
}

func replicaSetRow(rs *appsv1.ReplicaSet, now time.Time) ([]interface{}, error) {
	names, images := containerCells(rs.Spec.Template.Spec.Containers)
	return []interface{}{
		rs.Name, int64(deref(rs.Spec.Replicas)), int64(rs.Status.Replicas), int64(rs.Status.ReadyReplicas),
		since(rs.CreationTimestamp, now),
		names, images, metav1.FormatLabelSelector(rs.Spec.Selector),
	}, nil
}

func statefulSetRow(ss *appsv1.StatefulSet, now time.Time) ([]interface{}, error) {
	names, images := containerCells(ss.Spec.Template.Spec.Containers)
	return []interface{}{
		ss.Name, fmt.Sprintf("%d/%d", ss.Status.ReadyReplicas, deref(ss.Spec.Replicas)), since(ss.CreationTimestamp, now),
		names, images,
	}, nil
}

func daemonSetRow(ds *appsv1.DaemonSet, now time.Time) ([]interface{}, error) {
	st := ds.Status
	names, images := containerCells(ds.Spec.Template.Spec.Containers)
	return []interface{}{
		ds.Name, int64(st.DesiredNumberScheduled), int64(st.CurrentNumberScheduled), int64(st.NumberReady),
		int64(st.UpdatedNumberScheduled), int64(st.NumberAvailable),
		labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector), since(ds.CreationTimestamp, now),
		names, images, metav1.FormatLabelSelector(ds.Spec.Selector),
	}, nil
}

// controllerRevisionRow names the owning controller as kind.group/name.
func controllerRevisionRow(cr *appsv1.ControllerRevision, now time.Time) ([]interface{}, error) {
	controller := "<none>"
	if ref := metav1.GetControllerOf(cr); ref != nil {
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err != nil {
			return nil, err
		}
		controller = ref.Name
		if gk := gv.WithKind(ref.Kind).GroupKind(); !gk.Empty() {
			controller = strings.ToLower(gk.String()) + "/" + ref.Name
		}
	}
	return []interface{}{cr.Name, controller, cr.Revision, since(cr.CreationTimestamp, now)}, nil
}
