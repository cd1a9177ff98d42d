package slowpath

import (
	"net/netip"

	"ipsecgw/fastpath"
)

// NextHop is a neighbour the gateway will need: an interface (engine
// index) and the address to resolve there.
type NextHop struct {
	Iface int
	Addr  netip.Addr
}

// PeerNextHops lists the next hops towards every peer the crypto maps name
// (set peer), once each. Resolving them before traffic needs them keeps the
// first IKE message and the first ESP packets of a tunnel from being
// dropped on a neighbour miss (which would cost IKE a retransmission
// interval).
func (g *Gateway) PeerNextHops() []NextHop {
	fib := g.Engine.Tables().FIB
	seen := map[NextHop]bool{}
	var out []NextHop
	for _, cm := range g.Maps {
		if cm == nil {
			continue
		}
		for _, e := range cm.Entries {
			for _, peer := range e.Peers {
				r := fib.Lookup(peer)
				if r == nil || r.Kind == fastpath.RouteLocal {
					continue
				}
				nh := NextHop{Iface: r.Iface, Addr: peer}
				if r.NextHop.IsValid() {
					nh.Addr = r.NextHop
				}
				if !seen[nh] {
					seen[nh] = true
					out = append(out, nh)
				}
			}
		}
	}
	return out
}
