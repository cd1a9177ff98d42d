// Package packet holds the frame buffers that every part of the data plane
// passes around: drivers (afxdp, pcap, memory ports) fill them, the fast path
// rewrites them in place, drivers transmit or recycle them.
//
// A Buf is one fixed-size chunk of a Pool's arena. The frame sits inside the
// chunk with Headroom bytes in front of it (the same 256 bytes the kernel
// reserves in an AF_XDP chunk), so outer IP, UDP and ESP/AH headers are
// prepended without copying, and tailroom behind it for padding and ICVs.
//
// A Pool belongs to one worker and is not safe for concurrent use: every port
// a worker polls allocates from and frees to the same pool, so a frame that
// arrives on one port leaves by another without a copy.
package packet

import "errors"

// Headroom is the room left in front of a received frame: the kernel's
// XDP_PACKET_HEADROOM, enough for the largest outer headers we prepend
// (IPv6 40 + UDP 8 + AH 40 + ESP 8 + IV 16 + Ethernet 18).
const Headroom = 256

// Buf is one frame and the chunk that holds it.
type Buf struct {
	chunk []byte // the whole chunk
	off   int    // frame start within chunk
	n     int    // frame length

	// Addr is the chunk's offset in its pool's arena (the UMEM address for
	// AF_XDP); drivers use it to hand the chunk to the kernel.
	Addr uint64
	pool *Pool

	// Port is the index of the port the frame arrived on, or is to leave by,
	// within the worker that owns it.
	Port uint16
}

// Bytes returns the frame.
func (b *Buf) Bytes() []byte { return b.chunk[b.off : b.off+b.n] }

// Len is the frame length.
func (b *Buf) Len() int { return b.n }

// Headroom is the free space in front of the frame.
func (b *Buf) Headroom() int { return b.off }

// Tailroom is the free space behind the frame.
func (b *Buf) Tailroom() int { return len(b.chunk) - b.off - b.n }

// Pool is the pool the chunk belongs to.
func (b *Buf) Pool() *Pool { return b.pool }

// Offset is the frame's start within its chunk (AF_XDP descriptors carry
// chunk address + offset).
func (b *Buf) Offset() int { return b.off }

// Chunk returns the whole chunk, for drivers.
func (b *Buf) Chunk() []byte { return b.chunk }

// Set places the frame at off within the chunk with length n; drivers call it
// after the kernel wrote a frame. It panics on bounds the caller got wrong.
func (b *Buf) Set(off, n int) {
	if off < 0 || n < 0 || off+n > len(b.chunk) {
		panic("packet: frame outside its chunk")
	}
	b.off, b.n = off, n
}

// Reset empties the frame and restores the standard headroom.
func (b *Buf) Reset() { b.off, b.n = Headroom, 0 }

// Prepend grows the frame by n bytes at the front and returns them.
// It returns nil when the headroom is too small.
func (b *Buf) Prepend(n int) []byte {
	if n > b.off {
		return nil
	}
	b.off -= n
	b.n += n
	return b.chunk[b.off : b.off+n]
}

// Append grows the frame by n bytes at the back and returns them.
// It returns nil when the tailroom is too small.
func (b *Buf) Append(n int) []byte {
	if n > b.Tailroom() {
		return nil
	}
	s := b.chunk[b.off+b.n : b.off+b.n+n]
	b.n += n
	return s
}

// TrimFront drops n bytes from the front of the frame.
func (b *Buf) TrimFront(n int) {
	if n > b.n {
		n = b.n
	}
	b.off += n
	b.n -= n
}

// TrimBack drops n bytes from the back of the frame.
func (b *Buf) TrimBack(n int) {
	if n > b.n {
		n = b.n
	}
	b.n -= n
}

// SetLen sets the frame length, keeping its start. It returns false when the
// chunk is too small.
func (b *Buf) SetLen(n int) bool {
	if n < 0 || b.off+n > len(b.chunk) {
		return false
	}
	b.n = n
	return true
}

// Pool is a fixed set of equal chunks carved from one arena, with a free
// stack. Allocation and free are O(1) and never allocate.
type Pool struct {
	arena     []byte
	chunkSize int
	bufs      []Buf  // one per chunk, index = Addr / chunkSize
	free      []*Buf // free stack
}

// ErrChunkSize is returned for chunk sizes that cannot hold a frame.
var ErrChunkSize = errors.New("packet: chunk size must be at least 2048 and divide the arena")

// NewPool carves arena into chunks of chunkSize bytes, all free.
func NewPool(arena []byte, chunkSize int) (*Pool, error) {
	if chunkSize < 2048 || len(arena) < chunkSize || len(arena)%chunkSize != 0 {
		return nil, ErrChunkSize
	}
	n := len(arena) / chunkSize
	p := &Pool{arena: arena, chunkSize: chunkSize, bufs: make([]Buf, n), free: make([]*Buf, 0, n)}
	for i := range p.bufs {
		b := &p.bufs[i]
		b.chunk = arena[i*chunkSize : (i+1)*chunkSize : (i+1)*chunkSize]
		b.Addr = uint64(i * chunkSize)
		b.pool = p
		b.Reset()
	}
	for i := n - 1; i >= 0; i-- {
		p.free = append(p.free, &p.bufs[i])
	}
	return p, nil
}

// NewHeapPool allocates an arena of n chunks on the Go heap.
func NewHeapPool(n, chunkSize int) *Pool {
	p, err := NewPool(make([]byte, n*chunkSize), chunkSize)
	if err != nil {
		panic(err)
	}
	return p
}

// ChunkSize is the size of every chunk.
func (p *Pool) ChunkSize() int { return p.chunkSize }

// Size is the number of chunks.
func (p *Pool) Size() int { return len(p.bufs) }

// Free is the number of chunks not in use.
func (p *Pool) Free() int { return len(p.free) }

// Arena is the memory the chunks are carved from (the UMEM for AF_XDP).
func (p *Pool) Arena() []byte { return p.arena }

// Get takes a chunk, reset to an empty frame; nil when the pool is empty.
func (p *Pool) Get() *Buf {
	n := len(p.free)
	if n == 0 {
		return nil
	}
	b := p.free[n-1]
	p.free = p.free[:n-1]
	b.Reset()
	return b
}

// GetBatch fills bufs with fresh chunks and returns how many it got.
func (p *Pool) GetBatch(bufs []*Buf) int {
	n := min(len(bufs), len(p.free))
	copy(bufs, p.free[len(p.free)-n:])
	p.free = p.free[:len(p.free)-n]
	for _, b := range bufs[:n] {
		b.Reset()
	}
	return n
}

// Put returns a chunk to its pool.
func (p *Pool) Put(b *Buf) {
	if b.pool != p {
		panic("packet: buffer returned to a pool it does not belong to")
	}
	p.free = append(p.free, b)
}

// ByAddr returns the Buf of the chunk at arena offset addr (addr may point
// inside the chunk), as AF_XDP descriptors name chunks by address.
func (p *Pool) ByAddr(addr uint64) *Buf {
	return &p.bufs[addr/uint64(p.chunkSize)]
}
