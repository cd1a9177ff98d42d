package ike

import (
	"bytes"
	"fmt"
	"strings"

	"ipsecgw/ike/message"
)

// task is one piece of an exchange, as in strongSwan's charon. An
// initiator's task adds payloads to the request (build) and consumes the
// response (process); a responder's consumes the request (process) and
// answers in the response (build). Several tasks share one exchange: the
// IKE_SA_INIT request is built by ike_init and ike_natd, IKE_AUTH by
// ike_auth and child_create.
type task interface {
	build(m *message.Message) error
	process(m *message.Message) error
	// fail is called when the exchange is abandoned before its response
	// was processed (IKE SA gone, peer unreachable).
	fail(err error)
	// setSA moves the task to the rekeyed successor of its IKE SA.
	setSA(sa *ikeSA)
	String() string
}

type taskBase struct{ sa *ikeSA }

func (t *taskBase) setSA(sa *ikeSA) { t.sa = sa }
func (t *taskBase) fail(error)      {}

// lowerNonces reports whether the exchange with nonces (a1, a2) holds the
// lowest of the four nonces of two colliding rekeys (RFC 7296 §2.8.1): the
// SA it made is the redundant one.
func lowerNonces(a1, a2, b1, b2 []byte) bool {
	minOf := func(x, y []byte) []byte {
		if bytes.Compare(x, y) < 0 {
			return x
		}
		return y
	}
	return bytes.Compare(minOf(a1, a2), minOf(b1, b2)) < 0
}

// proposalsString renders proposals for logs: "ESP:ENCR/20/128,ESN/0 | ...".
func proposalsString(ps []message.Proposal) string {
	parts := make([]string, 0, len(ps))
	for _, p := range ps {
		ts := make([]string, 0, len(p.Transforms))
		for _, t := range p.Transforms {
			ts = append(ts, t.String())
		}
		parts = append(parts, fmt.Sprintf("%v:%s", p.Protocol, strings.Join(ts, ",")))
	}
	return strings.Join(parts, " | ")
}

// informationalTask is an empty INFORMATIONAL: our liveness check
// (ike_dpd) or the answer to the peer's, or to a lone notification.
type informationalTask struct{ taskBase }

func (t *informationalTask) String() string { return "ike_dpd" }

func (t *informationalTask) build(m *message.Message) error { return nil }

func (t *informationalTask) process(m *message.Message) error {
	if m.Response() {
		return nil
	}
	if n := m.Notify(message.AUTHENTICATION_FAILED); n != nil && t.sa.state == ikeEstablished && !t.sa.initiator {
		// RFC 7296 §2.21.2: the initiator refused our AUTH after all.
		return fatal(ReasonFailed, "peer reports AUTHENTICATION_FAILED")
	}
	return nil
}
