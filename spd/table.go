package spd

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sync/atomic"
)

// A Table is the compiled form of one interface's rules: the classifier the
// fast path asks for every packet. It answers exactly as LinearLookup does on
// the same rules, without scanning them.
//
// How a lookup flows: the packet's Flow becomes a key of seven words (source
// and destination address as 128-bit numbers, protocol, source and
// destination port). The key picks the address family's class. Each class
// holds up to four decision trees, one per group of rules (see groupOf); a
// tree's interior nodes cut one dimension of the key into 2^k equal parts, so
// descending is one shift-and-mask per level, and its leaves hold a short list
// of rules in priority order. The lists of all groups are then scanned
// together in rule order with the IOS entry-skip: the first matching line of
// an entry decides it, a deny moves on to the next entry. The result is the
// index of the deciding permit line in the rules given to Compile.
//
// A Table is immutable and safe for concurrent readers; Lookup does not
// allocate.
type Table struct {
	rules []Rule
	class [2]class // by address family: 0 IPv4, 1 IPv6
	gen   uint64   // unique per Table; flow caches key on it
	stats Stats
}

// Stats describes a compiled Table's decision structure, for show commands
// and capacity planning.
type Stats struct {
	Rules    int // lines compiled
	Trees    int // decision trees over both address families
	Nodes    int // tree nodes, leaves included (shared subtrees count once)
	MaxDepth int // interior nodes on the longest root-to-leaf path
	LeafRefs int // rule references held by leaves
	MaxLeaf  int // longest leaf list
	Bytes    int // memory the classifier holds, rules included
}

// generation numbers Tables so that a flow cache can tell that its entries
// belong to a Table that has been replaced.
var generation atomic.Uint64

// key words: a flow as the classifier reads it.
const (
	wSrcHi = iota // source address, top-aligned 128 bits (IPv4 in the top 32)
	wSrcLo
	wDstHi
	wDstLo
	wProto
	wSrcPort // port, or noPort for protocols without ports
	wDstPort
	nWords
)

type key [nWords]uint64

// noPort is the port value of flows whose protocol has no ports. It lies
// outside 0..65535, so only a line without port conditions matches it,
// as in Selector.Match.
const noPort = 1 << 16

// portBits is the width of the port dimension, noPort included.
const portBits = 17

// makeKey turns a flow into a key and its address family (0 IPv4, 1 IPv6).
// ok is false for flows no rule can match: invalid or zoned addresses, or
// source and destination of different families.
func makeKey(f *Flow, k *key) (fam int, ok bool) {
	switch {
	case f.Src.Is4() && f.Dst.Is4():
		s, d := f.Src.As4(), f.Dst.As4()
		k[wSrcHi] = uint64(s[0])<<56 | uint64(s[1])<<48 | uint64(s[2])<<40 | uint64(s[3])<<32
		k[wSrcLo] = 0
		k[wDstHi] = uint64(d[0])<<56 | uint64(d[1])<<48 | uint64(d[2])<<40 | uint64(d[3])<<32
		k[wDstLo] = 0
	case f.Src.Is6() && f.Dst.Is6():
		if f.Src.Zone() != "" || f.Dst.Zone() != "" {
			return 0, false // Prefix.Contains never matches a zoned address
		}
		k[wSrcHi], k[wSrcLo] = addr128(f.Src)
		k[wDstHi], k[wDstLo] = addr128(f.Dst)
		fam = 1
	default:
		return 0, false
	}
	k[wProto] = uint64(f.Proto)
	if f.Proto == protoTCP || f.Proto == protoUDP {
		k[wSrcPort], k[wDstPort] = uint64(f.SrcPort), uint64(f.DstPort)
	} else {
		k[wSrcPort], k[wDstPort] = noPort, noPort
	}
	return fam, true
}

const (
	protoTCP = 6
	protoUDP = 17
)

// addr128 returns an address as a top-aligned 128-bit number: IPv4 in the
// top 32 bits, so that bit i of a prefix is bit i of the number in both
// families.
func addr128(a netip.Addr) (hi, lo uint64) {
	if a.Is4() {
		b := a.As4()
		return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32, 0
	}
	b := a.As16()
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return hi, lo
}

// crule is a rule in the form the leaf scan tests: value and mask for the
// address and protocol words, up to two spans for each port.
type crule struct {
	m      [wSrcPort]vm
	sp, dp [2]pspan
	next   uint32 // class index of the first rule of the next entry
	global int32  // index in Table.rules
	permit bool
}

// vm is a key word's value and the mask of the bits that must equal it.
type vm struct{ val, mask uint64 }

// pspan is a port interval as start and width, so that a test is one
// unsigned compare; an empty span starts beyond every key value.
type pspan struct{ lo, width uint32 }

var emptySpan = pspan{lo: 1 << 24}

func (s pspan) has(p uint64) bool { return uint32(p)-s.lo <= s.width }

func (r *crule) match(k *key) bool {
	m := &r.m
	if (k[wDstHi]^m[wDstHi].val)&m[wDstHi].mask|(k[wDstLo]^m[wDstLo].val)&m[wDstLo].mask|
		(k[wSrcHi]^m[wSrcHi].val)&m[wSrcHi].mask|(k[wSrcLo]^m[wSrcLo].val)&m[wSrcLo].mask|
		(k[wProto]^m[wProto].val)&m[wProto].mask != 0 {
		return false
	}
	return (r.sp[0].has(k[wSrcPort]) || r.sp[1].has(k[wSrcPort])) &&
		(r.dp[0].has(k[wDstPort]) || r.dp[1].has(k[wDstPort]))
}

