package slowpath

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"ipsecgw/control"
	"ipsecgw/fastpath"
	"ipsecgw/fastpath/sad"
	"ipsecgw/fastpath/stats"
	"ipsecgw/ike"
	"ipsecgw/ike/ikev1"
	"ipsecgw/packet"
	"ipsecgw/spd"
)

// The IKE glue tests run two gateways in the test process, each a real
// fast path (one worker) with a Negotiator, joined by a memory wire between
// their outside ports: site A (10.1.0.0/16 behind 192.0.2.1) and site B
// (10.2.0.0/16 behind 192.0.2.2). Hosts are frames fed into A's inside
// port and counted leaving B's inside port. Everything the tunnel needs
// goes through the code a live gateway runs: ACQUIRE punts, IKE over the
// punt and inject rings, SAs installed by the Installer.

const ikeSystem = `interfaces:
  - {name: inside, driver: pcap, mac: "%IN%", pcap_out: in.pcap}
  - {name: outside, driver: pcap, mac: "%OUT%", pcap_out: out.pcap}
neighbors:
  - {ip: %HOST%, mac: "02:00:00:00:99:01", interface: inside}
  - {ip: %PEER%, mac: "%PEERMAC%", interface: outside}
log:
  level: info
`

// ikePolicy is a site's policy; %LOCAL%/%PEER% are the outside addresses,
// %LAN%/%PLAN% the second octet of the local and peer LANs, %ENTRY% the
// crypto map entry (static or dynamic) and %TS% the transform set.
const ikePolicy = `hostname gw
crypto ikev2 keyring peers
 peer any
  address 192.0.2.0 255.255.255.0
  pre-shared-key test-psk-not-secret
crypto ikev2 profile prof
 match identity remote address 192.0.2.0 255.255.255.0
 authentication remote pre-share
 authentication local pre-share
 keyring local peers
 dpd 10 2 periodic
crypto ipsec transform-set ts1 %TS%
 mode tunnel
%ENTRY%
interface inside
 ip address 10.%LAN%.0.1 255.255.0.0
interface outside
 ip address %LOCAL% 255.255.255.0
 crypto map vpn
ip route 10.%PLAN%.0.0 255.255.0.0 %PEER%
access-list 101 permit ip 10.%LAN%.0.0 0.0.255.255 10.%PLAN%.0.0 0.0.255.255
`

const staticEntry = `crypto map vpn 10 ipsec-isakmp
 set peer %PEER%
 set transform-set ts1
 set ikev2-profile prof
 match address 101`

const dynamicEntry = `crypto dynamic-map dyn 10
 set transform-set ts1
 set ikev2-profile prof
 match address 101
crypto map vpn 65535 ipsec-isakmp dynamic dyn`

var (
	macAIn, macAOut = net.HardwareAddr{2, 0, 0, 0, 0xa, 1}, net.HardwareAddr{2, 0, 0, 0, 0xa, 2}
	macBIn, macBOut = net.HardwareAddr{2, 0, 0, 0, 0xb, 1}, net.HardwareAddr{2, 0, 0, 0, 0xb, 2}
	macHost         = net.HardwareAddr{2, 0, 0, 0, 0x99, 1}
)

// queuePort is a Port fed from a queue other goroutines append to; what
// it transmits goes to sink (the peer's queue, or a host's counter).
type queuePort struct {
	pool *packet.Pool
	mu   sync.Mutex
	q    [][]byte
	sink func([]byte)
	st   fastpath.PortStats
}

func (p *queuePort) push(f []byte) {
	p.mu.Lock()
	p.q = append(p.q, append([]byte(nil), f...))
	p.mu.Unlock()
}

func (p *queuePort) Receive(bufs []*packet.Buf) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for n < len(bufs) && len(p.q) > 0 {
		b := p.pool.Get()
		if b == nil {
			break
		}
		copy(b.Append(len(p.q[0])), p.q[0])
		p.q = p.q[1:]
		bufs[n] = b
		n++
	}
	return n
}

func (p *queuePort) Transmit(bufs []*packet.Buf) {
	for _, b := range bufs {
		p.st.TxPackets++
		if p.sink != nil {
			p.sink(b.Bytes())
		}
		b.Pool().Put(b)
	}
}

func (p *queuePort) Flush()                    {}
func (p *queuePort) Stats() fastpath.PortStats { return p.st }

type ikeSite struct {
	gw      *Gateway
	ops     *Ops // the operations layer holding the current gateway
	neg     *Negotiator
	w       *fastpath.Worker
	in, out *queuePort
}

// ikePair is two sites on a wire, pumped by one goroutine.
type ikePair struct {
	a, b     *ikeSite
	received sync.Map // sequence numbers of datagrams B delivered to its host
	got      atomic.Int64
	// IPsec packets A sent on the wire: AH carrying ESP, and ESP alone.
	ahESP, bareESP atomic.Int64
}

// tapAToB counts the shape of an IPsec packet A puts on the wire.
func (p *ikePair) tapAToB(f []byte) {
	if len(f) < 14+20 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
		return
	}
	ip := f[14:]
	hl := int(ip[0]&0x0f) * 4
	switch ip[9] {
	case 50:
		p.bareESP.Add(1)
	case 51:
		if len(ip) > hl && ip[hl] == 50 { // AH's next header
			p.ahESP.Add(1)
		}
	}
}

func policyFor(side, ts, entry string) string {
	local, peer, lan, plan := "192.0.2.1", "192.0.2.2", "1", "2"
	if side == "b" {
		local, peer, lan, plan = peer, local, plan, lan
	}
	policy := strings.Replace(ikePolicy, "%ENTRY%", entry, 1)
	return strings.NewReplacer("%TS%", ts, "%LOCAL%", local, "%PEER%", peer, "%LAN%", lan, "%PLAN%", plan).Replace(policy)
}

