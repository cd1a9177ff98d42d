package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"

	"ipsecgw/spd"
)

// PeerCheck answers the first question asked when a tunnel will not come
// up: given both gateways' configurations, can each SA be established, and
// if not, why. For every crypto map entry of one gateway that names the
// other as peer, it plays the negotiation the guide describes in both
// directions: the initiator requests one SA per permit line of its ACL
// (the guide: SAs are requested by the initiating end's ACL); the responder
// picks the first entry that names the initiator (or, failing that, a
// dynamic map template) whose ACL has a permit line containing the mirror
// image of the request (Cases 1-4 of the guide's Figure 3), then needs a
// common transform set (same transforms and mode), the same PFS group, and
// matching IKE settings: IKEv2 proposals, profiles and keyring keys, or
// ISAKMP policies and keys. Manual entries need mirrored SPIs and keys (my
// outbound SA is the peer's inbound) and mirror-image selectors.
//
// Deny lines of the responder's ACL are not considered (IOS checks a
// request against permit lines); per-host entries are judged by their
// whole permit line.
func PeerCheck(a, b *Config) (*PeerReport, error) {
	ga, err := newGateway(a)
	if err != nil {
		return nil, err
	}
	gb, err := newGateway(b)
	if err != nil {
		return nil, err
	}
	if ga.name == gb.name {
		ga.name, gb.name = ga.name+" (A)", gb.name+" (B)"
	}
	r := &PeerReport{A: ga.name, B: gb.name}
	r.initiate(ga, gb, false)
	r.initiate(gb, ga, true)
	for _, p := range r.Pairs {
		for _, d := range []struct {
			g    *gateway
			dir  *Direction
			mine string
		}{{ga, &p.AtoB, p.A}, {gb, &p.BtoA, p.B}} {
			if d.dir.Status == NoInitiator {
				d.dir.Notes = append(d.dir.Notes, initiatorNote(d.g, d.mine))
			}
		}
	}
	return r, nil
}

// Status is the outcome of one direction.
type Status uint8

const (
	Established Status = iota // every SA the initiator requests comes up
	Failed                    // at least one does not
	NoInitiator               // this end requests no SA from this entry (dynamic map templates never initiate)
)

func (s Status) String() string {
	switch s {
	case Failed:
		return "FAIL"
	case NoInitiator:
		return "no SA requested"
	}
	return "OK"
}

// PeerReport is the outcome for two gateways.
type PeerReport struct {
	A, B  string // gateway names (hostname, else file name)
	Pairs []*PeerPair
}

// PeerPair is a pair of entries that name each other (or the entry of one
// side and the dynamic template, or nothing, that answers it on the other).
type PeerPair struct {
	A, B string    // the entries, as "crypto map vpn 10 (ACL 101, 192.0.2.1)"
	AtoB Direction // A initiating
	BtoA Direction // B initiating
}

// Direction is one end initiating towards the other.
type Direction struct {
	Status Status
	Notes  []string // what was matched, or why not
}

// OK reports whether every pair comes up in every direction that
// initiates.
func (r *PeerReport) OK() bool {
	if len(r.Pairs) == 0 {
		return false
	}
	for _, p := range r.Pairs {
		if p.AtoB.Status == Failed || p.BtoA.Status == Failed {
			return false
		}
		if p.AtoB.Status == NoInitiator && p.BtoA.Status == NoInitiator {
			return false
		}
	}
	return true
}

func (r *PeerReport) String() string {
	var b strings.Builder
	if len(r.Pairs) == 0 {
		fmt.Fprintf(&b, "%s and %s: no crypto map entry of one names an address of the other as peer\n", r.A, r.B)
		return b.String()
	}
	for _, p := range r.Pairs {
		fmt.Fprintf(&b, "%s %s <-> %s %s\n", r.A, p.A, r.B, p.B)
		for _, d := range []struct {
			from, to string
			d        *Direction
		}{{r.A, r.B, &p.AtoB}, {r.B, r.A, &p.BtoA}} {
			fmt.Fprintf(&b, "  %s -> %s: %s\n", d.from, d.to, d.d.Status)
			for _, n := range d.d.Notes {
				fmt.Fprintf(&b, "    %s\n", n)
			}
		}
	}
	failed := 0
	for _, p := range r.Pairs {
		if p.AtoB.Status == Failed || p.BtoA.Status == Failed || (p.AtoB.Status == NoInitiator && p.BtoA.Status == NoInitiator) {
			failed++
		}
	}
	if failed == 0 {
		fmt.Fprintf(&b, "%d pair(s): all SAs can be established\n", len(r.Pairs))
	} else {
		fmt.Fprintf(&b, "%d pair(s), %d with SAs that cannot be established\n", len(r.Pairs), failed)
	}
	return b.String()
}

