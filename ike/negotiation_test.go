package ike

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"ipsecgw/crypto"
	"ipsecgw/ike/keymat"
	"ipsecgw/ike/message"
	"ipsecgw/ike/ts"
	"ipsecgw/spd"
)

func TestCookieWhenHalfOpenThresholdReached(t *testing.T) {
	pa, pb := defaultPeers()
	// A template that lets anyone on 127/8 start IKE_SA_INIT with B.
	tmpl := &PeerConfig{Name: "dynamic", Remote: netip.MustParsePrefix("127.0.0.0/8"), LocalPSK: []byte("other"),
		Children: []*ChildConfig{{Name: "dyn 1", Proposals: []ChildProposal{gcm128()}}}}
	a, b, _ := newPair(t, pa, pb, pairOpts{configure: func(_, cb *Config) { cb.CookieThreshold = 1 }})
	if err := b.e.SetPeers([]*PeerConfig{pb, tmpl}); err != nil {
		t.Fatal(err)
	}
	// A half-open IKE SA from a client that never follows up.
	ke, _ := keymat.NewKeyExchange(keymat.ECP256, nil)
	m := &message.Message{Header: message.Header{SPIi: 0x1122334455667788, Exchange: message.IKE_SA_INIT, Flags: message.FlagInitiator}}
	m.Payloads = []message.Payload{&message.SA{Proposals: ikeOffer(DefaultIKEProposals(), nil)},
		&message.KE{Group: uint16(keymat.ECP256), Data: ke.Public()}, &message.Nonce{Data: randomBytes(32)}}
	raw, err := m.Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	b.e.Receive(netip.AddrPortFrom(b.addr, b.e.cfg.IKEPort), netip.MustParseAddrPort("127.0.0.3:500"), raw)
	for len(b.e.SAs()) != 1 {
		time.Sleep(time.Millisecond)
	}
	establish(t, a, b)
	if b.e.Stats()["cookie_sent"] == 0 || !strings.Contains(a.logs.String(), "responder asks for a cookie") {
		t.Fatalf("no cookie exchange: %v", b.e.Stats())
	}
}

func TestFragmentation(t *testing.T) {
	pa, pb := defaultPeers()
	for i := 2; i <= 12; i++ { // a long ACL makes a big IKE_AUTH
		pa.Children[0].Proposals = append(pa.Children[0].Proposals, cbc256sha256())
	}
	a, b, _ := newPair(t, pa, pb, pairOpts{configure: func(ca, cb *Config) { ca.FragmentSize, cb.FragmentSize = 300, 300 }})
	establish(t, a, b)
	if a.e.Stats()["fragmented_tx"] == 0 || b.e.Stats()["reassembled_rx"] == 0 {
		t.Fatalf("IKE_AUTH not fragmented: A %v B %v", a.e.Stats(), b.e.Stats())
	}
}

func TestTSUnacceptableExplains(t *testing.T) {
	pa, _ := defaultPeers()
	pb := sitePeer("to-a", "127.0.0.2", "127.0.0.1", aclLine(1, "10.2.2.0/24", "10.9.9.0/24"))
	a, b, _ := newPair(t, pa, pb, pairOpts{})
	var ia int
	a.e.Acquire(Acquire{Peer: pa.Name, Child: "vpn 10"})
	a.rec.wait(&ia, kind("up")) // the IKE SA itself is fine
	ev := a.rec.wait(&ia, kind("failed"))
	if !strings.Contains(ev.err.Error(), "TS_UNACCEPTABLE") {
		t.Fatalf("failure %v", ev.err)
	}
	want := "vpn 10 ACL 101 line 1 (permit ip 10.2.2.0/24 10.9.9.0/24): TSi 10.1.1.0/24 vs ACL destination 10.9.9.0/24: addresses do not overlap"
	if !strings.Contains(b.logs.String(), want) {
		t.Fatalf("B's log lacks %q:\n%s", want, b.logs.String())
	}
	checkFailure(t, a, Failure{SA: "child", Peer: "to-b", Child: "vpn 10", Remote: b.addr, Code: "TS_UNACCEPTABLE", ByPeer: true})
	checkFailure(t, b, Failure{SA: "child", Peer: "to-a", Remote: a.addr, Code: "TS_UNACCEPTABLE"})
}

