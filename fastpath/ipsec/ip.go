package ipsec

import (
	"encoding/binary"
	"net/netip"

	"ipsecgw/fastpath/hdr"
)

// IP protocol numbers and header sizes the nodes use.
const (
	protoIPv4   = 4
	protoTCP    = 6
	protoUDP    = 17
	protoIPv6   = 41
	protoESP    = 50
	protoAH     = 51
	protoNoNext = 59

	ext6HopByHop = 0
	ext6Routing  = 43
	ext6Fragment = 44
	ext6DestOpts = 60

	ipv4HeaderLen = 20
	ipv6HeaderLen = 40
	udpHeaderLen  = 8
	espHeaderLen  = 8
	ahFixedLen    = 12

	portNATT = 4500

	// maxIPHeader bounds the IP header plus the extension headers in
	// front of an IPsec header that the nodes handle (and save for AH).
	maxIPHeader = 128
	maxExt6     = 8
)

// tos is the IPv4 TOS byte or IPv6 traffic class of an IP header: DSCP in
// the high six bits, ECN in the low two.
func tos(h []byte) uint8 {
	if h[0]>>4 == 4 {
		return h[1]
	}
	return h[0]<<4 | h[1]>>4
}

// setTOS writes the TOS byte or traffic class, keeping an IPv4 header's
// checksum right by recomputing it.
func setTOS(h []byte, v uint8) {
	if h[0]>>4 == 4 {
		h[1] = v
		hdr.SetIPv4Checksum(h[:ipv4HeaderLen+int(h[0]&0x0f-5)*4])
		return
	}
	h[0] = h[0]&0xf0 | v>>4
	h[1] = h[1]&0x0f | v<<4
}

// ECN codepoints (RFC 3168).
const (
	notECT = 0
	ect1   = 1
	ect0   = 2
	ce     = 3
)

// decapECN combines the outer and inner ECN fields at a tunnel egress (RFC
// 6040 §4.2, Figure 4). ok is false for the one combination that must be
// dropped: congestion experienced outside a packet whose sender does not
// understand ECN.
func decapECN(outer, inner uint8) (ecn uint8, ok bool) {
	switch {
	case inner == notECT:
		return notECT, outer != ce
	case outer == ce:
		return ce, true
	case inner == ect0 && outer == ect1:
		return ect1, true
	}
	return inner, true
}

// l3 locates the headers of an IP packet the nodes rewrite.
type l3 struct {
	ver   uint8
	nh    uint8
	frag  bool // IPv4 fragment or IPv6 fragment header seen
	hlen  int  // IP header plus extension headers in front of the payload
	nhPos int  // offset of the next-header byte that names the payload
}

// parseL3 checks an IP packet's fixed header against the frame (trimming
// nothing) and finds where the payload the IPsec header goes in front of
// begins: after the IPv4 header, or after the IPv6 hop-by-hop, routing and
// fragment headers and destination options that precede a routing header
// (RFC 4303 §3.1.1). It fills l in place (a returned struct copied whole
// stalls on its own narrow stores) and returns the packet length the header
// declares; ok is false for a malformed header, l then undefined.
func parseL3(f []byte, l *l3) (plen int, ok bool) {
	if len(f) < 1 {
		return 0, false
	}
	switch f[0] >> 4 {
	case 4:
		if len(f) < ipv4HeaderLen {
			return 0, false
		}
		l.ver = 4
		l.hlen = int(f[0]&0x0f) * 4
		plen = int(binary.BigEndian.Uint16(f[2:]))
		if l.hlen < ipv4HeaderLen || plen < l.hlen || plen > len(f) {
			return 0, false
		}
		l.nhPos, l.nh = 9, f[9]
		l.frag = binary.BigEndian.Uint16(f[6:])&0x3fff != 0
		return plen, true
	case 6:
		if len(f) < ipv6HeaderLen {
			return 0, false
		}
		plen = ipv6HeaderLen + int(binary.BigEndian.Uint16(f[4:]))
		if plen > len(f) {
			return 0, false
		}
		l.ver, l.frag, l.hlen, l.nhPos, l.nh = 6, false, ipv6HeaderLen, 6, f[6]
		for range maxExt6 {
			switch l.nh {
			case ext6HopByHop, ext6Routing, ext6Fragment, ext6DestOpts:
			default:
				return plen, true
			}
			if l.hlen+8 > plen {
				return 0, false
			}
			n := 8
			if l.nh == ext6Fragment {
				l.frag = true
			} else {
				n = (int(f[l.hlen+1]) + 1) * 8
			}
			if l.nh == ext6DestOpts && f[l.hlen] != ext6Routing {
				return plen, true // options for the final destination: inside IPsec
			}
			if l.hlen+n > plen {
				return 0, false
			}
			l.nhPos, l.nh = l.hlen, f[l.hlen]
			l.hlen += n
		}
		return 0, false
	}
	return 0, false
}

// dst is the destination address of an IP packet.
func dst(f []byte, ver uint8) netip.Addr {
	if ver == 4 {
		return netip.AddrFrom4([4]byte(f[16:20]))
	}
	return netip.AddrFrom16([16]byte(f[24:40]))
}

// setLength writes the length of an IP packet of n bytes with header h
// (IPv4: total length and checksum; IPv6: payload length).
func setLength(f []byte, l *l3, n int) {
	if l.ver == 4 {
		binary.BigEndian.PutUint16(f[2:], uint16(n))
		hdr.SetIPv4Checksum(f[:l.hlen])
		return
	}
	binary.BigEndian.PutUint16(f[4:], uint16(n-ipv6HeaderLen))
}

// flowLabel derives an IPv6 flow label for a tunnel from the inner
// packet's addresses and protocol (RFC 6438), so ECMP paths keep one inner
// flow together.
func flowLabel(inner []byte) uint32 {
	var src, dst []byte
	var proto byte
	if inner[0]>>4 == 4 {
		src, dst, proto = inner[12:16], inner[16:20], inner[9]
	} else {
		if lbl := binary.BigEndian.Uint32(inner) & 0xfffff; lbl != 0 {
			return lbl
		}
		src, dst, proto = inner[8:24], inner[24:40], inner[6]
	}
	h := uint32(2166136261) // FNV-1a
	for _, b := range src {
		h = (h ^ uint32(b)) * 16777619
	}
	for _, b := range dst {
		h = (h ^ uint32(b)) * 16777619
	}
	h = (h ^ uint32(proto)) * 16777619
	return (h ^ h>>20) & 0xfffff
}
