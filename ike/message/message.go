// Package message is the IKEv2 wire codec (RFC 7296 §3, RFC 7383): it turns
// datagrams received on UDP 500/4500 into Messages of typed payloads and
// back, and seals and opens the Encrypted (SK) and Encrypted Fragment (SKF)
// payloads with a Protector the key material provides.
//
// It receives untrusted bytes from the IKE engine's receive path and returns
// either a Message or an *Error whose Reason the engine counts before
// dropping the datagram; nothing here panics on bad input. It knows no
// state: which keys open a message and what its payloads mean is the
// engine's business (package ike), the algorithms are package keymat's.
//
// Every length is checked against its container before it is used: the IKE
// header's length must equal the datagram's, each payload must fit the
// message, each substructure its payload. Unknown payloads are kept as
// *Unknown unless their critical bit is set, which fails decoding with
// ReasonCritical so the engine can answer UNSUPPORTED_CRITICAL_PAYLOAD.
package message

import (
	"encoding/binary"
	"fmt"
)

// HeaderLen is the length of the IKE header.
const HeaderLen = 28

// Version is the version byte this package speaks: major 2, minor 0.
const Version = 0x20

// Reason classifies why a datagram could not be decoded.
type Reason uint8

// Decoding failures.
const (
	ReasonShort     Reason = iota + 1 // shorter than an IKE header
	ReasonLength                      // header length disagrees with the datagram
	ReasonVersion                     // major version is not 2
	ReasonChain                       // a payload header runs past the message
	ReasonPayload                     // a payload body is malformed
	ReasonCritical                    // an unsupported payload has the critical bit set
	ReasonSealed                      // SK/SKF misplaced or truncated
	ReasonIntegrity                   // ICV check or decryption failed
	ReasonPadding                     // bad padding inside SK
	ReasonFragment                    // bad fragment numbering or size
)

func (r Reason) String() string {
	switch r {
	case ReasonShort:
		return "short"
	case ReasonLength:
		return "length"
	case ReasonVersion:
		return "version"
	case ReasonChain:
		return "payload-chain"
	case ReasonPayload:
		return "malformed-payload"
	case ReasonCritical:
		return "unsupported-critical"
	case ReasonSealed:
		return "sealed-payload"
	case ReasonIntegrity:
		return "integrity"
	case ReasonPadding:
		return "padding"
	case ReasonFragment:
		return "fragment"
	}
	return fmt.Sprintf("reason-%d", uint8(r))
}

// Error is a decoding failure.
type Error struct {
	Reason  Reason
	Payload PayloadType // the payload at fault, when one is
	Detail  string
}

func (e *Error) Error() string {
	if e.Payload != NoNextPayload {
		return fmt.Sprintf("ikev2 %v: %v payload: %s", e.Reason, e.Payload, e.Detail)
	}
	return fmt.Sprintf("ikev2 %v: %s", e.Reason, e.Detail)
}

func errf(r Reason, t PayloadType, format string, args ...any) *Error {
	return &Error{Reason: r, Payload: t, Detail: fmt.Sprintf(format, args...)}
}

// Protector seals and opens SK and SKF payload contents; package keymat
// implements it for AES-CBC+HMAC and AES-GCM.
type Protector interface {
	// BlockLen is the alignment the padded plaintext must reach.
	BlockLen() int
	// Overhead is the IV plus ICV length added to the ciphertext.
	Overhead() int
	// Seal appends IV | ciphertext | ICV of padded to dst. aad is every
	// byte of the message in front of the IV.
	Seal(dst, aad, padded []byte) []byte
	// Open authenticates and decrypts IV | ciphertext | ICV and returns
	// the padded plaintext.
	Open(aad, sealed []byte) ([]byte, error)
}

// Header is the IKE header.
type Header struct {
	SPIi, SPIr uint64
	Next       PayloadType
	Version    uint8
	Exchange   ExchangeType
	Flags      Flags
	MessageID  uint32
	Length     uint32
}

