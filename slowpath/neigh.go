package slowpath

import (
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"ipsecgw/fastpath"
)

// NeighborFeed keeps the engine's neighbour table in step with the
// kernel's, which does ARP and ND for the gateway (AF_XDP passes ARP and ND
// to it): it subscribes to the kernel's neighbour events over netlink,
// existing entries first, and publishes a new fastpath.Neighbors on every
// change. Static neighbours from the configuration are kept as they are.
// On a neighbour miss the fast path punts, and Resolve makes the kernel
// resolve the address.
type NeighborFeed struct {
	eng      *fastpath.Engine
	toEngine map[int]int // kernel link index -> engine interface index
	names    []string    // kernel interface names, by engine index
	static   map[fastpath.Neighbor]bool
	done     chan struct{}
	wg       sync.WaitGroup
}

// usable neighbour states: the kernel knows the MAC address.
const usableNUD = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY | netlink.NUD_PROBE |
	netlink.NUD_PERMANENT | netlink.NUD_NOARP

// FollowNeighbors starts the feed. linkIndex and names map the engine's
// interfaces to the kernel's (in the calling thread's network namespace).
// onErr hears about netlink errors; the feed goes on.
func (g *Gateway) FollowNeighbors(linkIndex []int, names []string, onErr func(error)) (*NeighborFeed, error) {
	f := &NeighborFeed{eng: g.Engine, toEngine: map[int]int{}, names: names, static: map[fastpath.Neighbor]bool{}, done: make(chan struct{})}
	for i, k := range linkIndex {
		f.toEngine[k] = i
	}
	for _, n := range g.Engine.Neighbors().All() {
		f.static[fastpath.Neighbor{Iface: n.Iface, Addr: n.Addr}] = true
	}
	ch := make(chan netlink.NeighUpdate, 256)
	err := netlink.NeighSubscribeWithOptions(ch, f.done, netlink.NeighSubscribeOptions{ListExisting: true, ErrorCallback: onErr})
	if err != nil {
		return nil, err
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for u := range ch {
			f.apply(u, ch)
		}
	}()
	return f, nil
}

// apply folds one update, and any that queued behind it, into a new table.
func (f *NeighborFeed) apply(u netlink.NeighUpdate, ch <-chan netlink.NeighUpdate) {
	// The last event of each neighbour wins.
	last := map[fastpath.Neighbor]*fastpath.MAC{} // key without MAC; nil: gone
	for more := true; more; {
		if n, ok := f.convert(u.Neigh); ok {
			mac := n.MAC
			n.MAC = fastpath.MAC{}
			if u.Type == unix.RTM_NEWNEIGH && u.State&usableNUD != 0 && mac != (fastpath.MAC{}) {
				last[n] = &mac
			} else {
				last[n] = nil
			}
		}
		select {
		case u, more = <-ch:
		default:
			more = false
		}
	}
	var add, del []fastpath.Neighbor
	for n, mac := range last {
		if mac == nil {
			del = append(del, n)
		} else {
			n.MAC = *mac
			add = append(add, n)
		}
	}
	if len(add)+len(del) > 0 {
		f.eng.SetNeighbors(f.eng.Neighbors().With(add, del))
	}
}

// convert maps a kernel entry on one of the gateway's interfaces; static
// neighbours are not the kernel's to change.
func (f *NeighborFeed) convert(n netlink.Neigh) (fastpath.Neighbor, bool) {
	iface, ok := f.toEngine[n.LinkIndex]
	a, ok2 := netip.AddrFromSlice(n.IP)
	if !ok || !ok2 {
		return fastpath.Neighbor{}, false
	}
	nb := fastpath.Neighbor{Iface: iface, Addr: a.Unmap()}
	if f.static[nb] {
		return fastpath.Neighbor{}, false
	}
	nb.MAC, _ = fastpath.MACFrom(n.HardwareAddr)
	return nb, true
}

// Resolve makes the kernel resolve addr on engine interface iface: it sends
// one datagram to the discard port there, for which the kernel does ARP or
// ND; the answer arrives as a neighbour event.
func (f *NeighborFeed) Resolve(iface int, addr netip.Addr) error {
	ua := &net.UDPAddr{IP: net.IP(addr.AsSlice()), Port: 9}
	if addr.Is6() && addr.IsLinkLocalUnicast() {
		ua.Zone = f.names[iface]
	}
	c, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte{0})
	return err
}

// Close stops following the kernel.
func (f *NeighborFeed) Close() {
	close(f.done)
	f.wg.Wait()
}
