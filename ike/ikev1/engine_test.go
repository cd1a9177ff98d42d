package ikev1

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"ipsecgw/crypto"
	"ipsecgw/ike"
	"ipsecgw/ike/keymat"
	"ipsecgw/ike/message"
)

func TestMainModeQuickMode(t *testing.T) {
	pa, pb := defaultPeers()
	a, b := newPair(t, pa, pb, nil)
	sa, _ := establish(t, a, b, 1)
	s := sa[0]
	if s.Protocol != message.ProtoESP || s.Transform != setAES256SHA.ESP || s.Mode != ike.ModeTunnel || s.Encap || s.PFS != 0 {
		t.Errorf("negotiated %v", s)
	}
	if got := s.LocalTS[0].String() + " " + s.RemoteTS[0].String(); !contains(got, "10.1.1.0/24") || !contains(got, "10.2.2.0/24") {
		t.Errorf("proxy IDs %s", got)
	}
	for _, n := range []*node{a, b} {
		sas := n.e.SAs()
		if len(sas) != 1 || sas[0].State != "QM_IDLE" || sas[0].Status != "ACTIVE" || sas[0].Policy.Priority != 10 {
			t.Errorf("%s: show crypto isakmp sa: %+v", n.name, sas)
		}
		if st := n.e.Stats(); st["isakmp_sa_up"] != 1 || st["ipsec_sa_up"] != 1 {
			t.Errorf("%s: stats %v", n.name, st)
		}
	}
	if sas := a.e.SAs(); sas[0].Dst.Addr() != netip.MustParseAddr("127.0.0.2") || !sas[0].Initiator {
		t.Errorf("A's view %+v", sas[0])
	}
	// A second acquire reuses the ISAKMP SA: quick mode only.
	a.e.Acquire(ike.Acquire{Peer: pa.Name, Child: pa.Children[0].Name})
	if ev := a.rec.wait(&a.ev, kind("out")); ev.sa.InSPI == sa[0].InSPI || ev.old != nil {
		t.Errorf("second quick mode: %v", ev)
	}
	if n := len(a.e.SAs()); n != 1 {
		t.Errorf("%d ISAKMP SAs after a second quick mode", n)
	}
}

func TestPFSAndPolicyChoice(t *testing.T) {
	pa, pb := defaultPeers(setGCM128)
	pa.Children[0].PFS, pb.Children[0].PFS = keymat.ECP256, keymat.ECP256
	// B only has the 3DES policy: A's second choice wins.
	pb.Policies = pb.Policies[1:]
	a, b := newPair(t, pa, pb, nil)
	sa, _ := establish(t, a, b, 1)
	if sa[0].PFS != keymat.ECP256 || sa[0].Transform.Cipher != crypto.CipherAESGCM16 {
		t.Errorf("negotiated %v PFS %v", sa[0], sa[0].PFS)
	}
	if p := a.e.SAs()[0].Policy; p.Cipher != crypto.Cipher3DES || p.Group != keymat.MODP1024 {
		t.Errorf("policy %v", p)
	}
}

func TestPFSMismatch(t *testing.T) {
	pa, pb := defaultPeers()
	pb.Children[0].PFS = keymat.MODP2048
	a, b := newPair(t, pa, pb, nil)
	var ia int
	a.e.Acquire(ike.Acquire{Peer: pa.Name, Child: pa.Children[0].Name})
	a.rec.wait(&ia, kind("failed"))
	if !contains(b.logs.String(), "no transform set of the entry matches") {
		t.Error("responder did not log the proposal mismatch")
	}
	checkFailure(t, a, ike.Failure{SA: "child", Peer: "to-b", Child: "vpn 10", Remote: addrB, Code: "NO_PROPOSAL_CHOSEN", ByPeer: true})
	checkFailure(t, b, ike.Failure{SA: "child", Peer: "to-a", Child: "vpn 10", Remote: addrA, Code: "NO_PROPOSAL_CHOSEN"})
}

