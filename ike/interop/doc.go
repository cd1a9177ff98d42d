// Package interop holds the IKEv2 engine's interoperability tests against
// strongSwan 5.9.8's charon, run in network namespaces: ipsecgw as
// initiator and as responder, rekeys, deletes, traffic selector mismatch
// and dead peer detection, each checked on charon's side through VICI.
//
// The tests need root, /usr/lib/ipsec/charon and swanctl; they skip
// otherwise. The package's non-test code is the gateway side of the
// harness, shared with the IKEv1 engine's tests in ike/ikev1/interop:
// Gateway (NewGateway opens its IKE sockets inside a namespace, Serve runs
// an engine on them until the test ends), Recorder (the engine's
// Installer, recording each event) and SyncBuffer (its log). The charon
// side is topo/strongswan and its charontest package, which only the
// tests import.
package interop
