package afxdp

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"ipsecgw/fastpath"
	"ipsecgw/packet"
)

// SocketConfig shapes one socket.
type SocketConfig struct {
	Queue int       // the interface's RX/TX queue
	Rings RingSizes // zero value: DefaultRings
	Port  uint16    // written into Buf.Port of every received frame
}

// Socket is one AF_XDP socket bound to one queue of one interface: a
// fastpath.Port. It receives the frames the steering program redirects to
// that queue and transmits on the same queue. All methods except Close are
// for the owning worker goroutine only.
type Socket struct {
	fd    int
	umem  *UMEM
	pool  *packet.Pool
	iface *Interface
	queue int
	port  uint16

	fill, comp, rx, tx ring

	scratch []*packet.Buf // fill-ring top-up batch
	pfd     [1]unix.PollFd
	c       SocketCounters
}

var _ fastpath.Port = (*Socket)(nil)

// SocketCounters are a socket's own counters plus the kernel's.
type SocketCounters struct {
	RxPackets, RxBytes uint64
	TxPackets, TxBytes uint64 // frames handed to the kernel

	TxRingFull uint64 // frames dropped: no free TX descriptor
	TxInvalid  uint64 // frames dropped: empty, or larger than a chunk
	TxCopied   uint64 // frames from another pool, copied into this UMEM
	TxNoFrame  uint64 // frames from another pool dropped: no chunk to copy into
	TxBusy     uint64 // frames the driver completed without sending (kick: EBUSY)
	Completed  uint64 // TX completions reaped
	Kicks      uint64 // TX wakeups (sendto)
	KickAgain  uint64 // wakeups that returned EAGAIN (budget or completion ring full; retried)
	KickErrors uint64 // wakeups that failed otherwise
	RxWakeups  uint64 // RX wakeups (recvfrom) on a need_wakeup fill ring
	FillShort  uint64 // fill-ring top-ups cut short by an empty pool

	Kernel KernelStats
}

// KernelStats are the kernel's counters for a socket (XDP_STATISTICS).
type KernelStats struct {
	RxDropped        uint64 // no chunk (fill ring empty) or frame larger than a chunk
	RxInvalidDescs   uint64 // fill-ring entries the kernel rejected
	TxInvalidDescs   uint64 // TX descriptors the kernel rejected (frame lost)
	RxRingFull       uint64 // RX ring full: frame dropped
	RxFillRingEmpty  uint64 // times the fill ring was empty when a frame arrived
	TxRingEmptyDescs uint64 // wakeups that found the TX ring empty
}

// openSocket creates a socket on queue cfg.Queue of interface ifindex over
// u. The first socket of a UMEM registers it and picks the mode; later ones
// share it.
func openSocket(ifindex int, u *UMEM, cfg SocketConfig) (*Socket, error) {
	if cfg.Rings == (RingSizes{}) {
		cfg.Rings = DefaultRings
	}
	if err := cfg.Rings.validate(); err != nil {
		return nil, err
	}
	if u.pool == nil {
		return nil, errors.New("afxdp: UMEM is closed")
	}
	if len(u.sockets) > 0 {
		s, err := newSocket(ifindex, u, cfg, unix.XDP_SHARED_UMEM, u.sockets[0].fd)
		if err != nil && u.zc {
			err = fmt.Errorf("%w (the worker's UMEM is zero-copy, so every socket on it must be: use copy mode)", err)
		}
		return s, err
	}
	const wake = unix.XDP_USE_NEED_WAKEUP
	switch u.bind {
	case BindCopy:
		return newSocket(ifindex, u, cfg, unix.XDP_COPY|wake, -1)
	case BindZeroCopy:
		return newSocket(ifindex, u, cfg, unix.XDP_ZEROCOPY|wake, -1)
	}
	s, zcErr := newSocket(ifindex, u, cfg, unix.XDP_ZEROCOPY|wake, -1)
	if zcErr == nil {
		return s, nil
	}
	s, err := newSocket(ifindex, u, cfg, unix.XDP_COPY|wake, -1)
	if err != nil {
		return nil, fmt.Errorf("%w (zero-copy: %v)", err, zcErr)
	}
	return s, nil
}

