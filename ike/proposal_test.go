package ike

import (
	"net/netip"
	"strings"
	"testing"

	"ipsecgw/crypto"
	"ipsecgw/ike/keymat"
	"ipsecgw/ike/message"
	"ipsecgw/ike/ts"
	"ipsecgw/spd"
)

func TestSelectIKEPrefersOurOrderAndTheKEGroup(t *testing.T) {
	ours := []IKEProposal{
		{Encryption: []Encryption{{crypto.CipherAESGCM16, 256}}, Groups: []keymat.Group{keymat.ECP384, keymat.ECP256}},
		{Encryption: []Encryption{{crypto.CipherAESCBC, 256}}, Integrity: []crypto.Integ{crypto.IntegHMACSHA256_128}, Groups: []keymat.Group{keymat.MODP2048}},
	}
	// The peer offers CBC first, then GCM with both ECP groups.
	peer := ikeOffer([]IKEProposal{
		{Encryption: []Encryption{{crypto.CipherAESCBC, 256}}, Integrity: []crypto.Integ{crypto.IntegHMACSHA256_128}, Groups: []keymat.Group{keymat.MODP2048}},
		{Encryption: []Encryption{{crypto.CipherAESGCM16, 128}, {crypto.CipherAESGCM16, 256}}, PRF: []keymat.PRFAlg{keymat.PRFHMACSHA256, keymat.PRFHMACSHA512},
			Groups: []keymat.Group{keymat.ECP256, keymat.ECP384}},
	}, nil)
	c, s, ok := selectIKE(ours, peer, keymat.ECP256)
	if !ok || c.Num != 2 {
		t.Fatalf("chose %v %v", c, ok)
	}
	// Our first proposal wins; our PRF order (SHA-512 first for AEAD);
	// the group the peer already sent a KE for.
	want := keymat.IKESuite{Cipher: crypto.CipherAESGCM16, KeyBits: 256, PRF: keymat.PRFHMACSHA512, DH: keymat.ECP256}
	if s != want {
		t.Fatalf("suite %v, want %v", s, want)
	}
	if _, err := chosenProposal(peer, &message.SA{Proposals: []message.Proposal{c}}); err != nil {
		t.Fatalf("our choice does not check: %v", err)
	}
	// Without a KE in a group we like, our preference.
	if _, s, _ := selectIKE(ours, peer, keymat.MODP1024); s.DH != keymat.ECP384 {
		t.Fatalf("group %v", s.DH)
	}
	// Nothing in common.
	none := ikeOffer([]IKEProposal{{Encryption: []Encryption{{crypto.CipherAESCBC, 128}}, Integrity: []crypto.Integ{crypto.IntegHMACSHA1_96}, Groups: []keymat.Group{keymat.MODP1024}}}, nil)
	if _, _, ok := selectIKE(ours, none, 0); ok {
		t.Fatal("selected without a match")
	}
	// A transform with an attribute we do not know is not usable.
	odd := ikeOffer(ours[:1], nil)
	for i := range odd[0].Transforms {
		if odd[0].Transforms[i].Type == message.TransformENCR {
			odd[0].Transforms[i].UnknownAttrs = true
		}
	}
	if _, _, ok := selectIKE(ours, odd, 0); ok {
		t.Fatal("transform with unknown attribute selected")
	}
}

