package ikev1

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ipsecgw/crypto"
	"ipsecgw/ike"
	"ipsecgw/ike/udp"
	"ipsecgw/spd"
)

// event is one Installer call.
type event struct {
	kind        string // in, out, remove, up, down, failed
	ipsec, prev *IPsecSA
	// sa and old are ipsec's and prev's Traffic pairs.
	sa, old *ike.ChildSA
	ike     *ike.IKESAInfo
	reason  ike.Reason
	err     error
}

func ipsecEvent(kind string, sa, prev *IPsecSA) event {
	ev := event{kind: kind, ipsec: sa, prev: prev, sa: sa.Traffic()}
	if prev != nil {
		ev.old = prev.Traffic()
	}
	return ev
}

func (ev event) String() string {
	switch ev.kind {
	case "in", "out", "remove":
		var s string
		for _, c := range ev.ipsec.SAs() {
			s += fmt.Sprintf(" %v %08x/%08x", c.Protocol, c.InSPI, c.OutSPI)
		}
		s = ev.kind + s
		if ev.old != nil {
			s += fmt.Sprintf(" replacing %08x", ev.old.InSPI)
		}
		if ev.kind == "remove" {
			s += " " + ev.reason.String()
		}
		return s
	case "up", "down":
		return fmt.Sprintf("isakmp-%s %d %s", ev.kind, ev.ike.ID, ev.reason)
	}
	return fmt.Sprintf("%s %v", ev.kind, ev.err)
}

// recorder is the test Installer; it checks make-before-break order and
// that every pair of an IPsec SA comes in one call.
type recorder struct {
	t       *testing.T
	name    string
	mu      sync.Mutex
	events  []event
	inbound map[uint32]*IPsecSA // by every inbound SPI
	notify  chan struct{}
}

func newRecorder(t *testing.T, name string) *recorder {
	return &recorder{t: t, name: name, inbound: map[uint32]*IPsecSA{}, notify: make(chan struct{}, 1)}
}

func (r *recorder) add(ev event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *recorder) InstallInbound(sa *IPsecSA) error {
	r.mu.Lock()
	for _, c := range sa.SAs() {
		r.inbound[c.InSPI] = sa
	}
	r.mu.Unlock()
	r.add(ipsecEvent("in", sa, nil))
	return nil
}

func (r *recorder) InstallOutbound(sa, old *IPsecSA) error {
	r.mu.Lock()
	ok := true
	for _, c := range sa.SAs() {
		ok = ok && r.inbound[c.InSPI] == sa
	}
	r.mu.Unlock()
	if !ok {
		r.t.Errorf("%s: outbound %v before its inbound half", r.name, sa)
	}
	r.add(ipsecEvent("out", sa, old))
	return nil
}

func (r *recorder) RemoveIPsecSA(sa *IPsecSA, why ike.Reason) {
	r.mu.Lock()
	for _, c := range sa.SAs() {
		delete(r.inbound, c.InSPI)
	}
	r.mu.Unlock()
	ev := ipsecEvent("remove", sa, nil)
	ev.reason = why
	r.add(ev)
}

func (r *recorder) IKESAUp(sa *ike.IKESAInfo) { r.add(event{kind: "up", ike: sa}) }
func (r *recorder) IKESADown(sa *ike.IKESAInfo, w ike.Reason) {
	r.add(event{kind: "down", ike: sa, reason: w})
}
func (r *recorder) AcquireFailed(a ike.Acquire, err error) { r.add(event{kind: "failed", err: err}) }

// wait returns the first event after *from that matches, advancing *from.
func (r *recorder) wait(from *int, match func(event) bool) event {
	r.t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		r.mu.Lock()
		for i := *from; i < len(r.events); i++ {
			if match(r.events[i]) {
				*from = i + 1
				ev := r.events[i]
				r.mu.Unlock()
				return ev
			}
		}
		r.mu.Unlock()
		select {
		case <-r.notify:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			r.t.Fatalf("%s: timed out; events: %v", r.name, r.snapshot())
		}
	}
}

func (r *recorder) snapshot() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.events...)
}

func kind(k string) func(event) bool { return func(ev event) bool { return ev.kind == k } }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gate is a Transport that can go silent (a dead peer) or lose the first
// copy of chosen datagrams, and counts sends.
type gate struct {
	next   ike.Transport
	closed atomic.Bool
	sent   atomic.Int64
	// lose, if set before the engine runs, drops the first copy of the
	// n-th distinct datagram (from 1); retransmissions are identical
	// copies and get through.
	lose     map[int]bool
	mu       sync.Mutex
	distinct map[[32]byte]bool
}

