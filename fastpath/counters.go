package fastpath

import (
	"math/bits"
	"slices"

	"ipsecgw/fastpath/stats"
)

// Counters are the engine's global counters, per worker or summed over
// workers. Per-SA counters live in the SAs (sad.SA.Counters).
type Counters struct {
	// RxFrames and TxFrames are the frames the worker took from its
	// ports and handed to them; RxBatches counts its non-empty receives
	// by size (see BatchBucket).
	RxFrames  uint64
	TxFrames  uint64
	RxBatches [NumBatchBuckets]uint64
	RxPackets uint64 // IP packets received from the wire (after Ethernet checks)
	Forwarded uint64 // packets sent out in the clear (bypass, decrypted, ICMP)
	Encrypted uint64 // packets protected by an SA and sent
	Decrypted uint64 // packets that passed an inbound SA
	Punted    [NumPuntKinds]uint64
	Injected  uint64 // packets the slow path injected
	Fragments uint64 // fragments made before encryption or forwarding
	// Reassembled counts datagrams addressed to the gateway rebuilt from
	// ReasmFragments fragments.
	Reassembled    uint64
	ReasmFragments uint64
	ICMPErrors     uint64 // ICMP errors sent (time exceeded, fragmentation needed, packet too big)
	// ICMPRateLimited counts ICMP errors not sent because of the rate
	// limit (the packet is still dropped and counted with its reason).
	ICMPRateLimited uint64
	// NATKeepalives counts NAT-T keepalives (RFC 3948 §2.3): received
	// and dropped without a drop reason, as they are expected.
	NATKeepalives uint64
	SPDCacheHits  uint64
	SPDCacheMiss  uint64
	Drops         stats.Drops
}

// Add adds o to c.
func (c *Counters) Add(o *Counters) {
	c.RxFrames += o.RxFrames
	c.TxFrames += o.TxFrames
	for i := range c.RxBatches {
		c.RxBatches[i] += o.RxBatches[i]
	}
	c.RxPackets += o.RxPackets
	c.Forwarded += o.Forwarded
	c.Encrypted += o.Encrypted
	c.Decrypted += o.Decrypted
	for i := range c.Punted {
		c.Punted[i] += o.Punted[i]
	}
	c.Injected += o.Injected
	c.Fragments += o.Fragments
	c.Reassembled += o.Reassembled
	c.ReasmFragments += o.ReasmFragments
	c.ICMPErrors += o.ICMPErrors
	c.ICMPRateLimited += o.ICMPRateLimited
	c.NATKeepalives += o.NATKeepalives
	c.SPDCacheHits += o.SPDCacheHits
	c.SPDCacheMiss += o.SPDCacheMiss
	c.Drops.Add(&o.Drops)
}

// NumBatchBuckets is the number of receive batch size buckets: bucket i
// counts batches of more than 2^(i-1) and at most 2^i frames (bucket 0:
// one frame), the last one everything above 2^(NumBatchBuckets-2).
const NumBatchBuckets = 10

// BatchBucket is the bucket of a receive batch of n > 0 frames.
func BatchBucket(n int) int {
	return min(bits.Len(uint(n-1)), NumBatchBuckets-1)
}

// IfaceCounters are one interface's counters: its ports' (all queues)
// and the drops of packets that arrived on it.
type IfaceCounters struct {
	Port  PortStats
	Drops stats.Drops
}

// Add adds o to c.
func (c *IfaceCounters) Add(o *IfaceCounters) {
	c.Port.RxPackets += o.Port.RxPackets
	c.Port.RxBytes += o.Port.RxBytes
	c.Port.TxPackets += o.Port.TxPackets
	c.Port.TxBytes += o.Port.TxBytes
	c.Port.RxDropped += o.Port.RxDropped
	c.Port.TxDropped += o.Port.TxDropped
	c.Drops.Add(&o.Drops)
}

// Stats is a snapshot of the engine's counters.
type Stats struct {
	Global Counters
	// Ifaces is indexed like Tables.Interfaces (the tables the workers
	// were built with).
	Ifaces []IfaceCounters
}

// add sums a worker's snapshot into s.
func (s *Stats) add(o *Stats) {
	s.Global.Add(&o.Global)
	if len(s.Ifaces) < len(o.Ifaces) {
		s.Ifaces = append(s.Ifaces, make([]IfaceCounters, len(o.Ifaces)-len(s.Ifaces))...)
	}
	for i := range o.Ifaces {
		s.Ifaces[i].Add(&o.Ifaces[i])
	}
}

func (s *Stats) clone() Stats {
	return Stats{Global: s.Global, Ifaces: slices.Clone(s.Ifaces)}
}
