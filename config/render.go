package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"ipsecgw/crypto"
)

// Render writes the policy back as IOS configuration text, the way `show
// running-config` does: one canonical form (objects in a fixed order,
// defaults spelled out where IOS shows them) that ParseIOS reads back into
// the same policy. Keys and pre-shared keys print as Redacted unless
// secrets is set.
func (p *Policy) Render(secrets bool) string {
	r := &renderer{secrets: secrets}
	if p.Hostname != "" {
		r.line("hostname %s", p.Hostname)
		r.bang()
	}
	r.ikev2(&p.IKEv2)
	r.isakmp(&p.ISAKMP)
	r.ipsecGlobals(&p.IPsec)
	for _, n := range sortedKeys(p.TransformSets) {
		ts := p.TransformSets[n]
		r.line("crypto ipsec transform-set %s %s", ts.Name, ts.TransformText())
		r.line(" mode %s", ts.Mode)
		r.bang()
	}
	for _, n := range sortedKeys(p.DynamicMaps) {
		for _, e := range p.DynamicMaps[n].Entries {
			r.line("crypto dynamic-map %s %d", e.Map, e.Seq)
			r.entry(e)
			r.bang()
		}
	}
	for _, n := range sortedKeys(p.CryptoMaps) {
		m := p.CryptoMaps[n]
		if m.LocalAddress != "" {
			r.line("crypto map %s local-address %s", m.Name, m.LocalAddress)
		}
		for _, e := range m.Entries {
			switch e.Kind {
			case DynamicEntry:
				r.line("crypto map %s %d ipsec-isakmp dynamic %s", e.Map, e.Seq, e.Dynamic)
			default:
				r.line("crypto map %s %d %s", e.Map, e.Seq, e.Kind)
				r.entry(e)
			}
		}
		r.bang()
	}
	for _, n := range sortedKeys(p.Interfaces) {
		i := p.Interfaces[n]
		r.line("interface %s", i.Name)
		if i.Description != "" {
			r.line(" description %s", i.Description)
		}
		v4 := 0
		for _, a := range i.Addresses {
			if !a.Addr().Is4() {
				continue
			}
			sec := ""
			if v4++; v4 > 1 {
				sec = " secondary"
			}
			r.line(" ip address %s %s%s", a.Addr(), maskText(a.Bits()), sec)
		}
		if v4 == 0 {
			r.line(" no ip address")
		}
		for _, a := range i.Addresses {
			if a.Addr().Is6() {
				r.line(" ipv6 address %s", a)
			}
		}
		if i.CryptoMapName != "" {
			r.line(" crypto map %s", i.CryptoMapName)
		}
		r.bang()
	}
	for _, rt := range p.Routes {
		r.line("%s", routeText(rt))
	}
	if len(p.Routes) > 0 {
		r.bang()
	}
	for _, n := range sortedKeys(p.ACLs) {
		r.acl(p.ACLs[n])
	}
	return r.b.String()
}

type renderer struct {
	b       strings.Builder
	secrets bool
}

func (r *renderer) line(format string, a ...any) {
	fmt.Fprintf(&r.b, format, a...)
	r.b.WriteByte('\n')
}

func (r *renderer) bang() { r.b.WriteString("!\n") }

func (r *renderer) secret(s Secret) string {
	if r.secrets {
		return s.Reveal()
	}
	return Redacted
}

func (r *renderer) key(k Key) string {
	if r.secrets {
		return k.Hex()
	}
	return Redacted
}

func (r *renderer) entry(e *MapEntry) {
	if e.Description != "" {
		r.line(" description %s", e.Description)
	}
	for _, a := range e.Peers {
		r.line(" set peer %s", a)
	}
	if e.Lifetime.Seconds != 0 {
		r.line(" set security-association lifetime seconds %d", e.Lifetime.Seconds)
	}
	if e.Lifetime.Kilobytes != 0 {
		r.line(" set security-association lifetime kilobytes %d", e.Lifetime.Kilobytes)
	}
	if e.PerHost {
		r.line(" set security-association level per-host")
	}
	if rw := replayText(e.ReplayWindow); rw != "" {
		r.line(" set security-association replay %s", rw)
	}
	if len(e.TransformSetNames) > 0 {
		r.line(" set transform-set %s", strings.Join(e.TransformSetNames, " "))
	}
	if e.PFS != 0 {
		r.line(" set pfs %s", e.PFS)
	}
	if e.IKEv2ProfileName != "" {
		r.line(" set ikev2-profile %s", e.IKEv2ProfileName)
	}
	k := &e.SessionKeys
	r.sessionKey("inbound", "ah", k.InboundAH)
	r.sessionKey("inbound", "esp", k.InboundESP)
	r.sessionKey("outbound", "ah", k.OutboundAH)
	r.sessionKey("outbound", "esp", k.OutboundESP)
	if e.MatchAddress != "" {
		r.line(" match address %s", e.MatchAddress)
	}
	if e.ReverseRoute {
		r.line(" reverse-route")
	}
}