func newSocket(ifindex int, u *UMEM, cfg SocketConfig, flags uint16, sharedFD int) (_ *Socket, err error) {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("afxdp: socket: %w", err)
	}
	s := &Socket{fd: fd, umem: u, pool: u.pool, queue: cfg.Queue, port: cfg.Port}
	defer func() {
		if err != nil {
			s.unmap()
			unix.Close(fd)
		}
	}()

	if sharedFD < 0 {
		reg := unix.XDPUmemReg{
			Addr: uint64(uintptr(unsafe.Pointer(&u.arena[0]))),
			Len:  uint64(len(u.arena)),
			Size: uint32(u.pool.ChunkSize()),
		}
		if err := setsockopt(fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
			return nil, fmt.Errorf("afxdp: registering UMEM: %w", err)
		}
	}
	// Each socket gets its own fill and completion rings, also when it
	// shares the UMEM (required for another device or queue).
	for _, o := range []struct{ opt, n int }{
		{unix.XDP_UMEM_FILL_RING, cfg.Rings.Fill},
		{unix.XDP_UMEM_COMPLETION_RING, cfg.Rings.Completion},
		{unix.XDP_RX_RING, cfg.Rings.RX},
		{unix.XDP_TX_RING, cfg.Rings.TX},
	} {
		if err := unix.SetsockoptInt(fd, unix.SOL_XDP, o.opt, o.n); err != nil {
			return nil, fmt.Errorf("afxdp: ring size option %d = %d: %w", o.opt, o.n, err)
		}
	}
	var off unix.XDPMmapOffsets
	n := uint32(unsafe.Sizeof(off))
	if err := getsockopt(fd, unix.XDP_MMAP_OFFSETS, unsafe.Pointer(&off), &n); err != nil {
		return nil, fmt.Errorf("afxdp: XDP_MMAP_OFFSETS: %w", err)
	}
	for _, m := range []struct {
		r     *ring
		pgoff int64
		off   unix.XDPRingOffset
		n     int
		size  uintptr
		prod  bool
	}{
		{&s.fill, unix.XDP_UMEM_PGOFF_FILL_RING, off.Fr, cfg.Rings.Fill, addrSize, true},
		{&s.comp, unix.XDP_UMEM_PGOFF_COMPLETION_RING, off.Cr, cfg.Rings.Completion, addrSize, false},
		{&s.rx, unix.XDP_PGOFF_RX_RING, off.Rx, cfg.Rings.RX, descSize, false},
		{&s.tx, unix.XDP_PGOFF_TX_RING, off.Tx, cfg.Rings.TX, descSize, true},
	} {
		mem, err := unix.Mmap(fd, m.pgoff, int(m.off.Desc)+m.n*int(m.size),
			unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return nil, fmt.Errorf("afxdp: mapping ring at page offset %#x: %w", m.pgoff, err)
		}
		*m.r = newRing(mem, m.off, uint32(m.n), m.prod)
	}

	sa := &unix.SockaddrXDP{Flags: flags, Ifindex: uint32(ifindex), QueueID: uint32(cfg.Queue)}
	if sharedFD >= 0 {
		sa.SharedUmemFD = uint32(sharedFD)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, fmt.Errorf("afxdp: bind to ifindex %d queue %d (flags %#x): %w", ifindex, cfg.Queue, flags, err)
	}
	// The copy-mode TX budget per wakeup (default 32): a larger one means
	// fewer EAGAIN kicks under load. Kernels without the option keep 32.
	_ = unix.SetsockoptInt(fd, unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, min(256, cfg.Rings.TX))

	var opts struct{ flags uint32 }
	n = uint32(unsafe.Sizeof(opts))
	if err := getsockopt(fd, unix.XDP_OPTIONS, unsafe.Pointer(&opts), &n); err == nil && sharedFD < 0 {
		u.zc = opts.flags&unix.XDP_OPTIONS_ZEROCOPY != 0
	}

	s.scratch = make([]*packet.Buf, min(cfg.Rings.Fill, 256))
	s.pfd[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	u.sockets = append(u.sockets, s)
	for s.refill() > 0 {
	}
	return s, nil
}

