package ikev1

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"ipsecgw/ike"
)

// fastRetransmit gives up on a silent peer within a second: 100 ms ×
// 1.5^n, three retransmissions.
func fastRetransmit(_ string, c *Config) {
	c.Retransmit = ike.Retransmit{Timeout: 100 * time.Millisecond, Base: 1.5, Tries: 3}
}

// checkFailure waits until n has recorded a failure of want's SA kind
// and peer (the last one of its peer config and entry), compares it with
// want (detail: a substring) and checks that it was counted.
func checkFailure(t *testing.T, n *node, want ike.Failure) ike.Failure {
	t.Helper()
	var (
		last   []ike.Failure
		counts []ike.FailureCount
		got    *ike.Failure
	)
	deadline := time.Now().Add(5 * time.Second)
	for got == nil {
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s failure recorded for %q/%q: %+v", n.name, want.SA, want.Peer, want.Child, last)
		}
		time.Sleep(5 * time.Millisecond)
		last, counts = n.e.Failures()
		for i := range last {
			if f := &last[i]; f.SA == want.SA && f.Peer == want.Peer && f.Child == want.Child {
				got = f
			}
		}
	}
	if got.Remote != want.Remote || got.Code != want.Code || got.ByPeer != want.ByPeer || got.At.IsZero() ||
		got.Detail == "" || !strings.Contains(got.Detail, want.Detail) {
		t.Fatalf("%s: failure %+v, want %+v", n.name, *got, want)
	}
	counted := false
	for _, c := range counts {
		counted = counted || (c.SA == want.SA && c.Code == want.Code && c.N >= 1)
	}
	if !counted {
		t.Fatalf("%s: counts %+v lack %s %s", n.name, counts, want.SA, want.Code)
	}
	return *got
}

var addrA, addrB = netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")

// TestFailureTimeout: a peer that never answers fails main mode and the
// quick mode waiting for it as TIMEOUT once retransmissions ran out.
func TestFailureTimeout(t *testing.T) {
	pa, pb := defaultPeers()
	a, b := newPair(t, pa, pb, fastRetransmit)
	b.gate.closed.Store(true)
	a.e.Acquire(ike.Acquire{Peer: pa.Name, Child: pa.Children[0].Name})
	a.rec.wait(&a.ev, kind("failed"))
	checkFailure(t, a, ike.Failure{SA: "ike", Peer: "to-b", Remote: addrB, Code: ike.CodeTimeout, Detail: "MM_NO_STATE"})
	checkFailure(t, a, ike.Failure{SA: "child", Peer: "to-b", Child: "vpn 10", Remote: addrB, Code: ike.CodeTimeout, Detail: "ISAKMP SA failed"})
	last, counts := a.e.Failures()
	if len(last) != 2 || len(counts) != 2 || counts[0] != (ike.FailureCount{SA: "child", Code: ike.CodeTimeout, N: 1}) ||
		counts[1] != (ike.FailureCount{SA: "ike", Code: ike.CodeTimeout, N: 1}) {
		t.Errorf("failures %+v counts %+v", last, counts)
	}
	if last[0].At.Before(last[1].At) {
		t.Errorf("not newest first: %+v", last)
	}
}
