package ike

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ipsecgw/crypto"
	"ipsecgw/ike/keymat"
)

// memLink delivers one engine's datagrams straight to the other's
// Receive: the benchmark measures the engines, not the kernel.
type memLink struct{ peer *Engine }

func (m *memLink) Send(local, remote netip.AddrPort, b []byte) error {
	m.peer.Receive(remote, local, b)
	return nil
}

// counter counts CHILD_SAs installed outbound.
type upCounter struct {
	nopInstaller
	up   atomic.Int64
	fail atomic.Int64
}

func (c *upCounter) InstallOutbound(*ChildSA, *ChildSA) error { c.up.Add(1); return nil }
func (c *upCounter) AcquireFailed(Acquire, error)             { c.fail.Add(1) }

// BenchmarkSetup establishes b.N tunnels (IKE_SA_INIT + IKE_AUTH with PSK,
// IKE AES-GCM-256/PRF-SHA256/ECP-256, one ESP AES-GCM-128 CHILD_SA each)
// between two engines in one process, up to 64 at a time, from b.N
// distinct initiator addresses to one responder with a dynamic template.
// It reports setups/s and the heap each end holds per established tunnel
// (run with -benchtime 10000x for the 10,000-tunnel figure).
// BenchmarkDHBaseline, run alongside, is the ECDH work one setup cannot
// avoid (a key pair and a shared secret at each end).
func BenchmarkSetup(b *testing.B) {
	ikeProp := []IKEProposal{{Name: "b", Encryption: []Encryption{{crypto.CipherAESGCM16, 256}}, PRF: []keymat.PRFAlg{keymat.PRFHMACSHA256}, Groups: []keymat.Group{keymat.ECP256}}}
	child := func(name string, lines ...ACLLine) []*ChildConfig {
		return []*ChildConfig{{Name: name, ACL: "101", Lines: lines, Proposals: []ChildProposal{gcm128()}}}
	}
	peers := make([]*PeerConfig, b.N)
	for i := range peers {
		local := netip.AddrFrom4([4]byte{100, 64 + byte(i>>16), byte(i >> 8), byte(i)})
		peers[i] = &PeerConfig{Name: fmt.Sprint(i), Local: local, Remote: netip.MustParsePrefix("192.0.2.1/32"), LocalPSK: testPSK,
			Proposals: ikeProp, Children: child("c", aclLine(1, "10.1.0.0/16", "10.2.0.0/16"))}
	}
	hub := &PeerConfig{Name: "hub", Remote: netip.MustParsePrefix("100.64.0.0/10"), LocalPSK: testPSK, Proposals: ikeProp,
		Children: child("dyn", aclLine(1, "10.2.0.0/16", "10.1.0.0/16"))}

	ia, ib := &upCounter{}, &upCounter{}
	la, lb := &memLink{}, &memLink{}
	a, _ := New(Config{Transport: la, Installer: ia, MaxQueue: 1 << 20})
	bb, _ := New(Config{Transport: lb, Installer: ib, MaxQueue: 1 << 20})
	la.peer, lb.peer = bb, a
	if err := a.SetPeers(peers); err != nil {
		b.Fatal(err)
	}
	bb.SetPeers([]*PeerConfig{hub})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, e := range []*Engine{a, bb} {
		wg.Add(1)
		go func() { defer wg.Done(); e.Run(ctx) }()
	}
	defer func() { cancel(); wg.Wait() }()
	a.sync(func() {})
	bb.sync(func() {})

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for int64(i)-ia.up.Load()-ia.fail.Load() >= 64 {
			time.Sleep(50 * time.Microsecond)
		}
		a.Acquire(Acquire{Peer: peers[i].Name, Child: "c"})
	}
	for ia.up.Load()+ia.fail.Load() < int64(b.N) || ib.up.Load() < ia.up.Load() {
		time.Sleep(100 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if n := ia.fail.Load(); n > 0 {
		b.Fatalf("%d setups failed", n)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "setups/s")
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(2*b.N), "B/tunnel-end")
	runtime.KeepAlive(peers)
}

func BenchmarkDHBaseline(b *testing.B) {
	for i := 0; i < b.N; i++ {
		x, _ := keymat.NewKeyExchange(keymat.ECP256, nil)
		y, _ := keymat.NewKeyExchange(keymat.ECP256, nil)
		x.Shared(y.Public())
		y.Shared(x.Public())
	}
}
