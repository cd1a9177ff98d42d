package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"ipsecgw/bench"
)

// TestBenchOutput runs one short measurement into buffers, as a log or a
// pipe would take it: the table has its header and one row, and stderr
// has no progress line (carriage returns garble logs).
func TestBenchOutput(t *testing.T) {
	specs, err := benchSpecs([]string{"esp-gcm 128"}, []string{"64"}, []string{"encap"}, []string{"1"}, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := runBench(&out, &errb, specs, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "transform") || !strings.HasPrefix(lines[1], "esp-gcm 128") {
		t.Fatalf("table:\n%s", out.String())
	}
	if errb.Len() != 0 {
		t.Fatalf("progress written to a non-terminal: %q", errb.String())
	}

	out.Reset()
	if err := runBench(&out, &errb, specs, true); err != nil {
		t.Fatal(err)
	}
	var r bench.Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil || r.Transform != "esp-gcm 128" || r.PPS <= 0 || r.Ratio <= 0 {
		t.Fatalf("json %q: %v", out.String(), err)
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) || isTerminal(&bytes.Buffer{}) {
		t.Fatal("a file or a buffer taken for a terminal")
	}
}

// TestBenchCPUProfile: --cpuprofile leaves a gzipped pprof profile.
func TestBenchCPUProfile(t *testing.T) {
	path := t.TempDir() + "/cpu.pprof"
	if code, out := run("bench", "--transform", "esp-gcm 128", "--size", "64", "--direction", "decap", "--duration", "50ms", "--json", "--cpuprofile", path); code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	p, err := os.ReadFile(path)
	if err != nil || len(p) < 2 || p[0] != 0x1f || p[1] != 0x8b {
		t.Fatalf("profile %d bytes, %v", len(p), err)
	}
}
