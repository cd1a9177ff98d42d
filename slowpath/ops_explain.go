package slowpath

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"ipsecgw/config"
	"ipsecgw/control"
	"ipsecgw/fastpath"
	"ipsecgw/fastpath/sad"
	"ipsecgw/ike"
	"ipsecgw/spd"
)

// The packet tracer: explain walks one packet through the same tables the
// fast path uses (FIB, the compiled SPD of each crypto map, the SA
// bindings), in the fast path's order (see package fastpath: unprotected
// check, ip-lookup, local-input or forward, crypto map, protect), and says
// at each step what matched and why.

// Explain implements control.Backend: the packet tracer on the running
// gateway, with its installed SAs and IKE's state.
func (o *Ops) Explain(r control.ExplainRequest) (*control.Explanation, error) {
	var peer *config.Config
	if r.PeerConfig != "" {
		var err error
		if peer, err = loadPeerConfig(r.PeerConfig); err != nil {
			return nil, err
		}
	}
	return o.Gateway().explain(r, peer, o.cfg.IKE, o.cfg.ISAKMP, true)
}

// ExplainConfig traces a packet through configuration cfg alone, without a
// running gateway (explain -c FILE): SAs are those the configuration
// defines (manual ones). peer, if not nil, is the peer gateway's
// configuration, to say why a tunnel to it cannot come up.
func ExplainConfig(cfg, peer *config.Config, r control.ExplainRequest) (*control.Explanation, error) {
	// Interfaces whose MAC address comes from the device (AF_XDP) get a
	// placeholder: explain does not send anything.
	c := *cfg
	c.System.Interfaces = make([]*config.SysInterface, len(cfg.System.Interfaces))
	for i, si := range cfg.System.Interfaces {
		s := *si
		if s.MAC == nil {
			s.MAC = net.HardwareAddr{0x02, 0, 0, 0, 0, byte(i + 1)}
		}
		c.System.Interfaces[i] = &s
	}
	g, err := Build(&c, 1)
	if err != nil {
		return nil, err
	}
	return g.explain(r, peer, nil, nil, false)
}

func loadPeerConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if cfg == nil {
		return nil, err
	}
	if cfg.Diags.Errors() > 0 {
		return nil, fmt.Errorf("peer configuration %s has errors (ipsecgw config check %s)", path, path)
	}
	return cfg, nil
}

// tracer holds one trace in progress.
type tracer struct {
	g      *Gateway
	t      *fastpath.Tables
	peer   *config.Config
	ike    IKE
	isakmp ISAKMP
	live   bool
	x      *control.Explanation
}

func (tr *tracer) phase(name, result string, detail ...string) {
	tr.x.Phases = append(tr.x.Phases, control.Phase{Name: name, Result: result, Detail: detail})
}

func (tr *tracer) done(action, verdict string) *control.Explanation {
	tr.x.Action, tr.x.Verdict = action, verdict
	return tr.x
}