// ParseHeader reads the IKE header of a datagram without looking further.
// The engine uses it to find the IKE SA before decoding the rest.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, errf(ReasonShort, NoNextPayload, "%d bytes", len(b))
	}
	h := Header{
		SPIi:      binary.BigEndian.Uint64(b),
		SPIr:      binary.BigEndian.Uint64(b[8:]),
		Next:      PayloadType(b[16]),
		Version:   b[17],
		Exchange:  ExchangeType(b[18]),
		Flags:     Flags(b[19]),
		MessageID: binary.BigEndian.Uint32(b[20:]),
		Length:    binary.BigEndian.Uint32(b[24:]),
	}
	if h.Version>>4 != 2 {
		return h, errf(ReasonVersion, NoNextPayload, "version %d.%d", h.Version>>4, h.Version&0xf)
	}
	if int(h.Length) != len(b) {
		return h, errf(ReasonLength, NoNextPayload, "header says %d bytes, datagram has %d", h.Length, len(b))
	}
	return h, nil
}

// Response reports whether the R flag is set.
func (h *Header) Response() bool { return h.Flags&FlagResponse != 0 }

// FromInitiator reports whether the sender is the IKE SA's original
// initiator (the I flag).
func (h *Header) FromInitiator() bool { return h.Flags&FlagInitiator != 0 }

// Message is one IKEv2 message. For protected messages Payloads are the
// payloads inside the SK payload, once opened.
type Message struct {
	Header
	Payloads []Payload

	raw    []byte  // the datagram as received
	sealed *sealed // the SK or SKF payload awaiting Open
}

// sealed locates a received SK or SKF payload.
type sealed struct {
	fragment   bool
	num, total uint16
	inner      PayloadType // first payload inside
	ivAt       int         // offset of the IV in raw: everything before is AAD
}

// Parse decodes a datagram's header and unprotected payloads. A protected
// message then needs Open (SK) or a Reassembler (SKF).
func Parse(b []byte) (*Message, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	m := &Message{Header: h, raw: b}
	next, off := h.Next, HeaderLen
	for next != NoNextPayload {
		if len(b)-off < 4 {
			return nil, errf(ReasonChain, next, "payload header at %d past the end", off)
		}
		pnext, crit, plen := PayloadType(b[off]), b[off+1]&0x80 != 0, int(binary.BigEndian.Uint16(b[off+2:]))
		if plen < 4 || off+plen > len(b) {
			return nil, errf(ReasonChain, next, "length %d at %d of %d", plen, off, len(b))
		}
		if next == PayloadSK || next == PayloadSKF {
			if off+plen != len(b) {
				return nil, errf(ReasonSealed, next, "not the last payload")
			}
			s := &sealed{fragment: next == PayloadSKF, inner: pnext, ivAt: off + 4}
			if s.fragment {
				if plen < 8 {
					return nil, errf(ReasonSealed, next, "fragment header truncated")
				}
				s.num = binary.BigEndian.Uint16(b[off+4:])
				s.total = binary.BigEndian.Uint16(b[off+6:])
				s.ivAt += 4
				if s.num == 0 || s.num > s.total {
					return nil, errf(ReasonFragment, next, "fragment %d of %d", s.num, s.total)
				}
				if s.num != 1 && pnext != NoNextPayload {
					return nil, errf(ReasonFragment, next, "fragment %d names a next payload", s.num)
				}
			}
			m.sealed = s
			return m, nil
		}
		p, err := decodeBody(next, crit, b[off+4:off+plen])
		if err != nil {
			return nil, err
		}
		m.Payloads = append(m.Payloads, p)
		next, off = pnext, off+plen
	}
	if off != len(b) {
		return nil, errf(ReasonChain, NoNextPayload, "%d bytes after the last payload", len(b)-off)
	}
	return m, nil
}

// Raw is the datagram the message was parsed from (nil for messages built
// locally or reassembled). IKE_SA_INIT's raw bytes enter the AUTH payload.
func (m *Message) Raw() []byte { return m.raw }

// Protected reports whether the message carries an SK or SKF payload.
func (m *Message) Protected() bool { return m.sealed != nil }

// Fragment reports the fragment number and total of an SKF message.
func (m *Message) Fragment() (num, total uint16, ok bool) {
	if m.sealed == nil || !m.sealed.fragment {
		return 0, 0, false
	}
	return m.sealed.num, m.sealed.total, true
}

// Open authenticates and decrypts the SK payload and decodes the payloads
// inside it, appending them to Payloads.
func (m *Message) Open(p Protector) error {
	if m.sealed == nil || m.sealed.fragment {
		return errf(ReasonSealed, PayloadSK, "no SK payload to open")
	}
	plain, err := openSealed(p, m.raw, m.sealed.ivAt)
	if err != nil {
		return err
	}
	return m.decodeInner(m.sealed.inner, plain)
}

