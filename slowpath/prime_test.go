package slowpath

import (
	"net/netip"
	"slices"
	"testing"
)

// TestPeerNextHops: two entries naming the same on-link peer give one next
// hop; a peer behind a router gives the router; a peer the gateway has no
// route to gives nothing.
func TestPeerNextHops(t *testing.T) {
	cfg := load(t, "interfaces:\n  - {name: inside, driver: pcap, mac: \"02:00:00:00:00:01\", pcap_in: /dev/null}\n  - {name: outside, driver: pcap, mac: \"02:00:00:00:00:02\", pcap_in: /dev/null}\n", `
crypto ipsec transform-set ts esp-gcm 128
crypto map m 10 ipsec-isakmp
 set peer 192.0.2.2
 set transform-set ts
 match address 101
crypto map m 20 ipsec-isakmp
 set peer 192.0.2.2
 set peer 198.51.100.7
 set peer 203.0.113.9
 set transform-set ts
 match address 102
interface inside
 ip address 10.1.0.1 255.255.0.0
interface outside
 ip address 192.0.2.1 255.255.255.0
 crypto map m
ip route 198.51.100.0 255.255.255.0 192.0.2.254
access-list 101 permit ip 10.1.1.0 0.0.0.255 10.2.1.0 0.0.0.255
access-list 102 permit ip 10.1.2.0 0.0.0.255 10.2.2.0 0.0.0.255
`)
	g, err := Build(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []NextHop{{1, netip.MustParseAddr("192.0.2.2")}, {1, netip.MustParseAddr("192.0.2.254")}}
	if got := g.PeerNextHops(); !slices.Equal(got, want) {
		t.Errorf("next hops %v, want %v", got, want)
	}
}
