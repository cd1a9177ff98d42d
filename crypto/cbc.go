package crypto

import (
	"encoding/binary"
	"slices"
	"unsafe"
)

// cbcKeys is the AES-CBC state of the assembly path: the expanded
// encryption and decryption keys and the IV generator's key.
type cbcKeys struct {
	enc, dec, iv aesRoundKeys
}

func newCBCKeys(key, ivKey []byte) *cbcKeys {
	k := &cbcKeys{enc: expandKey(key), iv: expandKey(ivKey)}
	k.dec = k.enc.decryptionKeys()
	return k
}

const cbcMaxStep = 32 // blocks per kernel call: the idle lanes' dummy buffer

// cbcSealBatch encrypts the AES-CBC packets ops[idx] (headers and trailers
// laid out) in place: SA by SA, their IVs in one ECB call (unless genIV is
// false: known-answer tests), then their payloads 16 packets at a time.
func (sc *scratch) cbcSealBatch(ops []Op, idx []int32, genIV bool) {
	for len(idx) > 0 {
		sa, n := firstSA(ops, idx)
		if genIV {
			sc.cbcIVs(sa, ops, idx[:n])
		}
		// Longest first, as for the HMACs: the long chains set the pace.
		slices.SortFunc(idx[:n], func(a, b int32) int { return len(ops[b].Pkt) - len(ops[a].Pkt) })
		sc.cbcEncrypt(sa, ops, idx[:n])
		idx = idx[n:]
	}
}

// cbcIVs writes E(ivKey, sequence number || 0) as every packet's IV.
func (sc *scratch) cbcIVs(sa *ESP, ops []Op, idx []int32) {
	buf := sc.ivs[:0]
	for _, i := range idx {
		buf = binary.BigEndian.AppendUint64(buf, seq64(ops[i].Pkt, ops[i].SeqHi))
		buf = binary.BigEndian.AppendUint64(buf, 0)
	}
	sc.ivs = buf
	aesECBEncrypt(&sa.cbc.iv, buf)
	for j, i := range idx {
		copy(ops[i].Pkt[espHeaderLen:], buf[16*j:16*j+16])
	}
}

// cbcEncrypt runs the payloads of one SA's packets through the 16 lanes of
// cbcEncryptMB, refilling a lane when its packet is done.
func (sc *scratch) cbcEncrypt(sa *ESP, ops []Op, idx []int32) {
	var chain [16][16]byte
	var ptrs [16]unsafe.Pointer
	var data [16][]byte
	next := 0
	assign := func(l int) {
		data[l] = nil
		if next < len(idx) {
			pkt := ops[idx[next]].Pkt
			copy(chain[l][:], pkt[espHeaderLen:espHeaderLen+16])
			data[l] = pkt[espHeaderLen+16 : len(pkt)-sa.icvLen]
			next++
		}
	}
	for l := range 16 {
		assign(l)
	}
	for {
		k := cbcMaxStep
		busy := false
		for l := range 16 {
			if len(data[l]) > 0 {
				k = min(k, len(data[l])/16)
				busy = true
			}
		}
		if !busy {
			return
		}
		for l := range 16 {
			if len(data[l]) > 0 {
				ptrs[l] = unsafe.Pointer(&data[l][0])
			} else {
				ptrs[l] = unsafe.Pointer(&sc.cbcIdle[0])
			}
		}
		cbcEncryptMB(&sa.cbc.enc, &chain, &ptrs, k)
		for l := range 16 {
			if len(data[l]) > 0 {
				if data[l] = data[l][16*k:]; len(data[l]) == 0 {
					assign(l)
				}
			}
		}
	}
}
