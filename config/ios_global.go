package config

import (
	"strings"
	"unicode/utf8"
)

// globalMode is configuration mode at the top level.
type globalMode struct{}

type globalCmd struct {
	prefix []string
	run    func(p *parser, l *line)
}

// globalCommands are the global commands the gateway implements, longest
// prefixes first where two share a start.
var globalCommands []globalCmd

// ignoredStanzas start multi-line configuration the gateway does not
// implement; their indented bodies are skipped with the header's warning.
var ignoredStanzas = [][]string{
	{"line"}, {"router"}, {"crypto", "pki"}, {"crypto", "ca"}, {"class-map"}, {"policy-map"},
	{"control-plane"}, {"crypto", "isakmp", "profile"}, {"crypto", "ipsec", "profile"},
	{"crypto", "keyring"}, {"key", "chain"}, {"vrf", "definition"}, {"ip", "vrf"},
	{"voice-port"}, {"dial-peer"}, {"track"}, {"ip", "sla"}, {"redundancy"}, {"archive"},
	{"crypto", "ikev2", "authorization"}, {"crypto", "ipsec", "client"}, {"ip", "dhcp", "pool"},
	{"object-group"}, {"route-map"}, {"zone-pair"}, {"parameter-map"}, {"snmp-server", "view"},
}

func init() {
	globalCommands = []globalCmd{
		{[]string{"access-list"}, (*parser).numberedACL},
		{[]string{"ip", "access-list", "extended"}, func(p *parser, l *line) { p.namedACL(l, 3, false) }},
		{[]string{"ip", "access-list"}, (*parser).otherACL},
		{[]string{"ipv6", "access-list"}, func(p *parser, l *line) { p.namedACL(l, 2, true) }},
		{[]string{"crypto", "ipsec", "transform-set"}, (*parser).transformSet},
		{[]string{"crypto", "ipsec", "security-association"}, (*parser).ipsecGlobal},
		{[]string{"crypto", "map"}, (*parser).cryptoMap},
		{[]string{"crypto", "dynamic-map"}, (*parser).dynamicMap},
		{[]string{"crypto", "isakmp", "policy"}, (*parser).isakmpPolicy},
		{[]string{"crypto", "isakmp", "key"}, (*parser).isakmpKey},
		{[]string{"crypto", "isakmp", "keepalive"}, (*parser).isakmpKeepalive},
		{[]string{"crypto", "ikev2", "proposal"}, (*parser).ikev2Proposal},
		{[]string{"crypto", "ikev2", "policy"}, (*parser).ikev2Policy},
		{[]string{"crypto", "ikev2", "keyring"}, (*parser).ikev2Keyring},
		{[]string{"crypto", "ikev2", "profile"}, (*parser).ikev2Profile},
		{[]string{"interface"}, (*parser).iface},
		{[]string{"ip", "route"}, func(p *parser, l *line) { p.route(l, false) }},
		{[]string{"ipv6", "route"}, func(p *parser, l *line) { p.route(l, true) }},
		{[]string{"hostname"}, (*parser).hostname},
		{[]string{"banner"}, (*parser).banner},
	}
}

func (globalMode) command(p *parser, l *line) bool {
	for _, c := range globalCommands {
		if l.has(c.prefix...) {
			c.run(p, l)
			return true
		}
	}
	for _, s := range ignoredStanzas {
		if l.has(s...) {
			p.unimplemented(l)
			p.push(ignoredStanza{})
			return true
		}
	}
	p.unimplemented(l)
	return true
}

func (p *parser) hostname(l *line) {
	if len(l.words) != 2 {
		p.errorf(l, "hostname: want hostname NAME")
		return
	}
	p.pol.Hostname = l.words[1]
}

// banner skips `banner TYPE ^C text ^C`, which may span lines.
func (p *parser) banner(l *line) {
	if len(l.words) < 3 {
		p.unimplemented(l)
		return
	}
	p.unimplemented(l)
	text := l.rest(2)
	_, size := utf8.DecodeRuneInString(text)
	delim := text[:size]
	if strings.HasPrefix(text, "^C") {
		delim = "^C"
	}
	if !strings.Contains(text[len(delim):], delim) {
		p.push(&bannerMode{delim: delim})
	}
}