// gateway is one side: its compiled crypto maps.
type gateway struct {
	name string
	pol  *Policy
	maps []*CompiledMap
}

func newGateway(c *Config) (*gateway, error) {
	if err := c.Diags.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", c.File, err)
	}
	maps, err := c.Policy.Compile()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.File, err)
	}
	name := c.Policy.Hostname
	if name == "" {
		name = filepath.Base(c.File)
	}
	// A map applied to several interfaces with one local address is one
	// set of SAs.
	seen := map[string]bool{}
	g := &gateway{name: name, pol: c.Policy}
	for _, m := range maps {
		k := fmt.Sprint(m.Map, m.Local)
		if !seen[k] {
			seen[k] = true
			g.maps = append(g.maps, m)
		}
	}
	return g, nil
}

// mapFor returns the crypto map that terminates IPsec on address a.
func (g *gateway) mapFor(a netip.Addr) *CompiledMap {
	for _, m := range g.maps {
		for _, l := range m.Local {
			if l == a {
				return m
			}
		}
	}
	return nil
}

func entryText(m *CompiledMap, e *CompiledEntry, local netip.Addr) string {
	s := e.Name()
	var extra []string
	if e.ACL != nil {
		extra = append(extra, "ACL "+e.ACL.Name)
	}
	if local.IsValid() {
		extra = append(extra, local.String())
	}
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, ", ") + ")"
	}
	return s
}

// pair returns the pair for the entries (creating it); swap says the
// initiator is gateway B.
func (r *PeerReport) pair(init, resp string, swap bool) *Direction {
	a, b := init, resp
	if swap {
		a, b = resp, init
	}
	for _, p := range r.Pairs {
		if p.A == a && p.B == b {
			if swap {
				return &p.BtoA
			}
			return &p.AtoB
		}
	}
	p := &PeerPair{A: a, B: b, AtoB: Direction{Status: NoInitiator}, BtoA: Direction{Status: NoInitiator}}
	r.Pairs = append(r.Pairs, p)
	if swap {
		return &p.BtoA
	}
	return &p.AtoB
}

// initiate plays gateway i initiating to gateway o for every static entry
// of i that names an address of o.
func (r *PeerReport) initiate(i, o *gateway, swap bool) {
	for _, im := range i.maps {
		for _, ie := range im.Entries {
			if ie.Kind == DynamicEntry {
				continue
			}
			for _, peer := range ie.Peers {
				om := o.mapFor(peer)
				if om == nil {
					continue
				}
				local := im.LocalFor(peer)
				r.check(i, o, im, ie, om, local, peer, swap)
			}
		}
	}
}

func initiatorNote(i *gateway, mine string) string {
	switch {
	case strings.Contains(mine, "dynamic-map"):
		return fmt.Sprintf("%s answers from a dynamic map, which never initiates (the guide)", i.name)
	case mine == "(none)":
		return fmt.Sprintf("%s has no entry for this peer", i.name)
	}
	return fmt.Sprintf("%s's entry requests its SAs from another entry of the peer (see that pair)", i.name)
}

