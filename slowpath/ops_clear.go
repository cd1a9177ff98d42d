package slowpath

import (
	"fmt"
	"net/netip"
	"strings"

	"ipsecgw/config"
	"ipsecgw/control"
	"ipsecgw/fastpath"
	"ipsecgw/fastpath/sad"
)

// ClearSA implements control.Backend: clear crypto sa [peer A | map NAME |
// entry DST PROTO SPI]. Negotiated SAs are deleted with their peer through
// IKE (which removes them from the fast path) or, when no IKE runs, removed
// at once. Manual SAs are cleared and reinitialised from the configuration,
// as IOS does: same SPIs and keys, fresh counters and sequence numbers.
func (o *Ops) ClearSA(f control.ClearSA) (*control.Cleared, error) {
	o.write.Lock()
	defer o.write.Unlock()
	match, err := clearFilter(f)
	if err != nil {
		return nil, err
	}
	g := o.Gateway()
	if f.Map != "" && g.Config.Policy.CryptoMaps[f.Map] == nil {
		return nil, fmt.Errorf("no crypto map %s", f.Map)
	}
	sas := g.Engine.SAD().Table().SAs()
	o.ledger.observe(sas)
	var negotiated []*sad.SA
	manual := map[*ManualSA]bool{}
	for _, sa := range sas {
		if !match(sa) {
			continue
		}
		if m := g.manualOf(sa); m != nil {
			manual[m] = true
		} else {
			negotiated = append(negotiated, sa)
		}
	}
	if f.SPI != 0 && len(negotiated)+len(manual) == 0 {
		return nil, fmt.Errorf("no SA with destination %s, protocol %s, SPI %d", f.Dst, f.Protocol, f.SPI)
	}
	res := &control.Cleared{}
	if len(negotiated) > 0 {
		res.Deleted = len(negotiated)
		note, err := o.deleteNegotiated(g, f, negotiated)
		if err != nil {
			return nil, err
		}
		res.Notes = append(res.Notes, note)
	}
	var pairs []*ManualSA
	for _, m := range g.Manual {
		if manual[m] {
			pairs = append(pairs, m)
			res.Reinstalled += len(m.all())
		}
	}
	if len(pairs) > 0 {
		if err := o.reinstallManual(g, pairs); err != nil {
			return nil, err
		}
	}
	o.log.Info("clear crypto sa", "peer", f.Peer, "map", f.Map, "spi", f.SPI, "deleted", res.Deleted, "reinstalled", res.Reinstalled)
	return res, nil
}

// ClearSession implements control.Backend: clear crypto session deletes
// every IKE SA with its peer and clears every IPsec SA.
func (o *Ops) ClearSession() (*control.Cleared, error) {
	n := 0
	if e := o.cfg.IKE; e != nil {
		n = len(e.SAs())
		e.ClearIKESAs(netip.Addr{})
	}
	res, err := o.ClearSA(control.ClearSA{})
	if err != nil {
		return nil, err
	}
	res.IKESAs = n
	return res, nil
}

// clearFilter turns the command's selection into a predicate on SAs.
func clearFilter(f control.ClearSA) (func(*sad.SA) bool, error) {
	switch {
	case f.Peer != "":
		peer, err := netip.ParseAddr(f.Peer)
		if err != nil {
			return nil, fmt.Errorf("peer %q: not an IP address", f.Peer)
		}
		return func(sa *sad.SA) bool { return sa.Remote() == peer }, nil
	case f.Map != "":
		return func(sa *sad.SA) bool { return sa.Config().Info.Map == f.Map }, nil
	case f.SPI != 0 || f.Dst != "":
		dst, err := netip.ParseAddr(f.Dst)
		if err != nil {
			return nil, fmt.Errorf("entry: destination %q: not an IP address", f.Dst)
		}
		var proto sad.Protocol
		switch strings.ToLower(f.Protocol) {
		case "esp":
			proto = sad.ESP
		case "ah":
			proto = sad.AH
		default:
			return nil, fmt.Errorf("entry: protocol %q: want esp or ah", f.Protocol)
		}
		// An SA's destination is the peer for outbound SAs, this gateway
		// for inbound ones.
		return func(sa *sad.SA) bool {
			d := sa.Local()
			if sa.Direction() == sad.Outbound {
				d = sa.Remote()
			}
			return sa.SPI() == f.SPI && sa.Protocol() == proto && d == dst
		}, nil
	}
	return func(*sad.SA) bool { return true }, nil
}

// manualOf returns the manual SA pair sa belongs to, or nil.
func (g *Gateway) manualOf(sa *sad.SA) *ManualSA {
	for _, m := range g.Manual {
		for _, x := range m.all() {
			if x == sa {
				return m
			}
		}
	}
	return nil
}

