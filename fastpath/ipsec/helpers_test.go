package ipsec

import (
	"bytes"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"ipsecgw/crypto"
	"ipsecgw/fastpath/hdr"
	"ipsecgw/fastpath/sad"
	"ipsecgw/fastpath/stats"
	"ipsecgw/packet"
	"ipsecgw/spd"
)

// Addresses of the two gateways (A encrypts, B decrypts) and of the hosts
// behind them.
var (
	gwA4, gwB4 = netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	gwA6, gwB6 = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	hostA4     = netip.MustParseAddr("10.1.0.5")
	hostB4     = netip.MustParseAddr("10.2.0.7")
	hostA6     = netip.MustParseAddr("2001:db8:1::5")
	hostB6     = netip.MustParseAddr("2001:db8:2::7")
	sideA4     = netip.MustParsePrefix("10.1.0.0/16")
	sideB4     = netip.MustParsePrefix("10.2.0.0/16")
	sideA6     = netip.MustParsePrefix("2001:db8:1::/48")
	sideB6     = netip.MustParsePrefix("2001:db8:2::/48")
)

// spec describes an SA pair under test.
type spec struct {
	proto    sad.Protocol
	tr       crypto.Transform
	ahInteg  crypto.Integ // non-zero: an AH SA bundled outside the ESP SA
	mode     sad.Mode
	outer6   bool
	esn      bool
	natt     bool
	window   int
	selProto uint8             // the selectors' IP protocol (0: any)
	anySel   bool              // no selectors: any traffic
	mod      func(*sad.Config) // applied to both directions' configs
}

// pair is gateway A's outbound SA and gateway B's inbound twin, with a
// node on each side and a pool of buffers.
type pair struct {
	t    testing.TB
	out  *sad.SA
	in   *sad.SA
	db   *sad.DB
	enc  *Encryptor
	dec  *Decryptor
	pool *packet.Pool
	a, b netip.Addr
	key  [2]sad.Key // cipher and integrity keys of out and in
}

func (p *pair) keys() [2]sad.Key { return p.key }

func randKey(r *rand.Rand, n int) sad.Key {
	k := make(sad.Key, n)
	for i := range k {
		k[i] = byte(r.Uint32())
	}
	return k
}

func newPair(t testing.TB, s spec) *pair {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(s.tr.Cipher)<<16|uint64(s.tr.Integ), uint64(s.tr.KeyBits)))
	p := &pair{t: t, a: gwA4, b: gwB4, db: sad.NewDB(), pool: packet.NewHeapPool(300, 2048)}
	if s.outer6 {
		p.a, p.b = gwA6, gwB6
	}
	selA := []spd.Selector{{Src: sideA4, Dst: sideB4}, {Src: sideA6, Dst: sideB6}}
	if s.mode == sad.Transport {
		bits := p.a.BitLen()
		selA = []spd.Selector{{Src: netip.PrefixFrom(p.a, bits), Dst: netip.PrefixFrom(p.b, bits)}}
	}
	for i := range selA {
		selA[i].Proto = s.selProto
	}
	if s.anySel {
		selA = nil
	}
	var selB []spd.Selector
	var lastKeys [2]sad.Key
	for _, sel := range selA {
		selB = append(selB, spd.Selector{Proto: sel.Proto, Src: sel.Dst, Dst: sel.Src})
	}
	build := func(proto sad.Protocol, tr crypto.Transform, spi uint32) (*sad.SA, *sad.SA) {
		cfg := sad.Config{
			SPI: spi, Protocol: proto, Mode: s.mode, Transform: tr, ESN: s.esn,
			ReplayWindow: s.window,
			CipherKey:    randKey(r, tr.Cipher.KeyLen(tr.KeyBits)),
			IntegKey:     randKey(r, tr.Integ.KeyLen()),
		}
		if len(cfg.CipherKey) == 0 {
			cfg.CipherKey = nil
		}
		if len(cfg.IntegKey) == 0 {
			cfg.IntegKey = nil
		}
		if s.natt && proto == sad.ESP {
			cfg.UDPEncap, cfg.LocalPort, cfg.RemotePort = true, 4500, 4500
		}
		lastKeys = [2]sad.Key{cfg.CipherKey, cfg.IntegKey}
		out, in := cfg, cfg
		out.Direction, out.Local, out.Remote, out.Selectors = sad.Outbound, p.a, p.b, selA
		in.Direction, in.Local, in.Remote, in.Selectors = sad.Inbound, p.b, p.a, selB
		if s.mod != nil {
			s.mod(&out)
			s.mod(&in)
		}
		o, err := sad.New(out, 1)
		if err != nil {
			t.Fatal(err)
		}
		i, err := sad.New(in, 1)
		if err != nil {
			t.Fatal(err)
		}
		return o, i
	}
	p.out, p.in = build(s.proto, s.tr, 0x1001)
	p.key = lastKeys
	installed := []*sad.SA{p.in}
	if s.ahInteg != 0 {
		ahOut, ahIn := build(sad.AH, crypto.Transform{Integ: s.ahInteg}, 0x2002)
		if err := sad.Bundle(p.out, ahOut); err != nil {
			t.Fatal(err)
		}
		if err := sad.Bundle(p.in, ahIn); err != nil {
			t.Fatal(err)
		}
		installed = append(installed, ahIn)
	}
	if err := p.db.Install(installed...); err != nil {
		t.Fatal(err)
	}
	p.enc = NewEncryptor(0, 64)
	p.dec = NewDecryptor(p.db, 0, 64)
	return p
}

