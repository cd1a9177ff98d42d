package slowpath

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ipsecgw/config"
	"ipsecgw/fastpath"
	"ipsecgw/fastpath/sad"
	"ipsecgw/fastpath/stats"
)

func load(t *testing.T, system, policy string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "policy.cfg"), []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "gw.yaml")
	if err := os.WriteFile(path, []byte(system+"policy_file: policy.cfg\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("%v\n%v", err, cfg.Diags)
	}
	return cfg
}

// TestBuildExample builds the repository's manual-SA example, gateway A.
func TestBuildExample(t *testing.T) {
	cfg, err := config.Load("../examples/manual-a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g, err := Build(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	tab := g.Engine.Tables()
	if len(tab.Interfaces) != 2 || tab.Interfaces[0].Name != "inside" || tab.Interfaces[1].Crypto == nil || tab.Interfaces[0].Crypto != nil {
		t.Fatalf("interfaces %+v", tab.Interfaces)
	}
	if r := tab.FIB.Lookup(netip.MustParseAddr("10.2.1.5")); r == nil || r.Iface != 1 || r.NextHop != netip.MustParseAddr("192.0.2.2") {
		t.Fatalf("route to the peer's LAN: %+v", r)
	}
	if r := tab.FIB.Lookup(netip.MustParseAddr("192.0.2.1")); r == nil || r.Kind != fastpath.RouteLocal {
		t.Fatalf("local address: %+v", r)
	}
	if _, ok := g.Engine.Neighbors().Lookup(1, netip.MustParseAddr("192.0.2.2")); !ok {
		t.Fatal("static neighbour missing")
	}
	if len(g.Manual) != 2 {
		t.Fatalf("%d manual SA pairs, want 2", len(g.Manual))
	}
	spis := map[uint32]sad.Direction{}
	for _, sa := range g.Engine.SAD().Table().SAs() {
		spis[sa.SPI()] = sa.Direction()
		if sa.Direction() == sad.Inbound && sa.Window().Size() != 0 {
			t.Errorf("manual SA %v checks replay", sa)
		}
		if sa.Mode() != sad.Tunnel {
			t.Errorf("%v: mode %v", sa, sa.Mode())
		}
	}
	want := map[uint32]sad.Direction{1001: sad.Outbound, 1002: sad.Outbound, 2001: sad.Inbound, 2002: sad.Inbound}
	for spi, dir := range want {
		if d, ok := spis[spi]; !ok || d != dir {
			t.Errorf("SPI %d: %v %v, want %v", spi, d, ok, dir)
		}
	}
	if b := tab.Interfaces[1].Crypto.Bindings(); len(b) != 2 {
		t.Fatalf("bindings %+v", b)
	}
}

const pcapSystem = `interfaces:
  - {name: inside, driver: pcap, mac: "02:00:00:00:0a:01", pcap_out: in.pcap}
  - {name: outside, driver: pcap, mac: "02:00:00:00:0a:02", pcap_out: out.pcap, mtu: 1400}
neighbors:
  - {ip: 192.0.2.2, mac: "02:00:00:00:0b:02"}
  - {ip: 10.1.1.10, mac: "02:00:00:00:01:10"}
`

// TestBuildBundleTransport builds an AH+ESP manual entry between the peers
// themselves in transport mode, and one protecting LAN traffic that the
// transform set's transport mode does not apply to (the guide).
func TestBuildBundleTransport(t *testing.T) {
	policy := `crypto ipsec transform-set T ah-sha256-hmac esp-aes 128 esp-sha-hmac
 mode transport
crypto map vpn 10 ipsec-manual
 set peer 192.0.2.2
 set transform-set T
 set session-key inbound ah 3000 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
 set session-key outbound ah 3001 101112131415161718191a1b1c1d1e1f000102030405060708090a0b0c0d0e0f
 set session-key inbound esp 3002 cipher 000102030405060708090a0b0c0d0e0f authenticator 0001020304050607080900010203040506070809
 set session-key outbound esp 3003 cipher 0f0e0d0c0b0a09080706050403020100 authenticator 0908070605040302010009080706050403020100
 match address 110
crypto map vpn 20 ipsec-manual
 set peer 192.0.2.2
 set transform-set T
 set session-key inbound ah 4000 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
 set session-key outbound ah 4001 101112131415161718191a1b1c1d1e1f000102030405060708090a0b0c0d0e0f
 set session-key inbound esp 4002 cipher 000102030405060708090a0b0c0d0e0f authenticator 0001020304050607080900010203040506070809
 set session-key outbound esp 4003 cipher 0f0e0d0c0b0a09080706050403020100 authenticator 0908070605040302010009080706050403020100
 match address 120
interface inside
 ip address 10.1.0.1 255.255.0.0
interface outside
 ip address 192.0.2.1 255.255.255.0
 crypto map vpn
ip route 10.2.0.0 255.255.0.0 192.0.2.2
ip route 10.2.0.0 255.255.0.0 192.0.2.3 200
access-list 110 permit ip host 192.0.2.1 host 192.0.2.2
access-list 120 permit ip 10.1.1.0 0.0.0.255 10.2.1.0 0.0.0.255
`
	g, err := Build(load(t, pcapSystem, policy), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Manual) != 2 {
		t.Fatalf("%d manual entries", len(g.Manual))
	}
	for _, m := range g.Manual {
		wantMode := sad.Tunnel
		if m.Seq == 10 {
			wantMode = sad.Transport
		}
		if m.Out.Protocol() != sad.ESP || m.Out.Outer() == nil || m.Out.Outer().Protocol() != sad.AH {
			t.Errorf("entry %d: not an AH+ESP bundle", m.Seq)
		}
		if m.Out.Mode() != wantMode || m.In.Mode() != wantMode {
			t.Errorf("entry %d: mode %v, want %v", m.Seq, m.Out.Mode(), wantMode)
		}
	}
	if n := g.Engine.SAD().Table().Len(); n != 8 {
		t.Errorf("%d SAs installed, want 8", n)
	}
	// The floating static (distance 200) loses to the distance-1 route.
	r := g.Engine.Tables().FIB.Lookup(netip.MustParseAddr("10.2.1.1"))
	if r == nil || r.NextHop != netip.MustParseAddr("192.0.2.2") {
		t.Fatalf("route %+v", r)
	}
	if mtu := g.Engine.Tables().Interfaces[1].MTU; mtu != 1400 {
		t.Errorf("outside MTU %d", mtu)
	}
}

func TestBuildErrors(t *testing.T) {
	policy := "interface inside\n ip address 10.1.0.1 255.255.0.0\ninterface outside\n ip address 192.0.2.1 255.255.255.0\n"
	for name, c := range map[string]struct{ system, policy, want string }{
		"neighbour off every subnet": {
			system: pcapSystem + "  - {ip: 172.16.0.9, mac: \"02:00:00:00:00:09\"}\n",
			policy: policy, want: "172.16.0.9",
		},
		"route via no connected subnet": {
			system: pcapSystem, policy: policy + "ip route 10.9.0.0 255.255.0.0 172.16.0.1\n", want: "next hop",
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Build(load(t, c.system, c.policy), 1)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one about %q", err, c.want)
			}
		})
	}
	if _, err := Build(load(t, pcapSystem, policy), 0); err == nil {
		t.Error("zero workers accepted")
	}
}

