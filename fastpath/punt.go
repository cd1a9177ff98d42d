package fastpath

import (
	"fmt"

	"ipsecgw/fastpath/sad"
	"ipsecgw/spd"
)

// PuntKind is why a worker hands something to the slow path.
type PuntKind uint8

// Punt kinds.
const (
	// PuntIKE is an IKE packet addressed to the gateway: UDP 500, or UDP
	// 4500 with the non-ESP marker (RFC 3948 §2.2).
	PuntIKE PuntKind = iota
	// PuntLocal is any other packet addressed to the gateway that is not
	// IPsec: a ping to an interface address, or what a transport-mode SA
	// decrypted for the gateway itself.
	PuntLocal
	// PuntAcquire asks for SAs for a flow an ipsec-isakmp entry protects
	// and no SA covers yet (the PF_KEY ACQUIRE of RFC 2367).
	PuntAcquire
	// PuntNeighborMiss asks to resolve a next hop without a MAC address.
	PuntNeighborMiss
	// PuntSAExpiry reports that an SA reached its soft or hard
	// packet/byte lifetime.
	PuntSAExpiry
	NumPuntKinds
)

var puntNames = [NumPuntKinds]string{"ike", "local", "acquire", "neighbor_miss", "sa_expiry"}

func (k PuntKind) String() string {
	if k < NumPuntKinds {
		return puntNames[k]
	}
	return fmt.Sprintf("punt-%d", uint8(k))
}

// Punt is one slot of a worker's punt ring. The slow path reads it between
// Peek and Release and must copy what it keeps: the slot, Packet included,
// is reused.
type Punt struct {
	Kind PuntKind
	// Iface is the interface the packet arrived on (IKE, local), or the
	// interface the flow is routed out of (ACQUIRE, neighbour miss).
	Iface int
	// Flow is the packet's 5-tuple (IKE, local, ACQUIRE); for a neighbour
	// miss, Flow.Dst is the next hop to resolve.
	Flow spd.Flow
	// Crypto and Rule name the crypto map and its SPD permit rule that
	// want an SA (ACQUIRE). The map is the one the worker used, which the
	// slow path may have replaced since.
	Crypto *CryptoMap
	Rule   int
	// SA and Expiry describe a lifetime event.
	SA     *sad.SA
	Expiry sad.Expiry
	// Packet is the IP packet (IKE, local), valid until Release.
	Packet []byte
}

// setPacket copies p into the slot, reusing its buffer.
func (s *Punt) setPacket(p []byte) {
	if cap(s.Packet) < len(p) {
		s.Packet = make([]byte, len(p), max(len(p), 2048))
	}
	s.Packet = s.Packet[:len(p)]
	copy(s.Packet, p)
}

// Inject is one slot of a worker's inject ring: an IP packet the slow path
// wants sent. The worker routes it by destination and writes the Ethernet
// header itself.
type Inject struct {
	// Packet is the IP packet, from its IP header on. The slow path
	// fills it (reusing the slot's buffer: Packet = append(Packet[:0],
	// ...)) before Commit.
	Packet []byte
	// Bypass sends the packet in the clear even where a crypto map
	// would protect it, as IKE's own packets must be (RFC 4301 §5.1).
	// Otherwise the packet is treated as originated by the gateway:
	// routed, matched against the outgoing interface's crypto map and
	// protected like forwarded traffic (transport-mode traffic between
	// the peers, for instance).
	Bypass bool
}
