package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"ipsecgw/crypto"
	"ipsecgw/spd"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

func TestACLStatements(t *testing.T) {
	any4 := pfx("0.0.0.0/0")
	cases := []struct {
		stmt string
		sel  spd.Selector
		log  bool
	}{
		{"permit ip 10.0.68.0 0.0.0.255 10.1.1.0 0.0.0.255", spd.Selector{Src: pfx("10.0.68.0/24"), Dst: pfx("10.1.1.0/24")}, false},
		{"permit ip host 10.0.0.1 host 192.168.0.2", spd.Selector{Src: pfx("10.0.0.1/32"), Dst: pfx("192.168.0.2/32")}, false},
		{"permit ip 10.0.0.1 0.0.0.0 any", spd.Selector{Src: pfx("10.0.0.1/32"), Dst: any4}, false},
		{"deny ip any any log", spd.Selector{Src: any4, Dst: any4}, true},
		{"permit tcp 10.0.0.0 0.0.0.255 eq www any", spd.Selector{Proto: 6, Src: pfx("10.0.0.0/24"), SrcPorts: spd.PortMatch{Lo: 80, Hi: 80}, Dst: any4}, false},
		{"permit tcp any host 10.2.0.5 eq 22", spd.Selector{Proto: 6, Src: any4, Dst: pfx("10.2.0.5/32"), DstPorts: spd.PortMatch{Lo: 22, Hi: 22}}, false},
		{"permit udp any lt 1024 any gt 1023", spd.Selector{Proto: 17, Src: any4, SrcPorts: spd.PortMatch{Hi: 1023}, Dst: any4, DstPorts: spd.PortMatch{Lo: 1024, Hi: 65535}}, false},
		{"permit udp any any neq 53", spd.Selector{Proto: 17, Src: any4, Dst: any4, DstPorts: spd.PortMatch{Lo: 53, Hi: 53, Negate: true}}, false},
		{"permit tcp any any range 5000 5010 log-input", spd.Selector{Proto: 6, Src: any4, Dst: any4, DstPorts: spd.PortMatch{Lo: 5000, Hi: 5010}}, true},
		{"permit tcp any any range 0 65535", spd.Selector{Proto: 6, Src: any4, Dst: any4}, false},
		{"permit udp any eq isakmp any eq non500-isakmp", spd.Selector{Proto: 17, Src: any4, SrcPorts: spd.PortMatch{Lo: 500, Hi: 500}, Dst: any4, DstPorts: spd.PortMatch{Lo: 4500, Hi: 4500}}, false},
		{"permit icmp 10.0.0.0 0.255.255.255 any", spd.Selector{Proto: 1, Src: pfx("10.0.0.0/8"), Dst: any4}, false},
		{"permit esp any any", spd.Selector{Proto: 50, Src: any4, Dst: any4}, false},
		{"permit ahp any any", spd.Selector{Proto: 51, Src: any4, Dst: any4}, false},
		{"permit gre host 192.0.2.1 host 192.0.2.2", spd.Selector{Proto: 47, Src: pfx("192.0.2.1/32"), Dst: pfx("192.0.2.2/32")}, false},
		{"permit 89 any any", spd.Selector{Proto: 89, Src: any4, Dst: any4}, false},
		{"permit ip 10.1.0.0/16 172.16.0.0/12", spd.Selector{Src: pfx("10.1.0.0/16"), Dst: pfx("172.16.0.0/12")}, false},
		{"PERMIT IP ANY HOST 10.9.9.9", spd.Selector{Src: any4, Dst: pfx("10.9.9.9/32")}, false},
	}
	for _, c := range cases {
		p := mustParse(t, "access-list 150 "+c.stmt)
		l := p.ACLs["150"].Lines[0]
		if l.Sel != c.sel || l.Log != c.log || l.Permit != strings.HasPrefix(strings.ToLower(c.stmt), "permit") || l.Line != 1 {
			t.Errorf("%q: got %+v log=%v permit=%v", c.stmt, l.Sel, l.Log, l.Permit)
		}
	}
}

