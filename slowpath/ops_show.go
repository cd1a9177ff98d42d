package slowpath

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"ipsecgw/config"
	"ipsecgw/control"
	"ipsecgw/crypto"
	"ipsecgw/fastpath"
	"ipsecgw/fastpath/sad"
	"ipsecgw/fastpath/stats"
	"ipsecgw/ike"
	"ipsecgw/ike/message"
	"ipsecgw/spd"
)

// The show commands: views of the current gateway's configuration and
// SAD, for the control socket.

// CryptoMaps implements control.Backend: show crypto map.
func (o *Ops) CryptoMaps(f control.MapFilter) ([]control.CryptoMapSet, error) {
	g := o.Gateway()
	pol := g.Config.Policy
	names := sortedNames(pol.CryptoMaps)
	if f.Interface != "" {
		pi := pol.Interfaces[f.Interface]
		switch {
		case pi == nil:
			return nil, fmt.Errorf("no interface %s", f.Interface)
		case pi.CryptoMapName == "":
			return nil, fmt.Errorf("interface %s has no crypto map", f.Interface)
		}
		names = []string{pi.CryptoMapName}
	}
	if f.Tag != "" {
		if pol.CryptoMaps[f.Tag] == nil {
			return nil, fmt.Errorf("no crypto map %s", f.Tag)
		}
		names = []string{f.Tag}
	}
	sas := g.Engine.SAD().Table().SAs()
	out := []control.CryptoMapSet{}
	for _, name := range names {
		m := pol.CryptoMaps[name]
		set := control.CryptoMapSet{Name: name, LocalAddress: m.LocalAddress, Interfaces: []string{}}
		for _, e := range m.Entries {
			set.Entries = append(set.Entries, entryView(pol, e, false, sas))
			if e.Kind == config.DynamicEntry {
				set.Entries = append(set.Entries, g.temporaryViews(pol, e, sas)...)
			}
		}
		for _, n := range sortedNames(pol.Interfaces) {
			if pol.Interfaces[n].CryptoMapName == name {
				set.Interfaces = append(set.Interfaces, n)
			}
		}
		out = append(out, set)
	}
	return out, nil
}

// temporaryViews describes the temporary entries IKE filled from the
// dynamic map that crypto map entry e includes, as IOS shows them: the
// peer, and the negotiated selectors as an unnamed access list "created
// from dynamic map".
func (g *Gateway) temporaryViews(pol *config.Policy, e *config.MapEntry, sas []*sad.SA) []control.CryptoMapEntry {
	var out []control.CryptoMapEntry
	seen := map[string]bool{}
	for _, cm := range g.Maps {
		if cm == nil || cm.Map != e.Map {
			continue
		}
		for idx, ce := range cm.Entries {
			if ce.Seq != e.Seq || !isTemporary(ce) {
				continue
			}
			acl := &control.ACL{Lines: []string{}}
			for _, r := range cm.Rules {
				if r.Entry == idx {
					l := config.ACLLine{Permit: true, Sel: r.Sel}
					acl.IPv6 = r.Sel.Src.Addr().Is6()
					acl.Lines = append(acl.Lines, l.Text(acl.IPv6))
				}
			}
			key := ce.Peers[0].String() + strings.Join(acl.Lines, ";")
			if seen[key] {
				continue // the map is applied to several interfaces
			}
			seen[key] = true
			v := entryView(pol, ce.Config, true, sas)
			v.Map, v.Seq, v.Kind = ce.Map, ce.Seq, config.ISAKMPEntry.String()
			v.Peers = []string{ce.Peers[0].String()}
			v.CurrentPeer = v.Peers[0]
			v.ACL, v.CreatedFrom = acl, fmt.Sprintf("%s/%d", ce.DynamicMap, ce.DynamicSeq)
			out = append(out, v)
		}
	}
	return out
}

