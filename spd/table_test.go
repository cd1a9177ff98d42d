package spd

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
)

// checkSame compares Table (and, through a small cache that keeps
// evicting, Cache) with LinearLookup on every flow.
func checkSame(t *testing.T, rules []Rule, flows []Flow) {
	t.Helper()
	tab, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	cache := NewCache(8)
	for i := range flows {
		f := &flows[i]
		want := LinearLookup(rules, f)
		if got := tab.Lookup(f); got != want {
			t.Fatalf("Lookup(%v) = %d, LinearLookup = %d\nrules:\n%s", f, got, want, dump(rules))
		}
		if got := cache.Lookup(tab, f); got != want {
			t.Fatalf("Cache.Lookup(%v) = %d, LinearLookup = %d", f, got, want)
		}
	}
}

func dump(rules []Rule) string {
	if len(rules) > 200 {
		return "(too many to show)"
	}
	s := ""
	for i, r := range rules {
		s += fmt.Sprintf("  %d entry %d: permit=%v proto %d %v %+v %v %+v\n",
			i, r.Entry, r.Permit, r.Sel.Proto, r.Sel.Src, r.Sel.SrcPorts, r.Sel.Dst, r.Sel.DstPorts)
	}
	return s
}

// Many small random policies over a tiny address and port universe, where
// rules overlap, nest and share edges, and flows sit on those edges.
func TestDifferentialSmall(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rounds := 1500
	if testing.Short() {
		rounds = 200
	}
	for round := 0; round < rounds; round++ {
		rules := randomPolicy(rng, 1+rng.IntN(80))
		flows := make([]Flow, 300)
		for i := range flows {
			flows[i] = randomFlow(rng, rules)
		}
		checkSame(t, rules, flows)
	}
}

// Larger random policies over the same universe make deep trees with
// heavy overlap: more than binth rules per region, covering and
// decisive-permit pruning, shared subtrees.
func TestDifferentialDense(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{300, 2000} {
		rules := randomPolicy(rng, n)
		flows := make([]Flow, 20000)
		for i := range flows {
			flows[i] = randomFlow(rng, rules)
		}
		checkSame(t, rules, flows)
	}
}

func TestDifferentialRealistic(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	rules := realisticPolicy(rng, 20000)
	flows := realisticFlows(rng, rules, 20000)
	for i := 0; i < 5000; i++ { // and flows on the lines' edges
		flows = append(flows, randomFlow(rng, rules))
	}
	checkSame(t, rules, flows)
}

// The decision structure must stay a few node visits and a short scan at
// scale: the lists a lookup scans (all trees' leaves together) must be short
// on average and in the worst case seen, and memory linear.
func TestTreeShape(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100,000-line policy")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	rules := realisticPolicy(rng, 100000)
	tab, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	flows := realisticFlows(rng, rules, 20000)
	total, worst := 0, 0
	for i := range flows {
		var k key
		fam, ok := makeKey(&flows[i], &k)
		if !ok {
			continue
		}
		n := tab.class[fam].candidates(&k)
		total += n
		worst = max(worst, n)
	}
	s := tab.Stats()
	avg := float64(total) / float64(len(flows))
	t.Logf("stats %+v; candidates per lookup: mean %.1f, max %d", s, avg, worst)
	if avg > 16 || worst > 128 {
		t.Errorf("leaf lists too long: mean %.1f, max %d candidates per lookup", avg, worst)
	}
	if s.Bytes > 400*len(rules) {
		t.Errorf("classifier holds %d bytes for %d rules", s.Bytes, len(rules))
	}
}

// Policies built to defeat cut trees (prefix lengths spread evenly over
// 0..32 on both sides with random port ranges; one selector repeated in every
// entry; the tiny universe, where thousands of rules nest) must stay exact
// and within the reference budget that bounds build time and memory.
func TestBuildBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	n := 20000
	spread := make([]Rule, n)
	for i := range spread {
		addr := func() netip.Prefix {
			a := netip.AddrFrom4([4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())})
			return netip.PrefixFrom(a, rng.IntN(33)).Masked()
		}
		lo := uint16(rng.Uint32())
		spread[i] = Rule{Sel: Selector{Proto: 6, Src: addr(), Dst: addr(), DstPorts: PortMatch{Lo: lo, Hi: lo + uint16(rng.IntN(5000))}},
			Permit: rng.IntN(2) == 0, Entry: i / 3}
	}
	same := make([]Rule, n)
	for i := range same {
		same[i] = Rule{Sel: Selector{Src: netip.MustParsePrefix("10.0.0.0/8"), Dst: netip.MustParsePrefix("172.16.0.0/12")},
			Permit: i == n-1, Entry: i}
	}
	for name, rules := range map[string][]Rule{"spread": spread, "same": same, "tiny universe": randomPolicy(rng, n)} {
		t.Run(name, func(t *testing.T) {
			tab, err := Compile(rules)
			if err != nil {
				t.Fatal(err)
			}
			s := tab.Stats()
			t.Logf("%+v", s)
			if limit := s.Trees*refSlack + refBudget*len(rules); s.LeafRefs > limit {
				t.Errorf("leaves hold %d references, budget %d", s.LeafRefs, limit)
			}
			flows := make([]Flow, 1000)
			for i := range flows {
				flows[i] = randomFlow(rng, rules)
			}
			checkSame(t, rules, flows)
		})
	}
}

// candidates is the number of rules a lookup of k may test.
func (c *class) candidates(k *key) int {
	n := 0
	for g := 0; g < c.ntrees; g++ {
		nd := &c.nodes[c.roots[g]]
		for !nd.leaf {
			nd = &c.nodes[c.children[nd.base+uint32(k[nd.word]>>nd.shift)&nd.n]]
		}
		n += int(nd.n)
	}
	return n
}

