package config

import (
	"os"
	"strings"
	"testing"
)

// site is the IOS text of a gateway for peer-check cases: outside address
// local, peer peer, and the given ACL lines and entry sub-commands.
type site struct {
	name, local, peer string
	acl               []string // statements of access list 101
	entry             []string // extra crypto map sub-commands
	extra             []string // extra global commands
	psk, profileMatch string
}

func (s site) text() string {
	psk := s.psk
	if psk == "" {
		psk = "shared-key"
	}
	match := s.profileMatch
	if match == "" {
		match = s.peer + " 255.255.255.255"
	}
	lines := []string{
		"hostname " + s.name,
		"crypto ikev2 proposal p", " encryption aes-gcm-256", " prf sha256", " group 19",
		"crypto ikev2 policy pol", " proposal p",
		"crypto ikev2 keyring kr", " peer other", "  address " + s.peer, "  pre-shared-key " + psk,
		"crypto ikev2 profile prof", " match identity remote address " + match,
		" authentication local pre-share", " authentication remote pre-share", " keyring local kr",
		"crypto ipsec transform-set gcm esp-gcm 256",
		"crypto ipsec transform-set cbc esp-aes 256 esp-sha256-hmac",
	}
	lines = append(lines, s.extra...)
	lines = append(lines, "crypto map m 10 ipsec-isakmp", " set peer "+s.peer, " set ikev2-profile prof", " match address 101")
	hasTS := false
	for _, e := range s.entry {
		hasTS = hasTS || strings.Contains(e, "transform-set")
	}
	if !hasTS {
		lines = append(lines, " set transform-set gcm")
	}
	lines = append(lines, s.entry...)
	lines = append(lines, "interface outside", " ip address "+s.local+" 255.255.255.0", " crypto map m")
	for _, a := range s.acl {
		lines = append(lines, "access-list 101 "+a)
	}
	return strings.Join(lines, "\n") + "\n"
}

func loadText(t *testing.T, name, text string) *Config {
	t.Helper()
	cfg, err := LoadBytes(name+".cfg", []byte(text))
	if err != nil {
		t.Fatalf("%s:\n%v\n%s", name, err, text)
	}
	return cfg
}

func peerCheck(t *testing.T, a, b string) *PeerReport {
	t.Helper()
	r, err := PeerCheck(loadText(t, "a", a), loadText(t, "b", b))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// expect checks the report's pairs: for each pair, the status of each
// direction and substrings its notes must contain.
func expect(t *testing.T, r *PeerReport, ok bool, want ...string) {
	t.Helper()
	text := r.String()
	if r.OK() != ok {
		t.Errorf("OK() = %v:\n%s", r.OK(), text)
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("report lacks %q:\n%s", w, text)
		}
	}
}

var (
	siteA = site{name: "A", local: "192.0.2.1", peer: "192.0.2.2", acl: []string{"permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255"}}
	siteB = site{name: "B", local: "192.0.2.2", peer: "192.0.2.1", acl: []string{"permit ip 10.2.0.0 0.0.255.255 10.1.0.0 0.0.255.255"}}
)

func TestPeerCheckMirror(t *testing.T) {
	r := peerCheck(t, siteA.text(), siteB.text())
	expect(t, r, true,
		"A crypto map m 10 (ACL 101, 192.0.2.1) <-> B crypto map m 10 (ACL 101, 192.0.2.2)",
		"A -> B: OK", "B -> A: OK",
		`ACL 101 line 1 "permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255": accepted by B ACL 101 line 1 (mirror image)`,
		"transform set gcm = B's gcm (esp-gcm 256, tunnel)",
		"pre-shared keys match", "IKEv2 SA: aes-gcm-256, prf sha256, group 19",
		"1 pair(s): all SAs can be established")
	if len(r.Pairs) != 1 {
		t.Errorf("%d pairs", len(r.Pairs))
	}
}

