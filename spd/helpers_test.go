package spd

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// policy builds rules from crypto map entries, each a list of ACL lines in a
// compact IOS-like syntax:
//
//	permit|deny PROTO SRC [PORTS] DST [PORTS]
//
// PROTO is ip, tcp, udp, icmp or a number; SRC and DST are any (IPv4),
// any6, host A or a prefix; PORTS is eq|lt|gt|neq N or range A B.
func policy(t testing.TB, entries ...[]string) []Rule {
	t.Helper()
	var rules []Rule
	for e, lines := range entries {
		for i, l := range lines {
			sel, permit, err := parseLine(l)
			if err != nil {
				t.Fatalf("entry %d line %q: %v", e, l, err)
			}
			rules = append(rules, Rule{Sel: sel, Permit: permit, Entry: (e + 1) * 10, Line: i + 1})
		}
	}
	return rules
}

func parseLine(l string) (sel Selector, permit bool, err error) {
	f := strings.Fields(l)
	next := func() string {
		if len(f) == 0 {
			err = fmt.Errorf("line too short")
			return ""
		}
		s := f[0]
		f = f[1:]
		return s
	}
	switch next() {
	case "permit":
		permit = true
	case "deny":
	default:
		return sel, false, fmt.Errorf("want permit or deny")
	}
	switch p := next(); p {
	case "ip":
	case "tcp":
		sel.Proto = 6
	case "udp":
		sel.Proto = 17
	case "icmp":
		sel.Proto = 1
	default:
		n, e := strconv.ParseUint(p, 10, 8)
		if e != nil {
			return sel, false, e
		}
		sel.Proto = uint8(n)
	}
	addr := func() netip.Prefix {
		switch s := next(); s {
		case "any":
			return netip.MustParsePrefix("0.0.0.0/0")
		case "any6":
			return netip.MustParsePrefix("::/0")
		case "host":
			a := netip.MustParseAddr(next())
			return netip.PrefixFrom(a, a.BitLen())
		default:
			return netip.MustParsePrefix(s)
		}
	}
	num := func() uint16 {
		n, e := strconv.ParseUint(next(), 10, 16)
		if e != nil {
			err = e
		}
		return uint16(n)
	}
	ports := func() (pm PortMatch) {
		if len(f) == 0 {
			return pm
		}
		switch f[0] {
		case "eq", "lt", "gt", "neq", "range":
		default:
			return pm
		}
		switch next() {
		case "eq":
			n := num()
			return PortMatch{Lo: n, Hi: n}
		case "lt":
			return PortMatch{Lo: 0, Hi: num() - 1}
		case "gt":
			return PortMatch{Lo: num() + 1, Hi: 65535}
		case "neq":
			n := num()
			return PortMatch{Lo: n, Hi: n, Negate: true}
		default:
			lo := num()
			return PortMatch{Lo: lo, Hi: num()}
		}
	}
	sel.Src = addr()
	sel.SrcPorts = ports()
	sel.Dst = addr()
	sel.DstPorts = ports()
	if err == nil && len(f) > 0 {
		err = fmt.Errorf("trailing %q", f)
	}
	return sel, permit, err
}

func flow(src string, sport uint16, dst string, dport uint16, proto uint8) Flow {
	return Flow{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: proto, SrcPort: sport, DstPort: dport}
}

// chooser is where generators take their choices from: a seeded PRNG in
// tests, the fuzzer's bytes in FuzzLookup.
type chooser interface{ IntN(n int) int }

// Small universe: addresses, lengths, protocols and ports drawn from few
// values near each other, so that random rules overlap, nest and touch.
var (
	v4Lens    = []int{0, 8, 16, 22, 23, 24, 25, 26, 28, 30, 31, 32}
	v6Lens    = []int{0, 32, 64, 120, 122, 124, 126, 127, 128}
	protoPool = []uint8{0, 0, 0, 1, 6, 6, 17, 17, 50}
	flowProto = []uint8{0, 1, 2, 6, 6, 6, 17, 17, 17, 50, 58}
	portPool  = []uint16{0, 1, 22, 23, 24, 79, 80, 81, 443, 1023, 1024, 1025, 5060, 5061, 65534, 65535}
)

