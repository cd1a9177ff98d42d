package afxdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Mode is how the steering program attaches to an interface: the
// interface's xdp_mode setting.
type Mode int

const (
	// ModeAuto attaches natively where the driver can and generically
	// otherwise.
	ModeAuto Mode = iota
	// ModeNative attaches in the driver (XDP_FLAGS_DRV_MODE) or fails.
	ModeNative
	// ModeGeneric attaches after the kernel built an skb
	// (XDP_FLAGS_SKB_MODE): slower, works on every device.
	ModeGeneric
)

func (m Mode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeNative:
		return "native"
	case ModeGeneric:
		return "generic"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode reads an xdp_mode setting: auto (or empty), native, generic.
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return ModeAuto, nil
	case "native", "driver", "drv":
		return ModeNative, nil
	case "generic", "skb":
		return ModeGeneric, nil
	}
	return 0, fmt.Errorf("afxdp: xdp_mode %q: want auto, native or generic", s)
}

// Config describes one interface the fast path takes over.
type Config struct {
	Device string // kernel interface name, in the calling thread's network namespace
	Mode   Mode
	// CryptoMap: a crypto map is applied to the interface, so ESP, AH and
	// IKE addressed to the gateway arrive here and belong to the fast path.
	CryptoMap bool
	// Capacity of the steering maps; zero picks 256 local addresses and
	// 65536 prefixes per address family.
	MaxLocalAddrs, MaxPrefixes int
}

// Interface is a network interface the fast path owns: its offloads
// switched off, the steering program attached, and one socket per queue
// that workers poll. Its methods are safe to call from the slow path while
// workers poll the sockets.
type Interface struct {
	name   string
	index  int
	mtu    int
	mac    net.HardwareAddr
	queues int
	mode   Mode
	native error // why ModeAuto fell back to generic

	offl *offloads
	coll *ebpf.Collection
	link link.Link

	maxPrefixes uint32

	mu      sync.Mutex
	sockets map[int]*Socket
	local   map[netip.Addr]bool
	steer   [2]steerTrie // IPv4, IPv6
}

// steerTrie is one address family's current steering trie.
type steerTrie struct {
	m        *ebpf.Map
	prefixes []netip.Prefix // sorted, as installed
}

// Open takes over an interface: it switches its receive offloads off,
// loads the steering program with empty maps (everything passes to the
// kernel until the slow path fills them) and attaches it. Run it in the
// interface's network namespace.
func Open(cfg Config) (_ *Interface, err error) {
	l, err := netlink.LinkByName(cfg.Device)
	if err != nil {
		return nil, fmt.Errorf("afxdp: %s: %w", cfg.Device, err)
	}
	a := l.Attrs()
	if x := a.Xdp; x != nil && x.Attached {
		return nil, fmt.Errorf("afxdp: %s already has an XDP program (id %d); not replacing it", cfg.Device, x.ProgId)
	}
	if _, err := ChunkSizeFor(a.MTU); err != nil {
		return nil, fmt.Errorf("afxdp: %s: %w", cfg.Device, err)
	}
	if cfg.MaxLocalAddrs <= 0 {
		cfg.MaxLocalAddrs = 256
	}
	if cfg.MaxPrefixes <= 0 {
		cfg.MaxPrefixes = 65536
	}
	i := &Interface{
		name: a.Name, index: a.Index, mtu: a.MTU, mac: a.HardwareAddr,
		queues:      min(a.NumRxQueues, a.NumTxQueues),
		maxPrefixes: uint32(cfg.MaxPrefixes),
		sockets:     make(map[int]*Socket),
		local:       make(map[netip.Addr]bool),
	}
	defer func() {
		if err != nil {
			i.Close()
		}
	}()
	if i.offl, err = disableOffloads(i.name); err != nil {
		return nil, err
	}
	// Queues in use now; the XSKMAP is sized for all the device has.
	if rx, tx, err := channels(i.offl.fd, i.name); err == nil && rx > 0 && tx > 0 {
		i.queues = min(rx, tx, i.queues)
	}
	if err := i.attach(cfg, uint32(max(a.NumRxQueues, 1))); err != nil {
		return nil, err
	}
	if err := i.SetCryptoMap(cfg.CryptoMap); err != nil {
		return nil, err
	}
	return i, nil
}

// attach loads the program and attaches it in the configured mode. Native
// mode loads it frags-aware (BPF_F_XDP_HAS_FRAGS), which veth needs for an
// MTU above 3506; generic mode does not, so the kernel hands the program
// linear frames whose headers it can read.
func (i *Interface) attach(cfg Config, rxQueues uint32) error {
	try := func(m Mode) error {
		var progFlags uint32
		flags := link.XDPGenericMode
		if m == ModeNative {
			progFlags, flags = unix.BPF_F_XDP_HAS_FRAGS, link.XDPDriverMode
		}
		coll, err := ebpf.NewCollection(collectionSpec(rxQueues, uint32(cfg.MaxLocalAddrs), i.maxPrefixes, progFlags))
		if err != nil {
			return fmt.Errorf("loading the steering program: %w", err)
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: coll.Programs[progName], Interface: i.index, Flags: flags})
		if err != nil {
			coll.Close()
			return fmt.Errorf("attaching in %s mode: %w", m, err)
		}
		i.coll, i.link, i.mode = coll, l, m
		return nil
	}
	if cfg.Mode != ModeAuto {
		if err := try(cfg.Mode); err != nil {
			return fmt.Errorf("afxdp: %s: %w", i.name, err)
		}
		return nil
	}
	i.native = try(ModeNative)
	if i.native == nil {
		return nil
	}
	if err := try(ModeGeneric); err != nil {
		return fmt.Errorf("afxdp: %s: %v; %w", i.name, i.native, err)
	}
	return nil
}

