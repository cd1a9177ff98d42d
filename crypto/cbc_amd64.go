//go:build amd64 && !purego

package crypto

import "unsafe"

// aesECBEncrypt encrypts len(blocks)/16 blocks in place (len a multiple
// of 16).
//
//go:noescape
func aesECBEncrypt(k *aesRoundKeys, blocks []byte)

// cbcDecryptAVX512 decrypts ivData[16:] in place in CBC mode under the
// decryption keys dk, ivData[:16] being the IV (as in an ESP packet).
//
//go:noescape
func cbcDecryptAVX512(dk *aesRoundKeys, ivData []byte)

// cbcEncryptMB encrypts blocks 16-byte blocks in place in CBC mode in each
// of 16 lanes: lane i at ptrs[i], chaining from chain[i], which receives the
// last ciphertext block.
//
//go:noescape
func cbcEncryptMB(k *aesRoundKeys, chain *[16][16]byte, ptrs *[16]unsafe.Pointer, blocks int)
