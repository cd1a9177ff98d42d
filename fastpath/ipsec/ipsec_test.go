package ipsec

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"ipsecgw/crypto"
	"ipsecgw/fastpath/hdr"
	"ipsecgw/fastpath/sad"
	"ipsecgw/fastpath/stats"
)

var (
	gcm128    = crypto.Transform{Cipher: crypto.CipherAESGCM16, KeyBits: 128}
	cbcSHA256 = crypto.Transform{Cipher: crypto.CipherAESCBC, KeyBits: 256, Integ: crypto.IntegHMACSHA256_128}
)

// checkOuter decodes a protected packet with gopacket and checks what the
// outside sees: addresses, protocol, SPI, sequence number, IPv4 checksum.
func checkOuter(t *testing.T, p *pair, pkt []byte, seq uint32) {
	t.Helper()
	first := layers.LayerTypeIPv4
	if p.a.Is6() {
		first = layers.LayerTypeIPv6
	}
	d := gopacket.NewPacket(pkt, first, gopacket.Default)
	if el := d.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	var src, dst netip.Addr
	if ip4, ok := d.Layers()[0].(*layers.IPv4); ok {
		src, dst = netip.AddrFrom4([4]byte(ip4.SrcIP.To4())), netip.AddrFrom4([4]byte(ip4.DstIP.To4()))
		if hdr.Checksum(pkt[:20], 0) != 0 {
			t.Fatal("outer IPv4 checksum wrong")
		}
		if int(ip4.Length) != len(pkt) {
			t.Fatalf("IPv4 length %d, packet %d", ip4.Length, len(pkt))
		}
	} else {
		ip6 := d.Layers()[0].(*layers.IPv6)
		src, dst = netip.AddrFrom16([16]byte(ip6.SrcIP)), netip.AddrFrom16([16]byte(ip6.DstIP))
		if int(ip6.Length)+40 != len(pkt) {
			t.Fatalf("IPv6 length %d, packet %d", ip6.Length, len(pkt))
		}
	}
	if src != p.a || dst != p.b {
		t.Fatalf("outer %v -> %v", src, dst)
	}
	if on, _, _ := p.out.UDPEncap(); on {
		u, ok := d.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if !ok || u.SrcPort != 4500 || u.DstPort != 4500 {
			t.Fatalf("NAT-T: no UDP 4500 header in %v", d)
		}
		if p.a.Is4() && u.Checksum != 0 {
			t.Fatal("NAT-T over IPv4 must send a zero UDP checksum")
		}
		if p.a.Is6() && !udp6ChecksumOK(pkt, 40) {
			t.Fatal("NAT-T over IPv6: bad UDP checksum")
		}
		esp := u.Payload
		if got := binary.BigEndian.Uint32(esp[4:]); binary.BigEndian.Uint32(esp) != p.out.SPI() || got != seq {
			t.Fatalf("ESP in UDP: SPI %x seq %d", binary.BigEndian.Uint32(esp), got)
		}
		return
	}
	if ah, ok := d.Layer(layers.LayerTypeIPSecAH).(*layers.IPSecAH); ok {
		want := p.out
		if p.out.Outer() != nil {
			want = p.out.Outer()
		}
		if ah.SPI != want.SPI() || ah.Seq != seq {
			t.Fatalf("AH SPI %x seq %d", ah.SPI, ah.Seq)
		}
		if p.out.Outer() == nil {
			return
		}
	}
	esp, ok := d.Layer(layers.LayerTypeIPSecESP).(*layers.IPSecESP)
	if !ok {
		t.Fatalf("no ESP layer in %v", d)
	}
	if esp.SPI != p.out.SPI() || esp.Seq != seq {
		t.Fatalf("ESP SPI %x seq %d", esp.SPI, esp.Seq)
	}
}

// udp6ChecksumOK verifies a UDP-over-IPv6 checksum independently.
func udp6ChecksumOK(pkt []byte, off int) bool {
	u := pkt[off:]
	var s uint64
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			s += uint64(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			s += uint64(b[len(b)-1]) << 8
		}
	}
	add(pkt[8:40])
	s += uint64(len(u)) + 17
	add(u)
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return s == 0xffff
}

