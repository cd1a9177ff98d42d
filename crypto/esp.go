package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// espHeaderLen is the SPI and sequence number in front of every ESP payload.
const espHeaderLen = 8

// espKind selects the code path of an SA; the batch loops switch on it.
type espKind uint8

const (
	kindAEAD espKind = iota // AES-GCM, ChaCha20-Poly1305
	kindGMAC                // AES-GMAC: authenticated, not encrypted
	kindCBC                 // AES-CBC, 3DES-CBC, DES-CBC, optionally with HMAC
	kindNull                // NULL encryption with HMAC
)

// ESP is the cipher state of one ESP SA, built once when the SA is
// installed. It is immutable, so every worker may use it at the same time.
type ESP struct {
	t      Transform
	esn    bool
	kind   espKind
	ivLen  int
	icvLen int
	align  int

	// AEAD ciphers: nonce = salt || IV (RFC 4106 §4, RFC 4543 §3.1, RFC
	// 7634 §2). The IV is the 64-bit sequence number XOR ivMask, a random
	// per-SA value (as Linux's seqiv does): unique for every packet of the
	// SA, and a manual SA reinstalled with the same key and a sequence
	// number restarting at 1 does not repeat its nonces.
	salt   [4]byte
	ivMask uint64
	aead   cipher.AEAD
	gcm    *gcmKey // AES-GCM and AES-GMAC in assembly; nil: use aead

	// CBC ciphers: IV = E(ivKey, 64-bit sequence number || 0), a random
	// per-SA AES key (the "encrypted counter" IV of RFC 3602 §2 and NIST
	// SP 800-38A Appendix C): unpredictable to anyone without ivKey, and
	// one AES block per packet instead of a getrandom call.
	block cipher.Block
	ivGen cipher.Block
	cbc   *cbcKeys // AES-CBC in assembly; nil: use block and ivGen

	mac    hmacKey
	hasMAC bool
}

// NewESP builds the state of an ESP SA applying t. cipherKey is the
// encryption key in IKEv2 KEYMAT order, including the 4-byte salt that
// follows the key for AES-GCM, AES-GMAC and ChaCha20-Poly1305; integKey is
// the integrity key (empty for AEAD ciphers). esn selects 64-bit extended
// sequence numbers (RFC 4303 §2.2.1). The keys are copied.
func NewESP(t Transform, cipherKey, integKey []byte, esn bool) (*ESP, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if t.Cipher == CipherNone {
		return nil, errors.New("crypto: an ESP SA needs a cipher (use NewAH for AH)")
	}
	if want := t.Cipher.KeyLen(t.KeyBits); len(cipherKey) != want {
		return nil, errKeyLen(t.Cipher.String(), want, len(cipherKey))
	}
	sa := &ESP{
		t:      t,
		esn:    esn,
		ivLen:  t.Cipher.IVLen(),
		icvLen: t.Cipher.ICVLen() + t.Integ.ICVLen(),
		align:  t.Cipher.BlockLen(),
	}
	key := cipherKey[:len(cipherKey)-t.Cipher.SaltLen()]
	copy(sa.salt[:], cipherKey[len(key):])
	var err error
	switch t.Cipher {
	case CipherAESGCM16, CipherAESGMAC:
		sa.kind = kindAEAD
		if t.Cipher == CipherAESGMAC {
			sa.kind = kindGMAC
		}
		var b cipher.Block
		if b, err = aes.NewCipher(key); err != nil {
			return nil, err
		}
		if sa.aead, err = cipher.NewGCM(b); err != nil {
			return nil, err
		}
		if useAVX512 {
			sa.gcm = newGCMKey(key)
		}
	case CipherChaCha20Poly1305:
		sa.kind = kindAEAD
		if sa.aead, err = chacha20poly1305.New(key); err != nil {
			return nil, err
		}
	case CipherAESCBC, Cipher3DES, CipherDES:
		sa.kind = kindCBC
		if sa.block, err = newCBCBlock(t.Cipher, key); err != nil {
			return nil, err
		}
		var ivKey [16]byte
		rand.Read(ivKey[:])
		sa.ivGen, _ = aes.NewCipher(ivKey[:])
		if useAVX512 && t.Cipher == CipherAESCBC {
			sa.cbc = newCBCKeys(key, ivKey[:])
		}
		clear(ivKey[:])
	case CipherNull:
		sa.kind = kindNull
	}
	if t.Cipher.AEAD() {
		var m [8]byte
		rand.Read(m[:])
		sa.ivMask = binary.BigEndian.Uint64(m[:])
	}
	if t.Integ != IntegNone {
		if sa.mac, err = newHMACKey(t.Integ, integKey); err != nil {
			return nil, err
		}
		sa.hasMAC = true
	} else if len(integKey) != 0 {
		return nil, errors.New("crypto: integrity key given for a transform without integrity")
	}
	return sa, nil
}

