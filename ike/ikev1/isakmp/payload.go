package isakmp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Payload is one ISAKMP payload.
type Payload interface {
	Type() PayloadType
	appendBody(b []byte) []byte
}

// SA is the Security Association payload (RFC 2408 §3.4). Proposals with
// one Number form a bundle (AH and ESP together, §4.2).
type SA struct {
	DOI       uint32
	Situation uint32
	Proposals []Proposal
}

// Proposal is one proposal payload with its transforms.
type Proposal struct {
	Number     uint8
	Protocol   Protocol
	SPI        []byte
	Transforms []Transform
}

// Transform is one transform payload: an algorithm and its attributes.
type Transform struct {
	Number uint8
	ID     uint8
	Attrs  []Attribute
}

// Attribute is a data attribute (RFC 2408 §3.3): basic (a 16-bit value)
// or variable length.
type Attribute struct {
	Type  uint16
	Basic bool
	Value uint16 // basic
	Data  []byte // variable
}

// Uint returns the attribute as a number: basic, or a variable one of up
// to 8 bytes (life durations come either way).
func (a Attribute) Uint() (uint64, bool) {
	if a.Basic {
		return uint64(a.Value), true
	}
	if len(a.Data) == 0 || len(a.Data) > 8 {
		return 0, false
	}
	var v uint64
	for _, c := range a.Data {
		v = v<<8 | uint64(c)
	}
	return v, true
}

// BasicAttr is a basic attribute.
func BasicAttr(t, v uint16) Attribute { return Attribute{Type: t, Basic: true, Value: v} }

// UintAttr is a number attribute: basic when it fits 16 bits, else four
// bytes variable (life durations).
func UintAttr(t uint16, v uint64) Attribute {
	if v <= 0xffff {
		return BasicAttr(t, uint16(v))
	}
	if v <= 0xffffffff {
		return Attribute{Type: t, Data: binary.BigEndian.AppendUint32(nil, uint32(v))}
	}
	return Attribute{Type: t, Data: binary.BigEndian.AppendUint64(nil, v)}
}

// Attr returns the transform's first attribute of type t.
func (t *Transform) Attr(typ uint16) (Attribute, bool) {
	for _, a := range t.Attrs {
		if a.Type == typ {
			return a, true
		}
	}
	return Attribute{}, false
}

// KE is the Key Exchange payload.
type KE struct{ Data []byte }

// ID is the Identification payload (RFC 2407 §4.6.2).
type ID struct {
	IDType IDType
	Proto  uint8
	Port   uint16
	Data   []byte
}

// Hash is the Hash payload.
type Hash struct{ Data []byte }

// Nonce is the Nonce payload.
type Nonce struct{ Data []byte }

// Notification is the Notification payload (RFC 2408 §3.14).
type Notification struct {
	DOI      uint32
	Protocol Protocol
	SPI      []byte
	NType    NotifyType
	Data     []byte
}

// Delete is the Delete payload (RFC 2408 §3.15).
type Delete struct {
	DOI      uint32
	Protocol Protocol
	SPISize  uint8
	SPIs     [][]byte
}

// VendorID is the Vendor ID payload.
type VendorID struct{ Data []byte }

// NATD is the NAT discovery payload (RFC 3947 §3.2): a hash of cookies,
// address and port.
type NATD struct{ Data []byte }

// NATOA is the NAT original address payload (RFC 3947 §5.2).
type NATOA struct {
	IDType IDType // IPV4_ADDR or IPV6_ADDR
	Addr   netip.Addr
}

// Unknown is a payload this package does not interpret (certificates,
// signatures, private-use types): kept as raw bytes.
type Unknown struct {
	PType PayloadType
	Body  []byte
}

