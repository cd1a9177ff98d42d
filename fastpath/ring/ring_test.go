package ring

import (
	"runtime"
	"sync"
	"testing"
)

type slot struct {
	seq  uint64
	data [32]byte
}

func TestNewRejectsBadSizes(t *testing.T) {
	for _, n := range []int{-1, 0, 1, 3, 6, 100} {
		if _, err := New[slot](n); err != ErrSize {
			t.Errorf("New(%d) = %v, want ErrSize", n, err)
		}
	}
	r, err := New[slot](8)
	if err != nil || r.Cap() != 8 {
		t.Fatalf("New(8) = %v, %v", r, err)
	}
}

func TestFullAndEmpty(t *testing.T) {
	r, _ := New[slot](4)
	if r.Peek() != nil || r.Len() != 0 {
		t.Fatal("new ring not empty")
	}
	for i := range 4 {
		s := r.Reserve()
		if s == nil {
			t.Fatalf("Reserve %d: full too early", i)
		}
		s.seq = uint64(i)
		r.Commit()
	}
	if r.Reserve() != nil {
		t.Fatal("Reserve on a full ring returned a slot")
	}
	if r.Free() != 0 || r.Len() != 4 {
		t.Fatalf("Free %d Len %d, want 0 4", r.Free(), r.Len())
	}
	for i := range 4 {
		s := r.Peek()
		if s == nil || s.seq != uint64(i) {
			t.Fatalf("Peek %d = %v", i, s)
		}
		r.Release()
	}
	if r.Peek() != nil {
		t.Fatal("drained ring not empty")
	}
	// The ring wraps: indexes keep counting past the slot count.
	for i := range 10 {
		s := r.Reserve()
		s.seq = uint64(100 + i)
		r.Commit()
		if got := r.Peek(); got.seq != uint64(100+i) {
			t.Fatalf("after wrap got %d", got.seq)
		}
		r.Release()
	}
}

func TestReserveWithoutCommitIsInvisible(t *testing.T) {
	r, _ := New[slot](2)
	r.Reserve().seq = 7
	if r.Peek() != nil {
		t.Fatal("uncommitted slot visible")
	}
	if s := r.Reserve(); s.seq != 7 {
		t.Fatal("second Reserve before Commit returned another slot")
	}
	r.Commit()
	if s := r.Peek(); s == nil || s.seq != 7 {
		t.Fatal("committed slot not visible")
	}
}

// TestConcurrent runs a producer and a consumer on two goroutines and checks
// every slot arrives once, in order, with the contents written before Commit
// (run with -race to check the memory ordering too).
func TestConcurrent(t *testing.T) {
	const n = 200000
	r, _ := New[slot](64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := uint64(0); i < n; {
			s := r.Reserve()
			if s == nil {
				runtime.Gosched()
				continue
			}
			s.seq = i
			s.data[0] = byte(i)
			s.data[31] = byte(i >> 8)
			r.Commit()
			i++
		}
	}()
	for want := uint64(0); want < n; {
		s := r.Peek()
		if s == nil {
			runtime.Gosched()
			continue
		}
		if s.seq != want || s.data[0] != byte(want) || s.data[31] != byte(want>>8) {
			t.Fatalf("slot %d: got seq %d data %d/%d", want, s.seq, s.data[0], s.data[31])
		}
		r.Release()
		want++
	}
	wg.Wait()
	if r.Peek() != nil {
		t.Fatal("extra slot")
	}
}

func BenchmarkProduceConsume(b *testing.B) {
	r, _ := New[slot](1024)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s := r.Reserve()
		s.seq = uint64(i)
		r.Commit()
		r.Peek()
		r.Release()
	}
}

func TestOccupancy(t *testing.T) {
	r, err := New[int](4)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		*r.Reserve() = i
		r.Commit()
	}
	if r.Occupancy() != 3 {
		t.Fatalf("Occupancy %d, want 3", r.Occupancy())
	}
	r.Peek()
	r.Release()
	if r.Occupancy() != 2 || r.Len() != 2 {
		t.Fatalf("Occupancy %d Len %d, want 2 2", r.Occupancy(), r.Len())
	}
}
