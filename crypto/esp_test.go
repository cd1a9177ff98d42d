package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
)

// allTransforms lists every ESP transform with every key size.
func allTransforms() []Transform {
	var ts []Transform
	integs := []Integ{IntegHMACMD5_96, IntegHMACSHA1_96, IntegHMACSHA256_128, IntegHMACSHA384_192, IntegHMACSHA512_256}
	for _, c := range []Cipher{CipherAESGCM16, CipherAESGMAC, CipherChaCha20Poly1305, CipherAESCBC, Cipher3DES, CipherDES, CipherNull} {
		bits := c.KeyBitsAllowed()
		if bits == nil {
			bits = []int{0}
		}
		for _, b := range bits {
			if c.AEAD() {
				ts = append(ts, Transform{Cipher: c, KeyBits: b})
				continue
			}
			if c != CipherNull {
				ts = append(ts, Transform{Cipher: c, KeyBits: b}) // encryption only
			}
			for _, i := range integs {
				ts = append(ts, Transform{Cipher: c, KeyBits: b, Integ: i})
			}
		}
	}
	return ts
}

// randKeys returns random keys for t that DES and 3DES accept.
func randKeys(r *rand.Rand, t Transform) (ck, ik []byte) {
	ck = make([]byte, t.Cipher.KeyLen(t.KeyBits))
	for i := range ck {
		ck[i] = byte(r.Uint32())
	}
	ik = make([]byte, t.Integ.KeyLen())
	for i := range ik {
		ik[i] = byte(r.Uint32())
	}
	if len(ik) == 0 {
		ik = nil
	}
	return ck, ik
}

func newTestESP(t testing.TB, r *rand.Rand, tr Transform, esn bool) *ESP {
	t.Helper()
	for {
		ck, ik := randKeys(r, tr)
		sa, err := NewESP(tr, ck, ik, esn)
		if err == nil {
			return sa
		}
		if tr.Cipher != CipherDES && tr.Cipher != Cipher3DES {
			t.Fatal(err)
		}
	}
}

// buildPacket lays out an ESP packet as the fast path does: header,
// room for the IV, payload, RFC 4303 padding 1, 2, 3..., pad length, next
// header, room for the ICV.
func buildPacket(sa *ESP, spi, seq uint32, payload []byte, nextHdr byte) []byte {
	pad := sa.PadLen(len(payload))
	pkt := make([]byte, sa.HeaderLen()+len(payload)+pad+2+sa.ICVLen())
	binary.BigEndian.PutUint32(pkt[0:], spi)
	binary.BigEndian.PutUint32(pkt[4:], seq)
	p := pkt[sa.HeaderLen():]
	copy(p, payload)
	for i := range pad {
		p[len(payload)+i] = byte(i + 1)
	}
	p[len(payload)+pad] = byte(pad)
	p[len(payload)+pad+1] = nextHdr
	return pkt
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// forEachPath runs f once for every implementation this machine can run,
// so that every test covers the reference and the accelerated code alike.
func forEachPath(t *testing.T, f func(t *testing.T)) {
	for _, p := range testPaths() {
		t.Run(p.name, func(t *testing.T) {
			defer p.set()()
			f(t)
		})
	}
}

var payloadLens = []int{0, 1, 2, 3, 13, 14, 15, 16, 17, 31, 32, 33, 50, 63, 64, 65, 127, 128, 200, 255, 256, 257, 511, 562, 1000, 1386, 1486, 4000}

func TestESPRoundTrip(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for _, tr := range allTransforms() {
			for _, esn := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/esn=%v", tr, esn), func(t *testing.T) {
					sa := newTestESP(t, r, tr, esn)
					var ops []Op
					var want [][]byte
					for i, n := range payloadLens {
						payload := randBytes(r, n)
						pkt := buildPacket(sa, 0xc0ffee, uint32(i+1), payload, 4)
						want = append(want, bytes.Clone(pkt[sa.HeaderLen():len(pkt)-sa.ICVLen()]))
						ops = append(ops, Op{SA: sa, Pkt: pkt, SeqHi: uint32(i * 3)})
					}
					SealBatch(ops)
					for i := range ops {
						if !ops[i].OK {
							t.Fatalf("seal %d failed", payloadLens[i])
						}
						body := ops[i].Pkt[sa.HeaderLen() : len(ops[i].Pkt)-sa.ICVLen()]
						if tr.Cipher != CipherNull && tr.Cipher != CipherAESGMAC && len(body) >= 8 && bytes.Equal(body, want[i]) {
							t.Fatalf("seal %d left the payload in clear", payloadLens[i])
						}
					}
					OpenBatch(ops)
					for i := range ops {
						if !ops[i].OK {
							t.Fatalf("open %d failed", payloadLens[i])
						}
						body := ops[i].Pkt[sa.HeaderLen() : len(ops[i].Pkt)-sa.ICVLen()]
						if !bytes.Equal(body, want[i]) {
							t.Fatalf("payload %d differs after the round trip", payloadLens[i])
						}
					}
				})
			}
		}
	})
}

