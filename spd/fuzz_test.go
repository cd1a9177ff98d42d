package spd

import (
	"math/rand/v2"
	"testing"
)

// byteChooser takes the fuzzer's bytes as choices; past the end every choice
// is 0.
type byteChooser struct{ b []byte }

func (c *byteChooser) IntN(n int) int {
	if n <= 1 || len(c.b) == 0 {
		return 0
	}
	v := int(c.b[0])
	c.b = c.b[1:]
	return v % n
}

// FuzzLookup decodes a policy over the small universe and flows from the
// input, and checks Table (and Cache) against LinearLookup on those flows
// and on every corner of every line.
func FuzzLookup(f *testing.F) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, n := range []int{0, 1, 7, 30, 100, 300, 800, 2000, 4000} {
		seed := make([]byte, n)
		for i := range seed {
			seed[i] = byte(rng.Uint32())
		}
		f.Add(seed)
	}
	f.Add([]byte("\x40permit ip 10.1.1.0 0.0.0.255 172.16.1.0 0.0.0.255"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &byteChooser{b: data}
		rules := randomPolicy(c, c.IntN(65))
		if len(rules) >= 3 && c.IntN(8) == 0 {
			// Maybe split an entry: Compile must refuse exactly then.
			rules[len(rules)-1].Entry = rules[0].Entry
			_, err := Compile(rules)
			if (err != nil) != !contiguous(rules) {
				t.Fatalf("Compile: %v; entries contiguous: %v", err, contiguous(rules))
			}
			return
		}
		tab, err := Compile(rules)
		if err != nil {
			t.Fatal(err)
		}
		cache := NewCache(4)
		check := func(fl Flow) {
			want := LinearLookup(rules, &fl)
			if got := tab.Lookup(&fl); got != want {
				t.Fatalf("Lookup(%v) = %d, LinearLookup = %d\nrules:\n%s", fl, got, want, dump(rules))
			}
			if got := cache.Lookup(tab, &fl); got != want {
				t.Fatalf("Cache.Lookup(%v) = %d, LinearLookup = %d", fl, got, want)
			}
		}
		for len(c.b) > 0 {
			check(randomFlow(c, rules))
		}
		for i := range rules {
			s := &rules[i].Sel
			for _, src := range [...]uint{0, 1} {
				for _, dst := range [...]uint{0, 1} {
					fl := Flow{Src: s.Src.Masked().Addr(), Dst: s.Dst.Masked().Addr(), Proto: s.Proto,
						SrcPort: s.SrcPorts.Lo, DstPort: s.DstPorts.Hi}
					if src == 1 {
						fl.Src, fl.SrcPort = lastAddr(s.Src), s.SrcPorts.Hi
					}
					if dst == 1 {
						fl.Dst, fl.DstPort = lastAddr(s.Dst), s.DstPorts.Lo
					}
					if fl.Proto == 0 {
						fl.Proto = 6
					}
					check(fl)
				}
			}
		}
	})
}

func contiguous(rules []Rule) bool {
	seen := map[int]bool{}
	for i, r := range rules {
		if i > 0 && rules[i-1].Entry == r.Entry {
			continue
		}
		if seen[r.Entry] {
			return false
		}
		seen[r.Entry] = true
	}
	return true
}
