package slowpath

import (
	"ipsecgw/fastpath"
	"ipsecgw/fastpath/stats"
	"ipsecgw/metrics"
)

// workerSamples reads each worker's published counters and the fill of
// its rings to and from the slow path, for the per-worker metrics. Ring
// fills are read with Occupancy, which writes nothing the worker or the
// punt drainer cache, so a scrape never disturbs them.
func workerSamples(e *fastpath.Engine) []metrics.Worker {
	ws := e.Workers()
	out := make([]metrics.Worker, len(ws))
	for i, w := range ws {
		c := w.Stats().Global
		p, in := w.Punts(), w.Injects()
		out[i] = metrics.Worker{
			ID: w.ID(), RxPackets: c.RxFrames, TxPackets: c.TxFrames,
			Batches:   c.RxBatches[:],
			PuntDrops: c.Drops[stats.PuntFull],
			Rings: []metrics.Ring{
				{Name: "punt", Occupied: p.Occupancy(), Size: p.Cap()},
				{Name: "inject", Occupied: in.Occupancy(), Size: in.Cap()},
			},
		}
	}
	return out
}
