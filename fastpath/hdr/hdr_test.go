package hdr

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"

	"ipsecgw/fastpath/internal/pkttest"
	"ipsecgw/fastpath/stats"
)

// setFragment makes the IPv4 packet q a fragment at offset off8 (in
// 8-byte units) with the more-fragments flag mf.
func setFragment(q []byte, off8 int, mf bool) {
	ff := uint16(off8) & 0x1fff
	if mf {
		ff |= 0x2000
	}
	binary.BigEndian.PutUint16(q[2:4], uint16(len(q)))
	binary.BigEndian.PutUint16(q[6:8], ff)
	SetIPv4Checksum(q[:IPv4HeaderLen])
}

func TestParseIPv4(t *testing.T) {
	p := pkttest.IP(t, "10.1.0.1", "10.2.0.1", pkttest.Options{SrcPort: 1234, DstPort: 80, Proto: layers.IPProtocolTCP, DF: true, TTL: 9})
	var m Meta
	if r := Parse(p, &m); r != stats.None {
		t.Fatal(r)
	}
	want := Meta{Ver: 4, DF: true, TTL: 9, L4: 20, NHPos: 9, Length: 40}
	want.Flow.Src, want.Flow.Dst = netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.2.0.1")
	want.Flow.Proto, want.Flow.SrcPort, want.Flow.DstPort = 6, 1234, 80
	if m != want {
		t.Fatalf("got %+v\nwant %+v", m, want)
	}
	// Link-layer padding behind a short packet is not part of it.
	padded := append(pkttest.IP(t, "10.1.0.1", "10.2.0.1", pkttest.Options{}), make([]byte, 20)...)
	if r := Parse(padded, &m); r != stats.None || m.Length != 28 {
		t.Fatalf("padded: %v length %d", r, m.Length)
	}
}

func TestParseIPv4Errors(t *testing.T) {
	good := pkttest.IP(t, "10.1.0.1", "10.2.0.1", pkttest.Options{})
	mod := func(f func(p []byte) []byte) []byte {
		p := append([]byte(nil), good...)
		return f(p)
	}
	fixSum := func(p []byte) []byte {
		SetIPv4Checksum(p[:int(p[0]&15)*4])
		return p
	}
	cases := []struct {
		name string
		pkt  []byte
		want stats.Reason
	}{
		{"options", pkttest.IP(t, "10.1.0.1", "10.2.0.1", pkttest.Options{IPOptions: true}), stats.IPOptions},
		{"bad checksum", mod(func(p []byte) []byte { p[10] ^= 1; return p }), stats.Malformed},
		{"truncated header", good[:19], stats.Malformed},
		{"total length beyond frame", mod(func(p []byte) []byte { binary.BigEndian.PutUint16(p[2:], 200); return fixSum(p) }), stats.Malformed},
		{"total length below header", mod(func(p []byte) []byte { binary.BigEndian.PutUint16(p[2:], 12); return fixSum(p) }), stats.Malformed},
		{"IHL below 5", mod(func(p []byte) []byte { p[0] = 0x44; return p }), stats.Malformed},
		{"IHL beyond packet", mod(func(p []byte) []byte { p[0] = 0x4f; return p[:40] }), stats.Malformed},
		{"version 5", mod(func(p []byte) []byte { p[0] = 0x55; return p }), stats.Malformed},
		{"UDP header cut", mod(func(p []byte) []byte { binary.BigEndian.PutUint16(p[2:], 24); return fixSum(p) }), stats.Malformed},
		{"empty", nil, stats.Malformed},
	}
	for _, c := range cases {
		var m Meta
		if r := Parse(c.pkt, &m); r != c.want {
			t.Errorf("%s: %v, want %v", c.name, r, c.want)
		}
	}
}

func TestParseFragments(t *testing.T) {
	p := pkttest.IP(t, "10.1.0.1", "10.2.0.1", pkttest.Options{Payload: make([]byte, 100)})
	setFrag := func(off8 int, mf bool) []byte {
		q := append([]byte(nil), p...)
		setFragment(q, off8, mf)
		return q
	}
	var m Meta
	if r := Parse(setFrag(0, true), &m); r != stats.None || m.Frag != FragFirst || m.Flow.DstPort != 5001 {
		t.Fatalf("first fragment: %v %+v", r, m)
	}
	if r := Parse(setFrag(10, false), &m); r != stats.None || m.Frag != FragLater || m.Flow.DstPort != 0 {
		t.Fatalf("later fragment: %v %+v", r, m)
	}
	// A first fragment too short for the UDP header still classifies.
	q := setFrag(0, true)[:24]
	setFragment(q, 0, true)
	if r := Parse(q, &m); r != stats.None || m.Flow.DstPort != 0 {
		t.Fatalf("short first fragment: %v %+v", r, m)
	}
}

