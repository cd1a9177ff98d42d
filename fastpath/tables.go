package fastpath

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"ipsecgw/fastpath/sad"
	"ipsecgw/spd"
)

// Interface is one interface of the gateway as the fast path forwards out of
// it: the IOS name from the configuration, its Ethernet address, MTU (the
// largest IP packet it sends), addresses and applied crypto map.
type Interface struct {
	Name  string
	MAC   MAC
	MTU   int
	VLAN  uint16 // 802.1Q VLAN ID frames carry on this interface; 0: untagged
	Addrs []netip.Prefix
	// Crypto is the crypto map applied to the interface (`crypto map
	// NAME` under the interface), nil when none is.
	Crypto *CryptoMap
}

// Addr returns the interface's first address of the family of like, for
// ICMP errors sent from the interface.
func (i *Interface) Addr(like netip.Addr) (netip.Addr, bool) {
	for _, p := range i.Addrs {
		if p.Addr().Is4() == like.Is4() {
			return p.Addr(), true
		}
	}
	return netip.Addr{}, false
}

// EntryKind is how a crypto map entry gets its SAs.
type EntryKind uint8

// Crypto map entry kinds.
const (
	EntryISAKMP  EntryKind = iota // ipsec-isakmp: IKE negotiates SAs on demand (ACQUIRE)
	EntryManual                   // ipsec-manual: SAs from `set session-key`
	EntryDynamic                  // a dynamic map's entry: SAs only when a peer initiates
)

func (k EntryKind) String() string {
	switch k {
	case EntryISAKMP:
		return "ipsec-isakmp"
	case EntryManual:
		return "ipsec-manual"
	case EntryDynamic:
		return "dynamic"
	}
	return fmt.Sprintf("kind-%d", uint8(k))
}

// CryptoEntry is what the fast path needs of one crypto map entry.
type CryptoEntry struct {
	Seq     int
	Kind    EntryKind
	PerHost bool // `set security-association level per-host`: one SA per host pair
}

// CryptoMap is the compiled crypto map set of one interface: the SPD that
// classifies its traffic and the binding from SPD rules to outbound SAs.
//
// Binding: an outbound packet the SPD puts under permit rule r is protected
// by the first SA bound to r whose selectors cover the packet's flow (the
// slow path binds newer SAs first, so a rekeyed SA takes over at once); for
// per-host entries, by the SA bound to r for the packet's host pair. A
// manual entry binds its one SA to its one permit rule.
//
// A CryptoMap is immutable; the slow path derives a new one with WithSAs
// and publishes it in new Tables.
type CryptoMap struct {
	Name    string
	SPD     *spd.Table
	Entries []CryptoEntry // indexed by spd.Rule.Entry

	bySA    [][]bound // by rule index
	byHost  map[hostKey]*sad.SA
	perHost []bool // by rule index: the rule's entry is per-host
	kind    []EntryKind
}

// bound is an SA bound to a rule. whole records that the SA's selectors
// cover all of the rule's traffic (manual SAs, and IKE SAs negotiated for
// the whole ACL line), so lookups skip matching them per packet.
type bound struct {
	sa    *sad.SA
	whole bool
}

type hostKey struct {
	rule     int
	src, dst netip.Addr
}

// NewCryptoMap builds a crypto map with no SAs bound.
func NewCryptoMap(name string, table *spd.Table, entries []CryptoEntry) (*CryptoMap, error) {
	for i := range table.Len() {
		if e := table.Rule(i).Entry; e < 0 || e >= len(entries) {
			return nil, fmt.Errorf("crypto map %s: rule %d names entry %d of %d", name, i, e, len(entries))
		}
	}
	c := &CryptoMap{Name: name, SPD: table, Entries: slices.Clone(entries), bySA: make([][]bound, table.Len()),
		perHost: make([]bool, table.Len()), kind: make([]EntryKind, table.Len())}
	for i := range table.Len() {
		e := entries[table.Rule(i).Entry]
		c.perHost[i], c.kind[i] = e.PerHost, e.Kind
	}
	return c, nil
}

// Binding is one outbound SA bound to a permit rule of a crypto map.
type Binding struct {
	Rule int
	SA   *sad.SA
	// Src and Dst name the host pair of a per-host entry's SA; zero
	// otherwise.
	Src, Dst netip.Addr
}

// ErrBinding is returned for bindings that do not fit the crypto map.
var ErrBinding = errors.New("fastpath: invalid SA binding")

