// Package interop holds the IKEv2 engine's interoperability tests against
// strongSwan 5.9.8's charon, run in network namespaces: ipsecgw as
// initiator and as responder, rekeys, deletes, traffic selector mismatch
// and dead peer detection, each checked on charon's side through VICI.
//
// The tests need root, /usr/lib/ipsec/charon and swanctl; they skip
// otherwise. There is no non-test code: this file only documents the
// package.
package interop
