package spd

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

func TestPermitPrefixes(t *testing.T) {
	rules := policy(t,
		[]string{
			"deny ip 10.9.0.0/16 192.0.2.0/24",
			"permit ip 10.1.0.0/24 10.200.0.0/24",
			"permit tcp 10.1.1.0/24 10.200.1.0/24 eq 443",
		},
		[]string{
			"permit ip host 10.1.1.7 10.200.1.128/25",
			"permit ip 10.2.0.0/16 172.16.0.0/12",
			"permit ip 10.2.0.0/16 host 172.16.5.5",
			"permit ip 2001:db8:0:1::/64 2001:db8:1::/48",
			"permit ip 2001:db8:0:1::/64 2001:db8::/48",
		},
	)
	tab, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	mp := func(ss ...string) []netip.Prefix {
		var ps []netip.Prefix
		for _, s := range ss {
			ps = append(ps, netip.MustParsePrefix(s))
		}
		return ps
	}
	if got, want := tab.DestinationPrefixes(), mp("10.200.0.0/23", "172.16.0.0/12", "2001:db8::/47"); !slices.Equal(got, want) {
		t.Errorf("DestinationPrefixes = %v, want %v", got, want)
	}
	if got, want := tab.SourcePrefixes(), mp("10.1.0.0/23", "10.2.0.0/16", "2001:db8:0:1::/64"); !slices.Equal(got, want) {
		t.Errorf("SourcePrefixes = %v, want %v", got, want)
	}
	empty, _ := Compile(nil)
	if got := empty.DestinationPrefixes(); len(got) != 0 {
		t.Errorf("empty table: %v", got)
	}
	anyRule, _ := Compile(policy(t, []string{"permit ip 10.0.0.0/8 any", "permit ip 10.0.0.0/8 10.1.0.0/16"}))
	if got := anyRule.DestinationPrefixes(); !slices.Equal(got, mp("0.0.0.0/0")) {
		t.Errorf("any: %v", got)
	}
}

// aggregate must cover exactly the addresses its input covers, with
// disjoint, sorted prefixes and no two siblings left unmerged.
func TestAggregate(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for round := 0; round < 300; round++ {
		var in []netip.Prefix
		for i := rng.IntN(40); i >= 0; i-- {
			in = append(in, smallPrefix(rng, rng.IntN(3) == 0).Masked())
		}
		orig := slices.Clone(in)
		out := aggregate(in)
		for i := 1; i < len(out); i++ {
			a, b := out[i-1], out[i]
			if a.Overlaps(b) || a.Addr().Compare(b.Addr()) >= 0 {
				t.Fatalf("%v: %v and %v overlap or are out of order", out, a, b)
			}
			if a.Bits() == b.Bits() && a.Bits() > 0 &&
				netip.PrefixFrom(a.Addr(), a.Bits()-1).Masked() == netip.PrefixFrom(b.Addr(), b.Bits()-1).Masked() {
				t.Fatalf("%v: siblings %v and %v not merged", out, a, b)
			}
		}
		covered := func(ps []netip.Prefix, a netip.Addr) bool {
			return slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Contains(a) })
		}
		for i := 0; i < 200; i++ {
			var a netip.Addr
			if len(orig) > 0 && i%2 == 0 {
				a = edgeAddr(rng, orig[rng.IntN(len(orig))])
			} else {
				a = smallAddr(rng, rng.IntN(3) == 0)
			}
			if covered(orig, a) != covered(out, a) {
				t.Fatalf("%v -> %v: %v covered %v before, %v after", orig, out, a, covered(orig, a), covered(out, a))
			}
		}
	}
}
