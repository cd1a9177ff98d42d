package config

import (
	"fmt"
	"net/netip"

	"ipsecgw/crypto"
)

// Validation resolves references by name and checks what a single command
// cannot: entries complete for their kind, keys that fit their transforms,
// crypto ACLs that protect what was meant. Errors make the policy unusable;
// warnings describe configurations that run but are probably not what the
// engineer wants.

// finish numbers ACL lines, resolves references and validates. extraIfaces
// are interface names the system settings define (routes may use them).
func (p *parser) finish(extraIfaces ...string) {
	p.numberLines()
	v := &validator{p: p, pol: p.pol, d: p.d, ifaces: map[string]bool{"Null0": true}}
	for n := range p.pol.Interfaces {
		v.ifaces[n] = true
	}
	for _, n := range extraIfaces {
		v.ifaces[n] = true
	}
	v.resolve()
	v.entries()
	v.cryptoACLs()
	v.interfaces()
	v.ikev2()
	v.isakmp()
	p.pol.invalid = p.d.list.Errors() > 0
}

type validator struct {
	p      *parser
	pol    *Policy
	d      *diags
	ifaces map[string]bool
}

// eachEntry calls f for every crypto map entry and then every dynamic map
// entry, in name and sequence order.
func (v *validator) eachEntry(f func(e *MapEntry, dynamic bool)) {
	for _, n := range sortedKeys(v.pol.CryptoMaps) {
		for _, e := range v.pol.CryptoMaps[n].Entries {
			f(e, false)
		}
	}
	for _, n := range sortedKeys(v.pol.DynamicMaps) {
		for _, e := range v.pol.DynamicMaps[n].Entries {
			f(e, true)
		}
	}
}

func (v *validator) resolve() {
	pol := v.pol
	v.eachEntry(func(e *MapEntry, dynamic bool) {
		name := e.Name(dynamic)
		if e.Kind == DynamicEntry {
			if e.DynamicMap = pol.DynamicMaps[e.Dynamic]; e.DynamicMap == nil {
				v.d.errorf(e.Pos, "%s: unknown dynamic map %s", name, e.Dynamic)
			}
		}
		if e.MatchAddress != "" {
			if e.ACL = pol.ACLs[e.MatchAddress]; e.ACL == nil {
				if v.p.standardACL[e.MatchAddress] {
					v.d.errorf(e.MatchPos, "%s: access list %s is a standard list; crypto maps need extended access lists", name, e.MatchAddress)
				} else {
					v.d.errorf(e.MatchPos, "%s: unknown access list %s", name, e.MatchAddress)
				}
			}
		}
		e.TransformSets = nil
		for _, tn := range e.TransformSetNames {
			ts := pol.TransformSets[tn]
			if ts == nil {
				if !v.p.failed["transform-set "+tn] {
					v.d.errorf(e.TransformPos, "%s: unknown transform set %s", name, tn)
				}
				continue
			}
			e.TransformSets = append(e.TransformSets, ts)
		}
		if e.IKEv2ProfileName != "" {
			if e.IKEv2Profile = pol.IKEv2.Profiles[e.IKEv2ProfileName]; e.IKEv2Profile == nil {
				v.d.errorf(e.ProfilePos, "%s: unknown ikev2 profile %s", name, e.IKEv2ProfileName)
			}
		}
	})
	for _, n := range sortedKeys(pol.CryptoMaps) {
		m := pol.CryptoMaps[n]
		if m.LocalAddress != "" && pol.Interfaces[m.LocalAddress] == nil {
			v.d.errorf(m.LocalAddressPos, "crypto map %s local-address: unknown interface %s", m.Name, m.LocalAddress)
		}
	}
	for _, n := range sortedKeys(pol.Interfaces) {
		i := pol.Interfaces[n]
		i.CryptoMap = nil
		if i.CryptoMapName != "" {
			if i.CryptoMap = pol.CryptoMaps[i.CryptoMapName]; i.CryptoMap == nil {
				v.d.errorf(i.CryptoMapPos, "interface %s: unknown crypto map %s", i.Name, i.CryptoMapName)
			}
		}
	}
	for _, n := range sortedKeys(pol.IKEv2.Policies) {
		ip := pol.IKEv2.Policies[n]
		ip.Proposals = nil
		for k, pn := range ip.ProposalNames {
			pr := pol.IKEv2.Proposals[pn]
			if pr == nil {
				v.d.errorf(ip.ProposalPos[k], "ikev2 policy %s: unknown proposal %s", ip.Name, pn)
				continue
			}
			ip.Proposals = append(ip.Proposals, pr)
		}
	}
	for _, n := range sortedKeys(pol.IKEv2.Profiles) {
		pr := pol.IKEv2.Profiles[n]
		if pr.KeyringName != "" {
			if pr.Keyring = pol.IKEv2.Keyrings[pr.KeyringName]; pr.Keyring == nil {
				v.d.errorf(pr.KeyringPos, "ikev2 profile %s: unknown keyring %s", pr.Name, pr.KeyringName)
			}
		}
	}
	for _, r := range pol.Routes {
		if r.Interface != "" && !v.ifaces[r.Interface] {
			v.d.errorf(r.Pos, "route %s: unknown interface %s", r.Prefix, r.Interface)
		}
	}
}

