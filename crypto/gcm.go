package crypto

import (
	"crypto/aes"
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

// gcmJob is one message for gcmAesAVX512: the pre-counter block (salt,
// IV, 1), the AAD as aad1 followed by aad2 (aad1 empty or whole blocks
// unless aad2 is empty), the data encrypted or decrypted in place, and
// where the tag goes.
type gcmJob struct {
	j0         [16]byte
	aad1, aad2 []byte
	data       []byte
	tag        *[16]byte
	hdr        [16]byte // an AAD that is not contiguous in the packet
	sum        [16]byte // the computed tag when opening
	op         int32
}

// seal encrypts data in place and writes the tag (one job; tests).
func (k *gcmKey) seal(j0 *[16]byte, aad1, aad2, data []byte, tag *[16]byte) {
	j := gcmJob{j0: *j0, aad1: aad1, aad2: aad2, data: data, tag: tag}
	gcmAesAVX512(k, &j, 1, false)
}

// open decrypts data in place and reports in constant time whether its
// tag is tag; on false data is garbage (one job; tests).
func (k *gcmKey) open(j0 *[16]byte, aad1, aad2, data []byte, tag []byte) bool {
	j := gcmJob{j0: *j0, aad1: aad1, aad2: aad2, data: data}
	j.tag = &j.sum
	gcmAesAVX512(k, &j, 1, true)
	return len(tag) == 16 && tagEqual(&j.sum, (*[16]byte)(tag))
}

// tagEqual compares two 16-byte tags in constant time: the differences of
// both halves are OR-ed and only the total is tested, no early exit. It
// is subtle.ConstantTimeCompare in two words instead of 16 bytes, which
// took ~4 % of decap at 64 bytes.
func tagEqual(a, b *[16]byte) bool {
	lo := binary.LittleEndian.Uint64(a[:8]) ^ binary.LittleEndian.Uint64(b[:8])
	hi := binary.LittleEndian.Uint64(a[8:]) ^ binary.LittleEndian.Uint64(b[8:])
	return lo|hi == 0
}

// gcmBatch seals or opens the AES-GCM and AES-GMAC packets ops[idx] (IVs
// written), one assembly call per SA.
func (sc *scratch) gcmBatch(ops []Op, idx []int32, open bool) {
	if cap(sc.gcmJobs) < len(idx) {
		sc.gcmJobs = make([]gcmJob, len(idx)) // once: jobs point into themselves
	}
	for len(idx) > 0 {
		sa, n := firstSA(ops, idx)
		jobs := sc.gcmJobs[:n]
		for t, i := range idx[:n] {
			sa.gcmJob(&jobs[t], ops[i].Pkt, ops[i].SeqHi, open)
			jobs[t].op = i
		}
		gcmAesAVX512(sa.gcm, &jobs[0], n, open)
		if open {
			for t := range jobs {
				op := &ops[jobs[t].op]
				op.OK = tagEqual(&jobs[t].sum, (*[16]byte)(op.Pkt[len(op.Pkt)-16:]))
			}
		}
		clear(jobs) // no references to packets left behind
		idx = idx[n:]
	}
}

// gcmJob lays out the job of one packet.
func (sa *ESP) gcmJob(j *gcmJob, pkt []byte, seqHi uint32, open bool) {
	n := len(pkt)
	sa.j0(&j.j0, pkt)
	if open {
		j.tag = &j.sum
	} else {
		j.tag = (*[16]byte)(pkt[n-16:])
	}
	if sa.kind == kindGMAC {
		j.aad1, j.aad2 = sa.gmacAADs(&j.hdr, pkt, seqHi)
		j.data = nil
		return
	}
	j.aad1, j.aad2 = sa.aeadAAD(&j.hdr, pkt, seqHi), nil
	j.data = pkt[espHeaderLen+8 : n-16]
}
