package sad

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"ipsecgw/spd"
)

// TestPermitsAgainstMatch checks the inbound policy's IPv4 words against
// spd.Selector.Match on the reversed flow, for random selectors (prefix
// lengths 0-32, protocols, port conditions, an IPv6 line among them) and
// random flows near their edges.
func TestPermitsAgainstMatch(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	addr := func() netip.Addr {
		return netip.AddrFrom4([4]byte{10, byte(r.IntN(3)), byte(r.IntN(4)), byte(r.IntN(256))})
	}
	pfx := func() netip.Prefix {
		return netip.PrefixFrom(addr(), []int{0, 8, 16, 23, 24, 30, 32}[r.IntN(7)]).Masked()
	}
	ports := func() spd.PortMatch {
		switch r.IntN(4) {
		case 0:
			return spd.PortMatch{}
		case 1:
			p := uint16(r.IntN(4))
			return spd.PortMatch{Lo: p, Hi: p}
		case 2:
			return spd.PortMatch{Lo: 1, Hi: 2, Negate: true}
		}
		return spd.PortMatch{Lo: 2, Hi: 65535}
	}
	for range 300 {
		var sels []spd.Selector
		for range 1 + r.IntN(3) {
			sels = append(sels, spd.Selector{Proto: []uint8{0, 6, 17, 1}[r.IntN(4)], Src: pfx(), Dst: pfx(), SrcPorts: ports(), DstPorts: ports()})
		}
		if r.IntN(4) == 0 {
			sels = append(sels, spd.Selector{Src: netip.MustParsePrefix("2001:db8:1::/48"), Dst: netip.MustParsePrefix("2001:db8:2::/48")})
		}
		sa := &SA{cfg: Config{Selectors: sels}, in: newInPolicy(sels)}
		for range 200 {
			f := spd.Flow{Src: addr(), Dst: addr(), Proto: []uint8{6, 17, 1, 50}[r.IntN(4)]}
			if f.Proto == 6 || f.Proto == 17 {
				f.SrcPort, f.DstPort = uint16(r.IntN(4)), uint16(r.IntN(4))
			}
			if r.IntN(8) == 0 {
				f.Src, f.Dst = netip.MustParseAddr("2001:db8:2::5"), netip.MustParseAddr("2001:db8:1::7")
			}
			want := false
			rev := f.Reverse()
			for i := range sels {
				want = want || sels[i].Match(&rev)
			}
			if got := sa.Permits(&f); got != want {
				t.Fatalf("selectors %+v, flow %v: Permits %v, Match says %v", sels, f, got, want)
			}
		}
	}
}
