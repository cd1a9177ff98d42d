package slowpath

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"ipsecgw/config"
	"ipsecgw/control"
	"ipsecgw/fastpath"
	"ipsecgw/fastpath/sad"
	"ipsecgw/logging"
)

// Reload implements control.Backend and is what the runtime calls on
// SIGHUP: it loads the configuration file again and applies it to the
// running gateway without dropping what the change does not touch. An
// invalid configuration is rejected with its errors and the old one keeps
// running. See Gateway.apply for what changes how.
func (o *Ops) Reload() (*control.ReloadResult, error) {
	o.write.Lock()
	defer o.write.Unlock()
	old := o.Gateway()
	res := &control.ReloadResult{File: old.Config.File}
	cfg, err := config.Load(old.Config.File)
	switch {
	case cfg == nil:
		res.Errors = []string{err.Error()}
	case cfg.Diags.Errors() > 0:
		for _, d := range cfg.Diags.Sorted() {
			if d.Severity == config.Error {
				res.Errors = append(res.Errors, d.String())
			}
		}
	}
	var ng *Gateway
	if len(res.Errors) == 0 {
		// The switch and the new gateway's publication are one step for
		// IKE's temporary entries (UpdateGateway), which apply carries over.
		o.publish.Lock()
		old = o.Gateway()
		o.ledger.observe(old.Engine.SAD().Table().SAs())
		if ng, err = old.apply(cfg, res); err != nil {
			res.Errors = []string{err.Error()}
		} else {
			o.gw.Store(ng)
		}
		o.publish.Unlock()
	}
	if len(res.Errors) > 0 {
		o.reloadsFailed.Add(1)
		o.log.Warn("configuration reload rejected; the running configuration is unchanged", "file", res.File, "errors", strings.Join(res.Errors, "; "))
		return res, nil
	}
	res.Applied = true
	o.applyLogLevel(old.Config.System.Log.Level, cfg.System.Log.Level, res)
	o.reloadsOK.Add(1)
	o.lastReload.Store(time.Now().UnixNano())
	o.log.Info("configuration reloaded", "file", res.File, "kept", res.Kept, "replaced", res.Replaced, "added", res.Added,
		"removed", res.Removed, "unbound", res.Unbound, "changes", strings.Join(res.Changes, "; "))
	if o.cfg.AfterReload != nil {
		o.cfg.AfterReload(old, ng)
	}
	return res, nil
}

// applyLogLevel moves the subsystems still at the old configured level to
// the new one; subsystems being debugged stay as they are.
func (o *Ops) applyLogLevel(from, to string, res *control.ReloadResult) {
	if from == to {
		return
	}
	a, err1 := logging.ParseLevel(from)
	b, err2 := logging.ParseLevel(to)
	if err1 != nil || err2 != nil {
		return
	}
	for _, l := range o.cfg.Logs.Levels() {
		if l.Level == a.String() {
			o.cfg.Logs.SetLevel(l.Subsystem, b)
		}
	}
	res.Changes = append(res.Changes, fmt.Sprintf("log level %s -> %s", from, to))
}

