//go:build amd64 && !purego

package crypto

import "unsafe"

// sha256x16 runs the SHA-256 compression function over blocks consecutive
// 64-byte blocks of 16 messages, lane i reading from ptrs[i]; st holds the
// 16 chaining values transposed (st[w][i] is word w of lane i).
//
//go:noescape
func sha256x16(st *[8][16]uint32, ptrs *[16]unsafe.Pointer, blocks int)

// sha1x16 is sha256x16 for SHA-1.
//
//go:noescape
func sha1x16(st *[5][16]uint32, ptrs *[16]unsafe.Pointer, blocks int)

// md5x16 is sha256x16 for MD5.
//
//go:noescape
func md5x16(st *[4][16]uint32, ptrs *[16]unsafe.Pointer, blocks int)

// sha512x8 is sha256x16 for SHA-512 and SHA-384: 8 lanes of 64-bit words,
// 128-byte blocks.
//
//go:noescape
func sha512x8(st *[8][8]uint64, ptrs *[8]unsafe.Pointer, blocks int)

// mbCompress runs the kernel of hash kind over the transposed state st.
func mbCompress(kind hashKind, st *[64]uint64, ptrs *[mbMaxLane]unsafe.Pointer, blocks int) {
	p := unsafe.Pointer(st)
	switch kind {
	case hashMD5:
		md5x16((*[4][16]uint32)(p), ptrs, blocks)
	case hashSHA1:
		sha1x16((*[5][16]uint32)(p), ptrs, blocks)
	case hashSHA256:
		sha256x16((*[8][16]uint32)(p), ptrs, blocks)
	default:
		sha512x8((*[8][8]uint64)(p), (*[8]unsafe.Pointer)(ptrs[:8]), blocks)
	}
}
