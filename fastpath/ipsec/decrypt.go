package ipsec

import (
	"encoding/binary"
	"net/netip"

	"ipsecgw/crypto"
	"ipsecgw/fastpath/hdr"
	"ipsecgw/fastpath/sad"
	"ipsecgw/fastpath/stats"
	"ipsecgw/packet"
)

// Decryptor is the inbound IPsec node of one worker. It is not safe for
// concurrent use; each worker has its own.
type Decryptor struct {
	db     *sad.DB
	worker int
	vec    int

	// Events are the lifetime limits SAs reached during the last Process
	// call, for the engine to punt to the slow path.
	Events []sad.Event

	// The last SAD lookup and its answer (nil included): a vector from
	// one tunnel asks the same question for every packet. A sad.Table
	// is immutable, so its pointer and the key are the whole question.
	last struct {
		tab   *sad.Table
		spi   uint32
		proto sad.Protocol
		dst   netip.Addr
		sa    *sad.SA
	}

	gs    groups
	meta  []inMeta
	ops   []crypto.Op
	ahOps []crypto.AHOp
	saved [][maxIPHeader]byte // headers whose mutable fields AH zeroes
	icv   [][maxICV]byte      // received AH ICVs
}

// maxICV is the largest AH ICV: HMAC-SHA-512-256.
const maxICV = 32

// inMeta is what the stages of one vector remember about a packet.
type inMeta struct {
	l        l3      // outer IP header; hlen is where the IPsec header starts
	cur      *sad.SA // the SA the packet is being processed with (drops count here)
	sa       *sad.SA // the SA whose policy applies (ESP, or AH alone)
	ah       *sad.SA // the AH SA, when the packet came through AH
	seq      uint64  // ESP sequence number
	ahSeq    uint64
	op       int16 // index in ops, -1: none
	aop      int16 // index in ahOps, -1: none
	g        [2]int16
	udp      uint8 // 8 with NAT-T
	ahLen    uint8
	outerTOS uint8
	size     uint32 // cleartext length, for lifetimes and counters
}

// reset clears m for a new packet field by field (a composite literal
// is copied in wide loads that stall on its narrow stores).
func (m *inMeta) reset() {
	m.cur, m.sa, m.ah = nil, nil, nil
	m.op, m.aop, m.g = -1, -1, [2]int16{-1, -1}
	m.udp, m.ahLen, m.size = 0, 0, 0
}

// NewDecryptor returns the decrypt node of worker (its index in the SAs'
// counters), looking SAs up in db, for vectors of up to vector packets;
// Process splits longer ones.
func NewDecryptor(db *sad.DB, worker, vector int) *Decryptor {
	return &Decryptor{
		db:     db,
		worker: worker,
		vec:    vector,
		Events: make([]sad.Event, 0, 2*vector),
		gs:     newGroups(2 * vector),
		meta:   make([]inMeta, vector),
		ops:    make([]crypto.Op, 0, vector),
		ahOps:  make([]crypto.AHOp, 0, vector),
		saved:  make([][maxIPHeader]byte, vector),
		icv:    make([][maxICV]byte, vector),
	}
}

// Process verifies and decapsulates a vector of IPsec packets addressed to
// this gateway: IP packets whose payload is ESP, AH, or UDP to port 4500
// carrying ESP. hdrs[i] is what hdr.Parse found in pkts[i], whose frame
// ends where the IP packet does; the node trusts it and does not parse the
// outer header again. On return verdicts[i] is stats.None, pkts[i] holds
// the inner IP packet (tunnel mode) or the packet without its IPsec headers
// (transport mode), hdrs[i] is hdr.Parse's result for it, and sas[i] is the
// SA whose policy it passed; or verdicts[i] is the reason to drop it and
// sas[i] is nil (the SA's counters already have the drop when an SA was
// found; the caller counts it globally and frees the buffer). Events holds
// the lifetime limits crossed.
func (n *Decryptor) Process(pkts []*packet.Buf, hdrs []hdr.Meta, sas []*sad.SA, verdicts []stats.Reason) {
	n.Events = n.Events[:0]
	tab := n.db.Table()
	for len(pkts) > 0 {
		k := min(len(pkts), n.vec)
		n.process(tab, pkts[:k], hdrs[:k], sas[:k], verdicts[:k])
		pkts, hdrs, sas, verdicts = pkts[k:], hdrs[k:], sas[k:], verdicts[k:]
	}
}

