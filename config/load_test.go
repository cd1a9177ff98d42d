package config

import (
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeFiles writes name → content into a temporary directory and returns
// it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestYAMLPolicyEqualsIOS: the YAML form of site B's policy is the same
// model as its IOS text.
func TestYAMLPolicyEqualsIOS(t *testing.T) {
	ios, err := Load("../examples/site-b.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yml, err := Load("../examples/site-b-yaml-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if yml.PolicyFile != "" || ios.PolicyFile != "../examples/site-b.cfg" {
		t.Errorf("policy files %q %q", yml.PolicyFile, ios.PolicyFile)
	}
	stripPos(&ios.System)
	stripPos(&yml.System)
	if !reflect.DeepEqual(ios.System, yml.System) {
		t.Errorf("system settings differ:\n%+v\n%+v", ios.System, yml.System)
	}
	// The YAML keeps its own positions: entries point into the YAML file.
	if pos := yml.Policy.CryptoMaps["vpn"].Entries[0].Pos; pos.File != "../examples/site-b-yaml-policy.yaml" || pos.Line == 0 {
		t.Errorf("entry position %v", pos)
	}
	stripPos(ios.Policy)
	stripPos(yml.Policy)
	if !reflect.DeepEqual(ios.Policy, yml.Policy) {
		t.Errorf("policies differ:\n%s\n----\n%s", ios.Policy.Render(true), yml.Policy.Render(true))
	}
}

func TestYAMLPolicyForms(t *testing.T) {
	dir := writeFiles(t, map[string]string{"gw.yaml": `policy:
  access_lists:
    "150":
      - permit tcp 10.1.0.0 0.0.255.255 host 10.2.0.5 eq 443
      - {action: permit, protocol: udp, source: 10.1.0.7, source_port: 5000, destination: any, destination_port: range 6000 6010, log: true}
    vpn:
      - {action: deny, protocol: ip, source: 10.1.0.0 0.0.0.255, destination: 10.2.0.0/24}
  ipv6_access_lists:
    v6: [permit ipv6 2001:db8:1::/48 2001:db8:2::/48]
  transform_sets:
    t: {transforms: [ah-sha256-hmac, esp-null]}
  ipsec: {lifetime: {seconds: 1200, kilobytes: 9000}, replay_window: disable}
  isakmp:
    policies: [{priority: 10, encryption: aes 256, hash: sha256, authentication: pre-share, group: 14, lifetime: 3600}]
    keys: [{key: k1, address: 192.0.2.0 255.255.255.0}]
    keepalive: {interval: 10, retry: 3, mode: periodic}
  dynamic_maps:
    d: [{seq: 10, transform_sets: t, match_address: vpn, replay_window: 128, per_host: true, reverse_route: true}]
  crypto_maps:
    m:
      local_address: outside
      entries:
        - {seq: 10, type: ipsec-manual, peers: 192.0.2.2, transform_sets: [t], match_address: "150",
           session_keys: {inbound: {ah: {spi: 300, key: 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff}, esp: {spi: 302}},
                          outbound: {ah: {spi: 301, key: ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100}, esp: {spi: 303}}}}
        - {seq: 20, dynamic_map: d}
  interfaces:
    outside: {addresses: [192.0.2.1/24, 192.0.2.9/24, 2001:db8::1/64], crypto_map: m}
`})
	cfg, err := Load(filepath.Join(dir, "gw.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Policy
	l := p.ACLs["150"].Lines[1]
	if l.Sel.Src != pfx("10.1.0.7/32") || l.Sel.SrcPorts.Lo != 5000 || l.Sel.DstPorts.Hi != 6010 || !l.Log || p.ACLs["vpn"].Lines[0].Sel.Dst != pfx("10.2.0.0/24") || !p.ACLs["v6"].IPv6 {
		t.Errorf("ACLs %+v", p.ACLs)
	}
	if ts := p.TransformSets["t"]; !ts.HasAH() || !ts.HasESP() {
		t.Errorf("transform set %+v", ts)
	}
	if p.IPsec.ReplayWindow != ReplayDisabled || p.IPsec.Lifetime.Kilobytes != 9000 || p.ISAKMP.Keepalive.Retry != 3 || p.ISAKMP.Keys[0].Peer != pfx("192.0.2.0/24") {
		t.Errorf("globals %+v %+v", p.IPsec, p.ISAKMP)
	}
	m := p.CryptoMaps["m"]
	if m.LocalAddress != "outside" || m.Entries[0].SessionKeys.OutboundAH.SPI != 301 || m.Entries[1].DynamicMap == nil {
		t.Errorf("map %+v", m)
	}
	if e := p.DynamicMaps["d"].Entries[0]; !e.PerHost || !e.ReverseRoute || e.ReplayWindow != 128 {
		t.Errorf("dynamic entry %+v", e)
	}
	if a := p.Interfaces["outside"].Addresses; len(a) != 3 || a[1] != pfx("192.0.2.9/24") {
		t.Errorf("addresses %v", a)
	}
}

func TestYAMLPolicyErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{"gw.yaml": `interfaces:
  - name: outside
    device: eth1
policy:
  transform_sets:
    t: {transforms: esp-gcm 128, modes: tunnel}
  crypto_maps:
    m:
      entries:
        - {seq: 10, peers: [192.0.2.2], transform_sets: [t, nope], match_address: "101"}
        - {peers: [192.0.2.2]}
        - {seq: 30, dynamic_map: d, peers: [192.0.2.3]}
  acls: {}
  interfaces:
    outside: {addresses: [192.0.2.1], crypto_map: m}
`})
	cfg, err := Load(filepath.Join(dir, "gw.yaml"))
	if err == nil {
		t.Fatal("no error")
	}
	checkDiags(t, cfg.Diags,
		`6 error: transform set t: unknown key "modes"`,
		"10 error: crypto map m 10: unknown access list 101",
		"10 error: crypto map m 10: unknown transform set nope",
		"11 error: crypto map m: entry has no seq",
		"12 error: crypto map m 30 includes dynamic map d: configure peers in the dynamic map's entries",
		"12 error: crypto map m 30: unknown dynamic map d",
		`13 error: policy: unknown key "acls"`,
		`15 error: interface outside: address "192.0.2.1": want ADDRESS/LENGTH`,
		"15 error: interface outside: crypto map m is applied but the interface has no IP address",
	)
}

func TestSystemSettings(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"gw.yaml": `interfaces:
  - name: inside
    driver: pcap
    mac: "02:00:00:00:00:11"
    pcap_in: in.pcap
    pcap_out: /tmp/out.pcap
  - name: outside
    driver: afxdp
    mtu: 9000
    queues: 4
    xdp_mode: native
neighbors:
  - {ip: 192.0.2.2, mac: "02:00:00:00:00:02", interface: outside}
routes:
  - {prefix: 10.2.0.0/16, next_hop: 192.0.2.2}
  - {prefix: 2001:db8:2::/48, interface: outside}
policy_file: gw.cfg
control:
  socket: /run/x.sock
metrics:
  listen: 127.0.0.1:9469
`,
		"gw.cfg": "interface inside\n ip address 10.1.0.1 255.255.255.0\ninterface outside\n ip address 192.0.2.1 255.255.255.0\nip route 0.0.0.0 0.0.0.0 192.0.2.254\n",
	})
	cfg, err := Load(filepath.Join(dir, "gw.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.System
	in, out := s.Interfaces[0], s.Interfaces[1]
	if in.Driver != DriverPcap || in.MAC.String() != "02:00:00:00:00:11" || in.PcapIn != filepath.Join(dir, "in.pcap") || in.PcapOut != "/tmp/out.pcap" || in.MTU != DefaultMTU || in.Pos.Line != 2 {
		t.Errorf("inside %+v", in)
	}
	if out.Driver != DriverAFXDP || out.Device != "outside" || out.MTU != 9000 || out.Queues != 4 || out.XDPMode != "native" {
		t.Errorf("outside %+v", out)
	}
	want := Dataplane{Batch: 64, RXRing: 2048, TXRing: 2048, FillRing: 4096, CompletionRing: 4096}
	if !reflect.DeepEqual(s.Dataplane, want) {
		t.Errorf("dataplane %+v", s.Dataplane)
	}
	if n := s.Neighbors[0]; n.IP != addr("192.0.2.2") || n.MAC.String() != "02:00:00:00:00:02" || n.Interface != "outside" {
		t.Errorf("neighbor %+v", n)
	}
	if s.Control.Socket != "/run/x.sock" || s.Metrics.Listen != "127.0.0.1:9469" || s.Metrics.SASeriesLimit != DefaultSASeriesLimit || s.Log != (Log{"info", "text"}) {
		t.Errorf("control/metrics/log %+v %+v %+v", s.Control, s.Metrics, s.Log)
	}
	// IOS routes first, then the system file's.
	r := cfg.Policy.Routes
	if len(r) != 3 || r[0].Prefix != pfx("0.0.0.0/0") || r[1].NextHop != addr("192.0.2.2") || r[2].Interface != "outside" || r[2].Pos.Line != 16 {
		t.Errorf("routes %+v", r)
	}
	if cfg.PolicyFile != filepath.Join(dir, "gw.cfg") {
		t.Errorf("policy file %q", cfg.PolicyFile)
	}
}

func TestSystemErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{"gw.yaml": `interfaces:
  - name: inside
    driver: pcap
  - name: inside
    driver: dpdk
  - name: x
    mac: "zz"
    mtu: 100
    pcap_in: a.pcap
    colour: red
dataplane:
  batch: 1000
  rx_ring: 1000
  workers: 4
  cpus: [1, 1]
  replay_window: 100
neighbors:
  - {ip: 192.0.2.300, mac: "02:00:00:00:00:02", interface: nope}
routes:
  - {prefix: 10.2.0.1/16, next_hop: 192.0.2.2}
  - {prefix: 10.3.0.0/16}
metrics:
  listen: localhost
log:
  level: loud
  format: xml
policy: |
  crypto map m 10
   set peer 192.0.2.2
bogus: 1
`})
	cfg, err := Load(filepath.Join(dir, "gw.yaml"))
	if err == nil {
		t.Fatal("no error")
	}
	checkDiags(t, cfg.Diags,
		`2 error: interface inside: driver pcap needs the interface's mac`,
		`2 error: interface inside: driver pcap needs pcap_in and/or pcap_out`,
		`2 warning: interface inside has no`,
		`4 error: interface inside is defined twice`,
		`4 warning: interface inside has no`,
		`5 error: interface inside: driver "dpdk": want afxdp or pcap`,
		`6 warning: interface x has no`,
		`7 error: interface x: malformed MAC address "zz"`,
		`8 error: interface x: mtu 100 out of range 576-9216`,
		`9 error: interface x: pcap_in and pcap_out are for driver pcap`,
		`10 error: interfaces: unknown setting "colour"`,
		`12 error: dataplane: batch 1000 out of range 1-256`,
		`13 error: dataplane: rx_ring 1000: want a power of two`,
		`15 error: dataplane: cpus: 1 is negative or listed twice`,
		`15 error: dataplane: 4 workers but only 2 cpus`,
		`16 error: dataplane: replay_window 100`,
		`18 error: neighbors[0]: malformed ip "192.0.2.300"`,
		`18 error: neighbor 192.0.2.300: unknown interface nope`,
		`20 error: routes[0]: 10.2.0.1/16 has host bits set`,
		`21 error: routes[1]: want next_hop and/or interface`,
		`23 error: metrics: listen "localhost": want HOST:PORT`,
		`25 error: log level "loud"`,
		`26 error: log format "xml"`,
		`28 error: crypto map m 10: no match address`,
		`28 error: crypto map m 10: no set transform-set`,
		`30 error: unknown setting "bogus"`,
	)
}

