package spd

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"unsafe"
)

// The decision trees are HiCuts trees (Gupta and McKeown, "Packet
// Classification using Hierarchical Intelligent Cuttings") with the rule
// separation of EffiCuts (Vamanan et al.): rules are first split into groups
// by which address is a wide prefix, and each group gets its own tree, so
// that a rule with "any" source is not copied into every child of a source
// cut. Every cut is a power-of-two split of one dimension, so descending
// costs one shift and mask per level. A cut in an address starts at the first
// bit where the node's rules differ (all of an IPv6 policy's prefixes share
// their first 32 to 48 bits). As in HyperCuts, a list drops the rules that
// can never decide in its region (see prune), and identical subtrees are
// built once. Nodes are cut breadth first under a reference budget per tree,
// which bounds build time and memory linearly for any policy.
//
// Why this design, measured on the realistic 100,000-line policy of the
// tests: one tree per family is as fast as long as nearly every line names
// two subnets, but with 1% of lines having "any" on one side its leaves
// reach thousands of rules (about 10 µs per lookup, 2.3 s to build) while
// the grouped trees stay at about 14 rules scanned and 0.3 s. Tuple space
// search needs one hash probe per distinct (source length, destination
// length, port shape) tuple, dozens in realistic ACLs; bit-vector schemes
// hold a bit per rule per elementary interval, gigabytes at 100,000 lines.
// A cut tree needs a handful of node visits and a short scan, and the entry
// skip of IOS is simple in that scan.

const (
	// binth is the leaf size below which a node is not cut further.
	binth = 8
	// spfac bounds a cut: children's list lengths plus the child count may
	// be at most spfac times the node's list length.
	spfac = 4
	// maxCutBits bounds a node's fan-out to 2^maxCutBits children.
	maxCutBits = 16
	// refBudget bounds the rule and child references of one tree to
	// refBudget per rule plus refSlack; past it nodes become leaves, so
	// build time and memory stay linear in the number of rules for any
	// policy, at the price of longer scans in pathological ones.
	refBudget = 48
	refSlack  = 1 << 16
	// maxDenyChecks bounds the work to prove a permit line decisive (see
	// brule.decisive).
	maxDenyChecks = 64
)

// Dimensions of the tree builder.
const (
	dSrc = iota
	dDst
	dProto
	dSrcPort
	dDstPort
	nDims
	nPrefixDims = dProto + 1 // dimensions held as prefixes
)

// bpfx is a prefix as a top-aligned 128-bit number and a length.
type bpfx struct {
	hi, lo uint64
	len    uint8
}

// span is an inclusive port interval in the port dimension (noPort
// included).
type span struct{ lo, hi uint32 }

// brule is a rule as the tree builder sees it.
type brule struct {
	pfx    [nPrefixDims]bpfx
	ports  [2][2]span
	nports [2]uint8
	entry  int32 // entry run within the class
	// decisive: a permit line no earlier deny of its entry can overlap, so
	// wherever it matches, its entry protects the flow and no later line of
	// any entry can be the answer.
	decisive bool
}

// region describes the keys that reach a node. In a prefix dimension, lead
// leading bits are fixed by the cuts above (a rule no longer covers the
// node there), and cuts may take bits from next on: the bits between lead and
// next are ones all narrower rules of the node agree on, so a cut skipped
// them (keys that differ there reach a leaf whose rules do not match them).
// In a port dimension, used leading bits are fixed and base is the block's
// first port.
type region struct {
	lead, next [nPrefixDims]uint8
	used       [2]uint8
	base       [2]uint32
}

var dimWidth = [2][nDims]uint8{
	{32, 32, 8, portBits, portBits},
	{128, 128, 8, portBits, portBits},
}

