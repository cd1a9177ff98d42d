package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Row is one scenario's figures over all rounds.
type Row struct {
	Scenario string    `json:"scenario"`
	Title    string    `json:"title"`
	TCP      []float64 `json:"tcp_bps"`      // per round, bits per second received
	UDP      []float64 `json:"udp_pps"`      // per round, 64-byte packets per second received
	UDPSent  []float64 `json:"udp_sent_pps"` // per round, packets per second host-a sent
	// Medians over rounds.
	TCPMedian     float64 `json:"tcp_bps_median"`
	UDPMedian     float64 `json:"udp_pps_median"`
	UDPSentMedian float64 `json:"udp_sent_pps_median"`
	// Ratios of this row's medians to other rows' medians of the same run
	// (absent where that row has no figure).
	TCPRatio map[string]float64 `json:"tcp_ratio,omitempty"`
	UDPRatio map[string]float64 `json:"udp_ratio,omitempty"`
	Error    string             `json:"error,omitempty"`    // why the scenario last failed
	Failures int                `json:"failures,omitempty"` // rounds that failed
	Skipped  string             `json:"skipped,omitempty"`  // why it did not run
}

// Report is one run.
type Report struct {
	Time       time.Time `json:"time"`
	Machine    Machine   `json:"machine"`
	Rounds     int       `json:"rounds"`
	TCPSeconds float64   `json:"tcp_seconds"`
	UDPSeconds float64   `json:"udp_seconds"`
	Rows       []*Row    `json:"rows"`
}

// Machine describes where the run happened.
type Machine struct {
	CPU    string `json:"cpu"`
	CPUs   int    `json:"cpus"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`
}

