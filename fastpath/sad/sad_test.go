package sad

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"ipsecgw/crypto"
	"ipsecgw/fastpath/stats"
	"ipsecgw/spd"
)

var (
	local  = netip.MustParseAddr("192.0.2.1")
	remote = netip.MustParseAddr("192.0.2.2")
	gcm128 = crypto.Transform{Cipher: crypto.CipherAESGCM16, KeyBits: 128}
)

func gcmConfig(spi uint32, dir Direction) Config {
	return Config{
		SPI: spi, Protocol: ESP, Direction: dir, Mode: Tunnel,
		Local: local, Remote: remote,
		Transform: gcm128, CipherKey: bytes.Repeat([]byte{0x5a}, 20),
		ReplayWindow: 64,
		Selectors: []spd.Selector{{
			Src: netip.MustParsePrefix("10.1.0.0/16"), Dst: netip.MustParsePrefix("10.2.0.0/16"),
		}},
	}
}

func mustNew(t testing.TB, cfg Config, workers int) *SA {
	t.Helper()
	sa, err := New(cfg, workers)
	if err != nil {
		t.Fatal(err)
	}
	return sa
}

func TestNewRejects(t *testing.T) {
	ah := Config{SPI: 300, Protocol: AH, Local: local, Remote: remote,
		Transform: crypto.Transform{Integ: crypto.IntegHMACSHA256_128}, IntegKey: make(Key, 32)}
	cases := map[string]func(*Config){
		"reserved SPI":    func(c *Config) { c.SPI = 255 },
		"mixed families":  func(c *Config) { c.Remote = netip.MustParseAddr("2001:db8::1") },
		"no endpoint":     func(c *Config) { c.Local = netip.Addr{} },
		"short key":       func(c *Config) { c.CipherKey = c.CipherKey[:16] },
		"bad protocol":    func(c *Config) { c.Protocol = 17 },
		"huge window":     func(c *Config) { c.ReplayWindow = 1 << 20 },
		"NAT-T no ports":  func(c *Config) { c.UDPEncap = true },
		"DSCP too big":    func(c *Config) { c.DSCP = 64 },
		"seq past space":  func(c *Config) { c.SeqStart = 1 << 32 },
		"bad mode":        func(c *Config) { c.Mode = 7 },
		"integ with AEAD": func(c *Config) { c.Transform.Integ = crypto.IntegHMACSHA1_96; c.IntegKey = make(Key, 20) },
	}
	for name, mod := range cases {
		c := gcmConfig(1000, Inbound)
		mod(&c)
		if _, err := New(c, 1); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	if _, err := New(ah, 1); err != nil {
		t.Fatalf("valid AH SA: %v", err)
	}
	bad := ah
	bad.UDPEncap, bad.LocalPort, bad.RemotePort = true, 4500, 4500
	if _, err := New(bad, 1); !errors.Is(err, ErrConfig) {
		t.Errorf("UDP-encapsulated AH: got %v", err)
	}
	bad = ah
	bad.Transform.Cipher = crypto.CipherAESCBC
	if _, err := New(bad, 1); !errors.Is(err, ErrConfig) {
		t.Errorf("AH with cipher: got %v", err)
	}
	if _, err := New(gcmConfig(1000, Inbound), 0); err == nil {
		t.Error("zero workers accepted")
	}
}

func TestKeysNeverPrinted(t *testing.T) {
	c := gcmConfig(1000, Inbound)
	c.CipherKey = Key("secret-key-material!")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		out := fmt.Sprintf(verb, c)
		if strings.Contains(out, "secret") || strings.Contains(out, "736563726574") || strings.Contains(out, "115 101 99") {
			t.Errorf("%s prints the key: %s", verb, out)
		}
	}
	sa := mustNew(t, c, 1)
	if k := sa.Config().CipherKey; k != nil {
		t.Error("SA keeps its key")
	}
}

