package metrics_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"ipsecgw/control"
	"ipsecgw/control/controltest"
	"ipsecgw/metrics"
)

// serve runs the metrics endpoint of gateway g on a free loopback port and
// returns its URL.
func serve(t *testing.T, g *controltest.Gateway) string {
	t.Helper()
	srv, err := metrics.Listen("127.0.0.1:0", g.Ops, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return "http://" + srv.Addr().String() + "/metrics"
}

// scrape GETs url as Prometheus does and parses the text exposition.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// value is the value of a counter or gauge.
func value(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return m.GetGauge().GetValue()
}

// single is the value of an unlabelled metric.
func single(t *testing.T, mfs map[string]*dto.MetricFamily, name string) uint64 {
	t.Helper()
	mf := mfs[name]
	if mf == nil || len(mf.GetMetric()) != 1 {
		t.Fatalf("%s: want one series, got %v", name, mf)
	}
	return uint64(value(mf.GetMetric()[0]))
}

// saKey names an SA in show output and in metric labels alike.
type saKey struct {
	dir string
	spi string // as the spi label: 0x%08x
}

// perSA is one metric's per-SA series by SA.
func perSA(mfs map[string]*dto.MetricFamily, name string) map[saKey]uint64 {
	out := map[saKey]uint64{}
	for _, m := range mfs[name].GetMetric() {
		out[saKey{label(m, "direction"), label(m, "spi")}] = uint64(value(m))
	}
	return out
}

// showSAs reads show crypto ipsec sa --json through the control socket:
// packets and bytes per SA, and the SAs' conn ids.
func showSAs(t *testing.T, g *controltest.Gateway) (packets, bytes map[saKey]uint64, ids map[saKey]int) {
	t.Helper()
	var flows []control.SAFlow
	if err := g.Client.Call(control.CmdShowIPsecSA, control.SAFilter{}, &flows); err != nil {
		t.Fatal(err)
	}
	packets, bytes, ids = map[saKey]uint64{}, map[saKey]uint64{}, map[saKey]int{}
	for _, f := range flows {
		for dir, sas := range map[string][]control.SA{"inbound": f.Inbound, "outbound": f.Outbound} {
			for _, sa := range sas {
				k := saKey{dir, fmt.Sprintf("0x%08x", sa.SPI)}
				packets[k], bytes[k], ids[k] = sa.Packets, sa.Bytes, sa.ConnID
			}
		}
	}
	return packets, bytes, ids
}

func sum(m map[saKey]uint64, dir string) uint64 {
	var n uint64
	for k, v := range m {
		if k.dir == dir {
			n += v
		}
	}
	return n
}

// TestScrapeAgreesWithShow scrapes /metrics over HTTP while traffic flows
// through the example's four manual SAs: with the traffic paused, every
// per-SA series and the global sums equal what show crypto ipsec sa
// reports; while it flows, each scrape lies between the show before it and
// the show after it; and the counters move from one scrape to the next.
func TestScrapeAgreesWithShow(t *testing.T) {
	g := controltest.Start(t, controltest.WriteConfig(t, "a", "", 100))
	url := serve(t, g)
	controltest.WaitFor(t, "traffic on every SA", func() bool {
		p, _, _ := showSAs(t, g)
		for _, v := range p {
			if v == 0 {
				return false
			}
		}
		return len(p) == 4
	})

	var last map[saKey]uint64
	for round := range 2 {
		g.Pause()
		packets, bytes, _ := showSAs(t, g)
		mfs := scrape(t, url)
		mp, mb := perSA(mfs, "ipsecgw_sa_packets_total"), perSA(mfs, "ipsecgw_sa_bytes_total")
		if len(mp) != 4 || len(packets) != 4 {
			t.Fatalf("round %d: %d SA series, %d SAs shown", round, len(mp), len(packets))
		}
		for k, v := range packets {
			if mp[k] != v || mb[k] != bytes[k] {
				t.Errorf("round %d: SA %v: metrics %d packets %d bytes, show %d packets %d bytes", round, k, mp[k], mb[k], v, bytes[k])
			}
			if last != nil && v <= last[k] {
				t.Errorf("SA %v did not move between scrapes: %d then %d", k, last[k], v)
			}
		}
		for _, c := range []struct {
			name string
			want uint64
		}{
			{"ipsecgw_protected_packets_total", sum(packets, "outbound")},
			{"ipsecgw_unprotected_packets_total", sum(packets, "inbound")},
			{"ipsecgw_protected_bytes_total", sum(bytes, "outbound")},
			{"ipsecgw_unprotected_bytes_total", sum(bytes, "inbound")},
		} {
			if got := single(t, mfs, c.name); got != c.want {
				t.Errorf("round %d: %s = %d, the SAs shown sum to %d", round, c.name, got, c.want)
			}
		}
		last = packets
		g.Resume()

		// While traffic flows: show, scrape, show.
		before, _, _ := showSAs(t, g)
		during := perSA(scrape(t, url), "ipsecgw_sa_packets_total")
		after, _, _ := showSAs(t, g)
		for k := range before {
			if during[k] < before[k] || during[k] > after[k] {
				t.Errorf("SA %v: scraped %d, outside the shows around it (%d, %d)", k, during[k], before[k], after[k])
			}
		}
		controltest.WaitFor(t, "more traffic", func() bool {
			p, _, _ := showSAs(t, g)
			for k, v := range p {
				if v <= last[k]+10 {
					return false
				}
			}
			return true
		})
	}
}

// TestSASeriesLimit: with metrics.sa_series_limit below the number of
// SAs, only the oldest SAs (lowest conn ids) get series, the rest are
// counted as omitted, and the global sums still count every SA.
func TestSASeriesLimit(t *testing.T) {
	for _, limit := range []int{0, 1, 3} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			g := controltest.Start(t, controltest.WriteConfig(t, "a", "", limit))
			url := serve(t, g)
			controltest.WaitFor(t, "traffic", func() bool {
				p, _, _ := showSAs(t, g)
				return sum(p, "outbound") > 0 && sum(p, "inbound") > 0
			})
			g.Pause()
			defer g.Resume()
			packets, _, ids := showSAs(t, g)
			mfs := scrape(t, url)
			for _, name := range []string{"ipsecgw_sa_packets_total", "ipsecgw_sa_bytes_total"} {
				series := perSA(mfs, name)
				if len(series) != limit {
					t.Errorf("%s: %d series, want %d", name, len(series), limit)
				}
				for k := range series {
					for o, id := range ids {
						if _, kept := series[o]; !kept && id < ids[k] {
							t.Errorf("%s: SA %v (conn id %d) has a series but the older %v (conn id %d) has none", name, k, ids[k], o, id)
						}
					}
				}
			}
			if got := single(t, mfs, "ipsecgw_sa_series_omitted"); got != uint64(4-limit) {
				t.Errorf("omitted %d, want %d", got, 4-limit)
			}
			var installed float64
			for _, m := range mfs["ipsecgw_ipsec_sas"].GetMetric() {
				installed += value(m)
			}
			if installed != 4 {
				t.Errorf("ipsecgw_ipsec_sas sums to %v, want 4", installed)
			}
			if got := single(t, mfs, "ipsecgw_protected_packets_total"); got != sum(packets, "outbound") {
				t.Errorf("protected packets %d, the SAs sum to %d", got, sum(packets, "outbound"))
			}
		})
	}
}

