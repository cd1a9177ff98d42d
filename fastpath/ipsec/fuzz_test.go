package ipsec

import (
	"bytes"
	"testing"

	"ipsecgw/crypto"
	"ipsecgw/fastpath/hdr"
	"ipsecgw/fastpath/sad"
	"ipsecgw/fastpath/stats"
)

// fuzzSpecs are the SAs the fuzz targets aim at: every inbound layout.
func fuzzSpecs() []spec {
	specs := tamperSpecs()
	specs = append(specs,
		spec{proto: sad.ESP, tr: cbcSHA256, mode: sad.Transport, window: 64},
		spec{proto: sad.ESP, tr: crypto.Transform{Cipher: crypto.CipherAESGMAC, KeyBits: 256}, esn: true, outer6: true, natt: true},
		spec{proto: sad.ESP, tr: gcm128, ahInteg: crypto.IntegHMACSHA256_128, mode: sad.Transport, outer6: true, window: 64},
	)
	for i := range specs {
		specs[i].anySel = true
	}
	return specs
}

// FuzzDecrypt feeds arbitrary packets to real SAs of every layout: the
// decryptor must never panic and must give every packet a verdict; what it
// lets through must be a whole IP packet on the right SA. Seeds are real
// protected packets, so mutations reach the crypto and the decapsulation.
func FuzzDecrypt(f *testing.F) {
	specs := fuzzSpecs()
	pairs := make([]*pair, len(specs))
	for i, s := range specs {
		p := newPair(f, s)
		pairs[i] = p
		for j, size := range []int{28, 90, 600} {
			for _, pkt := range p.mustSeal(p.hostPacket(j == 1 && s.mode == sad.Tunnel, size)) {
				f.Add(uint8(i), pkt)
			}
		}
	}
	f.Add(uint8(0), []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 50, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2})
	f.Add(uint8(0), []byte{0x60, 0, 0, 0, 0, 8, 0, 64})
	f.Fuzz(func(t *testing.T, which uint8, pkt []byte) {
		p := pairs[int(which)%len(pairs)]
		p.t = t
		if len(pkt) > p.pool.ChunkSize()-512 {
			return
		}
		got, sa, r := p.openOne(pkt)
		switch {
		case r >= stats.NumReasons:
			t.Fatalf("verdict %d out of range", r)
		case r == stats.None && sa != p.in:
			t.Fatalf("passed on SA %v", sa)
		case r != stats.None && sa != nil:
			t.Fatalf("dropped (%v) with an SA", r)
		case r == stats.None:
			var h hdr.Meta
			if hdr.Parse(got, &h) != stats.None || h.Length != len(got) {
				t.Fatalf("passed a broken packet %x", got)
			}
		}
	})
}

// FuzzEncrypt feeds arbitrary cleartext to tunnel SAs: whatever the
// encryptor accepts, the peer must get back unchanged.
func FuzzEncrypt(f *testing.F) {
	var pairs []*pair
	for _, s := range fuzzSpecs() {
		if s.mode == sad.Tunnel {
			pairs = append(pairs, newPair(f, s))
		}
	}
	f.Add(uint8(0), inner(f, hostA4, hostB4, 64, 3, true))
	f.Add(uint8(1), inner(f, hostA6, hostB6, 300, 1, false))
	f.Add(uint8(2), []byte{0x45, 0, 0, 20, 0, 0, 0x20, 1, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2})
	f.Fuzz(func(t *testing.T, which uint8, frame []byte) {
		p := pairs[int(which)%len(pairs)]
		p.t = t
		if len(frame) > 1400 {
			return
		}
		bufs, v := p.seal(frame)
		defer p.free(bufs)
		if v[0] != stats.None {
			return
		}
		var h hdr.Meta
		hdr.Parse(frame, &h) // what the engine checked before handing it over
		want := frame[:h.Length]
		sealed := bytes.Clone(bufs[0].Bytes())
		got, sa, r := p.openOne(sealed)
		if r != stats.None || sa != p.in || !bytes.Equal(got, want) {
			t.Fatalf("round trip: %v\n got %x\nwant %x", r, got, want)
		}
	})
}