func TestEnvironmentOverrides(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"gw.yaml": `interfaces:
  - name: inside
    driver: afxdp
    device: eth0
  - name: outside
    device: eth1
neighbors:
  - {ip: 192.0.2.2, mac: "02:00:00:00:00:02"}
dataplane:
  batch: 64
metrics:
  listen: 127.0.0.1:9469
policy_file: a.cfg
`,
		"a.cfg": "hostname a\n",
		"b.cfg": "hostname b\n",
	})
	t.Setenv("IPSECGW_METRICS_LISTEN", "127.0.0.1:9999")
	t.Setenv("IPSECGW_METRICS_SA_SERIES_LIMIT", "5")
	t.Setenv("IPSECGW_DATAPLANE_BATCH", "32")
	t.Setenv("IPSECGW_DATAPLANE_CPUS", "2,3")
	t.Setenv("IPSECGW_CONTROL_SOCKET", "/tmp/gw.sock")
	t.Setenv("IPSECGW_LOG_FORMAT", "json")
	t.Setenv("IPSECGW_INTERFACES_OUTSIDE_DEVICE", "eth9")
	t.Setenv("IPSECGW_INTERFACES_0_MTU", "9000")
	t.Setenv("IPSECGW_INTERFACES_2_NAME", "dmz")
	t.Setenv("IPSECGW_INTERFACES_2_DEVICE", "eth2")
	t.Setenv("IPSECGW_NEIGHBORS", `[{"ip": "192.0.2.7", "mac": "02:00:00:00:00:07"}, {ip: 192.0.2.8, mac: "02:00:00:00:00:08"}]`)
	t.Setenv("IPSECGW_POLICY_FILE", "b.cfg")
	cfg, err := Load(filepath.Join(dir, "gw.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.System
	if s.Metrics.Listen != "127.0.0.1:9999" || s.Metrics.SASeriesLimit != 5 || s.Dataplane.Batch != 32 || !reflect.DeepEqual(s.Dataplane.CPUs, []int{2, 3}) ||
		s.Control.Socket != "/tmp/gw.sock" || s.Log.Format != "json" {
		t.Errorf("scalars: %+v %+v %+v %+v", s.Metrics, s.Dataplane, s.Control, s.Log)
	}
	if len(s.Interfaces) != 3 || s.Interfaces[1].Device != "eth9" || s.Interfaces[0].MTU != 9000 || s.Interfaces[2].Name != "dmz" || s.Interfaces[2].Device != "eth2" {
		t.Errorf("interfaces %+v %+v %+v", s.Interfaces[0], s.Interfaces[1], s.Interfaces[len(s.Interfaces)-1])
	}
	if len(s.Neighbors) != 2 || s.Neighbors[1].MAC.String() != (net.HardwareAddr{2, 0, 0, 0, 0, 8}).String() {
		t.Errorf("neighbors %+v", s.Neighbors)
	}
	if cfg.Policy.Hostname != "b" {
		t.Errorf("IPSECGW_POLICY_FILE: policy of %q", cfg.Policy.Hostname)
	}

	// A bad value names the variable it came from.
	t.Setenv("IPSECGW_LOG_LEVEL", "loud")
	t.Setenv("IPSECGW_INTERFACES_OUTSIDE_MAC", "nope")
	cfg, _ = Load(filepath.Join(dir, "gw.yaml"))
	want := []string{"$IPSECGW_INTERFACES_OUTSIDE_MAC: error: interface outside: malformed MAC address", "$IPSECGW_LOG_LEVEL: error: log level \"loud\""}
	var got []string
	for _, d := range cfg.Diags.Sorted() {
		if d.Severity == Error {
			got = append(got, d.String())
		}
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], want[0]) || !strings.HasPrefix(got[1], want[1]) {
		t.Errorf("errors %q", got)
	}

	t.Setenv("IPSECGW_INTERFACES_7_NAME", "x")
	if _, err := Load(filepath.Join(dir, "gw.yaml")); err == nil || !strings.Contains(err.Error(), "IPSECGW_INTERFACES_7_NAME: index 7 is past the end") {
		t.Errorf("gap in the list: %v", err)
	}
}