func TestLifetimeDefaults(t *testing.T) {
	l := Lifetime{HardBytes: 1000, HardPackets: 100, SoftPackets: 500}.withDefaults()
	if l.SoftBytes != 900 || l.SoftPackets != 90 {
		t.Fatalf("defaults: %+v", l)
	}
	l = Lifetime{HardBytes: 1000, SoftBytes: 500}.withDefaults()
	if l.SoftBytes != 500 {
		t.Fatalf("explicit soft overridden: %+v", l)
	}
	out := mustNew(t, gcmConfig(1000, Outbound), 1)
	if got := out.Lifetime().SoftPackets; got != (1<<32-1)/10*9 {
		t.Fatalf("outbound soft packet limit %d, want 90%% of the sequence space", got)
	}
	in := mustNew(t, gcmConfig(1000, Inbound), 1)
	if got := in.Lifetime().SoftPackets; got != 0 {
		t.Fatalf("inbound soft packet limit %d, want none", got)
	}
}

// TestLifetimeAcrossWorkers has four workers charge vectors concurrently:
// exactly HardPackets packets are admitted, and each limit is reported once.
func TestLifetimeAcrossWorkers(t *testing.T) {
	c := gcmConfig(1000, Inbound)
	c.Lifetime = Lifetime{HardPackets: 10007, HardBytes: 1 << 40}
	sa := mustNew(t, c, 4)
	var admitted, soft, hard atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				ch, e := sa.Reserve(7, 7*100)
				for range 7 {
					if ch.Admit(100) {
						admitted.Add(1)
					}
				}
				if e&SoftExpired != 0 {
					soft.Add(1)
				}
				if e&HardExpired != 0 {
					hard.Add(1)
				}
				sa.Count(w, 7, 700)
			}
		}()
	}
	wg.Wait()
	if admitted.Load() != 10007 || soft.Load() != 1 || hard.Load() != 1 {
		t.Fatalf("admitted %d, soft events %d, hard events %d", admitted.Load(), soft.Load(), hard.Load())
	}
	if got := sa.Stats(time.Now()).Expired; got != SoftExpired|HardExpired {
		t.Fatalf("expired %v", got)
	}
	if c := sa.Counters(); c.Packets != 28000 || c.Bytes != 2800000 {
		t.Fatalf("counters %+v", c)
	}
}

func TestLifetimeBytesExact(t *testing.T) {
	c := gcmConfig(1000, Inbound)
	c.Lifetime = Lifetime{HardBytes: 1000}
	sa := mustNew(t, c, 1)
	ch, e := sa.Reserve(3, 300+600+50)
	if e != SoftExpired {
		t.Fatalf("first vector crossed %v", e)
	}
	for i, size := range []uint64{300, 600, 50} {
		if !ch.Admit(size) {
			t.Fatalf("packet %d refused", i)
		}
	}
	ch, e = sa.Reserve(2, 40+20)
	if e != HardExpired {
		t.Fatalf("second vector crossed %v", e)
	}
	if !ch.Admit(40) || ch.Admit(20) {
		t.Fatal("hard byte limit not exact")
	}
	ch, e = sa.Reserve(1, 1)
	if e != 0 || ch.Admit(1) {
		t.Fatal("expired SA admitted a packet")
	}
}

