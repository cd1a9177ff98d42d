package slowpath

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"ipsecgw/config"
	"ipsecgw/ike"
	"ipsecgw/ike/keymat"
)

// IKEPeers turns the gateway's compiled crypto maps into the IKEv2
// engine's peer configurations:
//
//   - one PeerConfig per (local address, set peer) of the static
//     ipsec-isakmp entries with an IKEv2 profile, named "PEER" (or
//     "PEER via LOCAL" when the peer is reached from several local
//     addresses), holding those entries as ChildConfigs in sequence order
//     so the engine can initiate and answer for each;
//   - one template PeerConfig per (local address, dynamic map entry
//     profile, match identity remote prefix), named "dynamic PROFILE
//     PREFIX", holding the dynamic map entries that use the profile, so
//     the engine answers peers it has no static entry for.
//
// Pre-shared keys come from the profile's keyring, the IKE SA proposals
// from the IKEv2 policies that match the local address, dead peer
// detection from the profile's dpd (else crypto isakmp keepalive).
// Entries without an IKEv2 profile negotiate with IKEv1 and are left out;
// each is listed in skipped, as are peers the configuration cannot
// authenticate (no key in the keyring).
func (g *Gateway) IKEPeers() (peers []*ike.PeerConfig, skipped []SkippedEntry) {
	pol := g.Config.Policy
	type peerKey struct {
		local, remote netip.Addr
	}
	static := map[peerKey]*ike.PeerConfig{}
	var order []peerKey
	type tmplKey struct {
		local   netip.Addr
		profile string
		remote  netip.Prefix
	}
	templates := map[tmplKey]*ike.PeerConfig{}
	var tmplOrder []tmplKey
	locals := map[netip.Addr]map[netip.Addr]bool{} // remote -> local addresses
	// The configured maps: not the temporary entries IKE made.
	for _, cm := range g.configured {
		if cm == nil {
			continue
		}
		for _, e := range cm.Entries {
			if e.Kind == config.ManualEntry {
				continue
			}
			if e.IKEv2Profile == nil {
				skipped = append(skipped, SkippedEntry{Entry: e.Name(), IKEv1: true, Reason: "no set ikev2-profile: IKEv1 negotiates it"})
				continue
			}
			child, err := childConfig(e)
			if err != nil {
				skipped = append(skipped, SkippedEntry{Entry: e.Name(), Reason: err.Error()})
				continue
			}
			pr := e.IKEv2Profile
			if e.Kind == config.DynamicEntry {
				for _, local := range cm.Local {
					for _, remote := range pr.MatchRemote {
						if remote.Addr().Is4() != local.Is4() {
							continue
						}
						k := tmplKey{local, pr.Name, remote.Masked()}
						p := templates[k]
						if p == nil {
							psk := keyringFor(pr, remote)
							if psk == nil {
								skipped = append(skipped, SkippedEntry{Entry: e.Name(), Reason: fmt.Sprintf("keyring %s of ikev2 profile %s has no key covering %v", pr.KeyringName, pr.Name, remote)})
								continue
							}
							p = peerConfig(pol, pr, psk, local, remote.Masked(), fmt.Sprintf("dynamic %s %v", pr.Name, remote.Masked()))
							templates[k] = p
							tmplOrder = append(tmplOrder, k)
						}
						addChild(p, child)
					}
				}
				continue
			}
			for _, remote := range e.Peers {
				local := cm.LocalFor(remote)
				if !local.IsValid() {
					skipped = append(skipped, SkippedEntry{Entry: e.Name(), Reason: fmt.Sprintf("no local address of peer %v's family on %s", remote, cm.Interface)})
					continue
				}
				k := peerKey{local, remote}
				p := static[k]
				if p == nil {
					var psk *config.KeyringPeer
					if pr.Keyring != nil {
						psk = pr.Keyring.Peer(remote)
					}
					if psk == nil {
						skipped = append(skipped, SkippedEntry{Entry: e.Name(), Reason: fmt.Sprintf("keyring %s of ikev2 profile %s has no key for peer %v", pr.KeyringName, pr.Name, remote)})
						continue
					}
					p = peerConfig(pol, pr, psk, local, netip.PrefixFrom(remote, remote.BitLen()), remote.String())
					static[k] = p
					order = append(order, k)
					if locals[remote] == nil {
						locals[remote] = map[netip.Addr]bool{}
					}
					locals[remote][local] = true
				}
				addChild(p, child)
			}
		}
	}
	for _, k := range order {
		p := static[k]
		if len(locals[k.remote]) > 1 {
			p.Name = fmt.Sprintf("%v via %v", k.remote, k.local)
		}
		peers = append(peers, p)
	}
	for _, k := range tmplOrder {
		peers = append(peers, templates[k])
	}
	return peers, skipped
}

// IKEPeerName is the PeerConfig name IKEPeers gives the set peer remote of
// a static entry on a crypto map whose local address is local.
func (g *Gateway) IKEPeerName(local, remote netip.Addr) string {
	peers, _ := g.IKEPeers()
	for _, p := range peers {
		if p.Local == local && p.Remote == netip.PrefixFrom(remote, remote.BitLen()) {
			return p.Name
		}
	}
	return ""
}

