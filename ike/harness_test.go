package ike

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"context"

	"ipsecgw/crypto"
	"ipsecgw/ike/clock"
	"ipsecgw/ike/message"
	"ipsecgw/ike/udp"
	"ipsecgw/spd"
)

// event is one Installer call, recorded in order.
type event struct {
	kind   string // in, out, remove, up, down, failed
	sa     *ChildSA
	old    *ChildSA
	ike    *IKESAInfo
	reason Reason
	acq    Acquire
	err    error
}

func (ev event) String() string {
	switch ev.kind {
	case "in", "out", "remove":
		s := fmt.Sprintf("%s %08x/%08x", ev.kind, ev.sa.InSPI, ev.sa.OutSPI)
		if ev.old != nil {
			s += fmt.Sprintf(" replacing %08x", ev.old.InSPI)
		}
		if ev.kind == "remove" {
			s += " " + ev.reason.String()
		}
		return s
	case "up", "down":
		return fmt.Sprintf("ike-%s %d %s", ev.kind, ev.ike.ID, ev.reason)
	}
	return fmt.Sprintf("%s %v %v", ev.kind, ev.acq, ev.err)
}

// recorder is the test Installer: it records events and checks the
// make-before-break order the engine promises.
type recorder struct {
	t        *testing.T
	name     string
	mu       sync.Mutex
	events   []event
	inbound  map[uint32]*ChildSA // installed inbound halves by SPI
	outbound map[*ChildSA]bool
	notify   chan struct{}
}

func newRecorder(t *testing.T, name string) *recorder {
	return &recorder{t: t, name: name, inbound: map[uint32]*ChildSA{}, outbound: map[*ChildSA]bool{}, notify: make(chan struct{}, 1)}
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

func (r *recorder) InstallInbound(sa *ChildSA) error {
	r.mu.Lock()
	if r.inbound[sa.InSPI] != nil {
		r.t.Errorf("%s: inbound SPI %08x installed twice", r.name, sa.InSPI)
	}
	r.inbound[sa.InSPI] = sa
	r.mu.Unlock()
	r.add(event{kind: "in", sa: sa})
	return nil
}

func (r *recorder) InstallOutbound(sa, replaces *ChildSA) error {
	r.mu.Lock()
	if r.inbound[sa.InSPI] != sa {
		r.t.Errorf("%s: outbound of %08x before its inbound", r.name, sa.InSPI)
	}
	if replaces != nil && r.inbound[replaces.InSPI] != replaces {
		r.t.Errorf("%s: %08x replaces %08x, which is not installed", r.name, sa.InSPI, replaces.InSPI)
	}
	r.outbound[sa] = true
	delete(r.outbound, replaces)
	r.mu.Unlock()
	r.add(event{kind: "out", sa: sa, old: replaces})
	return nil
}

func (r *recorder) RemoveChildSA(sa *ChildSA, reason Reason) {
	r.mu.Lock()
	if r.inbound[sa.InSPI] != sa {
		r.t.Errorf("%s: removing %08x, which is not installed", r.name, sa.InSPI)
	}
	delete(r.inbound, sa.InSPI)
	delete(r.outbound, sa)
	r.mu.Unlock()
	r.add(event{kind: "remove", sa: sa, reason: reason})
}

func (r *recorder) IKESAUp(sa *IKESAInfo) { r.add(event{kind: "up", ike: sa}) }
func (r *recorder) IKESADown(sa *IKESAInfo, why Reason) {
	r.add(event{kind: "down", ike: sa, reason: why})
}
func (r *recorder) AcquireFailed(a Acquire, err error) {
	r.add(event{kind: "failed", acq: a, err: err})
}

// wait returns the first event from index *from on that matches, advancing
// *from past it.
func (r *recorder) wait(from *int, match func(event) bool) event {
	r.t.Helper()
	deadline := time.After(10 * time.Second)
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
		case <-deadline:
			r.t.Fatalf("%s: event not seen; events: %v", r.name, r.snapshot())
		}
	}
}

func (r *recorder) snapshot() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.events...)
}

// active returns the installed outbound SAs.
func (r *recorder) active() []*ChildSA {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*ChildSA
	for sa := range r.outbound {
		out = append(out, sa)
	}
	return out
}

