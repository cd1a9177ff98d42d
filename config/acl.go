package config

import (
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"

	"ipsecgw/spd"
)

// This file reads and writes the parts of an access-list statement:
// protocols, `A WILDCARD` / `host A` / `any` / `P/LEN` address specs and
// tcp/udp port conditions, and answers the set questions peer-check asks of
// selectors (does one contain another, what is its mirror image).

// IP protocol numbers with IOS keywords.
var protoNames = map[string]uint8{
	"icmp": 1, "igmp": 2, "ipinip": 4, "tcp": 6, "udp": 17, "gre": 47,
	"esp": 50, "ahp": 51, "eigrp": 88, "ospf": 89, "pim": 103, "sctp": 132,
}

const (
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

// parseProto reads the protocol of an ACE: ip (ipv6 in IPv6 lists), a
// keyword or a number 1–255. 0 is what spd uses for "every protocol".
func parseProto(tok string, v6 bool) (uint8, error) {
	t := strings.ToLower(tok)
	switch {
	case t == "ip" && !v6, t == "ipv6" && v6:
		return 0, nil
	case t == "icmp" && v6:
		return protoICMPv6, nil
	}
	if n, ok := protoNames[t]; ok {
		return n, nil
	}
	n, err := strconv.Atoi(t)
	if err != nil || n < 1 || n > 255 {
		if v6 {
			return 0, fmt.Errorf("unknown protocol %q (want ipv6, tcp, udp, icmp, esp, ahp, gre or a number 1-255)", tok)
		}
		return 0, fmt.Errorf("unknown protocol %q (want ip, tcp, udp, icmp, esp, ahp, gre or a number 1-255)", tok)
	}
	return uint8(n), nil
}

func protoText(p uint8, v6 bool) string {
	switch {
	case p == 0 && v6:
		return "ipv6"
	case p == 0:
		return "ip"
	case p == protoICMPv6 && v6:
		return "icmp"
	}
	for name, n := range protoNames {
		if n == p && !(v6 && name == "icmp") {
			return name
		}
	}
	return strconv.Itoa(int(p))
}

// addrSpec is a parsed address operand.
type addrSpec struct {
	prefix netip.Prefix
	warn   string // host bits were set outside the wildcard
}

// parseAddrSpec reads an address operand at toks[0:]: `any`, `host A`,
// `A WILDCARD` (IPv4), or `P/LEN`. It returns the tokens consumed.
func parseAddrSpec(toks []string, v6 bool) (addrSpec, int, error) {
	if len(toks) == 0 {
		return addrSpec{}, 0, fmt.Errorf("missing address")
	}
	switch strings.ToLower(toks[0]) {
	case "any":
		if v6 {
			return addrSpec{prefix: netip.PrefixFrom(netip.IPv6Unspecified(), 0)}, 1, nil
		}
		return addrSpec{prefix: netip.PrefixFrom(netip.IPv4Unspecified(), 0)}, 1, nil
	case "host":
		if len(toks) < 2 {
			return addrSpec{}, 1, fmt.Errorf("host: missing address")
		}
		a, err := parseAddr(toks[1], v6)
		if err != nil {
			return addrSpec{}, 2, err
		}
		return addrSpec{prefix: netip.PrefixFrom(a, a.BitLen())}, 2, nil
	}
	if strings.Contains(toks[0], "/") {
		p, err := netip.ParsePrefix(toks[0])
		if err != nil || p.Addr().Is6() != v6 || p.Addr().Zone() != "" {
			return addrSpec{}, 1, fmt.Errorf("malformed prefix %q", toks[0])
		}
		return masked(p), 1, nil
	}
	a, err := parseAddr(toks[0], v6)
	if err != nil {
		return addrSpec{}, 1, err
	}
	if v6 {
		return addrSpec{}, 1, fmt.Errorf("IPv6 access lists take P/LEN, host A or any, not %q", toks[0])
	}
	if len(toks) < 2 {
		return addrSpec{}, 1, fmt.Errorf("address %s: missing wildcard mask", toks[0])
	}
	w, err := netip.ParseAddr(toks[1])
	if err != nil || !w.Is4() {
		return addrSpec{}, 2, fmt.Errorf("malformed wildcard mask %q", toks[1])
	}
	n, err := wildcardBits(w)
	if err != nil {
		return addrSpec{}, 2, err
	}
	return masked(netip.PrefixFrom(a, n)), 2, nil
}

// masked normalises a prefix, noting host bits that were set: IOS keeps
// only the bits the wildcard does not ignore.
func masked(p netip.Prefix) addrSpec {
	m := p.Masked()
	if m.Addr() != p.Addr() {
		return addrSpec{prefix: m, warn: fmt.Sprintf("address %s has bits set outside its mask; it means %s", p.Addr(), m)}
	}
	return addrSpec{prefix: m}
}

func parseAddr(tok string, v6 bool) (netip.Addr, error) {
	a, err := netip.ParseAddr(tok)
	if err != nil || a.Is6() != v6 || a.Zone() != "" || a.Is4In6() {
		if v6 {
			return netip.Addr{}, fmt.Errorf("malformed IPv6 address %q", tok)
		}
		return netip.Addr{}, fmt.Errorf("malformed address %q", tok)
	}
	return a, nil
}

// wildcardBits turns an IOS wildcard (inverse) mask into a prefix length.
// Discontiguous wildcards (ones not of the form 0…01…1) are refused: IOS XE
// does not support them in IPsec ACLs.
func wildcardBits(w netip.Addr) (int, error) {
	b := w.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	if v&(v+1) != 0 {
		return 0, fmt.Errorf("discontiguous wildcard mask %s is not supported in crypto access lists", w)
	}
	return 32 - bits.OnesCount32(v), nil
}

// maskBits turns a subnet mask (255.255.255.0) into a prefix length.
func maskBits(tok string) (int, error) {
	m, err := netip.ParseAddr(tok)
	if err != nil || !m.Is4() {
		return 0, fmt.Errorf("malformed mask %q", tok)
	}
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	if ^v&(^v+1) != 0 {
		return 0, fmt.Errorf("malformed mask %s (not contiguous)", tok)
	}
	return bits.OnesCount32(v), nil
}

func maskText(bitsLen int) string {
	v := ^uint32(0) << (32 - bitsLen)
	if bitsLen == 0 {
		v = 0
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()
}

func wildcardText(bitsLen int) string {
	v := ^uint32(0) >> bitsLen
	if bitsLen == 0 {
		v = ^uint32(0)
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()
}

// addrSpecText renders an address operand the IOS way.
func addrSpecText(p netip.Prefix, v6 bool) string {
	switch {
	case p.Bits() == 0:
		return "any"
	case p.Bits() == p.Addr().BitLen():
		return "host " + p.Addr().String()
	case v6:
		return p.String()
	}
	return p.Addr().String() + " " + wildcardText(p.Bits())
}

// Port keywords IOS accepts in tcp/udp conditions.
var portNames = map[string]uint16{
	"bgp": 179, "chargen": 19, "daytime": 13, "discard": 9, "domain": 53, "echo": 7,
	"finger": 79, "ftp": 21, "ftp-data": 20, "gopher": 70, "ident": 113, "irc": 194,
	"lpd": 515, "nntp": 119, "pop2": 109, "pop3": 110, "smtp": 25, "sunrpc": 111,
	"tacacs": 49, "telnet": 23, "time": 37, "whois": 43, "www": 80,
	"bootpc": 68, "bootps": 67, "isakmp": 500, "non500-isakmp": 4500, "ntp": 123,
	"rip": 520, "snmp": 161, "snmptrap": 162, "syslog": 514, "tftp": 69,
}

func parsePort(tok string) (uint16, error) {
	if n, ok := portNames[strings.ToLower(tok)]; ok {
		return n, nil
	}
	n, err := strconv.Atoi(tok)
	if err != nil || n < 0 || n > 65535 {
		return 0, fmt.Errorf("malformed port %q", tok)
	}
	return uint16(n), nil
}

func isPortOp(tok string) bool {
	switch strings.ToLower(tok) {
	case "eq", "lt", "gt", "neq", "range":
		return true
	}
	return false
}

// parsePortMatch reads `eq P`, `lt P`, `gt P`, `neq P` or `range A B`.
// Conditions that match no port, or only port 0 (which spd's zero
// PortMatch cannot tell from "any"), are refused.
func parsePortMatch(toks []string) (spd.PortMatch, int, error) {
	op := strings.ToLower(toks[0])
	need := 2
	if op == "range" {
		need = 3
	}
	if len(toks) < need {
		return spd.PortMatch{}, len(toks), fmt.Errorf("%s: missing port", op)
	}
	a, err := parsePort(toks[1])
	if err != nil {
		return spd.PortMatch{}, need, err
	}
	var pm spd.PortMatch
	switch op {
	case "eq":
		pm = spd.PortMatch{Lo: a, Hi: a}
	case "neq":
		pm = spd.PortMatch{Lo: a, Hi: a, Negate: true}
	case "lt":
		if a <= 1 {
			return pm, need, fmt.Errorf("lt %d matches no usable port", a)
		}
		pm = spd.PortMatch{Lo: 0, Hi: a - 1}
	case "gt":
		if a == 65535 {
			return pm, need, fmt.Errorf("gt 65535 matches no port")
		}
		pm = spd.PortMatch{Lo: a + 1, Hi: 65535}
	case "range":
		b, err := parsePort(toks[2])
		if err != nil {
			return pm, need, err
		}
		if b < a {
			return pm, need, fmt.Errorf("range %d %d: the first port must not be greater than the second", a, b)
		}
		pm = spd.PortMatch{Lo: a, Hi: b}
	}
	if !pm.Negate && pm.Lo == 0 && pm.Hi == 0 {
		return pm, need, fmt.Errorf("port 0 cannot be matched")
	}
	if pm.Any() {
		pm = spd.PortMatch{} // range 0 65535
	}
	return pm, need, nil
}

// portMatchText renders a port condition; "" for any port.
func portMatchText(p spd.PortMatch) string {
	switch {
	case p.Any():
		return ""
	case p.Negate:
		return fmt.Sprintf("neq %d", p.Lo)
	case p.Lo == p.Hi:
		return fmt.Sprintf("eq %d", p.Lo)
	case p.Lo == 0:
		return fmt.Sprintf("lt %d", int(p.Hi)+1)
	case p.Hi == 65535:
		return fmt.Sprintf("gt %d", int(p.Lo)-1)
	}
	return fmt.Sprintf("range %d %d", p.Lo, p.Hi)
}

// parseACE reads an access-list statement after its permit/deny keyword:
// PROTO SRC [PORTS] DST [PORTS] [log|log-input].
func parseACE(toks []string, v6 bool) (sel spd.Selector, log bool, warns []string, err error) {
	if len(toks) == 0 {
		return sel, false, nil, fmt.Errorf("missing protocol")
	}
	if sel.Proto, err = parseProto(toks[0], v6); err != nil {
		return sel, false, nil, err
	}
	ports := sel.Proto == protoTCP || sel.Proto == protoUDP
	i := 1
	for side := 0; side < 2; side++ {
		a, n, err := parseAddrSpec(toks[i:], v6)
		if err != nil {
			if side == 0 {
				return sel, false, nil, fmt.Errorf("source: %v", err)
			}
			return sel, false, nil, fmt.Errorf("destination: %v", err)
		}
		i += n
		if a.warn != "" {
			warns = append(warns, a.warn)
		}
		var pm spd.PortMatch
		if i < len(toks) && isPortOp(toks[i]) {
			if !ports {
				return sel, false, nil, fmt.Errorf("port conditions apply to tcp and udp only")
			}
			if pm, n, err = parsePortMatch(toks[i:]); err != nil {
				return sel, false, nil, err
			}
			i += n
		}
		if side == 0 {
			sel.Src, sel.SrcPorts = a.prefix, pm
		} else {
			sel.Dst, sel.DstPorts = a.prefix, pm
		}
	}
	for ; i < len(toks); i++ {
		switch strings.ToLower(toks[i]) {
		case "log", "log-input":
			log = true
		default:
			return sel, false, nil, fmt.Errorf("%q is not supported in crypto access lists", strings.Join(toks[i:], " "))
		}
	}
	return sel, log, warns, nil
}

// aceText renders a statement's selector: PROTO SRC [PORTS] DST [PORTS].
func aceText(s spd.Selector, v6 bool) string {
	parts := []string{protoText(s.Proto, v6), addrSpecText(s.Src, v6)}
	if t := portMatchText(s.SrcPorts); t != "" {
		parts = append(parts, t)
	}
	parts = append(parts, addrSpecText(s.Dst, v6))
	if t := portMatchText(s.DstPorts); t != "" {
		parts = append(parts, t)
	}
	return strings.Join(parts, " ")
}

// Text renders the line as IOS writes it.
func (l *ACLLine) Text(v6 bool) string {
	act := "deny"
	if l.Permit {
		act = "permit"
	}
	s := act + " " + aceText(l.Sel, v6)
	if l.Log {
		s += " log"
	}
	return s
}

// mirror returns the selector seen from the other end: sources and
// destinations swapped.
func mirror(s spd.Selector) spd.Selector {
	return spd.Selector{Proto: s.Proto, Src: s.Dst, Dst: s.Src, SrcPorts: s.DstPorts, DstPorts: s.SrcPorts}
}

// selContains reports whether every flow inner matches also matches outer.
func selContains(outer, inner spd.Selector) bool {
	if outer.Proto != 0 && outer.Proto != inner.Proto {
		return false
	}
	if !prefixContains(outer.Src, inner.Src) || !prefixContains(outer.Dst, inner.Dst) {
		return false
	}
	if inner.Proto != protoTCP && inner.Proto != protoUDP {
		// Port conditions only exist on tcp/udp lines; an `ip` line
		// contains flows of every protocol, with any ports.
		return outer.SrcPorts.Any() && outer.DstPorts.Any()
	}
	return portsContain(outer.SrcPorts, inner.SrcPorts) && portsContain(outer.DstPorts, inner.DstPorts)
}

func prefixContains(outer, inner netip.Prefix) bool {
	return outer.Addr().Is4() == inner.Addr().Is4() && outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

// portRanges returns the port intervals a condition matches.
func portRanges(p spd.PortMatch) [][2]uint16 {
	switch {
	case p.Any():
		return [][2]uint16{{0, 65535}}
	case p.Negate:
		var out [][2]uint16
		if p.Lo > 0 {
			out = append(out, [2]uint16{0, p.Lo - 1})
		}
		if p.Hi < 65535 {
			out = append(out, [2]uint16{p.Hi + 1, 65535})
		}
		return out
	}
	return [][2]uint16{{p.Lo, p.Hi}}
}

func portsContain(outer, inner spd.PortMatch) bool {
	o := portRanges(outer)
	for _, in := range portRanges(inner) {
		ok := false
		for _, r := range o {
			if in[0] >= r[0] && in[1] <= r[1] {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