// TestPeerCheckSubset is the guide's Cases 3 and 4: M permits host A to
// host B, N permits subnet Y to subnet X. M's request is within N's ACL
// (Case 3); N's request is wider than M's (Case 4).
func TestPeerCheckSubset(t *testing.T) {
	m, n := siteA, siteB
	m.acl = []string{"permit ip host 10.1.0.5 host 10.2.0.7"}
	r := peerCheck(t, m.text(), n.text())
	expect(t, r, false,
		"A -> B: OK",
		"accepted by B ACL 101 line 1 (the request is a subset of it, as in the guide's Case 3)",
		"B -> A: FAIL",
		`refused: A ACL 101 line 1 "permit ip host 10.1.0.5 host 10.2.0.7" is narrower: the request is wider than what it permits, as in the guide's Case 4`,
		"1 pair(s), 1 with SAs that cannot be established")

	// Disjoint selectors fail both ways.
	m.acl = []string{"permit ip 10.1.0.0 0.0.255.255 10.3.0.0 0.0.255.255"}
	r = peerCheck(t, m.text(), n.text())
	expect(t, r, false, "A -> B: FAIL", "B -> A: FAIL", "does not contain it")

	// Ports: tcp 443 inside ip; the reverse needs the ports mirrored.
	m.acl = []string{"permit tcp 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255 eq 443"}
	n2 := n
	n2.acl = []string{"permit tcp 10.2.0.0 0.0.255.255 eq 443 10.1.0.0 0.0.255.255"}
	expect(t, peerCheck(t, m.text(), n2.text()), true, "(mirror image)")
	n2.acl = []string{"permit tcp 10.2.0.0 0.0.255.255 10.1.0.0 0.0.255.255 eq 443"}
	expect(t, peerCheck(t, m.text(), n2.text()), false, "A -> B: FAIL")
}

func TestPeerCheckNegotiation(t *testing.T) {
	cases := []struct {
		name string
		a, b func(*site)
		want []string
	}{
		{"no common transform set", nil, func(s *site) { s.entry = []string{" set transform-set cbc"} },
			[]string{"no common transform set: A offers gcm (esp-gcm 256, tunnel); B accepts cbc (esp-aes 256 esp-sha256-hmac, tunnel)"}},
		{"mode differs", func(s *site) {
			s.extra = []string{"crypto ipsec transform-set tr esp-gcm 256", " mode transport"}
			s.entry = []string{" set transform-set tr"}
		}, nil,
			[]string{"no common transform set: A offers tr (esp-gcm 256, transport); B accepts gcm (esp-gcm 256, tunnel)"}},
		{"PFS differs", func(s *site) { s.entry = []string{" set pfs group19"} }, nil,
			[]string{"PFS differs: A set pfs group19, B no PFS", "PFS differs: B no PFS, A set pfs group19"}},
		{"keys differ", nil, func(s *site) { s.psk = "other-key" },
			[]string{"pre-shared keys differ: A keyring kr peer other and B keyring kr peer other"}},
		{"identity not matched", nil, func(s *site) { s.profileMatch = "192.0.2.9 255.255.255.255" },
			[]string{"B's ikev2 profile prof does not match identity 192.0.2.1 (match identity remote 192.0.2.9/32)"}},
		{"no keyring peer", nil, func(s *site) { s.extra = []string{"crypto ikev2 keyring kr", " peer other", "  address 192.0.2.99"} },
			[]string{"B's keyring kr has no peer with an address covering 192.0.2.1"}},
		{"no common proposal", nil, func(s *site) {
			// A policy for the local address takes precedence over one
			// for any address.
			s.extra = []string{"crypto ikev2 proposal q", " encryption aes-gcm-256", " prf sha256", " group 14", "crypto ikev2 policy local", " match address local 192.0.2.2", " proposal q"}
		},
			[]string{"no common IKEv2 proposal: A offers p [aes-gcm-256; prf sha256; group 19]; B accepts q [aes-gcm-256; prf sha256; group 14]"}},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			a, b := siteA, siteB
			if c.a != nil {
				c.a(&a)
			}
			if c.b != nil {
				c.b(&b)
			}
			expect(t, peerCheck(t, a.text(), b.text()), false, append(c.want, "A -> B: FAIL", "B -> A: FAIL")...)
		})
	}
}

// ikev1 is a pair of IKEv1 gateways as in the guide's example.
func ikev1(aKey, bKey, aPolicy, bPolicy string) (string, string) {
	gw := func(name, local, peer, key, policy, acl string) string {
		return strings.Join([]string{
			"hostname " + name,
			"crypto isakmp policy 10", policy, " authentication pre-share",
			"crypto isakmp key " + key + " address " + peer,
			"crypto ipsec transform-set aesset esp-aes 256 esp-sha-hmac", " mode transport",
			"crypto map aesmap 10 ipsec-isakmp", " set peer " + peer, " set transform-set aesset", " match address 120",
			"interface e0", " ip address " + local + " 255.255.255.0", " crypto map aesmap",
			"access-list 120 permit ip " + acl,
		}, "\n")
	}
	return gw("R1", "10.0.110.2", "10.0.111.2", aKey, aPolicy, "host 10.0.110.2 host 10.0.111.2"),
		gw("R2", "10.0.111.2", "10.0.110.2", bKey, bPolicy, "host 10.0.111.2 host 10.0.110.2")
}

