// Package interop tests the IKEv1 engine (package ikev1) against
// strongSwan's charon in network namespaces: main mode and quick mode with
// ipsecgw as initiator and as responder, NAT-T (charon's kernel-libipsec
// always floats to 4500), quick mode rekeys, deletes both ways and dead
// peer detection, checking charon's view over VICI. The tests need root
// and charon; they skip otherwise.
package interop
