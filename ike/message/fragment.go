package message

// MaxFragments bounds the fragments of one message, sent or accepted; with
// 576-byte fragments it allows messages far larger than IKE_AUTH with PSK.
const MaxFragments = 64

// MaxReassembled bounds the reassembled plaintext of one message.
const MaxReassembled = 64 * 1024

// Reassembler collects the SKF fragments of one message (RFC 7383 §2.6).
// An IKE SA keeps one per direction of the message flow; the zero value is
// ready to use.
type Reassembler struct {
	active    bool
	header    Header
	total     uint16
	first     PayloadType
	parts     [][]byte
	have, len int
}

// Add authenticates and decrypts fragment m and stores it. It returns the
// whole message once every fragment has arrived, nil while some are
// missing. Fragments of a message other than the one being reassembled
// restart reassembly when their message ID is newer; a retransmission split
// into more fragments (smaller ones after a PMTU problem) replaces the
// fewer, as RFC 7383 §2.6.2 asks.
func (r *Reassembler) Add(m *Message, p Protector) (*Message, error) {
	num, total, ok := m.Fragment()
	if !ok {
		return nil, errf(ReasonFragment, PayloadSKF, "not a fragment")
	}
	if total > MaxFragments {
		return nil, errf(ReasonFragment, PayloadSKF, "%d fragments, limit %d", total, MaxFragments)
	}
	plain, err := openSealed(p, m.raw, m.sealed.ivAt)
	if err != nil {
		return nil, err
	}
	switch {
	case !r.active || m.MessageID != r.header.MessageID || m.Flags != r.header.Flags || total > r.total:
		r.reset(m.Header, total)
	case total < r.total:
		return nil, nil // stale: a retransmission with bigger fragments
	}
	if r.parts[num-1] != nil {
		return nil, nil // duplicate
	}
	if r.len+len(plain) > MaxReassembled {
		r.active = false
		return nil, errf(ReasonFragment, PayloadSKF, "reassembled message exceeds %d bytes", MaxReassembled)
	}
	r.parts[num-1] = append(make([]byte, 0, len(plain)+1), plain...) // never nil
	r.have++
	r.len += len(plain)
	if num == 1 {
		r.first = m.sealed.inner
	}
	if r.have < int(r.total) {
		return nil, nil
	}
	whole := make([]byte, 0, r.len)
	for _, p := range r.parts {
		whole = append(whole, p...)
	}
	out := &Message{Header: r.header}
	out.Next = r.first
	out.Length = uint32(HeaderLen + len(whole))
	r.active = false
	r.parts = nil
	if err := out.decodeInner(r.first, whole); err != nil {
		return nil, err
	}
	return out, nil
}

func (r *Reassembler) reset(h Header, total uint16) {
	*r = Reassembler{active: true, header: h, total: total, parts: make([][]byte, total)}
}
