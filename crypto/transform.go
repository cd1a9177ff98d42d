package crypto

import "fmt"

// Cipher is an ESP encryption algorithm, numbered as IANA's IKEv2 Transform
// Type 1 registry numbers it, so IKE proposals map onto it directly.
type Cipher uint16

// ESP ciphers.
const (
	CipherNone             Cipher = 0  // AH-only SA
	CipherDES              Cipher = 2  // RFC 2405
	Cipher3DES             Cipher = 3  // RFC 2451
	CipherNull             Cipher = 11 // RFC 2410
	CipherAESCBC           Cipher = 12 // RFC 3602
	CipherAESGCM16         Cipher = 20 // RFC 4106, 16-byte ICV
	CipherAESGMAC          Cipher = 21 // RFC 4543 (ENCR_NULL_AUTH_AES_GMAC)
	CipherChaCha20Poly1305 Cipher = 28 // RFC 7634
)

// Integ is an integrity algorithm for ESP or AH, numbered as IANA's IKEv2
// Transform Type 3 registry numbers it.
type Integ uint16

// Integrity algorithms.
const (
	IntegNone           Integ = 0
	IntegHMACMD5_96     Integ = 1  // RFC 2403
	IntegHMACSHA1_96    Integ = 2  // RFC 2404
	IntegHMACSHA256_128 Integ = 12 // RFC 4868
	IntegHMACSHA384_192 Integ = 13 // RFC 4868
	IntegHMACSHA512_256 Integ = 14 // RFC 4868
)

// Transform is what one SA applies: a cipher with its key size and an
// integrity algorithm. An ESP SA has a cipher (possibly CipherNull) and,
// unless the cipher is an AEAD, an integrity algorithm; an AH SA has only
// an integrity algorithm.
type Transform struct {
	Cipher  Cipher
	KeyBits int // cipher key size without salt; 0 for fixed-size ciphers
	Integ   Integ
}

// AEAD reports whether the cipher authenticates by itself.
func (c Cipher) AEAD() bool {
	return c == CipherAESGCM16 || c == CipherAESGMAC || c == CipherChaCha20Poly1305
}

// KeyBitsAllowed lists the key sizes a cipher accepts (nil: fixed size).
func (c Cipher) KeyBitsAllowed() []int {
	switch c {
	case CipherAESCBC, CipherAESGCM16, CipherAESGMAC:
		return []int{128, 192, 256}
	}
	return nil
}

// KeyLen is the cipher key length in bytes for keyBits, including the salt
// that RFC 4106, 4543 and 7634 append to the key (KEYMAT order).
func (c Cipher) KeyLen(keyBits int) int {
	switch c {
	case CipherDES:
		return 8
	case Cipher3DES:
		return 24
	case CipherNull, CipherNone:
		return 0
	case CipherAESCBC:
		return keyBits / 8
	case CipherAESGCM16, CipherAESGMAC:
		return keyBits/8 + 4
	case CipherChaCha20Poly1305:
		return 32 + 4
	}
	return 0
}

// SaltLen is the part of KeyLen that is salt, not key.
func (c Cipher) SaltLen() int {
	if c.AEAD() {
		return 4
	}
	return 0
}

// IVLen is the length of the IV carried in every ESP packet.
func (c Cipher) IVLen() int {
	switch c {
	case CipherDES, Cipher3DES, CipherAESGCM16, CipherAESGMAC, CipherChaCha20Poly1305:
		return 8
	case CipherAESCBC:
		return 16
	}
	return 0
}

// BlockLen is the alignment the ESP payload plus trailer must reach
// (RFC 4303 §2.4: at least 4).
func (c Cipher) BlockLen() int {
	switch c {
	case CipherDES, Cipher3DES:
		return 8
	case CipherAESCBC:
		return 16
	}
	return 4
}

// ICVLen is the AEAD tag length; 0 for non-AEAD ciphers.
func (c Cipher) ICVLen() int {
	if c.AEAD() {
		return 16
	}
	return 0
}

