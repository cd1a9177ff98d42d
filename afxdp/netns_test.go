package afxdp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// Test topology: a gateway namespace whose veths lead to peer namespaces.
//
//	peer P (eth0 10.99.N.2, fd99:N::2) ── veth ── (xdpN 10.99.N.1, fd99:N::1) gateway G
//
// Peers send finished checksums (TX checksum offload off), as a wire does.

var nsSeq atomic.Uint32

type testNet struct {
	gw    string // gateway namespace
	links []*testLink
}

type testLink struct {
	dev            string // in the gateway namespace
	peerNS         string
	gwIP, peerIP   netip.Addr
	gwIP6, peerIP6 netip.Addr
	gwMAC, peerMAC net.HardwareAddr
	queues         int
}

// newTestNet builds a gateway namespace with one veth per entry of queues
// (its queue count) to a peer namespace each, and removes everything when
// the test ends, failed or not.
func newTestNet(t testing.TB, queues ...int) *testNet {
	t.Helper()
	needRoot(t)
	prefix := fmt.Sprintf("axdp%d%c", os.Getpid()%100000, 'a'+rune(nsSeq.Add(1)%26))
	n := &testNet{gw: prefix + "-g"}
	mustRun(t, "ip", "netns", "add", n.gw)
	t.Cleanup(func() { run("ip", "netns", "del", n.gw) })
	mustRun(t, "ip", "-n", n.gw, "link", "set", "lo", "up")
	for k, q := range queues {
		l := &testLink{
			dev:     fmt.Sprintf("xdp%d", k),
			peerNS:  fmt.Sprintf("%s-p%d", prefix, k),
			gwIP:    netip.AddrFrom4([4]byte{10, 99, byte(k), 1}),
			peerIP:  netip.AddrFrom4([4]byte{10, 99, byte(k), 2}),
			gwIP6:   netip.MustParseAddr(fmt.Sprintf("fd99:%d::1", k)),
			peerIP6: netip.MustParseAddr(fmt.Sprintf("fd99:%d::2", k)),
			gwMAC:   net.HardwareAddr{0x02, 0x99, 0, byte(k), 0, 1},
			peerMAC: net.HardwareAddr{0x02, 0x99, 0, byte(k), 0, 2},
			queues:  q,
		}
		mustRun(t, "ip", "netns", "add", l.peerNS)
		t.Cleanup(func() { run("ip", "netns", "del", l.peerNS) })
		qs := fmt.Sprint(q)
		mustRun(t, "ip", "link", "add", l.dev, "netns", n.gw, "address", l.gwMAC.String(),
			"numtxqueues", qs, "numrxqueues", qs, "type", "veth",
			"peer", "name", "eth0", "netns", l.peerNS, "address", l.peerMAC.String(),
			"numtxqueues", qs, "numrxqueues", qs)
		for _, c := range [][]string{
			{"-n", l.peerNS, "link", "set", "lo", "up"},
			{"-n", n.gw, "addr", "add", l.gwIP.String() + "/24", "dev", l.dev},
			{"-n", n.gw, "addr", "add", l.gwIP6.String() + "/64", "dev", l.dev, "nodad"},
			{"-n", l.peerNS, "addr", "add", l.peerIP.String() + "/24", "dev", "eth0"},
			{"-n", l.peerNS, "addr", "add", l.peerIP6.String() + "/64", "dev", "eth0", "nodad"},
			{"-n", n.gw, "link", "set", l.dev, "up"},
			{"-n", l.peerNS, "link", "set", "eth0", "up"},
		} {
			mustRun(t, "ip", c...)
		}
		mustRun(t, "ip", "netns", "exec", l.peerNS, "ethtool", "-K", "eth0", "tx", "off")
		n.links = append(n.links, l)
	}
	return n
}

func run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func mustRun(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := run(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// inNS runs f on an OS thread switched into namespace ns. The thread stays
// locked and dies with its goroutine, so no other goroutine inherits the
// namespace.
func inNS(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		if err := enterNS(ns); err != nil {
			errc <- err
			return
		}
		errc <- f()
	}()
	return <-errc
}

// enterNS locks the calling goroutine to its thread, for good, and moves
// the thread into namespace ns.
func enterNS(ns string) error {
	runtime.LockOSThread()
	h, err := netns.GetFromName(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	return netns.Set(h)
}

func mustInNS(t testing.TB, ns string, f func() error) {
	t.Helper()
	if err := inNS(ns, f); err != nil {
		t.Fatal(err)
	}
}

// udpConn opens a UDP socket in namespace ns bound to laddr.
func udpConn(t testing.TB, ns string, laddr netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	mustInNS(t, ns, func() (err error) {
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(laddr))
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// ipConn opens a raw IP socket for protocol proto in namespace ns: the
// kernel writes the IP header, we the payload.
func ipConn(t testing.TB, ns string, proto int, v6 bool) net.PacketConn {
	t.Helper()
	network := fmt.Sprintf("ip4:%d", proto)
	if v6 {
		network = fmt.Sprintf("ip6:%d", proto)
	}
	var c net.PacketConn
	mustInNS(t, ns, func() (err error) {
		c, err = net.ListenPacket(network, "")
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// openIface opens dev in the gateway namespace and closes it at cleanup
// (if the test has not).
func (n *testNet) openIface(t testing.TB, cfg Config) *Interface {
	t.Helper()
	var i *Interface
	mustInNS(t, n.gw, func() (err error) {
		i, err = Open(cfg)
		return err
	})
	t.Cleanup(func() { i.Close() })
	return i
}

func (n *testNet) openSocket(t testing.TB, i *Interface, u *UMEM, cfg SocketConfig) *Socket {
	t.Helper()
	var s *Socket
	mustInNS(t, n.gw, func() (err error) {
		s, err = i.OpenSocket(u, cfg)
		return err
	})
	return s
}

func newUMEM(t testing.TB, sockets int) *UMEM {
	t.Helper()
	u, err := NewUMEM(FramesFor(sockets, DefaultRings), 2048, BindAuto)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func ipAddr(a netip.Addr) *net.IPAddr { return &net.IPAddr{IP: a.AsSlice()} }
