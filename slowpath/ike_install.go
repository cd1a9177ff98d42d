package slowpath

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"ipsecgw/config"
	"ipsecgw/fastpath"
	"ipsecgw/fastpath/sad"
	"ipsecgw/ike"
	"ipsecgw/ike/message"
	"ipsecgw/ike/ts"
	"ipsecgw/spd"
)

// installed is the fast path's half of one negotiated CHILD_SA. For an
// IKEv1 AH+ESP bundle, in and out are the ESP SAs and their Outer() the
// AH ones, as for manual bundles.
type installed struct {
	in, out *sad.SA
	v1      bool // negotiated by the IKEv1 engine
}

// sas lists every installed SA, bundled AH SAs included.
func (r *installed) sas() []*sad.SA { return append(bundled(r.in), bundled(r.out)...) }

// bundled lists sa (none if nil) and the AH SA bundled outside it, if any.
func bundled(sa *sad.SA) []*sad.SA {
	switch {
	case sa == nil:
		return nil
	case sa.Outer() != nil:
		return []*sad.SA{sa, sa.Outer()}
	}
	return []*sad.SA{sa}
}

// childRef names the CHILD_SA an installed SA belongs to: its inbound SPI
// in the engine that negotiated it.
type childRef struct {
	spi uint32
	v1  bool
}

// InstallInbound implements ike.Installer: the inbound SA goes into the
// SAD, so the peer may send on it as soon as it has it.
func (x *Negotiator) InstallInbound(c *ike.ChildSA) error { return x.installInbound(c, nil, false) }

// installInbound installs CHILD_SA c's inbound SA, bundled with the AH SA
// of ah (an IKEv1 AH+ESP bundle's outer pair; nil without a bundle), both
// in one SAD update.
func (x *Negotiator) installInbound(c, ah *ike.ChildSA, v1 bool) error {
	gw := x.gw()
	sa, err := gw.negotiatedSA(c, ah, sad.Inbound)
	if err != nil {
		x.log.Warn("cannot install inbound SA", "child", c, "err", err)
		return err
	}
	if err := gw.Engine.SAD().Install(bundled(sa)...); err != nil {
		return err
	}
	x.mu.Lock()
	x.children[c] = &installed{in: sa, v1: v1}
	for _, s := range bundled(sa) {
		x.bySA[s] = childRef{c.InSPI, v1}
	}
	x.mu.Unlock()
	x.log.Debug("inbound SA installed", "child", c, "bundled_ah", ah != nil)
	return nil
}

// InstallOutbound implements ike.Installer: the outbound SA goes into the
// SAD and is bound to the entry's permit line in one table switch that
// also unbinds the SA it replaces (a rekey). The replaced SA stays in the
// SAD until RemoveChildSA, so packets a worker already took it for still
// leave encrypted.
func (x *Negotiator) InstallOutbound(c, replaces *ike.ChildSA) error {
	return x.installOutbound(c, nil, replaces)
}

// installOutbound installs and binds CHILD_SA c's outbound SA, bundled
// with the AH SA of ah as installInbound's, replacing the CHILD_SA
// replaces (nil: none).
func (x *Negotiator) installOutbound(c, ah, replaces *ike.ChildSA) error {
	gw := x.gw()
	x.mu.Lock()
	rec := x.children[c]
	var old *installed
	if replaces != nil {
		old = x.children[replaces]
	}
	x.mu.Unlock()
	if rec == nil {
		return fmt.Errorf("outbound SA of %v before its inbound SA", c)
	}
	sa, err := gw.negotiatedSA(c, ah, sad.Outbound)
	if err != nil {
		x.log.Warn("cannot install outbound SA", "child", c, "err", err)
		return err
	}
	out := bundled(sa)
	if _, e := gw.childEntry(c); e != nil && acceptsAny(e) && x.publish != nil {
		if err := x.useTemporary(c, replaces); err != nil {
			x.log.Warn("cannot install the temporary crypto map entry", "child", c, "err", err)
			return err
		}
	}
	if err := gw.Engine.SAD().Install(out...); err != nil {
		x.dropTemporary(c)
		return err
	}
	var unbind []*sad.SA
	if old != nil && old.out != nil {
		unbind = append(unbind, old.out)
	}
	bound, err := x.bindChild(c, sa, unbind)
	if err != nil {
		gw.Engine.SAD().Delete(out...)
		x.dropTemporary(c)
		return err
	}
	if bound == 0 {
		x.warnOnce("unbound "+c.Child, "negotiated SA has no crypto map permit line to bind to: the peer's traffic is decrypted, traffic towards it is not protected by this SA", "child", c.Child)
	}
	x.mu.Lock()
	rec.out = sa
	for _, s := range out {
		x.bySA[s] = childRef{c.InSPI, rec.v1}
	}
	x.mu.Unlock()
	x.log.Debug("IPsec SA installed", "child", c, "rekeys", replaces != nil)
	return nil
}

