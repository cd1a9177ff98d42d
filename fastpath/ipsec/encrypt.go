package ipsec

import (
	"encoding/binary"

	"ipsecgw/crypto"
	"ipsecgw/fastpath/hdr"
	"ipsecgw/fastpath/sad"
	"ipsecgw/fastpath/stats"
	"ipsecgw/packet"
)

// Encryptor is the outbound IPsec node of one worker. It is not safe for
// concurrent use; each worker has its own.
type Encryptor struct {
	worker int
	vec    int
	ipID   uint16

	// Events are the lifetime limits SAs reached during the last Process
	// call, for the engine to punt to the slow path.
	Events []sad.Event

	gs    groups
	meta  []outMeta
	ops   []crypto.Op
	ahOps []crypto.AHOp
	saved [][maxIPHeader]byte // headers whose mutable fields AH zeroes
}

// outMeta is what the passes of one vector remember about a packet.
type outMeta struct {
	l      l3       // the cleartext packet's IP header (transport mode)
	g      [2]int16 // groups of the SA and of its bundle's AH SA (-1: none)
	size   uint32   // cleartext length, for lifetimes and counters
	ahSeq  uint64   // bundle: the AH SA's sequence number
	op     int16    // index in ops, -1: none
	ah     int16    // index in ahOps, -1: none
	hlen   uint8    // AH: bytes of header saved
	udpOff uint16   // IPv6 NAT-T: where the UDP header is, for its checksum
	udp6   bool
}

// NewEncryptor returns the encrypt node of worker (its index in the SAs'
// counters) for vectors of up to vector packets; Process splits longer ones.
func NewEncryptor(worker, vector int) *Encryptor {
	return &Encryptor{
		worker: worker,
		vec:    vector,
		ipID:   uint16(worker) * 0x3b9d, // spread the workers' IPv4 ID spaces
		Events: make([]sad.Event, 0, 2*vector),
		gs:     newGroups(2 * vector),
		meta:   make([]outMeta, vector),
		ops:    make([]crypto.Op, 0, vector),
		ahOps:  make([]crypto.AHOp, 0, vector),
		saved:  make([][maxIPHeader]byte, vector),
	}
}

// Process protects a vector of cleartext IP packets. sas[i] is the outbound
// SA the engine chose for pkts[i]: an ESP SA (with its AH SA when bundled)
// or an AH SA. On return verdicts[i] is stats.None and pkts[i] holds the
// protected outer IP packet, or verdicts[i] is the reason to drop it (the
// SA's counters already have it; the caller counts it globally and frees
// the buffer). Events holds the lifetime limits crossed.
func (n *Encryptor) Process(pkts []*packet.Buf, sas []*sad.SA, verdicts []stats.Reason) {
	n.Events = n.Events[:0]
	for len(pkts) > 0 {
		k := min(len(pkts), n.vec)
		n.process(pkts[:k], sas[:k], verdicts[:k])
		pkts, sas, verdicts = pkts[k:], sas[k:], verdicts[k:]
	}
}

func (n *Encryptor) process(pkts []*packet.Buf, sas []*sad.SA, verdicts []stats.Reason) {
	gs := &n.gs
	gs.reset()
	meta := n.meta[:len(pkts)]

	// Check each packet and gather the vector's packets by SA.
	for i, b := range pkts {
		m := &meta[i]
		*m = outMeta{g: [2]int16{-1, -1}, op: -1, ah: -1}
		verdicts[i] = n.classify(b, sas[i], m)
	}

	// Charge lifetimes, one reservation per SA, then admit packet by packet.
	gs.reserve(&n.Events)
	for i := range pkts {
		if verdicts[i] != stats.None {
			continue
		}
		m := &meta[i]
		if !gs.admit(m.g, m.size) {
			verdicts[i] = stats.LifetimeExpired
			continue
		}
		gs.g[m.g[0]].seqs++
		if m.g[1] >= 0 {
			gs.g[m.g[1]].seqs++
		}
	}

	// Sequence numbers: one reservation per SA for its admitted packets.
	for i := range gs.g {
		g := &gs.g[i]
		if g.seqs != 0 {
			g.seq, g.seqs = g.sa.ReserveSeq(g.seqs)
		}
	}

	// Lay out ESP packets (and AH-only ones) and seal the ESP ones in one
	// crypto batch.
	ops := n.ops[:0]
	for i, b := range pkts {
		if verdicts[i] != stats.None {
			continue
		}
		m := &meta[i]
		seq, ok := gs.take(m.g[0])
		if m.g[1] >= 0 {
			var ok2 bool
			m.ahSeq, ok2 = gs.take(m.g[1])
			ok = ok && ok2
		}
		if !ok {
			verdicts[i] = stats.SeqOverflow
			continue
		}
		sa := sas[i]
		if sa.Protocol() == sad.AH {
			verdicts[i] = n.layoutAH(b, sa, seq, m, sa.Mode() == sad.Tunnel)
			continue
		}
		verdicts[i] = n.layoutESP(b, sa, seq, m, &ops)
	}
	crypto.SealBatch(ops)
	n.ops = ops

	// AH outside ESP for bundles, then one AH batch for all AH packets.
	for i, b := range pkts {
		m := &meta[i]
		if verdicts[i] != stats.None || m.op < 0 || sas[i].Outer() == nil {
			continue
		}
		if !ops[m.op].OK {
			verdicts[i] = stats.Malformed
			continue
		}
		verdicts[i] = n.layoutAH(b, sas[i].Outer(), m.ahSeq, m, false)
	}
	crypto.AHSealBatch(n.ahOps)

	for i, b := range pkts {
		m := &meta[i]
		if m.ah >= 0 {
			copy(b.Bytes(), n.saved[m.ah][:m.hlen]) // restore mutable fields
			if !n.ahOps[m.ah].OK && verdicts[i] == stats.None {
				verdicts[i] = stats.Malformed
			}
		}
		if verdicts[i] == stats.None && m.op >= 0 && !ops[m.op].OK {
			verdicts[i] = stats.Malformed
		}
		if verdicts[i] != stats.None {
			if sas[i] != nil {
				sas[i].Drop(n.worker, verdicts[i], 1)
			}
			continue
		}
		if m.udp6 {
			setUDP6Checksum(b.Bytes(), int(m.udpOff))
		}
		gs.ok(m.g, m.size)
	}
	n.ahOps = n.ahOps[:0]
	gs.count(n.worker)
}

