//go:build amd64 && !purego

package crypto

import "golang.org/x/sys/cpu"

// hasAVX512 reports the instructions the AVX-512 code paths need: 512-bit
// AES and carry-less multiplication, byte masks, and BZHI for the masks.
var hasAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL &&
	cpu.X86.HasAVX512VAES && cpu.X86.HasAVX512VPCLMULQDQ && cpu.X86.HasBMI2

// gcmAesAVX512 runs AES-GCM under k over each of n jobs: GHASH of aad1 and
// aad2, CTR encryption (or, with open, decryption) of data in place, GHASH
// of the ciphertext and the length block; tag receives the full tag.
//
//go:noescape
func gcmAesAVX512(k *gcmKey, jobs *gcmJob, n int, open bool)