// TestRoundTrip protects packets with every transform, in tunnel and
// transport mode, over IPv4 and IPv6, with and without ESN and NAT-T, and
// checks the peer gets them back byte for byte.
func TestRoundTrip(t *testing.T) {
	type variant struct {
		mode           sad.Mode
		outer6, inner6 bool
	}
	variants := []variant{
		{sad.Tunnel, false, false}, {sad.Tunnel, false, true}, {sad.Tunnel, true, false}, {sad.Tunnel, true, true},
		{sad.Transport, false, false}, {sad.Transport, true, true},
	}
	for _, base := range allTransforms() {
		for _, v := range variants {
			for _, esn := range []bool{false, true} {
				for _, natt := range []bool{false, true} {
					if natt && (base.proto == sad.AH || base.ahInteg != 0 || esn) {
						continue
					}
					s := base
					s.mode, s.outer6, s.esn, s.natt, s.window = v.mode, v.outer6, esn, natt, 64
					name := fmt.Sprintf("%v/%v/outer%d/inner%d/esn=%v/natt=%v", s, v.mode, ipv(v.outer6), ipv(v.inner6), esn, natt)
					t.Run(name, func(t *testing.T) {
						p := newPair(t, s)
						var frames [][]byte
						for _, size := range []int{48, 101, 777, 1400} {
							frames = append(frames, p.hostPacket(v.inner6, size))
						}
						sealed := p.mustSeal(frames...)
						for i, pkt := range sealed {
							checkOuter(t, p, pkt, uint32(i+1))
							got, sa, r := p.openOne(pkt)
							if r != stats.None {
								t.Fatalf("packet %d (%d bytes): decrypt dropped it: %v", i, len(frames[i]), r)
							}
							if sa != p.in {
								t.Fatalf("packet %d came out on %v", i, sa)
							}
							if !bytes.Equal(got, frames[i]) {
								t.Fatalf("packet %d changed:\n got %x\nwant %x", i, got, frames[i])
							}
						}
						c := p.in.Counters()
						if c.Packets != uint64(len(frames)) || c.Drops.Total() != 0 {
							t.Fatalf("inbound counters %+v", c)
						}
						if c := p.out.Counters(); c.Packets != uint64(len(frames)) {
							t.Fatalf("outbound counters %+v", c)
						}
					})
				}
			}
		}
	}
}

func ipv(six bool) int {
	if six {
		return 6
	}
	return 4
}

// tamperSpecs are the layouts the negative tests cover: AEAD, CBC+HMAC,
// ESP-NULL, AH alone, an AH+ESP bundle, NAT-T.
func tamperSpecs() []spec {
	return []spec{
		{proto: sad.ESP, tr: gcm128, window: 64},
		{proto: sad.ESP, tr: cbcSHA256, window: 64, outer6: true},
		{proto: sad.ESP, tr: crypto.Transform{Cipher: crypto.CipherNull, Integ: crypto.IntegHMACSHA1_96}, window: 64},
		{proto: sad.AH, tr: crypto.Transform{Integ: crypto.IntegHMACSHA256_128}, window: 64},
		{proto: sad.AH, tr: crypto.Transform{Integ: crypto.IntegHMACSHA384_192}, window: 64, outer6: true, mode: sad.Transport},
		{proto: sad.ESP, tr: cbcSHA256, ahInteg: crypto.IntegHMACSHA1_96, window: 64},
		{proto: sad.ESP, tr: gcm128, window: 64, natt: true, esn: true},
	}
}

// ipsecOffset is where the first IPsec (or NAT-T UDP) header starts.
func ipsecOffset(p *pair) int {
	if p.a.Is4() {
		return 20
	}
	return 40
}

