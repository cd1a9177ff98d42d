package crypto

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// Benchmarks seal and open batches of ESP packets and report, next to the
// time, the standard library's bound for the same packets measured in the
// same run (Bound), and the ratio. A size is the cleartext frame entering
// the gateway (14-byte Ethernet header + IP packet, no FCS, as DPDK and RFC
// 2544 tools count it); in tunnel mode the ESP payload is its IP packet.
//
//	go test ./crypto -run '^$' -bench . -benchtime 0.5s

var benchTransforms = []Transform{
	{Cipher: CipherAESGCM16, KeyBits: 128},
	{Cipher: CipherAESGCM16, KeyBits: 256},
	{Cipher: CipherAESGMAC, KeyBits: 128},
	{Cipher: CipherChaCha20Poly1305},
	{Cipher: CipherAESCBC, KeyBits: 128, Integ: IntegHMACSHA1_96},
	{Cipher: CipherAESCBC, KeyBits: 256, Integ: IntegHMACSHA256_128},
	{Cipher: CipherAESCBC, KeyBits: 256, Integ: IntegHMACSHA512_256},
	{Cipher: Cipher3DES, Integ: IntegHMACSHA1_96},
	{Cipher: CipherNull, Integ: IntegHMACSHA256_128},
}

// imix is the 7:4:1 mix of 64, 576 and 1500-byte frames, interleaved.
var imix = []int{64, 576, 64, 64, 576, 64, 1500, 64, 576, 64, 576, 64}

var benchSizes = []struct {
	name   string
	frames []int
}{{"64", []int{64}}, {"512", []int{512}}, {"1400", []int{1400}}, {"imix", imix}}

const ethHeaderLen = 14

func BenchmarkSeal(b *testing.B) { benchESP(b, false) }

func BenchmarkOpen(b *testing.B) { benchESP(b, true) }

func benchESP(b *testing.B, open bool) {
	for _, tr := range benchTransforms {
		for _, sz := range benchSizes {
			for _, batch := range []int{32, 64} {
				name := fmt.Sprintf("%s/%s/batch=%d", strings.ReplaceAll(tr.String(), " ", "+"), sz.name, batch)
				b.Run(name, func(b *testing.B) { benchBatch(b, tr, sz.frames, batch, open) })
			}
		}
	}
}

func benchBatch(b *testing.B, tr Transform, frames []int, batch int, open bool) {
	r := rand.New(rand.NewPCG(1, 1))
	sa := newTestESP(b, r, tr, false)
	ops := make([]Op, batch)
	var payloads []int
	bytes := 0
	for i := range ops {
		n := frames[i%len(frames)] - ethHeaderLen
		ops[i] = Op{SA: sa, Pkt: buildPacket(sa, 0x100, uint32(i+1), randBytes(r, n), 4)}
		payloads = append(payloads, n)
		bytes += n
	}
	SealBatch(ops)
	// Open works in place, so every round restores the sealed packets
	// first; the copy is timed on its own afterwards and taken out.
	var sealed [][]byte
	if open {
		for i := range ops {
			sealed = append(sealed, append([]byte(nil), ops[i].Pkt...))
		}
	}
	b.SetBytes(int64(bytes))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if open {
			restore(ops, sealed)
			OpenBatch(ops)
		} else {
			SealBatch(ops)
		}
	}
	b.StopTimer()
	for i := range ops {
		if !ops[i].OK {
			b.Fatal("an op failed")
		}
	}
	elapsed := b.Elapsed()
	var restoreNs float64
	if open {
		start := time.Now()
		for range b.N {
			restore(ops, sealed)
		}
		restoreNs = float64(time.Since(start).Nanoseconds()) / float64(b.N)
	}
	perBatch := float64(elapsed.Nanoseconds())/float64(b.N) - restoreNs
	pps := float64(batch) / perBatch * 1e9
	// The bound right after, on the same packets, so that both see the same
	// load on a shared machine.
	d := min(max(elapsed/2, 20*time.Millisecond), 300*time.Millisecond)
	boundPPS := boundOf(b, tr, payloads, open, d)
	b.ReportMetric(perBatch/float64(batch), "ns/pkt")
	b.ReportMetric(pps/1e6, "Mpps")
	b.ReportMetric(boundPPS/1e6, "bound-Mpps")
	b.ReportMetric(pps/boundPPS, "x-bound")
}

func restore(ops []Op, sealed [][]byte) {
	for i := range ops {
		copy(ops[i].Pkt, sealed[i])
	}
}

// boundOf is Bound for a batch of packets with these payload lengths:
// the time per batch at the standard library's rate for each length.
func boundOf(b *testing.B, tr Transform, payloads []int, open bool, d time.Duration) float64 {
	count := map[int]int{}
	for _, n := range payloads {
		count[n]++
	}
	var secs float64
	for n, c := range count {
		pps, err := Bound(tr, n, open, d/time.Duration(len(count)))
		if err != nil {
			b.Fatal(err)
		}
		secs += float64(c) / pps
	}
	return float64(len(payloads)) / secs
}

func BenchmarkAH(b *testing.B) {
	for _, integ := range []Integ{IntegHMACSHA1_96, IntegHMACSHA256_128, IntegHMACSHA512_256} {
		for _, n := range []int{64, 1400} {
			b.Run(fmt.Sprintf("%s/%d", integ, n), func(b *testing.B) {
				a, _ := NewAH(integ, make([]byte, integ.KeyLen()), false)
				ops := make([]AHOp, 32)
				for i := range ops {
					ops[i] = AHOp{SA: a, Msg: make([]byte, n), ICV: make([]byte, a.ICVLen())}
				}
				b.SetBytes(int64(n * len(ops)))
				b.ReportAllocs()
				for range b.N {
					AHSealBatch(ops)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ops)), "ns/pkt")
			})
		}
	}
}