func TestNamedAndIPv6ACLs(t *testing.T) {
	p := mustParse(t,
		"ip access-list extended vpn-tunnel",
		" permit ip 10.0.0.0 0.0.0.255 10.1.0.0 0.0.0.255",
		" 5 deny tcp any any eq telnet",
		" remark the rest",
		" 30 permit udp any any eq 500",
		"no ip http server", // a global command ends the list
		"ipv6 access-list v6",
		" permit ipv6 2001:db8:1::/48 2001:db8:2::/48",
		" permit icmp any host 2001:db8::1",
		"access-list 2001 permit ip any any",
	)
	a := p.ACLs["vpn-tunnel"]
	if a == nil || len(a.Lines) != 3 || a.IPv6 || a.Numbered() {
		t.Fatalf("vpn-tunnel: %+v", a)
	}
	// Sequence numbers order the statements: 5, 10 (the first), 30.
	if a.Lines[0].Permit || a.Lines[1].Sel.Src != pfx("10.0.0.0/24") || a.Lines[2].Sel.Proto != 17 {
		t.Errorf("order: %+v %+v %+v", a.Lines[0], a.Lines[1], a.Lines[2])
	}
	for i, l := range a.Lines {
		if l.Line != i+1 {
			t.Errorf("line %d numbered %d", i+1, l.Line)
		}
	}
	if a.Lines[1].Pos.Line != 2 || a.Lines[0].Pos.Line != 3 {
		t.Errorf("positions %v %v", a.Lines[0].Pos, a.Lines[1].Pos)
	}
	v6 := p.ACLs["v6"]
	if v6 == nil || !v6.IPv6 || len(v6.Lines) != 2 || v6.Lines[0].Sel.Src != pfx("2001:db8:1::/48") || v6.Lines[1].Sel.Proto != 58 {
		t.Fatalf("v6: %+v", v6)
	}
	if !p.ACLs["2001"].Numbered() {
		t.Error("2001 is a numbered extended list")
	}
}

func TestTransformSets(t *testing.T) {
	cases := []struct {
		words string
		ah    crypto.Integ
		esp   crypto.Transform
	}{
		{"ah-md5-hmac", crypto.IntegHMACMD5_96, crypto.Transform{}},
		{"ah-sha-hmac", crypto.IntegHMACSHA1_96, crypto.Transform{}},
		{"ah-sha256-hmac", crypto.IntegHMACSHA256_128, crypto.Transform{}},
		{"ah-sha384-hmac", crypto.IntegHMACSHA384_192, crypto.Transform{}},
		{"ah-sha512-hmac", crypto.IntegHMACSHA512_256, crypto.Transform{}},
		{"esp-aes esp-sha-hmac", 0, crypto.Transform{Cipher: crypto.CipherAESCBC, KeyBits: 128, Integ: crypto.IntegHMACSHA1_96}},
		{"esp-aes 192 esp-sha384-hmac", 0, crypto.Transform{Cipher: crypto.CipherAESCBC, KeyBits: 192, Integ: crypto.IntegHMACSHA384_192}},
		{"esp-aes 256 esp-sha512-hmac", 0, crypto.Transform{Cipher: crypto.CipherAESCBC, KeyBits: 256, Integ: crypto.IntegHMACSHA512_256}},
		{"esp-des esp-md5-hmac", 0, crypto.Transform{Cipher: crypto.CipherDES, Integ: crypto.IntegHMACMD5_96}},
		{"esp-3des esp-sha256-hmac", 0, crypto.Transform{Cipher: crypto.Cipher3DES, Integ: crypto.IntegHMACSHA256_128}},
		{"esp-null esp-sha256-hmac", 0, crypto.Transform{Cipher: crypto.CipherNull, Integ: crypto.IntegHMACSHA256_128}},
		{"esp-sha256-hmac", 0, crypto.Transform{Cipher: crypto.CipherNull, Integ: crypto.IntegHMACSHA256_128}},
		{"ah-sha-hmac esp-null", crypto.IntegHMACSHA1_96, crypto.Transform{Cipher: crypto.CipherNull}},
		{"esp-gcm", 0, crypto.Transform{Cipher: crypto.CipherAESGCM16, KeyBits: 128}},
		{"esp-gcm 192", 0, crypto.Transform{Cipher: crypto.CipherAESGCM16, KeyBits: 192}},
		{"esp-gcm 256", 0, crypto.Transform{Cipher: crypto.CipherAESGCM16, KeyBits: 256}},
		{"esp-gmac 256", 0, crypto.Transform{Cipher: crypto.CipherAESGMAC, KeyBits: 256}},
		{"esp-chacha20-poly1305", 0, crypto.Transform{Cipher: crypto.CipherChaCha20Poly1305}},
		{"ah-sha256-hmac esp-aes 256 esp-sha256-hmac", crypto.IntegHMACSHA256_128, crypto.Transform{Cipher: crypto.CipherAESCBC, KeyBits: 256, Integ: crypto.IntegHMACSHA256_128}},
		{"esp-sha-hmac esp-aes", 0, crypto.Transform{Cipher: crypto.CipherAESCBC, KeyBits: 128, Integ: crypto.IntegHMACSHA1_96}},
		{"ah-sha-hmac esp-gcm 256", crypto.IntegHMACSHA1_96, crypto.Transform{Cipher: crypto.CipherAESGCM16, KeyBits: 256}},
	}
	for _, c := range cases {
		p, _ := parse(t, "crypto ipsec transform-set t "+c.words)
		ts := p.TransformSets["t"]
		if ts == nil || ts.AH != c.ah || ts.ESP != c.esp || ts.Mode != Tunnel {
			t.Errorf("%q: %+v", c.words, ts)
		}
	}
	p := mustParse(t, "crypto ipsec transform-set t esp-gcm 256", "mode transport", "crypto ipsec transform-set u esp-gcm", " mode transport", " mode tunnel")
	if p.TransformSets["t"].Mode != Transport || p.TransformSets["u"].Mode != Tunnel {
		t.Errorf("modes: %v %v", p.TransformSets["t"].Mode, p.TransformSets["u"].Mode)
	}
}

