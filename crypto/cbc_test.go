package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// The AES-CBC and ECB assembly against the standard library.
func TestCBCAsmVsStdlib(t *testing.T) {
	if !hasAVX512 {
		t.Skip("no AVX-512 VAES on this CPU")
	}
	r := rand.New(rand.NewPCG(71, 72))
	for _, kl := range []int{16, 24, 32} {
		key := randBytes(r, kl)
		b, _ := aes.NewCipher(key)
		enc := expandKey(key)
		dec := enc.decryptionKeys()
		for _, nb := range []int{1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 15, 16, 17, 31, 32, 33, 60, 87, 100} {
			// ECB
			blocks := randBytes(r, 16*nb)
			want := make([]byte, len(blocks))
			for i := 0; i < len(blocks); i += 16 {
				b.Encrypt(want[i:], blocks[i:i+16])
			}
			aesECBEncrypt(&enc, blocks)
			if !bytes.Equal(blocks, want) {
				t.Fatalf("ECB key %d blocks %d", kl, nb)
			}
			// CBC decrypt in place with the IV in front.
			iv, plain := randBytes(r, 16), randBytes(r, 16*nb)
			ct := make([]byte, len(plain))
			cipher.NewCBCEncrypter(b, iv).CryptBlocks(ct, plain)
			buf := append(append([]byte(nil), iv...), ct...)
			cbcDecryptAVX512(&dec, buf)
			if !bytes.Equal(buf[16:], plain) || !bytes.Equal(buf[:16], iv) {
				t.Fatalf("CBC decrypt key %d blocks %d", kl, nb)
			}
		}
		// CBC encrypt, 16 lanes of different lengths in two steps.
		var chain [16][16]byte
		var ptrs [16]unsafe.Pointer
		var plains, bufs [16][]byte
		var ivs [16][]byte
		for l := range 16 {
			ivs[l] = randBytes(r, 16)
			copy(chain[l][:], ivs[l])
			plains[l] = randBytes(r, 16*9)
			bufs[l] = bytes.Clone(plains[l])
			ptrs[l] = unsafe.Pointer(&bufs[l][0])
		}
		cbcEncryptMB(&enc, &chain, &ptrs, 4)
		for l := range 16 {
			ptrs[l] = unsafe.Pointer(&bufs[l][64])
		}
		cbcEncryptMB(&enc, &chain, &ptrs, 5)
		for l := range 16 {
			want := make([]byte, len(plains[l]))
			cipher.NewCBCEncrypter(b, ivs[l]).CryptBlocks(want, plains[l])
			if !bytes.Equal(bufs[l], want) || !bytes.Equal(chain[l][:], want[len(want)-16:]) {
				t.Fatalf("CBC encrypt key %d lane %d", kl, l)
			}
		}
	}
}
