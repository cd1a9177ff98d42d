package ike

import (
	"net/netip"
	"testing"
	"time"

	"ipsecgw/crypto"
	"ipsecgw/ike/keymat"
)

func TestEstablish(t *testing.T) {
	pa, pb := defaultPeers()
	a, b, _ := newPair(t, pa, pb, pairOpts{})
	sa, sb := establish(t, a, b)
	if sa.Transform != (crypto.Transform{Cipher: crypto.CipherAESGCM16, KeyBits: 128}) {
		t.Errorf("transform %v", sa.Transform)
	}
	if got := sa.LocalTS[0].String() + " " + sa.RemoteTS[0].String(); got != "10.1.1.0/24 10.2.2.0/24" {
		t.Errorf("selectors %s", got)
	}
	if !sa.Initiator || sb.Initiator {
		t.Error("initiator flags wrong")
	}
	if sa.Encap {
		t.Error("encapsulated without NAT")
	}
}

func TestForceEncapFloatsToNATT(t *testing.T) {
	pa, pb := defaultPeers()
	pa.ForceEncap = true
	a, b, _ := newPair(t, pa, pb, pairOpts{})
	sa, sb := establish(t, a, b)
	natt := a.e.cfg.NATTPort
	if !sa.Encap || sa.LocalPort != natt || sa.RemotePort != natt || !sb.Encap {
		t.Fatalf("want ESP in UDP on %d: %+v / %+v", natt, sa, sb)
	}
	info := b.e.SAs()[0]
	if !info.NATRemote || info.NATLocal || info.Local.Port() != natt || info.Remote.Port() != natt {
		t.Fatalf("responder's view: %+v", info)
	}
}

func TestChildRekeyMakeBeforeBreak(t *testing.T) {
	pa, pb := defaultPeers()
	pa.Children[0].PFS = keymat.ECP256
	pb.Children[0].PFS = keymat.ECP256
	a, b, _ := newPair(t, pa, pb, pairOpts{})
	old, oldB := establish(t, a, b)
	ia, ib := len(a.rec.snapshot()), len(b.rec.snapshot())
	a.e.RekeyChildSA(old.InSPI)

	// Initiator: new inbound, then outbound replacing old, then old removed.
	in := a.rec.wait(&ia, kind("in")).sa
	out := a.rec.wait(&ia, kind("out"))
	if out.sa != in || out.old != old {
		t.Fatalf("initiator switched %v", out)
	}
	rm := a.rec.wait(&ia, kind("remove"))
	if rm.sa != old || rm.reason != ReasonRekeyed {
		t.Fatalf("initiator removed %v", rm)
	}
	// Responder: new inbound before anything, outbound only once the old
	// SA is deleted, then old removed.
	inB := b.rec.wait(&ib, kind("in")).sa
	outB := b.rec.wait(&ib, kind("out"))
	if outB.sa != inB || outB.old != oldB {
		t.Fatalf("responder switched %v", outB)
	}
	b.rec.wait(&ib, func(ev event) bool { return ev.kind == "remove" && ev.sa == oldB && ev.reason == ReasonRekeyed })
	checkPair(t, in, inB)
	if in.PFS != keymat.ECP256 || inB.PFS != keymat.ECP256 {
		t.Fatalf("PFS %v/%v", in.PFS, inB.PFS)
	}
	if len(a.rec.active()) != 1 || len(b.rec.active()) != 1 || a.rec.installedIn() != 1 || b.rec.installedIn() != 1 {
		t.Fatalf("left over SAs: %v / %v", a.rec.snapshot(), b.rec.snapshot())
	}
	for _, n := range []*node{a, b} {
		if st := n.e.Stats(); st["child_sa_rekeyed"] != 1 || st["ike_sa_rekeyed"] != 0 {
			t.Fatalf("%s counts rekeys %v", n.name, st)
		}
	}
}

func TestIKERekeyKeepsChildren(t *testing.T) {
	pa, pb := defaultPeers()
	a, b, _ := newPair(t, pa, pb, pairOpts{})
	child, _ := establish(t, a, b)
	ia, ib := len(a.rec.snapshot()), len(b.rec.snapshot())
	old := a.e.SAs()[0]
	a.e.RekeyIKESA(old.ID)
	up := a.rec.wait(&ia, kind("up"))
	if up.ike.RekeyOf != old.ID || up.ike.SPIi == old.SPIi {
		t.Fatalf("new IKE SA %+v", up.ike)
	}
	down := a.rec.wait(&ia, kind("down"))
	if down.ike.ID != old.ID || down.reason != ReasonRekeyed {
		t.Fatalf("old IKE SA %+v %v", down.ike, down.reason)
	}
	b.rec.wait(&ib, kind("up"))
	b.rec.wait(&ib, func(ev event) bool { return ev.kind == "down" && ev.reason == ReasonRekeyed })
	for _, ev := range append(a.rec.snapshot()[ia:], b.rec.snapshot()[ib:]...) {
		if ev.kind == "remove" {
			t.Fatalf("IKE rekey removed a CHILD_SA: %v", ev)
		}
	}
	// The CHILD_SA lives on under the new IKE SA and rekeys over it.
	sas := a.e.SAs()
	if len(sas) != 1 || sas[0].ID != up.ike.ID || len(sas[0].Children) != 1 {
		t.Fatalf("after IKE rekey: %+v", sas)
	}
	a.e.RekeyChildSA(child.InSPI)
	a.rec.wait(&ia, func(ev event) bool { return ev.kind == "remove" && ev.sa == child })
	if st := a.e.Stats(); st["ike_sa_rekeyed"] != 1 || st["child_sa_rekeyed"] != 1 {
		t.Fatalf("rekeys counted %v", st)
	}
	waitFor(t, "B counts the IKE rekey", func() bool { return b.e.Stats()["ike_sa_rekeyed"] == 1 })
}

