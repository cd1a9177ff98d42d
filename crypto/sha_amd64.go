//go:build amd64 && !purego

package crypto

import "unsafe"

// sha256x16 runs the SHA-256 compression function over blocks consecutive
// 64-byte blocks of 16 messages, lane i reading from ptrs[i] and chaining
// from st[i] (the eight words, updated).
//
//go:noescape
func sha256x16(st *[16][8]uint32, ptrs *[16]unsafe.Pointer, blocks int)

// sha1x16 is sha256x16 for SHA-1 (five words of eight used).
//
//go:noescape
func sha1x16(st *[16][8]uint32, ptrs *[16]unsafe.Pointer, blocks int)

// md5x16 is sha256x16 for MD5 (four words of eight used).
//
//go:noescape
func md5x16(st *[16][8]uint32, ptrs *[16]unsafe.Pointer, blocks int)

// sha512x8 is sha256x16 for SHA-512 and SHA-384: 8 lanes of 64-bit words,
// 128-byte blocks.
//
//go:noescape
func sha512x8(st *[8][8]uint64, ptrs *[8]unsafe.Pointer, blocks int)

// mbCompress runs the kernel of hash kind over the transposed state st.
func mbCompress(kind hashKind, st *mbState, ptrs *[mbMaxLane]unsafe.Pointer, blocks int) {
	switch kind {
	case hashMD5:
		md5x16(st.lanes32(), ptrs, blocks)
	case hashSHA1:
		sha1x16(st.lanes32(), ptrs, blocks)
	case hashSHA256:
		sha256x16(st.lanes32(), ptrs, blocks)
	default:
		sha512x8(&st.w64, (*[8]unsafe.Pointer)(ptrs[:8]), blocks)
	}
}