// Name, Index, MTU, MAC and Queues describe the interface as it was when
// opened. Queues is how many queues take sockets.
func (i *Interface) Name() string           { return i.name }
func (i *Interface) Index() int             { return i.index }
func (i *Interface) MTU() int               { return i.mtu }
func (i *Interface) MAC() net.HardwareAddr  { return i.mac }
func (i *Interface) Queues() int            { return i.queues }
func (i *Interface) Mode() Mode             { return i.mode }
func (i *Interface) NativeModeError() error { return i.native }

// OpenSocket binds a socket to one of the interface's queues over the
// worker's UMEM and registers it with the steering program. Run it in the
// interface's network namespace, before the worker polls the UMEM's pool.
func (i *Interface) OpenSocket(u *UMEM, cfg SocketConfig) (*Socket, error) {
	if cfg.Queue < 0 || cfg.Queue >= i.queues {
		return nil, fmt.Errorf("afxdp: %s has queues 0..%d, not %d", i.name, i.queues-1, cfg.Queue)
	}
	if u.pool != nil && i.mtu+maxFrameOverhead > u.pool.ChunkSize()-unix.XDP_PACKET_HEADROOM {
		return nil, fmt.Errorf("afxdp: %s: MTU %d does not fit the UMEM's %d-byte chunks", i.name, i.mtu, u.pool.ChunkSize())
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.coll == nil {
		return nil, errors.New("afxdp: interface closed")
	}
	if i.sockets[cfg.Queue] != nil {
		return nil, fmt.Errorf("afxdp: %s queue %d already has a socket", i.name, cfg.Queue)
	}
	s, err := openSocket(i.index, u, cfg)
	if err != nil {
		return nil, fmt.Errorf("afxdp: %s: %w", i.name, err)
	}
	if err := i.coll.Maps[mapXSKs].Put(uint32(cfg.Queue), uint32(s.fd)); err != nil {
		s.Close()
		return nil, fmt.Errorf("afxdp: %s: registering the socket of queue %d: %w", i.name, cfg.Queue, err)
	}
	s.iface = i
	i.sockets[cfg.Queue] = s
	return s, nil
}

func (i *Interface) unregister(s *Socket) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.sockets[s.queue] != s {
		return nil
	}
	delete(i.sockets, s.queue)
	if i.coll == nil {
		return nil
	}
	err := i.coll.Maps[mapXSKs].Delete(uint32(s.queue))
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		err = nil
	}
	return err
}

// SetCryptoMap tells the program whether a crypto map is applied to the
// interface: then ESP, AH and UDP 500/4500 to local addresses are the fast
// path's, otherwise the kernel's.
func (i *Interface) SetCryptoMap(on bool) error {
	var v uint32
	if on {
		v = configCryptoMap
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.coll == nil {
		return errors.New("afxdp: interface closed")
	}
	return i.coll.Maps[mapConfig].Put(uint32(0), v)
}

// SetLocalAddrs replaces the set of the gateway's own addresses. New
// addresses are added before old ones are removed, so an address in both
// sets is never missing.
func (i *Interface) SetLocalAddrs(addrs []netip.Addr) error {
	next := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		if !a.IsValid() {
			return fmt.Errorf("afxdp: invalid local address")
		}
		next[a.Unmap().WithZone("")] = true
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.coll == nil {
		return errors.New("afxdp: interface closed")
	}
	m := i.coll.Maps[mapLocal]
	for a := range next {
		if !i.local[a] {
			if err := m.Put(a.As16(), uint32(1)); err != nil {
				return fmt.Errorf("afxdp: %s: adding local address %s: %w", i.name, a, err)
			}
			i.local[a] = true
		}
	}
	for a := range i.local {
		if !next[a] {
			if err := m.Delete(a.As16()); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return fmt.Errorf("afxdp: %s: removing local address %s: %w", i.name, a, err)
			}
			delete(i.local, a)
		}
	}
	return nil
}

