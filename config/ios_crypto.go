package config

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
)

// Transform sets, the global IPsec SA settings, crypto maps and dynamic
// maps with their entries' sub-commands.

func (p *parser) transformSet(l *line) {
	if len(l.words) < 4 {
		p.errorf(l, "want crypto ipsec transform-set NAME TRANSFORM1 [TRANSFORM2 [TRANSFORM3]]")
		p.push(transformMode{})
		return
	}
	name := l.words[3]
	ts, warns, err := parseTransforms(l.words[4:])
	if err != nil {
		p.errorf(l, "transform set %s: %v", name, err)
		p.failed["transform-set "+name] = true
		p.push(transformMode{})
		return
	}
	for _, w := range warns {
		p.warnf(l, "transform set %s: %s", name, w)
	}
	if old := p.pol.TransformSets[name]; old != nil {
		ts.Mode = old.Mode // IOS keeps the mode when the transforms change
	}
	ts.Name, ts.Pos = name, l.pos
	t := &ts
	p.pol.TransformSets[name] = t
	p.push(transformMode{ts: t})
}

// transformMode is `cfg-crypto-trans`.
type transformMode struct{ ts *TransformSet }

func (m transformMode) command(p *parser, l *line) bool {
	switch {
	case l.has("mode"):
		if m.ts == nil {
			return true
		}
		switch {
		case len(l.words) == 1:
			m.ts.Mode = Tunnel
		case len(l.words) == 2 && l.word(1) == "tunnel":
			m.ts.Mode = Tunnel
		case len(l.words) == 2 && l.word(1) == "transport":
			m.ts.Mode = Transport
		default:
			p.errorf(l, "want mode {tunnel|transport}")
		}
	case l.has("no", "mode"):
		if m.ts != nil {
			m.ts.Mode = Tunnel
		}
	default:
		return false
	}
	return true
}

// Lifetime ranges IOS accepts for IPsec SAs.
const (
	minLifetimeSeconds   = 120
	maxLifetimeSeconds   = 86400
	minLifetimeKilobytes = 2560
	maxLifetimeKilobytes = 4294967295
)

// ipsecGlobal is `crypto ipsec security-association lifetime|replay ...`.
func (p *parser) ipsecGlobal(l *line) {
	g := &p.pol.IPsec
	switch {
	case l.has("crypto", "ipsec", "security-association", "lifetime"):
		p.lifetime(l, 4, &g.Lifetime)
	case l.has("crypto", "ipsec", "security-association", "replay"):
		p.replay(l, 4, &g.ReplayWindow)
	default:
		p.unimplemented(l)
	}
}

// lifetime reads `... lifetime {seconds N | kilobytes N}` from word at.
func (p *parser) lifetime(l *line, at int, lt *Lifetime) {
	if len(l.words) != at+2 {
		p.errorf(l, "want lifetime {seconds N | kilobytes N}")
		return
	}
	switch l.word(at) {
	case "seconds":
		n, err := number(l, at+1, "lifetime", minLifetimeSeconds, maxLifetimeSeconds)
		if err != nil {
			p.errorf(l, "%v seconds", err)
			return
		}
		lt.Seconds = n
	case "kilobytes":
		if l.word(at+1) == "disable" {
			p.unimplemented(l)
			return
		}
		n, err := number(l, at+1, "lifetime", minLifetimeKilobytes, maxLifetimeKilobytes)
		if err != nil {
			p.errorf(l, "%v kilobytes", err)
			return
		}
		lt.Kilobytes = n
	default:
		p.errorf(l, "want lifetime {seconds N | kilobytes N}")
	}
}

// replay reads `... replay {window-size N | disable}` from word at.
func (p *parser) replay(l *line, at int, w *int) {
	switch {
	case len(l.words) == at+1 && l.word(at) == "disable":
		*w = ReplayDisabled
	case len(l.words) == at+2 && l.word(at) == "window-size":
		n, err := number(l, at+1, "replay window size", 64, 4096)
		if err == nil && n&(n-1) != 0 {
			err = fmt.Errorf("replay window size %d: want a power of two from 64 to 4096", n)
		}
		if err != nil {
			p.errorf(l, "%v", err)
			return
		}
		*w = int(n)
	default:
		p.errorf(l, "want replay {window-size N | disable}")
	}
}

