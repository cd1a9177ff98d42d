package ipsec

import (
	"ipsecgw/fastpath/sad"
)

// group gathers a vector's packets of one SA, so that the SA's shared
// state (lifetime, sequence numbers, counters) is touched once per vector
// instead of once per packet.
type group struct {
	sa     *sad.SA
	n, by  uint64     // packets and bytes charged to the lifetime
	charge sad.Charge // admits them one by one
	seq    uint64     // next sequence number to hand out
	seqs   uint64     // how many are left
	okPk   uint64     // packets that made it, for the counters
	okBy   uint64
}

// groups is the set of SAs seen in one vector. A vector usually carries a
// handful of SAs, so a linear search with a one-entry cache beats a map.
type groups struct {
	g    []group
	last int
}

func newGroups(capacity int) groups { return groups{g: make([]group, 0, capacity)} }

func (gs *groups) reset() {
	clear(gs.g) // drop SA pointers so deleted SAs can be collected
	gs.g = gs.g[:0]
	gs.last = 0
}

// index returns the group of sa, adding it if new.
func (gs *groups) index(sa *sad.SA) int16 {
	if gs.last < len(gs.g) && gs.g[gs.last].sa == sa {
		return int16(gs.last)
	}
	for i := range gs.g {
		if gs.g[i].sa == sa {
			gs.last = i
			return int16(i)
		}
	}
	gs.g = append(gs.g, group{sa: sa})
	gs.last = len(gs.g) - 1
	return int16(gs.last)
}

// add counts a packet of size bytes in sa's group and returns the group.
func (gs *groups) add(sa *sad.SA, size int) int16 {
	gi := gs.index(sa)
	g := &gs.g[gi]
	g.n++
	g.by += uint64(size)
	return gi
}

// admit charges a packet to the lifetimes of its groups (the second one is
// a bundle's AH SA, or -1) and reports whether both admit it.
func (gs *groups) admit(g [2]int16, size uint32) bool {
	ok := gs.g[g[0]].charge.Admit(uint64(size))
	if g[1] >= 0 {
		ok = gs.g[g[1]].charge.Admit(uint64(size)) && ok
	}
	return ok
}

// ok counts a packet that made it in its groups.
func (gs *groups) ok(g [2]int16, size uint32) {
	a := &gs.g[g[0]]
	a.okPk++
	a.okBy += uint64(size)
	if g[1] >= 0 {
		b := &gs.g[g[1]]
		b.okPk++
		b.okBy += uint64(size)
	}
}

// reserve charges every group's packets to its SA's lifetime, reporting the
// limits crossed as events.
func (gs *groups) reserve(events *[]sad.Event) {
	for i := range gs.g {
		g := &gs.g[i]
		var e sad.Expiry
		g.charge, e = g.sa.Reserve(g.n, g.by)
		if e != 0 {
			*events = append(*events, sad.Event{SA: g.sa, Expiry: e})
		}
	}
}

// count adds the packets that made it to each SA's counters for worker.
func (gs *groups) count(worker int) {
	for i := range gs.g {
		g := &gs.g[i]
		if g.okPk != 0 {
			g.sa.Count(worker, g.okPk, g.okBy)
		}
	}
}