// TestTamper flips every bit position class of the protected part of a
// packet: nothing may get through, and the window must not move.
func TestTamper(t *testing.T) {
	for _, s := range tamperSpecs() {
		t.Run(s.String(), func(t *testing.T) {
			p := newPair(t, s)
			pkt := p.mustSeal(p.hostPacket(false, 200))[0]
			start := ipsecOffset(p)
			if s.natt {
				start += 8 // UDP header is not authenticated
			}
			for pos := start; pos < len(pkt); pos++ {
				bad := bytes.Clone(pkt)
				bad[pos] ^= 1 << (pos % 8)
				_, _, r := p.openOne(bad)
				if r == stats.None {
					t.Fatalf("flipping byte %d of %d got through", pos, len(pkt))
				}
			}
			if p.inDrops(stats.AuthFailed) == 0 {
				t.Fatal("no auth_failed counted")
			}
			// Fields outside the ICV's reach may change: TTL (and for ESP
			// the whole outer header but the addresses).
			ok := bytes.Clone(pkt)
			if p.a.Is4() {
				ok[8]--
				hdr.SetIPv4Checksum(ok[:20])
			} else {
				ok[7]--
			}
			got, _, r := p.openOne(ok)
			if r != stats.None {
				t.Fatalf("a changed TTL broke the packet: %v", r)
			}
			if s.mode == sad.Transport {
				return // the TTL is part of the result
			}
			want := p.hostPacket(false, 200)
			if !bytes.Equal(got, want) {
				t.Fatal("packet changed")
			}
		})
	}
}

func TestTruncation(t *testing.T) {
	for _, s := range tamperSpecs() {
		t.Run(s.String(), func(t *testing.T) {
			p := newPair(t, s)
			pkt := p.mustSeal(p.hostPacket(false, 300))[0]
			for cut := 1; cut < len(pkt)-ipsecOffset(p); cut++ {
				short := bytes.Clone(pkt[:len(pkt)-cut])
				if _, _, r := p.openOne(short); r != stats.Malformed {
					t.Fatalf("cut %d without fixing the IP length: %v", cut, r)
				}
				fixed := fixLength(short)
				if _, _, r := p.openOne(fixed); r == stats.None {
					t.Fatalf("cut %d with the IP length fixed got through", cut)
				}
			}
			if _, _, r := p.openOne(pkt); r != stats.None {
				t.Fatalf("the intact packet failed after the truncated ones: %v", r)
			}
		})
	}
}

// fixLength rewrites an IP packet's length field (and UDP's for NAT-T) to
// match a truncated packet.
func fixLength(f []byte) []byte {
	var l l3
	parseL3(append(bytes.Clone(f), make([]byte, 2048)...), &l)
	setLength(f, &l, len(f))
	if l.nh == protoUDP && len(f) >= l.hlen+8 {
		binary.BigEndian.PutUint16(f[l.hlen+4:], uint16(len(f)-l.hlen))
	}
	return f
}

func TestReplay(t *testing.T) {
	for _, s := range tamperSpecs() {
		t.Run(s.String(), func(t *testing.T) {
			p := newPair(t, s)
			var frames [][]byte
			for range 200 {
				frames = append(frames, p.hostPacket(false, 100))
			}
			var sealed [][]byte
			for i := 0; i < len(frames); i += 64 {
				sealed = append(sealed, p.mustSeal(frames[i:min(i+64, len(frames))]...)...)
			}
			for i := range 10 {
				if _, _, r := p.openOne(sealed[i]); r != stats.None {
					t.Fatalf("seq %d: %v", i+1, r)
				}
			}
			if _, _, r := p.openOne(sealed[5]); r != stats.Replay {
				t.Fatalf("duplicate: %v", r)
			}
			if _, _, r := p.openOne(sealed[149]); r != stats.None {
				t.Fatalf("jump: %v", r)
			}
			// Left of the window. With ESN the low half reads as the next
			// 2^32 subspace (RFC 4303 Appendix A) and the ICV fails.
			leftOf := stats.Replay
			if s.esn {
				leftOf = stats.AuthFailed
			}
			if _, _, r := p.openOne(sealed[149-64]); r != leftOf {
				t.Fatalf("left of the window: %v", r)
			}
			if _, _, r := p.openOne(sealed[149-63]); r != stats.None {
				t.Fatalf("left edge of the window: %v", r)
			}
			// A duplicate within one vector: the second copy loses.
			bufs := p.load(sealed[160], sealed[160])
			_, v := p.open(bufs)
			p.free(bufs)
			if v[0] != stats.None || v[1] != stats.Replay {
				t.Fatalf("duplicate in one vector: %v", v)
			}
			want := uint64(3)
			if s.esn {
				want = 2
			}
			if got := p.inDrops(stats.Replay); got != want {
				t.Fatalf("replay drops %d", got)
			}
		})
	}
	// Manual SAs have no window: duplicates pass.
	p := newPair(t, spec{proto: sad.ESP, tr: gcm128})
	pkt := p.mustSeal(p.hostPacket(false, 100))[0]
	for range 3 {
		if _, _, r := p.openOne(pkt); r != stats.None {
			t.Fatalf("replay-disabled SA: %v", r)
		}
	}
}

