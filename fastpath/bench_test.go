package fastpath

import (
	"testing"

	"ipsecgw/crypto"
	"ipsecgw/fastpath/sad"
)

// Benchmarks of the whole engine over memory ports: a poll receives a batch
// of frames, runs every node and transmits. One op is one packet; the
// figures must show 0 allocs/op.

var benchTransforms = map[string]crypto.Transform{
	"gcm128":        gcm128,
	"aes256-sha256": {Cipher: crypto.CipherAESCBC, KeyBits: 256, Integ: crypto.IntegHMACSHA256_128},
}

var benchSizes = map[string]int{"64": 64, "512": 512, "1400": 1400}

// benchFrames makes cleartext frames of size bytes from host A, over 64
// flows.
func benchFrames(b *testing.B, size int) [][]byte {
	var fs [][]byte
	for i := range 64 {
		f := hostFrame(b, siteA, "10.1.0.5", "10.2.0.5", frameOpts{sport: uint16(1000 + i), payload: payload(size - 14 - 28)})
		fs = append(fs, f)
	}
	return fs
}

// runBench polls g until b.N packets left through port.
func runBench(b *testing.B, g *gateway, out *MemPort) {
	out.Capture(false)
	b.ReportAllocs()
	b.ResetTimer()
	start := out.Stats().TxPackets
	for out.Stats().TxPackets-start < uint64(b.N) {
		g.w.Poll()
	}
	b.StopTimer()
	if d := g.stats().Global.Drops.Total(); d != 0 {
		b.Fatalf("%d drops", d)
	}
}

func BenchmarkEncap(b *testing.B) {
	for tn, tr := range benchTransforms {
		for sn, size := range benchSizes {
			b.Run(tn+"/"+sn, func(b *testing.B) {
				g := newGateway(b, siteA, siteB, &saSpec{proto: sad.ESP, transform: tr}, EntryManual, 2000)
				g.in.Load(benchFrames(b, size))
				g.in.loop = true
				b.SetBytes(int64(size))
				runBench(b, g, g.out)
			})
		}
	}
}

func BenchmarkDecap(b *testing.B) {
	for tn, tr := range benchTransforms {
		for sn, size := range benchSizes {
			b.Run(tn+"/"+sn, func(b *testing.B) {
				spec := saSpec{proto: sad.ESP, transform: tr}
				a, gb := newPair(b, spec, 2000)
				_, esp := a.send(b, a.in, benchFrames(b, size)...)
				gb.out.Load(esp)
				gb.out.loop = true
				b.SetBytes(int64(size))
				runBench(b, gb, gb.in)
			})
		}
	}
}

// BenchmarkForward is plain routing without a crypto map: the engine's own
// cost per packet.
func BenchmarkForward(b *testing.B) {
	g := newGateway(b, siteA, siteB, nil, EntryManual, 0)
	g.in.Load(benchFrames(b, 64))
	g.in.loop = true
	runBench(b, g, g.out)
}

// BenchmarkEncapOneFlow is encap of one flow (a TCP stream, an iperf):
// every packet of a batch asks the SPD the same question.
func BenchmarkEncapOneFlow(b *testing.B) {
	g := newGateway(b, siteA, siteB, &saSpec{proto: sad.ESP, transform: gcm128}, EntryManual, 2000)
	g.in.Load([][]byte{hostFrame(b, siteA, "10.1.0.5", "10.2.0.5", frameOpts{sport: 1000, payload: payload(64 - 14 - 28)})})
	g.in.loop = true
	b.SetBytes(64)
	runBench(b, g, g.out)
}