func newIKESite(t *testing.T, side, policy string) *ikeSite {
	t.Helper()
	in, out, host, peer, peerMAC := macAIn, macAOut, "10.1.1.10", "192.0.2.2", macBOut
	if side == "b" {
		in, out, host, peer, peerMAC = macBIn, macBOut, "10.2.1.10", "192.0.2.1", macAOut
	}
	sys := strings.NewReplacer("%IN%", in.String(), "%OUT%", out.String(), "%HOST%", host, "%PEER%", peer, "%PEERMAC%", peerMAC.String()).Replace(ikeSystem)
	cfg := load(t, sys, policy)
	gw, err := Build(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	pool := packet.NewHeapPool(2048, 4096)
	s := &ikeSite{gw: gw, in: &queuePort{pool: pool}, out: &queuePort{pool: pool}}
	if s.w, err = gw.Engine.AddWorker(fastpath.WorkerConfig{Pool: pool, Ports: []fastpath.PortBinding{{Port: s.in, Iface: 0}, {Port: s.out, Iface: 1}}}); err != nil {
		t.Fatal(err)
	}
	// As in ipsecgw run: the negotiator works on the gateway the
	// operations layer holds (reloads replace it), and Ops clears and
	// shows SAs through the engine.
	s.neg, err = NewNegotiator(NegotiatorConfig{Gateway: func() *Gateway { return s.ops.Gateway() }, Logger: testLogger(t, side),
		Publish: func(f func(*Gateway) (*Gateway, error)) error { return s.ops.UpdateGateway(f) },
		Engine:  ike.Config{Retransmit: ike.Retransmit{Timeout: 500 * time.Millisecond, Tries: 2}, RekeyGrace: 200 * time.Millisecond},
		IKEv1:   &ikev1.Config{Retransmit: ike.Retransmit{Timeout: 500 * time.Millisecond, Tries: 2}, RekeyGrace: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	s.ops = NewOps(gw, OpsConfig{IKE: s.neg, ISAKMP: s.neg, AfterReload: func(_, _ *Gateway) {
		if err := s.neg.SetPeers(); err != nil {
			t.Error(err)
		}
	}})
	if err := s.neg.SetPeers(); err != nil {
		t.Fatal(err)
	}
	return s
}

// startPair starts both engines and the pump; everything stops at cleanup.
func startPair(t *testing.T, policyA, policyB string) *ikePair {
	p := &ikePair{a: newIKESite(t, "a", policyA), b: newIKESite(t, "b", policyB)}
	p.a.out.sink = func(f []byte) { p.tapAToB(f); p.b.out.push(f) }
	p.b.out.sink = p.a.out.push
	p.b.in.sink = func(f []byte) {
		if seq, ok := seqOf(f); ok {
			if _, dup := p.received.LoadOrStore(seq, true); !dup {
				p.got.Add(1)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range []*ikeSite{p.a, p.b} {
		wg.Add(1)
		go func() { defer wg.Done(); s.neg.Run(ctx) }()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		last := time.Now()
		for ctx.Err() == nil {
			n := 0
			for _, s := range []*ikeSite{p.a, p.b} {
				n += s.w.Poll()
				r := s.w.Punts()
				for sl := r.Peek(); sl != nil; sl = r.Peek() {
					s.neg.HandlePunt(sl)
					r.Release()
					n++
				}
			}
			if time.Since(last) > 200*time.Millisecond {
				p.a.neg.ReportUsage()
				p.b.neg.ReportUsage()
				last = time.Now()
			}
			if n == 0 {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return p
}

// send feeds one datagram with sequence number seq from A's host to B's.
func (p *ikePair) send(t *testing.T, seq uint32) { p.sendFrom(t, net.IP{10, 1, 1, 10}, seq) }

// stream sends datagrams numbered from base every 200 µs until the
// returned stop is called; stop waits for every one sent to arrive and
// returns the number after the last.
func (p *ikePair) stream(t *testing.T, base uint32) (stop func() uint32) {
	quit, done := make(chan struct{}), make(chan uint32)
	go func() {
		s := base
		for {
			select {
			case <-quit:
				done <- s
				return
			default:
			}
			p.send(t, s)
			s++
			time.Sleep(200 * time.Microsecond)
		}
	}()
	return func() uint32 {
		close(quit)
		last := <-done
		waitFor(t, "the stream to arrive", 3*time.Second, func() bool {
			for s := base; s < last; s++ {
				if _, ok := p.received.Load(s); !ok {
					return false
				}
			}
			return true
		})
		return last
	}
}

// sendFrom feeds one datagram from src on A's LAN to B's host.
func (p *ikePair) sendFrom(t *testing.T, src net.IP, seq uint32) {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src, DstIP: net.IP{10, 2, 1, 10}}
	udp := &layers.UDP{SrcPort: 40000, DstPort: 5001}
	udp.SetNetworkLayerForChecksum(ip)
	payload := make([]byte, 100)
	binary.BigEndian.PutUint32(payload, seq)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: macHost, DstMAC: macAIn, EthernetType: layers.EthernetTypeIPv4}, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	p.a.in.push(buf.Bytes())
}

func seqOf(f []byte) (uint32, bool) {
	if len(f) < 14+20+8+4 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
		return 0, false
	}
	return binary.BigEndian.Uint32(f[14+20+8:]), true
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// establish sends until datagrams arrive, and checks the first ones were
// dropped for want of an SA while IKE negotiated.
func (p *ikePair) establish(t *testing.T) uint32 {
	t.Helper()
	seq := uint32(0)
	waitFor(t, "traffic through the negotiated tunnel", 10*time.Second, func() bool {
		seq++
		p.send(t, seq)
		return p.got.Load() > 0
	})
	if n := p.a.gw.Engine.Stats().Global.Drops[stats.NoSA]; n == 0 {
		t.Error("no packet was dropped as no_sa before the SAs were up")
	}
	return seq
}

func childSAs(s *ikeSite) []ike.ChildSA {
	var out []ike.ChildSA
	for _, sa := range s.neg.Engine.SAs() {
		out = append(out, sa.Children...)
	}
	return out
}

func TestIKETunnelAndRekeys(t *testing.T) {
	for _, tc := range []struct{ name, ts string }{
		{"gcm128", "esp-gcm 128"},
		{"cbc256-sha256", "esp-aes 256 esp-sha256-hmac"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startPair(t, policyFor("a", tc.ts, staticEntry), policyFor("b", tc.ts, staticEntry))
			seq := p.establish(t)
			cs := childSAs(p.a)
			if len(cs) != 1 || !strings.Contains(cs[0].Transform.String(), map[string]string{"gcm128": "gcm", "cbc256-sha256": "cbc"}[tc.name]) {
				t.Fatalf("A's CHILD_SAs: %+v", cs)
			}
			// A continuous stream across a CHILD_SA rekey and an IKE SA
			// rekey loses nothing.
			base := seq + 1
			stop := p.stream(t, base)
			time.Sleep(100 * time.Millisecond)
			p.a.neg.Engine.RekeyChildSA(cs[0].InSPI)
			waitFor(t, "the CHILD_SA rekey", 5*time.Second, func() bool {
				c := childSAs(p.a)
				return len(c) == 1 && c[0].InSPI != cs[0].InSPI
			})
			ikeID := p.a.neg.Engine.SAs()[0].ID
			p.b.neg.Engine.RekeyIKESA(p.b.neg.Engine.SAs()[0].ID)
			waitFor(t, "the IKE SA rekey", 5*time.Second, func() bool {
				s := p.a.neg.Engine.SAs()
				return len(s) == 1 && s[0].ID != ikeID && len(s[0].Children) == 1
			})
			time.Sleep(400 * time.Millisecond) // past the rekey grace
			last := stop()
			if n := len(p.a.gw.Engine.SAD().Table().SAs()); n != 2 {
				t.Errorf("A's SAD holds %d SAs after the rekeys, want the new pair", n)
			}
			t.Logf("%d datagrams across a CHILD_SA and an IKE SA rekey, none lost", last-base)
		})
	}
}

func TestIKEClearPropagatesAndRetriggers(t *testing.T) {
	p := startPair(t, policyFor("a", "esp-gcm 128", staticEntry), policyFor("b", "esp-gcm 128", staticEntry))
	seq := p.establish(t)
	old := childSAs(p.a)[0].InSPI
	p.b.neg.Engine.ClearChildSAs(netip.Addr{}) // clear crypto sa on B
	waitFor(t, "A's SAs to go with B's delete", 5*time.Second, func() bool {
		return len(childSAs(p.a)) == 0 && p.a.gw.Engine.SAD().Table().Len() == 0
	})
	before := p.got.Load()
	waitFor(t, "traffic to re-trigger a CHILD_SA", 10*time.Second, func() bool {
		seq++
		p.send(t, seq)
		return p.got.Load() > before
	})
	if c := childSAs(p.a); len(c) != 1 || c[0].InSPI == old {
		t.Fatalf("after re-trigger: %+v", c)
	}
}

func TestIKEDynamicResponder(t *testing.T) {
	p := startPair(t, policyFor("a", "esp-gcm 128", staticEntry), policyFor("b", "esp-gcm 128", dynamicEntry))
	p.establish(t)
	sas := p.b.neg.Engine.SAs()
	if len(sas) != 1 || !strings.HasPrefix(sas[0].Peer, "dynamic prof") {
		t.Fatalf("B's IKE SAs: %+v", sas)
	}
	if c := childSAs(p.b); len(c) != 1 || c[0].Child != "crypto map vpn 65535 (dynamic-map dyn 10)" {
		t.Fatalf("B's CHILD_SAs: %+v", c)
	}
	// B's outbound SA is bound, so B's host can answer.
	if b := p.b.gw.Engine.Tables().Interfaces[1].Crypto.Bindings(); len(b) != 1 {
		t.Fatalf("B's bindings: %+v", b)
	}
}

// A dynamic map entry without match address accepts what the peer
// proposes: B installs a temporary crypto map entry with the negotiated
// selectors, so its own hosts' traffic to A is protected; a reload keeps
// it, and it goes with its SAs.
const dynamicAnyEntry = `crypto dynamic-map dyn 10
 set transform-set ts1
 set ikev2-profile prof
crypto map vpn 65535 ipsec-isakmp dynamic dyn`

func TestIKEDynamicTemporaryEntry(t *testing.T) {
	p := startPair(t, policyFor("a", "esp-gcm 128", staticEntry), policyFor("b", "esp-gcm 128", dynamicAnyEntry))
	p.establish(t)
	g := p.b.ops.Gateway()
	const tmpl = "crypto map vpn 65535 (dynamic-map dyn 10)"
	if len(g.Temporary) != 1 || g.Temporary[0].Peer != netip.MustParseAddr("192.0.2.1") || g.Temporary[0].Entry != tmpl {
		t.Fatalf("B's temporary entries: %+v", g.Temporary)
	}
	// The rules are the negotiated selectors (A proposed the triggering
	// packet's and its ACL line's, RFC 7296 §2.9, and B accepted both).
	cm := g.Maps[1]
	nets := spd.Selector{Src: netip.MustParsePrefix("10.2.0.0/16"), Dst: netip.MustParsePrefix("10.1.0.0/16")}
	if len(cm.Entries) != 2 || !isTemporary(cm.Entries[1]) || len(cm.Rules) == 0 ||
		!slices.ContainsFunc(cm.Rules, func(r spd.Rule) bool { return r.Sel == nets }) {
		t.Fatalf("B's compiled map: entries %+v rules %+v", cm.Entries, cm.Rules)
	}
	for _, r := range cm.Rules {
		if r.Entry != 1 || !r.Permit {
			t.Fatalf("B's rule %+v is not the temporary entry's", r)
		}
	}
	if !sameRules(g.Engine.Tables().Interfaces[1].Crypto, cm) {
		t.Fatal("B's fast path and compiled map disagree")
	}
	// B's host answers through the tunnel.
	replies := func(n int) {
		t.Helper()
		before := p.a.gw.Engine.Stats().Global.Decrypted
		for i := range n {
			p.sendFromB(t, uint32(i))
		}
		waitFor(t, "B's hosts' traffic decrypted by A", 3*time.Second, func() bool {
			return p.a.gw.Engine.Stats().Global.Decrypted >= before+uint64(n)
		})
	}
	replies(10)
	// A rekey (B initiating) keeps the entry; B's hosts keep their tunnel.
	first := childSAs(p.b)[0].InSPI
	p.b.neg.Engine.RekeyChildSA(first)
	waitFor(t, "B's CHILD_SA rekeyed", 5*time.Second, func() bool {
		c := childSAs(p.b)
		return len(c) == 1 && c[0].InSPI != first
	})
	if tmp := p.b.ops.Gateway().Temporary; len(tmp) != 1 {
		t.Fatalf("temporary entries after the rekey: %+v", tmp)
	}
	replies(10)
	x, err := p.b.ops.Explain(control.ExplainRequest{In: "inside", Src: "10.2.1.10", Dst: "10.1.1.10", Proto: 17, SrcPort: 5001, DstPort: 40000})
	if err != nil || x.Action != control.ActionProtect {
		t.Fatalf("explain at B: %v %+v", err, x)
	}
	maps, err := p.b.ops.CryptoMaps(control.MapFilter{})
	if err != nil || len(maps) != 1 || len(maps[0].Entries) != 2 || maps[0].Entries[1].CreatedFrom != "dyn/10" ||
		maps[0].Entries[1].CurrentPeer != "192.0.2.1" || maps[0].Entries[1].ACL == nil {
		t.Fatalf("show crypto map at B: %v %+v", err, maps)
	}
	var b bytes.Buffer
	control.WriteCryptoMaps(&b, maps)
	if !strings.Contains(b.String(), "dynamic (created from dynamic map dyn/10)") || !strings.Contains(b.String(), "permit ip 10.2.0.0 0.0.255.255 10.1.0.0 0.0.255.255") {
		t.Errorf("show crypto map at B:\n%s", b.String())
	}

	// A reload keeps the temporary entry and its binding.
	res, err := p.b.ops.Reload()
	if err != nil || !res.Applied || res.Unbound != 0 || len(p.b.ops.Gateway().Temporary) != 1 {
		t.Fatalf("reload at B: %+v %v", res, err)
	}
	replies(10)

	// The entry goes with its SAs.
	if _, err := p.b.ops.ClearSA(control.ClearSA{Peer: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the temporary entry removed", 5*time.Second, func() bool { return len(p.b.ops.Gateway().Temporary) == 0 })
	g = p.b.ops.Gateway()
	if len(g.Maps[1].Entries) != 1 || len(g.Maps[1].Rules) != 0 || !sameRules(g.Engine.Tables().Interfaces[1].Crypto, g.Maps[1]) {
		t.Fatalf("B's map after the SAs went: %+v %+v", g.Maps[1].Entries, g.Maps[1].Rules)
	}
}

// sendFromB feeds one datagram from B's host to A's.
func (p *ikePair) sendFromB(t *testing.T, seq uint32) {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{10, 2, 1, 10}, DstIP: net.IP{10, 1, 1, 10}}
	udp := &layers.UDP{SrcPort: 5001, DstPort: 40000}
	udp.SetNetworkLayerForChecksum(ip)
	payload := make([]byte, 100)
	binary.BigEndian.PutUint32(payload, seq)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: macHost, DstMAC: macBIn, EthernetType: layers.EthernetTypeIPv4}, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	p.b.in.push(buf.Bytes())
}

func TestIKEPeers(t *testing.T) {
	example, err := os.ReadFile("../examples/site-a.cfg")
	if err != nil {
		t.Fatal(err)
	}
	peers, skipped := newIKESite(t, "a", string(example)).gw.IKEPeers()
	if len(skipped) != 0 || len(peers) != 1 {
		t.Fatalf("peers %+v skipped %q", peers, skipped)
	}
	p := peers[0]
	if p.Name != "192.0.2.2" || p.Local != netip.MustParseAddr("192.0.2.1") || string(p.LocalPSK) != "example-psk-change-me" ||
		p.DPD.Interval != 10*time.Second || p.DPD.OnDemand || len(p.Proposals) != 1 || len(p.Children) != 1 {
		t.Fatalf("peer %+v", p)
	}
	c := p.Children[0]
	if c.Name != "crypto map vpn 10" || len(c.Lines) != 1 || len(c.Proposals) != 2 || c.PFS != 19 {
		t.Fatalf("child %+v", c)
	}
	// match identity remote address names the identities the peer may
	// use; match identity remote any takes every identity type (an FQDN
	// too), as on IOS.
	if len(p.RemoteAddrIDs) != 1 || p.RemoteAddrIDs[0] != netip.MustParsePrefix("192.0.2.2/32") {
		t.Errorf("identities of a profile matching an address: %v", p.RemoteAddrIDs)
	}
	anyID := strings.Replace(string(example), " match identity remote address 192.0.2.2 255.255.255.255", " match identity remote any", 1)
	if anyID == string(example) {
		t.Fatal("site-a.cfg no longer has the line this test replaces")
	}
	if peers, _ := newIKESite(t, "a", anyID).gw.IKEPeers(); len(peers) != 1 || len(peers[0].RemoteAddrIDs) != 0 {
		t.Errorf("match identity remote any should accept every identity: %+v", peers)
	}
	// An entry without an IKEv2 profile is IKEv1's: named, not negotiated.
	v1 := strings.Replace(policyFor("a", "esp-gcm 128", staticEntry), " set ikev2-profile prof\n", "", 1)
	s := newIKESite(t, "a", v1)
	if peers, skipped := s.gw.IKEPeers(); len(peers) != 0 || len(skipped) != 1 || !skipped[0].IKEv1 {
		t.Fatalf("IKEv1 entry: peers %+v skipped %q", peers, skipped)
	}
}

// testLogger writes the glue's and the engine's logs to the test log.
func testLogger(t *testing.T, side string) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})).With("gw", side)
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// TestIKEReloadAndOpsClear: a reload keeps the negotiated SAs bound and
// carrying traffic and gives the engine the new peers; clear crypto sa
// through the operations layer deletes them with the peer.
func TestIKEReloadAndOpsClear(t *testing.T) {
	p := startPair(t, policyFor("a", "esp-gcm 128", staticEntry), policyFor("b", "esp-gcm 128", staticEntry))
	seq := p.establish(t)
	cfgA := p.a.ops.Gateway().Config
	changed := policyFor("a", "esp-gcm 128", staticEntry) + "access-list 102 permit ip any any\n"
	if err := os.WriteFile(filepath.Join(filepath.Dir(cfgA.File), "policy.cfg"), []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := p.a.ops.Reload()
	if err != nil || !res.Applied || res.Unbound != 0 {
		t.Fatalf("reload: %+v %v", res, err)
	}
	if p.a.ops.Gateway() == p.a.gw {
		t.Fatal("the reload did not publish a new gateway")
	}
	before := p.got.Load()
	for range 20 {
		seq++
		p.send(t, seq)
	}
	waitFor(t, "traffic after the reload", 3*time.Second, func() bool { return p.got.Load() >= before+20 })

	flows, err := p.a.ops.IPsecSAs(control.SAFilter{})
	if err != nil || len(flows) != 1 || flows[0].Encaps == 0 {
		t.Fatalf("show crypto ipsec sa on A: %+v %v", flows, err)
	}
	if _, err := p.a.ops.ClearSA(control.ClearSA{Peer: "192.0.2.2"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both sides' SAs to go", 5*time.Second, func() bool {
		return p.a.gw.Engine.SAD().Table().Len() == 0 && p.b.gw.Engine.SAD().Table().Len() == 0
	})
	if n := len(p.a.ops.Gateway().Engine.Tables().Interfaces[1].Crypto.Bindings()); n != 0 {
		t.Errorf("%d bindings left on A after clear", n)
	}
}

// TestIKEPerHost: a per-host entry negotiates one CHILD_SA per host pair,
// each bound to its pair.
func TestIKEPerHost(t *testing.T) {
	perHost := strings.Replace(staticEntry, " match address 101", " set security-association level per-host\n match address 101", 1)
	p := startPair(t, policyFor("a", "esp-gcm 128", perHost), policyFor("b", "esp-gcm 128", perHost))
	seq := p.establish(t)
	before := p.got.Load()
	waitFor(t, "the second host's SA", 10*time.Second, func() bool {
		seq++
		p.sendFrom(t, net.IP{10, 1, 1, 11}, seq)
		return p.got.Load() > before
	})
	cs := childSAs(p.a)
	if len(cs) != 2 {
		t.Fatalf("A's CHILD_SAs: %+v", cs)
	}
	hosts := map[string]bool{}
	for _, b := range p.a.gw.Engine.Tables().Interfaces[1].Crypto.Bindings() {
		hosts[b.Src.String()+">"+b.Dst.String()] = true
	}
	if !hosts["10.1.1.10>10.2.1.10"] || !hosts["10.1.1.11>10.2.1.10"] {
		t.Fatalf("A's per-host bindings: %v", hosts)
	}
}

// TestIKEDemux: IKE datagrams go to the engine of their ISAKMP major
// version; IKEv1 ones are counted and dropped while no IKEv1 engine runs.
func TestIKEDemux(t *testing.T) {
	s := newIKESite(t, "a", policyFor("a", "esp-gcm 128", staticEntry))
	v1 := make([]byte, 28)
	v1[17] = 0x10
	p := &fastpath.Punt{Kind: fastpath.PuntIKE, Flow: spd.Flow{Src: netip.MustParseAddr("192.0.2.2"), Dst: netip.MustParseAddr("192.0.2.1"), Proto: 17, SrcPort: 500, DstPort: 500}}
	pkt, err := udpPacket(netip.MustParseAddrPort("192.0.2.2:500"), netip.MustParseAddrPort("192.0.2.1:500"), v1)
	if err != nil {
		t.Fatal(err)
	}
	p.Packet = pkt
	engine := s.neg.V1
	s.neg.V1 = nil // as on a gateway not negotiating IKEv1
	if !s.neg.HandlePunt(p) || s.neg.Counters().IKEv1NotRunning.Load() != 1 || s.neg.Stats()["drop_ikev1_not_running"] != 1 {
		t.Fatalf("IKEv1 datagram: %v", s.neg.Counters())
	}
	s.neg.V1 = engine
	s.neg.HandlePunt(p)
	if s.neg.Counters().IKEv1.Load() != 2 || s.neg.Counters().IKEv1NotRunning.Load() != 1 {
		t.Fatalf("IKEv1 datagram not handed to the IKEv1 engine: %v", s.neg.Counters())
	}
	p.Packet = pkt[:25]
	s.neg.HandlePunt(p)
	if s.neg.Counters().Malformed.Load() != 1 {
		t.Fatalf("truncated datagram: %v", s.neg.Counters())
	}
}

// FuzzHandlePuntIKE feeds arbitrary packets as IKE punts: they are
// counted, never a panic.
func FuzzHandlePuntIKE(f *testing.F) {
	for _, port := range []uint16{500, 4500} {
		for _, version := range []byte{0x20, 0x10} { // IKEv2, IKEv1
			hdr := make([]byte, 32)
			hdr[17+4*btoi(port == 4500)] = version
			pkt, _ := udpPacket(netip.AddrPortFrom(netip.MustParseAddr("192.0.2.2"), port), netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), port), hdr)
			f.Add(pkt, port)
		}
	}
	f.Add([]byte{0x60, 0, 0}, uint16(500))
	x, err := NewNegotiator(NegotiatorConfig{Gateway: func() *Gateway { return nil }, IKEv1: &ikev1.Config{}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, pkt []byte, port uint16) {
		x.HandlePunt(&fastpath.Punt{Kind: fastpath.PuntIKE, Packet: pkt,
			Flow: spd.Flow{Src: netip.MustParseAddr("192.0.2.2"), Dst: netip.MustParseAddr("192.0.2.1"), Proto: 17, SrcPort: port, DstPort: port}})
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestIKEPeerFailover: when the entry's first set peer does not answer,
// the next one is tried (the guide's failover).
func TestIKEPeerFailover(t *testing.T) {
	twoPeers := strings.Replace(staticEntry, " set peer %PEER%", " set peer 192.0.2.9\n set peer %PEER%", 1)
	p := startPair(t, policyFor("a", "esp-gcm 128", twoPeers), policyFor("b", "esp-gcm 128", staticEntry))
	p.establish(t)
	sas := p.a.neg.Engine.SAs()
	if len(sas) != 1 || sas[0].Peer != "192.0.2.2" {
		t.Fatalf("A's IKE SAs after failover: %+v", sas)
	}
}

// TestIKEForcedEncap: with UDP encapsulation forced (as behind a NAT), IKE
// floats to port 4500 with the non-ESP marker and the SAs carry ESP in
// UDP, all through the same rings.
func TestIKEForcedEncap(t *testing.T) {
	p := startPair(t, policyFor("a", "esp-gcm 128", staticEntry), policyFor("b", "esp-gcm 128", staticEntry))
	peers, _ := p.a.ops.Gateway().IKEPeers()
	for _, pc := range peers {
		pc.ForceEncap = true
	}
	if err := p.a.neg.Engine.SetPeers(peers); err != nil {
		t.Fatal(err)
	}
	p.establish(t)
	cs := childSAs(p.a)
	if len(cs) != 1 || !cs[0].Encap || cs[0].LocalPort != 4500 {
		t.Fatalf("A's CHILD_SAs: %+v", cs)
	}
	for _, sa := range p.b.gw.Engine.SAD().Table().SAs() {
		if on, _, _ := sa.UDPEncap(); !on {
			t.Errorf("B's %v is not UDP-encapsulated", sa)
		}
	}
	if p.b.neg.Counters().IKEv2.Load() == 0 || p.b.gw.Engine.Stats().Global.Decrypted == 0 {
		t.Fatalf("B: %v, decrypted %d", p.b.neg.Counters(), p.b.gw.Engine.Stats().Global.Decrypted)
	}
}

// The guide's IKEv1 settings ("Example: AES-Based Static Crypto Map": an
// ISAKMP policy of AES-256 and pre-shared keys with a 180 s lifetime, a key
// per peer address, transform set esp-aes 256 esp-sha-hmac) on the pair's
// topology, in tunnel mode: an entry without set ikev2-profile negotiates
// with IKEv1 through the same punts, rings and installs as IKEv2.
const ikev1Entry = `crypto isakmp policy 10
 encryption aes 256
 authentication pre-share
 lifetime 180
crypto isakmp key cisco123 address %PEER%
crypto ipsec transform-set aesset esp-aes 256 esp-sha-hmac
 mode tunnel
crypto map vpn 10 ipsec-isakmp
 set peer %PEER%
 set transform-set aesset
 match address 101`

func TestIKEv1ThroughGateway(t *testing.T) {
	p := startPair(t, policyFor("a", "esp-gcm 128", ikev1Entry), policyFor("b", "esp-gcm 128", ikev1Entry))
	flow := control.ExplainRequest{In: "inside", Src: "10.1.1.10", Dst: "10.2.1.10", Proto: 17, SrcPort: 40000, DstPort: 5001}
	x, err := p.a.ops.Explain(flow)
	if err != nil || x.Action != control.ActionNegotiate || !strings.Contains(strings.Join(x.Problems, "\n"), "no ISAKMP SA with 192.0.2.2 yet") {
		t.Fatalf("explain before IKEv1 ran: %v %+v", err, x)
	}
	seq := p.establish(t)
	if x, err := p.a.ops.Explain(flow); err != nil || x.Action != control.ActionProtect {
		t.Fatalf("explain over the IKEv1 SA: %v %+v", err, x)
	}
	if len(p.a.neg.Engine.SAs()) != 0 || len(p.b.neg.Engine.SAs()) != 0 {
		t.Fatal("IKEv2 negotiated an IKEv1 entry")
	}
	for _, s := range []*ikeSite{p.a, p.b} {
		isakmp := s.neg.ISAKMPSAs()
		if len(isakmp) != 1 || isakmp[0].State != "QM_IDLE" || isakmp[0].Status != "ACTIVE" {
			t.Fatalf("show crypto isakmp sa: %+v", isakmp)
		}
		flows, err := s.ops.IPsecSAs(control.SAFilter{})
		if err != nil || len(flows) != 1 || len(flows[0].Inbound) != 1 || len(flows[0].Outbound) != 1 ||
			flows[0].Inbound[0].Transform != "esp-aes 256 esp-sha-hmac" {
			t.Fatalf("show crypto ipsec sa: %v %+v", err, flows)
		}
	}
	if st := p.a.neg.Stats(); st["ikev1_rx"] == 0 || st["punt_ikev1"] == 0 {
		t.Errorf("A's IKE counters: %v", st)
	}
	if m := p.a.ops.Sample().IKE; m == nil || m.ISAKMPByState["qm_idle"] != 1 {
		t.Errorf("A's IKE metrics sample: %+v", m)
	}

	// A kilobyte lifetime event goes to the engine that owns the SA: IKEv1
	// rekeys it (quick mode) and traffic carries on over the new SA.
	out := p.a.gw.Engine.SAD().Table().SAs()
	var old *sad.SA
	for _, sa := range out {
		if sa.Direction() == sad.Outbound {
			old = sa
		}
	}
	p.a.neg.HandlePunt(&fastpath.Punt{Kind: fastpath.PuntSAExpiry, Iface: -1, SA: old, Expiry: sad.SoftExpired})
	waitFor(t, "the IKEv1 rekey", 5*time.Second, func() bool {
		for _, sa := range p.a.ops.Gateway().Engine.Tables().Interfaces[1].Crypto.Bindings() {
			if sa.SA != old {
				return true
			}
		}
		return false
	})
	before := p.got.Load()
	for range 10 {
		seq++
		p.send(t, seq)
	}
	waitFor(t, "traffic after the rekey", 3*time.Second, func() bool { return p.got.Load() >= before+10 })

	// clear crypto sa deletes through IKEv1 on both sides; traffic
	// negotiates again.
	if _, err := p.a.ops.ClearSA(control.ClearSA{Peer: "192.0.2.2"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both sides' SAs to go", 5*time.Second, func() bool {
		return p.a.gw.Engine.SAD().Table().Len() == 0 && p.b.gw.Engine.SAD().Table().Len() == 0
	})
	before = p.got.Load()
	waitFor(t, "a new IKEv1 SA negotiated by traffic", 10*time.Second, func() bool {
		seq++
		p.send(t, seq)
		return p.got.Load() > before
	})
}

// TestIKEv1AHESPBundle: an AH+ESP transform set (the guide's ah-sha-hmac
// with esp-aes 256 esp-sha-hmac) negotiated by IKEv1 is installed as one
// bundle at each end: A's packets leave as IP/AH/ESP, show crypto ipsec sa
// lists both SA pairs, a lifetime event of the AH SA rekeys the bundle
// under traffic without losing a datagram, and clearing an AH SA by SPI
// (outbound or inbound) deletes the whole bundle at both ends.
func TestIKEv1AHESPBundle(t *testing.T) {
	entry := strings.Replace(ikev1Entry, "aesset esp-aes 256 esp-sha-hmac", "aesset ah-sha-hmac esp-aes 256 esp-sha-hmac", 1)
	p := startPair(t, policyFor("a", "esp-gcm 128", entry), policyFor("b", "esp-gcm 128", entry))
	seq := p.establish(t)

	// bundle returns a site's outbound ESP SA bound to the entry, and its
	// inbound AH SA.
	bundle := func(s *ikeSite) (out, inAH *sad.SA) {
		t.Helper()
		g := s.ops.Gateway()
		b := g.Engine.Tables().Interfaces[1].Crypto.Bindings()
		if len(b) != 1 || b[0].SA.Protocol() != sad.ESP || b[0].SA.Outer() == nil || b[0].SA.Outer().Protocol() != sad.AH {
			t.Fatalf("bindings %+v: want one ESP SA with its AH SA outside", b)
		}
		for _, sa := range g.Engine.SAD().Table().SAs() {
			if sa.Direction() == sad.Inbound && sa.Protocol() == sad.AH && !sa.Dead() {
				if sa.Inner() == nil || sa.Inner().Protocol() != sad.ESP {
					t.Fatalf("inbound AH SA %v carries no ESP SA", sa)
				}
				inAH = sa
			}
		}
		return b[0].SA, inAH
	}
	for _, s := range []*ikeSite{p.a, p.b} {
		if n := s.gw.Engine.SAD().Table().Len(); n != 4 {
			t.Fatalf("SAD holds %d SAs, want the bundle's 4", n)
		}
		bundle(s)
		flows, err := s.ops.IPsecSAs(control.SAFilter{})
		if err != nil || len(flows) != 1 || len(flows[0].Inbound) != 2 || len(flows[0].Outbound) != 2 {
			t.Fatalf("show crypto ipsec sa: %v %+v", err, flows)
		}
		protos := map[string]bool{}
		for _, sa := range append(flows[0].Inbound, flows[0].Outbound...) {
			protos[sa.Protocol+" "+sa.Transform] = true
		}
		if !protos["esp esp-aes 256 esp-sha-hmac"] || !protos["ah ah-sha-hmac"] {
			t.Errorf("show crypto ipsec sa lists %v", protos)
		}
		// Show takes each SA's lifetime from what IKEv1 negotiated.
		kids := s.ops.ikeChildren()
		for _, sa := range append(flows[0].Inbound, flows[0].Outbound...) {
			if kids[sa.SPI] == nil || sa.RemainingSec <= 0 {
				t.Errorf("SA %08x: negotiated IPsec SA %v, %d s left", sa.SPI, kids[sa.SPI], sa.RemainingSec)
			}
		}
	}

	// A stream across a rekey triggered by the outbound AH SA's kilobyte
	// lifetime loses nothing, and every IPsec packet is AH around ESP.
	oldOut, _ := bundle(p.a)
	base := seq + 1
	stop := p.stream(t, base)
	time.Sleep(50 * time.Millisecond)
	p.a.neg.HandlePunt(&fastpath.Punt{Kind: fastpath.PuntSAExpiry, Iface: -1, SA: oldOut.Outer(), Expiry: sad.SoftExpired})
	waitFor(t, "the bundle's rekey", 5*time.Second, func() bool {
		b := p.a.ops.Gateway().Engine.Tables().Interfaces[1].Crypto.Bindings()
		return len(b) == 1 && b[0].SA != oldOut
	})
	waitFor(t, "the old bundle to go at both ends", 5*time.Second, func() bool {
		return p.a.gw.Engine.SAD().Table().Len() == 4 && p.b.gw.Engine.SAD().Table().Len() == 4
	})
	last := stop()
	newOut, _ := bundle(p.a)
	if newOut == oldOut || newOut.Outer() == oldOut.Outer() {
		t.Fatal("the rekey did not replace both SAs of the bundle")
	}
	if n := p.bareESP.Load(); n != 0 || p.ahESP.Load() < int64(last-base) {
		t.Errorf("A sent %d AH+ESP packets and %d ESP without AH, for %d datagrams", p.ahESP.Load(), n, last-base)
	}
	t.Logf("%d datagrams across a rekey of the AH+ESP bundle, none lost; %d IP/AH/ESP packets on the wire", last-base, p.ahESP.Load())

	// clear crypto sa entry naming one AH SA deletes the bundle at both
	// ends: B's inbound one at A, then A's inbound one at B.
	if _, err := p.a.ops.ClearSA(control.ClearSA{Dst: "192.0.2.2", Protocol: "ah", SPI: newOut.Outer().SPI()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both sides' bundles to go", 5*time.Second, func() bool {
		return p.a.gw.Engine.SAD().Table().Len() == 0 && p.b.gw.Engine.SAD().Table().Len() == 0
	})
	before, seq := p.got.Load(), last
	waitFor(t, "traffic to negotiate a new bundle", 10*time.Second, func() bool {
		seq++
		p.send(t, seq)
		return p.got.Load() > before
	})
	waitFor(t, "B's new outbound bundle", 3*time.Second, func() bool {
		return len(p.b.ops.Gateway().Engine.Tables().Interfaces[1].Crypto.Bindings()) == 1
	})
	_, inAH := bundle(p.b)
	if _, err := p.b.ops.ClearSA(control.ClearSA{Dst: "192.0.2.2", Protocol: "ah", SPI: inAH.SPI()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both sides' bundles to go", 5*time.Second, func() bool {
		return p.a.gw.Engine.SAD().Table().Len() == 0 && p.b.gw.Engine.SAD().Table().Len() == 0
	})
}

// TestTemporaryEntryOrder: a temporary entry answers where its dynamic
// entry sits in the map's first-match order, before entries of higher
// sequence numbers, whose rules are renumbered; the fast path compiles the
// result and every binding carries over.
func TestTemporaryEntryOrder(t *testing.T) {
	entries := strings.Replace(dynamicAnyEntry, "crypto map vpn 65535 ipsec-isakmp dynamic dyn", `crypto map vpn 10 ipsec-isakmp dynamic dyn
crypto map vpn 20 ipsec-isakmp
 set peer 192.0.2.9
 set transform-set ts1
 set ikev2-profile prof
 match address 101`, 1)
	s := newIKESite(t, "b", policyFor("b", "esp-gcm 128", entries))
	g := s.ops.Gateway()
	temp := TempEntry{Entry: "crypto map vpn 10 (dynamic-map dyn 10)", Local: netip.MustParseAddr("192.0.2.2"), Peer: netip.MustParseAddr("192.0.2.1"),
		Sel: []spd.Selector{{Src: netip.MustParsePrefix("10.2.0.0/16"), Dst: netip.MustParsePrefix("10.1.0.0/16")}}}
	ng, err := g.withTemporary([]TempEntry{temp})
	if err != nil {
		t.Fatal(err)
	}
	cm := ng.Maps[1]
	if len(cm.Entries) != 3 || cm.Entries[0].Seq != 10 || !isTemporary(cm.Entries[1]) || cm.Entries[1].Seq != 10 || cm.Entries[2].Seq != 20 {
		t.Fatalf("entries %+v", cm.Entries)
	}
	if len(cm.Rules) != 2 || cm.Rules[0].Entry != 1 || cm.Rules[0].Sel != temp.Sel[0] || cm.Rules[1].Entry != 2 || cm.Rules[1].Line != 1 {
		t.Fatalf("rules %+v", cm.Rules)
	}
	if !sameRules(ng.Engine.Tables().Interfaces[1].Crypto, cm) {
		t.Fatal("the fast path's SPD is not the published map's")
	}
	back, err := ng.withTemporary(nil)
	if err != nil || len(back.Maps[1].Entries) != 2 || len(back.Maps[1].Rules) != 1 || back.Maps[1].Rules[0].Entry != 1 {
		t.Fatalf("without the entry: %v %+v", err, back.Maps[1])
	}
}

// TestIKEv1Failures: IKEv1 failures reach the Negotiator's Failures as
// IKEv2's do: the metrics count a quick mode refused for want of a
// common transform set at both ends, and live explain of the entry's
// flow says what the last attempt met.
func TestIKEv1Failures(t *testing.T) {
	polB := strings.Replace(policyFor("b", "esp-gcm 128", ikev1Entry), "aesset esp-aes 256 esp-sha-hmac", "aesset esp-aes 128 esp-sha256-hmac", 1)
	p := startPair(t, policyFor("a", "esp-gcm 128", ikev1Entry), polB)
	seq := uint32(0)
	waitFor(t, "a failed IKEv1 negotiation", 10*time.Second, func() bool {
		seq++
		p.send(t, seq)
		last, _ := p.a.neg.Failures()
		return len(last) > 0
	})
	for _, s := range []*ikeSite{p.a, p.b} {
		last, counts := s.neg.Failures()
		if len(last) == 0 || last[0].SA != "child" || last[0].Code != "NO_PROPOSAL_CHOSEN" || last[0].Child != "crypto map vpn 10" {
			t.Errorf("failures %+v", last)
		}
		if c, _ := s.neg.Engine.Failures(); len(c) != 0 {
			t.Errorf("IKEv2 recorded IKEv1's failures: %+v", c)
		}
		var n uint64
		for _, f := range s.ops.Sample().IKE.Failures {
			if f.SA == "child" && f.Reason == "NO_PROPOSAL_CHOSEN" {
				n += f.N
			}
		}
		if n == 0 || len(counts) == 0 {
			t.Errorf("failures counted: %+v (Failures %+v)", s.ops.Sample().IKE.Failures, counts)
		}
	}
	x, err := p.a.ops.Explain(control.ExplainRequest{In: "inside", Src: "10.1.1.10", Dst: "10.2.1.10", Proto: 17, SrcPort: 40000, DstPort: 5001})
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(x.Problems, "\n")
	if !strings.Contains(text, "last attempt (IPsec SA) failed") || !strings.Contains(text, "ago: NO_PROPOSAL_CHOSEN from 192.0.2.2 (no common transform set") ||
		!strings.Contains(text, "the ISAKMP SA with 192.0.2.2 is up (QM_IDLE)") {
		t.Errorf("explain at A: %s", text)
	}
	last, _ := p.b.neg.Failures()
	if len(last) == 0 || !strings.Contains(failureText(&last[0], time.Now()), "NO_PROPOSAL_CHOSEN: this gateway refused 192.0.2.1") {
		t.Errorf("B's failures: %+v", last)
	}
}