// Type implementations.
func (*SA) Type() PayloadType           { return PayloadSA }
func (*KE) Type() PayloadType           { return PayloadKE }
func (*ID) Type() PayloadType           { return PayloadID }
func (*Hash) Type() PayloadType         { return PayloadHash }
func (*Nonce) Type() PayloadType        { return PayloadNonce }
func (*Notification) Type() PayloadType { return PayloadNotification }
func (*Delete) Type() PayloadType       { return PayloadDelete }
func (*VendorID) Type() PayloadType     { return PayloadVendorID }
func (*NATD) Type() PayloadType         { return PayloadNATD }
func (*NATOA) Type() PayloadType        { return PayloadNATOA }
func (p *Unknown) Type() PayloadType    { return p.PType }

// Body returns the payload's body without its generic header, as RFC 2409
// hashes it (SAi_b, IDii_b, Ni_b).
func Body(p Payload) []byte { return p.appendBody(nil) }

func (p *SA) appendBody(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, p.DOI)
	b = binary.BigEndian.AppendUint32(b, p.Situation)
	for i := range p.Proposals {
		next := byte(PayloadNone)
		if i+1 < len(p.Proposals) {
			next = byte(PayloadProposal)
		}
		b = p.Proposals[i].append(b, next)
	}
	return b
}

func (p *Proposal) append(b []byte, next byte) []byte {
	at := len(b)
	b = append(b, next, 0, 0, 0, p.Number, byte(p.Protocol), byte(len(p.SPI)), byte(len(p.Transforms)))
	b = append(b, p.SPI...)
	for i := range p.Transforms {
		next := byte(PayloadNone)
		if i+1 < len(p.Transforms) {
			next = byte(PayloadTransform)
		}
		b = p.Transforms[i].append(b, next)
	}
	binary.BigEndian.PutUint16(b[at+2:], uint16(len(b)-at))
	return b
}

func (t *Transform) append(b []byte, next byte) []byte {
	at := len(b)
	b = append(b, next, 0, 0, 0, t.Number, t.ID, 0, 0)
	b = AppendAttributes(b, t.Attrs)
	binary.BigEndian.PutUint16(b[at+2:], uint16(len(b)-at))
	return b
}

func (p *KE) appendBody(b []byte) []byte       { return append(b, p.Data...) }
func (p *Hash) appendBody(b []byte) []byte     { return append(b, p.Data...) }
func (p *Nonce) appendBody(b []byte) []byte    { return append(b, p.Data...) }
func (p *VendorID) appendBody(b []byte) []byte { return append(b, p.Data...) }
func (p *NATD) appendBody(b []byte) []byte     { return append(b, p.Data...) }
func (p *Unknown) appendBody(b []byte) []byte  { return append(b, p.Body...) }

func (p *ID) appendBody(b []byte) []byte {
	b = append(b, byte(p.IDType), p.Proto)
	b = binary.BigEndian.AppendUint16(b, p.Port)
	return append(b, p.Data...)
}

func (p *Notification) appendBody(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, p.DOI)
	b = append(b, byte(p.Protocol), byte(len(p.SPI)))
	b = binary.BigEndian.AppendUint16(b, uint16(p.NType))
	b = append(b, p.SPI...)
	return append(b, p.Data...)
}

func (p *Delete) appendBody(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, p.DOI)
	b = append(b, byte(p.Protocol), p.SPISize)
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.SPIs)))
	for _, s := range p.SPIs {
		b = append(b, s...)
	}
	return b
}

