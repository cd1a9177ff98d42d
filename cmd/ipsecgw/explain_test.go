package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ipsecgw/control"
	"ipsecgw/control/controltest"
)

// TestExplainOffline runs the packet tracer on configuration files alone
// (explain -c), with and without the peer's configuration, as text and as
// JSON.
func TestExplainOffline(t *testing.T) {
	ex := controltest.Examples()
	siteA, siteB := filepath.Join(ex, "site-a.yaml"), filepath.Join(ex, "site-b.yaml")
	// Site B accepting only a transform set that site A does not offer.
	dir := t.TempDir()
	pol, err := os.ReadFile(filepath.Join(ex, "site-b.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	sys, err := os.ReadFile(siteB)
	if err != nil {
		t.Fatal(err)
	}
	controltest.WriteFile(t, filepath.Join(dir, "site-b.cfg"), strings.Replace(string(pol), " set transform-set gcm128 aes256\n",
		" set transform-set gcm256\n", 1)+"crypto ipsec transform-set gcm256 esp-gcm 256\n")
	badB := filepath.Join(dir, "site-b.yaml")
	controltest.WriteFile(t, badB, string(sys))

	pkt := []string{"--in", "inside", "10.1.1.10", "10.2.1.10", "icmp"}
	for _, c := range []struct {
		name  string
		args  []string
		code  int
		want  []string
		probs string
	}{
		{"negotiate", append([]string{"-c", siteA}, pkt...), 0, []string{"(offline, from the configuration)", "Action: negotiate",
			"transform set 1: gcm128 { esp-gcm 128 } Tunnel", "transform set 2: aes256 { esp-aes 256 esp-sha256-hmac } Tunnel",
			"dropped while IKE negotiates an SA with 192.0.2.2"}, ""},
		{"peer agrees", append([]string{"-c", siteA, "--peer-config", siteB}, pkt...), 0, []string{"Action: negotiate"}, ""},
		{"no common transform set", append([]string{"-c", siteA, "--peer-config", badB}, pkt...), 0, []string{"Why the tunnel cannot come up:"},
			"no common transform set: site-a offers gcm128 (esp-gcm 128, tunnel), aes256 (esp-aes 256 esp-sha256-hmac, tunnel); site-b accepts gcm256 (esp-gcm 256, tunnel)"},
		{"unprotected", []string{"-c", filepath.Join(ex, "manual-a.yaml"), "--in", "outside", "10.2.1.10", "10.1.1.10", "icmp"}, 0,
			[]string{"Action: drop-unprotected", "access-list 101 line 1"}, ""},
		{"no such file", append([]string{"-c", filepath.Join(dir, "nosuch.yaml")}, pkt...), 1, []string{"nosuch.yaml"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			text, code := cli(append([]string{"explain"}, c.args...)...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\n%s", code, c.code, text)
			}
			for _, w := range c.want {
				if !strings.Contains(text, w) {
					t.Errorf("missing %q in\n%s", w, text)
				}
			}
			if code != 0 {
				return
			}
			js, code := cli(append([]string{"explain", "--json"}, c.args...)...)
			var x control.Explanation
			if code != 0 || json.Unmarshal([]byte(js), &x) != nil {
				t.Fatalf("--json: exit %d\n%s", code, js)
			}
			probs := strings.Join(x.Problems, "\n")
			if c.probs == "" && probs != "" || !strings.Contains(probs, c.probs) {
				t.Errorf("problems %q, want %q", probs, c.probs)
			}
			if x.Live {
				t.Error("an offline trace says live")
			}
		})
	}
}
