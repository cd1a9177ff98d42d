package config

import (
	"strings"
	"testing"
)

// TestDiagnosticsHideKeys: mistyped commands that carry keys are quoted in
// diagnostics (which reach terminals and logs) without the keys.
func TestDiagnosticsHideKeys(t *testing.T) {
	const key = "27cf0a5e9b3c41d28e7f6a1b2c3d4e5f60718293"
	const psk = "s3cret-psk-words"
	text := strings.Join([]string{
		"crypto ipsec transform-set gcm esp-gcm 128",
		"crypto map m 10 ipsec-manual",
		" set peer 192.0.2.2",
		" set transform-set gcm",
		" set session-key inbound esp " + key + " cipher " + key, // key where the SPI belongs
		" set sesion-key outbound esp 300 cipher " + key,         // misspelt command
		" match address 101",
		"crypto isakmp keyy " + psk + " address 192.0.2.2", // misspelt
		"crypto isakmp key " + psk + " adress 192.0.2.2",   // misspelt later word
		"access-list 101 permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255",
	}, "\n") + "\n"
	pol, diags := ParseIOS("t.cfg", []byte(text))
	_ = pol
	var all []string
	for _, d := range diags.Sorted() {
		all = append(all, d.String())
	}
	out := strings.Join(all, "\n")
	if len(all) < 3 {
		t.Fatalf("want diagnostics for the mistyped lines, got:\n%s", out)
	}
	for _, secret := range []string{key, key[:16], psk} {
		if strings.Contains(out, secret) {
			t.Errorf("diagnostics show %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "malformed SPI \"<redacted>\"") {
		t.Errorf("the SPI error should say the SPI is malformed without quoting it:\n%s", out)
	}
}
