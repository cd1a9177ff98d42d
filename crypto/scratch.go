package crypto

import (
	"hash"
	"sync"
)

// scratch is the per-call working memory of a batch: hash states, nonces
// and digests that must not live in the shared, immutable SA state. A batch
// takes one from a pool and returns it, so the cost is per batch, not per
// packet, and nothing is allocated in the steady state.
type scratch struct {
	hashes  [numHashKinds]hash.Hash
	digest  [64]byte
	icv     [32]byte
	seqHi   [4]byte
	j0      [16]byte // nonce
	hdr     [16]byte // AAD with ESN
	ctr     [16]byte
	buf     []byte // AES-GMAC AAD with ESN
	state   []byte // a marshalled hash state
	jobs    []macJob
	mb      mbScratch
	cbcOps  []int32
	gcmOps  []int32
	gcmJobs []gcmJob
	ivs     []byte
	// Idle lanes of the CBC kernel encrypt this instead of a packet.
	cbcIdle [16 * cbcMaxStep]byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

// putScratch returns sc to the pool, dropping its references to packets.
func putScratch(sc *scratch) {
	clear(sc.jobs)
	sc.jobs = sc.jobs[:0]
	sc.cbcOps = sc.cbcOps[:0]
	sc.gcmOps = sc.gcmOps[:0]
	scratchPool.Put(sc)
}

func (sc *scratch) hash(k hashKind) hash.Hash {
	h := sc.hashes[k]
	if h == nil {
		h = hashNew[k]()
		sc.hashes[k] = h
	}
	return h
}
