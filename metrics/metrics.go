// Package metrics exports a running gateway's counters to Prometheus
// (metrics.listen): a custom collector that, at scrape time, asks a Source
// for one Sample — the workers' counters summed, every SA's counters, IKE's
// state and counters — and turns it into metrics. Nothing is counted here
// and nothing is pushed from the fast path: workers keep their own counters
// and a scrape only reads them, so scraping costs the fast path nothing.
//
// Data flow: Prometheus → GET /metrics → Collector.Collect → Source.Sample
// (slowpath.Ops on the live gateway) → const metrics → text exposition.
//
// Names follow the Prometheus conventions: ipsecgw_ prefix, _total for
// counters, units in the name (_bytes, _seconds, _slots). Per-SA series
// carry the SA's identity as labels and are bounded by Sample.SALimit
// (metrics.sa_series_limit): the oldest SAs keep their series, the others
// are counted in ipsecgw_sa_series_omitted and still in every global sum,
// so a gateway with 100,000 tunnels cannot explode the label cardinality.
package metrics

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Source gives the collector a consistent read of the gateway's counters.
// Sample is called once per scrape, possibly concurrently.
type Source interface {
	Sample() *Sample
}

// Sample is every counter at one moment.
type Sample struct {
	Global     Global
	Interfaces []Interface
	Workers    []Worker
	SAs        []SA
	// SALimit is the most SAs exported with series of their own.
	SALimit int
	// IKE is nil when no key exchange runs (manual SAs only).
	IKE     *IKE
	Reloads Reloads
}

// Global are the fast path's counters summed over workers.
type Global struct {
	Received, Forwarded         uint64
	Protected, Unprotected      uint64 // packets through outbound / inbound SAs
	ProtectedBytes              uint64 // cleartext bytes, as SA lifetimes count them
	UnprotectedBytes            uint64
	Injected                    uint64
	Fragments, Reassembled      uint64
	ICMPErrors, ICMPRateLimited uint64
	NATKeepalives               uint64
	SPDCacheHits, SPDCacheMiss  uint64
	Drops                       map[string]uint64 // by reason, every reason present
	Punts                       map[string]uint64 // by kind
}

// Interface is one interface's counters.
type Interface struct {
	Name               string
	RxPackets, RxBytes uint64
	TxPackets, TxBytes uint64
	RxDriver, TxDriver uint64 // lost by the driver
	Drops              map[string]uint64
}

// SA is one installed SA. ID orders SAs by age (the oldest first keep
// their series when SALimit cuts).
type SA struct {
	ID        int
	Interface string
	Map       string
	Seq       int
	Peer      string
	Direction string
	Protocol  string
	SPI       uint32
	Packets   uint64
	Bytes     uint64
	Drops     map[string]uint64 // the reasons that occurred
}

// IKE is the key exchange's state and counters.
type IKE struct {
	SAsByState map[string]int
	// ISAKMPByState counts IKEv1 (ISAKMP) SAs by state (mm_no_state ...
	// qm_idle); nil when IKEv1 does not run.
	ISAKMPByState    map[string]int
	ChildSAs         int
	IKEEstablished   uint64
	IKEFailed        uint64
	ChildEstablished uint64
	ChildFailed      uint64
	Received, Sent   uint64
	SendErrors       uint64
	Retransmits      uint64
	// Failures counts failed negotiations by SA kind ("ike", "child") and
	// the code that ended them (NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE,
	// AUTHENTICATION_FAILED, TIMEOUT, ...).
	Failures         []Failure
	IKERekeys        uint64 // IKE SAs rekeyed
	ChildRekeys      uint64 // CHILD_SAs rekeyed
	DPDSent, DPDDead uint64 // liveness checks started; peers declared dead
	Drops            map[string]uint64
	// Events are the engine's other counters by name (cookies sent,
	// duplicate requests answered, keepalives, fragmented messages).
	Events map[string]uint64
}

