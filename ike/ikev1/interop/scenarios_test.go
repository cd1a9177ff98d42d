package interop

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"ipsecgw/ike"
	ikeinterop "ipsecgw/ike/interop"
	"ipsecgw/spd"
	"ipsecgw/topo/strongswan"
	"ipsecgw/topo/strongswan/charontest"
)

// TestGatewayInitiates: ipsecgw starts main mode and quick mode towards
// charon (aes256-sha1-modp1024, ESP aes256-sha1), rekeys the IPsec SA and
// deletes it; charon deletes the ISAKMP SA.
func TestGatewayInitiates(t *testing.T) {
	e := setup(t)
	e.c.MustLoadConf(e.swanctlConf("aes256-sha1-modp1024", "aes256-sha1", "", ""))
	p := e.peer(polAES256SHA1, setAES256SHA1, 0)
	g := startGateway(t, e.tp.A.GatewayNS, e.gwAddr, p)
	g.e.Acquire(ike.Acquire{Peer: p.Name, Child: p.Children[0].Name})
	g.Rec.Wait(t, "an IPsec SA", func(r *ikeinterop.Recorder) bool { return len(r.Out) == 1 })
	sas := e.c.WaitSAs("one IPsec SA", charontest.OneChild)
	ours := g.Rec.Only()
	charontest.SameChild(t, ours, sas[0].ChildList()[0], "AES_CBC", "256", "HMAC_SHA1_96")
	sameISAKMP(t, g.e.SAs()[0], sas[0])
	if sas[0].Encr != "AES_CBC" || sas[0].EncrKeysize != "256" || sas[0].DH != "MODP_1024" {
		t.Fatalf("charon's ISAKMP SA %+v", sas[0])
	}

	// Quick mode rekey: charon ends with only the new SA.
	g.e.RekeyChildSA(ours.InSPI)
	g.Rec.Wait(t, "the rekeyed SA", func(r *ikeinterop.Recorder) bool { return r.Seen("remove") && len(r.Out) == 1 })
	next := g.Rec.Only()
	if next.InSPI == ours.InSPI {
		t.Fatal("rekey kept the SPI")
	}
	sas = e.c.WaitSAs("the rekeyed SA alone", func(s []strongswan.IKESA) bool {
		return charontest.OneChild(s) && s[0].ChildList()[0].SPIIn == fmtSPI(next.OutSPI)
	})
	charontest.SameChild(t, next, sas[0].ChildList()[0], "AES_CBC", "256", "HMAC_SHA1_96")

	// Delete from our side.
	g.e.DeleteChildSA(next.InSPI)
	e.c.WaitSAs("no IPsec SA", func(s []strongswan.IKESA) bool { return charontest.OneIKE(s) && len(s[0].Children) == 0 })

	// charon deletes the ISAKMP SA.
	e.c.MustSwanctl("--terminate", "--ike", "s2s")
	g.Rec.Wait(t, "the ISAKMP SA going", func(r *ikeinterop.Recorder) bool { return r.Seen("down") })
	if n := len(g.e.SAs()); n != 0 {
		t.Fatalf("%d ISAKMP SAs left", n)
	}
}

