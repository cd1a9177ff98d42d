package slowpath

import (
	"fmt"
	"time"

	"ipsecgw/fastpath"
	"ipsecgw/fastpath/sad"
	"ipsecgw/fastpath/stats"
)

// Snapshot is every counter of a gateway at one moment, in the shape
// `run --stats-json` writes and show commands print: global, per interface
// and per SA, each with all drop reasons (zeros included, so consumers see
// the full set).
type Snapshot struct {
	Global     GlobalStats  `json:"global"`
	Interfaces []IfaceStats `json:"interfaces"`
	SAs        []SAStats    `json:"sas"`
}

// GlobalStats are the engine's counters summed over workers.
type GlobalStats struct {
	RxPackets       uint64            `json:"rx_packets"`
	Forwarded       uint64            `json:"forwarded"`
	Encrypted       uint64            `json:"encrypted"`
	Decrypted       uint64            `json:"decrypted"`
	Injected        uint64            `json:"injected"`
	Fragments       uint64            `json:"fragments"`
	ICMPErrors      uint64            `json:"icmp_errors"`
	ICMPRateLimited uint64            `json:"icmp_rate_limited"`
	NATKeepalives   uint64            `json:"natt_keepalives"`
	SPDCacheHits    uint64            `json:"spd_cache_hits"`
	SPDCacheMisses  uint64            `json:"spd_cache_misses"`
	Punted          map[string]uint64 `json:"punted"`
	DropsTotal      uint64            `json:"drops_total"`
	Drops           map[string]uint64 `json:"drops"`
}

// IfaceStats are one interface's counters.
type IfaceStats struct {
	Name       string            `json:"name"`
	RxPackets  uint64            `json:"rx_packets"`
	RxBytes    uint64            `json:"rx_bytes"`
	TxPackets  uint64            `json:"tx_packets"`
	TxBytes    uint64            `json:"tx_bytes"`
	RxDropped  uint64            `json:"rx_dropped"` // lost by the driver
	TxDropped  uint64            `json:"tx_dropped"`
	DropsTotal uint64            `json:"drops_total"` // dropped by the fast path, by reason below
	Drops      map[string]uint64 `json:"drops"`
}

// SAStats are one SA's description and counters.
type SAStats struct {
	Map        string            `json:"map,omitempty"`
	Seq        int               `json:"seq,omitempty"`
	Interface  string            `json:"interface,omitempty"`
	Manual     bool              `json:"manual"`
	Direction  string            `json:"direction"`
	Protocol   string            `json:"protocol"`
	SPI        uint32            `json:"spi"`
	SPIHex     string            `json:"spi_hex"`
	Local      string            `json:"local"`
	Remote     string            `json:"remote"`
	Mode       string            `json:"mode"`
	Transform  string            `json:"transform"`
	UDPEncap   bool              `json:"udp_encap"`
	Packets    uint64            `json:"packets"` // encapsulated (outbound) or decapsulated (inbound)
	Bytes      uint64            `json:"bytes"`
	SeqNumber  uint64            `json:"seq_number"` // outbound: last sent; inbound: highest verified
	Expired    string            `json:"lifetime_expired"`
	AgeSeconds float64           `json:"age_seconds"`
	DropsTotal uint64            `json:"drops_total"`
	Drops      map[string]uint64 `json:"drops"`
}

// Snapshot reads every counter.
func (g *Gateway) Snapshot(now time.Time) Snapshot {
	es := g.Engine.Stats()
	c := &es.Global
	s := Snapshot{Global: GlobalStats{
		RxPackets: c.RxPackets, Forwarded: c.Forwarded, Encrypted: c.Encrypted, Decrypted: c.Decrypted,
		Injected: c.Injected, Fragments: c.Fragments, ICMPErrors: c.ICMPErrors, ICMPRateLimited: c.ICMPRateLimited,
		NATKeepalives: c.NATKeepalives, SPDCacheHits: c.SPDCacheHits, SPDCacheMisses: c.SPDCacheMiss,
		Punted: map[string]uint64{}, DropsTotal: c.Drops.Total(), Drops: allReasons(&c.Drops),
	}}
	for k := range fastpath.NumPuntKinds {
		s.Global.Punted[k.String()] = c.Punted[k]
	}
	tables := g.Engine.Tables()
	for i, ic := range es.Ifaces {
		s.Interfaces = append(s.Interfaces, IfaceStats{
			Name: tables.Interfaces[i].Name, RxPackets: ic.Port.RxPackets, RxBytes: ic.Port.RxBytes,
			TxPackets: ic.Port.TxPackets, TxBytes: ic.Port.TxBytes, RxDropped: ic.Port.RxDropped,
			TxDropped: ic.Port.TxDropped, DropsTotal: ic.Drops.Total(), Drops: allReasons(&ic.Drops),
		})
	}
	for _, sa := range g.Engine.SAD().Table().SAs() {
		s.SAs = append(s.SAs, saStats(sa, now))
	}
	return s
}

func saStats(sa *sad.SA, now time.Time) SAStats {
	cfg := sa.Config()
	st := sa.Stats(now)
	udp, _, _ := sa.UDPEncap()
	out := SAStats{
		Map: cfg.Info.Map, Seq: cfg.Info.MapSeq, Interface: cfg.Info.Interface, Manual: cfg.Info.Manual,
		Direction: sa.Direction().String(), Protocol: sa.Protocol().String(),
		SPI: sa.SPI(), SPIHex: fmt.Sprintf("0x%08x", sa.SPI()),
		Local: sa.Local().String(), Remote: sa.Remote().String(), Mode: sa.Mode().String(),
		Transform: transformName(sa), UDPEncap: udp,
		Packets: st.Packets, Bytes: st.Bytes, SeqNumber: st.Seq, Expired: st.Expired.String(),
		AgeSeconds: st.AgeSeconds, DropsTotal: st.Drops.Total(), Drops: allReasons(&st.Drops),
	}
	if sa.Direction() == sad.Inbound {
		out.SeqNumber = st.ReplayTop
	}
	return out
}

// allReasons maps every drop reason, zeros included, to its count.
func allReasons(d *stats.Drops) map[string]uint64 {
	m := make(map[string]uint64, stats.NumReasons)
	for r := stats.Reason(1); r < stats.NumReasons; r++ {
		m[r.String()] = d[r]
	}
	return m
}

// transformName names an SA's transform as show crypto ipsec sa does.
func transformName(sa *sad.SA) string {
	t := sa.Config().Transform
	if sa.Protocol() == sad.AH {
		return "ah " + t.Integ.String()
	}
	return "esp " + t.String()
}
