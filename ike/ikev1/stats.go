package ikev1

import (
	"sync/atomic"

	"ipsecgw/ike/ikev1/isakmp"
)

type counter int

// Counters. Drops carry the reason in their name.
const (
	cRx counter = iota
	cTx
	cTxError
	cRxKeepalive
	cRetransmit
	cDuplicate // duplicates answered with our last message
	cPhase1Up
	cPhase1Failed
	cPhase2Up
	cPhase2Failed
	cDPDSent
	cDropQueueFull
	cDropESP
	cDropUnknownSPI
	cDropUnexpected
	cDropDecrypt
	cDropHash
	cDropNoConfig
	cDropOther
	cDecodeBase // + isakmp.Reason
	numCounters = cDecodeBase + counter(isakmp.NumReasons)
)

var counterNames = map[counter]string{
	cRx:             "rx",
	cTx:             "tx",
	cTxError:        "tx_error",
	cRxKeepalive:    "rx_keepalive",
	cRetransmit:     "retransmit",
	cDuplicate:      "duplicate_rx",
	cPhase1Up:       "isakmp_sa_up",
	cPhase1Failed:   "isakmp_sa_failed",
	cPhase2Up:       "ipsec_sa_up",
	cPhase2Failed:   "ipsec_sa_failed",
	cDPDSent:        "dpd_sent",
	cDropQueueFull:  "drop_queue_full",
	cDropESP:        "drop_esp_on_natt_socket",
	cDropUnknownSPI: "drop_unknown_cookie",
	cDropUnexpected: "drop_unexpected",
	cDropDecrypt:    "drop_decrypt",
	cDropHash:       "drop_bad_hash",
	cDropNoConfig:   "drop_no_config",
	cDropOther:      "drop_other",
}

type stats [numCounters]atomic.Uint64

func (s *stats) inc(c counter) { s[c].Add(1) }

func (s *stats) incDecode(r isakmp.Reason) {
	if int(r) < isakmp.NumReasons {
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
			if c == cDecodeBase {
				continue
			}
			name = "drop_decode_" + isakmp.Reason(c-cDecodeBase).String()
		}
		out[name] = e.stats[c].Load()
	}
	return out
}
