package packet

import (
	"bytes"
	"testing"
)

func TestBufHeadroomAndTailroom(t *testing.T) {
	p := NewHeapPool(4, 2048)
	b := p.Get()
	if b.Headroom() != Headroom || b.Len() != 0 || b.Tailroom() != 2048-Headroom {
		t.Fatalf("fresh buffer: headroom %d len %d tailroom %d", b.Headroom(), b.Len(), b.Tailroom())
	}
	copy(b.Append(4), "data")
	copy(b.Prepend(2), "hd")
	if got := string(b.Bytes()); got != "hddata" {
		t.Fatalf("frame = %q", got)
	}
	if b.Prepend(Headroom) != nil {
		t.Fatal("Prepend beyond the headroom succeeded")
	}
	if b.Append(b.Tailroom()+1) != nil {
		t.Fatal("Append beyond the tailroom succeeded")
	}
	b.TrimFront(2)
	b.TrimBack(1)
	if got := string(b.Bytes()); got != "dat" {
		t.Fatalf("trimmed frame = %q", got)
	}
	b.TrimFront(100)
	if b.Len() != 0 {
		t.Fatalf("over-trim left %d bytes", b.Len())
	}
	if b.SetLen(2048) {
		t.Fatal("SetLen past the chunk succeeded")
	}
}

func TestPoolRecyclesChunksWithoutAllocating(t *testing.T) {
	p := NewHeapPool(8, 2048)
	bufs := make([]*Buf, 8)
	allocs := testing.AllocsPerRun(100, func() {
		n := p.GetBatch(bufs)
		if n != 8 || p.Free() != 0 || p.Get() != nil {
			t.Fatalf("GetBatch got %d, %d left", n, p.Free())
		}
		for _, b := range bufs[:n] {
			p.Put(b)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per get/put cycle", allocs)
	}
	seen := map[uint64]bool{}
	for i := 0; i < 8; i++ {
		b := p.Get()
		if seen[b.Addr] {
			t.Fatalf("chunk %d handed out twice", b.Addr)
		}
		seen[b.Addr] = true
		if p.ByAddr(b.Addr+100) != b {
			t.Fatalf("ByAddr does not find chunk %d from an address inside it", b.Addr)
		}
	}
}

func TestChunksDoNotOverlap(t *testing.T) {
	p := NewHeapPool(2, 2048)
	a, b := p.Get(), p.Get()
	fa := a.Append(a.Tailroom())
	for i := range fa {
		fa[i] = 0xAA
	}
	b.Set(0, 2048)
	if !bytes.Equal(b.Bytes(), make([]byte, 2048)) {
		t.Fatal("writing one chunk to its end changed the next")
	}
}

func TestPutIntoForeignPoolPanics(t *testing.T) {
	p, q := NewHeapPool(1, 2048), NewHeapPool(1, 2048)
	defer func() {
		if recover() == nil {
			t.Fatal("Put of a foreign buffer did not panic")
		}
	}()
	q.Put(p.Get())
}

func TestBadChunkSize(t *testing.T) {
	if _, err := NewPool(make([]byte, 4096), 1024); err == nil {
		t.Error("1024-byte chunks accepted")
	}
	if _, err := NewPool(make([]byte, 5000), 2048); err == nil {
		t.Error("arena not a multiple of the chunk size accepted")
	}
}
