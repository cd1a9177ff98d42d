package fastpath

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"ipsecgw/crypto"
	"ipsecgw/fastpath/hdr"
	"ipsecgw/fastpath/sad"
	"ipsecgw/fastpath/stats"
	"ipsecgw/packet"
	"ipsecgw/spd"
)

// The test topology: two gateways on one outside subnet, each with a LAN.
//
//	host 10.1.0.5 ─ inside [gw A] outside 192.0.2.1 ── 192.0.2.2 outside [gw B] inside ─ host 10.2.0.5
//
// Interface 0 is inside, 1 outside. A's outside frames are fed to B's
// outside port and back.

type site struct {
	lan, lan6         netip.Prefix
	inside, inside6   netip.Prefix
	outside, outside6 netip.Prefix
	host, host6       netip.Addr
	inMAC, outMAC     MAC
	hostMAC           MAC
}

var siteA = site{
	lan: pfx("10.1.0.0/24"), lan6: pfx("2001:db8:1::/64"),
	inside: pfx("10.1.0.1/24"), inside6: pfx("2001:db8:1::1/64"),
	outside: pfx("192.0.2.1/24"), outside6: pfx("2001:db8:ff::1/64"),
	host: addr("10.1.0.5"), host6: addr("2001:db8:1::5"),
	inMAC: MAC{2, 0xa, 0, 0, 0, 1}, outMAC: MAC{2, 0xa, 0, 0, 0, 2}, hostMAC: MAC(macHost),
}

var siteB = site{
	lan: pfx("10.2.0.0/24"), lan6: pfx("2001:db8:2::/64"),
	inside: pfx("10.2.0.1/24"), inside6: pfx("2001:db8:2::1/64"),
	outside: pfx("192.0.2.2/24"), outside6: pfx("2001:db8:ff::2/64"),
	host: addr("10.2.0.5"), host6: addr("2001:db8:2::5"),
	inMAC: MAC{2, 0xb, 0, 0, 0, 1}, outMAC: MAC{2, 0xb, 0, 0, 0, 2}, hostMAC: MAC{2, 0xb, 0, 0, 0, 9},
}

// saSpec describes one direction's SA(s) of a test tunnel.
type saSpec struct {
	proto     sad.Protocol // ESP or AH; bundle adds AH outside ESP
	bundle    bool
	transform crypto.Transform
	ahInteg   crypto.Integ
	mode      sad.Mode
	outer6    bool
}

type gateway struct {
	eng     *Engine
	w       *Worker
	pool    *packet.Pool
	in, out *MemPort
	outSA   *sad.SA // of the IPv4 rule
	inSA    *sad.SA
}

const (
	ifInside  = 0
	ifOutside = 1
)

func key(n int, seed byte) []byte {
	k := make([]byte, n)
	for i := range k {
		k[i] = seed + byte(i)*7
	}
	return k
}

