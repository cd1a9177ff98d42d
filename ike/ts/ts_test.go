package ts

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"ipsecgw/spd"
)

func sel(proto uint8, from, to string, lo, hi uint16) Selector {
	return Selector{Proto: proto, Start: netip.MustParseAddr(from), End: netip.MustParseAddr(to), StartPort: lo, EndPort: hi}
}

func TestFromACL(t *testing.T) {
	p := netip.MustParsePrefix
	cases := []struct {
		sel           spd.Selector
		local, remote string
	}{
		{spd.Selector{Src: p("10.1.1.0/24"), Dst: p("10.2.2.0/24")}, "10.1.1.0/24", "10.2.2.0/24"},
		{spd.Selector{Proto: 6, Src: p("10.1.1.0/24"), Dst: p("10.2.2.5/32"), DstPorts: spd.PortMatch{Lo: 443, Hi: 443}},
			"10.1.1.0/24[tcp]", "10.2.2.5[tcp/443]"},
		// neq yields two ranges.
		{spd.Selector{Proto: 17, Src: p("10.1.1.0/24"), SrcPorts: spd.PortMatch{Lo: 53, Hi: 53, Negate: true}, Dst: p("0.0.0.0/0")},
			"10.1.1.0/24[udp/0-52] 10.1.1.0/24[udp/54-65535]", "0.0.0.0/0[udp]"},
		// Ports mean nothing for other protocols.
		{spd.Selector{Proto: 1, Src: p("fd00:1::/64"), Dst: p("fd00:2::/64")}, "fd00:1::/64[icmp]", "fd00:2::/64[icmp]"},
	}
	for _, c := range cases {
		l, r := FromACL(c.sel)
		if List(l) != c.local || List(r) != c.remote {
			t.Errorf("%+v: got %s === %s, want %s === %s", c.sel, List(l), List(r), c.local, c.remote)
		}
	}
}

func TestIntersectContains(t *testing.T) {
	wide := sel(0, "10.0.0.0", "10.255.255.255", 0, 65535)
	web := sel(6, "10.1.1.0", "10.1.1.255", 80, 443)
	if r, ok := wide.Intersect(web); !ok || r != web {
		t.Errorf("wide ∩ web = %v %v", r, ok)
	}
	if !wide.Contains(web) || web.Contains(wide) {
		t.Error("containment wrong")
	}
	if _, ok := web.Intersect(sel(17, "10.1.1.0", "10.1.1.255", 0, 65535)); ok {
		t.Error("tcp ∩ udp not empty")
	}
	if _, ok := web.Intersect(sel(6, "10.1.1.0", "10.1.1.255", 444, 500)); ok {
		t.Error("disjoint ports intersect")
	}
	if _, ok := wide.Intersect(sel(0, "fd00::", "fd00::ff", 0, 65535)); ok {
		t.Error("families intersect")
	}
	if r, _ := sel(0, "10.1.1.0", "10.1.1.100", 0, 65535).Intersect(sel(0, "10.1.1.50", "10.1.2.0", 0, 65535)); r.String() != "10.1.1.50..10.1.1.100" {
		t.Errorf("partial overlap %v", r)
	}
	if !web.ContainsAddr(netip.MustParseAddr("10.1.1.9"), 6, 80) || web.ContainsAddr(netip.MustParseAddr("10.1.1.9"), 6, 22) {
		t.Error("ContainsAddr wrong")
	}
}

func TestPrefixes(t *testing.T) {
	cases := []struct {
		s    Selector
		want string
	}{
		{sel(0, "10.1.1.5", "10.1.1.9", 0, 65535), "[10.1.1.5/32 10.1.1.6/31 10.1.1.8/31]"},
		{FromPrefix(netip.MustParsePrefix("0.0.0.0/0"), 0), "[0.0.0.0/0]"},
		{FromPrefix(netip.MustParsePrefix("::/0"), 0), "[::/0]"},
		{sel(0, "10.0.0.0", "10.0.0.0", 0, 65535), "[10.0.0.0/32]"},
		{sel(0, "fd00::1", "fd00::4", 0, 65535), "[fd00::1/128 fd00::2/127 fd00::4/128]"},
		{sel(0, "255.255.255.254", "255.255.255.255", 0, 65535), "[255.255.255.254/31]"},
	}
	for _, c := range cases {
		if got := fmt.Sprint(c.s.Prefixes()); got != c.want {
			t.Errorf("%v: %s, want %s", c.s, got, c.want)
		}
	}
}

func TestNarrow(t *testing.T) {
	acl := []Selector{sel(0, "10.1.1.0", "10.1.1.255", 0, 65535)}
	proposed := []Selector{
		sel(6, "10.1.1.7", "10.1.1.7", 443, 443), // the packet
		sel(0, "10.1.0.0", "10.1.255.255", 0, 65535),
		sel(0, "10.9.0.0", "10.9.255.255", 0, 65535), // outside
	}
	got := List(Narrow(proposed, acl))
	if got != "10.1.1.7[tcp/443] 10.1.1.0/24" {
		t.Fatalf("narrowed to %s", got)
	}
	if !AllContained(proposed[:1], acl) || AllContained(proposed, acl) {
		t.Fatal("AllContained wrong")
	}
	if w := Wider(proposed[1:2], acl); w != "10.1.0.0/16 is wider than 10.1.1.0/24" {
		t.Fatalf("Wider: %s", w)
	}
}

func TestMismatch(t *testing.T) {
	acl := []Selector{sel(6, "10.1.1.0", "10.1.1.255", 80, 80)}
	cases := []struct {
		p    Selector
		want string
	}{
		{sel(0, "10.9.0.0", "10.9.255.255", 0, 65535), "proposal is any protocol, line permits only tcp"},
		{sel(17, "10.1.1.0", "10.1.1.255", 0, 65535), "protocol udp, line permits tcp"},
		{sel(6, "10.9.0.0", "10.9.255.255", 0, 65535), "addresses do not overlap"},
		{sel(6, "10.1.1.0", "10.1.1.255", 443, 443), "ports do not overlap"},
		{sel(6, "fd00::", "fd00::1", 0, 65535), "address families differ"},
	}
	for _, c := range cases {
		got := Mismatch([]Selector{c.p}, acl, "ACL source")
		if !strings.HasSuffix(got, ": "+c.want) || !strings.Contains(got, "vs ACL source 10.1.1.0/24[tcp/80]") {
			t.Errorf("%v: %q", c.p, got)
		}
	}
}