func TestWrongSPI(t *testing.T) {
	for _, s := range tamperSpecs() {
		t.Run(s.String(), func(t *testing.T) {
			p := newPair(t, s)
			pkt := p.mustSeal(p.hostPacket(false, 100))[0]
			off := ipsecOffset(p)
			if s.natt {
				off += 8
			}
			if s.proto == sad.AH || s.ahInteg != 0 {
				off += 4
			}
			bad := bytes.Clone(pkt)
			bad[off+3] ^= 0x40
			if _, _, r := p.openOne(bad); r != stats.NoSA {
				t.Fatalf("unknown SPI: %v", r)
			}
			// Deleted SAs stop at once, also right after a packet of
			// theirs (the node's last lookup).
			if _, _, r := p.openOne(pkt); r != stats.None {
				t.Fatalf("known SPI: %v", r)
			}
			p.db.Delete(p.db.Table().SAs()...)
			if _, _, r := p.openOne(pkt); r != stats.NoSA {
				t.Fatalf("deleted SA: %v", r)
			}
		})
	}
}

func TestPolicyMismatch(t *testing.T) {
	for _, s := range tamperSpecs() {
		t.Run(s.String(), func(t *testing.T) {
			src, dst := netip.MustParseAddr("10.9.0.1"), hostB4 // outside the SA's selectors
			if s.mode == sad.Transport {
				s.selProto = protoTCP // and the packet is UDP
			}
			p := newPair(t, s)
			if s.mode == sad.Transport {
				src, dst = p.a, p.b
			}
			pkt := p.mustSeal(inner(t, src, dst, 100, 0, false))[0]
			if _, _, r := p.openOne(pkt); r != stats.PolicyMismatch {
				t.Fatalf("got %v", r)
			}
			if p.inDrops(stats.PolicyMismatch) != 1 || p.in.Counters().Packets != 0 {
				t.Fatalf("counters %+v", p.in.Counters())
			}
		})
	}
}

// TestBundleShape: a bundled ESP SA only accepts ESP inside its AH.
func TestBundleShape(t *testing.T) {
	p := newPair(t, spec{proto: sad.ESP, tr: cbcSHA256, ahInteg: crypto.IntegHMACSHA1_96, window: 64})
	pkt := p.mustSeal(p.hostPacket(false, 100))[0]
	ahLen := int(pkt[21]+2) * 4
	bare := append(bytes.Clone(pkt[:20]), pkt[20+ahLen:]...)
	bare[9] = protoESP
	fixLength(bare)
	if _, _, r := p.openOne(bare); r != stats.PolicyMismatch {
		t.Fatalf("bare ESP of a bundle: %v", r)
	}
	if _, _, r := p.openOne(pkt); r != stats.None {
		t.Fatalf("bundle: %v", r)
	}
}

