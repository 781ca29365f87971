package ingress

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
)

// TestSyncEvents: an Ingress taken in gets one "Sync" event, and another
// only when its spec changes (a new generation), as ingress-nginx's.
func TestSyncEvents(t *testing.T) {
	rec := record.NewFakeRecorder(10)
	r := &Router{cfg: Config{Recorder: rec}, announced: map[types.UID]int64{}}
	a := mkIngress("default", "a", 0, nil)
	a.UID, a.Generation = "uid-a", 1
	b := mkIngress("default", "b", 0, nil)
	b.UID, b.Generation = "uid-b", 1
	expect := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			select {
			case e := <-rec.Events:
				if e != "Normal Sync Scheduled for sync" {
					t.Fatalf("event %q", e)
				}
			default:
				t.Fatalf("%d events, want %d", i, n)
			}
		}
		select {
		case e := <-rec.Events:
			t.Fatalf("unexpected event %q", e)
		default:
		}
	}
	r.announce([]*networkingv1.Ingress{a, b})
	expect(2)
	r.announce([]*networkingv1.Ingress{a, b}) // an unrelated rebuild
	expect(0)
	a2 := a.DeepCopy()
	a2.Generation = 2
	r.announce([]*networkingv1.Ingress{a2, b})
	expect(1)
	r.announce([]*networkingv1.Ingress{b}) // a gone, then back (re-created)
	r.announce([]*networkingv1.Ingress{a2, b})
	expect(1)
}
