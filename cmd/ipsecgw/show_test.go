package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"ipsecgw/control"
	"ipsecgw/control/controltest"
)

// These tests run the CLI against a real gateway in the test process
// (control/controltest: the manual-SA example with an IKEv2 entry and a
// dynamic map added, traffic flowing over memory ports), through its
// control socket, as an operator would.

// cli runs the command line and returns stdout+stderr and the exit code.
func cli(args ...string) (string, int) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	var ee exitError
	if err != nil && !errors.As(err, &ee) {
		fmt.Fprintln(&out, "ipsecgw:", err)
	}
	return out.String(), exitCode(err)
}

// startGateway runs gateway A with the extra entries and waits until both
// manual flows carry traffic both ways.
func startGateway(t *testing.T) *controltest.Gateway {
	t.Helper()
	g := controltest.Start(t, controltest.WriteConfig(t, "a", controltest.PolicyA(t, controltest.MoreEntries), 100))
	controltest.WaitFor(t, "traffic on both manual flows", func() bool {
		var flows []control.SAFlow
		if err := g.Client.Call(control.CmdShowIPsecSA, control.SAFilter{}, &flows); err != nil {
			t.Fatal(err)
		}
		ok := len(flows) == 2
		for _, f := range flows {
			ok = ok && f.Encaps > 0 && f.Decaps > 0
		}
		return ok
	})
	return g
}

// textAndJSON runs a show command as text and as JSON (traffic paused, so
// both see the same counters), checks that the JSON decodes into the view
// and renders to exactly the text, and returns the text.
func textAndJSON[V any](t *testing.T, g *controltest.Gateway, render func(*bytes.Buffer, V), args ...string) (string, V) {
	t.Helper()
	g.Pause()
	defer g.Resume()
	args = append(args, "--socket", g.Client.Path)
	text, code := cli(args...)
	if code != 0 {
		t.Fatalf("%v: exit %d\n%s", args, code, text)
	}
	js, code := cli(append(args, "--json")...)
	if code != 0 {
		t.Fatalf("%v --json: exit %d\n%s", args, code, js)
	}
	var v V
	if err := json.Unmarshal([]byte(js), &v); err != nil {
		t.Fatalf("%v --json: %v\n%s", args, err, js)
	}
	var b bytes.Buffer
	render(&b, v)
	if b.String() != text {
		t.Errorf("%v: the JSON renders differently from the text:\n--- text\n%s\n--- from JSON\n%s", args, text, b.String())
	}
	return text, v
}

func wantLines(t *testing.T, what, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s: missing %q in\n%s", what, w, text)
		}
	}
}

func TestShowCryptoMapLive(t *testing.T) {
	g := startGateway(t)
	render := func(b *bytes.Buffer, v []control.CryptoMapSet) { control.WriteCryptoMaps(b, v) }
	text, sets := textAndJSON(t, g, render, "show", "crypto", "map")
	wantLines(t, "show crypto map", text,
		`Crypto Map "vpn" 10 ipsec-manual`, "\tPeer = 192.0.2.2", "\tExtended IP access list 101",
		"\t    access-list 101 permit ip 10.1.1.0 0.0.0.255 10.2.1.0 0.0.0.255", "\tCurrent peer: 192.0.2.2",
		"\tTransform sets={ \n\t\tgcm128:  { esp-gcm 128 } , \n\t}", "\tInbound esp spi: 0x7D1(2001)", "\tOutbound esp spi: 0x3E9(1001)",
		`Crypto Map "vpn" 30 ipsec-isakmp`, "\tIKEv2 Profile: prof", "\tSecurity association lifetime: 4608000 kilobytes/3600 seconds",
		"\tResponder-Only (Y/N): N", "\tPFS (Y/N): Y\n\tDH group:  group19", "\tReplay window: 64 packets",
		"\t    access-list 103 deny ip 10.1.3.128 0.0.0.127 any",
		`Crypto Map "vpn" 100 ipsec-isakmp dynamic`, "\tDynamic map template tag: dyn",
		"\tInterfaces using crypto map vpn:\n\t\toutside\n")
	if len(sets) != 1 || len(sets[0].Entries) != 4 || sets[0].Entries[2].PFS != "group19" {
		t.Errorf("JSON: %+v", sets)
	}
	byIf, _ := textAndJSON(t, g, render, "show", "crypto", "map", "interface", "outside")
	byTag, _ := textAndJSON(t, g, render, "show", "crypto", "map", "tag", "vpn")
	if byIf != text || byTag != text {
		t.Error("interface outside and tag vpn should show the one map")
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"interface", "inside"}, 1, "interface inside has no crypto map"},
		{[]string{"tag", "nosuch"}, 1, "no crypto map nosuch"},
		{[]string{"interface"}, 2, "interface needs 1 value"},
		{[]string{"interface", "outside", "tag", "vpn"}, 2, "not both"},
		{[]string{"bogus"}, 2, `unexpected "bogus"`},
	} {
		out, code := cli(append(append([]string{"show", "crypto", "map"}, c.args...), "--socket", g.Client.Path)...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("show crypto map %v: exit %d, want %d with %q:\n%s", c.args, code, c.code, c.want, out)
		}
	}
}

