package fastpath

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
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
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	if o.ttl == 0 {
		o.ttl = 64
	}
	if o.proto == 0 {
		o.proto = layers.IPProtocolUDP
	}
	if o.sport == 0 {
		o.sport = 40000
	}
	if o.dport == 0 {
		o.dport = 5001
	}
	var ls []gopacket.SerializableLayer
	eth := &layers.Ethernet{SrcMAC: macHost, DstMAC: macGw}
	ls = append(ls, eth)
	et := layers.EthernetTypeIPv4
	if s.Is6() {
		et = layers.EthernetTypeIPv6
	}
	if o.vlan != 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: o.vlan, Type: et})
	} else {
		eth.EthernetType = et
	}
	var nl gopacket.NetworkLayer
	if s.Is4() {
		ip := &layers.IPv4{Version: 4, TTL: o.ttl, Protocol: o.proto, SrcIP: s.AsSlice(), DstIP: d.AsSlice(), Id: 7}
		if o.df {
			ip.Flags = layers.IPv4DontFragment
		}
		if o.options {
			ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
		}
		nl = ip
		ls = append(ls, ip)
	} else {
		ip := &layers.IPv6{Version: 6, HopLimit: o.ttl, NextHeader: o.proto, SrcIP: s.AsSlice(), DstIP: d.AsSlice()}
		nl = ip
		ls = append(ls, ip)
	}
	switch o.proto {
	case layers.IPProtocolUDP:
		u := &layers.UDP{SrcPort: layers.UDPPort(o.sport), DstPort: layers.UDPPort(o.dport)}
		u.SetNetworkLayerForChecksum(nl)
		ls = append(ls, u)
	case layers.IPProtocolTCP:
		tc := &layers.TCP{SrcPort: layers.TCPPort(o.sport), DstPort: layers.TCPPort(o.dport), SYN: true, Window: 1000}
		tc.SetNetworkLayerForChecksum(nl)
		ls = append(ls, tc)
	case layers.IPProtocolICMPv4:
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1})
	case layers.IPProtocolICMPv6:
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
		ic.SetNetworkLayerForChecksum(nl)
		ls = append(ls, ic, &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1})
	}
	ls = append(ls, gopacket.Payload(o.payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
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