// take hands out the next reserved sequence number of group gi.
func (gs *groups) take(gi int16) (uint64, bool) {
	g := &gs.g[gi]
	if g.seqs == 0 {
		return 0, false
	}
	s := g.seq
	g.seq++
	g.seqs--
	return s, true
}

// classify checks a cleartext packet and its SA and adds it to the groups.
func (n *Encryptor) classify(b *packet.Buf, sa *sad.SA, m *outMeta) stats.Reason {
	if sa == nil || sa.Direction() != sad.Outbound || sa.Inner() != nil || sa.Dead() ||
		(sa.Outer() != nil && sa.Outer().Dead()) {
		return stats.NoSA
	}
	l, f := &m.l, b.Bytes()
	plen := len(f)
	if sa.Mode() == sad.Tunnel {
		// The engine parsed and checked the header and cut the frame to
		// the packet (package doc): the whole of it goes inside, and
		// only its version matters here.
		if plen == 0 || f[0]>>4 != 4 && f[0]>>4 != 6 {
			return stats.Malformed
		}
		l.ver = f[0] >> 4
	} else {
		var ok bool
		if plen, ok = parseL3(f, l); !ok {
			return stats.Malformed
		}
		b.SetLen(plen)
		// Transport mode protects whole packets sent to the peer itself.
		if l.frag || (l.ver == 4) != sa.Local().Is4() || dst(b.Bytes(), l.ver) != sa.Remote() {
			return stats.PolicyMismatch
		}
		if l.ver == 4 && l.hlen != ipv4HeaderLen && (sa.Protocol() == sad.AH || sa.Outer() != nil) {
			return stats.IPOptions
		}
	}
	m.size = uint32(plen)
	m.g[0] = n.gs.add(sa, plen)
	if sa.Outer() != nil {
		m.g[1] = n.gs.add(sa.Outer(), plen)
	}
	return stats.None
}