func (n *Decryptor) process(tab *sad.Table, pkts []*packet.Buf, hdrs []hdr.Meta, sas []*sad.SA, verdicts []stats.Reason) {
	gs := &n.gs
	gs.reset()
	meta := n.meta[:len(pkts)]

	// Outer headers, SA lookup and the replay check that needs no ICV; AH
	// packets get their mutable fields zeroed and join the AH batch, ESP
	// packets the ESP batch.
	for i, b := range pkts {
		m := &meta[i]
		m.reset()
		sas[i] = nil
		verdicts[i] = n.parse(tab, b, &hdrs[i], m)
	}

	// AH first (it is outside ESP in a bundle): verify, update the window,
	// strip; ESP found inside joins the ESP batch.
	crypto.AHOpenBatch(n.ahOps)
	for i, b := range pkts {
		if m := &meta[i]; m.aop >= 0 {
			copy(b.Bytes(), n.saved[m.aop][:m.l.hlen]) // restore mutable fields
			if verdicts[i] == stats.None {
				verdicts[i] = n.afterAH(b, m)
			}
		}
	}

	crypto.OpenBatch(n.ops)
	for i, b := range pkts {
		if verdicts[i] != stats.None {
			continue
		}
		m := &meta[i]
		if m.op >= 0 {
			verdicts[i] = n.afterESP(b, m)
		}
		if verdicts[i] == stats.None {
			verdicts[i] = decap(b, m, &hdrs[i])
		}
		if verdicts[i] == stats.None {
			m.g[0] = gs.add(m.sa, int(m.size))
			if m.ah != nil && m.ah != m.sa {
				m.g[1] = gs.add(m.ah, int(m.size))
			}
		}
	}

	// Lifetimes (of verified, decapsulated packets) and counters.
	gs.reserve(&n.Events)
	for i := range pkts {
		m := &meta[i]
		if verdicts[i] == stats.None {
			if gs.admit(m.g, m.size) {
				gs.ok(m.g, m.size)
				sas[i] = m.sa
				continue
			}
			verdicts[i] = stats.LifetimeExpired
		}
		if m.cur != nil {
			m.cur.Drop(n.worker, verdicts[i], 1)
		}
	}
	gs.count(n.worker)
	n.ops = n.ops[:0]
	n.ahOps = n.ahOps[:0]
}

// parse takes the outer header the engine parsed, finds the SA and queues
// the packet for AH or ESP verification.
func (n *Decryptor) parse(tab *sad.Table, b *packet.Buf, h *hdr.Meta, m *inMeta) stats.Reason {
	f := b.Bytes()
	m.l.ver, m.l.nh, m.l.hlen, m.l.nhPos = h.Ver, h.Flow.Proto, int(h.L4), int(h.NHPos)
	m.outerTOS = tos(f)
	if h.Frag != hdr.FragNone {
		return stats.Reassembly // the engine reassembles; fragments never reach us whole
	}
	off, proto := m.l.hlen, sad.Protocol(h.Flow.Proto)
	switch h.Flow.Proto {
	case protoUDP:
		// RFC 3948: UDP to port 4500 whose payload does not start with
		// the zero non-ESP marker (IKE) and is more than a keepalive.
		if off+udpHeaderLen+espHeaderLen > len(f) || h.Flow.DstPort != portNATT ||
			binary.BigEndian.Uint32(f[off+udpHeaderLen:]) == 0 {
			return stats.Malformed
		}
		m.udp = udpHeaderLen
		off += udpHeaderLen
		proto = sad.ESP
	case protoESP:
		if off+espHeaderLen > len(f) {
			return stats.Malformed
		}
	case protoAH:
		if off+ahFixedLen > len(f) {
			return stats.Malformed
		}
	default:
		return stats.Malformed
	}
	spi := off
	if proto == sad.AH {
		spi += 4 // after next header, length and reserved
	}
	sa := n.lookup(tab, binary.BigEndian.Uint32(f[spi:]), h.Flow.Dst, proto)
	if sa == nil || sa.Dead() {
		return stats.NoSA
	}
	m.cur = sa
	if on, _, _ := sa.UDPEncap(); on != (m.udp != 0) {
		return stats.PolicyMismatch // NAT-T must be used exactly when the SA says so
	}
	if proto == sad.AH {
		return n.queueAH(b, sa, m)
	}
	return n.queueESP(b, sa, m)
}