// Receive implements fastpath.Port: it takes up to len(bufs) frames off the
// RX ring and tops the fill ring up with fresh chunks.
func (s *Socket) Receive(bufs []*packet.Buf) int {
	n := s.rx.available(uint32(len(bufs)))
	if n == 0 {
		s.refill()
		if s.fill.needWakeup() {
			s.c.RxWakeups++
			unix.Syscall6(unix.SYS_RECVFROM, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		}
		return 0
	}
	var bytes uint64
	idx := s.rx.cachedCons
	for i := range n {
		d := s.rx.desc(idx + i)
		b := s.pool.ByAddr(d.Addr)
		b.Set(int(d.Addr-b.Addr), int(d.Len))
		b.Port = s.port
		bufs[i] = b
		bytes += uint64(d.Len)
	}
	s.rx.release(n)
	s.c.RxPackets += uint64(n)
	s.c.RxBytes += bytes
	s.refill()
	return int(n)
}

// refill moves free chunks from the pool to the fill ring, leaving Reserve
// in the pool, and returns how many it moved.
func (s *Socket) refill() int {
	free := s.fill.free(uint32(len(s.scratch)))
	if free == 0 {
		return 0
	}
	want := min(int(free), len(s.scratch))
	if avail := s.pool.Free() - Reserve; avail < want {
		s.c.FillShort++
		want = max(avail, 0)
	}
	got := s.pool.GetBatch(s.scratch[:want])
	for _, b := range s.scratch[:got] {
		*s.fill.addr(s.fill.cachedProd) = b.Addr
		s.fill.cachedProd++
	}
	if got > 0 {
		s.fill.submit()
	}
	return got
}

// Transmit implements fastpath.Port: it queues frames on the TX ring and
// owns them from then on. Frames of another pool are copied into this UMEM.
// The kernel sees them on the next Flush.
func (s *Socket) Transmit(bufs []*packet.Buf) {
	want := uint32(len(bufs))
	free := s.tx.free(want)
	if free < want {
		// Make room: reclaim completions and let the kernel drain the ring.
		s.reap()
		s.kick()
		free = s.tx.free(want)
	}
	chunk := s.pool.ChunkSize()
	for _, b := range bufs {
		foreign := b.Pool() != s.pool
		if b.Len() == 0 || (foreign && b.Len() > chunk-packet.Headroom) {
			s.c.TxInvalid++
			release(b)
			continue
		}
		if free == 0 {
			s.c.TxRingFull++
			release(b)
			continue
		}
		if foreign {
			c := s.pool.Get()
			if c == nil {
				s.c.TxNoFrame++
				release(b)
				continue
			}
			c.SetLen(b.Len())
			copy(c.Bytes(), b.Bytes())
			c.Port = b.Port
			release(b)
			b = c
			s.c.TxCopied++
		}
		d := s.tx.desc(s.tx.cachedProd)
		d.Addr = b.Addr + uint64(b.Offset())
		d.Len = uint32(b.Len())
		d.Options = 0
		s.tx.cachedProd++
		free--
		s.c.TxPackets++
		s.c.TxBytes += uint64(b.Len())
	}
	s.tx.submit()
}

func release(b *packet.Buf) {
	if p := b.Pool(); p != nil {
		p.Put(b)
	}
}

// Flush implements fastpath.Port: it reclaims completed frames and wakes the
// kernel to send what is queued. In copy mode every send needs the wakeup;
// in zero-copy mode only when the driver asks for it (need_wakeup).
func (s *Socket) Flush() {
	s.reap()
	if s.tx.pending() > 0 && s.tx.needWakeup() {
		s.kick()
	}
}

// kick asks the kernel to process the TX ring. EAGAIN (budget spent or
// completion ring full) leaves the rest queued for the next kick; EBUSY
// means the driver's queue was full and one frame was completed unsent.
func (s *Socket) kick() {
	s.c.Kicks++
	_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	switch e {
	case 0:
	case unix.EAGAIN:
		s.c.KickAgain++
	case unix.EBUSY:
		s.c.TxBusy++
	default:
		s.c.KickErrors++
	}
}

// reap returns the chunks of sent frames to the pool.
func (s *Socket) reap() {
	n := s.comp.available(s.comp.size)
	if n == 0 {
		return
	}
	idx := s.comp.cachedCons
	for i := range n {
		s.pool.Put(s.pool.ByAddr(*s.comp.addr(idx + i)))
	}
	s.comp.release(n)
	s.c.Completed += uint64(n)
}

// Wait blocks until frames arrive or timeout passes, for a worker with
// nothing to do; in copy mode the poll also drives pending transmissions.
func (s *Socket) Wait(timeout time.Duration) bool {
	return poll(s.pfd[:], timeout)
}

// Stats implements fastpath.Port.
func (s *Socket) Stats() fastpath.PortStats {
	k := s.kernelStats()
	return fastpath.PortStats{
		RxPackets: s.c.RxPackets, RxBytes: s.c.RxBytes,
		TxPackets: s.c.TxPackets, TxBytes: s.c.TxBytes,
		RxDropped: k.RxDropped + k.RxRingFull,
		TxDropped: s.c.TxRingFull + s.c.TxInvalid + s.c.TxNoFrame + s.c.TxBusy + k.TxInvalidDescs,
	}
}

// Counters returns the socket's counters, the kernel's included.
func (s *Socket) Counters() SocketCounters {
	c := s.c
	c.Kernel = s.kernelStats()
	return c
}

func (s *Socket) kernelStats() KernelStats {
	var st unix.XDPStatistics
	n := uint32(unsafe.Sizeof(st))
	if getsockopt(s.fd, unix.XDP_STATISTICS, unsafe.Pointer(&st), &n) != nil {
		return KernelStats{}
	}
	return KernelStats{
		RxDropped: st.Rx_dropped, RxInvalidDescs: st.Rx_invalid_descs, TxInvalidDescs: st.Tx_invalid_descs,
		RxRingFull: st.Rx_ring_full, RxFillRingEmpty: st.Rx_fill_ring_empty_descs, TxRingEmptyDescs: st.Tx_ring_empty_descs,
	}
}

// Queue is the interface queue the socket is bound to.
func (s *Socket) Queue() int { return s.queue }

// FD is the socket's file descriptor (for the steering program's XSKMAP).
func (s *Socket) FD() int { return s.fd }

// ZeroCopy reports whether the socket runs in zero-copy mode.
func (s *Socket) ZeroCopy() bool { return s.umem.zc }

// Close unregisters the socket from its interface's steering program,
// closes it and returns the chunks the kernel held for it to the pool
// (frames still in flight in the driver are lost to the pool). Call it only
// once the worker no longer polls the socket.
func (s *Socket) Close() error {
	if s.fd < 0 {
		return nil
	}
	var err error
	if s.iface != nil {
		err = s.iface.unregister(s)
	}
	err = errors.Join(err, unix.Close(s.fd))
	s.fd = -1
	s.reclaim()
	s.unmap()
	s.umem.remove(s)
	return err
}

// reclaim returns to the pool every chunk the closed socket's rings still
// name: fill entries the kernel did not take, frames received but not read,
// completions not reaped and TX descriptors the kernel did not consume.
func (s *Socket) reclaim() {
	if s.fill.mem == nil || s.tx.mem == nil {
		return
	}
	put := func(addr uint64) {
		if addr < uint64(len(s.umem.arena)) {
			s.pool.Put(s.pool.ByAddr(addr))
		}
	}
	for i := atomic.LoadUint32(s.fill.consumer); i != s.fill.cachedProd; i++ {
		put(*s.fill.addr(i))
	}
	for i := s.rx.cachedCons; i != atomic.LoadUint32(s.rx.producer); i++ {
		put(s.rx.desc(i).Addr)
	}
	for i := s.comp.cachedCons; i != atomic.LoadUint32(s.comp.producer); i++ {
		put(*s.comp.addr(i))
	}
	for i := atomic.LoadUint32(s.tx.consumer); i != s.tx.cachedProd; i++ {
		put(s.tx.desc(i).Addr)
	}
}

func (s *Socket) unmap() {
	for _, r := range []*ring{&s.fill, &s.comp, &s.rx, &s.tx} {
		if r.mem != nil {
			unix.Munmap(r.mem)
			*r = ring{}
		}
	}
}

// Poller waits on several sockets at once: the idle back-off of a worker
// that polls more than one port.
type Poller struct{ fds []unix.PollFd }

// NewPoller returns a poller over socks.
func NewPoller(socks ...*Socket) *Poller {
	p := &Poller{fds: make([]unix.PollFd, len(socks))}
	for i, s := range socks {
		p.fds[i] = s.pfd[0]
	}
	return p
}

// Wait blocks until one of the sockets has frames or timeout passes.
func (p *Poller) Wait(timeout time.Duration) bool { return poll(p.fds, timeout) }

func poll(fds []unix.PollFd, timeout time.Duration) bool {
	n, err := unix.Poll(fds, int(timeout/time.Millisecond))
	return err == nil && n > 0
}

func setsockopt(fd, opt int, p unsafe.Pointer, n uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), n, 0)
	if e != 0 {
		return e
	}
	return nil
}

func getsockopt(fd, opt int, p unsafe.Pointer, n *uint32) error {
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), uintptr(unsafe.Pointer(n)), 0)
	if e != 0 {
		return e
	}
	return nil
}