// check plays one initiator entry against the responder.
func (r *PeerReport) check(i, o *gateway, im *CompiledMap, ie *CompiledEntry, om *CompiledMap, local, peer netip.Addr, swap bool) {
	if ie.Kind == ManualEntry {
		r.checkManual(i, o, im, ie, om, local, peer, swap)
		return
	}
	// Group the initiator's permit lines by the responder entry that
	// answers them.
	type result struct {
		resp  *CompiledEntry
		notes []string
		fail  bool
	}
	var results []*result
	find := func(e *CompiledEntry) *result {
		for _, x := range results {
			if x.resp == e {
				return x
			}
		}
		x := &result{resp: e}
		results = append(results, x)
		return x
	}
	for _, l := range ie.Permits {
		req := mirror(l.Sel) // the request as the responder's ACL reads it
		re, rl := respond(om, local, req)
		lineText := fmt.Sprintf("ACL %s line %d %q", ie.ACL.Name, l.Line, l.Text(ie.ACL.IPv6))
		if re == nil {
			cand := candidate(om, local)
			x := find(cand)
			x.fail = true
			x.notes = append(x.notes, fmt.Sprintf("%s: refused: %s", lineText, whyNotAccepted(o, om, local, req, cand)))
			continue
		}
		x := find(re)
		if rl == nil {
			x.notes = append(x.notes, fmt.Sprintf("%s: accepted by %s %s, which has no match address and accepts any selectors", lineText, o.name, re.Name()))
		} else {
			x.notes = append(x.notes, fmt.Sprintf("%s: accepted by %s ACL %s line %d (%s)", lineText, o.name, re.ACL.Name, rl.Line, relation(req, rl.Sel)))
		}
		if ie.PerHost {
			x.notes = append(x.notes, "per-host: one SA per host pair inside that line")
		}
	}
	if len(ie.Permits) == 0 {
		x := find(candidate(om, local))
		x.fail = true
		x.notes = append(x.notes, fmt.Sprintf("%s's ACL %s has no permit statement: nothing to request", i.name, ie.ACL.Name))
	}
	for _, x := range results {
		ours := entryText(im, ie, local)
		theirs := "(none)"
		switch {
		case x.resp != nil && x.resp.Kind == ManualEntry:
			theirs = entryText(om, x.resp, peer)
			x.notes = append(x.notes, fmt.Sprintf("%s's entry is ipsec-manual: negotiated SAs need ipsec-isakmp entries at both ends", o.name))
			x.fail = true
		case x.resp != nil:
			theirs = entryText(om, x.resp, peer)
			notes, ok := negotiate(i, o, ie, x.resp, local, peer)
			x.notes = append(x.notes, notes...)
			x.fail = x.fail || !ok
		}
		d := r.pair(ours, theirs, swap)
		d.Notes = append(d.Notes, x.notes...)
		switch {
		case x.fail:
			d.Status = Failed
		case d.Status == NoInitiator:
			d.Status = Established
		}
	}
}

// respond finds the responder entry accepting a request from peer for
// selector req (in the responder's direction): the first static entry that
// names the peer with a permit line containing req, else the first dynamic
// template (with no ACL, or such a line) whose peers, if any, include it.
func respond(m *CompiledMap, peer netip.Addr, req spd.Selector) (*CompiledEntry, *ACLLine) {
	for _, dynamic := range []bool{false, true} {
		for _, e := range m.Entries {
			if (e.Kind == DynamicEntry) != dynamic || e.Kind == ManualEntry {
				continue
			}
			if !dynamic || len(e.Peers) > 0 {
				if !hasAddr(e.Peers, peer) {
					continue
				}
			}
			if dynamic && e.ACL == nil {
				return e, nil
			}
			for _, l := range e.Permits {
				if selContains(l.Sel, req) {
					return e, l
				}
			}
		}
	}
	return nil, nil
}

// candidate is the responder entry an engineer would expect to answer: the
// first ipsec-isakmp entry naming the peer (a manual entry never
// negotiates), else the first dynamic template.
func candidate(m *CompiledMap, peer netip.Addr) *CompiledEntry {
	for _, e := range m.Entries {
		if e.Kind == ISAKMPEntry && hasAddr(e.Peers, peer) {
			return e
		}
	}
	for _, e := range m.Entries {
		if e.Kind == DynamicEntry && (len(e.Peers) == 0 || hasAddr(e.Peers, peer)) {
			return e
		}
	}
	return nil
}

func hasAddr(as []netip.Addr, a netip.Addr) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

