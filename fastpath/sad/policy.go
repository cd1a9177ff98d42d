package sad

import (
	"encoding/binary"
	"net/netip"

	"ipsecgw/spd"
)

// inPolicy is an inbound SA's selectors in the form the per-packet check
// after decapsulation wants (RFC 4301 §5.2): turned around (sources and
// destinations swapped), so a packet's flow matches as it is, and the IPv4
// ones, which most tunnels carry, as masked words: netip.Prefix.Contains
// was most of the check's cost.
type inPolicy struct {
	sels []spd.Selector // all of them, for IPv6 flows
	v4   []sel4
}

// sel4 is an IPv4 selector: an address a is inside when a&mask == net.
type sel4 struct {
	src, srcMask, dst, dstMask uint32
	proto                      uint8
	srcPorts, dstPorts         spd.PortMatch
}

func newInPolicy(outbound []spd.Selector) inPolicy {
	var p inPolicy
	for _, s := range outbound {
		s.Src, s.Dst, s.SrcPorts, s.DstPorts = s.Dst, s.Src, s.DstPorts, s.SrcPorts
		p.sels = append(p.sels, s)
		if s.Src.Addr().Is4() && s.Dst.Addr().Is4() {
			src, srcMask := word4(s.Src)
			dst, dstMask := word4(s.Dst)
			p.v4 = append(p.v4, sel4{src, srcMask, dst, dstMask, s.Proto, s.SrcPorts, s.DstPorts})
		}
	}
	return p
}

// word4 is an IPv4 prefix as its masked address and mask.
func word4(p netip.Prefix) (addr, mask uint32) {
	a := p.Addr().As4()
	mask = ^uint32(0) << (32 - p.Bits()) // a shift by 32 is 0 in Go: /0
	return binary.BigEndian.Uint32(a[:]) & mask, mask
}

// HasSelectors reports whether the SA carries selectors: without them it
// protects any traffic and Permits needs no flow.
func (sa *SA) HasSelectors() bool { return len(sa.cfg.Selectors) != 0 }

// Permits reports whether an inbound SA's policy admits a decapsulated
// packet with flow f: whether one of the selectors, which are written in
// the outbound direction, covers f reversed. An SA without selectors
// admits anything.
func (sa *SA) Permits(f *spd.Flow) bool {
	p := &sa.in
	if len(p.sels) == 0 {
		return true
	}
	if !f.Src.Is4() || !f.Dst.Is4() {
		for i := range p.sels {
			if p.sels[i].Match(f) {
				return true
			}
		}
		return false
	}
	s4, d4 := f.Src.As4(), f.Dst.As4()
	src, dst := binary.BigEndian.Uint32(s4[:]), binary.BigEndian.Uint32(d4[:])
	ports := f.Proto == 6 || f.Proto == 17
	for i := range p.v4 {
		s := &p.v4[i]
		if src&s.srcMask != s.src || dst&s.dstMask != s.dst || s.proto != 0 && s.proto != f.Proto {
			continue
		}
		if ports && s.srcPorts.Match(f.SrcPort) && s.dstPorts.Match(f.DstPort) ||
			!ports && s.srcPorts.Any() && s.dstPorts.Any() {
			return true
		}
	}
	return false
}
