// Package replay is the anti-replay window of one inbound SA (RFC 4303 §3.4.3,
// RFC 4302 §3.4.3), with extended sequence numbers (RFC 4303 Appendix A).
//
// The decrypt node (fastpath/ipsec) calls Check with the 32 sequence-number
// bits carried in a packet before it verifies the ICV: Check rejects
// duplicates and packets left of the window cheaply, and for ESN SAs infers
// the high 32 bits the ICV covers. After the ICV verified, the node calls
// Update with the full 64-bit number; only Update changes the window, so a
// forged packet can never move it.
//
// Design (RFC 6479): the window is a ring of 64-bit words and never shifts.
// Sequence number s lives in block s>>5, word (s>>5) mod N, bit s&31. Each
// word carries its bitmap in the low 32 bits and the low 32 bits of its block
// number (a tag) in the high 32 bits, so moving the window clears nothing:
// a word whose tag is older than the block a packet needs is stale and is
// reset by the packet that claims it. This makes every step a single
// compare-and-swap, so several workers may process the same inbound SA at
// once (RSS puts one SA on one queue in the usual case, but NAT-T flows or a
// peer spraying an SA over several outer flows do not):
//
//   - a duplicate is never accepted: the first Update of s sets its bit with
//     a CAS; any later Update of s finds either that bit or a newer tag;
//   - a race can only err towards dropping: a packet in the window whose
//     word another worker just claimed for a newer block is dropped, as it
//     would be a moment later anyway.
//
// A tag is read relative to the top (see block), which is exact unless a
// word goes untouched for 2^32 blocks (2^37 sequence numbers) and its old
// tag then aliases into the few blocks right of the packet's — a sender that
// numbers by one touches every word each lap, and even then the error is a
// dropped packet, never an accepted duplicate.
//
// Cost: Check is three atomic loads; Update one CAS on the word and, when
// the packet is the newest, one CAS on the top: about 15 ns a packet on one
// worker (BenchmarkInOrder), against some 50 ns to 1 µs of crypto. Two
// workers hammering one SA's window pay for the cache lines bouncing
// between their cores (50 to 150 ns a packet in BenchmarkShared on this
// 2-core machine) — correct, but the case to avoid: keep an SA's traffic on
// one queue (RSS on the outer addresses does) or use per-CPU SAs (RFC 9611).
package replay

import (
	"errors"
	"math/bits"
	"sync/atomic"
)

// Window sizes.
const (
	DefaultSize = 64    // as on IOS
	MaxSize     = 65536 // IOS accepts up to 1024; RFC 6479 rings scale further
)

// ErrSize is returned for window sizes outside 0..MaxSize.
var ErrSize = errors.New("replay: window size must be between 0 (disabled) and 65536")

// Window is the anti-replay state of one inbound SA. Size 0 disables
// replay protection (manual SAs, `set security-association replay disable`)
// but still tracks the highest sequence number so ESN SAs can infer the
// high bits. All methods are safe for concurrent use.
type Window struct {
	top   atomic.Uint64 // highest verified sequence number
	size  uint64
	esn   bool
	mask  uint64          // len(words)-1
	words []atomic.Uint64 // tag<<32 | bitmap
}

// New returns an empty window of size packets (0: disabled) for an SA with
// (esn) or without extended sequence numbers.
func New(size int, esn bool) (*Window, error) {
	if size < 0 || size > MaxSize {
		return nil, ErrSize
	}
	w := &Window{size: uint64(size), esn: esn}
	if size > 0 {
		// The window's blocks must map to distinct words: a window of
		// size bits touches at most ceil(size/32)+1 blocks.
		n := uint64(1) << bits.Len64(uint64((size+31)/32))
		w.words = make([]atomic.Uint64, n)
		w.mask = n - 1
	}
	return w, nil
}

// Size is the window size in packets; 0 means disabled.
func (w *Window) Size() int { return int(w.size) }

// Top is the highest sequence number verified so far.
func (w *Window) Top() uint64 { return w.top.Load() }

// Check decides, before the ICV is verified, whether a packet carrying the
// low 32 sequence-number bits lo may be new. It returns the full sequence
// number (lo itself without ESN) for the ICV and for Update.
func (w *Window) Check(lo uint32) (seq uint64, ok bool) {
	top := w.top.Load()
	seq, ok = w.infer(top, lo)
	if !ok || w.size == 0 {
		return seq, ok
	}
	if seq > top {
		return seq, true
	}
	if top-seq >= w.size {
		return seq, false
	}
	word := w.words[(seq>>5)&w.mask].Load()
	switch w.block(word, seq) {
	case same:
		return seq, word&(1<<(seq&31)) == 0
	case stale:
		return seq, true
	}
	return seq, false // the window moved past seq since top was read
}

const (
	same = iota
	stale
	newer
)

// block tells how the block a word holds relates to seq's block. The word
// must be loaded before this reads the top: every Update raises the top
// before it tags a word, so the word's block is at most the top's, and the
// tag's 32 bits are read as the latest block at or below the top with them.
func (w *Window) block(word, seq uint64) int {
	topBlock := w.top.Load() >> 5
	b := topBlock - uint64(uint32(topBlock)-uint32(word>>32))
	switch want := seq >> 5; {
	case b == want:
		return same
	case b < want:
		return stale
	}
	return newer
}

// Update records seq after its packet's ICV verified. It returns false when
// the packet must be dropped after all: a copy of it was accepted in the
// meantime, or the window moved past it.
func (w *Window) Update(seq uint64) bool {
	t := w.top.Load()
	if w.size > 0 && seq <= t && t-seq >= w.size {
		return false
	}
	for seq > t && !w.top.CompareAndSwap(t, seq) {
		t = w.top.Load()
	}
	if w.size == 0 {
		return true
	}
	bit := uint64(1) << (seq & 31)
	p := &w.words[(seq>>5)&w.mask]
	for {
		old := p.Load()
		var nw uint64
		switch w.block(old, seq) {
		case same:
			if old&bit != 0 {
				return false
			}
			nw = old | bit
		case stale:
			nw = (seq>>5)<<32 | bit
		default:
			return false
		}
		if p.CompareAndSwap(old, nw) {
			return true
		}
	}
}

// infer rebuilds the 64-bit sequence number from its low half. Without ESN
// the number is lo, and 0 is never sent (RFC 4303 §3.3.3). With ESN it is
// RFC 4303 Appendix A: the candidate that falls in the window or right of it.
// A disabled window infers with half the number space, so the SA still
// follows a sender that skips ahead.
func (w *Window) infer(top uint64, lo uint32) (uint64, bool) {
	if !w.esn {
		return uint64(lo), lo != 0 || w.size == 0
	}
	win := uint32(w.size)
	if win == 0 {
		win = 1 << 31
	}
	tl, th := uint32(top), uint32(top>>32)
	bottom := tl - win + 1 // wraps in case B, as the RFC intends
	var hi uint32
	if tl >= win-1 { // case A: the window lies within one 2^32 subspace
		hi = th
		if lo < bottom {
			hi = th + 1
		}
	} else { // case B: the window spans two subspaces
		hi = th
		if lo >= bottom {
			if th == 0 {
				return uint64(lo), false // below sequence number 1
			}
			hi = th - 1
		}
	}
	seq := uint64(hi)<<32 | uint64(lo)
	return seq, seq != 0 || w.size == 0
}