func (g *gate) Send(local, remote netip.AddrPort, b []byte) error {
	if g.closed.Load() {
		return nil
	}
	g.sent.Add(1)
	if g.lose != nil {
		g.mu.Lock()
		d := sha256.Sum256(b)
		first := !g.distinct[d]
		if first {
			g.distinct[d] = true
		}
		drop := first && g.lose[len(g.distinct)]
		g.mu.Unlock()
		if drop {
			return nil
		}
	}
	return g.next.Send(local, remote, b)
}

type node struct {
	name string
	e    *Engine
	rec  *recorder
	logs *syncBuffer
	gate *gate
	peer *PeerConfig
	ev   int // events consumed by the test
}

// newPair starts two engines on 127.0.0.1 and 127.0.0.2 with the same
// random ports, each configured with the other as peer; configure may
// change each node's Config ("A" or "B") before its engine starts.
func newPair(t *testing.T, pa, pb *PeerConfig, configure func(name string, c *Config)) (a, b *node) {
	return newLossyPair(t, pa, pb, configure, nil, nil)
}

// newLossyPair is newPair with datagrams lost: loseA and loseB number each
// side's sends from 1.
func newLossyPair(t *testing.T, pa, pb *PeerConfig, configure func(name string, c *Config), loseA, loseB map[int]bool) (a, b *node) {
	t.Helper()
	addrA, addrB := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	var connA, connB *udp.Conn
	var port uint16
	for try := 0; ; try++ {
		port = uint16(20000 + rand.IntN(20000))
		var err error
		if connA, err = udp.Listen([]netip.Addr{addrA}, port, port+1); err != nil {
			continue
		}
		if connB, err = udp.Listen([]netip.Addr{addrB}, port, port+1); err != nil {
			connA.Close()
			if try > 20 {
				t.Fatal(err)
			}
			continue
		}
		break
	}
	ctx, cancel := context.WithCancel(context.Background())
	var done sync.WaitGroup
	mk := func(name string, conn *udp.Conn, p *PeerConfig, lose map[int]bool) *node {
		n := &node{name: name, rec: newRecorder(t, name), logs: &syncBuffer{}, gate: &gate{next: conn, lose: lose, distinct: map[[32]byte]bool{}}, peer: p}
		cfg := Config{
			Transport: n.gate, Installer: n.rec,
			Logger:  slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", name),
			IKEPort: port, NATTPort: port + 1,
			Retransmit: ike.Retransmit{Timeout: 300 * time.Millisecond, Base: 1.5, Tries: 3},
			RekeyGrace: 50 * time.Millisecond,
		}
		if configure != nil {
			configure(name, &cfg)
		}
		e, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		n.e = e
		if err := e.SetPeers([]*PeerConfig{p}); err != nil {
			t.Fatal(err)
		}
		conn.Serve(e.Receive)
		done.Add(1)
		go func() { defer done.Done(); e.Run(ctx) }()
		return n
	}
	a, b = mk("A", connA, pa, loseA), mk("B", connB, pb, loseB)
	t.Cleanup(func() {
		cancel()
		done.Wait()
		connA.Close()
		connB.Close()
		if t.Failed() {
			t.Logf("A log:\n%s", a.logs.String())
			t.Logf("B log:\n%s", b.logs.String())
		}
	})
	return a, b
}

var testPSK = ike.Secret("correct horse battery staple")

func aclLine(n int, src, dst string) ike.ACLLine {
	s, d := netip.MustParsePrefix(src), netip.MustParsePrefix(dst)
	return ike.ACLLine{Line: n, Text: fmt.Sprintf("permit ip %s %s", src, dst), Sel: spd.Selector{Src: s, Dst: d}}
}

var (
	setAES256SHA = TransformSet{Name: "aes256-sha", ESP: crypto.Transform{Cipher: crypto.CipherAESCBC, KeyBits: 256, Integ: crypto.IntegHMACSHA1_96}}
	setGCM128    = TransformSet{Name: "gcm128", ESP: crypto.Transform{Cipher: crypto.CipherAESGCM16, KeyBits: 128}}
	setAHESP     = TransformSet{Name: "ah-esp", AH: crypto.IntegHMACSHA256_128, ESP: crypto.Transform{Cipher: crypto.CipherAESCBC, KeyBits: 128, Integ: crypto.IntegHMACSHA256_128}}
)