func smallAddr(c chooser, v6 bool) netip.Addr {
	if v6 {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(c.IntN(256)), 14: byte(c.IntN(2))})
	}
	return netip.AddrFrom4([4]byte{10, byte(c.IntN(2)), byte(c.IntN(4)), byte(c.IntN(256))})
}

func smallPrefix(c chooser, v6 bool) netip.Prefix {
	lens := v4Lens
	if v6 {
		lens = v6Lens
	}
	p := netip.PrefixFrom(smallAddr(c, v6), lens[c.IntN(len(lens))])
	if c.IntN(4) == 0 {
		return p // host bits left set, as a config may hand them over
	}
	return p.Masked()
}

func smallPorts(c chooser) PortMatch {
	p := func() uint16 { return portPool[c.IntN(len(portPool))] }
	switch c.IntN(8) {
	case 0:
		n := p()
		return PortMatch{Lo: n, Hi: n}
	case 1:
		return PortMatch{Lo: 0, Hi: p()}
	case 2:
		return PortMatch{Lo: p(), Hi: 65535}
	case 3:
		n := p()
		return PortMatch{Lo: n, Hi: n, Negate: true}
	case 4: // any raw condition, empty and inverted ranges included
		return PortMatch{Lo: p(), Hi: p(), Negate: c.IntN(2) == 0}
	}
	return PortMatch{}
}

// randomPolicy returns n rules in entries of 1 to 5 lines over the small
// universe; each entry is IPv4, IPv6 or mixed.
func randomPolicy(c chooser, n int) []Rule {
	rules := make([]Rule, 0, n)
	entry, left, fam := 0, 0, 0
	for len(rules) < n {
		if left == 0 {
			entry++
			left = 1 + c.IntN(5)
			fam = c.IntN(5) // 0..2 v4, 3 v6, 4 mixed
		}
		left--
		v6 := fam == 3 || (fam == 4 && c.IntN(2) == 0)
		r := Rule{
			Sel: Selector{
				Proto: protoPool[c.IntN(len(protoPool))],
				Src:   smallPrefix(c, v6),
				Dst:   smallPrefix(c, v6),
			},
			Permit: c.IntN(10) < 7,
			Entry:  entry,
			Line:   len(rules) + 1,
		}
		if r.Sel.Proto == 0 || r.Sel.Proto == 6 || r.Sel.Proto == 17 {
			r.Sel.SrcPorts = smallPorts(c)
			r.Sel.DstPorts = smallPorts(c)
		}
		rules = append(rules, r)
	}
	return rules
}

// randomFlow returns a flow of the small universe, half the time on an edge
// of one of the rules (first or last address of a prefix or next to it, a
// port at the end of a range or next to it).
func randomFlow(c chooser, rules []Rule) Flow {
	f := Flow{Proto: flowProto[c.IntN(len(flowProto))]}
	port := func(pm PortMatch) uint16 {
		switch c.IntN(4) {
		case 0:
			return pm.Lo - 1 + uint16(c.IntN(3))
		case 1:
			return pm.Hi - 1 + uint16(c.IntN(3))
		}
		return portPool[c.IntN(len(portPool))]
	}
	if len(rules) > 0 && c.IntN(2) == 0 {
		r := &rules[c.IntN(len(rules))]
		f.Src, f.Dst = edgeAddr(c, r.Sel.Src), edgeAddr(c, r.Sel.Dst)
		if c.IntN(2) == 0 && r.Sel.Proto != 0 {
			f.Proto = r.Sel.Proto
		}
		f.SrcPort, f.DstPort = port(r.Sel.SrcPorts), port(r.Sel.DstPorts)
	} else {
		v6 := c.IntN(4) == 0
		f.Src, f.Dst = smallAddr(c, v6), smallAddr(c, v6)
		f.SrcPort, f.DstPort = port(PortMatch{}), port(PortMatch{})
	}
	switch c.IntN(50) {
	case 0: // families mixed: no rule can match
		f.Dst = smallAddr(c, !f.Dst.Is6())
	case 1:
		f.Src = netip.Addr{}
	case 2:
		if f.Src.Is6() {
			f.Src = f.Src.WithZone("eth0")
		}
	case 3: // an IPv4-mapped IPv6 flow is IPv6
		if f.Src.Is4() && f.Dst.Is4() {
			f.Src, f.Dst = netip.AddrFrom16(f.Src.As16()), netip.AddrFrom16(f.Dst.As16())
		}
	}
	return f
}

