package config

import (
	"net/netip"
	"strings"
)

// Interfaces and static routes.

func (p *parser) iface(l *line) {
	if len(l.words) < 2 {
		p.errorf(l, "want interface NAME")
		p.push(ifaceMode{})
		return
	}
	// `interface FastEthernet 0/0` is FastEthernet0/0, as IOS writes it.
	name := strings.Join(l.words[1:], "")
	i := p.pol.Interfaces[name]
	if i == nil {
		i = &Interface{Name: name, Pos: l.pos}
		p.pol.Interfaces[name] = i
	}
	p.push(ifaceMode{i})
}

// ifaceMode is `config-if`. Besides the commands the gateway implements it
// claims the usual interface commands it ignores (duplex, ip nat inside,
// no ip route-cache, ...), so that a pasted interface stanza stays one
// stanza; global commands sharing a first word (ip route, ip nat inside
// source) fall through to the global mode.
type ifaceMode struct{ i *Interface }

// Interface commands the gateway ignores: first words, and the second
// words of `ip` and `ipv6` interface commands.
var (
	ifaceIgnored = map[string]bool{
		"duplex": true, "speed": true, "shutdown": true, "negotiation": true, "mtu": true,
		"bandwidth": true, "delay": true, "load-interval": true, "encapsulation": true,
		"keepalive": true, "cdp": true, "media-type": true, "vrf": true, "standby": true,
		"vrrp": true, "service-policy": true, "clock": true, "tunnel": true, "mop": true,
		"arp": true, "pppoe": true, "dialer": true, "zone-member": true, "carrier-delay": true,
		"channel-group": true, "switchport": true, "spanning-tree": true, "hold-queue": true,
		"lldp": true, "mac-address": true, "nameif": true, "security-level": true,
		"logging": true, "snmp": true, "no": true,
	}
	ifaceIPIgnored = map[string]bool{
		"route-cache": true, "mroute-cache": true, "redirects": true, "unreachables": true,
		"proxy-arp": true, "directed-broadcast": true, "access-group": true, "ospf": true,
		"helper-address": true, "mtu": true, "tcp": true, "virtual-reassembly": true,
		"flow": true, "policy": true, "pim": true, "igmp": true, "verify": true, "vrf": true,
		"nbar": true, "split-horizon": true, "summary-address": true, "authentication": true,
		"hello-interval": true, "rip": true, "wccp": true, "accounting": true,
		"mask-reply": true, "local-proxy-arp": true, "information-reply": true,
		"enable": true, "nd": true, "traffic-filter": true, "dhcp": true, "cef": true,
	}
)

func (m ifaceMode) command(p *parser, l *line) bool {
	w := l.words
	neg := l.word(0) == "no"
	if neg {
		w = w[1:]
	}
	first := strings.ToLower(firstWord(w))
	second := ""
	if len(w) > 1 {
		second = strings.ToLower(w[1])
	}
	switch {
	case first == "ip" && second == "address", first == "ipv6" && second == "address":
	case first == "crypto" && second == "map" && len(w) == 3:
	case first == "crypto" && second == "ipsec" && len(w) > 2 && (strings.EqualFold(w[2], "df-bit") || strings.EqualFold(w[2], "fragmentation")):
	case first == "description":
	case first == "ip" && second == "nat" && len(w) == 3: // ip nat inside|outside
	case (first == "ip" || first == "ipv6") && ifaceIPIgnored[second]:
	case first != "ip" && first != "ipv6" && first != "crypto" && ifaceIgnored[first]:
	default:
		return false
	}
	i := m.i
	if i == nil {
		return true
	}
	switch {
	case !neg && first == "ip" && second == "address":
		p.ipAddress(i, l)
	case neg && first == "ip" && second == "address":
		i.Addresses = filterAddrs(i.Addresses, func(a netip.Prefix) bool { return !a.Addr().Is4() })
	case !neg && first == "ipv6" && second == "address":
		p.ipv6Address(i, l)
	case neg && first == "ipv6" && second == "address":
		i.Addresses = filterAddrs(i.Addresses, func(a netip.Prefix) bool { return a.Addr().Is4() })
	case !neg && first == "crypto" && second == "map":
		i.CryptoMapName, i.CryptoMapPos = w[2], l.pos
	case neg && first == "crypto" && second == "map":
		i.CryptoMapName, i.CryptoMapPos = "", Pos{}
	case !neg && first == "description":
		i.Description = l.rest(1)
	default:
		p.unimplemented(l)
	}
	return true
}

func firstWord(w []string) string {
	if len(w) == 0 {
		return ""
	}
	return w[0]
}

func filterAddrs(as []netip.Prefix, keep func(netip.Prefix) bool) []netip.Prefix {
	var out []netip.Prefix
	for _, a := range as {
		if keep(a) {
			out = append(out, a)
		}
	}
	return out
}