// build compiles one address family's rules (indices into all) into c.
func (c *class) build(all []Rule, idx []int32, v6 bool) Stats {
	fam := 0
	if v6 {
		fam = 1
	}
	c.rules = make([]crule, len(idx))
	br := make([]brule, len(idx))
	entry := int32(-1)
	for i, gi := range idx {
		r := &all[gi]
		if i == 0 || all[idx[i-1]].Entry != r.Entry {
			entry++
		}
		c.rules[i] = compileRule(r, int32(gi))
		br[i] = builderRule(r, entry)
	}
	for i := len(idx) - 1; i >= 0; i-- {
		switch {
		case i == len(idx)-1:
			c.rules[i].next = uint32(len(idx))
		case br[i+1].entry != br[i].entry:
			c.rules[i].next = uint32(i + 1)
		default:
			c.rules[i].next = c.rules[i+1].next
		}
	}
	markDecisive(br, c.rules)

	b := &builder{
		c:     c,
		rules: br,
		width: dimWidth[fam],
		memo:  make(map[string]uint32),
	}
	var groups [maxGroups][]uint32
	for i := range br {
		g := groupOf(&br[i], fam)
		groups[g] = append(groups[g], uint32(i))
	}
	for _, list := range groups {
		if len(list) > 0 {
			c.roots[c.ntrees] = b.tree(list)
			c.ntrees++
		}
	}
	return b.stats()
}

// groupOf separates rules by which addresses are wide prefixes (shorter than
// a quarter of the address): a tree cuts well only on dimensions where its
// rules are narrow.
func groupOf(r *brule, fam int) int {
	wide := dimWidth[fam][dSrc] / 4
	g := 0
	if r.pfx[dSrc].len >= wide {
		g |= 1
	}
	if r.pfx[dDst].len >= wide {
		g |= 2
	}
	return g
}

func compileRule(r *Rule, global int32) crule {
	cr := crule{global: global, permit: r.Permit}
	for w, p := range [2]netip.Prefix{r.Sel.Src, r.Sel.Dst} {
		hi, lo := addr128(p.Masked().Addr())
		bits := p.Bits()
		if p.Addr().Is6() {
			cr.m[2*w] = vm{hi, maskBits(bits)}
			cr.m[2*w+1] = vm{lo, maskBits(bits - 64)}
		} else {
			cr.m[2*w] = vm{hi, maskBits(bits)}
		}
	}
	if r.Sel.Proto != 0 {
		cr.m[wProto] = vm{uint64(r.Sel.Proto), 0xff}
	}
	for i, pm := range [2]PortMatch{r.Sel.SrcPorts, r.Sel.DstPorts} {
		sp, n := portSpans(pm)
		dst := &cr.sp
		if i == 1 {
			dst = &cr.dp
		}
		for j := range dst {
			dst[j] = emptySpan
			if j < n {
				dst[j] = pspan{lo: sp[j].lo, width: sp[j].hi - sp[j].lo}
			}
		}
	}
	return cr
}

// maskBits is a 64-bit word's mask for the first bits bits (clamped).
func maskBits(bits int) uint64 {
	switch {
	case bits <= 0:
		return 0
	case bits >= 64:
		return ^uint64(0)
	}
	return ^uint64(0) << (64 - bits)
}

func builderRule(r *Rule, entry int32) brule {
	br := brule{entry: entry}
	for d, p := range [2]netip.Prefix{r.Sel.Src, r.Sel.Dst} {
		hi, lo := addr128(p.Masked().Addr())
		br.pfx[d] = bpfx{hi: hi, lo: lo, len: uint8(p.Bits())}
	}
	if r.Sel.Proto != 0 {
		br.pfx[dProto] = bpfx{hi: uint64(r.Sel.Proto) << 56, len: 8}
	}
	for i, pm := range [2]PortMatch{r.Sel.SrcPorts, r.Sel.DstPorts} {
		sp, n := portSpans(pm)
		br.ports[i] = sp
		br.nports[i] = uint8(n)
	}
	return br
}

