package crypto

import (
	"crypto/aes"
	"crypto/subtle"
	"encoding/binary"
)

// useAVX512 selects the AVX-512 code for SAs built from now on; tests turn
// it off to run the reference path on the same machine.
var useAVX512 = hasAVX512

// gcmKey is the AES-GCM state of the assembly path: the round keys and
// the powers of the hash key H, in the form the GHASH code multiplies by.
//
// GHASH representation. A 16-byte block b is loaded byte-reversed, so the
// coefficient of x^0 sits in bit 127: call that R(b). A carry-less product
// of two such values, reduced by folding the low 128 bits in twice with the
// constant 0xc2000000000000000000000000000001 (the reflected polynomial),
// is a Montgomery product: it yields R(a·b)·x^-1 shifted by one place. The
// table therefore stores P_k = R(H^k)·x, which makes the product of R(a)
// and P_k exactly R(a·H^k), with no per-multiplication shift.
type gcmKey struct {
	aesRoundKeys
	// htab[i] = P_(17-i) for i = 0..16: a group of m blocks followed by the
	// length block multiplies its blocks by htab[16-m:], a group of m
	// without it by htab[17-m:]. Four zero blocks end the table so that
	// loads of four blocks never leave it.
	htab [21][16]byte
}

func newGCMKey(key []byte) *gcmKey {
	k := &gcmKey{aesRoundKeys: expandKey(key)}
	b, _ := aes.NewCipher(key)
	var hb [16]byte
	b.Encrypt(hb[:], hb[:])
	h := [2]uint64{binary.BigEndian.Uint64(hb[:8]), binary.BigEndian.Uint64(hb[8:])}
	p := h
	for i := 16; i >= 0; i-- {
		// R(p) is (p[0]<<64 | p[1]) as a 128-bit integer; shift by one and
		// reduce with the reflected polynomial.
		hi, lo := p[0]<<1|p[1]>>63, p[1]<<1
		if p[0]>>63 != 0 {
			hi ^= 0xc2 << 56
			lo ^= 1
		}
		binary.LittleEndian.PutUint64(k.htab[i][:8], lo)
		binary.LittleEndian.PutUint64(k.htab[i][8:], hi)
		p = gfMul(p, h)
	}
	return k
}

// seal encrypts data in place and writes the 16-byte tag. j0 is the
// pre-counter block (salt, IV, 1); the AAD is aad1 followed by aad2, where
// aad1 is empty or a whole number of blocks unless aad2 is empty.
func (k *gcmKey) seal(j0 *[16]byte, aad1, aad2, data []byte, tag *[16]byte) {
	gcmAesAVX512(k, j0, aad1, aad2, data, tag, false)
}

// open computes the tag of data, decrypting it in place, and reports in
// constant time whether it equals tag; on false data is garbage.
func (k *gcmKey) open(j0 *[16]byte, aad1, aad2, data []byte, tag []byte) bool {
	var sum [16]byte
	gcmAesAVX512(k, j0, aad1, aad2, data, &sum, true)
	return subtle.ConstantTimeCompare(sum[:], tag) == 1
}

// sealGCM is the assembly path of SealBatch for AES-GCM and AES-GMAC.
func (sa *ESP) sealGCM(pkt []byte, seqHi uint32) {
	var j0 [16]byte
	var hdr [16]byte
	n := len(pkt)
	sa.j0(&j0, pkt)
	tag := (*[16]byte)(pkt[n-16:])
	if sa.kind == kindGMAC {
		aad1, aad2 := sa.gmacAADs(&hdr, pkt, seqHi)
		sa.gcm.seal(&j0, aad1, aad2, nil, tag)
		return
	}
	sa.gcm.seal(&j0, sa.gcmAAD(&hdr, pkt, seqHi), nil, pkt[espHeaderLen+8:n-16], tag)
}

// openGCM is the assembly path of OpenBatch for AES-GCM and AES-GMAC.
func (sa *ESP) openGCM(pkt []byte, seqHi uint32) bool {
	var j0 [16]byte
	var hdr [16]byte
	n := len(pkt)
	sa.j0(&j0, pkt)
	if sa.kind == kindGMAC {
		aad1, aad2 := sa.gmacAADs(&hdr, pkt, seqHi)
		return sa.gcm.open(&j0, aad1, aad2, nil, pkt[n-16:])
	}
	return sa.gcm.open(&j0, sa.gcmAAD(&hdr, pkt, seqHi), nil, pkt[espHeaderLen+8:n-16], pkt[n-16:])
}

// j0 is the pre-counter block: salt, the packet's IV, 1 (RFC 4106 §4).
func (sa *ESP) j0(j0 *[16]byte, pkt []byte) {
	copy(j0[0:4], sa.salt[:])
	copy(j0[4:12], pkt[espHeaderLen:espHeaderLen+8])
	j0[15] = 1
}

// gcmAAD is the AAD of RFC 4106 §5 in the packet or, with ESN, in buf.
func (sa *ESP) gcmAAD(buf *[16]byte, pkt []byte, seqHi uint32) []byte {
	if !sa.esn {
		return pkt[:espHeaderLen]
	}
	copy(buf[0:4], pkt[0:4])
	binary.BigEndian.PutUint32(buf[4:8], seqHi)
	copy(buf[8:12], pkt[4:8])
	return buf[:12]
}

// gmacAADs splits the AAD of RFC 4543 §3.3 (the packet but the ICV, with
// the 64-bit sequence number under ESN) into a first whole block in buf
// and the rest in place, so that nothing is copied.
func (sa *ESP) gmacAADs(buf *[16]byte, pkt []byte, seqHi uint32) (aad1, aad2 []byte) {
	body := pkt[:len(pkt)-16]
	if !sa.esn {
		return nil, body
	}
	copy(buf[0:4], body[0:4])
	binary.BigEndian.PutUint32(buf[4:8], seqHi)
	copy(buf[8:16], body[4:12])
	return buf[:], body[12:]
}
