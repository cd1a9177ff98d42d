package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/subtle"
	"errors"
	"hash"
	"runtime"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// Bound measures the crypto-only bound of transform t: how many ESP packets
// with a payload of payloadLen bytes (before padding and trailer) one core
// protects (or, with open, verifies and decrypts) per second for d, using
// the standard library the plain way: a cipher.AEAD's Seal or Open with the
// RFC 4106 nonce and AAD; for CBC ciphers cipher.CBC with SetIV and
// crypto/hmac with Reset. For an AH-only transform (Cipher CipherNone) it
// is the HMAC of what AH covers in tunnel mode over IPv4: the outer header,
// the AH header with its ICV field, and the payload. It is the baseline for this package's batch path
// and for the fast path's figures; it uses none of this package's code, and
// it leaves out IV generation, which a plain implementation would do with
// crypto/rand at a far higher cost. Keys are fixed: speed does not depend on
// them. The calling goroutine is locked to its thread while it runs.
func Bound(t Transform, payloadLen int, open bool, d time.Duration) (float64, error) {
	if err := t.Validate(); err != nil {
		return 0, err
	}
	if payloadLen < 0 || t.Cipher == CipherNone && t.Integ == IntegNone {
		return 0, errors.New("crypto: Bound needs a transform and a payload length")
	}
	op, err := newBoundOp(t, payloadLen, open)
	if err != nil {
		return 0, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const chunk = 64
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		for range chunk {
			op.run()
		}
		n += chunk
	}
	if op.failed {
		return 0, errors.New("crypto: Bound's reference open failed")
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// boundOp is one standard-library ESP seal or open, laid out as the batch
// path lays out a packet.
type boundOp struct {
	open   bool
	failed bool

	pkt, out []byte // the packet, and where Open writes
	hdr, icv int
	nonce    []byte

	aead cipher.AEAD
	gmac bool

	enc, dec cipher.BlockMode
	setEncIV func([]byte)
	setDecIV func([]byte)
	mac      hash.Hash
	sum, iv  []byte
	cbc      bool
}

func newBoundOp(t Transform, payloadLen int, open bool) (*boundOp, error) {
	c := t.Cipher
	key := make([]byte, c.KeyLen(t.KeyBits)-c.SaltLen())
	for i := range key {
		key[i] = byte(i*7 + 1) // not DES-weak, K1 != K2 != K3
	}
	align := c.BlockLen()
	body := payloadLen + 2
	body += (align - body%align) % align
	o := &boundOp{open: open, hdr: espHeaderLen + c.IVLen(), icv: c.ICVLen() + t.Integ.ICVLen()}
	if c == CipherNone {
		// AH: ICV over IPv4 header, AH header and ICV field, payload.
		field := (12+o.icv+3)&^3 - 12
		o.hdr, body = 0, 20+12+field+payloadLen
	}
	o.pkt = make([]byte, o.hdr+body+o.icv)
	o.out = make([]byte, len(o.pkt))
	o.nonce = make([]byte, 12)
	var err error
	switch c {
	case CipherAESGCM16, CipherAESGMAC:
		b, _ := aes.NewCipher(key)
		o.aead, err = cipher.NewGCM(b)
		o.gmac = c == CipherAESGMAC
	case CipherChaCha20Poly1305:
		o.aead, err = chacha20poly1305.New(key)
	case CipherAESCBC, Cipher3DES, CipherDES:
		var b cipher.Block
		switch c {
		case CipherAESCBC:
			b, err = aes.NewCipher(key)
		case Cipher3DES:
			b, err = des.NewTripleDESCipher(key)
		default:
			b, err = des.NewCipher(key)
		}
		if err != nil {
			return nil, err
		}
		o.iv = o.pkt[espHeaderLen:o.hdr]
		o.enc = cipher.NewCBCEncrypter(b, o.iv)
		o.dec = cipher.NewCBCDecrypter(b, o.iv)
		o.setEncIV = o.enc.(interface{ SetIV([]byte) }).SetIV
		o.setDecIV = o.dec.(interface{ SetIV([]byte) }).SetIV
		o.cbc = true
	}
	if err != nil {
		return nil, err
	}
	if t.Integ != IntegNone {
		kind, _ := t.Integ.hash()
		o.mac = hmac.New(hashNew[kind], make([]byte, t.Integ.KeyLen()))
		o.sum = make([]byte, 0, o.mac.Size())
	}
	if open {
		// Open needs a valid packet: seal once, then open it repeatedly
		// into out, leaving pkt intact.
		o.open = false
		o.run()
		o.open = true
	}
	return o, nil
}

func (o *boundOp) run() {
	n := len(o.pkt)
	body := o.pkt[o.hdr : n-o.icv]
	switch {
	case o.aead != nil && o.gmac:
		if o.open {
			_, err := o.aead.Open(o.out[:0], o.nonce, o.pkt[n-o.icv:], o.pkt[:n-o.icv])
			o.failed = o.failed || err != nil
		} else {
			o.aead.Seal(o.pkt[n-o.icv:n-o.icv], o.nonce, nil, o.pkt[:n-o.icv])
		}
	case o.aead != nil:
		if o.open {
			_, err := o.aead.Open(o.out[:0], o.nonce, o.pkt[o.hdr:], o.pkt[:espHeaderLen])
			o.failed = o.failed || err != nil
		} else {
			o.aead.Seal(body[:0], o.nonce, body, o.pkt[:espHeaderLen])
		}
	default:
		if o.open {
			if o.mac != nil {
				o.mac.Reset()
				o.mac.Write(o.pkt[:n-o.icv])
				o.sum = o.mac.Sum(o.sum[:0])
				o.failed = o.failed || subtle.ConstantTimeCompare(o.sum[:o.icv], o.pkt[n-o.icv:]) != 1
			}
			if o.cbc {
				o.setDecIV(o.iv)
				o.dec.CryptBlocks(o.out[:len(body)], body)
			}
			return
		}
		if o.cbc {
			o.setEncIV(o.iv)
			o.enc.CryptBlocks(body, body)
		}
		if o.mac != nil {
			o.mac.Reset()
			o.mac.Write(o.pkt[:n-o.icv])
			o.sum = o.mac.Sum(o.sum[:0])
			copy(o.pkt[n-o.icv:], o.sum)
		}
	}
}