// lookup is tab.Lookup through the one-entry cache.
func (n *Decryptor) lookup(tab *sad.Table, spi uint32, dst netip.Addr, proto sad.Protocol) *sad.SA {
	c := &n.last
	if tab != c.tab || spi != c.spi || proto != c.proto || dst != c.dst {
		c.tab, c.spi, c.proto, c.dst = tab, spi, proto, dst
		c.sa = tab.Lookup(spi, dst, proto)
	}
	return c.sa
}

// queueESP checks the replay window and queues the ESP packet at
// m.l.hlen+m.udp for decryption.
func (n *Decryptor) queueESP(b *packet.Buf, sa *sad.SA, m *inMeta) stats.Reason {
	if sa.Outer() != nil && m.ah == nil {
		return stats.PolicyMismatch // the bundle's policy requires AH outside
	}
	pkt := b.Bytes()[m.l.hlen+int(m.udp):]
	esp := sa.ESP()
	if !esp.ValidLen(len(pkt)) {
		return stats.Malformed
	}
	seq, ok := sa.Window().Check(binary.BigEndian.Uint32(pkt[4:]))
	if !ok {
		return stats.Replay
	}
	m.sa, m.seq = sa, seq
	m.op = int16(len(n.ops))
	n.ops = n.ops[:len(n.ops)+1]
	n.ops[m.op].Set(esp, pkt, uint32(seq>>32))
	return stats.None
}

// queueAH checks the AH header and the replay window, saves the ICV and
// the header, zeroes the mutable fields (RFC 4302 §3.3.3.1) and queues the
// packet for verification.
func (n *Decryptor) queueAH(b *packet.Buf, sa *sad.SA, m *inMeta) stats.Reason {
	f := b.Bytes()
	off := m.l.hlen
	a := f[off:]
	ah := sa.AH()
	ahLen := (int(a[1]) + 2) * 4
	if ahLen != ahFixedLen+ah.ICVFieldLen(m.l.ver == 6) || off+ahLen > len(f) || off > maxIPHeader {
		return stats.Malformed
	}
	seq, ok := sa.Window().Check(binary.BigEndian.Uint32(a[8:]))
	if !ok {
		return stats.Replay
	}
	k := len(n.ahOps)
	copy(n.saved[k][:], f[:off])
	if !zeroMutable(f[:off], m.l.ver) {
		copy(f, n.saved[k][:off])
		return stats.Malformed
	}
	// The ICV proper is zeroed; padding behind it stays in the ICV input
	// (RFC 4302 §2.6, as Linux computes it).
	icv := a[ahFixedLen : ahFixedLen+ah.ICVLen()]
	copy(n.icv[k][:], icv)
	clear(icv)
	m.ah, m.ahSeq, m.ahLen = sa, seq, uint8(ahLen)
	m.aop = int16(k)
	n.ahOps = append(n.ahOps, crypto.AHOp{SA: ah, Msg: f, ICV: n.icv[k][:ah.ICVLen()], SeqHi: uint32(seq >> 32)})
	return stats.None
}