func TestPeerCheckIKEv1(t *testing.T) {
	pol := " encryption aes 256\n hash sha256\n group 14\n lifetime 3600"
	a, b := ikev1("cisco123", "cisco123", pol, pol)
	expect(t, peerCheck(t, a, b), true, "ISAKMP policy 10: encryption aes 256, hash sha256, group 14, lifetime 3600", "pre-shared keys match (R1 key for 10.0.111.2/32, R2 key for 10.0.110.2/32)", "(esp-aes 256 esp-sha-hmac, transport)")

	a, b = ikev1("cisco123", "cisco124", pol, pol)
	expect(t, peerCheck(t, a, b), false, "pre-shared keys differ: R1's key for 10.0.111.2/32 and R2's key for 10.0.110.2/32")

	// A responder accepts a lifetime up to its own: R1's 3600 fits R2's
	// 86400 but not the other way round.
	a, b = ikev1("k", "k", pol, " encryption aes 256\n hash sha256\n group 14")
	r := peerCheck(t, a, b)
	expect(t, r, false, "R1 -> R2: OK", "R2 -> R1: FAIL", "no common ISAKMP policy")

	a, b = ikev1("k", "k", pol, " encryption aes 128\n hash sha256\n group 14\n lifetime 3600")
	expect(t, peerCheck(t, a, b), false, "no common ISAKMP policy")

	// One end on IKEv2, the other on IKEv1.
	v2 := siteA
	v2.local, v2.peer = "10.0.110.2", "10.0.111.2"
	v2.acl = []string{"permit ip host 10.0.110.2 host 10.0.111.2"}
	_, b = ikev1("k", "k", pol, pol)
	expect(t, peerCheck(t, v2.text(), b), false, "IKE versions differ: A uses IKEv2 (set ikev2-profile prof), R2 uses IKEv1 (no set ikev2-profile)")
}