// RemoveChildSA implements ike.Installer: both halves are unbound and
// deleted from the SAD.
func (x *Negotiator) RemoveChildSA(c *ike.ChildSA, reason ike.Reason) {
	x.mu.Lock()
	rec := x.children[c]
	delete(x.children, c)
	if rec != nil {
		for _, sa := range rec.sas() {
			delete(x.bySA, sa)
		}
	}
	x.mu.Unlock()
	if rec == nil {
		return
	}
	gw := x.gw()
	if err := gw.removeSAs(rec.sas()); err != nil {
		x.log.Error("removing IPsec SA", "child", c, "err", err)
	}
	x.dropTemporary(c)
	x.log.Debug("IPsec SA removed", "child", c, "reason", reason.String())
}

// negotiatedSA builds one half of CHILD_SA c, bundled (ESP inner) with
// the same half of ah when an IKEv1 AH+ESP bundle negotiated both.
func (g *Gateway) negotiatedSA(c, ah *ike.ChildSA, dir sad.Direction) (*sad.SA, error) {
	sa, err := g.childSA(c, dir)
	if err != nil || ah == nil {
		return sa, err
	}
	outer, err := g.childSA(ah, dir)
	if err != nil {
		return nil, err
	}
	if err := sad.Bundle(sa, outer); err != nil {
		return nil, fmt.Errorf("%s: %w", c.Child, err)
	}
	return sa, nil
}

// childSA builds one half of a negotiated CHILD_SA with the construction
// manual SAs use (entrySAConfig), from the entry the CHILD_SA was
// negotiated for.
func (g *Gateway) childSA(c *ike.ChildSA, dir sad.Direction) (*sad.SA, error) {
	cm, e := g.childEntry(c)
	if e == nil {
		return nil, fmt.Errorf("%s is not in the configuration", c.Child)
	}
	mode := sad.Tunnel
	if c.Mode == ike.ModeTransport {
		mode = sad.Transport
	}
	cfg := entrySAConfig(e, cm.Interface, mode, c.Local, c.Remote, spdSelectors(c.LocalTS, c.RemoteTS))
	cfg.Direction = dir
	cfg.Protocol = sad.ESP
	if c.Protocol == message.ProtoAH {
		cfg.Protocol = sad.AH
	}
	cfg.Transform, cfg.ESN = c.Transform, c.ESN
	cfg.UDPEncap, cfg.LocalPort, cfg.RemotePort = c.Encap, c.LocalPort, c.RemotePort
	cfg.Lifetime = sad.Lifetime{SoftBytes: c.SoftKilobytes * 1024, HardBytes: c.HardKilobytes * 1024}
	keys := c.InKeys
	cfg.SPI = c.InSPI
	if dir == sad.Outbound {
		keys, cfg.SPI = c.OutKeys, c.OutSPI
		cfg.ReplayWindow = 0
	}
	cfg.CipherKey, cfg.IntegKey = sad.Key(keys.Encr), sad.Key(keys.Integ)
	sa, err := sad.New(cfg, g.Workers)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Child, err)
	}
	return sa, nil
}

// childEntry finds the compiled entry a CHILD_SA was negotiated for: the
// entry of that name on a crypto map using the CHILD_SA's local address.
func (g *Gateway) childEntry(c *ike.ChildSA) (*config.CompiledMap, *config.CompiledEntry) {
	for _, cm := range g.Maps {
		if cm == nil || cm.LocalFor(c.Remote) != c.Local {
			continue
		}
		for _, e := range cm.Entries {
			if e.Name() == c.Child {
				return cm, e
			}
		}
	}
	return nil, nil
}

// errMapsMoved says a reload switched the tables between reading the
// gateway and binding: the compiled maps no longer match the SPDs.
var errMapsMoved = errors.New("slowpath: crypto maps changed while binding")

