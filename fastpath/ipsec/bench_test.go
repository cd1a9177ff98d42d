package ipsec

import (
	"fmt"
	"testing"

	"ipsecgw/crypto"
	"ipsecgw/fastpath/hdr"
	"ipsecgw/fastpath/sad"
	"ipsecgw/fastpath/stats"
	"ipsecgw/packet"
)

// benchSizes are Ethernet frame sizes without FCS, as DPDK and RFC 2544
// tools count them; the IP packet is 14 bytes shorter. IMIX is 7:4:1 of
// 64, 576 and 1500.
var benchSizes = []struct {
	name   string
	frames []int
}{
	{"64", []int{64}},
	{"512", []int{512}},
	{"1400", []int{1400}},
	{"imix", []int{64, 64, 64, 64, 64, 64, 64, 576, 576, 576, 576, 1500}},
}

var benchTransforms = []struct {
	name string
	tr   crypto.Transform
}{
	{"esp-gcm-128", gcm128},
	{"esp-aes-256-sha256", cbcSHA256},
}

const benchVector = 64

// benchVectorOf builds one vector of cleartext packets cycling over sizes.
func benchVectorOf(p *pair, sizes []int) [][]byte {
	frames := make([][]byte, benchVector)
	for i := range frames {
		frames[i] = p.hostPacket(false, sizes[i%len(sizes)]-14)
	}
	return frames
}

// restore puts the template frames back into the vector's buffers.
func restore(bufs []*packet.Buf, frames [][]byte) int {
	n := 0
	for i, b := range bufs {
		b.Reset()
		copy(b.Append(len(frames[i])), frames[i])
		n += len(frames[i])
	}
	return n
}

// BenchmarkEncrypt measures the encrypt node on vectors of 64 packets, next
// to the crypto batch alone on the same packets ("crypto": the ESP packets
// laid out once, only sealed), in the same run: node/crypto is the cost of
// everything but the cipher, plus copying the cleartext vector back into
// its buffers before every op. One op is one vector.
func BenchmarkEncrypt(b *testing.B) {
	for _, tr := range benchTransforms {
		for _, sz := range benchSizes {
			p := newPair(b, spec{proto: sad.ESP, tr: tr.tr})
			frames := benchVectorOf(p, sz.frames)
			bufs := p.load(frames...)
			sas := make([]*sad.SA, benchVector)
			for i := range sas {
				sas[i] = p.out
			}
			v := make([]stats.Reason, benchVector)
			bytesPer := restore(bufs, frames)
			name := fmt.Sprintf("%s/%s", tr.name, sz.name)
			b.Run(name+"/node", func(b *testing.B) {
				b.SetBytes(int64(bytesPer))
				b.ReportAllocs()
				for b.Loop() {
					restore(bufs, frames)
					p.enc.Process(bufs, sas, v)
				}
				reportPPS(b)
				for _, r := range v {
					if r != stats.None {
						b.Fatal(r)
					}
				}
			})
			b.Run(name+"/crypto", func(b *testing.B) {
				// Lay the packets out once with the node, then seal the
				// same ops over and over.
				restore(bufs, frames)
				p.enc.Process(bufs, sas, v)
				ops := make([]crypto.Op, benchVector)
				hdr := ipv4HeaderLen
				for i, buf := range bufs {
					ops[i] = crypto.Op{SA: p.out.ESP(), Pkt: buf.Bytes()[hdr:]}
				}
				b.SetBytes(int64(bytesPer))
				b.ReportAllocs()
				for b.Loop() {
					crypto.SealBatch(ops)
				}
				reportPPS(b)
			})
		}
	}
}

// BenchmarkDecrypt measures the decrypt node on vectors of 64 ESP packets,
// next to the crypto batch alone ("crypto": OpenBatch on the same packets),
// each restoring the ciphertext before every vector. The inbound SA's
// replay window is disabled so that the same packets can be opened again:
// an enabled window adds its check and update (about 15 ns a packet, see
// fastpath/replay's benchmarks).
func BenchmarkDecrypt(b *testing.B) {
	for _, tr := range benchTransforms {
		for _, sz := range benchSizes {
			p := newPair(b, spec{proto: sad.ESP, tr: tr.tr})
			sealed := p.mustSeal(benchVectorOf(p, sz.frames)...)
			bufs := p.load(sealed...)
			sas := make([]*sad.SA, benchVector)
			v := make([]stats.Reason, benchVector)
			_, outer := parseOuter(bufs, v)
			hdrs := make([]hdr.Meta, len(outer))
			cleartext := 0
			for _, s := range sz.frames {
				cleartext += s - 14
			}
			cleartext = cleartext * benchVector / len(sz.frames)
			name := fmt.Sprintf("%s/%s", tr.name, sz.name)
			b.Run(name+"/node", func(b *testing.B) {
				b.SetBytes(int64(cleartext))
				b.ReportAllocs()
				for b.Loop() {
					restore(bufs, sealed)
					copy(hdrs, outer)
					p.dec.Process(bufs, hdrs, sas, v)
				}
				reportPPS(b)
				for _, r := range v {
					if r != stats.None {
						b.Fatal(r)
					}
				}
			})
			b.Run(name+"/crypto", func(b *testing.B) {
				ops := make([]crypto.Op, benchVector)
				b.SetBytes(int64(cleartext))
				b.ReportAllocs()
				for b.Loop() {
					restore(bufs, sealed)
					for i, buf := range bufs {
						ops[i] = crypto.Op{SA: p.in.ESP(), Pkt: buf.Bytes()[ipv4HeaderLen:]}
					}
					crypto.OpenBatch(ops)
				}
				reportPPS(b)
				for i := range ops {
					if !ops[i].OK {
						b.Fatal("open failed")
					}
				}
			})
		}
	}
}

func reportPPS(b *testing.B) {
	b.ReportMetric(float64(b.N)*benchVector/b.Elapsed().Seconds(), "pkts/s")
}