// WithSAs returns a copy of the map with add bound (in front of SAs already
// bound to the same rule) and every binding of an SA in del removed.
func (c *CryptoMap) WithSAs(add []Binding, del []*sad.SA) (*CryptoMap, error) {
	n := *c
	n.bySA = make([][]bound, len(c.bySA))
	n.byHost = make(map[hostKey]*sad.SA, len(c.byHost)+len(add))
	drop := func(sa *sad.SA) bool { return slices.Contains(del, sa) }
	for r, bs := range c.bySA {
		for _, b := range bs {
			if !drop(b.sa) {
				n.bySA[r] = append(n.bySA[r], b)
			}
		}
	}
	for k, sa := range c.byHost {
		if !drop(sa) {
			n.byHost[k] = sa
		}
	}
	for i := len(add) - 1; i >= 0; i-- {
		b := add[i]
		if b.Rule < 0 || b.Rule >= len(n.bySA) || !c.SPD.Rule(b.Rule).Permit {
			return nil, fmt.Errorf("%w: rule %d of crypto map %s is not a permit line", ErrBinding, b.Rule, c.Name)
		}
		if b.SA.Direction() != sad.Outbound {
			return nil, fmt.Errorf("%w: %v is not outbound", ErrBinding, b.SA)
		}
		if c.perHost[b.Rule] {
			if !b.Src.IsValid() || !b.Dst.IsValid() {
				return nil, fmt.Errorf("%w: per-host entry needs the SA's host pair", ErrBinding)
			}
			n.byHost[hostKey{b.Rule, b.Src, b.Dst}] = b.SA
			continue
		}
		whole := coversRule(b.SA.Selectors(), c.SPD.Rule(b.Rule).Sel)
		n.bySA[b.Rule] = append([]bound{{b.SA, whole}}, n.bySA[b.Rule]...)
	}
	return &n, nil
}

// Bindings lists every binding, for show and for the slow path's rekeying.
func (c *CryptoMap) Bindings() []Binding {
	var out []Binding
	for r, bs := range c.bySA {
		for _, b := range bs {
			out = append(out, Binding{Rule: r, SA: b.sa})
		}
	}
	for k, sa := range c.byHost {
		out = append(out, Binding{Rule: k.rule, SA: sa, Src: k.src, Dst: k.dst})
	}
	return out
}

// EntryKind is the kind of the entry permit rule r belongs to.
func (c *CryptoMap) EntryKind(r int) EntryKind { return c.kind[r] }

// outboundSA finds the SA that protects flow f, which the SPD put under
// permit rule r.
func (c *CryptoMap) outboundSA(r int, f *spd.Flow) *sad.SA {
	if c.perHost[r] {
		return c.byHost[hostKey{r, f.Src, f.Dst}]
	}
	for _, b := range c.bySA[r] {
		if b.whole || covers(b.sa.Selectors(), f) {
			return b.sa
		}
	}
	return nil
}

// coversRule reports whether SA selectors sels allow all traffic of rule
// selector r: no selectors, or one that contains r in every dimension.
func coversRule(sels []spd.Selector, r spd.Selector) bool {
	if len(sels) == 0 {
		return true
	}
	for _, s := range sels {
		if (s.Proto == 0 || s.Proto == r.Proto) && prefixCovers(s.Src, r.Src) && prefixCovers(s.Dst, r.Dst) &&
			s.SrcPorts.Any() && s.DstPorts.Any() || s == r {
			return true
		}
	}
	return false
}

func prefixCovers(outer, inner netip.Prefix) bool {
	return outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

// covers reports whether the SA selectors sels allow flow f; no selectors
// allow everything.
func covers(sels []spd.Selector, f *spd.Flow) bool {
	if len(sels) == 0 {
		return true
	}
	for i := range sels {
		if sels[i].Match(f) {
			return true
		}
	}
	return false
}

// Tables is everything workers read besides neighbours and SAs: interfaces
// (with their crypto maps) and routes. It is immutable: the slow path builds
// a new one and publishes it with Engine.SetTables, and a worker loads the
// current one once per batch, so it never sees half an update.
type Tables struct {
	Interfaces []Interface
	FIB        *FIB
}

// Validate checks that routes name existing interfaces.
func (t *Tables) Validate() error {
	if t.FIB == nil {
		return errors.New("fastpath: tables without a FIB")
	}
	for _, r := range t.FIB.routes {
		if r.Iface < 0 || r.Iface >= len(t.Interfaces) {
			return fmt.Errorf("fastpath: route %v names interface %d of %d", r.Prefix, r.Iface, len(t.Interfaces))
		}
	}
	for i := range t.Interfaces {
		if t.Interfaces[i].MTU < 68 {
			return fmt.Errorf("fastpath: interface %s: MTU %d below the IPv4 minimum 68", t.Interfaces[i].Name, t.Interfaces[i].MTU)
		}
	}
	return nil
}

// Interface returns the index of the interface called name, or -1.
func (t *Tables) Interface(name string) int {
	for i := range t.Interfaces {
		if t.Interfaces[i].Name == name {
			return i
		}
	}
	return -1
}

// WithCryptoMap returns a copy of the tables with interface i's crypto map
// replaced, as the slow path does when it binds or unbinds SAs.
func (t *Tables) WithCryptoMap(i int, c *CryptoMap) *Tables {
	n := *t
	n.Interfaces = slices.Clone(t.Interfaces)
	n.Interfaces[i].Crypto = c
	return &n
}
