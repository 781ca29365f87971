package scheduler

import (
	"context"
	"io"
	"log/slog"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff/internal/scheduler/framework"
)

// TestSchedulerProfiles: each profile takes the pods naming it and reports
// its events under its own name; pods of unknown schedulers stay alone.
func TestSchedulerProfiles(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := fakeCluster(t, testNode("a", "4", nil))
	second := DefaultProfile()
	second.SchedulerName = "second-scheduler"
	s := New(c, slog.New(slog.NewTextHandler(io.Discard, nil)), Config{Profiles: []Profile{DefaultProfile(), second}})
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	for name, sched := range map[string]string{"p1": DefaultSchedulerName, "p2": "second-scheduler", "p3": "unknown"} {
		p := testPod(name, "100m")
		p.Spec.SchedulerName = sched
		if _, err := c.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "events from both profiles", func() bool {
		list, err := c.EventsV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, e := range list.Items {
			if e.Reason == "Scheduled" {
				got[e.Regarding.Name] = e.ReportingController
			}
		}
		return got["p1"] == DefaultSchedulerName && got["p2"] == "second-scheduler"
	})
	if p := getPod(t, c, "p3"); p.Spec.NodeName != "" || len(p.Status.Conditions) != 0 {
		t.Fatalf("pod of an unknown scheduler touched: %+v", p)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestNominatedPodsKeepTheirRoom: room freed for a nominated pod is not
// given to a pod of lower priority, but is to one of higher priority.
func TestNominatedPodsKeepTheirRoom(t *testing.T) {
	prio := func(p *v1.Pod, v int32) *v1.Pod { p.Spec.Priority = &v; return p }
	nom := newNominator()
	nominated := prio(testPod("nominee", "800m"), 10)
	nom.set(podKey(nominated), nominated, "n1")
	nodes := []*framework.NodeInfo{framework.NewNodeInfo(testNode("n1", "1", nil))}
	prof := DefaultProfile()
	if _, _, err := schedule(context.Background(), &prof, framework.NewCycleState(), prio(testPod("low", "500m"), 5), nodes, 0, nom); err == nil {
		t.Fatal("lower-priority pod took the nominated room")
	}
	if node, _, err := schedule(context.Background(), &prof, framework.NewCycleState(), prio(testPod("high", "500m"), 20), nodes, 0, nom); err != nil || node != "n1" {
		t.Fatalf("higher-priority pod: %q %v", node, err)
	}
	// The nominee itself is not in its own way.
	if _, _, err := schedule(context.Background(), &prof, framework.NewCycleState(), nominated, nodes, 0, nom); err != nil {
		t.Fatalf("nominee: %v", err)
	}
	nom.set(podKey(nominated), nil, "")
	if got := nom.podsFor("n1", testPod("x", "1")); len(got) != 0 {
		t.Fatalf("forgotten nominee still counted: %v", got)
	}
}
