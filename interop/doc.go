// Package interop proves that a live ipsecgw gateway interoperates with
// strongSwan: it holds only tests.
//
// Each scenario builds a topo topology (host-a ─ gw-a ══ wire ══ gw-b ─
// host-b), runs the `ipsecgw run` binary with AF_XDP ports in gw-a and
// charon with kernel-libipsec (user-space ESP over the TUN device ipsec0)
// in gw-b, lets them negotiate IKEv2 with a pre-shared key, and checks what
// a network engineer would: traffic from host-a reaches host-b intact, both
// sides report the same SAs (ipsecgw through `show ... --json` on its
// control socket, charon through VICI), rekeys lose no packet, deletes and
// dead peers are noticed on the other side. kernel-libipsec only speaks
// ESP in UDP, so every scenario also proves that ipsecgw floats to port
// 4500 and encapsulates ESP.
package interop