// TestCharonInitiates: charon starts (aes128-sha256-modp2048, ESP
// aes128gcm16 with PFS), then deletes the IPsec SA.
func TestCharonInitiates(t *testing.T) {
	e := setup(t)
	e.c.MustLoadConf(e.swanctlConf("aes128-sha256-modp2048", "aes128gcm16-modp2048", "", ""))
	p := e.peer(polAES128SHA2, setGCM128, 14)
	g := startGateway(t, e.tp.A.GatewayNS, e.gwAddr, p)
	e.c.MustSwanctl("--initiate", "--child", "net")
	g.Rec.Wait(t, "an IPsec SA", func(r *ikeinterop.Recorder) bool { return len(r.Out) == 1 })
	sas := e.c.WaitSAs("one IPsec SA", charontest.OneChild)
	ours := g.Rec.Only()
	charontest.SameChild(t, ours, sas[0].ChildList()[0], "AES_GCM_16", "128", "")
	sameISAKMP(t, g.e.SAs()[0], sas[0])
	if ours.PFS != 14 || sas[0].ChildList()[0].DH != "MODP_2048" {
		t.Fatalf("PFS: ours %v, charon %q", ours.PFS, sas[0].ChildList()[0].DH)
	}
	// charon rekeys: we switch to the new SA and drop the old one when
	// charon deletes it.
	e.c.MustSwanctl("--rekey", "--child", "net")
	g.Rec.Wait(t, "the rekeyed SA", func(r *ikeinterop.Recorder) bool { return r.Seen("remove "+fmtSPI(ours.InSPI)) && len(r.Out) == 1 })
	if !g.Rec.Seen("remove " + fmtSPI(ours.InSPI) + " rekeyed") {
		t.Fatalf("events %v", g.Rec.Events)
	}
	next := g.Rec.Only()
	sas = e.c.WaitSAs("the rekeyed SA alone", func(s []strongswan.IKESA) bool {
		return charontest.OneChild(s) && s[0].ChildList()[0].SPIIn == fmtSPI(next.OutSPI)
	})
	charontest.SameChild(t, next, sas[0].ChildList()[0], "AES_GCM_16", "128", "")
	ours = next

	e.c.MustSwanctl("--terminate", "--child", "net")
	g.Rec.Wait(t, "the IPsec SA deleted by charon", func(r *ikeinterop.Recorder) bool { return r.Seen("remove") && len(r.Out) == 0 })
	if !g.Rec.Seen("remove " + fmtSPI(ours.InSPI) + " deleted by peer") {
		t.Fatalf("events %v", g.Rec.Events)
	}
}

// TestDPDNoticesDeadCharon: with crypto isakmp keepalive, a killed charon
// is declared dead and its SAs removed.
func TestDPDNoticesDeadCharon(t *testing.T) {
	e := setup(t)
	e.c.MustLoadConf(e.swanctlConf("aes256-sha1-modp1024", "aes256-sha1", "dpd_delay = 1s", ""))
	p := e.peer(polAES256SHA1, setAES256SHA1, 0)
	p.DPD = ike.DPD{Interval: 2e9, Retry: 5e8, Retries: 2}
	g := startGateway(t, e.tp.A.GatewayNS, e.gwAddr, p)
	g.e.Acquire(ike.Acquire{Peer: p.Name, Child: p.Children[0].Name})
	g.Rec.Wait(t, "an IPsec SA", func(r *ikeinterop.Recorder) bool { return len(r.Out) == 1 })
	e.c.WaitSAs("one IPsec SA", charontest.OneChild)
	e.c.Kill()
	g.Rec.Wait(t, "peer dead", func(r *ikeinterop.Recorder) bool { return r.Seen("down") && len(r.Out) == 0 })
	if !g.Rec.Seen("down") || !contains(g.Rec.Events, "peer dead") {
		t.Fatalf("events %v", g.Rec.Events)
	}
}

func fmtSPI(v uint32) string { return fmt.Sprintf("%08x", v) }

func contains(events []string, sub string) bool {
	for _, e := range events {
		if strings.Contains(e, sub) {
			return true
		}
	}
	return false
}

// TestCharonProxyMismatch: charon proposes proxy IDs wider than our ACL
// line; we refuse with INVALID_ID_INFORMATION and log which line did not
// match and why.
func TestCharonProxyMismatch(t *testing.T) {
	e := setup(t)
	e.c.MustLoadConf(e.swanctlConfTS("aes256-sha1-modp1024", "aes256-sha1", "", "", "10.1.0.0/16"))
	p := e.peer(polAES256SHA1, setAES256SHA1, 0)
	g := startGateway(t, e.tp.A.GatewayNS, e.gwAddr, p)
	out, err := e.c.Try("--initiate", "--child", "net", "--timeout", "10")
	if err == nil {
		t.Fatalf("charon's quick mode succeeded:\n%s", out)
	}
	log := g.Logs.String()
	if !strings.Contains(log, "proxy identities not supported") || !strings.Contains(log, "10.1.0.0/16 is wider than 10.1.1.0/24") {
		t.Fatalf("gateway log does not explain the mismatch:\n%s", log)
	}
	if !strings.Contains(e.c.Log(), "INVALID_ID_INFORMATION") {
		t.Fatal("charon did not hear INVALID_ID_INFORMATION")
	}
	last, _ := g.e.Failures()
	if len(last) != 1 || last[0].SA != "child" || last[0].Code != "INVALID_ID_INFORMATION" || last[0].ByPeer || last[0].Remote != e.their {
		t.Errorf("failures recorded: %+v", last)
	}
	g.Rec.Lock()
	defer g.Rec.Unlock()
	if g.Rec.Seen("in ") {
		t.Fatalf("SAs installed: %v", g.Rec.Events)
	}
}