func newCBCBlock(c Cipher, key []byte) (cipher.Block, error) {
	switch c {
	case CipherAESCBC:
		return aes.NewCipher(key)
	case Cipher3DES:
		// RFC 2451 §2.3: K1 = K2 or K2 = K3 degenerates to single DES.
		if desKeyEqual(key[0:8], key[8:16]) || desKeyEqual(key[8:16], key[16:24]) {
			return nil, errors.New("crypto: 3DES key degenerates to single DES")
		}
		return des.NewTripleDESCipher(key)
	default:
		if desWeak(key) {
			return nil, errors.New("crypto: DES weak or semi-weak key (RFC 2405 §5)")
		}
		return des.NewCipher(key)
	}
}

// Transform is the transform the SA applies.
func (sa *ESP) Transform() Transform { return sa.t }

// ESN reports whether the SA uses 64-bit extended sequence numbers.
func (sa *ESP) ESN() bool { return sa.esn }

// IVLen is the length of the IV that follows the ESP header.
func (sa *ESP) IVLen() int { return sa.ivLen }

// ICVLen is the length of the ICV that ends every packet.
func (sa *ESP) ICVLen() int { return sa.icvLen }

// HeaderLen is the ESP header (SPI, sequence number) plus the IV: where the
// payload starts.
func (sa *ESP) HeaderLen() int { return espHeaderLen + sa.ivLen }

// Align is the multiple that payload, padding, pad length and next header
// together must reach (RFC 4303 §2.4).
func (sa *ESP) Align() int { return sa.align }

// PadLen is the number of padding bytes for a payload of n bytes.
func (sa *ESP) PadLen(n int) int { return (sa.align - (n+2)%sa.align) % sa.align }

// Overhead is the number of bytes ESP adds to a payload of n bytes: header,
// IV, padding, pad length, next header and ICV.
func (sa *ESP) Overhead(n int) int {
	return espHeaderLen + sa.ivLen + sa.PadLen(n) + 2 + sa.icvLen
}

// ValidLen reports whether an inbound ESP packet of n bytes (from the SPI to
// the end of the ICV) has a possible length: room for header, IV, trailer
// and ICV, and a block-aligned ciphertext for CBC ciphers. OpenBatch fails
// packets that do not; callers that count malformed packets apart from
// authentication failures check this first.
func (sa *ESP) ValidLen(n int) bool {
	c := n - espHeaderLen - sa.ivLen - sa.icvLen
	if c < 2 {
		return false
	}
	return sa.kind != kindCBC || c%sa.align == 0
}

// Op is one packet of a batch.
//
// Pkt runs from the SPI to the end of the ICV, in place in the frame:
//
//	SPI | sequence number | IV | payload, padding, pad length, next header | ICV
//
// For SealBatch the caller has written SPI, the low 32 bits of the sequence
// number, the payload and the trailer, and left IV and ICV space; SealBatch
// writes the IV, encrypts and writes the ICV. For OpenBatch Pkt is the packet
// as received; OpenBatch verifies the ICV in constant time and decrypts in
// place; the caller then checks padding and next header. SeqHi is the high
// half of the 64-bit sequence number (used when the SA has ESN: in the ICV
// and AAD, never sent). OK reports success; when it is false the payload
// bytes are unspecified and the packet must be dropped.
type Op struct {
	SA    *ESP
	Pkt   []byte
	SeqHi uint32
	OK    bool
}

