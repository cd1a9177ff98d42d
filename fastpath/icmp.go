package fastpath

import (
	"encoding/binary"
	"net/netip"

	"ipsecgw/fastpath/hdr"
	"ipsecgw/packet"
)

// ICMP types and codes the fast path sends (RFC 792, RFC 1191, RFC 4443).
const (
	icmp4DestUnreach  = 3
	icmp4FragNeeded   = 4 // code of type 3
	icmp4TimeExceeded = 11

	icmp6PacketTooBig = 2
	icmp6TimeExceeded = 3

	// RFC 1812 §4.3.2.3: an ICMPv4 error holds as much of the offending
	// packet as fits in 576 bytes; RFC 4443 §2.4(c): an ICMPv6 error
	// must not exceed the IPv6 minimum MTU.
	icmp4MaxLen = 576
	icmp6MaxLen = 1280

	icmpTTL = 64
)

// icmpError describes an error to send about one packet.
type icmpError struct {
	typ, code uint8
	mtu       int // next-hop MTU for fragmentation-needed / packet-too-big
}

// mayAnswer applies the rules of RFC 1812 §4.3.2.7 and RFC 4443 §2.4(e):
// no ICMP error about a non-first fragment, an ICMP error, or a packet
// from or to an address that does not name one host.
func mayAnswer(orig []byte, m *hdr.Meta) bool {
	if m.Frag == hdr.FragLater {
		return false
	}
	src, dst := m.Flow.Src, m.Flow.Dst
	if !src.IsGlobalUnicast() && !src.IsLinkLocalUnicast() || dst.IsMulticast() {
		return false
	}
	if dst == limitedBroadcast {
		return false
	}
	l4 := int(m.L4)
	switch {
	case m.Ver == 4 && m.Flow.Proto == protoICMP && len(orig) > l4:
		switch orig[l4] { // error types: unreachable, quench, redirect, time exceeded, parameter problem
		case 3, 4, 5, 11, 12:
			return false
		}
	case m.Ver == 6 && m.Flow.Proto == protoICMPv6 && len(orig) > l4:
		if orig[l4] < 128 { // ICMPv6 error messages are types 0-127
			return false
		}
	}
	return true
}

// buildICMPError writes into b (an empty buffer) an ICMP or ICMPv6 error
// from src about the IP packet orig and returns false when it cannot (src
// of the wrong family). The error goes back to orig's source.
func buildICMPError(b *packet.Buf, orig []byte, m *hdr.Meta, src netip.Addr, e icmpError, id uint16) bool {
	if m.Ver == 4 {
		if !src.Is4() {
			return false
		}
		n := min(len(orig), icmp4MaxLen-ipv4HeaderLen-8)
		p := b.Append(ipv4HeaderLen + 8 + n)
		if p == nil {
			return false
		}
		writeIPv4Header(p, ipv4HeaderLen+8+n, protoICMP, src, m.Flow.Src, id)
		ic := p[ipv4HeaderLen:]
		ic[0], ic[1] = e.typ, e.code
		clear(ic[2:8])
		if e.typ == icmp4DestUnreach && e.code == icmp4FragNeeded {
			binary.BigEndian.PutUint16(ic[6:8], uint16(e.mtu)) // RFC 1191 §4
		}
		copy(ic[8:], orig[:n])
		binary.BigEndian.PutUint16(ic[2:4], hdr.Checksum(ic, 0))
		return true
	}
	if !src.Is6() || src.Is4In6() {
		return false
	}
	n := min(len(orig), icmp6MaxLen-ipv6HeaderLen-8)
	p := b.Append(ipv6HeaderLen + 8 + n)
	if p == nil {
		return false
	}
	writeIPv6Header(p, 8+n, protoICMPv6, src, m.Flow.Src)
	ic := p[ipv6HeaderLen:]
	ic[0], ic[1] = e.typ, e.code
	clear(ic[2:8])
	if e.typ == icmp6PacketTooBig {
		binary.BigEndian.PutUint32(ic[4:8], uint32(e.mtu))
	}
	copy(ic[8:], orig[:n])
	binary.BigEndian.PutUint16(ic[2:4], hdr.Checksum(ic, pseudoHeader6(p, uint32(8+n), protoICMPv6)))
	return true
}

// writeIPv4Header writes a 20-byte header without options and its checksum.
func writeIPv4Header(p []byte, total int, proto uint8, src, dst netip.Addr, id uint16) {
	p[0], p[1] = 0x45, 0
	binary.BigEndian.PutUint16(p[2:4], uint16(total))
	binary.BigEndian.PutUint16(p[4:6], id)
	binary.BigEndian.PutUint16(p[6:8], 0)
	p[8], p[9] = icmpTTL, proto
	binary.BigEndian.PutUint16(p[10:12], 0)
	s, d := src.As4(), dst.As4()
	copy(p[12:16], s[:])
	copy(p[16:20], d[:])
	binary.BigEndian.PutUint16(p[10:12], hdr.Checksum(p[:ipv4HeaderLen], 0))
}

// writeIPv6Header writes a 40-byte header.
func writeIPv6Header(p []byte, payload int, next uint8, src, dst netip.Addr) {
	binary.BigEndian.PutUint32(p[0:4], 6<<28)
	binary.BigEndian.PutUint16(p[4:6], uint16(payload))
	p[6], p[7] = next, icmpTTL
	s, d := src.As16(), dst.As16()
	copy(p[8:24], s[:])
	copy(p[24:40], d[:])
}

// pseudoHeader6 sums the IPv6 pseudo-header (RFC 8200 §8.1) of the packet
// whose fixed header is at p.
func pseudoHeader6(p []byte, upperLen uint32, next uint8) uint32 {
	var tail [8]byte
	binary.BigEndian.PutUint32(tail[0:4], upperLen)
	tail[7] = next
	return hdr.Sum(tail[:], hdr.Sum(p[8:40], 0))
}

// tokenBucket limits the rate of ICMP errors a worker sends (RFC 1812
// §4.3.2.8, RFC 4443 §2.4(f)), as IOS's `ip icmp rate-limit` does.
type tokenBucket struct {
	tokens, burst float64
	perNano       float64
	last          int64
}

func newTokenBucket(perSecond, burst float64) tokenBucket {
	return tokenBucket{tokens: burst, burst: burst, perNano: perSecond / 1e9}
}

// take spends one token at time now (nanoseconds), if there is one.
func (t *tokenBucket) take(now int64) bool {
	if now > t.last {
		t.tokens = min(t.burst, t.tokens+float64(now-t.last)*t.perNano)
		t.last = now
	}
	if t.tokens < 1 {
		return false
	}
	t.tokens--
	return true
}
