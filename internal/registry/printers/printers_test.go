package printers

import (
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// now is the fixed reference time of every test; objects are created
// relative to it.
var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time {
	return metav1.NewTime(now.Add(-d))
}

func agoPtr(d time.Duration) *metav1.Time {
	t := ago(d)
	return &t
}

func ptr[T any](v T) *T { return &v }

// header renders column names as kubectl prints them: upper-cased, with the
// -o wide ones after a "|".
func header(cols []metav1.TableColumnDefinition) string {
	var normal, wide []string
	for _, c := range cols {
		name := strings.ToUpper(c.Name)
		if c.Priority == 0 {
			normal = append(normal, name)
		} else {
			wide = append(wide, name)
		}
	}
	out := strings.Join(normal, ",")
	if len(wide) > 0 {
		out += " | " + strings.Join(wide, ",")
	}
	return out
}

func TestColumns(t *testing.T) {
	cases := map[schema.GroupKind]string{
		{Kind: "Pod"}:                                                     "NAME,READY,STATUS,RESTARTS,AGE | IP,NODE,NOMINATED NODE,READINESS GATES",
		{Kind: "PodTemplate"}:                                             "NAME,CONTAINERS,IMAGES,POD LABELS",
		{Kind: "ReplicationController"}:                                   "NAME,DESIRED,CURRENT,READY,AGE | CONTAINERS,IMAGES,SELECTOR",
		{Kind: "Service"}:                                                 "NAME,TYPE,CLUSTER-IP,EXTERNAL-IP,PORT(S),AGE | SELECTOR",
		{Kind: "Endpoints"}:                                               "NAME,ENDPOINTS,AGE",
		{Kind: "Node"}:                                                    "NAME,STATUS,ROLES,AGE,VERSION | INTERNAL-IP,EXTERNAL-IP,OS-IMAGE,KERNEL-VERSION,CONTAINER-RUNTIME",
		{Kind: "Event"}:                                                   "LAST SEEN,TYPE,REASON,OBJECT,MESSAGE | SUBOBJECT,SOURCE,FIRST SEEN,COUNT,NAME",
		{Group: "events.k8s.io", Kind: "Event"}:                           "LAST SEEN,TYPE,REASON,OBJECT,MESSAGE | SUBOBJECT,SOURCE,FIRST SEEN,COUNT,NAME",
		{Kind: "Namespace"}:                                               "NAME,STATUS,AGE",
		{Kind: "ConfigMap"}:                                               "NAME,DATA,AGE",
		{Kind: "Secret"}:                                                  "NAME,TYPE,DATA,AGE",
		{Kind: "ServiceAccount"}:                                          "NAME,SECRETS,AGE",
		{Kind: "PersistentVolume"}:                                        "NAME,CAPACITY,ACCESS MODES,RECLAIM POLICY,STATUS,CLAIM,STORAGECLASS,VOLUMEATTRIBUTESCLASS,REASON,AGE | VOLUMEMODE",
		{Kind: "PersistentVolumeClaim"}:                                   "NAME,STATUS,VOLUME,CAPACITY,ACCESS MODES,STORAGECLASS,VOLUMEATTRIBUTESCLASS,AGE | VOLUMEMODE",
		{Kind: "ResourceQuota"}:                                           "NAME,REQUEST,LIMIT,AGE",
		{Kind: "LimitRange"}:                                              "NAME,CREATED AT",
		{Kind: "ComponentStatus"}:                                         "NAME,STATUS,MESSAGE,ERROR",
		{Group: "apps", Kind: "Deployment"}:                               "NAME,READY,UP-TO-DATE,AVAILABLE,AGE | CONTAINERS,IMAGES,SELECTOR",
		{Group: "apps", Kind: "ReplicaSet"}:                               "NAME,DESIRED,CURRENT,READY,AGE | CONTAINERS,IMAGES,SELECTOR",
		{Group: "apps", Kind: "StatefulSet"}:                              "NAME,READY,AGE | CONTAINERS,IMAGES",
		{Group: "apps", Kind: "DaemonSet"}:                                "NAME,DESIRED,CURRENT,READY,UP-TO-DATE,AVAILABLE,NODE SELECTOR,AGE | CONTAINERS,IMAGES,SELECTOR",
		{Group: "apps", Kind: "ControllerRevision"}:                       "NAME,CONTROLLER,REVISION,AGE",
		{Group: "batch", Kind: "Job"}:                                     "NAME,STATUS,COMPLETIONS,DURATION,AGE | CONTAINERS,IMAGES,SELECTOR",
		{Group: "batch", Kind: "CronJob"}:                                 "NAME,SCHEDULE,TIMEZONE,SUSPEND,ACTIVE,LAST SCHEDULE,AGE | CONTAINERS,IMAGES,SELECTOR",
		{Group: "networking.k8s.io", Kind: "Ingress"}:                     "NAME,CLASS,HOSTS,ADDRESS,PORTS,AGE",
		{Group: "networking.k8s.io", Kind: "IngressClass"}:                "NAME,CONTROLLER,PARAMETERS,AGE",
		{Group: "networking.k8s.io", Kind: "NetworkPolicy"}:               "NAME,POD-SELECTOR,AGE",
		{Group: "networking.k8s.io", Kind: "ServiceCIDR"}:                 "NAME,CIDRS,AGE",
		{Group: "networking.k8s.io", Kind: "IPAddress"}:                   "NAME,PARENTREF",
		{Group: "discovery.k8s.io", Kind: "EndpointSlice"}:                "NAME,ADDRESSTYPE,PORTS,ENDPOINTS,AGE",
		{Group: "storage.k8s.io", Kind: "StorageClass"}:                   "NAME,PROVISIONER,RECLAIMPOLICY,VOLUMEBINDINGMODE,ALLOWVOLUMEEXPANSION,AGE",
		{Group: "storage.k8s.io", Kind: "CSIDriver"}:                      "NAME,ATTACHREQUIRED,PODINFOONMOUNT,STORAGECAPACITY,TOKENREQUESTS,REQUIRESREPUBLISH,MODES,AGE",
		{Group: "storage.k8s.io", Kind: "VolumeAttachment"}:               "NAME,ATTACHER,PV,NODE,ATTACHED,AGE",
		{Group: "coordination.k8s.io", Kind: "Lease"}:                     "NAME,HOLDER,AGE",
		{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}:           "NAME,REFERENCE,TARGETS,MINPODS,MAXPODS,REPLICAS,AGE",
		{Group: "rbac.authorization.k8s.io", Kind: "Role"}:                "NAME,CREATED AT",
		{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:         "NAME,CREATED AT",
		{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}:         "NAME,ROLE,AGE | USERS,GROUPS,SERVICEACCOUNTS",
		{Group: "policy", Kind: "PodDisruptionBudget"}:                    "NAME,MIN AVAILABLE,MAX UNAVAILABLE,ALLOWED DISRUPTIONS,AGE",
		{Group: "scheduling.k8s.io", Kind: "PriorityClass"}:               "NAME,VALUE,GLOBAL-DEFAULT,AGE,PREEMPTIONPOLICY",
		{Group: "certificates.k8s.io", Kind: "CertificateSigningRequest"}: "NAME,AGE,SIGNERNAME,REQUESTOR,REQUESTEDDURATION,CONDITION",
		{Group: "example.com", Kind: "Widget"}:                            "NAME,CREATED AT",
	}
	for gk, want := range cases {
		if got := header(Columns(gk)); got != want {
			t.Errorf("%v columns:\n got  %s\n want %s", gk, got, want)
		}
	}
}

// Every table starts with a NAME column of format "name" (except Events,
// whose name comes last) and every column is described.
func TestColumnDefinitionsAreWellFormed(t *testing.T) {
	validTypes := map[string]bool{"string": true, "integer": true, "boolean": true, "date": true, "number": true}
	for gk := range columnsByKind {
		cols := Columns(gk)
		if gk.Kind != "Event" && (cols[0].Name != "Name" || cols[0].Format != "name") {
			t.Errorf("%v: first column %+v is not the name column", gk, cols[0])
		}
		for _, c := range cols {
			if !validTypes[c.Type] {
				t.Errorf("%v: column %q has type %q", gk, c.Name, c.Type)
			}
		}
	}
	if nameColumn.Description == "" || ageColumn.Description == "" {
		t.Errorf("name or age column has no description")
	}
}

func TestColumnsReturnsACopy(t *testing.T) {
	gk := schema.GroupKind{Kind: "Pod"}
	Columns(gk)[0].Name = "changed"
	if Columns(gk)[0].Name != "Name" {
		t.Fatal("Columns exposed the registry")
	}
	Columns(schema.GroupKind{Kind: "Unknown"})[0].Name = "changed"
	if Columns(schema.GroupKind{Kind: "Unknown"})[0].Name != "Name" {
		t.Fatal("Columns exposed the default columns")
	}
}

// Row must return as many cells as its kind has columns, for every printer,
// even for an empty object.
func TestRowMatchesColumnsForEveryPrinter(t *testing.T) {
	for typ, gk := range kindByType {
		obj := reflect.New(typ.Elem()).Interface().(runtime.Object)
		cells, err := Row(obj, now)
		if err != nil {
			t.Errorf("%v: %v", typ, err)
			continue
		}
		if len(cells) != len(Columns(gk)) {
			t.Errorf("%v: %d cells for %d columns", typ, len(cells), len(Columns(gk)))
		}
		if got, ok := KindFor(obj); !ok || got != gk {
			t.Errorf("KindFor(%v) = %v, %v", typ, got, ok)
		}
	}
}

func TestDefaultTable(t *testing.T) {
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "reader", CreationTimestamp: metav1.NewTime(time.Date(2024, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600)))}}
	cells, err := Row(role, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []interface{}{"reader", "2024-03-04T04:06:07Z"}
	if !reflect.DeepEqual(cells, want) {
		t.Errorf("role row = %#v, want %#v", cells, want)
	}
	if _, ok := KindFor(role); ok {
		t.Errorf("Role should have no printer of its own")
	}
	cols := Columns(schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "Role"})
	if cols[1].Type != "date" || cols[0].Format != "name" {
		t.Errorf("default columns = %+v", cols)
	}

	if _, err := Row(&metav1.Status{}, now); err == nil {
		t.Error("an object without metadata should not print")
	}
	if _, err := Row(nil, now); err == nil {
		t.Error("nil should not print")
	}
}

