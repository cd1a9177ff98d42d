package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"ipsecgw/control/controltest"
)

// deployDir is the repository's deploy directory.
func deployDir() string { return filepath.Join(controltest.Examples(), "..", "deploy") }

// TestDeployConfig: the example /etc/ipsecgw/ipsecgw.yaml passes config
// check with each example policy the operations guide suggests as its
// policy.cfg.
func TestDeployConfig(t *testing.T) {
	sys, err := os.ReadFile(filepath.Join(deployDir(), "etc", "ipsecgw", "ipsecgw.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, policy := range []string{"site-a.cfg", "guide-aes-static.cfg", "hub.cfg", "manual-a.cfg"} {
		t.Run(policy, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(controltest.Examples(), policy))
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			controltest.WriteFile(t, filepath.Join(dir, "policy.cfg"), string(b))
			path := filepath.Join(dir, "ipsecgw.yaml")
			controltest.WriteFile(t, path, string(sys))
			out, code := cli("config", "check", path)
			if code != 0 || !strings.Contains(out, path+": OK") {
				t.Errorf("config check: exit %d\n%s", code, out)
			}
		})
	}
}

// TestSystemdUnit checks deploy/ipsecgw.service with systemd-analyze:
// it verifies, and its sandbox keeps the exposure level systemd reports at
// OK or better (below 3.0), so that hardening is not lost by an edit.
func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	unit, err := os.ReadFile(filepath.Join(deployDir(), "ipsecgw.service"))
	if err != nil {
		t.Fatal(err)
	}
	// verify wants the binary to exist: any executable will do.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ipsecgw.service")
	controltest.WriteFile(t, path, strings.ReplaceAll(string(unit), "/usr/local/bin/ipsecgw", self))
	if out, err := exec.Command(analyze, "verify", path).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command(analyze, "security", "--offline=true", path).CombinedOutput()
	if err != nil {
		t.Skipf("systemd-analyze security --offline not available: %v", err)
	}
	m := regexp.MustCompile(`Overall exposure level for ipsecgw.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in\n%s", out)
	}
	if level, _ := strconv.ParseFloat(string(m[1]), 64); level >= 3.0 {
		t.Errorf("exposure level %.1f, want below 3.0:\n%s", level, out)
	}
}

// TestOperationsGuideCommands runs every ipsecgw command line that
// docs/operations.md shows, with --help added: each names a real command
// with real flags.
func TestOperationsGuideCommands(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(controltest.Examples(), "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	inBlock := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			inBlock = !inBlock
			continue
		}
		if !inBlock || !strings.HasPrefix(line, "ipsecgw ") {
			continue
		}
		line, _, _ = strings.Cut(line, "#")
		line, _, _ = strings.Cut(line, "|")
		args := strings.Fields(line)[1:]
		n++
		if out, code := cli(append(args, "--help")...); code != 0 || strings.Contains(out, "unknown command") || strings.Contains(out, "unknown flag") {
			t.Errorf("%s: exit %d\n%s", line, code, out)
		}
	}
	if n < 10 {
		t.Errorf("only %d command lines found in the guide", n)
	}
}