// relation words how a request relates to the permit line accepting it.
func relation(req, permit spd.Selector) string {
	if selContains(req, permit) {
		return "mirror image"
	}
	return "the request is a subset of it, as in the guide's Case 3"
}

// whyNotAccepted explains a refused request.
func whyNotAccepted(o *gateway, m *CompiledMap, peer netip.Addr, req spd.Selector, cand *CompiledEntry) string {
	if cand == nil {
		return fmt.Sprintf("%s has no crypto map entry that names %s as peer and no dynamic map to answer it", o.name, peer)
	}
	var widest []string
	for _, l := range cand.Permits {
		rel := "does not contain it"
		switch {
		case selContains(req, l.Sel):
			rel = "is narrower: the request is wider than what it permits, as in the guide's Case 4"
		case selOverlaps(req, l.Sel):
			rel = "only overlaps it"
		}
		widest = append(widest, fmt.Sprintf("%s ACL %s line %d %q %s", o.name, cand.ACL.Name, l.Line, l.Text(cand.ACL.IPv6), rel))
	}
	if len(widest) == 0 {
		return fmt.Sprintf("%s %s has no permit line for it", o.name, cand.Name())
	}
	return strings.Join(widest, "; ")
}

// selOverlaps reports whether some flow matches both selectors.
func selOverlaps(a, b spd.Selector) bool {
	if a.Proto != 0 && b.Proto != 0 && a.Proto != b.Proto {
		return false
	}
	if !a.Src.Overlaps(b.Src) || !a.Dst.Overlaps(b.Dst) {
		return false
	}
	return rangesOverlap(portRanges(a.SrcPorts), portRanges(b.SrcPorts)) && rangesOverlap(portRanges(a.DstPorts), portRanges(b.DstPorts))
}

func rangesOverlap(a, b [][2]uint16) bool {
	for _, x := range a {
		for _, y := range b {
			if x[0] <= y[1] && y[0] <= x[1] {
				return true
			}
		}
	}
	return false
}

// negotiate checks what both ends must agree on besides selectors.
func negotiate(i, o *gateway, ie, re *CompiledEntry, local, peer netip.Addr) (notes []string, ok bool) {
	ok = true
	fail := func(format string, a ...any) {
		notes = append(notes, fmt.Sprintf(format, a...))
		ok = false
	}
	// Transform sets: the initiator offers its sets in order; the
	// responder takes the first it also has.
	var chosen, theirs *TransformSet
	for _, t := range ie.TransformSets {
		for _, u := range re.TransformSets {
			if chosen == nil && t.Same(u) {
				chosen, theirs = t, u
			}
		}
	}
	if chosen == nil {
		fail("no common transform set: %s offers %s; %s accepts %s", i.name, setsText(ie.TransformSets), o.name, setsText(re.TransformSets))
	} else {
		notes = append(notes, fmt.Sprintf("transform set %s = %s's %s (%s, %s)", chosen.Name, o.name, theirs.Name, chosen.TransformText(), chosen.Mode))
	}
	switch {
	case ie.PFS == re.PFS && ie.PFS != 0:
		notes = append(notes, fmt.Sprintf("PFS %s on both", ie.PFS))
	case ie.PFS != re.PFS:
		fail("PFS differs: %s %s, %s %s", i.name, pfsText(ie.PFS), o.name, pfsText(re.PFS))
	}
	switch {
	case (ie.IKEv2Profile == nil) != (re.IKEv2Profile == nil):
		v := func(e *CompiledEntry) string {
			if e.IKEv2Profile != nil {
				return "IKEv2 (set ikev2-profile " + e.IKEv2Profile.Name + ")"
			}
			return "IKEv1 (no set ikev2-profile)"
		}
		fail("IKE versions differ: %s uses %s, %s uses %s", i.name, v(ie), o.name, v(re))
	case ie.IKEv2Profile != nil:
		n, good := ikev2Match(i, o, ie.IKEv2Profile, re.IKEv2Profile, local, peer)
		notes = append(notes, n...)
		ok = ok && good
	default:
		n, good := isakmpMatch(i, o, local, peer)
		notes = append(notes, n...)
		ok = ok && good
	}
	return notes, ok
}