// Failure is the number of failed negotiations of one SA kind with one
// code.
type Failure struct {
	SA, Reason string
	N          uint64
}

// Reloads counts configuration reloads.
type Reloads struct {
	Succeeded, Failed uint64
	LastSuccess       time.Time // zero: never reloaded
}

// Collector is the prometheus.Collector over a Source.
type Collector struct {
	src     Source
	version string
}

// NewCollector returns a collector reading src; version is reported in
// ipsecgw_build_info.
func NewCollector(src Source, version string) *Collector {
	return &Collector{src: src, version: version}
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("ipsecgw_"+name, help, labels, nil)
}

var (
	saLabels = []string{"interface", "map", "seq", "peer", "direction", "protocol", "spi"}

	dBuildInfo        = desc("build_info", "The gateway's version and the Go version it was built with; always 1.", "version", "goversion")
	dReceived         = desc("received_packets_total", "IP packets received from the wire by the fast path.")
	dForwarded        = desc("forwarded_packets_total", "Packets sent in the clear (bypass, decrypted traffic, ICMP).")
	dProtected        = desc("protected_packets_total", "Packets protected by an outbound SA and sent.")
	dUnprotected      = desc("unprotected_packets_total", "Packets that passed an inbound SA (verified and decrypted).")
	dProtectedBytes   = desc("protected_bytes_total", "Cleartext bytes protected by outbound SAs, including SAs since deleted.")
	dUnprotectedBytes = desc("unprotected_bytes_total", "Cleartext bytes recovered by inbound SAs, including SAs since deleted.")
	dInjected         = desc("injected_packets_total", "Packets the slow path sent through the fast path (IKE, local traffic).")
	dFragments        = desc("fragments_total", "Fragments made before encryption or forwarding.")
	dReassembled      = desc("reassembled_packets_total", "Datagrams to the gateway rebuilt from fragments.")
	dICMPErrors       = desc("icmp_errors_sent_total", "ICMP errors sent (time exceeded, fragmentation needed, packet too big).")
	dICMPLimited      = desc("icmp_errors_rate_limited_total", "ICMP errors not sent because of the rate limit.")
	dKeepalives       = desc("natt_keepalives_received_total", "NAT-T keepalives received (and dropped, as expected).")
	dSPDCache         = desc("spd_cache_lookups_total", "SPD lookups by the workers' flow caches, by result.", "result")
	dDrops            = desc("drops_total", "Packets dropped by the fast path, by reason.", "reason")
	dPunts            = desc("punts_total", "Packets and events handed to the slow path, by kind.", "kind")

	dIfRxPackets = desc("interface_received_packets_total", "Frames received on an interface (all queues).", "interface")
	dIfRxBytes   = desc("interface_received_bytes_total", "Bytes received on an interface.", "interface")
	dIfTxPackets = desc("interface_transmitted_packets_total", "Frames sent on an interface.", "interface")
	dIfTxBytes   = desc("interface_transmitted_bytes_total", "Bytes sent on an interface.", "interface")
	dIfDriver    = desc("interface_driver_drops_total", "Frames the driver lost (rx: before the fast path saw them; tx: not sent).", "interface", "direction")
	dIfDrops     = desc("interface_drops_total", "Packets that arrived on an interface and were dropped, by reason.", "interface", "reason")

	dSAs         = desc("ipsec_sas", "Installed IPsec SAs.", "direction", "protocol")
	dSAPackets   = desc("sa_packets_total", "Packets through one SA (encapsulated outbound, decapsulated inbound).", saLabels...)
	dSABytes     = desc("sa_bytes_total", "Cleartext bytes through one SA.", saLabels...)
	dSADrops     = desc("sa_drops_total", "Packets of one SA dropped, by reason (reasons that occurred).", append(slices.Clone(saLabels), "reason")...)
	dSAOmitted   = desc("sa_series_omitted", "SAs without series of their own because of metrics.sa_series_limit (still in every global sum).")
	dIKESAs      = desc("ike_sas", "IKE SAs by state.", "state")
	dISAKMPSAs   = desc("isakmp_sas", "IKEv1 (ISAKMP) SAs by state (mm_no_state, mm_sa_setup, mm_key_exch, qm_idle).", "state")
	dIKEChildren = desc("ike_child_sas", "CHILD_SAs of the IKE SAs.")
	dIKENego     = desc("ike_negotiations_total", "Negotiations by SA kind (ike, child) and result (established, failed).", "sa", "result")
	dIKEFailures = desc("ike_negotiation_failures_total", "Failed negotiations by SA kind (ike, child) and reason: the notify that ended them (NO_PROPOSAL_CHOSEN, TS_UNACCEPTABLE, AUTHENTICATION_FAILED, ...) or TIMEOUT.", "sa", "reason")
	dIKERekeys   = desc("ike_rekeys_total", "Completed rekeys by SA kind (ike, child).", "sa")
	dIKEDPD      = desc("ike_dpd_events_total", "Dead peer detection events (sent: a liveness check started; peer_dead: it went unanswered and the peer's SAs were removed).", "event")
	dIKEMessages = desc("ike_messages_total", "IKE messages by direction (received, sent).", "direction")
	dIKESendErr  = desc("ike_send_errors_total", "IKE messages the transport could not send.")
	dIKERetrans  = desc("ike_retransmissions_total", "IKE requests retransmitted.")
	dIKEDrops    = desc("ike_drops_total", "IKE messages dropped, by reason.", "reason")
	dIKEEvents   = desc("ike_events_total", "Other IKE events by kind (cookie_sent, duplicate_request, rx_keepalive, fragmented_tx, reassembled_rx, ...).", "event")
	dReloads     = desc("config_reloads_total", "Configuration reloads by result (success, failure).", "result")
	dLastReload  = desc("config_last_reload_success_timestamp_seconds", "When the configuration was last reloaded successfully (0: never).")
)

