package ike

import (
	"errors"
	"net/netip"
	"sort"
	"sync"
	"time"

	"ipsecgw/ike/message"
)

// Failure is one failed negotiation of an IKE SA or a CHILD_SA (for
// IKEv1: an ISAKMP SA or an IPsec SA): what the operations layer shows in
// explain ("last attempt failed 12 s ago: NO_PROPOSAL_CHOSEN from
// 192.0.2.2") and counts in metrics.
type Failure struct {
	SA     string // "ike" or "child"
	Peer   string // PeerConfig.Name; "" when no configuration matched
	Child  string // ChildConfig.Name; "" for IKE SAs and refusals before an entry was chosen
	Remote netip.Addr
	// Code is the notify that ended it (NO_PROPOSAL_CHOSEN,
	// TS_UNACCEPTABLE, AUTHENTICATION_FAILED, INVALID_KE_PAYLOAD, IKEv1's
	// INVALID_ID_INFORMATION, ...), TIMEOUT when the peer did not answer,
	// or FAILED.
	Code string
	// ByPeer: the peer refused (its notify); otherwise this gateway did.
	ByPeer bool
	// IKEv1: negotiated with IKEv1, where "ike" is the ISAKMP SA (main
	// mode) and "child" an IPsec SA (quick mode).
	IKEv1  bool
	Detail string
	At     time.Time
}

// Failure kinds and the codes that are not notify names.
const (
	FailureIKE   = "ike"
	FailureChild = "child"

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

// FailedWith wraps err with the code its failure is counted under: the
// notify that ended the exchange (sent by the peer if byPeer) or
// CodeTimeout. Both IKE engines classify their errors with it.
func FailedWith(code string, byPeer bool, err error) error {
	return &failError{code: code, byPeer: byPeer, err: err}
}

// refusedBy wraps err with the IKEv2 notify that ended the exchange.
func refusedBy(n message.NotifyType, byPeer bool, err error) error {
	return FailedWith(n.String(), byPeer, err)
}

// FailureCode classifies err: the code FailedWith gave it (the outermost
// one), else FAILED.
func FailureCode(err error) (code string, byPeer bool) {
	var f *failError
	if errors.As(err, &f) {
		return f.code, f.byPeer
	}
	return CodeFailed, false
}

type failureKey struct{ peer, child string }

type failureKind struct{ sa, code string }

// FailureLog is an engine's record of failed negotiations: counted by SA
// kind and code, and kept as the last failure of each peer config and
// entry. Both are bounded by the configuration (names), not by what peers
// send. The zero value is ready; safe from any goroutine.
type FailureLog struct {
	mu     sync.Mutex
	last   map[failureKey]Failure
	counts map[failureKind]uint64
}

// Record adds f, which carries its time.
func (l *FailureLog) Record(f Failure) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = map[failureKey]Failure{}
		l.counts = map[failureKind]uint64{}
	}
	l.last[failureKey{f.Peer, f.Child}] = f
	l.counts[failureKind{f.SA, f.Code}]++
}

// Failures returns the last failure of every peer config and entry that
// has failed, newest first, and the failure counts by SA kind and code.
func (l *FailureLog) Failures() ([]Failure, []FailureCount) {
	l.mu.Lock()
	defer l.mu.Unlock()
	last := make([]Failure, 0, len(l.last))
	for _, f := range l.last {
		last = append(last, f)
	}
	return sortFailures(last), sortedCounts(l.counts)
}

// FailureSource is an engine reporting its failures.
type FailureSource interface {
	Failures() ([]Failure, []FailureCount)
}

// MergeFailures joins the failures of several engines (IKEv2 and IKEv1):
// every last failure, newest first, and the counts summed by SA kind and
// code.
func MergeFailures(srcs ...FailureSource) ([]Failure, []FailureCount) {
	var last []Failure
	sum := map[failureKind]uint64{}
	for _, s := range srcs {
		l, counts := s.Failures()
		last = append(last, l...)
		for _, c := range counts {
			sum[failureKind{c.SA, c.Code}] += c.N
		}
	}
	return sortFailures(last), sortedCounts(sum)
}

func sortFailures(last []Failure) []Failure {
	sort.SliceStable(last, func(i, j int) bool { return last[i].At.After(last[j].At) })
	return last
}

func sortedCounts(m map[failureKind]uint64) []FailureCount {
	counts := make([]FailureCount, 0, len(m))
	for k, n := range m {
		counts = append(counts, FailureCount{SA: k.sa, Code: k.code, N: n})
	}
	sort.Slice(counts, func(i, j int) bool {
		if counts[i].SA != counts[j].SA {
			return counts[i].SA < counts[j].SA
		}
		return counts[i].Code < counts[j].Code
	})
	return counts
}

// failed records a failed negotiation at the engine's time.
func (e *Engine) failed(f Failure) {
	f.At = e.clk.Now()
	e.failures.Record(f)
}

// Failures returns the engine's FailureLog.Failures. Safe from any
// goroutine.
func (e *Engine) Failures() ([]Failure, []FailureCount) { return e.failures.Failures() }

// failIKE records the failure of an IKE SA that never came up.
func (sa *ikeSA) failIKE(err error) {
	f := Failure{SA: FailureIKE, Remote: sa.remote.Addr(), Detail: err.Error()}
	f.Code, f.ByPeer = FailureCode(err)
	if sa.peer != nil {
		f.Peer = sa.peer.Name
	}
	sa.e.failed(f)
}

// failChild records the failure of a CHILD_SA negotiation for entry child.
func (sa *ikeSA) failChild(child string, err error) {
	f := Failure{SA: FailureChild, Child: child, Remote: sa.remote.Addr(), Detail: err.Error()}
	f.Code, f.ByPeer = FailureCode(err)
	if sa.peer != nil {
		f.Peer = sa.peer.Name
	}
	sa.e.failed(f)
}