// entries checks each entry against what its kind needs.
func (v *validator) entries() {
	for _, n := range sortedKeys(v.pol.CryptoMaps) {
		m := v.pol.CryptoMaps[n]
		lastStatic := 0
		for _, e := range m.Entries {
			if e.Kind != DynamicEntry {
				lastStatic = e.Seq
			}
		}
		for _, e := range m.Entries {
			switch e.Kind {
			case ISAKMPEntry:
				v.isakmpEntry(e)
			case ManualEntry:
				v.manualEntry(e)
			case DynamicEntry:
				if e.Seq < lastStatic {
					v.d.warnf(e.Pos, "%s includes dynamic map %s but static entry %d follows it: entries that include dynamic maps should have the highest sequence numbers so that static entries are tried first", e.Name(false), e.Dynamic, lastStatic)
				}
			}
		}
		v.distinctACLs(m)
	}
	for _, n := range sortedKeys(v.pol.DynamicMaps) {
		for _, e := range v.pol.DynamicMaps[n].Entries {
			v.dynamicEntry(e)
		}
	}
	v.manualSPIs()
}

func (v *validator) isakmpEntry(e *MapEntry) {
	name := e.Name(false)
	if e.MatchAddress == "" {
		v.d.errorf(e.Pos, "%s: no match address: the entry is incomplete and protects nothing", name)
	}
	if len(e.Peers) == 0 {
		v.d.errorf(e.Pos, "%s: no set peer: an ipsec-isakmp entry needs the peer to negotiate with", name)
	}
	if len(e.TransformSetNames) == 0 {
		v.d.errorf(e.Pos, "%s: no set transform-set", name)
	}
	v.ownPeers(e, name)
	// An IKEv2 profile that cannot authenticate a peer of the entry means
	// that tunnel never comes up.
	if pr := e.IKEv2Profile; pr != nil {
		for _, a := range e.Peers {
			if len(pr.MatchRemote) > 0 && !pr.MatchesRemote(a) {
				v.d.warnf(e.ProfilePos, "%s: ikev2 profile %s does not match peer %s (no match identity remote address covers it)", name, pr.Name, a)
			}
			if pr.Keyring != nil && pr.Keyring.Peer(a) == nil {
				v.d.warnf(e.ProfilePos, "%s: keyring %s of ikev2 profile %s has no pre-shared key for peer %s (no peer address in it covers it)", name, pr.Keyring.Name, pr.Name, a)
			}
		}
	}
}

func (v *validator) dynamicEntry(e *MapEntry) {
	name := e.Name(true)
	if len(e.TransformSetNames) == 0 {
		v.d.errorf(e.Pos, "%s: no set transform-set (the one setting a dynamic map entry requires)", name)
	}
	if e.MatchAddress == "" {
		v.d.warnf(e.Pos, "%s: no match address: it accepts any traffic selectors a peer proposes", name)
	}
	v.ownPeers(e, name)
}

// ownPeers warns about peers that are this gateway's own addresses.
func (v *validator) ownPeers(e *MapEntry, name string) {
	for _, a := range e.Peers {
		for _, in := range sortedKeys(v.pol.Interfaces) {
			if v.pol.Interfaces[in].HasAddr(a) {
				v.d.warnf(e.PeerPos, "%s: peer %s is this gateway's own address (interface %s)", name, a, in)
			}
		}
	}
}

