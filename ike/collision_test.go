package ike

import (
	"testing"
	"time"
)

// holdBoth makes both engines' next requests cross on the wire: each
// holds what it sends until both sent something.
func crossRequests(t *testing.T, a, b *node, start func()) {
	t.Helper()
	for _, n := range []*node{a, b} {
		n.gate.mu.Lock()
		n.gate.hold = true
		n.gate.mu.Unlock()
	}
	start()
	deadline := time.Now().Add(5 * time.Second)
	for a.gate.heldCount() == 0 || b.gate.heldCount() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("requests not sent")
		}
		time.Sleep(time.Millisecond)
	}
	a.gate.release()
	b.gate.release()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestChildRekeyCollision(t *testing.T) {
	pa, pb := defaultPeers()
	a, b, _ := newPair(t, pa, pb, pairOpts{})
	sa, sb := establish(t, a, b)
	crossRequests(t, a, b, func() {
		a.e.RekeyChildSA(sa.InSPI)
		b.e.RekeyChildSA(sb.InSPI)
	})
	// RFC 7296 §2.8.1: one of the two new SAs is redundant and deleted by
	// its initiator, the other replaces the old one at both ends.
	waitFor(t, "one CHILD_SA at each end", func() bool {
		x, y := a.rec.active(), b.rec.active()
		return a.rec.installedIn() == 1 && b.rec.installedIn() == 1 && len(x) == 1 && len(y) == 1 && x[0] != sa && y[0] != sb
	})
	na, nb := a.rec.active()[0], b.rec.active()[0]
	checkPair(t, na, nb)
	if !contains(a.logs.String()+b.logs.String(), "CHILD_SA rekey collision") {
		t.Fatal("no collision seen")
	}
	var redundant, rekeyed int
	for _, ev := range append(a.rec.snapshot(), b.rec.snapshot()...) {
		if ev.kind == "remove" {
			switch ev.reason {
			case ReasonRedundant:
				redundant++
			case ReasonRekeyed:
				rekeyed++
			default:
				t.Errorf("removed %v", ev)
			}
		}
	}
	if redundant != 2 || rekeyed != 2 {
		t.Fatalf("%d redundant, %d rekeyed removals: %v / %v", redundant, rekeyed, a.rec.snapshot(), b.rec.snapshot())
	}
}

func TestIKERekeyCollision(t *testing.T) {
	pa, pb := defaultPeers()
	a, b, _ := newPair(t, pa, pb, pairOpts{})
	sa, sb := establish(t, a, b)
	old := a.e.SAs()[0]
	crossRequests(t, a, b, func() {
		a.e.RekeyIKESA(old.ID)
		b.e.RekeyIKESA(b.e.SAs()[0].ID)
	})
	waitFor(t, "one IKE SA at each end", func() bool {
		x, y := a.e.SAs(), b.e.SAs()
		return len(x) == 1 && len(y) == 1 && x[0].ID != old.ID && x[0].SPIi == y[0].SPIi && x[0].SPIr == y[0].SPIr &&
			x[0].State == "ESTABLISHED" && y[0].State == "ESTABLISHED"
	})
	// At least one end sees the collision; the other may learn of it only
	// as the Delete of the redundant SA.
	if !contains(a.logs.String()+b.logs.String(), "IKE SA rekey collision") {
		t.Fatal("no collision seen")
	}
	x, y := a.e.SAs()[0], b.e.SAs()[0]
	if len(x.Children) != 1 || len(y.Children) != 1 || x.Children[0].InSPI != sa.InSPI || y.Children[0].InSPI != sb.InSPI {
		t.Fatalf("CHILD_SAs not carried over: %+v / %+v", x.Children, y.Children)
	}
	// Each end announced exactly one new IKE SA: the survivor.
	for _, n := range []*node{a, b} {
		ups := 0
		for _, ev := range n.rec.snapshot() {
			if ev.kind == "up" && ev.ike.RekeyOf != 0 {
				ups++
			}
		}
		if ups != 1 {
			t.Fatalf("%s announced %d rekeyed IKE SAs: %v", n.name, ups, n.rec.snapshot())
		}
	}
	// And it works: a CHILD_SA rekey over it.
	ia := len(a.rec.snapshot())
	a.e.RekeyChildSA(sa.InSPI)
	a.rec.wait(&ia, func(ev event) bool { return ev.kind == "remove" && ev.sa == sa })
}

// Both ends acquire at once: two IKE SAs come up, and neither end's
// INITIAL_CONTACT removes the SA the other end just made.
func TestSimultaneousInitiation(t *testing.T) {
	pa, pb := defaultPeers()
	a, b, _ := newPair(t, pa, pb, pairOpts{})
	crossRequests(t, a, b, func() {
		a.e.Acquire(Acquire{Peer: pa.Name, Child: "vpn 10"})
		b.e.Acquire(Acquire{Peer: pb.Name, Child: "vpn 10"})
	})
	waitFor(t, "two CHILD_SAs at each end", func() bool { return len(a.rec.active()) == 2 && len(b.rec.active()) == 2 })
	time.Sleep(50 * time.Millisecond)
	x, y := a.e.SAs(), b.e.SAs()
	if len(x) != 2 || len(y) != 2 {
		t.Fatalf("IKE SAs: %d at A, %d at B", len(x), len(y))
	}
	pairs := map[[2]uint64]bool{}
	for _, s := range x {
		pairs[[2]uint64{s.SPIi, s.SPIr}] = true
	}
	for _, s := range y {
		if !pairs[[2]uint64{s.SPIi, s.SPIr}] {
			t.Fatalf("B has IKE SA %016x_i %016x_r that A lacks", s.SPIi, s.SPIr)
		}
	}
	for _, ev := range append(a.rec.snapshot(), b.rec.snapshot()...) {
		if ev.kind == "down" || ev.kind == "remove" {
			t.Fatalf("unexpected %v", ev)
		}
	}
}
