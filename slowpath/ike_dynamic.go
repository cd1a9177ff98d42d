package slowpath

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"ipsecgw/config"
	"ipsecgw/fastpath"
	"ipsecgw/ike"
	"ipsecgw/spd"
)

// Temporary crypto map entries. A dynamic map entry without match address
// accepts the selectors the peer proposes; as the guide describes, the
// responder then installs a temporary crypto map entry filled with the
// negotiated values, and removes it when its SAs expire. Here that entry is
// a copy of the dynamic entry naming the peer, placed right after it in
// the crypto map, with one permit rule per negotiated selector pair: the
// outbound SA binds to those rules, so traffic towards the peer's networks
// is protected. The gateway with the temporary entries is published as a
// whole (compiled maps and fast-path SPDs switched together, every binding
// carried over), so rule numbers in Maps always match the fast path's.
//
//	InstallOutbound ─ first CHILD_SA of (entry, local, peer, selectors) ─▶ publish with the entry ─▶ bindChild
//	RemoveChildSA ── last CHILD_SA of it gone ──────────────────────────▶ publish without it
//	Reload (apply) ── carries the entries into the new configuration's maps

// TempEntry is a temporary crypto map entry.
type TempEntry struct {
	Entry       string // the dynamic map entry it was filled from (CompiledEntry.Name)
	Local, Peer netip.Addr
	Sel         []spd.Selector // the negotiated selectors, outbound (Src local)
}

func (t *TempEntry) key() string { return fmt.Sprint(t.Entry, t.Local, t.Peer, t.Sel) }

// isTemporary reports whether a compiled entry is a temporary one: a copy
// of a dynamic entry without match address that names its peer.
func isTemporary(e *config.CompiledEntry) bool {
	return e.Kind == config.DynamicEntry && e.ACL == nil && len(e.Peers) == 1
}

// acceptsAny reports whether a CHILD_SA of entry e needs a temporary entry
// to bind its outbound SA to.
func acceptsAny(e *config.CompiledEntry) bool {
	return e.Kind == config.DynamicEntry && e.ACL == nil
}

// withTemporary returns the gateway g with the temporary entries temps in
// place of its own: compiled maps rebuilt from the configured ones, the
// fast path's crypto maps switched to them with every SA binding carried
// over to its rule's new number.
func (g *Gateway) withTemporary(temps []TempEntry) (*Gateway, error) {
	maps := make([]*config.CompiledMap, len(g.configured))
	for i, cm := range g.configured {
		if cm != nil {
			maps[i] = expandTemporary(cm, temps)
		}
	}
	err := g.Engine.UpdateTables(func(t *fastpath.Tables) (*fastpath.Tables, error) {
		for i := range t.Interfaces {
			oc := t.Interfaces[i].Crypto
			if oc == nil || maps[i] == nil {
				continue
			}
			if !sameRules(oc, g.Maps[i]) {
				return nil, errMapsMoved
			}
			nc, err := fastCryptoMap(maps[i])
			if err != nil {
				return nil, err
			}
			var bind []fastpath.Binding
			for _, b := range oc.Bindings() {
				if r := carryRule(oc, b, nc, maps[i]); r >= 0 {
					bind = append(bind, fastpath.Binding{Rule: r, SA: b.SA, Src: b.Src, Dst: b.Dst})
				}
			}
			if nc, err = nc.WithSAs(bind, nil); err != nil {
				return nil, err
			}
			t = t.WithCryptoMap(i, nc)
		}
		return t, nil
	})
	if err != nil {
		return nil, err
	}
	ng := *g
	ng.Maps, ng.Temporary = maps, slices.Clone(temps)
	return &ng, nil
}