func setsText(ts []*TransformSet) string {
	if len(ts) == 0 {
		return "none"
	}
	var s []string
	for _, t := range ts {
		s = append(s, fmt.Sprintf("%s (%s, %s)", t.Name, t.TransformText(), t.Mode))
	}
	return strings.Join(s, ", ")
}

func pfsText(g DHGroup) string {
	if g == 0 {
		return "no PFS"
	}
	return "set pfs " + g.String()
}

// ikev2Match checks IKEv2 identities, keys and proposals.
func ikev2Match(i, o *gateway, ip, rp *IKEv2Profile, local, peer netip.Addr) (notes []string, ok bool) {
	ok = true
	fail := func(format string, a ...any) {
		notes = append(notes, fmt.Sprintf(format, a...))
		ok = false
	}
	idI, idR := local, peer
	if ip.LocalIdentity.IsValid() {
		idI = ip.LocalIdentity
	}
	if rp.LocalIdentity.IsValid() {
		idR = rp.LocalIdentity
	}
	if !rp.MatchesRemote(idI) {
		fail("%s's ikev2 profile %s does not match identity %s (match identity remote %s)", o.name, rp.Name, idI, prefixesText(rp.MatchRemote))
	}
	if !ip.MatchesRemote(idR) {
		fail("%s's ikev2 profile %s does not match the responder's identity %s (match identity remote %s)", i.name, ip.Name, idR, prefixesText(ip.MatchRemote))
	}
	keyI, errI := keyringKey(i, ip, peer)
	keyR, errR := keyringKey(o, rp, local)
	switch {
	case errI != "":
		fail("%s", errI)
	case errR != "":
		fail("%s", errR)
	case keyI.LocalKey() != keyR.RemoteKey() || keyR.LocalKey() != keyI.RemoteKey():
		fail("pre-shared keys differ: %s keyring %s peer %s and %s keyring %s peer %s", i.name, ip.Keyring.Name, keyI.Name, o.name, rp.Keyring.Name, keyR.Name)
	default:
		notes = append(notes, fmt.Sprintf("pre-shared keys match (%s keyring %s peer %s, %s keyring %s peer %s)", i.name, ip.Keyring.Name, keyI.Name, o.name, rp.Keyring.Name, keyR.Name))
	}
	if p := commonIKEv2(i.pol.IKEv2ProposalsFor(local), o.pol.IKEv2ProposalsFor(peer)); p != "" {
		notes = append(notes, "IKEv2 SA: "+p)
	} else {
		fail("no common IKEv2 proposal: %s offers %s; %s accepts %s", i.name, proposalsText(i.pol.IKEv2ProposalsFor(local)), o.name, proposalsText(o.pol.IKEv2ProposalsFor(peer)))
	}
	return notes, ok
}

func keyringKey(g *gateway, p *IKEv2Profile, peer netip.Addr) (*KeyringPeer, string) {
	if p.Keyring == nil {
		return nil, fmt.Sprintf("%s's ikev2 profile %s has no keyring", g.name, p.Name)
	}
	k := p.Keyring.Peer(peer)
	if k == nil {
		return nil, fmt.Sprintf("%s's keyring %s has no peer with an address covering %s", g.name, p.Keyring.Name, peer)
	}
	return k, ""
}

func prefixesText(ps []netip.Prefix) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// commonIKEv2 returns the first combination both accept, as text, or "".
func commonIKEv2(offer, accept []*IKEv2Proposal) string {
	for _, o := range offer {
		for _, a := range accept {
			enc, ok1 := firstCommon(o.Encryption, a.Encryption)
			prf, ok2 := firstCommon(o.PRFs(), a.PRFs())
			grp, ok3 := firstCommon(o.Groups, a.Groups)
			if !ok1 || !ok2 || !ok3 {
				continue
			}
			s := fmt.Sprintf("%s, prf %s, group %d", keyword(ikev2Ciphers, enc), keyword(ikev2PRFs, prf), grp)
			if !enc.Cipher.AEAD() {
				integ, ok := firstCommon(o.Integrity, a.Integrity)
				if !ok {
					continue
				}
				s += ", integrity " + keyword(ikev2Integs, integ)
			}
			return s
		}
	}
	return ""
}

