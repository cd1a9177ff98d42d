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