func (v *validator) manualEntry(e *MapEntry) {
	name := e.Name(false)
	if e.MatchAddress == "" {
		v.d.errorf(e.Pos, "%s: no match address: the entry is incomplete and protects nothing", name)
	}
	if len(e.Peers) != 1 {
		v.d.errorf(e.Pos, "%s: an ipsec-manual entry needs exactly one set peer (has %d)", name, len(e.Peers))
	}
	if len(e.TransformSetNames) != 1 {
		v.d.errorf(e.Pos, "%s: an ipsec-manual entry needs exactly one transform set (has %d)", name, len(e.TransformSetNames))
	}
	v.ownPeers(e, name)
	ignored := func(what string, pos Pos) {
		if pos.Line == 0 {
			pos = e.Pos
		}
		v.d.warnf(pos, "%s: %s is ignored for ipsec-manual entries", name, what)
	}
	if e.PFS != 0 {
		ignored("set pfs", e.PFSPos)
	}
	if e.IKEv2ProfileName != "" {
		ignored("set ikev2-profile", e.ProfilePos)
	}
	if e.Lifetime != (Lifetime{}) {
		ignored("set security-association lifetime (manual SAs do not expire)", e.Pos)
	}
	if e.PerHost {
		ignored("set security-association level per-host", e.Pos)
	}
	if e.ReplayWindow > 0 {
		ignored("set security-association replay window-size (manual SAs have no anti-replay, as on IOS)", e.Pos)
	}
	if e.ACL != nil {
		seen := false
		for _, l := range e.ACL.Lines {
			if !l.Permit {
				continue
			}
			if seen {
				v.d.warnf(l.Pos, "access list %s line %d is ignored by %s: an ipsec-manual entry uses only the first permit statement", e.ACL.Name, l.Line, name)
			}
			seen = true
		}
		if !seen {
			v.d.errorf(e.MatchPos, "%s: access list %s has no permit statement: the manual SAs would protect nothing", name, e.ACL.Name)
		}
	}
	if len(e.TransformSets) != 1 {
		return
	}
	ts := e.TransformSets[0]
	k := &e.SessionKeys
	check := func(dir, proto string, sk *SessionKey, need bool) {
		if !need {
			if sk != nil {
				v.d.warnf(sk.Pos, "%s: %s %s session key is ignored: transform set %s has no %s", name, dir, proto, ts.Name, proto)
			}
			return
		}
		if sk == nil {
			v.d.errorf(e.Pos, "%s: transform set %s includes %s but set session-key %s %s is missing", name, ts.Name, proto, dir, proto)
			return
		}
		if proto == "ah" {
			v.keyLen(sk.Pos, name, dir+" ah key", len(sk.Auth), ts.AH.KeyLen(), transformName(ahTransform, 0, ts.AH), "")
			return
		}
		c := ts.ESP
		v.keyLen(sk.Pos, name, dir+" esp cipher key", len(sk.Cipher), c.Cipher.KeyLen(c.KeyBits), cipherText(c), saltNote(c.Cipher))
		v.keyLen(sk.Pos, name, dir+" esp authenticator key", len(sk.Auth), c.Integ.KeyLen(), transformName(espAuth, 0, c.Integ), "")
	}
	check("inbound", "ah", k.InboundAH, ts.HasAH())
	check("outbound", "ah", k.OutboundAH, ts.HasAH())
	check("inbound", "esp", k.InboundESP, ts.HasESP())
	check("outbound", "esp", k.OutboundESP, ts.HasESP())
}

func cipherText(t crypto.Transform) string {
	s := transformName(espCipher, t.Cipher, 0)
	if t.KeyBits != 0 {
		s += fmt.Sprintf(" %d", t.KeyBits)
	}
	return s
}

func saltNote(c crypto.Cipher) string {
	switch c {
	case crypto.CipherAESGCM16:
		return " (the key followed by a 4-byte salt, RFC 4106 §8.1)"
	case crypto.CipherAESGMAC:
		return " (the key followed by a 4-byte salt, RFC 4543 §3.2)"
	case crypto.CipherChaCha20Poly1305:
		return " (the key followed by a 4-byte salt, RFC 7634 §2)"
	}
	return ""
}

// keyLen checks one manual key's length. A transform without that key
// (esp-null's cipher, an AEAD's authenticator) needs none.
func (v *validator) keyLen(pos Pos, entry, what string, got, want int, transform, note string) {
	switch {
	case got == want:
	case want == 0:
		v.d.errorf(pos, "%s: %s given but %s takes none", entry, what, transform)
	case got == 0:
		v.d.errorf(pos, "%s: %s is missing: %s needs %d bytes%s", entry, what, transform, want, note)
	default:
		v.d.errorf(pos, "%s: %s is %d bytes; %s needs %d%s", entry, what, got, transform, want, note)
	}
}

