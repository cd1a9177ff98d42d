package spd

import (
	"net/netip"
	"strings"
	"testing"
)

// Each case is a policy, flows and the rule index that must decide them;
// LinearLookup, Table, Cache and the reversed lookups must all agree.
func TestIOSSemantics(t *testing.T) {
	type probe struct {
		f    Flow
		want int
	}
	cases := []struct {
		name    string
		entries [][]string
		probes  []probe
	}{
		{
			// The guide's mymap: the more specific networks at seq 10,
			// the summary at 20.
			name: "mymap 10 before 20",
			entries: [][]string{
				{"permit ip 10.1.1.0/24 172.16.1.0/24"},
				{"permit ip 10.0.0.0/8 172.16.0.0/12"},
			},
			probes: []probe{
				{flow("10.1.1.5", 0, "172.16.1.9", 0, 1), 0},
				{flow("10.1.1.5", 1000, "172.16.1.9", 80, 6), 0},
				{flow("10.1.2.5", 0, "172.16.1.9", 0, 1), 1},
				{flow("10.1.1.5", 0, "172.17.0.1", 0, 17), 1},
				{flow("10.255.255.255", 0, "172.31.255.255", 0, 50), 1},
				{flow("10.1.1.5", 0, "172.32.0.1", 0, 1), NoMatch},
				{flow("11.0.0.1", 0, "172.16.1.9", 0, 1), NoMatch},
				{flow("172.16.1.9", 0, "10.1.1.5", 0, 1), NoMatch}, // wrong direction
			},
		},
		{
			// Summary first: the specific entry is never reached.
			name: "mymap 20 before 10",
			entries: [][]string{
				{"permit ip 10.0.0.0/8 172.16.0.0/12"},
				{"permit ip 10.1.1.0/24 172.16.1.0/24"},
			},
			probes: []probe{
				{flow("10.1.1.5", 0, "172.16.1.9", 0, 1), 0},
				{flow("10.1.2.5", 0, "172.16.1.9", 0, 1), 0},
			},
		},
		{
			name: "deny hands the flow to the next entry",
			entries: [][]string{
				{"deny ip host 10.1.1.5 any", "permit ip 10.1.1.0/24 172.16.1.0/24"},
				{"permit ip 10.0.0.0/8 172.16.0.0/12"},
			},
			probes: []probe{
				{flow("10.1.1.5", 0, "172.16.1.1", 0, 1), 2},
				{flow("10.1.1.6", 0, "172.16.1.1", 0, 1), 1},
				{flow("10.1.1.5", 0, "192.0.2.1", 0, 1), NoMatch},
			},
		},
		{
			name: "deny with no later entry bypasses",
			entries: [][]string{
				{"deny tcp 10.1.1.0/24 172.16.1.0/24 eq 23", "permit ip 10.1.1.0/24 172.16.1.0/24"},
			},
			probes: []probe{
				{flow("10.1.1.5", 40000, "172.16.1.1", 23, 6), NoMatch},
				{flow("10.1.1.5", 40000, "172.16.1.1", 23, 17), 1},
				{flow("10.1.1.5", 40000, "172.16.1.1", 22, 6), 1},
			},
		},
		{
			name: "first matching line decides: permit before deny",
			entries: [][]string{
				{"permit ip 10.1.1.0/24 172.16.1.0/24", "deny ip host 10.1.1.5 any"},
				{"permit ip any any"},
			},
			probes: []probe{
				{flow("10.1.1.5", 0, "172.16.1.1", 0, 1), 0},
				{flow("10.1.1.5", 0, "192.0.2.1", 0, 1), 2},
			},
		},
		{
			name: "deny only ends its own entry",
			entries: [][]string{
				{"deny ip any any"},
				{"deny ip 10.0.0.0/8 any", "permit ip any any"},
				{"permit ip 10.1.0.0/16 any"},
			},
			probes: []probe{
				{flow("10.1.1.1", 0, "192.0.2.1", 0, 1), 3},
				{flow("10.2.1.1", 0, "192.0.2.1", 0, 1), NoMatch},
				{flow("11.0.0.1", 0, "192.0.2.1", 0, 1), 2},
			},
		},
		{
			name: "destination ports",
			entries: [][]string{
				{"permit tcp any any eq 80"},
				{"permit tcp any any lt 23"},
				{"permit tcp any any gt 65000"},
				{"permit udp any any range 5060 5061"},
				{"permit udp any any neq 53"},
			},
			probes: []probe{
				{flow("10.0.0.1", 1, "10.0.0.2", 80, 6), 0},
				{flow("10.0.0.1", 1, "10.0.0.2", 81, 6), NoMatch},
				{flow("10.0.0.1", 1, "10.0.0.2", 79, 6), NoMatch},
				{flow("10.0.0.1", 1, "10.0.0.2", 0, 6), 1},
				{flow("10.0.0.1", 1, "10.0.0.2", 22, 6), 1},
				{flow("10.0.0.1", 1, "10.0.0.2", 23, 6), NoMatch},
				{flow("10.0.0.1", 1, "10.0.0.2", 65000, 6), NoMatch},
				{flow("10.0.0.1", 1, "10.0.0.2", 65001, 6), 2},
				{flow("10.0.0.1", 1, "10.0.0.2", 65535, 6), 2},
				{flow("10.0.0.1", 1, "10.0.0.2", 5059, 17), 4},
				{flow("10.0.0.1", 1, "10.0.0.2", 5060, 17), 3},
				{flow("10.0.0.1", 1, "10.0.0.2", 5061, 17), 3},
				{flow("10.0.0.1", 1, "10.0.0.2", 5062, 17), 4},
				{flow("10.0.0.1", 1, "10.0.0.2", 53, 17), NoMatch},
				{flow("10.0.0.1", 1, "10.0.0.2", 80, 17), 4},
				{flow("10.0.0.1", 1, "10.0.0.2", 80, 1), NoMatch}, // ICMP has no ports
			},
		},
		{
			name: "source ports",
			entries: [][]string{
				{"permit udp 10.0.0.0/8 eq 500 any", "permit tcp 10.0.0.0/8 gt 1023 any lt 1024"},
			},
			probes: []probe{
				{flow("10.0.0.1", 500, "192.0.2.1", 500, 17), 0},
				{flow("10.0.0.1", 501, "192.0.2.1", 500, 17), NoMatch},
				{flow("10.0.0.1", 1024, "192.0.2.1", 443, 6), 1},
				{flow("10.0.0.1", 1023, "192.0.2.1", 443, 6), NoMatch},
				{flow("10.0.0.1", 1024, "192.0.2.1", 1024, 6), NoMatch},
			},
		},
		{
			name: "protocols",
			entries: [][]string{
				{"permit icmp 10.0.0.0/8 any"},
				{"permit 50 10.0.0.0/8 any"},
				{"permit tcp 10.1.0.0/16 any"},
				{"permit ip 10.2.0.0/16 any"},
			},
			probes: []probe{
				{flow("10.1.0.1", 0, "192.0.2.1", 0, 1), 0},
				{flow("10.1.0.1", 0, "192.0.2.1", 0, 50), 1},
				{flow("10.1.0.1", 1, "192.0.2.1", 2, 6), 2},
				{flow("10.1.0.1", 1, "192.0.2.1", 2, 17), NoMatch},
				{flow("10.2.0.1", 1, "192.0.2.1", 2, 17), 3},
				{flow("10.2.0.1", 0, "192.0.2.1", 0, 47), 3},
				{flow("10.2.0.1", 0, "192.0.2.1", 0, 0), 3},
			},
		},
		{
			// Selector allows ports on "ip": they then restrict TCP and
			// UDP and exclude every protocol without ports.
			name: "ports on ip",
			entries: [][]string{
				{"permit ip any any eq 443"},
			},
			probes: []probe{
				{flow("10.0.0.1", 1, "10.0.0.2", 443, 6), 0},
				{flow("10.0.0.1", 1, "10.0.0.2", 443, 17), 0},
				{flow("10.0.0.1", 1, "10.0.0.2", 444, 6), NoMatch},
				{flow("10.0.0.1", 0, "10.0.0.2", 0, 1), NoMatch},
				{flow("10.0.0.1", 0, "10.0.0.2", 443, 50), NoMatch},
			},
		},
		{
			name: "IPv6 and IPv4 apart",
			entries: [][]string{
				{"permit ip 2001:db8:1::/48 2001:db8:2::/48"},
				{"permit ip any any"},
				{"permit tcp any6 any6 eq 22"},
				{"permit ip ::ffff:10.0.0.0/104 any6"},
			},
			probes: []probe{
				{flow("2001:db8:1::1", 0, "2001:db8:2::1", 0, 58), 0},
				{flow("2001:db8:1::1", 1, "2001:db8:3::1", 22, 6), 2},
				{flow("2001:db8:1::1", 1, "2001:db8:3::1", 23, 6), NoMatch},
				{flow("10.0.0.1", 0, "10.0.0.2", 0, 1), 1},
				// An IPv4-mapped address is IPv6: not matched by
				// IPv4's any, matched by the mapped prefix.
				{flow("::ffff:10.0.0.1", 0, "::ffff:10.0.0.2", 0, 1), 3},
				{flow("::ffff:11.0.0.1", 0, "::ffff:10.0.0.2", 0, 1), NoMatch},
				{flow("10.0.0.1", 0, "2001:db8:2::1", 0, 1), NoMatch},
				{Flow{}, NoMatch},
				{Flow{Src: netip.MustParseAddr("fe80::1%eth0"), Dst: netip.MustParseAddr("2001:db8:2::1")}, NoMatch},
			},
		},
		{
			name: "host bits in prefixes are ignored",
			entries: [][]string{
				{"permit ip 10.1.1.77/24 172.16.1.1/24"},
			},
			probes: []probe{
				{flow("10.1.1.5", 0, "172.16.1.9", 0, 1), 0},
			},
		},
		{
			name:    "empty policy",
			entries: nil,
			probes:  []probe{{flow("10.1.1.5", 0, "172.16.1.9", 0, 1), NoMatch}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rules := policy(t, tc.entries...)
			tab, err := Compile(rules)
			if err != nil {
				t.Fatal(err)
			}
			cache := NewCache(16)
			for _, p := range tc.probes {
				rev := p.f.Reverse()
				for pass := 0; pass < 2; pass++ { // second pass hits the cache
					got := map[string]int{
						"LinearLookup":        LinearLookup(rules, &p.f),
						"Table.Lookup":        tab.Lookup(&p.f),
						"Cache.Lookup":        cache.Lookup(tab, &p.f),
						"Table.LookupReverse": tab.LookupReverse(&rev),
						"Cache.LookupReverse": cache.LookupReverse(tab, &rev),
					}
					for name, g := range got {
						if g != p.want {
							t.Errorf("%s(%v) = %d, want %d", name, p.f, g, p.want)
						}
					}
				}
			}
		})
	}
}