// afterAH finishes a verified AH packet: window update, AH removed, and
// for a bundle the ESP inside queued.
func (n *Decryptor) afterAH(b *packet.Buf, m *inMeta) stats.Reason {
	if !n.ahOps[m.aop].OK {
		return stats.AuthFailed
	}
	if !m.ah.Window().Update(m.ahSeq) {
		return stats.Replay
	}
	off := m.l.hlen
	nh := b.Bytes()[off]
	strip(b, &m.l, int(m.ahLen), nh)
	f := b.Bytes()
	inner := m.ah.Inner()
	if inner == nil {
		m.sa = m.ah
		return stats.None
	}
	if nh != protoESP || off+espHeaderLen > len(f) || binary.BigEndian.Uint32(f[off:]) != inner.SPI() {
		return stats.PolicyMismatch // the bundle's policy requires its ESP SA inside
	}
	if inner.Dead() {
		return stats.NoSA
	}
	m.cur = inner
	return n.queueESP(b, inner, m)
}

// afterESP finishes a decrypted ESP packet: window update, padding check
// (RFC 4303 §2.4, the default monotonic pattern), and ESP removed.
func (n *Decryptor) afterESP(b *packet.Buf, m *inMeta) stats.Reason {
	op := &n.ops[m.op]
	if !op.OK {
		return stats.AuthFailed
	}
	sa := m.sa
	if !sa.Window().Update(m.seq) {
		return stats.Replay
	}
	esp := sa.ESP()
	pkt := op.Pkt
	end := len(pkt) - esp.ICVLen()
	padLen, nh := int(pkt[end-2]), pkt[end-1]
	start := esp.HeaderLen()
	if start+padLen+2 > end {
		return stats.BadPadding
	}
	for j, v := range pkt[end-2-padLen : end-2] {
		if v != byte(j+1) {
			return stats.BadPadding
		}
	}
	if nh == protoNoNext {
		return stats.Dummy // traffic-flow confidentiality filler (RFC 4303 §2.6): discarded
	}
	b.TrimBack(padLen + 2 + esp.ICVLen())
	off := m.l.hlen
	hdr := int(m.udp) + start
	if sa.Mode() == sad.Tunnel {
		if nh != protoIPv4 && nh != protoIPv6 {
			return stats.PolicyMismatch // not a tunnelled packet
		}
		b.TrimFront(off + hdr)
		m.l.nh = nh
		return stats.None
	}
	strip(b, &m.l, hdr, nh)
	return stats.None
}

// strip removes the n bytes of IPsec headers behind the IP header that l
// describes and names nh as the payload (transport mode, or AH outside
// ESP): the IP header moves up, its lengths and checksum follow.
func strip(b *packet.Buf, l *l3, n int, nh uint8) {
	f := b.Bytes()
	copy(f[n:n+l.hlen], f[:l.hlen])
	b.TrimFront(n)
	f = b.Bytes()
	f[l.nhPos] = nh
	l.nh = nh
	setLength(f, l, len(f))
}

// decap finishes tunnel mode (outer header gone, inner header checked,
// RFC 6040 ECN combination), parses the inner packet into h and checks it
// against the SA's policy (RFC 4301 §5.2).
func decap(b *packet.Buf, m *inMeta, h *hdr.Meta) stats.Reason {
	sa := m.sa
	if sa.Mode() == sad.Tunnel && m.op < 0 { // AH alone: the outer header is still there
		if m.l.nh != protoIPv4 && m.l.nh != protoIPv6 {
			return stats.PolicyMismatch
		}
		b.TrimFront(m.l.hlen)
	}
	f := b.Bytes()
	if r := hdr.Parse(f, h); r != stats.None {
		return r
	}
	if sa.Mode() == sad.Tunnel {
		if (h.Ver == 4) != (m.l.nh == protoIPv4) {
			return stats.Malformed
		}
		b.SetLen(h.Length) // TFC padding (RFC 4303 §2.7) ends here
		inner := tos(f)
		ecn, ok := decapECN(m.outerTOS&3, inner&3)
		if !ok {
			return stats.ECNInvalid // CE outside a not-ECT packet (RFC 6040 §4.2)
		}
		if ecn != inner&3 {
			setTOS(f, inner&^3|ecn)
		}
	}
	if sa.HasSelectors() && !sa.Permits(&h.Flow) {
		return stats.PolicyMismatch
	}
	m.size = uint32(b.Len())
	return stats.None
}
