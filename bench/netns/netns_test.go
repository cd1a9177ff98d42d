package main

import (
	"encoding/xml"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ipsecgw/config"
	"ipsecgw/topo"
)

// The generated gateway policies must be what the configuration accepts,
// with the SAs mirrored: A's outbound is B's inbound.
func TestIpsecgwPolicyParses(t *testing.T) {
	a := topo.Site{Host: netip.MustParsePrefix("10.1.1.10/24"), Inside: netip.MustParsePrefix("10.1.1.1/24"), Outside: netip.MustParsePrefix("172.31.0.1/24")}
	b := topo.Site{Host: netip.MustParsePrefix("10.2.2.10/24"), Inside: netip.MustParsePrefix("10.2.2.1/24"), Outside: netip.MustParsePrefix("172.31.0.2/24")}
	out, in := manualSA{1001, strings.Repeat("ab", 20)}, manualSA{2001, strings.Repeat("cd", 20)}
	for _, p := range []struct {
		name string
		text string
	}{
		{"gw-a", ipsecgwPolicy("gw-a", &a, &b, out, in)},
		{"gw-b", ipsecgwPolicy("gw-b", &b, &a, in, out)},
	} {
		_, diags := config.ParseIOS(p.name, []byte(p.text))
		if diags.Errors() > 0 {
			t.Errorf("%s policy rejected: %v\n%s", p.name, diags.Sorted(), p.text)
		}
	}
	if got := ipsecgwPolicy("gw-a", &a, &b, out, in); !strings.Contains(got, "access-list 101 permit ip 10.1.1.0 0.0.0.255 10.2.2.0 0.0.0.255") ||
		!strings.Contains(got, "set session-key outbound esp 1001 cipher") {
		t.Errorf("gw-a policy:\n%s", got)
	}
}

func testReport() *Report {
	r := &Report{Rounds: 3, Machine: Machine{CPU: "cpu <test>", CPUs: 2}, Rows: []*Row{
		{Scenario: "kernel", Title: "kernel", TCP: []float64{4e9, 3e9, 5e9}, UDP: []float64{2e5, 2e5, 2e5}, UDPSent: []float64{2.5e5, 2.5e5, 2.5e5}},
		{Scenario: "strongswan", Title: "strongSwan", TCP: []float64{5e8, 6e8, 4e8}, UDP: []float64{4e4, 4e4, 4e4}},
		{Scenario: "wireguard", Title: "wireguard-go", Skipped: "not installed"},
		{Scenario: "ipsecgw", Title: "ipsecgw", Error: "gw-a exited"},
	}}
	r.finish()
	return r
}

func TestReportRatiosAndTable(t *testing.T) {
	r := testReport()
	k, s := r.Rows[0], r.Rows[1]
	if k.TCPMedian != 4e9 || s.TCPMedian != 5e8 {
		t.Fatalf("medians %v %v", k.TCPMedian, s.TCPMedian)
	}
	if got := k.TCPRatio["strongswan"]; got != 8 {
		t.Errorf("kernel/strongSwan TCP ratio %v, want 8", got)
	}
	if _, ok := k.TCPRatio["wireguard"]; ok {
		t.Error("ratio against a skipped scenario")
	}
	var b strings.Builder
	r.table(&b)
	for _, want := range []string{"| kernel | 4.000 (3.00–5.00) | 200.0 (200–200) | 250 | 8.00× |", "| ipsecgw | FAILED |", "ipsecgw failed: gw-a exited", "wireguard skipped: not installed"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestChartIsWellFormedSVG(t *testing.T) {
	d := xml.NewDecoder(strings.NewReader(string(testReport().svg())))
	for {
		_, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v", err)
		}
	}
	if median([]float64{1, 3, 2, 4}) != 2.5 || median(nil) != 0 {
		t.Error("median")
	}
}

// A stored run renders the same table again.
func TestReplot(t *testing.T) {
	first, second := t.TempDir(), t.TempDir()
	if err := testReport().write(io.Discard, first); err != nil {
		t.Fatal(err)
	}
	if err := replot(filepath.Join(first, "results.json"), second); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(first, "results.txt"))
	b, _ := os.ReadFile(filepath.Join(second, "results.txt"))
	if len(a) == 0 || string(a) != string(b) {
		t.Errorf("replotted table differs:\n%s\n---\n%s", a, b)
	}
}
