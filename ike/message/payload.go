package message

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Payload is one decoded IKEv2 payload. The concrete types are the structs
// below; payload types this package does not know come back as *Unknown.
type Payload interface {
	Type() PayloadType
	// appendBody appends the payload's body (without the generic header).
	appendBody(b []byte) []byte
}

// SA is a Security Association payload: proposals in preference order.
type SA struct {
	Proposals []Proposal
}

// Proposal is one proposal substructure.
type Proposal struct {
	Num        uint8
	Protocol   ProtocolID
	SPI        []byte // 8 bytes for IKE rekeys, 4 for ESP/AH, empty in IKE_SA_INIT
	Transforms []Transform
}

// Transform is one transform substructure. IKEv2 defines one attribute, the
// key length; a transform carrying any other attribute is marked so
// negotiation skips it (RFC 7296 §3.3.6).
type Transform struct {
	Type         TransformType
	ID           uint16
	KeyLength    uint16 // bits; 0 when the attribute is absent
	UnknownAttrs bool
}

func (t Transform) String() string {
	if t.KeyLength != 0 {
		return fmt.Sprintf("%v/%d/%d", t.Type, t.ID, t.KeyLength)
	}
	return fmt.Sprintf("%v/%d", t.Type, t.ID)
}

// KE is a Key Exchange payload.
type KE struct {
	Group uint16
	Data  []byte
}

// ID is an identification payload, IDi or IDr.
type ID struct {
	Responder bool // IDr rather than IDi
	IDType    IDType
	Data      []byte
}

// Body is the payload body the AUTH computation MACs
// (RestOfInitIDPayload/RestOfRespIDPayload, RFC 7296 §2.15).
func (p *ID) Body() []byte { return p.appendBody(nil) }

// String renders the identity for logs.
func (p *ID) String() string {
	switch p.IDType {
	case IDIPv4Addr, IDIPv6Addr:
		if a, ok := netip.AddrFromSlice(p.Data); ok {
			return a.String()
		}
	case IDFQDN, IDRFC822:
		return fmt.Sprintf("%q", p.Data)
	}
	return fmt.Sprintf("%v:%x", p.IDType, p.Data)
}

// Auth is an Authentication payload.
type Auth struct {
	Method AuthMethod
	Data   []byte
}

// Nonce is a Nonce payload.
type Nonce struct {
	Data []byte
}

// Notify is a Notify payload.
type Notify struct {
	Protocol ProtocolID
	SPI      []byte
	NType    NotifyType
	Data     []byte
}

// Delete is a Delete payload. An IKE SA delete carries no SPIs.
type Delete struct {
	Protocol ProtocolID
	SPIs     []uint32
}

// VendorID is a Vendor ID payload.
type VendorID struct {
	Data []byte
}

// TS is a Traffic Selector payload, TSi or TSr.
type TS struct {
	Responder bool // TSr rather than TSi
	Selectors []Selector
}

// Selector is one traffic selector: an address range, a port range and an
// IP protocol (0 = any). Types other than IPv4/IPv6 ranges are rejected at
// decoding time.
type Selector struct {
	IPProto            uint8
	StartPort, EndPort uint16
	Start, End         netip.Addr
}

func (s Selector) String() string {
	return fmt.Sprintf("%v-%v proto %d port %d-%d", s.Start, s.End, s.IPProto, s.StartPort, s.EndPort)
}

// Unknown is a payload of a type this package does not decode, kept so a
// caller can report it. Critical ones make decoding fail instead.
type Unknown struct {
	PType    PayloadType
	Critical bool
	Body     []byte
}

func (*SA) Type() PayloadType        { return PayloadSA }
func (*KE) Type() PayloadType        { return PayloadKE }
func (*Auth) Type() PayloadType      { return PayloadAUTH }
func (*Nonce) Type() PayloadType     { return PayloadNonce }
func (*Notify) Type() PayloadType    { return PayloadNotify }
func (*Delete) Type() PayloadType    { return PayloadDelete }
func (*VendorID) Type() PayloadType  { return PayloadVendor }
func (p *Unknown) Type() PayloadType { return p.PType }

