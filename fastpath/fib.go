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
// IPv4 lookups walk a DIR-16-8-8 table (the scheme of DPDK's rte_lpm, with
// a 16-bit first stride): the top 16 bits of the address index a 64k-entry
// array that holds either the route or a 256-entry table for the next 8
// bits, and so on; at most three array loads, whatever the number of
// routes. Prefixes are expanded to fill every entry they cover, longer
// prefixes written over shorter ones.
//
// IPv6 lookups probe, for each prefix length present, longest first, one
// open-addressing table keyed by the masked address and the length: a
// gateway's IPv6 table holds few distinct lengths (connected /64s, host
// routes, a default), so a handful of probes of a multiply and a compare
// each (a Go map probe per length cost ~20 ns). Per-length maps hold the
// routes of both families while the table is built.
type FIB struct {
	routes []Route
	v4     lpm[uint32]
	v6     lpm[[2]uint64]
	dir    dir16
	tab6   prefixTable6
}

// prefixTable6 is the IPv6 lookup table: every prefix in one linear-probing
// table at most half full; a slot's idx is the route index plus one (0:
// free).
type prefixTable6 struct {
	lens  []int // prefix lengths present, longest first
	slots []slot6
	mask  uint64
}

type slot6 struct {
	hi, lo uint64
	bits   int32
	idx    int32
}

// hash6 mixes a masked address and its length (not for adversaries: the
// routes come from the configuration and the kernel).
func hash6(hi, lo uint64, bits int) uint64 {
	h := (hi ^ lo*0x9E3779B97F4A7C15 ^ uint64(bits)) * 0xBF58476D1CE4E5B9
	return h ^ h>>31
}

func (t *prefixTable6) build(l *lpm[[2]uint64]) {
	n := 0
	for _, m := range l.byLen {
		n += len(m)
	}
	size := 16
	for size < 2*n {
		size <<= 1
	}
	t.lens, t.slots, t.mask = l.lens, make([]slot6, size), uint64(size-1)
	for bits, m := range l.byLen {
		for k, idx := range m {
			i := hash6(k[0], k[1], bits) & t.mask
			for t.slots[i].idx != 0 {
				i = (i + 1) & t.mask
			}
			t.slots[i] = slot6{k[0], k[1], int32(bits), int32(idx + 1)}
		}
	}
}

func (t *prefixTable6) lookup(a netip.Addr) int {
	b := a.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	for _, bits := range t.lens {
		kh, kl := mask6(hi, lo, bits)
		for i := hash6(kh, kl, bits) & t.mask; t.slots[i].idx != 0; i = (i + 1) & t.mask {
			if s := &t.slots[i]; s.hi == kh && s.lo == kl && int(s.bits) == bits {
				return int(s.idx) - 1
			}
		}
	}
	return -1
}

// dir16 is the IPv4 lookup table. An entry is 0 (no route), a route index
// plus one, or dirSub|n for subtable n (256 entries from sub[n<<8]).
type dir16 struct {
	root []uint32
	sub  []uint32
}

const dirSub = 1 << 31

func (d *dir16) lookup(a uint32) int {
	e := d.root[a>>16]
	if e&dirSub != 0 {
		e = d.sub[(e&^dirSub)<<8|(a>>8)&0xff]
		if e&dirSub != 0 {
			e = d.sub[(e&^dirSub)<<8|a&0xff]
		}
	}
	return int(e) - 1
}

// build fills the table from the per-length maps, shortest prefixes first
// so that longer ones overwrite them.
func (d *dir16) build(t *lpm[uint32]) {
	d.root = make([]uint32, 1<<16)
	for bits := 0; bits <= 32; bits++ {
		for key, idx := range t.byLen[bits] {
			d.insert(key, bits, uint32(idx+1))
		}
	}
}

// child returns the base index in sub of the subtable entry e points to
// (e is the root entry, or with inSub the sub entry, at i), creating it
// filled with the route e held when e is a route. It takes an index, not a
// pointer: creating a subtable grows sub, which may move it.
func (d *dir16) child(inSub bool, i uint32) uint32 {
	e := &d.root[i]
	if inSub {
		e = &d.sub[i]
	}
	if v := *e; v&dirSub == 0 {
		n := uint32(len(d.sub) >> 8)
		for range 256 {
			d.sub = append(d.sub, v)
		}
		if inSub {
			d.sub[i] = dirSub | n
		} else {
			d.root[i] = dirSub | n
		}
		return n << 8
	}
	return (*e &^ dirSub) << 8
}

func (d *dir16) insert(a uint32, bits int, v uint32) {
	switch {
	case bits <= 16:
		fill(d.root[a>>16:][:1<<(16-bits)], v)
	case bits <= 24:
		base := d.child(false, a>>16)
		fill(d.sub[base+(a>>8)&0xff:][:1<<(24-bits)], v)
	default:
		base := d.child(false, a>>16)
		base = d.child(true, base+(a>>8)&0xff)
		fill(d.sub[base+a&0xff:][:1<<(32-bits)], v)
	}
}

// fill sets route entries; subtables below them hold longer prefixes,
// which win (shorter prefixes are inserted first, so there are none yet,
// but an entry already pointing to a subtable keeps it).
func fill(es []uint32, v uint32) {
	for i := range es {
		if es[i]&dirSub == 0 {
			es[i] = v
		}
	}
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
	f.dir.build(&f.v4)
	f.tab6.build(&f.v6)
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
		if f.dir.root == nil { // while building
			for _, bits := range f.v4.lens {
				if i, ok := f.v4.byLen[bits][key4(a, bits)]; ok {
					return &f.routes[i]
				}
			}
			return nil
		}
		b := a.As4()
		if i := f.dir.lookup(binary.BigEndian.Uint32(b[:])); i >= 0 {
			return &f.routes[i]
		}
		return nil
	}
	if f.tab6.slots == nil { // while building
		for _, bits := range f.v6.lens {
			if i, ok := f.v6.byLen[bits][key6(a, bits)]; ok {
				return &f.routes[i]
			}
		}
		return nil
	}
	if i := f.tab6.lookup(a); i >= 0 {
		return &f.routes[i]
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
	hi, lo := mask6(binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]), bits)
	return [2]uint64{hi, lo}
}

// mask6 keeps the first bits bits of an IPv6 address in two words.
func mask6(hi, lo uint64, bits int) (uint64, uint64) {
	// Shifts of 64 or more give 0 in Go, so each half's mask is exact.
	return hi &^ (^uint64(0) >> min(bits, 64)), lo &^ (^uint64(0) >> max(bits-64, 0))
}