// sample is a Source with every part of a Sample filled in, IKE included,
// so that the lint sees every metric the collector can export.
type sample struct{}

func (sample) Sample() *metrics.Sample {
	return &metrics.Sample{
		Global: metrics.Global{Received: 10, Forwarded: 2, Protected: 4, Unprotected: 4, ProtectedBytes: 400, UnprotectedBytes: 400,
			Drops: map[string]uint64{"no_sa": 1}, Punts: map[string]uint64{"ike": 2}},
		Interfaces: []metrics.Interface{{Name: "outside", RxPackets: 5, Drops: map[string]uint64{"no_sa": 1}}},
		SAs: []metrics.SA{{ID: 1, Interface: "outside", Map: "vpn", Seq: 10, Peer: "192.0.2.2", Direction: "outbound", Protocol: "esp", SPI: 1001,
			Packets: 4, Bytes: 400, Drops: map[string]uint64{"replay": 1}}},
		SALimit: 10,
		IKE: &metrics.IKE{SAsByState: map[string]int{"established": 1}, ISAKMPByState: map[string]int{"qm_idle": 1}, ChildSAs: 1, IKEEstablished: 1, ChildEstablished: 1,
			Received: 4, Sent: 4, Drops: map[string]uint64{"drop_other": 1},
			Failures: []metrics.Failure{{SA: "child", Reason: "NO_PROPOSAL_CHOSEN", N: 2}}, IKERekeys: 1, ChildRekeys: 3, DPDSent: 2, DPDDead: 1},
		Reloads: metrics.Reloads{Succeeded: 1, LastSuccess: time.Unix(1700000000, 0)},
	}
}

