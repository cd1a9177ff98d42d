package config

import (
	"fmt"
	"net/netip"

	"ipsecgw/spd"
)

// CompiledMap is the crypto map applied to one interface, flattened for the
// data plane and IKE: Rules is the ordered rule list spd.Compile builds its
// classifier from, and Entries the policy of each crypto map entry,
// indexed by spd.Rule.Entry, with every setting resolved (entry value, else
// the global `crypto ipsec security-association` value, else the IOS
// default).
//
// Entries appear in sequence order; an entry that includes a dynamic map is
// replaced by the dynamic map's entries in their sequence order. Within an
// entry each ACL line is one rule, in list order, so spd.LinearLookup (and
// the spd.Table built from Rules) gives IOS's first-match semantics: the
// lowest-numbered entry whose ACL permits the packet protects it; a deny
// line hands the packet to the next entry. An ipsec-manual entry keeps its
// ACL only up to the first permit line (the guide: later lines are ignored).
// A dynamic entry without match address has no rules: it takes part in
// negotiation only.
type CompiledMap struct {
	Interface string
	Map       string // "" when the interface has no crypto map
	// Local holds the addresses IPsec uses on this interface: those of the
	// crypto map's local-address interface, else the interface's own.
	Local   []netip.Addr
	Rules   []spd.Rule
	Entries []*CompiledEntry
}

// CompiledEntry is one crypto map entry as SAs are built from it.
type CompiledEntry struct {
	Map string
	Seq int
	// DynamicMap and DynamicSeq name the dynamic map entry this entry was
	// expanded from ("" for static entries).
	DynamicMap string
	DynamicSeq int
	// Kind is ISAKMPEntry, ManualEntry, or DynamicEntry for a dynamic map
	// template (answers peers, never initiates).
	Kind EntryKind
	ACL  *ACL // nil for a dynamic template without match address
	// Permits are the ACL's permit lines that define SAs (for a manual
	// entry only the first).
	Permits       []*ACLLine
	Peers         []netip.Addr
	TransformSets []*TransformSet
	Lifetime      Lifetime // resolved: never zero for negotiated entries
	PerHost       bool
	ReplayWindow  int     // anti-replay window in packets; 0: disabled
	PFS           DHGroup // 0: no PFS
	// IKEv2Profile selects IKEv2 and how to authenticate; nil means the
	// entry negotiates with IKEv1 (crypto isakmp), as on IOS.
	IKEv2Profile *IKEv2Profile
	SessionKeys  *SessionKeys // manual entries only
	ReverseRoute bool
	Config       *MapEntry // the configured entry
}

// Name is how show and log output refer to the entry.
func (e *CompiledEntry) Name() string {
	if e.DynamicMap != "" {
		return fmt.Sprintf("crypto map %s %d (dynamic-map %s %d)", e.Map, e.Seq, e.DynamicMap, e.DynamicSeq)
	}
	return fmt.Sprintf("crypto map %s %d", e.Map, e.Seq)
}

// Initiates reports whether outbound traffic matching the entry triggers a
// negotiation: static ipsec-isakmp entries do; dynamic templates only answer
// and manual entries have their SAs from the start.
func (e *CompiledEntry) Initiates() bool { return e.Kind == ISAKMPEntry }

// EntryFor returns the entry a rule index (as spd lookups return) belongs to.
func (c *CompiledMap) EntryFor(rule int) *CompiledEntry {
	return c.Entries[c.Rules[rule].Entry]
}

// LocalFor returns the local address to use with peer: the first local
// address of the peer's family, or the zero Addr.
func (c *CompiledMap) LocalFor(peer netip.Addr) netip.Addr {
	for _, a := range c.Local {
		if a.Is4() == peer.Is4() {
			return a
		}
	}
	return netip.Addr{}
}

// CompileInterface compiles the crypto map applied to the named IOS
// interface. An interface without a crypto map compiles to an empty map
// (all traffic bypasses IPsec). The policy must be valid.
func (p *Policy) CompileInterface(name string) (*CompiledMap, error) {
	if p.invalid {
		return nil, fmt.Errorf("policy has errors; run config check")
	}
	i := p.Interfaces[name]
	if i == nil {
		return nil, fmt.Errorf("no interface %s in the policy", name)
	}
	c := &CompiledMap{Interface: name}
	m := i.CryptoMap
	if m == nil {
		return c, nil
	}
	c.Map = m.Name
	local := i
	if m.LocalAddress != "" {
		local = p.Interfaces[m.LocalAddress]
	}
	for _, a := range local.Addresses {
		c.Local = append(c.Local, a.Addr())
	}
	for _, e := range m.Entries {
		if e.Kind != DynamicEntry {
			c.add(p.compileEntry(e, e), e.ACL)
			continue
		}
		for _, de := range e.DynamicMap.Entries {
			ce := p.compileEntry(e, de)
			ce.DynamicMap, ce.DynamicSeq, ce.Kind = de.Map, de.Seq, DynamicEntry
			c.add(ce, de.ACL)
		}
	}
	return c, nil
}

// Compile compiles every interface that has a crypto map, in name order.
func (p *Policy) Compile() ([]*CompiledMap, error) {
	var out []*CompiledMap
	for _, n := range sortedKeys(p.Interfaces) {
		if p.Interfaces[n].CryptoMapName == "" {
			continue
		}
		c, err := p.CompileInterface(n)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// add appends an entry and one rule per ACL line that counts.
func (c *CompiledMap) add(ce *CompiledEntry, acl *ACL) {
	idx := len(c.Entries)
	c.Entries = append(c.Entries, ce)
	if acl == nil {
		return
	}
	for _, l := range acl.Lines {
		c.Rules = append(c.Rules, l.Rule(idx))
		if l.Permit {
			ce.Permits = append(ce.Permits, l)
			if ce.Kind == ManualEntry {
				break
			}
		}
	}
}

// compileEntry resolves the settings of entry e (of crypto map entry top).
func (p *Policy) compileEntry(top, e *MapEntry) *CompiledEntry {
	ce := &CompiledEntry{
		Map:           top.Map,
		Seq:           top.Seq,
		Kind:          e.Kind,
		ACL:           e.ACL,
		Peers:         e.Peers,
		TransformSets: e.TransformSets,
		PerHost:       e.PerHost,
		PFS:           e.PFS,
		IKEv2Profile:  e.IKEv2Profile,
		ReverseRoute:  e.ReverseRoute,
		Config:        e,
	}
	if e.Kind == ManualEntry {
		// Manual SAs neither expire nor check replay (the guide).
		ce.SessionKeys = &e.SessionKeys
		ce.PFS, ce.IKEv2Profile, ce.PerHost = 0, nil, false
		return ce
	}
	ce.Lifetime = Lifetime{
		Seconds:   firstNonZero(e.Lifetime.Seconds, p.IPsec.Lifetime.Seconds, DefaultLifetimeSeconds),
		Kilobytes: firstNonZero(e.Lifetime.Kilobytes, p.IPsec.Lifetime.Kilobytes, DefaultLifetimeKilobytes),
	}
	w := int(firstNonZero(int64(e.ReplayWindow), int64(p.IPsec.ReplayWindow), int64(p.DefaultReplayWindow), DefaultReplayWindow))
	if w == ReplayDisabled {
		w = 0
	}
	ce.ReplayWindow = w
	return ce
}

func firstNonZero(vs ...int64) int64 {
	for _, v := range vs {
		if v != 0 {
			return v
		}
	}
	return 0
}
