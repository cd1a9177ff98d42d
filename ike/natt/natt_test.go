package natt

import (
	"bytes"
	"testing"
)

func TestFrameSplit(t *testing.T) {
	msg := []byte{1, 2, 3, 4, 5}
	b := Frame(msg)
	if !bytes.Equal(b, []byte{0, 0, 0, 0, 1, 2, 3, 4, 5}) {
		t.Fatalf("Frame: % x", b)
	}
	if got, k := Split(b); k != IKE || !bytes.Equal(got, msg) {
		t.Errorf("Split(Frame(msg)) = % x, %v", got, k)
	}
	for _, c := range []struct {
		b    []byte
		want Kind
	}{
		{[]byte{0xff}, Keepalive},
		{[]byte{0, 0, 0, 1, 9}, ESP}, // an SPI, not a marker
		{[]byte{0, 0, 0}, ESP},       // too short for a marker
		{nil, ESP},
		{[]byte{0, 0, 0, 0}, IKE},
	} {
		if _, k := Split(c.b); k != c.want {
			t.Errorf("Split(% x) = %v, want %v", c.b, k, c.want)
		}
	}
}