// TestModesByCommand checks that the configuration mode follows commands,
// not indentation: the guide's own example has sub-commands flush left.
func TestModesByCommand(t *testing.T) {
	p, d := parse(t,
		"crypto isakmp policy 10",
		"encryption aes 256",
		"authentication pre-share",
		"group 14",
		"lifetime 180",
		"crypto map m 10 ipsec-isakmp",
		"set peer 192.0.2.2",
		"set transform-set t",
		"match address 101",
		"interface outside",
		"ip address 192.0.2.1 255.255.255.0",
		"duplex auto",
		"crypto map m",
		"ip route 10.2.0.0 255.255.0.0 192.0.2.2",
		"crypto ipsec transform-set t esp-gcm 128",
		"access-list 101 permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255",
	)
	checkDiags(t, d, "12 warning: not implemented, ignored: duplex auto")
	pol := p.ISAKMP.Policies[0]
	if pol.Lifetime != 180 || pol.Group != 14 || pol.Authentication != AuthPreShare || pol.Encryption != (Encryption{crypto.CipherAESCBC, 256}) {
		t.Errorf("isakmp policy %+v", pol)
	}
	e := p.CryptoMaps["m"].Entries[0]
	if len(e.Peers) != 1 || e.MatchAddress != "101" || e.ACL == nil || len(e.TransformSets) != 1 {
		t.Errorf("entry %+v", e)
	}
	i := p.Interfaces["outside"]
	if i.CryptoMap == nil || i.Addresses[0] != pfx("192.0.2.1/24") || len(p.Routes) != 1 {
		t.Errorf("interface %+v routes %v", i, p.Routes)
	}
}

