package fastpath

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

func testRoutes() []Route {
	return []Route{
		{Prefix: pfx("10.1.0.0/24"), Kind: RouteConnected, Iface: 0},
		{Prefix: pfx("10.1.0.1/32"), Kind: RouteLocal, Iface: 0},
		{Prefix: pfx("192.0.2.0/24"), Kind: RouteConnected, Iface: 1},
		{Prefix: pfx("192.0.2.1/32"), Kind: RouteLocal, Iface: 1},
		{Prefix: pfx("0.0.0.0/0"), Kind: RouteStatic, Iface: -1, NextHop: addr("192.0.2.254")},
		{Prefix: pfx("10.9.0.0/16"), Kind: RouteStatic, Iface: -1, NextHop: addr("10.1.0.254")},
		{Prefix: pfx("10.9.8.0/24"), Kind: RouteStatic, Iface: 1, NextHop: addr("192.0.2.9")},
		{Prefix: pfx("2001:db8:1::/64"), Kind: RouteConnected, Iface: 0},
		{Prefix: pfx("2001:db8:1::1/128"), Kind: RouteLocal, Iface: 0},
		{Prefix: pfx("2001:db8:ff::/48"), Kind: RouteConnected, Iface: 1},
		{Prefix: pfx("::/0"), Kind: RouteStatic, Iface: -1, NextHop: addr("2001:db8:ff::fe")},
		{Prefix: pfx("2001:db8:2::/64"), Kind: RouteStatic, Iface: 0}, // out an interface, on-link
	}
}

func TestFIBLookup(t *testing.T) {
	f, err := NewFIB(testRoutes())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		dst     string
		kind    RouteKind
		iface   int
		nextHop string
		prefix  string
	}{
		{"10.1.0.1", RouteLocal, 0, "", "10.1.0.1/32"},
		{"10.1.0.77", RouteConnected, 0, "", "10.1.0.0/24"},
		{"192.0.2.1", RouteLocal, 1, "", "192.0.2.1/32"},
		{"198.51.100.7", RouteStatic, 1, "192.0.2.254", "0.0.0.0/0"},
		{"10.9.1.1", RouteStatic, 0, "10.1.0.254", "10.9.0.0/16"},
		{"10.9.8.1", RouteStatic, 1, "192.0.2.9", "10.9.8.0/24"},
		{"2001:db8:1::1", RouteLocal, 0, "", "2001:db8:1::1/128"},
		{"2001:db8:1::2", RouteConnected, 0, "", "2001:db8:1::/64"},
		{"2001:db8:ff:1::1", RouteConnected, 1, "", "2001:db8:ff::/48"},
		{"2001:db8:2::5", RouteStatic, 0, "", "2001:db8:2::/64"},
		{"2001:db8:99::5", RouteStatic, 1, "2001:db8:ff::fe", "::/0"},
	}
	for _, c := range cases {
		r := f.Lookup(addr(c.dst))
		if r == nil {
			t.Errorf("%s: no route", c.dst)
			continue
		}
		nh := ""
		if r.NextHop.IsValid() {
			nh = r.NextHop.String()
		}
		if r.Kind != c.kind || r.Iface != c.iface || nh != c.nextHop || r.Prefix.String() != c.prefix {
			t.Errorf("%s: got %v %v iface %d via %q, want %v %v iface %d via %q", c.dst, r.Prefix, r.Kind, r.Iface, nh, c.prefix, c.kind, c.iface, c.nextHop)
		}
	}
}

func TestFIBNoDefault(t *testing.T) {
	f, err := NewFIB([]Route{{Prefix: pfx("10.1.0.0/24"), Kind: RouteConnected}})
	if err != nil {
		t.Fatal(err)
	}
	if r := f.Lookup(addr("10.2.0.1")); r != nil {
		t.Fatalf("got %v", r)
	}
	if r := f.Lookup(addr("2001:db8::1")); r != nil {
		t.Fatalf("v6 got %v", r)
	}
}

func TestFIBErrors(t *testing.T) {
	if _, err := NewFIB([]Route{{Prefix: pfx("0.0.0.0/0"), Kind: RouteStatic, Iface: -1, NextHop: addr("10.0.0.1")}}); err == nil {
		t.Error("unresolvable next hop accepted")
	}
	dup := []Route{
		{Prefix: pfx("10.1.0.0/24"), Kind: RouteConnected, Iface: 0},
		{Prefix: pfx("10.1.0.0/24"), Kind: RouteConnected, Iface: 1},
	}
	if _, err := NewFIB(dup); err == nil {
		t.Error("duplicate connected route accepted")
	}
	// A static route to a connected prefix is shadowed, not an error.
	shadow := []Route{
		{Prefix: pfx("10.1.0.0/24"), Kind: RouteStatic, Iface: 1},
		{Prefix: pfx("10.1.0.0/24"), Kind: RouteConnected, Iface: 0},
	}
	f, err := NewFIB(shadow)
	if err != nil {
		t.Fatal(err)
	}
	if r := f.Lookup(addr("10.1.0.5")); r.Kind != RouteConnected || r.Iface != 0 {
		t.Errorf("static route not shadowed: %+v", r)
	}
}