// Set fills in op for a packet of sa, field by field: a batch is
// assembled in a hot loop, where a composite literal built on the stack
// and copied in wide loads stalls on its own narrow stores.
func (op *Op) Set(sa *ESP, pkt []byte, seqHi uint32) {
	op.SA, op.Pkt, op.SeqHi, op.OK = sa, pkt, seqHi, false
}

// SealBatch protects every packet of ops, which may belong to different SAs.
// It allocates nothing.
func SealBatch(ops []Op) { sealBatch(ops, true) }

// sealBatch is SealBatch; known-answer tests call it with genIV false to
// seal with an IV they wrote themselves.
//
// In assembly, AES-GCM and AES-GMAC packets go SA by SA, AES-CBC packets
// SA by SA 16 at a time; the others are encrypted one by one; the HMACs are
// computed together at the end (encrypt-then-MAC), multi-buffer where the
// CPU allows.
func sealBatch(ops []Op, genIV bool) {
	var sc *scratch
	for i := range ops {
		op := &ops[i]
		sa := op.SA
		pkt := op.Pkt
		if op.OK = sa.sealLenOK(len(pkt)); !op.OK {
			continue
		}
		if sc == nil {
			sc = getScratch()
		}
		switch {
		case sa.gcm != nil:
			if genIV {
				sa.writeAEADIV(pkt, op.SeqHi)
			}
			sc.gcmOps = append(sc.gcmOps, int32(i))
			continue
		case sa.cbc != nil:
			sc.cbcOps = append(sc.cbcOps, int32(i))
		case genIV:
			sa.writeIV(sc, pkt, op.SeqHi)
			fallthrough
		default:
			sa.sealRef(sc, pkt, op.SeqHi)
		}
		if sa.hasMAC {
			n := len(pkt) - sa.icvLen
			sc.jobs = append(sc.jobs, macJob{key: &sa.mac, msg: pkt[:n], icv: pkt[n:], esn: sa.esn, seqHi: op.SeqHi})
		}
	}
	if sc != nil {
		sc.gcmBatch(ops, sc.gcmOps, false)
		sc.cbcSealBatch(ops, sc.cbcOps, genIV)
		sc.macBatch(sc.jobs)
		putScratch(sc)
	}
}

// OpenBatch verifies and decrypts every packet of ops, which may belong to
// different SAs. It allocates nothing.
//
// In assembly, AES-GCM and AES-GMAC packets go SA by SA; the others have
// their HMACs verified together first, multi-buffer where the CPU allows,
// and only the packets that pass are decrypted.
func OpenBatch(ops []Op) {
	var sc *scratch
	for i := range ops {
		op := &ops[i]
		sa := op.SA
		pkt := op.Pkt
		if op.OK = sa.ValidLen(len(pkt)); !op.OK {
			continue
		}
		if sc == nil {
			sc = getScratch()
		}
		if sa.gcm != nil {
			sc.gcmOps = append(sc.gcmOps, int32(i))
			continue
		}
		if sa.kind == kindAEAD || sa.kind == kindGMAC {
			op.OK = sa.openAEADRef(sc, pkt, op.SeqHi)
			continue
		}
		if !sa.hasMAC {
			sa.decrypt(pkt)
			continue
		}
		n := len(pkt) - sa.icvLen
		sc.jobs = append(sc.jobs, macJob{key: &sa.mac, msg: pkt[:n], icv: pkt[n:], esn: sa.esn, seqHi: op.SeqHi, verify: true, op: int32(i)})
	}
	if sc == nil {
		return
	}
	sc.gcmBatch(ops, sc.gcmOps, true)
	sc.macBatch(sc.jobs)
	for _, j := range sc.jobs {
		op := &ops[j.op]
		if op.OK = j.ok; op.OK {
			op.SA.decrypt(op.Pkt)
		}
	}
	putScratch(sc)
}