// TestNATTMismatch: ESP in UDP for an SA without NAT-T is refused.
func TestNATTMismatch(t *testing.T) {
	p := newPair(t, spec{proto: sad.ESP, tr: gcm128, window: 64})
	pkt := p.mustSeal(p.hostPacket(false, 100))[0]
	udp := []byte{0x11, 0x94, 0x11, 0x94, 0, 0, 0, 0}
	wrapped := append(append(bytes.Clone(pkt[:20]), udp...), pkt[20:]...)
	wrapped[9] = protoUDP
	fixLength(wrapped)
	if _, _, r := p.openOne(wrapped); r != stats.PolicyMismatch {
		t.Fatalf("got %v", r)
	}
	// IKE (non-ESP marker) and keepalives are not ESP.
	for _, payload := range [][]byte{{0, 0, 0, 0, 1, 2, 3, 4, 5, 6}, {0xff}} {
		f := append(append(bytes.Clone(pkt[:20]), udp...), payload...)
		f[9] = protoUDP
		fixLength(f)
		if _, _, r := p.openOne(f); r != stats.Malformed {
			t.Fatalf("non-ESP on 4500: %v", r)
		}
	}
}

func TestLifetime(t *testing.T) {
	p := newPair(t, spec{proto: sad.ESP, tr: gcm128, window: 64, mod: func(c *sad.Config) {
		c.Lifetime = sad.Lifetime{HardPackets: 10}
	}})
	frame := p.hostPacket(false, 100)
	frames := func(n int) [][]byte {
		f := make([][]byte, n)
		for i := range f {
			f[i] = frame
		}
		return f
	}
	var sealed [][]byte
	for _, step := range []struct {
		n, pass int
		events  sad.Expiry
	}{{8, 8, 0}, {1, 1, sad.SoftExpired}, {3, 1, sad.HardExpired}, {2, 0, 0}} {
		bufs, v := p.seal(frames(step.n)...)
		pass := 0
		for i, r := range v {
			switch r {
			case stats.None:
				pass++
				sealed = append(sealed, bytes.Clone(bufs[i].Bytes()))
			case stats.LifetimeExpired:
			default:
				t.Fatalf("unexpected %v", r)
			}
		}
		p.free(bufs)
		var ev sad.Expiry
		for _, e := range p.enc.Events {
			if e.SA != p.out {
				t.Fatal("event for another SA")
			}
			ev |= e.Expiry
		}
		if pass != step.pass || ev != step.events {
			t.Fatalf("step %+v: %d passed, events %v", step, pass, ev)
		}
	}
	if c := p.out.Counters(); c.Packets != 10 || c.Drops[stats.LifetimeExpired] != 4 {
		t.Fatalf("counters %+v", c)
	}
	// Inbound: the ten packets, then the limits; a whole vector at once.
	bufs := p.load(sealed...)
	_, v := p.open(bufs)
	p.free(bufs)
	for i, r := range v {
		if r != stats.None {
			t.Fatalf("inbound %d: %v", i, r)
		}
	}
	if len(p.dec.Events) != 1 || p.dec.Events[0].Expiry != sad.SoftExpired|sad.HardExpired || p.dec.Events[0].SA != p.in {
		t.Fatalf("inbound events %+v", p.dec.Events)
	}
}

func TestSeqOverflow(t *testing.T) {
	p := newPair(t, spec{proto: sad.ESP, tr: gcm128, mod: func(c *sad.Config) {
		if c.Direction == sad.Outbound {
			c.SeqStart = 1<<32 - 3
		}
	}})
	frame := p.hostPacket(false, 100)
	bufs, v := p.seal(frame, frame, frame, frame, frame)
	defer p.free(bufs)
	want := []stats.Reason{stats.None, stats.None, stats.SeqOverflow, stats.SeqOverflow, stats.SeqOverflow}
	for i := range v {
		if v[i] != want[i] {
			t.Fatalf("verdicts %v", v)
		}
	}
	if got := binary.BigEndian.Uint32(bufs[1].Bytes()[24:]); got != 1<<32-1 {
		t.Fatalf("last sequence number %#x", got)
	}
	if c := p.out.Counters(); c.Drops[stats.SeqOverflow] != 3 {
		t.Fatalf("counters %+v", c.Drops.Map())
	}
}

