package replay

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// model is the reference the window is checked against: a set of every
// accepted number and the top, with ESN inference written as "the unique
// candidate in [top-W+1, top-W+2^32]" rather than the RFC's case analysis.
type model struct {
	size uint64
	esn  bool
	top  uint64
	seen map[uint64]bool
}

func newModel(size int, esn bool) *model {
	return &model{size: uint64(size), esn: esn, seen: map[uint64]bool{}}
}

func (m *model) check(lo uint32) (uint64, bool) {
	seq := uint64(lo)
	if m.esn {
		win := int64(m.size)
		if win == 0 {
			win = 1 << 31
		}
		bottom := int64(m.top) - win + 1
		c := bottom + int64(uint32(lo-uint32(bottom)))
		if c < 0 || (c == 0 && m.size > 0) {
			return uint64(lo), false
		}
		seq = uint64(c)
	}
	if m.size == 0 {
		return seq, true
	}
	if seq == 0 || (seq <= m.top && m.top-seq >= m.size) || m.seen[seq] {
		return seq, false
	}
	return seq, true
}

func (m *model) update(seq uint64) {
	m.seen[seq] = true
	m.top = max(m.top, seq)
}

func mustNew(t testing.TB, size int, esn bool) *Window {
	t.Helper()
	w, err := New(size, esn)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// accept runs the receive path for one packet whose ICV verifies.
func accept(w *Window, lo uint32) bool {
	seq, ok := w.Check(lo)
	return ok && w.Update(seq)
}

func TestSlideAndDuplicates(t *testing.T) {
	w := mustNew(t, 64, false)
	if accept(w, 0) {
		t.Fatal("sequence number 0 accepted")
	}
	for s := uint32(1); s <= 1000; s++ {
		if !accept(w, s) {
			t.Fatalf("in-order %d dropped", s)
		}
		if accept(w, s) {
			t.Fatalf("duplicate %d accepted", s)
		}
		if s > 5 && accept(w, s-5) {
			t.Fatalf("old duplicate %d accepted", s-5)
		}
	}
	// Out of order inside the window: every other number first, then the rest.
	base := uint32(2000)
	for s := base; s < base+64; s += 2 {
		if !accept(w, s) {
			t.Fatalf("%d dropped", s)
		}
	}
	for s := base + 1; s < base+64; s += 2 {
		if !accept(w, s) {
			t.Fatalf("late %d dropped", s)
		}
	}
	if w.Top() != uint64(base+63) {
		t.Fatalf("top %d", w.Top())
	}
}

func TestFarJumpAndLeftEdge(t *testing.T) {
	w := mustNew(t, 64, false)
	for s := uint32(1); s <= 10; s++ {
		accept(w, s)
	}
	if !accept(w, 100000) {
		t.Fatal("far jump dropped")
	}
	// The window is (top-64, top]: 99937 is its left edge.
	if !accept(w, 100000-63) {
		t.Fatal("left edge dropped")
	}
	if accept(w, 100000-64) {
		t.Fatal("left of window accepted")
	}
	if accept(w, 11) {
		t.Fatal("number from before the jump accepted")
	}
	// Bits from before the jump must not leak into the new blocks.
	for s := uint32(100001); s < 100300; s++ {
		if !accept(w, s) {
			t.Fatalf("%d dropped after jump", s)
		}
	}
}

func TestCheckDoesNotMoveWindow(t *testing.T) {
	w := mustNew(t, 64, false)
	accept(w, 10)
	if _, ok := w.Check(5000); !ok {
		t.Fatal("check refused a new number")
	}
	// The ICV of 5000 failed, so Update is never called: 9 must still fit.
	if !accept(w, 9) {
		t.Fatal("unverified packet moved the window")
	}
}

func TestESNWrap(t *testing.T) {
	w := mustNew(t, 64, true)
	start := uint64(1)<<32 - 10
	if !w.Update(start) { // as if numbers up to here had arrived
		t.Fatal("update refused")
	}
	seq, ok := w.Check(5) // low half wrapped: high half must become 1
	if !ok || seq != 1<<32+5 {
		t.Fatalf("wrap: got %#x %v", seq, ok)
	}
	w.Update(seq)
	// A late packet from before the wrap keeps high half 0.
	seq, ok = w.Check(uint32(start - 3))
	if !ok || seq != start-3 {
		t.Fatalf("late pre-wrap: got %#x %v", seq, ok)
	}
	w.Update(seq)
	if accept(w, uint32(start-3)) {
		t.Fatal("pre-wrap duplicate accepted")
	}
	if accept(w, 5) {
		t.Fatal("post-wrap duplicate accepted")
	}
	// Move on; a number left of the window now reads as one of the next
	// subspace (only its ICV can tell).
	w.Update(1<<32 + 100)
	seq, ok = w.Check(uint32(start))
	if !ok || seq != 1<<32+uint64(uint32(start)) {
		t.Fatalf("after slide: got %#x %v", seq, ok)
	}
	// Below sequence number 1 there is nothing.
	w2 := mustNew(t, 64, true)
	w2.Update(3)
	if seq, ok := w2.Check(0xFFFFFFF0); ok {
		t.Fatalf("negative sequence accepted as %#x", seq)
	}
	if _, ok := w2.Check(0); ok {
		t.Fatal("sequence 0 accepted")
	}
}

func TestMaxWindow(t *testing.T) {
	for _, size := range []int{1, 31, 32, 33, 100, 1024, 4096, MaxSize} {
		w := mustNew(t, size, false)
		m := newModel(size, false)
		r := rand.New(rand.NewPCG(uint64(size), 1))
		top := uint32(1)
		for range 20000 {
			lo := top - uint32(r.IntN(size+64)) + uint32(r.IntN(8))
			if lo == 0 {
				lo = 1
			}
			ms, mok := m.check(lo)
			seq, ok := w.Check(lo)
			if seq != ms || ok != mok {
				t.Fatalf("size %d lo %d: got %d %v, model %d %v", size, lo, seq, ok, ms, mok)
			}
			if ok {
				if !w.Update(seq) {
					t.Fatalf("size %d: update of %d refused", size, seq)
				}
				m.update(ms)
				top = uint32(m.top)
			}
		}
		if w.Top() == 0 {
			t.Fatal("nothing accepted")
		}
	}
	if _, err := New(MaxSize+1, false); err == nil {
		t.Fatal("oversized window accepted")
	}
	if _, err := New(-1, false); err == nil {
		t.Fatal("negative window accepted")
	}
}

func TestDisabled(t *testing.T) {
	w := mustNew(t, 0, false)
	for range 3 {
		if !accept(w, 7) {
			t.Fatal("disabled window dropped a duplicate")
		}
	}
	w = mustNew(t, 0, true)
	w.Update(1<<32 - 1)
	if seq, ok := w.Check(2); !ok || seq != 1<<32+2 {
		t.Fatalf("disabled ESN window inferred %#x %v", seq, ok)
	}
}

// TestConcurrentWorkers delivers every number about twice, from different
// goroutines, in a shuffled order: each full sequence number must be
// accepted at most once.
func TestConcurrentWorkers(t *testing.T) {
	const n = 1 << 16
	for _, esn := range []bool{false, true} {
		w := mustNew(t, 1024, esn)
		base := uint64(0)
		if esn {
			base = 1<<32 - n/2 // cross the low-half wrap while racing
			w.Update(base)
		}
		var mu sync.Mutex
		accepted := map[uint64]int{}
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(g), 2))
				for i := 1; i < n; i += 1 + r.IntN(2) {
					// Stay near the arrival order so most packets are
					// in the window.
					j := min(n-1, max(1, i+r.IntN(256)-128))
					seq, ok := w.Check(uint32(base + uint64(j)))
					if ok && w.Update(seq) {
						mu.Lock()
						accepted[seq]++
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		for seq, c := range accepted {
			if c > 1 {
				t.Fatalf("esn=%v: %#x accepted %d times", esn, seq, c)
			}
		}
		if len(accepted) < n/4 {
			t.Fatalf("esn=%v: only %d of %d accepted", esn, len(accepted), n)
		}
	}
}

// FuzzWindow drives the window and the model with the same packets. Each
// 5-byte record is a packet: flags (bit 0: ICV fails, bit 1: absolute low
// half, else a signed offset from the top) and 4 bytes of number.
func FuzzWindow(f *testing.F) {
	f.Add(uint16(64), false, []byte{2, 0, 0, 0, 1, 2, 0, 0, 0, 1, 0, 5, 0, 0, 0})
	f.Add(uint16(64), true, []byte{2, 0xff, 0xff, 0xff, 0xf0, 0, 0x20, 0, 0, 0, 0, 0xc0, 0xff, 0xff, 0xff})
	f.Add(uint16(4096), true, []byte{2, 0, 0, 0x10, 0, 1, 0, 0x20, 0, 0, 0, 0, 0xf0, 0, 0})
	f.Add(uint16(0), true, []byte{2, 0x80, 0, 0, 0, 2, 0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, size uint16, esn bool, ops []byte) {
		w, err := New(int(size)%(MaxSize+1), esn)
		if err != nil {
			t.Fatal(err)
		}
		m := newModel(w.Size(), esn)
		for ; len(ops) >= 5; ops = ops[5:] {
			v := binary.BigEndian.Uint32(ops[1:])
			lo := v
			if ops[0]&2 == 0 {
				lo = uint32(m.top) + uint32(int32(int16(v)))
			}
			ms, mok := m.check(lo)
			seq, ok := w.Check(lo)
			if ok != mok || (ok && seq != ms) {
				t.Fatalf("size %d esn %v top %#x lo %#x: got %#x %v, model %#x %v", w.Size(), esn, m.top, lo, seq, ok, ms, mok)
			}
			if ok && ops[0]&1 == 0 {
				if !w.Update(seq) {
					t.Fatalf("update of %#x refused", seq)
				}
				m.update(seq)
			}
			if w.Top() != m.top {
				t.Fatalf("top %#x, model %#x", w.Top(), m.top)
			}
		}
	})
}

// BenchmarkInOrder is the receive path of one worker: Check and Update of
// consecutive numbers.
func BenchmarkInOrder(b *testing.B) {
	w := mustNew(b, 1024, true)
	lo := uint32(0)
	for b.Loop() {
		lo++
		seq, _ := w.Check(lo)
		w.Update(seq)
	}
}

// BenchmarkShared has all benchmark goroutines feed one SA's window, each
// taking the next number from a shared counter, as workers sharing an SA do.
func BenchmarkShared(b *testing.B) {
	w := mustNew(b, 1024, true)
	var next atomic.Uint32
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			seq, ok := w.Check(next.Add(1))
			if ok {
				w.Update(seq)
			}
		}
	})
}
