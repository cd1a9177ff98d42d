package ike

import (
	"errors"
	"net/netip"
	"sort"
	"time"

	"ipsecgw/ike/message"
)

// Failure is one failed negotiation of an IKE SA or a CHILD_SA: what the
// operations layer shows in explain ("last attempt failed 12 s ago:
// NO_PROPOSAL_CHOSEN from 192.0.2.2") and counts in metrics.
type Failure struct {
	SA     string // "ike" or "child"
	Peer   string // PeerConfig.Name; "" when no configuration matched
	Child  string // ChildConfig.Name; "" for IKE SAs and refusals before an entry was chosen
	Remote netip.Addr
	// Code is the IKEv2 notify that ended it (NO_PROPOSAL_CHOSEN,
	// TS_UNACCEPTABLE, AUTHENTICATION_FAILED, INVALID_KE_PAYLOAD, ...),
	// TIMEOUT when the peer did not answer, or FAILED.
	Code string
	// ByPeer: the peer refused (its notify); otherwise this gateway did.
	ByPeer bool
	Detail string
	At     time.Time
}

// Failure codes that are not notify names.
const (
	CodeTimeout = "TIMEOUT"
	CodeFailed  = "FAILED"
)

// FailureCount is how many negotiations of one SA kind failed with one code.
type FailureCount struct {
	SA, Code string
	N        uint64
}

// failError is an exchange's failure with the code it is counted under.
type failError struct {
	code   string
	byPeer bool
	err    error
}

func (f *failError) Error() string { return f.err.Error() }
func (f *failError) Unwrap() error { return f.err }

// refusedBy wraps err with the notify that ended the exchange.
func refusedBy(n message.NotifyType, byPeer bool, err error) error {
	return &failError{code: n.String(), byPeer: byPeer, err: err}
}

// failureOf classifies err: the code of a failError in it, TIMEOUT for an
// IKE SA that went away unanswered, else FAILED.
func failureOf(err error) (code string, byPeer bool) {
	var f *failError
	if errors.As(err, &f) {
		return f.code, f.byPeer
	}
	return CodeFailed, false
}

type failureKey struct{ peer, child string }

type failureKind struct{ sa, code string }

// failed records a failed negotiation: counted by kind and code, and kept as
// the last failure of its peer config and entry. Both are bounded by the
// configuration (names), not by what peers send.
func (e *Engine) failed(f Failure) {
	f.At = e.clk.Now()
	e.failMu.Lock()
	defer e.failMu.Unlock()
	if e.failures == nil {
		e.failures = map[failureKey]Failure{}
		e.failCounts = map[failureKind]uint64{}
	}
	e.failures[failureKey{f.Peer, f.Child}] = f
	e.failCounts[failureKind{f.SA, f.Code}]++
}

// Failures returns the last failure of every peer config and entry that
// has failed, newest first, and the failure counts by SA kind and code.
// Safe from any goroutine.
func (e *Engine) Failures() ([]Failure, []FailureCount) {
	e.failMu.Lock()
	defer e.failMu.Unlock()
	last := make([]Failure, 0, len(e.failures))
	for _, f := range e.failures {
		last = append(last, f)
	}
	sort.Slice(last, func(i, j int) bool { return last[i].At.After(last[j].At) })
	counts := make([]FailureCount, 0, len(e.failCounts))
	for k, n := range e.failCounts {
		counts = append(counts, FailureCount{SA: k.sa, Code: k.code, N: n})
	}
	sort.Slice(counts, func(i, j int) bool {
		if counts[i].SA != counts[j].SA {
			return counts[i].SA < counts[j].SA
		}
		return counts[i].Code < counts[j].Code
	})
	return last, counts
}

// failIKE records the failure of an IKE SA that never came up.
func (sa *ikeSA) failIKE(err error) {
	f := Failure{SA: "ike", Remote: sa.remote.Addr(), Detail: err.Error()}
	f.Code, f.ByPeer = failureOf(err)
	if sa.peer != nil {
		f.Peer = sa.peer.Name
	}
	sa.e.failed(f)
}

// failChild records the failure of a CHILD_SA negotiation for entry child.
func (sa *ikeSA) failChild(child string, err error) {
	f := Failure{SA: "child", Child: child, Remote: sa.remote.Addr(), Detail: err.Error()}
	f.Code, f.ByPeer = failureOf(err)
	if sa.peer != nil {
		f.Peer = sa.peer.Name
	}
	sa.e.failed(f)
}
