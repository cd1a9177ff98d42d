// Package hdr checks the IP header of a packet and reads the fields the
// fast path works with, once per header: the engine parses what it
// receives (Parse on the frame behind the Ethernet header), the decrypt
// node what it decapsulates, and each hands the result (Meta) on with the
// packet, as VPP keeps its buffer metadata, so no later step parses the
// same header again. It also holds the Internet checksum helpers both
// use.
package hdr

import (
	"encoding/binary"
	"net/netip"

	"ipsecgw/fastpath/stats"
	"ipsecgw/spd"
)

// IP protocol numbers and header lengths the parser knows.
const (
	ProtoTCP = 6
	ProtoUDP = 17

	IPv4HeaderLen = 20
	IPv6HeaderLen = 40
)

// IPv6 extension headers walked to find the upper-layer protocol.
const (
	ext6HopByHop = 0
	ext6Routing  = 43
	ext6Fragment = 44
	ext6DestOpts = 60
	maxExt6      = 8 // more extension headers than this is not a real packet
)

// Fragment positions of an IP packet.
const (
	FragNone  = iota // a whole packet (an IPv6 atomic fragment included)
	FragFirst        // offset 0, more fragments follow: carries the L4 header
	FragLater        // offset > 0: no L4 header
)

// Meta is what parsing one IP packet tells the steps after it.
type Meta struct {
	Flow   spd.Flow // ports zero for other protocols and later fragments
	Ver    uint8    // 4 or 6
	Frag   uint8    // FragNone, FragFirst, FragLater
	DF     bool     // IPv4 don't-fragment bit
	TTL    uint8    // TTL or hop limit
	L4     uint16   // offset of the upper-layer header (ESP, AH, TCP, ...)
	NHPos  uint16   // offset of the byte naming the upper-layer protocol
	Length int      // IP packet length from its header
}

// Parse validates an IP packet at the start of p and fills m. m.Length is
// the packet's length according to its header (p may carry link-layer
// padding behind it). It returns stats.None or the reason to drop it.
func Parse(p []byte, m *Meta) stats.Reason {
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
func parseIPv4(p []byte, m *Meta) stats.Reason {
	if len(p) < IPv4HeaderLen {
		return stats.Malformed
	}
	ihl := int(p[0]&0x0f) * 4
	if ihl < IPv4HeaderLen {
		return stats.Malformed
	}
	total := int(binary.BigEndian.Uint16(p[2:4]))
	if total < ihl || total > len(p) || ihl > len(p) {
		return stats.Malformed
	}
	if ihl != IPv4HeaderLen {
		if !IPv4HeaderOK(p[:ihl]) {
			return stats.Malformed
		}
		return stats.IPOptions
	}
	if !ipv4HeaderOK20((*[IPv4HeaderLen]byte)(p)) {
		return stats.Malformed
	}
	// Field by field: a composite literal is built on the stack and
	// copied in 16-byte loads that straddle its narrow stores, stalling
	// store forwarding (~6 ns a packet).
	m.Flow.Src = netip.AddrFrom4([4]byte(p[12:16]))
	m.Flow.Dst = netip.AddrFrom4([4]byte(p[16:20]))
	m.Flow.Proto, m.Flow.SrcPort, m.Flow.DstPort = p[9], 0, 0
	m.Ver, m.TTL, m.L4, m.NHPos, m.Length = 4, p[8], IPv4HeaderLen, 9, total
	ff := binary.BigEndian.Uint16(p[6:8])
	m.DF = ff&0x4000 != 0
	switch {
	case ff&0x1fff != 0:
		m.Frag = FragLater
	case ff&0x2000 != 0:
		m.Frag = FragFirst
	default:
		m.Frag = FragNone
	}
	return parsePorts(p[:total], m)
}

// parseIPv6 checks the fixed header and walks the extension headers a
// router may meet before the upper layer (hop-by-hop, routing, destination
// options, fragment). AH and ESP end the walk: they are what we classify on.
func parseIPv6(p []byte, m *Meta) stats.Reason {
	if len(p) < IPv6HeaderLen {
		return stats.Malformed
	}
	total := IPv6HeaderLen + int(binary.BigEndian.Uint16(p[4:6]))
	if total > len(p) {
		return stats.Malformed
	}
	m.Flow.Src = netip.AddrFrom16([16]byte(p[8:24]))
	m.Flow.Dst = netip.AddrFrom16([16]byte(p[24:40]))
	m.Flow.SrcPort, m.Flow.DstPort = 0, 0
	m.Ver, m.TTL, m.Frag, m.DF, m.NHPos, m.Length = 6, p[7], FragNone, false, 6, total
	next, off := p[6], IPv6HeaderLen
	for range maxExt6 {
		switch next {
		case ext6HopByHop, ext6Routing, ext6DestOpts:
			if off+8 > total {
				return stats.Malformed
			}
			m.NHPos = uint16(off)
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
				m.Frag = FragLater
			case fo&1 != 0:
				m.Frag = FragFirst
			}
			m.NHPos = uint16(off)
			next, off = p[off], off+8
			continue
		}
		m.Flow.Proto, m.L4 = next, uint16(off)
		return parsePorts(p[:total], m)
	}
	return stats.Malformed
}

// parsePorts reads TCP and UDP ports, which the SPD matches on. Packets of
// other protocols, and fragments without the upper-layer header, classify
// with ports 0.
func parsePorts(p []byte, m *Meta) stats.Reason {
	if m.Frag == FragLater {
		return stats.None
	}
	l4 := p[m.L4:]
	switch m.Flow.Proto {
	case ProtoUDP:
		if len(l4) < 8 {
			if m.Frag == FragFirst {
				return stats.None
			}
			return stats.Malformed
		}
	case ProtoTCP:
		if len(l4) < 4 {
			if m.Frag == FragFirst {
				return stats.None
			}
			return stats.Malformed
		}
	default:
		return stats.None
	}
	m.Flow.SrcPort = binary.BigEndian.Uint16(l4[0:2])
	m.Flow.DstPort = binary.BigEndian.Uint16(l4[2:4])
	return stats.None
}