func (r *recorder) installedIn() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.inbound)
}

func kind(k string) func(event) bool { return func(ev event) bool { return ev.kind == k } }

// syncBuffer collects log output from several goroutines.
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

// gate sits between an engine and its socket: it can hold, drop or pass
// what the engine sends.
type gate struct {
	next    Transport
	mu      sync.Mutex
	hold    bool
	held    [][3]any
	drop    bool
	dropped int
	filter  func(b []byte) bool // drops what it returns true for
}

func (g *gate) Send(local, remote netip.AddrPort, b []byte) error {
	g.mu.Lock()
	switch {
	case g.drop || (g.filter != nil && g.filter(b)):
		g.dropped++
		g.mu.Unlock()
		return nil
	case g.hold:
		g.held = append(g.held, [3]any{local, remote, append([]byte(nil), b...)})
		g.mu.Unlock()
		return nil
	}
	g.mu.Unlock()
	return g.next.Send(local, remote, b)
}

func (g *gate) heldCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.held)
}

func (g *gate) release() {
	g.mu.Lock()
	held := g.held
	g.held, g.hold = nil, false
	g.mu.Unlock()
	for _, h := range held {
		g.next.Send(h[0].(netip.AddrPort), h[1].(netip.AddrPort), h[2].([]byte))
	}
}

// node is one engine on a loopback address.
type node struct {
	name string
	e    *Engine
	addr netip.Addr
	conn *udp.Conn
	gate *gate
	rec  *recorder
	logs *syncBuffer
	peer *PeerConfig
}

type pairOpts struct {
	fake      bool // drive both engines with one fake clock
	configure func(a, b *Config)
}

// newPair starts two engines on 127.0.0.1 and 127.0.0.2 with the same
// random pair of ports, each configured with the other as peer.
func newPair(t *testing.T, pa, pb *PeerConfig, o pairOpts) (a, b *node, clk *clock.Fake) {
	t.Helper()
	addrA, addrB := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	var connA, connB *udp.Conn
	var ike, natt uint16
	for try := 0; ; try++ {
		ike = uint16(20000 + rand.IntN(20000))
		natt = ike + 1
		var err error
		if connA, err = udp.Listen([]netip.Addr{addrA}, ike, natt); err != nil {
			continue
		}
		if connB, err = udp.Listen([]netip.Addr{addrB}, ike, natt); err != nil {
			connA.Close()
			if try > 20 {
				t.Fatal(err)
			}
			continue
		}
		break
	}
	var c clock.Clock = clock.Real{}
	if o.fake {
		clk = clock.NewFake(time.Unix(1_700_000_000, 0))
		c = clk
	}
	ctx, cancel := context.WithCancel(context.Background())
	mk := func(name string, addr netip.Addr, conn *udp.Conn, p *PeerConfig) (*node, Config) {
		n := &node{name: name, addr: addr, conn: conn, rec: newRecorder(t, name), logs: &syncBuffer{}, peer: p}
		n.gate = &gate{next: conn}
		cfg := Config{
			Transport: n.gate, Installer: n.rec, Clock: c,
			Logger:  slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", name),
			IKEPort: ike, NATTPort: natt,
			Retransmit: Retransmit{Timeout: 500 * time.Millisecond, Base: 1.5, Tries: 3},
			RekeyGrace: 50 * time.Millisecond,
		}
		return n, cfg
	}
	a, cfgA := mk("A", addrA, connA, pa)
	b, cfgB := mk("B", addrB, connB, pb)
	if o.configure != nil {
		o.configure(&cfgA, &cfgB)
	}
	var done sync.WaitGroup
	for _, p := range []struct {
		n   *node
		cfg Config
	}{{a, cfgA}, {b, cfgB}} {
		e, err := New(p.cfg)
		if err != nil {
			t.Fatal(err)
		}
		p.n.e = e
		if err := e.SetPeers([]*PeerConfig{p.n.peer}); err != nil {
			t.Fatal(err)
		}
		p.n.conn.Serve(e.Receive)
		done.Add(1)
		go func() { defer done.Done(); e.Run(ctx) }()
	}
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
	return a, b, clk
}