func TestCryptoMapEntries(t *testing.T) {
	p := mustParse(t,
		"crypto ipsec transform-set a esp-aes 256 esp-sha256-hmac",
		"crypto ipsec transform-set g esp-gcm 128",
		"crypto ikev2 profile prof",
		" match identity remote address 192.0.2.2 255.255.255.255",
		" authentication remote pre-share",
		" authentication local pre-share",
		" keyring local kr",
		"crypto ikev2 keyring kr",
		" peer p",
		"  address 192.0.2.2",
		"  pre-shared-key k",
		"crypto map m local-address outside",
		"crypto map m 20 ipsec-isakmp",
		" description second entry",
		" set peer 192.0.2.3",
		" set peer 192.0.2.2 default",
		" set transform-set g a",
		" set security-association lifetime seconds 2700",
		" set security-association lifetime kilobytes 10000",
		" set security-association level per-host",
		" set security-association replay window-size 1024",
		" set pfs group19",
		" set ikev2-profile prof",
		" match address 102",
		" reverse-route",
		"crypto map m 10",
		" set peer 192.0.2.2",
		" set transform-set g",
		" set pfs",
		" set security-association replay disable",
		" match address 101",
		"crypto map m 30 ipsec-manual",
		" set peer 192.0.2.2",
		" set transform-set a",
		" set session-key inbound esp 300 cipher "+strings.Repeat("11", 32)+" authenticator "+strings.Repeat("22", 32),
		" set session-key outbound esp 301 cipher "+strings.Repeat("33", 32)+" authenticator "+strings.Repeat("44", 32),
		" match address 103",
		"crypto dynamic-map dyn 5",
		" set transform-set g",
		" match address 104",
		"crypto map m 40 ipsec-isakmp dynamic dyn",
		"interface outside",
		" ip address 192.0.2.1 255.255.255.0",
		" crypto map m",
		"access-list 101 permit ip 10.1.1.0 0.0.0.255 10.2.1.0 0.0.0.255",
		"access-list 102 permit ip 10.1.2.0 0.0.0.255 10.2.2.0 0.0.0.255",
		"access-list 103 permit ip 10.1.3.0 0.0.0.255 10.2.3.0 0.0.0.255",
		"access-list 104 permit ip 10.1.4.0 0.0.0.255 10.2.4.0 0.0.0.255",
	)
	m := p.CryptoMaps["m"]
	if m.LocalAddress != "outside" || len(m.Entries) != 4 {
		t.Fatalf("map %+v", m)
	}
	seqs := []int{m.Entries[0].Seq, m.Entries[1].Seq, m.Entries[2].Seq, m.Entries[3].Seq}
	if !reflect.DeepEqual(seqs, []int{10, 20, 30, 40}) {
		t.Errorf("entries not in sequence order: %v", seqs)
	}
	e10, e20, e30, e40 := m.Entries[0], m.Entries[1], m.Entries[2], m.Entries[3]
	if e10.Kind != ISAKMPEntry || e10.PFS != 1 || e10.ReplayWindow != ReplayDisabled {
		t.Errorf("entry 10: %+v", e10)
	}
	want20 := MapEntry{
		Map: "m", Seq: 20, Kind: ISAKMPEntry, Description: "second entry", MatchAddress: "102",
		Peers:             []netip.Addr{addr("192.0.2.2"), addr("192.0.2.3")},
		TransformSetNames: []string{"g", "a"},
		Lifetime:          Lifetime{Seconds: 2700, Kilobytes: 10000},
		PerHost:           true, ReplayWindow: 1024, PFS: 19, IKEv2ProfileName: "prof", ReverseRoute: true,
	}
	got := *e20
	got.ACL, got.TransformSets, got.IKEv2Profile = nil, nil, nil
	stripPos(&got)
	if !reflect.DeepEqual(got, want20) {
		t.Errorf("entry 20:\n got %+v\nwant %+v", got, want20)
	}
	if e20.ACL != p.ACLs["102"] || e20.TransformSets[0] != p.TransformSets["g"] || e20.IKEv2Profile != p.IKEv2.Profiles["prof"] {
		t.Error("entry 20 references not resolved")
	}
	k := e30.SessionKeys
	if e30.Kind != ManualEntry || k.InboundESP.SPI != 300 || k.OutboundESP.SPI != 301 || len(k.InboundESP.Cipher) != 32 || k.OutboundESP.Auth[0] != 0x44 || k.InboundAH != nil {
		t.Errorf("entry 30: %+v", e30)
	}
	if e40.Kind != DynamicEntry || e40.DynamicMap != p.DynamicMaps["dyn"] || p.DynamicMaps["dyn"].Entries[0].ACL != p.ACLs["104"] {
		t.Errorf("entry 40: %+v", e40)
	}
}

