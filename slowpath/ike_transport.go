package slowpath

import (
	"errors"
	"hash/maphash"
	"net"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// errInjectFull is returned when a worker's inject ring has no free slot;
// the engine counts it and retransmits later.
var errInjectFull = errors.New("slowpath: inject ring full")

var peerSeed = maphash.MakeSeed()

// Send implements ike.Transport: it wraps the datagram in UDP and IP and
// queues it on a worker's inject ring, marked to bypass the crypto maps
// (RFC 4301 §5.1: IKE's own packets travel in the clear). All datagrams to
// one peer use the same worker, so they leave in order. Only the engine's
// goroutine sends, which makes it the rings' single producer.
func (x *Negotiator) Send(local, remote netip.AddrPort, payload []byte) error {
	ws := x.gw().Engine.Workers()
	if len(ws) == 0 {
		return errors.New("slowpath: no workers to send IKE through")
	}
	pkt, err := udpPacket(local, remote, payload)
	if err != nil {
		return err
	}
	w := ws[maphash.Comparable(peerSeed, remote.Addr())%uint64(len(ws))]
	r := w.Injects()
	s := r.Reserve()
	if s == nil {
		x.counters.InjectFull.Add(1)
		return errInjectFull
	}
	s.Packet = append(s.Packet[:0], pkt...)
	s.Bypass = true
	r.Commit()
	return nil
}

// udpPacket builds the IP packet of one datagram, checksums included.
func udpPacket(local, remote netip.AddrPort, payload []byte) ([]byte, error) {
	if local.Addr().Is4() != remote.Addr().Is4() {
		return nil, errors.New("slowpath: IKE datagram between address families")
	}
	udp := &layers.UDP{SrcPort: layers.UDPPort(local.Port()), DstPort: layers.UDPPort(remote.Port())}
	var ip gopacket.SerializableLayer
	if local.Addr().Is4() {
		v4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
			SrcIP: net.IP(local.Addr().AsSlice()), DstIP: net.IP(remote.Addr().AsSlice())}
		udp.SetNetworkLayerForChecksum(v4)
		ip = v4
	} else {
		v6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP,
			SrcIP: net.IP(local.Addr().AsSlice()), DstIP: net.IP(remote.Addr().AsSlice())}
		udp.SetNetworkLayerForChecksum(v6)
		ip = v6
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ip, udp, gopacket.Payload(payload)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// udpPayload returns the UDP payload of an IP packet the fast path punted
// (reassembled if it came in fragments).
func udpPayload(pkt []byte) ([]byte, bool) {
	if len(pkt) == 0 {
		return nil, false
	}
	first := layers.LayerTypeIPv4
	if pkt[0]>>4 == 6 {
		first = layers.LayerTypeIPv6
	}
	p := gopacket.NewPacket(pkt, first, gopacket.DecodeOptions{NoCopy: true, Lazy: true})
	u, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if u == nil {
		return nil, false
	}
	return u.Payload, true
}
