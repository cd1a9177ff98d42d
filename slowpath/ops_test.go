package slowpath_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ipsecgw/config"
	"ipsecgw/control"
	"ipsecgw/control/controltest"
	"ipsecgw/crypto"
	"ipsecgw/fastpath"
	"ipsecgw/fastpath/sad"
	"ipsecgw/fastpath/stats"
	"ipsecgw/slowpath"
	"ipsecgw/spd"
)

// manualPair returns the installed manual SA pair of entry seq.
func manualPair(t *testing.T, g *slowpath.Gateway, seq int) *slowpath.ManualSA {
	t.Helper()
	for _, m := range g.Manual {
		if m.Seq == seq {
			return m
		}
	}
	return nil
}

// installNegotiated installs an SA pair as the IKE integration does for a
// CHILD_SA of crypto map entry seq (permit selector sel), bound to the
// entry's permit line, and returns the outbound SA.
func installNegotiated(t *testing.T, g *slowpath.Gateway, seq int, sel spd.Selector, spiIn, spiOut uint32) *sad.SA {
	t.Helper()
	in, out := negotiatedSA(t, g, seq, sel, sad.Inbound, spiIn), negotiatedSA(t, g, seq, sel, sad.Outbound, spiOut)
	if err := g.Engine.SAD().Install(in, out); err != nil {
		t.Fatal(err)
	}
	err := g.Engine.UpdateTables(func(tb *fastpath.Tables) (*fastpath.Tables, error) {
		i := tb.Interface("outside")
		c := tb.Interfaces[i].Crypto
		for r := range c.SPD.Len() {
			if rule := c.SPD.Rule(r); rule.Permit && rule.Sel == sel {
				n, err := c.WithSAs([]fastpath.Binding{{Rule: r, SA: out}}, nil)
				if err != nil {
					return nil, err
				}
				return tb.WithCryptoMap(i, n), nil
			}
		}
		t.Fatalf("no permit rule %v", sel)
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// negotiatedSA is an SA as IKE would negotiate it for crypto map vpn
// entry seq (esp-gcm 128 with 192.0.2.2), not installed.
func negotiatedSA(t testing.TB, g *slowpath.Gateway, seq int, sel spd.Selector, dir sad.Direction, spi uint32) *sad.SA {
	t.Helper()
	local, peer := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	sa, err := sad.New(sad.Config{
		SPI: spi, Protocol: sad.ESP, Direction: dir, Local: local, Remote: peer, Peer: peer,
		Transform: crypto.Transform{Cipher: crypto.CipherAESGCM16, KeyBits: 128}, CipherKey: make([]byte, 20),
		ReplayWindow: 64, Selectors: []spd.Selector{sel},
		Lifetime: sad.Lifetime{HardBytes: 4608000 * 1024},
		Info:     sad.Info{Map: "vpn", MapSeq: seq, Interface: "outside"},
	}, g.Workers)
	if err != nil {
		t.Fatal(err)
	}
	return sa
}

func bound(g *slowpath.Gateway, sa *sad.SA) bool {
	t := g.Engine.Tables()
	for _, b := range t.Interfaces[t.Interface("outside")].Crypto.Bindings() {
		if b.SA == sa {
			return true
		}
	}
	return false
}

// TestReloadWithTraffic changes the configuration of a gateway carrying
// traffic: the untouched manual SAs keep counting (same SAs, counters and
// sequence numbers go on), changed ones are replaced, new ones added,
// removed ones deleted; negotiated SAs stay bound through a transform-set
// change and are unbound when their ACL line goes; an invalid
// configuration is rejected while the old one keeps running.
func TestReloadWithTraffic(t *testing.T) {
	base := controltest.PolicyA(t, controltest.MoreEntries)
	path := controltest.WriteConfig(t, "a", base, 100)
	policy := filepath.Join(filepath.Dir(path), "policy.cfg")
	g := controltest.Start(t, path)
	ops := g.Ops
	sel := spd.Selector{Src: netip.MustParsePrefix("10.1.3.0/24"), Dst: netip.MustParsePrefix("10.2.3.0/24")}
	negotiated := installNegotiated(t, ops.Gateway(), 30, sel, 0x5001, 0x5002)

	e10, e20 := manualPair(t, ops.Gateway(), 10), manualPair(t, ops.Gateway(), 20)
	controltest.WaitFor(t, "traffic on entry 10", func() bool { return e10.In.Counters().Packets > 50 && e20.In.Counters().Packets > 0 })
	before := e10.Out.Counters().Packets

	// Entry 20 gets new keys (SPIs kept), entry 40 is added, and the
	// transform set of entry 30 changes.
	changed := strings.NewReplacer(
		"cipher d288c73912703f6549088aee684b7c5538fd851660aaa9e6f6fe94330cd7138b", "cipher 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		"cipher 051807d6472da3f89a31cb0bda8582d7fdd7fc887bfc65d89e00b3642b9337f9", "cipher ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100",
		"crypto ipsec transform-set gcm128 esp-gcm 128", "crypto ipsec transform-set gcm128 esp-gcm 256",
	).Replace(base) + `crypto map vpn 40 ipsec-manual
 set peer 192.0.2.2
 set transform-set aes256-sha256
 set session-key inbound esp 2004 cipher 0102030405060708090a0b0c0d0e0f100102030405060708090a0b0c0d0e0f10 authenticator 0102030405060708090a0b0c0d0e0f100102030405060708090a0b0c0d0e0f10
 set session-key outbound esp 1004 cipher 1102030405060708090a0b0c0d0e0f101102030405060708090a0b0c0d0e0f10 authenticator 1102030405060708090a0b0c0d0e0f101102030405060708090a0b0c0d0e0f10
 match address 105
access-list 105 permit ip 10.1.5.0 0.0.0.255 10.2.5.0 0.0.0.255
`
	// The gcm128 change would replace entry 10 too: give entry 10 a set
	// of its own with the old transform.
	changed = strings.Replace(changed, "crypto map vpn 10 ipsec-manual\n", "crypto ipsec transform-set gcm128old esp-gcm 128\ncrypto map vpn 10 ipsec-manual\n", 1)
	changed = strings.Replace(changed, " set transform-set gcm128\n set session-key inbound esp 2001", " set transform-set gcm128old\n set session-key inbound esp 2001", 1)
	controltest.WriteFile(t, policy, changed)
	res, err := ops.Reload()
	if err != nil || !res.Applied {
		t.Fatalf("reload: %v %+v", err, res)
	}
	// 2 manual SAs of entry 10 + the 2 negotiated ones kept.
	if res.Kept != 4 || res.Replaced != 2 || res.Added != 2 || res.Removed != 0 || res.Unbound != 0 {
		t.Errorf("reload counts: %+v", res)
	}
	joined := strings.Join(res.Changes, "\n")
	for _, w := range []string{"crypto map vpn 20: manual SAs replaced", "crypto map vpn 40: manual SAs added",
		"transform set gcm128 changed to esp-gcm 256 tunnel: applies to SAs negotiated from now on", "transform set gcm128old added"} {
		if !strings.Contains(joined, w) {
			t.Errorf("changes lack %q:\n%s", w, joined)
		}
	}
	ng := ops.Gateway()
	n10, n20, n40 := manualPair(t, ng, 10), manualPair(t, ng, 20), manualPair(t, ng, 40)
	if n10.Out != e10.Out || n10.In != e10.In || !bound(ng, e10.Out) {
		t.Fatal("entry 10's SAs were replaced though nothing about them changed")
	}
	if n20.Out == e20.Out || n20.In == e20.In || !e20.Out.Dead() || bound(ng, e20.Out) || !bound(ng, n20.Out) {
		t.Fatal("entry 20's SAs were not replaced")
	}
	if n40 == nil || !bound(ng, n40.Out) {
		t.Fatal("entry 40 was not installed")
	}
	if !bound(ng, negotiated) || negotiated.Config().Transform.KeyBits != 128 {
		t.Fatal("the negotiated SA did not survive the transform-set change as it was")
	}
	// Entry 10 goes on counting where it was; entry 20's new inbound SA
	// cannot open what the peer still encrypts with the old cipher key:
	// the authenticator key did not change, so the ICV verifies and the
	// wrongly decrypted trailer fails the padding check.
	controltest.WaitFor(t, "traffic after the reload", func() bool {
		return e10.Out.Counters().Packets > before+50 && n20.In.Counters().Drops[stats.BadPadding] > 0 && n20.Out.Counters().Packets > 0
	})
	if e10.Out.Seq() < before {
		t.Errorf("entry 10's sequence numbers restarted")
	}

	// An invalid configuration is rejected; traffic goes on.
	controltest.WriteFile(t, policy, changed+"crypto map vpn 50 ipsec-manual\n set transform-set nosuch\n")
	res, err = ops.Reload()
	if err != nil || res.Applied || len(res.Errors) == 0 || !strings.Contains(res.Errors[0], "policy.cfg:") || ops.Gateway() != ng {
		t.Fatalf("invalid reload: %v %+v", err, res)
	}
	mark := e10.Out.Counters().Packets
	controltest.WaitFor(t, "traffic after the rejected reload", func() bool { return e10.Out.Counters().Packets > mark+20 })

	// Entry 40 removed, and entry 30's ACL line changed: the negotiated
	// SA is unbound.
	controltest.WriteFile(t, policy, strings.Replace(strings.Replace(changed, "crypto map vpn 40 ipsec-manual", "crypto map vpn 41 ipsec-manual", 1),
		"access-list 103 permit ip 10.1.3.0 0.0.0.255 10.2.3.0 0.0.0.255", "access-list 103 permit ip 10.1.3.0 0.0.0.127 10.2.3.0 0.0.0.255", 1))
	res, err = ops.Reload()
	if err != nil || !res.Applied || res.Removed != 2 || res.Added != 2 || res.Unbound != 1 || bound(ops.Gateway(), negotiated) {
		t.Fatalf("reload: %v %+v", err, res)
	}
	if manualPair(t, ops.Gateway(), 10).Out != e10.Out {
		t.Error("entry 10 replaced by an unrelated change")
	}
	// With the old SA unbound, the flow asks IKE for a new one, which is
	// negotiated with the transform set as it is now.
	x, err := ops.Explain(control.ExplainRequest{In: "inside", Src: "10.1.3.10", Dst: "10.2.3.10"})
	if err != nil || x.Action != control.ActionNegotiate || x.Proposal == nil || len(x.Proposal.TransformSets) != 1 ||
		x.Proposal.TransformSets[0].Transforms != "esp-gcm 256" {
		t.Errorf("after the reload a new SA should be proposed with esp-gcm 256: %v %+v", err, x)
	}

	// Interfaces cannot change without a restart.
	sys, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	controltest.WriteFile(t, path, strings.Replace(string(sys), "neighbors:", "  - {name: dmz, driver: pcap, mac: \"02:00:00:00:0a:03\", pcap_out: dmz.pcap}\nneighbors:", 1))
	res, _ = ops.Reload()
	if res.Applied || !strings.Contains(strings.Join(res.Errors, ""), "restart the gateway") {
		t.Errorf("interface added: %+v", res)
	}
	controltest.WriteFile(t, path, strings.Replace(string(sys), "level: info", "level: warn", 1))
	res, _ = ops.Reload()
	if !res.Applied || !strings.Contains(strings.Join(res.Changes, "\n"), "log level info -> warn") {
		t.Errorf("log level change: %+v", res)
	}
	if !strings.Contains(g.Log(), "configuration reload rejected") {
		t.Error("the rejected reload was not logged")
	}
}

// explainCases run offline (ExplainConfig) and live on the same
// configuration: gateway A of the example with an IKEv2 entry and a
// dynamic map.
var explainCases = []struct {
	name    string
	req     control.ExplainRequest
	action  string
	want    []string // in the rendered text
	problem string   // in the problems ("" : none)
}{
	{"protect", control.ExplainRequest{In: "inside", Src: "10.1.1.10", Dst: "10.2.1.10", Proto: 6, SrcPort: 40000, DstPort: 443},
		control.ActionProtect, []string{"crypto map vpn 10 (ipsec-manual), access-list 101 line 1: permit ip 10.1.1.0 0.0.0.255 10.2.1.0 0.0.0.255",
			"outbound esp SA spi 0x3E9(1001) to 192.0.2.2, esp-gcm 128, tunnel"}, ""},
	{"bypass-denied", control.ExplainRequest{In: "inside", Src: "10.1.3.200", Dst: "10.2.3.5", Proto: 1},
		control.ActionBypass, []string{"crypto map vpn 30 (ipsec-isakmp) denies it: access-list 103 line 1: deny ip 10.1.3.128 0.0.0.127 any",
			"forwarded in the clear out outside: crypto map vpn does not protect it"}, ""},
	{"bypass-no-crypto-map", control.ExplainRequest{In: "outside", Src: "192.0.2.2", Dst: "10.1.7.7", Proto: 17, SrcPort: 1, DstPort: 53},
		control.ActionBypass, []string{"interface inside has no crypto map", "forwarded in the clear out inside"}, ""},
	{"negotiate", control.ExplainRequest{In: "inside", Src: "10.1.3.10", Dst: "10.2.3.10", Proto: 6, SrcPort: 1025, DstPort: 22},
		control.ActionNegotiate, []string{"key exchange: IKEv2 (ikev2 profile prof)", "peers, in order: 192.0.2.2",
			"transform set 1: gcm128 { esp-gcm 128 } Tunnel", "local  ident (addr/mask/prot/port): (10.1.3.0/255.255.255.0/0/0)",
			"remote ident (addr/mask/prot/port): (10.2.3.0/255.255.255.0/0/0)", "PFS (Y/N): Y, group19", "lifetime: 4608000 kilobytes/3600 seconds"}, ""},
	{"drop-no-sa-dynamic", control.ExplainRequest{In: "inside", Src: "10.1.4.10", Dst: "10.2.4.10"},
		control.ActionDropNoSA, []string{"crypto map vpn 100 (dynamic-map dyn 10), access-list 104 line 1", "dynamic map dyn 10 only answers negotiations",
			"dropped (counter no_sa) until any peer initiates an SA for this traffic"}, ""},
	{"drop-unprotected", control.ExplainRequest{In: "outside", Src: "10.2.1.10", Dst: "10.1.1.10", Proto: 1},
		control.ActionDropUnprotected, []string{"the packet's reverse matches crypto map vpn 10 (ipsec-manual), access-list 101 line 1",
			"dropped as unprotected: crypto map vpn 10 (ipsec-manual) says this traffic must arrive encrypted"}, ""},
	{"drop-no-route", control.ExplainRequest{In: "inside", Src: "10.1.1.10", Dst: "172.16.9.9", Proto: 1},
		control.ActionDropNoRoute, []string{"no route to 172.16.9.9"}, ""},
	{"local-esp", control.ExplainRequest{In: "outside", Src: "192.0.2.2", Dst: "192.0.2.1", Proto: 50},
		control.ActionLocal, []string{"192.0.2.1 is an address of this gateway", "installed from 192.0.2.2: esp 0x7D1(2001), esp 0x7D2(2002)"}, ""},
	{"local-ike", control.ExplainRequest{In: "outside", Src: "192.0.2.2", Dst: "192.0.2.1", Proto: 17, SrcPort: 500, DstPort: 500},
		control.ActionLocal, []string{"IKE for the gateway: handed to the key exchange"}, ""},
}

func TestExplainOffline(t *testing.T) {
	cfg := controltest.Load(t, controltest.WriteConfig(t, "a", controltest.PolicyA(t, controltest.MoreEntries), 100))
	for _, c := range explainCases {
		t.Run(c.name, func(t *testing.T) {
			x, err := slowpath.ExplainConfig(cfg, nil, c.req)
			if err != nil {
				t.Fatal(err)
			}
			checkExplanation(t, x, c.action, c.want, c.problem)
			if x.Live {
				t.Error("offline trace says live")
			}
		})
	}
}

func TestExplainLive(t *testing.T) {
	g := controltest.Start(t, controltest.WriteConfig(t, "a", controltest.PolicyA(t, controltest.MoreEntries), 100))
	for _, c := range explainCases {
		t.Run(c.name, func(t *testing.T) {
			problem := c.problem
			if c.action == control.ActionNegotiate {
				problem = "IKE is not running on this gateway"
			}
			x, err := g.Ops.Explain(c.req)
			if err != nil {
				t.Fatal(err)
			}
			checkExplanation(t, x, c.action, c.want, problem)
		})
	}
	// Once IKE has installed a CHILD_SA for entry 30, the same packet
	// that asked for one is protected by it.
	sel := spd.Selector{Src: netip.MustParsePrefix("10.1.3.0/24"), Dst: netip.MustParsePrefix("10.2.3.0/24")}
	installNegotiated(t, g.Ops.Gateway(), 30, sel, 0x5001, 0x5002)
	x, err := g.Ops.Explain(explainCases[3].req)
	if err != nil {
		t.Fatal(err)
	}
	checkExplanation(t, x, control.ActionProtect, []string{"outbound esp SA spi 0x5002(20482) to 192.0.2.2, esp-gcm 128, tunnel, 0 packets so far",
		"negotiated SA of crypto map vpn 30"}, "")
}

func checkExplanation(t *testing.T, x *control.Explanation, action string, want []string, problem string) {
	t.Helper()
	var b strings.Builder
	control.WriteExplanation(&b, x)
	text := b.String()
	if x.Action != action {
		t.Errorf("action %s, want %s\n%s", x.Action, action, text)
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("missing %q in\n%s", w, text)
		}
	}
	probs := strings.Join(x.Problems, "\n")
	if problem == "" && probs != "" || !strings.Contains(probs, problem) {
		t.Errorf("problems %q, want %q\n%s", probs, problem, text)
	}
}

// peerB is gateway B for MoreEntries' IKEv2 entry: an IKE-only gateway
// whose entry 30 mirrors A's, changed by edit.
func peerB(t *testing.T, edit func(string) string) *config.Config {
	policy := `hostname ike-b
crypto ipsec transform-set gcm128 esp-gcm 128
 mode tunnel
crypto ipsec transform-set aes256-sha256 esp-aes 256 esp-sha256-hmac
 mode tunnel
crypto ikev2 keyring keys
 peer a
  address 192.0.2.1
  pre-shared-key example-psk-do-not-use
crypto ikev2 profile prof
 match identity remote address 192.0.2.1 255.255.255.255
 authentication local pre-share
 authentication remote pre-share
 keyring local keys
crypto map vpn 30 ipsec-isakmp
 set peer 192.0.2.1
 set transform-set gcm128
 set pfs group19
 set ikev2-profile prof
 match address 103
interface inside
 ip address 10.2.0.1 255.255.0.0
interface outside
 ip address 192.0.2.2 255.255.255.0
 crypto map vpn
ip route 10.1.0.0 255.255.0.0 192.0.2.1
access-list 103 permit ip 10.2.3.0 0.0.0.255 10.1.3.0 0.0.0.255
`
	return controltest.Load(t, controltest.WriteConfig(t, "b", edit(policy), 100))
}

// TestExplainFailingTunnel: for a tunnel that cannot come up, explain says
// why in plain words, from one configuration and with the peer's.
func TestExplainFailingTunnel(t *testing.T) {
	negotiate := control.ExplainRequest{In: "inside", Src: "10.1.3.10", Dst: "10.2.3.10", Proto: 6, SrcPort: 1025, DstPort: 22}
	a := controltest.Load(t, controltest.WriteConfig(t, "a", controltest.PolicyA(t, controltest.MoreEntries), 100))
	same := func(s string) string { return s }
	for _, c := range []struct {
		name    string
		a       *config.Config
		peer    *config.Config
		problem string
	}{
		{"peer agrees", a, peerB(t, same), ""},
		{"no common transform set", a, peerB(t, func(s string) string {
			return strings.Replace(s, " set transform-set gcm128\n set pfs", " set transform-set aes256-sha256\n set pfs", 1)
		}), "no common transform set: manual-a offers gcm128 (esp-gcm 128, tunnel); ike-b accepts aes256-sha256 (esp-aes 256 esp-sha256-hmac, tunnel)"},
		{"selectors not mirror images", a, peerB(t, func(s string) string {
			return strings.Replace(s, "access-list 103 permit ip 10.2.3.0 0.0.0.255 10.1.3.0 0.0.0.255", "access-list 103 permit ip 10.2.3.0 0.0.0.127 10.1.3.0 0.0.0.255", 1)
		}), `refused: ike-b ACL 103 line 1 "permit ip 10.2.3.0 0.0.0.127 10.1.3.0 0.0.0.255" is narrower`},
		{"peer not named", a, peerB(t, func(s string) string {
			return strings.Replace(s, "crypto map vpn 30 ipsec-isakmp\n set peer 192.0.2.1\n", "crypto map vpn 30 ipsec-isakmp\n set peer 192.0.2.99\n", 1)
		}), "ike-b has no crypto map entry that names 192.0.2.1 as peer"},
		{"no key for the peer", controltest.Load(t, controltest.WriteConfig(t, "a", controltest.PolicyA(t,
			strings.Replace(controltest.MoreEntries, "  address 192.0.2.2\n", "  address 192.0.2.3\n", 1)), 100)), nil,
			"keyring keys has no peer block covering 192.0.2.2: no pre-shared key for it"},
		{"profile does not name the peer", controltest.Load(t, controltest.WriteConfig(t, "a", controltest.PolicyA(t,
			strings.Replace(controltest.MoreEntries, "match identity remote address 192.0.2.2 255.255.255.255", "match identity remote address 192.0.2.3 255.255.255.255", 1)), 100)), nil,
			"ikev2 profile prof does not match peer 192.0.2.2 (match identity remote 192.0.2.3/32): the peer is not named"},
	} {
		t.Run(c.name, func(t *testing.T) {
			x, err := slowpath.ExplainConfig(c.a, c.peer, negotiate)
			if err != nil {
				t.Fatal(err)
			}
			checkExplanation(t, x, control.ActionNegotiate, []string{"Negotiation would propose:"}, c.problem)
			if c.problem != "" && !strings.Contains(x.Verdict, "cannot bring one up") {
				t.Errorf("verdict %q", x.Verdict)
			}
		})
	}
}

// TestNoKeyMaterial runs the gateway with every subsystem at debug level
// and drives every command, including a rejected reload whose keys are
// malformed and a peer check against a peer whose key differs: neither the
// log nor any answer of the control socket may contain a key, a
// pre-shared key, or the first 16 digits of one.
func TestNoKeyMaterial(t *testing.T) {
	path := controltest.WriteConfig(t, "a", controltest.PolicyA(t, controltest.MoreEntries), 100)
	policy := filepath.Join(filepath.Dir(path), "policy.cfg")
	g := controltest.Start(t, path)
	secrets := controltest.Secrets(t)
	peer := peerB(t, func(s string) string { return s })
	var answers strings.Builder
	call := func(cmd string, args any) {
		t.Helper()
		var v any
		err := g.Client.Call(cmd, args, &v)
		fmt.Fprintf(&answers, "%s: %v %v\n", cmd, v, err)
	}
	call(control.CmdDebug, control.DebugRequest{Subsystem: "all", On: true})
	controltest.WaitFor(t, "traffic", func() bool { return manualPair(t, g.Ops.Gateway(), 20).In.Counters().Packets > 0 })
	call(control.CmdShowCryptoMap, control.MapFilter{})
	call(control.CmdShowIPsecSA, control.SAFilter{Detail: true})
	call(control.CmdShowIKEv2SA, nil)
	call(control.CmdShowISAKMPSA, nil)
	call(control.CmdShowTransformSet, control.TagFilter{})
	call(control.CmdShowDynamicMap, control.TagFilter{})
	call(control.CmdShowRunningConfig, nil)
	call(control.CmdShowDebugging, nil)
	call(control.CmdExplain, control.ExplainRequest{In: "inside", Src: "10.1.2.10", Dst: "10.2.2.10"})
	call(control.CmdExplain, control.ExplainRequest{In: "inside", Src: "10.1.3.10", Dst: "10.2.3.10", PeerConfig: peer.File})
	// The peer's keyring holds another key: the check says they differ.
	peerPolicy := filepath.Join(filepath.Dir(peer.File), "policy.cfg")
	controltest.WriteFile(t, peerPolicy, strings.Replace(readFile(t, peerPolicy), "example-psk-do-not-use", "another-psk-"+secrets[1][:16], 1))
	call(control.CmdExplain, control.ExplainRequest{In: "inside", Src: "10.1.3.10", Dst: "10.2.3.10", PeerConfig: peer.File})
	call(control.CmdClearCryptoSA, control.ClearSA{Map: "vpn"})
	call(control.CmdClearCryptoSession, nil)
	call(control.CmdReload, nil)
	// Keys one digit short.
	broken := readFile(t, policy)
	for _, k := range secrets[1:] {
		if len(k) > 16 {
			broken = strings.Replace(broken, k, k[:len(k)-1], 1)
		}
	}
	controltest.WriteFile(t, policy, broken)
	call(control.CmdReload, nil)
	call(control.CmdDebug, control.DebugRequest{Subsystem: "all"})

	log, out := g.Log(), answers.String()
	for _, want := range []string{"configuration reload rejected", "control request", "clear crypto sa"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q: the test did not drive what it means to", want)
		}
	}
	if !strings.Contains(out, "pre-shared keys differ") {
		t.Errorf("the peer check did not compare keys:\n%s", out)
	}
	for _, s := range secrets {
		for what, text := range map[string]string{"log": log, "control answers": out} {
			if i := strings.Index(strings.ToLower(text), strings.ToLower(s)); i >= 0 {
				t.Errorf("the %s contain key material %q: ...%s...", what, s, text[max(0, i-80):min(len(text), i+len(s)+20)])
			}
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// BenchmarkSample measures one metrics scrape's read of the gateway
// (Ops.Sample) by the number of installed SAs, to size
// metrics.sa_series_limit and the scrape interval; ns/SA is the cost per
// SA. The fast path does not take part: it only publishes its counters.
func BenchmarkSample(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprint(n, "SAs"), func(b *testing.B) {
			g, err := slowpath.Build(controltest.Load(b, controltest.WriteConfig(b, "a", controltest.PolicyA(b, controltest.MoreEntries), 100)), 2)
			if err != nil {
				b.Fatal(err)
			}
			sel := spd.Selector{Src: netip.MustParsePrefix("10.1.3.0/24"), Dst: netip.MustParsePrefix("10.2.3.0/24")}
			var sas []*sad.SA
			for i := range n / 2 {
				sas = append(sas, negotiatedSA(b, g, 30, sel, sad.Inbound, uint32(0x10000+i)), negotiatedSA(b, g, 30, sel, sad.Outbound, uint32(0x80000+i)))
			}
			if err := g.Engine.SAD().Install(sas...); err != nil {
				b.Fatal(err)
			}
			ops := slowpath.NewOps(g, slowpath.OpsConfig{})
			for b.Loop() {
				ops.Sample()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(sas)+4), "ns/SA")
		})
	}
}