// DynamicMaps implements control.Backend: show crypto dynamic-map.
func (o *Ops) DynamicMaps(f control.TagFilter) ([]control.DynamicMap, error) {
	g := o.Gateway()
	pol := g.Config.Policy
	names := sortedNames(pol.DynamicMaps)
	if f.Tag != "" {
		if pol.DynamicMaps[f.Tag] == nil {
			return nil, fmt.Errorf("no dynamic map %s", f.Tag)
		}
		names = []string{f.Tag}
	}
	sas := g.Engine.SAD().Table().SAs()
	out := []control.DynamicMap{}
	for _, name := range names {
		d := control.DynamicMap{Name: name}
		for _, e := range pol.DynamicMaps[name].Entries {
			d.Entries = append(d.Entries, entryView(pol, e, true, sas))
		}
		out = append(out, d)
	}
	return out, nil
}

// TransformSets implements control.Backend: show crypto ipsec
// transform-set.
func (o *Ops) TransformSets(f control.TagFilter) ([]control.TransformSet, error) {
	pol := o.Gateway().Config.Policy
	names := sortedNames(pol.TransformSets)
	if f.Tag != "" {
		if pol.TransformSets[f.Tag] == nil {
			return nil, fmt.Errorf("no transform set %s", f.Tag)
		}
		names = []string{f.Tag}
	}
	out := []control.TransformSet{}
	for _, n := range names {
		out = append(out, transformSetView(pol.TransformSets[n]))
	}
	return out, nil
}

// RunningConfig implements control.Backend: the live policy, keys
// redacted (the socket never carries them).
func (o *Ops) RunningConfig() (*control.RunningConfig, error) {
	return &control.RunningConfig{Text: o.Gateway().Config.Policy.Render(false)}, nil
}

func transformSetView(t *config.TransformSet) control.TransformSet {
	return control.TransformSet{Name: t.Name, Transforms: t.TransformText(), Mode: modeText(t.Mode == config.Transport)}
}

func modeText(transport bool) string {
	if transport {
		return "Transport"
	}
	return "Tunnel"
}

// entryView describes a configured crypto map or dynamic map entry.
func entryView(pol *config.Policy, e *config.MapEntry, dynamic bool, sas []*sad.SA) control.CryptoMapEntry {
	v := control.CryptoMapEntry{
		Map: e.Map, Seq: e.Seq, Kind: e.Kind.String(), Description: e.Description, Peers: []string{},
		PerHost: e.PerHost, IKEv2Profile: e.IKEv2ProfileName, ReverseRoute: e.ReverseRoute, ResponderOnly: dynamic,
		TransformSets: []control.TransformSet{},
	}
	if e.Kind == config.DynamicEntry {
		v.DynamicMap = e.Dynamic
		return v
	}
	for _, p := range e.Peers {
		v.Peers = append(v.Peers, p.String())
	}
	if a := e.ACL; a != nil {
		v.ACL = aclView(a)
	}
	for _, t := range e.TransformSets {
		v.TransformSets = append(v.TransformSets, transformSetView(t))
	}
	if len(e.Peers) > 0 {
		v.CurrentPeer = e.Peers[0].String()
	}
	for _, sa := range sas {
		info := sa.Config().Info
		if !dynamic && info.Map == e.Map && info.MapSeq == e.Seq && sa.Direction() == sad.Outbound && !sa.Dead() {
			v.CurrentPeer = sa.Remote().String()
			break
		}
	}
	if e.Kind == config.ManualEntry {
		k := &e.SessionKeys
		for _, s := range []struct {
			dir, proto string
			key        *config.SessionKey
		}{{"inbound", "esp", k.InboundESP}, {"inbound", "ah", k.InboundAH}, {"outbound", "esp", k.OutboundESP}, {"outbound", "ah", k.OutboundAH}} {
			if s.key != nil {
				v.ManualSAs = append(v.ManualSAs, control.ManualSPI{Direction: s.dir, Protocol: s.proto, SPI: s.key.SPI})
			}
		}
		return v
	}
	life, replay := resolved(pol, e)
	v.LifetimeKB, v.LifetimeSec, v.ReplayWindow = life.Kilobytes, life.Seconds, replay
	if e.PFS != 0 {
		v.PFS = e.PFS.String()
	}
	return v
}

func aclView(a *config.ACL) *control.ACL {
	v := &control.ACL{Name: a.Name, IPv6: a.IPv6, Lines: []string{}}
	for _, l := range a.Lines {
		v.Lines = append(v.Lines, l.Text(a.IPv6))
	}
	return v
}

