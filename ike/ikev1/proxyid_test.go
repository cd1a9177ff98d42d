package ikev1

import (
	"net/netip"
	"testing"

	"ipsecgw/ike"
	"ipsecgw/ike/ikev1/isakmp"
	"ipsecgw/ike/ts"
	"ipsecgw/spd"
)

func TestProxyIDRoundTrip(t *testing.T) {
	for _, s := range []ts.Selector{
		ts.FromPrefix(netip.MustParsePrefix("10.1.1.0/24"), 0),
		ts.FromPrefix(netip.MustParsePrefix("2001:db8::/48"), 17),
		ts.Host(netip.MustParseAddr("192.0.2.7"), 6, 443),
		ts.Host(netip.MustParseAddr("2001:db8::1"), 0, 0),
		{Proto: 0, Start: netip.MustParseAddr("10.0.0.5"), End: netip.MustParseAddr("10.0.0.9"), EndPort: 65535},
	} {
		id := proxyID(s)
		got, err := selectorFromID(id)
		if err != nil || got != s {
			t.Errorf("%v -> %v %x -> %v %v", s, id.IDType, id.Data, got, err)
		}
	}
	if id := proxyID(ts.FromPrefix(netip.MustParsePrefix("10.1.1.0/24"), 0)); id.IDType != isakmp.IDIPv4AddrSubnet {
		t.Errorf("subnet encoded as %v", id.IDType)
	}
}

func TestProxyIDMalformed(t *testing.T) {
	for _, id := range []*isakmp.ID{
		{IDType: isakmp.IDIPv4Addr, Data: []byte{1, 2, 3}},
		{IDType: isakmp.IDIPv4AddrSubnet, Data: []byte{10, 0, 0, 0, 255, 0, 255, 0}},
		{IDType: isakmp.IDIPv4AddrRange, Data: []byte{10, 0, 0, 9, 10, 0, 0, 1}},
		{IDType: isakmp.IDFQDN, Data: []byte("example.net")},
	} {
		if s, err := selectorFromID(id); err == nil {
			t.Errorf("%v %x accepted as %v", id.IDType, id.Data, s)
		}
	}
}

func TestProxiesPerHost(t *testing.T) {
	line := ike.ACLLine{Line: 3, Sel: spd.Selector{Src: netip.MustParsePrefix("10.1.1.0/24"), Dst: netip.MustParsePrefix("10.2.2.0/24")}}
	flow := &spd.Flow{Src: netip.MustParseAddr("10.1.1.5"), Dst: netip.MustParseAddr("10.2.2.9"), Proto: 6, SrcPort: 40000, DstPort: 22}
	c := &ChildConfig{}
	l, r := proxiesFor(c, &line, flow)
	if l.String() != "10.1.1.0/24" || r.String() != "10.2.2.0/24" {
		t.Errorf("per-entry proxies %v %v", l, r)
	}
	c.PerHost = true
	l, r = proxiesFor(c, &line, flow)
	if l != ts.Host(flow.Src, 0, 0) || r != ts.Host(flow.Dst, 0, 0) {
		t.Errorf("per-host proxies %v %v", l, r)
	}
	// A line with a protocol and port keeps them.
	line.Sel.Proto = 6
	line.Sel.DstPorts = spd.PortMatch{Lo: 22, Hi: 22}
	l, r = proxiesFor(c, &line, flow)
	if l.Proto != 6 || !l.AnyPort() || r.StartPort != 22 || r.EndPort != 22 {
		t.Errorf("per-host proxies with ports %v %v", l, r)
	}
}

func TestMatchProxies(t *testing.T) {
	c := &ChildConfig{ACL: "101", Lines: []ike.ACLLine{
		{Line: 1, Text: "permit tcp 10.1.1.0 0.0.0.255 10.2.2.0 0.0.0.255 eq 22", Sel: spd.Selector{Proto: 6,
			Src: netip.MustParsePrefix("10.1.1.0/24"), Dst: netip.MustParsePrefix("10.2.2.0/24"), DstPorts: spd.PortMatch{Lo: 22, Hi: 22}}},
		{Line: 2, Text: "permit ip 10.1.0.0 0.0.255.255 10.3.0.0 0.0.255.255", Sel: spd.Selector{
			Src: netip.MustParsePrefix("10.1.0.0/16"), Dst: netip.MustParsePrefix("10.3.0.0/16")}},
	}}
	host := func(a string) ts.Selector { return ts.Host(netip.MustParseAddr(a), 0, 0) }
	// Inside line 2.
	if l, _ := matchProxies(c, ts.FromPrefix(netip.MustParsePrefix("10.1.5.0/24"), 0), host("10.3.3.3")); l == nil || l.Line != 2 {
		t.Errorf("matched %v", l)
	}
	// Inside line 1 only with TCP port 22.
	if l, _ := matchProxies(c, ts.Host(netip.MustParseAddr("10.1.1.1"), 6, 0), ts.Host(netip.MustParseAddr("10.2.2.2"), 6, 22)); l == nil || l.Line != 1 {
		t.Errorf("matched %v", l)
	}
	// Any protocol to 10.2.2.0/24: line 1 permits only TCP, line 2 other addresses.
	l, why := matchProxies(c, ts.FromPrefix(netip.MustParsePrefix("10.1.1.0/24"), 0), ts.FromPrefix(netip.MustParsePrefix("10.2.2.0/24"), 0))
	if l != nil {
		t.Fatalf("matched %v", l)
	}
	for _, want := range []string{"101 line 1", "101 line 2", "is wider than", "addresses do not overlap"} {
		if !contains(why, want) {
			t.Errorf("explanation lacks %q: %s", want, why)
		}
	}
}
