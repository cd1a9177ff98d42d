package config

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"ipsecgw/crypto"
)

// IKEv1 (`crypto isakmp`) and IKEv2 (`crypto ikev2`) configuration.

// Which ISAKMP policy attributes were configured (the rest are defaults).
const (
	setEncryption uint8 = 1 << iota
	setHash
	setAuth
	setGroup
)

func (p *parser) isakmpPolicy(l *line) {
	n, err := number(l, 3, "priority", 1, 10000)
	if err != nil || len(l.words) != 4 {
		if err == nil {
			err = fmt.Errorf("want crypto isakmp policy PRIORITY")
		}
		p.errorf(l, "%v", err)
		p.push(isakmpMode{})
		return
	}
	var pol *ISAKMPPolicy
	for _, x := range p.pol.ISAKMP.Policies {
		if x.Priority == int(n) {
			pol = x
		}
	}
	if pol == nil {
		pol = &ISAKMPPolicy{
			Priority:       int(n),
			Encryption:     Encryption{Cipher: crypto.CipherDES},
			Hash:           PRFHMACSHA1,
			Authentication: AuthRSASig,
			Group:          1,
			Lifetime:       DefaultISAKMPLifetime,
			Pos:            l.pos,
		}
		ps := append(p.pol.ISAKMP.Policies, pol)
		sort.Slice(ps, func(i, j int) bool { return ps[i].Priority < ps[j].Priority })
		p.pol.ISAKMP.Policies = ps
	}
	p.push(isakmpMode{pol: pol})
}

// isakmpMode is `config-isakmp`.
type isakmpMode struct{ pol *ISAKMPPolicy }

func (m isakmpMode) command(p *parser, l *line) bool {
	switch l.word(0) {
	case "encryption", "encr", "hash", "authentication", "group", "lifetime":
	default:
		return false
	}
	pol := m.pol
	if pol == nil {
		return true
	}
	if len(l.words) < 2 {
		p.errorf(l, "%s: missing value", l.words[0])
		return true
	}
	switch l.word(0) {
	case "encryption", "encr":
		enc, err := parseIKEv1Encryption(l.words[1:])
		if err != nil {
			p.errorf(l, "isakmp policy %d: %v", pol.Priority, err)
			return true
		}
		pol.Encryption = enc
		p.isakmpSet[pol] |= setEncryption
		if enc.Cipher.Deprecated() {
			p.warnf(l, "isakmp policy %d: encryption %s is deprecated (RFC 8247); it still works", pol.Priority, l.rest(1))
		}
	case "hash":
		h, ok := hashNames[l.word(1)]
		if !ok || len(l.words) != 2 {
			p.errorf(l, "isakmp policy %d: want hash {md5|sha|sha256|sha384|sha512}", pol.Priority)
			return true
		}
		pol.Hash = h
		p.isakmpSet[pol] |= setHash
		if h == PRFHMACMD5 {
			p.warnf(l, "isakmp policy %d: hash md5 is deprecated (RFC 8247); it still works", pol.Priority)
		}
	case "authentication":
		a, ok := authNames[l.word(1)]
		if !ok || len(l.words) != 2 {
			p.errorf(l, "isakmp policy %d: want authentication {pre-share|rsa-sig|rsa-encr}", pol.Priority)
			return true
		}
		pol.Authentication = a
		p.isakmpSet[pol] |= setAuth
	case "group":
		g, ok := parseGroup(l.word(1))
		if !ok || len(l.words) != 2 {
			p.errorf(l, "isakmp policy %d: unknown group %q", pol.Priority, l.rest(1))
			return true
		}
		pol.Group = g
		p.isakmpSet[pol] |= setGroup
		if g.Deprecated() {
			p.warnf(l, "isakmp policy %d: group %d is deprecated (RFC 8247); it still works", pol.Priority, g)
		}
	case "lifetime":
		n, err := number(l, 1, "lifetime", 60, 86400)
		if err != nil || len(l.words) != 2 {
			p.errorf(l, "isakmp policy %d: want lifetime SECONDS (60-86400)", pol.Priority)
			return true
		}
		pol.Lifetime = int(n)
	}
	return true
}

var hashNames = map[string]PRF{
	"md5": PRFHMACMD5, "sha": PRFHMACSHA1, "sha256": PRFHMACSHA2_256,
	"sha384": PRFHMACSHA2_384, "sha512": PRFHMACSHA2_512,
}

