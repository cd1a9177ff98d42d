package ike

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func TestFailureCodeOutermost(t *testing.T) {
	inner := FailedWith(CodeTimeout, false, errors.New("no answer"))
	outer := fmt.Errorf("ISAKMP SA failed: %w", inner)
	if code, byPeer := FailureCode(outer); code != CodeTimeout || byPeer {
		t.Errorf("wrapped: %s %v", code, byPeer)
	}
	if code, _ := FailureCode(FailedWith("NO_PROPOSAL_CHOSEN", true, outer)); code != "NO_PROPOSAL_CHOSEN" {
		t.Errorf("outermost code not taken: %s", code)
	}
	if code, _ := FailureCode(errors.New("x")); code != CodeFailed {
		t.Errorf("plain error: %s", code)
	}
}

type failures struct{ l FailureLog }

func (f *failures) Failures() ([]Failure, []FailureCount) { return f.l.Failures() }

// TestMergeFailures: two engines' last failures newest first, counts
// summed by kind and code; the same peer and entry names in both engines
// keep both failures.
func TestMergeFailures(t *testing.T) {
	t0 := time.Unix(1000, 0)
	peer := netip.MustParseAddr("192.0.2.2")
	var v2, v1 failures
	v2.l.Record(Failure{SA: FailureChild, Peer: "p", Child: "vpn 10", Remote: peer, Code: "NO_PROPOSAL_CHOSEN", At: t0})
	v2.l.Record(Failure{SA: FailureChild, Peer: "p", Child: "vpn 10", Remote: peer, Code: "NO_PROPOSAL_CHOSEN", At: t0.Add(time.Second)})
	v1.l.Record(Failure{SA: FailureIKE, Peer: "p", Remote: peer, Code: CodeTimeout, At: t0.Add(3 * time.Second)})
	v1.l.Record(Failure{SA: FailureChild, Peer: "p", Child: "vpn 10", Remote: peer, Code: "NO_PROPOSAL_CHOSEN", At: t0.Add(2 * time.Second)})
	last, counts := MergeFailures(&v2, &v1)
	if len(last) != 3 || last[0].Code != CodeTimeout || !last[1].At.Equal(t0.Add(2*time.Second)) || !last[2].At.Equal(t0.Add(time.Second)) {
		t.Errorf("last %+v", last)
	}
	want := []FailureCount{{SA: FailureChild, Code: "NO_PROPOSAL_CHOSEN", N: 3}, {SA: FailureIKE, Code: CodeTimeout, N: 1}}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("counts %+v, want %+v", counts, want)
	}
	if last, counts := MergeFailures(); len(last) != 0 || len(counts) != 0 {
		t.Errorf("no sources: %v %v", last, counts)
	}
}
