package isakmp

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Reason classifies a decode failure, for the engine's drop counters.
type Reason uint8

// Decode failure reasons.
const (
	ReasonShort   Reason = iota + 1 // shorter than a header or a field
	ReasonVersion                   // not ISAKMP 1.0
	ReasonLength                    // a length field disagrees with its container
	ReasonPayload                   // a payload's body is malformed
	ReasonUnknown                   // an unknown payload type (they have no critical bit)
	ReasonPadding                   // encrypted body not a whole number of blocks
	numReasons
)

// NumReasons bounds Reason values, for counter arrays.
const NumReasons = int(numReasons)

func (r Reason) String() string {
	switch r {
	case ReasonShort:
		return "short"
	case ReasonVersion:
		return "version"
	case ReasonLength:
		return "length"
	case ReasonPayload:
		return "malformed-payload"
	case ReasonUnknown:
		return "unknown-payload"
	case ReasonPadding:
		return "bad-padding"
	}
	return fmt.Sprintf("reason-%d", uint8(r))
}

// Error is a decode failure.
type Error struct {
	Reason  Reason
	Payload PayloadType
	msg     string
}

func (e *Error) Error() string {
	if e.Payload != PayloadNone {
		return fmt.Sprintf("isakmp: %v payload: %s", e.Payload, e.msg)
	}
	return "isakmp: " + e.msg
}

func errf(r Reason, t PayloadType, format string, args ...any) *Error {
	return &Error{Reason: r, Payload: t, msg: fmt.Sprintf(format, args...)}
}

// Header is the ISAKMP header (RFC 2408 §3.1).
type Header struct {
	ICookie, RCookie uint64
	Next             PayloadType // first payload
	Version          uint8
	Exchange         Exchange
	Flags            Flags
	MessageID        uint32
	Length           uint32
}

// Encrypted reports whether the payloads are encrypted.
func (h *Header) Encrypted() bool { return h.Flags&FlagEncryption != 0 }

// ParseHeader decodes the header of b and checks its length against b.
// Trailing bytes after Length are not allowed.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, errf(ReasonShort, PayloadNone, "%d bytes, shorter than a header", len(b))
	}
	h := Header{
		ICookie:   binary.BigEndian.Uint64(b),
		RCookie:   binary.BigEndian.Uint64(b[8:]),
		Next:      PayloadType(b[16]),
		Version:   b[17],
		Exchange:  Exchange(b[18]),
		Flags:     Flags(b[19]),
		MessageID: binary.BigEndian.Uint32(b[20:]),
		Length:    binary.BigEndian.Uint32(b[24:]),
	}
	if h.Version>>4 != 1 {
		return h, errf(ReasonVersion, PayloadNone, "version %d.%d, want 1.x", h.Version>>4, h.Version&0xf)
	}
	if int64(h.Length) != int64(len(b)) {
		return h, errf(ReasonLength, PayloadNone, "header length %d, datagram %d bytes", h.Length, len(b))
	}
	return h, nil
}

func (h *Header) append(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, h.ICookie)
	b = binary.BigEndian.AppendUint64(b, h.RCookie)
	b = append(b, byte(h.Next), Version, byte(h.Exchange), byte(h.Flags))
	b = binary.BigEndian.AppendUint32(b, h.MessageID)
	return binary.BigEndian.AppendUint32(b, 0) // length, set by the caller
}

// Message is a decoded ISAKMP message. For an encrypted message Payloads
// is nil until DecodePayloads runs on the decrypted Body.
type Message struct {
	Header
	Payloads []Payload
	// Raw holds each decoded payload as received, generic header
	// included, for the hashes that cover payloads as sent (RFC 2409
	// HASH(1..3), SAi_b).
	Raw [][]byte
	// Body is everything after the header as received: the ciphertext of
	// an encrypted message.
	Body []byte
}

