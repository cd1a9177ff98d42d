package loop

import (
	"context"
	"testing"
	"time"

	"ipsecgw/ike/clock"
)

// TestOrderTimersAndStop: posted calls run in order on the loop's
// goroutine, a stopped timer never fires, Sync fails once the loop is
// stopped, and shutdown runs after what was still queued.
func TestOrderTimersAndStop(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	l := New(clk)
	ctx, cancel := context.WithCancel(context.Background())
	var got []int
	done := make(chan error)
	go func() { done <- l.Run(ctx, func() { got = append(got, 99) }) }()
	for i := range 3 {
		l.Post(func() { got = append(got, i) })
	}
	var fired, cancelled *Timer
	if !l.Sync(func() {
		fired = l.After(time.Second, func() { got = append(got, 10) })
		cancelled = l.After(time.Second, func() { got = append(got, 11) })
	}) {
		t.Fatal("Sync on a running loop failed")
	}
	l.Sync(func() { cancelled.Stop() })
	clk.Advance(2 * time.Second)
	l.Sync(func() { fired.Stop() }) // after it fired: no effect
	cancel()
	<-done
	if want := []int{0, 1, 2, 10, 99}; len(got) != len(want) {
		t.Fatalf("ran %v, want %v", got, want)
	} else {
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("ran %v, want %v", got, want)
			}
		}
	}
	if l.Sync(func() {}) {
		t.Error("Sync on a stopped loop succeeded")
	}
	var nilTimer *Timer
	nilTimer.Stop()
}
