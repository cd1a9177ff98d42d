package spd

import (
	"math/bits"
	"math/rand/v2"
)

// A Cache remembers the Table's answers for recently seen flows, for one fast
// path worker: a packet of a known flow costs one hash and one compare of a
// cache line instead of a tree walk. It is a fixed-size 4-way set-associative
// table of flows, allocated once; it is not safe for concurrent use.
//
// Entries are tagged with the generation of the Table that produced them, so
// when the control plane swaps in a new Table the worker just passes the new
// one and every older entry misses; nothing needs flushing.
//
// The hash is seeded per Cache, so remote hosts cannot aim their flows at one
// set; a flood of distinct flows only turns hits into Table lookups.
type Cache struct {
	slots []cacheSlot
	mask  uint64 // sets - 1
	seed  [3]uint64

	// Hits and Misses count lookups answered from the cache and by the
	// Table, for the worker's statistics.
	Hits, Misses uint64
}

const cacheWays = 4

// cacheSlot is one flow and its answer, one cache line.
type cacheSlot struct {
	k    [5]uint64 // addresses and meta (see cacheKey)
	gen  uint64    // Table generation; 0: empty
	rule int64
	_    uint64
}

// NewCache returns a cache of at least entries flows (rounded up to a power of
// two, at least 4).
func NewCache(entries int) *Cache {
	sets := 1
	for sets*cacheWays < entries {
		sets <<= 1
	}
	return &Cache{
		slots: make([]cacheSlot, sets*cacheWays),
		mask:  uint64(sets - 1),
		seed:  [3]uint64{rand.Uint64(), rand.Uint64(), rand.Uint64()},
	}
}

// Lookup returns t.Lookup(f), from the cache when f was seen with t.
func (c *Cache) Lookup(t *Table, f *Flow) int {
	if t == nil {
		return NoMatch
	}
	var k key
	fam, ok := makeKey(f, &k)
	if !ok {
		return NoMatch
	}
	ck := [5]uint64{k[wSrcHi], k[wSrcLo], k[wDstHi], k[wDstLo],
		k[wProto] | k[wSrcPort]<<8 | k[wDstPort]<<(8+portBits) | uint64(fam)<<(8+2*portBits)}
	h := c.hash(&ck)
	set := c.slots[(h&c.mask)*cacheWays:][:cacheWays]
	victim := -1
	for i := range set {
		s := &set[i]
		if s.gen != t.gen {
			if victim < 0 {
				victim = i // fill sets from the first way, where lookups start
			}
			continue
		}
		if s.k[0] == ck[0] && s.k[2] == ck[2] && s.k[4] == ck[4] && s.k[1] == ck[1] && s.k[3] == ck[3] {
			c.Hits++
			return int(s.rule)
		}
	}
	c.Misses++
	rule := t.class[fam].lookup(&k)
	if victim < 0 {
		victim = int(h >> 62) // set full of live flows: evict one at random
	}
	set[victim] = cacheSlot{k: ck, gen: t.gen, rule: int64(rule)}
	return rule
}

// LookupReverse is Table.LookupReverse through the cache: the check for
// cleartext packets arriving on the protected interface.
func (c *Cache) LookupReverse(t *Table, f *Flow) int {
	r := f.Reverse()
	return c.Lookup(t, &r)
}

// hash mixes the flow with multiply-fold steps (as wyhash does).
func (c *Cache) hash(k *[5]uint64) uint64 {
	return mix(k[0]^c.seed[0], k[1]^0xa0761d6478bd642f) ^
		mix(k[2]^c.seed[1], k[3]^0xe7037ed1a0b428db) ^
		mix(k[4]^c.seed[2], 0x8ebc6af09c88c6e3)
}

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}
