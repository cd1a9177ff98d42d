package bench

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestRun runs each direction briefly: traffic flows, nothing is dropped,
// nothing is allocated per packet, and the bound is measured.
func TestRun(t *testing.T) {
	for _, s := range []Spec{
		{Transform: "esp-gcm 128", Size: 64, Workers: 1, Direction: Encap},
		{Transform: "esp-aes 256 esp-sha256-hmac", Size: IMIX, Workers: 1, Direction: Decap},
		{Transform: "esp-chacha20-poly1305", Size: 1400, Workers: 2, Direction: Decap},
	} {
		s.Duration = 100 * time.Millisecond
		r, err := Run(s)
		if err != nil {
			t.Fatal(err)
		}
		if r.Packets == 0 || r.PPS <= 0 || r.Gbps <= 0 || r.BoundPPS <= 0 || r.Ratio <= 0 {
			t.Errorf("%+v: no figures", r)
		}
		if r.Drops != 0 || r.Punted != 0 {
			t.Errorf("%+v: drops or punts", r)
		}
		// The Go runtime may allocate a few objects of its own meanwhile;
		// the fast path none per packet.
		if allocs := r.AllocsPerPacket * float64(r.Packets); !raceEnabled && allocs > 10 && r.AllocsPerPacket > 0.001 {
			t.Errorf("%+v: allocates per packet", r)
		}
	}
}

func TestParse(t *testing.T) {
	if _, err := ParseTransform("esp-gcm 256"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"ah-sha-hmac", "esp-foo", "esp-aes 100"} {
		if _, err := ParseTransform(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for in, want := range map[string]Size{"64": 64, "IMIX": IMIX, "1514": 1514} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"63", "1515", "big"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("size %q accepted", bad)
		}
	}
	b, _ := json.Marshal(Result{Size: IMIX, Transform: "esp-gcm 128"})
	for _, field := range []string{`"size":"imix"`, `"transform"`, `"direction"`, `"workers"`, `"pps"`, `"gbps"`, `"bound_pps"`, `"ratio"`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("JSON %s lacks %s", b, field)
		}
	}
}

// BenchmarkGateway polls one worker over the same traffic as Run (256
// flows to 256 hosts), one op per packet out: the benchmark to profile
// (-cpuprofile) when a figure of `ipsecgw bench` needs explaining.
func BenchmarkGateway(b *testing.B) {
	for _, tr := range []string{"esp-gcm 128", "esp-aes 256 esp-sha256-hmac"} {
		for _, dir := range []Direction{Encap, Decap} {
			for _, size := range []Size{64, 1400} {
				b.Run(strings.ReplaceAll(tr, " ", "-")+"/"+string(dir)+"/"+size.String(), func(b *testing.B) {
					t, err := ParseTransform(tr)
					if err != nil {
						b.Fatal(err)
					}
					frames := cleartext(size)
					g, err := newGateway(t, dir == Encap, 1, 64)
					if err != nil {
						b.Fatal(err)
					}
					in, out := g.in[0], g.out[0]
					if dir == Decap {
						esp, err := encrypt(t, frames)
						if err != nil {
							b.Fatal(err)
						}
						in, out, frames = g.out[0], g.in[0], esp
					}
					in.Load(frames)
					b.SetBytes(int64(size))
					b.ReportAllocs()
					b.ResetTimer()
					start := out.Stats().TxPackets
					for out.Stats().TxPackets-start < uint64(b.N) {
						g.workers[0].Poll()
					}
					if d := g.eng.Stats().Global.Drops.Total(); d != 0 {
						b.Fatalf("%d drops", d)
					}
				})
			}
		}
	}
}