func TestReserveSeq(t *testing.T) {
	c := gcmConfig(1000, Outbound)
	sa := mustNew(t, c, 4)
	var seen sync.Map
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				first, got := sa.ReserveSeq(32)
				if got != 32 {
					t.Errorf("got %d numbers", got)
					return
				}
				for s := first; s < first+got; s++ {
					if _, dup := seen.LoadOrStore(s, true); dup {
						t.Errorf("sequence number %d handed out twice", s)
					}
				}
			}
		}()
	}
	wg.Wait()
	if sa.Seq() != 4*500*32 {
		t.Fatalf("seq %d", sa.Seq())
	}
	if _, ok := seen.Load(uint64(0)); ok {
		t.Fatal("sequence number 0 used")
	}

	c.SeqStart = 1<<32 - 10
	sa = mustNew(t, c, 1)
	if first, got := sa.ReserveSeq(64); first != 1<<32-9 || got != 9 {
		t.Fatalf("near the end: first %d got %d", first, got)
	}
	if _, got := sa.ReserveSeq(1); got != 0 {
		t.Fatal("sequence number wrapped")
	}
	c.ESN, c.SeqStart = true, 1<<64-3
	sa = mustNew(t, c, 1)
	if first, got := sa.ReserveSeq(64); first != 1<<64-2 || got != 2 {
		t.Fatalf("ESN end: first %d got %d", first, got)
	}
	if _, got := sa.ReserveSeq(1); got != 0 {
		t.Fatal("ESN sequence number wrapped")
	}
}

func TestCountersPadded(t *testing.T) {
	if s := unsafe.Sizeof(slot{}); s%64 != 0 {
		t.Fatalf("slot is %d bytes, not whole cache lines", s)
	}
	sa := mustNew(t, gcmConfig(1000, Inbound), 3)
	sa.Count(0, 1, 100)
	sa.Count(2, 2, 300)
	sa.Drop(1, stats.Replay, 5)
	sa.Drop(2, stats.Replay, 1)
	sa.Drop(2, stats.AuthFailed, 1)
	c := sa.Counters()
	if c.Packets != 3 || c.Bytes != 400 || c.Drops[stats.Replay] != 6 || c.Drops[stats.AuthFailed] != 1 || c.Drops.Total() != 7 {
		t.Fatalf("%+v", c)
	}
}

func TestOverheadAndBundle(t *testing.T) {
	esp := mustNew(t, gcmConfig(1000, Outbound), 1)
	// IPv4 20 + ESP 8 + IV 8 + worst padding 3 + trailer 2 + ICV 16
	if got := esp.Overhead(); got != 57 {
		t.Fatalf("GCM tunnel overhead %d", got)
	}
	ahc := Config{SPI: 1001, Protocol: AH, Direction: Outbound, Local: local, Remote: remote,
		Transform: crypto.Transform{Integ: crypto.IntegHMACSHA1_96}, IntegKey: make(Key, 20)}
	ah := mustNew(t, ahc, 1)
	if err := Bundle(esp, ah); err != nil {
		t.Fatal(err)
	}
	if got := esp.Overhead(); got != 57+24 || esp.Outer() != ah || ah.Inner() != esp {
		t.Fatalf("bundle overhead %d", got)
	}
	if err := Bundle(esp, ah); err == nil {
		t.Fatal("bundled twice")
	}
	in := mustNew(t, gcmConfig(1002, Inbound), 1)
	ah2 := mustNew(t, ahc, 1)
	if err := Bundle(in, ah2); err == nil {
		t.Fatal("bundle across directions accepted")
	}
}

