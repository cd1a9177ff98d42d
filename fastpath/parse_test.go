package fastpath

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"

	"ipsecgw/fastpath/stats"
)

func TestParseEthernet(t *testing.T) {
	f := buildFrame(t, "10.1.0.1", "10.2.0.1", frameOpts{})
	e, r := parseEthernet(f)
	if r != stats.None || e.hdrLen != 14 || e.vlan != 0 || e.etherType != etherTypeIPv4 {
		t.Fatalf("untagged: %+v %v", e, r)
	}
	f = buildFrame(t, "2001:db8:1::1", "2001:db8:2::1", frameOpts{vlan: 100})
	e, r = parseEthernet(f)
	if r != stats.None || e.hdrLen != 18 || e.vlan != 100 || e.etherType != etherTypeIPv6 {
		t.Fatalf("tagged: %+v %v", e, r)
	}
	arp := make([]byte, 42)
	binary.BigEndian.PutUint16(arp[12:], 0x0806)
	if _, r := parseEthernet(arp); r != stats.NotIP {
		t.Fatalf("ARP: %v", r)
	}
	for _, n := range []int{0, 13, 15, 17} {
		g := make([]byte, n)
		if n >= 14 {
			binary.BigEndian.PutUint16(g[12:], etherTypeVLAN)
		}
		if _, r := parseEthernet(g); r != stats.Malformed {
			t.Errorf("%d-byte frame: %v, want malformed", n, r)
		}
	}
}

func TestParseIPv4(t *testing.T) {
	f := buildFrame(t, "10.1.0.1", "10.2.0.1", frameOpts{sport: 1234, dport: 80, proto: layers.IPProtocolTCP, df: true, ttl: 9})
	var m meta
	if r := parseIP(f[14:], &m); r != stats.None {
		t.Fatal(r)
	}
	want := meta{ver: 4, df: true, ttl: 9, l4: 20, length: 40} // gopacket pads the frame to 60 bytes
	want.flow.Src, want.flow.Dst = netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.2.0.1")
	want.flow.Proto, want.flow.SrcPort, want.flow.DstPort = 6, 1234, 80
	if m != want {
		t.Fatalf("got %+v\nwant %+v", m, want)
	}
	// Ethernet padding behind a short packet is not part of it.
	padded := append(buildFrame(t, "10.1.0.1", "10.2.0.1", frameOpts{}), make([]byte, 20)...)
	if r := parseIP(padded[14:], &m); r != stats.None || m.length != 28 {
		t.Fatalf("padded: %v length %d", r, m.length)
	}
}

func TestParseIPv4Errors(t *testing.T) {
	good := buildFrame(t, "10.1.0.1", "10.2.0.1", frameOpts{})[14:]
	mod := func(f func(p []byte) []byte) []byte {
		p := append([]byte(nil), good...)
		return f(p)
	}
	fixSum := func(p []byte) []byte {
		binary.BigEndian.PutUint16(p[10:12], 0)
		binary.BigEndian.PutUint16(p[10:12], checksum(p[:int(p[0]&15)*4], 0))
		return p
	}
	cases := []struct {
		name string
		pkt  []byte
		want stats.Reason
	}{
		{"options", buildFrame(t, "10.1.0.1", "10.2.0.1", frameOpts{options: true})[14:], stats.IPOptions},
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
		var m meta
		if r := parseIP(c.pkt, &m); r != c.want {
			t.Errorf("%s: %v, want %v", c.name, r, c.want)
		}
	}
}