// checkFailure checks n's last failure of want's SA kind and its count.
func checkFailure(t *testing.T, n *node, want Failure) {
	t.Helper()
	var last []Failure
	var counts []FailureCount
	var got Failure
	waitFor(t, n.name+" records the failure", func() bool {
		last, counts = n.e.Failures()
		for _, f := range last {
			if f.SA == want.SA {
				got = f
				return true
			}
		}
		return false
	})
	if got.SA != want.SA || got.Peer != want.Peer || got.Child != want.Child || got.Remote != want.Remote ||
		got.Code != want.Code || got.ByPeer != want.ByPeer || got.At.IsZero() || got.Detail == "" {
		t.Fatalf("%s: failures %+v, want %+v", n.name, last, want)
	}
	found := false
	for _, c := range counts {
		found = found || (c.SA == want.SA && c.Code == want.Code && c.N >= 1)
	}
	if !found {
		t.Fatalf("%s: failure counts %+v lack %s %s", n.name, counts, want.SA, want.Code)
	}
}

func TestNoProposalChosenRecorded(t *testing.T) {
	pa, pb := defaultPeers()
	pa.Children[0].Proposals = []ChildProposal{gcm128()}
	pb.Children[0].Proposals = []ChildProposal{cbc256sha256()}
	a, b, _ := newPair(t, pa, pb, pairOpts{})
	var ia int
	a.e.Acquire(Acquire{Peer: pa.Name, Child: "vpn 10"})
	a.rec.wait(&ia, kind("failed"))
	checkFailure(t, a, Failure{SA: "child", Peer: "to-b", Child: "vpn 10", Remote: b.addr, Code: "NO_PROPOSAL_CHOSEN", ByPeer: true})
	checkFailure(t, b, Failure{SA: "child", Peer: "to-a", Child: "vpn 10", Remote: a.addr, Code: "NO_PROPOSAL_CHOSEN"})
}

// match identity remote address: a peer identifying outside the profile's
// prefixes fails authentication at either end, with a log line saying so.
func TestRemoteAddressIdentityRequired(t *testing.T) {
	for _, end := range []string{"responder", "initiator"} {
		t.Run(end, func(t *testing.T) {
			pa, pb := defaultPeers()
			wrong := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
			if end == "responder" {
				pb.RemoteAddrIDs = wrong
			} else {
				pa.RemoteAddrIDs = wrong
			}
			a, b, _ := newPair(t, pa, pb, pairOpts{})
			var ia int
			a.e.Acquire(Acquire{Peer: pa.Name, Child: "vpn 10"})
			ev := a.rec.wait(&ia, kind("failed"))
			if !strings.Contains(ev.err.Error(), "AUTHENTICATION_FAILED") && !strings.Contains(ev.err.Error(), "identifies as") {
				t.Fatalf("failure: %v", ev.err)
			}
			checker, peer := b, a
			if end == "initiator" {
				checker, peer = a, b
			}
			if !strings.Contains(checker.logs.String(), "the peer's identity is not one the ikev2 profile matches") ||
				!strings.Contains(checker.logs.String(), "192.0.2.0/24") {
				t.Fatalf("%s's log:\n%s", checker.name, checker.logs.String())
			}
			checkFailure(t, checker, Failure{SA: "ike", Peer: checker.peer.Name, Remote: peer.addr, Code: "AUTHENTICATION_FAILED"})
			if len(a.e.SAs()) != 0 {
				waitFor(t, "no IKE SA", func() bool { return len(a.e.SAs()) == 0 })
			}
		})
	}
	// Inside the prefix: accepted.
	pa, pb := defaultPeers()
	pb.RemoteAddrIDs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/29")}
	pa.RemoteAddrIDs = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}
	a, b, _ := newPair(t, pa, pb, pairOpts{})
	establish(t, a, b)
}