func (g *Gateway) explain(r control.ExplainRequest, peer *config.Config, ikeSrc IKE, isakmp ISAKMP, live bool) (*control.Explanation, error) {
	t := g.Engine.Tables()
	in := t.Interface(r.In)
	if in < 0 {
		var names []string
		for _, i := range t.Interfaces {
			names = append(names, i.Name)
		}
		return nil, fmt.Errorf("no interface %s (the gateway's interfaces: %s)", r.In, strings.Join(names, ", "))
	}
	src, err1 := netip.ParseAddr(r.Src)
	dst, err2 := netip.ParseAddr(r.Dst)
	switch {
	case err1 != nil:
		return nil, fmt.Errorf("source %q: not an IP address", r.Src)
	case err2 != nil:
		return nil, fmt.Errorf("destination %q: not an IP address", r.Dst)
	case src.Is4() != dst.Is4():
		return nil, fmt.Errorf("source %s and destination %s are of different address families", src, dst)
	}
	f := spd.Flow{Src: src.Unmap(), Dst: dst.Unmap(), Proto: r.Proto, SrcPort: r.SrcPort, DstPort: r.DstPort}
	tr := &tracer{g: g, t: t, peer: peer, ike: ikeSrc, isakmp: isakmp, live: live, x: &control.Explanation{Packet: flowText(&f) + " arriving on " + r.In, Live: live}}

	inIf := &t.Interfaces[in]
	rt := t.FIB.Lookup(f.Dst)
	local := rt != nil && rt.Kind == fastpath.RouteLocal
	if inIf.Crypto == nil {
		tr.phase("INPUT", "ALLOW", fmt.Sprintf("interface %s has no crypto map: no check for unprotected traffic", r.In))
	} else if local && ipsecOrIKE(&f) {
		tr.phase("INPUT", "ALLOW", fmt.Sprintf("interface %s has crypto map %s; IPsec and IKE addressed to the gateway are what protected traffic looks like", r.In, inIf.Crypto.Name))
	} else {
		rev := f.Reverse()
		if rule := inIf.Crypto.SPD.Lookup(&rev); rule != spd.NoMatch {
			e := tr.entry(in, rule)
			tr.phase("INPUT", "DROP", fmt.Sprintf("interface %s has crypto map %s, and the packet's reverse matches %s", r.In, inIf.Crypto.Name, entryLine(e)))
			return tr.done(control.ActionDropUnprotected, fmt.Sprintf(
				"dropped as unprotected: %s says this traffic must arrive encrypted from its peer; cleartext of it is dropped (counter unprotected)", entryName(e))), nil
		}
		tr.phase("INPUT", "ALLOW", fmt.Sprintf("interface %s has crypto map %s; no permit line covers the packet's reverse, so it may arrive in the clear", r.In, inIf.Crypto.Name))
	}

	switch {
	case f.Dst.IsMulticast() || f.Dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || local:
		tr.phase("ROUTE-LOOKUP", "LOCAL", localText(&f, rt))
		return tr.done(control.ActionLocal, tr.localVerdict(&f)), nil
	case rt == nil:
		tr.phase("ROUTE-LOOKUP", "DROP", fmt.Sprintf("no route to %s", f.Dst))
		return tr.done(control.ActionDropNoRoute, fmt.Sprintf("dropped: no route to %s (counter no_route)", f.Dst)), nil
	}
	out := rt.Iface
	outIf := &t.Interfaces[out]
	tr.phase("ROUTE-LOOKUP", "ALLOW", fmt.Sprintf("%s: %s", f.Dst, routeText(rt, outIf)))
	cm := outIf.Crypto
	if cm == nil {
		tr.phase("CRYPTO-MAP", "BYPASS", fmt.Sprintf("interface %s has no crypto map", outIf.Name))
		return tr.done(control.ActionBypass, fmt.Sprintf("forwarded in the clear out %s", outIf.Name)), nil
	}
	rule := cm.SPD.Lookup(&f)
	if rule == spd.NoMatch {
		detail := []string{fmt.Sprintf("no entry of crypto map %s permits the packet", cm.Name)}
		detail = append(detail, tr.denied(out, &f)...)
		tr.phase("CRYPTO-MAP", "BYPASS", detail...)
		return tr.done(control.ActionBypass, fmt.Sprintf("forwarded in the clear out %s: crypto map %s does not protect it", outIf.Name, cm.Name)), nil
	}
	e := tr.entry(out, rule)
	tr.x.Entry = e
	tr.phase("CRYPTO-MAP", "PROTECT", "matches "+entryLine(e))
	ce := g.Maps[out].EntryFor(rule)
	if sa := boundSA(cm, rule, &f); sa != nil {
		return tr.protect(sa, ce), nil
	}
	switch ce.Kind {
	case config.ManualEntry:
		tr.phase("IPSEC-SA", "DROP", "no SA is bound to this manual entry")
		return tr.done(control.ActionDropNoSA, fmt.Sprintf("dropped: %s has no installed SA (counter no_sa); check its set session-key lines", entryName(e))), nil
	case config.DynamicEntry:
		peers := "any peer"
		if len(ce.Peers) > 0 {
			peers = addrsText(ce.Peers)
		}
		tr.phase("IPSEC-SA", "DROP", "no SA carries the packet", fmt.Sprintf("dynamic map %s %d only answers negotiations; it never starts one", ce.DynamicMap, ce.DynamicSeq))
		tr.x.Problems = append(tr.x.Problems, tr.negotiationProblems(ce, out)...)
		return tr.done(control.ActionDropNoSA, fmt.Sprintf("dropped (counter no_sa) until %s initiates an SA for this traffic", peers)), nil
	}
	tr.x.Proposal = proposal(ce, g.Maps[out].Rules[rule].Sel, &f)
	tr.phase("IPSEC-SA", "DROP", "no SA carries the packet yet: the fast path asks IKE for one (ACQUIRE) and drops the packet (counter no_sa)")
	tr.x.Problems = append(tr.x.Problems, tr.negotiationProblems(ce, out)...)
	verdict := "dropped while IKE negotiates an SA with " + addrsText(ce.Peers) + "; later packets are protected once it is up"
	if len(tr.x.Problems) > 0 {
		verdict = "dropped: IKE is asked for an SA but, as things stand, cannot bring one up (see below)"
	}
	return tr.done(control.ActionNegotiate, verdict), nil
}