func TestShowCryptoIPsecSALive(t *testing.T) {
	g := startGateway(t)
	render := func(detail bool) func(*bytes.Buffer, []control.SAFlow) {
		return func(b *bytes.Buffer, v []control.SAFlow) { control.WriteIPsecSAs(b, v, detail) }
	}
	text, flows := textAndJSON(t, g, render(false), "show", "crypto", "ipsec", "sa")
	if len(flows) != 2 {
		t.Fatalf("%d flows, want the 2 manual ones:\n%s", len(flows), text)
	}
	f := flows[0]
	wantLines(t, "show crypto ipsec sa", text,
		"interface: outside\n    Crypto map tag: vpn, local addr 192.0.2.1\n",
		"   local  ident (addr/mask/prot/port): (10.1.1.0/255.255.255.0/0/0)\n   remote ident (addr/mask/prot/port): (10.2.1.0/255.255.255.0/0/0)\n",
		"   current_peer 192.0.2.2 port 500\n",
		fmt.Sprintf("    #pkts encaps: %d, #pkts encrypt: %d, #pkts digest: %d\n", f.Encaps, f.Encaps, f.Encaps),
		fmt.Sprintf("    #pkts decaps: %d, #pkts decrypt: %d, #pkts verify: %d\n", f.Decaps, f.Decaps, f.Decaps),
		"    #send errors 0, #recv errors 0\n",
		"     local crypto endpt.: 192.0.2.1, remote crypto endpt.: 192.0.2.2\n",
		"     plaintext mtu 1443, path mtu 1500, ip mtu 1500, ip mtu idb outside\n",
		"     current outbound spi: 0x3E9(1001)\n", "     PFS (Y/N): N, DH group: none\n",
		"     inbound esp sas:\n      spi: 0x7D1(2001)\n        transform: esp-gcm 128 ,\n        in use settings ={Tunnel, }\n",
		"        sa timing: remaining key lifetime (k/sec): (unlimited/unlimited)\n        replay detection support: N\n        Status: ACTIVE\n",
		"     outbound esp sas:\n      spi: 0x3E9(1001)\n",
		"     outbound esp sas:\n      spi: 0x3EA(1002)\n        transform: esp-aes 256 esp-sha256-hmac ,\n",
		"     inbound ah sas:\n", "     outbound ah sas:\n")
	if f.Inbound[0].Packets != f.Decaps || f.Outbound[0].Packets != f.Encaps || f.Inbound[0].ConnID == 0 {
		t.Errorf("flow counters disagree with its SAs: %+v", f)
	}

	detail, _ := textAndJSON(t, g, render(true), "show", "crypto", "ipsec", "sa", "detail")
	wantLines(t, "detail", detail, "#bytes encaps: ", "#send drops: auth_failed 0, bad_padding 0", "sequence number ", "drops: auth_failed 0")
	_, byPeer := textAndJSON(t, g, render(false), "show", "crypto", "ipsec", "sa", "peer", "192.0.2.2")
	_, byMap := textAndJSON(t, g, render(true), "show", "crypto", "ipsec", "sa", "map", "vpn", "detail")
	none, other := textAndJSON(t, g, render(false), "show", "crypto", "ipsec", "sa", "peer", "192.0.2.9")
	if len(byPeer) != 2 || len(byMap) != 2 || len(other) != 0 || none != "" {
		t.Errorf("filters: peer %d, map %d, other peer %d flows (%q)", len(byPeer), len(byMap), len(other), none)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"peer", "nonsense"}, 1, `peer "nonsense": not an IP address`},
		{[]string{"map", "nosuch"}, 1, "no crypto map nosuch"},
		{[]string{"detail", "detail"}, 2, `unexpected "detail"`},
	} {
		out, code := cli(append(append([]string{"show", "crypto", "ipsec", "sa"}, c.args...), "--socket", g.Client.Path)...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("show crypto ipsec sa %v: exit %d, want %d with %q:\n%s", c.args, code, c.code, c.want, out)
		}
	}
}