// Every bit of header, IV, ciphertext and ICV is covered by the ICV, and
// with ESN so is the high half of the sequence number: any change fails.
func TestESPTamper(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, tr := range allTransforms() {
			if !tr.Cipher.AEAD() && tr.Integ == IntegNone {
				continue
			}
			for _, esn := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/esn=%v", tr, esn), func(t *testing.T) {
					sa := newTestESP(t, r, tr, esn)
					for _, n := range []int{0, 13, 50, 300} {
						sealed := buildPacket(sa, 0x1234, 99, randBytes(r, n), 41)
						ops := []Op{{SA: sa, Pkt: sealed, SeqHi: 7}}
						SealBatch(ops)
						// One op per flipped bit, all in one batch.
						ops = ops[:0]
						for bit := range 8 * len(sealed) {
							if n == 300 && bit%7 != 0 {
								continue // a sample of the long packet
							}
							pkt := bytes.Clone(sealed)
							pkt[bit/8] ^= 1 << (bit % 8)
							ops = append(ops, Op{SA: sa, Pkt: pkt, SeqHi: 7})
						}
						OpenBatch(ops)
						for i := range ops {
							if ops[i].OK {
								t.Fatalf("len %d: tampered packet %d accepted", n, i)
							}
						}
						// Truncated and extended packets fail too.
						for _, d := range []int{-1, -4, -sa.ICVLen(), 1, 4} {
							if len(sealed)+d < 0 {
								continue
							}
							pkt := make([]byte, len(sealed)+d)
							copy(pkt, sealed)
							ops := []Op{{SA: sa, Pkt: pkt, SeqHi: 7}}
							OpenBatch(ops)
							if ops[0].OK {
								t.Fatalf("len %d: packet of %+d bytes accepted", n, d)
							}
						}
						ops = []Op{{SA: sa, Pkt: bytes.Clone(sealed), SeqHi: 8}}
						OpenBatch(ops)
						if ops[0].OK == esn {
							t.Fatalf("wrong SeqHi: OK=%v with esn=%v", ops[0].OK, esn)
						}
						ops = []Op{{SA: sa, Pkt: bytes.Clone(sealed), SeqHi: 7}}
						OpenBatch(ops)
						if !ops[0].OK {
							t.Fatal("the untouched packet failed")
						}
					}
				})
			}
		}
	})
}