// firstSA moves the ops of idx that belong to the SA of the first to the
// front, keeping their order, and returns that SA and their number: the
// assembly paths go SA by SA, each with its keys loaded once.
func firstSA(ops []Op, idx []int32) (*ESP, int) {
	sa := ops[idx[0]].SA
	n := 0
	for i := range idx {
		if ops[idx[i]].SA == sa {
			idx[n], idx[i] = idx[i], idx[n]
			n++
		}
	}
	return sa, n
}

// sealLenOK checks what the caller laid out: the aligned trailer must fit.
func (sa *ESP) sealLenOK(n int) bool {
	c := n - espHeaderLen - sa.ivLen - sa.icvLen
	return c >= 2 && c%sa.align == 0
}

// seq64 is the full sequence number of a packet.
func seq64(pkt []byte, seqHi uint32) uint64 {
	return uint64(seqHi)<<32 | uint64(binary.BigEndian.Uint32(pkt[4:8]))
}

// j0 writes the pre-counter block: salt, the packet's IV, 1 (RFC 4106
// §4); its first 12 bytes are the AEAD nonce (RFC 4543 §3.1, RFC 7634 §2).
func (sa *ESP) j0(j0 *[16]byte, pkt []byte) {
	copy(j0[0:4], sa.salt[:])
	copy(j0[4:12], pkt[espHeaderLen:espHeaderLen+8])
	j0[15] = 1
}

// nonce is the AEAD nonce for the standard library, in scratch.
func (sa *ESP) nonce(sc *scratch, pkt []byte) []byte {
	sa.j0(&sc.j0, pkt)
	return sc.j0[:12]
}

// aeadAAD is the AAD of RFC 4106 §5 and RFC 7634 §2.1: SPI and sequence
// number, in the packet, or with ESN the sequence number 64 bits wide, in
// buf.
func (sa *ESP) aeadAAD(buf *[16]byte, pkt []byte, seqHi uint32) []byte {
	if !sa.esn {
		return pkt[:espHeaderLen]
	}
	copy(buf[0:4], pkt[0:4])
	binary.BigEndian.PutUint32(buf[4:8], seqHi)
	copy(buf[8:12], pkt[4:8])
	return buf[:12]
}

// gmacAADs is the AAD of RFC 4543 §3.3, the packet but the ICV with the
// sequence number 64 bits wide under ESN, as a first whole block in buf and
// the rest in place, so that nothing is copied.
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

// gmacAAD is gmacAADs in one piece for the standard library (a copy with
// ESN).
func (sa *ESP) gmacAAD(sc *scratch, pkt []byte, seqHi uint32) []byte {
	aad1, aad2 := sa.gmacAADs(&sc.hdr, pkt, seqHi)
	if aad1 == nil {
		return aad2
	}
	sc.buf = append(append(sc.buf[:0], aad1...), aad2...)
	return sc.buf
}

// writeIV writes the IV of a packet to be sealed.
func (sa *ESP) writeIV(sc *scratch, pkt []byte, seqHi uint32) {
	switch sa.kind {
	case kindAEAD, kindGMAC:
		sa.writeAEADIV(pkt, seqHi)
	case kindCBC:
		binary.BigEndian.PutUint64(sc.ctr[:8], seq64(pkt, seqHi))
		sa.ivGen.Encrypt(sc.ctr[:], sc.ctr[:])
		copy(pkt[espHeaderLen:espHeaderLen+sa.ivLen], sc.ctr[:])
		clear(sc.ctr[:])
	}
}

