package ikev1

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"ipsecgw/config"
	"ipsecgw/crypto"
	"ipsecgw/ike"
	"ipsecgw/ike/keymat"
)

func peersFromText(t *testing.T, text string) []*PeerConfig {
	t.Helper()
	pol, diags := config.ParseIOS("test.cfg", []byte(text))
	if diags.Errors() > 0 {
		t.Fatalf("config: %v", diags)
	}
	maps, err := pol.Compile()
	if err != nil {
		t.Fatal(err)
	}
	peers, skipped := PeersFromConfig(pol, maps)
	if len(skipped) > 0 {
		t.Logf("skipped: %v", skipped)
	}
	return peers
}

// The guide's example and its mirror: the other router has 10.0.110.1 and
// peers with 10.0.110.2.
func guideConfigs(t *testing.T) (string, string) {
	b, err := os.ReadFile("../../examples/guide-aes-static.cfg")
	if err != nil {
		t.Fatal(err)
	}
	guide := string(b)
	r := strings.NewReplacer(
		"crypto isakmp key cisco123 address 10.0.110.1", "crypto isakmp key cisco123 address 10.0.110.2",
		"set peer 10.0.110.1", "set peer 10.0.110.2",
		"interface FastEthernet0/0/1\nip address 10.0.110.2", "interface FastEthernet0/0/1\nip address 10.0.110.1",
		"interface FastEthernet0/1/1\nip address 10.0.110.1", "interface FastEthernet0/1/1\nip address 10.0.110.3",
	)
	mirror := r.Replace(guide)
	if mirror == guide {
		t.Fatal("mirror replacements did not apply")
	}
	return guide, mirror
}

func TestPeersFromGuide(t *testing.T) {
	guide, _ := guideConfigs(t)
	peers := peersFromText(t, guide)
	if len(peers) != 1 {
		t.Fatalf("%d peers", len(peers))
	}
	p := peers[0]
	if p.Name != "aesmap 10.0.110.1" || p.Remote != netip.MustParsePrefix("10.0.110.1/32") || p.Local != netip.MustParseAddr("10.0.110.2") || string(p.PSK) != "cisco123" {
		t.Errorf("peer %+v", p)
	}
	// policy 10: aes 256, pre-share, lifetime 180, IOS defaults sha and group 1.
	want := Policy{Priority: 10, Cipher: crypto.CipherAESCBC, KeyBits: 256, Hash: HashSHA1, Group: keymat.MODP768, Lifetime: 180 * time.Second}
	if len(p.Policies) != 1 || p.Policies[0] != want {
		t.Errorf("policies %+v", p.Policies)
	}
	if len(p.Children) != 1 {
		t.Fatalf("children %+v", p.Children)
	}
	c := p.Children[0]
	if c.Name != "crypto map aesmap 10" || c.Mode != ike.ModeTransport || len(c.TransformSets) != 1 ||
		c.TransformSets[0].ESP != (crypto.Transform{Cipher: crypto.CipherAESCBC, KeyBits: 256, Integ: crypto.IntegHMACSHA1_96}) {
		t.Errorf("child %+v", c)
	}
	if len(c.Lines) != 1 || c.Lines[0].Text != "permit ip 10.0.110.0 0.0.0.255 10.0.110.0 0.0.0.255" {
		t.Errorf("ACL lines %+v", c.Lines)
	}
}

// TestGuideExampleNegotiates runs the guide's configuration against its
// mirror over loopback (addresses moved to 127.0.0.1/2): transport mode.
func TestGuideExampleNegotiates(t *testing.T) {
	guide, mirror := guideConfigs(t)
	pa, pb := peersFromText(t, guide)[0], peersFromText(t, mirror)[0]
	pa.Local, pa.Remote = netip.MustParseAddr("127.0.0.1"), netip.MustParsePrefix("127.0.0.2/32")
	pb.Local, pb.Remote = netip.MustParseAddr("127.0.0.2"), netip.MustParsePrefix("127.0.0.1/32")
	a, b := newPair(t, pa, pb, nil)
	sa, _ := establish(t, a, b, 1)
	if sa[0].Mode != ike.ModeTransport || sa[0].Transform.Cipher != crypto.CipherAESCBC || sa[0].Child != "crypto map aesmap 10" {
		t.Errorf("negotiated %v", sa[0])
	}
	info := a.e.SAs()[0]
	if info.Lifetime != 180*time.Second || info.Policy.Group != keymat.MODP768 {
		t.Errorf("ISAKMP SA %+v", info)
	}
}