// The packet format of CBC and NULL transforms, checked against a textbook
// construction with the standard library: ciphertext is CBC under the IV
// in the packet, the ICV is the truncated HMAC of SPI, sequence number, IV
// and ciphertext, followed by the ESN high half when ESN is on.
func TestESPCBCFormat(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, tr := range allTransforms() {
			if tr.Cipher.AEAD() {
				continue
			}
			for _, esn := range []bool{false, true} {
				ck, ik := randKeys(r, tr)
				sa, err := NewESP(tr, ck, ik, esn)
				if err != nil {
					continue // a weak DES key
				}
				payload := randBytes(r, 77)
				pkt := buildPacket(sa, 0xabcdef01, 0x01020304, payload, 4)
				clear := bytes.Clone(pkt)
				ops := []Op{{SA: sa, Pkt: pkt, SeqHi: 0x0a0b0c0d}}
				SealBatch(ops)
				hdr, icv := sa.HeaderLen(), sa.ICVLen()
				if tr.Integ != IntegNone {
					kind, _ := tr.Integ.hash()
					m := hmac.New(hashNew[kind], ik)
					m.Write(pkt[:len(pkt)-icv])
					if esn {
						m.Write([]byte{0x0a, 0x0b, 0x0c, 0x0d})
					}
					if want := m.Sum(nil)[:icv]; !bytes.Equal(want, pkt[len(pkt)-icv:]) {
						t.Fatalf("%s esn=%v: ICV %x, want %x", tr, esn, pkt[len(pkt)-icv:], want)
					}
				}
				body := pkt[hdr : len(pkt)-icv]
				if tr.Cipher == CipherNull {
					if !bytes.Equal(pkt[:len(pkt)-icv], clear[:len(pkt)-icv]) {
						t.Fatalf("%s: NULL changed the packet", tr)
					}
					continue
				}
				var b cipher.Block
				switch tr.Cipher {
				case CipherAESCBC:
					b, _ = aes.NewCipher(ck)
				case Cipher3DES:
					b, _ = des.NewTripleDESCipher(ck)
				case CipherDES:
					b, _ = des.NewCipher(ck)
				}
				dec := make([]byte, len(body))
				cipher.NewCBCDecrypter(b, pkt[8:hdr]).CryptBlocks(dec, body)
				if !bytes.Equal(dec, clear[hdr:len(pkt)-icv]) {
					t.Fatalf("%s: CBC ciphertext does not decrypt under the packet's IV", tr)
				}
			}
		}
	})
}

// IVs never repeat within an SA, differ between two SAs with the same keys
// (a manual SA reinstalled), and for CBC are not the sequence number.
func TestESPIVs(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		for _, tr := range []Transform{
			{Cipher: CipherAESGCM16, KeyBits: 128}, {Cipher: CipherAESGMAC, KeyBits: 256},
			{Cipher: CipherChaCha20Poly1305}, {Cipher: CipherAESCBC, KeyBits: 128, Integ: IntegHMACSHA1_96},
			{Cipher: Cipher3DES, Integ: IntegHMACSHA1_96},
		} {
			ck, ik := randKeys(rand.New(rand.NewPCG(7, 8)), tr)
			a, _ := NewESP(tr, ck, ik, true)
			b, _ := NewESP(tr, ck, ik, true)
			seen := map[string]bool{}
			var ops []Op
			for i := range 64 {
				for _, sa := range []*ESP{a, b} {
					ops = append(ops, Op{SA: sa, Pkt: buildPacket(sa, 1, uint32(i%32), nil, 59), SeqHi: uint32(i / 32)})
				}
			}
			SealBatch(ops)
			for _, op := range ops {
				iv := string(op.Pkt[8:op.SA.HeaderLen()])
				if seen[iv] {
					t.Fatalf("%s: IV %x repeated", tr, iv)
				}
				seen[iv] = true
				if tr.Cipher == CipherAESCBC && binary.BigEndian.Uint64(op.Pkt[8:]) == seq64(op.Pkt, op.SeqHi) {
					t.Fatalf("%s: CBC IV is the sequence number", tr)
				}
			}
		}
	})
}

