// Package stats names why the fast path drops packets and holds the counters
// that record it. Every node that drops a packet counts it here with a
// reason, globally and on the SA it concerns; show, --stats-json and the
// Prometheus collector read the same counters.
//
// Counters are kept per worker (each worker writes only its own slot, with
// no atomics on the write side) and summed when read.
package stats

// Reason is why a packet was dropped.
type Reason uint8

// Drop reasons. Keep String and the Prometheus label values in step.
const (
	None            Reason = iota
	NoSA                   // no SA for the SPI, or no SA yet for protected traffic
	Replay                 // sequence number replayed or left of the window
	AuthFailed             // ICV did not verify
	BadPadding             // ESP padding or pad length wrong after decryption
	PolicyMismatch         // inner packet outside the SA's selectors (RFC 4301 §5.2)
	Unprotected            // cleartext packet that matches a permit of an ipsec entry
	IPOptions              // IPv4 packet with options (unsupported, as on IOS)
	Malformed              // truncated or inconsistent headers
	SeqOverflow            // outbound sequence number would wrap (RFC 4303 §3.3.3)
	LifetimeExpired        // SA reached its hard byte or packet limit
	NoRoute                // no route to the destination or the peer
	MTUExceeded            // too big and DF set: ICMP sent instead
	NoNeighbor             // next hop's MAC unknown (punted for resolution or dropped)
	PuntFull               // punt ring to the slow path full
	TTLExceeded            // TTL or hop limit ran out while forwarding
	TxFull                 // the output port could not take the frame
	NotIP                  // frame is neither IPv4 nor IPv6 (ARP, LLDP, ...)
	UnknownVLAN            // 802.1Q tag that is not the interface's
	Reassembly             // fragment addressed to the gateway that did not reassemble (overlap, timeout, too big)
	NoBuffer               // no free buffer for a fragment or an ICMP error
	OtherHost              // frame addressed to another station's MAC
	Dummy                  // ESP dummy packet, next header 59 (RFC 4303 §2.6): discarded by design
	ECNInvalid             // outer CE on an inner Not-ECT packet at tunnel egress (RFC 6040 §4.2)
	NumReasons
)

var reasonNames = [NumReasons]string{
	None:            "none",
	NoSA:            "no_sa",
	Replay:          "replay",
	AuthFailed:      "auth_failed",
	BadPadding:      "bad_padding",
	PolicyMismatch:  "policy_mismatch",
	Unprotected:     "unprotected",
	IPOptions:       "ip_options",
	Malformed:       "malformed",
	SeqOverflow:     "seq_overflow",
	LifetimeExpired: "lifetime_expired",
	NoRoute:         "no_route",
	MTUExceeded:     "mtu_exceeded",
	NoNeighbor:      "no_neighbor",
	PuntFull:        "punt_full",
	TTLExceeded:     "ttl_exceeded",
	TxFull:          "tx_full",
	NotIP:           "not_ip",
	UnknownVLAN:     "unknown_vlan",
	Reassembly:      "reassembly",
	NoBuffer:        "no_buffer",
	OtherHost:       "other_host",
	Dummy:           "dummy",
	ECNInvalid:      "ecn_invalid",
}

// String is the reason's name as show, JSON and metrics print it.
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Drops counts drops by reason.
type Drops [NumReasons]uint64

// Add adds o to d.
func (d *Drops) Add(o *Drops) {
	for i := range d {
		d[i] += o[i]
	}
}

// Total is the sum over all reasons.
func (d Drops) Total() uint64 {
	var t uint64
	for _, v := range d {
		t += v
	}
	return t
}

// Map returns the non-zero counts by reason name, for JSON output.
func (d Drops) Map() map[string]uint64 {
	m := make(map[string]uint64)
	for i, v := range d {
		if v != 0 && Reason(i) != None {
			m[Reason(i).String()] = v
		}
	}
	return m
}