// resolved returns the lifetime and replay window a negotiated entry's SAs
// get: the entry's setting, else the global `crypto ipsec
// security-association` one, else the default (config.CompileInterface
// applies the same rule; this serves entries of maps that are applied to
// no interface as well).
func resolved(pol *config.Policy, e *config.MapEntry) (config.Lifetime, int) {
	first := func(vs ...int64) int64 {
		for _, v := range vs {
			if v != 0 {
				return v
			}
		}
		return 0
	}
	life := config.Lifetime{
		Seconds:   first(e.Lifetime.Seconds, pol.IPsec.Lifetime.Seconds, config.DefaultLifetimeSeconds),
		Kilobytes: first(e.Lifetime.Kilobytes, pol.IPsec.Lifetime.Kilobytes, config.DefaultLifetimeKilobytes),
	}
	w := int(first(int64(e.ReplayWindow), int64(pol.IPsec.ReplayWindow), int64(pol.DefaultReplayWindow), config.DefaultReplayWindow))
	if w == config.ReplayDisabled {
		w = 0
	}
	return life, w
}

// entryKey names the compiled entry an SA came from.
type entryKey struct {
	iface, mapName string
	seq            int
}

// compiledEntries indexes the compiled entries of every applied map.
func (g *Gateway) compiledEntries() map[entryKey]*config.CompiledEntry {
	out := map[entryKey]*config.CompiledEntry{}
	for _, cm := range g.Maps {
		if cm == nil {
			continue
		}
		for _, e := range cm.Entries {
			k := entryKey{cm.Interface, e.Map, e.Seq}
			if out[k] == nil { // a map's dynamic entries share its seq: the first stands for them
				out[k] = e
			}
		}
	}
	return out
}

// ikeChildren indexes the CHILD_SAs IKEv2 and the IPsec SAs IKEv1 know by
// their SPIs, for the lifetimes show prints.
func (o *Ops) ikeChildren() map[uint32]*ike.ChildSA {
	out := map[uint32]*ike.ChildSA{}
	add := func(c *ike.ChildSA) { out[c.InSPI], out[c.OutSPI] = c, c }
	if o.cfg.IKE != nil {
		for _, sa := range o.cfg.IKE.SAs() {
			for i := range sa.Children {
				add(&sa.Children[i])
			}
		}
	}
	if o.cfg.ISAKMP != nil {
		v1 := o.cfg.ISAKMP.IPsecSAs()
		for i := range v1 {
			add(&v1[i])
		}
	}
	return out
}

// flowKey groups the SAs of one flow: one entry, one peer, one set of
// selectors.
type flowKey struct {
	entryKey
	local, remote netip.Addr
	sels          string
}

