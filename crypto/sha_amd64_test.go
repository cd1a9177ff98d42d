//go:build amd64 && !purego

package crypto

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding"
	"encoding/binary"
	"hash"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// mdPad appends Merkle-Damgård padding for a message of total length n
// bytes (big-endian length, 64-byte blocks).
func mdPad(m []byte, n int) []byte {
	m = append(m, 0x80)
	for len(m)%64 != 56 {
		m = append(m, 0)
	}
	return binary.BigEndian.AppendUint64(m, uint64(n)*8)
}

// The kernels against the standard library: 16 padded messages of the same
// block count through each kernel from the initial state.
func TestHashKernels(t *testing.T) {
	if !hasAVX512 {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(51, 52))
	for _, n := range []int{0, 3, 55, 56, 64, 100, 119, 120, 500} {
		var msgs [16][]byte
		var padded [16][]byte
		var ptrs [16]unsafe.Pointer
		for l := range 16 {
			msgs[l] = randBytes(r, n)
			padded[l] = mdPad(append([]byte(nil), msgs[l]...), n)
			ptrs[l] = unsafe.Pointer(&padded[l][0])
		}
		blocks := len(padded[0]) / 64

		var s256 [16][8]uint32
		iv256 := [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}
		var s1 [16][8]uint32
		iv1 := [5]uint32{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0}
		for l := range 16 {
			copy(s256[l][:], iv256[:])
			copy(s1[l][:], iv1[:])
		}
		sha256x16(&s256, &ptrs, blocks)
		sha1x16(&s1, &ptrs, blocks)
		for l := range 16 {
			want256 := sha256.Sum256(msgs[l])
			want1 := sha1.Sum(msgs[l])
			for w := range 8 {
				if binary.BigEndian.Uint32(want256[4*w:]) != s256[l][w] {
					t.Fatalf("sha256 len %d lane %d word %d", n, l, w)
				}
			}
			for w := range 5 {
				if binary.BigEndian.Uint32(want1[4*w:]) != s1[l][w] {
					t.Fatalf("sha1 len %d lane %d word %d", n, l, w)
				}
			}
		}

		// MD5 pads with a little-endian length.
		var s5 [16][8]uint32
		iv5 := [4]uint32{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476}
		for l := range 16 {
			p := padded[l]
			binary.LittleEndian.PutUint64(p[len(p)-8:], uint64(n)*8)
			copy(s5[l][:], iv5[:])
		}
		md5x16(&s5, &ptrs, blocks)
		sha512Lanes(t, r, n)
		for l := range 16 {
			want := md5.Sum(msgs[l])
			for w := range 4 {
				if binary.LittleEndian.Uint32(want[4*w:]) != s5[l][w] {
					t.Fatalf("md5 len %d lane %d word %d", n, l, w)
				}
			}
		}
	}
}

// sha512Lanes checks sha512x8 with SHA-512 and SHA-384 messages of n bytes.
func sha512Lanes(t *testing.T, r *rand.Rand, n int) {
	for _, h := range []func() hash.Hash{sha512.New, sha512.New384} {
		var st [8][8]uint64
		var ptrs [8]unsafe.Pointer
		var msgs [8][]byte
		iv, _ := h().(encoding.BinaryMarshaler).MarshalBinary()
		var blocks int
		for l := range 8 {
			msgs[l] = randBytes(r, n)
			p := append([]byte(nil), msgs[l]...)
			p = append(p, 0x80)
			for len(p)%128 != 112 {
				p = append(p, 0)
			}
			p = binary.BigEndian.AppendUint64(append(p, make([]byte, 8)...), uint64(n)*8)
			blocks = len(p) / 128
			ptrs[l] = unsafe.Pointer(&p[0])
			for w := range 8 {
				st[l][w] = binary.BigEndian.Uint64(iv[4+8*w:])
			}
		}
		sha512x8(&st, &ptrs, blocks)
		for l := range 8 {
			m := h()
			m.Write(msgs[l])
			want := m.Sum(nil)
			for w := range len(want) / 8 {
				if binary.BigEndian.Uint64(want[8*w:]) != st[l][w] {
					t.Fatalf("sha512x8 (%d-byte digest) len %d lane %d word %d", len(want), n, l, w)
				}
			}
		}
	}
}

// Aggregate throughput of the kernels over 16 lanes of 16 blocks.
func BenchmarkHashKernels(b *testing.B) {
	var ptrs [16]unsafe.Pointer
	buf := make([]byte, 16*64*16)
	for l := range 16 {
		ptrs[l] = unsafe.Pointer(&buf[l*64*16])
	}
	b.Run("md5x16", func(b *testing.B) {
		var st [16][8]uint32
		b.SetBytes(16 * 64 * 16)
		for range b.N {
			md5x16(&st, &ptrs, 16)
		}
	})
	b.Run("sha1x16", func(b *testing.B) {
		var st [16][8]uint32
		b.SetBytes(16 * 64 * 16)
		for range b.N {
			sha1x16(&st, &ptrs, 16)
		}
	})
	b.Run("sha512x8", func(b *testing.B) {
		var st [8][8]uint64
		var p8 [8]unsafe.Pointer
		copy(p8[:], ptrs[:8])
		b.SetBytes(8 * 128 * 8)
		for range b.N {
			sha512x8(&st, &p8, 8)
		}
	})
	b.Run("sha256x16", func(b *testing.B) {
		var st [16][8]uint32
		b.SetBytes(16 * 64 * 16)
		for range b.N {
			sha256x16(&st, &ptrs, 16)
		}
	})
}
