package ike

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// natBox stands between engine A and the network like a NAT: A's
// datagrams leave from a socket on 127.0.0.3 (one per A port, so a fresh
// mapping per port), and what comes back to that socket is handed to A as
// if it had arrived at A's own address.
type natBox struct {
	mu      sync.Mutex
	outside map[netip.AddrPort]*net.UDPConn
	recv    func(local, remote netip.AddrPort, b []byte)
}

func (n *natBox) Send(local, remote netip.AddrPort, b []byte) error {
	n.mu.Lock()
	s := n.outside[local]
	if s == nil {
		var err error
		if s, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 3)}); err != nil {
			n.mu.Unlock()
			return err
		}
		n.outside[local] = s
		go func() {
			buf := make([]byte, 65535)
			for {
				k, from, err := s.ReadFromUDPAddrPort(buf)
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if err == nil {
					n.recv(local, netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), buf[:k])
				}
			}
		}()
	}
	n.mu.Unlock()
	_, err := s.WriteToUDPAddrPort(b, remote)
	return err
}

func (n *natBox) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range n.outside {
		s.Close()
	}
}

func TestBehindNAT(t *testing.T) {
	pa, pb := defaultPeers()
	pb.Remote = netip.MustParsePrefix("127.0.0.3/32") // B knows A by its public, NATed address
	nat := &natBox{outside: map[netip.AddrPort]*net.UDPConn{}}
	t.Cleanup(nat.close)
	a, b, clk := newPair(t, pa, pb, pairOpts{fake: true, configure: func(ca, _ *Config) { ca.Transport = nat }})
	nat.recv = a.e.Receive
	sa, sb := establish(t, a, b)

	natt := a.e.cfg.NATTPort
	ia, ib := a.e.SAs()[0], b.e.SAs()[0]
	if !ia.NATLocal || ia.NATRemote || ib.NATLocal || !ib.NATRemote {
		t.Fatalf("NAT detection: A local %v remote %v, B local %v remote %v", ia.NATLocal, ia.NATRemote, ib.NATLocal, ib.NATRemote)
	}
	// A floated to the NAT-T port; B answers the NAT's mapping of it.
	mapped := ib.Remote
	if ia.Local.Port() != natt || ia.Remote.Port() != natt || mapped.Addr() != netip.MustParseAddr("127.0.0.3") || mapped.Port() == natt {
		t.Fatalf("addresses: A %v -> %v, B sees %v", ia.Local, ia.Remote, mapped)
	}
	if !sa.Encap || sa.LocalPort != natt || sa.RemotePort != natt || !sb.Encap || sb.LocalPort != natt || sb.RemotePort != mapped.Port() || sb.Remote != mapped.Addr() {
		t.Fatalf("UDP encapsulation: A %v %d-%d, B %v %v %d-%d", sa.Encap, sa.LocalPort, sa.RemotePort, sb.Encap, sb.Remote, sb.LocalPort, sb.RemotePort)
	}
	// A, behind the NAT, keeps the mapping alive with keepalives.
	for i := 0; i < 3; i++ {
		a.e.sync(func() {})
		clk.Advance(20 * time.Second)
	}
	waitFor(t, "keepalives", func() bool { return b.e.Stats()["rx_keepalive"] >= 2 })
	if b.e.Stats()["tx"] > 2 {
		t.Fatalf("B, not behind a NAT, sent more than its responses: %v", b.e.Stats())
	}
	// A rekey works through the NAT.
	from := len(a.rec.snapshot())
	a.e.RekeyChildSA(sa.InSPI)
	a.rec.wait(&from, func(ev event) bool { return ev.kind == "out" && ev.old == sa })
	waitFor(t, "old SA removed after the grace period", func() bool {
		clk.Advance(100 * time.Millisecond)
		return a.rec.installedIn() == 1 && b.rec.installedIn() == 1
	})
}