// IPsecSAs implements control.Backend: show crypto ipsec sa.
func (o *Ops) IPsecSAs(f control.SAFilter) ([]control.SAFlow, error) {
	var peer netip.Addr
	if f.Peer != "" {
		var err error
		if peer, err = netip.ParseAddr(f.Peer); err != nil {
			return nil, fmt.Errorf("peer %q: not an IP address", f.Peer)
		}
	}
	g := o.Gateway()
	if f.Map != "" && g.Config.Policy.CryptoMaps[f.Map] == nil {
		return nil, fmt.Errorf("no crypto map %s", f.Map)
	}
	now := time.Now()
	sas := g.Engine.SAD().Table().SAs()
	ids, _ := o.ledger.observe(sas)
	entries := g.compiledEntries()
	children := o.ikeChildren()
	tables := g.Engine.Tables()

	flows := map[flowKey]*control.SAFlow{}
	var order []flowKey
	newest := map[flowKey]*sad.SA{}
	for k, sa := range sas {
		c := sa.Config()
		if peer.IsValid() && sa.Remote() != peer || f.Map != "" && c.Info.Map != f.Map {
			continue
		}
		key := flowKey{entryKey{c.Info.Interface, c.Info.Map, c.Info.MapSeq}, sa.Local(), sa.Remote(), fmt.Sprint(c.Selectors)}
		fl := flows[key]
		if fl == nil {
			fl = newFlow(sa, tables.Interfaces, tables.Interface(c.Info.Interface))
			flows[key] = fl
			order = append(order, key)
		}
		entry := entries[key.entryKey]
		child := children[sa.SPI()]
		view := saView(sa, ids[k], now, entry, child)
		st := sa.Stats(now)
		if sa.Direction() == sad.Outbound {
			fl.Outbound = append(fl.Outbound, view)
			fl.SendErrors += st.Drops.Total()
			addDrops(fl.SendDrops, view.Drops)
			if sa.Inner() == nil {
				countFlow(sa, st, &fl.Encaps, &fl.Encrypt, &fl.Digest, &fl.BytesOut)
				if n := newest[key]; !sa.Dead() && (n == nil || sa.Created().After(n.Created())) {
					newest[key] = sa
				}
			}
		} else {
			fl.Inbound = append(fl.Inbound, view)
			fl.RecvErrors += st.Drops.Total()
			addDrops(fl.RecvDrops, view.Drops)
			if sa.Inner() == nil {
				countFlow(sa, st, &fl.Decaps, &fl.Decrypt, &fl.Verify, &fl.BytesIn)
			}
		}
		switch {
		case child != nil:
			fl.PFS, fl.DHGroup = child.PFS != 0, pfsGroup(int(child.PFS))
		case entry != nil && !c.Info.Manual:
			fl.PFS, fl.DHGroup = entry.PFS != 0, pfsGroup(int(entry.PFS))
		}
	}
	out := make([]control.SAFlow, 0, len(order))
	for _, key := range order {
		fl := flows[key]
		if sa := newest[key]; sa != nil {
			fl.CurrentSPI = sa.SPI()
			fl.PlaintextMTU = fl.PathMTU - sa.Overhead()
		}
		// Outbound SAs show the replay setting of their flow's inbound
		// side, which is where replay is detected.
		for _, in := range fl.Inbound {
			for i := range fl.Outbound {
				fl.Outbound[i].ReplayWindow = max(fl.Outbound[i].ReplayWindow, in.ReplayWindow)
			}
		}
		out = append(out, *fl)
	}
	slices.SortStableFunc(out, func(a, b control.SAFlow) int {
		return cmp.Or(cmp.Compare(a.Interface, b.Interface), cmp.Compare(a.Map, b.Map), cmp.Compare(a.Seq, b.Seq), cmp.Compare(a.RemoteAddr, b.RemoteAddr))
	})
	return out, nil
}