func TestPeerCheckManual(t *testing.T) {
	a, err := Load("../examples/manual-a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load("../examples/manual-b.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := PeerCheck(a, b)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, r, true, "manual-a crypto map vpn 10 (ACL 101, 192.0.2.1) <-> manual-b crypto map vpn 10 (ACL 101, 192.0.2.2)",
		"manual-a crypto map vpn 20 (ACL 102, 192.0.2.1) <-> manual-b crypto map vpn 20 (ACL 102, 192.0.2.2)",
		"transform set aes256-sha256 = manual-b's aes256-sha256 (esp-aes 256 esp-sha256-hmac, tunnel)",
		"manual-b's inbound policy, ACL 101 line 1, accepts it (mirror image)", "2 pair(s): all SAs can be established")
	if len(r.Pairs) != 2 {
		t.Errorf("%d pairs", len(r.Pairs))
	}

	text, err := os.ReadFile("../examples/manual-b.cfg")
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(old, new string) *PeerReport {
		t.Helper()
		bad := strings.Replace(string(text), old, new, 1)
		if bad == string(text) {
			t.Fatalf("%q not in manual-b.cfg", old)
		}
		r, err := PeerCheck(a, loadText(t, "manual-b", bad))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// A key typed wrong on B: what A sends on SPI 1001, B cannot open.
	r = mutate("inbound esp 1001 cipher afc9", "inbound esp 1001 cipher afc8")
	expect(t, r, false, "manual-a -> manual-b: FAIL", "manual-a outbound esp SPI 1001 keys differ from manual-b inbound esp SPI 1001 keys", "manual-b -> manual-a: OK")
	if strings.Contains(r.String(), "afc9") {
		t.Error("the report shows a key")
	}
	// SPIs not mirrored.
	r = mutate("set session-key outbound esp 2001", "set session-key outbound esp 2009")
	expect(t, r, false, "manual-b outbound esp SPI 2009 but manual-a inbound esp SPI 2001: the SPIs must match")
	// Selectors not mirror images.
	r = mutate("access-list 101 permit ip 10.2.1.0 0.0.0.255 10.1.1.0 0.0.0.255", "access-list 101 permit ip 10.2.1.0 0.0.0.255 10.1.1.0 0.0.0.127")
	expect(t, r, false, "manual-a -> manual-b: FAIL", "manual-b drops part of it: its ACL 101 line 1 \"permit ip 10.2.1.0 0.0.0.255 10.1.1.0 0.0.0.127\" does not contain the mirror image", "manual-b -> manual-a: OK")
	// Different transform sets.
	r = mutate("crypto ipsec transform-set gcm128 esp-gcm 128\n mode tunnel", "crypto ipsec transform-set gcm128 esp-gcm 128\n mode transport")
	if !strings.Contains(r.String(), "transform sets differ") || r.OK() {
		t.Errorf("transform mismatch:\n%s", r)
	}
}

func TestPeerCheckDynamicHub(t *testing.T) {
	hub, err := Load("../examples/hub.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spoke, err := Load("../examples/spoke-1.cfg")
	if err != nil {
		t.Fatal(err)
	}
	r, err := PeerCheck(hub, spoke)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, r, true, "hub -> spoke-1: no SA requested", "hub answers from a dynamic map, which never initiates",
		"spoke-1 -> hub: OK", "accepted by hub ACL 150 line 1 (the request is a subset of it")

	// A spoke whose LAN falls outside the hub's ACL is refused.
	text, _ := os.ReadFile("../examples/spoke-1.cfg")
	bad := strings.ReplaceAll(string(text), "10.128.1.0 0.0.0.255", "10.9.1.0 0.0.0.255")
	r, err = PeerCheck(hub, loadText(t, "spoke", bad))
	if err != nil {
		t.Fatal(err)
	}
	expect(t, r, false, "spoke-1 -> hub: FAIL", `hub ACL 150 line 1 "permit ip 10.0.0.0 0.0.255.255 10.128.0.0 0.127.255.255" does not contain it`)
}

// TestPeerCheckPairing: several entries per side pair by the SAs they
// negotiate, not by sequence number.
func TestPeerCheckPairing(t *testing.T) {
	a, b := siteA, siteB
	a.acl = nil
	a.extra = []string{"access-list 102 permit ip 10.1.2.0 0.0.0.255 10.2.2.0 0.0.0.255",
		"crypto map m 20", " set peer 192.0.2.2", " set transform-set gcm", " set ikev2-profile prof", " match address 102"}
	a.acl = []string{"permit ip 10.1.1.0 0.0.0.255 10.2.1.0 0.0.0.255"}
	b.extra = []string{"access-list 102 permit ip 10.2.1.0 0.0.0.255 10.1.1.0 0.0.0.255",
		"crypto map m 5", " set peer 192.0.2.1", " set transform-set gcm", " set ikev2-profile prof", " match address 102"}
	b.acl = []string{"permit ip 10.2.2.0 0.0.0.255 10.1.2.0 0.0.0.255"}
	r := peerCheck(t, a.text(), b.text())
	expect(t, r, true,
		"A crypto map m 10 (ACL 101, 192.0.2.1) <-> B crypto map m 5 (ACL 102, 192.0.2.2)",
		"A crypto map m 20 (ACL 102, 192.0.2.1) <-> B crypto map m 10 (ACL 101, 192.0.2.2)")
	if len(r.Pairs) != 2 {
		t.Errorf("pairs:\n%s", r)
	}
}

func TestPeerCheckUnrelated(t *testing.T) {
	a := siteA
	a.peer = "192.0.2.77"
	r := peerCheck(t, a.text(), siteB.text())
	if r.OK() || len(r.Pairs) != 1 || r.Pairs[0].AtoB.Status != NoInitiator {
		t.Errorf("%s", r)
	}
	expect(t, r, false, "B -> A: FAIL", "A has no crypto map entry that names 192.0.2.2 as peer")

	c := siteB
	c.local, c.peer = "192.0.2.50", "192.0.2.51"
	r = peerCheck(t, a.text(), c.text())
	expect(t, r, false, "A and B: no crypto map entry of one names an address of the other as peer")

	if _, err := PeerCheck(loadText(t, "a", siteA.text()), mustLoadErr(t)); err == nil {
		t.Error("a configuration with errors was compared")
	}
}

func mustLoadErr(t *testing.T) *Config {
	cfg, err := LoadBytes("bad.cfg", []byte("crypto map m 10\n"))
	if err == nil {
		t.Fatal("no error")
	}
	return cfg
}

// TestPeerCheckSkipsManualResponder: a manual entry naming the initiator
// never answers a negotiation, so a refusal is explained with the
// ipsec-isakmp entry that would, not the manual one before it.
func TestPeerCheckSkipsManualResponder(t *testing.T) {
	m, n := siteA, siteB
	m.acl = []string{"permit ip 10.1.0.0 0.0.255.255 10.3.0.0 0.0.255.255"}
	key := strings.Repeat("ab", 36) // esp-gcm 256: key and salt
	n.extra = []string{"crypto map m 5 ipsec-manual", " set peer 192.0.2.1", " set transform-set gcm",
		" set session-key inbound esp 300 cipher " + key, " set session-key outbound esp 301 cipher " + key,
		" match address 102", "access-list 102 permit ip 10.9.0.0 0.0.255.255 10.1.0.0 0.0.255.255"}
	r := peerCheck(t, m.text(), n.text())
	expect(t, r, false, "A -> B: FAIL", `B ACL 101 line 1 "permit ip 10.2.0.0 0.0.255.255 10.1.0.0 0.0.255.255" does not contain it`)
	if s := r.String(); strings.Contains(s, "refused: B ACL 102") {
		t.Errorf("the refusal names the manual entry's ACL:\n%s", s)
	}
}