// TestAHESPBundle: an AH+ESP transform set is negotiated as one proposal
// of two protocols, and each end's Installer gets both SA pairs as one
// IPsecSA (matching SPIs and keys end to end), which is rekeyed, by a
// lifetime event of either pair, and deleted as one unit.
func TestAHESPBundle(t *testing.T) {
	pa, pb := defaultPeers(setAHESP)
	a, b := newPair(t, pa, pb, nil)
	sa, sb := establish(t, a, b, 2) // checkPair: each pair's SPIs and keys agree
	if sa[0].Protocol != message.ProtoESP || sa[0].Transform != setAHESP.ESP ||
		sa[1].Protocol != message.ProtoAH || sa[1].Transform != (crypto.Transform{Integ: crypto.IntegHMACSHA256_128}) {
		t.Fatalf("bundle %v + %v", sa[0], sa[1])
	}
	if sa[0].InSPI == sa[1].InSPI || bytes.Equal(sa[0].InKeys.Integ, sa[1].InKeys.Integ) {
		t.Error("the bundle's pairs share an SPI or a key")
	}
	if sa[0].Mode != sa[1].Mode || sa[0].HardSeconds != sa[1].HardSeconds || sa[0].HardKilobytes != sa[1].HardKilobytes ||
		sa[0].LocalTS[0] != sa[1].LocalTS[0] || sa[0].RemoteTS[0] != sa[1].RemoteTS[0] {
		t.Errorf("the bundle's pairs differ in mode, lifetime or proxy IDs: %v / %v", sa[0], sa[1])
	}
	for _, n := range []*node{a, b} {
		for _, ev := range n.rec.snapshot() {
			if (ev.kind == "in" || ev.kind == "out") && (ev.ipsec.ESP == nil || ev.ipsec.AH == nil) {
				t.Errorf("%s: %v without both pairs", n.name, ev)
			}
		}
		if got := len(n.e.IPsecSAs()); got != 2 {
			t.Errorf("%s: show lists %d SAs of the bundle, want 2", n.name, got)
		}
	}

	// The AH pair's soft lifetime rekeys the bundle: the successor holds
	// both pairs and replaces the old bundle whole, at both ends.
	a.e.SoftExpire(sa[1].InSPI)
	isRekey := func(ev event) bool { return ev.kind == "out" && ev.prev != nil }
	na, nb := a.rec.wait(&a.ev, isRekey), b.rec.wait(&b.ev, isRekey)
	if na.prev.ESP != sa[0] || na.prev.AH != sa[1] || nb.prev.ESP != sb[0] || nb.prev.AH != sb[1] {
		t.Fatalf("rekey replaced %v / %v", na.prev, nb.prev)
	}
	next := na.ipsec.SAs()
	if len(next) != 2 || len(nb.ipsec.SAs()) != 2 || next[0].InSPI == sa[0].InSPI || next[1].InSPI == sa[1].InSPI {
		t.Fatalf("successor %v", na.ipsec)
	}
	for i := range next {
		checkPair(t, next[i], nb.ipsec.SAs()[i])
	}
	for _, n := range []*node{a, b} {
		old := na.prev
		if n == b {
			old = nb.prev
		}
		if ev := n.rec.wait(&n.ev, kind("remove")); ev.ipsec != old || ev.reason != ike.ReasonRekeyed {
			t.Errorf("%s: %v, want the old bundle removed as rekeyed", n.name, ev)
		}
	}

	// Deleting by the ESP pair's SPI deletes the bundle, with the peer too.
	b.e.DeleteChildSA(nb.ipsec.ESP.InSPI)
	if ev := b.rec.wait(&b.ev, kind("remove")); ev.ipsec != nb.ipsec || ev.reason != ike.ReasonCleared {
		t.Errorf("B: %v", ev)
	}
	if ev := a.rec.wait(&a.ev, kind("remove")); ev.ipsec != na.ipsec || ev.reason != ike.ReasonDeletedByPeer {
		t.Errorf("A: %v", ev)
	}
	a.e.sync(func() {})
	if n := len(a.e.IPsecSAs()) + len(b.e.IPsecSAs()); n != 0 {
		t.Errorf("%d SAs left after the delete", n)
	}
}