// portSpans is the set of port dimension values pm matches, exactly as
// PortMatch.Match and Selector.Match decide: a condition that matches any
// port also matches protocols without ports (noPort), any other only ports of
// TCP and UDP.
func portSpans(pm PortMatch) (s [2]span, n int) {
	switch {
	case pm.Any():
		return [2]span{{0, noPort}}, 1
	case !pm.Negate:
		if pm.Lo <= pm.Hi {
			return [2]span{{uint32(pm.Lo), uint32(pm.Hi)}}, 1
		}
		return s, 0
	case pm.Lo > pm.Hi: // "not in an empty range"
		return [2]span{{0, 65535}}, 1
	}
	if pm.Lo > 0 {
		s[n] = span{0, uint32(pm.Lo) - 1}
		n++
	}
	if pm.Hi < 65535 {
		s[n] = span{uint32(pm.Hi) + 1, 65535}
		n++
	}
	return s, n
}

// markDecisive sets brule.decisive for permit lines whose entry has no
// earlier deny that overlaps them. Checking is bounded: past maxDenyChecks
// earlier denies a line is not marked, which only costs pruning.
func markDecisive(br []brule, cr []crule) {
	start := 0
	for i := range br {
		if i > 0 && br[i].entry != br[i-1].entry {
			start = i
		}
		if !cr[i].permit {
			continue
		}
		ok, checks := true, 0
		for j := start; j < i && ok; j++ {
			if cr[j].permit {
				continue
			}
			if checks++; checks > maxDenyChecks || overlap(&br[i], &br[j]) {
				ok = false
			}
		}
		br[i].decisive = ok
	}
}

// overlap reports whether some key matches both rules.
func overlap(a, b *brule) bool {
	for d := 0; d < nPrefixDims; d++ {
		p, q := &a.pfx[d], &b.pfx[d]
		n := min(p.len, q.len)
		if n > 0 && topBits(p.hi, p.lo, 0, uint(n)) != topBits(q.hi, q.lo, 0, uint(n)) {
			return false
		}
	}
	for i := 0; i < 2; i++ {
		hit := false
		for _, s := range a.ports[i][:a.nports[i]] {
			for _, t := range b.ports[i][:b.nports[i]] {
				hit = hit || (s.lo <= t.hi && t.lo <= s.hi)
			}
		}
		if !hit {
			return false
		}
	}
	return true
}

// topBits returns the n bits (1..64) of the 128-bit number hi:lo that start
// off bits from the top.
func topBits(hi, lo uint64, off, n uint) uint64 {
	var w uint64
	switch {
	case off >= 64:
		w = lo << (off - 64)
	case off == 0:
		w = hi
	default:
		w = hi<<off | lo>>(64-off)
	}
	return w >> (64 - n)
}

// builder builds the trees of one class.
type builder struct {
	c     *class
	rules []brule
	width [nDims]uint8
	// memo maps a node's content (region shape and rule list) to the node
	// already built for it.
	memo     map[string]uint32
	refs     int
	refLimit int
	queue    []task
	diff     []int32
	keyBuf   []byte
}

// task is a node whose list is too long for a leaf, waiting to be cut.
type task struct {
	id   uint32
	list []uint32
	reg  region
}

// tree builds one decision tree over list (ascending rule indices) and
// returns its root. Nodes are cut breadth first, so that when the reference
// budget runs out the remaining leaves are spread over one level instead of
// whole subtrees collapsing into one leaf.
func (b *builder) tree(list []uint32) uint32 {
	b.refs, b.refLimit = 0, refBudget*len(list)+refSlack
	root := b.node(list, region{})
	for len(b.queue) > 0 {
		t := b.queue[0]
		b.queue = b.queue[1:]
		if c, cost, ok := b.chooseCut(t.list, &t.reg); ok && b.refs+cost <= b.refLimit {
			b.cut(t, c)
		} else {
			b.c.nodes[t.id] = b.leafNode(t.list)
		}
	}
	b.queue = nil
	return root
}