func TestIKEConfiguration(t *testing.T) {
	p := mustParse(t,
		"crypto isakmp policy 20",
		" encr 3des",
		" hash md5",
		" authentication pre-share",
		" group 2",
		"crypto isakmp policy 10",
		" encryption aes",
		" hash sha256",
		" authentication pre-share",
		" group 14",
		"crypto isakmp key 0 k1 address 192.0.2.2",
		"crypto isakmp key k2 address 192.0.2.0 255.255.255.0 no-xauth",
		"crypto isakmp key k3 address 0.0.0.0",
		"crypto isakmp key k4 address ipv6 2001:db8::/32",
		"crypto isakmp keepalive 10 3 periodic",
		"crypto ikev2 proposal p1",
		" encryption aes-cbc-256 aes-cbc-128",
		" integrity sha256",
		" integrity sha1",
		" prf sha256",
		" group 19 14",
		"crypto ikev2 proposal p2",
		" encryption aes-gcm-256",
		" prf sha384",
		" group 20",
		"crypto ikev2 policy pol",
		" match address local 192.0.2.1",
		" proposal p1",
		" proposal p2",
		"crypto ikev2 keyring kr",
		" peer a",
		"  description site a",
		"  address 192.0.2.2",
		"  pre-shared-key k",
		" peer b",
		"  address 198.51.100.0 255.255.255.0",
		"  pre-shared-key local kl",
		"  pre-shared-key remote kr",
		"crypto ikev2 profile prof",
		" description to a",
		" match identity remote address 192.0.2.2 255.255.255.255",
		" match identity remote address 2001:db8::/32",
		" match address local 192.0.2.1",
		" identity local address 192.0.2.1",
		" authentication remote pre-share",
		" authentication local pre-share",
		" keyring local kr",
		" lifetime 3600",
		" dpd 10 5 on-demand",
		"crypto ipsec security-association lifetime seconds 1800",
		"crypto ipsec security-association lifetime kilobytes 100000",
		"crypto ipsec security-association replay window-size 256",
	)
	is := p.ISAKMP
	if len(is.Policies) != 2 || is.Policies[0].Priority != 10 || is.Policies[1].Encryption.Cipher != crypto.Cipher3DES || is.Policies[1].Hash != PRFHMACMD5 || is.Policies[1].Group != 2 {
		t.Errorf("isakmp policies %+v %+v", is.Policies[0], is.Policies[1])
	}
	if is.Policies[0].Encryption != (Encryption{crypto.CipherAESCBC, 128}) || is.Policies[0].Lifetime != DefaultISAKMPLifetime {
		t.Errorf("policy 10 %+v", is.Policies[0])
	}
	wantKeys := []netip.Prefix{pfx("192.0.2.2/32"), pfx("192.0.2.0/24"), pfx("0.0.0.0/0"), pfx("2001:db8::/32")}
	for i, k := range is.Keys {
		if k.Peer != wantKeys[i] || k.Key.Reveal() != "k"+string(rune('1'+i)) {
			t.Errorf("key %d: %v %q", i, k.Peer, k.Key.Reveal())
		}
	}
	if ka := is.Keepalive; ka == nil || ka.Interval != 10 || ka.Retry != 3 || !ka.Periodic {
		t.Errorf("keepalive %+v", ka)
	}
	p1 := p.IKEv2.Proposals["p1"]
	if len(p1.Encryption) != 2 || !reflect.DeepEqual(p1.Integrity, []crypto.Integ{crypto.IntegHMACSHA256_128, crypto.IntegHMACSHA1_96}) || !reflect.DeepEqual(p1.Groups, []DHGroup{19, 14}) || p1.AEAD() {
		t.Errorf("p1 %+v", p1)
	}
	if p2 := p.IKEv2.Proposals["p2"]; !p2.AEAD() || p2.PRFs()[0] != PRFHMACSHA2_384 {
		t.Errorf("p2 %+v", p2)
	}
	pol := p.IKEv2.Policies["pol"]
	if len(pol.Proposals) != 2 || pol.MatchLocal[0] != addr("192.0.2.1") {
		t.Errorf("policy %+v", pol)
	}
	kr := p.IKEv2.Keyrings["kr"]
	if kr.Peer(addr("192.0.2.2")).LocalKey().Reveal() != "k" || kr.Peer(addr("198.51.100.7")).RemoteKey().Reveal() != "kr" || kr.Peer(addr("198.51.100.7")).LocalKey().Reveal() != "kl" || kr.Peer(addr("192.0.2.9")) != nil {
		t.Error("keyring lookups")
	}
	pr := p.IKEv2.Profiles["prof"]
	if pr.Keyring != kr || !pr.MatchesRemote(addr("192.0.2.2")) || !pr.MatchesRemote(addr("2001:db8::5")) || pr.MatchesRemote(addr("192.0.2.3")) ||
		pr.Lifetime != 3600 || *pr.DPD != (DPD{Interval: 10, Retry: 5}) || pr.LocalIdentity != addr("192.0.2.1") || pr.Description != "to a" {
		t.Errorf("profile %+v", pr)
	}
	if p.IPsec.Lifetime != (Lifetime{1800, 100000}) || p.IPsec.ReplayWindow != 256 {
		t.Errorf("globals %+v", p.IPsec)
	}
}