var authNames = map[string]AuthMethod{
	"pre-share": AuthPreShare, "rsa-sig": AuthRSASig, "rsa-encr": AuthRSAEncr, "ecdsa-sig": AuthECDSASig,
}

func parseIKEv1Encryption(w []string) (Encryption, error) {
	switch strings.ToLower(w[0]) {
	case "des":
		if len(w) == 1 {
			return Encryption{Cipher: crypto.CipherDES}, nil
		}
	case "3des":
		if len(w) == 1 {
			return Encryption{Cipher: crypto.Cipher3DES}, nil
		}
	case "aes":
		e := Encryption{Cipher: crypto.CipherAESCBC, KeyBits: 128}
		switch {
		case len(w) == 1:
			return e, nil
		case len(w) == 2 && (w[1] == "128" || w[1] == "192" || w[1] == "256"):
			fmt.Sscan(w[1], &e.KeyBits)
			return e, nil
		}
	}
	return Encryption{}, fmt.Errorf("want encryption {des | 3des | aes [128|192|256]}, got %q", strings.Join(w, " "))
}

// isakmpKey is `crypto isakmp key [0] KEY address A [MASK] [no-xauth]`
// or `... address ipv6 P/LEN`.
func (p *parser) isakmpKey(l *line) {
	const usage = "want crypto isakmp key KEY address ADDRESS [MASK]"
	w := l.words[3:]
	if len(w) > 0 && (w[0] == "0" || w[0] == "6") && len(w) > 1 && !strings.EqualFold(w[1], "address") {
		if w[0] == "6" {
			p.errorf(l, "type 6 encrypted keys are not supported; configure the key in clear")
			return
		}
		w = w[1:]
	}
	if len(w) > 0 && strings.EqualFold(w[len(w)-1], "no-xauth") {
		w = w[:len(w)-1]
	}
	if len(w) < 2 {
		p.errorf(l, usage)
		return
	}
	k := &ISAKMPKey{Key: Secret(w[0]), Pos: l.pos}
	switch strings.ToLower(w[1]) {
	case "address":
	case "hostname":
		p.errorf(l, "crypto isakmp key ... hostname is not supported; key peers by address")
		return
	default:
		p.errorf(l, usage)
		return
	}
	pfx, err := addressMask(w[2:], true)
	if err != nil {
		p.errorf(l, "crypto isakmp key: %v", err)
		return
	}
	k.Peer = pfx
	for i, x := range p.pol.ISAKMP.Keys {
		if x.Peer == pfx {
			p.warnf(l, "crypto isakmp key for %s replaces the one at %s", pfx, x.Pos)
			p.pol.ISAKMP.Keys[i] = k
			return
		}
	}
	p.pol.ISAKMP.Keys = append(p.pol.ISAKMP.Keys, k)
}

// addressMask reads `A [MASK]`, `ipv6 P/LEN` or `P/LEN` (and `A` with
// zeroAny: 0.0.0.0 alone means every address, as in IOS key commands).
func addressMask(w []string, zeroAny bool) (netip.Prefix, error) {
	if len(w) > 0 && strings.EqualFold(w[0], "ipv6") {
		w = w[1:]
	}
	switch {
	case len(w) == 1 && strings.Contains(w[0], "/"):
		pfx, err := netip.ParsePrefix(w[0])
		if err != nil || pfx.Addr().Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("malformed prefix %q", w[0])
		}
		return pfx.Masked(), nil
	case len(w) == 1 || len(w) == 2:
		a, err := netip.ParseAddr(w[0])
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("malformed address %q", w[0])
		}
		bits := a.BitLen()
		if len(w) == 2 {
			if !a.Is4() {
				return netip.Prefix{}, fmt.Errorf("IPv6 addresses take P/LEN, not a mask")
			}
			if bits, err = maskBits(w[1]); err != nil {
				return netip.Prefix{}, err
			}
		} else if zeroAny && a.IsUnspecified() {
			bits = 0
		}
		pfx := netip.PrefixFrom(a, bits)
		if pfx.Masked().Addr() != a {
			return netip.Prefix{}, fmt.Errorf("address %s has bits set outside mask %s", a, maskText(bits))
		}
		return pfx, nil
	}
	return netip.Prefix{}, fmt.Errorf("want ADDRESS [MASK]")
}