// TestCharonRefusesTransformSet: our quick mode offers a transform set
// charon does not accept; charon's NO_PROPOSAL_CHOSEN fails it and is
// recorded as the peer's refusal of the entry's IPsec SA.
func TestCharonRefusesTransformSet(t *testing.T) {
	e := setup(t)
	e.c.MustLoadConf(e.swanctlConf("aes256-sha1-modp1024", "aes128gcm16", "", ""))
	p := e.peer(polAES256SHA1, setAES256SHA1, 0)
	g := startGateway(t, e.tp.A.GatewayNS, e.gwAddr, p)
	g.e.Acquire(ike.Acquire{Peer: p.Name, Child: p.Children[0].Name})
	g.Rec.Wait(t, "the acquire failing", func(r *ikeinterop.Recorder) bool { return r.Seen("failed ") })
	last, counts := g.e.Failures()
	if len(last) != 1 || last[0].SA != "child" || last[0].Code != "NO_PROPOSAL_CHOSEN" || !last[0].ByPeer ||
		last[0].Peer != "charon" || last[0].Child != "vpnmap 10" || last[0].Remote != e.their {
		t.Fatalf("failures recorded: %+v", last)
	}
	if len(counts) != 1 || counts[0] != (ike.FailureCount{SA: "child", Code: "NO_PROPOSAL_CHOSEN", N: 1}) {
		t.Fatalf("counts %+v", counts)
	}
}

// TestTransportModeRefused: host-to-host transport mode (the guide's
// example shape) negotiates, but charon's kernel-libipsec cannot install
// transport mode SAs and deletes its SA at once, naming the SPI it sends
// on: the gateway must remove its SA too.
func TestTransportModeRefused(t *testing.T) {
	e := setup(t)
	conf := strings.ReplaceAll(e.swanctlConfTS("aes256-sha1-modp1024", "aes256-sha1", "", "mode = transport", e.gwAddr.String()+"/32"),
		"local_ts = "+e.tp.B.LAN().String(), "local_ts = "+e.their.String()+"/32")
	e.c.MustLoadConf(conf)
	p := e.peer(polAES256SHA1, setAES256SHA1, 0)
	c := p.Children[0]
	c.Mode = ike.ModeTransport
	c.Lines = []ike.ACLLine{{Line: 1, Text: "permit ip host " + e.gwAddr.String() + " host " + e.their.String(),
		Sel: spd.Selector{Src: netip.PrefixFrom(e.gwAddr, 32), Dst: netip.PrefixFrom(e.their, 32)}}}
	g := startGateway(t, e.tp.A.GatewayNS, e.gwAddr, p)
	g.e.Acquire(ike.Acquire{Peer: p.Name, Child: c.Name})
	g.Rec.Wait(t, "the SA removed after charon's delete", func(r *ikeinterop.Recorder) bool { return r.Seen("remove") })
	if !g.Rec.Seen("out ") || !contains(g.Rec.Events, "deleted by peer") {
		t.Fatalf("events %v", g.Rec.Events)
	}
	if !strings.Contains(e.c.Log(), "unable to install inbound and outbound IPsec SA") {
		t.Fatal("charon did not refuse the transport mode SA as expected")
	}
	if sa := g.Rec.Only(); sa != nil {
		t.Fatalf("SA left: %v", sa)
	}
}
