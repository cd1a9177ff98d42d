package charontest

import (
	"fmt"
	"strings"
	"testing"

	"ipsecgw/ike"
	"ipsecgw/topo/strongswan"
)

// SameChild checks that charon's view of a CHILD_SA (IPsec SA under
// IKEv1) mirrors the gateway's: swapped SPIs and traffic selectors, the
// algorithms charon names (e.g. "AES_GCM_16", "128", ""), UDP
// encapsulation on 4500 (kernel-libipsec fakes a NAT), ESP tunnel mode.
func SameChild(t testing.TB, ours *ike.ChildSA, theirs strongswan.ChildSA, encr, keysize, integ string) {
	t.Helper()
	if theirs.SPIIn != fmt.Sprintf("%08x", ours.OutSPI) || theirs.SPIOut != fmt.Sprintf("%08x", ours.InSPI) {
		t.Fatalf("SPIs: charon in %s out %s, ours in %08x out %08x", theirs.SPIIn, theirs.SPIOut, ours.InSPI, ours.OutSPI)
	}
	if theirs.Encr != encr || theirs.EncrKeysize != keysize || theirs.Integ != integ {
		t.Fatalf("charon's SA uses %s/%s/%s, want %s/%s/%s (ours %v)", theirs.Encr, theirs.EncrKeysize, theirs.Integ, encr, keysize, integ, ours.Transform)
	}
	if theirs.Encap != "yes" || !ours.Encap || ours.LocalPort != 4500 || ours.RemotePort != 4500 {
		t.Fatalf("UDP encapsulation: charon %q, ours %v %d-%d", theirs.Encap, ours.Encap, ours.LocalPort, ours.RemotePort)
	}
	if theirs.Mode != "TUNNEL" || theirs.Protocol != "ESP" {
		t.Fatalf("charon: %s %s", theirs.Mode, theirs.Protocol)
	}
	if strings.Join(theirs.LocalTS, " ") != list(ours.RemoteTS) || strings.Join(theirs.RemoteTS, " ") != list(ours.LocalTS) {
		t.Fatalf("selectors (proxy IDs): charon %v === %v, ours %s === %s", theirs.LocalTS, theirs.RemoteTS, list(ours.LocalTS), list(ours.RemoteTS))
	}
}

func list[T fmt.Stringer](ss []T) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = s.String()
	}
	return strings.Join(parts, " ")
}
