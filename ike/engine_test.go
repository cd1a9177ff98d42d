package ike

import (
	"testing"

	"ipsecgw/crypto"
)

func TestEstablish(t *testing.T) {
	pa, pb := defaultPeers()
	a, b, _ := newPair(t, pa, pb, pairOpts{})
	sa, sb := establish(t, a, b)
	if sa.Transform != (crypto.Transform{Cipher: crypto.CipherAESGCM16, KeyBits: 128}) {
		t.Errorf("transform %v", sa.Transform)
	}
	if got := sa.LocalTS[0].String() + " " + sa.RemoteTS[0].String(); got != "10.1.1.0/24 10.2.2.0/24" {
		t.Errorf("selectors %s", got)
	}
	if !sa.Initiator || sb.Initiator {
		t.Error("initiator flags wrong")
	}
	if sa.Encap {
		t.Error("encapsulated without NAT")
	}
}
