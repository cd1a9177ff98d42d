package keymat

import (
	"encoding/binary"
	"fmt"

	"ipsecgw/crypto"
)

// IKESuite is the algorithm set negotiated for an IKE SA.
type IKESuite struct {
	Cipher  crypto.Cipher // AES-CBC or AES-GCM-16
	KeyBits int
	Integ   crypto.Integ // IntegNone with AES-GCM
	PRF     PRFAlg
	DH      Group
}

func (s IKESuite) String() string {
	if s.Integ == crypto.IntegNone {
		return fmt.Sprintf("%v-%d/%v/%v", s.Cipher, s.KeyBits, s.PRF, s.DH)
	}
	return fmt.Sprintf("%v-%d/%v/%v/%v", s.Cipher, s.KeyBits, s.Integ, s.PRF, s.DH)
}

// Check reports whether this package implements every algorithm of s.
func (s IKESuite) Check() error {
	switch {
	case s.Cipher != crypto.CipherAESCBC && s.Cipher != crypto.CipherAESGCM16:
		return fmt.Errorf("keymat: IKE encryption %v not supported", s.Cipher)
	case s.KeyBits != 128 && s.KeyBits != 192 && s.KeyBits != 256:
		return fmt.Errorf("keymat: %d-bit %v", s.KeyBits, s.Cipher)
	case s.Cipher.AEAD() != (s.Integ == crypto.IntegNone):
		return fmt.Errorf("keymat: %v with integrity %v", s.Cipher, s.Integ)
	case s.Integ != crypto.IntegNone && integHash(uint16(s.Integ)) == nil:
		return fmt.Errorf("keymat: IKE integrity %v not supported", s.Integ)
	case !s.PRF.Supported():
		return fmt.Errorf("keymat: %v not supported", s.PRF)
	case !s.DH.Supported():
		return fmt.Errorf("keymat: DH group %v not supported", s.DH)
	}
	return nil
}

// IKEKeys are an IKE SA's keys as seen from one side: SK_d for CHILD_SA and
// rekey derivation, SK_p for AUTH, and the two SK protectors.
type IKEKeys struct {
	Suite      IKESuite
	SKd        []byte
	SKpi, SKpr []byte
	// In opens what the peer sends, Out seals what we send.
	In, Out *Protector
}

// SKEYSEED computes prf(Ni | Nr, g^ir) for a new IKE SA (§2.14).
func SKEYSEED(prf PRFAlg, ni, nr, shared []byte) []byte {
	return prf.PRF(append(append([]byte(nil), ni...), nr...), shared)
}

// RekeySKEYSEED computes prf(SK_d (old), g^ir (new) | Ni | Nr) for an IKE SA
// rekey (§2.18); oldPRF is the PRF of the SA being rekeyed.
func RekeySKEYSEED(oldPRF PRFAlg, oldSKd, shared, ni, nr []byte) []byte {
	return oldPRF.PRF(oldSKd, shared, ni, nr)
}

// DeriveIKE expands SKEYSEED into the SK_* keys:
// {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} =
// prf+(SKEYSEED, Ni | Nr | SPIi | SPIr). initiator selects which
// direction's keys seal outgoing messages.
func DeriveIKE(s IKESuite, skeyseed, ni, nr []byte, spii, spir uint64, initiator bool) (*IKEKeys, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	prfLen := s.PRF.Size()
	integLen := s.Integ.KeyLen()
	encrLen := s.Cipher.KeyLen(s.KeyBits)
	seed := make([]byte, 0, len(ni)+len(nr)+16)
	seed = append(append(seed, ni...), nr...)
	seed = binary.BigEndian.AppendUint64(seed, spii)
	seed = binary.BigEndian.AppendUint64(seed, spir)
	km, err := s.PRF.PlusN(skeyseed, seed, 3*prfLen+2*integLen+2*encrLen)
	if err != nil {
		return nil, err
	}
	take := func(n int) []byte {
		k := km[:n:n]
		km = km[n:]
		return k
	}
	k := &IKEKeys{Suite: s, SKd: take(prfLen)}
	ai, ar := take(integLen), take(integLen)
	ei, er := take(encrLen), take(encrLen)
	k.SKpi, k.SKpr = take(prfLen), take(prfLen)
	pi, err := NewProtector(s.Cipher, s.Integ, ei, nilIfEmpty(ai))
	if err != nil {
		return nil, err
	}
	pr, err := NewProtector(s.Cipher, s.Integ, er, nilIfEmpty(ar))
	if err != nil {
		return nil, err
	}
	if initiator {
		k.Out, k.In = pi, pr
	} else {
		k.Out, k.In = pr, pi
	}
	return k, nil
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// keyPad is the constant RFC 7296 §2.15 mixes into the PSK.
var keyPad = []byte("Key Pad for IKEv2")

// SignedOctets builds the octets an AUTH payload covers for one side
// (§2.15): that side's IKE_SA_INIT message, the peer's nonce, and
// prf(SK_p of that side, its ID payload body).
func SignedOctets(prf PRFAlg, initMessage, peerNonce, skp, idBody []byte) []byte {
	out := make([]byte, 0, len(initMessage)+len(peerNonce)+prf.Size())
	out = append(append(out, initMessage...), peerNonce...)
	return append(out, prf.PRF(skp, idBody)...)
}

// PSKAuth is the AUTH data for shared key authentication:
// prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>).
func PSKAuth(prf PRFAlg, psk, signedOctets []byte) []byte {
	return prf.PRF(prf.PRF(psk, keyPad), signedOctets)
}

// ChildKeys are one CHILD_SA's keys (§2.17): the initiator-to-responder
// direction's encryption and integrity keys, then the other direction's.
// AEAD encryption keys end with their salt.
type ChildKeys struct {
	EncrI, IntegI []byte
	EncrR, IntegR []byte
}

// DeriveChild computes KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr) and
// splits it for a CHILD_SA with transform t; shared is nil without PFS.
func DeriveChild(prf PRFAlg, skd, shared, ni, nr []byte, t crypto.Transform) (*ChildKeys, error) {
	encrLen := t.Cipher.KeyLen(t.KeyBits)
	integLen := t.Integ.KeyLen()
	seed := make([]byte, 0, len(shared)+len(ni)+len(nr))
	seed = append(append(append(seed, shared...), ni...), nr...)
	km, err := prf.PlusN(skd, seed, 2*(encrLen+integLen))
	if err != nil {
		return nil, err
	}
	take := func(n int) []byte {
		if n == 0 {
			return nil
		}
		k := km[:n:n]
		km = km[n:]
		return k
	}
	c := &ChildKeys{}
	c.EncrI, c.IntegI = take(encrLen), take(integLen)
	c.EncrR, c.IntegR = take(encrLen), take(integLen)
	return c, nil
}