func TestShowOtherLive(t *testing.T) {
	g := startGateway(t)
	ts, sets := textAndJSON(t, g, func(b *bytes.Buffer, v []control.TransformSet) { control.WriteTransformSets(b, v) },
		"show", "crypto", "ipsec", "transform-set")
	wantLines(t, "transform-set", ts, "Transform set gcm128: { esp-gcm 128 }\n   will negotiate = { Tunnel,  },\n",
		"Transform set aes256-sha256: { esp-aes 256 esp-sha256-hmac }\n")
	one, tagged := textAndJSON(t, g, func(b *bytes.Buffer, v []control.TransformSet) { control.WriteTransformSets(b, v) },
		"show", "crypto", "ipsec", "transform-set", "tag", "gcm128")
	if len(sets) != 2 || len(tagged) != 1 || strings.Contains(one, "aes256") {
		t.Errorf("transform sets %+v, tagged %+v", sets, tagged)
	}

	dyn, dms := textAndJSON(t, g, func(b *bytes.Buffer, v []control.DynamicMap) { control.WriteDynamicMaps(b, v) },
		"show", "crypto", "dynamic-map")
	wantLines(t, "dynamic-map", dyn, `Crypto Map Template "dyn" 10`, "\t    access-list 104 permit ip 10.1.4.0 0.0.0.255 10.2.4.0 0.0.0.255",
		"\tCurrent peer: (none)", "\tResponder-Only (Y/N): Y", "\t\tgcm128:  { esp-gcm 128 } , ")
	if len(dms) != 1 || dms[0].Name != "dyn" {
		t.Errorf("dynamic maps %+v", dms)
	}

	ike, ikeSAs := textAndJSON(t, g, func(b *bytes.Buffer, v []control.IKEv2SA) { control.WriteIKEv2SAs(b, v) }, "show", "crypto", "ikev2", "sa")
	wantLines(t, "ikev2 sa", ike, " IPv4 Crypto IKEv2  SA \n", " IPv6 Crypto IKEv2  SA \n")
	isakmp, isakmpSAs := textAndJSON(t, g, func(b *bytes.Buffer, v []control.ISAKMPSA) { control.WriteISAKMPSAs(b, v) }, "show", "crypto", "isakmp", "sa")
	wantLines(t, "isakmp sa", isakmp, "IPv4 Crypto ISAKMP SA\ndst             src             state          conn-id status\n")
	if len(ikeSAs) != 0 || len(isakmpSAs) != 0 {
		t.Errorf("IKE SAs on a gateway without IKE: %v %v", ikeSAs, isakmpSAs)
	}

	rc, _ := textAndJSON(t, g, func(b *bytes.Buffer, v control.RunningConfig) { b.WriteString(v.Text) }, "show", "running-config")
	wantLines(t, "running-config", rc, "crypto map vpn 10 ipsec-manual\n", " set session-key outbound esp 1001 cipher <redacted>\n",
		"crypto dynamic-map dyn 10\n", "  pre-shared-key <redacted>\n")
	if out, code := cli("show", "running-config", "--secrets", "--socket", g.Client.Path); code != 2 || !strings.Contains(out, "never carries keys") {
		t.Errorf("--secrets over the socket: exit %d\n%s", code, out)
	}
	// -c FILE finds the socket from the configuration.
	if out, code := cli("show", "crypto", "ipsec", "transform-set", "-c", g.Path); code != 0 || out != ts {
		t.Errorf("with -c: exit %d\n%s", code, out)
	}
}