// TestESNWrap sends across the 2^32 boundary of an ESN SA.
func TestESNWrap(t *testing.T) {
	for _, s := range []spec{
		{proto: sad.ESP, tr: gcm128, esn: true, window: 64},
		{proto: sad.ESP, tr: cbcSHA256, esn: true, window: 64},
		{proto: sad.AH, tr: crypto.Transform{Integ: crypto.IntegHMACSHA256_128}, esn: true, window: 64},
	} {
		t.Run(s.String(), func(t *testing.T) {
			s.mod = func(c *sad.Config) {
				if c.Direction == sad.Outbound {
					c.SeqStart = 1<<32 - 3
				}
			}
			p := newPair(t, s)
			p.in.Window().Update(1<<32 - 10) // as if earlier traffic had arrived
			frame := p.hostPacket(false, 100)
			sealed := p.mustSeal(frame, frame, frame, frame, frame)
			for i, pkt := range sealed {
				if _, _, r := p.openOne(pkt); r != stats.None {
					t.Fatalf("packet %d: %v", i, r)
				}
			}
			if top := p.in.Window().Top(); top != 1<<32+2 {
				t.Fatalf("window top %#x", top)
			}
			if _, _, r := p.openOne(sealed[1]); r != stats.Replay {
				t.Fatalf("replay across the wrap: %v", r)
			}
		})
	}
}

func TestOuterHeader(t *testing.T) {
	type tc struct {
		name    string
		mod     func(*sad.Config)
		tos     uint8
		df      bool
		wantTOS uint8
		wantDF  bool
	}
	for _, c := range []tc{
		{"copy", nil, 0xb8 | ect0, true, 0xb8 | ect0, true},
		{"copy no DF", nil, 0x28 | ce, false, 0x28 | ce, false},
		{"DF set", func(c *sad.Config) { c.DF = sad.DFSet }, 0, false, 0, true},
		{"DF clear", func(c *sad.Config) { c.DF = sad.DFClear }, 0, true, 0, false},
		{"DSCP set", func(c *sad.Config) { c.DSCPSet, c.DSCP = true, 10 }, 0xb8 | ect1, false, 10<<2 | ect1, false},
		{"ECN compat", func(c *sad.Config) { c.ECN = sad.ECNCompat }, 0xb8 | ect0, false, 0xb8, false},
		{"TTL", func(c *sad.Config) { c.OuterTTL = 17 }, 0, false, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPair(t, spec{proto: sad.ESP, tr: gcm128, mod: c.mod})
			pkt := p.mustSeal(inner(t, hostA4, hostB4, 100, c.tos, c.df))[0]
			ip := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.Default).Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			wantTTL := uint8(64)
			if c.name == "TTL" {
				wantTTL = 17
			}
			if ip.TOS != c.wantTOS || (ip.Flags&layers.IPv4DontFragment != 0) != c.wantDF || ip.TTL != wantTTL {
				t.Fatalf("outer TOS %#x DF %v TTL %d", ip.TOS, ip.Flags, ip.TTL)
			}
		})
	}
	// IPv6 outer: traffic class and flow label.
	p := newPair(t, spec{proto: sad.ESP, tr: gcm128, outer6: true, mod: func(c *sad.Config) { c.FlowLabel = true }})
	pkt := p.mustSeal(inner(t, hostA4, hostB4, 100, 0x48|ect1, true))[0]
	ip6 := gopacket.NewPacket(pkt, layers.LayerTypeIPv6, gopacket.Default).Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if ip6.TrafficClass != 0x48|ect1 || ip6.FlowLabel == 0 || ip6.HopLimit != 64 {
		t.Fatalf("outer IPv6 TC %#x label %#x hop limit %d", ip6.TrafficClass, ip6.FlowLabel, ip6.HopLimit)
	}
	pkt2 := p.mustSeal(inner(t, hostA4, hostB4, 300, 0, true))[0]
	if l2 := binary.BigEndian.Uint32(pkt2) & 0xfffff; l2 != ip6.FlowLabel {
		t.Fatal("one inner flow got two flow labels")
	}
}