// apply builds the gateway cfg describes on g's engine and switches the
// engine to it:
//
//   - The interfaces must stay the same (names, order, drivers, devices):
//     workers and ports are bound to them, so changing them needs a
//     restart.
//   - The tables (crypto maps, SPDs, routes, MTUs) are rebuilt from cfg
//     with Build and published in one atomic switch.
//   - Manual SAs whose entry kept its SPIs, keys, transform, peer, local
//     address, mode and ACL line stay installed: the same SA objects, with
//     their counters and sequence numbers, bound to the new tables. Others
//     are replaced, added or removed.
//   - Negotiated SAs stay installed until they expire: each stays bound to
//     the permit line of its entry with the same selector in the new
//     tables; the guide's rule that transform-set changes apply to SAs
//     negotiated afterwards follows. An SA whose line is gone is unbound
//     (its inbound half decrypts until IKE deletes it).
//   - Static neighbours added, changed or removed are applied to the
//     neighbour table, leaving learned entries alone.
//
// Settings the running gateway cannot change (data plane sizing, control
// socket, metrics address, log format) are listed in res.Restart.
func (g *Gateway) apply(cfg *config.Config, res *control.ReloadResult) (*Gateway, error) {
	if err := sameInterfaces(g.Config, cfg); err != nil {
		return nil, err
	}
	nb, err := Build(cfg, g.Workers)
	if err != nil {
		return nil, err
	}
	if len(g.Temporary) > 0 {
		// IKE's temporary entries stay where the new maps still have
		// their dynamic entries, so their SAs stay bound.
		if nb, err = nb.withTemporary(g.Temporary); err != nil {
			return nil, err
		}
	}
	oldEntries, newEntries := g.compiledEntries(), nb.compiledEntries()
	type slot struct {
		mapName string
		seq     int
		local   string
	}
	key := func(m *ManualSA) slot { return slot{m.Map, m.Seq, m.Local.String()} }
	oldByKey := map[slot]*ManualSA{}
	for _, m := range g.Manual {
		oldByKey[key(m)] = m
	}
	repl := map[*sad.SA]*sad.SA{} // new outbound SA -> the old one that stays
	var add, del []*sad.SA
	merged := make([]*ManualSA, 0, len(nb.Manual))
	seen := map[slot]bool{}
	for _, m := range nb.Manual {
		k := key(m)
		seen[k] = true
		o := oldByKey[k]
		name := fmt.Sprintf("crypto map %s %d", m.Map, m.Seq)
		switch {
		case o != nil && sameManual(o, m, oldEntries, newEntries):
			repl[m.Out] = o.Out
			merged = append(merged, &ManualSA{Map: m.Map, Seq: m.Seq, Interfaces: m.Interfaces, Local: o.Local, Peer: o.Peer, Out: o.Out, In: o.In})
			res.Kept += len(o.all())
			continue
		case o != nil:
			res.Replaced += len(m.all())
			del = append(del, o.all()...)
			res.Changes = append(res.Changes, fmt.Sprintf("%s: manual SAs replaced (SPIs %s)", name, spiList(m)))
		default:
			res.Added += len(m.all())
			res.Changes = append(res.Changes, fmt.Sprintf("%s: manual SAs added (SPIs %s)", name, spiList(m)))
		}
		add = append(add, m.all()...)
		merged = append(merged, m)
	}
	for _, o := range g.Manual {
		if !seen[key(o)] {
			res.Removed += len(o.all())
			del = append(del, o.all()...)
			res.Changes = append(res.Changes, fmt.Sprintf("crypto map %s %d: manual SAs removed (SPIs %s)", o.Map, o.Seq, spiList(o)))
		}
	}
	// The SAD first: if the new SAs clash with installed ones nothing has
	// changed yet. Old tables may use a deleted SA for a moment; the fast
	// path drops those packets as no_sa.
	if err := g.Engine.SAD().Update(add, del); err != nil {
		return nil, err
	}
	var notes []string
	err = g.Engine.UpdateTables(func(cur *fastpath.Tables) (*fastpath.Tables, error) {
		t := nb.Engine.Tables()
		notes = notes[:0]
		res.Unbound = 0
		for i := range t.Interfaces {
			c := t.Interfaces[i].Crypto
			if c == nil {
				continue
			}
			var bind []fastpath.Binding
			var unbind []*sad.SA
			for _, b := range c.Bindings() {
				if o, ok := repl[b.SA]; ok {
					bind = append(bind, fastpath.Binding{Rule: b.Rule, SA: o})
					unbind = append(unbind, b.SA)
				}
			}
			if oc := cur.Interfaces[i].Crypto; oc != nil {
				for _, b := range oc.Bindings() {
					if b.SA.Config().Info.Manual {
						continue
					}
					r := carryRule(oc, b, c, nb.Maps[i])
					if r < 0 {
						res.Unbound++
						notes = append(notes, fmt.Sprintf("%v: its crypto map entry or ACL line is gone: unbound, it expires with its lifetime", b.SA))
						continue
					}
					bind = append(bind, fastpath.Binding{Rule: r, SA: b.SA, Src: b.Src, Dst: b.Dst})
				}
			}
			n, err := c.WithSAs(bind, unbind)
			if err != nil {
				return nil, err
			}
			t = t.WithCryptoMap(i, n)
		}
		return t, nil
	})
	if err != nil {
		return nil, fmt.Errorf("switching tables: %w", err)
	}
	res.Changes = append(res.Changes, notes...)
	res.Kept += g.negotiatedCount()
	g.applyNeighbors(nb, res)
	res.Changes = append(res.Changes, policyChanges(g, nb)...)
	res.Restart = restartSettings(&g.Config.System, &cfg.System)
	return &Gateway{Config: cfg, Engine: g.Engine, Maps: nb.Maps, Manual: merged, Workers: g.Workers,
		Temporary: nb.Temporary, configured: nb.configured}, nil
}