func newReport(o options) *Report {
	return &Report{Time: time.Now().UTC(), Rounds: o.rounds, TCPSeconds: o.tcpTime.Seconds(), UDPSeconds: o.udpTime.Seconds(),
		Machine: Machine{CPU: cpuModel(), CPUs: runtime.NumCPU(), Kernel: kernelRelease(), Go: runtime.Version()}}
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func kernelRelease() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// The rows every other row is compared with.
var baselines = []string{"kernel", "strongswan", "wireguard"}

// finish computes medians and ratios.
func (r *Report) finish() {
	byName := map[string]*Row{}
	for _, row := range r.Rows {
		row.TCPMedian, row.UDPMedian, row.UDPSentMedian = median(row.TCP), median(row.UDP), median(row.UDPSent)
		byName[row.Scenario] = row
	}
	for _, row := range r.Rows {
		if row.TCPMedian == 0 {
			continue
		}
		for _, b := range baselines {
			base := byName[b]
			if base == nil || base == row || base.TCPMedian == 0 {
				continue
			}
			if row.TCPRatio == nil {
				row.TCPRatio, row.UDPRatio = map[string]float64{}, map[string]float64{}
			}
			row.TCPRatio[b] = row.TCPMedian / base.TCPMedian
			row.UDPRatio[b] = row.UDPMedian / base.UDPMedian
		}
	}
}

// write prints the table to w and stores it with the JSON and the chart in
// dir.
func (r *Report) write(w io.Writer, dir string) error {
	var table bytes.Buffer
	r.table(&table)
	w.Write(table.Bytes())
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	files := map[string][]byte{"results.txt": table.Bytes(), "results.json": append(js, '\n'), "chart.svg": r.svg()}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nwritten: %s/{results.txt,results.json,chart.svg}\n", dir)
	return nil
}

func ratio(m map[string]float64, b string) string {
	if v, ok := m[b]; ok {
		return fmt.Sprintf("%.2f×", v)
	}
	return "–"
}

func spread(v []float64, scale float64, format string) string {
	if len(v) < 2 {
		return ""
	}
	return fmt.Sprintf(" ("+format+"–"+format+")", slices.Min(v)/scale, slices.Max(v)/scale)
}

// table writes the results as a Markdown table, readable as text too.
func (r *Report) table(w io.Writer) {
	fmt.Fprintf(w, "netns benchmark %s: %d round(s), TCP %gs (1 stream), UDP %gs (64-byte payload); medians (min–max)\n",
		r.Time.Format(time.RFC3339), r.Rounds, r.TCPSeconds, r.UDPSeconds)
	fmt.Fprintf(w, "machine: %s, %d CPUs, Linux %s, %s\n\n", r.Machine.CPU, r.Machine.CPUs, r.Machine.Kernel, r.Machine.Go)
	fmt.Fprintln(w, "| path | TCP Gbit/s | UDP 64 B kpps received | (sent) | TCP × strongSwan | TCP × wireguard-go | TCP % of kernel | UDP × strongSwan | UDP × wireguard-go |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	var notes []string
	for _, row := range r.Rows {
		switch {
		case row.Skipped != "":
			fmt.Fprintf(w, "| %s | skipped | skipped | | | | | | |\n", row.Title)
			notes = append(notes, fmt.Sprintf("%s skipped: %s", row.Scenario, row.Skipped))
			continue
		case row.Error != "" && len(row.TCP) == 0:
			fmt.Fprintf(w, "| %s | FAILED | FAILED | | | | | | |\n", row.Title)
			notes = append(notes, fmt.Sprintf("%s failed: %s", row.Scenario, row.Error))
			continue
		case row.Error != "":
			notes = append(notes, fmt.Sprintf("%s failed in %d round(s) (figures from %d round(s)); last failure: %s", row.Scenario, row.Failures, len(row.TCP), row.Error))
		}
		pct := "–"
		if v, ok := row.TCPRatio["kernel"]; ok {
			pct = fmt.Sprintf("%.0f%%", 100*v)
		}
		sent := "–" // runs stored before the sender's rate was recorded
		if len(row.UDPSent) > 0 {
			sent = fmt.Sprintf("%.0f", row.UDPSentMedian/1e3)
		}
		fmt.Fprintf(w, "| %s | %.3f%s | %.1f%s | %s | %s | %s | %s | %s | %s |\n", row.Title,
			row.TCPMedian/1e9, spread(row.TCP, 1e9, "%.2f"), row.UDPMedian/1e3, spread(row.UDP, 1e3, "%.0f"), sent,
			ratio(row.TCPRatio, "strongswan"), ratio(row.TCPRatio, "wireguard"), pct,
			ratio(row.UDPRatio, "strongswan"), ratio(row.UDPRatio, "wireguard"))
	}
	for _, n := range notes {
		fmt.Fprintf(w, "\n%s\n", n)
	}
}

// svg draws two horizontal bar charts, TCP and UDP medians per scenario,
// with min–max whiskers over rounds.
func (r *Report) svg() []byte {
	const (
		width    = 800
		label    = 300 // left column for scenario titles
		plotW    = 420
		barH     = 22
		gap      = 10
		panelTop = 50
	)
	colors := map[string]string{"kernel": "#9e9e9e", "strongswan": "#d9822b", "wireguard": "#7e57c2", "ipsecgw": "#1e88e5"}
	n := len(r.Rows)
	panelH := n*(barH+gap) + 40
	height := panelTop + 2*panelH + 20
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="13">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="22" font-size="15" font-weight="bold">Host to host through the gateways, medians of %d round(s)</text>`+"\n", r.Rounds)
	fmt.Fprintf(&b, `<text x="10" y="40" fill="#555">%s · %d CPUs · Linux %s · %s</text>`+"\n", xmlEscape(r.Machine.CPU), r.Machine.CPUs, xmlEscape(r.Machine.Kernel), r.Time.Format("2006-01-02"))
	panels := []struct {
		title string
		unit  float64
		fmt   string
		vals  func(*Row) []float64
	}{
		{"TCP, 1 stream (Gbit/s)", 1e9, "%.2f", func(r *Row) []float64 { return r.TCP }},
		{"UDP, 64-byte payload, received (kpps)", 1e3, "%.0f", func(r *Row) []float64 { return r.UDP }},
	}
	for p, pn := range panels {
		top := panelTop + p*panelH
		fmt.Fprintf(&b, `<text x="10" y="%d" font-weight="bold">%s</text>`+"\n", top+20, pn.title)
		hi := 0.0
		for _, row := range r.Rows {
			for _, v := range pn.vals(row) {
				hi = max(hi, v)
			}
		}
		for i, row := range r.Rows {
			y := top + 30 + i*(barH+gap)
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", label-8, y+barH/2+5, xmlEscape(row.Title))
			vals := pn.vals(row)
			if len(vals) == 0 || hi == 0 {
				why := "failed"
				if row.Skipped != "" {
					why = "skipped"
				}
				fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#b00020">%s</text>`+"\n", label, y+barH/2+5, why)
				continue
			}
			med := median(vals)
			w := int(med / hi * plotW)
			color := colors[row.Scenario]
			if color == "" {
				color = "#607d8b"
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`+"\n", label, y, w, barH, color)
			if len(vals) > 1 {
				x0, x1 := label+int(slices.Min(vals)/hi*plotW), label+int(slices.Max(vals)/hi*plotW)
				fmt.Fprintf(&b, `<path d="M%d %dH%d M%d %dV%d M%d %dV%d" stroke="black" stroke-width="1.5"/>`+"\n",
					x0, y+barH/2, x1, x0, y+5, y+barH-5, x1, y+5, y+barH-5)
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d">`+pn.fmt+`</text>`+"\n", label+plotW+10, y+barH/2+5, med/pn.unit)
		}
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