func (r *renderer) sessionKey(dir, proto string, k *SessionKey) {
	if k == nil {
		return
	}
	if proto == "ah" {
		r.line(" set session-key %s ah %d %s", dir, k.SPI, r.key(k.Auth))
		return
	}
	s := fmt.Sprintf(" set session-key %s esp %d", dir, k.SPI)
	if len(k.Cipher) > 0 {
		s += " cipher " + r.key(k.Cipher)
	}
	if len(k.Auth) > 0 {
		s += " authenticator " + r.key(k.Auth)
	}
	r.line("%s", s)
}

func replayText(w int) string {
	switch {
	case w == ReplayDisabled:
		return "disable"
	case w > 0:
		return "window-size " + strconv.Itoa(w)
	}
	return ""
}

func (r *renderer) ipsecGlobals(g *IPsecGlobals) {
	n := 0
	if g.Lifetime.Seconds != 0 {
		r.line("crypto ipsec security-association lifetime seconds %d", g.Lifetime.Seconds)
		n++
	}
	if g.Lifetime.Kilobytes != 0 {
		r.line("crypto ipsec security-association lifetime kilobytes %d", g.Lifetime.Kilobytes)
		n++
	}
	if rw := replayText(g.ReplayWindow); rw != "" {
		r.line("crypto ipsec security-association replay %s", rw)
		n++
	}
	if n > 0 {
		r.bang()
	}
}

func (r *renderer) isakmp(k *ISAKMP) {
	for _, pol := range k.Policies {
		r.line("crypto isakmp policy %d", pol.Priority)
		enc := keyword(map[string]crypto.Cipher{"des": crypto.CipherDES, "3des": crypto.Cipher3DES, "aes": crypto.CipherAESCBC}, pol.Encryption.Cipher)
		if pol.Encryption.KeyBits != 0 {
			enc += " " + strconv.Itoa(pol.Encryption.KeyBits)
		}
		r.line(" encryption %s", enc)
		r.line(" hash %s", keyword(hashNames, pol.Hash))
		r.line(" authentication %s", keyword(authNames, pol.Authentication))
		r.line(" group %d", pol.Group)
		r.line(" lifetime %d", pol.Lifetime)
		r.bang()
	}
	for _, key := range k.Keys {
		r.line("crypto isakmp key %s address %s", r.secret(key.Key), addressMaskText(key.Peer))
	}
	if ka := k.Keepalive; ka != nil {
		mode := "on-demand"
		if ka.Periodic {
			mode = "periodic"
		}
		r.line("crypto isakmp keepalive %d %d %s", ka.Interval, ka.Retry, mode)
	}
	if len(k.Keys) > 0 || k.Keepalive != nil {
		r.bang()
	}
}

// addressMaskText writes `A MASK` for IPv4 and `ipv6 P/LEN` for IPv6.
func addressMaskText(p netip.Prefix) string {
	if p.Addr().Is6() {
		return "ipv6 " + p.String()
	}
	return p.Addr().String() + " " + maskText(p.Bits())
}