// layoutESP turns a cleartext packet into an ESP packet ready for sealing
// (RFC 4303 §3.1): tunnel mode puts the whole packet in the payload behind
// a new outer header; transport mode inserts ESP after the IP header. With
// NAT-T a UDP header goes in front of ESP (RFC 3948 §2.1).
func (n *Encryptor) layoutESP(b *packet.Buf, sa *sad.SA, seq uint64, m *outMeta, ops *[]crypto.Op) stats.Reason {
	esp := sa.ESP()
	f := b.Bytes()
	tunnel := sa.Mode() == sad.Tunnel
	keep, nh := m.l.hlen, m.l.nh
	outer := 0
	var innerTOS uint8
	var innerDF bool
	var label uint32
	if tunnel {
		keep, nh = 0, protoIPv4
		if m.l.ver == 6 {
			nh = protoIPv6
		}
		outer = outerLen(sa)
		innerTOS = tos(f)
		innerDF = m.l.ver == 6 || f[6]&0x40 != 0
		if outer == ipv6HeaderLen && sa.TunnelHeader().FlowLabel {
			label = flowLabel(f)
		}
	}

	// Trailer: monotonic padding 1, 2, 3, ... (RFC 4303 §2.4), pad length,
	// next header, and room for the ICV.
	pad := esp.PadLen(len(f) - keep)
	tail := b.Append(pad + 2 + esp.ICVLen())
	if tail == nil {
		return stats.NoBuffer
	}
	for j := range pad {
		tail[j] = byte(j + 1)
	}
	tail[pad], tail[pad+1] = byte(pad), nh

	on, lport, rport := sa.UDPEncap()
	udp := 0
	if on {
		udp = udpHeaderLen
	}
	hdr := udp + esp.HeaderLen()
	if b.Prepend(outer+hdr) == nil {
		return stats.NoBuffer
	}
	f = b.Bytes()
	copy(f[:keep], f[hdr:hdr+keep]) // transport: the IP header moves to the front
	p := outer + keep
	proto := uint8(protoESP)
	if on {
		proto = protoUDP
		binary.BigEndian.PutUint16(f[p:], lport)
		binary.BigEndian.PutUint16(f[p+2:], rport)
		binary.BigEndian.PutUint16(f[p+4:], uint16(len(f)-p))
		f[p+6], f[p+7] = 0, 0 // IPv4: no checksum (RFC 3948 §2.1); IPv6: after sealing
		m.udp6, m.udpOff = !sa.Local().Is4(), uint16(p)
		p += udpHeaderLen
	}
	binary.BigEndian.PutUint32(f[p:], sa.SPI())
	binary.BigEndian.PutUint32(f[p+4:], uint32(seq))
	if tunnel {
		n.writeOuter(f, sa, proto, innerTOS, innerDF, label)
	} else {
		f[m.l.nhPos] = proto
		setLength(f, &m.l, len(f))
	}
	m.op = int16(len(*ops))
	*ops = (*ops)[:len(*ops)+1]
	(*ops)[len(*ops)-1].Set(esp, f[p:], uint32(seq>>32))
	return stats.None
}

// layoutAH inserts an AH header (RFC 4302 §3.1) and queues the packet for
// its ICV. encapsulate first wraps the packet in a new outer header (tunnel
// mode of an AH-only SA); otherwise AH goes after the packet's own IP
// header (transport mode, or the outside of an AH+ESP bundle, whose ESP
// step already built the tunnel header). The mutable fields are zeroed for
// the ICV and restored after it.
func (n *Encryptor) layoutAH(b *packet.Buf, sa *sad.SA, seq uint64, m *outMeta, encapsulate bool) stats.Reason {
	ah := sa.AH()
	f := b.Bytes()
	v6 := !sa.Local().Is4()
	ahLen := ahFixedLen + ah.ICVFieldLen(v6)
	var l l3
	var nh uint8
	if encapsulate {
		nh = protoIPv4
		if f[0]>>4 == 6 {
			nh = protoIPv6
		}
		innerTOS, innerDF := tos(f), f[0]>>4 == 6 || f[6]&0x40 != 0
		var label uint32
		outer := outerLen(sa)
		if v6 && sa.TunnelHeader().FlowLabel {
			label = flowLabel(f)
		}
		if b.Prepend(outer+ahLen) == nil {
			return stats.NoBuffer
		}
		f = b.Bytes()
		n.writeOuter(f, sa, protoAH, innerTOS, innerDF, label)
		l = l3{ver: 4, hlen: outer, nhPos: 9}
		if v6 {
			l = l3{ver: 6, hlen: outer, nhPos: 6}
		}
	} else {
		var ok bool
		if _, ok = parseL3(f, &l); !ok {
			return stats.Malformed
		}
		nh = l.nh
		if b.Prepend(ahLen) == nil {
			return stats.NoBuffer
		}
		f = b.Bytes()
		copy(f[:l.hlen], f[ahLen:ahLen+l.hlen])
		f[l.nhPos] = protoAH
		setLength(f, &l, len(f))
	}
	if l.hlen > maxIPHeader {
		return stats.Malformed
	}
	a := f[l.hlen : l.hlen+ahLen]
	a[0], a[1], a[2], a[3] = nh, byte(ahLen/4-2), 0, 0
	binary.BigEndian.PutUint32(a[4:], sa.SPI())
	binary.BigEndian.PutUint32(a[8:], uint32(seq))
	clear(a[ahFixedLen:])

	k := len(n.ahOps)
	copy(n.saved[k][:], f[:l.hlen])
	if !zeroMutable(f[:l.hlen], l.ver) {
		copy(f, n.saved[k][:l.hlen])
		return stats.Malformed
	}
	m.ah, m.hlen = int16(k), uint8(l.hlen)
	n.ahOps = append(n.ahOps, crypto.AHOp{SA: ah, Msg: f, ICV: a[ahFixedLen : ahFixedLen+ah.ICVLen()], SeqHi: uint32(seq >> 32)})
	return stats.None
}

