package afxdp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"ipsecgw/packet"
)

// Benchmarks on a veth pair: a generator in the peer namespace sends UDP to
// the gateway's NAT-T port as fast as one core can (sendmmsg, 64 per call);
// the gateway side receives it
//
//   - afpacket: with no XDP program, through an AF_PACKET socket with
//     recvmmsg ×64: the kernel-socket baseline, measured in the same run;
//   - afxdp-rx: through the steering program and an AF_XDP socket, frames
//     returned to the pool at once;
//   - afxdp-reflect: the same, each frame turned around and transmitted.
//
// One op is one frame; pps is frames per second. On veth the kernel's
// per-packet cost (generator, veth, copy mode) dominates: compare ratios
// within a run, not figures across machines.

// generator sends datagrams of size bytes from ns to dst until stopped.
type generator struct {
	stop atomic.Bool
	sent atomic.Uint64
	wg   sync.WaitGroup
}

func startGenerator(b *testing.B, ns string, dst netip.AddrPort, size int) *generator {
	g := &generator{}
	ready := make(chan error, 1)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := enterNS(ns); err != nil {
			ready <- err
			return
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			ready <- err
			return
		}
		defer unix.Close(fd)
		// Unconnected, so that ICMP errors from the gateway's kernel (port
		// unreachable, in the baseline) do not fail the next send.
		const batch = 64
		to := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: dst.Addr().As4()}
		to.Port = htons(dst.Port())
		payload := make([]byte, size)
		iov := unix.Iovec{Base: &payload[0]}
		iov.SetLen(size)
		var msgs [batch]unix.Mmsghdr
		for k := range msgs {
			msgs[k].Hdr.Name = (*byte)(unsafe.Pointer(&to))
			msgs[k].Hdr.Namelen = unix.SizeofSockaddrInet4
			msgs[k].Hdr.Iov = &iov
			msgs[k].Hdr.SetIovlen(1)
		}
		ready <- nil
		for !g.stop.Load() {
			n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), batch, 0, 0, 0)
			if e == 0 {
				g.sent.Add(uint64(n))
			}
		}
	}()
	if err := <-ready; err != nil {
		b.Fatal(err)
	}
	return g
}

func (g *generator) Stop() {
	g.stop.Store(true)
	g.wg.Wait()
}

// reportPPS reports frames per second over the timed part of the run.
func reportPPS(b *testing.B, start time.Time) {
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pps")
}

// stalled fails the benchmark when no frame arrived for a while.
func stalled(b *testing.B, last *time.Time, got int) {
	if got > 0 {
		*last = time.Now()
	} else if time.Since(*last) > 3*time.Second {
		b.Fatal("no frames for 3s")
	}
}

func BenchmarkVeth(b *testing.B) {
	for _, size := range []int{18, 1354} { // 64- and 1400-byte frames (without FCS: 60, 1396)
		b.Run(fmt.Sprintf("%dB", size+46), func(b *testing.B) { benchVeth(b, size) })
	}
}

func benchVeth(b *testing.B, size int) {
	n := newTestNet(b, 1)
	l := n.links[0]
	gen := startGenerator(b, l.peerNS, netip.AddrPortFrom(l.gwIP, 4500), size)
	defer gen.Stop()

	b.Run("afpacket", func(b *testing.B) {
		var fd int
		mustInNS(b, n.gw, func() (err error) {
			fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
			if err != nil {
				return err
			}
			ifi, err := netInterfaceIndex(l.dev)
			if err != nil {
				return err
			}
			return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi})
		})
		defer unix.Close(fd)
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1})
		const batch = 64
		bufs := make([]byte, batch*2048)
		iovs := make([]unix.Iovec, batch)
		msgs := make([]unix.Mmsghdr, batch)
		for k := range msgs {
			iovs[k] = unix.Iovec{Base: &bufs[k*2048]}
			iovs[k].SetLen(2048)
			msgs[k].Hdr.Iov = &iovs[k]
			msgs[k].Hdr.SetIovlen(1)
		}
		b.ReportAllocs()
		b.ResetTimer()
		start, last := time.Now(), time.Now()
		for got := 0; got < b.N; {
			r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), batch, unix.MSG_WAITFORONE, 0, 0)
			k := 0
			if e == 0 {
				k = int(r)
			}
			got += k
			stalled(b, &last, k)
		}
		reportPPS(b, start)
	})

	i := n.openIface(b, Config{Device: l.dev, Mode: ModeNative, CryptoMap: true})
	if err := i.SetLocalAddrs([]netip.Addr{l.gwIP}); err != nil {
		b.Fatal(err)
	}
	u := newUMEM(b, 1)
	defer u.Close()
	s := n.openSocket(b, i, u, SocketConfig{Queue: 0})
	in := make([]*packet.Buf, 64)

	b.Run("afxdp-rx", func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		start, last := time.Now(), time.Now()
		for got := 0; got < b.N; {
			k := s.Receive(in)
			for _, f := range in[:k] {
				u.Pool().Put(f)
			}
			got += k
			if k == 0 {
				s.Wait(time.Millisecond)
			}
			stalled(b, &last, k)
		}
		reportPPS(b, start)
	})

	b.Run("afxdp-reflect", func(b *testing.B) {
		before := s.Counters()
		b.ReportAllocs()
		b.ResetTimer()
		start, last := time.Now(), time.Now()
		for got := 0; got < b.N; {
			k := s.Receive(in)
			for _, f := range in[:k] {
				swapMACs(f.Bytes())
			}
			s.Transmit(in[:k])
			s.Flush()
			got += k
			if k == 0 {
				s.Wait(time.Millisecond)
			}
			stalled(b, &last, k)
		}
		reportPPS(b, start)
		after := s.Counters()
		b.ReportMetric(float64(after.TxBusy-before.TxBusy+after.TxRingFull-before.TxRingFull)/float64(b.N), "txdrop/op")
	})
}

// swapMACs is the least a reflector must do; the rest of the frame goes
// back as it came (the peer's kernel drops it, which costs the generator's
// core, not the gateway's).
func swapMACs(f []byte) {
	var m [6]byte
	copy(m[:], f[:6])
	copy(f[:6], f[6:12])
	copy(f[6:12], m[:])
}

// htons converts to network byte order.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

func netInterfaceIndex(name string) (int, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, err
	}
	return int(ifr.Uint32()), nil
}