func TestResponderNarrows(t *testing.T) {
	pa := sitePeer("to-b", "127.0.0.1", "127.0.0.2", aclLine(1, "10.1.0.0/16", "10.2.0.0/16"))
	_, pb := defaultPeers()
	a, b, _ := newPair(t, pa, pb, pairOpts{})
	sa, _ := establish(t, a, b)
	if got := ts.List(sa.LocalTS) + " === " + ts.List(sa.RemoteTS); got != "10.1.1.0/24 === 10.2.2.0/24" {
		t.Fatalf("installed %s", got)
	}
	if !strings.Contains(b.logs.String(), "TSi 10.1.0.0/16 is wider than 10.1.1.0/24") {
		t.Fatalf("no narrowing explanation:\n%s", b.logs.String())
	}
}

func TestPerHostAcquire(t *testing.T) {
	pa, pb := defaultPeers()
	pa.Children[0].PerHost = true
	a, b, _ := newPair(t, pa, pb, pairOpts{})
	var ia, ib int
	flow := &spd.Flow{Src: netip.MustParseAddr("10.1.1.5"), Dst: netip.MustParseAddr("10.2.2.7"), Proto: 6, SrcPort: 40000, DstPort: 443}
	a.e.Acquire(Acquire{Peer: pa.Name, Child: "vpn 10", Line: 1, Flow: flow})
	a.e.Acquire(Acquire{Peer: pa.Name, Child: "vpn 10", Line: 1, Flow: flow}) // a second packet: ignored
	sa := a.rec.wait(&ia, kind("out")).sa
	sb := b.rec.wait(&ib, kind("out")).sa
	checkPair(t, sa, sb)
	if got := ts.List(sa.LocalTS) + " === " + ts.List(sa.RemoteTS); got != "10.1.1.5 === 10.2.2.7" {
		t.Fatalf("per-host SA covers %s", got)
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(a.rec.active()); n != 1 {
		t.Fatalf("%d CHILD_SAs for one flow", n)
	}
}

func TestTransportModeAndCBC(t *testing.T) {
	pa, pb := defaultPeers()
	for _, p := range []*PeerConfig{pa, pb} {
		p.Children[0].Mode = ModeTransport
		p.Children[0].Proposals = []ChildProposal{cbc256sha256()}
		p.Children[0].ESN = true
	}
	a, b, _ := newPair(t, pa, pb, pairOpts{})
	sa, _ := establish(t, a, b)
	if sa.Mode != ModeTransport || sa.Transform.Cipher != crypto.CipherAESCBC || !sa.ESN || len(sa.InKeys.Integ) != 32 {
		t.Fatalf("got %v esn %v", sa, sa.ESN)
	}
}

func TestStaticEntryBeforeDynamicTemplate(t *testing.T) {
	pa, pb := defaultPeers()
	tmpl := &PeerConfig{Name: "dynamic", Remote: netip.MustParsePrefix("0.0.0.0/0"), LocalPSK: testPSK,
		Children: []*ChildConfig{{Name: "dyn 1", Map: "dyn", Seq: 1, Proposals: []ChildProposal{gcm128()}}}}
	a, b, _ := newPair(t, pa, pb, pairOpts{})
	if err := b.e.SetPeers([]*PeerConfig{tmpl, pb}); err != nil {
		t.Fatal(err)
	}
	_, sb := establish(t, a, b)
	if sb.Child != "vpn 10" || sb.Peer != "to-a" {
		t.Fatalf("static entry not preferred: %s via %s", sb.Child, sb.Peer)
	}

	// A peer B has no static entry for: the template accepts what it
	// proposes.
	other := sitePeer("to-b", "127.0.0.1", "127.0.0.2", aclLine(1, "10.7.0.0/16", "10.8.0.0/16"))
	other.Name = "to-b-2"
	a.e.SetPeers([]*PeerConfig{pa, other})
	if err := b.e.SetPeers([]*PeerConfig{tmpl}); err != nil {
		t.Fatal(err)
	}
	ib := len(b.rec.snapshot())
	a.e.ClearIKESAs(netip.Addr{})
	b.rec.wait(&ib, kind("down"))
	a.e.Acquire(Acquire{Peer: "to-b-2", Child: "vpn 10"})
	sb = b.rec.wait(&ib, kind("out")).sa
	if sb.Child != "dyn 1" || ts.List(sb.LocalTS) != "10.8.0.0/16" {
		t.Fatalf("template gave %v", sb)
	}
}

func TestInvalidKERetry(t *testing.T) {
	pa, pb := defaultPeers()
	pa.Proposals = []IKEProposal{{Name: "a", Encryption: []Encryption{{crypto.CipherAESCBC, 256}}, Integrity: []crypto.Integ{crypto.IntegHMACSHA256_128},
		Groups: []keymat.Group{keymat.ECP256, keymat.MODP2048}}}
	pb.Proposals = []IKEProposal{{Name: "b", Encryption: []Encryption{{crypto.CipherAESCBC, 256}}, Integrity: []crypto.Integ{crypto.IntegHMACSHA256_128},
		Groups: []keymat.Group{keymat.MODP2048}}}
	a, b, _ := newPair(t, pa, pb, pairOpts{})
	establish(t, a, b)
	if s := a.e.SAs()[0].Suite; s.DH != keymat.MODP2048 || s.PRF != keymat.PRFHMACSHA256 || s.Integ != crypto.IntegHMACSHA256_128 {
		t.Fatalf("suite %v", s)
	}
	if !strings.Contains(a.logs.String(), "responder asks for another DH group") {
		t.Fatal("no INVALID_KE_PAYLOAD round")
	}
}

func TestWrongPSK(t *testing.T) {
	pa, pb := defaultPeers()
	pb.LocalPSK = []byte("not the same key")
	a, b, _ := newPair(t, pa, pb, pairOpts{})
	var ia int
	a.e.Acquire(Acquire{Peer: pa.Name, Child: "vpn 10"})
	ev := a.rec.wait(&ia, kind("failed"))
	if !strings.Contains(ev.err.Error(), "AUTHENTICATION_FAILED") {
		t.Fatalf("failure: %v", ev.err)
	}
	if !strings.Contains(b.logs.String(), "verifies with the pre-shared key of none of [to-a]") {
		t.Fatalf("B's log:\n%s", b.logs.String())
	}
	checkFailure(t, a, Failure{SA: "ike", Peer: "to-b", Remote: b.addr, Code: "AUTHENTICATION_FAILED", ByPeer: true})
	checkFailure(t, b, Failure{SA: "ike", Peer: "to-a", Remote: a.addr, Code: "AUTHENTICATION_FAILED"})
	if strings.Contains(a.logs.String()+b.logs.String(), string(testPSK)) {
		t.Fatal("a pre-shared key reached the log")
	}
}

func TestLegacyGroupWarnsOnce(t *testing.T) {
	pa, pb := defaultPeers()
	legacy := []IKEProposal{{Name: "old", Encryption: []Encryption{{crypto.CipherAESCBC, 128}}, Integrity: []crypto.Integ{crypto.IntegHMACSHA1_96},
		Groups: []keymat.Group{keymat.MODP1024}}}
	pa.Proposals, pb.Proposals = legacy, legacy
	a, b, _ := newPair(t, pa, pb, pairOpts{})
	establish(t, a, b)
	ia := len(a.rec.snapshot())
	a.e.RekeyIKESA(a.e.SAs()[0].ID)
	a.rec.wait(&ia, kind("down"))
	if n := strings.Count(a.logs.String(), "legacy Diffie-Hellman group"); n != 1 {
		t.Fatalf("%d warnings", n)
	}
}

func TestDuplicateRequestAnsweredFromCache(t *testing.T) {
	pa, pb := defaultPeers()
	a, b, clk := newPair(t, pa, pb, pairOpts{fake: true})
	dropped := false // guarded by the gate's lock
	b.gate.filter = func(p []byte) bool {
		h, err := message.ParseHeader(p)
		if err == nil && h.Exchange == message.IKE_AUTH && h.Response() && !dropped {
			dropped = true
			return true
		}
		return false
	}
	var ia int
	a.e.Acquire(Acquire{Peer: pa.Name, Child: "vpn 10"})
	for b.e.Stats()["tx"] < 2 {
		time.Sleep(time.Millisecond)
	}
	a.e.sync(func() {}) // A has armed its retransmission timer
	clk.Advance(time.Second)
	a.rec.wait(&ia, kind("out"))
	if a.e.Stats()["retransmit"] != 1 || b.e.Stats()["duplicate_request"] != 1 {
		t.Fatalf("A %v\nB %v", a.e.Stats(), b.e.Stats())
	}
	if len(b.e.SAs()) != 1 || len(b.e.SAs()[0].Children) != 1 {
		t.Fatal("the duplicate made a second SA")
	}
}

func TestUnreachablePeerFailsAcquire(t *testing.T) {
	pa, pb := defaultPeers()
	a, b, clk := newPair(t, pa, pb, pairOpts{fake: true})
	b.gate.drop = true
	var ia int
	a.e.Acquire(Acquire{Peer: pa.Name, Child: "vpn 10"})
	for a.e.Stats()["tx"] < 1 {
		time.Sleep(time.Millisecond)
	}
	a.e.sync(func() {})
	for i := 0; i < 20; i++ {
		clk.Advance(500 * time.Millisecond)
		a.e.sync(func() {})
	}
	ev := a.rec.wait(&ia, kind("failed"))
	if !strings.Contains(ev.err.Error(), "unreachable") {
		t.Fatalf("failure %v", ev.err)
	}
	last, counts := a.e.Failures()
	if len(last) != 2 || last[0].Code != CodeTimeout || last[1].Code != CodeTimeout || len(counts) != 2 {
		t.Fatalf("failures %+v counts %+v", last, counts)
	}
	// 500 ms × 1.5^n: sent at 0, .5, 1.25, 2.375; given up at 4.06 s.
	if n := a.e.Stats()["retransmit"]; n != 3 {
		t.Fatalf("%d retransmissions", n)
	}
}

func TestAHTransformSet(t *testing.T) {
	pa, pb := defaultPeers()
	ah, err := ProposalFromTransformSet("ah-only", crypto.IntegHMACSHA256_128, crypto.Transform{})
	if err != nil {
		t.Fatal(err)
	}
	pa.Children[0].Proposals = []ChildProposal{ah}
	pb.Children[0].Proposals = []ChildProposal{gcm128(), ah}
	a, b, _ := newPair(t, pa, pb, pairOpts{})
	sa, _ := establish(t, a, b)
	if sa.Protocol != message.ProtoAH || sa.Transform != (crypto.Transform{Integ: crypto.IntegHMACSHA256_128}) || len(sa.InKeys.Integ) != 32 || sa.InKeys.Encr != nil {
		t.Fatalf("AH SA: %v", sa)
	}
}

func TestDPDOnDemand(t *testing.T) {
	pa, pb := defaultPeers()
	pa.DPD = DPD{Interval: 10 * time.Second, Retry: 2 * time.Second, Retries: 2, OnDemand: true}
	a, b, clk := newPair(t, pa, pb, pairOpts{fake: true})
	sa, _ := establish(t, a, b)
	b.gate.mu.Lock()
	b.gate.drop = true
	b.gate.mu.Unlock()
	step := func(n int) {
		for i := 0; i < n; i++ {
			clk.Advance(time.Second)
			a.e.sync(func() {})
		}
	}
	// Idle in both directions: on-demand DPD stays quiet.
	step(40)
	if a.e.Stats()["tx"] != 2 {
		t.Fatalf("liveness checks without outbound traffic: %v", a.e.Stats())
	}
	// Traffic goes out, nothing comes back: the peer is checked and found dead.
	ia := len(a.rec.snapshot())
	for i := 0; i < 30; i++ {
		a.e.Usage(sa.InSPI, 0, uint64(100*(i+1)))
		step(1)
	}
	if ev := a.rec.wait(&ia, kind("down")); ev.reason != ReasonPeerDead {
		t.Fatalf("down: %v", ev)
	}
	if st := a.e.Stats(); st["dpd_sent"] != 1 || st["dpd_peer_dead"] != 1 {
		t.Fatalf("DPD counted %v", st)
	}
}

// capture is a Transport that keeps what it is asked to send.
type capture struct {
	mu   sync.Mutex
	sent [][]byte
}

func (c *capture) Send(_, _ netip.AddrPort, b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, append([]byte(nil), b...))
	return nil
}

