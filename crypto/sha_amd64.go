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