// protect finishes a trace whose packet an installed SA carries.
func (tr *tracer) protect(sa *sad.SA, ce *config.CompiledEntry) *control.Explanation {
	c := sa.Config()
	tr.x.SA = &control.ExplainSA{
		Direction: sa.Direction().String(), Protocol: sa.Protocol().String(), SPI: sa.SPI(), Transform: transformText(sa),
		Mode: modeText(sa.Mode() == sad.Transport), Local: sa.Local().String(), Peer: sa.Remote().String(),
		Manual: c.Info.Manual, Packets: sa.Counters().Packets,
	}
	detail := fmt.Sprintf("outbound %s SA spi %s to %s, %s, %s", sa.Protocol(), control.SPIText(sa.SPI()), sa.Remote(), transformText(sa), strings.ToLower(tr.x.SA.Mode))
	if tr.live {
		detail += fmt.Sprintf(", %d packets so far", tr.x.SA.Packets)
	}
	prt := tr.t.FIB.Lookup(sa.Remote())
	if prt == nil || prt.Kind == fastpath.RouteLocal {
		tr.phase("IPSEC-SA", "DROP", detail, fmt.Sprintf("no route to the peer %s", sa.Remote()))
		return tr.done(control.ActionDropNoRoute, fmt.Sprintf("dropped: the SA's peer %s has no route (counter no_route)", sa.Remote()))
	}
	kind := "negotiated"
	if c.Info.Manual {
		kind = "manual"
	}
	tr.phase("IPSEC-SA", "PROTECT", detail, fmt.Sprintf("%s SA of %s; the protected packet to %s takes %s", kind, ce.Name(), sa.Remote(), routeText(prt, &tr.t.Interfaces[prt.Iface])))
	return tr.done(control.ActionProtect, fmt.Sprintf("protected by %s SA spi %s and sent to %s", sa.Protocol(), control.SPIText(sa.SPI()), sa.Remote()))
}

// boundSA finds the SA the fast path would use for flow f under permit
// rule r of crypto map c: per-host by the host pair, else the first bound
// SA whose selectors cover the flow (CryptoMap's own rule).
func boundSA(c *fastpath.CryptoMap, r int, f *spd.Flow) *sad.SA {
	for _, b := range c.Bindings() {
		if b.Rule != r || b.SA.Dead() {
			continue
		}
		if b.Src.IsValid() {
			if b.Src == f.Src && b.Dst == f.Dst {
				return b.SA
			}
			continue
		}
		sels := b.SA.Selectors()
		if len(sels) == 0 || slices.ContainsFunc(sels, func(s spd.Selector) bool { return s.Match(f) }) {
			return b.SA
		}
	}
	return nil
}

// entry describes rule r of interface i's crypto map.
func (tr *tracer) entry(i, r int) *control.ExplainEntry {
	cm := tr.g.Maps[i]
	rule := cm.Rules[r]
	ce := cm.Entries[rule.Entry]
	e := &control.ExplainEntry{Interface: cm.Interface, Map: ce.Map, Seq: ce.Seq, Kind: ce.Kind.String(),
		DynamicMap: ce.DynamicMap, DynamicSeq: ce.DynamicSeq, Line: rule.Line}
	if ce.ACL != nil {
		e.ACL = ce.ACL.Name
		for _, l := range ce.ACL.Lines {
			if l.Line == rule.Line {
				e.LineText = l.Text(ce.ACL.IPv6)
			}
		}
	}
	return e
}

func entryName(e *control.ExplainEntry) string {
	s := fmt.Sprintf("crypto map %s %d (%s)", e.Map, e.Seq, e.Kind)
	if e.DynamicMap != "" {
		s = fmt.Sprintf("crypto map %s %d (dynamic-map %s %d)", e.Map, e.Seq, e.DynamicMap, e.DynamicSeq)
	}
	return s
}

func entryLine(e *control.ExplainEntry) string {
	return fmt.Sprintf("%s, access-list %s line %d: %s", entryName(e), e.ACL, e.Line, e.LineText)
}

