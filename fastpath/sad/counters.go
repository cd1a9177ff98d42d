package sad

import (
	"sync/atomic"

	"ipsecgw/fastpath/stats"
)

// Counters are an SA's traffic and drops, summed over workers. Bytes are
// those of the cleartext IP packets, as lifetimes count them.
type Counters struct {
	Packets uint64 // encrypted (outbound SA) or verified and decrypted (inbound SA)
	Bytes   uint64
	Drops   stats.Drops
}

// slot is one worker's counters of one SA, alone on its cache lines so two
// workers' writes never contend. Writers add once per vector (or per drop),
// so the atomics are uncontended and cheap; readers may sum at any time.
type slot struct {
	packets, bytes atomic.Uint64
	drops          [stats.NumReasons]atomic.Uint64
	_              [64 - (2+int(stats.NumReasons))*8%64]byte
}

// Count adds packets and bytes to worker's counters.
func (sa *SA) Count(worker int, packets, bytes uint64) {
	s := &sa.counters[worker]
	s.packets.Add(packets)
	s.bytes.Add(bytes)
}

// Drop counts n packets of worker dropped for reason r.
func (sa *SA) Drop(worker int, r stats.Reason, n uint64) {
	sa.counters[worker].drops[r].Add(n)
}

// Counters sums the per-worker counters.
func (sa *SA) Counters() Counters {
	var c Counters
	for i := range sa.counters {
		s := &sa.counters[i]
		c.Packets += s.packets.Load()
		c.Bytes += s.bytes.Load()
		for r := range s.drops {
			c.Drops[r] += s.drops[r].Load()
		}
	}
	return c
}

// Expiry is a set of lifetime limits an SA reached.
type Expiry uint8

// Lifetime limits.
const (
	SoftExpired Expiry = 1 << iota // time to rekey
	HardExpired                    // the SA carries no more traffic
)

func (e Expiry) String() string {
	switch e {
	case 0:
		return "none"
	case SoftExpired:
		return "soft"
	case HardExpired:
		return "hard"
	}
	return "soft+hard"
}

// Event tells the slow path that an SA reached lifetime limits. The nodes
// report each limit of each SA exactly once; the engine drains events into
// its punt ring.
type Event struct {
	SA     *SA
	Expiry Expiry
}

// Charge is one reservation of an SA's lifetime: a vector's packets of the
// SA, admitted one by one in order.
type Charge struct {
	pk, by         uint64 // use before the next packet
	hardPk, hardBy uint64
}

// Reserve charges n packets and b bytes to the SA's lifetime with one atomic
// add each. It returns the charge with which to admit the packets and the
// limits this reservation crossed: reservations of concurrent workers are
// disjoint ranges, so exactly one crosses each limit.
func (sa *SA) Reserve(n, b uint64) (Charge, Expiry) {
	pk := sa.usedPk.Add(n)
	by := sa.usedBy.Add(b)
	c := Charge{pk: pk - n, by: by - b, hardPk: sa.life.HardPackets, hardBy: sa.life.HardBytes}
	var e Expiry
	if crossed(c.pk, pk, sa.life.SoftPackets) || crossed(c.by, by, sa.life.SoftBytes) {
		e |= SoftExpired
	}
	if crossed(c.pk, pk, c.hardPk) || crossed(c.by, by, c.hardBy) {
		e |= HardExpired
	}
	if e != 0 {
		sa.expired.Or(uint32(e))
	}
	return c, e
}

// crossed reports whether use going from before to after reached limit.
func crossed(before, after, limit uint64) bool {
	return limit != 0 && before < limit && after >= limit
}

// Admit charges the next packet of the reservation, of size bytes, and
// reports whether it is within the hard limits.
func (c *Charge) Admit(size uint64) bool {
	c.pk++
	c.by += size
	return (c.hardPk == 0 || c.pk <= c.hardPk) && (c.hardBy == 0 || c.by <= c.hardBy)
}
