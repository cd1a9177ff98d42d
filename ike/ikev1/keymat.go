package ikev1

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"

	"ipsecgw/crypto"
	"ipsecgw/ike/ikev1/isakmp"
)

// Hash is a phase-1 hash algorithm, numbered as the ISAKMP Hash Algorithm
// attribute numbers it (RFC 2409 Appendix A). Its HMAC is the PRF: IKEv1
// negotiates no separate PRF, and IOS and strongSwan use HMAC of the hash.
type Hash uint16

// Hash algorithms.
const (
	HashMD5    = Hash(isakmp.HashMD5)
	HashSHA1   = Hash(isakmp.HashSHA1)
	HashSHA256 = Hash(isakmp.HashSHA256)
	HashSHA384 = Hash(isakmp.HashSHA384)
	HashSHA512 = Hash(isakmp.HashSHA512)
)

func (h Hash) new() func() hash.Hash {
	switch h {
	case HashMD5:
		return md5.New
	case HashSHA1:
		return sha1.New
	case HashSHA256:
		return sha256.New
	case HashSHA384:
		return sha512.New384
	case HashSHA512:
		return sha512.New
	}
	return nil
}

// Supported reports whether the hash is implemented.
func (h Hash) Supported() bool { return h.new() != nil }

// Size is the hash's (and PRF's) output length.
func (h Hash) Size() int { return h.new()().Size() }

func (h Hash) String() string {
	switch h {
	case HashMD5:
		return "md5"
	case HashSHA1:
		return "sha"
	case HashSHA256:
		return "sha256"
	case HashSHA384:
		return "sha384"
	case HashSHA512:
		return "sha512"
	}
	return fmt.Sprintf("hash-%d", uint16(h))
}

