// Package ring is a bounded, lockless single-producer/single-consumer queue of
// fixed-size slots: the channel between one fast-path worker and the slow
// path. A worker punts IKE packets, ACQUIREs, neighbour misses and SA
// lifetime events into one ring; the slow path injects packets to send into
// another.
//
// Slots are preallocated and written in place: the producer reserves the next
// free slot, fills it and commits it; the consumer peeks at the oldest
// committed slot, reads it and releases it. Nothing is allocated or copied
// beyond what the caller writes into a slot, and neither side ever blocks: a
// full ring makes Reserve return nil, which the worker counts as punt_full.
//
// Memory ordering: the producer publishes a slot with an atomic store of the
// tail after writing it; the consumer observes the tail with an atomic load
// before reading the slot, and hands the slot back with an atomic store of
// the head after reading it. Go's atomics are sequentially consistent, which
// is stronger than the acquire/release pairs this needs.
package ring

import (
	"errors"
	"sync/atomic"
)

// cacheLine separates the indexes the two sides write, so that they do not
// bounce one cache line between cores.
const cacheLine = 64

// Ring is an SPSC queue of slots of type T. One goroutine may call Reserve,
// Commit and Free; one other goroutine may call Peek, Release and Len; any
// goroutine may call Occupancy and Cap.
type Ring[T any] struct {
	_    [cacheLine]byte
	head atomic.Uint64 // next slot to consume; written by the consumer
	_    [cacheLine - 8]byte
	tail atomic.Uint64 // next slot to produce; written by the producer
	_    [cacheLine - 8]byte

	// Each side's cached copy of the other's index, so the common case
	// touches only its own cache line.
	headCache uint64 // producer's view of head
	_         [cacheLine - 8]byte
	tailCache uint64 // consumer's view of tail
	_         [cacheLine - 8]byte

	mask  uint64
	slots []T
}

// ErrSize is returned for sizes that are not a power of two of at least 2.
var ErrSize = errors.New("ring: size must be a power of two, at least 2")

// New makes a ring of size slots.
func New[T any](size int) (*Ring[T], error) {
	if size < 2 || size&(size-1) != 0 {
		return nil, ErrSize
	}
	return &Ring[T]{mask: uint64(size - 1), slots: make([]T, size)}, nil
}

// Cap is the number of slots.
func (r *Ring[T]) Cap() int { return len(r.slots) }

// Reserve returns the next free slot for the producer to fill, or nil when
// the ring is full. The slot keeps whatever an earlier use left in it. It
// becomes visible to the consumer only at Commit; calling Reserve again
// before Commit returns the same slot.
func (r *Ring[T]) Reserve() *T {
	t := r.tail.Load()
	if t-r.headCache == uint64(len(r.slots)) {
		r.headCache = r.head.Load()
		if t-r.headCache == uint64(len(r.slots)) {
			return nil
		}
	}
	return &r.slots[t&r.mask]
}

// Commit publishes the slot Reserve returned.
func (r *Ring[T]) Commit() { r.tail.Store(r.tail.Load() + 1) }

// Free is the number of slots the producer can fill now.
func (r *Ring[T]) Free() int {
	r.headCache = r.head.Load()
	return len(r.slots) - int(r.tail.Load()-r.headCache)
}

// Peek returns the oldest committed slot, or nil when the ring is empty. The
// slot stays the consumer's until Release.
func (r *Ring[T]) Peek() *T {
	h := r.head.Load()
	if h == r.tailCache {
		r.tailCache = r.tail.Load()
		if h == r.tailCache {
			return nil
		}
	}
	return &r.slots[h&r.mask]
}

// Release hands the slot Peek returned back to the producer.
func (r *Ring[T]) Release() { r.head.Store(r.head.Load() + 1) }

// Len is the number of committed slots not yet released, as the consumer
// sees it.
func (r *Ring[T]) Len() int {
	r.tailCache = r.tail.Load()
	return int(r.tailCache - r.head.Load())
}

// Occupancy is the number of committed slots not yet released, for an
// observer that is neither side (a metrics scrape): it only loads the two
// indexes, so unlike Len and Free it writes nothing the sides cache. The
// figure may be stale by the time it is used.
func (r *Ring[T]) Occupancy() int {
	h := r.head.Load() // head first: the tail loaded after it is never behind it
	return int(r.tail.Load() - h)
}
