package interop

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"ipsecgw/crypto"
	"ipsecgw/ike"
	"ipsecgw/ike/keymat"
	"ipsecgw/ike/message"
	"ipsecgw/topo/strongswan"
	"ipsecgw/topo/strongswan/charontest"
)

func TestStrongSwan(t *testing.T) {
	tp := charontest.Topology(t)
	ourNS, theirNS := tp.A.GatewayNS, tp.B.GatewayNS
	// charon fragments IKE messages above 300 bytes (RFC 7383).
	sw := startCharon(t, theirNS, "fragment_size = 300", 2)
	siteA, siteB := "10.1.1.0/24", "10.2.2.0/24"

	// ipsecgw initiates: IKE with AES-GCM-128 and X25519, ESP AES-GCM-128
	// with PFS at rekey. Then rekeys and deletes both ways.
	t.Run("initiator-gcm", func(t *testing.T) {
		sw.MustLoadConf(swanctlConf("aes128gcm16-prfsha256-x25519", "aes128gcm16-ecp256", siteB, siteA, ""))
		peer := ourPeer(ike.IKEProposal{Name: "gcm", Encryption: []ike.Encryption{{Cipher: crypto.CipherAESGCM16, KeyBits: 128}},
			PRF: []keymat.PRFAlg{keymat.PRFHMACSHA256}, Groups: []keymat.Group{keymat.Curve25519}}, gcm128, keymat.ECP256, permit(siteA, siteB))
		gw := startGateway(t, ourNS, gwAddr, peer, nil)
		gw.e.Acquire(ike.Acquire{Peer: "charon", Child: "vpnmap 10"})
		gw.Rec.Wait(t, "CHILD_SA", func(r *Recorder) bool { return len(r.Out) == 1 })
		sas := sw.WaitSAs("CHILD_SA", charontest.OneChild)
		ours := gw.e.SAs()[0]
		sameIKE(t, ours, sas[0])
		if sas[0].Encr != "AES_GCM_16" || sas[0].EncrKeysize != "128" || sas[0].PRF != "PRF_HMAC_SHA2_256" || sas[0].DH != "CURVE_25519" {
			t.Fatalf("charon's IKE SA: %+v", sas[0])
		}
		if !ours.NATRemote {
			t.Fatal("charon's faked NAT not seen: the gateway must float to 4500")
		}
		child := gw.Rec.Only()
		charontest.SameChild(t, child, sas[0].ChildList()[0], "AES_GCM_16", "128", "")

		// Our CHILD_SA rekey, with PFS.
		gw.e.RekeyChildSA(child.InSPI)
		gw.Rec.Wait(t, "rekeyed CHILD_SA", func(r *Recorder) bool { return r.Seen("remove " + spiHex(child.InSPI)) })
		next := gw.Rec.Only()
		if next == nil || next.PFS != keymat.ECP256 {
			t.Fatalf("after rekey: %v", gw.Rec.Events)
		}
		sas = sw.WaitSAs("rekeyed CHILD_SA", func(s []strongswan.IKESA) bool {
			return charontest.OneChild(s) && s[0].ChildList()[0].SPIOut == spiHex(next.InSPI)
		})
		charontest.SameChild(t, next, sas[0].ChildList()[0], "AES_GCM_16", "128", "")
		if sas[0].ChildList()[0].DH != "ECP_256" {
			t.Fatalf("charon's rekeyed CHILD_SA without PFS: %+v", sas[0].ChildList()[0])
		}

		// charon's CHILD_SA rekey.
		sw.MustSwanctl("--rekey", "--child", "net")
		gw.Rec.Wait(t, "CHILD_SA rekeyed by charon", func(r *Recorder) bool { return r.Seen("remove " + spiHex(next.InSPI)) })
		third := gw.Rec.Only()
		sas = sw.WaitSAs("CHILD_SA rekeyed by charon", func(s []strongswan.IKESA) bool {
			return charontest.OneChild(s) && s[0].ChildList()[0].SPIOut == spiHex(third.InSPI)
		})
		charontest.SameChild(t, third, sas[0].ChildList()[0], "AES_GCM_16", "128", "")

		// Our IKE SA rekey, then charon's; the CHILD_SA stays.
		gw.e.RekeyIKESA(ours.ID)
		gw.Rec.Wait(t, "IKE SA rekeyed", func(r *Recorder) bool { return r.Seen("down 1 rekeyed") && len(r.IKEs) == 1 })
		sas = sw.WaitSAs("IKE SA rekeyed", func(s []strongswan.IKESA) bool { return charontest.OneChild(s) && s[0].SPIi != spi64(ours.SPIi) })
		sameIKE(t, gw.e.SAs()[0], sas[0])
		second := gw.e.SAs()[0]
		sw.MustSwanctl("--rekey", "--ike", "s2s")
		gw.Rec.Wait(t, "IKE SA rekeyed by charon", func(r *Recorder) bool {
			return r.Seen("down "+itoa(second.ID)+" rekeyed") && len(r.IKEs) == 1
		})
		sas = sw.WaitSAs("IKE SA rekeyed by charon", func(s []strongswan.IKESA) bool { return charontest.OneChild(s) && s[0].SPIi != spi64(second.SPIi) })
		after := gw.e.SAs()[0]
		sameIKE(t, after, sas[0])
		if len(after.Children) != 1 || after.Children[0].InSPI != third.InSPI {
			t.Fatalf("CHILD_SA lost in IKE rekeys: %+v", after.Children)
		}

		// Deletes: ours of the CHILD_SA, charon's of a new one, then
		// charon's of the IKE SA.
		gw.e.DeleteChildSA(third.InSPI)
		sw.WaitSAs("CHILD_SA deleted", func(s []strongswan.IKESA) bool { return charontest.OneIKE(s) && len(s[0].Children) == 0 })
		gw.e.Acquire(ike.Acquire{Peer: "charon", Child: "vpnmap 10"})
		gw.Rec.Wait(t, "new CHILD_SA", func(r *Recorder) bool { return len(r.Out) == 1 })
		fourth := gw.Rec.Only()
		sw.WaitSAs("new CHILD_SA", charontest.OneChild)
		sw.MustSwanctl("--terminate", "--child", "net")
		gw.Rec.Wait(t, "CHILD_SA deleted by charon", func(r *Recorder) bool { return r.Seen("remove " + spiHex(fourth.InSPI) + " deleted by peer") })
		sw.MustSwanctl("--terminate", "--ike", "s2s")
		gw.Rec.Wait(t, "IKE SA deleted by charon", func(r *Recorder) bool { return len(r.IKEs) == 0 && r.Seen("down ") })
		if !strings.Contains(gw.Rec.Events[len(gw.Rec.Events)-1], "deleted by peer") {
			t.Fatalf("IKE SA went: %v", gw.Rec.Events)
		}
	})

	// charon initiates: IKE AES-CBC-256/SHA-256/MODP-2048, ESP AES-CBC-256
	// with HMAC-SHA-256, IKE_AUTH fragmented both ways; ipsecgw rekeys and
	// deletes the IKE SA.
	t.Run("responder-cbc", func(t *testing.T) {
		sw.MustLoadConf(swanctlConf("aes256-sha256-modp2048", "aes256-sha256-modp2048", siteB, siteA, "fragmentation = yes"))
		peer := ourPeer(ike.IKEProposal{Name: "cbc", Encryption: []ike.Encryption{{Cipher: crypto.CipherAESCBC, KeyBits: 256}},
			Integrity: []crypto.Integ{crypto.IntegHMACSHA256_128}, Groups: []keymat.Group{keymat.MODP2048}}, cbc256, keymat.MODP2048, permit(siteA, siteB))
		gw := startGateway(t, ourNS, gwAddr, peer, func(c *ike.Config) { c.FragmentSize = 220; c.CookieThreshold = 1 })
		// One half-open IKE SA reaches the threshold: charon has to come
		// back with a cookie (RFC 7296 §2.6).
		halfOpen(t, gw.e)
		sw.MustSwanctl("--initiate", "--child", "net")
		gw.Rec.Wait(t, "CHILD_SA", func(r *Recorder) bool { return len(r.Out) == 1 })
		sas := sw.WaitSAs("CHILD_SA", charontest.OneChild)
		ours := established(t, gw.e)
		sameIKE(t, ours, sas[0])
		if ours.Initiator || sas[0].Encr != "AES_CBC" || sas[0].EncrKeysize != "256" || sas[0].Integ != "HMAC_SHA2_256_128" || sas[0].DH != "MODP_2048" {
			t.Fatalf("IKE SA: ours %+v charon %+v", ours, sas[0])
		}
		child := gw.Rec.Only()
		charontest.SameChild(t, child, sas[0].ChildList()[0], "AES_CBC", "256", "HMAC_SHA2_256_128")
		if st := gw.e.Stats(); st["fragmented_tx"] == 0 || st["reassembled_rx"] == 0 || st["cookie_sent"] == 0 {
			t.Fatalf("IKE_AUTH not fragmented both ways, or no cookie asked for: %v", st)
		}

		gw.e.RekeyChildSA(child.InSPI)
		gw.Rec.Wait(t, "rekeyed CHILD_SA", func(r *Recorder) bool { return r.Seen("remove " + spiHex(child.InSPI)) })
		next := gw.Rec.Only()
		sas = sw.WaitSAs("rekeyed CHILD_SA", func(s []strongswan.IKESA) bool {
			return charontest.OneChild(s) && s[0].ChildList()[0].SPIOut == spiHex(next.InSPI)
		})
		charontest.SameChild(t, next, sas[0].ChildList()[0], "AES_CBC", "256", "HMAC_SHA2_256_128")

		gw.e.ClearIKESAs(charonAddr)
		gw.Rec.Wait(t, "IKE SA deleted", func(r *Recorder) bool { return len(r.IKEs) == 0 && len(r.In) == 0 })
		sw.WaitSAs("IKE SA deleted", func(s []strongswan.IKESA) bool { return len(s) == 0 })
	})

	// Selectors that do not overlap fail with a log line saying why, in
	// both directions.
	t.Run("ts-mismatch", func(t *testing.T) {
		sw.MustLoadConf(swanctlConf("aes256-sha256-ecp256", "aes128gcm16", siteB, "10.9.9.0/24", ""))
		peer := ourPeer(ike.IKEProposal{Name: "p", Encryption: []ike.Encryption{{Cipher: crypto.CipherAESCBC, KeyBits: 256}},
			Integrity: []crypto.Integ{crypto.IntegHMACSHA256_128}, Groups: []keymat.Group{keymat.ECP256}}, gcm128, 0, permit(siteA, siteB))
		gw := startGateway(t, ourNS, gwAddr, peer, nil)
		out, _ := sw.Try("--initiate", "--child", "net")
		want := "vpnmap 10 ACL 101 line 1 (permit ip 10.1.1.0/24 10.2.2.0/24): TSr 10.9.9.0/24 vs ACL source 10.1.1.0/24: addresses do not overlap"
		if !strings.Contains(gw.Logs.String(), want) || !strings.Contains(gw.Logs.String(), "TS_UNACCEPTABLE") {
			t.Fatalf("gateway log lacks %q\nswanctl: %s", want, out)
		}
		if !strings.Contains(sw.Log(), "TS_UNACCEPTABLE") {
			t.Fatal("charon did not get TS_UNACCEPTABLE")
		}
		gw.e.Acquire(ike.Acquire{Peer: "charon", Child: "vpnmap 10"})
		gw.Rec.Wait(t, "failed acquire", func(r *Recorder) bool {
			return r.Seen("failed vpnmap 10: peer refused CHILD_SA vpnmap 10: TS_UNACCEPTABLE")
		})
		gw.e.ClearIKESAs(charonAddr)
		sw.WaitSAs("IKE SA deleted", func(s []strongswan.IKESA) bool { return len(s) == 0 })
	})

	// A killed charon is noticed by dead peer detection.
	t.Run("dpd", func(t *testing.T) {
		sw.MustLoadConf(swanctlConf("aes256-sha256-ecp256", "aes128gcm16", siteB, siteA, ""))
		peer := ourPeer(ike.IKEProposal{Name: "p", Encryption: []ike.Encryption{{Cipher: crypto.CipherAESCBC, KeyBits: 256}},
			Integrity: []crypto.Integ{crypto.IntegHMACSHA256_128}, Groups: []keymat.Group{keymat.ECP256}}, gcm128, 0, permit(siteA, siteB))
		peer.DPD = ike.DPD{Interval: 2 * time.Second, Retry: time.Second, Retries: 3}
		gw := startGateway(t, ourNS, gwAddr, peer, nil)
		gw.e.Acquire(ike.Acquire{Peer: "charon", Child: "vpnmap 10"})
		gw.Rec.Wait(t, "CHILD_SA", func(r *Recorder) bool { return len(r.Out) == 1 })
		sw.WaitSAs("CHILD_SA", charontest.OneChild)
		time.Sleep(3 * time.Second) // a liveness check answered by a live charon
		if !gw.Rec.Seen("up ") || gw.Rec.Seen("down ") {
			t.Fatalf("events %v", gw.Rec.Events)
		}
		sw.Kill()
		start := time.Now()
		gw.Rec.Wait(t, "dead peer", func(r *Recorder) bool { return r.Seen("down 1 peer dead") && len(r.In) == 0 })
		t.Logf("dead peer noticed after %v", time.Since(start).Round(100*time.Millisecond))
	})
}