func TestProxyIDMismatch(t *testing.T) {
	pa := sitePeer("to-b", "127.0.0.1", "127.0.0.2", []TransformSet{setAES256SHA}, aclLine(1, "10.1.1.0/24", "10.2.2.0/24"))
	pb := sitePeer("to-a", "127.0.0.2", "127.0.0.1", []TransformSet{setAES256SHA}, aclLine(1, "10.2.2.0/24", "10.1.9.0/24"))
	a, b := newPair(t, pa, pb, nil)
	var ia int
	a.e.Acquire(ike.Acquire{Peer: pa.Name, Child: pa.Children[0].Name})
	ev := a.rec.wait(&ia, kind("failed"))
	if !contains(ev.err.Error(), "INVALID_ID_INFORMATION") {
		t.Errorf("initiator failure: %v", ev.err)
	}
	log := b.logs.String()
	if !contains(log, "proxy identities not supported") || !contains(log, "101 line 1 (permit ip 10.2.2.0/24 10.1.9.0/24)") ||
		!contains(log, "ACL destination") || !contains(log, "addresses do not overlap") {
		t.Errorf("responder log does not say which line failed and why:\n%s", log)
	}
	// The responder refused before an entry held the proxy IDs.
	checkFailure(t, a, ike.Failure{SA: "child", Peer: "to-b", Child: "vpn 10", Remote: addrB, Code: "INVALID_ID_INFORMATION", ByPeer: true})
	checkFailure(t, b, ike.Failure{SA: "child", Peer: "to-a", Remote: addrA, Code: "INVALID_ID_INFORMATION", Detail: "no crypto ACL permits"})
}

func TestWrongPSK(t *testing.T) {
	pa, pb := defaultPeers()
	pb.PSK = ike.Secret("something else")
	a, b := newPair(t, pa, pb, fastRetransmit)
	var ia int
	a.e.Acquire(ike.Acquire{Peer: pa.Name, Child: pa.Children[0].Name})
	a.rec.wait(&ia, kind("failed"))
	if !contains(b.logs.String(), "pre-shared key") {
		t.Error("responder does not point at the pre-shared key")
	}
	// The responder cannot decrypt message 5; the initiator hears nothing
	// more after message 4, and says what that usually means.
	fb := checkFailure(t, b, ike.Failure{SA: "ike", Peer: "to-a", Remote: addrA, Code: "AUTHENTICATION_FAILED", Detail: "pre-shared keys differ"})
	fa := checkFailure(t, a, ike.Failure{SA: "ike", Peer: "to-b", Remote: addrB, Code: ike.CodeTimeout, Detail: "pre-shared keys differ?"})
	checkFailure(t, a, ike.Failure{SA: "child", Peer: "to-b", Child: "vpn 10", Remote: addrB, Code: ike.CodeTimeout})
	for _, s := range []string{a.logs.String(), b.logs.String(), fa.Detail, fb.Detail} {
		if contains(s, string(testPSK)) || contains(s, "something else") {
			t.Error("a pre-shared key reached a log or a failure")
		}
	}
}

func TestDeleteBothWays(t *testing.T) {
	pa, pb := defaultPeers()
	a, b := newPair(t, pa, pb, nil)
	sa, _ := establish(t, a, b, 1)
	// A clears its SA: B hears the Delete.
	a.e.DeleteChildSA(sa[0].InSPI)
	if ev := b.rec.wait(&b.ev, kind("remove")); ev.reason != ike.ReasonDeletedByPeer || ev.sa.OutSPI != sa[0].InSPI {
		t.Errorf("B removed %v", ev)
	}
	a.rec.wait(&a.ev, kind("remove"))
	// A new one, cleared from B's side.
	sa, _ = establish(t, a, b, 1)
	b.e.ClearChildSAs(netip.Addr{})
	if ev := a.rec.wait(&a.ev, kind("remove")); ev.reason != ike.ReasonDeletedByPeer || ev.sa.InSPI != sa[0].InSPI {
		t.Errorf("A removed %v", ev)
	}
	// ISAKMP SA delete from B.
	b.e.ClearISAKMPSAs(netip.Addr{})
	if ev := a.rec.wait(&a.ev, kind("down")); ev.reason != ike.ReasonDeletedByPeer {
		t.Errorf("A's ISAKMP SA down with %v", ev.reason)
	}
	if len(a.e.SAs()) != 0 || len(b.e.SAs()) != 0 {
		t.Errorf("ISAKMP SAs left: %v %v", a.e.SAs(), b.e.SAs())
	}
}

