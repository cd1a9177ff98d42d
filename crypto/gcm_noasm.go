//go:build !amd64 || purego

package crypto

const hasAVX512 = false

func gcmAesAVX512(k *gcmKey, j0 *[16]byte, aad1, aad2, data []byte, tag *[16]byte, open bool) {
	panic("crypto: no AVX-512 AES-GCM on this platform")
}
