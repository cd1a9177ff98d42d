package isakmp

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecode feeds arbitrary datagrams to Parse and, for the plaintext of
// encrypted messages, to DecodePayloads: every input must decode or fail
// with an *Error, and whatever decodes must re-encode to a message that
// decodes to the same payloads. The seed corpus in testdata/fuzz holds
// messages strongSwan sent in the interop tests.
func FuzzDecode(f *testing.F) {
	m := sample()
	m.Next = FirstType(m.Payloads)
	f.Add(m.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is no *Error", err, err)
			}
			return
		}
		if m.Encrypted() {
			// Treat the body as if it were plaintext: the same decoder runs
			// on what decryption returns.
			if err := m.DecodePayloads(m.Body); err != nil {
				return
			}
		}
		again, err := Parse((&Message{Header: m.Header, Payloads: m.Payloads}).Encode())
		if err != nil {
			t.Fatalf("re-encoded message does not parse: %v", err)
		}
		if len(again.Payloads) != len(m.Payloads) {
			t.Fatalf("%d payloads, then %d", len(m.Payloads), len(again.Payloads))
		}
		for i := range m.Payloads {
			if !bytes.Equal(Body(m.Payloads[i]), Body(again.Payloads[i])) {
				t.Fatalf("payload %d changed on re-encoding", i)
			}
		}
	})
}