func TestDebugLive(t *testing.T) {
	g := startGateway(t)
	sock := []string{"--socket", g.Client.Path}
	render := func(b *bytes.Buffer, v []control.DebugState) { control.WriteDebugging(b, v) }
	out, code := cli(append([]string{"undebug", "all"}, sock...)...)
	if code != 0 || out != "No debugging is on\n" {
		t.Fatalf("undebug all: exit %d\n%s", code, out)
	}
	if out, code = cli(append([]string{"debug", "crypto", "ikev2"}, sock...)...); code != 0 || out != "Crypto Subsystem:\n  Crypto IKEv2 debugging is on\n" {
		t.Errorf("debug crypto ikev2: exit %d\n%s", code, out)
	}
	text, states := textAndJSON(t, g, render, "show", "debugging")
	if text != "Crypto Subsystem:\n  Crypto IKEv2 debugging is on\n" {
		t.Errorf("show debugging:\n%s", text)
	}
	for _, s := range states {
		if s.Debug != (s.Subsystem == "ikev2") {
			t.Errorf("JSON: %+v", s)
		}
	}
	if out, code = cli(append([]string{"debug", "crypto", "all"}, sock...)...); code != 0 || strings.Count(out, "debugging is on") != 4 {
		t.Errorf("debug crypto all: exit %d\n%s", code, out)
	}
	if out, code = cli(append([]string{"undebug", "crypto", "ipsec"}, sock...)...); code != 0 || strings.Contains(out, "IPSEC") || strings.Count(out, "debugging is on") != 3 {
		t.Errorf("undebug crypto ipsec: exit %d\n%s", code, out)
	}
	if out, code = cli(append([]string{"debug", "crypto", "nosuch"}, sock...)...); code != 1 || !strings.Contains(out, `no subsystem "nosuch"`) {
		t.Errorf("debug crypto nosuch: exit %d\n%s", code, out)
	}
	if out, code = cli(append([]string{"undebug", "everything"}, sock...)...); code != 2 {
		t.Errorf("undebug everything: exit %d\n%s", code, out)
	}
	if !strings.Contains(g.Log(), "debugging changed") {
		t.Error("debug changes are not logged")
	}
}

