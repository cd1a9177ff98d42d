package crypto

import "encoding/binary"

// AES key schedules for the assembly paths, which need the round keys
// themselves (the standard library keeps them private). Built once per SA.

// sbox is the AES S-box (FIPS 197 §5.1.1), computed rather than tabled:
// p walks GF(2^8)* by multiplying by 3, q by dividing by 3, so q = 1/p, and
// the S-box entry is the affine transform of q.
var sbox = func() (s [256]byte) {
	rotl := func(x byte, n uint) byte { return x<<n | x>>(8-n) }
	p, q := byte(1), byte(1)
	for {
		if p&0x80 != 0 {
			p ^= p<<1 ^ 0x1b
		} else {
			p ^= p << 1
		}
		q ^= q << 1
		q ^= q << 2
		q ^= q << 4
		if q&0x80 != 0 {
			q ^= 0x09
		}
		s[p] = q ^ rotl(q, 1) ^ rotl(q, 2) ^ rotl(q, 3) ^ rotl(q, 4) ^ 0x63
		if p == 1 {
			break
		}
	}
	s[0] = 0x63
	return s
}()

func subWord(w uint32) uint32 {
	return uint32(sbox[w>>24])<<24 | uint32(sbox[w>>16&0xff])<<16 | uint32(sbox[w>>8&0xff])<<8 | uint32(sbox[w&0xff])
}

// aesRoundKeys is an expanded AES key: nr+1 round keys of 16 bytes in the
// byte order AESENC takes them.
type aesRoundKeys struct {
	rk [15][16]byte
	nr int
}

// expandKey is the AES key expansion of FIPS 197 §5.2 for 16, 24 or
// 32-byte keys.
func expandKey(key []byte) aesRoundKeys {
	nk := len(key) / 4
	nr := nk + 6
	var w [60]uint32
	for i := range nk {
		w[i] = binary.BigEndian.Uint32(key[4*i:])
	}
	rcon := uint32(1)
	for i := nk; i < 4*(nr+1); i++ {
		t := w[i-1]
		switch {
		case i%nk == 0:
			t = subWord(t<<8|t>>24) ^ rcon<<24
			rcon <<= 1
			if rcon&0x100 != 0 {
				rcon ^= 0x11b
			}
		case nk > 6 && i%nk == 4:
			t = subWord(t)
		}
		w[i] = w[i-nk] ^ t
	}
	k := aesRoundKeys{nr: nr}
	for i := range 4 * (nr + 1) {
		binary.BigEndian.PutUint32(k.rk[i/4][4*(i%4):], w[i])
	}
	return k
}

// gfMul multiplies two elements of GCM's GF(2^128) in its bit order (the
// first bit of the block is the coefficient of x^0), each as the two
// big-endian halves of the block. SP 800-38D §6.3, Algorithm 1; setup only.
func gfMul(x, y [2]uint64) [2]uint64 {
	var z [2]uint64
	v := y
	for i := range 128 {
		if x[i/64]>>(63-i%64)&1 != 0 {
			z[0] ^= v[0]
			z[1] ^= v[1]
		}
		lsb := v[1] & 1
		v[1] = v[1]>>1 | v[0]<<63
		v[0] >>= 1
		if lsb != 0 {
			v[0] ^= 0xe1 << 56
		}
	}
	return z
}

// decryptionKeys are the round keys of the equivalent inverse cipher
// (FIPS 197 §5.3.5), as AESDEC takes them: the encryption keys in reverse
// order, InvMixColumns applied to all but the first and last.
func (k *aesRoundKeys) decryptionKeys() aesRoundKeys {
	d := aesRoundKeys{nr: k.nr}
	d.rk[0] = k.rk[k.nr]
	d.rk[k.nr] = k.rk[0]
	for i := 1; i < k.nr; i++ {
		d.rk[i] = invMixColumns(k.rk[k.nr-i])
	}
	return d
}

func invMixColumns(w [16]byte) (o [16]byte) {
	for c := 0; c < 16; c += 4 {
		a0, a1, a2, a3 := w[c], w[c+1], w[c+2], w[c+3]
		o[c] = gmul(a0, 14) ^ gmul(a1, 11) ^ gmul(a2, 13) ^ gmul(a3, 9)
		o[c+1] = gmul(a0, 9) ^ gmul(a1, 14) ^ gmul(a2, 11) ^ gmul(a3, 13)
		o[c+2] = gmul(a0, 13) ^ gmul(a1, 9) ^ gmul(a2, 14) ^ gmul(a3, 11)
		o[c+3] = gmul(a0, 11) ^ gmul(a1, 13) ^ gmul(a2, 9) ^ gmul(a3, 14)
	}
	return o
}

// gmul multiplies in AES's GF(2^8).
func gmul(a, b byte) byte {
	var p byte
	for ; b != 0; b >>= 1 {
		if b&1 != 0 {
			p ^= a
		}
		hi := a & 0x80
		a <<= 1
		if hi != 0 {
			a ^= 0x1b
		}
	}
	return p
}
