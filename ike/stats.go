package ike

import (
	"sync/atomic"

	"ipsecgw/ike/message"
)

// counter indexes the engine's counters.
type counter int

// Counters. Drops carry the reason in their name.
const (
	cRx counter = iota
	cTx
	cTxError
	cRxKeepalive
	cRetransmit
	cRetransmitRx // duplicate requests answered from the cache
	cCookieSent
	cIKEUp
	cIKEFailed
	cChildUp
	cChildFailed
	cDropQueueFull
	cDropESP
	cDropUnknownSPI
	cDropUnexpected
	cDropMessageID
	cDropBadCookie
	cDropNoConfig
	cDropFragment
	cDropOther
	cFragmentedTx // messages sent as RFC 7383 fragments
	cIKERekeyed   // IKE SAs replaced by a rekeyed successor
	cChildRekeyed // CHILD_SAs whose outbound traffic moved to a rekeyed successor
	cDPDSent      // liveness checks started (dead peer detection)
	cDPDDead      // peers declared dead: a liveness check went unanswered
	cReassembled  // fragmented messages received whole
	cDecodeBase   // + message.Reason
	numCounters   = cDecodeBase + 16
)

var counterNames = map[counter]string{
	cRx:             "rx",
	cTx:             "tx",
	cTxError:        "tx_error",
	cRxKeepalive:    "rx_keepalive",
	cRetransmit:     "retransmit",
	cRetransmitRx:   "duplicate_request",
	cCookieSent:     "cookie_sent",
	cIKEUp:          "ike_sa_up",
	cIKEFailed:      "ike_sa_failed",
	cChildUp:        "child_sa_up",
	cChildFailed:    "child_sa_failed",
	cDropQueueFull:  "drop_queue_full",
	cDropESP:        "drop_esp_on_natt_socket",
	cDropUnknownSPI: "drop_unknown_spi",
	cDropUnexpected: "drop_unexpected",
	cDropMessageID:  "drop_message_id",
	cDropBadCookie:  "drop_bad_cookie",
	cDropNoConfig:   "drop_no_config",
	cDropFragment:   "drop_fragment",
	cDropOther:      "drop_other",
	cFragmentedTx:   "fragmented_tx",
	cIKERekeyed:     "ike_sa_rekeyed",
	cChildRekeyed:   "child_sa_rekeyed",
	cDPDSent:        "dpd_sent",
	cDPDDead:        "dpd_peer_dead",
	cReassembled:    "reassembled_rx",
}

type stats [numCounters]atomic.Uint64

func (s *stats) inc(c counter) { s[c].Add(1) }

func (s *stats) incDecode(r message.Reason) {
	if int(r) < 16 {
		s[cDecodeBase+counter(r)].Add(1)
	}
}

// Stats returns the engine's counters by name: messages, SAs and every
// drop reason ("drop_..."; "drop_decode_<reason>" for malformed messages).
func (e *Engine) Stats() map[string]uint64 {
	out := make(map[string]uint64, numCounters)
	for c := counter(0); c < numCounters; c++ {
		name, ok := counterNames[c]
		if !ok {
			if c <= cDecodeBase {
				continue
			}
			r := message.Reason(c - cDecodeBase)
			if r > message.ReasonFragment {
				continue
			}
			name = "drop_decode_" + r.String()
		}
		out[name] = e.stats[c].Load()
	}
	return out
}