func TestDeleteBothWays(t *testing.T) {
	pa, pb := defaultPeers()
	a, b, _ := newPair(t, pa, pb, pairOpts{})
	sa, sb := establish(t, a, b)
	ia, ib := len(a.rec.snapshot()), len(b.rec.snapshot())

	// CHILD_SA deleted by the responder.
	b.e.DeleteChildSA(sb.InSPI)
	if ev := b.rec.wait(&ib, kind("remove")); ev.sa != sb || ev.reason != ReasonCleared {
		t.Fatalf("B: %v", ev)
	}
	if ev := a.rec.wait(&ia, kind("remove")); ev.sa != sa || ev.reason != ReasonDeletedByPeer {
		t.Fatalf("A: %v", ev)
	}

	// A new CHILD_SA over the same IKE SA, then the IKE SA deleted by the
	// initiator: both ends drop everything.
	a.e.Acquire(Acquire{Peer: pa.Name, Child: "vpn 10"})
	a.rec.wait(&ia, kind("out"))
	b.rec.wait(&ib, kind("out"))
	a.e.ClearIKESAs(netip.Addr{})
	if ev := a.rec.wait(&ia, kind("down")); ev.reason != ReasonCleared {
		t.Fatalf("A: %v", ev)
	}
	if ev := b.rec.wait(&ib, kind("down")); ev.reason != ReasonDeletedByPeer {
		t.Fatalf("B: %v", ev)
	}
	if a.rec.installedIn() != 0 || b.rec.installedIn() != 0 {
		t.Fatal("CHILD_SAs survived their IKE SA")
	}
	if len(a.e.SAs()) != 0 || len(b.e.SAs()) != 0 {
		t.Fatal("IKE SAs left")
	}
}

func TestDPDDeclaresDeadPeer(t *testing.T) {
	pa, pb := defaultPeers()
	pa.DPD = DPD{Interval: 10 * time.Second, Retry: 2 * time.Second, Retries: 3}
	a, b, clk := newPair(t, pa, pb, pairOpts{fake: true})
	establish(t, a, b)
	ia := len(a.rec.snapshot())
	b.gate.mu.Lock()
	b.gate.drop = true // B falls silent
	b.gate.mu.Unlock()
	for i := 0; i < 30; i++ {
		clk.Advance(time.Second)
		a.e.sync(func() {})
	}
	// CHILD_SAs go first, then the IKE SA.
	if rm := a.rec.wait(&ia, kind("remove")); rm.reason != ReasonPeerDead {
		t.Fatalf("child: %v", rm)
	}
	if ev := a.rec.wait(&ia, kind("down")); ev.reason != ReasonPeerDead {
		t.Fatalf("down: %v", ev.reason)
	}
	// Interval 10 s, then the check and 3 retransmissions 2 s apart.
	if now := clk.Now().Sub(time.Unix(1_700_000_000, 0)); now > 30*time.Second {
		t.Fatalf("took %v", now)
	}
}

func TestDPDQuietWithTraffic(t *testing.T) {
	pa, pb := defaultPeers()
	pa.DPD = DPD{Interval: 10 * time.Second, Retry: 2 * time.Second, Retries: 3}
	a, b, clk := newPair(t, pa, pb, pairOpts{fake: true})
	sa, _ := establish(t, a, b)
	b.gate.mu.Lock()
	b.gate.drop = true
	b.gate.mu.Unlock()
	// ESP keeps arriving: no liveness check, the peer stays.
	for i := 0; i < 60; i++ {
		a.e.Usage(sa.InSPI, uint64(1000*(i+1)), 0)
		clk.Advance(time.Second)
		a.e.sync(func() {})
	}
	for _, ev := range a.rec.snapshot() {
		if ev.kind == "down" {
			t.Fatalf("peer declared dead despite traffic: %v", ev)
		}
	}
	if n := a.e.Stats()["tx"]; n > 3 {
		t.Fatalf("%d messages sent, want no DPD", n)
	}
}
