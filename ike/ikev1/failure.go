package ikev1

import (
	"fmt"
	"net/netip"

	"ipsecgw/ike"
	"ipsecgw/ike/ikev1/isakmp"
)

// Failed negotiations go to an ike.FailureLog, classified as the IKEv2
// engine's are, so metrics and explain show both versions alike: main
// mode as SA kind "ike", quick mode as "child"; the code is the notify
// that ended the exchange (its IKEv1 name, spelled as IKEv2's:
// NO_PROPOSAL_CHOSEN, INVALID_ID_INFORMATION, ...), TIMEOUT when
// retransmissions ran out, else FAILED.

// Failures returns the last failure of every peer config and entry that
// has failed, newest first, and the counts by SA kind and code, as
// ike.Engine's Failures. Safe from any goroutine.
func (e *Engine) Failures() ([]ike.Failure, []ike.FailureCount) { return e.failures.Failures() }

// failed records a failure of SA kind ("ike" or "child") with peer p
// (nil before a configuration matched) and entry child at remote, under
// err's code.
func (e *Engine) failed(kind string, p *PeerConfig, child string, remote netip.Addr, err error) {
	f := ike.Failure{SA: kind, Child: child, Remote: remote, IKEv1: true, Detail: err.Error(), At: e.clk.Now()}
	f.Code, f.ByPeer = ike.FailureCode(err)
	if p != nil {
		f.Peer = p.Name
	}
	e.failures.Record(f)
}

// refused is err counted under notify n, sent by the peer if byPeer.
func refused(n isakmp.NotifyType, byPeer bool, err error) error {
	return ike.FailedWith(n.String(), byPeer, err)
}

// timedOut is err counted as TIMEOUT: the peer stopped answering.
func timedOut(err error) error { return ike.FailedWith(ike.CodeTimeout, false, err) }

// mainModeTimeout is why main mode ran out of time. Messages 5 or 6
// that did not decrypt mean the keys differ: the pre-shared keys, since
// both ends derived them from the same exchange. An initiator whose
// message 5 goes unanswered after the peer answered 1 and 3 most often
// sees a responder that cannot decrypt it; it says so, still as TIMEOUT.
func (sa *isakmpSA) mainModeTimeout(what string) error {
	if sa.undecryptable != nil {
		return sa.undecryptable
	}
	if sa.initiator && sa.state == stateMMKeyExch {
		what += " (the peer answered until the authentication message: do the pre-shared keys differ?)"
	}
	return timedOut(fmt.Errorf("%s", what))
}
