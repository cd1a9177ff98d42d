package crypto

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding"
	"encoding/binary"
	"hash"
)

// hashKind indexes the hash functions behind the integrity algorithms.
type hashKind uint8

const (
	hashMD5 hashKind = iota
	hashSHA1
	hashSHA256
	hashSHA384
	hashSHA512
	numHashKinds
)

var hashNew = [numHashKinds]func() hash.Hash{md5.New, sha1.New, sha256.New, sha512.New384, sha512.New}

func (i Integ) hash() (hashKind, bool) {
	switch i {
	case IntegHMACMD5_96:
		return hashMD5, true
	case IntegHMACSHA1_96:
		return hashSHA1, true
	case IntegHMACSHA256_128:
		return hashSHA256, true
	case IntegHMACSHA384_192:
		return hashSHA384, true
	case IntegHMACSHA512_256:
		return hashSHA512, true
	}
	return 0, false
}

// hmacKey is an HMAC key reduced at SA install to the hash states after
// absorbing K^ipad and K^opad (RFC 2104 §4), so a packet costs only the
// blocks of its own data plus one outer block. It is immutable and shared by
// every worker; per-packet hash state lives in the caller's scratch.
type hmacKey struct {
	kind   hashKind
	icvLen int
	// Marshalled standard-library states, restored into a scratch hash per
	// packet (UnmarshalBinary copies; it does not allocate).
	inner, outer []byte
	// The same states as chaining values for the multi-buffer path.
	innerCV, outerCV chainingValue
}

func newHMACKey(integ Integ, key []byte) (hmacKey, error) {
	kind, ok := integ.hash()
	if !ok {
		return hmacKey{}, errUnsupported("integrity algorithm", integ.String())
	}
	if len(key) != integ.KeyLen() {
		return hmacKey{}, errKeyLen("integrity", integ.KeyLen(), len(key))
	}
	h := hashNew[kind]()
	bs := h.BlockSize()
	pad := make([]byte, bs)
	copy(pad, key) // RFC 4868 and 2403/2404 keys are never longer than a block
	k := hmacKey{kind: kind, icvLen: integ.ICVLen()}
	for i := range pad {
		pad[i] ^= 0x36
	}
	h.Write(pad)
	k.inner, _ = h.(encoding.BinaryMarshaler).MarshalBinary()
	h.Reset()
	for i := range pad {
		pad[i] ^= 0x36 ^ 0x5c
	}
	h.Write(pad)
	k.outer, _ = h.(encoding.BinaryMarshaler).MarshalBinary()
	clear(pad)
	k.innerCV = newChainingValue(kind, k.inner)
	k.outerCV = newChainingValue(kind, k.outer)
	return k, nil
}

// sumRef writes the truncated HMAC of msg followed by the ESN tail (when esn)
// into icv, using the standard library's hash in sc.
func (k *hmacKey) sumRef(sc *scratch, icv, msg []byte, esn bool, seqHi uint32) {
	h := sc.hash(k.kind)
	u := h.(encoding.BinaryUnmarshaler)
	u.UnmarshalBinary(k.inner)
	h.Write(msg)
	if esn {
		binary.BigEndian.PutUint32(sc.seqHi[:], seqHi)
		h.Write(sc.seqHi[:])
	}
	d := h.Sum(sc.digest[:0])
	u.UnmarshalBinary(k.outer)
	h.Write(d)
	d = h.Sum(sc.digest[:0])
	copy(icv, d[:k.icvLen])
}

// chainingValue is a hash state between blocks, in the form of the
// kernel's lanes: eight 32-bit words (MD5: four used, SHA-1: five) or eight
// 64-bit words.
type chainingValue struct {
	w32 [8]uint32
	w64 [8]uint64
}

// newChainingValue extracts the chaining value from a standard-library
// marshalled hash state: a 4-byte magic, then the words big-endian.
func newChainingValue(kind hashKind, state []byte) (cv chainingValue) {
	spec := &mbSpecs[kind]
	for w := range spec.words {
		if spec.wordSize == 8 {
			cv.w64[w] = binary.BigEndian.Uint64(state[4+8*w:])
		} else {
			cv.w32[w] = binary.BigEndian.Uint32(state[4+4*w:])
		}
	}
	return cv
}

// macFrom finishes job j on the reference path from an inner hash that has
// absorbed the key block and the first done bytes of the message, its
// chaining value cv: the standard library's marshalled state is the key's
// inner state with the chaining value and the byte count replaced.
func (sc *scratch) macFrom(j *macJob, cv *chainingValue, done int) {
	k := j.key
	spec := &mbSpecs[k.kind]
	st := append(sc.state[:0], k.inner...)
	for w := range spec.words {
		if spec.wordSize == 8 {
			binary.BigEndian.PutUint64(st[4+8*w:], cv.w64[w])
		} else {
			binary.BigEndian.PutUint32(st[4+4*w:], cv.w32[w])
		}
	}
	binary.BigEndian.PutUint64(st[len(st)-8:], uint64(spec.block+done))
	sc.state = st
	h := sc.hash(k.kind)
	u := h.(encoding.BinaryUnmarshaler)
	u.UnmarshalBinary(st)
	h.Write(j.msg[done:])
	if j.esn {
		binary.BigEndian.PutUint32(sc.seqHi[:], j.seqHi)
		h.Write(sc.seqHi[:])
	}
	d := h.Sum(sc.digest[:0])
	u.UnmarshalBinary(k.outer)
	h.Write(d)
	j.deliver(h.Sum(sc.digest[:0]))
}
