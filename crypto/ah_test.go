package crypto

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

var allIntegs = []Integ{IntegHMACMD5_96, IntegHMACSHA1_96, IntegHMACSHA256_128, IntegHMACSHA384_192, IntegHMACSHA512_256}

func TestAHRoundTripAndTamper(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(21, 22))
		for _, integ := range allIntegs {
			for _, esn := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/esn=%v", integ, esn), func(t *testing.T) {
					a, err := NewAH(integ, randBytes(r, integ.KeyLen()), esn)
					if err != nil {
						t.Fatal(err)
					}
					var ops []AHOp
					for _, n := range []int{0, 1, 40, 55, 56, 63, 64, 65, 111, 112, 119, 120, 128, 500, 1500} {
						ops = append(ops, AHOp{SA: a, Msg: randBytes(r, n), ICV: make([]byte, a.ICVLen()), SeqHi: uint32(n)})
					}
					AHSealBatch(ops)
					for i := range ops {
						if !ops[i].OK {
							t.Fatal("seal failed")
						}
					}
					AHOpenBatch(ops)
					for i := range ops {
						if !ops[i].OK {
							t.Fatalf("verify of %d bytes failed", len(ops[i].Msg))
						}
					}
					for i := range ops {
						op := ops[i]
						var bad []AHOp
						for bit := range 8 * (len(op.Msg) + len(op.ICV)) {
							if bit%5 != 0 {
								continue
							}
							m, icv := bytes.Clone(op.Msg), bytes.Clone(op.ICV)
							if bit < 8*len(m) {
								m[bit/8] ^= 1 << (bit % 8)
							} else {
								b := bit - 8*len(m)
								icv[b/8] ^= 1 << (b % 8)
							}
							bad = append(bad, AHOp{SA: a, Msg: m, ICV: icv, SeqHi: op.SeqHi})
						}
						bad = append(bad, AHOp{SA: a, Msg: op.Msg, ICV: op.ICV[:len(op.ICV)-1], SeqHi: op.SeqHi})
						if esn {
							bad = append(bad, AHOp{SA: a, Msg: op.Msg, ICV: op.ICV, SeqHi: op.SeqHi + 1})
						}
						AHOpenBatch(bad)
						for j := range bad {
							if bad[j].OK {
								t.Fatalf("len %d: tampered op %d accepted", len(op.Msg), j)
							}
						}
					}
				})
			}
		}
	})
}

func TestAHICVFieldLen(t *testing.T) {
	want := map[Integ][2]int{ // IPv4, IPv6
		IntegHMACMD5_96:     {12, 12},
		IntegHMACSHA1_96:    {12, 12},
		IntegHMACSHA256_128: {16, 20},
		IntegHMACSHA384_192: {24, 28},
		IntegHMACSHA512_256: {32, 36},
	}
	for integ, w := range want {
		a, err := NewAH(integ, make([]byte, integ.KeyLen()), false)
		if err != nil {
			t.Fatal(err)
		}
		if a.ICVFieldLen(false) != w[0] || a.ICVFieldLen(true) != w[1] {
			t.Errorf("%s: %d, %d", integ, a.ICVFieldLen(false), a.ICVFieldLen(true))
		}
	}
	if _, err := NewAH(IntegNone, nil, false); err == nil {
		t.Error("AH without integrity accepted")
	}
	if _, err := NewAH(IntegHMACSHA1_96, make([]byte, 16), false); err == nil {
		t.Error("short key accepted")
	}
	if _, err := NewAH(Integ(99), make([]byte, 16), false); err == nil {
		t.Error("unknown algorithm accepted")
	}
}

// The batch calls allocate nothing per packet or per batch.
func TestBatchAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	forEachPath(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(23, 24))
		var ops []Op
		for _, tr := range allTransforms() {
			if tr.Cipher == CipherChaCha20Poly1305 && !xChaChaAsm {
				continue // x/crypto's generic ChaCha20-Poly1305 allocates inside
			}
			sa := newTestESP(t, r, tr, true)
			ops = append(ops, Op{SA: sa, Pkt: buildPacket(sa, 1, 1, randBytes(r, 100), 4)})
		}
		if n := testing.AllocsPerRun(20, func() { SealBatch(ops) }); n != 0 {
			t.Errorf("SealBatch: %v allocs", n)
		}
		if n := testing.AllocsPerRun(20, func() { SealBatch(ops); OpenBatch(ops) }); n != 0 {
			t.Errorf("OpenBatch: %v allocs", n)
		}
		a, _ := NewAH(IntegHMACSHA256_128, make([]byte, 32), true)
		ah := []AHOp{{SA: a, Msg: make([]byte, 100), ICV: make([]byte, 16)}}
		if n := testing.AllocsPerRun(20, func() { AHSealBatch(ah); AHOpenBatch(ah) }); n != 0 {
			t.Errorf("AH: %v allocs", n)
		}
	})
}

// Printing an SA shows its transform, never key material.
func TestSAStringHidesKeys(t *testing.T) {
	key := bytes.Repeat([]byte{0xab}, 36)
	sa, _ := NewESP(Transform{Cipher: CipherAESGCM16, KeyBits: 256}, key, nil, true)
	a, _ := NewAH(IntegHMACSHA256_128, key[:32], false)
	for _, s := range []string{fmt.Sprintf("%v %+v %#v %s", sa, sa, sa, sa), fmt.Sprintf("%v %+v %#v", a, a, a)} {
		if strings.Contains(strings.ToLower(s), "ab") || strings.Contains(s, "171") {
			t.Errorf("key material printed: %s", s)
		}
	}
	if got := fmt.Sprint(sa); got != "ESP aes-gcm-256 esn" {
		t.Errorf("String() = %q", got)
	}
}
