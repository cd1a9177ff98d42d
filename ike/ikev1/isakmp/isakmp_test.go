package isakmp

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

// sample is a main-mode-like message with every payload type.
func sample() *Message {
	return &Message{
		Header: Header{ICookie: 0x0102030405060708, Exchange: ExchangeMain, MessageID: 0},
		Payloads: []Payload{
			&SA{DOI: DOIIPsec, Situation: SituationIdentityOnly, Proposals: []Proposal{
				{Number: 1, Protocol: ProtoISAKMP, Transforms: []Transform{
					{Number: 1, ID: TransformKeyIKE, Attrs: []Attribute{
						BasicAttr(AttrEncryption, EncrAESCBC), BasicAttr(AttrKeyLength, 256),
						BasicAttr(AttrHash, HashSHA1), UintAttr(AttrLifeDuration, 86400),
					}},
					{Number: 2, ID: TransformKeyIKE, Attrs: []Attribute{BasicAttr(AttrEncryption, Encr3DES)}},
				}},
				{Number: 1, Protocol: ProtoESP, SPI: []byte{1, 2, 3, 4}, Transforms: []Transform{{Number: 1, ID: ESPAESCBC}}},
			}},
			&KE{Data: bytes.Repeat([]byte{7}, 128)},
			&Nonce{Data: bytes.Repeat([]byte{9}, 32)},
			&ID{IDType: IDIPv4AddrSubnet, Proto: 6, Port: 443, Data: []byte{10, 0, 0, 0, 255, 255, 255, 0}},
			&Hash{Data: bytes.Repeat([]byte{3}, 20)},
			&Notification{DOI: DOIIPsec, Protocol: ProtoISAKMP, SPI: bytes.Repeat([]byte{1}, 16), NType: RUThere, Data: []byte{0, 0, 0, 5}},
			&Delete{DOI: DOIIPsec, Protocol: ProtoESP, SPISize: 4, SPIs: [][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}}},
			&VendorID{Data: []byte("vendor")},
			&NATD{Data: bytes.Repeat([]byte{4}, 20)},
			&NATOA{IDType: IDIPv4Addr, Addr: netip.MustParseAddr("192.0.2.1")},
			&Unknown{PType: 130, Body: []byte{1, 2}},
		},
	}
}

func TestRoundTrip(t *testing.T) {
	m := sample()
	m.Next = FirstType(m.Payloads)
	b := m.Encode()
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Payloads, m.Payloads) {
		t.Errorf("payloads differ:\n got %#v\nwant %#v", got.Payloads, m.Payloads)
	}
	if got.ICookie != m.ICookie || got.Exchange != ExchangeMain || int(got.Length) != len(b) {
		t.Errorf("header %+v", got.Header)
	}
	if again := got.Encode(); !bytes.Equal(again, b) {
		t.Error("re-encoding differs")
	}
}

func TestAttributeValues(t *testing.T) {
	for _, v := range []uint64{0, 1, 0xffff, 0x10000, 28800000, 1 << 40} {
		a := UintAttr(AttrLifeDuration, v)
		tr := Transform{Attrs: []Attribute{a}}
		b := tr.append(nil, 0)
		got, err := decodeTransform(b)
		if err != nil {
			t.Fatal(err)
		}
		if u, ok := got.Attrs[0].Uint(); !ok || u != v {
			t.Errorf("%d: got %d %v", v, u, ok)
		}
	}
}

// TestEncryptedBody checks that an encrypted message keeps its body and that
// padding after the last payload is ignored.
func TestEncryptedBody(t *testing.T) {
	ps := []Payload{&Hash{Data: make([]byte, 20)}, &ID{IDType: IDIPv4Addr, Data: []byte{192, 0, 2, 1}}}
	plain := EncodePayloads(nil, ps)
	plain = append(plain, make([]byte, 16-len(plain)%16)...)
	h := Header{ICookie: 1, RCookie: 2, Next: PayloadHash, Exchange: ExchangeMain, Flags: FlagEncryption}
	m, err := Parse(Seal(&h, plain))
	if err != nil {
		t.Fatal(err)
	}
	if m.Payloads != nil || !bytes.Equal(m.Body, plain) {
		t.Fatal("encrypted body decoded or altered")
	}
	if err := m.DecodePayloads(m.Body); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.Payloads, ps) {
		t.Errorf("got %v", m)
	}
}

func TestMalformed(t *testing.T) {
	good := sample()
	good.Next = FirstType(good.Payloads)
	b := good.Encode()
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), b...)) }
	cases := []struct {
		name string
		b    []byte
		want Reason
	}{
		{"short", b[:20], ReasonShort},
		{"version 2", mutate(func(b []byte) []byte { b[17] = 0x20; return b }), ReasonVersion},
		{"length", mutate(func(b []byte) []byte { b[27]++; return b }), ReasonLength},
		{"truncated", b[:len(b)-1], ReasonLength},
		{"payload length", mutate(func(b []byte) []byte { b[HeaderLen+2] = 0xff; return b }), ReasonLength},
		{"SA proposal length", mutate(func(b []byte) []byte { b[HeaderLen+4+8+3] = 3; return b }), ReasonLength},
		{"unknown payload", mutate(func(b []byte) []byte { b[16] = 50; return b }), ReasonUnknown},
		{"zero payload length", mutate(func(b []byte) []byte { b[HeaderLen+2], b[HeaderLen+3] = 0, 0; return b }), ReasonLength},
	}
	for _, c := range cases {
		_, err := Parse(c.b)
		var e *Error
		if !errors.As(err, &e) || e.Reason != c.want {
			t.Errorf("%s: got %v, want reason %v", c.name, err, c.want)
		}
	}
}