// inner builds a cleartext UDP packet of size bytes from src to dst.
func inner(t testing.TB, src, dst netip.Addr, size int, tos uint8, df bool) []byte {
	t.Helper()
	udp := &layers.UDP{SrcPort: 1234, DstPort: 5678}
	var ip gopacket.SerializableLayer
	hdr := 20
	if src.Is4() {
		ip4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 61, TOS: tos, Id: 7, Protocol: layers.IPProtocolUDP,
			SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
		if df {
			ip4.Flags = layers.IPv4DontFragment
		}
		udp.SetNetworkLayerForChecksum(ip4)
		ip = ip4
	} else {
		hdr = 40
		ip6 := &layers.IPv6{Version: 6, HopLimit: 61, TrafficClass: tos, NextHeader: layers.IPProtocolUDP,
			SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
		udp.SetNetworkLayerForChecksum(ip6)
		ip = ip6
	}
	payload := make([]byte, max(0, size-hdr-8))
	for i := range payload {
		payload[i] = byte(i*7 + size)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// hostPacket is a cleartext packet A's side sends to B's side: between the
// hosts in tunnel mode, between the gateways in transport mode.
func (p *pair) hostPacket(inner6 bool, size int) []byte {
	src, dst := hostA4, hostB4
	if inner6 {
		src, dst = hostA6, hostB6
	}
	if p.out.Mode() == sad.Transport {
		src, dst = p.a, p.b
	}
	return inner(p.t, src, dst, size, 0, false)
}

// load copies frames into fresh buffers.
func (p *pair) load(frames ...[]byte) []*packet.Buf {
	p.t.Helper()
	bufs := make([]*packet.Buf, len(frames))
	for i, f := range frames {
		b := p.pool.Get()
		if b == nil {
			p.t.Fatal("pool empty")
		}
		copy(b.Append(len(f)), f)
		bufs[i] = b
	}
	return bufs
}

func (p *pair) free(bufs []*packet.Buf) {
	for _, b := range bufs {
		p.pool.Put(b)
	}
}

// seal runs frames through A's encryptor as the engine hands them over:
// headers parsed and frames cut to the IP packet; a packet hdr.Parse
// refuses never reaches the node and keeps that verdict.
func (p *pair) seal(frames ...[]byte) ([]*packet.Buf, []stats.Reason) {
	bufs := p.load(frames...)
	v := make([]stats.Reason, len(bufs))
	in, _ := parseOuter(bufs, v)
	sas, inV := make([]*sad.SA, len(in)), make([]stats.Reason, len(in))
	for i := range sas {
		sas[i] = p.out
	}
	p.enc.Process(in, sas, inV)
	k := 0
	for i := range bufs {
		if v[i] == stats.None {
			v[i] = inV[k]
			k++
		}
	}
	return bufs, v
}

// open runs buffers through B's decryptor as the engine hands them over:
// outer headers parsed and frames cut to the IP packet; a packet hdr.Parse
// refuses never reaches the node and keeps that verdict.
func (p *pair) open(bufs []*packet.Buf) ([]*sad.SA, []stats.Reason) {
	sas := make([]*sad.SA, len(bufs))
	v := make([]stats.Reason, len(bufs))
	in, hdrs := parseOuter(bufs, v)
	inSAs, inV := make([]*sad.SA, len(in)), make([]stats.Reason, len(in))
	p.dec.Process(in, hdrs, inSAs, inV)
	k := 0
	for i := range bufs {
		if v[i] == stats.None {
			sas[i], v[i] = inSAs[k], inV[k]
			k++
		}
	}
	return sas, v
}

// parseOuter parses the IP headers of bufs as the engine's ip-input does,
// cutting each frame to its packet, leaving the verdicts of those it
// refuses in v, and returns the others with their headers.
func parseOuter(bufs []*packet.Buf, v []stats.Reason) ([]*packet.Buf, []hdr.Meta) {
	var in []*packet.Buf
	var hdrs []hdr.Meta
	for i, b := range bufs {
		var h hdr.Meta
		if v[i] = hdr.Parse(b.Bytes(), &h); v[i] == stats.None {
			b.SetLen(h.Length)
			in, hdrs = append(in, b), append(hdrs, h)
		}
	}
	return in, hdrs
}

// inDrops is what the inbound SA and its bundled AH SA dropped for r.
func (p *pair) inDrops(r stats.Reason) uint64 {
	n := p.in.Counters().Drops[r]
	if ah := p.in.Outer(); ah != nil {
		n += ah.Counters().Drops[r]
	}
	return n
}

// mustSeal seals frames and returns the protected packets' bytes.
func (p *pair) mustSeal(frames ...[]byte) [][]byte {
	p.t.Helper()
	bufs, v := p.seal(frames...)
	defer p.free(bufs)
	out := make([][]byte, len(bufs))
	for i, b := range bufs {
		if v[i] != stats.None {
			p.t.Fatalf("packet %d: encrypt dropped it: %v", i, v[i])
		}
		out[i] = bytes.Clone(b.Bytes())
	}
	return out
}

// openOne decrypts one protected packet and returns the result.
func (p *pair) openOne(pkt []byte) ([]byte, *sad.SA, stats.Reason) {
	bufs := p.load(pkt)
	defer p.free(bufs)
	sas, v := p.open(bufs)
	return bytes.Clone(bufs[0].Bytes()), sas[0], v[0]
}

// allTransforms lists every ESP and AH transform crypto implements.
func allTransforms() []spec {
	integs := []crypto.Integ{crypto.IntegHMACMD5_96, crypto.IntegHMACSHA1_96, crypto.IntegHMACSHA256_128,
		crypto.IntegHMACSHA384_192, crypto.IntegHMACSHA512_256}
	var out []spec
	esp := func(c crypto.Cipher, bits int, i crypto.Integ) {
		out = append(out, spec{proto: sad.ESP, tr: crypto.Transform{Cipher: c, KeyBits: bits, Integ: i}})
	}
	for _, bits := range []int{128, 192, 256} {
		esp(crypto.CipherAESGCM16, bits, 0)
		esp(crypto.CipherAESGMAC, bits, 0)
		for _, i := range integs {
			esp(crypto.CipherAESCBC, bits, i)
		}
	}
	esp(crypto.CipherChaCha20Poly1305, 0, 0)
	for _, i := range integs {
		esp(crypto.Cipher3DES, 0, i)
		esp(crypto.CipherDES, 0, i)
		esp(crypto.CipherNull, 0, i)
		out = append(out, spec{proto: sad.AH, tr: crypto.Transform{Integ: i}})
	}
	out = append(out,
		spec{proto: sad.ESP, tr: crypto.Transform{Cipher: crypto.CipherAESCBC, KeyBits: 256, Integ: crypto.IntegHMACSHA256_128}, ahInteg: crypto.IntegHMACSHA1_96},
		spec{proto: sad.ESP, tr: crypto.Transform{Cipher: crypto.CipherAESGCM16, KeyBits: 128}, ahInteg: crypto.IntegHMACSHA512_256})
	return out
}

func (s spec) String() string {
	n := s.proto.String() + " " + s.tr.String()
	if s.ahInteg != 0 {
		n = "ah " + s.ahInteg.String() + "+" + n
	}
	return n
}