// bindChild binds outbound SA sa of CHILD_SA c to the permit rule of its
// entry and ACL line on every interface whose crypto map has it, and
// unbinds the SAs in unbind, in one table switch. It returns how many
// rules it bound to. A reload publishes its tables before its gateway, so
// the rules are taken from a gateway whose compiled maps match the tables
// being changed, waiting briefly for the reload to finish if needed.
func (x *Negotiator) bindChild(c *ike.ChildSA, sa *sad.SA, unbind []*sad.SA) (int, error) {
	for try := 0; ; try++ {
		g := x.gw()
		n, err := g.bindChild(c, sa, unbind)
		if !errors.Is(err, errMapsMoved) || try == 100 {
			return n, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (g *Gateway) bindChild(c *ike.ChildSA, sa *sad.SA, unbind []*sad.SA) (int, error) {
	bound := 0
	err := g.Engine.UpdateTables(func(t *fastpath.Tables) (*fastpath.Tables, error) {
		bound = 0
		for i := range t.Interfaces {
			cr := t.Interfaces[i].Crypto
			cm := g.Maps[i]
			if (cr == nil) != (cm == nil) {
				return nil, errMapsMoved
			}
			if cr == nil {
				continue
			}
			if !sameRules(cr, cm) {
				return nil, errMapsMoved
			}
			var add []fastpath.Binding
			if cm.LocalFor(c.Remote) == c.Local {
				var sels []spd.Selector
				for r, rule := range cm.Rules {
					e := cm.Entries[rule.Entry]
					if !rule.Permit || rule.Line != c.Line || e.Name() != c.Child {
						continue
					}
					if isTemporary(e) {
						// Only the peer's own temporary entry, and only
						// the selectors this CHILD_SA negotiated.
						if sels == nil {
							sels = spdSelectors(c.LocalTS, c.RemoteTS)
						}
						if e.Peers[0] != c.Remote || !slices.Contains(sels, rule.Sel) {
							continue
						}
					}
					b := fastpath.Binding{Rule: r, SA: sa}
					if cm.Entries[rule.Entry].PerHost {
						b.Src, b.Dst = hostOf(c.LocalTS), hostOf(c.RemoteTS)
					}
					add = append(add, b)
				}
			}
			if len(add) == 0 && len(unbind) == 0 {
				continue
			}
			n, err := cr.WithSAs(add, unbind)
			if err != nil {
				return nil, err
			}
			bound += len(add)
			t = t.WithCryptoMap(i, n)
		}
		return t, nil
	})
	return bound, err
}

// sameRules reports whether the fast path's crypto map was built from the
// compiled map cm.
func sameRules(cr *fastpath.CryptoMap, cm *config.CompiledMap) bool {
	if cr.SPD.Len() != len(cm.Rules) {
		return false
	}
	for r := range cm.Rules {
		if cr.SPD.Rule(r) != cm.Rules[r] {
			return false
		}
	}
	return true
}

// hostOf is the address of a per-host SA's selectors (one host each).
func hostOf(sels []ts.Selector) netip.Addr {
	if len(sels) == 0 || sels[0].Start != sels[0].End {
		return netip.Addr{}
	}
	return sels[0].Start
}

// spdSelectors turns negotiated traffic selectors into the SA's selectors
// (outbound: Src local): every pair of a local and a remote selector of
// one family and compatible protocols, address ranges as prefixes.
func spdSelectors(local, remote []ts.Selector) []spd.Selector {
	var out []spd.Selector
	for _, l := range local {
		for _, r := range remote {
			if l.Is4() != r.Is4() || (l.Proto != 0 && r.Proto != 0 && l.Proto != r.Proto) {
				continue
			}
			proto := max(l.Proto, r.Proto)
			for _, sp := range l.Prefixes() {
				for _, dp := range r.Prefixes() {
					out = append(out, spd.Selector{Proto: proto, Src: sp, Dst: dp,
						SrcPorts: portMatch(l), DstPorts: portMatch(r)})
				}
			}
		}
	}
	return out
}

func portMatch(s ts.Selector) spd.PortMatch {
	if s.AnyPort() {
		return spd.PortMatch{}
	}
	return spd.PortMatch{Lo: s.StartPort, Hi: s.EndPort}
}
