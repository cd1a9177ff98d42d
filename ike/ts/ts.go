// Package ts is traffic selector arithmetic for IKEv2 (RFC 7296 §2.9): it
// turns crypto ACL lines (spd.Selector) into selectors, intersects,
// compares and narrows them, and explains in words why a proposal does not
// fit an ACL line.
//
// A Selector is one side of a CHILD_SA's traffic: an address range, a port
// range and an IP protocol. A CHILD_SA covers every pair of its local and
// remote selectors. The engine (package ike) builds proposals from ACL
// lines with FromACL, narrows peers' proposals with Narrow, and hands the
// result to the slow path, which can turn ranges back into prefixes with
// Prefixes for the fast path's tables.
package ts

import (
	"fmt"
	"net/netip"
	"strings"

	"ipsecgw/spd"
)

// Selector is one traffic selector.
type Selector struct {
	Proto              uint8 // 0: any protocol
	Start, End         netip.Addr
	StartPort, EndPort uint16
}

// FromPrefix is the selector of a prefix with every port.
func FromPrefix(p netip.Prefix, proto uint8) Selector {
	p = p.Masked()
	return Selector{Proto: proto, Start: p.Addr(), End: lastAddr(p), EndPort: 65535}
}

// Host is the selector of one address, protocol and port (port 0 with
// proto 0: any port).
func Host(a netip.Addr, proto uint8, port uint16) Selector {
	s := Selector{Proto: proto, Start: a, End: a, StartPort: port, EndPort: port}
	if proto != 6 && proto != 17 {
		s.StartPort, s.EndPort = 0, 65535
	}
	return s
}

// portRanges expands an ACL port condition: neq yields two ranges.
func portRanges(m spd.PortMatch) [][2]uint16 {
	if m.Any() {
		return [][2]uint16{{0, 65535}}
	}
	hi := m.Hi
	if hi == 0 && m.Lo == 0 {
		hi = 65535
	}
	if !m.Negate {
		return [][2]uint16{{m.Lo, hi}}
	}
	var out [][2]uint16
	if m.Lo > 0 {
		out = append(out, [2]uint16{0, m.Lo - 1})
	}
	if hi < 65535 {
		out = append(out, [2]uint16{hi + 1, 65535})
	}
	return out
}

// FromACL turns one ACL line (written outbound: Src is local) into local
// and remote selectors. Ports count only for TCP and UDP.
func FromACL(sel spd.Selector) (local, remote []Selector) {
	side := func(p netip.Prefix, m spd.PortMatch) []Selector {
		base := FromPrefix(p, sel.Proto)
		if sel.Proto != 6 && sel.Proto != 17 {
			return []Selector{base}
		}
		var out []Selector
		for _, r := range portRanges(m) {
			s := base
			s.StartPort, s.EndPort = r[0], r[1]
			out = append(out, s)
		}
		return out
	}
	return side(sel.Src, sel.SrcPorts), side(sel.Dst, sel.DstPorts)
}

// Valid reports whether the selector is well formed: addresses of one
// family in order, ports in order.
func (s Selector) Valid() bool {
	return s.Start.IsValid() && s.End.IsValid() && s.Start.Is4() == s.End.Is4() &&
		s.Start.Compare(s.End) <= 0 && s.StartPort <= s.EndPort
}

// Is4 reports whether the selector is IPv4.
func (s Selector) Is4() bool { return s.Start.Is4() }

// AnyPort reports whether every port matches.
func (s Selector) AnyPort() bool { return s.StartPort == 0 && s.EndPort == 65535 }

// Contains reports whether s covers all of o.
func (s Selector) Contains(o Selector) bool {
	return s.Is4() == o.Is4() &&
		(s.Proto == 0 || s.Proto == o.Proto) &&
		s.Start.Compare(o.Start) <= 0 && o.End.Compare(s.End) <= 0 &&
		s.StartPort <= o.StartPort && o.EndPort <= s.EndPort
}

// Intersect returns the traffic both selectors cover.
func (s Selector) Intersect(o Selector) (Selector, bool) {
	if s.Is4() != o.Is4() {
		return Selector{}, false
	}
	r := s
	switch {
	case s.Proto == 0:
		r.Proto = o.Proto
	case o.Proto != 0 && o.Proto != s.Proto:
		return Selector{}, false
	}
	if o.Start.Compare(r.Start) > 0 {
		r.Start = o.Start
	}
	if o.End.Compare(r.End) < 0 {
		r.End = o.End
	}
	r.StartPort, r.EndPort = max(s.StartPort, o.StartPort), min(s.EndPort, o.EndPort)
	if r.Start.Compare(r.End) > 0 || r.StartPort > r.EndPort {
		return Selector{}, false
	}
	return r, true
}

// ContainsAddr reports whether the selector covers a packet's address,
// protocol and port.
func (s Selector) ContainsAddr(a netip.Addr, proto uint8, port uint16) bool {
	return s.Start.Is4() == a.Is4() && s.Start.Compare(a) <= 0 && a.Compare(s.End) <= 0 &&
		(s.Proto == 0 || s.Proto == proto) && s.StartPort <= port && port <= s.EndPort
}