func (p *NATOA) appendBody(b []byte) []byte {
	b = append(b, byte(p.IDType), 0, 0, 0)
	return append(b, p.Addr.AsSlice()...)
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func decodeBody(t PayloadType, body []byte) (Payload, error) {
	switch t {
	case PayloadSA:
		return decodeSA(body)
	case PayloadKE:
		return &KE{Data: clone(body)}, nil
	case PayloadID:
		if len(body) < 4 {
			return nil, errf(ReasonShort, t, "%d bytes", len(body))
		}
		return &ID{IDType: IDType(body[0]), Proto: body[1], Port: binary.BigEndian.Uint16(body[2:]), Data: clone(body[4:])}, nil
	case PayloadHash:
		return &Hash{Data: clone(body)}, nil
	case PayloadNonce:
		// RFC 2409 §5: 8 to 256 bytes.
		if len(body) < 8 || len(body) > 256 {
			return nil, errf(ReasonPayload, t, "nonce of %d bytes, want 8-256", len(body))
		}
		return &Nonce{Data: clone(body)}, nil
	case PayloadNotification:
		return decodeNotification(body)
	case PayloadDelete:
		return decodeDelete(body)
	case PayloadVendorID:
		return &VendorID{Data: clone(body)}, nil
	case PayloadNATD:
		return &NATD{Data: clone(body)}, nil
	case PayloadNATOA:
		return decodeNATOA(body)
	case PayloadCert, PayloadCertRequest, PayloadSignature:
		return &Unknown{PType: t, Body: clone(body)}, nil
	}
	if t >= 128 { // private use: skip, as peers may send them
		return &Unknown{PType: t, Body: clone(body)}, nil
	}
	return nil, errf(ReasonUnknown, t, "unknown payload type")
}

func decodeSA(body []byte) (*SA, error) {
	if len(body) < 8 {
		return nil, errf(ReasonShort, PayloadSA, "%d bytes", len(body))
	}
	sa := &SA{DOI: binary.BigEndian.Uint32(body), Situation: binary.BigEndian.Uint32(body[4:])}
	b := body[8:]
	if sa.Situation&^7 != 0 || sa.Situation&2 != 0 || sa.Situation&4 != 0 {
		// Secrecy and integrity labels carry more fields; unsupported.
		return nil, errf(ReasonPayload, PayloadSA, "situation %#x not supported", sa.Situation)
	}
	next := byte(PayloadProposal)
	for next == byte(PayloadProposal) {
		if len(b) < 8 {
			return nil, errf(ReasonShort, PayloadProposal, "%d bytes left", len(b))
		}
		n := int(binary.BigEndian.Uint16(b[2:]))
		if n < 8 || n > len(b) {
			return nil, errf(ReasonLength, PayloadProposal, "length %d with %d bytes left", n, len(b))
		}
		p, err := decodeProposal(b[:n])
		if err != nil {
			return nil, err
		}
		sa.Proposals = append(sa.Proposals, p)
		next = b[0]
		b = b[n:]
	}
	if next != byte(PayloadNone) {
		return nil, errf(ReasonPayload, PayloadProposal, "next payload %d inside SA", next)
	}
	if len(sa.Proposals) == 0 {
		return nil, errf(ReasonPayload, PayloadSA, "no proposals")
	}
	return sa, nil
}

func decodeProposal(b []byte) (Proposal, error) {
	p := Proposal{Number: b[4], Protocol: Protocol(b[5])}
	spiLen, count := int(b[6]), int(b[7])
	b = b[8:]
	if spiLen > len(b) {
		return p, errf(ReasonLength, PayloadProposal, "SPI of %d bytes with %d left", spiLen, len(b))
	}
	p.SPI = clone(b[:spiLen])
	b = b[spiLen:]
	for i := 0; i < count; i++ {
		if len(b) < 8 {
			return p, errf(ReasonShort, PayloadTransform, "%d bytes left for transform %d of %d", len(b), i+1, count)
		}
		n := int(binary.BigEndian.Uint16(b[2:]))
		if n < 8 || n > len(b) {
			return p, errf(ReasonLength, PayloadTransform, "length %d with %d bytes left", n, len(b))
		}
		next := b[0]
		if (i+1 < count) != (next == byte(PayloadTransform)) {
			return p, errf(ReasonPayload, PayloadTransform, "next payload %d for transform %d of %d", next, i+1, count)
		}
		t, err := decodeTransform(b[:n])
		if err != nil {
			return p, err
		}
		p.Transforms = append(p.Transforms, t)
		b = b[n:]
	}
	if len(b) != 0 {
		return p, errf(ReasonLength, PayloadProposal, "%d bytes after %d transforms", len(b), count)
	}
	if count == 0 {
		return p, errf(ReasonPayload, PayloadProposal, "no transforms")
	}
	return p, nil
}

func decodeTransform(b []byte) (Transform, error) {
	t := Transform{Number: b[4], ID: b[5]}
	var err error
	t.Attrs, err = ParseAttributes(b[8:])
	return t, err
}

// AppendAttributes encodes data attributes (transforms, RESPONDER-LIFETIME
// notification data).
func AppendAttributes(b []byte, attrs []Attribute) []byte {
	for _, a := range attrs {
		if a.Basic {
			b = binary.BigEndian.AppendUint16(b, a.Type|0x8000)
			b = binary.BigEndian.AppendUint16(b, a.Value)
			continue
		}
		b = binary.BigEndian.AppendUint16(b, a.Type&0x7fff)
		b = binary.BigEndian.AppendUint16(b, uint16(len(a.Data)))
		b = append(b, a.Data...)
	}
	return b
}

// ParseAttributes decodes a sequence of data attributes filling b.
func ParseAttributes(b []byte) ([]Attribute, error) {
	var out []Attribute
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, errf(ReasonShort, PayloadTransform, "attribute of %d bytes", len(b))
		}
		typ, v := binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])
		if typ&0x8000 != 0 {
			out = append(out, BasicAttr(typ&0x7fff, v))
			b = b[4:]
			continue
		}
		if int(v) > len(b)-4 {
			return nil, errf(ReasonLength, PayloadTransform, "attribute %d of %d bytes with %d left", typ, v, len(b)-4)
		}
		out = append(out, Attribute{Type: typ, Data: clone(b[4 : 4+v])})
		b = b[4+v:]
	}
	return out, nil
}