func openSealed(p Protector, raw []byte, ivAt int) ([]byte, error) {
	body := raw[ivAt:]
	if len(body) < p.Overhead()+1 {
		return nil, errf(ReasonSealed, PayloadSK, "%d bytes of ciphertext", len(body))
	}
	padded, err := p.Open(raw[:ivAt], body)
	if err != nil {
		return nil, &Error{Reason: ReasonIntegrity, Payload: PayloadSK, Detail: err.Error()}
	}
	if len(padded) == 0 || len(padded)%p.BlockLen() != 0 {
		return nil, errf(ReasonPadding, PayloadSK, "plaintext of %d bytes", len(padded))
	}
	padLen := int(padded[len(padded)-1])
	if padLen+1 > len(padded) {
		return nil, errf(ReasonPadding, PayloadSK, "pad length %d of %d", padLen, len(padded))
	}
	return padded[:len(padded)-padLen-1], nil
}

// decodeInner decodes the payload chain found inside SK, starting at first.
func (m *Message) decodeInner(first PayloadType, b []byte) error {
	next, off := first, 0
	for next != NoNextPayload {
		if len(b)-off < 4 {
			return errf(ReasonChain, next, "inner payload header at %d past the end", off)
		}
		pnext, crit, plen := PayloadType(b[off]), b[off+1]&0x80 != 0, int(binary.BigEndian.Uint16(b[off+2:]))
		if plen < 4 || off+plen > len(b) {
			return errf(ReasonChain, next, "inner length %d at %d of %d", plen, off, len(b))
		}
		if next == PayloadSK || next == PayloadSKF {
			return errf(ReasonSealed, next, "nested inside SK")
		}
		p, err := decodeBody(next, crit, b[off+4:off+plen])
		if err != nil {
			return err
		}
		m.Payloads = append(m.Payloads, p)
		next, off = pnext, off+plen
	}
	if off != len(b) {
		return errf(ReasonChain, NoNextPayload, "%d bytes after the last inner payload", len(b)-off)
	}
	m.sealed = nil
	return nil
}

// appendChain encodes payloads with their generic headers.
func appendChain(b []byte, ps []Payload) []byte {
	for i, p := range ps {
		next := NoNextPayload
		if i+1 < len(ps) {
			next = ps[i+1].Type()
		}
		start := len(b)
		crit := byte(0)
		if u, ok := p.(*Unknown); ok && u.Critical {
			crit = 0x80
		}
		b = append(b, byte(next), crit, 0, 0)
		b = p.appendBody(b)
		binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
	}
	return b
}

func firstType(ps []Payload) PayloadType {
	if len(ps) == 0 {
		return NoNextPayload
	}
	return ps[0].Type()
}

func (m *Message) appendHeader(b []byte, next PayloadType) []byte {
	b = binary.BigEndian.AppendUint64(b, m.SPIi)
	b = binary.BigEndian.AppendUint64(b, m.SPIr)
	b = append(b, byte(next), Version, byte(m.Exchange), byte(m.Flags))
	b = binary.BigEndian.AppendUint32(b, m.MessageID)
	return append(b, 0, 0, 0, 0) // length, set when known
}

// Encode builds the datagram. With a nil Protector the payloads go in the
// clear (IKE_SA_INIT); otherwise all of them go inside one SK payload.
func (m *Message) Encode(p Protector) ([]byte, error) {
	if p == nil {
		b := appendChain(m.appendHeader(make([]byte, 0, 512), firstType(m.Payloads)), m.Payloads)
		return finish(b)
	}
	padded := pad(appendChain(nil, m.Payloads), p.BlockLen())
	b := m.appendHeader(make([]byte, 0, HeaderLen+4+p.Overhead()+len(padded)), PayloadSK)
	b = append(b, byte(firstType(m.Payloads)), 0, 0, 0)
	binary.BigEndian.PutUint16(b[HeaderLen+2:], uint16(4+p.Overhead()+len(padded)))
	return m.seal(b, p, padded)
}

func (m *Message) seal(b []byte, p Protector, padded []byte) ([]byte, error) {
	total := len(b) + p.Overhead() + len(padded)
	if total > 0xffff {
		return nil, fmt.Errorf("ikev2: message of %d bytes", total)
	}
	binary.BigEndian.PutUint32(b[24:], uint32(total))
	b = p.Seal(b, b, padded)
	if len(b) != total {
		return nil, fmt.Errorf("ikev2: protector produced %d bytes, want %d", len(b), total)
	}
	return b, nil
}