// TestPeersFromConfigMaps: static entries with several set peers, a
// dynamic template behind a wildcard key, IKEv2 entries left to package
// ike, a keyless peer reported, nil maps skipped.
func TestPeersFromConfigMaps(t *testing.T) {
	text := `crypto isakmp policy 5
 encryption aes 128
 hash sha256
 authentication pre-share
 group 14
crypto isakmp policy 9
 authentication pre-share
 group 24
crypto isakmp key k1 address 192.0.2.2
crypto isakmp key kwild address 0.0.0.0 0.0.0.0
crypto isakmp keepalive 10 3 periodic
crypto ipsec transform-set ts1 esp-aes 256 esp-sha256-hmac
crypto ipsec transform-set ts2 ah-sha256-hmac esp-aes
access-list 101 permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255
access-list 102 permit ip 10.1.0.0 0.0.255.255 10.3.0.0 0.0.255.255
crypto dynamic-map dyn 10
 set transform-set ts1
crypto map vpn 10 ipsec-isakmp
 set peer 192.0.2.2
 set peer 192.0.2.3
 set transform-set ts1 ts2
 set pfs group14
 match address 101
crypto map vpn 20 ipsec-isakmp
 set peer 192.0.2.2
 set transform-set ts1
 match address 102
crypto map vpn 100 ipsec-isakmp dynamic dyn
interface Gi1
 ip address 192.0.2.1 255.255.255.0
 crypto map vpn
`
	pol, diags := config.ParseIOS("t.cfg", []byte(text))
	if diags.Errors() > 0 {
		t.Fatalf("config: %v", diags)
	}
	maps, err := pol.Compile()
	if err != nil {
		t.Fatal(err)
	}
	peers, skipped := PeersFromConfig(pol, append([]*config.CompiledMap{nil}, maps...))
	names := map[string]*PeerConfig{}
	for _, p := range peers {
		names[p.Name] = p
	}
	p2, p3, dyn := names["vpn 192.0.2.2"], names["vpn 192.0.2.3"], names["vpn dynamic 0.0.0.0/0"]
	if p2 == nil || p3 == nil || dyn == nil || len(peers) != 3 {
		t.Fatalf("peers %v", names)
	}
	if len(p2.Children) != 2 || p2.Children[0].Name != "crypto map vpn 10" || p2.Children[1].Name != "crypto map vpn 20" || string(p2.PSK) != "k1" {
		t.Errorf("192.0.2.2: %+v", p2)
	}
	// 192.0.2.3 has no host key: the wildcard key covers it, as on IOS.
	if len(p3.Children) != 1 || string(p3.PSK) != "kwild" {
		t.Errorf("192.0.2.3: %+v", p3)
	}
	c := p2.Children[0]
	// ts2 is AH+ESP: offered and accepted as one bundle.
	bundle := TransformSet{Name: "ts2", AH: crypto.IntegHMACSHA256_128, ESP: crypto.Transform{Cipher: crypto.CipherAESCBC, KeyBits: 128}}
	if c.PFS != keymat.MODP2048 || len(c.TransformSets) != 2 || c.TransformSets[0].Name != "ts1" || c.TransformSets[1] != bundle {
		t.Errorf("entry 10: %+v", c)
	}
	if len(p2.Policies) != 1 || p2.Policies[0].Hash != HashSHA256 || p2.DPD.Interval != 10*time.Second || p2.DPD.OnDemand {
		t.Errorf("policies %+v DPD %+v", p2.Policies, p2.DPD)
	}
	if dyn.Remote.Bits() != 0 || len(dyn.Children) != 1 || dyn.Children[0].Lines != nil {
		t.Errorf("template %+v", dyn)
	}
	// Group 24 (MODP 2048/256) is valid IOS but not implemented here.
	if len(skipped) != 1 || !strings.Contains(skipped[0], "policy 9") {
		t.Errorf("skipped %q", skipped)
	}
	e, _ := New(Config{Transport: discard{}, Installer: nopInstaller{}})
	if err := e.SetPeers(peers); err != nil {
		t.Errorf("SetPeers: %v", err)
	}
}