// edgeAddr returns the first or last address of p, its neighbour outside,
// or any address inside.
func edgeAddr(c chooser, p netip.Prefix) netip.Addr {
	p = p.Masked()
	first := p.Addr()
	last := lastAddr(p)
	switch c.IntN(5) {
	case 0:
		return first
	case 1:
		return last
	case 2:
		if prev := first.Prev(); prev.IsValid() {
			return prev
		}
	case 3:
		if next := last.Next(); next.IsValid() {
			return next
		}
	}
	return randomIn(c, p)
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// randomIn returns an address inside p.
func randomIn(c chooser, p netip.Prefix) netip.Addr {
	p = p.Masked()
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		if c.IntN(2) == 1 {
			b[i/8] |= 0x80 >> (i % 8)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// realisticPolicy returns about n ACL lines shaped like a hub's crypto map:
// one entry per remote site, each a short ACL of subnet pairs between the
// hub's networks and the site's, with some host and port lines, denies
// placed first, a few entries with "any" on one side, and one site in ten on
// IPv6. Some sites' blocks overlap others (a region's summary behind a more
// specific branch, as in the guide's mymap 10/20).
func realisticPolicy(rng *rand.Rand, n int) []Rule {
	rules := make([]Rule, 0, n+8)
	v4 := func(a uint32, bits int) netip.Prefix {
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), bits).Masked()
	}
	v6 := func(hi uint64, bits int) netip.Prefix {
		var b [16]byte
		for i := 0; i < 8; i++ {
			b[i] = byte(hi >> (56 - 8*i))
		}
		return netip.PrefixFrom(netip.AddrFrom16(b), bits).Masked()
	}
	// The hub's own networks: 200 subnets of 10.0.0.0/10 and 64 of
	// 2001:db8:0::/48.
	var local4, local6 []netip.Prefix
	for i := 0; i < 200; i++ {
		local4 = append(local4, v4(0x0a000000+uint32(rng.IntN(1<<14))<<8, 16+rng.IntN(9)))
	}
	for i := 0; i < 64; i++ {
		local6 = append(local6, v6(0x20010db800000000|uint64(i), 64))
	}
	// Remote sites: /23 blocks from 10.128.0.0/9, 100.64.0.0/10 and
	// 172.16.0.0/12, in order.
	pools := []struct {
		base uint32
		n    uint32
	}{{0x0a800000, 1 << 14}, {0x64400000, 1 << 13}, {0xac100000, 1 << 11}}
	siteBlock := func(site int) uint32 {
		s := uint32(site) % (1<<14 + 1<<13 + 1<<11)
		for _, p := range pools {
			if s < p.n {
				return p.base + s<<9
			}
			s -= p.n
		}
		panic("unreachable")
	}
	for site := 0; len(rules) < n; site++ {
		entry := site + 1
		isV6 := rng.IntN(10) == 0
		var local []netip.Prefix
		var remote func() netip.Prefix
		var remoteHost func() netip.Prefix
		var localHost func() netip.Prefix
		if isV6 {
			local = local6
			site6 := 0x20010db800000000 | uint64(0x1000+site)<<16
			remote = func() netip.Prefix { return v6(site6|uint64(rng.IntN(256)), []int{48, 56, 64, 64}[rng.IntN(4)]) }
			remoteHost = func() netip.Prefix {
				p := v6(site6|uint64(rng.IntN(256)), 64)
				return netip.PrefixFrom(randomIn(rng, p), 128)
			}
			localHost = func() netip.Prefix {
				return netip.PrefixFrom(randomIn(rng, local[rng.IntN(len(local))]), 128)
			}
		} else {
			local = local4
			block := siteBlock(site)
			remote = func() netip.Prefix {
				switch rng.IntN(20) {
				case 0: // a region summary overlapping other sites
					return v4(block, 16+rng.IntN(4))
				case 1, 2, 3:
					return v4(block, 23)
				}
				bits := 24 + rng.IntN(5)
				return v4(block+uint32(rng.IntN(512))&^(1<<(32-bits)-1), bits)
			}
			remoteHost = func() netip.Prefix { return v4(block+uint32(rng.IntN(512)), 32) }
			localHost = func() netip.Prefix {
				return netip.PrefixFrom(randomIn(rng, local[rng.IntN(len(local))]), 32)
			}
		}
		anyPfx := netip.MustParsePrefix("0.0.0.0/0")
		if isV6 {
			anyPfx = netip.MustParsePrefix("::/0")
		}
		add := func(permit bool, proto uint8, src, dst netip.Prefix, sp, dp PortMatch) {
			rules = append(rules, Rule{Sel: Selector{Proto: proto, Src: src, Dst: dst, SrcPorts: sp, DstPorts: dp},
				Permit: permit, Entry: entry, Line: len(rules) + 1})
		}
		loc := func() netip.Prefix { return local[rng.IntN(len(local))] }
		// Denies first: telnet to the site, one host kept out, SNMP.
		if rng.IntN(5) == 0 {
			switch rng.IntN(3) {
			case 0:
				add(false, 6, anyPfx, remote(), PortMatch{}, PortMatch{Lo: 23, Hi: 23})
			case 1:
				add(false, 0, localHost(), remote(), PortMatch{}, PortMatch{})
			default:
				add(false, 17, loc(), remote(), PortMatch{}, PortMatch{Lo: 161, Hi: 162})
			}
		}
		lines := 1 + rng.IntN(6)
		for i := 0; i < lines; i++ {
			switch k := rng.IntN(100); {
			case k < 75:
				add(true, 0, loc(), remote(), PortMatch{}, PortMatch{})
			case k < 83:
				if rng.IntN(2) == 0 {
					add(true, 0, localHost(), remote(), PortMatch{}, PortMatch{})
				} else {
					add(true, 0, loc(), remoteHost(), PortMatch{}, PortMatch{})
				}
			case k < 87:
				add(true, 6, loc(), remoteHost(), PortMatch{}, PortMatch{Lo: 443, Hi: 443})
			case k < 90:
				add(true, 17, loc(), remote(), PortMatch{}, PortMatch{Lo: 5060, Hi: 5061})
			case k < 93:
				add(true, 6, loc(), remote(), PortMatch{Lo: 1024, Hi: 65535}, PortMatch{})
			case k < 96:
				add(false, 0, loc(), remoteHost(), PortMatch{}, PortMatch{})
			default:
				add(true, 1, loc(), remote(), PortMatch{}, PortMatch{})
			}
		}
		// A few sites reach everything behind the hub, or are the
		// backup path to everything.
		switch rng.IntN(400) {
		case 0:
			add(true, 0, loc(), anyPfx, PortMatch{}, PortMatch{})
		case 1:
			add(true, 0, anyPfx, remote(), PortMatch{}, PortMatch{})
		}
	}
	return rules
}

// realisticFlows returns n flows for rules: most inside some line's
// selector (a host of the source and destination prefixes, a port of the
// ranges), the rest between random addresses (traffic that bypasses IPsec).
func realisticFlows(rng *rand.Rand, rules []Rule, n int) []Flow {
	flows := make([]Flow, n)
	for i := range flows {
		f := &flows[i]
		if rng.IntN(100) < 85 {
			r := &rules[rng.IntN(len(rules))]
			f.Src, f.Dst = randomIn(rng, r.Sel.Src), randomIn(rng, r.Sel.Dst)
			f.Proto = r.Sel.Proto
			if f.Proto == 0 {
				f.Proto = []uint8{6, 6, 17, 1}[rng.IntN(4)]
			}
			f.SrcPort, f.DstPort = portIn(rng, r.Sel.SrcPorts), portIn(rng, r.Sel.DstPorts)
		} else {
			f.Src = netip.AddrFrom4([4]byte{10, byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
			f.Dst = netip.AddrFrom4([4]byte{byte(rng.IntN(224)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
			f.Proto = 6
			f.SrcPort, f.DstPort = uint16(1024+rng.IntN(60000)), 443
		}
		if f.Proto != 6 && f.Proto != 17 {
			f.SrcPort, f.DstPort = 0, 0
		}
	}
	return flows
}

func portIn(rng *rand.Rand, pm PortMatch) uint16 {
	if pm.Any() || pm.Negate || pm.Lo > pm.Hi {
		return uint16(1024 + rng.IntN(60000))
	}
	return pm.Lo + uint16(rng.IntN(int(pm.Hi-pm.Lo)+1))
}