func TestDPDSilentPeer(t *testing.T) {
	pa, pb := defaultPeers()
	pa.DPD = ike.DPD{Interval: 500 * time.Millisecond, Retry: 100 * time.Millisecond, Retries: 2}
	a, b := newPair(t, pa, pb, nil)
	establish(t, a, b, 1)
	// B (without keepalives configured) answers R-U-THERE while alive.
	time.Sleep(1200 * time.Millisecond)
	if a.e.Stats()["dpd_sent"] == 0 {
		t.Error("no DPD sent while idle")
	}
	if len(a.e.SAs()) != 1 {
		t.Fatal("ISAKMP SA lost while the peer answered")
	}
	b.gate.closed.Store(true)
	var ia int
	if ev := a.rec.wait(&ia, func(ev event) bool { return ev.kind == "remove" }); ev.reason != ike.ReasonPeerDead {
		t.Errorf("removed with %v", ev.reason)
	}
	if ev := a.rec.wait(&ia, kind("down")); ev.reason != ike.ReasonPeerDead {
		t.Errorf("ISAKMP SA down with %v", ev.reason)
	}
}

func TestRekeyIPsecSA(t *testing.T) {
	pa, pb := defaultPeers()
	pa.Children[0].Lifetime.Seconds = 3 * time.Second
	pb.Children[0].Lifetime.Seconds = 3 * time.Second
	a, b := newPair(t, pa, pb, nil)
	sa, _ := establish(t, a, b, 1)
	var ia, ib int
	// The initiator rekeys first (85-90%): new SA replaces the old one,
	// then the old one goes.
	ev := a.rec.wait(&ia, func(ev event) bool { return ev.kind == "out" && ev.sa.InSPI != sa[0].InSPI })
	if ev.old == nil || ev.old.InSPI != sa[0].InSPI {
		t.Fatalf("rekeyed SA replaces %v", ev.old)
	}
	if ev := a.rec.wait(&ia, kind("remove")); ev.sa.InSPI != sa[0].InSPI || ev.reason != ike.ReasonRekeyed {
		t.Errorf("A removed %v", ev)
	}
	if ev := b.rec.wait(&ib, func(ev event) bool { return ev.kind == "out" && ev.old != nil }); ev.old.OutSPI != sa[0].InSPI {
		t.Errorf("B's switch %v", ev)
	}
	if ev := b.rec.wait(&ib, kind("remove")); ev.sa.OutSPI != sa[0].InSPI || ev.reason != ike.ReasonRekeyed {
		t.Errorf("B removed %v", ev)
	}
}

func TestRekeyISAKMPSA(t *testing.T) {
	pa, pb := defaultPeers()
	a, b := newPair(t, pa, pb, nil)
	establish(t, a, b, 1)
	old := a.e.SAs()[0].ConnID
	a.e.RekeyISAKMPSA(old)
	var ia, ib int
	a.rec.wait(&ia, kind("up"))
	if ev := a.rec.wait(&ia, kind("up")); ev.ike.RekeyOf != old {
		t.Errorf("new ISAKMP SA replaces %d, want %d", ev.ike.RekeyOf, old)
	}
	if ev := a.rec.wait(&ia, kind("down")); ev.ike.ID != old || ev.reason != ike.ReasonRekeyed {
		t.Errorf("down %v", ev)
	}
	b.rec.wait(&ib, kind("down"))
	// The IPsec SA survived and quick mode runs over the new SA.
	a.e.Acquire(ike.Acquire{Peer: pa.Name, Child: pa.Children[0].Name})
	a.rec.wait(&ia, kind("out"))
	if len(a.e.SAs()) != 1 || len(b.e.SAs()) != 1 {
		t.Errorf("SAs: %v / %v", a.e.SAs(), b.e.SAs())
	}
}

// TestLostMessages loses the first copy of main mode 1 and 5 and quick
// mode 3 from A, and of main mode 2 and 6 and quick mode 2 from B:
// initiator retransmissions, the responder's quick mode 2 retransmission
// and answers to duplicates recover every one.
func TestLostMessages(t *testing.T) {
	pa, pb := defaultPeers()
	// Distinct datagrams: A sends MM1 MM3 MM5 QM1 QM3, B MM2 MM4 MM6 QM2.
	a, b := newLossyPair(t, pa, pb, nil, map[int]bool{1: true, 3: true, 5: true}, map[int]bool{1: true, 3: true, 4: true})
	establish(t, a, b, 1)
	sa, sb := a.e.Stats(), b.e.Stats()
	if sa["retransmit"] < 3 || sb["retransmit"] < 1 || sa["duplicate_rx"] < 1 || sb["duplicate_rx"] < 2 {
		t.Errorf("stats A %v B %v", sa, sb)
	}
}