// TestECNDecap marks the outer header on the way (ESP does not cover it)
// and checks RFC 6040's egress table.
func TestECNDecap(t *testing.T) {
	for _, c := range []struct {
		inner, outer, want uint8
		drop               bool
	}{
		{notECT, notECT, notECT, false}, {notECT, ect0, notECT, false}, {notECT, ce, 0, true},
		{ect0, ce, ce, false}, {ect0, ect1, ect1, false}, {ect0, ect0, ect0, false},
		{ect1, ce, ce, false}, {ect1, ect0, ect1, false}, {ce, notECT, ce, false}, {ce, ect0, ce, false},
	} {
		for _, outer6 := range []bool{false, true} {
			p := newPair(t, spec{proto: sad.ESP, tr: gcm128, outer6: outer6})
			frame := inner(t, hostA6, hostB6, 100, 0x20|c.inner, false)
			pkt := p.mustSeal(frame)[0]
			if outer6 {
				pkt[1] = pkt[1]&^0x30 | c.outer<<4
			} else {
				pkt[1] = pkt[1]&^3 | c.outer
				hdr.SetIPv4Checksum(pkt[:20])
			}
			got, _, r := p.openOne(pkt)
			if c.drop {
				if r != stats.ECNInvalid {
					t.Fatalf("inner %d outer %d: %v, want ecn_invalid", c.inner, c.outer, r)
				}
				continue
			}
			if r != stats.None || tos(got) != 0x20|c.want {
				t.Fatalf("inner %d outer %d: %v, TC %#x, want ECN %d", c.inner, c.outer, r, tos(got), c.want)
			}
		}
	}
}

// TestIndependentDecrypt opens the encryptor's output with the standard
// library alone, from the RFCs' description of the packet.
func TestIndependentDecrypt(t *testing.T) {
	for _, s := range []spec{{proto: sad.ESP, tr: gcm128}, {proto: sad.ESP, tr: cbcSHA256}} {
		t.Run(s.String(), func(t *testing.T) {
			p := newPair(t, s)
			frame := p.hostPacket(false, 333)
			pkt := p.mustSeal(frame)[0]
			plain := stdlibOpen(t, s.tr, p.keys(), pkt[20:])
			padLen := int(plain[len(plain)-2])
			if plain[len(plain)-1] != protoIPv4 || !bytes.Equal(plain[:len(plain)-2-padLen], frame) {
				t.Fatalf("payload %x", plain)
			}
			for i, v := range plain[len(frame) : len(plain)-2] {
				if v != byte(i+1) {
					t.Fatalf("padding %x", plain[len(frame):])
				}
			}
		})
	}
}

// stdlibOpen verifies and decrypts an ESP packet (SPI to ICV) with the
// standard library: RFC 4106 for GCM, RFC 3602 + RFC 4868 for CBC+HMAC.
func stdlibOpen(t *testing.T, tr crypto.Transform, k [2]sad.Key, esp []byte) []byte {
	t.Helper()
	ck, ik := k[0], k[1]
	switch tr.Cipher {
	case crypto.CipherAESGCM16:
		blk, _ := aes.NewCipher(ck[:len(ck)-4])
		gcm, _ := cipher.NewGCM(blk)
		nonce := append(bytes.Clone(ck[len(ck)-4:]), esp[8:16]...)
		plain, err := gcm.Open(nil, nonce, esp[16:], esp[:8])
		if err != nil {
			t.Fatal(err)
		}
		return plain
	case crypto.CipherAESCBC:
		icv := esp[len(esp)-16:]
		mac := hmac.New(sha256.New, ik)
		mac.Write(esp[:len(esp)-16])
		if !hmac.Equal(mac.Sum(nil)[:16], icv) {
			t.Fatal("HMAC-SHA-256-128 does not verify")
		}
		blk, _ := aes.NewCipher(ck)
		data := bytes.Clone(esp[24 : len(esp)-16])
		cipher.NewCBCDecrypter(blk, esp[8:24]).CryptBlocks(data, data)
		return data
	}
	t.Fatalf("no reference for %v", tr)
	return nil
}

