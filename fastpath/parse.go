package fastpath

import (
	"encoding/binary"
	"net/netip"

	"ipsecgw/fastpath/stats"
	"ipsecgw/spd"
)

// EtherTypes and IP protocol numbers the fast path looks at.
const (
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86DD
	etherTypeVLAN = 0x8100

	ethHeaderLen  = 14
	vlanHeaderLen = 4

	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoESP    = 50
	protoAH     = 51
	protoICMPv6 = 58

	portIKE  = 500
	portNATT = 4500

	ipv4HeaderLen = 20
	ipv6HeaderLen = 40
)

// IPv6 extension headers walked to find the upper-layer protocol.
const (
	ext6HopByHop = 0
	ext6Routing  = 43
	ext6Fragment = 44
	ext6DestOpts = 60
	ext6NoNext   = 59
	maxExt6      = 8 // more extension headers than this is not a real packet
)

// Fragment positions of an IP packet.
const (
	fragNone  = iota // a whole packet
	fragFirst        // offset 0, more fragments follow: carries the L4 header
	fragLater        // offset > 0: no L4 header
)

// meta is what the parse node learns about one IP packet: the fields every
// later node needs, so none of them parses headers again.
type meta struct {
	flow   spd.Flow
	ver    uint8  // 4 or 6
	frag   uint8  // fragNone, fragFirst, fragLater
	df     bool   // IPv4 don't-fragment bit
	ttl    uint8  // TTL or hop limit
	l4     uint16 // offset of the upper-layer header from the IP header
	length int    // IP packet length
}

// ethernet holds the link-layer fields of a received frame.
type ethernet struct {
	hdrLen    int    // 14, or 18 with an 802.1Q tag
	vlan      uint16 // VLAN ID of the tag; 0 when untagged
	etherType uint16
}

// parseEthernet reads the Ethernet header and at most one 802.1Q tag.
func parseEthernet(f []byte) (ethernet, stats.Reason) {
	if len(f) < ethHeaderLen {
		return ethernet{}, stats.Malformed
	}
	e := ethernet{hdrLen: ethHeaderLen, etherType: binary.BigEndian.Uint16(f[12:14])}
	if e.etherType == etherTypeVLAN {
		if len(f) < ethHeaderLen+vlanHeaderLen {
			return ethernet{}, stats.Malformed
		}
		e.vlan = binary.BigEndian.Uint16(f[14:16]) & 0x0fff
		e.etherType = binary.BigEndian.Uint16(f[16:18])
		e.hdrLen += vlanHeaderLen
	}
	if e.etherType != etherTypeIPv4 && e.etherType != etherTypeIPv6 {
		return e, stats.NotIP
	}
	return e, stats.None
}

// parseIP validates an IP packet at the start of p and fills m. It returns
// the packet's length according to its header (p may carry Ethernet padding
// behind it) or a drop reason.
func parseIP(p []byte, m *meta) stats.Reason {
	if len(p) < 1 {
		return stats.Malformed
	}
	switch p[0] >> 4 {
	case 4:
		return parseIPv4(p, m)
	case 6:
		return parseIPv6(p, m)
	}
	return stats.Malformed
}

// parseIPv4 checks an IPv4 header as a router must (RFC 1812 §5.2.2:
// version, header length, total length, checksum) and drops packets with
// options, as IOS's IPsec does.
func parseIPv4(p []byte, m *meta) stats.Reason {
	if len(p) < ipv4HeaderLen {
		return stats.Malformed
	}
	ihl := int(p[0]&0x0f) * 4
	if ihl < ipv4HeaderLen {
		return stats.Malformed
	}
	total := int(binary.BigEndian.Uint16(p[2:4]))
	if total < ihl || total > len(p) || ihl > len(p) {
		return stats.Malformed
	}
	if !ipv4HeaderOK(p[:ihl]) {
		return stats.Malformed
	}
	if ihl != ipv4HeaderLen {
		return stats.IPOptions
	}
	*m = meta{ver: 4, ttl: p[8], length: total, l4: ipv4HeaderLen}
	m.flow.Proto = p[9]
	m.flow.Src = netip.AddrFrom4([4]byte(p[12:16]))
	m.flow.Dst = netip.AddrFrom4([4]byte(p[16:20]))
	ff := binary.BigEndian.Uint16(p[6:8])
	m.df = ff&0x4000 != 0
	switch {
	case ff&0x1fff != 0:
		m.frag = fragLater
	case ff&0x2000 != 0:
		m.frag = fragFirst
	}
	return parsePorts(p[:total], m)
}