// Parse decodes a datagram (without the non-ESP marker). The returned
// message references b.
func Parse(b []byte) (*Message, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	m := &Message{Header: h, Body: b[HeaderLen:]}
	if h.Encrypted() {
		return m, nil
	}
	if err := m.DecodePayloads(m.Body); err != nil {
		return nil, err
	}
	return m, nil
}

// DecodePayloads decodes the payload chain starting with the header's
// Next payload from body (the plaintext of an encrypted message). Bytes
// after the last payload are padding and ignored.
func (m *Message) DecodePayloads(body []byte) error {
	m.Payloads, m.Raw = m.Payloads[:0], m.Raw[:0]
	next := m.Next
	for next != PayloadNone {
		if len(body) < 4 {
			return errf(ReasonShort, next, "%d bytes left, shorter than a payload header", len(body))
		}
		n := int(binary.BigEndian.Uint16(body[2:]))
		if n < 4 || n > len(body) {
			return errf(ReasonLength, next, "length %d with %d bytes left", n, len(body))
		}
		p, err := decodeBody(next, body[4:n])
		if err != nil {
			return err
		}
		m.Payloads = append(m.Payloads, p)
		m.Raw = append(m.Raw, body[:n:n])
		next = PayloadType(body[0])
		body = body[n:]
	}
	return nil
}

// EncodePayloads encodes the payload chain, each with its generic header;
// it is the plaintext an encrypted message's body is made from.
func EncodePayloads(b []byte, ps []Payload) []byte {
	for i, p := range ps {
		next := PayloadNone
		if i+1 < len(ps) {
			next = ps[i+1].Type()
		}
		b = AppendPayload(b, next, p)
	}
	return b
}

// AppendPayload appends one payload with its generic header.
func AppendPayload(b []byte, next PayloadType, p Payload) []byte {
	at := len(b)
	b = append(b, byte(next), 0, 0, 0)
	b = p.appendBody(b)
	binary.BigEndian.PutUint16(b[at+2:], uint16(len(b)-at))
	return b
}

// Encode returns the message with payloads in the clear (the encryption
// flag is cleared).
func (m *Message) Encode() []byte {
	h := m.Header
	h.Flags &^= FlagEncryption
	return Seal(&h, EncodePayloads(nil, m.Payloads))
}

// Seal returns the header h (its Next set by the caller) followed by body,
// with the length filled in: body is ciphertext when h has FlagEncryption.
func Seal(h *Header, body []byte) []byte {
	b := h.append(make([]byte, 0, HeaderLen+len(body)))
	b = append(b, body...)
	binary.BigEndian.PutUint32(b[24:], uint32(len(b)))
	return b
}

// FirstType is the type of the first payload of ps, for Header.Next.
func FirstType(ps []Payload) PayloadType {
	if len(ps) == 0 {
		return PayloadNone
	}
	return ps[0].Type()
}

// Find returns the first payload of type t, or nil.
func (m *Message) Find(t PayloadType) Payload {
	for _, p := range m.Payloads {
		if p.Type() == t {
			return p
		}
	}
	return nil
}

// FindAll returns every payload of type t in order.
func (m *Message) FindAll(t PayloadType) []Payload {
	var out []Payload
	for _, p := range m.Payloads {
		if p.Type() == t {
			out = append(out, p)
		}
	}
	return out
}

// Notify returns the first notification of type t, or nil.
func (m *Message) Notify(t NotifyType) *Notification {
	for _, p := range m.Payloads {
		if n, ok := p.(*Notification); ok && n.NType == t {
			return n
		}
	}
	return nil
}

func (m *Message) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "%v %016x_i %016x_r mid %08x", m.Exchange, m.ICookie, m.RCookie, m.MessageID)
	if m.Encrypted() {
		s.WriteString(" encrypted")
	}
	if m.Payloads != nil {
		s.WriteString(" [")
		for i, p := range m.Payloads {
			if i > 0 {
				s.WriteByte(' ')
			}
			s.WriteString(p.Type().String())
		}
		s.WriteByte(']')
	}
	return s.String()
}