var allDescs = []*prometheus.Desc{
	dBuildInfo, dReceived, dForwarded, dProtected, dUnprotected, dProtectedBytes, dUnprotectedBytes,
	dInjected, dFragments, dReassembled, dICMPErrors, dICMPLimited, dKeepalives, dSPDCache, dDrops, dPunts,
	dIfRxPackets, dIfRxBytes, dIfTxPackets, dIfTxBytes, dIfDriver, dIfDrops,
	dSAs, dSAPackets, dSABytes, dSADrops, dSAOmitted,
	dIKESAs, dISAKMPSAs, dIKEChildren, dIKENego, dIKEFailures, dIKERekeys, dIKEDPD, dIKEMessages, dIKESendErr, dIKERetrans, dIKEDrops, dIKEEvents,
	dReloads, dLastReload,
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one Sample per scrape.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Sample()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(dBuildInfo, 1, c.version, runtime.Version())

	g := &s.Global
	counter(dReceived, g.Received)
	counter(dForwarded, g.Forwarded)
	counter(dProtected, g.Protected)
	counter(dUnprotected, g.Unprotected)
	counter(dProtectedBytes, g.ProtectedBytes)
	counter(dUnprotectedBytes, g.UnprotectedBytes)
	counter(dInjected, g.Injected)
	counter(dFragments, g.Fragments)
	counter(dReassembled, g.Reassembled)
	counter(dICMPErrors, g.ICMPErrors)
	counter(dICMPLimited, g.ICMPRateLimited)
	counter(dKeepalives, g.NATKeepalives)
	counter(dSPDCache, g.SPDCacheHits, "hit")
	counter(dSPDCache, g.SPDCacheMiss, "miss")
	for r, v := range g.Drops {
		counter(dDrops, v, r)
	}
	for k, v := range g.Punts {
		counter(dPunts, v, k)
	}

	for _, i := range s.Interfaces {
		counter(dIfRxPackets, i.RxPackets, i.Name)
		counter(dIfRxBytes, i.RxBytes, i.Name)
		counter(dIfTxPackets, i.TxPackets, i.Name)
		counter(dIfTxBytes, i.TxBytes, i.Name)
		counter(dIfDriver, i.RxDriver, i.Name, "rx")
		counter(dIfDriver, i.TxDriver, i.Name, "tx")
		for r, v := range i.Drops {
			counter(dIfDrops, v, i.Name, r)
		}
	}

	collectWorkers(ch, s.Workers)
	c.collectSAs(s, counter, gauge)

	if ike := s.IKE; ike != nil {
		for st, n := range ike.SAsByState {
			gauge(dIKESAs, float64(n), st)
		}
		for st, n := range ike.ISAKMPByState {
			gauge(dISAKMPSAs, float64(n), st)
		}
		gauge(dIKEChildren, float64(ike.ChildSAs))
		counter(dIKENego, ike.IKEEstablished, "ike", "established")
		counter(dIKENego, ike.IKEFailed, "ike", "failed")
		counter(dIKENego, ike.ChildEstablished, "child", "established")
		counter(dIKENego, ike.ChildFailed, "child", "failed")
		for _, f := range ike.Failures {
			counter(dIKEFailures, f.N, f.SA, f.Reason)
		}
		counter(dIKERekeys, ike.IKERekeys, "ike")
		counter(dIKERekeys, ike.ChildRekeys, "child")
		counter(dIKEDPD, ike.DPDSent, "sent")
		counter(dIKEDPD, ike.DPDDead, "peer_dead")
		counter(dIKEMessages, ike.Received, "received")
		counter(dIKEMessages, ike.Sent, "sent")
		counter(dIKESendErr, ike.SendErrors)
		counter(dIKERetrans, ike.Retransmits)
		for r, v := range ike.Drops {
			counter(dIKEDrops, v, r)
		}
		for e, v := range ike.Events {
			counter(dIKEEvents, v, e)
		}
	}

	counter(dReloads, s.Reloads.Succeeded, "success")
	counter(dReloads, s.Reloads.Failed, "failure")
	last := 0.0
	if !s.Reloads.LastSuccess.IsZero() {
		last = float64(s.Reloads.LastSuccess.UnixNano()) / 1e9
	}
	gauge(dLastReload, last)
}