func TestConcurrentReaders(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	rules := realisticPolicy(rng, 2000)
	flows := realisticFlows(rng, rules, 2000)
	tab, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]int, len(flows))
	for i := range flows {
		want[i] = LinearLookup(rules, &flows[i])
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Go(func() {
			cache := NewCache(256)
			for rep := 0; rep < 3; rep++ {
				for i := range flows {
					if got := cache.Lookup(tab, &flows[i]); got != want[i] {
						t.Errorf("worker %d: Lookup(%v) = %d, want %d", w, flows[i], got, want[i])
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

func TestNoAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	rules := realisticPolicy(rng, 1000)
	flows := realisticFlows(rng, rules, 64)
	tab, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	cache := NewCache(64)
	i := 0
	for name, fn := range map[string]func(){
		"Table.Lookup":        func() { tab.Lookup(&flows[i%len(flows)]) },
		"Table.LookupReverse": func() { tab.LookupReverse(&flows[i%len(flows)]) },
		"Cache.Lookup":        func() { cache.Lookup(tab, &flows[i%len(flows)]) },
		"Cache.LookupReverse": func() { cache.LookupReverse(tab, &flows[i%len(flows)]) },
	} {
		if n := testing.AllocsPerRun(1000, func() { fn(); i++ }); n != 0 {
			t.Errorf("%s: %v allocs per lookup", name, n)
		}
	}
}

func TestCache(t *testing.T) {
	a := policy(t, []string{"permit ip 10.1.1.0/24 172.16.1.0/24"}, []string{"permit ip 10.0.0.0/8 172.16.0.0/12"})
	b := policy(t, []string{"permit ip 10.0.0.0/8 172.16.0.0/12"}, []string{"permit ip 10.1.1.0/24 172.16.1.0/24"})
	ta, _ := Compile(a)
	tb, _ := Compile(b)
	f := flow("10.1.1.5", 0, "172.16.1.9", 0, 1)
	c := NewCache(4)
	if got := c.Lookup(ta, &f); got != 0 || c.Hits != 0 || c.Misses != 1 {
		t.Fatalf("first lookup = %d, hits %d misses %d", got, c.Hits, c.Misses)
	}
	if got := c.Lookup(ta, &f); got != 0 || c.Hits != 1 {
		t.Fatalf("second lookup = %d, hits %d", got, c.Hits)
	}
	// A new table with another answer for the same flow: the cache must
	// not serve the old one.
	if got := c.Lookup(tb, &f); got != 0 || c.Misses != 2 {
		t.Fatalf("after swap = %d, misses %d", got, c.Misses)
	}
	g := flow("10.1.2.5", 0, "172.16.1.9", 0, 1)
	if got := c.Lookup(ta, &g); got != 1 {
		t.Fatalf("Lookup = %d, want 1", got)
	}
	if got := c.Lookup(tb, &g); got != 0 {
		t.Fatalf("Lookup after swap = %d, want 0", got)
	}
	// Ports of protocols without ports are not part of the flow.
	h1, h2 := flow("10.1.2.5", 1, "172.16.1.9", 2, 1), flow("10.1.2.5", 3, "172.16.1.9", 4, 1)
	c.Lookup(ta, &h1)
	hits := c.Hits
	c.Lookup(ta, &h2)
	if c.Hits != hits+1 {
		t.Fatal("ICMP flows differing only in ports missed the cache")
	}
	// An IPv4 flow and its IPv4-mapped IPv6 twin are different flows.
	m := flow("::ffff:10.1.2.5", 0, "::ffff:172.16.1.9", 0, 1)
	if got := c.Lookup(ta, &m); got != NoMatch {
		t.Fatalf("mapped flow = %d, want NoMatch", got)
	}
	// Families the Table never matches must not share an entry with an
	// IPv6 flow of the same bytes: an IPv4 source with a mapped
	// destination, a zoned twin.
	anyRules := policy(t, []string{"permit ip ::/0 ::/0"})
	tany, _ := Compile(anyRules)
	v6 := flow("::ffff:10.1.2.5", 0, "::ffff:172.16.1.9", 0, 1)
	mixed := flow("10.1.2.5", 0, "::ffff:172.16.1.9", 0, 1)
	zoned := Flow{Src: v6.Src.WithZone("eth0"), Dst: v6.Dst, Proto: 1}
	for range 2 {
		if got := c.Lookup(tany, &v6); got != 0 {
			t.Fatalf("IPv6 flow = %d, want 0", got)
		}
		if got, got2 := c.Lookup(tany, &mixed), c.Lookup(tany, &zoned); got != NoMatch || got2 != NoMatch {
			t.Fatalf("mixed families = %d, zoned = %d, want NoMatch", got, got2)
		}
	}
	if c := NewCache(1000); len(c.v4.slots) != 1024 || len(c.v6.slots) != 1024 {
		t.Fatalf("NewCache(1000) has %d IPv4 and %d IPv6 slots", len(c.v4.slots), len(c.v6.slots))
	}
}

// A cache far smaller than the flow set keeps evicting; answers must stay
// exact and live flows must still hit.
func TestCacheEviction(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	rules := realisticPolicy(rng, 5000)
	flows := realisticFlows(rng, rules, 3000)
	tab, _ := Compile(rules)
	c := NewCache(1024)
	for rep := 0; rep < 3; rep++ {
		for i := range flows {
			if got, want := c.Lookup(tab, &flows[i]), LinearLookup(rules, &flows[i]); got != want {
				t.Fatalf("Lookup(%v) = %d, want %d", flows[i], got, want)
			}
		}
	}
	if c.Hits == 0 || c.Misses < uint64(len(flows)) {
		t.Fatalf("hits %d misses %d", c.Hits, c.Misses)
	}
}