func TestChosenProposalChecks(t *testing.T) {
	offer := ikeOffer(DefaultIKEProposals(), nil)
	good, _, _ := selectIKE(DefaultIKEProposals(), offer, keymat.ECP256)
	bad := func(f func(p *message.Proposal)) *message.SA {
		p := good
		p.Transforms = append([]message.Transform(nil), good.Transforms...)
		f(&p)
		return &message.SA{Proposals: []message.Proposal{p}}
	}
	for name, sa := range map[string]*message.SA{
		"two proposals":  {Proposals: []message.Proposal{good, good}},
		"unknown number": bad(func(p *message.Proposal) { p.Num = 9 }),
		"not offered":    bad(func(p *message.Proposal) { p.Transforms[0].KeyLength = 192 }),
		"duplicate type": bad(func(p *message.Proposal) { p.Transforms = append(p.Transforms, p.Transforms[0]) }),
	} {
		if _, err := chosenProposal(offer, sa); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestChildProposals(t *testing.T) {
	cfg := &ChildConfig{Name: "e", Proposals: []ChildProposal{gcm128(), cbc256sha256()}, ESN: true, PFS: keymat.ECP256}
	offer := childOffer(cfg, 0x1234, keymat.ECP256)
	if len(offer) != 2 || proposalsString(offer) != "ESP:ENCR/20/128,DH/19,ESN/1,ESN/0 | ESP:ENCR/12/256,INTEG/12,DH/19,ESN/1,ESN/0" {
		t.Fatalf("offer %s", proposalsString(offer))
	}
	// A responder without ESN preference and with PFS takes our first.
	resp := &ChildConfig{Name: "r", Proposals: []ChildProposal{cbc256sha256(), gcm128()}, PFS: keymat.ECP256}
	c, sel, ok := selectChild(resp, offer, true, keymat.ECP256)
	if !ok || c.Num != 2 || sel.ESN || sel.DH != keymat.ECP256 || sel.Transform.Cipher != crypto.CipherAESCBC {
		t.Fatalf("selected %v %v", c, sel)
	}
	// PFS demanded but not offered.
	if _, _, ok := selectChild(resp, childOffer(cfg, 1, 0), true, 0); ok {
		t.Fatal("accepted without PFS")
	}
	// No PFS configured: the peer's PFS is accepted in its KE group.
	resp.PFS = 0
	if _, sel, ok := selectChild(resp, offer, true, keymat.ECP256); !ok || sel.DH != keymat.ECP256 {
		t.Fatalf("peer's PFS refused: %v", sel)
	}
	// In IKE_AUTH, DH transforms do not count.
	resp.PFS = keymat.MODP2048
	if _, sel, ok := selectChild(resp, offer, false, 0); !ok || sel.DH != 0 {
		t.Fatalf("IKE_AUTH: %v %v", sel, ok)
	}
	// The chosen proposal reads back the same on the initiator.
	c, sel, _ = selectChild(resp, offer, false, 0)
	got, spi, err := childSelOf(cfg, &message.Proposal{Num: c.Num, Protocol: c.Protocol, SPI: spiBytes(0xabcd), Transforms: childChosen(c.Num, sel, 0xabcd).Transforms})
	if err != nil || spi != 0xabcd || got.Transform != sel.Transform || got.Name != "aes256-sha256" {
		t.Fatalf("read back %v %x %v", got, spi, err)
	}
}

func TestProposalFromTransformSet(t *testing.T) {
	aes := crypto.Transform{Cipher: crypto.CipherAESCBC, KeyBits: 256}
	cases := []struct {
		name  string
		ah    crypto.Integ
		esp   crypto.Transform
		proto message.ProtocolID
		want  crypto.Transform
	}{
		{"ah-sha256-hmac", crypto.IntegHMACSHA256_128, crypto.Transform{}, message.ProtoAH, crypto.Transform{Integ: crypto.IntegHMACSHA256_128}},
		{"esp-gcm 256", 0, crypto.Transform{Cipher: crypto.CipherAESGCM16, KeyBits: 256}, message.ProtoESP, crypto.Transform{Cipher: crypto.CipherAESGCM16, KeyBits: 256}},
		{"esp-aes esp-sha256-hmac", 0, crypto.Transform{Cipher: crypto.CipherAESCBC, KeyBits: 256, Integ: crypto.IntegHMACSHA256_128}, message.ProtoESP,
			crypto.Transform{Cipher: crypto.CipherAESCBC, KeyBits: 256, Integ: crypto.IntegHMACSHA256_128}},
		// AH + ESP: one ESP SA keeping the integrity check.
		{"ah-sha-hmac esp-aes", crypto.IntegHMACSHA1_96, aes, message.ProtoESP, crypto.Transform{Cipher: crypto.CipherAESCBC, KeyBits: 256, Integ: crypto.IntegHMACSHA1_96}},
	}
	for _, c := range cases {
		p, err := ProposalFromTransformSet(c.name, c.ah, c.esp)
		if err != nil || p.Protocol != c.proto || p.Transform != c.want {
			t.Errorf("%s: %v %v", c.name, p, err)
		}
	}
	if _, err := ProposalFromTransformSet("null", 0, crypto.Transform{Cipher: crypto.CipherNull}); err == nil {
		t.Error("esp-null without authentication accepted")
	}
}

func TestSelectTS(t *testing.T) {
	lines := []ACLLine{aclLine(1, "10.2.2.0/24", "10.1.1.0/24"), aclLine(2, "10.2.3.0/24", "10.1.0.0/16")}
	static := &PeerConfig{Name: "static", Remote: netip.MustParsePrefix("192.0.2.1/32"),
		Children: []*ChildConfig{{Name: "map 10", ACL: "101", Lines: lines}}}
	tmpl := &PeerConfig{Name: "dyn", Remote: netip.MustParsePrefix("0.0.0.0/0"), Children: []*ChildConfig{{Name: "dyn 1"}}}
	pfx := func(s string) []ts.Selector { return []ts.Selector{ts.FromPrefix(netip.MustParsePrefix(s), 0)} }

	// Contained in line 2 only.
	ch, _ := selectTS([]*PeerConfig{static}, nil, pfx("10.1.7.0/24"), pfx("10.2.3.0/24"))
	if len(ch) != 1 || ch[0].line.Line != 2 || ch[0].narrowed != "" {
		t.Fatalf("choices %+v", ch)
	}
	// Wider than line 1: narrowed, with the reason.
	ch, _ = selectTS([]*PeerConfig{static}, nil, pfx("10.1.0.0/16"), pfx("10.2.2.0/23"))
	if len(ch) != 2 || ch[0].line.Line != 1 || ts.List(ch[0].remote) != "10.1.1.0/24" || ts.List(ch[0].local) != "10.2.2.0/24" ||
		!strings.Contains(ch[0].narrowed, "TSr 10.2.2.0/23 is wider than 10.2.2.0/24") {
		t.Fatalf("choices %+v", ch)
	}
	// The packet selects the line: TS[0] inside line 2 puts it first.
	pkt := []ts.Selector{ts.Host(netip.MustParseAddr("10.1.9.9"), 6, 80), ts.FromPrefix(netip.MustParsePrefix("10.1.0.0/16"), 0)}
	pktR := []ts.Selector{ts.Host(netip.MustParseAddr("10.2.3.3"), 6, 1000), ts.FromPrefix(netip.MustParsePrefix("10.2.0.0/16"), 0)}
	ch, _ = selectTS([]*PeerConfig{static}, nil, pkt, pktR)
	if ch[0].line.Line != 2 {
		t.Fatalf("packet did not pick line 2: %+v", ch)
	}
	// Nothing fits: each line says why; a template without ACL takes it.
	ch, why := selectTS([]*PeerConfig{static}, nil, pfx("172.16.0.0/16"), pfx("10.2.2.0/24"))
	if len(ch) != 0 || len(why) != 2 || !strings.Contains(why[0], "map 10 ACL 101 line 1 (permit ip 10.2.2.0/24 10.1.1.0/24): TSi 172.16.0.0/16 vs ACL destination 10.1.1.0/24: addresses do not overlap") {
		t.Fatalf("why %q", why)
	}
	ch, _ = selectTS([]*PeerConfig{static, tmpl}, nil, pfx("172.16.0.0/16"), pfx("10.2.2.0/24"))
	if len(ch) != 1 || ch[0].child.Name != "dyn 1" || ch[0].line != nil {
		t.Fatalf("template: %+v", ch)
	}
}

func TestTSForAcquire(t *testing.T) {
	cfg := &ChildConfig{Name: "m", Lines: []ACLLine{{Line: 3, Sel: spd.Selector{Proto: 6, Src: netip.MustParsePrefix("10.1.1.0/24"), Dst: netip.MustParsePrefix("10.2.0.0/16"),
		DstPorts: spd.PortMatch{Lo: 80, Hi: 443}}}}}
	flow := &spd.Flow{Src: netip.MustParseAddr("10.1.1.4"), Dst: netip.MustParseAddr("10.2.5.6"), Proto: 6, SrcPort: 5555, DstPort: 443}
	l, r := tsForAcquire(cfg, &cfg.Lines[0], flow)
	if ts.List(l) != "10.1.1.4[tcp/5555] 10.1.1.0/24[tcp]" || ts.List(r) != "10.2.5.6[tcp/443] 10.2.0.0/16[tcp/80-443]" {
		t.Fatalf("subnet: %s === %s", ts.List(l), ts.List(r))
	}
	cfg.PerHost = true
	l, r = tsForAcquire(cfg, &cfg.Lines[0], flow)
	if ts.List(l) != "10.1.1.4[tcp/5555] 10.1.1.4[tcp]" || ts.List(r) != "10.2.5.6[tcp/443] 10.2.5.6[tcp/80-443]" {
		t.Fatalf("per-host: %s === %s", ts.List(l), ts.List(r))
	}
	l, r = tsForAcquire(cfg, &cfg.Lines[0], nil)
	if ts.List(l) != "10.1.1.0/24[tcp]" || ts.List(r) != "10.2.0.0/16[tcp/80-443]" {
		t.Fatalf("without packet: %s === %s", ts.List(l), ts.List(r))
	}
}