func TestAge(t *testing.T) {
	cases := []struct {
		created metav1.Time
		want    string
	}{
		{metav1.Time{}, "<unknown>"},
		{ago(30 * time.Second), "30s"},
		{ago(5*time.Minute + 3*time.Second), "5m3s"},
		{ago(90 * time.Minute), "90m"},
		{ago(5*time.Hour + 10*time.Minute), "5h10m"},
		{ago(3 * 24 * time.Hour), "3d"},
		{ago(-time.Hour), "<invalid>"},
	}
	for _, tc := range cases {
		cells, err := Row(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", CreationTimestamp: tc.created}}, now)
		if err != nil {
			t.Fatal(err)
		}
		if cells[2] != tc.want {
			t.Errorf("age of %v = %v, want %s", tc.created, cells[2], tc.want)
		}
	}
}

// The registries are shared by every request; printing must be safe from
// many goroutines at once.
func TestConcurrentUse(t *testing.T) {
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", CreationTimestamp: ago(time.Minute)}}
				if _, err := Row(pod, now); err != nil {
					t.Error(err)
					return
				}
				_ = Columns(schema.GroupKind{Kind: "Pod"})
			}
		}()
	}
	wg.Wait()
}

// rowCase is one object and the cells it must print as.
type rowCase struct {
	name string
	obj  runtime.Object
	want []interface{}
}

func runRowCases(t *testing.T, cases []rowCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Row(tc.obj, now)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("cells mismatch\n got  %#v\n want %#v", got, tc.want)
			}
		})
	}
}