// TestNaming lints every metric the collector exports against the
// Prometheus conventions (promlint: _total on counters, units, no
// reserved names, help text), on a full sample and on a running gateway.
func TestNaming(t *testing.T) {
	g := controltest.Start(t, controltest.WriteConfig(t, "a", "", 100))
	for name, src := range map[string]metrics.Source{"sample": sample{}, "gateway": g.Ops} {
		// The pedantic registry also checks each metric against its
		// description.
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(metrics.NewCollector(src, "test"))
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(mfs) == 0 {
			t.Errorf("%s: nothing collected", name)
		}
		problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("%s: %s: %s", name, p.Metric, p.Text)
		}
	}
	mfs := scrape(t, serve(t, g))
	for name, mf := range mfs {
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") || strings.HasPrefix(name, "promhttp_") {
			continue
		}
		if !strings.HasPrefix(name, "ipsecgw_") {
			t.Errorf("%s: not under ipsecgw_", name)
		}
		if mf.GetType() == dto.MetricType_COUNTER && !strings.HasSuffix(name, "_total") {
			t.Errorf("counter %s does not end in _total", name)
		}
	}
	if bi := mfs["ipsecgw_build_info"]; bi == nil || label(bi.GetMetric()[0], "version") != "test" {
		t.Errorf("build info: %v", bi)
	}
}

// TestDashboard checks the example Grafana dashboard against the
// collector: every metric a panel queries is one the collector exports,
// and every label a legend prints is one of those metrics' labels.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "deploy", "grafana", "ipsecgw.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr, LegendFormat string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	labels := map[string][]string{} // metric -> its labels
	ch := make(chan *prometheus.Desc, 100)
	metrics.NewCollector(sample{}, "test").Describe(ch)
	close(ch)
	descRE := regexp.MustCompile(`fqName: "([a-z_]+)".*variableLabels: \{([a-z_,]*)\}`)
	for d := range ch {
		m := descRE.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read %s", d)
		}
		labels[m[1]] = strings.Split(m[2], ",")
	}
	nameRE, legendRE := regexp.MustCompile(`ipsecgw_[a-z_]+`), regexp.MustCompile(`\{\{(\w+)\}\}`)
	targets := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			targets++
			known := []string{"instance", "job"}
			for _, name := range nameRE.FindAllString(tg.Expr, -1) {
				l, ok := labels[name]
				// A histogram's series: NAME_bucket (with le), _sum, _count.
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if base, found := strings.CutSuffix(name, suffix); !ok && found {
						if l, ok = labels[base]; ok && suffix == "_bucket" {
							l = append(slices.Clone(l), "le")
						}
					}
				}
				if !ok {
					t.Errorf("panel %q queries %s, which the collector does not export", p.Title, name)
				}
				known = append(known, l...)
			}
			for _, m := range legendRE.FindAllStringSubmatch(tg.LegendFormat, -1) {
				if !slices.Contains(known, m[1]) {
					t.Errorf("panel %q: legend label %s is not a label of %s", p.Title, m[1], tg.Expr)
				}
			}
		}
	}
	if targets < 10 {
		t.Errorf("only %d queries in the dashboard", targets)
	}
}
