package printers

import (
	"strconv"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	discoveryv1beta1 "k8s.io/api/discovery/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func init() {
	slice := discoveryv1beta1.EndpointSlice{}.SwaggerDoc()
	register(schema.GroupKind{Group: "discovery.k8s.io", Kind: "EndpointSlice"}, []metav1.TableColumnDefinition{
		nameColumn,
		column("AddressType", "string", slice["addressType"]),
		column("Ports", "string", slice["ports"]),
		column("Endpoints", "string", slice["endpoints"]),
		ageColumn,
	}, endpointSliceRow)
}

func endpointSliceRow(es *discoveryv1.EndpointSlice, now time.Time) ([]interface{}, error) {
	// A port shows its number, else its name, else "*" (all ports).
	ports := make([]string, 0, len(es.Ports))
	for _, p := range es.Ports {
		switch {
		case p.Port != nil:
			ports = append(ports, strconv.Itoa(int(*p.Port)))
		case p.Name != nil:
			ports = append(ports, *p.Name)
		default:
			ports = append(ports, "*")
		}
	}
	var addresses []string
	for _, ep := range es.Endpoints {
		addresses = append(addresses, ep.Addresses...)
	}
	return []interface{}{
		es.Name, string(es.AddressType), listWithMore(ports, 3), listWithMore(addresses, 3), since(es.CreationTimestamp, now),
	}, nil
}