func TestESPLayout(t *testing.T) {
	cases := []struct {
		tr                   Transform
		iv, icv, align, over int // overhead for a 50-byte payload
	}{
		{Transform{Cipher: CipherAESGCM16, KeyBits: 128}, 8, 16, 4, 8 + 8 + 0 + 2 + 16},
		{Transform{Cipher: CipherAESGMAC, KeyBits: 128}, 8, 16, 4, 8 + 8 + 0 + 2 + 16},
		{Transform{Cipher: CipherChaCha20Poly1305}, 8, 16, 4, 8 + 8 + 0 + 2 + 16},
		{Transform{Cipher: CipherAESCBC, KeyBits: 256, Integ: IntegHMACSHA256_128}, 16, 16, 16, 8 + 16 + 12 + 2 + 16},
		{Transform{Cipher: Cipher3DES, Integ: IntegHMACSHA1_96}, 8, 12, 8, 8 + 8 + 4 + 2 + 12},
		{Transform{Cipher: CipherDES, Integ: IntegHMACMD5_96}, 8, 12, 8, 8 + 8 + 4 + 2 + 12},
		{Transform{Cipher: CipherNull, Integ: IntegHMACSHA512_256}, 0, 32, 4, 8 + 0 + 0 + 2 + 32},
		{Transform{Cipher: CipherNull, Integ: IntegHMACSHA384_192}, 0, 24, 4, 8 + 0 + 0 + 2 + 24},
	}
	r := rand.New(rand.NewPCG(9, 10))
	for _, c := range cases {
		sa := newTestESP(t, r, c.tr, false)
		if sa.IVLen() != c.iv || sa.ICVLen() != c.icv || sa.Align() != c.align || sa.Overhead(50) != c.over {
			t.Errorf("%s: iv %d icv %d align %d overhead %d", c.tr, sa.IVLen(), sa.ICVLen(), sa.Align(), sa.Overhead(50))
		}
		for n := range 40 {
			if (n+sa.PadLen(n)+2)%c.align != 0 || sa.PadLen(n) >= c.align {
				t.Errorf("%s: PadLen(%d) = %d", c.tr, n, sa.PadLen(n))
			}
		}
		if sa.ValidLen(sa.HeaderLen()+1+sa.ICVLen()) || !sa.ValidLen(sa.HeaderLen()+c.align+sa.ICVLen()) {
			t.Errorf("%s: ValidLen", c.tr)
		}
	}
}

func TestNewESPRejects(t *testing.T) {
	bad := []struct {
		tr     Transform
		ck, ik int
	}{
		{Transform{Cipher: CipherAESGCM16, KeyBits: 128}, 16, 0},                           // no salt
		{Transform{Cipher: CipherAESGCM16, KeyBits: 64}, 12, 0},                            // key size
		{Transform{Cipher: CipherAESGCM16, KeyBits: 128, Integ: IntegHMACSHA1_96}, 20, 20}, // AEAD + integ
		{Transform{Cipher: CipherAESCBC, KeyBits: 128, Integ: IntegHMACSHA1_96}, 16, 16},   // integ key size
		{Transform{Cipher: CipherAESCBC, KeyBits: 128}, 16, 20},                            // integ key without integ
		{Transform{Cipher: CipherNone, Integ: IntegHMACSHA1_96}, 0, 20},                    // no cipher
		{Transform{Cipher: Cipher(99)}, 0, 0},                                              // unknown
		{Transform{Cipher: CipherNull, Integ: Integ(99)}, 0, 0},                            // unknown
		{Transform{Cipher: CipherChaCha20Poly1305, KeyBits: 128}, 36, 0},                   // fixed size
	}
	for _, b := range bad {
		if _, err := NewESP(b.tr, make([]byte, b.ck), make([]byte, b.ik), false); err == nil {
			t.Errorf("%s accepted", b.tr)
		}
	}
	weak := unhex("0101010101010101")
	if _, err := NewESP(Transform{Cipher: CipherDES}, weak, nil, false); err == nil {
		t.Error("weak DES key accepted")
	}
	k := unhex("0123456789abcdef 0123456789abcdef fedcba9876543210")
	if _, err := NewESP(Transform{Cipher: Cipher3DES}, k, nil, false); err == nil {
		t.Error("3DES key with K1 = K2 accepted")
	}
}

// Packets whose length cannot be right fail without touching anything.
func TestESPBadLengths(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	sa := newTestESP(t, r, Transform{Cipher: CipherAESCBC, KeyBits: 128, Integ: IntegHMACSHA1_96}, false)
	for _, n := range []int{0, 7, 8, 24, 36, 37, 51, 52 + 15} {
		pkt := randBytes(r, n)
		orig := bytes.Clone(pkt)
		ops := []Op{{SA: sa, Pkt: pkt}}
		OpenBatch(ops)
		if ops[0].OK || !bytes.Equal(pkt, orig) {
			t.Errorf("open of %d bytes: OK=%v", n, ops[0].OK)
		}
		SealBatch(ops)
		if ops[0].OK || !bytes.Equal(pkt, orig) {
			t.Errorf("seal of %d bytes: OK=%v", n, ops[0].OK)
		}
	}
}