// denied lists, for a packet no entry permits, the entries whose ACL
// denied it (a deny line hands it on to the next entry).
func (tr *tracer) denied(i int, f *spd.Flow) []string {
	cm := tr.g.Maps[i]
	var out []string
	decided := map[int]bool{}
	for r, rule := range cm.Rules {
		if decided[rule.Entry] || !rule.Sel.Match(f) {
			continue
		}
		decided[rule.Entry] = true
		e := tr.entry(i, r)
		out = append(out, fmt.Sprintf("%s denies it: %s", entryName(e), fmt.Sprintf("access-list %s line %d: %s", e.ACL, e.Line, e.LineText)))
	}
	return out
}

// proposal is what IKE would request for flow f under permit line sel of
// entry ce: the line itself, or the host pair for per-host entries.
func proposal(ce *config.CompiledEntry, sel spd.Selector, f *spd.Flow) *control.Proposal {
	p := &control.Proposal{IKE: "IKEv1 (crypto isakmp policies and keys)", LifetimeKB: ce.Lifetime.Kilobytes, LifetimeSec: ce.Lifetime.Seconds}
	if ce.IKEv2Profile != nil {
		p.IKE = "IKEv2 (ikev2 profile " + ce.IKEv2Profile.Name + ")"
	}
	for _, a := range ce.Peers {
		p.Peers = append(p.Peers, a.String())
	}
	for _, t := range ce.TransformSets {
		p.TransformSets = append(p.TransformSets, transformSetView(t))
	}
	if ce.PerHost {
		sel.Src = netip.PrefixFrom(f.Src, f.Src.BitLen())
		sel.Dst = netip.PrefixFrom(f.Dst, f.Dst.BitLen())
	}
	p.Local = ident(sel.Src, sel.Proto, sel.SrcPorts)
	p.Remote = ident(sel.Dst, sel.Proto, sel.DstPorts)
	if ce.PFS != 0 {
		p.PFS = ce.PFS.String()
	}
	return p
}

// negotiationProblems says, in plain words, what stands in the way of the
// SAs of entry ce (on interface i): what one configuration shows (routes to
// the peers, local addresses, IKE keys and profiles), what the running IKE
// knows, and, given the peer's configuration, what config.PeerCheck finds.
func (tr *tracer) negotiationProblems(ce *config.CompiledEntry, i int) []string {
	var out []string
	pol := tr.g.Config.Policy
	cm := tr.g.Maps[i]
	for _, peer := range ce.Peers {
		if !cm.LocalFor(peer).IsValid() {
			out = append(out, fmt.Sprintf("crypto map %s on %s has no local address of peer %s's address family", cm.Map, cm.Interface, peer))
		}
		switch rt := tr.t.FIB.Lookup(peer); {
		case rt == nil:
			out = append(out, fmt.Sprintf("no route to peer %s", peer))
		case rt.Kind == fastpath.RouteLocal:
			out = append(out, fmt.Sprintf("peer %s is an address of this gateway", peer))
		}
		if p := ce.IKEv2Profile; p != nil {
			if !p.MatchesRemote(peer) {
				out = append(out, fmt.Sprintf("ikev2 profile %s does not match peer %s (match identity remote %s): the peer is not named", p.Name, peer, prefixList(p.MatchRemote)))
			}
			switch {
			case p.Keyring == nil:
				out = append(out, fmt.Sprintf("ikev2 profile %s has no keyring: no pre-shared key to authenticate with", p.Name))
			case p.Keyring.Peer(peer) == nil:
				out = append(out, fmt.Sprintf("keyring %s has no peer block covering %s: no pre-shared key for it", p.Keyring.Name, peer))
			}
		} else if ce.Kind == config.ISAKMPEntry {
			if len(pol.ISAKMP.Policies) == 0 {
				out = append(out, "no crypto isakmp policy: IKEv1 has nothing to propose (the IOS default uses rsa-sig, which ipsecgw does not support)")
			}
			if pol.ISAKMPKeyFor(peer) == nil {
				out = append(out, fmt.Sprintf("no crypto isakmp key for peer %s", peer))
			}
		}
	}
	if tr.live {
		out = append(out, tr.ikeState(ce)...)
	}
	if tr.peer != nil {
		out = append(out, tr.peerCheck(ce)...)
	}
	return out
}