func TestDB(t *testing.T) {
	db := NewDB()
	v6 := netip.MustParseAddr("2001:db8::1")
	in1 := mustNew(t, gcmConfig(0x1000, Inbound), 1)
	c := gcmConfig(0x1000, Inbound)
	c.Protocol, c.Transform, c.CipherKey, c.IntegKey = AH, crypto.Transform{Integ: crypto.IntegHMACSHA256_128}, nil, make(Key, 32)
	inAH := mustNew(t, c, 1) // same SPI, other protocol
	c = gcmConfig(0x1000, Inbound)
	c.Local, c.Remote = v6, netip.MustParseAddr("2001:db8::2")
	in6 := mustNew(t, c, 1) // same SPI, other destination
	out := mustNew(t, gcmConfig(0x2000, Outbound), 1)
	if err := db.Install(in1, inAH, in6, out); err != nil {
		t.Fatal(err)
	}
	tab := db.Table()
	if tab.Lookup(0x1000, local, ESP) != in1 || tab.Lookup(0x1000, local, AH) != inAH || tab.Lookup(0x1000, v6, ESP) != in6 {
		t.Fatal("lookup by SPI, protocol and destination failed")
	}
	if tab.Lookup(0x2000, local, ESP) != nil || tab.Lookup(0x1000, remote, ESP) != nil || tab.Lookup(0x1001, local, ESP) != nil {
		t.Fatal("lookup found an SA it should not")
	}
	if tab.Len() != 4 {
		t.Fatalf("%d SAs", tab.Len())
	}
	dup := mustNew(t, gcmConfig(0x1000, Inbound), 1)
	if err := db.Install(dup, mustNew(t, gcmConfig(0x3000, Inbound), 1)); err == nil {
		t.Fatal("clashing SA installed")
	}
	if db.Table() != tab {
		t.Fatal("failed install changed the table")
	}
	// Rekey: the new SA with the same key replaces the old one in one step.
	if err := db.Update([]*SA{dup}, []*SA{in1}); err != nil {
		t.Fatal(err)
	}
	if !in1.Dead() || db.Table().Lookup(0x1000, local, ESP) != dup || tab.Lookup(0x1000, local, ESP) != in1 {
		t.Fatal("rekey did not swap, or changed the old snapshot")
	}
	db.Delete(inAH, in6, out, dup)
	if db.Table().Len() != 0 || !out.Dead() {
		t.Fatal("delete left SAs behind")
	}
}

// TestDBConcurrent installs and deletes SAs while readers look them up:
// the race detector watches, and every lookup sees a whole table.
func TestDBConcurrent(t *testing.T) {
	db := NewDB()
	stable := mustNew(t, gcmConfig(0x7777, Inbound), 1)
	if err := db.Install(stable); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				tab := db.Table()
				if tab.Lookup(0x7777, local, ESP) != stable {
					t.Error("stable SA missing from a snapshot")
					return
				}
				for _, sa := range tab.SAs() {
					if got := tab.Lookup(sa.SPI(), sa.Local(), sa.Protocol()); got != sa && sa.Direction() == Inbound {
						t.Error("snapshot lists an SA it cannot find")
						return
					}
				}
			}
		}()
	}
	for i := range 300 {
		sa := mustNew(t, gcmConfig(uint32(0x10000+i), Inbound), 1)
		if err := db.Install(sa); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			db.Delete(sa)
		}
	}
	close(stop)
	wg.Wait()
	if n := db.Table().Len(); n != 151 {
		t.Fatalf("%d SAs left", n)
	}
}

func BenchmarkLookup(b *testing.B) {
	db := NewDB()
	var sas []*SA
	for i := range 1000 {
		sa := mustNew(b, gcmConfig(uint32(0x1000+i*7919), Inbound), 1)
		sas = append(sas, sa)
	}
	if err := db.Install(sas...); err != nil {
		b.Fatal(err)
	}
	tab := db.Table()
	i := 0
	for b.Loop() {
		sa := sas[i%len(sas)]
		if tab.Lookup(sa.SPI(), local, ESP) != sa {
			b.Fatal("miss")
		}
		i++
	}
}

// BenchmarkReserveSeq is the per-vector cost of sharing an outbound SA:
// one reservation of 64 numbers, alone and with every benchmark goroutine
// hitting the same SA.
func BenchmarkReserveSeq(b *testing.B) {
	c := gcmConfig(1000, Outbound)
	c.ESN = true
	b.Run("one-worker", func(b *testing.B) {
		sa := mustNew(b, c, 1)
		for b.Loop() {
			sa.ReserveSeq(64)
		}
	})
	b.Run("shared", func(b *testing.B) {
		sa := mustNew(b, c, 1)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				sa.ReserveSeq(64)
			}
		})
	})
}