func TestParseFragments(t *testing.T) {
	p := buildFrame(t, "10.1.0.1", "10.2.0.1", frameOpts{payload: payload(100)})[14:]
	setFrag := func(off8 int, mf bool) []byte {
		q := append([]byte(nil), p...)
		setFragment(q, len(q), off8, mf)
		return q
	}
	var m meta
	if r := parseIP(setFrag(0, true), &m); r != stats.None || m.frag != fragFirst || m.flow.DstPort != 5001 {
		t.Fatalf("first fragment: %v %+v", r, m)
	}
	if r := parseIP(setFrag(10, false), &m); r != stats.None || m.frag != fragLater || m.flow.DstPort != 0 {
		t.Fatalf("later fragment: %v %+v", r, m)
	}
	// A first fragment too short for the UDP header still classifies.
	q := setFrag(0, true)[:24]
	setFragment(q, 24, 0, true)
	if r := parseIP(q, &m); r != stats.None || m.flow.DstPort != 0 {
		t.Fatalf("short first fragment: %v %+v", r, m)
	}
}

func TestParseIPv6(t *testing.T) {
	f := buildFrame(t, "2001:db8:1::1", "2001:db8:2::1", frameOpts{sport: 4500, dport: 4500, ttl: 3})
	var m meta
	if r := parseIP(f[14:], &m); r != stats.None {
		t.Fatal(r)
	}
	if m.ver != 6 || m.ttl != 3 || m.l4 != 40 || m.flow.Proto != 17 || m.flow.SrcPort != 4500 || m.flow.Dst != netip.MustParseAddr("2001:db8:2::1") {
		t.Fatalf("%+v", m)
	}
	// Hop-by-hop options and a fragment header in front of UDP.
	p := f[14:]
	udp := p[40:]
	ext := []byte{
		ext6Fragment, 0, 1, 4, 0, 0, 0, 0, // hop-by-hop: PadN filling 8 bytes
		17, 0, 0, 1, 0, 0, 0, 9, // fragment: offset 0, M=1
	}
	q := append(append(append([]byte(nil), p[:40]...), ext...), udp...)
	q[6] = ext6HopByHop
	binary.BigEndian.PutUint16(q[4:], uint16(len(ext)+len(udp)))
	if r := parseIP(q, &m); r != stats.None || m.flow.Proto != 17 || m.l4 != 56 || m.frag != fragFirst || m.flow.DstPort != 4500 {
		t.Fatalf("extension headers: %v %+v", r, m)
	}
	// Payload length beyond the frame, and an extension header running
	// past the packet.
	bad := append([]byte(nil), q...)
	binary.BigEndian.PutUint16(bad[4:], 1000)
	if r := parseIP(bad, &m); r != stats.Malformed {
		t.Errorf("long payload length: %v", r)
	}
	bad = append([]byte(nil), q...)
	bad[41] = 200
	if r := parseIP(bad, &m); r != stats.Malformed {
		t.Errorf("long extension header: %v", r)
	}
	if r := parseIP(q[:39], &m); r != stats.Malformed {
		t.Errorf("short header: %v", r)
	}
}

func TestDecTTL(t *testing.T) {
	for _, ttl := range []uint8{255, 64, 2, 1} {
		p := buildFrame(t, "10.1.0.1", "10.2.0.1", frameOpts{ttl: ttl})[14:]
		decTTL(p, 4)
		if p[8] != ttl-1 || checksum(p[:20], 0) != 0 {
			t.Errorf("TTL %d: now %d, checksum verifies %v", ttl, p[8], checksum(p[:20], 0) == 0)
		}
	}
	p := buildFrame(t, "2001:db8::1", "2001:db8::2", frameOpts{ttl: 5})[14:]
	decTTL(p, 6)
	if p[7] != 4 {
		t.Errorf("hop limit %d", p[7])
	}
}

func TestChecksum(t *testing.T) {
	// RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := fold(sumBytes(b, 0)); got != 0xddf2 {
		t.Fatalf("sum %x", got)
	}
	// Odd lengths pad with a zero byte.
	if got := fold(sumBytes([]byte{1, 2, 3}, 0)); got != 0x0402 {
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
			h[10], h[11] = 0, 0
			binary.BigEndian.PutUint16(h[10:], checksum(h[:], 0))
		}
		if got, want := ipv4HeaderOK(h[:]), checksum(h[:], 0) == 0; got != want {
			t.Fatalf("header %x: ok %v, the general sum says %v", h, got, want)
		}
	}
}
