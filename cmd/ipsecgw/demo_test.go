package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo runs `ipsecgw demo` as the README's first command does, once per
// kind of transform (AEAD, and CBC with HMAC), and checks what it reports:
// pings crossed, only ESP on the wire, a TCP transfer went through, the
// gateways encrypted and decrypted.
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
	for _, transform := range []string{"esp-gcm 128", "esp-aes 256 esp-sha256-hmac"} {
		t.Run(strings.ReplaceAll(transform, " ", "_"), func(t *testing.T) {
			out, err := exec.Command(bin, "demo", "--seconds", "1", "--transform", transform).CombinedOutput()
			if err != nil {
				t.Fatalf("demo: %v\n%s", err, out)
			}
			s := string(out)
			for _, want := range []string{
				"host-a -> 10.2.2.10    5 packets transmitted, 5 received, 0% packet loss",
				"host-a -> fd00:2::10   5 packets transmitted, 5 received, 0% packet loss",
				", 0 cleartext packets of the hosts on the wire",
				"Gbit/s",
				"removing namespaces",
			} {
				if !strings.Contains(s, want) {
					t.Errorf("demo output lacks %q:\n%s", want, s)
				}
			}
			if strings.Count(s, " encrypted, ") != 2 || strings.Contains(s, " 0 encrypted") || strings.Contains(s, " 0 decrypted") {
				t.Errorf("both gateways should report encrypted and decrypted packets:\n%s", s)
			}
		})
	}
}