// cryptoMap is `crypto map NAME SEQ [ipsec-isakmp [dynamic DYN] |
// ipsec-manual]` or `crypto map NAME local-address IFACE`.
func (p *parser) cryptoMap(l *line) {
	if len(l.words) < 4 {
		p.errorf(l, "want crypto map NAME SEQ {ipsec-isakmp [dynamic DYNAMIC-MAP] | ipsec-manual}")
		return
	}
	name := l.words[2]
	if l.word(3) == "local-address" {
		if len(l.words) != 5 {
			p.errorf(l, "want crypto map NAME local-address INTERFACE")
			return
		}
		m := p.cryptoMapFor(name, l)
		m.LocalAddress, m.LocalAddressPos = l.words[4], l.pos
		return
	}
	seq, err := number(l, 3, "sequence number", 1, 65535)
	if err != nil {
		if _, nerr := number(l, 3, "", 0, 1<<62); nerr != nil {
			// `crypto map NAME isakmp authorization ...` and similar.
			p.unimplemented(l)
			return
		}
		p.errorf(l, "crypto map %s: %v", name, err)
		p.push(entryMode{})
		return
	}
	kind := ISAKMPEntry
	dyn := ""
	switch {
	case len(l.words) == 4, len(l.words) == 5 && l.word(4) == "ipsec-isakmp":
	case len(l.words) == 5 && l.word(4) == "ipsec-manual":
		kind = ManualEntry
	case len(l.words) == 7 && l.word(4) == "ipsec-isakmp" && l.word(5) == "dynamic":
		kind, dyn = DynamicEntry, l.words[6]
	default:
		p.errorf(l, "crypto map %s %d: want ipsec-isakmp, ipsec-isakmp dynamic DYNAMIC-MAP or ipsec-manual (got %q)", name, seq, l.rest(4))
		p.push(entryMode{})
		return
	}
	m := p.cryptoMapFor(name, l)
	e, created := entryAt(&m.Entries, int(seq), func() *MapEntry {
		return &MapEntry{Map: name, Seq: int(seq), Kind: kind, Dynamic: dyn, Pos: l.pos}
	})
	if !created && (e.Kind != kind || e.Dynamic != dyn) {
		p.errorf(l, "crypto map %s %d is already defined as %s at %s; remove it before changing its type", name, seq, e.Kind, e.Pos)
		p.push(entryMode{})
		return
	}
	p.push(entryMode{e: e})
}

func (p *parser) cryptoMapFor(name string, l *line) *CryptoMap {
	m := p.pol.CryptoMaps[name]
	if m == nil {
		m = &CryptoMap{Name: name, Pos: l.pos}
		p.pol.CryptoMaps[name] = m
	}
	return m
}

// dynamicMap is `crypto dynamic-map NAME SEQ`.
func (p *parser) dynamicMap(l *line) {
	if len(l.words) != 4 {
		p.errorf(l, "want crypto dynamic-map NAME SEQ")
		p.push(entryMode{})
		return
	}
	name := l.words[2]
	seq, err := number(l, 3, "sequence number", 1, 65535)
	if err != nil {
		p.errorf(l, "crypto dynamic-map %s: %v", name, err)
		p.push(entryMode{})
		return
	}
	m := p.pol.DynamicMaps[name]
	if m == nil {
		m = &DynamicMap{Name: name, Pos: l.pos}
		p.pol.DynamicMaps[name] = m
	}
	e, _ := entryAt(&m.Entries, int(seq), func() *MapEntry {
		return &MapEntry{Map: name, Seq: int(seq), Kind: ISAKMPEntry, Pos: l.pos}
	})
	p.push(entryMode{e: e, dynamic: true})
}

// entryMode is `config-crypto-map`, for crypto map and dynamic map
// entries. e is nil after a malformed header: sub-commands are skipped.
type entryMode struct {
	e       *MapEntry
	dynamic bool
}

func (m entryMode) command(p *parser, l *line) bool {
	switch l.word(0) {
	case "set", "match", "reverse-route", "description", "qos":
	case "no":
		if w := l.word(1); w == "set" || w == "match" || w == "reverse-route" || w == "description" {
			p.unimplemented(l)
			return true
		}
		return false
	default:
		return false
	}
	e := m.e
	if e == nil {
		return true
	}
	name := e.Name(m.dynamic)
	if e.Kind == DynamicEntry {
		p.errorf(l, "%s includes dynamic map %s: configure %q in the dynamic map's entries", name, e.Dynamic, l.shown())
		return true
	}
	switch {
	case l.has("match", "address"):
		if len(l.words) != 3 {
			p.errorf(l, "want match address ACCESS-LIST")
			return true
		}
		e.MatchAddress, e.MatchPos = l.words[2], l.pos
	case l.has("set", "peer"):
		p.setPeer(e, l)
	case l.has("set", "transform-set"):
		names := l.words[2:]
		switch {
		case len(names) == 0:
			p.errorf(l, "want set transform-set NAME1 [NAME2 ... NAME6]")
		case len(names) > 6:
			p.errorf(l, "%s: at most 6 transform sets, got %d", name, len(names))
		default:
			e.TransformSetNames, e.TransformPos = append([]string(nil), names...), l.pos
		}
	case l.has("set", "security-association", "lifetime"):
		p.lifetime(l, 3, &e.Lifetime)
	case l.has("set", "security-association", "level"):
		if len(l.words) != 4 || l.word(3) != "per-host" {
			p.errorf(l, "want set security-association level per-host")
			return true
		}
		e.PerHost = true
	case l.has("set", "security-association", "replay"):
		p.replay(l, 3, &e.ReplayWindow)
	case l.has("set", "pfs"):
		p.setPFS(e, l)
	case l.has("set", "ikev2-profile"):
		if len(l.words) != 3 {
			p.errorf(l, "want set ikev2-profile NAME")
			return true
		}
		e.IKEv2ProfileName, e.ProfilePos = l.words[2], l.pos
	case l.has("set", "session-key"):
		if m.dynamic || e.Kind != ManualEntry {
			p.errorf(l, "%s: session keys belong in ipsec-manual crypto map entries", name)
			return true
		}
		p.sessionKey(e, l)
	case l.has("reverse-route"):
		e.ReverseRoute = true
		if len(l.words) > 1 {
			p.warnf(l, "not implemented, ignored: reverse-route option %q (plain reverse-route applies)", l.rest(1))
		}
	case l.has("description"):
		e.Description = l.rest(1)
	default:
		p.unimplemented(l)
	}
	return true
}