// newGateway builds a gateway of site self facing peer. With spec non-nil
// its outside interface has a crypto map protecting self.lan(6) <->
// peer.lan(6), entries of kind; manual entries get their SAs (site B's
// SPIs mirror site A's).
func newGateway(t testing.TB, self, peer site, spec *saSpec, kind EntryKind, mtu int) *gateway {
	t.Helper()
	if mtu == 0 {
		mtu = 1500
	}
	g := &gateway{}
	ifs := []Interface{
		{Name: "GigabitEthernet0/1", MAC: self.inMAC, MTU: 1500, Addrs: []netip.Prefix{self.inside, self.inside6}},
		{Name: "GigabitEthernet0/0", MAC: self.outMAC, MTU: mtu, Addrs: []netip.Prefix{self.outside, self.outside6}},
	}
	routes := []Route{
		{Prefix: self.inside.Masked(), Kind: RouteConnected, Iface: ifInside},
		{Prefix: netip.PrefixFrom(self.inside.Addr(), 32), Kind: RouteLocal, Iface: ifInside},
		{Prefix: self.inside6.Masked(), Kind: RouteConnected, Iface: ifInside},
		{Prefix: netip.PrefixFrom(self.inside6.Addr(), 128), Kind: RouteLocal, Iface: ifInside},
		{Prefix: self.outside.Masked(), Kind: RouteConnected, Iface: ifOutside},
		{Prefix: netip.PrefixFrom(self.outside.Addr(), 32), Kind: RouteLocal, Iface: ifOutside},
		{Prefix: self.outside6.Masked(), Kind: RouteConnected, Iface: ifOutside},
		{Prefix: netip.PrefixFrom(self.outside6.Addr(), 128), Kind: RouteLocal, Iface: ifOutside},
		{Prefix: peer.lan, Kind: RouteStatic, Iface: -1, NextHop: peer.outside.Addr()},
		{Prefix: peer.lan6, Kind: RouteStatic, Iface: -1, NextHop: peer.outside6.Addr()},
	}
	fib, err := NewFIB(routes)
	if err != nil {
		t.Fatal(err)
	}
	neigh := NewNeighbors([]Neighbor{
		{Iface: ifInside, Addr: self.host, MAC: self.hostMAC},
		{Iface: ifInside, Addr: self.host6, MAC: self.hostMAC},
		{Iface: ifOutside, Addr: peer.outside.Addr(), MAC: peer.outMAC},
		{Iface: ifOutside, Addr: peer.outside6.Addr(), MAC: peer.outMAC},
	})
	db := sad.NewDB()
	if spec != nil {
		rules := []spd.Rule{
			{Sel: spd.Selector{Src: self.lan, Dst: peer.lan}, Permit: true, Entry: 0, Line: 1},
			{Sel: spd.Selector{Src: self.lan6, Dst: peer.lan6}, Permit: true, Entry: 1, Line: 1},
		}
		if spec.mode == sad.Transport { // traffic between the peers themselves
			rules[0].Sel = spd.Selector{Src: host(self.outside), Dst: host(peer.outside)}
			rules[1].Sel = spd.Selector{Src: host(self.outside6), Dst: host(peer.outside6)}
		}
		tab, err := spd.Compile(rules)
		if err != nil {
			t.Fatal(err)
		}
		cm, err := NewCryptoMap("vpn", tab, []CryptoEntry{{Seq: 10, Kind: kind}, {Seq: 20, Kind: kind}})
		if err != nil {
			t.Fatal(err)
		}
		if kind == EntryManual {
			var binds []Binding
			for r, rule := range rules {
				spiOut, spiIn := uint32(1000+r), uint32(2000+r)
				if self == siteB {
					spiOut, spiIn = spiIn, spiOut
				}
				out, in := g.makeSAs(t, db, spec, rule.Sel, spiOut, spiIn, self, peer)
				if err := db.Install(out, in); err != nil {
					t.Fatal(err)
				}
				binds = append(binds, Binding{Rule: r, SA: out})
				if r == 0 {
					g.outSA, g.inSA = out, in
				}
			}
			if cm, err = cm.WithSAs(binds, nil); err != nil {
				t.Fatal(err)
			}
		}
		ifs[ifOutside].Crypto = cm
	}
	g.eng, err = NewEngine(&Tables{Interfaces: ifs, FIB: fib}, neigh, db)
	if err != nil {
		t.Fatal(err)
	}
	g.pool = packet.NewHeapPool(1024, 2048)
	g.in = NewMemPort(g.pool, nil, false)
	g.out = NewMemPort(g.pool, nil, false)
	g.in.Capture(true)
	g.out.Capture(true)
	g.w, err = g.eng.AddWorker(WorkerConfig{Pool: g.pool, Batch: 32, Ports: []PortBinding{{g.in, ifInside}, {g.out, ifOutside}}})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func host(p netip.Prefix) netip.Prefix { return netip.PrefixFrom(p.Addr(), p.Addr().BitLen()) }

// makeSAs builds the outbound and inbound SAs of one ACL line. SPIs are
// mirrored by the peer: our outbound SPI is its inbound one.
func (g *gateway) makeSAs(t testing.TB, db *sad.DB, spec *saSpec, sel spd.Selector, spiOut, spiIn uint32, self, peer site) (out, in *sad.SA) {
	t.Helper()
	local, remote := self.outside.Addr(), peer.outside.Addr()
	if spec.outer6 {
		local, remote = self.outside6.Addr(), peer.outside6.Addr()
	}
	if spec.mode == sad.Transport { // the endpoints are the traffic's
		local, remote = sel.Src.Addr(), sel.Dst.Addr()
	}
	// Keys derive from the SPI, so both gateways compute the same ones.
	mk := func(spi uint32, dir sad.Direction, proto sad.Protocol) *sad.SA {
		c := sad.Config{
			SPI: spi, Protocol: proto, Direction: dir, Mode: spec.mode,
			Local: local, Remote: remote, Selectors: []spd.Selector{sel},
		}
		seed := byte(spi)
		if proto == sad.AH {
			c.SPI += 500
			integ := spec.ahInteg
			if integ == crypto.IntegNone {
				integ = spec.transform.Integ
			}
			c.Transform = crypto.Transform{Integ: integ}
			c.IntegKey = key(integ.KeyLen(), seed+1)
		} else {
			c.Transform = spec.transform
			c.CipherKey = key(spec.transform.Cipher.KeyLen(spec.transform.KeyBits), seed)
			c.IntegKey = key(spec.transform.Integ.KeyLen(), seed+2)
		}
		sa, err := sad.New(c, 1)
		if err != nil {
			t.Fatal(err)
		}
		return sa
	}
	// Inbound selectors are the peer's outbound ones as seen from here:
	// the same line (Src local).
	if spec.proto == sad.AH {
		return mk(spiOut, sad.Outbound, sad.AH), mk(spiIn, sad.Inbound, sad.AH)
	}
	out, in = mk(spiOut, sad.Outbound, sad.ESP), mk(spiIn, sad.Inbound, sad.ESP)
	if spec.bundle {
		if err := sad.Bundle(out, mk(spiOut, sad.Outbound, sad.AH)); err != nil {
			t.Fatal(err)
		}
		if err := sad.Bundle(in, mk(spiIn, sad.Inbound, sad.AH)); err != nil {
			t.Fatal(err)
		}
		if err := db.Install(in.Outer()); err != nil {
			t.Fatal(err)
		}
	}
	return out, in
}

// newPair builds gateways A and B with mirrored manual SAs: B's outbound
// SPIs are A's inbound ones.
func newPair(t testing.TB, spec saSpec, mtu int) (a, b *gateway) {
	t.Helper()
	return newGateway(t, siteA, siteB, &spec, EntryManual, mtu), newGateway(t, siteB, siteA, &spec, EntryManual, mtu)
}

// send runs frames into the port and polls until they are processed;
// it returns what each port transmitted.
func (g *gateway) send(t testing.TB, port *MemPort, frames ...[]byte) (inside, outside [][]byte) {
	t.Helper()
	port.Load(frames)
	if err := g.w.Drain(nil); err != nil {
		t.Fatal(err)
	}
	// Datagrams in reassembly hold one buffer each.
	if free := g.pool.Free(); free != g.pool.Size()-g.w.reasm.active {
		t.Fatalf("buffers leaked: %d of %d free, %d in reassembly", free, g.pool.Size(), g.w.reasm.active)
	}
	return g.in.Captured(), g.out.Captured()
}

// hostFrame is a frame from site s's host to the gateway's inside MAC.
func hostFrame(t testing.TB, from site, src, dst string, o frameOpts) []byte {
	f := buildFrame(t, src, dst, o)
	copy(f[0:6], from.inMAC[:])
	copy(f[6:12], from.hostMAC[:])
	return f
}

func (g *gateway) stats() Stats { return g.eng.Stats() }

// ipOf returns the IP packet of a frame and checks its Ethernet header.
func ipOf(t testing.TB, f []byte, dst, src MAC) []byte {
	t.Helper()
	if MAC(f[0:6]) != dst || MAC(f[6:12]) != src {
		t.Fatalf("Ethernet %v -> %v, want %v -> %v", MAC(f[6:12]), MAC(f[0:6]), src, dst)
	}
	return f[14:]
}

// sameInner compares the packet that left with the original, whose TTL two
// routers decremented.
func sameInner(t testing.TB, got, orig []byte, hops int) {
	t.Helper()
	want := append([]byte(nil), orig...)
	for range hops {
		hdr.DecTTL(want, want[0]>>4)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("inner packet differs\n got %x\nwant %x", got, want)
	}
}

var gcm128 = crypto.Transform{Cipher: crypto.CipherAESGCM16, KeyBits: 128}

func TestForwardEncryptDecrypt(t *testing.T) {
	specs := map[string]saSpec{
		"esp-gcm-128":            {proto: sad.ESP, transform: gcm128},
		"esp-aes-256-sha256":     {proto: sad.ESP, transform: crypto.Transform{Cipher: crypto.CipherAESCBC, KeyBits: 256, Integ: crypto.IntegHMACSHA256_128}},
		"esp-chacha":             {proto: sad.ESP, transform: crypto.Transform{Cipher: crypto.CipherChaCha20Poly1305}},
		"ah-sha1":                {proto: sad.AH, transform: crypto.Transform{Integ: crypto.IntegHMACSHA1_96}},
		"ah-sha256+esp-gcm":      {proto: sad.ESP, bundle: true, transform: gcm128, ahInteg: crypto.IntegHMACSHA256_128},
		"esp-gcm-128 outer IPv6": {proto: sad.ESP, transform: gcm128, outer6: true},
	}
	for name, spec := range specs {
		t.Run(name, func(t *testing.T) {
			a, b := newPair(t, spec, 0)
			for _, c := range []struct{ src, dst string }{{"10.1.0.5", "10.2.0.5"}, {"2001:db8:1::5", "2001:db8:2::5"}} {
				var frames, origs [][]byte
				for i := range 5 {
					f := hostFrame(t, siteA, c.src, c.dst, frameOpts{payload: payload(10 + 300*i), sport: uint16(1000 + i)})
					frames = append(frames, f)
					origs = append(origs, mustIP(t, f))
				}
				_, wire := a.send(t, a.in, frames...)
				if len(wire) != len(frames) {
					t.Fatalf("%s: %d frames on the wire, want %d; stats %+v", c.src, len(wire), len(frames), a.stats().Global)
				}
				for _, w := range wire {
					p := ipOf(t, w, siteB.outMAC, siteA.outMAC)
					proto := layers.IPProtocolESP
					if spec.proto == sad.AH || spec.bundle {
						proto = layers.IPProtocolAH
					}
					if got := outerProto(p); got != proto {
						t.Fatalf("outer protocol %v, want %v", got, proto)
					}
					if bytes.Contains(p, payload(300)[100:200]) {
						if spec.proto != sad.AH {
							t.Fatal("cleartext payload visible on the wire")
						}
					}
				}
				inside, _ := b.send(t, b.out, wire...)
				if len(inside) != len(frames) {
					t.Fatalf("%d frames out of B's inside, want %d; B stats %+v", len(inside), len(frames), b.stats().Global)
				}
				for i, f := range inside {
					sameInner(t, ipOf(t, f, siteB.hostMAC, siteB.inMAC), origs[i], 2)
				}
			}
			sa, sb := a.stats().Global, b.stats().Global
			if sa.Encrypted != 10 || sb.Decrypted != 10 || sa.Drops.Total() != 0 || sb.Drops.Total() != 0 {
				t.Fatalf("counters: A %+v\nB %+v", sa, sb)
			}
			if c := a.outSA.Counters(); c.Packets != 5 {
				t.Errorf("A's outbound SA counted %d packets", c.Packets)
			}
			if c := b.inSA.Counters(); c.Packets != 5 {
				t.Errorf("B's inbound SA counted %d packets", c.Packets)
			}
		})
	}
}

func mustIP(t testing.TB, f []byte) []byte {
	t.Helper()
	var m hdr.Meta
	if r := hdr.Parse(f[14:], &m); r != stats.None {
		t.Fatal(r)
	}
	return append([]byte(nil), f[14:14+m.Length]...)
}

func outerProto(p []byte) layers.IPProtocol {
	if p[0]>>4 == 4 {
		return layers.IPProtocol(p[9])
	}
	return layers.IPProtocol(p[6])
}

func TestTransitWithoutCrypto(t *testing.T) {
	g := newGateway(t, siteA, siteB, nil, EntryManual, 0)
	f := hostFrame(t, siteA, "10.1.0.5", "10.2.0.5", frameOpts{ttl: 10})
	_, out := g.send(t, g.in, f)
	if len(out) != 1 {
		t.Fatalf("%d frames out", len(out))
	}
	sameInner(t, ipOf(t, out[0], siteB.outMAC, siteA.outMAC), mustIP(t, f), 1)
	if s := g.stats(); s.Global.Forwarded != 1 || s.Ifaces[ifInside].Port.RxPackets != 1 || s.Ifaces[ifOutside].Port.TxPackets != 1 {
		t.Fatalf("counters %+v", s)
	}
}

// checkDrop sends one frame and checks it is dropped for reason r.
func checkDrop(t *testing.T, g *gateway, port *MemPort, f []byte, r stats.Reason) {
	t.Helper()
	before := g.stats().Global.Drops[r]
	in, out := g.send(t, port, f)
	if len(in)+len(out) != 0 {
		t.Errorf("%v: frame forwarded", r)
	}
	if got := g.stats().Global.Drops[r] - before; got != 1 {
		s := g.stats()
		t.Errorf("%v: counted %d, drops now %v", r, got, s.Global.Drops.Map())
	}
}

func TestDrops(t *testing.T) {
	spec := &saSpec{proto: sad.ESP, transform: gcm128}
	g := newGateway(t, siteA, siteB, spec, EntryManual, 0)

	opts := hostFrame(t, siteA, "10.1.0.5", "10.2.0.5", frameOpts{options: true})
	checkDrop(t, g, g.in, opts, stats.IPOptions)

	bad := hostFrame(t, siteA, "10.1.0.5", "10.2.0.5", frameOpts{})
	bad[14+10] ^= 0xff
	checkDrop(t, g, g.in, bad, stats.Malformed)

	arp := hostFrame(t, siteA, "10.1.0.5", "10.2.0.5", frameOpts{})
	arp[12], arp[13] = 0x08, 0x06
	checkDrop(t, g, g.in, arp, stats.NotIP)

	other := hostFrame(t, siteA, "10.1.0.5", "10.2.0.5", frameOpts{})
	other[5] = 0x77
	checkDrop(t, g, g.in, other, stats.OtherHost)

	tagged := hostFrame(t, siteA, "10.1.0.5", "10.2.0.5", frameOpts{vlan: 5})
	checkDrop(t, g, g.in, tagged, stats.UnknownVLAN)

	noRoute := hostFrame(t, siteA, "10.1.0.5", "172.16.9.9", frameOpts{})
	checkDrop(t, g, g.in, noRoute, stats.NoRoute)

	// Cleartext from the peer's LAN to ours on the outside interface
	// should have been protected.
	clear := buildFrame(t, "10.2.0.5", "10.1.0.5", frameOpts{})
	copy(clear[0:6], siteA.outMAC[:])
	checkDrop(t, g, g.out, clear, stats.Unprotected)
	if d := g.stats().Ifaces[ifOutside].Drops[stats.Unprotected]; d != 1 {
		t.Errorf("unprotected not counted on the outside interface: %d", d)
	}
	// Traffic no ACL covers passes.
	other2 := buildFrame(t, "10.3.0.5", "10.1.0.5", frameOpts{})
	copy(other2[0:6], siteA.outMAC[:])
	if in, _ := g.send(t, g.out, other2); len(in) != 1 {
		t.Error("uncovered cleartext dropped")
	}

	// ESP with an unknown SPI.
	esp := buildFrame(t, "192.0.2.2", "192.0.2.1", frameOpts{proto: layers.IPProtocolESP, payload: append([]byte{0, 0, 0x99, 0x99, 0, 0, 0, 1}, payload(64)...)})
	copy(esp[0:6], siteA.outMAC[:])
	checkDrop(t, g, g.out, esp, stats.NoSA)
}

func TestNoNeighbor(t *testing.T) {
	g := newGateway(t, siteA, siteB, nil, EntryManual, 0)
	f := hostFrame(t, siteA, "10.1.0.5", "10.1.0.77", frameOpts{}) // on-link, not in the table
	checkDrop(t, g, g.in, f, stats.NoNeighbor)
	checkDrop(t, g, g.in, f, stats.NoNeighbor)
	// One punt per hold time, however many packets.
	var misses int
	for p := g.w.Punts().Peek(); p != nil; p = g.w.Punts().Peek() {
		if p.Kind != PuntNeighborMiss || p.Iface != ifInside || p.Flow.Dst != addr("10.1.0.77") {
			t.Errorf("punt %+v", p)
		}
		misses++
		g.w.Punts().Release()
	}
	if misses != 1 {
		t.Errorf("%d neighbour-miss punts, want 1", misses)
	}
	// Once the slow path resolved it, traffic flows.
	g.eng.SetNeighbors(g.eng.Neighbors().With([]Neighbor{{Iface: ifInside, Addr: addr("10.1.0.77"), MAC: MAC{2, 1, 2, 3, 4, 5}}}, nil))
	if in, _ := g.send(t, g.in, f); len(in) != 1 || MAC(in[0][0:6]) != (MAC{2, 1, 2, 3, 4, 5}) {
		t.Fatal("not forwarded after resolution")
	}
}

func TestAcquire(t *testing.T) {
	spec := &saSpec{proto: sad.ESP, transform: gcm128}
	g := newGateway(t, siteA, siteB, spec, EntryISAKMP, 0)
	f := hostFrame(t, siteA, "10.1.0.5", "10.2.0.5", frameOpts{})
	for range 3 {
		checkDrop(t, g, g.in, f, stats.NoSA)
	}
	p := g.w.Punts().Peek()
	if p == nil || p.Kind != PuntAcquire || p.Rule != 0 || p.Crypto == nil || p.Flow.Dst != addr("10.2.0.5") || p.Iface != ifOutside {
		t.Fatalf("ACQUIRE %+v", p)
	}
	g.w.Punts().Release()
	if g.w.Punts().Peek() != nil {
		t.Fatal("more than one ACQUIRE for one flow")
	}
	// A manual entry without SA drops without asking.
	g2 := newGateway(t, siteA, siteB, spec, EntryDynamic, 0)
	checkDrop(t, g2, g2.in, f, stats.NoSA)
	if g2.w.Punts().Peek() != nil {
		t.Fatal("ACQUIRE for a dynamic entry")
	}
}

func TestTTLExceeded(t *testing.T) {
	g := newGateway(t, siteA, siteB, nil, EntryManual, 0)
	for _, c := range []struct{ src, dst string }{{"10.1.0.5", "10.2.0.5"}, {"2001:db8:1::5", "2001:db8:2::5"}} {
		f := hostFrame(t, siteA, c.src, c.dst, frameOpts{ttl: 1})
		in, out := g.send(t, g.in, f)
		if len(out) != 0 || len(in) != 1 {
			t.Fatalf("%s: in %d out %d", c.src, len(in), len(out))
		}
		p := decode(ipOf(t, in[0], siteA.hostMAC, siteA.inMAC), layers.LayerTypeIPv4)
		if c.src[0] == '2' {
			p = decode(in[0][14:], layers.LayerTypeIPv6)
			ic, _ := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
			if ic == nil || ic.TypeCode.Type() != 3 {
				t.Fatalf("not time exceeded: %v", p)
			}
			continue
		}
		ic, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ic == nil || ic.TypeCode.Type() != 11 || ip.SrcIP.String() != "10.1.0.1" || ip.DstIP.String() != "10.1.0.5" {
			t.Fatalf("not time exceeded from the inside address: %v", p)
		}
	}
	if s := g.stats().Global; s.Drops[stats.TTLExceeded] != 2 || s.ICMPErrors != 2 {
		t.Fatalf("counters %+v", s)
	}
}

// TestPathMTU covers the three cases of an outbound packet too big for the
// tunnel: IPv4 without DF is fragmented before encryption and the peer's
// fragments reassemble to the original; IPv4 with DF and IPv6 get ICMP with
// the effective MTU.
func TestPathMTU(t *testing.T) {
	a, b := newPair(t, saSpec{proto: sad.ESP, transform: gcm128}, 1400)
	limit := 1400 - a.outSA.Overhead()

	big := hostFrame(t, siteA, "10.1.0.5", "10.2.0.5", frameOpts{payload: payload(1472)})
	orig := mustIP(t, big)
	_, wire := a.send(t, a.in, big)
	if len(wire) != 2 {
		t.Fatalf("%d ESP packets, want 2", len(wire))
	}
	for _, w := range wire {
		if len(w)-14 > 1400 {
			t.Fatalf("ESP packet of %d bytes exceeds the MTU", len(w)-14)
		}
	}
	inside, _ := b.send(t, b.out, wire...)
	if len(inside) != 2 {
		t.Fatalf("%d fragments out of B", len(inside))
	}
	// Reassemble with gopacket and compare with the original (TTL - 2).
	want := append([]byte(nil), orig...)
	hdr.DecTTL(want, 4)
	hdr.DecTTL(want, 4)
	var whole []byte
	for _, f := range inside {
		if len(f)-14 > limit {
			t.Fatalf("fragment of %d bytes, limit %d", len(f)-14, limit)
		}
		ip := decode(f[14:], layers.LayerTypeIPv4).Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip.FragOffset == 0 {
			whole = append(append([]byte(nil), f[14:34]...), append(ip.Payload, whole...)...)
		} else {
			whole = append(whole, ip.Payload...)
		}
	}
	if !bytes.Equal(whole[20:], want[20:]) {
		t.Fatal("reassembled payload differs")
	}
	if s := a.stats().Global; s.Fragments != 2 || s.Encrypted != 2 {
		t.Fatalf("A counters %+v", s)
	}

	// DF set: ICMP fragmentation needed with the effective MTU.
	df := hostFrame(t, siteA, "10.1.0.5", "10.2.0.5", frameOpts{payload: payload(1472), df: true})
	in, out := a.send(t, a.in, df)
	if len(out) != 0 || len(in) != 1 {
		t.Fatalf("DF: in %d out %d", len(in), len(out))
	}
	p := decode(in[0][14:], layers.LayerTypeIPv4)
	ic, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if ic == nil || ic.TypeCode != layers.CreateICMPv4TypeCode(3, 4) || int(in[0][14+26])<<8|int(in[0][14+27]) != limit {
		t.Fatalf("not fragmentation needed with MTU %d: %v", limit, p)
	}
	// IPv6: packet too big.
	v6 := hostFrame(t, siteA, "2001:db8:1::5", "2001:db8:2::5", frameOpts{payload: payload(1400)})
	in, out = a.send(t, a.in, v6)
	if len(out) != 0 || len(in) != 1 {
		t.Fatalf("v6: in %d out %d", len(in), len(out))
	}
	p = decode(in[0][14:], layers.LayerTypeIPv6)
	ic6, _ := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	if ic6 == nil || ic6.TypeCode.Type() != 2 {
		t.Fatalf("not packet too big: %v", p)
	}
	if s := a.stats().Global; s.Drops[stats.MTUExceeded] != 2 {
		t.Fatalf("mtu_exceeded %d", s.Drops[stats.MTUExceeded])
	}
	if d := a.outSA.Counters().Drops[stats.MTUExceeded]; d != 1 {
		t.Fatalf("mtu_exceeded on the SA: %d", d)
	}
}

func TestLocalTraffic(t *testing.T) {
	g := newGateway(t, siteA, siteB, &saSpec{proto: sad.ESP, transform: gcm128}, EntryManual, 0)
	toUs := func(proto layers.IPProtocol, dport uint16, pl []byte) []byte {
		f := buildFrame(t, "192.0.2.2", "192.0.2.1", frameOpts{proto: proto, sport: dport, dport: dport, payload: pl})
		copy(f[0:6], siteA.outMAC[:])
		return f
	}
	ike := toUs(layers.IPProtocolUDP, 500, payload(100))
	ikeNATT := toUs(layers.IPProtocolUDP, 4500, append([]byte{0, 0, 0, 0}, payload(100)...))
	keepalive := toUs(layers.IPProtocolUDP, 4500, []byte{0xff})
	ping := toUs(layers.IPProtocolICMPv4, 0, nil)
	in, out := g.send(t, g.out, ike, ikeNATT, keepalive, ping)
	if len(in)+len(out) != 0 {
		t.Fatal("local traffic forwarded")
	}
	want := []PuntKind{PuntIKE, PuntIKE, PuntLocal}
	for i, k := range want {
		p := g.w.Punts().Peek()
		if p == nil || p.Kind != k || p.Iface != ifOutside {
			t.Fatalf("punt %d: %+v, want %v", i, p, k)
		}
		if !bytes.Equal(p.Packet, mustIP(t, [][]byte{ike, ikeNATT, ping}[i])) {
			t.Fatalf("punt %d: packet differs", i)
		}
		g.w.Punts().Release()
	}
	s := g.stats().Global
	if s.NATKeepalives != 1 || s.Punted[PuntIKE] != 2 || s.Punted[PuntLocal] != 1 || s.Drops.Total() != 0 {
		t.Fatalf("counters %+v", s)
	}
}

func TestInject(t *testing.T) {
	g := newGateway(t, siteA, siteB, &saSpec{proto: sad.ESP, transform: gcm128}, EntryManual, 0)
	// IKE from the gateway to the peer bypasses the crypto map.
	ike := mustIP(t, buildFrame(t, "192.0.2.1", "192.0.2.2", frameOpts{sport: 500, dport: 500, payload: payload(80)}))
	// Data the gateway originates inside the protected range is protected.
	data := mustIP(t, buildFrame(t, "10.1.0.1", "10.2.0.5", frameOpts{payload: payload(80)}))
	for _, c := range []struct {
		pkt    []byte
		bypass bool
	}{{ike, true}, {data, false}} {
		s := g.w.Injects().Reserve()
		s.Packet = append(s.Packet[:0], c.pkt...)
		s.Bypass = c.bypass
		g.w.Injects().Commit()
	}
	_, out := g.send(t, g.in)
	if len(out) != 2 {
		t.Fatalf("%d frames out", len(out))
	}
	if !bytes.Equal(ipOf(t, out[0], siteB.outMAC, siteA.outMAC), ike) {
		t.Fatal("IKE packet changed")
	}
	if outerProto(out[1][14:]) != layers.IPProtocolESP {
		t.Fatal("originated data not protected")
	}
	if s := g.stats().Global; s.Injected != 2 || s.Encrypted != 1 || s.Forwarded != 1 {
		t.Fatalf("counters %+v", s)
	}
}

// TestTransportMode protects traffic the gateway originates to its peer in
// transport mode: A injects it, B receives ESP addressed to itself and
// hands the original packet to its slow path.
func TestTransportMode(t *testing.T) {
	a, b := newPair(t, saSpec{proto: sad.ESP, transform: gcm128, mode: sad.Transport}, 0)
	for _, c := range []struct{ src, dst string }{{"192.0.2.1", "192.0.2.2"}, {"2001:db8:ff::1", "2001:db8:ff::2"}} {
		orig := mustIP(t, buildFrame(t, c.src, c.dst, frameOpts{payload: payload(300)}))
		s := a.w.Injects().Reserve()
		s.Packet, s.Bypass = append(s.Packet[:0], orig...), false
		a.w.Injects().Commit()
		_, wire := a.send(t, a.in)
		if len(wire) != 1 {
			t.Fatalf("%s: %d frames out", c.src, len(wire))
		}
		p := ipOf(t, wire[0], siteB.outMAC, siteA.outMAC)
		if outerProto(p) != layers.IPProtocolESP || len(p) >= len(orig)+40 {
			t.Fatalf("%s: not transport-mode ESP: %x", c.src, p)
		}
		b.send(t, b.out, wire[0])
		punt := b.w.Punts().Peek()
		if punt == nil || punt.Kind != PuntLocal || !bytes.Equal(punt.Packet, orig) {
			t.Fatalf("%s: B punted %+v, want the original packet", c.src, punt)
		}
		b.w.Punts().Release()
	}
	if s := b.stats().Global; s.Decrypted != 2 || s.Drops.Total() != 0 {
		t.Fatalf("B counters %+v", s)
	}
}

// TestTablesSwap replaces the tables and neighbours between polls: workers
// use the new ones at once.
func TestTablesSwap(t *testing.T) {
	g := newGateway(t, siteA, siteB, nil, EntryManual, 0)
	f := hostFrame(t, siteA, "10.1.0.5", "10.2.0.5", frameOpts{})
	if _, out := g.send(t, g.in, f); len(out) != 1 {
		t.Fatal("not forwarded")
	}
	old := g.eng.Tables()
	fib, err := NewFIB(old.FIB.Routes()[:8]) // without the routes to the peer's LANs
	if err != nil {
		t.Fatal(err)
	}
	if err := g.eng.SetTables(&Tables{Interfaces: old.Interfaces, FIB: fib}); err != nil {
		t.Fatal(err)
	}
	checkDrop(t, g, g.in, f, stats.NoRoute)
	bad := &Tables{Interfaces: old.Interfaces[:1], FIB: fib}
	if err := g.eng.SetTables(bad); err == nil {
		t.Fatal("tables with another interface list accepted")
	}
}

// TestBinding checks how outbound SAs are found for a permit rule: the
// newest SA whose selectors cover the flow, narrower SAs before wider ones
// as bound, per-host SAs by host pair, deleted bindings gone.
func TestBinding(t *testing.T) {
	rules := []spd.Rule{
		{Sel: spd.Selector{Src: pfx("10.1.0.0/24"), Dst: pfx("10.2.0.0/24")}, Permit: true, Entry: 0, Line: 1},
		{Sel: spd.Selector{Src: pfx("10.1.0.0/24"), Dst: pfx("10.3.0.0/24")}, Permit: true, Entry: 1, Line: 1},
		{Sel: spd.Selector{Src: pfx("10.1.0.0/24"), Dst: pfx("10.4.0.0/24")}, Permit: false, Entry: 2, Line: 1},
	}
	tab, err := spd.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	cm, err := NewCryptoMap("m", tab, []CryptoEntry{{Seq: 10}, {Seq: 20, PerHost: true}, {Seq: 30}})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(spi uint32, sels ...spd.Selector) *sad.SA {
		sa, err := sad.New(sad.Config{SPI: spi, Protocol: sad.ESP, Direction: sad.Outbound, Local: addr("192.0.2.1"), Remote: addr("192.0.2.2"),
			Transform: gcm128, CipherKey: key(20, 1), Selectors: sels}, 1)
		if err != nil {
			t.Fatal(err)
		}
		return sa
	}
	narrow := mk(300, spd.Selector{Src: pfx("10.1.0.0/25"), Dst: pfx("10.2.0.0/24")})
	wide := mk(301, rules[0].Sel)
	hostSA := mk(302, spd.Selector{Src: pfx("10.1.0.5/32"), Dst: pfx("10.3.0.7/32")})
	cm, err = cm.WithSAs([]Binding{{Rule: 0, SA: narrow}, {Rule: 0, SA: wide}, {Rule: 1, SA: hostSA, Src: addr("10.1.0.5"), Dst: addr("10.3.0.7")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	flow := func(src, dst string) *spd.Flow { return &spd.Flow{Src: addr(src), Dst: addr(dst), Proto: 17} }
	for _, c := range []struct {
		rule     int
		src, dst string
		want     *sad.SA
	}{
		{0, "10.1.0.5", "10.2.0.9", narrow},
		{0, "10.1.0.200", "10.2.0.9", wide},
		{1, "10.1.0.5", "10.3.0.7", hostSA},
		{1, "10.1.0.6", "10.3.0.7", nil},
	} {
		if got := cm.outboundSA(c.rule, flow(c.src, c.dst)); got != c.want {
			t.Errorf("rule %d %s -> %s: got %v, want %v", c.rule, c.src, c.dst, got, c.want)
		}
	}
	if _, err := cm.WithSAs([]Binding{{Rule: 2, SA: wide}}, nil); err == nil {
		t.Error("SA bound to a deny line")
	}
	if _, err := cm.WithSAs([]Binding{{Rule: 1, SA: wide}}, nil); err == nil {
		t.Error("per-host binding without a host pair accepted")
	}
	cm2, err := cm.WithSAs(nil, []*sad.SA{narrow})
	if err != nil {
		t.Fatal(err)
	}
	if got := cm2.outboundSA(0, flow("10.1.0.5", "10.2.0.9")); got != wide {
		t.Errorf("after unbinding the narrow SA: %v", got)
	}
	if len(cm2.Bindings()) != 2 || len(cm.Bindings()) != 3 {
		t.Errorf("bindings %d and %d", len(cm2.Bindings()), len(cm.Bindings()))
	}
}

// fragmentOuter splits the IP packet p into fragments with data of at
// most size bytes (a multiple of 8), written here independently of the
// engine's fragmenter: IPv4 by the header fields, IPv6 with a fragment
// header after the fixed header.
func fragmentOuter(p []byte, size int, id uint32) [][]byte {
	var out [][]byte
	if p[0]>>4 == 4 {
		data := p[20:]
		for off := 0; off < len(data); off += size {
			n := min(size, len(data)-off)
			f := append(append([]byte(nil), p[:20]...), data[off:off+n]...)
			binary.BigEndian.PutUint16(f[2:4], uint16(len(f)))
			binary.BigEndian.PutUint16(f[4:6], uint16(id))
			ff := uint16(off / 8)
			if off+n < len(data) {
				ff |= 0x2000
			}
			binary.BigEndian.PutUint16(f[6:8], ff)
			f[10], f[11] = 0, 0
			binary.BigEndian.PutUint16(f[10:12], hdr.Checksum(f[:20], 0))
			out = append(out, f)
		}
		return out
	}
	data := p[40:]
	for off := 0; off < len(data); off += size {
		n := min(size, len(data)-off)
		f := append([]byte(nil), p[:40]...)
		fh := make([]byte, 8)
		fh[0] = p[6]
		fo := uint16(off)
		if off+n < len(data) {
			fo |= 1
		}
		binary.BigEndian.PutUint16(fh[2:4], fo)
		binary.BigEndian.PutUint32(fh[4:8], id)
		f = append(append(f, fh...), data[off:off+n]...)
		f[6] = ext6Fragment
		binary.BigEndian.PutUint16(f[4:6], uint16(len(f)-40))
		out = append(out, f)
	}
	return out
}

// TestReassembly has gateway B receive A's ESP packets fragmented after
// encryption, in any order, IPv4 and IPv6 outside: B reassembles, decrypts
// and delivers the original packets.
func TestReassembly(t *testing.T) {
	for _, outer6 := range []bool{false, true} {
		a, b := newPair(t, saSpec{proto: sad.ESP, transform: gcm128, outer6: outer6}, 0)
		orig := hostFrame(t, siteA, "10.1.0.5", "10.2.0.5", frameOpts{payload: payload(1200)})
		_, wire := a.send(t, a.in, orig)
		eth := wire[0][:14]
		frags := fragmentOuter(wire[0][14:], 512, 77)
		if len(frags) != 3 {
			t.Fatalf("%d fragments", len(frags))
		}
		var frames [][]byte
		for _, i := range []int{2, 0, 1} { // out of order
			frames = append(frames, append(append([]byte(nil), eth...), frags[i]...))
		}
		inside, _ := b.send(t, b.out, frames...)
		if len(inside) != 1 {
			t.Fatalf("outer6 %v: %d packets delivered; B %+v", outer6, len(inside), b.stats().Global)
		}
		sameInner(t, ipOf(t, inside[0], siteB.hostMAC, siteB.inMAC), mustIP(t, orig), 2)
		if s := b.stats().Global; s.Reassembled != 1 || s.ReasmFragments != 3 || s.Drops.Total() != 0 || b.w.reasm.held != 0 {
			t.Fatalf("outer6 %v: counters %+v", outer6, s)
		}
	}
}

func TestReassemblyFailures(t *testing.T) {
	a, b := newPair(t, saSpec{proto: sad.ESP, transform: gcm128}, 0)
	_, wire := a.send(t, a.in, hostFrame(t, siteA, "10.1.0.5", "10.2.0.5", frameOpts{payload: payload(1200)}))
	eth := wire[0][:14]
	frame := func(p []byte) []byte { return append(append([]byte(nil), eth...), p...) }
	frags := fragmentOuter(wire[0][14:], 512, 1)

	// An overlapping fragment discards the datagram: both fragments drop.
	over := fragmentOuter(wire[0][14:], 256, 1)
	b.send(t, b.out, frame(frags[0]), frame(over[1]))
	if s := b.stats().Global; s.Drops[stats.Reassembly] != 2 || s.Reassembled != 0 || b.w.reasm.held != 0 {
		t.Fatalf("overlap: %+v held %d", s.Drops.Map(), b.w.reasm.held)
	}
	// A datagram that never completes times out.
	b.send(t, b.out, frame(frags[0]), frame(frags[1]))
	if b.w.reasm.held != 2 {
		t.Fatalf("held %d", b.w.reasm.held)
	}
	b.w.epoch = b.w.epoch.Add(-2 * time.Duration(reasmTimeout))
	b.send(t, b.out)
	if s := b.stats().Global; s.Drops[stats.Reassembly] != 4 || b.w.reasm.held != 0 || b.w.reasm.active != 0 {
		t.Fatalf("timeout: %+v held %d", s.Drops.Map(), b.w.reasm.held)
	}
	// More datagrams than slots: the oldest make room.
	var many [][]byte
	for id := range reasmSlots + 3 {
		many = append(many, frame(fragmentOuter(wire[0][14:], 512, uint32(100+id))[0]))
	}
	b.send(t, b.out, many...)
	if s := b.stats().Global; s.Drops[stats.Reassembly] != 7 || b.w.reasm.held != reasmSlots {
		t.Fatalf("eviction: %+v held %d", s.Drops.Map(), b.w.reasm.held)
	}
}

// TestRunIdleAndStop runs a worker on its own thread: it forwards while
// readers sum its counters, backs off through Wait when idle, and stops.
func TestRunIdleAndStop(t *testing.T) {
	g := newGateway(t, siteA, siteB, nil, EntryManual, 0)
	var waits atomic.Int64
	pool := packet.NewHeapPool(256, 2048)
	in := NewMemPort(pool, [][]byte{hostFrame(t, siteA, "10.1.0.5", "10.2.0.5", frameOpts{})}, false)
	out := NewMemPort(pool, nil, false)
	w, err := g.eng.AddWorker(WorkerConfig{Pool: pool, Ports: []PortBinding{{in, ifInside}, {out, ifOutside}},
		Wait: func(d time.Duration) bool { waits.Add(1); time.Sleep(d); return false }})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- w.Run(-1) }()
	deadline := time.Now().Add(5 * time.Second)
	for waits.Load() == 0 || g.eng.Stats().Global.Forwarded == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("worker did not forward and go idle: waits %d, %+v", waits.Load(), g.eng.Stats().Global)
		}
		time.Sleep(time.Millisecond)
	}
	w.Stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := g.eng.Stats(); s.Global.Forwarded != 1 || s.Ifaces[ifOutside].Port.TxPackets != 1 {
		t.Fatalf("counters %+v", s)
	}
}
