// Package pkttest builds test traffic for the fast path's packages with
// gopacket, an encoder independent of the parsers under test: IP packets
// (UDP by default, TCP, ICMP echo) and Ethernet frames carrying them.
package pkttest

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Options describes a packet; zero values are UDP from port 40000 to
// 5001, TTL 64, no VLAN tag.
type Options struct {
	VLAN             uint16
	TTL              uint8
	DF               bool
	IPOptions        bool // an IPv4 option word (three NOPs and an end)
	Proto            layers.IPProtocol
	SrcPort, DstPort uint16
	Payload          []byte
}

// IP is an IP packet from src to dst, padded to 46 bytes as an Ethernet
// payload is (parsers must not take the padding for packet).
func IP(t testing.TB, src, dst string, o Options) []byte {
	t.Helper()
	p := serialize(t, ipLayers(src, dst, o))
	return append(p, make([]byte, max(0, 46-len(p)))...)
}

// Frame is an Ethernet frame from srcMAC to dstMAC carrying IP's packet,
// with an 802.1Q tag when o.VLAN is set.
func Frame(t testing.TB, srcMAC, dstMAC net.HardwareAddr, src, dst string, o Options) []byte {
	t.Helper()
	et := layers.EthernetTypeIPv4
	if netip.MustParseAddr(src).Is6() {
		et = layers.EthernetTypeIPv6
	}
	eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: et}
	ls := []gopacket.SerializableLayer{eth}
	if o.VLAN != 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: o.VLAN, Type: et})
	}
	return serialize(t, append(ls, ipLayers(src, dst, o)...))
}

func ipLayers(src, dst string, o Options) []gopacket.SerializableLayer {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	if o.TTL == 0 {
		o.TTL = 64
	}
	if o.Proto == 0 {
		o.Proto = layers.IPProtocolUDP
	}
	if o.SrcPort == 0 {
		o.SrcPort = 40000
	}
	if o.DstPort == 0 {
		o.DstPort = 5001
	}
	var nl gopacket.NetworkLayer
	if s.Is4() {
		ip := &layers.IPv4{Version: 4, TTL: o.TTL, Protocol: o.Proto, SrcIP: s.AsSlice(), DstIP: d.AsSlice(), Id: 7}
		if o.DF {
			ip.Flags = layers.IPv4DontFragment
		}
		if o.IPOptions {
			ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
		}
		nl = ip
	} else {
		nl = &layers.IPv6{Version: 6, HopLimit: o.TTL, NextHeader: o.Proto, SrcIP: s.AsSlice(), DstIP: d.AsSlice()}
	}
	ls := []gopacket.SerializableLayer{nl.(gopacket.SerializableLayer)}
	switch o.Proto {
	case layers.IPProtocolUDP:
		u := &layers.UDP{SrcPort: layers.UDPPort(o.SrcPort), DstPort: layers.UDPPort(o.DstPort)}
		u.SetNetworkLayerForChecksum(nl)
		ls = append(ls, u)
	case layers.IPProtocolTCP:
		tc := &layers.TCP{SrcPort: layers.TCPPort(o.SrcPort), DstPort: layers.TCPPort(o.DstPort), SYN: true, Window: 1000}
		tc.SetNetworkLayerForChecksum(nl)
		ls = append(ls, tc)
	case layers.IPProtocolICMPv4:
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1})
	case layers.IPProtocolICMPv6:
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
		ic.SetNetworkLayerForChecksum(nl)
		ls = append(ls, ic, &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1})
	}
	return append(ls, gopacket.Payload(o.Payload))
}

func serialize(t testing.TB, ls []gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
