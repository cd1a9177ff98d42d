package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Worker is one fast-path worker's counters and the state of its rings to
// the slow path.
type Worker struct {
	ID                   int
	RxPackets, TxPackets uint64 // frames taken from and handed to its ports
	// Batches counts the worker's non-empty receives by size: Batches[i]
	// those of more than 2^(i-1) and at most 2^i frames (Batches[0]: one
	// frame); the last entry also counts everything larger. The sizes sum
	// to RxPackets.
	Batches []uint64
	// PuntDrops counts packets and events lost because the punt ring was
	// full (the slow path fell behind).
	PuntDrops uint64
	Rings     []Ring
}

// Ring is the fill of one ring between a worker and the slow path at the
// moment of the sample.
type Ring struct {
	Name           string // punt, inject
	Occupied, Size int    // slots
}

var (
	workerLabel = []string{"worker"}

	dWorkerRx     = desc("worker_received_packets_total", "Frames a fast-path worker took from its ports (all its queues).", workerLabel...)
	dWorkerTx     = desc("worker_transmitted_packets_total", "Frames a fast-path worker handed to its ports.", workerLabel...)
	dWorkerBatch  = desc("worker_batch_size", "Frames per non-empty receive of a worker (one receive per port per poll): small batches mean a lightly loaded worker, batches at the configured size one that is falling behind.", workerLabel...)
	dPuntDrops    = desc("punt_drops_total", "Packets and events a worker dropped because its punt ring to the slow path was full.", workerLabel...)
	dRingOccupied = desc("ring_occupancy_slots", "Slots in use in a ring between a worker and the slow path (punt: toward the slow path; inject: from it).", "worker", "ring")
	dRingSize     = desc("ring_size_slots", "Slots of a ring between a worker and the slow path.", "worker", "ring")
)

func init() {
	allDescs = append(allDescs, dWorkerRx, dWorkerTx, dWorkerBatch, dPuntDrops, dRingOccupied, dRingSize)
}

// collectWorkers exports the per-worker series: a handful per worker, so
// their number is bounded by the configured workers.
func collectWorkers(ch chan<- prometheus.Metric, ws []Worker) {
	for _, w := range ws {
		id := strconv.Itoa(w.ID)
		ch <- prometheus.MustNewConstMetric(dWorkerRx, prometheus.CounterValue, float64(w.RxPackets), id)
		ch <- prometheus.MustNewConstMetric(dWorkerTx, prometheus.CounterValue, float64(w.TxPackets), id)
		ch <- prometheus.MustNewConstMetric(dPuntDrops, prometheus.CounterValue, float64(w.PuntDrops), id)
		ch <- batchHistogram(w, id)
		for _, r := range w.Rings {
			ch <- prometheus.MustNewConstMetric(dRingOccupied, prometheus.GaugeValue, float64(r.Occupied), id, r.Name)
			ch <- prometheus.MustNewConstMetric(dRingSize, prometheus.GaugeValue, float64(r.Size), id, r.Name)
		}
	}
}

// batchHistogram turns the per-bucket batch counts into Prometheus's
// cumulative buckets (upper bounds 1, 2, 4, ...; the last bucket is +Inf's
// share). The sum is the frames received, which every batch adds up to.
func batchHistogram(w Worker, id string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(w.Batches))
	var n uint64
	for i, c := range w.Batches {
		n += c
		if i < len(w.Batches)-1 {
			buckets[float64(uint64(1)<<i)] = n
		}
	}
	return prometheus.MustNewConstHistogram(dWorkerBatch, n, float64(w.RxPackets), buckets, id)
}