func (p *ID) Type() PayloadType {
	if p.Responder {
		return PayloadIDr
	}
	return PayloadIDi
}

func (p *TS) Type() PayloadType {
	if p.Responder {
		return PayloadTSr
	}
	return PayloadTSi
}

// --- encoding -------------------------------------------------------------

func (p *SA) appendBody(b []byte) []byte {
	for i, pr := range p.Proposals {
		start := len(b)
		last := byte(2)
		if i == len(p.Proposals)-1 {
			last = 0
		}
		b = append(b, last, 0, 0, 0, pr.Num, byte(pr.Protocol), byte(len(pr.SPI)), byte(len(pr.Transforms)))
		b = append(b, pr.SPI...)
		for j, t := range pr.Transforms {
			tstart := len(b)
			last := byte(3)
			if j == len(pr.Transforms)-1 {
				last = 0
			}
			b = append(b, last, 0, 0, 0, byte(t.Type), 0)
			b = binary.BigEndian.AppendUint16(b, t.ID)
			if t.KeyLength != 0 {
				b = binary.BigEndian.AppendUint16(b, 0x8000|AttrKeyLength)
				b = binary.BigEndian.AppendUint16(b, t.KeyLength)
			}
			binary.BigEndian.PutUint16(b[tstart+2:], uint16(len(b)-tstart))
		}
		binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
	}
	return b
}

func (p *KE) appendBody(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, p.Group)
	b = append(b, 0, 0)
	return append(b, p.Data...)
}

func (p *ID) appendBody(b []byte) []byte {
	b = append(b, byte(p.IDType), 0, 0, 0)
	return append(b, p.Data...)
}

func (p *Auth) appendBody(b []byte) []byte {
	b = append(b, byte(p.Method), 0, 0, 0)
	return append(b, p.Data...)
}

func (p *Nonce) appendBody(b []byte) []byte    { return append(b, p.Data...) }
func (p *VendorID) appendBody(b []byte) []byte { return append(b, p.Data...) }
func (p *Unknown) appendBody(b []byte) []byte  { return append(b, p.Body...) }

func (p *Notify) appendBody(b []byte) []byte {
	b = append(b, byte(p.Protocol), byte(len(p.SPI)))
	b = binary.BigEndian.AppendUint16(b, uint16(p.NType))
	b = append(b, p.SPI...)
	return append(b, p.Data...)
}

func (p *Delete) appendBody(b []byte) []byte {
	size := byte(4)
	if p.Protocol == ProtoIKE {
		size = 0
	}
	b = append(b, byte(p.Protocol), size)
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.SPIs)))
	if size == 4 {
		for _, s := range p.SPIs {
			b = binary.BigEndian.AppendUint32(b, s)
		}
	}
	return b
}

func (p *TS) appendBody(b []byte) []byte {
	b = append(b, byte(len(p.Selectors)), 0, 0, 0)
	for _, s := range p.Selectors {
		typ, n := TSIPv4Range, 16
		if s.Start.Is6() {
			typ, n = TSIPv6Range, 40
		}
		b = append(b, byte(typ), s.IPProto)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
		b = binary.BigEndian.AppendUint16(b, s.StartPort)
		b = binary.BigEndian.AppendUint16(b, s.EndPort)
		b = append(b, s.Start.AsSlice()...)
		b = append(b, s.End.AsSlice()...)
	}
	return b
}

// --- decoding -------------------------------------------------------------