func (p *parser) isakmpKeepalive(l *line) {
	const usage = "want crypto isakmp keepalive SECONDS [RETRY] [periodic|on-demand]"
	w := l.words[3:]
	k := &Keepalive{Retry: 2, Pos: l.pos}
	if n := len(w); n > 0 {
		switch strings.ToLower(w[n-1]) {
		case "periodic":
			k.Periodic = true
			w = w[:n-1]
		case "on-demand":
			w = w[:n-1]
		}
	}
	if len(w) < 1 || len(w) > 2 {
		p.errorf(l, usage)
		return
	}
	n, err := number(l, 3, "keepalive interval", 10, 3600)
	if err != nil {
		p.errorf(l, "%v", err)
		return
	}
	k.Interval = int(n)
	if len(w) == 2 {
		r, err := number(l, 4, "keepalive retry", 2, 60)
		if err != nil {
			p.errorf(l, "%v", err)
			return
		}
		k.Retry = int(r)
	}
	p.pol.ISAKMP.Keepalive = k
}

// IKEv2 encryption, integrity and PRF keywords.
var (
	ikev2Ciphers = map[string]Encryption{
		"des": {crypto.CipherDES, 0}, "3des": {crypto.Cipher3DES, 0},
		"aes-cbc-128": {crypto.CipherAESCBC, 128}, "aes-cbc-192": {crypto.CipherAESCBC, 192},
		"aes-cbc-256": {crypto.CipherAESCBC, 256}, "aes-gcm-128": {crypto.CipherAESGCM16, 128},
		"aes-gcm-256": {crypto.CipherAESGCM16, 256},
	}
	ikev2Integs = map[string]crypto.Integ{
		"md5": crypto.IntegHMACMD5_96, "sha1": crypto.IntegHMACSHA1_96, "sha256": crypto.IntegHMACSHA256_128,
		"sha384": crypto.IntegHMACSHA384_192, "sha512": crypto.IntegHMACSHA512_256,
	}
	ikev2PRFs = map[string]PRF{
		"md5": PRFHMACMD5, "sha1": PRFHMACSHA1, "sha256": PRFHMACSHA2_256,
		"sha384": PRFHMACSHA2_384, "sha512": PRFHMACSHA2_512,
	}
)

// keyword returns the name a map gives to v.
func keyword[V comparable](m map[string]V, v V) string {
	for k, x := range m {
		if x == v {
			return k
		}
	}
	return fmt.Sprint(v)
}

// named returns the object called l.words[at], creating it, for the
// `crypto ikev2 proposal|policy|keyring|profile NAME` headers.
func named[T any](p *parser, l *line, m map[string]*T, create func(name string) *T) *T {
	if len(l.words) != 4 {
		p.errorf(l, "want %s NAME", strings.Join(l.words[:min(3, len(l.words))], " "))
		return nil
	}
	if x := m[l.words[3]]; x != nil {
		return x
	}
	x := create(l.words[3])
	m[l.words[3]] = x
	return x
}

func (p *parser) ikev2Proposal(l *line) {
	p.push(proposalMode{named(p, l, p.pol.IKEv2.Proposals, func(n string) *IKEv2Proposal {
		return &IKEv2Proposal{Name: n, Pos: l.pos}
	})})
}

// proposalMode is `config-ikev2-proposal`. Each command appends to its
// list, as IOS does.
type proposalMode struct{ pr *IKEv2Proposal }

func (m proposalMode) command(p *parser, l *line) bool {
	switch l.word(0) {
	case "encryption", "integrity", "prf", "group":
	default:
		return false
	}
	pr := m.pr
	if pr == nil {
		return true
	}
	if len(l.words) < 2 {
		p.errorf(l, "%s: missing algorithm", l.words[0])
		return true
	}
	for _, w := range l.words[1:] {
		w = strings.ToLower(w)
		bad := false
		switch l.word(0) {
		case "encryption":
			e, ok := ikev2Ciphers[w]
			bad = !ok
			if ok {
				pr.Encryption = append(pr.Encryption, e)
				if e.Cipher.Deprecated() {
					p.warnf(l, "ikev2 proposal %s: encryption %s is deprecated (RFC 8247); it still works", pr.Name, w)
				}
			}
		case "integrity":
			i, ok := ikev2Integs[w]
			bad = !ok
			if ok {
				pr.Integrity = append(pr.Integrity, i)
				if i.Deprecated() {
					p.warnf(l, "ikev2 proposal %s: integrity %s is deprecated (RFC 8247); it still works", pr.Name, w)
				}
			}
		case "prf":
			f, ok := ikev2PRFs[w]
			bad = !ok
			if ok {
				pr.PRF = append(pr.PRF, f)
				if f == PRFHMACMD5 {
					p.warnf(l, "ikev2 proposal %s: prf md5 is deprecated (RFC 8247); it still works", pr.Name)
				}
			}
		case "group":
			g, ok := parseGroup(w)
			bad = !ok
			if ok {
				pr.Groups = append(pr.Groups, g)
				if g.Deprecated() {
					p.warnf(l, "ikev2 proposal %s: group %d is deprecated (RFC 8247); it still works", pr.Name, g)
				}
			}
		}
		if bad {
			p.errorf(l, "ikev2 proposal %s: unknown %s %q", pr.Name, l.word(0), w)
		}
	}
	return true
}

