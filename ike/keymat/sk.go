package keymat

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"sync/atomic"

	"ipsecgw/crypto"
)

// errAuth is what Open returns for any authentication or decryption
// failure; the reason is not told apart, so as not to be an oracle.
var errAuth = errors.New("keymat: SK payload failed authentication")

// NewProtector returns the SK payload protector for one direction of an IKE
// SA: AES-CBC with an HMAC (encrKey, integKey) or AES-GCM-16 (encrKey with
// its 4-byte salt at the end, integKey nil).
func NewProtector(c crypto.Cipher, integ crypto.Integ, encrKey, integKey []byte) (*Protector, error) {
	switch c {
	case crypto.CipherAESCBC:
		b, err := aes.NewCipher(encrKey)
		if err != nil {
			return nil, err
		}
		h := integHash(uint16(integ))
		if h == nil || len(integKey) != integ.KeyLen() {
			return nil, fmt.Errorf("keymat: integrity %v with %d-byte key", integ, len(integKey))
		}
		return &Protector{block: b, mac: hmac.New(h, integKey), icvLen: integ.ICVLen()}, nil
	case crypto.CipherAESGCM16:
		if len(encrKey) < 20 {
			return nil, fmt.Errorf("keymat: AES-GCM key of %d bytes", len(encrKey))
		}
		b, err := aes.NewCipher(encrKey[:len(encrKey)-4])
		if err != nil {
			return nil, err
		}
		g, err := cipher.NewGCM(b)
		if err != nil {
			return nil, err
		}
		p := &Protector{aead: g, icvLen: 16}
		copy(p.salt[:], encrKey[len(encrKey)-4:])
		return p, nil
	}
	return nil, fmt.Errorf("keymat: IKE encryption %v not supported", c)
}

// Protector seals and opens SK payloads (message.Protector). It is used by
// the one goroutine that owns its IKE SA.
type Protector struct {
	// AES-CBC + HMAC
	block cipher.Block
	mac   hash.Hash
	// AES-GCM-16 (RFC 5282): nonce = salt | explicit 8-byte IV
	aead   cipher.AEAD
	salt   [4]byte
	ivSeq  atomic.Uint64
	icvLen int
}

// BlockLen is the plaintext alignment: the AES block for CBC, none for GCM.
func (p *Protector) BlockLen() int {
	if p.aead != nil {
		return 1
	}
	return aes.BlockSize
}

// Overhead is IV plus ICV.
func (p *Protector) Overhead() int {
	if p.aead != nil {
		return 8 + p.icvLen
	}
	return aes.BlockSize + p.icvLen
}

// Seal appends IV | ciphertext | ICV to dst.
func (p *Protector) Seal(dst, aad, padded []byte) []byte {
	if p.aead != nil {
		var nonce [12]byte
		copy(nonce[:4], p.salt[:])
		// A counter never repeats an IV under one key, which GCM needs.
		binary.BigEndian.PutUint64(nonce[4:], p.ivSeq.Add(1))
		dst = append(dst, nonce[4:]...)
		return p.aead.Seal(dst, nonce[:], padded, aad)
	}
	start := len(dst)
	dst = append(dst, make([]byte, aes.BlockSize+len(padded))...)
	iv := dst[start : start+aes.BlockSize]
	if _, err := rand.Read(iv); err != nil {
		panic("keymat: no randomness: " + err.Error())
	}
	cipher.NewCBCEncrypter(p.block, iv).CryptBlocks(dst[start+aes.BlockSize:], padded)
	p.mac.Reset()
	p.mac.Write(aad)
	p.mac.Write(dst[start:])
	return append(dst, p.mac.Sum(nil)[:p.icvLen]...)
}

// Open checks the ICV and decrypts IV | ciphertext | ICV.
func (p *Protector) Open(aad, sealed []byte) ([]byte, error) {
	if p.aead != nil {
		if len(sealed) < 8+p.icvLen {
			return nil, errAuth
		}
		var nonce [12]byte
		copy(nonce[:4], p.salt[:])
		copy(nonce[4:], sealed[:8])
		out, err := p.aead.Open(nil, nonce[:], sealed[8:], aad)
		if err != nil {
			return nil, errAuth
		}
		return out, nil
	}
	n := len(sealed) - p.icvLen
	if n < 2*aes.BlockSize || (n-aes.BlockSize)%aes.BlockSize != 0 {
		return nil, errAuth
	}
	p.mac.Reset()
	p.mac.Write(aad)
	p.mac.Write(sealed[:n])
	if !hmac.Equal(p.mac.Sum(nil)[:p.icvLen], sealed[n:]) {
		return nil, errAuth
	}
	out := make([]byte, n-aes.BlockSize)
	cipher.NewCBCDecrypter(p.block, sealed[:aes.BlockSize]).CryptBlocks(out, sealed[aes.BlockSize:n])
	return out, nil
}