// TestDynamicResponder: a dynamic map template (any peer in 127.0.0.0/8,
// no ACL) accepts what the initiator proposes.
func TestDynamicResponder(t *testing.T) {
	pa, pb := defaultPeers()
	pb.Name, pb.Local, pb.Remote = "dyn", netip.Addr{}, netip.MustParsePrefix("127.0.0.0/8")
	pb.Children[0].Lines, pb.Children[0].ACL = nil, ""
	a, b := newPair(t, pa, pb, nil)
	_, sb := establish(t, a, b, 1)
	if sb[0].Peer != "dyn" || sb[0].LocalTS[0].String() != "10.2.2.0/24" {
		t.Errorf("template SA %v", sb[0])
	}
}

// TestResponderLifetime: a responder with shorter lifetimes imposes them
// with RESPONDER-LIFETIME.
func TestResponderLifetime(t *testing.T) {
	pa, pb := defaultPeers()
	pb.Children[0].Lifetime = ike.Lifetime{Seconds: 1200 * time.Second, Kilobytes: 100000}
	a, b := newPair(t, pa, pb, nil)
	sa, sb := establish(t, a, b, 1)
	for _, s := range []*ike.ChildSA{sa[0], sb[0]} {
		if s.HardSeconds != 1200*time.Second || s.HardKilobytes != 100000 {
			t.Errorf("lifetime %v %d KB", s.HardSeconds, s.HardKilobytes)
		}
	}
}

// TestNoProposalChosen: without a common ISAKMP policy the responder
// refuses message 1 and the initiator gives up at once.
func TestNoProposalChosen(t *testing.T) {
	pa, pb := defaultPeers()
	pa.Policies = pa.Policies[:1]
	pb.Policies = pb.Policies[1:]
	a, b := newPair(t, pa, pb, nil)
	start := time.Now()
	a.e.Acquire(ike.Acquire{Peer: pa.Name, Child: pa.Children[0].Name})
	ev := a.rec.wait(&a.ev, kind("failed"))
	if !contains(a.logs.String(), "NO_PROPOSAL_CHOSEN") || time.Since(start) > time.Second {
		t.Errorf("initiator failed with %v after %v", ev.err, time.Since(start))
	}
	if !contains(b.logs.String(), "no ISAKMP policy matches") {
		t.Error("responder did not log the policy mismatch")
	}
	checkFailure(t, a, ike.Failure{SA: "ike", Peer: "to-b", Remote: addrB, Code: "NO_PROPOSAL_CHOSEN", ByPeer: true})
	checkFailure(t, a, ike.Failure{SA: "child", Peer: "to-b", Child: "vpn 10", Remote: addrB, Code: "NO_PROPOSAL_CHOSEN", ByPeer: true})
	checkFailure(t, b, ike.Failure{SA: "ike", Peer: "to-a", Remote: addrA, Code: "NO_PROPOSAL_CHOSEN", Detail: "no ISAKMP policy matches"})
}

// TestDPDOnDemand: on-demand DPD stays quiet while no traffic goes to the
// peer, and checks once outbound traffic gets no answer.
func TestDPDOnDemand(t *testing.T) {
	pa, pb := defaultPeers()
	pa.DPD = ike.DPD{Interval: 300 * time.Millisecond, Retry: 100 * time.Millisecond, Retries: 2, OnDemand: true}
	a, b := newPair(t, pa, pb, nil)
	sa, _ := establish(t, a, b, 1)
	time.Sleep(800 * time.Millisecond)
	if n := a.e.Stats()["dpd_sent"]; n != 0 {
		t.Fatalf("%d DPD messages without traffic", n)
	}
	b.gate.closed.Store(true)
	a.e.Usage(sa[0].InSPI, 0, 1500)
	if ev := a.rec.wait(&a.ev, kind("remove")); ev.reason != ike.ReasonPeerDead {
		t.Errorf("removed with %v", ev.reason)
	}
	if a.e.Stats()["dpd_sent"] == 0 {
		t.Error("no DPD sent")
	}
}

// natTransport is a source NAT in front of an engine: it believes its
// address is inside, the world sees outside.
type natTransport struct {
	next            ike.Transport
	inside, outside netip.Addr
}

