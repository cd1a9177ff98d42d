package slowpath

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"ipsecgw/fastpath"
)

// Kernel holds what the gateway added to the kernel's interfaces and
// routing table so that the kernel agrees with the fast path: the
// configuration's `ip address`es (the kernel answers ARP and ND for them,
// and hands the host's own traffic back) and its static routes (the kernel
// resolves next hops and originates traffic along them). Undo removes
// exactly what was added; what was there before stays.
type Kernel struct {
	addrs  []kernelAddr
	routes []netlink.Route
}

type kernelAddr struct {
	link netlink.Link
	addr *netlink.Addr
}

// ProgramKernel adds the addresses and static routes of the gateway's
// interfaces that the kernel lacks. linkIndex maps the engine's interface
// indexes to the kernel's (in the calling thread's network namespace).
func (g *Gateway) ProgramKernel(linkIndex []int) (*Kernel, error) {
	k := &Kernel{}
	t := g.Engine.Tables()
	for i := range t.Interfaces {
		link, err := netlink.LinkByIndex(linkIndex[i])
		if err != nil {
			k.Undo()
			return nil, fmt.Errorf("interface %s: %w", t.Interfaces[i].Name, err)
		}
		have, err := netlink.AddrList(link, netlink.FAMILY_ALL)
		if err != nil {
			k.Undo()
			return nil, err
		}
		for _, p := range t.Interfaces[i].Addrs {
			if hasAddr(have, p) {
				continue
			}
			a := &netlink.Addr{IPNet: ipNet(p)}
			if err := netlink.AddrAdd(link, a); err != nil {
				k.Undo()
				return nil, fmt.Errorf("interface %s: adding %v: %w", t.Interfaces[i].Name, p, err)
			}
			k.addrs = append(k.addrs, kernelAddr{link, a})
		}
	}
	for _, r := range t.FIB.Routes() {
		if r.Kind != fastpath.RouteStatic {
			continue
		}
		nr := netlink.Route{Dst: ipNet(r.Prefix), LinkIndex: linkIndex[r.Iface], Protocol: unix.RTPROT_STATIC}
		if r.NextHop.IsValid() {
			nr.Gw = net.IP(r.NextHop.AsSlice())
		} else {
			nr.Scope = netlink.SCOPE_LINK
		}
		err := netlink.RouteAdd(&nr)
		if errors.Is(err, unix.EEXIST) {
			continue // the kernel has a route there already: leave it
		}
		if err != nil {
			k.Undo()
			return nil, fmt.Errorf("route %v: %w", r.Prefix, err)
		}
		k.routes = append(k.routes, nr)
	}
	return k, nil
}

// Undo removes what ProgramKernel added, routes first.
func (k *Kernel) Undo() error {
	var errs []error
	for i := len(k.routes) - 1; i >= 0; i-- {
		errs = append(errs, netlink.RouteDel(&k.routes[i]))
	}
	for i := len(k.addrs) - 1; i >= 0; i-- {
		errs = append(errs, netlink.AddrDel(k.addrs[i].link, k.addrs[i].addr))
	}
	k.routes, k.addrs = nil, nil
	return errors.Join(errs...)
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// hasAddr reports whether the kernel's address list has p.
func hasAddr(have []netlink.Addr, p netip.Prefix) bool {
	for _, a := range have {
		ip, ok := netip.AddrFromSlice(a.IP)
		ones, _ := a.Mask.Size()
		if ok && ip.Unmap() == p.Addr() && ones == p.Bits() {
			return true
		}
	}
	return false
}