// decodeBody decodes one payload body of type t.
func decodeBody(t PayloadType, critical bool, body []byte) (Payload, error) {
	switch t {
	case PayloadSA:
		return decodeSA(body)
	case PayloadKE:
		if len(body) < 4 {
			return nil, errf(ReasonPayload, t, "KE body of %d bytes", len(body))
		}
		return &KE{Group: binary.BigEndian.Uint16(body), Data: clone(body[4:])}, nil
	case PayloadIDi, PayloadIDr:
		if len(body) < 5 {
			return nil, errf(ReasonPayload, t, "ID body of %d bytes", len(body))
		}
		id := &ID{Responder: t == PayloadIDr, IDType: IDType(body[0]), Data: clone(body[4:])}
		if (id.IDType == IDIPv4Addr && len(id.Data) != 4) || (id.IDType == IDIPv6Addr && len(id.Data) != 16) {
			return nil, errf(ReasonPayload, t, "%v identity of %d bytes", id.IDType, len(id.Data))
		}
		return id, nil
	case PayloadAUTH:
		if len(body) < 5 {
			return nil, errf(ReasonPayload, t, "AUTH body of %d bytes", len(body))
		}
		return &Auth{Method: AuthMethod(body[0]), Data: clone(body[4:])}, nil
	case PayloadNonce:
		// RFC 7296 §3.9: 16 to 256 octets.
		if len(body) < 16 || len(body) > 256 {
			return nil, errf(ReasonPayload, t, "nonce of %d bytes", len(body))
		}
		return &Nonce{Data: clone(body)}, nil
	case PayloadNotify:
		return decodeNotify(body)
	case PayloadDelete:
		return decodeDelete(body)
	case PayloadVendor:
		return &VendorID{Data: clone(body)}, nil
	case PayloadTSi, PayloadTSr:
		return decodeTS(t, body)
	}
	if critical {
		return nil, &Error{Reason: ReasonCritical, Payload: t, Detail: "unsupported critical payload"}
	}
	return &Unknown{PType: t, Critical: critical, Body: clone(body)}, nil
}

func decodeSA(body []byte) (*SA, error) {
	sa := &SA{}
	for len(body) > 0 {
		if len(body) < 8 {
			return nil, errf(ReasonPayload, PayloadSA, "truncated proposal header")
		}
		last, plen := body[0], int(binary.BigEndian.Uint16(body[2:]))
		if plen < 8 || plen > len(body) {
			return nil, errf(ReasonPayload, PayloadSA, "proposal length %d of %d", plen, len(body))
		}
		if last != 0 && last != 2 {
			return nil, errf(ReasonPayload, PayloadSA, "proposal last-substruc %d", last)
		}
		if (last == 0) != (plen == len(body)) {
			return nil, errf(ReasonPayload, PayloadSA, "proposal last-substruc %d disagrees with length", last)
		}
		p := body[:plen]
		body = body[plen:]
		pr := Proposal{Num: p[4], Protocol: ProtocolID(p[5])}
		spiSize, ntrans := int(p[6]), int(p[7])
		if 8+spiSize > plen {
			return nil, errf(ReasonPayload, PayloadSA, "SPI size %d beyond proposal", spiSize)
		}
		pr.SPI = clone(p[8 : 8+spiSize])
		t := p[8+spiSize:]
		for len(t) > 0 {
			if len(t) < 8 {
				return nil, errf(ReasonPayload, PayloadSA, "truncated transform")
			}
			tlast, tlen := t[0], int(binary.BigEndian.Uint16(t[2:]))
			if tlen < 8 || tlen > len(t) {
				return nil, errf(ReasonPayload, PayloadSA, "transform length %d of %d", tlen, len(t))
			}
			if tlast != 0 && tlast != 3 {
				return nil, errf(ReasonPayload, PayloadSA, "transform last-substruc %d", tlast)
			}
			if (tlast == 0) != (tlen == len(t)) {
				return nil, errf(ReasonPayload, PayloadSA, "transform last-substruc %d disagrees with length", tlast)
			}
			tr := Transform{Type: TransformType(t[4]), ID: binary.BigEndian.Uint16(t[6:])}
			attrs := t[8:tlen]
			for len(attrs) > 0 {
				if len(attrs) < 4 {
					return nil, errf(ReasonPayload, PayloadSA, "truncated attribute")
				}
				at := binary.BigEndian.Uint16(attrs)
				if at&0x8000 != 0 { // TV
					if at&0x7fff == AttrKeyLength {
						tr.KeyLength = binary.BigEndian.Uint16(attrs[2:])
					} else {
						tr.UnknownAttrs = true
					}
					attrs = attrs[4:]
					continue
				}
				alen := int(binary.BigEndian.Uint16(attrs[2:]))
				if 4+alen > len(attrs) {
					return nil, errf(ReasonPayload, PayloadSA, "attribute length %d beyond transform", alen)
				}
				tr.UnknownAttrs = true
				attrs = attrs[4+alen:]
			}
			pr.Transforms = append(pr.Transforms, tr)
			t = t[tlen:]
		}
		if len(pr.Transforms) != ntrans {
			return nil, errf(ReasonPayload, PayloadSA, "proposal %d announces %d transforms, has %d", pr.Num, ntrans, len(pr.Transforms))
		}
		sa.Proposals = append(sa.Proposals, pr)
	}
	if len(sa.Proposals) == 0 {
		return nil, errf(ReasonPayload, PayloadSA, "no proposals")
	}
	return sa, nil
}