// parseIPv6 checks the fixed header and walks the extension headers a
// router may meet before the upper layer (hop-by-hop, routing, destination
// options, fragment). AH and ESP end the walk: they are what we classify on.
func parseIPv6(p []byte, m *meta) stats.Reason {
	if len(p) < ipv6HeaderLen {
		return stats.Malformed
	}
	total := ipv6HeaderLen + int(binary.BigEndian.Uint16(p[4:6]))
	if total > len(p) {
		return stats.Malformed
	}
	*m = meta{ver: 6, ttl: p[7], length: total}
	m.flow.Src = netip.AddrFrom16([16]byte(p[8:24]))
	m.flow.Dst = netip.AddrFrom16([16]byte(p[24:40]))
	next, off := p[6], ipv6HeaderLen
	for range maxExt6 {
		switch next {
		case ext6HopByHop, ext6Routing, ext6DestOpts:
			if off+8 > total {
				return stats.Malformed
			}
			next, off = p[off], off+8+int(p[off+1])*8
			if off > total {
				return stats.Malformed
			}
			continue
		case ext6Fragment:
			if off+8 > total {
				return stats.Malformed
			}
			fo := binary.BigEndian.Uint16(p[off+2 : off+4])
			switch {
			case fo&0xfff8 != 0:
				m.frag = fragLater
			case fo&1 != 0:
				m.frag = fragFirst
			}
			next, off = p[off], off+8
			continue
		}
		m.flow.Proto, m.l4 = next, uint16(off)
		return parsePorts(p[:total], m)
	}
	return stats.Malformed
}

// parsePorts reads TCP and UDP ports, which the SPD matches on. Packets of
// other protocols, and fragments without the upper-layer header, classify
// with ports 0.
func parsePorts(p []byte, m *meta) stats.Reason {
	if m.frag == fragLater {
		return stats.None
	}
	l4 := p[m.l4:]
	switch m.flow.Proto {
	case protoUDP:
		if len(l4) < 8 {
			if m.frag == fragFirst {
				return stats.None
			}
			return stats.Malformed
		}
	case protoTCP:
		if len(l4) < 4 {
			if m.frag == fragFirst {
				return stats.None
			}
			return stats.Malformed
		}
	default:
		return stats.None
	}
	m.flow.SrcPort = binary.BigEndian.Uint16(l4[0:2])
	m.flow.DstPort = binary.BigEndian.Uint16(l4[2:4])
	return stats.None
}

// checksum is the Internet checksum (RFC 1071) of b folded into sum; a
// header with a correct checksum field sums to 0.
func checksum(b []byte, sum uint32) uint16 {
	return ^fold(sumBytes(b, sum))
}

// sumBytes adds b to a one's-complement running sum, 16 bits at a time.
func sumBytes(b []byte, sum uint32) uint32 {
	s := uint64(sum)
	for len(b) >= 8 {
		s += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:]))
		b = b[8:]
	}
	for len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	for s > 0xffffffff {
		s = s>>32 + s&0xffffffff
	}
	return uint32(s)
}

// ipv4HeaderOK verifies an IPv4 header checksum; the common 20-byte
// header in five 32-bit words (the ones' complement sum folds the same
// from any word size, RFC 1071).
func ipv4HeaderOK(h []byte) bool {
	if len(h) != ipv4HeaderLen {
		return checksum(h, 0) == 0
	}
	s := uint64(binary.BigEndian.Uint32(h[0:])) + uint64(binary.BigEndian.Uint32(h[4:])) +
		uint64(binary.BigEndian.Uint32(h[8:])) + uint64(binary.BigEndian.Uint32(h[12:])) +
		uint64(binary.BigEndian.Uint32(h[16:]))
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return s == 0xffff
}

// fold reduces a running sum to 16 bits.
func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// decTTL decrements the TTL or hop limit of the IP packet p in place,
// patching the IPv4 checksum incrementally (RFC 1624).
func decTTL(p []byte, ver uint8) {
	if ver == 6 {
		p[7]--
		return
	}
	old := binary.BigEndian.Uint16(p[8:10])
	p[8]--
	// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), m the TTL/protocol word.
	s := uint32(^binary.BigEndian.Uint16(p[10:12])) + uint32(^old) + uint32(binary.BigEndian.Uint16(p[8:10]))
	binary.BigEndian.PutUint16(p[10:12], ^fold(s))
}