// TestFIBRandom compares Lookup with a linear longest-match over random
// tables and addresses.
func TestFIBRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		var routes []Route
		seen := map[netip.Prefix]bool{}
		for range 60 {
			var a netip.Addr
			var bits int
			if rng.IntN(2) == 0 {
				a = netip.AddrFrom4([4]byte{10, byte(rng.IntN(4)), byte(rng.IntN(256)), byte(rng.IntN(256))})
				bits = rng.IntN(33)
			} else {
				a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(rng.IntN(4)), 15: byte(rng.IntN(256))})
				bits = rng.IntN(129)
			}
			p := netip.PrefixFrom(a, bits).Masked()
			if seen[p] {
				continue
			}
			seen[p] = true
			routes = append(routes, Route{Prefix: p, Kind: RouteStatic, Iface: len(routes)})
		}
		f, err := NewFIB(routes)
		if err != nil {
			t.Fatal(err)
		}
		for range 500 {
			var a netip.Addr
			if rng.IntN(2) == 0 {
				a = netip.AddrFrom4([4]byte{10, byte(rng.IntN(4)), byte(rng.IntN(256)), byte(rng.IntN(256))})
			} else {
				a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(rng.IntN(4)), 15: byte(rng.IntN(256))})
			}
			want := -1
			best := -1
			for _, r := range routes {
				if r.Prefix.Contains(a) && r.Prefix.Bits() > best {
					best, want = r.Prefix.Bits(), r.Iface
				}
			}
			got := -1
			if r := f.Lookup(a); r != nil {
				got = r.Iface
			}
			if got != want {
				t.Fatalf("round %d, %v: got route %d, want %d", round, a, got, want)
			}
		}
	}
}

func BenchmarkFIBLookup(b *testing.B) {
	f, err := NewFIB(testRoutes())
	if err != nil {
		b.Fatal(err)
	}
	for _, fam := range []struct {
		name string
		dsts []netip.Addr
	}{
		{"v4", []netip.Addr{addr("10.1.0.77"), addr("198.51.100.7"), addr("10.9.8.1"), addr("10.1.0.1")}},
		// Host route, /64, /48 and the default: one to four lengths probed.
		{"v6", []netip.Addr{addr("2001:db8:1::1"), addr("2001:db8:1::2"), addr("2001:db8:ff:1::1"), addr("2001:db8:99::5")}},
	} {
		b.Run(fam.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if f.Lookup(fam.dsts[i&3]) == nil {
					b.Fatal("no route")
				}
			}
		})
	}
}

func TestNeighbors(t *testing.T) {
	mac := MAC{2, 0, 0, 0, 0, 9}
	n := NewNeighbors([]Neighbor{{Iface: 1, Addr: addr("192.0.2.254"), MAC: mac}})
	if m, ok := n.Lookup(1, addr("192.0.2.254")); !ok || m != mac {
		t.Fatal("static neighbour missing")
	}
	if _, ok := n.Lookup(0, addr("192.0.2.254")); ok {
		t.Fatal("neighbour found on the wrong interface")
	}
	mac2 := MAC{2, 0, 0, 0, 0, 10}
	n2 := n.With([]Neighbor{{Iface: 0, Addr: addr("10.1.0.5"), MAC: mac2}}, []Neighbor{{Iface: 1, Addr: addr("192.0.2.254")}})
	if _, ok := n2.Lookup(1, addr("192.0.2.254")); ok {
		t.Fatal("deleted neighbour still there")
	}
	if m, ok := n2.Lookup(0, addr("10.1.0.5")); !ok || m != mac2 {
		t.Fatal("added neighbour missing")
	}
	if _, ok := n.Lookup(1, addr("192.0.2.254")); !ok || n.Len() != 1 {
		t.Fatal("With changed the original table")
	}
}

// TestNeighborsMany fills the IPv4 and IPv6 indexes past several sizes and
// checks every entry, misses on the wrong interface or address, and
// deletions.
func TestNeighborsMany(t *testing.T) {
	var ns []Neighbor
	for i := range 1000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
		if i%2 == 1 {
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 7: byte(i % 5), 14: byte(i >> 8), 15: byte(i)})
		}
		ns = append(ns, Neighbor{Iface: i % 3, Addr: a, MAC: MAC{2, 0, 0, byte(i % 3), byte(i >> 8), byte(i)}})
	}
	n := NewNeighbors(ns)
	n2 := n.With(nil, ns[:500])
	for i, e := range ns {
		if m, ok := n.Lookup(e.Iface, e.Addr); !ok || m != e.MAC {
			t.Fatalf("entry %d: %v %v", i, m, ok)
		}
		if _, ok := n.Lookup(e.Iface+1, e.Addr); ok {
			t.Fatalf("entry %d found on another interface", i)
		}
		if _, ok := n2.Lookup(e.Iface, e.Addr); ok != (i >= 500) {
			t.Fatalf("entry %d after deleting the first 500: found %v", i, ok)
		}
	}
	if _, ok := n.Lookup(0, netip.MustParseAddr("10.99.0.1")); ok {
		t.Fatal("unknown address found")
	}
	if _, ok := n.Lookup(1, netip.MustParseAddr("2001:db8::1:1")); ok {
		t.Fatal("unknown IPv6 address found")
	}
	// A zoned entry is found only with its zone.
	ll := netip.MustParseAddr("fe80::1%gw0")
	z := NewNeighbors([]Neighbor{{Iface: 0, Addr: ll, MAC: MAC{2, 0, 0, 0, 0, 1}}})
	if _, ok := z.Lookup(0, ll); !ok {
		t.Fatal("zoned neighbour missing")
	}
	if _, ok := z.Lookup(0, ll.WithZone("")); ok {
		t.Fatal("zoned neighbour found without its zone")
	}
	if _, ok := NewNeighbors(nil).Lookup(0, netip.MustParseAddr("10.0.0.1")); ok {
		t.Fatal("found in an empty table")
	}
}
