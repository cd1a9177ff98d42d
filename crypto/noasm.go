//go:build !amd64 || purego

package crypto

import "unsafe"

// Without the AVX-512 code (other platforms, the purego tag) hasAVX512 is
// false and nothing calls the stubs below.
const hasAVX512 = false

func gcmAesAVX512(k *gcmKey, jobs *gcmJob, n int, open bool) {
	panic("crypto: no AVX-512 AES-GCM on this platform")
}

func mbCompress(kind hashKind, st *mbState, ptrs *[mbMaxLane]unsafe.Pointer, blocks int) {
	panic("crypto: no multi-buffer hashing on this platform")
}

func aesECBEncrypt(k *aesRoundKeys, blocks []byte) {
	panic("crypto: no AVX-512 AES on this platform")
}

func cbcDecryptAVX512(dk *aesRoundKeys, ivData []byte) {
	panic("crypto: no AVX-512 AES on this platform")
}

func cbcEncryptMB(k *aesRoundKeys, chain *[16][16]byte, ptrs *[16]unsafe.Pointer, blocks int) {
	panic("crypto: no AVX-512 AES on this platform")
}