// sameInterfaces checks that a reload keeps the interfaces, and gives
// interfaces without a configured MAC address (AF_XDP reads the device's)
// the address the running gateway uses.
func sameInterfaces(old, cfg *config.Config) error {
	a, b := old.System.Interfaces, cfg.System.Interfaces
	var names []string
	for _, i := range b {
		names = append(names, i.Name)
	}
	if len(a) != len(b) {
		return fmt.Errorf("interfaces changed (now %s): restart the gateway to apply", strings.Join(names, ", "))
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Driver != b[i].Driver || a[i].Device != b[i].Device {
			return fmt.Errorf("interface %d changed from %s (%s %s) to %s (%s %s): restart the gateway to apply",
				i, a[i].Name, a[i].Driver, a[i].Device, b[i].Name, b[i].Driver, b[i].Device)
		}
		if b[i].Driver == config.DriverAFXDP && b[i].MTU > a[i].MTU {
			return fmt.Errorf("interface %s: mtu %d is larger than the %d its AF_XDP buffers were sized for: restart the gateway to apply", b[i].Name, b[i].MTU, a[i].MTU)
		}
		if b[i].MAC == nil {
			b[i].MAC = a[i].MAC
		}
	}
	return nil
}

// sameManual reports whether a manual entry's SAs can stay: same SPIs,
// keys, transforms, mode, endpoints and selectors.
func sameManual(o, n *ManualSA, oldEntries, newEntries map[entryKey]*config.CompiledEntry) bool {
	if o.Peer != n.Peer || o.Local != n.Local {
		return false
	}
	os, ns := o.all(), n.all()
	if len(os) != len(ns) {
		return false
	}
	for i := range os {
		a, b := os[i].Config(), ns[i].Config()
		if a.SPI != b.SPI || a.Protocol != b.Protocol || a.Direction != b.Direction || a.Mode != b.Mode ||
			a.Transform != b.Transform || a.Local != b.Local || a.Remote != b.Remote || !slices.Equal(a.Selectors, b.Selectors) {
			return false
		}
	}
	// Keys are not kept in SAs: compare the configured ones.
	ok := oldEntries[entryKey{o.Out.Config().Info.Interface, o.Map, o.Seq}]
	nk := newEntries[entryKey{n.Out.Config().Info.Interface, n.Map, n.Seq}]
	if ok == nil || nk == nil || ok.SessionKeys == nil || nk.SessionKeys == nil {
		return false
	}
	a, b := ok.SessionKeys, nk.SessionKeys
	return sameKey(a.InboundESP, b.InboundESP) && sameKey(a.OutboundESP, b.OutboundESP) &&
		sameKey(a.InboundAH, b.InboundAH) && sameKey(a.OutboundAH, b.OutboundAH)
}

func sameKey(a, b *config.SessionKey) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.SPI == b.SPI && string(a.Cipher.Reveal()) == string(b.Cipher.Reveal()) && string(a.Auth.Reveal()) == string(b.Auth.Reveal())
}

func spiList(m *ManualSA) string {
	var s []string
	for _, sa := range m.all() {
		s = append(s, fmt.Sprintf("%s %s %d", sa.Direction(), sa.Protocol(), sa.SPI()))
	}
	return strings.Join(s, ", ")
}

// carryRule finds the permit rule of the new crypto map nc that a
// negotiated SA bound to rule b.Rule of the old map oc belongs to: a rule
// of the same crypto map entry with the same selector, of an entry that is
// still per-host exactly when the binding is. -1: none.
func carryRule(oc *fastpath.CryptoMap, b fastpath.Binding, nc *fastpath.CryptoMap, ncm *config.CompiledMap) int {
	info := b.SA.Config().Info
	sel := oc.SPD.Rule(b.Rule).Sel
	perHost := b.Src.IsValid()
	for r := range nc.SPD.Len() {
		rule := nc.SPD.Rule(r)
		e := ncm.Entries[rule.Entry]
		if rule.Permit && rule.Sel == sel && e.Map == info.Map && e.Seq == info.MapSeq && e.PerHost == perHost {
			return r
		}
	}
	return -1
}