// node returns the node for the rules list in region reg: a leaf if the list
// is short, the node already made for the same content, or a new node queued
// for cutting. It shortens list in place.
func (b *builder) node(list []uint32, reg region) uint32 {
	list = b.prune(list, &reg)
	if len(list) <= binth {
		return b.leaf(list)
	}
	mk := b.memoKey('I', list, &reg)
	if id, ok := b.memo[mk]; ok {
		return id
	}
	id := uint32(len(b.c.nodes))
	b.c.nodes = append(b.c.nodes, node{})
	b.memo[mk] = id
	b.queue = append(b.queue, task{id: id, list: list, reg: reg})
	return id
}

// prune drops the rules that cannot decide any flow of the region: the lines
// of an entry after one that covers the whole region (it or an earlier line
// decides the entry there), and every rule after a covering decisive permit.
func (b *builder) prune(list []uint32, reg *region) []uint32 {
	out := list[:0]
	skip := int32(-1)
	for _, ri := range list {
		r := &b.rules[ri]
		if r.entry == skip {
			continue
		}
		out = append(out, ri)
		if b.covers(r, reg) {
			if r.decisive {
				break
			}
			skip = r.entry
		}
	}
	return out
}

func (b *builder) covers(r *brule, reg *region) bool {
	for d := 0; d < nPrefixDims; d++ {
		if r.pfx[d].len > reg.lead[d] {
			return false
		}
	}
	for i := 0; i < 2; i++ {
		lo := reg.base[i]
		hi := lo + 1<<(portBits-reg.used[i]) - 1
		in := false
		for _, s := range r.ports[i][:r.nports[i]] {
			in = in || (s.lo <= lo && s.hi >= hi)
		}
		if !in {
			return false
		}
	}
	return true
}

func (b *builder) memoKey(tag byte, list []uint32, reg *region) string {
	k := append(b.keyBuf[:0], tag)
	if tag == 'I' {
		k = append(k, reg.lead[:]...)
		k = append(k, reg.next[:]...)
		k = append(k, reg.used[:]...)
		k = binary.LittleEndian.AppendUint32(k, reg.base[0])
		k = binary.LittleEndian.AppendUint32(k, reg.base[1])
	}
	for _, ri := range list {
		k = binary.LittleEndian.AppendUint32(k, ri)
	}
	b.keyBuf = k
	return string(k)
}

func (b *builder) leaf(list []uint32) uint32 {
	mk := b.memoKey('L', list, nil)
	if id, ok := b.memo[mk]; ok {
		return id
	}
	id := uint32(len(b.c.nodes))
	b.c.nodes = append(b.c.nodes, b.leafNode(list))
	b.memo[mk] = id
	return id
}

// leafNode returns a leaf holding list.
func (b *builder) leafNode(list []uint32) node {
	c := b.c
	n := node{base: uint32(len(c.lists)), n: uint32(len(list)), leaf: true}
	c.lists = append(c.lists, list...)
	return n
}

// chooseCut picks the dimension, first bit and number of bits to cut a
// node: per dimension the most bits the space bound allows (HiCuts), then
// the dimension whose largest child is smallest. cost is the references the
// cut adds. ok is false when no cut makes any child smaller than the node.
func (b *builder) chooseCut(list []uint32, reg *region) (cut cutSpec, cost int, ok bool) {
	limit := spfac * len(list)
	bestMax := len(list)
	for d := 0; d < nDims; d++ {
		off := b.cutStart(list, d, reg)
		kmax := uint(b.width[d]) - off
		if d <= dDst && off < 64 {
			kmax = min(kmax, 64-off) // a cut reads one key word
		}
		kmax = min(kmax, maxCutBits)
		for k := uint(1); k <= kmax; k++ {
			c := cutSpec{dim: d, off: off, bits: k}
			sum, mx := b.count(list, c, reg)
			n := sum + 1<<k
			if n > limit {
				break
			}
			if mx < bestMax || (mx == bestMax && ok && n < cost) {
				cut, cost, bestMax, ok = c, n, mx, true
			}
			if mx <= 1 {
				break
			}
		}
	}
	return cut, cost, ok && bestMax < len(list)
}

