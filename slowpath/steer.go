package slowpath

import (
	"net/netip"
	"slices"

	"ipsecgw/fastpath"
)

// Steering is what one interface's AF_XDP steering program needs to send
// the fast path exactly the traffic it owns (see package afxdp): the
// gateway's addresses, whether a crypto map applies (then ESP, AH and IKE to
// those addresses are ours), and the prefixes whose transit traffic is ours.
type Steering struct {
	Local     []netip.Addr
	CryptoMap bool
	Prefixes  []netip.Prefix
}

// Steering computes, per interface (in the engine's order):
//
//   - interfaces without a crypto map: the destinations of every crypto
//     ACL permit line, and the destinations of every route out of an
//     interface with a crypto map (a default route there makes 0.0.0.0/0):
//     the fast path encrypts that traffic, or forwards it in the clear when
//     no policy protects it, so the kernel never forwards it unprotected;
//   - crypto-map interfaces: the sources of their permit lines, the
//     protected networks behind this gateway. Cleartext arriving for them
//     must be dropped as unprotected; decrypted traffic arrives as ESP to a
//     local address and needs no prefix.
//
// Local holds every address of the gateway on every interface: ESP and IKE
// may arrive on any interface for any of them.
func (g *Gateway) Steering() []Steering {
	t := g.Engine.Tables()
	var local []netip.Addr
	var dests []netip.Prefix
	for i := range t.Interfaces {
		for _, a := range t.Interfaces[i].Addrs {
			local = append(local, a.Addr())
		}
		if cm := t.Interfaces[i].Crypto; cm != nil {
			dests = append(dests, cm.SPD.DestinationPrefixes()...)
		}
	}
	for _, r := range t.FIB.Routes() {
		if r.Kind != fastpath.RouteLocal && t.Interfaces[r.Iface].Crypto != nil {
			dests = append(dests, r.Prefix)
		}
	}
	out := make([]Steering, len(t.Interfaces))
	for i := range t.Interfaces {
		s := &out[i]
		s.Local = slices.Clone(local)
		if cm := t.Interfaces[i].Crypto; cm != nil {
			s.CryptoMap = true
			s.Prefixes = cm.SPD.SourcePrefixes()
		} else {
			s.Prefixes = slices.Clone(dests)
		}
	}
	return out
}
