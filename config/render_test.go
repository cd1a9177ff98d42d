package config

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func roundTripFiles(t *testing.T) []string {
	var files []string
	for _, g := range []string{"testdata/guide/*.cfg", "testdata/roundtrip/*.cfg", "../examples/*.cfg", "../examples/*.yaml"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	return files
}

// TestRenderRoundTrip: rendering a policy and parsing the text gives the
// same policy, and rendering that gives the same text.
func TestRenderRoundTrip(t *testing.T) {
	for _, f := range roundTripFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, _ := Load(f)
			if cfg == nil {
				t.Fatal("load failed")
			}
			p := cfg.Policy
			text := p.Render(true)
			q, d := ParseIOS("rendered", []byte(text))
			if d.Errors() > 0 != (cfg.Diags.Errors() > 0) {
				t.Fatalf("rendered text has other errors:\n%s\n%s", d, text)
			}
			if again := q.Render(true); again != text {
				t.Fatalf("render is not stable:\n%s\n----\n%s", text, again)
			}
			q.DefaultReplayWindow = p.DefaultReplayWindow
			stripPos(p)
			stripPos(q)
			if !reflect.DeepEqual(p, q) {
				t.Errorf("parse(render(p)) != p\n%s", text)
			}
		})
	}
}

func TestAllFeaturesFile(t *testing.T) {
	cfg, err := Load("testdata/roundtrip/all-features.cfg")
	if err != nil {
		t.Fatal(err)
	}
	// Nothing deprecated, nothing incomplete: only the two warnings its
	// deliberate corner cases earn.
	checkDiags(t, cfg.Diags,
		"77 warning: dynamic-map dyn 20: no match address",
		"133 warning: access list v6-mgmt line 2 is ignored by crypto map vpn 30")
}

// TestRedaction: without --secrets no key appears in the output, and
// secrets do not leak through fmt either.
func TestRedaction(t *testing.T) {
	cfg, err := Load("testdata/roundtrip/all-features.cfg")
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Policy
	var secrets []string
	for _, k := range p.ISAKMP.Keys {
		secrets = append(secrets, k.Key.Reveal())
	}
	for _, kr := range p.IKEv2.Keyrings {
		for _, pe := range kr.Peers {
			for _, s := range []Secret{pe.PSK, pe.LocalPSK, pe.RemotePSK} {
				if s != "" {
					secrets = append(secrets, s.Reveal())
				}
			}
		}
	}
	var keys []*SessionKey
	for _, e := range p.CryptoMaps["vpn"].Entries {
		sk := e.SessionKeys
		keys = append(keys, sk.InboundAH, sk.OutboundAH, sk.InboundESP, sk.OutboundESP)
	}
	for _, k := range keys {
		if k != nil {
			for _, b := range []Key{k.Cipher, k.Auth} {
				if len(b) > 0 {
					secrets = append(secrets, b.Hex())
				}
			}
		}
	}
	if len(secrets) != 15 {
		t.Fatalf("found %d secrets", len(secrets))
	}
	redacted := p.Render(false)
	full := p.Render(true)
	dump := fmt.Sprintf("%v %+v %#v %s %x", p, p.CryptoMaps["vpn"].Entries[1], p.IKEv2.Keyrings["ring"].Peers[0], p.ISAKMP.Keys[0].Key, keys[4].Auth) + fmt.Sprintf("%+v %v", *keys[4], *keys[6])
	for _, s := range secrets {
		if strings.Contains(redacted, s) {
			t.Errorf("redacted output shows %q", s)
		}
		if !strings.Contains(full, s) {
			t.Errorf("--secrets output lacks %q", s)
		}
		if strings.Contains(dump, s) || strings.Contains(strings.ToLower(dump), strings.ToLower(s)) {
			t.Errorf("fmt shows %q", s)
		}
	}
	if n := strings.Count(redacted, Redacted); n != 15 {
		t.Errorf("%d redactions, want 15", n)
	}
}