// ikeState says what the running key exchange has with the entry's peers.
func (tr *tracer) ikeState(ce *config.CompiledEntry) []string {
	if ce.Kind != config.ISAKMPEntry {
		return nil
	}
	if ce.IKEv2Profile == nil {
		return tr.isakmpState(ce)
	}
	if tr.ike == nil {
		return []string{"IKE is not running on this gateway: ipsec-isakmp entries get no SAs"}
	}
	var out []string
	for _, peer := range ce.Peers {
		state := ""
		for _, sa := range tr.ike.SAs() {
			if sa.Remote.Addr() == peer {
				state = sa.State
				if state == "ESTABLISHED" {
					break
				}
			}
		}
		if f := lastFailure(tr.ike, ce, peer, false); f != nil {
			out = append(out, failureText(f, time.Now()))
		}
		switch state {
		case "":
			out = append(out, fmt.Sprintf("no IKE SA with %s yet (debug crypto ikev2 shows the negotiation)", peer))
		case "ESTABLISHED":
			out = append(out, fmt.Sprintf("the IKE SA with %s is up but no CHILD_SA carries this flow: if the peer refused it, debug crypto ikev2 shows why (TS_UNACCEPTABLE: the ACLs are not mirror images; NO_PROPOSAL_CHOSEN: no common transform set)", peer))
		default:
			out = append(out, fmt.Sprintf("the IKE SA with %s is %s", peer, strings.ToLower(state)))
		}
	}
	return out
}

// isakmpState says what IKEv1 has with the peers of entry ce (no IKEv2
// profile).
func (tr *tracer) isakmpState(ce *config.CompiledEntry) []string {
	if tr.isakmp == nil {
		return []string{"IKEv1 is not running on this gateway: entries without set ikev2-profile get no SAs"}
	}
	sas := tr.isakmp.ISAKMPSAs()
	var out []string
	for _, peer := range ce.Peers {
		state := ""
		for _, sa := range sas {
			if sa.Dst == peer.String() && (state == "" || sa.State == "QM_IDLE") {
				state = sa.State
			}
		}
		if tr.ike != nil {
			if f := lastFailure(tr.ike, ce, peer, true); f != nil {
				out = append(out, failureText(f, time.Now()))
			}
		}
		switch state {
		case "":
			out = append(out, fmt.Sprintf("no ISAKMP SA with %s yet (debug crypto isakmp shows the negotiation)", peer))
		case "QM_IDLE":
			out = append(out, fmt.Sprintf("the ISAKMP SA with %s is up (QM_IDLE) but no IPsec SA carries this flow: if the peer refused quick mode, debug crypto isakmp shows why (proxy identities not mirror images, no common transform set)", peer))
		default:
			out = append(out, fmt.Sprintf("the ISAKMP SA with %s is in %s (main mode not finished)", peer, state))
		}
	}
	return out
}

// lastFailure is the newest failed negotiation with peer for entry ce (or
// for its IKE SA, before an entry was chosen), by the IKEv1 engine when
// ikev1 is set, else by IKEv2's: a failure of one version says nothing of
// an entry the other negotiates.
func lastFailure(e IKE, ce *config.CompiledEntry, peer netip.Addr, ikev1 bool) *ike.Failure {
	last, _ := e.Failures() // newest first
	for i := range last {
		if f := &last[i]; f.Remote == peer && f.IKEv1 == ikev1 && (f.Child == "" || f.Child == ce.Name()) {
			return f
		}
	}
	return nil
}

// failureText says in plain words how and when a negotiation failed, e.g.
// "last attempt failed 12s ago: NO_PROPOSAL_CHOSEN from 192.0.2.2 (no
// common transform set or IKE proposal)".
func failureText(f *ike.Failure, now time.Time) string {
	ago := now.Sub(f.At).Round(time.Second)
	var who string
	switch {
	case f.Code == ike.CodeTimeout:
		who = fmt.Sprintf("TIMEOUT: %s did not answer", f.Remote)
	case f.ByPeer:
		who = fmt.Sprintf("%s from %s", f.Code, f.Remote)
	default:
		who = fmt.Sprintf("%s: this gateway refused %s", f.Code, f.Remote)
	}
	kind := "CHILD_SA" // IOS's words for each version's SAs
	switch {
	case f.IKEv1 && f.SA == ike.FailureIKE:
		kind = "ISAKMP SA"
	case f.IKEv1:
		kind = "IPsec SA"
	case f.SA == ike.FailureIKE:
		kind = "IKE SA"
	}
	s := fmt.Sprintf("last attempt (%s) failed %s ago: %s", kind, ago, who)
	if why := failureMeaning[f.Code]; why != "" {
		s += " (" + why + ")"
	}
	return s + ": " + f.Detail
}