// TestFileForms loads the same gateway from TOML and JSON, with the policy
// inline, and a bare policy without extension.
func TestFileForms(t *testing.T) {
	ios := "crypto ipsec transform-set t esp-gcm 256\\naccess-list 101 permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255\\ncrypto map m 10\\n set peer 192.0.2.2\\n set transform-set t\\n match address 101\\ninterface outside\\n ip address 192.0.2.1 255.255.255.0\\n crypto map m\\n"
	dir := writeFiles(t, map[string]string{
		"gw.toml": `policy = "` + ios + `"
[[interfaces]]
name = "outside"
device = "eth1"
[dataplane]
batch = 128
`,
		"gw.json": `{"interfaces": [{"name": "outside", "device": "eth1"}], "dataplane": {"batch": 128}, "policy": "` + ios + `"}`,
		"gw.yml":  "interfaces:\n  - {name: outside, device: eth1}\ndataplane: {batch: 128}\npolicy: |\n  " + strings.ReplaceAll(strings.TrimSuffix(ios, "\\n"), "\\n", "\n  ") + "\n",
		"gw":      "dataplane:\n  batch: 128\npolicy_file: gw.txt\n",
		"gw.txt":  strings.ReplaceAll(ios, "\\n", "\n"),
		"router":  strings.ReplaceAll(ios, "\\n", "\n"),
	})
	var policies []*Policy
	for _, f := range []string{"gw.toml", "gw.json", "gw.yml", "gw", "router"} {
		cfg, err := Load(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if f != "router" && (cfg.System.Dataplane.Batch != 128) {
			t.Errorf("%s: batch %d", f, cfg.System.Dataplane.Batch)
		}
		if f == "router" && (cfg.PolicyFile != cfg.File || cfg.System.Dataplane.Batch != DefaultBatch) {
			t.Errorf("bare policy: %+v", cfg)
		}
		stripPos(cfg.Policy)
		policies = append(policies, cfg.Policy)
	}
	for i, p := range policies[1:] {
		if !reflect.DeepEqual(policies[0], p) {
			t.Errorf("form %d gives another policy", i+1)
		}
	}

	// Inline policies report lines of the system file.
	dir = writeFiles(t, map[string]string{"gw.yaml": "dataplane:\n  batch: 64\npolicy: |\n  crypto map m 10\n   set peer 192.0.2.2\n"})
	cfg, _ := Load(filepath.Join(dir, "gw.yaml"))
	checkDiags(t, cfg.Diags, "4 error: no match address", "4 error: no set transform-set")
	if cfg.Diags[0].Pos.File != filepath.Join(dir, "gw.yaml") {
		t.Errorf("inline position %v", cfg.Diags[0].Pos)
	}
}

func TestLoadProblems(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"both.yaml":     "policy_file: x.cfg\npolicy: |\n  hostname x\n",
		"missing.yaml":  "policy_file: nope.cfg\n",
		"nopolicy.yaml": "interfaces:\n  - {name: outside, device: eth1}\n",
		"list.yaml":     "- a\n- b\n",
		"badlist.yaml":  "interfaces: 5\n",
		"syntax.yaml":   "dataplane:\n  batch: 1\n bad: [\n",
		"syntax.toml":   "[dataplane]\nbatch = = 3\n",
		"cross.yaml":    "interfaces:\n  - {name: outside, device: eth1}\npolicy: |\n  interface inside\n   ip address 10.0.0.1 255.255.255.0\n   crypto map m\n  crypto ipsec transform-set t esp-gcm\n  access-list 101 permit ip 10.0.0.0 0.0.0.255 10.1.0.0 0.0.0.255\n  crypto map m 10\n   set peer 192.0.2.2\n   set transform-set t\n   match address 101\n",
	})
	cfg, _ := Load(filepath.Join(dir, "both.yaml"))
	checkDiags(t, cfg.Diags, "2 error: policy and policy_file are both set")
	cfg, _ = Load(filepath.Join(dir, "missing.yaml"))
	checkDiags(t, cfg.Diags, "1 error: policy_file: open")
	cfg, _ = Load(filepath.Join(dir, "nopolicy.yaml"))
	checkDiags(t, cfg.Diags, "0 warning: no policy or policy_file", "2 warning: interface outside has no `interface outside` stanza")
	cfg, _ = Load(filepath.Join(dir, "badlist.yaml"))
	checkDiags(t, cfg.Diags, `1 error: 'interfaces[0]' expected a map or struct, got "int"`)
	cfg, _ = Load(filepath.Join(dir, "list.yaml"))
	checkDiags(t, cfg.Diags, "1 error: want a mapping of settings at the top")
	cfg, _ = Load(filepath.Join(dir, "syntax.yaml"))
	checkDiags(t, cfg.Diags, "2 error: yaml: line 2:")
	cfg, _ = Load(filepath.Join(dir, "syntax.toml"))
	checkDiags(t, cfg.Diags, "2 error: toml")
	if cfg.Policy != nil {
		t.Error("a policy from a file that does not parse")
	}
	if _, err := Load(filepath.Join(dir, "absent.yaml")); err == nil {
		t.Error("a missing file loaded")
	}
	cfg, _ = Load(filepath.Join(dir, "cross.yaml"))
	checkDiags(t, cfg.Diags,
		"2 warning: interface outside has no `interface outside` stanza",
		"4 warning: interface inside has a crypto map but is not listed under interfaces:")
}
