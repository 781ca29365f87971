package printers

import (
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	coordinationv1beta1 "k8s.io/api/coordination/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func init() {
	register(schema.GroupKind{Group: "coordination.k8s.io", Kind: "Lease"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Holder", "string", coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]),
		ageColumn,
	}, func(l *coordinationv1.Lease, now time.Time) ([]interface{}, error) {
		return []interface{}{l.Name, deref(l.Spec.HolderIdentity), since(l.CreationTimestamp, now)}, nil
	})

	// Upstream looks the version descriptions up on ObjectMeta, where they
	// do not exist, so they are empty.
	register(schema.GroupKind{Group: "coordination.k8s.io", Kind: "LeaseCandidate"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("LeaseName", "string", coordinationv1beta1.LeaseCandidateSpec{}.SwaggerDoc()["leaseName"]),
		column("BinaryVersion", "string", objectMetaDoc["binaryVersion"]),
		column("EmulationVersion", "string", objectMetaDoc["emulationVersion"]),
		ageColumn,
	}, func(c *coordinationv1beta1.LeaseCandidate, now time.Time) ([]interface{}, error) {
		return []interface{}{c.Name, c.Spec.LeaseName, c.Spec.BinaryVersion, c.Spec.EmulationVersion, since(c.CreationTimestamp, now)}, nil
	})
}
