package config

import (
	"strings"
	"testing"
)

// A valid base the cases below extend: a transform set, an ACL, a map
// entry and the interface it is applied to (lines 1-8).
var base = []string{
	"crypto ipsec transform-set ts esp-aes 256 esp-sha256-hmac", // 1
	"access-list 101 permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255",
	"crypto map m 10 ipsec-isakmp", // 3
	" set peer 192.0.2.2",
	" set transform-set ts", // 5
	" match address 101",
	"interface outside", // 7
	" ip address 192.0.2.1 255.255.255.0",
}

func withBase(lines ...string) []string { return append(append([]string(nil), base...), lines...) }

func TestBaseIsClean(t *testing.T) {
	_, d := parse(t, base...)
	checkDiags(t, d)
}

// TestValidationMessages lists every message validation and the parser
// produce, each with the configuration that triggers it.
func TestValidationMessages(t *testing.T) {
	cases := []struct {
		name  string
		lines []string
		want  []string
	}{
		// Unknown references.
		{"unknown ACL", withBase(" crypto map m", "crypto map m 20 ipsec-isakmp", " set peer 192.0.2.3", " set transform-set ts", " match address 199"),
			[]string{"13 error: crypto map m 20: unknown access list 199"}},
		{"standard ACL", withBase("access-list 10 permit 10.0.0.0 0.0.0.255", "crypto map m 20", " set peer 192.0.2.3", " set transform-set ts", " match address 10"),
			[]string{"9 warning: standard access list 10", "13 error: access list 10 is a standard list"}},
		{"unknown transform set", withBase("crypto map m 20", " set peer 192.0.2.3", " set transform-set ts nope", " match address 102", "access-list 102 permit ip host 10.1.0.1 host 10.2.0.1"),
			[]string{"11 error: crypto map m 20: unknown transform set nope"}},
		{"unknown crypto map", withBase(" crypto map nope"),
			[]string{"9 error: interface outside: unknown crypto map nope"}},
		{"unknown local-address interface", withBase(" crypto map m", "crypto map m local-address loopback0"),
			[]string{"10 error: crypto map m local-address: unknown interface loopback0"}},
		{"unknown ikev2 profile", withBase(" crypto map m", "crypto map m 10", " set ikev2-profile nope"),
			[]string{"11 error: crypto map m 10: unknown ikev2 profile nope"}},
		{"unknown dynamic map", withBase(" crypto map m", "crypto map m 100 ipsec-isakmp dynamic nope"),
			[]string{"10 error: crypto map m 100: unknown dynamic map nope"}},
		{"profile cannot authenticate the peer", withBase(" crypto map m",
			"crypto ikev2 keyring kr", " peer x", "  address 192.0.2.9", "  pre-shared-key k",
			"crypto ikev2 profile p", " match identity remote address 192.0.2.0 255.255.255.128", " authentication local pre-share", " authentication remote pre-share", " keyring local kr",
			"crypto map m 10", " set peer 192.0.2.200", " set ikev2-profile p"),
			[]string{"21 warning: keyring kr of ikev2 profile p has no pre-shared key for peer 192.0.2.2 (no", "21 warning: ikev2 profile p does not match peer 192.0.2.200",
				"21 warning: keyring kr of ikev2 profile p has no pre-shared key for peer 192.0.2.200"}},
		{"unknown ikev2 proposal", []string{"crypto ikev2 policy p", " proposal nope"},
			[]string{"2 error: ikev2 policy p: unknown proposal nope"}},
		{"unknown keyring", []string{"crypto ikev2 profile p", " match identity remote address 192.0.2.2", " authentication local pre-share", " authentication remote pre-share", " keyring local nope"},
			[]string{"5 error: ikev2 profile p: unknown keyring nope"}},
		{"unknown route interface", []string{"ip route 10.0.0.0 255.0.0.0 Tunnel7"},
			[]string{"1 error: route 10.0.0.0/8: unknown interface Tunnel7"}},

		// Malformed addresses, wildcards and masks.
		{"malformed address", []string{"access-list 101 permit ip 10.0.0.300 0.0.0.255 any"},
			[]string{`1 error: access list 101: source: malformed address "10.0.0.300"`}},
		{"malformed wildcard", []string{"access-list 101 permit ip 10.0.0.0 0.0.0.256 any"},
			[]string{`1 error: malformed wildcard mask "0.0.0.256"`}},
		{"discontiguous wildcard", []string{"access-list 101 permit ip 10.0.0.0 0.255.0.255 any"},
			[]string{"1 error: discontiguous wildcard mask 0.255.0.255 is not supported"}},
		{"missing wildcard", []string{"access-list 101 permit ip 10.0.0.0"},
			[]string{"1 error: address 10.0.0.0: missing wildcard mask"}},
		{"bits outside wildcard", []string{"access-list 101 permit ip 10.0.0.5 0.0.0.255 any"},
			[]string{"1 warning: address 10.0.0.5 has bits set outside its mask; it means 10.0.0.0/24"}},
		{"malformed netmask", []string{"interface x", " ip address 192.0.2.1 255.0.255.0"},
			[]string{"2 error: malformed mask 255.0.255.0 (not contiguous)"}},
		{"network address on interface", []string{"interface x", " ip address 192.0.2.0 255.255.255.0"},
			[]string{"2 error: interface x: 192.0.2.0 is the network or broadcast address"}},
		{"route host bits", []string{"ip route 10.0.0.1 255.0.0.0 192.0.2.1"},
			[]string{"1 error: route 10.0.0.1/8: inconsistent address and mask"}},
		{"peer hostname", withBase(" crypto map m", "crypto map m 10", " set peer vpn.example.com"),
			[]string{"11 error: set peer vpn.example.com: peers are given by IP address"}},
		{"ACL family", []string{"ipv6 access-list 101", " permit ipv6 any any", "access-list 101 permit ip any any"},
			[]string{"3 error: access list 101 is already defined as an IPv6 list"}},
		{"unknown protocol", []string{"access-list 101 permit bogus any any"},
			[]string{`1 error: unknown protocol "bogus"`}},
		{"ports on ip", []string{"access-list 101 permit ip any eq 80 any"},
			[]string{"1 error: port conditions apply to tcp and udp only"}},
		{"port 0", []string{"access-list 101 permit tcp any any eq 0"},
			[]string{"1 error: port 0 cannot be matched"}},
		{"unsupported ACE option", []string{"access-list 101 permit tcp any any established"},
			[]string{`1 error: "established" is not supported in crypto access lists`}},
		{"bad ACL number", []string{"access-list 300 permit ip any any"},
			[]string{"1 error: access list number 300: extended lists are numbered 100-199 and 2000-2699"}},

		// Transform sets.
		{"two ESP ciphers", []string{"crypto ipsec transform-set t esp-aes esp-3des esp-sha-hmac"},
			[]string{"1 error: esp-aes and esp-3des: a transform set takes at most one ESP encryption transform"}},
		{"two AH", []string{"crypto ipsec transform-set t ah-sha-hmac ah-md5-hmac"},
			[]string{"1 error: at most one AH transform"}},
		{"two authenticators", []string{"crypto ipsec transform-set t esp-aes esp-sha-hmac esp-md5-hmac"},
			[]string{"1 error: at most one ESP authentication transform"}},
		{"AEAD with authenticator", []string{"crypto ipsec transform-set t esp-gcm 256 esp-sha256-hmac"},
			[]string{"1 error: esp-gcm is a combined-mode cipher and takes no ESP authenticator"}},
		{"esp-null alone", []string{"crypto ipsec transform-set t esp-null"},
			[]string{"1 error: esp-null needs an ESP authenticator or an AH transform"}},
		{"unknown transform", []string{"crypto ipsec transform-set t esp-aes-256"},
			[]string{`1 error: unknown transform "esp-aes-256"`}},
		{"bad key size", []string{"crypto ipsec transform-set t esp-aes 512 esp-sha-hmac"},
			[]string{"1 error: esp-aes 512: key size must be one of 128, 192, 256"}},
		{"no transforms", []string{"crypto ipsec transform-set t"},
			[]string{"1 error: transform set t: no transforms given"}},
		{"bad mode", []string{"crypto ipsec transform-set t esp-gcm", " mode bogus"},
			[]string{"2 error: want mode {tunnel|transport}"}},
		{"refused set is not also unknown", withBase(" crypto map m", "crypto ipsec transform-set bad esp-null", "crypto map m 10", " set transform-set bad"),
			[]string{"10 error: esp-null needs"}},

		// Deprecated algorithms (RFC 8221/8247) still work.
		{"deprecated transforms", []string{"crypto ipsec transform-set t esp-des esp-md5-hmac", "crypto ipsec transform-set u ah-md5-hmac esp-3des"},
			[]string{"1 warning: esp-des is deprecated", "1 warning: esp-md5-hmac is deprecated", "2 warning: ah-md5-hmac is deprecated", "2 warning: esp-3des is deprecated"}},
		{"deprecated PFS", withBase(" crypto map m", "crypto map m 10", " set pfs", "crypto map m 10", " set pfs group5"),
			[]string{"11 warning: PFS group1 is deprecated", "13 warning: PFS group5 is deprecated"}},
		{"deprecated isakmp", []string{"crypto isakmp policy 1", " encryption 3des", " hash md5", " authentication pre-share", " group 2", "crypto isakmp policy 2", " authentication pre-share"},
			[]string{"2 warning: encryption 3des is deprecated", "3 warning: hash md5 is deprecated", "5 warning: group 2 is deprecated",
				"6 warning: encryption des (the IOS default when none is configured) is deprecated", "6 warning: group 1 (the IOS default when none is configured) is deprecated"}},
		{"deprecated ikev2", []string{"crypto ikev2 proposal p", " encryption 3des", " integrity md5", " prf md5", " group 5"},
			[]string{"2 warning: encryption 3des is deprecated", "3 warning: integrity md5 is deprecated", "4 warning: prf md5 is deprecated", "5 warning: group 5 is deprecated"}},

		// Entries.
		{"incomplete isakmp entry", []string{"crypto map m 10 ipsec-isakmp"},
			[]string{"1 error: no match address", "1 error: no set peer", "1 error: no set transform-set"}},
		{"kind change", withBase("crypto map m 10 ipsec-manual"),
			[]string{"9 error: crypto map m 10 is already defined as ipsec-isakmp"}},
		{"sub-command on dynamic reference", withBase(" crypto map m", "crypto dynamic-map d 1", " set transform-set ts", "crypto map m 100 ipsec-isakmp dynamic d", " set peer 192.0.2.9"),
			[]string{"10 warning: no match address: it accepts any traffic selectors", "13 error: crypto map m 100 includes dynamic map d: configure \"set peer 192.0.2.9\""}},
		{"same ACL twice", withBase(" crypto map m", "crypto map m 20", " set peer 192.0.2.3", " set transform-set ts", " match address 101"),
			[]string{"13 error: crypto map m 20: access list 101 is already used by crypto map m 10"}},
		{"same ACL in a dynamic entry", withBase(" crypto map m", "crypto dynamic-map d 1", " set transform-set ts", " match address 101", "crypto map m 100 ipsec-isakmp dynamic d"),
			[]string{"12 error: dynamic-map d 1: access list 101 is already used by crypto map m 10"}},
		{"dynamic entry not last", withBase(" crypto map m", "crypto dynamic-map d 1", " set transform-set ts", " match address 102", "access-list 102 permit ip host 10.1.0.1 host 10.3.0.1", "crypto map m 5 ipsec-isakmp dynamic d"),
			[]string{"14 warning: crypto map m 5 includes dynamic map d but static entry 10 follows it"}},
		{"dynamic entry without transform set or ACL", []string{"crypto dynamic-map d 1", " set peer 192.0.2.9"},
			[]string{"1 error: dynamic-map d 1: no set transform-set", "1 warning: dynamic-map d 1: no match address: it accepts any traffic selectors"}},
		{"session key outside manual", withBase(" crypto map m", "crypto map m 10", " set session-key inbound esp 300 cipher 00"),
			[]string{"11 error: crypto map m 10: session keys belong in ipsec-manual crypto map entries"}},
		{"lifetime range", withBase(" crypto map m", "crypto map m 10", " set security-association lifetime seconds 60"),
			[]string{"11 error: lifetime 60 out of range 120-86400 seconds"}},
		{"replay window", []string{"crypto ipsec security-association replay window-size 100"},
			[]string{"1 error: replay window size 100: want a power of two from 64 to 4096"}},
		{"duplicate peer", withBase(" crypto map m", "crypto map m 10", " set peer 192.0.2.2"),
			[]string{"11 warning: peer 192.0.2.2 is already set"}},
		{"peer is own address", withBase(" crypto map m", "crypto map m 10", " set peer 192.0.2.1"),
			[]string{"4 warning: crypto map m 10: peer 192.0.2.1 is this gateway's own address (interface outside)"}},
		{"too many transform sets", withBase("crypto map m 10", " set transform-set a b c d e f g"),
			[]string{"10 error: at most 6 transform sets, got 7"}},

		// Crypto ACLs.
		{"permit any any", []string{"crypto ipsec transform-set ts esp-gcm", "access-list 101 permit ip any any", "crypto map m 10", " set peer 192.0.2.2", " set transform-set ts", " match address 101"},
			[]string{`2 warning: access list 101 line 1: "permit ip any any" in a crypto access list protects all traffic`}},
		{"any on one side", []string{"crypto ipsec transform-set ts esp-gcm", "access-list 101 deny ip host 10.1.0.1 any", "access-list 101 permit ip 10.1.0.0 0.0.255.255 any", "crypto map m 10", " set peer 192.0.2.2", " set transform-set ts", " match address 101"},
			[]string{"3 warning: access list 101 line 2: `any` in a crypto access list is discouraged"}},
		{"any outside crypto ACLs is fine", []string{"access-list 110 permit ip 10.0.0.0 0.0.0.255 any"}, nil},
		{"reverse-route with any", []string{"crypto ipsec transform-set ts esp-gcm", "access-list 101 permit ip 10.1.0.0 0.0.255.255 any", "crypto map m 10", " set peer 192.0.2.2", " set transform-set ts", " match address 101", " reverse-route"},
			[]string{"2 warning: `any` in a crypto access list", "3 warning: reverse-route with `any` in access list 101 is not supported"}},
		{"ACL without permit", []string{"crypto ipsec transform-set ts esp-gcm", "access-list 101 deny ip host 10.1.0.1 host 10.2.0.1", "crypto map m 10", " set peer 192.0.2.2", " set transform-set ts", " match address 101"},
			[]string{"6 warning: crypto map m 10: access list 101 has no permit statement: the entry protects nothing"}},
		{"empty ACL", []string{"crypto ipsec transform-set ts esp-gcm", "ip access-list extended e", "crypto map m 10", " set peer 192.0.2.2", " set transform-set ts", " match address e"},
			[]string{"6 warning: crypto map m 10: access list e is empty"}},

		// Interfaces.
		{"crypto map without address", withBase("interface inside", " crypto map m"),
			[]string{"10 error: interface inside: crypto map m is applied but the interface has no IP address"}},
		{"overlapping subnets", []string{"interface a", " ip address 10.0.0.1 255.255.255.0", "interface b", " ip address 10.0.0.2 255.255.0.0"},
			[]string{"3 warning: interface b: 10.0.0.2/16 overlaps 10.0.0.1/24 of interface a"}},

		// IKE.
		{"isakmp without authentication", []string{"crypto isakmp policy 1", " encryption aes 256", " group 14"},
			[]string{"1 error: isakmp policy 1: authentication defaults to rsa-sig, which ipsecgw does not support"}},
		{"isakmp rsa-sig", []string{"crypto isakmp policy 1", " encryption aes 256", " group 14", " authentication rsa-sig"},
			[]string{"1 error: isakmp policy 1: authentication rsa-sig is not supported"}},
		{"isakmp key type 6", []string{"crypto isakmp key 6 abc address 192.0.2.2"},
			[]string{"1 error: type 6 encrypted keys are not supported"}},
		{"isakmp key replaced", []string{"crypto isakmp key a address 192.0.2.2", "crypto isakmp key b address 192.0.2.2 255.255.255.255"},
			[]string{"2 warning: crypto isakmp key for 192.0.2.2/32 replaces the one at t.cfg:1"}},
		{"ikev2 proposal incomplete", []string{"crypto ikev2 proposal a", " encryption aes-cbc-256", "crypto ikev2 proposal b", " integrity sha256", "crypto ikev2 proposal c", " encryption aes-gcm-256", " group 19"},
			[]string{"1 error: ikev2 proposal a: no integrity", "1 error: ikev2 proposal a: no group", "3 error: ikev2 proposal b: no encryption", "3 error: ikev2 proposal b: no group", "5 error: ikev2 proposal c: combined-mode encryption needs a prf"}},
		{"ikev2 AEAD mix", []string{"crypto ikev2 proposal a", " encryption aes-gcm-256 aes-cbc-256", " integrity sha256", " group 19"},
			[]string{"1 error: mixes combined-mode (aes-gcm) and other encryption"}},
		{"ikev2 AEAD with integrity", []string{"crypto ikev2 proposal a", " encryption aes-gcm-256", " integrity sha256", " prf sha256", " group 19"},
			[]string{"1 error: aes-gcm is a combined-mode cipher and takes no integrity"}},
		{"ikev2 unknown algorithm", []string{"crypto ikev2 proposal a", " encryption aes-cbc-512"},
			[]string{"1 error: ikev2 proposal a: no encryption", "1 error: ikev2 proposal a: no group", `2 error: ikev2 proposal a: unknown encryption "aes-cbc-512"`}},
		{"ikev2 policy without proposal", []string{"crypto ikev2 policy p", " match address local 192.0.2.1"},
			[]string{"1 error: ikev2 policy p: no proposal"}},
		{"keyring peer incomplete", []string{"crypto ikev2 keyring k", " peer a", " peer b", "  address 192.0.2.2", "  pre-shared-key local x"},
			[]string{"2 error: keyring k peer a: no address", "2 error: keyring k peer a: no pre-shared-key", "3 error: keyring k peer b: pre-shared-key local and remote must both be set"}},
		{"profile incomplete", []string{"crypto ikev2 profile p", " lifetime 600"},
			[]string{"1 error: no match identity remote", "1 error: authentication local pre-share is missing", "1 error: authentication remote pre-share is missing", "1 error: no keyring local"}},
		{"profile rsa-sig", []string{"crypto ikev2 profile p", " authentication remote rsa-sig"},
			[]string{"1 error: no match identity remote", "1 error: authentication local pre-share is missing", "1 error: authentication remote pre-share is missing", "1 error: no keyring local", "2 error: authentication rsa-sig is not supported (only pre-share)"}},
		{"dpd syntax", []string{"crypto ikev2 profile p", " dpd 5 3 periodic"},
			[]string{"1 error: no match identity remote", "1 error: authentication local pre-share is missing", "1 error: authentication remote pre-share is missing", "1 error: no keyring local", "2 error: dpd interval 5 out of range 10-3600"}},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			_, d := parse(t, c.lines...)
			checkDiags(t, d, c.want...)
		})
	}
}

