package afxdp

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// testRing lays a ring of n descriptors over heap memory, with the kernel's
// side played by the test, indexes starting at start.
func testRing(n uint32, size uintptr, start uint32, producerSide bool) (ring, *uint32, *uint32) {
	off := unix.XDPRingOffset{Producer: 0, Consumer: 64, Flags: 128, Desc: 192}
	mem := make([]byte, int(off.Desc)+int(n)*int(size))
	prod := (*uint32)(unsafe.Pointer(&mem[off.Producer]))
	cons := (*uint32)(unsafe.Pointer(&mem[off.Consumer]))
	*prod, *cons = start, start
	return newRing(mem, off, n, producerSide), prod, cons
}

// TestRingProducerWraps: a fill ring whose indexes wrap around 2^32 keeps
// count of free entries and publishes what it wrote.
func TestRingProducerWraps(t *testing.T) {
	r, prod, cons := testRing(8, addrSize, 0xfffffffc, true)
	if got := r.free(1); got != 8 {
		t.Fatalf("free %d, want 8", got)
	}
	for k := uint64(0); k < 8; k++ {
		*r.addr(r.cachedProd) = k * 2048
		r.cachedProd++
	}
	r.submit()
	if *prod != 4 {
		t.Fatalf("producer %d, want 4 (wrapped)", *prod)
	}
	if got := r.free(1); got != 0 {
		t.Fatalf("free %d on a full ring", got)
	}
	*cons += 3 // the kernel took three
	if got := r.free(1); got != 3 {
		t.Fatalf("free %d after the kernel consumed 3, want 3", got)
	}
	if got := *r.addr(1); got != 5*2048 { // index 0xfffffffc+5, wrapped
		t.Fatalf("entry 5 holds %d", got)
	}
	if r.pending() != 5 {
		t.Fatalf("pending %d, want 5", r.pending())
	}
}

// TestRingConsumerWraps: an RX ring hands out what the kernel produced,
// across the wrap, at most the batch asked for, and releases it.
func TestRingConsumerWraps(t *testing.T) {
	r, prod, cons := testRing(4, descSize, 0xfffffffe, false)
	if got := r.available(64); got != 0 {
		t.Fatalf("available %d on an empty ring", got)
	}
	for k := uint32(0); k < 3; k++ {
		r.desc(r.cachedCons + k).Len = 60 + k
	}
	*prod = 1 // 0xfffffffe + 3, wrapped
	if got := r.available(2); got != 2 {
		t.Fatalf("available %d, want the batch of 2", got)
	}
	if r.desc(r.cachedCons+1).Len != 61 {
		t.Fatal("wrong descriptor")
	}
	r.release(2)
	if *cons != 0 {
		t.Fatalf("consumer %d, want 0 (wrapped)", *cons)
	}
	if got := r.available(64); got != 1 || r.desc(r.cachedCons).Len != 62 {
		t.Fatalf("available %d, want the last one", got)
	}
	r.release(1)
}

func TestChunkSizeFor(t *testing.T) {
	for _, c := range []struct{ mtu, want int }{
		{1500, 2048}, {1774, 2048}, {1775, 4096}, {3500, 4096}, {3822, 4096}, {3823, 0}, {9000, 0},
	} {
		got, err := ChunkSizeFor(c.mtu)
		if got != c.want || (err == nil) != (c.want != 0) {
			t.Errorf("ChunkSizeFor(%d) = %d, %v; want %d", c.mtu, got, err, c.want)
		}
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": ModeAuto, "auto": ModeAuto, "native": ModeNative, "Generic": ModeGeneric, "skb": ModeGeneric} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseMode("offload"); err == nil {
		t.Error("offload mode accepted")
	}
}
