package crypto

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// fuzzSAs are one SA per transform and ESN setting, with fixed keys, built
// once per implementation.
func fuzzSAs(t testing.TB) map[string][]*ESP {
	out := map[string][]*ESP{}
	for _, p := range testPaths() {
		restore := p.set()
		r := rand.New(rand.NewPCG(41, 42))
		for _, tr := range allTransforms() {
			for _, esn := range []bool{false, true} {
				out[p.name] = append(out[p.name], newTestESP(t, r, tr, esn))
			}
		}
		restore()
	}
	return out
}

// FuzzOpen feeds arbitrary bytes as a received ESP packet to every
// transform: OpenBatch must never panic, and every implementation must reach
// the same verdict and, when it accepts, the same plaintext.
func FuzzOpen(f *testing.F) {
	sas := fuzzSAs(f)
	ref := sas["ref"]
	r := rand.New(rand.NewPCG(43, 44))
	for i, sa := range ref {
		pkt := buildPacket(sa, 0x101, uint32(i), randBytes(r, i%70), 4)
		ops := []Op{{SA: sa, Pkt: pkt, SeqHi: 1}}
		SealBatch(ops)
		f.Add(pkt, uint8(i), uint32(1))
	}
	f.Add([]byte{}, uint8(0), uint32(0))
	f.Add(make([]byte, 40), uint8(3), uint32(0))
	f.Fuzz(func(t *testing.T, pkt []byte, sel uint8, seqHi uint32) {
		i := int(sel) % len(ref)
		open := func(sa *ESP) ([]byte, bool) {
			p := bytes.Clone(pkt)
			ops := []Op{{SA: sa, Pkt: p, SeqHi: seqHi}}
			OpenBatch(ops)
			return p, ops[0].OK
		}
		want, wantOK := open(ref[i])
		for name, list := range sas {
			if got, ok := open(list[i]); ok != wantOK || ok && !bytes.Equal(got, want) {
				t.Fatalf("%s: OK=%v, reference OK=%v", name, ok, wantOK)
			}
		}
	})
}
