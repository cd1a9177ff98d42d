package afxdp

import (
	"context"
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"
	"time"

	"ipsecgw/packet"
)

// seen records what a socket received: the frames' IP protocol,
// destination and UDP destination port.
type seen struct {
	mu     sync.Mutex
	frames []frameSummary
}

type frameSummary struct {
	proto uint8
	dst   netip.Addr
	port  uint16
}

func summarize(f []byte) (s frameSummary) {
	if len(f) < 14 {
		return s
	}
	p := f[14:]
	off := 0
	switch binary.BigEndian.Uint16(f[12:]) {
	case 0x0800:
		if len(p) < 20 {
			return s
		}
		s.proto, s.dst, off = p[9], netip.AddrFrom4([4]byte(p[16:20])), int(p[0]&0xf)*4
	case 0x86dd:
		if len(p) < 40 {
			return s
		}
		s.proto, s.dst, off = p[6], netip.AddrFrom16([16]byte(p[24:40])), 40
	}
	if s.proto == 17 && len(p) >= off+4 {
		s.port = binary.BigEndian.Uint16(p[off+2:])
	}
	return s
}

func (s *seen) add(f []byte) {
	s.mu.Lock()
	s.frames = append(s.frames, summarize(f))
	s.mu.Unlock()
}

// has waits up to a second for a frame matching want.
func (s *seen) has(want frameSummary) bool {
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		s.mu.Lock()
		for _, f := range s.frames {
			if f == want {
				s.mu.Unlock()
				return true
			}
		}
		s.mu.Unlock()
	}
	return false
}

// TestSteeringLive attaches the program to a veth and checks, with real
// traffic from a peer namespace, that the fast path gets ESP, IKE and NAT-T
// to the gateway and covered transit, while ARP, ND, ping and other
// traffic to the gateway reach its kernel, which still answers.
func TestSteeringLive(t *testing.T) {
	n := newTestNet(t, 1)
	l := n.links[0]
	covered := netip.MustParsePrefix("192.0.2.0/24")
	covered6 := netip.MustParsePrefix("2001:db8:77::/48")
	for _, r := range [][]string{
		{"-n", l.peerNS, "route", "add", covered.String(), "via", l.gwIP.String()},
		{"-n", l.peerNS, "route", "add", "198.18.0.0/24", "via", l.gwIP.String()},
		{"-n", l.peerNS, "-6", "route", "add", covered6.String(), "via", l.gwIP6.String()},
	} {
		mustRun(t, "ip", r...)
	}
	i := n.openIface(t, Config{Device: l.dev, CryptoMap: true})
	t.Logf("attached in %s mode", i.Mode())
	if err := i.SetLocalAddrs([]netip.Addr{l.gwIP, l.gwIP6}); err != nil {
		t.Fatal(err)
	}
	if err := i.SetPrefixes([]netip.Prefix{covered, covered6}); err != nil {
		t.Fatal(err)
	}
	u := newUMEM(t, 1)
	s := n.openSocket(t, i, u, SocketConfig{Queue: 0})
	var got seen
	ctx, cancel := context.WithCancel(context.Background())
	wg := worker(ctx, []*Socket{s}, func(b *packet.Buf, _ int) int {
		got.add(b.Bytes())
		return -1
	})
	defer func() { cancel(); wg.Wait(); u.Close() }()

	// The kernel answers ping (v4 after ARP, v6 after ND) through the
	// attached program.
	mustRun(t, "ip", "netns", "exec", l.peerNS, "ping", "-c", "2", "-i", "0.2", "-W", "2", l.gwIP.String())
	mustRun(t, "ip", "netns", "exec", l.peerNS, "ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", l.gwIP6.String())

	// UDP to the gateway on a port that is not IKE reaches its kernel.
	dns := udpConn(t, n.gw, netip.AddrPortFrom(l.gwIP, 53))
	peer := udpConn(t, l.peerNS, netip.AddrPortFrom(l.peerIP, 0))
	peer6 := udpConn(t, l.peerNS, netip.AddrPortFrom(l.peerIP6, 0))
	if _, err := peer.WriteToUDPAddrPort([]byte("query"), netip.AddrPortFrom(l.gwIP, 53)); err != nil {
		t.Fatal(err)
	}
	dns.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 64)
	if n, _, err := dns.ReadFromUDPAddrPort(buf); err != nil || string(buf[:n]) != "query" {
		t.Errorf("the gateway's kernel did not get the DNS datagram: %v", err)
	}

	// IKE, NAT-T, ESP to the gateway and covered transit reach the socket.
	for _, c := range []struct {
		dst  netip.Addr
		port uint16
	}{
		{l.gwIP, 500}, {l.gwIP, 4500}, {l.gwIP6, 500}, {netip.MustParseAddr("192.0.2.9"), 7},
		{netip.MustParseAddr("2001:db8:77::9"), 7},
	} {
		c0 := peer
		if c.dst.Is6() {
			c0 = peer6
		}
		if _, err := c0.WriteToUDPAddrPort([]byte("hello"), netip.AddrPortFrom(c.dst, c.port)); err != nil {
			t.Fatal(err)
		}
		if !got.has(frameSummary{proto: 17, dst: c.dst, port: c.port}) {
			t.Errorf("UDP to %s port %d did not reach the socket", c.dst, c.port)
		}
	}
	for _, dst := range []netip.Addr{l.gwIP, l.gwIP6} {
		esp := ipConn(t, l.peerNS, 50, dst.Is6())
		if _, err := esp.WriteTo([]byte{0, 0, 1, 0, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef}, ipAddr(dst)); err != nil {
			t.Fatal(err)
		}
		if !got.has(frameSummary{proto: 50, dst: dst}) {
			t.Errorf("ESP to %s did not reach the socket", dst)
		}
	}

	// Transit nobody covers passes to the kernel (which, not forwarding,
	// drops it).
	before, _ := i.Counters()
	if _, err := peer.WriteToUDPAddrPort([]byte("hello"), netip.MustParseAddrPort("198.18.0.1:7")); err != nil {
		t.Fatal(err)
	}
	if got.has(frameSummary{proto: 17, dst: netip.MustParseAddr("198.18.0.1"), port: 7}) {
		t.Error("uncovered transit reached the socket")
	}
	after, err := i.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if after.PassNoMatch <= before.PassNoMatch {
		t.Errorf("uncovered transit not counted: %+v", after)
	}
	if after.PassNonIP == 0 || after.PassLocal < 4 || after.PassLinkScope == 0 {
		t.Errorf("ARP, ping and ND not counted as passed: %+v", after)
	}
	if after.DropNoSocket != 0 {
		t.Errorf("steered frames dropped for want of a socket: %+v", after)
	}
}