// Deprecated reports algorithms RFC 8221 says MUST NOT or SHOULD NOT be used.
func (c Cipher) Deprecated() bool { return c == CipherDES || c == Cipher3DES }

func (c Cipher) String() string {
	switch c {
	case CipherNone:
		return "none"
	case CipherDES:
		return "des"
	case Cipher3DES:
		return "3des"
	case CipherNull:
		return "null"
	case CipherAESCBC:
		return "aes-cbc"
	case CipherAESGCM16:
		return "aes-gcm"
	case CipherAESGMAC:
		return "aes-gmac"
	case CipherChaCha20Poly1305:
		return "chacha20-poly1305"
	}
	return fmt.Sprintf("cipher-%d", uint16(c))
}

// KeyLen is the integrity key length in bytes.
func (i Integ) KeyLen() int {
	switch i {
	case IntegHMACMD5_96:
		return 16
	case IntegHMACSHA1_96:
		return 20
	case IntegHMACSHA256_128:
		return 32
	case IntegHMACSHA384_192:
		return 48
	case IntegHMACSHA512_256:
		return 64
	}
	return 0
}

// ICVLen is the truncated ICV length carried in packets.
func (i Integ) ICVLen() int {
	switch i {
	case IntegHMACMD5_96, IntegHMACSHA1_96:
		return 12
	case IntegHMACSHA256_128:
		return 16
	case IntegHMACSHA384_192:
		return 24
	case IntegHMACSHA512_256:
		return 32
	}
	return 0
}

// Deprecated reports algorithms RFC 8221 says SHOULD NOT or MUST NOT be used.
func (i Integ) Deprecated() bool { return i == IntegHMACMD5_96 }

func (i Integ) String() string {
	switch i {
	case IntegNone:
		return "none"
	case IntegHMACMD5_96:
		return "hmac-md5-96"
	case IntegHMACSHA1_96:
		return "hmac-sha1-96"
	case IntegHMACSHA256_128:
		return "hmac-sha256-128"
	case IntegHMACSHA384_192:
		return "hmac-sha384-192"
	case IntegHMACSHA512_256:
		return "hmac-sha512-256"
	}
	return fmt.Sprintf("integ-%d", uint16(i))
}

// String names the transform as `show crypto ipsec sa` does.
func (t Transform) String() string {
	s := t.Cipher.String()
	if t.KeyBits != 0 {
		s += fmt.Sprintf("-%d", t.KeyBits)
	}
	if t.Integ != IntegNone {
		s += " " + t.Integ.String()
	}
	return s
}

// Validate checks that the transform is one this package implements: a
// known cipher with an allowed key size and a known integrity algorithm,
// and no separate integrity algorithm with a combined-mode (AEAD) cipher.
func (t Transform) Validate() error {
	switch t.Cipher {
	case CipherNone, CipherDES, Cipher3DES, CipherNull, CipherAESCBC,
		CipherAESGCM16, CipherAESGMAC, CipherChaCha20Poly1305:
	default:
		return fmt.Errorf("crypto: unsupported cipher %s", t.Cipher)
	}
	if allowed := t.Cipher.KeyBitsAllowed(); allowed != nil {
		ok := false
		for _, b := range allowed {
			ok = ok || b == t.KeyBits
		}
		if !ok {
			return fmt.Errorf("crypto: %s does not take a %d-bit key", t.Cipher, t.KeyBits)
		}
	} else if t.KeyBits != 0 && t.KeyBits != 8*(t.Cipher.KeyLen(0)-t.Cipher.SaltLen()) {
		return fmt.Errorf("crypto: %s has a fixed key size, not %d bits", t.Cipher, t.KeyBits)
	}
	if t.Integ != IntegNone && t.Integ.KeyLen() == 0 {
		return fmt.Errorf("crypto: unsupported integrity algorithm %s", t.Integ)
	}
	if t.Cipher.AEAD() && t.Integ != IntegNone {
		return fmt.Errorf("crypto: %s is a combined-mode cipher and takes no integrity algorithm", t.Cipher)
	}
	return nil
}
