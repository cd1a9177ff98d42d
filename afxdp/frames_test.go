package afxdp

import (
	"encoding/binary"
	"net/netip"
	"os"
	"testing"
)

// needRoot skips tests that load BPF programs or build namespaces.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("afxdp: needs root (BPF programs, AF_XDP sockets, network namespaces); skipping")
	}
}

// Frame builders for steering tests: just the fields the program reads,
// with the IPv4 header checksum right so kernels accept them too.

var (
	testDstMAC = []byte{0x02, 0, 0, 0, 0, 0x01}
	testSrcMAC = []byte{0x02, 0, 0, 0, 0, 0x02}
)

// eth is an Ethernet header of type typ, with one tag per entry of tags
// (TPID, TCI pairs).
func eth(typ uint16, tags ...uint16) []byte {
	b := append(append([]byte{}, testDstMAC...), testSrcMAC...)
	for _, t := range tags {
		b = binary.BigEndian.AppendUint16(b, t)
	}
	return binary.BigEndian.AppendUint16(b, typ)
}

// ipv4 is an IPv4 packet with extra option words and the flags/fragment
// field frag.
func ipv4(proto uint8, src, dst string, optWords int, frag uint16, payload []byte) []byte {
	ihl := 5 + optWords
	h := make([]byte, ihl*4)
	h[0] = 0x40 | byte(ihl)
	binary.BigEndian.PutUint16(h[2:], uint16(len(h)+len(payload)))
	binary.BigEndian.PutUint16(h[6:], frag)
	h[8] = 64
	h[9] = proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	for i := 20; i < len(h); i++ {
		h[i] = 1 // NOP options
	}
	binary.BigEndian.PutUint16(h[10:], ^csum(h))
	return append(h, payload...)
}

func csum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// ipv6 is an IPv6 packet whose first next header is nh.
func ipv6(nh uint8, src, dst string, payload []byte) []byte {
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
	h[6] = nh
	h[7] = 64
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return append(h, payload...)
}

// ext6 is an IPv6 extension header (hop-by-hop, routing, destination
// options) of 8*(units+1) bytes followed by rest.
func ext6(nh uint8, units int, rest []byte) []byte {
	h := make([]byte, 8*(units+1))
	h[0] = nh
	h[1] = byte(units)
	return append(h, rest...)
}

// frag6 is an IPv6 fragment header followed by rest.
func frag6(nh uint8, offset uint16, more bool, rest []byte) []byte {
	h := make([]byte, 8)
	h[0] = nh
	v := offset << 3
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(h[2:], v)
	return append(h, rest...)
}

func udp(sport, dport uint16, payload []byte) []byte {
	h := make([]byte, 8)
	binary.BigEndian.PutUint16(h, sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint16(h[4:], uint16(8+len(payload)))
	return append(h, payload...)
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// steerModel is the steering rules written plainly in Go: the oracle the
// program is checked against, frame by frame and under fuzzing.
type steerModel struct {
	cryptoMap bool
	local     map[netip.Addr]bool
	prefixes  []netip.Prefix
}

// classify returns the counter the program should bump for frame f.
func (m *steerModel) classify(f []byte) int {
	if len(f) < 14 {
		return cntPassMalformed
	}
	typ := binary.BigEndian.Uint16(f[12:])
	l3 := 14
	if typ == 0x8100 || typ == 0x88a8 {
		if len(f) < 18 {
			return cntPassMalformed
		}
		typ = binary.BigEndian.Uint16(f[16:])
		l3 = 18
	}
	p := f[l3:]
	switch typ {
	case 0x0800:
		if len(p) < 20 || p[0]>>4 != 4 || int(p[0]&0xf)*4 < 20 {
			return cntPassMalformed
		}
		dst := netip.AddrFrom4([4]byte(p[16:20]))
		if m.local[dst] {
			if !m.cryptoMap {
				return cntPassLocal
			}
			switch p[9] {
			case 50, 51:
				return cntRedirectIPsec
			case 17:
				if binary.BigEndian.Uint16(p[6:])&0x3fff != 0 {
					return cntPassLocal
				}
				return m.udp(p, int(p[0]&0xf)*4)
			}
			return cntPassLocal
		}
		if p[16]&0xf0 == 0xe0 || dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			return cntPassLinkScope
		}
		return m.steer(dst)
	case 0x86dd:
		if len(p) < 40 || p[0]>>4 != 6 {
			return cntPassMalformed
		}
		dst := netip.AddrFrom16([16]byte(p[24:40]))
		if m.local[dst] {
			if !m.cryptoMap {
				return cntPassLocal
			}
			nh, off := p[6], 40
			for range maxExtHeaders {
				if nh != 0 && nh != 43 && nh != 60 {
					break
				}
				if len(p) < off+8 {
					return cntPassLocal
				}
				nh, off = p[off], off+(int(p[off+1])+1)*8
			}
			switch nh {
			case 50, 51:
				return cntRedirectIPsec
			case 17:
				return m.udp(p, off)
			case 44:
				if len(p) < off+8 {
					return cntPassLocal
				}
				if p[off] == 50 || p[off] == 51 {
					return cntRedirectIPsec
				}
			}
			return cntPassLocal
		}
		if dst.IsMulticast() || dst.IsLinkLocalUnicast() {
			return cntPassLinkScope
		}
		return m.steer(dst)
	}
	return cntPassNonIP
}

func (m *steerModel) udp(p []byte, off int) int {
	if len(p) < off+8 {
		return cntPassLocal
	}
	if port := binary.BigEndian.Uint16(p[off+2:]); port == 500 || port == 4500 {
		return cntRedirectIPsec
	}
	return cntPassLocal
}

func (m *steerModel) steer(dst netip.Addr) int {
	for _, p := range m.prefixes {
		if p.Contains(dst) {
			return cntRedirectPolicy
		}
	}
	return cntPassNoMatch
}