// failureMeaning explains the codes an operator meets most.
var failureMeaning = map[string]string{
	"NO_PROPOSAL_CHOSEN":     "no common transform set or IKE proposal",
	"TS_UNACCEPTABLE":        "the crypto ACLs are not mirror images",
	"INVALID_ID_INFORMATION": "the crypto ACLs are not mirror images (IKEv1 proxy identities)",
	"AUTHENTICATION_FAILED":  "the pre-shared keys differ or the identity is not the one the profile matches",
	"INVALID_KE_PAYLOAD":     "the PFS groups differ",
	ike.CodeTimeout:          "the peer is down, unreachable, or drops IKE",
}

// peerCheck plays the negotiation against the peer's configuration and
// returns why the entry's SAs fail, if they do.
func (tr *tracer) peerCheck(ce *config.CompiledEntry) []string {
	rep, err := config.PeerCheck(tr.g.Config, tr.peer)
	if err != nil {
		return []string{"peer check: " + err.Error()}
	}
	var out []string
	name := ce.Name()
	found := false
	for _, p := range rep.Pairs {
		if p.A != name && !strings.HasPrefix(p.A, name+" (") {
			continue
		}
		found = true
		if p.AtoB.Status == config.Failed {
			for _, n := range p.AtoB.Notes {
				out = append(out, fmt.Sprintf("with %s: %s", rep.B, n))
			}
		}
	}
	if !found {
		out = append(out, fmt.Sprintf("%s has no crypto map entry for %s's peer address: the peer is not named", rep.B, name))
	}
	return out
}

// localVerdict words what happens to a packet for the gateway itself.
func (tr *tracer) localVerdict(f *spd.Flow) string {
	switch {
	case f.Proto == 50 || f.Proto == 51:
		var sas []string
		for _, sa := range tr.g.Engine.SAD().Table().SAs() {
			if sa.Direction() == sad.Inbound && sa.Local() == f.Dst && sa.Remote() == f.Src {
				sas = append(sas, fmt.Sprintf("%s %s", sa.Protocol(), control.SPIText(sa.SPI())))
			}
		}
		if len(sas) == 0 {
			return fmt.Sprintf("IPsec for the gateway: decrypted by the inbound SA its SPI names; none is installed from %s (counter no_sa)", f.Src)
		}
		return fmt.Sprintf("IPsec for the gateway: decrypted by the inbound SA its SPI names (installed from %s: %s), then traced again as the inner packet", f.Src, strings.Join(sas, ", "))
	case f.Proto == 17 && f.DstPort == 500:
		return "IKE for the gateway: handed to the key exchange"
	case f.Proto == 17 && f.DstPort == 4500:
		return "NAT-T for the gateway: ESP in UDP is decrypted by the inbound SA its SPI names; IKE (with the non-ESP marker) goes to the key exchange"
	}
	return "for the gateway itself: handed to the host's stack"
}

func ipsecOrIKE(f *spd.Flow) bool {
	return f.Proto == 50 || f.Proto == 51 || f.Proto == 17 && (f.DstPort == 500 || f.DstPort == 4500)
}

func localText(f *spd.Flow, rt *fastpath.Route) string {
	if rt != nil && rt.Kind == fastpath.RouteLocal {
		return fmt.Sprintf("%s is an address of this gateway", f.Dst)
	}
	return fmt.Sprintf("%s is multicast or broadcast: never forwarded", f.Dst)
}

func routeText(rt *fastpath.Route, out *fastpath.Interface) string {
	via := "directly connected"
	if rt.NextHop.IsValid() {
		via = "via " + rt.NextHop.String()
	}
	return fmt.Sprintf("route %s (%s) %s, out %s", rt.Prefix, rt.Kind, via, out.Name)
}

func flowText(f *spd.Flow) string {
	s := fmt.Sprintf("%s -> %s %s", f.Src, f.Dst, protoWord(f.Proto))
	if f.Proto == 6 || f.Proto == 17 {
		s += fmt.Sprintf(" %d -> %d", f.SrcPort, f.DstPort)
	}
	return s
}

func protoWord(p uint8) string {
	switch p {
	case 0:
		return "ip"
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 47:
		return "gre"
	case 50:
		return "esp"
	case 51:
		return "ah"
	case 58:
		return "ipv6-icmp"
	}
	return fmt.Sprintf("protocol %d", p)
}

func addrsText(as []netip.Addr) string {
	var s []string
	for _, a := range as {
		s = append(s, a.String())
	}
	return strings.Join(s, ", ")
}

func prefixList(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "none"
	}
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return strings.Join(s, ", ")
}