// manual returns a manual entry for transform set ts with the given
// sub-commands (entry at line 3, sub-commands from line 6).
func manual(ts string, sub ...string) []string {
	lines := []string{
		"crypto ipsec transform-set ts " + ts, // 1
		"access-list 101 permit ip 10.1.1.0 0.0.0.255 10.2.1.0 0.0.0.255",
		"crypto map m 10 ipsec-manual", // 3
		" set peer 192.0.2.2",
		" set transform-set ts", // 5
	}
	return append(append(lines, sub...), " match address 101")
}

func hexOf(n int, b string) string { return strings.Repeat(b, n) }

func TestManualEntries(t *testing.T) {
	gcmIn := " set session-key inbound esp 300 cipher " + hexOf(20, "aa")
	gcmOut := " set session-key outbound esp 301 cipher " + hexOf(20, "bb")
	cases := []struct {
		name      string
		transform string
		sub       []string
		want      []string
	}{
		{"gcm 128 with salt", "esp-gcm 128", []string{gcmIn, gcmOut}, nil},
		{"gcm 128 without salt", "esp-gcm 128", []string{" set session-key inbound esp 300 cipher " + hexOf(16, "aa"), gcmOut},
			[]string{"6 error: inbound esp cipher key is 16 bytes; esp-gcm 128 needs 20 (the key followed by a 4-byte salt, RFC 4106 §8.1)"}},
		{"gcm 256", "esp-gcm 256", []string{" set session-key inbound esp 300 cipher " + hexOf(36, "aa"), " set session-key outbound esp 301 cipher " + hexOf(36, "bb")}, nil},
		{"gmac", "esp-gmac 192", []string{" set session-key inbound esp 300 cipher " + hexOf(28, "aa"), " set session-key outbound esp 301 cipher " + hexOf(24, "bb")},
			[]string{"7 error: outbound esp cipher key is 24 bytes; esp-gmac 192 needs 28 (the key followed by a 4-byte salt, RFC 4543"}},
		{"chacha", "esp-chacha20-poly1305", []string{" set session-key inbound esp 300 cipher " + hexOf(36, "aa"), " set session-key outbound esp 301 cipher " + hexOf(36, "bb")}, nil},
		{"aes-cbc with sha256", "esp-aes 256 esp-sha256-hmac", []string{
			" set session-key inbound esp 300 cipher " + hexOf(32, "aa") + " authenticator " + hexOf(32, "cc"),
			" set session-key outbound esp 301 cipher " + hexOf(32, "bb") + " authenticator " + hexOf(20, "dd")},
			[]string{"7 error: outbound esp authenticator key is 20 bytes; esp-sha256-hmac needs 32"}},
		{"missing authenticator", "esp-aes esp-sha-hmac", []string{
			" set session-key inbound esp 300 cipher " + hexOf(16, "aa"),
			" set session-key outbound esp 301 cipher " + hexOf(16, "bb") + " authenticator " + hexOf(20, "dd")},
			[]string{"6 error: inbound esp authenticator key is missing: esp-sha-hmac needs 20 bytes"}},
		{"des", "esp-des esp-md5-hmac", []string{
			" set session-key inbound esp 300 cipher 0123456789012345 authenticator " + hexOf(16, "cc"),
			" set session-key outbound esp 301 cipher abcdefabcdefabcd authenticator " + hexOf(16, "dd")},
			[]string{"1 warning: esp-des is deprecated", "1 warning: esp-md5-hmac is deprecated"}},
		{"null cipher takes no key", "esp-null esp-sha-hmac", []string{
			" set session-key inbound esp 300 authenticator " + hexOf(20, "cc"),
			" set session-key outbound esp 301 cipher 00 authenticator " + hexOf(20, "dd")},
			[]string{"7 error: outbound esp cipher key given but esp-null takes none"}},
		{"AH and ESP", "ah-sha256-hmac esp-gcm 128", []string{
			" set session-key inbound ah 400 " + hexOf(32, "11"), " set session-key outbound ah 401 " + hexOf(31, "22"), gcmIn, gcmOut},
			[]string{"7 error: outbound ah key is 31 bytes; ah-sha256-hmac needs 32"}},
		{"missing AH keys", "ah-sha-hmac esp-gcm 128", []string{gcmIn, gcmOut},
			[]string{"3 error: transform set ts includes ah but set session-key inbound ah is missing", "3 error: transform set ts includes ah but set session-key outbound ah is missing"}},
		{"missing ESP keys", "esp-gcm 128", nil,
			[]string{"3 error: transform set ts includes esp but set session-key inbound esp is missing", "3 error: transform set ts includes esp but set session-key outbound esp is missing"}},
		{"keys for absent protocol", "esp-gcm 128", []string{gcmIn, gcmOut, " set session-key inbound ah 400 " + hexOf(20, "11")},
			[]string{"8 warning: inbound ah session key is ignored: transform set ts has no ah"}},
		{"SPI reserved", "esp-gcm 128", []string{" set session-key inbound esp 255 cipher " + hexOf(20, "aa"), gcmOut},
			[]string{"3 error: set session-key inbound esp is missing", "6 error: session key: SPI 255 out of range 256-4294967295"}},
		{"odd hex", "esp-gcm 128", []string{" set session-key inbound esp 300 cipher abc", gcmOut},
			[]string{"3 error: set session-key inbound esp is missing", "6 error: session key: key is not a hex string of whole bytes"}},
		{"two peers", "esp-gcm 128", []string{gcmIn, gcmOut, " set peer 192.0.2.3"},
			[]string{"3 error: an ipsec-manual entry needs exactly one set peer (has 2)"}},
		{"two transform sets", "esp-gcm 128", []string{gcmIn, gcmOut, " set transform-set ts ts"},
			[]string{"3 error: an ipsec-manual entry needs exactly one transform set (has 2)"}},
		{"ignored settings", "esp-gcm 128", []string{gcmIn, gcmOut, " set pfs group14", " set security-association lifetime seconds 300", " set security-association level per-host", " set security-association replay window-size 128"},
			[]string{"3 warning: set security-association lifetime (manual SAs do not expire) is ignored", "3 warning: set security-association level per-host is ignored",
				"3 warning: replay window-size (manual SAs have no anti-replay, as on IOS) is ignored", "8 warning: set pfs is ignored for ipsec-manual entries"}},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			_, d := parse(t, manual(c.transform, c.sub...)...)
			checkDiags(t, d, c.want...)
		})
	}

	// Only the first permit statement counts; later ones are ignored.
	_, d := parse(t, append(manual("esp-gcm 128", gcmIn, gcmOut),
		"access-list 101 deny ip host 10.1.1.9 any",
		"access-list 101 permit ip 10.1.2.0 0.0.0.255 10.2.2.0 0.0.0.255")...)
	checkDiags(t, d, "10 warning: access list 101 line 3 is ignored by crypto map m 10: an ipsec-manual entry uses only the first permit statement")

	_, d = parse(t, "crypto ipsec transform-set ts esp-gcm", "access-list 101 deny ip any any", "crypto map m 10 ipsec-manual", " set peer 192.0.2.2", " set transform-set ts", gcmIn, gcmOut, " match address 101")
	checkDiags(t, d, "8 error: access list 101 has no permit statement: the manual SAs would protect nothing")

	// Inbound SPIs identify SAs: two entries cannot share one.
	_, d = parse(t, append(manual("esp-gcm 128", gcmIn, gcmOut),
		"access-list 102 permit ip 10.1.2.0 0.0.0.255 10.2.2.0 0.0.0.255",
		"crypto map m 20 ipsec-manual", " set peer 192.0.2.3", " set transform-set ts", gcmIn,
		" set session-key outbound esp 302 cipher "+hexOf(20, "bb"), " match address 102")...)
	checkDiags(t, d, "13 error: crypto map m 20: inbound esp SPI 300 is already used by crypto map m 10")
}