// Test configuration: site A 10.1.1.0/24, site B 10.2.2.0/24.
var testPSK = []byte("correct horse battery staple")

func aclLine(n int, src, dst string) ACLLine {
	s, d := netip.MustParsePrefix(src), netip.MustParsePrefix(dst)
	return ACLLine{Line: n, Text: fmt.Sprintf("permit ip %s %s", src, dst), Sel: spd.Selector{Src: s, Dst: d}}
}

func gcm128() ChildProposal {
	return ChildProposal{Name: "gcm128", Protocol: message.ProtoESP, Transform: crypto.Transform{Cipher: crypto.CipherAESGCM16, KeyBits: 128}}
}

func cbc256sha256() ChildProposal {
	return ChildProposal{Name: "aes256-sha256", Protocol: message.ProtoESP, Transform: crypto.Transform{Cipher: crypto.CipherAESCBC, KeyBits: 256, Integ: crypto.IntegHMACSHA256_128}}
}

func sitePeer(name, local, remote string, lines ...ACLLine) *PeerConfig {
	return &PeerConfig{
		Name: name, Local: netip.MustParseAddr(local), Remote: netip.PrefixFrom(netip.MustParseAddr(remote), 32),
		LocalPSK: testPSK,
		Children: []*ChildConfig{{
			Name: "vpn 10", Map: "vpn", Seq: 10, ACL: "101", Lines: lines,
			Proposals: []ChildProposal{gcm128(), cbc256sha256()},
		}},
	}
}

func defaultPeers() (a, b *PeerConfig) {
	return sitePeer("to-b", "127.0.0.1", "127.0.0.2", aclLine(1, "10.1.1.0/24", "10.2.2.0/24")),
		sitePeer("to-a", "127.0.0.2", "127.0.0.1", aclLine(1, "10.2.2.0/24", "10.1.1.0/24"))
}

// establish brings up the IKE SA and one CHILD_SA from a and returns the
// two sides' view of the CHILD_SA.
func establish(t *testing.T, a, b *node) (sa, sb *ChildSA) {
	t.Helper()
	var ia, ib int
	a.e.Acquire(Acquire{Peer: a.peer.Name, Child: a.peer.Children[0].Name})
	a.rec.wait(&ia, kind("up"))
	sa = a.rec.wait(&ia, kind("out")).sa
	sb = b.rec.wait(&ib, kind("out")).sa
	checkPair(t, sa, sb)
	return sa, sb
}

// checkPair checks that two ends of a CHILD_SA agree.
func checkPair(t *testing.T, x, y *ChildSA) {
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
	if x.Transform != y.Transform || x.ESN != y.ESN || x.Mode != y.Mode || x.Protocol != y.Protocol {
		t.Fatalf("parameters disagree: %v vs %v", x, y)
	}
	if fmt.Sprint(x.LocalTS) != fmt.Sprint(y.RemoteTS) || fmt.Sprint(x.RemoteTS) != fmt.Sprint(y.LocalTS) {
		t.Fatalf("selectors disagree: %v vs %v", x, y)
	}
	translated := x.Remote != y.Local || y.Remote != x.Local // a NAT between them
	if x.Encap != y.Encap || (x.Encap && !translated && (x.LocalPort != y.RemotePort || x.RemotePort != y.LocalPort)) {
		t.Fatalf("encapsulation disagrees: %v:%d-%d vs %v:%d-%d", x.Encap, x.LocalPort, x.RemotePort, y.Encap, y.LocalPort, y.RemotePort)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// settle waits until neither engine has a request outstanding or a
// datagram queued, twice in a row, so a fake clock can move on without
// firing retransmissions that real time would not have needed.
func settle(t *testing.T, nodes ...*node) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	quiet := 0
	for quiet < 2 {
		busy := false
		for _, n := range nodes {
			n.e.sync(func() {
				for _, sa := range n.e.sas {
					busy = busy || sa.active != nil
				}
			})
			busy = busy || n.e.loop.Reserved() > 0
		}
		if busy {
			quiet = 0
		} else {
			quiet++
		}
		if time.Now().After(deadline) {
			t.Fatal("engines did not settle")
		}
		time.Sleep(100 * time.Microsecond)
	}
}
