package fastpath

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
)

// RouteKind says where a route came from, which decides precedence between
// routes to the same prefix (as IOS's administrative distance does) and what
// a match means.
type RouteKind uint8

// Route kinds, most preferred first.
const (
	RouteLocal     RouteKind = iota // one of the gateway's own addresses: deliver here
	RouteConnected                  // the subnet of an interface address: on-link
	RouteStatic                     // `ip route`
)

func (k RouteKind) String() string {
	switch k {
	case RouteLocal:
		return "local"
	case RouteConnected:
		return "connected"
	case RouteStatic:
		return "static"
	}
	return fmt.Sprintf("kind-%d", uint8(k))
}

// Route is one FIB entry.
type Route struct {
	Prefix netip.Prefix
	Kind   RouteKind
	// Iface is the output interface's index in Tables.Interfaces (for a
	// local route, the interface that owns the address).
	Iface int
	// NextHop is the gateway to send to; the zero Addr means on-link: the
	// destination itself is the next hop.
	NextHop netip.Addr
}

// FIB is the forwarding table: longest-prefix match over IPv4 and IPv6
// routes. It is immutable once built and safe for concurrent readers.
//
// Lookup hashes the address masked to each prefix length present, longest
// first. A gateway's table holds few distinct lengths (connected subnets,
// host routes, a default), so this is a handful of map probes without
// allocation; it is also simple enough to be obviously right.
type FIB struct {
	routes []Route
	v4     lpm[uint32]
	v6     lpm[[2]uint64]
}

type lpm[K comparable] struct {
	lens   []int       // prefix lengths present, longest first
	byLen  []map[K]int // by prefix length: masked address -> route index
	maxLen int
}

func (t *lpm[K]) init(maxLen int) {
	t.maxLen = maxLen
	t.byLen = make([]map[K]int, maxLen+1)
}

func (t *lpm[K]) insert(bits int, key K, idx int) bool {
	if t.byLen[bits] == nil {
		t.byLen[bits] = map[K]int{}
		t.lens = append(t.lens, bits)
		slices.Sort(t.lens)
		slices.Reverse(t.lens)
	}
	if _, dup := t.byLen[bits][key]; dup {
		return false
	}
	t.byLen[bits][key] = idx
	return true
}

// NewFIB builds a FIB. Static routes whose next hop is given without an
// interface (Iface < 0) are resolved through the connected routes, as IOS
// resolves a recursive static route; one that does not resolve is an error.
// Of several routes to one prefix the most preferred kind wins; two routes
// of the same kind to one prefix are an error.
func NewFIB(routes []Route) (*FIB, error) {
	f := &FIB{routes: slices.Clone(routes)}
	slices.SortStableFunc(f.routes, func(a, b Route) int { return int(a.Kind) - int(b.Kind) })
	f.v4.init(32)
	f.v6.init(128)
	// Connected and local routes first, so static next hops resolve
	// against them.
	for i := range f.routes {
		r := &f.routes[i]
		r.Prefix = r.Prefix.Masked()
		if !r.Prefix.IsValid() {
			return nil, fmt.Errorf("route %v: invalid prefix", r.Prefix)
		}
		if r.Kind == RouteStatic && r.Iface < 0 {
			via := f.connected(r.NextHop)
			if via == nil {
				return nil, fmt.Errorf("route %v via %v: next hop is not on a connected subnet", r.Prefix, r.NextHop)
			}
			r.Iface = via.Iface
		}
		prev := f.Lookup(r.Prefix.Addr())
		if prev != nil && prev.Prefix == r.Prefix && prev.Kind < r.Kind {
			continue // shadowed by a more preferred route to the same prefix
		}
		if !f.insert(r, i) {
			return nil, fmt.Errorf("route %v: duplicate %s route", r.Prefix, r.Kind)
		}
	}
	return f, nil
}

func (f *FIB) insert(r *Route, idx int) bool {
	a, bits := r.Prefix.Addr(), r.Prefix.Bits()
	if a.Is4() {
		return f.v4.insert(bits, key4(a, bits), idx)
	}
	return f.v6.insert(bits, key6(a, bits), idx)
}

// connected finds the connected route on whose subnet a is.
func (f *FIB) connected(a netip.Addr) *Route {
	for i := range f.routes {
		r := &f.routes[i]
		if r.Kind == RouteConnected && r.Prefix.Contains(a) {
			return r
		}
	}
	return nil
}

// Lookup returns the longest-prefix route to a, or nil when none covers it.
func (f *FIB) Lookup(a netip.Addr) *Route {
	if a.Is4() {
		for _, bits := range f.v4.lens {
			if i, ok := f.v4.byLen[bits][key4(a, bits)]; ok {
				return &f.routes[i]
			}
		}
		return nil
	}
	for _, bits := range f.v6.lens {
		if i, ok := f.v6.byLen[bits][key6(a, bits)]; ok {
			return &f.routes[i]
		}
	}
	return nil
}

// Routes lists the installed routes, for show.
func (f *FIB) Routes() []Route { return slices.Clone(f.routes) }

func key4(a netip.Addr, bits int) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:]) & ^(uint32(0xffffffff) >> bits)
}

func key6(a netip.Addr, bits int) [2]uint64 {
	b := a.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	// Shifts of 64 or more give 0 in Go, so each half's mask is exact.
	return [2]uint64{hi & ^(^uint64(0) >> min(bits, 64)), lo & ^(^uint64(0) >> max(bits-64, 0))}
}
