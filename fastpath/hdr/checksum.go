package hdr

import "encoding/binary"

// Checksum is the Internet checksum (RFC 1071) of b folded into sum; a
// header with a correct checksum field sums to 0.
func Checksum(b []byte, sum uint32) uint16 {
	return ^Fold(Sum(b, sum))
}

// Sum adds b to a one's-complement running sum, 16 bits at a time (read
// as 32-bit words: the sum folds the same from any word size).
func Sum(b []byte, sum uint32) uint32 {
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

// Fold reduces a running sum to 16 bits.
func Fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// IPv4HeaderOK verifies an IPv4 header checksum.
func IPv4HeaderOK(h []byte) bool {
	if len(h) != IPv4HeaderLen {
		return Checksum(h, 0) == 0
	}
	return ipv4HeaderOK20((*[IPv4HeaderLen]byte)(h))
}

// ipv4HeaderOK20 verifies the checksum of the common 20-byte header in
// five 32-bit words, small enough to be inlined into the parser.
func ipv4HeaderOK20(h *[IPv4HeaderLen]byte) bool {
	s := uint64(binary.BigEndian.Uint32(h[0:])) + uint64(binary.BigEndian.Uint32(h[4:])) +
		uint64(binary.BigEndian.Uint32(h[8:])) + uint64(binary.BigEndian.Uint32(h[12:])) +
		uint64(binary.BigEndian.Uint32(h[16:]))
	s = s>>32 + s&0xffffffff // below 2^33
	s = s>>16 + s&0xffff     // below 2^18
	s = s>>16 + s&0xffff     // at most 0x10002
	s = s>>16 + s&0xffff
	return s == 0xffff
}

// SetIPv4Checksum recomputes the checksum of the IPv4 header h.
func SetIPv4Checksum(h []byte) {
	h[10], h[11] = 0, 0
	binary.BigEndian.PutUint16(h[10:], Checksum(h, 0))
}

// DecTTL decrements the TTL or hop limit of the IP packet p in place,
// patching the IPv4 checksum incrementally (RFC 1624).
func DecTTL(p []byte, ver uint8) {
	if ver == 6 {
		p[7]--
		return
	}
	old := binary.BigEndian.Uint16(p[8:10])
	p[8]--
	// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), m the TTL/protocol word.
	s := uint32(^binary.BigEndian.Uint16(p[10:12])) + uint32(^old) + uint32(binary.BigEndian.Uint16(p[8:10]))
	binary.BigEndian.PutUint16(p[10:12], ^Fold(s))
}