func TestUnsupportedCriticalPayload(t *testing.T) {
	out := &capture{}
	e, _ := New(Config{Transport: out, Installer: nopInstaller{}})
	e.peers = newPeerIndex([]*PeerConfig{{Name: "any", Remote: netip.MustParsePrefix("0.0.0.0/0"), LocalPSK: testPSK}})
	m := &message.Message{Header: message.Header{SPIi: 7, Exchange: message.IKE_SA_INIT, Flags: message.FlagInitiator}}
	m.Payloads = []message.Payload{&message.Nonce{Data: make([]byte, 32)}, &message.Unknown{PType: 222, Critical: true, Body: []byte{1, 2}}}
	b, _ := m.Encode(nil)
	e.receive(netip.MustParseAddrPort("192.0.2.1:500"), netip.MustParseAddrPort("192.0.2.2:500"), b)
	if len(out.sent) != 1 {
		t.Fatalf("%d answers", len(out.sent))
	}
	resp, err := message.Parse(out.sent[0])
	if err != nil {
		t.Fatal(err)
	}
	n := resp.Notify(message.UNSUPPORTED_CRITICAL_PAYLOAD)
	if n == nil || len(n.Data) != 1 || n.Data[0] != 222 || !resp.Response() || resp.SPIi != 7 {
		t.Fatalf("answer %v", resp)
	}
	if e.Stats()["drop_decode_unsupported-critical"] != 1 || len(e.sas) != 0 {
		t.Fatalf("stats %v, %d SAs", e.Stats(), len(e.sas))
	}
}

func TestSecretsDoNotPrint(t *testing.T) {
	p := &PeerConfig{Name: "x", LocalPSK: Secret("hunter2"), RemotePSK: Secret("hunter3")}
	sa := &ChildSA{InKeys: Keys{Encr: []byte("k1k1k1k1"), Integ: []byte("i1i1i1i1")}}
	var buf strings.Builder
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "peer", p.LocalPSK, "keys", sa.InKeys, "sa", sa)
	for _, s := range []string{fmt.Sprintf("%v %+v %#v %s %x", p, *p, p, p.LocalPSK, p.RemotePSK), fmt.Sprintf("%v %+v %x", *sa, sa.InKeys, sa.InKeys), buf.String()} {
		for _, secret := range []string{"hunter", "k1k1", "i1i1", "68756e746572", "6b316b31"} {
			if strings.Contains(s, secret) {
				t.Fatalf("secret %q printed in %q", secret, s)
			}
		}
	}
}