// SkippedEntry is a crypto map entry (or one of its peers) IKEv2 does not
// negotiate, and why.
type SkippedEntry struct {
	Entry  string
	IKEv1  bool // the entry is IKEv1's (no set ikev2-profile)
	Reason string
}

func (s SkippedEntry) String() string { return s.Entry + ": " + s.Reason }

func addChild(p *ike.PeerConfig, c *ike.ChildConfig) {
	if !slices.ContainsFunc(p.Children, func(o *ike.ChildConfig) bool { return o.Name == c.Name }) {
		p.Children = append(p.Children, c)
	}
}

// keyringFor is the keyring entry of a dynamic template: the most specific
// peer block covering the whole prefix of match identity remote.
func keyringFor(pr *config.IKEv2Profile, remote netip.Prefix) *config.KeyringPeer {
	if pr.Keyring == nil {
		return nil
	}
	var best *config.KeyringPeer
	for _, kp := range pr.Keyring.Peers {
		a := kp.Address
		if a.IsValid() && a.Bits() <= remote.Bits() && a.Contains(remote.Addr()) && (best == nil || a.Bits() > best.Address.Bits()) {
			best = kp
		}
	}
	return best
}

// peerConfig is the IKE side of one peer: keys, identity, proposals,
// lifetime and dead peer detection.
func peerConfig(pol *config.Policy, pr *config.IKEv2Profile, psk *config.KeyringPeer, local netip.Addr, remote netip.Prefix, name string) *ike.PeerConfig {
	p := &ike.PeerConfig{
		Name:      name,
		Local:     local,
		Remote:    remote,
		LocalPSK:  ike.Secret(psk.LocalKey().Reveal()),
		RemotePSK: ike.Secret(psk.RemoteKey().Reveal()),
		Lifetime:  time.Duration(pr.Lifetime) * time.Second,
	}
	if pr.LocalIdentity.IsValid() {
		p.LocalID = ike.AddrIdentity(pr.LocalIdentity)
	}
	// The profile names its peers by identity (match identity remote
	// address): a peer at the right address with another identity fails
	// authentication. match identity remote any takes every identity.
	if !pr.MatchRemoteAny {
		p.RemoteAddrIDs = slices.Clone(pr.MatchRemote)
	}
	for _, cp := range pol.IKEv2ProposalsFor(local) {
		p.Proposals = append(p.Proposals, ikeProposal(cp))
	}
	switch {
	case pr.DPD != nil:
		p.DPD = ike.DPD{Interval: time.Duration(pr.DPD.Interval) * time.Second, Retry: time.Duration(pr.DPD.Retry) * time.Second, OnDemand: !pr.DPD.Periodic}
	case pol.ISAKMP.Keepalive != nil:
		k := pol.ISAKMP.Keepalive
		p.DPD = ike.DPD{Interval: time.Duration(k.Interval) * time.Second, Retry: time.Duration(k.Retry) * time.Second, OnDemand: !k.Periodic}
	}
	return p
}

func ikeProposal(cp *config.IKEv2Proposal) ike.IKEProposal {
	p := ike.IKEProposal{Name: cp.Name, Integrity: slices.Clone(cp.Integrity)}
	for _, e := range cp.Encryption {
		p.Encryption = append(p.Encryption, ike.Encryption{Cipher: e.Cipher, KeyBits: e.KeyBits})
	}
	if cp.AEAD() {
		p.Integrity = nil
	}
	for _, f := range cp.PRF {
		p.PRF = append(p.PRF, keymat.PRFAlg(f)) // both IANA Transform Type 2 numbers
	}
	for _, g := range cp.Groups {
		p.Groups = append(p.Groups, keymat.Group(g)) // both IANA Transform Type 4 numbers
	}
	return p
}

// childConfig is the IKE side of one crypto map entry (a dynamic map entry
// for templates): its ACL's permit lines, transform sets, PFS, lifetime.
func childConfig(e *config.CompiledEntry) (*ike.ChildConfig, error) {
	c := &ike.ChildConfig{
		Name:     e.Name(),
		Map:      e.Map,
		Seq:      e.Seq,
		PFS:      keymat.Group(e.PFS),
		Lifetime: ike.Lifetime{Seconds: time.Duration(e.Lifetime.Seconds) * time.Second, Kilobytes: uint64(e.Lifetime.Kilobytes)},
		PerHost:  e.PerHost,
	}
	if e.ACL != nil {
		c.ACL = e.ACL.Name
		for _, l := range e.Permits {
			c.Lines = append(c.Lines, ike.ACLLine{Line: l.Line, Text: l.Text(e.ACL.IPv6), Sel: l.Sel})
		}
	}
	for i, ts := range e.TransformSets {
		p, err := ike.ProposalFromTransformSet(ts.Name, ts.AH, ts.ESP)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		c.Proposals = append(c.Proposals, p)
		if i == 0 && ts.Mode == config.Transport {
			c.Mode = ike.ModeTransport
		}
	}
	if len(c.Proposals) == 0 {
		return nil, fmt.Errorf("%s: no transform set", e.Name())
	}
	return c, nil
}