func (p *parser) ikev2Policy(l *line) {
	p.push(ikev2PolicyMode{named(p, l, p.pol.IKEv2.Policies, func(n string) *IKEv2Policy {
		return &IKEv2Policy{Name: n, Pos: l.pos}
	})})
}

// ikev2PolicyMode is `config-ikev2-policy`.
type ikev2PolicyMode struct{ pol *IKEv2Policy }

func (m ikev2PolicyMode) command(p *parser, l *line) bool {
	switch l.word(0) {
	case "proposal", "match", "description":
	default:
		return false
	}
	pol := m.pol
	switch {
	case pol == nil:
	case l.has("proposal") && len(l.words) == 2:
		pol.ProposalNames = append(pol.ProposalNames, l.words[1])
		pol.ProposalPos = append(pol.ProposalPos, l.pos)
	case l.has("match", "address", "local") && len(l.words) == 4:
		a, err := netip.ParseAddr(l.words[3])
		if err != nil || a.Zone() != "" {
			p.errorf(l, "match address local: malformed address %q", l.words[3])
			return true
		}
		pol.MatchLocal = append(pol.MatchLocal, a)
	case l.has("proposal"):
		p.errorf(l, "want proposal NAME")
	default:
		p.unimplemented(l)
	}
	return true
}

func (p *parser) ikev2Keyring(l *line) {
	p.push(keyringMode{named(p, l, p.pol.IKEv2.Keyrings, func(n string) *IKEv2Keyring {
		return &IKEv2Keyring{Name: n, Pos: l.pos}
	})})
}

// keyringMode is `config-ikev2-keyring`.
type keyringMode struct{ kr *IKEv2Keyring }

func (m keyringMode) command(p *parser, l *line) bool {
	if !l.has("peer") {
		return l.has("description")
	}
	if m.kr == nil {
		return true
	}
	if len(l.words) != 2 {
		p.errorf(l, "want peer NAME")
		p.push(peerMode{})
		return true
	}
	for _, x := range m.kr.Peers {
		if x.Name == l.words[1] {
			p.push(peerMode{kr: m.kr, peer: x})
			return true
		}
	}
	pe := &KeyringPeer{Name: l.words[1], Pos: l.pos}
	m.kr.Peers = append(m.kr.Peers, pe)
	p.push(peerMode{kr: m.kr, peer: pe})
	return true
}

// peerMode is `config-ikev2-keyring-peer`.
type peerMode struct {
	kr   *IKEv2Keyring
	peer *KeyringPeer
}

func (m peerMode) command(p *parser, l *line) bool {
	switch l.word(0) {
	case "address", "pre-shared-key", "description", "identity", "hostname":
	default:
		return false
	}
	pe := m.peer
	if pe == nil {
		return true
	}
	switch l.word(0) {
	case "address":
		pfx, err := addressMask(l.words[1:], true)
		if err != nil {
			p.errorf(l, "keyring %s peer %s: %v", m.kr.Name, pe.Name, err)
			return true
		}
		pe.Address = pfx
	case "pre-shared-key":
		w := l.words[1:]
		slot := &pe.PSK
		switch strings.ToLower(first(w)) {
		case "local":
			slot, w = &pe.LocalPSK, w[1:]
		case "remote":
			slot, w = &pe.RemotePSK, w[1:]
		}
		if len(w) == 2 && (w[0] == "0" || w[0] == "6") {
			if w[0] == "6" {
				p.errorf(l, "type 6 encrypted keys are not supported; configure the key in clear")
				return true
			}
			w = w[1:]
		}
		if len(w) != 1 {
			p.errorf(l, "want pre-shared-key [local|remote] KEY")
			return true
		}
		*slot = Secret(w[0])
	case "description":
		pe.Description = l.rest(1)
	default:
		p.unimplemented(l)
	}
	return true
}

func first(w []string) string {
	if len(w) == 0 {
		return ""
	}
	return w[0]
}