func (r *renderer) ikev2(ike *IKEv2) {
	for _, n := range sortedKeys(ike.Proposals) {
		pr := ike.Proposals[n]
		r.line("crypto ikev2 proposal %s", pr.Name)
		if len(pr.Encryption) > 0 {
			w := make([]string, len(pr.Encryption))
			for i, e := range pr.Encryption {
				w[i] = keyword(ikev2Ciphers, e)
			}
			r.line(" encryption %s", strings.Join(w, " "))
		}
		if len(pr.Integrity) > 0 {
			r.line(" integrity %s", joinKeywords(ikev2Integs, pr.Integrity))
		}
		if len(pr.PRF) > 0 {
			r.line(" prf %s", joinKeywords(ikev2PRFs, pr.PRF))
		}
		if len(pr.Groups) > 0 {
			w := make([]string, len(pr.Groups))
			for i, g := range pr.Groups {
				w[i] = strconv.Itoa(int(g))
			}
			r.line(" group %s", strings.Join(w, " "))
		}
		r.bang()
	}
	for _, n := range sortedKeys(ike.Policies) {
		ip := ike.Policies[n]
		r.line("crypto ikev2 policy %s", ip.Name)
		for _, a := range ip.MatchLocal {
			r.line(" match address local %s", a)
		}
		for _, pn := range ip.ProposalNames {
			r.line(" proposal %s", pn)
		}
		r.bang()
	}
	for _, n := range sortedKeys(ike.Keyrings) {
		kr := ike.Keyrings[n]
		r.line("crypto ikev2 keyring %s", kr.Name)
		for _, pe := range kr.Peers {
			r.line(" peer %s", pe.Name)
			if pe.Description != "" {
				r.line("  description %s", pe.Description)
			}
			if pe.Address.IsValid() {
				r.line("  address %s", prefixText(pe.Address))
			}
			if pe.PSK != "" {
				r.line("  pre-shared-key %s", r.secret(pe.PSK))
			}
			if pe.LocalPSK != "" {
				r.line("  pre-shared-key local %s", r.secret(pe.LocalPSK))
			}
			if pe.RemotePSK != "" {
				r.line("  pre-shared-key remote %s", r.secret(pe.RemotePSK))
			}
			r.line(" !")
		}
		r.bang()
	}
	for _, n := range sortedKeys(ike.Profiles) {
		pr := ike.Profiles[n]
		r.line("crypto ikev2 profile %s", pr.Name)
		if pr.Description != "" {
			r.line(" description %s", pr.Description)
		}
		if pr.MatchRemoteAny {
			r.line(" match identity remote any")
		}
		for _, m := range pr.MatchRemote {
			if !pr.MatchRemoteAny || m.Bits() != 0 {
				r.line(" match identity remote address %s", prefixText(m))
			}
		}
		for _, a := range pr.MatchLocal {
			r.line(" match address local %s", a)
		}
		if pr.LocalIdentity.IsValid() {
			r.line(" identity local address %s", pr.LocalIdentity)
		}
		if pr.AuthRemote != AuthNone {
			r.line(" authentication remote %s", keyword(authNames, pr.AuthRemote))
		}
		if pr.AuthLocal != AuthNone {
			r.line(" authentication local %s", keyword(authNames, pr.AuthLocal))
		}
		if pr.KeyringName != "" {
			r.line(" keyring local %s", pr.KeyringName)
		}
		if pr.Lifetime != 0 {
			r.line(" lifetime %d", pr.Lifetime)
		}
		if d := pr.DPD; d != nil {
			mode := "on-demand"
			if d.Periodic {
				mode = "periodic"
			}
			r.line(" dpd %d %d %s", d.Interval, d.Retry, mode)
		}
		r.bang()
	}
}

func joinKeywords[V comparable](m map[string]V, vs []V) string {
	w := make([]string, len(vs))
	for i, v := range vs {
		w[i] = keyword(m, v)
	}
	return strings.Join(w, " ")
}

// prefixText writes `A MASK` (IPv4) or `P/LEN` (IPv6), as IOS's keyring
// and profile commands take them.
func prefixText(p netip.Prefix) string {
	if p.Addr().Is6() {
		return p.String()
	}
	return p.Addr().String() + " " + maskText(p.Bits())
}

func routeText(rt Route) string {
	var s string
	if rt.Prefix.Addr().Is6() {
		s = "ipv6 route " + rt.Prefix.String()
	} else {
		s = fmt.Sprintf("ip route %s %s", rt.Prefix.Addr(), maskText(rt.Prefix.Bits()))
	}
	if rt.Interface != "" {
		s += " " + rt.Interface
	}
	if rt.NextHop.IsValid() {
		s += " " + rt.NextHop.String()
	}
	if rt.Distance != 0 {
		s += " " + strconv.Itoa(rt.Distance)
	}
	return s
}

func (r *renderer) acl(a *ACL) {
	switch {
	case a.Numbered() && len(a.Lines) > 0:
		for _, l := range a.Lines {
			r.line("access-list %s %s", a.Name, l.Text(false))
		}
	case a.IPv6:
		r.line("ipv6 access-list %s", a.Name)
		for _, l := range a.Lines {
			r.line(" %s", l.Text(true))
		}
	default:
		r.line("ip access-list extended %s", a.Name)
		for _, l := range a.Lines {
			r.line(" %s", l.Text(false))
		}
	}
	r.bang()
}