func finish(b []byte) ([]byte, error) {
	if len(b) > 0xffff {
		return nil, fmt.Errorf("ikev2: message of %d bytes", len(b))
	}
	binary.BigEndian.PutUint32(b[24:], uint32(len(b)))
	return b, nil
}

// pad appends padding and the pad length byte so len is a multiple of bl.
func pad(b []byte, bl int) []byte {
	n := 0
	if bl > 1 {
		n = (bl - (len(b)+1)%bl) % bl
	}
	for i := 0; i < n; i++ {
		b = append(b, 0)
	}
	return append(b, byte(n))
}

// EncodeFragments builds the protected datagram, split into SKF fragments
// (RFC 7383) of at most maxLen bytes each when the whole would exceed
// maxLen. maxLen counts the IKE message only, not the UDP header or the
// non-ESP marker.
func (m *Message) EncodeFragments(p Protector, maxLen int) ([][]byte, error) {
	inner := appendChain(nil, m.Payloads)
	whole := HeaderLen + 4 + p.Overhead() + len(pad(append([]byte(nil), inner...), p.BlockLen()))
	if whole <= maxLen {
		b, err := m.Encode(p)
		return [][]byte{b}, err
	}
	bl := p.BlockLen()
	budget := maxLen - HeaderLen - 8 - p.Overhead()
	ct := budget - budget%bl
	chunk := ct - 1
	if chunk < 1 {
		return nil, fmt.Errorf("ikev2: fragment size %d too small", maxLen)
	}
	total := (len(inner) + chunk - 1) / chunk
	if total > MaxFragments {
		return nil, fmt.Errorf("ikev2: %d fragments needed, limit %d", total, MaxFragments)
	}
	out := make([][]byte, 0, total)
	for i := 0; i < total; i++ {
		part := inner[i*chunk : min((i+1)*chunk, len(inner))]
		padded := pad(append(make([]byte, 0, len(part)+bl), part...), bl)
		next := NoNextPayload
		if i == 0 {
			next = firstType(m.Payloads)
		}
		b := m.appendHeader(make([]byte, 0, maxLen), PayloadSKF)
		b = append(b, byte(next), 0, 0, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(i+1))
		b = binary.BigEndian.AppendUint16(b, uint16(total))
		binary.BigEndian.PutUint16(b[HeaderLen+2:], uint16(8+p.Overhead()+len(padded)))
		f, err := m.seal(b, p, padded)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// Payload lookups.

// Find returns the first payload of type t, or nil.
func (m *Message) Find(t PayloadType) Payload {
	for _, p := range m.Payloads {
		if p.Type() == t {
			return p
		}
	}
	return nil
}

// Notify returns the first notify of type t, or nil.
func (m *Message) Notify(t NotifyType) *Notify {
	for _, p := range m.Payloads {
		if n, ok := p.(*Notify); ok && n.NType == t {
			return n
		}
	}
	return nil
}

// ErrorNotify returns the first notify of an error type, or nil.
func (m *Message) ErrorNotify() *Notify {
	for _, p := range m.Payloads {
		if n, ok := p.(*Notify); ok && n.NType.Error() {
			return n
		}
	}
	return nil
}

// String summarises the message the way charon's logs do, e.g.
// "IKE_AUTH request 1 [ IDi AUTH SA TSi TSr N(USE_TRANSPORT_MODE) ]".
func (m *Message) String() string {
	dir := "request"
	if m.Response() {
		dir = "response"
	}
	s := fmt.Sprintf("%v %s %d [", m.Exchange, dir, m.MessageID)
	for _, p := range m.Payloads {
		switch p := p.(type) {
		case *Notify:
			s += fmt.Sprintf(" N(%v)", p.NType)
		case *Delete:
			s += fmt.Sprintf(" D(%v)", p.Protocol)
		default:
			s += " " + p.Type().String()
		}
	}
	if m.sealed != nil {
		if m.sealed.fragment {
			s += fmt.Sprintf(" SKF(%d/%d)", m.sealed.num, m.sealed.total)
		} else {
			s += " SK"
		}
	}
	return s + " ]"
}