// newFlow starts the view of the flow sa belongs to.
func newFlow(sa *sad.SA, ifs []fastpath.Interface, iface int) *control.SAFlow {
	c := sa.Config()
	fl := &control.SAFlow{
		Interface: c.Info.Interface, Map: c.Info.Map, Seq: c.Info.MapSeq, Manual: c.Info.Manual,
		Peer: sa.Remote().String(), PeerPort: 500, LocalAddr: sa.Local().String(), RemoteAddr: sa.Remote().String(),
		MTUInterface: c.Info.Interface, DHGroup: "none", Idents: []control.IdentPair{},
		SendDrops: zeroDrops(), RecvDrops: zeroDrops(), Inbound: []control.SA{}, Outbound: []control.SA{},
	}
	if on, _, remote := sa.UDPEncap(); on {
		fl.PeerPort = int(remote)
	}
	if iface >= 0 {
		fl.PathMTU = ifs[iface].MTU
		fl.PlaintextMTU = fl.PathMTU - sa.Overhead()
	}
	sels := sa.Selectors()
	if len(sels) == 0 {
		any := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		if sa.Local().Is6() {
			any = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
		sels = []spd.Selector{{Src: any, Dst: any}}
	}
	for _, s := range sels {
		fl.Idents = append(fl.Idents, control.IdentPair{
			Local:  ident(s.Src, s.Proto, s.SrcPorts),
			Remote: ident(s.Dst, s.Proto, s.DstPorts),
		})
	}
	return fl
}

// ident renders one side of a selector as IOS's addr/mask/prot/port.
func ident(p netip.Prefix, proto uint8, ports spd.PortMatch) control.Ident {
	id := control.Ident{Addr: p.Masked().Addr().String(), Proto: proto, Port: portText(ports)}
	if p.Addr().Is4() {
		id.Mask = net.IP(net.CIDRMask(p.Bits(), 32)).String()
	} else {
		id.Mask = strconv.Itoa(p.Bits())
	}
	return id
}

func portText(p spd.PortMatch) string {
	switch {
	case p.Any():
		return "0"
	case p.Negate:
		return "!" + portRange(p)
	}
	return portRange(p)
}

func portRange(p spd.PortMatch) string {
	if p.Lo == p.Hi {
		return strconv.Itoa(int(p.Lo))
	}
	return fmt.Sprintf("%d-%d", p.Lo, p.Hi)
}

// countFlow adds an SA's packets to a flow's encaps/encrypt/digest (or
// decaps/decrypt/verify) counters: every packet is encapsulated; those of
// an ESP SA with a cipher are encrypted; those with integrity (an
// authenticator, a combined-mode cipher, or AH) are digested.
func countFlow(sa *sad.SA, st sad.Stats, caps, crypt, digest, bytes *uint64) {
	*caps += st.Packets
	*bytes += st.Bytes
	t := sa.Config().Transform
	if sa.Protocol() == sad.ESP && t.Cipher != crypto.CipherNull {
		*crypt += st.Packets
	}
	if t.Integ != crypto.IntegNone || t.Cipher.AEAD() || sa.Protocol() == sad.AH || sa.Outer() != nil {
		*digest += st.Packets
	}
}

// saView describes one SA; entry and child, when known, give the time
// lifetime a negotiated SA has.
func saView(sa *sad.SA, id int, now time.Time, entry *config.CompiledEntry, child *ike.ChildSA) control.SA {
	st := sa.Stats(now)
	c := sa.Config()
	v := control.SA{
		Protocol: sa.Protocol().String(), SPI: sa.SPI(), Transform: transformText(sa),
		Mode: modeText(sa.Mode() == sad.Transport), ConnID: id, RemainingKB: -1, RemainingSec: -1,
		Status: "ACTIVE", Packets: st.Packets, Bytes: st.Bytes, SeqNumber: st.Seq,
		AgeSeconds: int64(st.AgeSeconds), Expired: st.Expired.String(), Drops: allReasons(&st.Drops),
	}
	v.UDPEncap, _, _ = sa.UDPEncap()
	if w := sa.Window(); w != nil {
		v.ReplayWindow = w.Size()
		v.SeqNumber = st.ReplayTop
	}
	if hard := sa.Lifetime().HardBytes; hard > 0 {
		v.RemainingKB = int64((hard - min(hard, st.UsedBytes)) / 1024)
	}
	var life time.Duration
	switch {
	case child != nil:
		life = child.HardSeconds
	case !c.Info.Manual && entry != nil:
		life = time.Duration(entry.Lifetime.Seconds) * time.Second
	}
	if life > 0 {
		v.RemainingSec = int64(max(0, life-sa.Age(now)) / time.Second)
	}
	switch {
	case st.Dead:
		v.Status = "DELETED"
	case st.Expired&sad.HardExpired != 0:
		v.Status = "EXPIRED"
	}
	return v
}

// transformText names an SA's transform as a transform set would:
// "esp-gcm 128", "esp-aes 256 esp-sha256-hmac", "ah-sha256-hmac".
func transformText(sa *sad.SA) string {
	t := sa.Config().Transform
	if sa.Protocol() == sad.AH {
		return (&config.TransformSet{AH: t.Integ}).TransformText()
	}
	return (&config.TransformSet{ESP: t}).TransformText()
}

func pfsGroup(g int) string {
	if g == 0 {
		return "none"
	}
	return fmt.Sprintf("group%d", g)
}

func zeroDrops() map[string]uint64 {
	var d stats.Drops
	return allReasons(&d)
}

func addDrops(dst, src map[string]uint64) {
	for r, v := range src {
		dst[r] += v
	}
}

// IKEv2SAs implements control.Backend: show crypto ikev2 sa.
func (o *Ops) IKEv2SAs() ([]control.IKEv2SA, error) {
	out := []control.IKEv2SA{}
	if o.cfg.IKE == nil {
		return out, nil
	}
	g := o.Gateway()
	now := time.Now()
	for _, sa := range o.cfg.IKE.SAs() {
		v := control.IKEv2SA{
			TunnelID: sa.ID, Local: addrPortText(sa.Local), Remote: addrPortText(sa.Remote),
			Status: ikeStatus(sa.State), State: sa.State, Role: "Responder",
			Encr: ikeCipherText(sa.Suite.Cipher), KeySize: sa.Suite.KeyBits, PRF: strings.ToUpper(sa.Suite.PRF.String()),
			DHGroup: int(sa.Suite.DH), AuthSign: "PSK", AuthVerify: "PSK",
			LifeSec: int64(ikeLifetime(g.Config.Policy, sa.Remote.Addr()).Seconds()),
			SPIi:    fmt.Sprintf("%016X", sa.SPIi), SPIr: fmt.Sprintf("%016X", sa.SPIr),
			LocalID: sa.LocalID, RemoteID: sa.RemoteID, NATLocal: sa.NATLocal, NATRemote: sa.NATRemote,
			ChildSAs: []control.ChildSARef{},
		}
		if sa.Initiator {
			v.Role = "Initiator"
		}
		if sa.Suite.Integ != crypto.IntegNone {
			v.Hash = strings.ToUpper(sa.Suite.Integ.String())
		}
		if !sa.Established.IsZero() {
			v.ActiveSec = int64(now.Sub(sa.Established).Seconds())
		}
		for _, c := range sa.Children {
			ref := control.ChildSARef{Map: c.Map, Seq: c.Seq, Protocol: protoName(c.Protocol), InSPI: c.InSPI, OutSPI: c.OutSPI,
				Transform: childTransformText(&c), LocalTS: []string{}, RemoteTS: []string{}}
			for _, t := range c.LocalTS {
				ref.LocalTS = append(ref.LocalTS, t.String())
			}
			for _, t := range c.RemoteTS {
				ref.RemoteTS = append(ref.RemoteTS, t.String())
			}
			v.ChildSAs = append(v.ChildSAs, ref)
		}
		out = append(out, v)
	}
	return out, nil
}

// ISAKMPSAs implements control.Backend: show crypto isakmp sa.
func (o *Ops) ISAKMPSAs() ([]control.ISAKMPSA, error) {
	if o.cfg.ISAKMP == nil {
		return []control.ISAKMPSA{}, nil
	}
	return o.cfg.ISAKMP.ISAKMPSAs(), nil
}

func addrPortText(a netip.AddrPort) string { return fmt.Sprintf("%s/%d", a.Addr(), a.Port()) }

// ikeStatus maps the engine's IKE SA states to IOS's status words.
func ikeStatus(state string) string {
	switch state {
	case "ESTABLISHED":
		return "READY"
	case "CONNECTING":
		return "IN-NEG"
	}
	return "DELETE"
}

func ikeCipherText(c crypto.Cipher) string {
	switch c {
	case crypto.CipherAESCBC:
		return "AES-CBC"
	case crypto.CipherAESGCM16:
		return "AES-GCM"
	}
	return strings.ToUpper(c.String())
}

func protoName(p message.ProtocolID) string {
	if p == message.ProtoAH {
		return "ah"
	}
	return "esp"
}

func childTransformText(c *ike.ChildSA) string {
	if c.Protocol == message.ProtoAH {
		return (&config.TransformSet{AH: c.Transform.Integ}).TransformText()
	}
	return (&config.TransformSet{ESP: c.Transform}).TransformText()
}

// ikeLifetime is the IKE SA lifetime configured for a peer: the IKEv2
// profile of the first crypto map entry naming it, else the default.
func ikeLifetime(pol *config.Policy, peer netip.Addr) time.Duration {
	for _, name := range sortedNames(pol.CryptoMaps) {
		for _, e := range pol.CryptoMaps[name].Entries {
			if e.IKEv2Profile != nil && e.IKEv2Profile.Lifetime != 0 && slices.Contains(e.Peers, peer) {
				return time.Duration(e.IKEv2Profile.Lifetime) * time.Second
			}
		}
	}
	return config.DefaultIKEv2Lifetime * time.Second
}
