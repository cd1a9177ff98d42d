// Package keymat holds IKEv2 key material and the algorithms that make and
// use it, apart from the protocol state machine as in strongSwan's keymat:
// Diffie-Hellman groups, the PRF and prf+ (RFC 7296 §2.13), SKEYSEED and the
// SK_* keys of an IKE SA (§2.14, and their rekeyed form §2.18), the PSK AUTH
// value (§2.15), CHILD_SA KEYMAT (§2.17), and the Protectors that seal and
// open SK payloads for package message.
//
// It receives nonces, SPIs, DH values and negotiated algorithm numbers from
// the engine (package ike) and gives back keys and Protectors. Nothing here
// logs: callers may log algorithm names and SPIs, never the byte slices this
// package returns. IKEv1 can reuse the PRF, prf+, groups and ciphers.
package keymat

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
)

// PRFAlg is a pseudo-random function, numbered as IANA's IKEv2 Transform
// Type 2 registry numbers it.
type PRFAlg uint16

// Supported PRFs.
const (
	PRFHMACSHA1   PRFAlg = 2
	PRFHMACSHA256 PRFAlg = 5
	PRFHMACSHA384 PRFAlg = 6
	PRFHMACSHA512 PRFAlg = 7
)

func (a PRFAlg) hash() func() hash.Hash {
	switch a {
	case PRFHMACSHA1:
		return sha1.New
	case PRFHMACSHA256:
		return sha256.New
	case PRFHMACSHA384:
		return sha512.New384
	case PRFHMACSHA512:
		return sha512.New
	}
	return nil
}

// Supported reports whether this package implements the PRF.
func (a PRFAlg) Supported() bool { return a.hash() != nil }

// Size is the PRF's output length, also the length of SK_d, SK_pi and SK_pr.
func (a PRFAlg) Size() int {
	if h := a.hash(); h != nil {
		return h().Size()
	}
	return 0
}

func (a PRFAlg) String() string {
	switch a {
	case PRFHMACSHA1:
		return "prf-hmac-sha1"
	case PRFHMACSHA256:
		return "prf-hmac-sha256"
	case PRFHMACSHA384:
		return "prf-hmac-sha384"
	case PRFHMACSHA512:
		return "prf-hmac-sha512"
	}
	return fmt.Sprintf("prf-%d", uint16(a))
}

// PRF computes prf(key, data...) with an HMAC PRF.
func (a PRFAlg) PRF(key []byte, data ...[]byte) []byte {
	m := hmac.New(a.hash(), key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

// PlusN computes n bytes of prf+(key, seed) (RFC 7296 §2.13):
// T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n).
func (a PRFAlg) PlusN(key, seed []byte, n int) ([]byte, error) {
	size := a.Size()
	if n > 255*size {
		return nil, fmt.Errorf("keymat: prf+ of %d bytes exceeds 255 iterations of %v", n, a)
	}
	out := make([]byte, 0, n+size)
	var t []byte
	m := hmac.New(a.hash(), key)
	for i := byte(1); len(out) < n; i++ {
		m.Reset()
		m.Write(t)
		m.Write(seed)
		m.Write([]byte{i})
		t = m.Sum(nil)
		out = append(out, t...)
	}
	return out[:n], nil
}

// integHash is the hash of an HMAC integrity algorithm.
func integHash(i uint16) func() hash.Hash {
	switch i {
	case 2:
		return sha1.New
	case 12:
		return sha256.New
	case 13:
		return sha512.New384
	case 14:
		return sha512.New
	}
	return nil
}