// SetPrefixes replaces the steering prefixes: destinations whose transit
// traffic the fast path owns on this interface (see the package doc for
// what the slow path puts here). Each address family's set is built in a
// fresh trie and swapped in with one map update, so a frame is steered by
// either the old set or the new one, never a mix.
func (i *Interface) SetPrefixes(prefixes []netip.Prefix) error {
	var sets [2][]netip.Prefix
	for _, p := range prefixes {
		if !p.IsValid() {
			return fmt.Errorf("afxdp: invalid prefix %v", p)
		}
		a := p.Addr()
		if a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		p = p.Masked()
		f := 0
		if p.Addr().Is6() {
			f = 1
		}
		sets[f] = append(sets[f], p)
	}
	for f := range sets {
		slices.SortFunc(sets[f], func(a, b netip.Prefix) int {
			if c := a.Addr().Compare(b.Addr()); c != 0 {
				return c
			}
			return a.Bits() - b.Bits()
		})
		sets[f] = slices.Compact(sets[f])
		if len(sets[f]) > int(i.maxPrefixes) {
			return fmt.Errorf("afxdp: %s: %d prefixes, the steering map holds %d", i.name, len(sets[f]), i.maxPrefixes)
		}
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.coll == nil {
		return errors.New("afxdp: interface closed")
	}
	for f, outer := range []string{mapSteer4, mapSteer6} {
		if slices.Equal(sets[f], i.steer[f].prefixes) && i.steer[f].m != nil {
			continue
		}
		if err := i.swapTrie(f, outer, sets[f]); err != nil {
			return fmt.Errorf("afxdp: %s: %w", i.name, err)
		}
	}
	return nil
}

func (i *Interface) swapTrie(f int, outer string, set []netip.Prefix) error {
	spec := i.coll.Maps[outer]
	inner, err := ebpf.NewMap(lpmSpec(outer+"_lpm", uint32(4+12*f), i.maxPrefixes))
	if err != nil {
		return fmt.Errorf("creating a steering trie: %w", err)
	}
	key := make([]byte, 4+4+12*f)
	for _, p := range set {
		lpmKey(key, p)
		if err := inner.Put(key, uint32(1)); err != nil {
			inner.Close()
			return fmt.Errorf("adding %s: %w", p, err)
		}
	}
	if err := spec.Put(uint32(0), inner); err != nil {
		inner.Close()
		return fmt.Errorf("installing the steering trie: %w", err)
	}
	if old := i.steer[f].m; old != nil {
		old.Close()
	}
	i.steer[f] = steerTrie{m: inner, prefixes: set}
	return nil
}

// lpmKey writes p as an LPM-trie key: prefix length in host order, then
// the address bytes.
func lpmKey(key []byte, p netip.Prefix) {
	binary.NativeEndian.PutUint32(key, uint32(p.Bits()))
	copy(key[4:], p.Addr().AsSlice())
}

// SteeringCounters count the program's verdicts, summed over CPUs.
type SteeringCounters struct {
	PassNonIP      uint64 // ARP, LLDP and other non-IP frames
	PassLocal      uint64 // to a local address, not IPsec or IKE (or no crypto map)
	PassLinkScope  uint64 // multicast, broadcast, IPv6 link-local destinations
	PassNoMatch    uint64 // transit outside the steering prefixes
	PassMalformed  uint64 // truncated or not the IP version the EtherType says
	RedirectIPsec  uint64 // ESP, AH, IKE to a local address, to the socket
	RedirectPolicy uint64 // transit in the steering prefixes, to the socket
	DropNoSocket   uint64 // steered, but no socket on the queue: dropped
}

// Counters reads the steering program's counters.
func (i *Interface) Counters() (SteeringCounters, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.coll == nil {
		return SteeringCounters{}, errors.New("afxdp: interface closed")
	}
	return readCounters(i.coll.Maps[mapCounters])
}

func readCounters(m *ebpf.Map) (SteeringCounters, error) {
	var c SteeringCounters
	fields := []*uint64{
		cntPassNonIP: &c.PassNonIP, cntPassLocal: &c.PassLocal, cntPassLinkScope: &c.PassLinkScope,
		cntPassNoMatch: &c.PassNoMatch, cntPassMalformed: &c.PassMalformed,
		cntRedirectIPsec: &c.RedirectIPsec, cntRedirectPolicy: &c.RedirectPolicy, cntDropNoSocket: &c.DropNoSocket,
	}
	var perCPU []uint64
	for idx, f := range fields {
		if err := m.Lookup(uint32(idx), &perCPU); err != nil {
			return c, fmt.Errorf("afxdp: reading steering counter %d: %w", idx, err)
		}
		for _, v := range perCPU {
			*f += v
		}
	}
	return c, nil
}

// Close closes the sockets still open on the interface, detaches the
// program, frees its maps and restores the offloads: the interface is left
// as it was found. Stop the workers first.
func (i *Interface) Close() error {
	i.mu.Lock()
	socks := make([]*Socket, 0, len(i.sockets))
	for _, s := range i.sockets {
		socks = append(socks, s)
	}
	i.mu.Unlock()
	var errs []error
	for _, s := range socks {
		errs = append(errs, s.Close())
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.link != nil {
		errs = append(errs, i.link.Close())
		i.link = nil
	}
	for f := range i.steer {
		if m := i.steer[f].m; m != nil {
			m.Close()
		}
		i.steer[f] = steerTrie{}
	}
	if i.coll != nil {
		i.coll.Close()
		i.coll = nil
	}
	errs = append(errs, i.offl.restore())
	return errors.Join(errs...)
}
