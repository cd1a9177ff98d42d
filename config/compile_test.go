package config

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"ipsecgw/spd"
)

func flow(src, dst string, proto uint8, sport, dport uint16) spd.Flow {
	return spd.Flow{Src: addr(src), Dst: addr(dst), Proto: proto, SrcPort: sport, DstPort: dport}
}

// lookup returns "map seq line N" for the rule LinearLookup picks, or
// "bypass".
func lookup(c *CompiledMap, f spd.Flow) string {
	i := spd.LinearLookup(c.Rules, &f)
	if i == spd.NoMatch {
		return "bypass"
	}
	e := c.EntryFor(i)
	s := e.Name()
	return s + " line " + strconv.Itoa(c.Rules[i].Line)
}

func compile(t *testing.T, iface string, lines ...string) *CompiledMap {
	t.Helper()
	p := mustParse(t, lines...)
	c, err := p.CompileInterface(iface)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCompileGuideOverlapping: the guide's example puts the more specific
// network at sequence 10 and the wider one at 20; the lower sequence
// number wins where both match.
func TestCompileGuideOverlapping(t *testing.T) {
	cfg, err := Load("testdata/guide/overlapping-networks-defined.cfg")
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Policy
	// The snippet applies mymap to no interface; apply it as an engineer
	// would.
	p2 := mustParse(t, append(strings.Split(strings.TrimSpace(p.Render(true)), "\n"),
		"interface Serial0", " ip address 192.168.1.254 255.255.255.0", " crypto map mymap")...)
	c, err := p2.CompileInterface("Serial0")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rules) != 2 || c.Rules[0].Entry != 0 || c.Rules[1].Entry != 1 || c.Entries[0].Seq != 10 || c.Entries[1].Seq != 20 {
		t.Fatalf("rules %+v", c.Rules)
	}
	for _, tc := range []struct {
		f    spd.Flow
		want string
	}{
		{flow("10.1.1.5", "172.16.1.9", 6, 1000, 80), "crypto map mymap 10 line 1"},
		{flow("10.1.2.5", "172.16.1.9", 17, 1000, 53), "crypto map mymap 20 line 1"},
		{flow("10.1.1.5", "172.16.2.9", 1, 0, 0), "crypto map mymap 20 line 1"},
		{flow("10.200.0.1", "172.31.255.254", 6, 1, 2), "crypto map mymap 20 line 1"},
		{flow("10.1.1.5", "172.32.0.1", 6, 1, 2), "bypass"},
		{flow("11.0.0.1", "172.16.1.1", 6, 1, 2), "bypass"},
	} {
		if got := lookup(c, tc.f); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.f, got, tc.want)
		}
	}
	if peer := c.Entries[0].Peers[0]; peer != addr("192.168.1.1") || c.LocalFor(peer) != addr("192.168.1.254") {
		t.Errorf("peer %v local %v", peer, c.LocalFor(peer))
	}
}

// TestCompileDeny: a deny line means "not by this entry": the packet goes on
// to the next entry, and bypasses IPsec when no entry permits it.
func TestCompileDeny(t *testing.T) {
	c := compile(t, "out",
		"crypto ipsec transform-set ts esp-gcm 256",
		"access-list 101 deny tcp 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255 eq 22",
		"access-list 101 deny ip host 10.1.0.9 10.2.0.0 0.0.255.255",
		"access-list 101 permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255",
		"access-list 102 permit tcp 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255 range 20 25",
		"crypto map m 10", " set peer 192.0.2.2", " set transform-set ts", " match address 101",
		"crypto map m 20", " set peer 192.0.2.3", " set transform-set ts", " match address 102",
		"interface out", " ip address 192.0.2.1 255.255.255.0", " crypto map m",
	)
	if len(c.Rules) != 4 {
		t.Fatalf("rules %+v", c.Rules)
	}
	for _, tc := range []struct {
		f    spd.Flow
		want string
	}{
		{flow("10.1.0.1", "10.2.0.1", 6, 4000, 443), "crypto map m 10 line 3"},
		{flow("10.1.0.1", "10.2.0.1", 6, 4000, 22), "crypto map m 20 line 1"},  // denied by 10, permitted by 20
		{flow("10.1.0.1", "10.2.0.1", 17, 4000, 22), "crypto map m 10 line 3"}, // the deny is tcp only
		{flow("10.1.0.9", "10.2.0.1", 6, 4000, 443), "bypass"},                 // denied by 10, 20 wants ports 20-25
		{flow("10.1.0.9", "10.2.0.1", 6, 4000, 21), "crypto map m 20 line 1"},
	} {
		if got := lookup(c, tc.f); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.f, got, tc.want)
		}
	}
	// Inbound cleartext is checked on the reversed flow: a packet that
	// should have arrived protected matches a permit.
	in := flow("10.2.0.1", "10.1.0.1", 6, 443, 4000).Reverse()
	if got := lookup(c, in); got != "crypto map m 10 line 3" {
		t.Errorf("reversed inbound flow: %s", got)
	}
}