func TestParseIPv6(t *testing.T) {
	p := pkttest.IP(t, "2001:db8:1::1", "2001:db8:2::1", pkttest.Options{SrcPort: 4500, DstPort: 4500, TTL: 3})
	var m Meta
	if r := Parse(p, &m); r != stats.None {
		t.Fatal(r)
	}
	if m.Ver != 6 || m.TTL != 3 || m.L4 != 40 || m.NHPos != 6 || m.Flow.Proto != 17 || m.Flow.SrcPort != 4500 || m.Flow.Dst != netip.MustParseAddr("2001:db8:2::1") {
		t.Fatalf("%+v", m)
	}
	// Hop-by-hop options and a fragment header in front of UDP.
	udp := p[40:]
	ext := []byte{
		ext6Fragment, 0, 1, 4, 0, 0, 0, 0, // hop-by-hop: PadN filling 8 bytes
		17, 0, 0, 1, 0, 0, 0, 9, // fragment: offset 0, M=1
	}
	q := append(append(append([]byte(nil), p[:40]...), ext...), udp...)
	q[6] = ext6HopByHop
	binary.BigEndian.PutUint16(q[4:], uint16(len(ext)+len(udp)))
	if r := Parse(q, &m); r != stats.None || m.Flow.Proto != 17 || m.L4 != 56 || m.NHPos != 48 || m.Frag != FragFirst || m.Flow.DstPort != 4500 {
		t.Fatalf("extension headers: %v %+v", r, m)
	}
	// Payload length beyond the frame, and an extension header running
	// past the packet.
	bad := append([]byte(nil), q...)
	binary.BigEndian.PutUint16(bad[4:], 1000)
	if r := Parse(bad, &m); r != stats.Malformed {
		t.Errorf("long payload length: %v", r)
	}
	bad = append([]byte(nil), q...)
	bad[41] = 200
	if r := Parse(bad, &m); r != stats.Malformed {
		t.Errorf("long extension header: %v", r)
	}
	if r := Parse(q[:39], &m); r != stats.Malformed {
		t.Errorf("short header: %v", r)
	}
}

func TestDecTTL(t *testing.T) {
	for _, ttl := range []uint8{255, 64, 2, 1} {
		p := pkttest.IP(t, "10.1.0.1", "10.2.0.1", pkttest.Options{TTL: ttl})
		DecTTL(p, 4)
		if p[8] != ttl-1 || Checksum(p[:20], 0) != 0 {
			t.Errorf("TTL %d: now %d, checksum verifies %v", ttl, p[8], Checksum(p[:20], 0) == 0)
		}
	}
	p := pkttest.IP(t, "2001:db8::1", "2001:db8::2", pkttest.Options{TTL: 5})
	DecTTL(p, 6)
	if p[7] != 4 {
		t.Errorf("hop limit %d", p[7])
	}
}

func TestChecksum(t *testing.T) {
	// RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := Fold(Sum(b, 0)); got != 0xddf2 {
		t.Fatalf("sum %x", got)
	}
	// Odd lengths pad with a zero byte.
	if got := Fold(Sum([]byte{1, 2, 3}, 0)); got != 0x0402 {
		t.Fatalf("odd sum %x", got)
	}
}

// TestIPv4HeaderOK checks the 20-byte fast path against the general sum on
// random headers, with their checksum right and wrong, and the extremes.
func TestIPv4HeaderOK(t *testing.T) {
	var h [20]byte
	x := uint64(0x9E3779B97F4A7C15)
	for i := range 20000 {
		for j := range h {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			h[j] = byte(x)
		}
		if i%4 == 0 {
			clear(h[:])
			if i%8 == 0 {
				for j := range h {
					h[j] = 0xff
				}
			}
		}
		if i%2 == 0 {
			SetIPv4Checksum(h[:])
		}
		if got, want := IPv4HeaderOK(h[:]), Checksum(h[:], 0) == 0; got != want {
			t.Fatalf("header %x: ok %v, the general sum says %v", h, got, want)
		}
	}
}

// FuzzParse: any bytes are parsed or dropped with a reason, never a
// panic, and what parses stays inside the packet it describes.
func FuzzParse(f *testing.F) {
	f.Add(pkttest.IP(f, "10.1.0.1", "10.2.0.1", pkttest.Options{}))
	f.Add(pkttest.IP(f, "10.1.0.1", "10.2.0.1", pkttest.Options{Proto: layers.IPProtocolTCP, IPOptions: true}))
	f.Add(pkttest.IP(f, "2001:db8:1::1", "2001:db8:2::1", pkttest.Options{}))
	f.Fuzz(func(t *testing.T, p []byte) {
		var m Meta
		if Parse(p, &m) != stats.None {
			return
		}
		if m.Length > len(p) || int(m.L4) > m.Length || int(m.NHPos) >= int(m.L4) || p[m.NHPos] != m.Flow.Proto && m.Ver == 6 {
			t.Fatalf("%x: %+v", p, m)
		}
	})
}
