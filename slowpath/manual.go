package slowpath

import (
	"fmt"
	"net/netip"

	"ipsecgw/config"
	"ipsecgw/crypto"
	"ipsecgw/fastpath"
	"ipsecgw/fastpath/sad"
	"ipsecgw/spd"
)

// ManualSA is the SA pair of one ipsec-manual crypto map entry: what
// `set session-key` configured, installed in the SAD. For an AH+ESP
// transform set, Out and In are the ESP SAs and their Outer() the AH ones.
type ManualSA struct {
	Map        string
	Seq        int
	Interfaces []string // where the crypto map is applied
	Local      netip.Addr
	Peer       netip.Addr
	Out, In    *sad.SA
}

// installManual builds the manual SAs of every ipsec-manual entry of every
// applied crypto map, installs them in db and binds the outbound ones to
// the entry's permit line. A crypto map applied to several interfaces with
// the same local address shares its SAs.
func (g *Gateway) installManual(db *sad.DB, ifs []fastpath.Interface) error {
	type key struct {
		name  string
		seq   int
		local netip.Addr
	}
	built := map[key]*ManualSA{}
	for i, cm := range g.Maps {
		if cm == nil {
			continue
		}
		var binds []fastpath.Binding
		for ei, e := range cm.Entries {
			if e.Kind != config.ManualEntry {
				continue
			}
			rule := permitRule(cm, ei)
			if rule < 0 || len(e.Peers) == 0 || len(e.TransformSets) == 0 || e.SessionKeys == nil {
				return fmt.Errorf("%s on %s: an ipsec-manual entry needs match address, set peer, set transform-set and set session-key", e.Name(), cm.Interface)
			}
			peer := e.Peers[0]
			local := cm.LocalFor(peer)
			if !local.IsValid() {
				return fmt.Errorf("%s on %s: no local address of peer %v's family", e.Name(), cm.Interface, peer)
			}
			k := key{e.Map, e.Seq, local}
			m := built[k]
			if m == nil {
				var err error
				if m, err = g.manualSA(e, cm.Interface, cm.Rules[rule].Sel, local, peer); err != nil {
					return err
				}
				if err := db.Install(m.all()...); err != nil {
					return fmt.Errorf("%s: %w", e.Name(), err)
				}
				built[k] = m
				g.Manual = append(g.Manual, m)
			}
			m.Interfaces = append(m.Interfaces, cm.Interface)
			binds = append(binds, fastpath.Binding{Rule: rule, SA: m.Out})
		}
		if len(binds) > 0 {
			c, err := ifs[i].Crypto.WithSAs(binds, nil)
			if err != nil {
				return err
			}
			ifs[i].Crypto = c
		}
	}
	return nil
}

// permitRule is the index of the permit line of manual entry ei (the only
// one that counts).
func permitRule(cm *config.CompiledMap, ei int) int {
	for r, rule := range cm.Rules {
		if rule.Entry == ei && rule.Permit {
			return r
		}
	}
	return -1
}

// manualSA builds the SAs of one manual entry. Keys come from the session
// keys; the mode is the transform set's, except that transport mode only
// applies to traffic between the peers themselves (the guide: it is
// ignored for all other traffic, which goes in tunnel mode).
func (g *Gateway) manualSA(e *config.CompiledEntry, iface string, sel spd.Selector, local, peer netip.Addr) (*ManualSA, error) {
	ts := e.TransformSets[0]
	sk := e.SessionKeys
	mode := sad.Tunnel
	if ts.Mode == config.Transport && sel.Src == netip.PrefixFrom(local, local.BitLen()) && sel.Dst == netip.PrefixFrom(peer, peer.BitLen()) {
		mode = sad.Transport
	}
	// Manual SAs neither expire nor check replay (the guide): the
	// compiled entry's ReplayWindow is 0, which disables the window.
	base := entrySAConfig(e, iface, mode, local, peer, []spd.Selector{sel})
	mk := func(dir sad.Direction, proto sad.Protocol, k *config.SessionKey, t crypto.Transform) (*sad.SA, error) {
		if k == nil {
			return nil, fmt.Errorf("%s: missing %s %s session key", e.Name(), dir, proto)
		}
		c := base
		c.SPI, c.Protocol, c.Direction, c.Transform = k.SPI, proto, dir, t
		c.CipherKey, c.IntegKey = sad.Key(k.Cipher.Reveal()), sad.Key(k.Auth.Reveal())
		sa, err := sad.New(c, g.Workers)
		if err != nil {
			return nil, fmt.Errorf("%s (%v): %w", e.Name(), k.Pos, err)
		}
		return sa, nil
	}
	m := &ManualSA{Map: e.Map, Seq: e.Seq, Local: local, Peer: peer}
	var ahOut, ahIn *sad.SA
	var err error
	if ts.HasAH() {
		ah := crypto.Transform{Integ: ts.AH}
		if ahOut, err = mk(sad.Outbound, sad.AH, sk.OutboundAH, ah); err != nil {
			return nil, err
		}
		if ahIn, err = mk(sad.Inbound, sad.AH, sk.InboundAH, ah); err != nil {
			return nil, err
		}
		m.Out, m.In = ahOut, ahIn
	}
	if ts.HasESP() {
		if m.Out, err = mk(sad.Outbound, sad.ESP, sk.OutboundESP, ts.ESP); err != nil {
			return nil, err
		}
		if m.In, err = mk(sad.Inbound, sad.ESP, sk.InboundESP, ts.ESP); err != nil {
			return nil, err
		}
		if ahOut != nil {
			if err := sad.Bundle(m.Out, ahOut); err != nil {
				return nil, err
			}
			if err := sad.Bundle(m.In, ahIn); err != nil {
				return nil, err
			}
		}
	}
	if m.Out == nil {
		return nil, fmt.Errorf("%s: transform set %s has neither AH nor ESP", e.Name(), ts.Name)
	}
	return m, nil
}

// all lists every SA of the pair, bundled AH SAs included.
func (m *ManualSA) all() []*sad.SA {
	sas := []*sad.SA{m.Out, m.In}
	if o := m.Out.Outer(); o != nil {
		sas = append(sas, o, m.In.Outer())
	}
	return sas
}

// entrySAConfig is what every SA of crypto map entry e shares, manual or
// negotiated by IKE: mode, endpoints, selectors, anti-replay window and
// the entry it belongs to (for show, clear and reload).
func entrySAConfig(e *config.CompiledEntry, iface string, mode sad.Mode, local, peer netip.Addr, sels []spd.Selector) sad.Config {
	return sad.Config{
		Mode:         mode,
		Local:        local,
		Remote:       peer,
		Selectors:    sels,
		ReplayWindow: e.ReplayWindow,
		Peer:         peer,
		Info:         sad.Info{Map: e.Map, MapSeq: e.Seq, Interface: iface, Manual: e.Kind == config.ManualEntry},
	}
}
