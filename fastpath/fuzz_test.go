package fastpath

import (
	"runtime"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"ipsecgw/fastpath/sad"
)

// FuzzWorker sends arbitrary frames through a worker with real tables
// (gateway B of the test topology, with ESP SAs and a crypto map) and checks
// the engine's promises: it never panics, every buffer comes back to the
// pool, and every frame is accounted for exactly once — sent, dropped with
// a reason, punted, or counted as a NAT-T keepalive — besides the ICMP
// errors and fragments the gateway itself made.
//
// The first input byte picks the port (even: inside, odd: outside); the
// rest is the frame. Seeds are valid traffic of every kind, including ESP
// that gateway A encrypted for B.
func FuzzWorker(f *testing.F) {
	spec := saSpec{proto: sad.ESP, transform: gcm128}
	a, b := newPair(f, spec, 1400)
	seed := func(port byte, frame []byte) { f.Add(append([]byte{port}, frame...)) }

	clear := [][]byte{
		hostFrame(f, siteB, "10.2.0.5", "10.1.0.5", frameOpts{payload: payload(40)}),
		hostFrame(f, siteB, "2001:db8:2::5", "2001:db8:1::5", frameOpts{proto: layers.IPProtocolTCP}),
		hostFrame(f, siteB, "10.2.0.5", "10.1.0.5", frameOpts{ttl: 1}),
		hostFrame(f, siteB, "10.2.0.5", "10.1.0.5", frameOpts{payload: payload(1460), df: true}),
		hostFrame(f, siteB, "10.2.0.5", "10.1.0.5", frameOpts{payload: payload(1460)}),
		hostFrame(f, siteB, "10.2.0.5", "10.2.0.1", frameOpts{proto: layers.IPProtocolICMPv4}),
		hostFrame(f, siteB, "10.2.0.5", "10.1.0.5", frameOpts{options: true}),
		hostFrame(f, siteB, "10.2.0.5", "10.1.0.5", frameOpts{vlan: 7}),
	}
	for _, c := range clear {
		seed(0, c)
	}
	_, esp := a.send(f, a.in,
		hostFrame(f, siteA, "10.1.0.5", "10.2.0.5", frameOpts{payload: payload(100)}),
		hostFrame(f, siteA, "2001:db8:1::5", "2001:db8:2::5", frameOpts{payload: payload(10)}))
	for _, e := range esp {
		seed(1, e)
	}
	toB := func(o frameOpts) []byte {
		fr := buildFrame(f, "192.0.2.1", "192.0.2.2", o)
		copy(fr[0:6], siteB.outMAC[:])
		return fr
	}
	seed(1, toB(frameOpts{sport: 500, dport: 500, payload: payload(60)}))
	seed(1, toB(frameOpts{sport: 4500, dport: 4500, payload: []byte{0xff}}))
	seed(1, toB(frameOpts{sport: 4500, dport: 4500, payload: append([]byte{0, 0, 3, 0xe8, 0, 0, 0, 1}, payload(40)...)}))
	seed(1, toB(frameOpts{proto: layers.IPProtocolAH, payload: payload(40)}))
	for _, fr := range fragmentOuter(esp[0][14:], 64, 9) {
		seed(1, append(append([]byte(nil), esp[0][:14]...), fr...))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 1 {
			return
		}
		port := b.in
		if data[0]&1 == 1 {
			port = b.out
		}
		watchdog := time.AfterFunc(5*time.Second, func() {
			buf := make([]byte, 1<<20)
			panic("worker hung:\n" + string(buf[:runtime.Stack(buf, true)]))
		})
		defer watchdog.Stop()
		heldBefore := b.w.reasm.held
		before := b.stats()
		b.send(t, port, data[1:]) // checks the pool
		for p := b.w.Punts().Peek(); p != nil; p = b.w.Punts().Peek() {
			b.w.Punts().Release()
		}
		after := b.stats()
		d := func(f func(*Stats) uint64) uint64 { return f(&after) - f(&before) }
		rx := d(func(s *Stats) uint64 { return s.Ifaces[ifInside].Port.RxPackets + s.Ifaces[ifOutside].Port.RxPackets })
		tx := d(func(s *Stats) uint64 { return s.Ifaces[ifInside].Port.TxPackets + s.Ifaces[ifOutside].Port.TxPackets })
		drops := d(func(s *Stats) uint64 { return s.Global.Drops.Total() })
		punts := d(func(s *Stats) uint64 {
			var n uint64
			for k := range NumPuntKinds {
				if k == PuntIKE || k == PuntLocal {
					n += s.Global.Punted[k] // packets; the others are events
				}
			}
			return n
		})
		keepalives := d(func(s *Stats) uint64 { return s.Global.NATKeepalives })
		made := d(func(s *Stats) uint64 { return s.Global.ICMPErrors })
		if fr := d(func(s *Stats) uint64 { return s.Global.Fragments }); fr > 0 {
			made += fr - 1
		}
		// Fragments go into reassembly (held) and come out as one datagram.
		made += d(func(s *Stats) uint64 { return s.Global.Reassembled })
		taken := d(func(s *Stats) uint64 { return s.Global.ReasmFragments }) + uint64(b.w.reasm.held-heldBefore)
		if after.Global.Drops[0] != 0 {
			t.Fatal("a drop counted without a reason")
		}
		if rx > 1 || tx+drops+punts+keepalives+taken != rx+made {
			t.Fatalf("frame not accounted for: rx %d, tx %d, drops %d, punts %d, keepalives %d, into reassembly %d, made %d",
				rx, tx, drops, punts, keepalives, taken, made)
		}
	})
}
