package fastpath

import (
	"encoding/binary"

	"ipsecgw/fastpath/stats"
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
