package fastpath

import (
	"encoding/binary"
	"testing"

	"ipsecgw/fastpath/stats"
)

func TestParseEthernet(t *testing.T) {
	f := buildFrame(t, "10.1.0.1", "10.2.0.1", frameOpts{})
	e, r := parseEthernet(f)
	if r != stats.None || e.hdrLen != 14 || e.vlan != 0 || e.etherType != etherTypeIPv4 {
		t.Fatalf("untagged: %+v %v", e, r)
	}
	f = buildFrame(t, "2001:db8:1::1", "2001:db8:2::1", frameOpts{vlan: 100})
	e, r = parseEthernet(f)
	if r != stats.None || e.hdrLen != 18 || e.vlan != 100 || e.etherType != etherTypeIPv6 {
		t.Fatalf("tagged: %+v %v", e, r)
	}
	arp := make([]byte, 42)
	binary.BigEndian.PutUint16(arp[12:], 0x0806)
	if _, r := parseEthernet(arp); r != stats.NotIP {
		t.Fatalf("ARP: %v", r)
	}
	for _, n := range []int{0, 13, 15, 17} {
		g := make([]byte, n)
		if n >= 14 {
			binary.BigEndian.PutUint16(g[12:], etherTypeVLAN)
		}
		if _, r := parseEthernet(g); r != stats.Malformed {
			t.Errorf("%d-byte frame: %v, want malformed", n, r)
		}
	}
}