// ipAddress is `ip address A MASK [secondary]`; without secondary it
// replaces the primary address.
func (p *parser) ipAddress(i *Interface, l *line) {
	n := len(l.words)
	secondary := n == 5 && l.word(4) == "secondary"
	if n != 4 && !secondary {
		if n == 3 && (l.word(2) == "dhcp" || l.word(2) == "negotiated") {
			p.warnf(l, "not implemented, ignored: %s (configure the address)", l.shown())
			return
		}
		p.errorf(l, "want ip address ADDRESS MASK [secondary]")
		return
	}
	a, err := netip.ParseAddr(l.words[2])
	if err != nil || !a.Is4() {
		p.errorf(l, "interface %s: malformed address %q", i.Name, l.words[2])
		return
	}
	bits, err := maskBits(l.words[3])
	if err != nil {
		p.errorf(l, "interface %s: %v", i.Name, err)
		return
	}
	pfx := netip.PrefixFrom(a, bits)
	if bits < 31 && (a == pfx.Masked().Addr() || a == lastAddr(pfx)) {
		p.errorf(l, "interface %s: %s is the network or broadcast address of %s", i.Name, a, pfx.Masked())
		return
	}
	for _, x := range i.Addresses {
		if x.Addr() == a {
			p.warnf(l, "interface %s already has address %s", i.Name, a)
			return
		}
	}
	if secondary {
		i.Addresses = append(i.Addresses, pfx)
		return
	}
	for k, x := range i.Addresses {
		if x.Addr().Is4() {
			i.Addresses[k] = pfx // replace the primary
			return
		}
	}
	i.Addresses = append([]netip.Prefix{pfx}, i.Addresses...)
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= ^uint32(0) >> p.Bits()
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// ipv6Address is `ipv6 address P/LEN`.
func (p *parser) ipv6Address(i *Interface, l *line) {
	if len(l.words) != 3 {
		p.warnf(l, "not implemented, ignored: %s", l.shown())
		return
	}
	if l.word(2) == "autoconfig" || l.word(2) == "dhcp" {
		p.warnf(l, "not implemented, ignored: %s (configure the address)", l.shown())
		return
	}
	pfx, err := netip.ParsePrefix(l.words[2])
	if err != nil || !pfx.Addr().Is6() || pfx.Addr().Is4In6() || pfx.Addr().Zone() != "" {
		p.errorf(l, "interface %s: malformed IPv6 address %q (want ADDRESS/LENGTH)", i.Name, l.words[2])
		return
	}
	for _, x := range i.Addresses {
		if x.Addr() == pfx.Addr() {
			p.warnf(l, "interface %s already has address %s", i.Name, pfx.Addr())
			return
		}
	}
	i.Addresses = append(i.Addresses, pfx)
}

// route is `ip route PREFIX MASK {NEXTHOP | INTERFACE [NEXTHOP]} [DISTANCE]`
// or `ipv6 route P/LEN {NEXTHOP | INTERFACE [NEXTHOP]} [DISTANCE]`.
func (p *parser) route(l *line, v6 bool) {
	w := l.words[2:]
	var pfx netip.Prefix
	if v6 {
		if len(w) < 2 {
			p.errorf(l, "want ipv6 route PREFIX/LENGTH {NEXTHOP | INTERFACE [NEXTHOP]} [DISTANCE]")
			return
		}
		var err error
		pfx, err = netip.ParsePrefix(w[0])
		if err != nil || !pfx.Addr().Is6() || pfx.Addr().Zone() != "" {
			p.errorf(l, "ipv6 route: malformed prefix %q", w[0])
			return
		}
		w = w[1:]
	} else {
		if len(w) < 3 {
			p.errorf(l, "want ip route PREFIX MASK {NEXTHOP | INTERFACE [NEXTHOP]} [DISTANCE]")
			return
		}
		a, err := netip.ParseAddr(w[0])
		if err != nil || !a.Is4() {
			p.errorf(l, "ip route: malformed prefix %q", w[0])
			return
		}
		bits, err := maskBits(w[1])
		if err != nil {
			p.errorf(l, "ip route: %v", err)
			return
		}
		pfx = netip.PrefixFrom(a, bits)
		w = w[2:]
	}
	if pfx.Masked() != pfx {
		p.errorf(l, "route %s: inconsistent address and mask (the network is %s)", pfx, pfx.Masked())
		return
	}
	r := Route{Prefix: pfx, Pos: l.pos}
	for k, tok := range w {
		if a, err := netip.ParseAddr(tok); err == nil && !r.NextHop.IsValid() && a.Zone() == "" {
			if a.Is4() == v6 {
				p.errorf(l, "route %s: next hop %s is of the other address family", pfx, a)
				return
			}
			r.NextHop = a
			continue
		}
		if n, err := number(l, len(l.words)-len(w)+k, "distance", 1, 255); err == nil && (r.NextHop.IsValid() || r.Interface != "") && r.Distance == 0 {
			r.Distance = int(n)
			continue
		}
		if k == 0 {
			r.Interface = tok
			continue
		}
		p.warnf(l, "not implemented, ignored: route option %q", strings.Join(w[k:], " "))
		break
	}
	if !r.NextHop.IsValid() && r.Interface == "" {
		p.errorf(l, "route %s: missing next hop or interface", pfx)
		return
	}
	p.pol.Routes = append(p.pol.Routes, r)
}
