package fastpath

import "ipsecgw/packet"

// MemPort is a Port over memory, for tests and benchmarks: it receives a
// preloaded list of frames (once, or replayed in a loop), and counts what it
// transmits, optionally keeping a copy. Receiving copies each frame into a
// buffer of the worker's pool, as a NIC's DMA would; nothing is allocated
// per frame unless capturing.
type MemPort struct {
	pool   *packet.Pool
	frames [][]byte
	next   int
	loop   bool

	capture  bool
	captured [][]byte
	stats    PortStats
}

// NewMemPort returns a port that receives frames into buffers of pool,
// endlessly when loop is set.
func NewMemPort(pool *packet.Pool, frames [][]byte, loop bool) *MemPort {
	return &MemPort{pool: pool, frames: frames, loop: loop}
}

// Load replaces the frames to receive and starts over with the first.
func (p *MemPort) Load(frames [][]byte) {
	p.frames, p.next = frames, 0
}

// Receive implements Port.
func (p *MemPort) Receive(bufs []*packet.Buf) int {
	n := 0
	for n < len(bufs) && len(p.frames) > 0 {
		if p.next == len(p.frames) {
			if !p.loop {
				break
			}
			p.next = 0
		}
		f := p.frames[p.next]
		b := p.pool.Get()
		if b == nil {
			p.stats.RxDropped++
			break
		}
		d := b.Append(len(f))
		if d == nil {
			p.pool.Put(b)
			p.stats.RxDropped++
			p.next++
			continue
		}
		copy(d, f)
		p.next++
		p.stats.RxPackets++
		p.stats.RxBytes += uint64(len(f))
		bufs[n] = b
		n++
	}
	return n
}

// Transmit implements Port: it counts the frames, keeps copies when
// capturing, and frees them.
func (p *MemPort) Transmit(bufs []*packet.Buf) {
	for _, b := range bufs {
		p.stats.TxPackets++
		p.stats.TxBytes += uint64(b.Len())
		if p.capture {
			p.captured = append(p.captured, append([]byte(nil), b.Bytes()...))
		}
		b.Pool().Put(b)
	}
}

// Flush implements Port; a memory port sends at once.
func (p *MemPort) Flush() {}

// Stats implements Port.
func (p *MemPort) Stats() PortStats { return p.stats }

// Exhausted reports that a port without loop has delivered every frame.
func (p *MemPort) Exhausted() bool { return !p.loop && p.next == len(p.frames) }

// Capture turns keeping copies of transmitted frames on or off.
func (p *MemPort) Capture(on bool) { p.capture = on }

// Captured returns the frames transmitted while capturing and forgets them.
func (p *MemPort) Captured() [][]byte {
	c := p.captured
	p.captured = nil
	return c
}
