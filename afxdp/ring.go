package afxdp

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ring is one of the four single-producer/single-consumer rings a socket
// shares with the kernel: fill and TX are produced by us and consumed by the
// kernel, RX and completion the other way round.
//
// Indexes are free-running uint32 counters; an entry's slot is index & mask.
// We keep cached copies of both indexes and read the kernel's side only when
// the cached view runs out, as libxdp does: the shared cache lines are
// touched once per batch, not per packet. The kernel reads our producer
// index with acquire and writes its own with release semantics; Go's atomic
// Load and Store give at least that ordering.
type ring struct {
	producer *uint32
	consumer *uint32
	flags    *uint32
	descs    unsafe.Pointer
	mask     uint32
	size     uint32

	// For a producer ring cachedCons is the consumer index plus size, so
	// cachedCons-cachedProd is the free space.
	cachedProd uint32
	cachedCons uint32

	mem []byte // the mapping, for munmap
}

const (
	addrSize = 8                             // fill and completion entries: a UMEM address
	descSize = unsafe.Sizeof(unix.XDPDesc{}) // RX and TX entries
)

// newRing lays a ring over mem, a mapping of the kernel's ring whose layout
// off describes, with n entries.
func newRing(mem []byte, off unix.XDPRingOffset, n uint32, producerSide bool) ring {
	base := unsafe.Pointer(&mem[0])
	r := ring{
		producer: (*uint32)(unsafe.Add(base, off.Producer)),
		consumer: (*uint32)(unsafe.Add(base, off.Consumer)),
		flags:    (*uint32)(unsafe.Add(base, off.Flags)),
		descs:    unsafe.Add(base, off.Desc),
		mask:     n - 1,
		size:     n,
		mem:      mem,
	}
	r.cachedProd = atomic.LoadUint32(r.producer)
	r.cachedCons = atomic.LoadUint32(r.consumer)
	if producerSide {
		r.cachedCons += n
	}
	return r
}

// addr is the fill or completion entry at index i.
func (r *ring) addr(i uint32) *uint64 {
	return (*uint64)(unsafe.Add(r.descs, uintptr(i&r.mask)*addrSize))
}

// desc is the RX or TX descriptor at index i.
func (r *ring) desc(i uint32) *unix.XDPDesc {
	return (*unix.XDPDesc)(unsafe.Add(r.descs, uintptr(i&r.mask)*descSize))
}

// free is how many entries a producer may write, reading the kernel's
// consumer index only when the cached view shows fewer than want.
func (r *ring) free(want uint32) uint32 {
	if n := r.cachedCons - r.cachedProd; n >= want {
		return n
	}
	r.cachedCons = atomic.LoadUint32(r.consumer) + r.size
	return r.cachedCons - r.cachedProd
}

// submit publishes the entries written since the last submit (at indexes up
// to cachedProd) to the kernel.
func (r *ring) submit() { atomic.StoreUint32(r.producer, r.cachedProd) }

// available is how many entries, at most want, a consumer may read starting
// at cachedCons, reading the kernel's producer index only when the cached
// view is empty.
func (r *ring) available(want uint32) uint32 {
	n := r.cachedProd - r.cachedCons
	if n == 0 {
		r.cachedProd = atomic.LoadUint32(r.producer)
		n = r.cachedProd - r.cachedCons
	}
	return min(n, want)
}

// release hands n read entries back to the kernel.
func (r *ring) release(n uint32) {
	r.cachedCons += n
	atomic.StoreUint32(r.consumer, r.cachedCons)
}

// pending is how many produced entries the kernel has not consumed yet.
func (r *ring) pending() uint32 { return r.cachedProd - atomic.LoadUint32(r.consumer) }

// needWakeup reports whether the kernel asks for a syscall to process this
// ring (XDP_RING_NEED_WAKEUP, set only when the socket was bound with
// XDP_USE_NEED_WAKEUP).
func (r *ring) needWakeup() bool {
	return atomic.LoadUint32(r.flags)&unix.XDP_RING_NEED_WAKEUP != 0
}