// deleteNegotiated deletes negotiated SAs: through IKE, which deletes them
// with the peer and removes both halves from the fast path, or directly
// when no IKE runs.
func (o *Ops) deleteNegotiated(g *Gateway, f control.ClearSA, sas []*sad.SA) (string, error) {
	e := o.cfg.IKE
	if e == nil {
		if err := g.removeSAs(sas); err != nil {
			return "", err
		}
		return "no IKE running: negotiated SAs removed from the fast path", nil
	}
	switch {
	case f.Peer != "":
		e.ClearChildSAs(sas[0].Remote())
	case f.Map == "" && f.SPI == 0:
		e.ClearChildSAs(netip.Addr{})
	default:
		children := o.ikeChildren()
		done := map[uint32]bool{}
		for _, sa := range sas {
			spi := sa.SPI()
			if c := children[spi]; c != nil {
				spi = c.InSPI // IKE names a CHILD_SA by its inbound SPI
			}
			if !done[spi] {
				done[spi] = true
				e.DeleteChildSA(spi)
			}
		}
	}
	return "negotiated SAs are being deleted with their peers; traffic triggers new ones", nil
}

// removeSAs unbinds sas from every crypto map and deletes them from the
// SAD.
func (g *Gateway) removeSAs(sas []*sad.SA) error {
	err := g.Engine.UpdateTables(func(t *fastpath.Tables) (*fastpath.Tables, error) {
		for i := range t.Interfaces {
			c := t.Interfaces[i].Crypto
			if c == nil {
				continue
			}
			n, err := c.WithSAs(nil, sas)
			if err != nil {
				return nil, err
			}
			t = t.WithCryptoMap(i, n)
		}
		return t, nil
	})
	if err != nil {
		return err
	}
	g.Engine.SAD().Delete(sas...)
	return nil
}

// reinstallManual replaces manual SA pairs with fresh ones built from the
// configuration and publishes the resulting gateway.
func (o *Ops) reinstallManual(g *Gateway, pairs []*ManualSA) error {
	fresh := map[*ManualSA]*ManualSA{}
	for _, m := range pairs {
		n, err := g.rebuildManual(m)
		if err != nil {
			return err
		}
		fresh[m] = n
	}
	repl := map[*sad.SA]*sad.SA{}
	var add, del []*sad.SA
	for old, n := range fresh {
		repl[old.Out] = n.Out
		add = append(add, n.all()...)
		del = append(del, old.all()...)
	}
	if err := g.rebind(repl); err != nil {
		return err
	}
	if err := g.Engine.SAD().Update(add, del); err != nil {
		inverse := map[*sad.SA]*sad.SA{}
		for a, b := range repl {
			inverse[b] = a
		}
		g.rebind(inverse)
		return fmt.Errorf("reinstalling manual SAs: %w", err)
	}
	o.publish.Lock() // IKE may have published temporary entries meanwhile
	defer o.publish.Unlock()
	ng := *o.Gateway()
	ng.Manual = make([]*ManualSA, len(ng.Manual))
	for i, m := range o.Gateway().Manual {
		if n := fresh[m]; n != nil {
			m = n
		}
		ng.Manual[i] = m
	}
	o.gw.Store(&ng)
	return nil
}

// rebuildManual builds a manual entry's SAs again from the configuration.
func (g *Gateway) rebuildManual(m *ManualSA) (*ManualSA, error) {
	for _, cm := range g.Maps {
		if cm == nil || cm.Interface != m.Interfaces[0] {
			continue
		}
		for ei, e := range cm.Entries {
			if e.Kind != config.ManualEntry || e.Map != m.Map || e.Seq != m.Seq {
				continue
			}
			n, err := g.manualSA(e, cm.Interface, cm.Rules[permitRule(cm, ei)].Sel, m.Local, m.Peer)
			if err != nil {
				return nil, err
			}
			n.Interfaces = m.Interfaces
			return n, nil
		}
	}
	return nil, fmt.Errorf("crypto map %s %d is no longer in the configuration", m.Map, m.Seq)
}

// rebind moves every binding of an outbound SA that is a key of repl to the
// SA it maps to, on every interface, in one table update.
func (g *Gateway) rebind(repl map[*sad.SA]*sad.SA) error {
	return g.Engine.UpdateTables(func(t *fastpath.Tables) (*fastpath.Tables, error) {
		for i := range t.Interfaces {
			c := t.Interfaces[i].Crypto
			if c == nil {
				continue
			}
			var add []fastpath.Binding
			var del []*sad.SA
			for _, b := range c.Bindings() {
				if n, ok := repl[b.SA]; ok {
					add = append(add, fastpath.Binding{Rule: b.Rule, SA: n, Src: b.Src, Dst: b.Dst})
					del = append(del, b.SA)
				}
			}
			if len(add) == 0 {
				continue
			}
			n, err := c.WithSAs(add, del)
			if err != nil {
				return nil, err
			}
			t = t.WithCryptoMap(i, n)
		}
		return t, nil
	})
}
