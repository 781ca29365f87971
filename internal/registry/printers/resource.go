package printers

import (
	"strings"
	"time"

	resourcev1 "k8s.io/api/resource/v1"
	resourcev1beta1 "k8s.io/api/resource/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const resourceGroup = "resource.k8s.io"

func init() {
	register(schema.GroupKind{Group: resourceGroup, Kind: "DeviceClass"}, []metav1.TableColumnDefinition{nameColumn, ageColumn},
		func(c *resourcev1.DeviceClass, now time.Time) ([]interface{}, error) {
			return []interface{}{c.Name, since(c.CreationTimestamp, now)}, nil
		})

	register(schema.GroupKind{Group: resourceGroup, Kind: "ResourceClaim"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("State", "string", "A summary of the current state (allocated, pending, reserved, etc.)."),
		ageColumn,
	}, func(c *resourcev1.ResourceClaim, now time.Time) ([]interface{}, error) {
		return []interface{}{c.Name, resourceClaimState(c), since(c.CreationTimestamp, now)}, nil
	})

	register(schema.GroupKind{Group: resourceGroup, Kind: "ResourceClaimTemplate"}, []metav1.TableColumnDefinition{nameColumn, ageColumn},
		func(c *resourcev1.ResourceClaimTemplate, now time.Time) ([]interface{}, error) {
			return []interface{}{c.Name, since(c.CreationTimestamp, now)}, nil
		})

	slice := resourcev1beta1.ResourceSliceSpec{}.SwaggerDoc()
	register(schema.GroupKind{Group: resourceGroup, Kind: "ResourceSlice"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("Node", "string", slice["nodeName"]),
		column("Driver", "string", slice["driver"]),
		column("Pool", "string", resourcev1beta1.ResourcePool{}.SwaggerDoc()["name"]),
		ageColumn,
	}, func(s *resourcev1.ResourceSlice, now time.Time) ([]interface{}, error) {
		return []interface{}{s.Name, deref(s.Spec.NodeName), s.Spec.Driver, s.Spec.Pool.Name, since(s.CreationTimestamp, now)}, nil
	})
}

// resourceClaimState lists what applies of deleted, pending or allocated,
// and reserved.
func resourceClaimState(c *resourcev1.ResourceClaim) string {
	var states []string
	if c.DeletionTimestamp != nil {
		states = append(states, "deleted")
	}
	if c.Status.Allocation == nil {
		if c.DeletionTimestamp == nil {
			states = append(states, "pending")
		}
	} else {
		states = append(states, "allocated")
		if len(c.Status.ReservedFor) > 0 {
			states = append(states, "reserved")
		}
	}
	return strings.Join(states, ",")
}