func TestInterfacesAndRoutes(t *testing.T) {
	p, d := parse(t,
		"interface FastEthernet 0/0",
		" description uplink",
		" ip address 192.0.2.1 255.255.255.0",
		" ip address 198.51.100.1 255.255.255.0 secondary",
		" ipv6 address 2001:db8::1/64",
		" ip address 192.0.2.5 255.255.255.0",
		" no ip route-cache",
		" ip nat outside",
		" shutdown",
		"ip nat inside source list 1 interface FastEthernet0/0 overload",
		"ip route 0.0.0.0 0.0.0.0 192.0.2.254",
		"ip route 10.0.0.0 255.0.0.0 FastEthernet0/0 192.0.2.253 200",
		"ip route 10.9.0.0 255.255.0.0 Null0",
		"ipv6 route 2001:db8:1::/48 2001:db8::fe",
		"ip route 10.8.0.0 255.255.0.0 192.0.2.250 tag 7",
	)
	checkDiags(t, d,
		"7 warning: no ip route-cache",
		"8 warning: ip nat outside",
		"9 warning: shutdown",
		"10 warning: ip nat inside source",
		"15 warning: route option \"tag 7\"",
	)
	i := p.Interfaces["FastEthernet0/0"]
	want := []netip.Prefix{pfx("192.0.2.5/24"), pfx("198.51.100.1/24"), pfx("2001:db8::1/64")}
	if i == nil || !reflect.DeepEqual(i.Addresses, want) || i.Description != "uplink" {
		t.Fatalf("interface %+v", i)
	}
	if i.Addr(addr("10.0.0.1")) != addr("192.0.2.5") || i.Addr(addr("2001:db8::9")) != addr("2001:db8::1") || !i.HasAddr(addr("198.51.100.1")) {
		t.Error("address lookups")
	}
	routes := []Route{
		{Prefix: pfx("0.0.0.0/0"), NextHop: addr("192.0.2.254")},
		{Prefix: pfx("10.0.0.0/8"), Interface: "FastEthernet0/0", NextHop: addr("192.0.2.253"), Distance: 200},
		{Prefix: pfx("10.9.0.0/16"), Interface: "Null0"},
		{Prefix: pfx("2001:db8:1::/48"), NextHop: addr("2001:db8::fe")},
		{Prefix: pfx("10.8.0.0/16"), NextHop: addr("192.0.2.250")},
	}
	stripPos(&p.Routes)
	if !reflect.DeepEqual(p.Routes, routes) {
		t.Errorf("routes\n got %+v\nwant %+v", p.Routes, routes)
	}
}

// TestIgnoredConfiguration checks that what the gateway does not implement
// is skipped with one warning, including multi-line stanzas and banners.
func TestIgnoredConfiguration(t *testing.T) {
	p, d := parse(t,
		"version 17.3",
		"! a comment",
		"banner motd ^C",
		"crypto map inside 10 ipsec-isakmp",
		"^C",
		"line vty 0 4",
		" password secret",
		" transport input ssh",
		"router ospf 1",
		" network 10.0.0.0 0.255.255.255 area 0",
		" crypto map x",
		"hostname gw1",
		"end",
	)
	checkDiags(t, d,
		"1 warning: version 17.3",
		"3 warning: banner motd",
		"6 warning: line vty 0 4",
		"9 warning: router ospf 1",
	)
	if p.Hostname != "gw1" || len(p.CryptoMaps) != 0 {
		t.Errorf("hostname %q maps %v", p.Hostname, p.CryptoMaps)
	}
}
