package fastpath

import (
	"testing"

	"ipsecgw/fastpath/sad"
	"ipsecgw/fastpath/stats"
)

func TestBatchBucket(t *testing.T) {
	for _, c := range []struct{ n, want int }{
		{1, 0}, {2, 1}, {3, 2}, {4, 2}, {5, 3}, {8, 3}, {33, 6}, {64, 6}, {65, 7},
		{256, 8}, {257, 9}, {1 << 20, NumBatchBuckets - 1},
	} {
		if got := BatchBucket(c.n); got != c.want {
			t.Errorf("BatchBucket(%d) = %d, want %d", c.n, got, c.want)
		}
	}
}

// TestWorkerStats checks the per-worker counters the metrics export:
// frames in and out, receive batches by size, and the punt ring's
// occupancy as an observer reads it.
func TestWorkerStats(t *testing.T) {
	g := newGateway(t, siteA, siteB, nil, EntryManual, 0)
	f := hostFrame(t, siteA, "10.1.0.5", "10.2.0.5", frameOpts{ttl: 10})
	g.send(t, g.in, f, f, f)
	g.send(t, g.in, f)
	s := g.w.Stats()
	if s.Global.RxFrames != 4 || s.Global.TxFrames != 4 {
		t.Errorf("frames in %d out %d, want 4 4", s.Global.RxFrames, s.Global.TxFrames)
	}
	want := [NumBatchBuckets]uint64{0: 1, 2: 1} // a batch of one, a batch of three
	if s.Global.RxBatches != want {
		t.Errorf("batches %v, want %v", s.Global.RxBatches, want)
	}
	if e := g.stats(); e.Global.RxBatches != want || e.Global.TxFrames != 4 {
		t.Errorf("engine sums %v %d", e.Global.RxBatches, e.Global.TxFrames)
	}

	// Three flows without an SA: three ACQUIREs wait in the punt ring.
	spec := &saSpec{proto: sad.ESP, transform: gcm128}
	g2 := newGateway(t, siteA, siteB, spec, EntryISAKMP, 0)
	for _, dst := range []string{"10.2.0.5", "10.2.0.6", "10.2.0.7"} {
		checkDrop(t, g2, g2.in, hostFrame(t, siteA, "10.1.0.5", dst, frameOpts{}), stats.NoSA)
	}
	if n := g2.w.Punts().Occupancy(); n != 3 {
		t.Errorf("punt ring occupancy %d, want 3", n)
	}
	g2.w.Punts().Release()
	if n := g2.w.Punts().Occupancy(); n != 2 {
		t.Errorf("punt ring occupancy %d after a release, want 2", n)
	}
	if n := g2.w.Injects().Occupancy(); n != 0 {
		t.Errorf("inject ring occupancy %d, want 0", n)
	}
}