// TestCompileEntries checks entry metadata: resolved lifetimes and replay
// windows, per-host, manual keys and ACL truncation, dynamic expansion.
func TestCompileEntries(t *testing.T) {
	lines := []string{
		"crypto ipsec security-association lifetime seconds 1800",
		"crypto ipsec security-association replay window-size 512",
		"crypto ipsec transform-set ts esp-gcm 128",
		"access-list 101 permit ip 10.1.1.0 0.0.0.255 10.2.1.0 0.0.0.255",
		"access-list 102 deny ip host 10.1.2.9 any",
		"access-list 102 permit ip 10.1.2.0 0.0.0.255 10.2.2.0 0.0.0.255",
		"access-list 102 permit ip 10.1.3.0 0.0.0.255 10.2.3.0 0.0.0.255",
		"access-list 103 permit ip 10.1.4.0 0.0.0.255 10.2.4.0 0.0.0.255",
		"access-list 104 permit ip 10.1.5.0 0.0.0.255 10.2.5.0 0.0.0.255",
		"crypto map m 10",
		" set peer 192.0.2.2",
		" set transform-set ts",
		" set security-association level per-host",
		" set security-association lifetime kilobytes 9000",
		" match address 101",
		"crypto map m 20 ipsec-manual",
		" set peer 192.0.2.2",
		" set transform-set ts",
		" set session-key inbound esp 300 cipher " + hexOf(20, "aa"),
		" set session-key outbound esp 301 cipher " + hexOf(20, "bb"),
		" match address 102",
		"crypto map m 30",
		" set peer 192.0.2.2",
		" set transform-set ts",
		" set security-association replay disable",
		" set pfs group14",
		" match address 103",
		"crypto dynamic-map d 20",
		" set transform-set ts",
		" set security-association replay window-size 64",
		"crypto dynamic-map d 10",
		" set transform-set ts",
		" match address 104",
		"crypto map m 100 ipsec-isakmp dynamic d",
		"interface lo", " ip address 192.0.2.1 255.255.255.255",
		"interface out", " ip address 198.51.100.1 255.255.255.0", " crypto map m",
		"crypto map m local-address lo",
	}
	p, d := parse(t, lines...)
	if d.Errors() > 0 {
		t.Fatal(d)
	}
	c, err := p.CompileInterface("out")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Entries) != 5 {
		t.Fatalf("%d entries", len(c.Entries))
	}
	e10, e20, e30, d10, d20 := c.Entries[0], c.Entries[1], c.Entries[2], c.Entries[3], c.Entries[4]
	if !e10.PerHost || e10.Lifetime != (Lifetime{1800, 9000}) || e10.ReplayWindow != 512 || !e10.Initiates() {
		t.Errorf("entry 10 %+v", e10)
	}
	if e20.Kind != ManualEntry || e20.Lifetime != (Lifetime{}) || e20.ReplayWindow != 0 || e20.SessionKeys.OutboundESP.SPI != 301 || len(e20.Permits) != 1 || e20.Initiates() {
		t.Errorf("entry 20 %+v", e20)
	}
	if e30.ReplayWindow != 0 || e30.PFS != 14 || e30.Lifetime != (Lifetime{1800, DefaultLifetimeKilobytes}) {
		t.Errorf("entry 30 %+v", e30)
	}
	if d10.Kind != DynamicEntry || d10.DynamicSeq != 10 || d10.Seq != 100 || d10.Name() != "crypto map m 100 (dynamic-map d 10)" || d10.Initiates() {
		t.Errorf("dynamic 10 %+v", d10)
	}
	if d20.DynamicSeq != 20 || d20.ACL != nil || d20.ReplayWindow != 64 {
		t.Errorf("dynamic 20 %+v", d20)
	}
	// Rules: 1 for entry 10, the manual entry's deny and first permit (the
	// third line is ignored), 1 for 30, 1 for dynamic 10, none for the
	// dynamic entry without ACL.
	var got []string
	for _, r := range c.Rules {
		got = append(got, fmt.Sprintf("%d:%d", r.Entry, r.Line))
	}
	if strings.Join(got, " ") != "0:1 1:1 1:2 2:1 3:1" {
		t.Errorf("rules %v", got)
	}
	if lookup(c, flow("10.1.3.1", "10.2.3.1", 6, 1, 2)) != "bypass" {
		t.Error("the manual entry's second permit line must be ignored")
	}
	if lookup(c, flow("10.1.5.1", "10.2.5.1", 6, 1, 2)) != "crypto map m 100 (dynamic-map d 10) line 1" {
		t.Error("dynamic map entries filter traffic")
	}
	// local-address: SAs use the loopback's address.
	if len(c.Local) != 1 || c.LocalFor(addr("192.0.2.2")) != addr("192.0.2.1") || c.LocalFor(addr("2001:db8::1")).IsValid() {
		t.Errorf("local %v", c.Local)
	}

	// With no IOS setting, dataplane.replay_window is the default.
	p.IPsec.ReplayWindow = 0
	p.DefaultReplayWindow = 2048
	c, _ = p.CompileInterface("out")
	if c.Entries[0].ReplayWindow != 2048 {
		t.Errorf("system default replay window: %d", c.Entries[0].ReplayWindow)
	}
	p.DefaultReplayWindow = 0
	c, _ = p.CompileInterface("out")
	if c.Entries[0].ReplayWindow != DefaultReplayWindow {
		t.Errorf("IOS default replay window: %d", c.Entries[0].ReplayWindow)
	}

	all, err := p.Compile()
	if err != nil || len(all) != 1 || all[0].Interface != "out" {
		t.Errorf("Compile: %v %v", all, err)
	}
	if c, err := p.CompileInterface("lo"); err != nil || c.Map != "" || len(c.Rules) != 0 {
		t.Errorf("interface without crypto map: %+v %v", c, err)
	}
	if _, err := p.CompileInterface("nope"); err == nil {
		t.Error("unknown interface compiled")
	}
}