func TestClearLive(t *testing.T) {
	g := startGateway(t)
	sock := []string{"--socket", g.Client.Path}
	flows := func() []control.SAFlow {
		var fl []control.SAFlow
		if err := g.Client.Call(control.CmdShowIPsecSA, control.SAFilter{}, &fl); err != nil {
			t.Fatal(err)
		}
		return fl
	}
	ids := func(fl []control.SAFlow) (out []int) {
		for _, f := range fl {
			for _, sa := range append(f.Inbound, f.Outbound...) {
				out = append(out, sa.ConnID)
			}
		}
		return out
	}
	for _, c := range []struct {
		args    []string
		out     string
		changed int // SAs replaced (new conn ids)
	}{
		{[]string{"entry", "192.0.2.1", "esp", "2001"}, "0 negotiated SAs deleted, 2 manual SAs reinstalled with fresh counters\n", 2},
		{[]string{"entry", "192.0.2.2", "esp", "0x3EA"}, "0 negotiated SAs deleted, 2 manual SAs reinstalled with fresh counters\n", 2},
		{[]string{"peer", "192.0.2.2"}, "0 negotiated SAs deleted, 4 manual SAs reinstalled with fresh counters\n", 4},
		{[]string{"map", "vpn"}, "0 negotiated SAs deleted, 4 manual SAs reinstalled with fresh counters\n", 4},
		{nil, "0 negotiated SAs deleted, 4 manual SAs reinstalled with fresh counters\n", 4},
	} {
		before := ids(flows())
		out, code := cli(append(append([]string{"clear", "crypto", "sa"}, c.args...), sock...)...)
		if code != 0 || out != c.out {
			t.Errorf("clear crypto sa %v: exit %d\n%s", c.args, code, out)
			continue
		}
		after := flows()
		changed := 0
		for i, id := range ids(after) {
			if id != before[i] {
				changed++
			}
		}
		if changed != c.changed || len(after) != 2 {
			t.Errorf("clear crypto sa %v: %d SAs changed, want %d", c.args, changed, c.changed)
		}
		// The reinstalled SAs carry traffic again.
		controltest.WaitFor(t, "traffic after clear", func() bool {
			fl := flows()
			return fl[0].Decaps > 0 && fl[1].Decaps > 0 && fl[0].Encaps > 0 && fl[1].Encaps > 0
		})
	}
	out, code := cli(append([]string{"clear", "crypto", "session", "--json"}, sock...)...)
	var res control.Cleared
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Reinstalled != 4 {
		t.Errorf("clear crypto session --json: exit %d\n%s", code, out)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"entry", "192.0.2.9", "esp", "5000"}, 1, "no SA with destination 192.0.2.9, protocol esp, SPI 5000"},
		{[]string{"entry", "192.0.2.1", "gre", "2001"}, 1, `protocol "gre": want esp or ah`},
		{[]string{"entry", "192.0.2.1", "esp", "x"}, 2, `SPI "x"`},
		{[]string{"entry", "192.0.2.1", "esp"}, 2, "entry needs 3 value(s)"},
		{[]string{"peer", "a.b"}, 1, `peer "a.b": not an IP address`},
		{[]string{"map", "nosuch"}, 1, "no crypto map nosuch"},
		{[]string{"peer", "192.0.2.2", "map", "vpn"}, 2, "give one of peer, map or entry"},
	} {
		out, code := cli(append(append([]string{"clear", "crypto", "sa"}, c.args...), sock...)...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("clear crypto sa %v: exit %d, want %d with %q:\n%s", c.args, code, c.code, c.want, out)
		}
	}
}

func TestReloadAndExplainLive(t *testing.T) {
	g := startGateway(t)
	sock := []string{"--socket", g.Client.Path}
	out, code := cli(append([]string{"reload"}, sock...)...)
	if code != 0 || !strings.Contains(out, "Reloaded "+g.Path) || !strings.Contains(out, "SAs: 4 kept, 0 replaced, 0 added, 0 removed, 0 unbound") {
		t.Errorf("reload: exit %d\n%s", code, out)
	}
	controltest.WriteFile(t, filepath.Join(filepath.Dir(g.Path), "policy.cfg"), "crypto map vpn 10 ipsec-manual\n set transform-set nosuch\n")
	out, code = cli(append([]string{"reload", "--json"}, sock...)...)
	var res control.ReloadResult
	if code != 1 || json.Unmarshal([]byte(out), &res) != nil || res.Applied || len(res.Errors) == 0 {
		t.Errorf("reload of a broken configuration: exit %d\n%s", code, out)
	}
	out, code = cli(append([]string{"reload"}, sock...)...)
	if code != 1 || !strings.Contains(out, "rejected; the running configuration is unchanged") || !strings.Contains(out, "policy.cfg:2: error:") {
		t.Errorf("reload of a broken configuration: exit %d\n%s", code, out)
	}

	text, x := textAndJSON(t, g, func(b *bytes.Buffer, v *control.Explanation) { control.WriteExplanation(b, v) },
		"explain", "--in", "inside", "10.1.1.10", "10.2.1.10", "tcp", "40000", "443")
	wantLines(t, "explain", text, "Packet: 10.1.1.10 -> 10.2.1.10 tcp 40000 -> 443 arriving on inside (live, from the running gateway)",
		"Result: PROTECT", "Action: protect", "outbound esp SA spi 0x3E9(1001) to 192.0.2.2, esp-gcm 128, tunnel")
	if x.Action != control.ActionProtect || x.SA == nil || x.SA.SPI != 1001 || x.Entry == nil || x.Entry.Line != 1 {
		t.Errorf("explain JSON: %+v", x)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"10.1.1.10", "10.2.1.10"}, 2, "--in IF"},
		{[]string{"--in", "inside", "10.1.1.10"}, 2, "want SRC DST"},
		{[]string{"--in", "inside", "10.1.1.10", "10.2.1.10", "icmp", "1", "2"}, 2, "ports are for tcp and udp"},
		{[]string{"--in", "inside", "10.1.1.10", "10.2.1.10", "bogus"}, 2, `protocol "bogus"`},
		{[]string{"--in", "nosuch", "10.1.1.10", "10.2.1.10"}, 1, "no interface nosuch (the gateway's interfaces: inside, outside)"},
		{[]string{"--in", "inside", "10.1.1.10", "2001:db8::1"}, 1, "different address families"},
	} {
		out, code := cli(append(append([]string{"explain"}, c.args...), sock...)...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("explain %v: exit %d, want %d with %q:\n%s", c.args, code, c.code, c.want, out)
		}
	}
}

