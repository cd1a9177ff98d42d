package afxdp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"ipsecgw/packet"
)

// worker polls socks like a fast-path worker: receive a batch from each,
// let route pick each frame's output socket (-1 drops it), transmit per
// output, flush, and wait in poll() when idle. It stops when ctx ends.
func worker(ctx context.Context, socks []*Socket, route func(b *packet.Buf, in int) int) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		in := make([]*packet.Buf, 64)
		out := make([][]*packet.Buf, len(socks))
		for k := range out {
			out[k] = make([]*packet.Buf, 0, 64)
		}
		poller := NewPoller(socks...)
		for ctx.Err() == nil {
			busy := false
			for k, s := range socks {
				n := s.Receive(in)
				busy = busy || n > 0
				for _, b := range in[:n] {
					if o := route(b, k); o >= 0 {
						out[o] = append(out[o], b)
					} else {
						b.Pool().Put(b)
					}
				}
			}
			for k, s := range socks {
				if len(out[k]) > 0 {
					s.Transmit(out[k])
					out[k] = out[k][:0]
				}
				s.Flush()
			}
			if !busy {
				poller.Wait(5 * time.Millisecond)
			}
		}
	}()
	return &wg
}

// reflect turns an IPv4 or IPv6 UDP frame around in place: Ethernet
// addresses, IP addresses and ports swapped; checksums stay valid.
func reflect(f []byte) bool {
	if len(f) < 14 {
		return false
	}
	var mac [6]byte
	copy(mac[:], f[0:6])
	copy(f[0:6], f[6:12])
	copy(f[6:12], mac[:])
	var addrs, l4 []byte
	var alen int
	switch binary.BigEndian.Uint16(f[12:]) {
	case 0x0800:
		if len(f) < 14+20+8 || f[14+9] != 17 {
			return false
		}
		addrs, alen, l4 = f[14+12:14+20], 4, f[14+int(f[14]&0xf)*4:]
	case 0x86dd:
		if len(f) < 14+40+8 || f[14+6] != 17 {
			return false
		}
		addrs, alen, l4 = f[14+8:14+40], 16, f[14+40:]
	default:
		return false
	}
	tmp := make([]byte, alen)
	copy(tmp, addrs[:alen])
	copy(addrs[:alen], addrs[alen:])
	copy(addrs[alen:], tmp)
	sp := binary.BigEndian.Uint16(l4)
	binary.BigEndian.PutUint16(l4, binary.BigEndian.Uint16(l4[2:]))
	binary.BigEndian.PutUint16(l4[2:], sp)
	return true
}

// payloads are datagrams of many sizes, each distinct.
func payloads(n int) [][]byte {
	ps := make([][]byte, n)
	sizes := []int{6, 18, 64, 512, 1000, 1400, 1452} // 1452: the largest unfragmented UDP over IPv6 at MTU 1500
	for k := range ps {
		p := make([]byte, sizes[k%len(sizes)])
		for j := range p {
			p[j] = byte(k*7 + j)
		}
		copy(p, fmt.Sprintf("%06d", k))
		ps[k] = p
	}
	return ps
}

// exchange sends every payload from tx to dst and collects what arrives
// on rx, until all are there or nothing comes for a second. A probe goes
// first until it arrives, so that no payload waits on ARP or ND (whose
// queue drops); payloads go in windows of 16, small enough for the receive
// buffer; missing ones are sent again twice.
func exchange(t *testing.T, tx, rx *net.UDPConn, dst netip.AddrPort, ps [][]byte) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	buf := make([]byte, 2048)
	const probe = "probe"
	for try := 0; try < 30; try++ {
		tx.WriteToUDPAddrPort([]byte(probe), dst)
		rx.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, _, err := rx.ReadFromUDPAddrPort(buf); err == nil && string(buf[:n]) == probe {
			break
		}
	}
	drain := func(pending int) {
		rx.SetReadDeadline(time.Now().Add(time.Second))
		for pending > 0 {
			n, _, err := rx.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if r := string(buf[:n]); r != probe && !got[r] {
				got[r] = true
				pending--
			}
		}
	}
	for round := 0; round < 3 && len(got) < len(ps); round++ {
		window := 0
		for _, p := range ps {
			if got[string(p)] {
				continue
			}
			if _, err := tx.WriteToUDPAddrPort(p, dst); err != nil {
				t.Fatal(err)
			}
			if window++; window == 16 {
				drain(window)
				window = 0
			}
		}
		drain(window)
	}
	return got
}

