package clock

import (
	"testing"
	"time"
)

func TestFakeRunsInOrder(t *testing.T) {
	c := NewFake(time.Unix(1000, 0))
	var got []int
	c.AfterFunc(3*time.Second, func() { got = append(got, 3) })
	c.AfterFunc(1*time.Second, func() { got = append(got, 1) })
	stop := c.AfterFunc(2*time.Second, func() { got = append(got, 2) })
	c.AfterFunc(1*time.Second, func() {
		got = append(got, 11)
		// Scheduled from a callback and due within the same Advance.
		c.AfterFunc(500*time.Millisecond, func() { got = append(got, 15) })
	})
	if !stop.Stop() || stop.Stop() {
		t.Fatal("Stop should report true once")
	}
	c.Advance(2 * time.Second)
	want := []int{1, 11, 15}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if now := c.Now(); !now.Equal(time.Unix(1002, 0)) {
		t.Fatalf("now %v", now)
	}
	c.Advance(time.Second)
	if got[len(got)-1] != 3 || c.Pending() != 0 {
		t.Fatalf("got %v pending %d", got, c.Pending())
	}
}