// Prefixes covers the address range with the fewest prefixes.
func (s Selector) Prefixes() []netip.Prefix {
	var out []netip.Prefix
	start := s.Start
	for {
		bits := start.BitLen()
		// The widest prefix that starts at start and ends within End.
		for b := 0; b <= start.BitLen(); b++ {
			p := netip.PrefixFrom(start, b)
			if p.Masked().Addr() == start && lastAddr(p).Compare(s.End) <= 0 {
				bits = b
				break
			}
		}
		p := netip.PrefixFrom(start, bits)
		out = append(out, p)
		last := lastAddr(p)
		if last.Compare(s.End) >= 0 {
			return out
		}
		start = last.Next()
	}
}

// lastAddr is the highest address of a prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr()
	b := a.AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	r, _ := netip.AddrFromSlice(b)
	return r
}

// addrString renders the range as a prefix when it is one.
func (s Selector) addrString() string {
	if ps := s.Prefixes(); len(ps) == 1 {
		if ps[0].IsSingleIP() {
			return ps[0].Addr().String()
		}
		return ps[0].String()
	}
	return s.Start.String() + ".." + s.End.String()
}

var protoNames = map[uint8]string{1: "icmp", 6: "tcp", 17: "udp", 47: "gre", 50: "esp", 51: "ah", 58: "ipv6-icmp"}

func protoName(p uint8) string {
	if n, ok := protoNames[p]; ok {
		return n
	}
	return fmt.Sprint(p)
}

// String renders the selector as strongSwan does: 10.1.0.0/16[tcp/80].
func (s Selector) String() string {
	a := s.addrString()
	switch {
	case s.Proto == 0 && s.AnyPort():
		return a
	case s.AnyPort():
		return fmt.Sprintf("%s[%s]", a, protoName(s.Proto))
	case s.StartPort == s.EndPort:
		return fmt.Sprintf("%s[%s/%d]", a, protoName(s.Proto), s.StartPort)
	}
	return fmt.Sprintf("%s[%s/%d-%d]", a, protoName(s.Proto), s.StartPort, s.EndPort)
}

// List renders selectors separated by spaces.
func List(ss []Selector) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = s.String()
	}
	return strings.Join(parts, " ")
}

// Narrow intersects every proposed selector with every allowed one
// (RFC 7296 §2.9) and keeps the distinct, non-redundant results in
// proposal order, so a packet-specific first selector stays first.
func Narrow(proposed, allowed []Selector) []Selector {
	var out []Selector
	for _, p := range proposed {
		for _, a := range allowed {
			if r, ok := p.Intersect(a); ok {
				out = appendDistinct(out, r)
			}
		}
	}
	return out
}

// appendDistinct appends s unless a selector already there covers it.
func appendDistinct(out []Selector, s Selector) []Selector {
	for _, o := range out {
		if o.Contains(s) {
			return out
		}
	}
	return append(out, s)
}

// AllContained reports whether every proposed selector lies within some
// allowed one.
func AllContained(proposed, allowed []Selector) bool {
	for _, p := range proposed {
		ok := false
		for _, a := range allowed {
			if a.Contains(p) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// Mismatch explains why no proposed selector overlaps an allowed one:
// which part (family, protocol, address, port) differs, in words. what
// names the allowed side, e.g. "ACL source".
func Mismatch(proposed, allowed []Selector, what string) string {
	var why []string
	for _, p := range proposed {
		for _, a := range allowed {
			why = append(why, fmt.Sprintf("%v vs %s %v: %s", p, what, a, disjointReason(p, a)))
		}
	}
	return strings.Join(why, "; ")
}

func disjointReason(p, a Selector) string {
	switch {
	case p.Is4() != a.Is4():
		return "address families differ"
	case a.Proto != 0 && p.Proto != a.Proto:
		if p.Proto == 0 {
			return fmt.Sprintf("proposal is any protocol, line permits only %s", protoName(a.Proto))
		}
		return fmt.Sprintf("protocol %s, line permits %s", protoName(p.Proto), protoName(a.Proto))
	case p.End.Compare(a.Start) < 0 || a.End.Compare(p.Start) < 0:
		return "addresses do not overlap"
	case p.EndPort < a.StartPort || a.EndPort < p.StartPort:
		return "ports do not overlap"
	}
	return "overlap"
}

// Wider explains, for a proposal that overlaps but is not contained in the
// allowed selectors, what lies outside them.
func Wider(proposed, allowed []Selector) string {
	var why []string
	for _, p := range proposed {
		contained := false
		for _, a := range allowed {
			if a.Contains(p) {
				contained = true
				break
			}
		}
		if !contained {
			why = append(why, fmt.Sprintf("%v is wider than %s", p, List(allowed)))
		}
	}
	return strings.Join(why, "; ")
}
