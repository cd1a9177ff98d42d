package afxdp

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"ipsecgw/packet"
)

// BindMode selects how sockets move frames between the driver and the UMEM.
type BindMode int

const (
	// BindAuto tries zero-copy and falls back to copy mode.
	BindAuto BindMode = iota
	// BindCopy always copies (the only mode veth offers).
	BindCopy
	// BindZeroCopy fails where the driver cannot do zero-copy.
	BindZeroCopy
)

func (m BindMode) String() string {
	switch m {
	case BindAuto:
		return "auto"
	case BindCopy:
		return "copy"
	case BindZeroCopy:
		return "zero-copy"
	}
	return fmt.Sprintf("BindMode(%d)", int(m))
}

// maxFrameOverhead is what an interface's frames carry beyond its MTU:
// Ethernet header and one 802.1Q tag.
const maxFrameOverhead = 14 + 4

// ChunkSizeFor returns the UMEM chunk size that holds a whole frame of an
// interface with the given MTU behind the kernel's 256 bytes of headroom:
// 2048 up to MTU 1774, 4096 up to MTU 3822. Larger MTUs would need
// multi-buffer AF_XDP, which this driver does not do.
func ChunkSizeFor(mtu int) (int, error) {
	frame := mtu + maxFrameOverhead
	for _, size := range []int{2048, 4096} {
		if frame <= size-packet.Headroom {
			return size, nil
		}
	}
	return 0, fmt.Errorf("afxdp: MTU %d does not fit a 4096-byte chunk behind %d bytes of headroom (largest MTU %d)",
		mtu, packet.Headroom, 4096-packet.Headroom-maxFrameOverhead)
}

// RingSizes are the entry counts of a socket's four rings; each a power of
// two.
type RingSizes struct {
	Fill, Completion, RX, TX int
}

// DefaultRings are the ring sizes libxdp uses by default.
var DefaultRings = RingSizes{Fill: 2048, Completion: 2048, RX: 2048, TX: 2048}

func (r RingSizes) validate() error {
	for _, n := range []int{r.Fill, r.Completion, r.RX, r.TX} {
		if n <= 0 || n&(n-1) != 0 {
			return fmt.Errorf("afxdp: ring sizes must be powers of two, got %+v", r)
		}
	}
	return nil
}

// Reserve is the number of frames a socket's fill-ring top-up leaves in the
// pool for the worker itself (copies of foreign frames, packets it builds).
const Reserve = 256

// FramesFor is the UMEM size, in frames, that keeps the fill rings of the
// given number of sockets full and their TX rings usable, plus Reserve.
func FramesFor(sockets int, r RingSizes) int {
	return sockets*(r.Fill+r.TX) + Reserve
}

// UMEM is the packet memory one worker shares with the kernel: a page-aligned
// anonymous mapping carved into equal chunks by a packet.Pool. Every socket
// of the worker (one per interface queue it polls) works on the same UMEM,
// each with its own fill and completion rings, so a frame received on one
// interface is transmitted on another without a copy.
//
// The first socket opened registers the memory with the kernel; the others
// bind with XDP_SHARED_UMEM to an open socket of the same UMEM and inherit
// its copy or zero-copy mode (the kernel's rule). A UMEM, its pool and its
// sockets belong to one worker goroutine.
type UMEM struct {
	arena   []byte
	pool    *packet.Pool
	bind    BindMode
	zc      bool      // the mode the first socket bound in
	sockets []*Socket // open sockets; any of them can be shared from
}

// NewUMEM maps frames chunks of chunkSize bytes (see ChunkSizeFor and
// FramesFor).
func NewUMEM(frames, chunkSize int, bind BindMode) (*UMEM, error) {
	if chunkSize != 2048 && chunkSize != 4096 {
		return nil, fmt.Errorf("afxdp: chunk size %d: the kernel takes 2048 or 4096", chunkSize)
	}
	if frames <= 0 {
		return nil, fmt.Errorf("afxdp: %d frames", frames)
	}
	arena, err := unix.Mmap(-1, 0, frames*chunkSize, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("afxdp: mapping %d frames of %d bytes: %w", frames, chunkSize, err)
	}
	pool, err := packet.NewPool(arena, chunkSize)
	if err != nil {
		unix.Munmap(arena)
		return nil, err
	}
	return &UMEM{arena: arena, pool: pool, bind: bind}, nil
}

// Pool is the worker's frame pool over this UMEM.
func (u *UMEM) Pool() *packet.Pool { return u.pool }

// ZeroCopy reports whether the UMEM's sockets run in zero-copy mode; it is
// decided by the first socket bound.
func (u *UMEM) ZeroCopy() bool { return u.zc }

// Close closes the sockets still open on the UMEM and unmaps it. Stop the
// worker first: its frames die with the memory.
func (u *UMEM) Close() error {
	var errs []error
	for len(u.sockets) > 0 {
		errs = append(errs, u.sockets[len(u.sockets)-1].Close())
	}
	if u.arena != nil {
		errs = append(errs, unix.Munmap(u.arena))
		u.arena, u.pool = nil, nil
	}
	return errors.Join(errs...)
}

func (u *UMEM) remove(s *Socket) {
	for i, o := range u.sockets {
		if o == s {
			u.sockets = append(u.sockets[:i], u.sockets[i+1:]...)
			return
		}
	}
}