func firstCommon[T comparable](a, b []T) (T, bool) {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return x, true
			}
		}
	}
	var zero T
	return zero, false
}

func proposalsText(ps []*IKEv2Proposal) string {
	var s []string
	for _, p := range ps {
		var enc []string
		for _, e := range p.Encryption {
			enc = append(enc, keyword(ikev2Ciphers, e))
		}
		var groups []string
		for _, g := range p.Groups {
			groups = append(groups, fmt.Sprint(uint16(g)))
		}
		t := fmt.Sprintf("%s [%s", p.Name, strings.Join(enc, " "))
		if len(p.Integrity) > 0 {
			t += "; integrity " + joinKeywords(ikev2Integs, p.Integrity)
		}
		t += "; prf " + joinKeywords(ikev2PRFs, p.PRFs()) + "; group " + strings.Join(groups, " ") + "]"
		s = append(s, t)
	}
	return strings.Join(s, ", ")
}

// isakmpMatch checks IKEv1 policies and keys. A responder accepts an
// initiator's policy with the same encryption, hash, authentication and
// group and a lifetime not longer than its own.
func isakmpMatch(i, o *gateway, local, peer netip.Addr) (notes []string, ok bool) {
	ok = true
	fail := func(format string, a ...any) {
		notes = append(notes, fmt.Sprintf(format, a...))
		ok = false
	}
	pi, po := i.pol.ISAKMP.Policies, o.pol.ISAKMP.Policies
	switch {
	case len(pi) == 0:
		fail("%s has no crypto isakmp policy (the IOS default uses rsa-sig, which ipsecgw does not support)", i.name)
	case len(po) == 0:
		fail("%s has no crypto isakmp policy (the IOS default uses rsa-sig, which ipsecgw does not support)", o.name)
	default:
		var match *ISAKMPPolicy
		for _, a := range pi {
			for _, b := range po {
				if match == nil && a.Encryption == b.Encryption && a.Hash == b.Hash && a.Authentication == b.Authentication && a.Group == b.Group && a.Lifetime <= b.Lifetime {
					match = a
				}
			}
		}
		if match == nil {
			fail("no common ISAKMP policy: none of %s's policies has the encryption, hash, authentication and group of one of %s's with a lifetime not longer than it", i.name, o.name)
		} else {
			notes = append(notes, fmt.Sprintf("ISAKMP policy %d: %s", match.Priority, isakmpText(match)))
		}
	}
	ki, kr := i.pol.ISAKMPKeyFor(peer), o.pol.ISAKMPKeyFor(local)
	switch {
	case ki == nil:
		fail("%s has no crypto isakmp key for %s", i.name, peer)
	case kr == nil:
		fail("%s has no crypto isakmp key for %s", o.name, local)
	case ki.Key != kr.Key:
		fail("pre-shared keys differ: %s's key for %s and %s's key for %s", i.name, ki.Peer, o.name, kr.Peer)
	default:
		notes = append(notes, fmt.Sprintf("pre-shared keys match (%s key for %s, %s key for %s)", i.name, ki.Peer, o.name, kr.Peer))
	}
	return notes, ok
}

func isakmpText(p *ISAKMPPolicy) string {
	enc := strings.ToLower(p.Encryption.Cipher.String())
	if p.Encryption.KeyBits != 0 {
		enc = fmt.Sprintf("aes %d", p.Encryption.KeyBits)
	}
	return fmt.Sprintf("encryption %s, hash %s, group %d, lifetime %d", enc, keyword(hashNames, p.Hash), p.Group, p.Lifetime)
}