// TestNoGateway: commands that need a running gateway say clearly that
// none listens, with exit status 1.
func TestNoGateway(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	for _, args := range [][]string{
		{"show", "crypto", "ipsec", "sa"}, {"show", "crypto", "map"}, {"show", "running-config"}, {"show", "debugging"},
		{"clear", "crypto", "sa"}, {"debug", "crypto", "all"}, {"reload"}, {"explain", "--in", "inside", "10.1.1.1", "10.2.1.1"},
	} {
		out, code := cli(append(args, "--socket", sock)...)
		if code != 1 || !strings.Contains(out, "no gateway is listening on "+sock) {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
}

// TestShowFiltersLive runs every filter of the show commands on a gateway
// with two crypto maps (vpn on outside, lan on inside) and checks that
// each filter shows exactly its part, as text and as JSON.
func TestShowFiltersLive(t *testing.T) {
	policy := strings.Replace(controltest.PolicyA(t, controltest.MoreEntries), "interface inside\n ip address 10.1.0.1 255.255.0.0\n",
		"interface inside\n ip address 10.1.0.1 255.255.0.0\n crypto map lan\n", 1) + `crypto map lan 10 ipsec-isakmp
 set peer 10.1.0.99
 set transform-set aes256-sha256
 set ikev2-profile prof
 match address 110
access-list 110 permit ip 10.1.0.0 0.0.255.255 10.9.0.0 0.0.255.255
`
	g := controltest.Start(t, controltest.WriteConfig(t, "a", policy, 100))
	maps := func(b *bytes.Buffer, v []control.CryptoMapSet) { control.WriteCryptoMaps(b, v) }
	all, sets := textAndJSON(t, g, maps, "show", "crypto", "map")
	if len(sets) != 2 || !strings.Contains(all, `Crypto Map "lan" 10 ipsec-isakmp`) || !strings.Contains(all, `Crypto Map "vpn" 10 ipsec-manual`) {
		t.Fatalf("show crypto map: %d sets\n%s", len(sets), all)
	}
	for _, c := range []struct {
		args      []string
		want, not string
	}{
		{[]string{"interface", "inside"}, `Crypto Map "lan" 10`, `Crypto Map "vpn"`},
		{[]string{"interface", "outside"}, `Crypto Map "vpn" 100`, `Crypto Map "lan"`},
		{[]string{"tag", "lan"}, "\tInterfaces using crypto map lan:\n\t\tinside\n", `Crypto Map "vpn"`},
		{[]string{"tag", "vpn"}, "\tInterfaces using crypto map vpn:\n\t\toutside\n", `Crypto Map "lan"`},
	} {
		text, v := textAndJSON(t, g, maps, append([]string{"show", "crypto", "map"}, c.args...)...)
		if len(v) != 1 || !strings.Contains(text, c.want) || strings.Contains(text, c.not) || !strings.Contains(all, text) {
			t.Errorf("show crypto map %v: %d sets\n%s", c.args, len(v), text)
		}
	}

	sas := func(detail bool) func(*bytes.Buffer, []control.SAFlow) {
		return func(b *bytes.Buffer, v []control.SAFlow) { control.WriteIPsecSAs(b, v, detail) }
	}
	for _, c := range []struct {
		args  []string
		flows int
	}{
		{[]string{"peer", "192.0.2.2"}, 2},
		{[]string{"peer", "10.1.0.99"}, 0},
		{[]string{"map", "vpn"}, 2},
		{[]string{"map", "lan"}, 0},
		{[]string{"map", "vpn", "detail"}, 2},
		{[]string{"peer", "192.0.2.2", "detail"}, 2},
	} {
		detail := slices.Contains(c.args, "detail")
		text, v := textAndJSON(t, g, sas(detail), append([]string{"show", "crypto", "ipsec", "sa"}, c.args...)...)
		if len(v) != c.flows || strings.Count(text, "current_peer 192.0.2.2") != c.flows || strings.Contains(text, "#bytes encaps") != (detail && c.flows > 0) {
			t.Errorf("show crypto ipsec sa %v: %d flows\n%s", c.args, len(v), text)
		}
	}

	dyn := func(b *bytes.Buffer, v []control.DynamicMap) { control.WriteDynamicMaps(b, v) }
	allDyn, _ := textAndJSON(t, g, dyn, "show", "crypto", "dynamic-map")
	tagged, v := textAndJSON(t, g, dyn, "show", "crypto", "dynamic-map", "tag", "dyn")
	if len(v) != 1 || tagged != allDyn {
		t.Errorf("show crypto dynamic-map tag dyn: %+v\n%s", v, tagged)
	}
	ts := func(b *bytes.Buffer, v []control.TransformSet) { control.WriteTransformSets(b, v) }
	one, sets2 := textAndJSON(t, g, ts, "show", "crypto", "ipsec", "transform-set", "tag", "aes256-sha256")
	if len(sets2) != 1 || sets2[0].Transforms != "esp-aes 256 esp-sha256-hmac" || strings.Contains(one, "gcm128") {
		t.Errorf("show crypto ipsec transform-set tag aes256-sha256: %+v\n%s", sets2, one)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"show", "crypto", "dynamic-map", "tag", "nosuch"}, "no dynamic map nosuch"},
		{[]string{"show", "crypto", "ipsec", "transform-set", "tag", "nosuch"}, "no transform set nosuch"},
	} {
		out, code := cli(append(c.args, "--socket", g.Client.Path)...)
		if code != 1 || !strings.Contains(out, c.want) {
			t.Errorf("%v: exit %d, want 1 with %q:\n%s", c.args, code, c.want, out)
		}
	}
}