func (p *parser) setPeer(e *MapEntry, l *line) {
	if len(l.words) < 3 || len(l.words) > 4 || (len(l.words) == 4 && l.word(3) != "default") {
		p.errorf(l, "want set peer ADDRESS [default]")
		return
	}
	a, err := netip.ParseAddr(l.words[2])
	if err != nil || a.Zone() != "" {
		p.errorf(l, "set peer %s: peers are given by IP address (host names are not supported)", l.words[2])
		return
	}
	for _, x := range e.Peers {
		if x == a {
			p.warnf(l, "peer %s is already set", a)
			return
		}
	}
	if len(l.words) == 4 {
		e.Peers = append([]netip.Addr{a}, e.Peers...)
	} else {
		e.Peers = append(e.Peers, a)
	}
	if e.PeerPos.Line == 0 {
		e.PeerPos = l.pos
	}
}

func (p *parser) setPFS(e *MapEntry, l *line) {
	g := DHGroup(1) // IOS: set pfs alone means group1
	switch len(l.words) {
	case 2:
	case 3:
		n, ok := parseGroupWord(l.word(2))
		if !ok {
			p.errorf(l, "set pfs: unknown group %q (want one of %s)", l.words[2], groupsText())
			return
		}
		g = n
	default:
		p.errorf(l, "want set pfs [groupN]")
		return
	}
	if g.Deprecated() {
		p.warnf(l, "PFS %s is deprecated (RFC 8247); it still works", g)
	}
	e.PFS, e.PFSPos = g, l.pos
}

func parseGroupWord(w string) (DHGroup, bool) {
	if !strings.HasPrefix(w, "group") {
		return 0, false
	}
	return parseGroup(strings.TrimPrefix(w, "group"))
}

func parseGroup(s string) (DHGroup, bool) {
	for _, g := range dhGroups {
		if fmt.Sprint(uint16(g)) == s {
			return g, true
		}
	}
	return 0, false
}

func groupsText() string {
	s := make([]string, len(dhGroups))
	for i, g := range dhGroups {
		s[i] = g.String()
	}
	return strings.Join(s, ", ")
}

// sessionKey is `set session-key {inbound|outbound} ah SPI HEXKEY` or
// `set session-key {inbound|outbound} esp SPI [cipher HEXKEY]
// [authenticator HEXKEY]` (no key at all for esp-null under AH).
func (p *parser) sessionKey(e *MapEntry, l *line) {
	const usage = "want set session-key {inbound|outbound} {ah SPI KEY | esp SPI [cipher KEY] [authenticator KEY]}"
	if len(l.words) < 5 {
		p.errorf(l, usage)
		return
	}
	dir := l.word(2)
	if dir != "inbound" && dir != "outbound" {
		p.errorf(l, usage)
		return
	}
	spi, err := number(l, 4, "SPI", 256, 4294967295)
	if err != nil {
		p.errorf(l, "session key: %v (SPIs 0-255 are reserved, RFC 4303)", err)
		return
	}
	k := &SessionKey{SPI: uint32(spi), Pos: l.pos}
	var slot **SessionKey
	switch l.word(3) {
	case "ah":
		if len(l.words) != 6 {
			p.errorf(l, usage)
			return
		}
		if k.Auth, err = hexKey(l.words[5]); err != nil {
			p.errorf(l, "session key: %v", err)
			return
		}
		slot = &e.SessionKeys.InboundAH
		if dir == "outbound" {
			slot = &e.SessionKeys.OutboundAH
		}
	case "esp":
		rest := l.words[5:]
		for len(rest) > 0 {
			if len(rest) < 2 {
				p.errorf(l, usage)
				return
			}
			key, err := hexKey(rest[1])
			if err != nil {
				p.errorf(l, "session key: %v", err)
				return
			}
			switch strings.ToLower(rest[0]) {
			case "cipher":
				k.Cipher = key
			case "authenticator":
				k.Auth = key
			default:
				p.errorf(l, usage)
				return
			}
			rest = rest[2:]
		}
		slot = &e.SessionKeys.InboundESP
		if dir == "outbound" {
			slot = &e.SessionKeys.OutboundESP
		}
	default:
		p.errorf(l, usage)
		return
	}
	*slot = k
}

func hexKey(s string) (Key, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("key is not a hex string of whole bytes")
	}
	return Key(b), nil
}
