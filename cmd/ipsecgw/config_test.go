package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run executes the CLI with args and returns its exit code and output.
func run(args ...string) (int, string) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	if err != nil {
		out.WriteString(err.Error())
	}
	return exitCode(err), out.String()
}

func TestConfigCommands(t *testing.T) {
	const ex = "../../examples/"
	const guide = "../../config/testdata/guide/"
	cases := []struct {
		args []string
		code int
		want []string // substrings of the output
		not  []string // must not appear
	}{
		{[]string{"config", "check", ex + "site-a.yaml"}, 0, []string{"site-a.yaml: OK (0 warnings; 1 crypto map, 2 interfaces, 1 access list)"}, nil},
		{[]string{"config", "check", ex + "site-a.cfg"}, 0, []string{"OK"}, nil},
		{[]string{"config", "check", guide + "overlapping-networks.cfg"}, 1, []string{
			"overlapping-networks.cfg:7: error: crypto map mymap 10: unknown transform set test",
			"overlapping-networks.cfg:11: error: crypto map mymap 20: unknown transform set test",
			"2 errors, 0 warnings: the configuration cannot be used"}, nil},
		{[]string{"config", "check", guide + "aes-static-crypto-map.cfg"}, 0, []string{"warning: not implemented, ignored: duplex auto", "OK (19 warnings"}, nil},
		{[]string{"config", "check", "-q", guide + "aes-static-crypto-map.cfg"}, 0, []string{"OK (19 warnings"}, []string{"warning:"}},
		{[]string{"config", "check", "nope.yaml"}, 1, []string{"no such file"}, nil},
		{[]string{"config", "check"}, 2, []string{"accepts 1 arg"}, nil},
		{[]string{"config", "check", "--bogus", ex + "site-a.yaml"}, 2, []string{"unknown flag"}, nil},
		{[]string{"config", "peer-check", ex + "site-a.yaml", ex + "site-b.yaml"}, 0, []string{"site-a -> site-b: OK", "site-b -> site-a: OK", "all SAs can be established"}, []string{"example-psk"}},
		{[]string{"config", "peer-check", ex + "hub.yaml", ex + "spoke-1.cfg"}, 0, []string{"hub -> spoke-1: no SA requested", "spoke-1 -> hub: OK"}, nil},
		{[]string{"config", "peer-check", ex + "site-a.yaml", ex + "manual-b.yaml"}, 1, []string{"FAIL"}, nil},
		{[]string{"config", "peer-check", ex + "site-a.yaml", guide + "overlapping-networks.cfg"}, 1, []string{"unknown transform set test", "fix the configuration errors first"}, nil},
		{[]string{"config", "peer-check", ex + "site-a.yaml"}, 2, []string{"accepts 2 arg"}, nil},
		{[]string{"show", "running-config", "-c", ex + "site-a.yaml"}, 0, []string{"crypto map vpn 10 ipsec-isakmp", "pre-shared-key <redacted>"}, []string{"example-psk"}},
		{[]string{"show", "running-config", "-c", ex + "site-a.yaml", "--secrets"}, 0, []string{"pre-shared-key example-psk-change-me"}, []string{"<redacted>"}},
		{[]string{"show", "running-config", "--config", ex + "manual-a.yaml"}, 0, []string{"set session-key outbound esp 1001 cipher <redacted>"}, []string{"afc9a174"}},
		{[]string{"show", "running-config", "--socket", filepath.Join(t.TempDir(), "none.sock")}, 1, []string{"no gateway is listening", "is `ipsecgw run` running?"}, nil},
		{[]string{"show", "running-config", "-c", guide + "overlapping-networks.cfg"}, 1, []string{"unknown transform set test", "has errors"}, []string{"ipsec-isakmp"}},
		{[]string{"show", "running-config", "-c", ex + "site-a.yaml", "extra"}, 2, nil, nil},
	}
	for _, c := range cases {
		code, out := run(c.args...)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d\n%s", c.args, code, c.code, out)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", c.args, w, out)
			}
		}
		for _, w := range c.not {
			if strings.Contains(out, w) {
				t.Errorf("%v: output shows %q:\n%s", c.args, w, out)
			}
		}
	}
}

// TestShowRunningConfigReads: what show running-config prints is a
// configuration check accepts.
func TestShowRunningConfigReads(t *testing.T) {
	code, out := run("show", "running-config", "-c", "../../examples/manual-a.yaml", "--secrets")
	if code != 0 {
		t.Fatal(out)
	}
	f := t.TempDir() + "/running.cfg"
	if err := os.WriteFile(f, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := run("config", "check", f); code != 0 || !strings.Contains(out, "OK (0 warnings") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}
