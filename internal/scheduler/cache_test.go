package scheduler

import (
	"context"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"

	"skiff/internal/scheduler/framework"
)

func TestNodeCache(t *testing.T) {
	c := newNodeCache()
	c.setNode(testNode("a", "2", nil))
	c.setNode(testNode("b", "2", nil))
	bound := testPod("bound", "500m")
	bound.Spec.NodeName = "a"
	c.setPod("default/bound", bound, false)
	// A pod seen before its node counts once the node appears.
	early := testPod("early", "250m")
	early.Spec.NodeName = "c"
	c.setPod("default/early", early, false)

	requested := func() map[string]int64 {
		out := map[string]int64{}
		for _, ni := range c.nodeInfos() {
			out[ni.Node.Name] = ni.Requested.MilliCPU
		}
		return out
	}
	if got := fmt.Sprint(requested()); got != "map[a:500 b:0]" {
		t.Fatalf("requested %s", got)
	}
	before := c.nodeInfos()
	c.setNode(testNode("c", "2", nil))
	if got := fmt.Sprint(requested()); got != "map[a:500 b:0 c:250]" {
		t.Fatalf("after node c: %s", got)
	}

	// An assumed pod counts at once, survives the informer still showing
	// it unbound, and is replaced by the bound pod when it shows up.
	p := testPod("p", "1")
	assumed := p.DeepCopy()
	assumed.Spec.NodeName = "b"
	c.setPod("default/p", assumed, true)
	c.setPod("default/p", p, false) // stale informer copy, no node
	if !c.isAssumed("default/p") || requested()["b"] != 1000 {
		t.Fatalf("assumed pod lost: %v", requested())
	}
	c.setPod("default/p", assumed.DeepCopy(), false)
	if c.isAssumed("default/p") || requested()["b"] != 1000 {
		t.Fatalf("bound pod: assumed=%v %v", c.isAssumed("default/p"), requested())
	}
	// Finished and deleted pods free their node.
	done := bound.DeepCopy()
	done.Status.Phase = v1.PodSucceeded
	c.setPod("default/bound", done, false)
	c.removePod("default/p")
	if got := fmt.Sprint(requested()); got != "map[a:0 b:0 c:250]" {
		t.Fatalf("after finish and delete: %s", got)
	}
	c.removeNode("a")
	if got := fmt.Sprint(requested()); got != "map[b:0 c:250]" {
		t.Fatalf("after removing a: %s", got)
	}
	// Earlier snapshots are untouched by all of this.
	if len(before) != 2 || before[0].Requested.MilliCPU+before[1].Requested.MilliCPU != 500 {
		t.Fatal("a snapshot changed after it was taken")
	}
}

func TestNumFeasibleNodesToFind(t *testing.T) {
	for _, tc := range []struct{ pct, n, want int }{
		{0, 50, 50}, {0, 99, 99}, {0, 100, 100}, {0, 1000, 420}, {0, 5000, 500}, {0, 6000, 300}, {0, 10000, 500}, {30, 1000, 300}, {100, 5000, 5000},
	} {
		if got := numFeasibleNodesToFind(tc.pct, tc.n); got != tc.want {
			t.Errorf("numFeasibleNodesToFind(%d, %d) = %d, want %d", tc.pct, tc.n, got, tc.want)
		}
	}
}

// In a big cluster a cycle stops once it has enough feasible nodes, and
// the next cycle starts where it stopped.
func TestScheduleSearchesPartOfABigCluster(t *testing.T) {
	var nodes []*framework.NodeInfo
	for i := 0; i < 1000; i++ {
		nodes = append(nodes, framework.NewNodeInfo(testNode(fmt.Sprintf("n%04d", i), "4", nil)))
	}
	prof := DefaultProfile()
	_, processed, err := schedule(context.Background(), &prof, framework.NewCycleState(), testPod("p", "100m"), nodes, 900, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := numFeasibleNodesToFind(0, 1000); processed < want || processed > want+64 {
		t.Fatalf("processed %d nodes, want about %d", processed, want)
	}
	// A pod that fits nowhere goes through every node and says so.
	_, processed, err = schedule(context.Background(), &prof, framework.NewCycleState(), testPod("big", "8"), nodes, 500, nil)
	if processed != 1000 || err == nil || err.Error() != "0/1000 nodes are available: 1000 Insufficient cpu." {
		t.Fatalf("processed %d, err %v", processed, err)
	}
}

func TestCacheImageCounts(t *testing.T) {
	c := newNodeCache()
	withImages := func(name string, images ...string) *v1.Node {
		n := testNode(name, "1", nil)
		for _, img := range images {
			n.Status.Images = append(n.Status.Images, v1.ContainerImage{Names: []string{img}, SizeBytes: 1})
		}
		return n
	}
	c.setNode(withImages("a", "x:1", "y"))
	c.setNode(withImages("b", "x:1"))
	snap := c.snapshot()
	if snap.ImageNumNodes["x:1"] != 2 || snap.ImageNumNodes["y:latest"] != 1 {
		t.Fatalf("counts %v", snap.ImageNumNodes)
	}
	// A heartbeat with the same images keeps the map; a change replaces it
	// without touching the one a snapshot holds.
	c.setNode(withImages("b", "x:1"))
	if c.snapshot().ImageNumNodes["x:1"] != 2 {
		t.Fatal("heartbeat changed the counts")
	}
	c.removeNode("a")
	if got := c.snapshot().ImageNumNodes; got["x:1"] != 1 || got["y:latest"] != 0 {
		t.Fatalf("after removing a: %v", got)
	}
	if snap.ImageNumNodes["x:1"] != 2 {
		t.Fatal("an earlier snapshot's counts changed")
	}
}