func TestLifetimesDriveRekeys(t *testing.T) {
	pa, pb := defaultPeers()
	for _, p := range []*PeerConfig{pa, pb} {
		p.Lifetime = 300 * time.Second
		p.Children[0].Lifetime = Lifetime{Seconds: 100 * time.Second}
	}
	a, b, clk := newPair(t, pa, pb, pairOpts{fake: true})
	first, _ := establish(t, a, b)
	if first.SoftSeconds < 85*time.Second || first.SoftSeconds > 90*time.Second || first.HardSeconds != 100*time.Second ||
		first.HardKilobytes != DefaultChildKilobytes || first.SoftKilobytes >= first.HardKilobytes || first.SoftKilobytes < first.HardKilobytes*85/100 {
		t.Fatalf("lifetimes %v/%v %d/%d", first.SoftSeconds, first.HardSeconds, first.SoftKilobytes, first.HardKilobytes)
	}
	ike := a.e.SAs()[0].ID
	for i := 0; i < 290; i++ {
		clk.Advance(time.Second)
		settle(t, a, b)
	}
	waitFor(t, "rekeys to settle", func() bool {
		sas := a.e.SAs()
		return len(sas) == 1 && sas[0].ID != ike && len(sas[0].Children) == 1 && a.rec.installedIn() == 1 && b.rec.installedIn() == 1
	})
	var childRekeys, expired int
	for _, ev := range a.rec.snapshot() {
		switch {
		case ev.kind == "remove" && ev.reason == ReasonRekeyed:
			childRekeys++
		case ev.kind == "remove" && ev.reason == ReasonRedundant: // a collision, resolved
		case ev.kind == "remove" || (ev.kind == "down" && ev.reason != ReasonRekeyed):
			expired++
		}
	}
	// 290 s of a 100 s CHILD_SA: rekeyed at about 88 s, 176 s, 264 s.
	if childRekeys < 3 || expired != 0 {
		t.Fatalf("%d CHILD_SA rekeys, %d other removals: %v", childRekeys, expired, a.rec.snapshot())
	}
}

func TestKilobyteExpiryFromFastPath(t *testing.T) {
	pa, pb := defaultPeers()
	a, b, _ := newPair(t, pa, pb, pairOpts{})
	sa, sb := establish(t, a, b)
	ia, ib := len(a.rec.snapshot()), len(b.rec.snapshot())
	a.e.SoftExpire(sa.InSPI)
	if ev := a.rec.wait(&ia, kind("remove")); ev.sa != sa || ev.reason != ReasonRekeyed {
		t.Fatalf("soft expiry: %v", ev)
	}
	next := a.rec.active()[0]
	b.rec.wait(&ib, func(ev event) bool { return ev.kind == "remove" && ev.sa == sb })
	a.e.HardExpire(next.InSPI)
	if ev := a.rec.wait(&ia, kind("remove")); ev.sa != next || ev.reason != ReasonExpired {
		t.Fatalf("hard expiry: %v", ev)
	}
	if ev := b.rec.wait(&ib, kind("remove")); ev.reason != ReasonDeletedByPeer {
		t.Fatalf("peer: %v", ev)
	}
}

// TestHardExpiryResendsLostRekey: a CHILD_SA whose rekey request was lost
// reaches its hard limit; the request goes out again at once instead of
// after the retransmission timeout (the clock is fake and never moves, so
// only the immediate resend can complete the rekey).
func TestHardExpiryResendsLostRekey(t *testing.T) {
	pa, pb := defaultPeers()
	a, b, _ := newPair(t, pa, pb, pairOpts{fake: true})
	sa, _ := establish(t, a, b)
	ia := len(a.rec.snapshot())
	a.gate.mu.Lock()
	a.gate.drop = true // the rekey request is lost
	a.gate.mu.Unlock()
	a.e.SoftExpire(sa.InSPI)
	a.e.sync(func() {})
	a.gate.mu.Lock()
	a.gate.drop = false
	lost := a.gate.dropped
	a.gate.mu.Unlock()
	if lost != 1 {
		t.Fatalf("%d messages dropped, want the rekey request", lost)
	}
	a.e.HardExpire(sa.InSPI)
	ev := a.rec.wait(&ia, kind("out"))
	if ev.old != sa {
		t.Fatalf("the rekey did not complete: %v", ev)
	}
}