func checkAllBack(t *testing.T, got map[string]bool, ps [][]byte) {
	t.Helper()
	for _, p := range ps {
		if !got[string(p)] {
			t.Errorf("datagram %q (%d bytes) did not come back intact", p[:min(6, len(p))], len(p))
		}
	}
	if len(got) > len(ps) {
		t.Errorf("%d datagrams came back that were never sent", len(got)-len(ps))
	}
}

// TestSocketOpenClose: a socket binds in copy mode on veth, fills its fill
// ring from the UMEM's pool and gives every chunk back when closed; the
// interface is left without XDP program and with its offloads as found.
func TestSocketOpenClose(t *testing.T) {
	n := newTestNet(t, 1)
	l := n.links[0]
	var before *featureTable
	features := func() (*featureTable, error) {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		defer unix.Close(fd)
		return readFeatures(fd, l.dev)
	}
	mustInNS(t, n.gw, func() (err error) {
		before, err = features()
		return err
	})
	i := n.openIface(t, Config{Device: l.dev})
	u := newUMEM(t, 1)
	total := u.Pool().Size()
	s := n.openSocket(t, i, u, SocketConfig{Queue: 0})
	if s.ZeroCopy() {
		t.Error("veth socket claims zero-copy")
	}
	if got, want := u.Pool().Free(), total-DefaultRings.Fill; got != want {
		t.Errorf("after open: %d chunks free, want %d (fill ring full)", got, want)
	}
	if _, err := i.OpenSocket(u, SocketConfig{Queue: 0}); err == nil {
		t.Error("second socket on the same queue accepted")
	}
	if _, err := i.OpenSocket(u, SocketConfig{Queue: 1}); err == nil {
		t.Error("socket on a queue the device lacks accepted")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := u.Pool().Free(); got != total {
		t.Errorf("after close: %d of %d chunks back in the pool", got, total)
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if err := i.Close(); err != nil {
		t.Fatal(err)
	}
	mustInNS(t, n.gw, func() error {
		link, err := netlink.LinkByName(l.dev)
		if err != nil {
			return err
		}
		if x := link.Attrs().Xdp; x != nil && x.Attached {
			return fmt.Errorf("XDP program %d still attached after Close", x.ProgId)
		}
		after, err := features()
		if err != nil {
			return err
		}
		if !bytes.Equal(before.blocks, after.blocks) {
			return fmt.Errorf("features changed by Open/Close:\nbefore %x\nafter  %x", before.blocks, after.blocks)
		}
		return nil
	})
}

// TestReflector sends UDP from a peer namespace to the gateway's NAT-T
// port; the steering program hands it to the socket, the test's worker
// turns each frame around and transmits it, and the peer must get every
// datagram back intact, IPv4 and IPv6, in native and generic mode.
func TestReflector(t *testing.T) {
	for _, mode := range []Mode{ModeNative, ModeGeneric} {
		t.Run(mode.String(), func(t *testing.T) {
			n := newTestNet(t, 1)
			l := n.links[0]
			i := n.openIface(t, Config{Device: l.dev, Mode: mode, CryptoMap: true})
			if i.Mode() != mode {
				t.Fatalf("attached in %s mode, asked for %s", i.Mode(), mode)
			}
			if err := i.SetLocalAddrs([]netip.Addr{l.gwIP, l.gwIP6}); err != nil {
				t.Fatal(err)
			}
			u := newUMEM(t, 1)
			s := n.openSocket(t, i, u, SocketConfig{Queue: 0})
			ctx, cancel := context.WithCancel(context.Background())
			wg := worker(ctx, []*Socket{s}, func(b *packet.Buf, in int) int {
				if reflect(b.Bytes()) {
					return 0
				}
				return -1
			})
			defer func() { cancel(); wg.Wait(); u.Close() }()

			ps := payloads(200)
			for _, dst := range []netip.Addr{l.gwIP, l.gwIP6} {
				src := l.peerIP
				if dst.Is6() {
					src = l.peerIP6
				}
				c := udpConn(t, l.peerNS, netip.AddrPortFrom(src, 40000))
				checkAllBack(t, exchange(t, c, c, netip.AddrPortFrom(dst, 4500), ps), ps)
			}
			cancel()
			wg.Wait()
			sc := s.Counters()
			if sc.RxPackets < uint64(2*len(ps)) || sc.TxPackets < uint64(2*len(ps)) {
				t.Errorf("socket counted rx %d tx %d, want at least %d each", sc.RxPackets, sc.TxPackets, 2*len(ps))
			}
			if st := s.Stats(); st.RxDropped != 0 || st.TxDropped != 0 {
				t.Errorf("drops: %+v, counters %+v", st, sc)
			}
			c, err := i.Counters()
			if err != nil {
				t.Fatal(err)
			}
			if c.RedirectIPsec < uint64(2*len(ps)) || c.DropNoSocket != 0 {
				t.Errorf("steering counters %+v", c)
			}
		})
	}
}

// TestForwardSharedUMEM forwards transit traffic between two interfaces
// whose sockets share one UMEM: a frame received on one leaves by the other
// without a copy. The transit destination is steered by prefix.
func TestForwardSharedUMEM(t *testing.T) {
	n := newTestNet(t, 1, 1)
	a, b := n.links[0], n.links[1]
	// The peer of a routes b's subnet via the gateway.
	mustRun(t, "ip", "-n", a.peerNS, "route", "add", b.peerIP.String()+"/32", "via", a.gwIP.String())
	mustRun(t, "ip", "-n", a.peerNS, "-6", "route", "add", b.peerIP6.String()+"/128", "via", a.gwIP6.String())
	// The gateway does not forward in its kernel; b's peer answers a's
	// peer via the gateway's kernel routes, which do not exist: replies
	// are not part of this test, arrival is.
	ia := n.openIface(t, Config{Device: a.dev, Mode: ModeAuto})
	ib := n.openIface(t, Config{Device: b.dev, Mode: ModeAuto})
	if err := ia.SetPrefixes([]netip.Prefix{netip.PrefixFrom(b.peerIP, 24).Masked(), netip.PrefixFrom(b.peerIP6, 64).Masked()}); err != nil {
		t.Fatal(err)
	}
	u := newUMEM(t, 2)
	sa := n.openSocket(t, ia, u, SocketConfig{Queue: 0, Port: 0})
	sb := n.openSocket(t, ib, u, SocketConfig{Queue: 0, Port: 1})
	ctx, cancel := context.WithCancel(context.Background())
	wg := worker(ctx, []*Socket{sa, sb}, func(f *packet.Buf, in int) int {
		if in != 0 || f.Port != 0 {
			return -1
		}
		fr := f.Bytes()
		copy(fr[0:6], b.peerMAC)
		copy(fr[6:12], b.gwMAC)
		return 1
	})
	defer func() { cancel(); wg.Wait(); u.Close() }()

	ps := payloads(300)
	for _, v6 := range []bool{false, true} {
		src, dst := a.peerIP, b.peerIP
		if v6 {
			src, dst = a.peerIP6, b.peerIP6
		}
		rx := udpConn(t, b.peerNS, netip.AddrPortFrom(dst, 5000))
		tx := udpConn(t, a.peerNS, netip.AddrPortFrom(src, 0))
		got := exchange(t, tx, rx, netip.AddrPortFrom(dst, 5000), ps)
		checkAllBack(t, got, ps)
	}
	cancel()
	wg.Wait()
	ca, cb := sa.Counters(), sb.Counters()
	if cb.TxPackets < uint64(2*len(ps)) || cb.TxCopied != 0 {
		t.Errorf("b transmitted %d frames, %d of them copied; want >= %d, none copied", cb.TxPackets, cb.TxCopied, 2*len(ps))
	}
	if ca.RxPackets < uint64(2*len(ps)) {
		t.Errorf("a received %d frames, want >= %d", ca.RxPackets, 2*len(ps))
	}
	c, _ := ia.Counters()
	if c.RedirectPolicy < uint64(2*len(ps)) {
		t.Errorf("steering counters %+v", c)
	}
}

// TestMultiQueue: a veth with two queues, a socket on each, both on one
// UMEM; flows spread over the queues and every datagram comes back.
func TestMultiQueue(t *testing.T) {
	for _, mode := range []Mode{ModeNative, ModeGeneric} {
		t.Run(mode.String(), func(t *testing.T) {
			n := newTestNet(t, 2)
			l := n.links[0]
			i := n.openIface(t, Config{Device: l.dev, Mode: mode, CryptoMap: true})
			if i.Queues() != 2 {
				t.Fatalf("%d queues, want 2", i.Queues())
			}
			if err := i.SetLocalAddrs([]netip.Addr{l.gwIP}); err != nil {
				t.Fatal(err)
			}
			u := newUMEM(t, 2)
			s0 := n.openSocket(t, i, u, SocketConfig{Queue: 0})
			s1 := n.openSocket(t, i, u, SocketConfig{Queue: 1, Port: 1})
			ctx, cancel := context.WithCancel(context.Background())
			// Answer each frame on the other queue: TX from the shared UMEM
			// through a socket that did not receive it.
			wg := worker(ctx, []*Socket{s0, s1}, func(b *packet.Buf, in int) int {
				if reflect(b.Bytes()) {
					return 1 - in
				}
				return -1
			})
			defer func() { cancel(); wg.Wait(); u.Close() }()

			ps := payloads(40)
			for port := uint16(41000); port < 41016; port++ {
				c := udpConn(t, l.peerNS, netip.AddrPortFrom(l.peerIP, port))
				checkAllBack(t, exchange(t, c, c, netip.AddrPortFrom(l.gwIP, 4500), ps), ps)
			}
			cancel()
			wg.Wait()
			c0, c1 := s0.Counters(), s1.Counters()
			t.Logf("queue 0 received %d frames, queue 1 %d", c0.RxPackets, c1.RxPackets)
			// veth spreads flows over its queues only with NAPI, which native
			// XDP turns on; in generic mode every frame arrives on queue 0.
			if mode == ModeNative && (c0.RxPackets == 0 || c1.RxPackets == 0) {
				t.Errorf("flows did not spread over the queues")
			}
			if c0.TxCopied+c1.TxCopied != 0 {
				t.Errorf("frames copied between sockets of one UMEM")
			}
		})
	}
}

// TestAutoModeFallsBack: native XDP on a veth with fewer RX queues in use
// than its peer transmits on fails (ENOSPC); auto mode then attaches
// generically, says why, and the socket still reflects traffic.
func TestAutoModeFallsBack(t *testing.T) {
	n := newTestNet(t, 2)
	l := n.links[0]
	mustRun(t, "ip", "netns", "exec", n.gw, "ethtool", "-L", l.dev, "rx", "1")
	mustInNS(t, n.gw, func() error {
		i, err := Open(Config{Device: l.dev, Mode: ModeNative})
		if err == nil {
			i.Close()
			return errors.New("native mode attached although the peer transmits on more queues than the device receives on")
		}
		return nil
	})
	i := n.openIface(t, Config{Device: l.dev, CryptoMap: true})
	if i.Mode() != ModeGeneric || i.NativeModeError() == nil {
		t.Fatalf("auto mode: attached %s, native error %v; want generic with a reason", i.Mode(), i.NativeModeError())
	}
	t.Logf("native failed: %v", i.NativeModeError())
	if i.Queues() != 1 {
		t.Errorf("%d queues in use, want 1", i.Queues())
	}
	if err := i.SetLocalAddrs([]netip.Addr{l.gwIP}); err != nil {
		t.Fatal(err)
	}
	u := newUMEM(t, 1)
	s := n.openSocket(t, i, u, SocketConfig{Queue: 0})
	ctx, cancel := context.WithCancel(context.Background())
	wg := worker(ctx, []*Socket{s}, func(b *packet.Buf, in int) int {
		if reflect(b.Bytes()) {
			return 0
		}
		return -1
	})
	defer func() { cancel(); wg.Wait(); u.Close() }()
	ps := payloads(20)
	c := udpConn(t, l.peerNS, netip.AddrPortFrom(l.peerIP, 40000))
	checkAllBack(t, exchange(t, c, c, netip.AddrPortFrom(l.gwIP, 4500), ps), ps)
}

// TestTransmitForeignFrame: a frame from another pool (a packet the slow
// path built, say) is copied into the UMEM, sent, and its chunk returned to
// its own pool.
func TestTransmitForeignFrame(t *testing.T) {
	n := newTestNet(t, 1)
	l := n.links[0]
	i := n.openIface(t, Config{Device: l.dev})
	u := newUMEM(t, 1)
	defer u.Close()
	s := n.openSocket(t, i, u, SocketConfig{Queue: 0})
	rx := udpConn(t, l.peerNS, netip.AddrPortFrom(l.peerIP, 40000))

	heap := packet.NewHeapPool(4, 2048)
	f := heap.Get()
	frame := cat(eth(0x0800), ipv4(17, l.gwIP.String(), l.peerIP.String(), 0, 0, udp(4500, 40000, []byte("from the slow path"))))
	copy(frame[0:6], l.peerMAC)
	copy(frame[6:12], l.gwMAC)
	f.SetLen(len(frame))
	copy(f.Bytes(), frame)
	s.Transmit([]*packet.Buf{f})
	s.Flush()

	buf := make([]byte, 64)
	rx.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, _, err := rx.ReadFromUDPAddrPort(buf); err != nil || string(buf[:n]) != "from the slow path" {
		t.Fatalf("peer got %q, %v", buf[:max(n, 0)], err)
	}
	if heap.Free() != 4 {
		t.Errorf("foreign chunk not returned to its pool: %d of 4 free", heap.Free())
	}
	if c := s.Counters(); c.TxCopied != 1 || c.TxPackets != 1 {
		t.Errorf("counters %+v", c)
	}
}
