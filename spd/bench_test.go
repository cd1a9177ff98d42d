package spd

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkLookup classifies a realistic flow mix (4096 flows, most inside
// some line, the rest bypass traffic) against realistic policies, through
// the Table, through a warm Cache (every flow a hit) and with LinearLookup,
// the baseline to compare against in the same run.
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		rng := rand.New(rand.NewPCG(uint64(n), 1))
		rules := realisticPolicy(rng, n)
		flows := realisticFlows(rng, rules, 4096)
		tab, err := Compile(rules)
		if err != nil {
			b.Fatal(err)
		}
		run := func(name string, lookup func(f *Flow) int) {
			b.Run(fmt.Sprintf("lines=%d/%s", n, name), func(b *testing.B) {
				b.ReportAllocs()
				i, hits := 0, 0
				for b.Loop() {
					if lookup(&flows[i&(len(flows)-1)]) != NoMatch {
						hits++
					}
					i++
				}
				b.ReportMetric(float64(hits)/float64(i), "protected/op")
			})
		}
		run("table", tab.Lookup)
		cache := NewCache(4 * len(flows))
		for i := range flows {
			cache.Lookup(tab, &flows[i])
		}
		run("cache", func(f *Flow) int { return cache.Lookup(tab, f) })
		run("linear", func(f *Flow) int { return LinearLookup(rules, f) })
	}
}

// BenchmarkCompile builds the classifier of realistic policies; bytes-held
// is the memory the resulting Table keeps.
func BenchmarkCompile(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		rules := realisticPolicy(rand.New(rand.NewPCG(uint64(n), 1)), n)
		b.Run(fmt.Sprintf("lines=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var tab *Table
			for b.Loop() {
				var err error
				if tab, err = Compile(rules); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(tab.Stats().Bytes), "bytes-held")
		})
	}
}