// One batch of packets of every transform and both ESN settings,
// interleaved, some malformed: each packet comes back as it went in, and
// the verdicts match what each SA alone gives.
func TestESPMixedBatch(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(81, 82))
		var sas []*ESP
		for _, tr := range allTransforms() {
			sas = append(sas, newTestESP(t, r, tr, false), newTestESP(t, r, tr, true))
		}
		var ops []Op
		var want [][]byte
		for i := range 600 {
			sa := sas[r.IntN(len(sas))]
			n := r.IntN(1500)
			pkt := buildPacket(sa, uint32(i), uint32(i), randBytes(r, n), 4)
			want = append(want, bytes.Clone(pkt[sa.HeaderLen():len(pkt)-sa.ICVLen()]))
			ops = append(ops, Op{SA: sa, Pkt: pkt, SeqHi: uint32(i % 3)})
		}
		SealBatch(ops)
		for i := range ops {
			if !ops[i].OK {
				t.Fatalf("seal %d failed", i)
			}
		}
		bad := map[int]bool{}
		for i := range ops {
			switch i % 7 {
			case 1: // corrupted: fails where there is an ICV
				if ops[i].SA.ICVLen() > 0 {
					ops[i].Pkt[len(ops[i].Pkt)-1] ^= 1
					bad[i] = true
				}
			case 2: // truncated to no room for a trailer
				ops[i].Pkt = ops[i].Pkt[:ops[i].SA.HeaderLen()+1]
				bad[i] = true
			}
		}
		OpenBatch(ops)
		for i := range ops {
			if ops[i].OK == bad[i] {
				t.Fatalf("op %d (%s): OK=%v", i, ops[i].SA.Transform(), ops[i].OK)
			}
			if bad[i] {
				continue
			}
			sa := ops[i].SA
			if got := ops[i].Pkt[sa.HeaderLen() : len(ops[i].Pkt)-sa.ICVLen()]; !bytes.Equal(got, want[i]) {
				t.Fatalf("op %d (%s): payload differs", i, sa.Transform())
			}
		}
	})
}

// Workers share SA state: batches on the same SAs from several goroutines
// at once (run with -race).
func TestESPConcurrent(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(91, 92))
		sas := []*ESP{
			newTestESP(t, r, Transform{Cipher: CipherAESGCM16, KeyBits: 128}, true),
			newTestESP(t, r, Transform{Cipher: CipherAESCBC, KeyBits: 256, Integ: IntegHMACSHA256_128}, true),
			newTestESP(t, r, Transform{Cipher: CipherChaCha20Poly1305}, false),
		}
		done := make(chan error)
		for w := range 4 {
			go func() {
				r := rand.New(rand.NewPCG(uint64(w), 93))
				for round := range 50 {
					var ops []Op
					var want [][]byte
					for i := range 40 {
						sa := sas[(i+w)%len(sas)]
						pkt := buildPacket(sa, 1, uint32(round*40+i), randBytes(r, r.IntN(600)), 4)
						want = append(want, bytes.Clone(pkt[sa.HeaderLen():len(pkt)-sa.ICVLen()]))
						ops = append(ops, Op{SA: sa, Pkt: pkt, SeqHi: uint32(w)})
					}
					SealBatch(ops)
					OpenBatch(ops)
					for i := range ops {
						sa := ops[i].SA
						if !ops[i].OK || !bytes.Equal(ops[i].Pkt[sa.HeaderLen():len(ops[i].Pkt)-sa.ICVLen()], want[i]) {
							done <- fmt.Errorf("worker %d round %d op %d failed", w, round, i)
							return
						}
					}
				}
				done <- nil
			}()
		}
		for range 4 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	})
}
