package printers

import (
	"bytes"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	cliprinters "k8s.io/cli-runtime/pkg/printers"
)

// render builds the Table the server would send and prints it with
// kubectl's own table printer.
func render(t *testing.T, gk schema.GroupKind, wide bool, objs ...runtime.Object) string {
	t.Helper()
	table := &metav1.Table{ColumnDefinitions: Columns(gk)}
	for _, obj := range objs {
		cells, err := Row(obj, now)
		if err != nil {
			t.Fatal(err)
		}
		table.Rows = append(table.Rows, metav1.TableRow{Cells: cells, Object: runtime.RawExtension{Object: obj}})
	}
	var out bytes.Buffer
	if err := cliprinters.NewTablePrinter(cliprinters.PrintOptions{Wide: wide}).PrintObj(table, &out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestKubectlRendersTables(t *testing.T) {
	web := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-7d4b9c8f5-x2x9q", CreationTimestamp: ago(26 * time.Hour)},
		Spec:       corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "web"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIPs: []corev1.PodIP{{IP: "10.244.1.5"}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "web", Ready: true, State: running(time.Hour),
				RestartCount: 2, LastTerminationState: lastTerminated(time.Hour)}}},
	}
	crashing := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "api", CreationTimestamp: ago(5 * time.Minute)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "api"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "api", State: waiting("CrashLoopBackOff")}}},
	}
	pods := schema.GroupKind{Kind: "Pod"}

	want := strings.Join([]string{
		"NAME                  READY   STATUS             RESTARTS      AGE",
		"web-7d4b9c8f5-x2x9q   1/1     Running            2 (60m ago)   26h",
		"api                   0/1     CrashLoopBackOff   0             5m",
		"",
	}, "\n")
	if got := render(t, pods, false, web, crashing); got != want {
		t.Errorf("kubectl get pods:\n%s\nwant:\n%s", got, want)
	}

	wantWide := strings.Join([]string{
		"NAME                  READY   STATUS             RESTARTS      AGE   IP           NODE     NOMINATED NODE   READINESS GATES",
		"web-7d4b9c8f5-x2x9q   1/1     Running            2 (60m ago)   26h   10.244.1.5   node-1   <none>           <none>",
		"api                   0/1     CrashLoopBackOff   0             5m    <none>       <none>   <none>           <none>",
		"",
	}, "\n")
	if got := render(t, pods, true, web, crashing); got != wantWide {
		t.Errorf("kubectl get pods -o wide:\n%s\nwant:\n%s", got, wantWide)
	}

	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: ago(2 * time.Hour)},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIPs: []string{"10.96.12.34"}, Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080, Protocol: corev1.ProtocolTCP}}}}
	wantSvc := strings.Join([]string{
		"NAME   TYPE       CLUSTER-IP    EXTERNAL-IP   PORT(S)        AGE",
		"web    NodePort   10.96.12.34   <none>        80:30080/TCP   120m",
		"",
	}, "\n")
	if got := render(t, schema.GroupKind{Kind: "Service"}, false, svc); got != wantSvc {
		t.Errorf("kubectl get svc:\n%s\nwant:\n%s", got, wantSvc)
	}
}