func decodeNotification(b []byte) (*Notification, error) {
	if len(b) < 8 {
		return nil, errf(ReasonShort, PayloadNotification, "%d bytes", len(b))
	}
	n := &Notification{DOI: binary.BigEndian.Uint32(b), Protocol: Protocol(b[4]), NType: NotifyType(binary.BigEndian.Uint16(b[6:]))}
	spiLen := int(b[5])
	b = b[8:]
	if spiLen > len(b) {
		return nil, errf(ReasonLength, PayloadNotification, "SPI of %d bytes with %d left", spiLen, len(b))
	}
	n.SPI, n.Data = clone(b[:spiLen]), clone(b[spiLen:])
	return n, nil
}

func decodeDelete(b []byte) (*Delete, error) {
	if len(b) < 8 {
		return nil, errf(ReasonShort, PayloadDelete, "%d bytes", len(b))
	}
	d := &Delete{DOI: binary.BigEndian.Uint32(b), Protocol: Protocol(b[4]), SPISize: b[5]}
	count := int(binary.BigEndian.Uint16(b[6:]))
	b = b[8:]
	if d.SPISize == 0 || len(b) != count*int(d.SPISize) {
		return nil, errf(ReasonLength, PayloadDelete, "%d SPIs of %d bytes in %d bytes", count, d.SPISize, len(b))
	}
	for i := 0; i < count; i++ {
		d.SPIs = append(d.SPIs, clone(b[:d.SPISize]))
		b = b[d.SPISize:]
	}
	return d, nil
}

func decodeNATOA(b []byte) (*NATOA, error) {
	if len(b) < 4 {
		return nil, errf(ReasonShort, PayloadNATOA, "%d bytes", len(b))
	}
	p := &NATOA{IDType: IDType(b[0])}
	a, ok := netip.AddrFromSlice(b[4:])
	switch {
	case !ok, p.IDType == IDIPv4Addr && !a.Is4(), p.IDType == IDIPv6Addr && !a.Is6(),
		p.IDType != IDIPv4Addr && p.IDType != IDIPv6Addr:
		return nil, errf(ReasonPayload, PayloadNATOA, "ID type %v with %d address bytes", p.IDType, len(b)-4)
	}
	p.Addr = a
	return p, nil
}

func (t Transform) String() string {
	s := fmt.Sprintf("#%d id %d", t.Number, t.ID)
	for _, a := range t.Attrs {
		if v, ok := a.Uint(); ok {
			s += fmt.Sprintf(" %d=%d", a.Type, v)
		} else {
			s += fmt.Sprintf(" %d=%x", a.Type, a.Data)
		}
	}
	return s
}