func spiHex(spi uint32) string { return strings.ToLower(fmtHex(uint64(spi), 8)) }
func spi64(spi uint64) string  { return fmtHex(spi, 16) }

// halfOpen starts an IKE_SA_INIT at the gateway, as from charon's address,
// that nobody completes.
func halfOpen(t *testing.T, e *ike.Engine) {
	t.Helper()
	ke, err := keymat.NewKeyExchange(keymat.MODP2048, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := ike.IKEProposal{Encryption: []ike.Encryption{{Cipher: crypto.CipherAESCBC, KeyBits: 256}}, Integrity: []crypto.Integ{crypto.IntegHMACSHA256_128},
		Groups: []keymat.Group{keymat.MODP2048}}
	m := &message.Message{Header: message.Header{SPIi: 0x0bad0bad0bad0bad, Exchange: message.IKE_SA_INIT, Flags: message.FlagInitiator}}
	m.Payloads = []message.Payload{
		&message.SA{Proposals: []message.Proposal{{Num: 1, Protocol: message.ProtoIKE, Transforms: []message.Transform{
			{Type: message.TransformENCR, ID: uint16(p.Encryption[0].Cipher), KeyLength: 256},
			{Type: message.TransformINTEG, ID: uint16(crypto.IntegHMACSHA256_128)},
			{Type: message.TransformPRF, ID: uint16(keymat.PRFHMACSHA256)},
			{Type: message.TransformDH, ID: uint16(keymat.MODP2048)}}}}},
		&message.KE{Group: uint16(keymat.MODP2048), Data: ke.Public()},
		&message.Nonce{Data: make([]byte, 32)},
	}
	b, err := m.Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Receive(netip.AddrPortFrom(gwAddr, 500), netip.AddrPortFrom(charonAddr, 500), b)
	deadline := time.Now().Add(5 * time.Second)
	for len(e.SAs()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no half-open SA")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// established returns the gateway's one established IKE SA.
func established(t *testing.T, e *ike.Engine) ike.IKESAInfo {
	t.Helper()
	var out []ike.IKESAInfo
	for _, sa := range e.SAs() {
		if sa.State == "ESTABLISHED" {
			out = append(out, sa)
		}
	}
	if len(out) != 1 {
		t.Fatalf("%d established IKE SAs", len(out))
	}
	return out[0]
}
