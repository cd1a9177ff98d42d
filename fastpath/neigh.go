package fastpath

import (
	"encoding/binary"
	"maps"
	"net"
	"net/netip"
)

// MAC is an Ethernet address as the fast path writes it.
type MAC [6]byte

// MACFrom converts a parsed hardware address; ok is false unless it is a
// 6-byte Ethernet address.
func MACFrom(hw net.HardwareAddr) (m MAC, ok bool) {
	if len(hw) != 6 {
		return m, false
	}
	return MAC(hw), true
}

func (m MAC) String() string { return net.HardwareAddr(m[:]).String() }

// macWord is a MAC in the low 48 bits of a word, first byte lowest: what
// the per-packet path loads, compares and stores (a 6-byte array goes
// through the stack in pieces that stall a wide reload).
type macWord uint64

func wordOf(m MAC) macWord {
	return macWord(binary.LittleEndian.Uint32(m[0:4])) | macWord(binary.LittleEndian.Uint16(m[4:6]))<<32
}

// put writes the MAC into b[0:6].
func (w macWord) put(b []byte) {
	binary.LittleEndian.PutUint32(b[0:4], uint32(w))
	binary.LittleEndian.PutUint16(b[4:6], uint16(w>>32))
}

func (w macWord) mac() (m MAC) {
	w.put(m[:])
	return m
}

// Neighbor is one resolved next hop: on an interface, an IP address and the
// MAC address to send to.
type Neighbor struct {
	Iface int
	Addr  netip.Addr
	MAC   MAC
}

type neighKey struct {
	iface int
	addr  netip.Addr
}

// Neighbors is the neighbour (ARP/ND) table the fast path writes Ethernet
// headers from. It is immutable: the slow path builds a new one (With) and
// swaps it in with Engine.SetNeighbors while workers read the old one, so
// the read side takes no lock. In pcap mode it holds the configuration's
// static neighbours; with AF_XDP the slow path feeds it from the kernel's
// neighbour table over netlink.
type Neighbors struct {
	m map[neighKey]MAC
	// v4 indexes m's IPv4 entries by interface and address packed in one
	// word, in an open-addressing table (linear probing, at most half
	// full): the per-packet lookup is a multiply and a probe or two
	// instead of hashing a netip.Addr key.
	v4     []neighSlot
	v4Mask uint64
	// v6 does the same for IPv6 entries, keyed by the address's two
	// words and the interface.
	v6     []neighSlot6
	v6Mask uint64
}

// neighSlot6 is one IPv6 entry; iface is the interface index plus one (0:
// a free slot).
type neighSlot6 struct {
	hi, lo uint64
	iface  int
	mac    macWord
}

func words6(a netip.Addr) (hi, lo uint64) {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

func (t *Neighbors) slot6(hi, lo uint64, iface int) uint64 {
	h := (hi ^ lo*0x9E3779B97F4A7C15 ^ uint64(iface)) * 0xBF58476D1CE4E5B9
	return (h ^ h>>31) & t.v6Mask
}

// neighSlot is one IPv4 entry; key 0 marks a free slot (real keys have
// bit 63 set).
type neighSlot struct {
	key uint64
	mac macWord
}

func key4Neigh(iface int, a [4]byte) uint64 {
	return 1<<63 | uint64(uint32(iface))<<32 | uint64(binary.BigEndian.Uint32(a[:]))
}

// slot4 is where key's probe sequence starts (Fibonacci hashing).
func (t *Neighbors) slot4(key uint64) uint64 {
	return (key * 0x9E3779B97F4A7C15 >> 32) & t.v4Mask
}

// index builds v4 and v6 from m.
func (t *Neighbors) index() *Neighbors {
	n4, n6 := 0, 0
	for k := range t.m {
		switch {
		case k.addr.Is4():
			n4++
		case k.addr.Zone() == "":
			n6++
		}
	}
	size4, size6 := tableSize(n4), tableSize(n6)
	t.v4, t.v4Mask = make([]neighSlot, size4), uint64(size4-1)
	t.v6, t.v6Mask = make([]neighSlot6, size6), uint64(size6-1)
	for k, m := range t.m {
		if k.addr.Is4() {
			key := key4Neigh(k.iface, k.addr.As4())
			i := t.slot4(key)
			for t.v4[i].key != 0 {
				i = (i + 1) & t.v4Mask
			}
			t.v4[i] = neighSlot{key, wordOf(m)}
			continue
		}
		if k.addr.Zone() != "" {
			continue // found through m only, zone and all
		}
		hi, lo := words6(k.addr)
		i := t.slot6(hi, lo, k.iface)
		for t.v6[i].iface != 0 {
			i = (i + 1) & t.v6Mask
		}
		t.v6[i] = neighSlot6{hi, lo, k.iface + 1, wordOf(m)}
	}
	return t
}

// tableSize is a power of two at least twice n (and 16).
func tableSize(n int) int {
	size := 16
	for size < 2*n {
		size <<= 1
	}
	return size
}

// NewNeighbors builds a table; a later entry for the same interface and
// address replaces an earlier one.
func NewNeighbors(ns []Neighbor) *Neighbors {
	t := &Neighbors{m: make(map[neighKey]MAC, len(ns))}
	for _, n := range ns {
		t.m[neighKey{n.Iface, n.Addr.Unmap()}] = n.MAC
	}
	return t.index()
}

// With returns a copy of the table with add inserted or replaced and del
// removed (del by interface and address; its MAC is ignored).
func (t *Neighbors) With(add, del []Neighbor) *Neighbors {
	n := &Neighbors{m: maps.Clone(t.m)}
	if n.m == nil {
		n.m = map[neighKey]MAC{}
	}
	for _, d := range del {
		delete(n.m, neighKey{d.Iface, d.Addr.Unmap()})
	}
	for _, a := range add {
		n.m[neighKey{a.Iface, a.Addr.Unmap()}] = a.MAC
	}
	return n.index()
}

// Lookup returns the MAC of addr on interface iface.
func (t *Neighbors) Lookup(iface int, addr netip.Addr) (MAC, bool) {
	w, ok := t.lookup(iface, addr)
	return w.mac(), ok
}

func (t *Neighbors) lookup(iface int, addr netip.Addr) (macWord, bool) {
	if addr.Is4() {
		key := key4Neigh(iface, addr.As4())
		for i := t.slot4(key); ; i = (i + 1) & t.v4Mask {
			switch t.v4[i].key {
			case key:
				return t.v4[i].mac, true
			case 0:
				return 0, false
			}
		}
	}
	if !addr.Is6() || addr.Zone() != "" {
		m, ok := t.m[neighKey{iface, addr}]
		return wordOf(m), ok
	}
	hi, lo := words6(addr)
	for i := t.slot6(hi, lo, iface); t.v6[i].iface != 0; i = (i + 1) & t.v6Mask {
		if s := &t.v6[i]; s.hi == hi && s.lo == lo && s.iface == iface+1 {
			return s.mac, true
		}
	}
	return 0, false
}

// Len is the number of entries.
func (t *Neighbors) Len() int { return len(t.m) }

// All lists the entries, for show.
func (t *Neighbors) All() []Neighbor {
	out := make([]Neighbor, 0, len(t.m))
	for k, m := range t.m {
		out = append(out, Neighbor{Iface: k.iface, Addr: k.addr, MAC: m})
	}
	return out
}
