package metrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"ipsecgw/control/controltest"
	"ipsecgw/metrics"
)

type workersOnly []metrics.Worker

func (w workersOnly) Sample() *metrics.Sample { return &metrics.Sample{Workers: w} }

// byWorker is one metric's series by worker label (and ring label, if any).
func byWorker(mfs map[string]*dto.MetricFamily, name string) map[[2]string]*dto.Metric {
	out := map[[2]string]*dto.Metric{}
	for _, m := range mfs[name].GetMetric() {
		out[[2]string{label(m, "worker"), label(m, "ring")}] = m
	}
	return out
}

// TestWorkerMetrics checks the per-worker series of a sample: values,
// the batch histogram's cumulative buckets and sum, lint.
func TestWorkerMetrics(t *testing.T) {
	src := workersOnly{
		{ID: 0, RxPackets: 1 + 2*3 + 64*5, TxPackets: 300, Batches: []uint64{1, 0, 2, 0, 0, 0, 5, 0},
			PuntDrops: 7, Rings: []metrics.Ring{{"punt", 3, 1024}, {"inject", 0, 256}}},
		{ID: 1, RxPackets: 1000, Batches: []uint64{0, 0, 0, 0, 0, 0, 0, 1}},
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics.NewCollector(src, "test"))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(fams).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	mfs := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		mfs[f.GetName()] = f
	}
	for _, c := range []struct {
		name, worker, ring string
		want               float64
	}{
		{"ipsecgw_worker_received_packets_total", "0", "", 327},
		{"ipsecgw_worker_transmitted_packets_total", "0", "", 300},
		{"ipsecgw_punt_drops_total", "0", "", 7},
		{"ipsecgw_punt_drops_total", "1", "", 0},
		{"ipsecgw_ring_occupancy_slots", "0", "punt", 3},
		{"ipsecgw_ring_size_slots", "0", "inject", 256},
	} {
		m := byWorker(mfs, c.name)[[2]string{c.worker, c.ring}]
		if m == nil || value(m) != c.want {
			t.Errorf("%s{worker=%s,ring=%s} = %v, want %v", c.name, c.worker, c.ring, m, c.want)
		}
	}
	h := byWorker(mfs, "ipsecgw_worker_batch_size")[[2]string{"0", ""}].GetHistogram()
	if h.GetSampleCount() != 8 || h.GetSampleSum() != 327 {
		t.Errorf("worker 0 batches: count %d sum %v, want 8 327", h.GetSampleCount(), h.GetSampleSum())
	}
	want := map[float64]uint64{1: 1, 2: 1, 4: 3, 8: 3, 16: 3, 32: 3, 64: 8}
	for _, b := range h.GetBucket() {
		if b.GetCumulativeCount() != want[b.GetUpperBound()] {
			t.Errorf("worker 0 bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want[b.GetUpperBound()])
		}
	}
	// Worker 1's one batch is larger than the largest bound: +Inf only.
	h = byWorker(mfs, "ipsecgw_worker_batch_size")[[2]string{"1", ""}].GetHistogram()
	if b := h.GetBucket(); h.GetSampleCount() != 1 || b[len(b)-1].GetCumulativeCount() != 0 {
		t.Errorf("worker 1 batches: %v", h)
	}
}

// TestWorkerMetricsLive scrapes a running gateway (one worker, paced
// bursts of at most 4 frames): the worker's frames in agree with the
// interfaces' and with its batch histogram, and its rings are exported.
func TestWorkerMetricsLive(t *testing.T) {
	g := controltest.Start(t, controltest.WriteConfig(t, "a", "", 100))
	url := serve(t, g)
	controltest.WaitFor(t, "traffic", func() bool {
		return single(t, scrape(t, url), "ipsecgw_protected_packets_total") > 20
	})
	g.Pause()
	defer g.Resume()
	mfs := scrape(t, url)
	rx := value(byWorker(mfs, "ipsecgw_worker_received_packets_total")[[2]string{"0", ""}])
	var ifRx float64
	for _, m := range mfs["ipsecgw_interface_received_packets_total"].GetMetric() {
		ifRx += value(m)
	}
	if rx == 0 || rx != ifRx {
		t.Errorf("worker received %v frames, interfaces %v", rx, ifRx)
	}
	h := byWorker(mfs, "ipsecgw_worker_batch_size")[[2]string{"0", ""}].GetHistogram()
	if h.GetSampleSum() != rx || h.GetSampleCount() == 0 {
		t.Errorf("batch histogram sum %v count %d, received %v", h.GetSampleSum(), h.GetSampleCount(), rx)
	}
	for _, b := range h.GetBucket() {
		if b.GetUpperBound() >= 4 && b.GetCumulativeCount() != h.GetSampleCount() {
			t.Errorf("bucket le=%v holds %d of %d batches; the traffic comes in bursts of at most 4", b.GetUpperBound(), b.GetCumulativeCount(), h.GetSampleCount())
		}
	}
	rings := byWorker(mfs, "ipsecgw_ring_size_slots")
	if len(rings) != 2 || rings[[2]string{"0", "punt"}] == nil || rings[[2]string{"0", "inject"}] == nil {
		t.Errorf("ring series %v", rings)
	}
	if len(byWorker(mfs, "ipsecgw_ring_occupancy_slots")) != 2 || byWorker(mfs, "ipsecgw_punt_drops_total")[[2]string{"0", ""}] == nil {
		t.Error("ring occupancy or punt drops missing")
	}
}