// manualSPIs checks that manual SAs can be told apart: an inbound SPI
// identifies one SA per protocol, and two outbound SAs to one peer with the
// same SPI would be the same SA at the peer.
func (v *validator) manualSPIs() {
	type key struct {
		proto string
		peer  netip.Addr
		spi   uint32
	}
	seen := map[key]string{}
	add := func(k key, sk *SessionKey, name, dir string) {
		if sk == nil {
			return
		}
		k.spi = sk.SPI
		if prev, dup := seen[k]; dup {
			v.d.errorf(sk.Pos, "%s: %s %s SPI %d is already used by %s", name, dir, k.proto, sk.SPI, prev)
			return
		}
		seen[k] = name
	}
	for _, n := range sortedKeys(v.pol.CryptoMaps) {
		for _, e := range v.pol.CryptoMaps[n].Entries {
			if e.Kind != ManualEntry {
				continue
			}
			name := e.Name(false)
			var peer netip.Addr
			if len(e.Peers) > 0 {
				peer = e.Peers[0]
			}
			add(key{proto: "ah"}, e.SessionKeys.InboundAH, name, "inbound")
			add(key{proto: "esp"}, e.SessionKeys.InboundESP, name, "inbound")
			add(key{proto: "ah", peer: peer}, e.SessionKeys.OutboundAH, name, "outbound")
			add(key{proto: "esp", peer: peer}, e.SessionKeys.OutboundESP, name, "outbound")
		}
	}
}

// distinctACLs enforces the guide's rule that different entries of one
// crypto map set use different access lists (dynamic entries included).
func (v *validator) distinctACLs(m *CryptoMap) {
	used := map[string]string{}
	check := func(e *MapEntry, dynamic bool) {
		if e.MatchAddress == "" {
			return
		}
		name := e.Name(dynamic)
		if prev, dup := used[e.MatchAddress]; dup {
			v.d.errorf(e.MatchPos, "%s: access list %s is already used by %s; each entry of crypto map %s needs its own access list", name, e.MatchAddress, prev, m.Name)
			return
		}
		used[e.MatchAddress] = name
	}
	for _, e := range m.Entries {
		if e.Kind == DynamicEntry {
			if e.DynamicMap != nil {
				for _, de := range e.DynamicMap.Entries {
					check(de, true)
				}
			}
			continue
		}
		check(e, false)
	}
}

// cryptoACLs warns about access lists used by crypto maps that protect
// more, or less, than an engineer would want.
func (v *validator) cryptoACLs() {
	v.eachEntry(func(e *MapEntry, dynamic bool) {
		a := e.ACL
		if a == nil {
			return
		}
		name := e.Name(dynamic)
		permits := 0
		for _, l := range a.Lines {
			if !l.Permit {
				continue
			}
			permits++
			if e.Kind == ManualEntry && permits > 1 {
				break
			}
			srcAny, dstAny := l.Sel.Src.Bits() == 0, l.Sel.Dst.Bits() == 0
			switch {
			case srcAny && dstAny:
				v.d.warnf(l.Pos, "access list %s line %d: %q in a crypto access list protects all traffic and drops every unprotected inbound packet (routing protocols, NTP, ping); deny what must stay in clear first", a.Name, l.Line, l.Text(a.IPv6))
			case srcAny || dstAny:
				v.d.warnf(l.Pos, "access list %s line %d: `any` in a crypto access list is discouraged: it can catch multicast and traffic that must stay in clear", a.Name, l.Line)
			}
			if e.ReverseRoute && (srcAny || dstAny) {
				v.d.warnf(e.Pos, "%s: reverse-route with `any` in access list %s is not supported (the guide): no route is injected for that line", name, a.Name)
			}
		}
		switch {
		case len(a.Lines) == 0:
			v.d.warnf(e.MatchPos, "%s: access list %s is empty: the entry protects nothing", name, a.Name)
		case permits == 0 && e.Kind != ManualEntry:
			v.d.warnf(e.MatchPos, "%s: access list %s has no permit statement: the entry protects nothing", name, a.Name)
		}
	})
}

func (v *validator) interfaces() {
	pol := v.pol
	names := sortedKeys(pol.Interfaces)
	for _, n := range names {
		i := pol.Interfaces[n]
		if i.CryptoMap == nil {
			continue
		}
		local := i
		if la := i.CryptoMap.LocalAddress; la != "" && pol.Interfaces[la] != nil {
			local = pol.Interfaces[la]
		}
		if len(local.Addresses) == 0 {
			if local == i {
				v.d.errorf(i.CryptoMapPos, "interface %s: crypto map %s is applied but the interface has no IP address to terminate IPsec on", i.Name, i.CryptoMapName)
			} else {
				v.d.errorf(i.CryptoMap.LocalAddressPos, "crypto map %s local-address: interface %s has no IP address", i.CryptoMap.Name, local.Name)
			}
		}
	}
	// IOS refuses overlapping subnets on two interfaces; the gateway's
	// routing would pick one of them.
	for x, a := range names {
		for _, b := range names[x+1:] {
			ia, ib := pol.Interfaces[a], pol.Interfaces[b]
			for _, pa := range ia.Addresses {
				for _, pb := range ib.Addresses {
					if pa.Masked().Overlaps(pb.Masked()) {
						later, earlier, pl, pe := ib, ia, pb, pa
						if ia.Pos.Line > ib.Pos.Line {
							later, earlier, pl, pe = ia, ib, pa, pb
						}
						v.d.warnf(later.Pos, "interface %s: %s overlaps %s of interface %s", later.Name, pl, pe, earlier.Name)
					}
				}
			}
		}
	}
}