// writeAEADIV writes the IV of an AEAD packet: the sequence number, masked.
func (sa *ESP) writeAEADIV(pkt []byte, seqHi uint32) {
	binary.BigEndian.PutUint64(pkt[espHeaderLen:], seq64(pkt, seqHi)^sa.ivMask)
}

// sealRef is the standard-library path of SealBatch for one packet whose
// IV is written, but for the HMAC, which the batch computes at the end.
func (sa *ESP) sealRef(sc *scratch, pkt []byte, seqHi uint32) {
	n := len(pkt)
	hdr := espHeaderLen + sa.ivLen
	switch sa.kind {
	case kindAEAD:
		pt := pkt[hdr : n-sa.icvLen]
		sa.aead.Seal(pt[:0], sa.nonce(sc, pkt), pt, sa.aeadAAD(&sc.hdr, pkt, seqHi))
	case kindGMAC:
		sa.aead.Seal(pkt[n-sa.icvLen:n-sa.icvLen], sa.nonce(sc, pkt), nil, sa.gmacAAD(sc, pkt, seqHi))
	case kindCBC:
		cbcEncrypt(sa.block, pkt[espHeaderLen:hdr], pkt[hdr:n-sa.icvLen])
	}
}

// openAEADRef is the standard-library path of OpenBatch for an AEAD packet.
func (sa *ESP) openAEADRef(sc *scratch, pkt []byte, seqHi uint32) bool {
	n := len(pkt)
	if sa.kind == kindGMAC {
		_, err := sa.aead.Open(sc.digest[:0], sa.nonce(sc, pkt), pkt[n-sa.icvLen:], sa.gmacAAD(sc, pkt, seqHi))
		return err == nil
	}
	ct := pkt[espHeaderLen+sa.ivLen : n]
	_, err := sa.aead.Open(ct[:0], sa.nonce(sc, pkt), ct, sa.aeadAAD(&sc.hdr, pkt, seqHi))
	return err == nil
}

// decrypt decrypts a CBC packet whose ICV is verified (NULL: nothing to do).
func (sa *ESP) decrypt(pkt []byte) {
	if sa.cbc != nil {
		cbcDecryptAVX512(&sa.cbc.dec, pkt[espHeaderLen:len(pkt)-sa.icvLen])
		return
	}
	if sa.kind == kindCBC {
		hdr := espHeaderLen + sa.ivLen
		cbcDecrypt(sa.block, pkt[espHeaderLen:hdr], pkt[hdr:len(pkt)-sa.icvLen])
	}
}

// cbcEncrypt encrypts data in place in CBC mode (len(iv) is the block size).
func cbcEncrypt(b cipher.Block, iv, data []byte) {
	bs := len(iv)
	prev := iv
	for off := 0; off < len(data); off += bs {
		blk := data[off : off+bs]
		subtle.XORBytes(blk, blk, prev)
		b.Encrypt(blk, blk)
		prev = blk
	}
}

// cbcDecrypt decrypts data in place in CBC mode, last block first so that
// every block's predecessor is still ciphertext when it is needed.
func cbcDecrypt(b cipher.Block, iv, data []byte) {
	bs := len(iv)
	for off := len(data) - bs; off >= 0; off -= bs {
		blk := data[off : off+bs]
		b.Decrypt(blk, blk)
		if off == 0 {
			subtle.XORBytes(blk, blk, iv)
		} else {
			subtle.XORBytes(blk, blk, data[off-bs:off])
		}
	}
}

func errKeyLen(what string, want, got int) error {
	return fmt.Errorf("crypto: %s key is %d bytes, want %d", what, got, want)
}

func errUnsupported(what, name string) error {
	return fmt.Errorf("crypto: unsupported %s %s", what, name)
}

// String names the SA's transform; the keys are never printed (GoString too,
// for %#v).
func (sa *ESP) String() string {
	if sa.esn {
		return "ESP " + sa.t.String() + " esn"
	}
	return "ESP " + sa.t.String()
}

// GoString is String.
func (sa *ESP) GoString() string { return sa.String() }