// expandTemporary copies cm with each temporary entry placed right after
// the dynamic entry it was filled from (where the dynamic entry answers in
// the map's first-match order), entries and rules renumbered.
func expandTemporary(cm *config.CompiledMap, temps []TempEntry) *config.CompiledMap {
	out := &config.CompiledMap{Interface: cm.Interface, Map: cm.Map, Local: cm.Local}
	for ei, e := range cm.Entries {
		idx := len(out.Entries)
		out.Entries = append(out.Entries, e)
		for _, r := range cm.Rules {
			if r.Entry == ei {
				r.Entry = idx
				out.Rules = append(out.Rules, r)
			}
		}
		if !acceptsAny(e) {
			continue
		}
		for _, t := range temps {
			if t.Entry != e.Name() || !slices.Contains(cm.Local, t.Local) {
				continue
			}
			te := *e
			te.Peers = []netip.Addr{t.Peer}
			idx := len(out.Entries)
			out.Entries = append(out.Entries, &te)
			for _, s := range t.Sel {
				out.Rules = append(out.Rules, spd.Rule{Sel: s, Permit: true, Entry: idx})
			}
		}
	}
	return out
}

// tempUse is one temporary entry and the CHILD_SAs using it (an SA and
// its rekeyed successors share it).
type tempUse struct {
	entry    TempEntry
	children map[*ike.ChildSA]bool
}

// useTemporary makes sure the temporary entry CHILD_SA c needs exists,
// publishing a gateway with it if it is new. A rekey (c replaces replaces)
// takes the entry over from the SA it replaces: should the selectors
// differ, the old entry goes in the same switch, as its SA is being
// unbound, so no packet meets an entry without an SA.
func (x *Negotiator) useTemporary(c, replaces *ike.ChildSA) error {
	t := TempEntry{Entry: c.Child, Local: c.Local, Peer: c.Remote, Sel: spdSelectors(c.LocalTS, c.RemoteTS)}
	k := t.key()
	x.mu.Lock()
	changed := false
	if old, ok := x.tempOf[replaces]; ok && replaces != nil {
		delete(x.tempOf, replaces)
		if u := x.temps[old]; u != nil {
			delete(u.children, replaces)
			if len(u.children) == 0 && old != k {
				delete(x.temps, old)
				changed = true
			}
		}
	}
	u := x.temps[k]
	isNew := u == nil
	if isNew {
		u = &tempUse{entry: t, children: map[*ike.ChildSA]bool{}}
		x.temps[k] = u
	}
	u.children[c] = true
	x.tempOf[c] = k
	x.mu.Unlock()
	if !isNew && !changed {
		return nil
	}
	if err := x.publishTemporary(); err != nil {
		x.mu.Lock()
		delete(u.children, c)
		delete(x.tempOf, c)
		if isNew {
			delete(x.temps, k)
		}
		x.mu.Unlock()
		return err
	}
	if isNew {
		x.log.Info("temporary crypto map entry installed", "entry", t.Entry, "peer", t.Peer, "selectors", fmt.Sprint(t.Sel))
	}
	return nil
}

// dropTemporary releases CHILD_SA c's temporary entry, removing the entry
// with its last CHILD_SA.
func (x *Negotiator) dropTemporary(c *ike.ChildSA) {
	x.mu.Lock()
	k, ok := x.tempOf[c]
	delete(x.tempOf, c)
	u := x.temps[k]
	last := false
	if ok && u != nil {
		delete(u.children, c)
		if last = len(u.children) == 0; last {
			delete(x.temps, k)
		}
	}
	x.mu.Unlock()
	if !last {
		return
	}
	if err := x.publishTemporary(); err != nil {
		x.log.Error("removing temporary crypto map entry", "entry", u.entry.Entry, "peer", u.entry.Peer, "err", err)
		return
	}
	x.log.Info("temporary crypto map entry removed: its SAs are gone", "entry", u.entry.Entry, "peer", u.entry.Peer)
}

// publishTemporary publishes the current gateway with the negotiator's
// temporary entries.
func (x *Negotiator) publishTemporary() error {
	return x.publish(func(g *Gateway) (*Gateway, error) {
		x.mu.Lock()
		temps := make([]TempEntry, 0, len(x.temps))
		for _, u := range x.temps {
			temps = append(temps, u.entry)
		}
		x.mu.Unlock()
		slices.SortFunc(temps, func(a, b TempEntry) int { return strings.Compare(a.key(), b.key()) })
		return g.withTemporary(temps)
	})
}
