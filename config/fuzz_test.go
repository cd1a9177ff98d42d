package config

import (
	"testing"
)

// FuzzParseIOS feeds arbitrary text to the IOS reader. It must never panic;
// what it accepts without error must render to text that reads back
// without error into a policy that renders the same, and must compile.
// Seeds: testdata/fuzz/FuzzParseIOS (the guide's and the shipped examples,
// and corner cases).
func FuzzParseIOS(f *testing.F) {
	f.Add([]byte("crypto map m 10 ipsec-isakmp\n set peer 192.0.2.2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, d := ParseIOS("fuzz.cfg", data)
		if d.Errors() > 0 {
			if p.Valid() {
				t.Fatal("policy with errors marked valid")
			}
			return
		}
		text := p.Render(true)
		q, d2 := ParseIOS("rendered.cfg", []byte(text))
		if d2.Errors() > 0 {
			t.Fatalf("rendered policy has errors:\n%s\n%s", d2, text)
		}
		if again := q.Render(true); again != text {
			t.Fatalf("render not stable:\n%s\n----\n%s", text, again)
		}
		if _, err := p.Compile(); err != nil {
			t.Fatalf("valid policy does not compile: %v", err)
		}
		_ = p.Render(false)
	})
}

// FuzzLoadYAML feeds arbitrary bytes to the system-file loader (viper and
// the YAML policy form). It must never panic.
func FuzzLoadYAML(f *testing.F) {
	f.Add([]byte("interfaces:\n  - {name: outside, device: eth1}\npolicy:\n  transform_sets: {t: {transforms: esp-gcm}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := LoadBytes("fuzz.yaml", data)
		if cfg == nil {
			if err == nil {
				t.Fatal("no configuration and no error")
			}
			return
		}
		if (cfg.Diags.Errors() > 0) != (err != nil) {
			t.Fatalf("errors %d but err %v", cfg.Diags.Errors(), err)
		}
		if cfg.Policy != nil && cfg.Policy.Valid() {
			if _, err := cfg.Policy.Compile(); err != nil {
				t.Fatal(err)
			}
			_ = cfg.Policy.Render(false)
		}
	})
}