// collectSAs exports the SA counts and the per-SA series of the oldest
// SALimit SAs.
func (c *Collector) collectSAs(s *Sample, counter func(*prometheus.Desc, uint64, ...string), gauge func(*prometheus.Desc, float64, ...string)) {
	type kind struct{ dir, proto string }
	counts := map[kind]int{}
	for _, sa := range s.SAs {
		counts[kind{sa.Direction, sa.Protocol}]++
	}
	for _, dir := range []string{"inbound", "outbound"} {
		for _, proto := range []string{"esp", "ah"} {
			gauge(dSAs, float64(counts[kind{dir, proto}]), dir, proto)
		}
	}
	sas := slices.SortedFunc(slices.Values(s.SAs), func(a, b SA) int { return cmp.Compare(a.ID, b.ID) })
	omitted := 0
	if len(sas) > s.SALimit {
		omitted = len(sas) - s.SALimit
		sas = sas[:s.SALimit]
	}
	gauge(dSAOmitted, float64(omitted))
	for _, sa := range sas {
		l := []string{sa.Interface, sa.Map, strconv.Itoa(sa.Seq), sa.Peer, sa.Direction, sa.Protocol, fmt.Sprintf("0x%08x", sa.SPI)}
		counter(dSAPackets, sa.Packets, l...)
		counter(dSABytes, sa.Bytes, l...)
		for r, v := range sa.Drops {
			if v > 0 {
				counter(dSADrops, v, append(l, r)...)
			}
		}
	}
}