func (n natTransport) Send(local, remote netip.AddrPort, b []byte) error {
	if local.Addr() == n.inside {
		local = netip.AddrPortFrom(n.outside, local.Port())
	}
	return n.next.Send(local, remote, b)
}

// TestNATTraversal: A thinks it is 127.0.0.3 behind a NAT that makes it
// 127.0.0.1. NAT-D shows both sides the NAT, main mode floats to the NAT-T
// port at message 5, the IPsec SA is UDP-encapsulated and A sends NAT
// keepalives.
func TestNATTraversal(t *testing.T) {
	pa, pb := defaultPeers()
	pa.Local = netip.MustParseAddr("127.0.0.3")
	a, b := newPair(t, pa, pb, func(name string, c *Config) {
		c.NATKeepalive = 100 * time.Millisecond
		if name == "A" {
			c.Transport = natTransport{next: c.Transport, inside: netip.MustParseAddr("127.0.0.3"), outside: netip.MustParseAddr("127.0.0.1")}
		}
	})
	sa, sb := establish(t, a, b, 1)
	for _, s := range []*ike.ChildSA{sa[0], sb[0]} {
		if !s.Encap || s.RemotePort != s.LocalPort || s.LocalPort != a.e.cfg.NATTPort {
			t.Errorf("%v: encap %v ports %d-%d", s, s.Encap, s.LocalPort, s.RemotePort)
		}
	}
	ia, ib := a.e.SAs()[0], b.e.SAs()[0]
	if !ia.NAT || !ib.NAT || ia.Dst.Port() != a.e.cfg.NATTPort || ib.Dst.Port() != a.e.cfg.NATTPort {
		t.Errorf("ISAKMP SAs %+v / %+v", ia, ib)
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.e.Stats()["rx_keepalive"] == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no NAT keepalive arrived")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNATTraversalAH: AH cannot cross a NAT (it authenticates the
// addresses the NAT rewrites, and RFC 3948 puts only ESP in UDP). Across
// one, the initiator offers only its sets without AH, and fails plainly
// when every set has AH; a responder refuses AH in UDP.
func TestNATTraversalAH(t *testing.T) {
	natted := func(name string, c *Config) {
		if name == "A" {
			c.Transport = natTransport{next: c.Transport, inside: netip.MustParseAddr("127.0.0.3"), outside: netip.MustParseAddr("127.0.0.1")}
		}
	}
	pa, pb := defaultPeers(setAHESP, setAES256SHA)
	pa.Local = netip.MustParseAddr("127.0.0.3")
	a, b := newPair(t, pa, pb, natted)
	sa, _ := establish(t, a, b, 1)
	if sa[0].Protocol != message.ProtoESP || sa[0].Transform != setAES256SHA.ESP || !sa[0].Encap {
		t.Errorf("negotiated across the NAT: %v encap %v", sa[0], sa[0].Encap)
	}
	onlyAH := sitePeer("to-b", "127.0.0.3", "127.0.0.2", []TransformSet{setAHESP}, aclLine(1, "10.1.1.0/24", "10.2.2.0/24"))
	if err := a.e.SetPeers([]*PeerConfig{onlyAH}); err != nil {
		t.Fatal(err)
	}
	a.e.Acquire(ike.Acquire{Peer: onlyAH.Name, Child: onlyAH.Children[0].Name})
	if ev := a.rec.wait(&a.ev, kind("failed")); !contains(ev.err.Error(), "uses AH, which cannot cross the NAT") {
		t.Errorf("acquire with only AH sets across a NAT: %v", ev.err)
	}
	checkFailure(t, a, ike.Failure{SA: "child", Peer: "to-b", Child: "vpn 10", Remote: addrB, Code: "NO_PROPOSAL_CHOSEN", Detail: "cannot cross the NAT"})

	for _, udp := range []bool{false, true} {
		offer := phase2SA([]TransformSet{setAHESP}, phase2Params{mode: ike.ModeTunnel, udp: udp, lifetime: ike.Lifetime{Seconds: time.Hour}}, 1000, 1001)
		_, _, ok := matchSet(setAHESP, bundles(offer)[0], phase2Params{mode: ike.ModeTunnel}, func(keymat.Group) bool { return true })
		if ok == udp {
			t.Errorf("AH+ESP offer, UDP-encapsulated %v: accepted %v", udp, ok)
		}
	}
}

// TestKilobyteExpiry: the fast path's soft kilobyte limit rekeys the SA,
// the hard one deletes it with the peer.
func TestKilobyteExpiry(t *testing.T) {
	pa, pb := defaultPeers()
	a, b := newPair(t, pa, pb, nil)
	sa, _ := establish(t, a, b, 1)
	a.e.SoftExpire(sa[0].InSPI)
	ev := a.rec.wait(&a.ev, func(ev event) bool { return ev.kind == "out" && ev.old != nil })
	if ev.old.InSPI != sa[0].InSPI {
		t.Fatalf("rekey replaced %v", ev.old)
	}
	next := ev.sa
	b.e.HardExpire(b.rec.wait(&b.ev, func(ev event) bool { return ev.kind == "out" && ev.old != nil }).sa.InSPI)
	if ev := a.rec.wait(&a.ev, func(ev event) bool { return ev.kind == "remove" && ev.sa.InSPI == next.InSPI }); ev.reason != ike.ReasonDeletedByPeer {
		t.Errorf("A removed the rekeyed SA with %v", ev.reason)
	}
	if ev := b.rec.wait(&b.ev, func(ev event) bool { return ev.kind == "remove" && ev.sa.OutSPI == next.InSPI }); ev.reason != ike.ReasonExpired {
		t.Errorf("B removed it with %v", ev.reason)
	}
}

// TestSimultaneousInitiation: both ends acquire at once. Each main mode
// and quick mode completes (IKEv1 has no collision handling: two ISAKMP
// SAs and two IPsec SAs may result, each consistent on both ends).
func TestSimultaneousInitiation(t *testing.T) {
	pa, pb := defaultPeers()
	a, b := newPair(t, pa, pb, nil)
	a.e.Acquire(ike.Acquire{Peer: pa.Name, Child: pa.Children[0].Name})
	b.e.Acquire(ike.Acquire{Peer: pb.Name, Child: pb.Children[0].Name})
	for i := 0; i < 2; i++ {
		a.rec.wait(&a.ev, kind("out"))
		b.rec.wait(&b.ev, kind("out"))
	}
	in := map[uint32]*ike.ChildSA{}
	for _, ev := range b.rec.snapshot() {
		if ev.kind == "out" {
			in[ev.sa.OutSPI] = ev.sa
		}
	}
	for _, ev := range a.rec.snapshot() {
		if ev.kind == "failed" {
			t.Errorf("A: %v", ev)
		}
		if ev.kind == "out" {
			if other := in[ev.sa.InSPI]; other == nil {
				t.Errorf("A's SA %v has no match at B", ev.sa)
			} else {
				checkPair(t, ev.sa, other)
			}
		}
	}
}

// TestInitialContact: a peer that restarts (a new engine, same address)
// sends INITIAL-CONTACT; the survivor drops the SAs it had with the old
// incarnation.
func TestInitialContact(t *testing.T) {
	pa, pb := defaultPeers()
	a, b := newPair(t, pa, pb, nil)
	sa, _ := establish(t, a, b, 1)
	// A "restarts": it forgets its SAs without telling B.
	a.e.sync(func() {
		for _, c := range a.e.sortedChildren() {
			a.e.forget(c)
		}
		for _, s := range a.e.sortedSAs() {
			s.destroy(ike.ReasonShutdown)
		}
	})
	a.e.Acquire(ike.Acquire{Peer: pa.Name, Child: pa.Children[0].Name})
	if ev := b.rec.wait(&b.ev, kind("down")); ev.reason != ike.ReasonReplaced {
		t.Errorf("B's old ISAKMP SA down with %v", ev.reason)
	}
	if ev := b.rec.wait(&b.ev, kind("remove")); ev.reason != ike.ReasonReplaced || ev.sa.OutSPI != sa[0].InSPI {
		t.Errorf("B removed %v", ev)
	}
	b.rec.wait(&b.ev, kind("out"))
}

// TestDefaultPolicies: without crypto isakmp policy both ends use the
// default suites, the first one winning.
func TestDefaultPolicies(t *testing.T) {
	pa, pb := defaultPeers()
	pa.Policies, pb.Policies = nil, nil
	a, b := newPair(t, pa, pb, nil)
	establish(t, a, b, 1)
	if got, want := a.e.SAs()[0].Policy, DefaultPolicies()[0]; got.Priority != want.Priority || !sameSuite(got, want) {
		t.Errorf("policy %v, want %v", got, want)
	}
}
