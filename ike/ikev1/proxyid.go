package ikev1

import (
	"fmt"
	"net/netip"
	"strings"

	"ipsecgw/ike"
	"ipsecgw/ike/ikev1/isakmp"
	"ipsecgw/ike/ts"
	"ipsecgw/spd"
)

// Proxy IDs (IDci/IDcr, RFC 2409 §5.5) name one selector each: an
// address, subnet or range with a protocol and a single port or any.

// proxyID encodes a selector as an ID payload. A port range other than
// one port or all of them cannot be expressed: it goes as any port.
func proxyID(s ts.Selector) *isakmp.ID {
	id := &isakmp.ID{Proto: s.Proto}
	if s.StartPort == s.EndPort {
		id.Port = s.StartPort
	}
	v4 := s.Is4()
	switch {
	case s.Start == s.End && v4:
		id.IDType, id.Data = isakmp.IDIPv4Addr, s.Start.AsSlice()
	case s.Start == s.End:
		id.IDType, id.Data = isakmp.IDIPv6Addr, s.Start.AsSlice()
	default:
		if ps := s.Prefixes(); len(ps) == 1 {
			id.IDType = isakmp.IDIPv6AddrSubnet
			if v4 {
				id.IDType = isakmp.IDIPv4AddrSubnet
			}
			mask := netip.PrefixFrom(s.Start, ps[0].Bits())
			id.Data = append(s.Start.AsSlice(), maskBytes(mask)...)
			break
		}
		id.IDType = isakmp.IDIPv6AddrRange
		if v4 {
			id.IDType = isakmp.IDIPv4AddrRange
		}
		id.Data = append(s.Start.AsSlice(), s.End.AsSlice()...)
	}
	return id
}

func maskBytes(p netip.Prefix) []byte {
	n := p.Addr().BitLen() / 8
	m := make([]byte, n)
	for i := 0; i < p.Bits(); i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m
}

// selectorFromID decodes a proxy ID.
func selectorFromID(id *isakmp.ID) (ts.Selector, error) {
	var s ts.Selector
	addrLen := 4
	switch id.IDType {
	case isakmp.IDIPv6Addr, isakmp.IDIPv6AddrSubnet, isakmp.IDIPv6AddrRange:
		addrLen = 16
	case isakmp.IDIPv4Addr, isakmp.IDIPv4AddrSubnet, isakmp.IDIPv4AddrRange:
	default:
		return s, fmt.Errorf("proxy ID type %v is not an address", id.IDType)
	}
	want := addrLen
	if id.IDType != isakmp.IDIPv4Addr && id.IDType != isakmp.IDIPv6Addr {
		want = 2 * addrLen
	}
	if len(id.Data) != want {
		return s, fmt.Errorf("proxy ID %v of %d bytes, want %d", id.IDType, len(id.Data), want)
	}
	a, _ := netip.AddrFromSlice(id.Data[:addrLen])
	s.Start, s.End = a, a
	switch id.IDType {
	case isakmp.IDIPv4AddrSubnet, isakmp.IDIPv6AddrSubnet:
		bits, ok := maskBits(id.Data[addrLen:])
		if !ok {
			return s, fmt.Errorf("proxy ID %v: mask %x is not contiguous", id.IDType, id.Data[addrLen:])
		}
		s = ts.FromPrefix(netip.PrefixFrom(a, bits), 0)
	case isakmp.IDIPv4AddrRange, isakmp.IDIPv6AddrRange:
		s.End, _ = netip.AddrFromSlice(id.Data[addrLen:])
	}
	s.Proto = id.Proto
	s.StartPort, s.EndPort = 0, 65535
	if id.Port != 0 {
		s.StartPort, s.EndPort = id.Port, id.Port
	}
	if !s.Valid() {
		return s, fmt.Errorf("proxy ID %v: range %v-%v out of order", id.IDType, s.Start, s.End)
	}
	return s, nil
}

func maskBits(m []byte) (int, bool) {
	bits, zero := 0, false
	for _, c := range m {
		for i := 7; i >= 0; i-- {
			if c&(1<<i) != 0 {
				if zero {
					return 0, false
				}
				bits++
			} else {
				zero = true
			}
		}
	}
	return bits, true
}

// proxiesFor returns the proxy IDs an initiator proposes for an ACL line:
// the line's source and destination, or with per-host the triggering
// packet's addresses (and ports, for a line with a protocol).
func proxiesFor(c *ChildConfig, line *ike.ACLLine, flow *spd.Flow) (local, remote ts.Selector) {
	l, r := ts.FromACL(line.Sel)
	local, remote = l[0], r[0]
	if c.PerHost && flow != nil {
		var sp, dp uint16
		if line.Sel.Proto != 0 {
			sp, dp = flow.SrcPort, flow.DstPort
		}
		local = ts.Host(flow.Src, line.Sel.Proto, sp)
		remote = ts.Host(flow.Dst, line.Sel.Proto, dp)
		if line.Sel.SrcPorts.Any() {
			local.StartPort, local.EndPort = 0, 65535
		}
		if line.Sel.DstPorts.Any() {
			remote.StartPort, remote.EndPort = 0, 65535
		}
	}
	return local, remote
}

// matchProxies finds the permit line whose local and remote sides contain
// the proposed proxy IDs (from our point of view: local is IDcr). It
// returns the line, or an explanation per line of why none fits.
func matchProxies(c *ChildConfig, local, remote ts.Selector) (*ike.ACLLine, string) {
	if len(c.Lines) == 0 {
		return nil, ""
	}
	var why []string
	for i := range c.Lines {
		l := &c.Lines[i]
		al, ar := ts.FromACL(l.Sel)
		lok := ts.AllContained([]ts.Selector{local}, al)
		rok := ts.AllContained([]ts.Selector{remote}, ar)
		if lok && rok {
			return l, ""
		}
		var parts []string
		if !lok {
			parts = append(parts, explain(local, al, "ACL source"))
		}
		if !rok {
			parts = append(parts, explain(remote, ar, "ACL destination"))
		}
		why = append(why, fmt.Sprintf("%s line %d (%s): %s", c.ACL, l.Line, l.Text, strings.Join(parts, "; ")))
	}
	return nil, strings.Join(why, " | ")
}

func explain(p ts.Selector, allowed []ts.Selector, what string) string {
	for _, a := range allowed {
		if _, ok := p.Intersect(a); ok {
			return ts.Wider([]ts.Selector{p}, allowed)
		}
	}
	return ts.Mismatch([]ts.Selector{p}, allowed, what)
}
