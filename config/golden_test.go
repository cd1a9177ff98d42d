package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ipsecgw/crypto"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestGolden loads the guide's examples and the shipped examples and
// compares their diagnostics and rendering with testdata/golden.
func TestGolden(t *testing.T) {
	var files []string
	for _, g := range []string{"testdata/guide/*.cfg", "../examples/*.cfg", "../examples/*.yaml"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("found only %d files", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := Load(f)
			if cfg == nil {
				t.Fatal(err)
			}
			var b strings.Builder
			b.WriteString("# config check\n")
			b.WriteString(cfg.Diags.String())
			if cfg.Diags.Errors() == 0 {
				b.WriteString("# show running-config --secrets\n")
				b.WriteString(cfg.Policy.Render(true))
			}
			golden := filepath.Join("testdata/golden", filepath.Base(f)+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update)", err)
			}
			if b.String() != string(want) {
				t.Errorf("%s differs from %s:\n%s", f, golden, b.String())
			}
		})
	}
}

// TestGuideAESExample pins what matters in the guide's AES example beyond
// its golden file: it loads without error and its crypto map compiles to
// the transport-mode AES-256/SHA-1 entry it describes.
func TestGuideAESExample(t *testing.T) {
	cfg, err := Load("testdata/guide/aes-static-crypto-map.cfg")
	if err != nil {
		t.Fatal(err)
	}
	if n := cfg.Diags.Warnings(); n == 0 {
		t.Error("the unimplemented commands should be warned about")
	}
	c, err := cfg.Policy.CompileInterface("FastEthernet0/0/1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Map != "aesmap" || len(c.Rules) != 1 || len(c.Entries) != 1 {
		t.Fatalf("compiled %+v", c)
	}
	e := c.Entries[0]
	ts := e.TransformSets[0]
	if ts.ESP != (crypto.Transform{Cipher: crypto.CipherAESCBC, KeyBits: 256, Integ: crypto.IntegHMACSHA1_96}) || ts.Mode != Transport {
		t.Errorf("transform set %+v", ts)
	}
	if e.Peers[0] != addr("10.0.110.1") || e.ACL.Name != "120" || e.IKEv2Profile != nil {
		t.Errorf("entry %+v", e)
	}
	if k := cfg.Policy.ISAKMP.Keys[0]; k.Key.Reveal() != "cisco123" || k.Peer != pfx("10.0.110.1/32") {
		t.Errorf("isakmp key %v", k.Peer)
	}
	if p := cfg.Policy.ISAKMP.Policies[0]; p.Lifetime != 180 || p.Encryption.KeyBits != 256 {
		t.Errorf("isakmp policy %+v", p)
	}
}

// TestGuideOverlappingExample: the snippet as written references transform
// set "test" without defining it, which is exactly what check reports;
// with the set defined it is clean.
func TestGuideOverlappingExample(t *testing.T) {
	cfg, _ := Load("testdata/guide/overlapping-networks.cfg")
	checkDiags(t, cfg.Diags,
		"7 error: crypto map mymap 10: unknown transform set test",
		"11 error: crypto map mymap 20: unknown transform set test")
	if _, err := cfg.Policy.CompileInterface("x"); err == nil {
		t.Error("an invalid policy must not compile")
	}
	cfg, err := Load("testdata/guide/overlapping-networks-defined.cfg")
	if err != nil {
		t.Fatal(err)
	}
	checkDiags(t, cfg.Diags)
}
