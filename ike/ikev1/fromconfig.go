package ikev1

import (
	"fmt"
	"net/netip"
	"time"

	"ipsecgw/config"
	"ipsecgw/crypto"
	"ipsecgw/ike"
	"ipsecgw/ike/keymat"
)

// PeerName is the PeerConfig.Name (and ike.Acquire.Peer) of an IKEv1
// peer of a crypto map: "MAP ADDRESS" for a static entry's set peer.
func PeerName(m *config.CompiledMap, peer netip.Addr) string {
	return fmt.Sprintf("%s %s", m.Map, peer)
}

// DynamicPeerName names the template PeerConfig answering peers within a
// wildcard `crypto isakmp key` prefix for a crypto map's dynamic entries.
func DynamicPeerName(m *config.CompiledMap, keyPrefix netip.Prefix) string {
	return fmt.Sprintf("%s dynamic %s", m.Map, keyPrefix)
}

// PeersFromConfig builds the IKEv1 peers of compiled crypto maps, the way
// IOS runs `crypto isakmp`:
//   - every set peer of a static ipsec-isakmp entry without `set
//     ikev2-profile` is a PeerConfig (PeerName) whose Children are the
//     map's entries naming that peer, in sequence order, keyed by the most
//     specific `crypto isakmp key` covering the address;
//   - dynamic map entries (templates) answer any peer within a `crypto
//     isakmp key` prefix wider than one address (DynamicPeerName);
//   - ISAKMP policies are the pre-share `crypto isakmp policy` entries by
//     priority (none: DefaultPolicies); `crypto isakmp keepalive` is DPD.
//
// maps may hold nil entries (interfaces without a crypto map), as
// slowpath.Gateway.Maps does. A peer without a key is left out and
// reported in skipped, as IOS cannot negotiate with it either.
func PeersFromConfig(pol *config.Policy, maps []*config.CompiledMap) (peers []*PeerConfig, skipped []string) {
	policies, notes := policiesFromConfig(pol)
	skipped = append(skipped, notes...)
	var dpd ike.DPD
	if k := pol.ISAKMP.Keepalive; k != nil {
		dpd = ike.DPD{Interval: time.Duration(k.Interval) * time.Second, Retry: time.Duration(k.Retry) * time.Second, OnDemand: !k.Periodic}
	}
	// A crypto map applied to several interfaces compiles once per
	// interface; its peers are configured once.
	seen := map[string]bool{}
	add := func(p *PeerConfig) {
		if !seen[p.Name] {
			seen[p.Name] = true
			peers = append(peers, p)
		}
	}
	for _, m := range maps {
		if m == nil || m.Map == "" {
			continue
		}
		local := func(peer netip.Addr) netip.Addr { return m.LocalFor(peer) }
		byPeer := map[netip.Addr]*PeerConfig{}
		var order []netip.Addr
		var dynamic []*ChildConfig
		for _, ce := range m.Entries {
			if ce.IKEv2Profile != nil || (ce.Kind != config.ISAKMPEntry && ce.Kind != config.DynamicEntry) {
				continue
			}
			c := childFromEntry(ce)
			if ce.Kind == config.DynamicEntry {
				dynamic = append(dynamic, c)
				continue
			}
			for _, addr := range ce.Peers {
				p := byPeer[addr]
				if p == nil {
					key := keyFor(pol, addr)
					if key == nil {
						skipped = append(skipped, fmt.Sprintf("%s: no crypto isakmp key for peer %s", ce.Name(), addr))
						continue
					}
					p = &PeerConfig{Name: PeerName(m, addr), Local: local(addr), Remote: netip.PrefixFrom(addr, addr.BitLen()),
						PSK: ike.Secret(key.Key.Reveal()), Policies: policies, DPD: dpd}
					byPeer[addr] = p
					order = append(order, addr)
				}
				p.Children = append(p.Children, c)
			}
		}
		for _, a := range order {
			add(byPeer[a])
		}
		if len(dynamic) == 0 {
			continue
		}
		for _, k := range pol.ISAKMP.Keys {
			if k.Peer.IsSingleIP() {
				continue
			}
			add(&PeerConfig{Name: DynamicPeerName(m, k.Peer), Local: local(k.Peer.Addr()), Remote: k.Peer,
				PSK: ike.Secret(k.Key.Reveal()), Policies: policies, DPD: dpd, Children: dynamic})
		}
	}
	return peers, skipped
}

// keyFor is the most specific `crypto isakmp key` covering addr.
func keyFor(pol *config.Policy, addr netip.Addr) *config.ISAKMPKey {
	var best *config.ISAKMPKey
	for _, k := range pol.ISAKMP.Keys {
		if k.Peer.Contains(addr) && (best == nil || k.Peer.Bits() > best.Peer.Bits()) {
			best = k
		}
	}
	return best
}

// policiesFromConfig converts the ISAKMP policies (the configuration
// accepts only pre-share authentication).
func policiesFromConfig(pol *config.Policy) ([]Policy, []string) {
	var out []Policy
	var notes []string
	for _, p := range pol.ISAKMP.Policies {
		var h Hash
		switch p.Hash {
		case config.PRFHMACMD5:
			h = HashMD5
		case config.PRFHMACSHA1:
			h = HashSHA1
		case config.PRFHMACSHA2_256:
			h = HashSHA256
		case config.PRFHMACSHA2_384:
			h = HashSHA384
		case config.PRFHMACSHA2_512:
			h = HashSHA512
		}
		x := Policy{Priority: p.Priority, Cipher: p.Encryption.Cipher, KeyBits: p.Encryption.KeyBits, Hash: h,
			Group: keymat.Group(p.Group), Lifetime: time.Duration(p.Lifetime) * time.Second}
		if err := x.check(); err != nil {
			notes = append(notes, err.Error()+"; skipped")
			continue
		}
		out = append(out, x)
	}
	return out, notes
}

// childFromEntry turns a crypto map entry into a ChildConfig. The mode is
// the first transform set's (IOS proposes each set with its own mode; one
// entry's sets share one in practice). AH+ESP sets are offered and
// accepted as one proposal of two protocols; the result is one IPsecSA
// bundle.
func childFromEntry(ce *config.CompiledEntry) *ChildConfig {
	c := &ChildConfig{Name: ce.Name(), Map: ce.Map, Seq: ce.Seq, PFS: keymat.Group(ce.PFS), PerHost: ce.PerHost,
		Lifetime: ike.Lifetime{Seconds: time.Duration(ce.Lifetime.Seconds) * time.Second, Kilobytes: uint64(ce.Lifetime.Kilobytes)}}
	if ce.ACL != nil {
		c.ACL = ce.ACL.Name
		for _, l := range ce.Permits {
			c.Lines = append(c.Lines, ike.ACLLine{Line: l.Line, Text: l.Text(ce.ACL.IPv6), Sel: l.Sel})
		}
	}
	for i, ts := range ce.TransformSets {
		if i == 0 && ts.Mode == config.Transport {
			c.Mode = ike.ModeTransport
		}
		set := TransformSet{Name: ts.Name, AH: ts.AH, ESP: ts.ESP}
		if set.ESP.Cipher == crypto.CipherNone && set.AH == crypto.IntegNone {
			continue
		}
		c.TransformSets = append(c.TransformSets, set)
	}
	return c
}
