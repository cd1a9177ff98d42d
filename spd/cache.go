package spd

import (
	"math/bits"
	"math/rand/v2"
)

// A Cache remembers the Table's answers for recently seen flows, for one fast
// path worker: a packet of a known flow costs one hash and one compare of a
// cache line instead of a tree walk. It is a fixed-size 4-way set-associative
// table of flows per address family, allocated once; it is not safe for
// concurrent use.
//
// The cache key is the flow itself, packed straight from its addresses,
// ports and protocol (not the classifier's wider key, which is built only
// on a miss). An IPv4 flow packs into two words, so its slot is half a
// cache line and a set of four fits two lines; an IPv6 slot is one line.
//
// Entries are tagged with the generation of the Table that produced them, so
// when the control plane swaps in a new Table the worker just passes the new
// one and every older entry misses; nothing needs flushing.
//
// The hash is seeded per Cache, so remote hosts cannot aim their flows at one
// set; a flood of distinct flows only turns hits into Table lookups.
type Cache struct {
	v4   cacheSets[[2]uint64]
	v6   cacheSets[[6]uint64]
	seed [3]uint64

	// Hits and Misses count lookups answered from the cache and by the
	// Table, for the worker's statistics.
	Hits, Misses uint64
}

const cacheWays = 4

// cacheSlot is one flow and its answer.
type cacheSlot[K comparable] struct {
	k    K
	gen  uint64 // Table generation; 0: empty
	rule int64
}

// cacheSets is the set-associative table of one address family.
type cacheSets[K comparable] struct {
	slots []cacheSlot[K]
	mask  uint64 // sets - 1
}

// NewCache returns a cache of at least entries flows of each family
// (rounded up to a power of two, at least 4).
func NewCache(entries int) *Cache {
	sets := 1
	for sets*cacheWays < entries {
		sets <<= 1
	}
	return &Cache{
		v4:   cacheSets[[2]uint64]{slots: make([]cacheSlot[[2]uint64], sets*cacheWays), mask: uint64(sets - 1)},
		v6:   cacheSets[[6]uint64]{slots: make([]cacheSlot[[6]uint64], sets*cacheWays), mask: uint64(sets - 1)},
		seed: [3]uint64{rand.Uint64(), rand.Uint64(), rand.Uint64()},
	}
}

// Lookup returns t.Lookup(f), from the cache when f was seen with t.
func (c *Cache) Lookup(t *Table, f *Flow) int {
	if t == nil {
		return NoMatch
	}
	// Protocol and ports in one word; ports only for TCP and UDP, as the
	// Table reads them.
	meta := uint64(f.Proto)
	if f.Proto == protoTCP || f.Proto == protoUDP {
		meta |= uint64(f.SrcPort)<<8 | uint64(f.DstPort)<<24
	}
	if f.Src.Is4() && f.Dst.Is4() {
		s, d := f.Src.As4(), f.Dst.As4()
		k := [2]uint64{uint64(s[0])<<56 | uint64(s[1])<<48 | uint64(s[2])<<40 | uint64(s[3])<<32 |
			uint64(d[0])<<24 | uint64(d[1])<<16 | uint64(d[2])<<8 | uint64(d[3]), meta}
		return lookupSet(c, &c.v4, k, mix(k[0]^c.seed[0], k[1]^c.seed[1]), t, f)
	}
	if !f.Src.Is6() || !f.Dst.Is6() || f.Src.Zone() != "" || f.Dst.Zone() != "" {
		// Mixed families, invalid or zoned addresses never match
		// (Table.Lookup), and the key below could not tell them from
		// IPv6 flows: not cached.
		c.Misses++
		return t.Lookup(f)
	}
	s, d := f.Src.As16(), f.Dst.As16()
	var k [6]uint64 // k[5] stays zero: it makes the slot one cache line
	k[0], k[1] = be64(s[:8]), be64(s[8:])
	k[2], k[3] = be64(d[:8]), be64(d[8:])
	k[4] = meta
	h := mix(k[0]^c.seed[0], k[1]^0xa0761d6478bd642f) ^
		mix(k[2]^c.seed[1], k[3]^0xe7037ed1a0b428db) ^
		mix(k[4]^c.seed[2], 0x8ebc6af09c88c6e3)
	return lookupSet(c, &c.v6, k, h, t, f)
}

// lookupSet probes the set of hash h for key k and fills it from t on a
// miss.
func lookupSet[K comparable](c *Cache, cs *cacheSets[K], k K, h uint64, t *Table, f *Flow) int {
	set := cs.slots[(h&cs.mask)*cacheWays:][:cacheWays]
	victim := -1
	for i := range set {
		s := &set[i]
		if s.gen != t.gen {
			if victim < 0 {
				victim = i // fill sets from the first way, where lookups start
			}
			continue
		}
		if s.k == k {
			c.Hits++
			return int(s.rule)
		}
	}
	c.Misses++
	rule := t.Lookup(f)
	if victim < 0 {
		victim = int(h >> 62) // set full of live flows: evict one at random
	}
	set[victim] = cacheSlot[K]{k: k, gen: t.gen, rule: int64(rule)}
	return rule
}

// LookupReverse is Table.LookupReverse through the cache: the check for
// cleartext packets arriving on the protected interface.
func (c *Cache) LookupReverse(t *Table, f *Flow) int {
	r := f.Reverse()
	return c.Lookup(t, &r)
}

func be64(b []byte) uint64 {
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

// mix is a multiply-fold step (as wyhash does).
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}