// TestCompilePerHostAndIPv6 checks that per-host is carried to the data
// plane and that IPv6 lists compile to IPv6 rules.
func TestCompilePerHostAndIPv6(t *testing.T) {
	c := compile(t, "out",
		"crypto ipsec transform-set ts esp-gcm 128",
		"ipv6 access-list v6",
		" permit tcp 2001:db8:1::/48 2001:db8:2::/48 eq 443",
		"crypto map m 10", " set peer 2001:db8::2", " set transform-set ts", " set security-association level per-host", " match address v6",
		"interface out", " ip address 192.0.2.1 255.255.255.0", " ipv6 address 2001:db8::1/64", " crypto map m",
	)
	if !c.Entries[0].PerHost {
		t.Error("per-host lost")
	}
	f := spd.Flow{Src: addr("2001:db8:1::5"), Dst: addr("2001:db8:2::7"), Proto: 6, SrcPort: 5555, DstPort: 443}
	if lookup(c, f) != "crypto map m 10 line 1" {
		t.Error("IPv6 flow not protected")
	}
	f.DstPort = 80
	if lookup(c, f) != "bypass" {
		t.Error("port condition ignored")
	}
	if c.LocalFor(addr("2001:db8::2")) != addr("2001:db8::1") {
		t.Errorf("local %v", c.Local)
	}
}