// TestSnapshotJSON checks the shape --stats-json writes: every drop reason
// everywhere, interfaces by name, SAs with their identity.
func TestSnapshotJSON(t *testing.T) {
	cfg, err := config.Load("../examples/manual-a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g, err := Build(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(g.Snapshot(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Global struct {
			Drops  map[string]uint64 `json:"drops"`
			Punted map[string]uint64 `json:"punted"`
		} `json:"global"`
		Interfaces []struct {
			Name  string            `json:"name"`
			Drops map[string]uint64 `json:"drops"`
		} `json:"interfaces"`
		SAs []struct {
			SPI   uint32            `json:"spi"`
			Map   string            `json:"map"`
			Seq   int               `json:"seq"`
			Drops map[string]uint64 `json:"drops"`
		} `json:"sas"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	n := int(stats.NumReasons) - 1
	if len(m.Global.Drops) != n || len(m.Global.Punted) != int(fastpath.NumPuntKinds) {
		t.Errorf("global: %d drop reasons, %d punt kinds", len(m.Global.Drops), len(m.Global.Punted))
	}
	if len(m.Interfaces) != 2 || m.Interfaces[1].Name != "outside" || len(m.Interfaces[1].Drops) != n {
		t.Errorf("interfaces %+v", m.Interfaces)
	}
	if len(m.SAs) != 4 || m.SAs[0].Map != "vpn" || m.SAs[0].Seq == 0 || len(m.SAs[0].Drops) != n {
		t.Errorf("SAs %+v", m.SAs)
	}
	if _, ok := m.Global.Drops["unprotected"]; !ok {
		t.Error("no unprotected counter")
	}
}

// TestSteering checks what the example gateway asks its XDP programs to
// send the fast path.
func TestSteering(t *testing.T) {
	cfg, err := config.Load("../examples/manual-a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g, err := Build(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	st := g.Steering()
	p := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	has := func(got, want []netip.Prefix) bool {
		for _, w := range want {
			if !slices.Contains(got, w) {
				return false
			}
		}
		return true
	}
	// Inside: what the crypto ACLs protect, and what is routed out of
	// the crypto-map interface.
	if st[0].CryptoMap || !has(st[0].Prefixes, p("10.2.1.0/24", "10.2.2.0/24", "10.2.0.0/16", "192.0.2.0/24")) {
		t.Errorf("inside: %+v", st[0])
	}
	// Outside: the protected networks behind this gateway.
	if !st[1].CryptoMap || !has(st[1].Prefixes, p("10.1.1.0/24", "10.1.2.0/24")) || has(st[1].Prefixes, p("10.2.1.0/24")) {
		t.Errorf("outside: %+v", st[1])
	}
	for i := range st {
		if !slices.Contains(st[i].Local, netip.MustParseAddr("192.0.2.1")) || !slices.Contains(st[i].Local, netip.MustParseAddr("10.1.0.1")) {
			t.Errorf("interface %d: local addresses %v", i, st[i].Local)
		}
	}
}