func (p *parser) ikev2Profile(l *line) {
	p.push(profileMode{named(p, l, p.pol.IKEv2.Profiles, func(n string) *IKEv2Profile {
		return &IKEv2Profile{Name: n, Pos: l.pos}
	})})
}

// profileMode is `config-ikev2-profile`.
type profileMode struct{ pr *IKEv2Profile }

func (m profileMode) command(p *parser, l *line) bool {
	switch l.word(0) {
	case "match", "identity", "authentication", "keyring", "lifetime", "dpd", "description",
		"nat", "ivrf", "virtual-template", "aaa", "config-exchange", "pki", "dynamic":
	default:
		return false
	}
	pr := m.pr
	if pr == nil {
		return true
	}
	name := "ikev2 profile " + pr.Name
	switch {
	case l.has("match", "identity", "remote", "address"):
		pfx, err := addressMask(l.words[4:], true)
		if err != nil {
			p.errorf(l, "%s: match identity remote address: %v", name, err)
			return true
		}
		pr.MatchRemote = append(pr.MatchRemote, pfx)
	case l.has("match", "identity", "remote", "any") && len(l.words) == 4:
		pr.MatchRemote = append(pr.MatchRemote, netip.PrefixFrom(netip.IPv4Unspecified(), 0), netip.PrefixFrom(netip.IPv6Unspecified(), 0))
		pr.MatchRemoteAny = true
	case l.has("match", "address", "local") && len(l.words) == 4:
		a, err := netip.ParseAddr(l.words[3])
		if err != nil || a.Zone() != "" {
			p.errorf(l, "%s: match address local: malformed address %q", name, l.words[3])
			return true
		}
		pr.MatchLocal = append(pr.MatchLocal, a)
	case l.has("identity", "local", "address") && len(l.words) == 4:
		a, err := netip.ParseAddr(l.words[3])
		if err != nil || a.Zone() != "" {
			p.errorf(l, "%s: identity local address: malformed address %q", name, l.words[3])
			return true
		}
		pr.LocalIdentity = a
	case l.has("authentication"):
		p.profileAuth(pr, l)
	case l.has("keyring", "local") && len(l.words) == 3:
		pr.KeyringName, pr.KeyringPos = l.words[2], l.pos
	case l.has("keyring"):
		p.errorf(l, "%s: only keyring local NAME is supported", name)
	case l.has("lifetime"):
		n, err := number(l, 1, "lifetime", 120, 86400)
		if err != nil || len(l.words) != 2 {
			p.errorf(l, "%s: want lifetime SECONDS (120-86400)", name)
			return true
		}
		pr.Lifetime = int(n)
	case l.has("dpd"):
		d, err := parseDPD(l)
		if err != nil {
			p.errorf(l, "%s: %v", name, err)
			return true
		}
		pr.DPD = d
	case l.has("description"):
		pr.Description = l.rest(1)
	default:
		p.unimplemented(l)
	}
	return true
}

// profileAuth is `authentication {local|remote} pre-share`.
func (p *parser) profileAuth(pr *IKEv2Profile, l *line) {
	if len(l.words) != 3 || (l.word(1) != "local" && l.word(1) != "remote") {
		p.errorf(l, "ikev2 profile %s: want authentication {local|remote} pre-share", pr.Name)
		return
	}
	a, ok := authNames[l.word(2)]
	if !ok && l.word(2) != "eap" {
		p.errorf(l, "ikev2 profile %s: unknown authentication method %q", pr.Name, l.words[2])
		return
	}
	if a != AuthPreShare {
		p.errorf(l, "ikev2 profile %s: authentication %s is not supported (only pre-share)", pr.Name, l.words[2])
		return
	}
	if l.word(1) == "local" {
		pr.AuthLocal = a
	} else {
		pr.AuthRemote = a
	}
}

// parseDPD reads `dpd INTERVAL RETRY {on-demand|periodic}`.
func parseDPD(l *line) (*DPD, error) {
	if len(l.words) != 4 || (l.word(3) != "on-demand" && l.word(3) != "periodic") {
		return nil, fmt.Errorf("want dpd INTERVAL RETRY {on-demand|periodic}")
	}
	i, err := number(l, 1, "dpd interval", 10, 3600)
	if err != nil {
		return nil, err
	}
	r, err := number(l, 2, "dpd retry", 2, 60)
	if err != nil {
		return nil, err
	}
	return &DPD{Interval: int(i), Retry: int(r), Periodic: l.word(3) == "periodic"}, nil
}