// TestTransportOnlyToPeer: transport mode carries only packets for the peer.
func TestTransportOnlyToPeer(t *testing.T) {
	p := newPair(t, spec{proto: sad.ESP, tr: gcm128, mode: sad.Transport})
	bufs, v := p.seal(inner(t, gwA4, hostB4, 100, 0, false))
	p.free(bufs)
	if v[0] != stats.PolicyMismatch {
		t.Fatalf("transport packet to a third party: %v", v[0])
	}
}

// v6WithHopByHop builds an IPv6 UDP packet between the gateways with a
// hop-by-hop header carrying one option that may change en route (type
// 0x3e) and one that may not (type 0x1e).
func v6WithHopByHop(p *pair) []byte {
	udp := inner(p.t, p.a, p.b, 80, 0, false)[40:]
	hbh := []byte{protoUDP, 1, 0x3e, 4, 1, 2, 3, 4, 0x1e, 4, 5, 6, 7, 8, 1, 0} // options, then PadN of 2
	f := append(bytes.Clone(inner(p.t, p.a, p.b, 80, 0, false)[:40]), hbh...)
	f = append(f, udp...)
	f[6] = ext6HopByHop
	binary.BigEndian.PutUint16(f[4:], uint16(len(f)-40))
	return f
}

func TestIPv6ExtensionHeaders(t *testing.T) {
	for _, s := range []spec{
		{proto: sad.ESP, tr: gcm128, mode: sad.Transport, outer6: true, window: 64},
		{proto: sad.AH, tr: crypto.Transform{Integ: crypto.IntegHMACSHA256_128}, mode: sad.Transport, outer6: true, window: 64},
		{proto: sad.ESP, tr: cbcSHA256, ahInteg: crypto.IntegHMACSHA1_96, mode: sad.Transport, outer6: true, window: 64},
	} {
		t.Run(s.String(), func(t *testing.T) {
			p := newPair(t, s)
			frame := v6WithHopByHop(p)
			sealed := p.mustSeal(frame, frame, frame)
			// The IPsec header goes behind the hop-by-hop header.
			if sealed[0][6] != ext6HopByHop || (sealed[0][40] != protoESP && sealed[0][40] != protoAH) {
				t.Fatalf("headers %x", sealed[0][:64])
			}
			got, _, r := p.openOne(sealed[0])
			if r != stats.None || !bytes.Equal(got, frame) {
				t.Fatalf("%v\n got %x\nwant %x", r, got, frame)
			}
			// A router may change the mutable option, not the other one.
			mutable := bytes.Clone(sealed[1])
			mutable[44] ^= 0xff
			if _, _, r := p.openOne(mutable); r != stats.None {
				t.Fatalf("mutable option changed: %v", r)
			}
			fixed := bytes.Clone(sealed[2])
			fixed[50] ^= 0xff
			_, _, r = p.openOne(fixed)
			if (s.proto == sad.AH || s.ahInteg != 0) != (r == stats.AuthFailed) {
				t.Fatalf("immutable option changed: %v", r)
			}
		})
	}
}

// TestDummyPacket: an ESP packet whose next header is 59 (RFC 4303 §2.6,
// traffic-flow confidentiality filler) verifies and is then discarded,
// counted as dummy rather than as an error.
func TestDummyPacket(t *testing.T) {
	p := newPair(t, spec{proto: sad.ESP, tr: gcm128, window: 64})
	pkt := p.mustSeal(p.hostPacket(false, 100))[0]
	esp := pkt[20:]
	plain := stdlibOpen(t, gcm128, p.keys(), esp)
	plain[len(plain)-1] = protoNoNext
	ck := p.keys()[0]
	blk, _ := aes.NewCipher(ck[:len(ck)-4])
	gcm, _ := cipher.NewGCM(blk)
	nonce := append(bytes.Clone(ck[len(ck)-4:]), esp[8:16]...)
	gcm.Seal(esp[16:16], nonce, plain, esp[:8])
	if _, _, r := p.openOne(pkt); r != stats.Dummy {
		t.Fatalf("dummy packet: %v, want dummy", r)
	}
	if p.inDrops(stats.Dummy) != 1 || p.inDrops(stats.AuthFailed) != 0 {
		t.Fatal("dummy packet not counted as dummy on the SA")
	}
}