func TestCompileRejects(t *testing.T) {
	ok := Selector{Src: netip.MustParsePrefix("10.0.0.0/8"), Dst: netip.MustParsePrefix("172.16.0.0/12")}
	mixed := ok
	mixed.Dst = netip.MustParsePrefix("2001:db8::/32")
	invalid := ok
	invalid.Src = netip.Prefix{}
	cases := []struct {
		name  string
		rules []Rule
		want  string
	}{
		{"entry not contiguous", []Rule{{Sel: ok, Entry: 1}, {Sel: ok, Entry: 2}, {Sel: ok, Entry: 1}}, "not contiguous"},
		{"mixed families", []Rule{{Sel: mixed, Entry: 1}}, "address families"},
		{"invalid prefix", []Rule{{Sel: ok, Entry: 1}, {Sel: invalid, Entry: 2}}, "invalid prefix"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.rules)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Compile: %v, want error with %q", err, tc.want)
			}
		})
	}
}

func TestTableAccessors(t *testing.T) {
	rules := policy(t, []string{"deny ip host 10.1.1.5 any", "permit ip 10.1.1.0/24 172.16.1.0/24"})
	tab, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	rules[1].Permit = false // Compile copied the rules
	f := flow("10.1.1.6", 0, "172.16.1.1", 0, 1)
	i := tab.Lookup(&f)
	if i != 1 || tab.Len() != 2 || !tab.Rule(i).Permit || tab.Rule(i).Entry != 10 || tab.Rule(i).Line != 2 {
		t.Fatalf("Lookup = %d, Len = %d, Rule = %+v", i, tab.Len(), tab.Rule(i))
	}
	if s := tab.Stats(); s.Rules != 2 || s.Trees == 0 || s.Bytes == 0 {
		t.Fatalf("Stats = %+v", s)
	}
}