// TestClearSessionLive: clear crypto session as text, and the SAs carry
// traffic again afterwards.
func TestClearSessionLive(t *testing.T) {
	g := startGateway(t)
	out, code := cli("clear", "crypto", "session", "--socket", g.Client.Path)
	if code != 0 || out != "0 negotiated SAs deleted, 4 manual SAs reinstalled with fresh counters\n" {
		t.Errorf("clear crypto session: exit %d\n%s", code, out)
	}
	controltest.WaitFor(t, "traffic after clear crypto session", func() bool {
		var flows []control.SAFlow
		if err := g.Client.Call(control.CmdShowIPsecSA, control.SAFilter{}, &flows); err != nil {
			t.Fatal(err)
		}
		return len(flows) == 2 && flows[0].Decaps > 0 && flows[1].Encaps > 0
	})
}

// TestSocketFromEnvironment: without --socket or -c, the commands find the
// gateway through IPSECGW_CONTROL_SOCKET, the variable that sets
// control.socket for the gateway itself.
func TestSocketFromEnvironment(t *testing.T) {
	g := controltest.Start(t, controltest.WriteConfig(t, "a", "", 100))
	t.Setenv("IPSECGW_CONTROL_SOCKET", g.Client.Path)
	for _, args := range [][]string{{"show", "crypto", "ipsec", "transform-set"}, {"explain", "--in", "inside", "10.1.1.10", "10.2.1.10"}} {
		if out, code := cli(args...); code != 0 || out == "" {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
	// --socket still wins.
	sock := filepath.Join(t.TempDir(), "none.sock")
	if out, code := cli("show", "crypto", "ipsec", "sa", "--socket", sock); code != 1 || !strings.Contains(out, sock) {
		t.Errorf("--socket with the variable set: exit %d\n%s", code, out)
	}
}