// cutSpec is a cut of bits bits of dimension dim, starting off bits from the
// top of the dimension.
type cutSpec struct {
	dim       int
	off, bits uint
}

// cutStart returns the first bit a cut of dimension d should take: in a
// prefix dimension the first bit from reg.next on where the node's rules
// that are narrower than that differ, or where the shortest of them ends.
func (b *builder) cutStart(list []uint32, d int, reg *region) uint {
	if d >= nPrefixDims {
		return uint(reg.used[d-dSrcPort])
	}
	next := uint(reg.next[d])
	end := uint(b.width[d])
	var ref *bpfx
	for _, ri := range list {
		p := &b.rules[ri].pfx[d]
		if uint(p.len) <= next {
			continue
		}
		end = min(end, uint(p.len))
		if ref == nil {
			ref = p
			continue
		}
		if hi, lo := ref.hi^p.hi, ref.lo^p.lo; hi != 0 {
			end = min(end, uint(bits.LeadingZeros64(hi)))
		} else if lo != 0 {
			end = min(end, 64+uint(bits.LeadingZeros64(lo)))
		}
		if end <= next {
			return next
		}
	}
	if ref == nil {
		return next // no rule is narrower: cutting here cannot help
	}
	return end
}

// count returns the total and largest list length of the children of cut c.
func (b *builder) count(list []uint32, c cutSpec, reg *region) (sum, mx int) {
	n := 1 << c.bits
	if cap(b.diff) < n+1 {
		b.diff = make([]int32, n+1)
	}
	diff := b.diff[:n+1]
	clear(diff)
	for _, ri := range list {
		rg, m := b.childRanges(&b.rules[ri], c, reg)
		for _, r := range rg[:m] {
			diff[r[0]]++
			diff[r[1]+1]--
			sum += int(r[1]-r[0]) + 1
		}
	}
	run := int32(0)
	for _, v := range diff[:n] {
		run += v
		mx = max(mx, int(run))
	}
	return sum, mx
}

// childRanges returns the children of cut c that rule r overlaps, as up to
// two inclusive ranges.
func (b *builder) childRanges(r *brule, c cutSpec, reg *region) (rg [2][2]uint32, n int) {
	k := c.bits
	if c.dim < nPrefixDims {
		p := &r.pfx[c.dim]
		switch plen := uint(p.len); {
		case plen <= c.off:
			rg[0] = [2]uint32{0, 1<<k - 1}
		case plen >= c.off+k:
			ch := uint32(topBits(p.hi, p.lo, c.off, k))
			rg[0] = [2]uint32{ch, ch}
		default:
			m := plen - c.off
			ch := uint32(topBits(p.hi, p.lo, c.off, m)) << (k - m)
			rg[0] = [2]uint32{ch, ch + 1<<(k-m) - 1}
		}
		return rg, 1
	}
	i := c.dim - dSrcPort
	lo := reg.base[i]
	hi := lo + 1<<(portBits-c.off) - 1
	shift := portBits - c.off - k
	for _, s := range r.ports[i][:r.nports[i]] {
		if s.hi < lo || s.lo > hi {
			continue
		}
		a, z := (max(s.lo, lo)-lo)>>shift, (min(s.hi, hi)-lo)>>shift
		if n > 0 && a == rg[n-1][1] {
			a++ // both spans reach this child; count it once
			if a > z {
				continue
			}
		}
		rg[n] = [2]uint32{a, z}
		n++
	}
	return rg, n
}

