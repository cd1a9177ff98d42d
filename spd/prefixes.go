package spd

import (
	"net/netip"
	"slices"
)

// DestinationPrefixes returns the smallest set of prefixes covering the
// destinations of every permit line: IPv4 first, then IPv6, each in address
// order. An outbound packet whose destination lies outside them cannot match
// any permit, so the XDP program can pass it to the kernel without asking the
// fast path (load them into an LPM trie). Lines later shadowed by denies are
// still included: the set is a cover, and the Table decides exactly.
func (t *Table) DestinationPrefixes() []netip.Prefix {
	return t.permitPrefixes(func(s *Selector) netip.Prefix { return s.Dst })
}

// SourcePrefixes is the same cover for the source side of permit lines.
// Inbound packets are checked on their reversed flow, so one (cleartext to
// be dropped, or decrypted) can only match a permit if its destination lies
// in SourcePrefixes and its source in DestinationPrefixes.
func (t *Table) SourcePrefixes() []netip.Prefix {
	return t.permitPrefixes(func(s *Selector) netip.Prefix { return s.Src })
}

func (t *Table) permitPrefixes(side func(*Selector) netip.Prefix) []netip.Prefix {
	var ps []netip.Prefix
	for i := range t.rules {
		if t.rules[i].Permit {
			ps = append(ps, side(&t.rules[i].Sel).Masked())
		}
	}
	return aggregate(ps)
}

// aggregate returns the smallest set of prefixes covering the same addresses
// as ps (which it reorders): contained prefixes are dropped and sibling
// halves merged into their parent.
func aggregate(ps []netip.Prefix) []netip.Prefix {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c // IPv4 sorts before IPv6
		}
		return a.Bits() - b.Bits()
	})
	out := ps[:0]
	for _, p := range ps {
		// Sorted by address then length, a prefix covering p is the
		// last one kept, if any.
		if n := len(out); n > 0 && out[n-1].Overlaps(p) {
			continue
		}
		out = append(out, p)
		// Kept prefixes are disjoint and ascending, so p can only merge
		// with its left sibling on top of the stack, and the parent
		// again with its own.
		for n := len(out); n >= 2; n = len(out) {
			a, b := out[n-2], out[n-1]
			if a.Bits() != b.Bits() || a.Bits() == 0 {
				break
			}
			parent := netip.PrefixFrom(a.Addr(), a.Bits()-1).Masked()
			if parent != netip.PrefixFrom(b.Addr(), b.Bits()-1).Masked() {
				break
			}
			out = append(out[:n-2], parent)
		}
	}
	return slices.Clip(out)
}