// prf is HMAC-hash of data under key.
func (h Hash) prf(key []byte, data ...[]byte) []byte {
	m := hmac.New(h.new(), key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

// sum is the plain hash of data (phase-1 IVs, NAT-D).
func (h Hash) sum(data ...[]byte) []byte {
	m := h.new()()
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

// phase1Keys are an ISAKMP SA's keys (RFC 2409 §5). They never print.
type phase1Keys struct {
	skeyid, d, a, e []byte
	encKey          []byte
}

func (phase1Keys) String() string { return "[redacted]" }

// derivePhase1 computes the keys of a pre-shared-key ISAKMP SA:
//
//	SKEYID   = prf(pre-shared-key, Ni_b | Nr_b)
//	SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)
//	SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)
//	SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)
//
// and the encryption key from SKEYID_e, expanded when the cipher needs
// more bits (Appendix B: Ka = K1 | K2 | ..., K1 = prf(SKEYID_e, 0),
// Kn = prf(SKEYID_e, Kn-1)).
func derivePhase1(h Hash, psk, ni, nr, gxy []byte, ckyI, ckyR uint64, encKeyLen int) *phase1Keys {
	var ck [16]byte
	binary.BigEndian.PutUint64(ck[:], ckyI)
	binary.BigEndian.PutUint64(ck[8:], ckyR)
	k := &phase1Keys{skeyid: h.prf(psk, ni, nr)}
	k.d = h.prf(k.skeyid, gxy, ck[:], []byte{0})
	k.a = h.prf(k.skeyid, k.d, gxy, ck[:], []byte{1})
	k.e = h.prf(k.skeyid, k.a, gxy, ck[:], []byte{2})
	if len(k.e) >= encKeyLen {
		k.encKey = k.e[:encKeyLen:encKeyLen]
		return k
	}
	ka := make([]byte, 0, encKeyLen+h.Size())
	kn := h.prf(k.e, []byte{0})
	for {
		ka = append(ka, kn...)
		if len(ka) >= encKeyLen {
			break
		}
		kn = h.prf(k.e, kn)
	}
	k.encKey = ka[:encKeyLen:encKeyLen]
	return k
}

// deriveKeymat is RFC 2409 §5.5's KEYMAT for one direction of an IPsec SA,
// expanded to n bytes: K1 = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI |
// Ni_b | Nr_b), Kn = prf(SKEYID_d, Kn-1 | [g(qm)^xy |] protocol | SPI |
// Ni_b | Nr_b). spi is the receiver's SPI for that direction.
func deriveKeymat(h Hash, skeyidD, gxy []byte, proto isakmp.Protocol, spi uint32, ni, nr []byte, n int) []byte {
	seed := make([]byte, 0, len(gxy)+5+len(ni)+len(nr))
	seed = append(seed, gxy...)
	seed = append(seed, byte(proto))
	seed = binary.BigEndian.AppendUint32(seed, spi)
	seed = append(append(seed, ni...), nr...)
	out := make([]byte, 0, n+h.Size())
	var k []byte
	for len(out) < n {
		k = h.prf(skeyidD, k, seed)
		out = append(out, k...)
	}
	return out[:n:n]
}

// phase1IV is the IV of main mode message 5: hash(g^xi | g^xr) cut to the
// cipher's block length (Appendix B).
func phase1IV(h Hash, gxi, gxr []byte, blockLen int) []byte {
	return h.sum(gxi, gxr)[:blockLen]
}

// exchangeIV is the first IV of a quick mode or informational exchange:
// hash(last phase-1 CBC block | M-ID), cut to the block length.
func exchangeIV(h Hash, lastBlock []byte, mid uint32) []byte {
	var m [4]byte
	binary.BigEndian.PutUint32(m[:], mid)
	return h.sum(lastBlock, m[:])[:len(lastBlock)]
}

// cipherSuite is the phase-1 cipher: DES, 3DES or AES-CBC.
type cipherSuite struct {
	Cipher  crypto.Cipher
	KeyBits int
}

func (c cipherSuite) keyLen() int { return c.Cipher.KeyLen(c.KeyBits) }

func (c cipherSuite) blockLen() int {
	if c.Cipher == crypto.CipherAESCBC {
		return aes.BlockSize
	}
	return des.BlockSize
}

func (c cipherSuite) block(key []byte) (cipher.Block, error) {
	switch c.Cipher {
	case crypto.CipherDES:
		return des.NewCipher(key)
	case crypto.Cipher3DES:
		return des.NewTripleDESCipher(key)
	case crypto.CipherAESCBC:
		return aes.NewCipher(key)
	}
	return nil, fmt.Errorf("ikev1: cipher %v not supported for ISAKMP", c.Cipher)
}

func (c cipherSuite) String() string {
	switch c.Cipher {
	case crypto.CipherDES:
		return "des"
	case crypto.Cipher3DES:
		return "3des"
	}
	return fmt.Sprintf("aes %d", c.KeyBits)
}

var errDecrypt = errors.New("ikev1: ciphertext not a whole number of blocks")

// encrypt pads plain with zeros to the block length and CBC-encrypts it
// with iv; it returns the ciphertext, whose last block is the next IV.
func encrypt(b cipher.Block, iv, plain []byte) []byte {
	bl := b.BlockSize()
	out := make([]byte, (len(plain)+bl-1)/bl*bl)
	copy(out, plain)
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(out, out)
	return out
}

// decrypt CBC-decrypts ct with iv into a new slice.
func decrypt(b cipher.Block, iv, ct []byte) ([]byte, error) {
	bl := b.BlockSize()
	if len(ct) == 0 || len(ct)%bl != 0 {
		return nil, errDecrypt
	}
	out := make([]byte, len(ct))
	cipher.NewCBCDecrypter(b, iv).CryptBlocks(out, ct)
	return out, nil
}

// lastBlock returns a copy of the last cipher block of ct.
func lastBlock(ct []byte, bl int) []byte { return append([]byte(nil), ct[len(ct)-bl:]...) }