// checkManual pairs a manual entry with the peer's manual entry holding
// its outbound SPI as inbound one, and compares keys and selectors.
func (r *PeerReport) checkManual(i, o *gateway, im *CompiledMap, ie *CompiledEntry, om *CompiledMap, local, peer netip.Addr, swap bool) {
	var re *CompiledEntry
	var fallback *CompiledEntry
	for _, e := range om.Entries {
		if !hasAddr(e.Peers, local) {
			continue
		}
		if fallback == nil {
			fallback = e
		}
		if e.Kind == ManualEntry && spiMatch(ie.SessionKeys, e.SessionKeys) {
			re = e
			break
		}
	}
	if re == nil {
		re = fallback
	}
	ours := entryText(im, ie, local)
	theirs := "(none)"
	var notes []string
	ok := true
	fail := func(format string, a ...any) {
		notes = append(notes, fmt.Sprintf(format, a...))
		ok = false
	}
	switch {
	case re == nil:
		fail("%s has no crypto map entry that names %s as peer", o.name, local)
	case re.Kind != ManualEntry:
		theirs = entryText(om, re, peer)
		fail("%s's entry is %s: manual SAs need ipsec-manual entries at both ends", o.name, re.Kind)
	default:
		theirs = entryText(om, re, peer)
		if len(ie.TransformSets) == 1 && len(re.TransformSets) == 1 {
			t, u := ie.TransformSets[0], re.TransformSets[0]
			if t.Same(u) {
				notes = append(notes, fmt.Sprintf("transform set %s = %s's %s (%s, %s)", t.Name, o.name, u.Name, t.TransformText(), t.Mode))
				for _, n := range manualKeys(i, o, t, ie.SessionKeys, re.SessionKeys) {
					fail("%s", n)
				}
			} else {
				fail("transform sets differ: %s %s (%s, %s), %s %s (%s, %s): manual SAs need the same transform set at both ends", i.name, t.Name, t.TransformText(), t.Mode, o.name, u.Name, u.TransformText(), u.Mode)
			}
		}
		if len(ie.Permits) == 1 && len(re.Permits) == 1 {
			l, m := ie.Permits[0], re.Permits[0]
			lt := fmt.Sprintf("ACL %s line %d %q", ie.ACL.Name, l.Line, l.Text(ie.ACL.IPv6))
			if selContains(m.Sel, mirror(l.Sel)) {
				notes = append(notes, fmt.Sprintf("%s: %s's inbound policy, ACL %s line %d, accepts it (%s)", lt, o.name, re.ACL.Name, m.Line, relation(mirror(l.Sel), m.Sel)))
			} else {
				fail("%s: %s drops part of it: its ACL %s line %d %q does not contain the mirror image (manual SAs need mirror-image ACLs)", lt, o.name, re.ACL.Name, m.Line, m.Text(re.ACL.IPv6))
			}
		}
	}
	d := r.pair(ours, theirs, swap)
	d.Notes = append(d.Notes, notes...)
	switch {
	case !ok:
		d.Status = Failed
	case d.Status == NoInitiator:
		d.Status = Established
	}
}

// spiMatch reports whether the initiator's outbound SAs are the peer's
// inbound ones by SPI.
func spiMatch(a, b *SessionKeys) bool {
	if a == nil || b == nil {
		return false
	}
	m := func(x, y *SessionKey) bool { return x != nil && y != nil && x.SPI == y.SPI }
	return m(a.OutboundESP, b.InboundESP) || m(a.OutboundAH, b.InboundAH)
}

// manualKeys compares the initiator's outbound SAs with the responder's
// inbound ones: what one sends, the other must be able to open.
func manualKeys(i, o *gateway, t *TransformSet, a, b *SessionKeys) []string {
	var out []string
	cmp := func(proto string, x, y *SessionKey) {
		if x == nil || y == nil {
			return // validation reported the missing key
		}
		switch {
		case x.SPI != y.SPI:
			out = append(out, fmt.Sprintf("%s outbound %s SPI %d but %s inbound %s SPI %d: the SPIs must match", i.name, proto, x.SPI, o.name, proto, y.SPI))
		case string(x.Cipher) != string(y.Cipher) || string(x.Auth) != string(y.Auth):
			out = append(out, fmt.Sprintf("%s outbound %s SPI %d keys differ from %s inbound %s SPI %d keys", i.name, proto, x.SPI, o.name, proto, y.SPI))
		}
	}
	if t.HasESP() {
		cmp("esp", a.OutboundESP, b.InboundESP)
	}
	if t.HasAH() {
		cmp("ah", a.OutboundAH, b.InboundAH)
	}
	return out
}