func sitePeer(name, local, remote string, sets []TransformSet, lines ...ike.ACLLine) *PeerConfig {
	return &PeerConfig{
		Name: name, Local: netip.MustParseAddr(local), Remote: netip.PrefixFrom(netip.MustParseAddr(remote), 32),
		PSK: testPSK,
		Policies: []Policy{
			{Priority: 10, Cipher: crypto.CipherAESCBC, KeyBits: 256, Hash: HashSHA256, Group: 14},
			{Priority: 20, Cipher: crypto.Cipher3DES, Hash: HashSHA1, Group: 2},
		},
		Children: []*ChildConfig{{
			Name: "vpn 10", Map: "vpn", Seq: 10, ACL: "101", Lines: lines, TransformSets: sets,
		}},
	}
}

func defaultPeers(sets ...TransformSet) (a, b *PeerConfig) {
	if len(sets) == 0 {
		sets = []TransformSet{setAES256SHA, setGCM128}
	}
	return sitePeer("to-b", "127.0.0.1", "127.0.0.2", sets, aclLine(1, "10.1.1.0/24", "10.2.2.0/24")),
		sitePeer("to-a", "127.0.0.2", "127.0.0.1", sets, aclLine(1, "10.2.2.0/24", "10.1.1.0/24"))
}

// establish brings up the ISAKMP SA and an IPsec SA from a; it returns
// each side's SA pairs (one per protocol, ESP first), which each side's
// Installer got as one IPsecSA.
func establish(t *testing.T, a, b *node, protocols int) (sa, sb []*ike.ChildSA) {
	t.Helper()
	a.e.Acquire(ike.Acquire{Peer: a.peer.Name, Child: a.peer.Children[0].Name})
	sa = a.rec.wait(&a.ev, kind("out")).ipsec.SAs()
	sb = b.rec.wait(&b.ev, kind("out")).ipsec.SAs()
	if len(sa) != protocols || len(sb) != protocols {
		t.Fatalf("IPsec SA of %d and %d protocols, want %d", len(sa), len(sb), protocols)
	}
	for i := range sa {
		checkPair(t, sa[i], sb[i])
	}
	return sa, sb
}

// checkPair checks that both ends of an IPsec SA agree.
func checkPair(t *testing.T, x, y *ike.ChildSA) {
	t.Helper()
	if x.InSPI != y.OutSPI || x.OutSPI != y.InSPI {
		t.Fatalf("SPIs disagree: %08x/%08x vs %08x/%08x", x.InSPI, x.OutSPI, y.InSPI, y.OutSPI)
	}
	if !bytes.Equal(x.OutKeys.Encr, y.InKeys.Encr) || !bytes.Equal(x.InKeys.Encr, y.OutKeys.Encr) ||
		!bytes.Equal(x.OutKeys.Integ, y.InKeys.Integ) || !bytes.Equal(x.InKeys.Integ, y.OutKeys.Integ) {
		t.Fatal("keys disagree")
	}
	if bytes.Equal(append(x.InKeys.Encr, x.InKeys.Integ...), append(x.OutKeys.Encr, x.OutKeys.Integ...)) {
		t.Fatal("both directions share a key")
	}
	if want := x.Transform.Cipher.KeyLen(x.Transform.KeyBits); len(x.InKeys.Encr) != want {
		t.Fatalf("encryption key of %d bytes, want %d", len(x.InKeys.Encr), want)
	}
	if want := x.Transform.Integ.KeyLen(); len(x.InKeys.Integ) != want {
		t.Fatalf("integrity key of %d bytes, want %d", len(x.InKeys.Integ), want)
	}
	if x.Transform != y.Transform || x.Mode != y.Mode || x.Protocol != y.Protocol || x.PFS != y.PFS || x.Encap != y.Encap {
		t.Fatalf("parameters disagree: %v vs %v", x, y)
	}
	if fmt.Sprint(x.LocalTS) != fmt.Sprint(y.RemoteTS) || fmt.Sprint(x.RemoteTS) != fmt.Sprint(y.LocalTS) {
		t.Fatalf("proxy IDs disagree: %v vs %v", x, y)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
