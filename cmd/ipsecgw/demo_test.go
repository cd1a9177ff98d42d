package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDemo runs `ipsecgw demo` as the README's first command does, once per
// kind of transform (AEAD with IKEv2, the default keying; CBC with HMAC
// and manual keys), and checks what it reports: pings crossed, only ESP on
// the wire, a TCP transfer went through, gw-a showed its SAs (IKE and
// CHILD_SAs negotiated), the gateways encrypted and decrypted, and no key
// was printed.
func TestDemo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the demo builds network namespaces and attaches XDP programs")
	}
	if testing.Short() {
		t.Skip("live test; -short skips it")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is needed to build the gateway binary")
	}
	bin := filepath.Join(t.TempDir(), "ipsecgw")
	if out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building ipsecgw: %v\n%s", err, out)
	}
	for _, tc := range []struct{ transform, keying string }{{"esp-gcm 128", ""}, {"esp-aes 256 esp-sha256-hmac", "manual"}} {
		t.Run(strings.ReplaceAll(tc.transform, " ", "_")+"_"+tc.keying, func(t *testing.T) {
			args := []string{"demo", "--seconds", "1", "--transform", tc.transform}
			if tc.keying != "" {
				args = append(args, "--keying", tc.keying)
			}
			out, err := exec.Command(bin, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("demo: %v\n%s", err, out)
			}
			s := string(out)
			for _, want := range []string{
				"host-a -> 10.2.2.10    5 packets transmitted, 5 received, 0% packet loss",
				"host-a -> fd00:2::10   5 packets transmitted, 5 received, 0% packet loss",
				", 0 cleartext packets of the hosts on the wire",
				"Gbit/s",
				"gw-a# show crypto ipsec sa",
				"removing namespaces",
			} {
				if !strings.Contains(s, want) {
					t.Errorf("demo output lacks %q:\n%s", want, s)
				}
			}
			if tc.keying == "" {
				for _, want := range []string{"IKEv2 with a pre-shared key generated for this run", "gw-a# show crypto ikev2 sa", "READY",
					"Child sa: crypto map vpn 10", "Child sa: crypto map vpn 20"} {
					if !strings.Contains(s, want) {
						t.Errorf("IKEv2 demo output lacks %q:\n%s", want, s)
					}
				}
			}
			if k := regexp.MustCompile(`[0-9a-fA-F]{32,}`).FindString(s); k != "" {
				t.Errorf("the demo printed what looks like key material: %s", k)
			}
			if strings.Count(s, " encrypted, ") != 2 || strings.Contains(s, " 0 encrypted") || strings.Contains(s, " 0 decrypted") {
				t.Errorf("both gateways should report encrypted and decrypted packets:\n%s", s)
			}
		})
	}
}