func decodeNotify(body []byte) (*Notify, error) {
	if len(body) < 4 {
		return nil, errf(ReasonPayload, PayloadNotify, "notify body of %d bytes", len(body))
	}
	spiSize := int(body[1])
	if 4+spiSize > len(body) {
		return nil, errf(ReasonPayload, PayloadNotify, "SPI size %d beyond notify", spiSize)
	}
	return &Notify{
		Protocol: ProtocolID(body[0]),
		NType:    NotifyType(binary.BigEndian.Uint16(body[2:])),
		SPI:      clone(body[4 : 4+spiSize]),
		Data:     clone(body[4+spiSize:]),
	}, nil
}

func decodeDelete(body []byte) (*Delete, error) {
	if len(body) < 4 {
		return nil, errf(ReasonPayload, PayloadDelete, "delete body of %d bytes", len(body))
	}
	d := &Delete{Protocol: ProtocolID(body[0])}
	size, n := int(body[1]), int(binary.BigEndian.Uint16(body[2:]))
	switch d.Protocol {
	case ProtoIKE:
		if size != 0 || n != 0 || len(body) != 4 {
			return nil, errf(ReasonPayload, PayloadDelete, "IKE delete with SPIs")
		}
	case ProtoESP, ProtoAH:
		if size != 4 || len(body) != 4+4*n {
			return nil, errf(ReasonPayload, PayloadDelete, "%v delete: SPI size %d, %d SPIs in %d bytes", d.Protocol, size, n, len(body)-4)
		}
		for i := 0; i < n; i++ {
			d.SPIs = append(d.SPIs, binary.BigEndian.Uint32(body[4+4*i:]))
		}
	default:
		return nil, errf(ReasonPayload, PayloadDelete, "delete of protocol %d", body[0])
	}
	return d, nil
}

func decodeTS(t PayloadType, body []byte) (*TS, error) {
	if len(body) < 4 {
		return nil, errf(ReasonPayload, t, "TS body of %d bytes", len(body))
	}
	ts := &TS{Responder: t == PayloadTSr}
	n := int(body[0])
	b := body[4:]
	for i := 0; i < n; i++ {
		if len(b) < 8 {
			return nil, errf(ReasonPayload, t, "truncated selector %d", i)
		}
		typ, slen := TSType(b[0]), int(binary.BigEndian.Uint16(b[2:]))
		if slen < 8 || slen > len(b) {
			return nil, errf(ReasonPayload, t, "selector length %d of %d", slen, len(b))
		}
		s := Selector{IPProto: b[1], StartPort: binary.BigEndian.Uint16(b[4:]), EndPort: binary.BigEndian.Uint16(b[6:])}
		switch {
		case typ == TSIPv4Range && slen == 16:
			s.Start = netip.AddrFrom4([4]byte(b[8:12]))
			s.End = netip.AddrFrom4([4]byte(b[12:16]))
		case typ == TSIPv6Range && slen == 40:
			s.Start = netip.AddrFrom16([16]byte(b[8:24]))
			s.End = netip.AddrFrom16([16]byte(b[24:40]))
		default:
			return nil, errf(ReasonPayload, t, "selector type %d of length %d", typ, slen)
		}
		ts.Selectors = append(ts.Selectors, s)
		b = b[slen:]
	}
	if len(b) != 0 {
		return nil, errf(ReasonPayload, t, "%d bytes after %d selectors", len(b), n)
	}
	if n == 0 {
		return nil, errf(ReasonPayload, t, "no selectors")
	}
	return ts, nil
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}
