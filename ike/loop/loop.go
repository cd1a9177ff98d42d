// Package loop runs a key-exchange engine's state machine on one
// goroutine. Calls posted from other goroutines (datagrams, ACQUIREs,
// operator commands) and timers run there one after another, in order, so
// the engine's state needs no locks. The IKEv2 engine (package ike) and
// the IKEv1 engine (package ike/ikev1) each own one Loop.
package loop

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"ipsecgw/ike/clock"
)

// Loop is the queue of work for one engine goroutine.
type Loop struct {
	clk     clock.Clock
	mu      sync.Mutex
	work    []func()
	wake    chan struct{}
	stopped atomic.Bool
	// reserved counts calls admitted by Reserve and not yet run.
	reserved atomic.Int64
}

// New returns a loop whose timers run on clk.
func New(clk clock.Clock) *Loop {
	return &Loop{clk: clk, wake: make(chan struct{}, 1)}
}

// Post queues f for the loop's goroutine.
func (l *Loop) Post(f func()) {
	l.mu.Lock()
	l.work = append(l.work, f)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Reserve admits one more call for PostReserved unless limit admitted
// calls are still waiting to run: a bound on the work a flood of
// datagrams can queue. The caller counts a refusal as a drop.
func (l *Loop) Reserve(limit int) bool {
	if l.reserved.Load() >= int64(limit) {
		return false
	}
	l.reserved.Add(1)
	return true
}

// Reserved is how many admitted calls are waiting to run.
func (l *Loop) Reserved() int { return int(l.reserved.Load()) }

// PostReserved queues f, admitted by Reserve.
func (l *Loop) PostReserved(f func()) {
	l.Post(func() {
		l.reserved.Add(-1)
		f()
	})
}

// Run runs posted work until ctx is done; then it marks the loop stopped
// (Sync returns false from then on), runs what was still queued and calls
// shutdown on the loop's goroutine.
func (l *Loop) Run(ctx context.Context, shutdown func()) error {
	for {
		select {
		case <-ctx.Done():
			l.stopped.Store(true)
			l.RunQueued()
			shutdown()
			return ctx.Err()
		case <-l.wake:
			l.RunQueued()
		}
	}
}

// RunQueued runs what is queued, on the calling goroutine: for a caller
// that drives the loop itself instead of Run (a fuzz target, a test).
func (l *Loop) RunQueued() {
	for {
		l.mu.Lock()
		work := l.work
		l.work = nil
		l.mu.Unlock()
		if len(work) == 0 {
			return
		}
		for _, f := range work {
			f()
		}
	}
}

// Sync runs f on the loop's goroutine and waits for it; false when the
// loop has stopped or f did not run within 10 s.
func (l *Loop) Sync(f func()) bool {
	if l.stopped.Load() {
		return false
	}
	done := make(chan struct{})
	l.Post(func() { f(); close(done) })
	select {
	case <-done:
		return true
	case <-time.After(10 * time.Second):
		return false
	}
}

// Timer is a call scheduled on the loop's goroutine that can be
// cancelled: once Stop returns on that goroutine, the call never runs.
type Timer struct {
	t         clock.Timer
	cancelled bool
}

// After schedules f on the loop's goroutine after d.
func (l *Loop) After(d time.Duration, f func()) *Timer {
	t := &Timer{}
	t.t = l.clk.AfterFunc(d, func() {
		l.Post(func() {
			if !t.cancelled {
				t.cancelled = true
				f()
			}
		})
	})
	return t
}

// Stop cancels the call; a nil Timer is allowed. Call it on the loop's
// goroutine.
func (t *Timer) Stop() {
	if t != nil && !t.cancelled {
		t.cancelled = true
		t.t.Stop()
	}
}
