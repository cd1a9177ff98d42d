// Package spd is the compiled security policy database of one interface: the
// crypto map entries applied to it, flattened into an ordered list of access
// list lines, and a classifier that answers, per packet, which entry (if any)
// protects it.
//
// It receives rules from config's policy compiler (one Rule per ACL line, in
// crypto map sequence order, then ACL line order) and is read by the fast path
// for every packet: outbound to pick the entry and ACL line that scope the SA,
// inbound to drop cleartext that should have been protected.
//
// Semantics follow Cisco IOS: entries are tried from the lowest sequence number;
// within an entry the first matching ACL line decides: permit protects the
// packet with that entry, deny means "not by this entry" and evaluation goes on
// with the next entry. A packet no entry permits bypasses IPsec.
//
// LinearLookup states these semantics and is the reference. The fast path
// uses a Table (Compile), a decision structure that answers the same for
// 100,000 lines in a few hundred nanoseconds without allocating, behind a
// per-worker Cache of recent flows. Inbound cleartext is checked with
// LookupReverse. DestinationPrefixes and SourcePrefixes give the XDP program
// the address ranges the policy can claim at all.
package spd

import (
	"fmt"
	"net/netip"
)

// PortMatch is an ACL port condition. The zero value matches every port.
// eq X is {X, X}; lt X is {0, X-1}; gt X is {X+1, 65535}; range A B is
// {A, B}; neq X is {X, X, Negate}.
type PortMatch struct {
	Lo, Hi uint16
	Negate bool
}

// Any reports whether the condition matches every port.
func (p PortMatch) Any() bool { return !p.Negate && p.Lo == 0 && (p.Hi == 0 || p.Hi == 65535) }

// Match reports whether port satisfies the condition.
func (p PortMatch) Match(port uint16) bool {
	if p.Any() {
		return true
	}
	in := port >= p.Lo && port <= p.Hi
	return in != p.Negate
}

// Selector is the traffic one ACL line describes, in the outbound direction
// (Src is the local side). Proto 0 matches every IP protocol; ports apply only
// to TCP (6) and UDP (17).
type Selector struct {
	Proto    uint8
	Src, Dst netip.Prefix
	SrcPorts PortMatch
	DstPorts PortMatch
}

// Flow is the 5-tuple of one packet. Ports are zero for protocols without them.
type Flow struct {
	Src, Dst         netip.Addr
	Proto            uint8
	SrcPort, DstPort uint16
}

// Reverse swaps the two ends, turning an inbound packet's flow into the
// outbound direction ACLs are written in.
func (f Flow) Reverse() Flow {
	return Flow{Src: f.Dst, Dst: f.Src, Proto: f.Proto, SrcPort: f.DstPort, DstPort: f.SrcPort}
}

func (f Flow) String() string {
	return fmt.Sprintf("%v:%d -> %v:%d proto %d", f.Src, f.SrcPort, f.Dst, f.DstPort, f.Proto)
}

// Match reports whether the selector covers the flow.
func (s *Selector) Match(f *Flow) bool {
	if s.Proto != 0 && s.Proto != f.Proto {
		return false
	}
	if !s.Src.Contains(f.Src) || !s.Dst.Contains(f.Dst) {
		return false
	}
	if f.Proto == 6 || f.Proto == 17 {
		return s.SrcPorts.Match(f.SrcPort) && s.DstPorts.Match(f.DstPort)
	}
	return s.SrcPorts.Any() && s.DstPorts.Any()
}

// Rule is one ACL line of one crypto map entry.
type Rule struct {
	Sel    Selector
	Permit bool
	// Entry numbers the crypto map entry the line belongs to; rules of one
	// entry are contiguous and entries appear in sequence-number order.
	Entry int
	// Line is the ACL line's position in its access list (1-based), for
	// show and explain output.
	Line int
}

// NoMatch is what lookups return when no entry permits the flow.
const NoMatch = -1

// LinearLookup evaluates rules one by one with the IOS semantics. It is the
// reference the classifier is tested against and is used only where speed
// does not matter.
func LinearLookup(rules []Rule, f *Flow) int {
	skip := -1 // entry whose ACL already decided "deny"
	for i := range rules {
		r := &rules[i]
		if r.Entry == skip || !r.Sel.Match(f) {
			continue
		}
		if r.Permit {
			return i
		}
		skip = r.Entry
	}
	return NoMatch
}
