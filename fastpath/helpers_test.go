package fastpath

import (
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"ipsecgw/fastpath/internal/pkttest"
)

// Test traffic is built with gopacket, independently of the parsers under
// test, and outputs are checked by decoding them with gopacket.

var (
	macHost = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	macGw   = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
)

type frameOpts struct {
	vlan    uint16
	ttl     uint8
	df      bool
	options bool // add an IPv4 NOP option word
	proto   layers.IPProtocol
	sport   uint16
	dport   uint16
	payload []byte
}

// buildFrame makes an Ethernet frame carrying a UDP (default), TCP or ICMP
// packet from src to dst.
func buildFrame(t testing.TB, src, dst string, o frameOpts) []byte {
	t.Helper()
	return pkttest.Frame(t, macHost, macGw, src, dst, pkttest.Options{VLAN: o.vlan, TTL: o.ttl, DF: o.df, IPOptions: o.options,
		Proto: o.proto, SrcPort: o.sport, DstPort: o.dport, Payload: o.payload})
}

// decode decodes a frame (Ethernet) or an IP packet with gopacket.
func decode(b []byte, first gopacket.Decoder) gopacket.Packet {
	return gopacket.NewPacket(b, first, gopacket.Default)
}

func payload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i)
	}
	return p
}