func outerLen(sa *sad.SA) int {
	if sa.Local().Is4() {
		return ipv4HeaderLen
	}
	return ipv6HeaderLen
}

// writeOuter writes the tunnel header at the front of f, a packet of
// len(f) bytes (RFC 4301 §5.1.2.1): the SA's endpoints, a fresh TTL, DSCP
// copied or set, ECN per RFC 6040 (normal mode copies it, compatibility
// mode clears it), and for IPv4 a DF bit copied, set or cleared and an ID.
func (n *Encryptor) writeOuter(f []byte, sa *sad.SA, proto, innerTOS uint8, innerDF bool, label uint32) {
	th := sa.TunnelHeader()
	dscp := innerTOS >> 2
	if th.DSCPSet {
		dscp = th.DSCP
	}
	ecn := innerTOS & 3
	if th.ECN == sad.ECNCompat {
		ecn = notECT
	}
	t := dscp<<2 | ecn
	tmpl, sum := sa.HeaderTemplate()
	if tmpl[0]>>4 == 4 {
		// The template's checksum sum plus the fields written here,
		// folded: no pass over the header.
		h := (*[ipv4HeaderLen]byte)(f)
		*h = [ipv4HeaderLen]byte(tmpl[:ipv4HeaderLen])
		var frag uint16
		if th.DF == sad.DFSet || (th.DF == sad.DFCopy && innerDF) {
			frag = 0x4000
		}
		id := n.ipID
		n.ipID++
		h[1], h[9] = t, proto
		binary.BigEndian.PutUint16(h[2:], uint16(len(f)))
		binary.BigEndian.PutUint16(h[4:], id)
		binary.BigEndian.PutUint16(h[6:], frag)
		sum += uint32(t) + uint32(len(f)) + uint32(id) + uint32(frag) + uint32(proto)
		sum = sum>>16 + sum&0xffff
		sum += sum >> 16
		binary.BigEndian.PutUint16(h[10:], ^uint16(sum))
		return
	}
	h := (*[ipv6HeaderLen]byte)(f)
	*h = *tmpl
	binary.BigEndian.PutUint32(h[:], 6<<28|uint32(t)<<20|label)
	binary.BigEndian.PutUint16(h[4:], uint16(len(f)-ipv6HeaderLen))
	h[6] = proto
}

// zeroMutable zeroes the fields of an IP header (and the IPv6 extension
// headers in h) that routers may change, for the AH ICV (RFC 4302
// §3.3.3.1): IPv4 TOS, flags and fragment offset, TTL and checksum; IPv6
// traffic class, flow label, hop limit and the data of options marked
// mutable. A routing header, whose mutable fields are predictable only by
// processing it, is not supported: ok is false.
func zeroMutable(h []byte, ver uint8) bool {
	if ver == 4 {
		h[1], h[6], h[7], h[8], h[10], h[11] = 0, 0, 0, 0, 0, 0
		return true
	}
	h[0] &= 0xf0
	h[1], h[2], h[3], h[7] = 0, 0, 0, 0
	nh := h[6]
	for off := ipv6HeaderLen; off < len(h); {
		n := (int(h[off+1]) + 1) * 8
		switch nh {
		case ext6HopByHop, ext6DestOpts:
			zeroMutableOptions(h[off+2 : off+n])
		case ext6Fragment:
			n = 8
		default:
			return false
		}
		nh = h[off]
		off += n
	}
	return true
}

// zeroMutableOptions zeroes the data of the TLV options whose type has the
// "may change en route" bit (RFC 8200 §4.2).
func zeroMutableOptions(o []byte) {
	for len(o) > 0 {
		if o[0] == 0 { // Pad1
			o = o[1:]
			continue
		}
		if len(o) < 2 || 2+int(o[1]) > len(o) {
			return
		}
		if o[0]&0x20 != 0 {
			clear(o[2 : 2+int(o[1])])
		}
		o = o[2+int(o[1]):]
	}
}

// setUDP6Checksum computes the UDP checksum of an IPv6 packet whose UDP
// header is at off (RFC 8200 §8.1: UDP over IPv6 needs one).
func setUDP6Checksum(f []byte, off int) {
	u := f[off:]
	u[6], u[7] = 0, 0
	var s uint32
	for i := 8; i < 40; i += 2 { // source and destination addresses
		s += uint32(f[i])<<8 | uint32(f[i+1])
	}
	s += uint32(len(u)) + protoUDP
	c := ^hdr.Checksum(u, 0) // sum of the datagram, folded
	s += uint32(c)
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	sum := ^uint16(s)
	if sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], sum)
}