func (v *validator) ikev2() {
	ike := &v.pol.IKEv2
	for _, n := range sortedKeys(ike.Proposals) {
		pr := ike.Proposals[n]
		name := "ikev2 proposal " + pr.Name
		aead, other := false, false
		for _, e := range pr.Encryption {
			if e.Cipher.AEAD() {
				aead = true
			} else {
				other = true
			}
		}
		switch {
		case len(pr.Encryption) == 0:
			v.d.errorf(pr.Pos, "%s: no encryption", name)
		case aead && other:
			v.d.errorf(pr.Pos, "%s: mixes combined-mode (aes-gcm) and other encryption algorithms; use one proposal for each", name)
		case aead && len(pr.Integrity) > 0:
			v.d.errorf(pr.Pos, "%s: aes-gcm is a combined-mode cipher and takes no integrity", name)
		case aead && len(pr.PRF) == 0:
			v.d.errorf(pr.Pos, "%s: combined-mode encryption needs a prf", name)
		case !aead && len(pr.Integrity) == 0:
			v.d.errorf(pr.Pos, "%s: no integrity", name)
		}
		if len(pr.Groups) == 0 {
			v.d.errorf(pr.Pos, "%s: no group", name)
		}
	}
	for _, n := range sortedKeys(ike.Policies) {
		if ip := ike.Policies[n]; len(ip.ProposalNames) == 0 {
			v.d.errorf(ip.Pos, "ikev2 policy %s: no proposal", ip.Name)
		}
	}
	for _, n := range sortedKeys(ike.Keyrings) {
		kr := ike.Keyrings[n]
		for _, pe := range kr.Peers {
			name := fmt.Sprintf("keyring %s peer %s", kr.Name, pe.Name)
			if !pe.Address.IsValid() {
				v.d.errorf(pe.Pos, "%s: no address", name)
			}
			switch {
			case pe.PSK == "" && pe.LocalPSK == "" && pe.RemotePSK == "":
				v.d.errorf(pe.Pos, "%s: no pre-shared-key", name)
			case pe.PSK == "" && (pe.LocalPSK == "" || pe.RemotePSK == ""):
				v.d.errorf(pe.Pos, "%s: pre-shared-key local and remote must both be set", name)
			}
		}
	}
	for _, n := range sortedKeys(ike.Profiles) {
		pr := ike.Profiles[n]
		name := "ikev2 profile " + pr.Name
		if len(pr.MatchRemote) == 0 {
			v.d.errorf(pr.Pos, "%s: no match identity remote: the profile matches no peer", name)
		}
		if pr.AuthLocal == AuthNone {
			v.d.errorf(pr.Pos, "%s: authentication local pre-share is missing", name)
		}
		if pr.AuthRemote == AuthNone {
			v.d.errorf(pr.Pos, "%s: authentication remote pre-share is missing", name)
		}
		if pr.KeyringName == "" {
			v.d.errorf(pr.Pos, "%s: no keyring local: pre-shared keys need a keyring", name)
		}
	}
}

func (v *validator) isakmp() {
	for _, pol := range v.pol.ISAKMP.Policies {
		set := v.p.isakmpSet[pol]
		name := fmt.Sprintf("isakmp policy %d", pol.Priority)
		switch {
		case set&setAuth == 0:
			v.d.errorf(pol.Pos, "%s: authentication defaults to rsa-sig, which ipsecgw does not support; configure authentication pre-share", name)
		case pol.Authentication != AuthPreShare:
			v.d.errorf(pol.Pos, "%s: authentication %s is not supported (only pre-share)", name, keyword(authNames, pol.Authentication))
		}
		if set&setEncryption == 0 {
			v.d.warnf(pol.Pos, "%s: encryption des (the IOS default when none is configured) is deprecated (RFC 8247); configure encryption aes 256", name)
		}
		if set&setGroup == 0 {
			v.d.warnf(pol.Pos, "%s: group 1 (the IOS default when none is configured) is deprecated (RFC 8247); configure group 14 or 19", name)
		}
	}
}