// cut makes t an interior node for cut c and creates its children.
func (b *builder) cut(t task, c cutSpec) {
	list, reg := t.list, t.reg
	n := 1 << c.bits
	// Distribute the list over the children, keeping rule order.
	offs := make([]int, n+1)
	for _, ri := range list {
		rg, m := b.childRanges(&b.rules[ri], c, &reg)
		for _, r := range rg[:m] {
			for ch := r[0]; ch <= r[1]; ch++ {
				offs[ch+1]++
			}
		}
	}
	for i := 1; i <= n; i++ {
		offs[i] += offs[i-1]
	}
	flat := make([]uint32, offs[n])
	pos := append([]int(nil), offs[:n]...)
	for _, ri := range list {
		rg, m := b.childRanges(&b.rules[ri], c, &reg)
		for _, r := range rg[:m] {
			for ch := r[0]; ch <= r[1]; ch++ {
				flat[pos[ch]] = ri
				pos[ch]++
			}
		}
	}
	b.refs += n + len(flat)

	cl := b.c
	nd := node{base: uint32(len(cl.children)), n: uint32(n - 1)}
	sub := reg
	switch d := c.dim; d {
	case dSrc, dDst:
		nd.word = uint8(2*d) + uint8(c.off/64)
		nd.shift = uint8(64 - c.off%64 - c.bits)
	case dProto:
		nd.word, nd.shift = wProto, uint8(8-c.off-c.bits)
	default:
		nd.word, nd.shift = uint8(wSrcPort+d-dSrcPort), uint8(portBits-c.off-c.bits)
	}
	if c.dim < nPrefixDims {
		if uint(reg.lead[c.dim]) == c.off {
			sub.lead[c.dim] = uint8(c.off + c.bits)
		}
		sub.next[c.dim] = uint8(c.off + c.bits)
	} else {
		sub.used[c.dim-dSrcPort] += uint8(c.bits)
	}
	cl.nodes[t.id] = nd
	cl.children = append(cl.children, make([]uint32, n)...)
	for ch := 0; ch < n; ch++ {
		if i := c.dim - dSrcPort; i >= 0 {
			sub.base[i] = reg.base[i] + uint32(ch)<<(portBits-sub.used[i])
		}
		cl.children[nd.base+uint32(ch)] = b.node(flat[offs[ch]:offs[ch+1]], sub)
	}
}

func (b *builder) stats() Stats {
	c := b.c
	s := Stats{Trees: c.ntrees, Nodes: len(c.nodes), LeafRefs: len(c.lists)}
	for _, n := range c.nodes {
		if n.leaf {
			s.MaxLeaf = max(s.MaxLeaf, int(n.n))
		}
	}
	depth := make([]int, len(c.nodes)) // interior nodes on the longest path below, plus one; 0: not known yet
	var walk func(id uint32) int
	walk = func(id uint32) int {
		n := &c.nodes[id]
		if n.leaf {
			return 0
		}
		if depth[id] == 0 {
			d := 0
			for _, ch := range c.children[n.base : n.base+n.n+1] {
				d = max(d, walk(ch))
			}
			depth[id] = d + 1
		}
		return depth[id]
	}
	for _, r := range c.roots[:c.ntrees] {
		s.MaxDepth = max(s.MaxDepth, walk(r))
	}
	s.Bytes = len(c.rules)*int(unsafe.Sizeof(crule{})) + len(c.nodes)*int(unsafe.Sizeof(node{})) +
		(len(c.children)+len(c.lists))*4
	return s
}

func (s *Stats) add(o Stats) {
	s.Trees += o.Trees
	s.Nodes += o.Nodes
	s.MaxDepth = max(s.MaxDepth, o.MaxDepth)
	s.LeafRefs += o.LeafRefs
	s.MaxLeaf = max(s.MaxLeaf, o.MaxLeaf)
	s.Bytes += o.Bytes
}

var ruleSize = int(unsafe.Sizeof(Rule{}))