// negotiatedCount is the number of installed SAs that are not manual.
func (g *Gateway) negotiatedCount() int {
	n := 0
	for _, sa := range g.Engine.SAD().Table().SAs() {
		if !sa.Config().Info.Manual {
			n++
		}
	}
	return n
}

// applyNeighbors applies the difference between the old and new static
// neighbours to the live table.
func (g *Gateway) applyNeighbors(nb *Gateway, res *control.ReloadResult) {
	old, err := buildNeighbors(g.Config, g.Engine.Tables().Interfaces)
	if err != nil {
		return // the running configuration built them once; cannot fail
	}
	before := map[fastpath.Neighbor]bool{}
	for _, n := range old.All() {
		before[n] = true
	}
	after := map[fastpath.Neighbor]bool{}
	for _, n := range nb.Engine.Neighbors().All() {
		after[n] = true
	}
	var add, del []fastpath.Neighbor
	for n := range after {
		if !before[n] {
			add = append(add, n)
		}
	}
	for n := range before {
		if !after[n] {
			del = append(del, n)
		}
	}
	if len(add)+len(del) == 0 {
		return
	}
	g.Engine.SetNeighbors(g.Engine.Neighbors().With(add, del))
	res.Changes = append(res.Changes, fmt.Sprintf("static neighbours: %d added or changed, %d removed", len(add), len(del)))
}

// policyChanges words what changed in the policy besides manual SAs.
func policyChanges(g, nb *Gateway) []string {
	var out []string
	a, b := g.Config.Policy, nb.Config.Policy
	for _, name := range unionNames(a.TransformSets, b.TransformSets) {
		x, y := a.TransformSets[name], b.TransformSets[name]
		switch {
		case x == nil:
			out = append(out, fmt.Sprintf("transform set %s added", name))
		case y == nil:
			out = append(out, fmt.Sprintf("transform set %s removed", name))
		case !x.Same(y):
			out = append(out, fmt.Sprintf("transform set %s changed to %s %s: applies to SAs negotiated from now on; installed SAs keep theirs (clear crypto sa to renegotiate now)", name, y.TransformText(), y.Mode))
		}
	}
	for i := range g.Maps {
		x, y := mapText(g.Maps[i]), mapText(nb.Maps[i])
		if x != y {
			out = append(out, fmt.Sprintf("interface %s: crypto map %s", g.Config.System.Interfaces[i].Name, y))
		}
	}
	if ra, rb := g.Engine.Tables().FIB.Routes(), nb.Engine.Tables().FIB.Routes(); !reflect.DeepEqual(ra, rb) {
		out = append(out, fmt.Sprintf("routes: %d now (%d before)", len(rb), len(ra)))
	}
	return out
}

// mapText summarises an interface's compiled crypto map for comparison.
func mapText(cm *config.CompiledMap) string {
	if cm == nil {
		return "none"
	}
	return fmt.Sprintf("%s (%d entries, %d ACL lines)", cm.Map, len(cm.Entries), len(cm.Rules))
}

func unionNames[V any](a, b map[string]V) []string {
	m := map[string]bool{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return slices.Sorted(maps.Keys(m))
}

// restartSettings lists the system settings that differ and that the
// running gateway cannot change.
func restartSettings(a, b *config.System) []string {
	var out []string
	if !reflect.DeepEqual(a.Dataplane, b.Dataplane) {
		out = append(out, "dataplane")
	}
	if a.Control != b.Control {
		out = append(out, "control.socket")
	}
	if a.Metrics.Listen != b.Metrics.Listen {
		out = append(out, "metrics.listen")
	}
	if a.Log.Format != b.Log.Format {
		out = append(out, "log.format")
	}
	for i := range a.Interfaces {
		x, y := a.Interfaces[i], b.Interfaces[i]
		if x.Queues != y.Queues || x.XDPMode != y.XDPMode || x.PcapIn != y.PcapIn || x.PcapOut != y.PcapOut {
			out = append(out, "interfaces."+x.Name)
		}
	}
	return out
}
