package ttlafterfinished

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestDeletesExpiredJobs(t *testing.T) {
	finished := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ttl := int32(60)
	for _, tc := range []struct {
		name       string
		now        time.Time
		ttl        *int32
		cond       batchv1.JobConditionType
		wantDelete bool
	}{
		{"expired", finished.Add(61 * time.Second), &ttl, batchv1.JobComplete, true},
		{"failed and expired", finished.Add(60 * time.Second), &ttl, batchv1.JobFailed, true},
		{"not yet", finished.Add(30 * time.Second), &ttl, batchv1.JobComplete, false},
		{"no ttl", finished.Add(time.Hour), nil, batchv1.JobComplete, false},
		{"running", finished.Add(time.Hour), &ttl, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j", Namespace: "ns", UID: "u", ResourceVersion: "5"},
				Spec: batchv1.JobSpec{TTLSecondsAfterFinished: tc.ttl}}
			if tc.cond != "" {
				j.Status.Conditions = []batchv1.JobCondition{{Type: tc.cond, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(finished)}}
			}
			client := fake.NewClientset(j)
			factory := informers.NewSharedInformerFactory(client, 0)
			c := New(client, factory, slog.New(slog.NewTextHandler(io.Discard, nil)))
			c.now = func() time.Time { return tc.now }
			if err := factory.Batch().V1().Jobs().Informer().GetIndexer().Add(j); err != nil {
				t.Fatal(err)
			}
			client.ClearActions()
			if err := c.sync(context.Background(), "ns/j"); err != nil {
				t.Fatal(err)
			}
			var del k8stesting.DeleteActionImpl
			deleted := false
			for _, a := range client.Actions() {
				if d, ok := a.(k8stesting.DeleteActionImpl); ok {
					del, deleted = d, true
				}
			}
			if deleted != tc.wantDelete {
				t.Fatalf("deleted = %v, want %v", deleted, tc.wantDelete)
			}
			if deleted && (del.DeleteOptions.PropagationPolicy == nil || *del.DeleteOptions.PropagationPolicy != metav1.DeletePropagationBackground) {
				t.Errorf("propagation %v, want Background", del.DeleteOptions.PropagationPolicy)
			}
			if tc.name == "not yet" {
				if left, _ := c.remaining(j); left != 30*time.Second {
					t.Errorf("remaining %v, want 30s", left)
				}
			}
		})
	}
}
