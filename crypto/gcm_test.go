package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// FIPS 197 Appendix A: the last round key of each example expansion.
func TestExpandKey(t *testing.T) {
	for _, c := range []struct{ key, last string }{
		{"2b7e151628aed2a6abf7158809cf4f3c", "d014f9a8c9ee2589e13f0cc8b6630ca6"},
		{"8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b", "e98ba06f448c773c8ecc720401002202"},
		{"603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", "fe4890d1e6188d0b046df344706c631e"},
	} {
		k := expandKey(unhex(c.key))
		if got := hex.EncodeToString(k.rk[k.nr][:]); got != c.last {
			t.Errorf("key %s: last round key %s, want %s", c.key, got, c.last)
		}
	}
}

// The assembly GCM against the standard library on random keys, AAD
// splits and lengths, sealing and opening.
func TestGCMAsmVsStdlib(t *testing.T) {
	if !hasAVX512 {
		t.Skip("no AVX-512 VAES/VPCLMULQDQ on this CPU")
	}
	r := rand.New(rand.NewPCG(31, 32))
	lens := []int{0, 1, 8, 12, 15, 16, 17, 31, 32, 48, 63, 64, 65, 100, 127, 128, 129, 191, 192, 193, 240, 255, 256, 257, 300, 511, 512, 513, 1000, 1388, 1500, 4097}
	for iter := range 400 {
		key := randBytes(r, []int{16, 24, 32}[iter%3])
		k := newGCMKey(key)
		b, _ := aes.NewCipher(key)
		ref, _ := cipher.NewGCM(b)
		nonce := randBytes(r, 12)
		var j0 [16]byte
		copy(j0[:], nonce)
		j0[15] = 1
		n := lens[r.IntN(len(lens))]
		var aad1, aad2 []byte
		switch iter % 4 {
		case 0:
			aad1 = randBytes(r, []int{0, 8, 12}[r.IntN(3)])
		case 1:
			aad1, aad2 = randBytes(r, 16), randBytes(r, lens[r.IntN(len(lens))])
		case 2:
			aad2 = randBytes(r, lens[r.IntN(len(lens))])
		case 3:
			aad1 = randBytes(r, 16*r.IntN(20))
			aad2 = randBytes(r, r.IntN(100))
		}
		aad := append(append([]byte(nil), aad1...), aad2...)
		plain := randBytes(r, n)
		want := ref.Seal(nil, nonce, plain, aad)

		data := bytes.Clone(plain)
		var tag [16]byte
		k.seal(&j0, aad1, aad2, data, &tag)
		if !bytes.Equal(data, want[:n]) || !bytes.Equal(tag[:], want[n:]) {
			t.Fatalf("iter %d: key %d bytes, aad %d+%d, data %d: seal differs", iter, len(key), len(aad1), len(aad2), n)
		}
		if !k.open(&j0, aad1, aad2, data, want[n:]) || !bytes.Equal(data, plain) {
			t.Fatalf("iter %d: open failed", iter)
		}
		copy(data, want[:n])
		if n > 0 {
			data[r.IntN(n)] ^= 1 << r.IntN(8)
		} else {
			aad = append(aad, 0)
			aad1, aad2 = aad, nil
		}
		if k.open(&j0, aad1, aad2, data, want[n:]) {
			t.Fatalf("iter %d: tampered open succeeded", iter)
		}
	}
}

// TestTagEqual: every single-bit difference anywhere in the tag is caught.
func TestTagEqual(t *testing.T) {
	var a [16]byte
	for i := range a {
		a[i] = byte(i*37 + 5)
	}
	if b := a; !tagEqual(&a, &b) {
		t.Fatal("equal tags rejected")
	}
	for bit := range 128 {
		b := a
		b[bit/8] ^= 1 << (bit % 8)
		if tagEqual(&a, &b) {
			t.Fatalf("tags differing in bit %d accepted", bit)
		}
	}
}