// class is the classifier of one address family.
type class struct {
	rules    []crule  // this family's rules, in rule order
	nodes    []node   // all trees' nodes
	children []uint32 // interior nodes' child node indices
	lists    []uint32 // leaves' rule lists (indices into rules, ascending)
	roots    [maxGroups]uint32
	ntrees   int
}

// node is a decision tree node. An interior node's child is
// children[base + (key[word]>>shift)&mask]; a leaf's rules are
// lists[base : base+n].
type node struct {
	base  uint32
	n     uint32 // interior: mask; leaf: list length
	word  uint8
	shift uint8
	leaf  bool
}

// Compile builds the classifier for rules, which must be in IOS evaluation
// order (crypto map entries by sequence number, each entry's ACL lines in
// order). The rules are copied. Compile fails for rules LinearLookup would
// give an ambiguous or meaningless answer for: an entry whose lines are not
// contiguous, an invalid prefix, or a selector mixing IPv4 and IPv6.
func Compile(rules []Rule) (*Table, error) {
	if len(rules) > math.MaxInt32 {
		return nil, errors.New("spd: too many rules")
	}
	t := &Table{rules: append([]Rule(nil), rules...), gen: generation.Add(1)}
	if err := checkRules(t.rules); err != nil {
		return nil, err
	}
	var fam [2][]int32
	for i := range t.rules {
		f := 0
		if t.rules[i].Sel.Src.Addr().Is6() {
			f = 1
		}
		fam[f] = append(fam[f], int32(i))
	}
	for f := range t.class {
		st := t.class[f].build(t.rules, fam[f], f == 1)
		t.stats.add(st)
	}
	t.stats.Rules = len(t.rules)
	t.stats.Bytes += len(t.rules) * ruleSize
	return t, nil
}

func checkRules(rules []Rule) error {
	seen := make(map[int]bool)
	for i := range rules {
		r := &rules[i]
		if !r.Sel.Src.IsValid() || !r.Sel.Dst.IsValid() {
			return fmt.Errorf("spd: rule %d (entry %d line %d): invalid prefix", i, r.Entry, r.Line)
		}
		if r.Sel.Src.Addr().Is4() != r.Sel.Dst.Addr().Is4() {
			return fmt.Errorf("spd: rule %d (entry %d line %d): source and destination of different address families", i, r.Entry, r.Line)
		}
		if i == 0 || rules[i-1].Entry != r.Entry {
			if seen[r.Entry] {
				return fmt.Errorf("spd: rule %d: lines of entry %d are not contiguous", i, r.Entry)
			}
			seen[r.Entry] = true
		}
	}
	return nil
}

// Lookup returns the index of the permit line that decides the outbound
// flow f, or NoMatch if no crypto map entry protects it, with the semantics
// of LinearLookup. A nil Table is an empty policy.
func (t *Table) Lookup(f *Flow) int {
	if t == nil {
		return NoMatch
	}
	var k key
	fam, ok := makeKey(f, &k)
	if !ok {
		return NoMatch
	}
	return t.class[fam].lookup(&k)
}

// LookupReverse classifies a packet received in the clear on the protected
// interface: it is Lookup on f.Reverse(), since ACLs are written in the
// outbound direction. A result other than NoMatch means the packet falls in
// the scope of a permit line, so it should have arrived protected and must be
// dropped (and it names the line, for the drop counters).
func (t *Table) LookupReverse(f *Flow) int {
	r := f.Reverse()
	return t.Lookup(&r)
}

// Len is the number of rules compiled.
func (t *Table) Len() int { return len(t.rules) }

// Rule returns rule i as given to Compile; i is typically a Lookup result.
func (t *Table) Rule(i int) Rule { return t.rules[i] }

// Stats describes the decision structure.
func (t *Table) Stats() Stats { return t.stats }

// maxGroups is the number of rule groups, hence trees, per address family.
const maxGroups = 4

// lookup walks every tree to its leaf, then scans the leaves' lists merged in
// rule order. scan[g] holds what is left of tree g's list: every rule before
// it either lies before the current entry or was tested and did not match;
// hit[g] says its first rule is known to match.
func (c *class) lookup(k *key) int {
	var scan [maxGroups][]uint32
	var hit [maxGroups]bool
	for g := 0; g < c.ntrees; g++ {
		n := &c.nodes[c.roots[g]]
		for !n.leaf {
			n = &c.nodes[c.children[n.base+uint32(k[n.word]>>n.shift)&n.n]]
		}
		scan[g] = c.lists[n.base : n.base+n.n]
	}
	from := uint32(0) // first rule not skipped by an entry's deny
	for {
		best := uint32(math.MaxUint32) // earliest match found in this round
		for g := 0; g < c.ntrees; g++ {
			l := scan[g]
			i := 0
			if hit[g] {
				if l[0] >= from {
					best = min(best, l[0])
					continue
				}
				hit[g], i = false, 1
			}
			for ; i < len(l); i++ {
				ri := l[i]
				if ri >= best {
					break
				}
				if ri >= from && c.rules[ri].match(k) {
					best, hit[g] = ri, true
					break
				}
			}
			scan[g] = l[i:]
		}
		if best == math.MaxUint32 {
			return NoMatch
		}
		r := &c.rules[best]
		if r.permit {
			return int(r.global)
		}
		from = r.next
	}
}
