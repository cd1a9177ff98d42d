package slowpath

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"ipsecgw/control"
	"ipsecgw/fastpath"
	"ipsecgw/fastpath/sad"
	"ipsecgw/fastpath/stats"
	"ipsecgw/ike"
	"ipsecgw/logging"
	"ipsecgw/metrics"
)

// Ops is the operations layer of a running gateway: the control.Backend
// the control socket serves (show, clear, debug, explain, reload) and the
// metrics.Source the Prometheus endpoint scrapes. It holds the current
// Gateway: a reload or a clear builds a new Gateway value around the same
// Engine and publishes it, so readers always see one consistent
// configuration with the tables built from it.
//
// The runtime (ipsecgw run) creates it once the fast path is built and
// serves it with two lines:
//
//	ops := slowpath.NewOps(gw, slowpath.OpsConfig{Logs: logs, IKE: engine})
//	if err := ops.Start(); err != nil { ... }; defer ops.Close()
//
// and calls ops.Reload() on SIGHUP. After a reload, code that used the
// Gateway it built (punt handling reads Maps by rule index) must use
// ops.Gateway().
type Ops struct {
	cfg OpsConfig
	log *slog.Logger

	gw    atomic.Pointer[Gateway]
	write sync.Mutex // one reload or clear at a time
	// publish serializes replacing the gateway (a reload's switch, IKE's
	// temporary crypto map entries); never held while waiting for IKE.
	publish sync.Mutex
	ledger  saLedger

	reloadsOK, reloadsFailed atomic.Uint64
	lastReload               atomic.Int64 // unix nanoseconds of the last successful reload

	srv *control.Server
	met *metrics.Server
}

// OpsConfig wires the operations layer to the rest of the gateway.
type OpsConfig struct {
	// Logs are the gateway's loggers, whose levels debug switches; nil
	// discards.
	Logs *logging.Logs
	// IKE is the IKEv2 engine; nil when none runs (manual SAs only).
	IKE IKE
	// ISAKMP lists IKEv1 SAs; nil when IKEv1 does not run.
	ISAKMP ISAKMP
	// AfterReload, if set, runs after a reload was applied, with the
	// gateway before and after, so the runtime can follow: re-program
	// steering prefixes and kernel addresses, give IKE its new peers.
	AfterReload func(old, new *Gateway)
	// Version is reported in ipsecgw_build_info.
	Version string
}

// IKE is the IKEv2 engine as the operations layer uses it; *ike.Engine
// implements it.
type IKE interface {
	SAs() []ike.IKESAInfo
	Stats() map[string]uint64
	// Failures returns the last failed negotiation per peer and entry,
	// newest first, and the failure counts by SA kind and code.
	Failures() ([]ike.Failure, []ike.FailureCount)
	DeleteChildSA(inboundSPI uint32)
	ClearChildSAs(peer netip.Addr)
	ClearIKESAs(peer netip.Addr)
}

// ISAKMP lists the IKEv1 SAs for show crypto isakmp sa and the IPsec SAs
// IKEv1 negotiated (lifetimes for show crypto ipsec sa); the IKEv1
// engine's adapter implements it.
type ISAKMP interface {
	ISAKMPSAs() []control.ISAKMPSA
	IPsecSAs() []ike.ChildSA
}

// cryptoSubsystems are what `debug crypto all` turns on.
var cryptoSubsystems = []string{logging.IPsec, logging.IKEv2, logging.ISAKMP, logging.Dataplane}

// NewOps returns the operations layer of gateway g.
func NewOps(g *Gateway, c OpsConfig) *Ops {
	if c.Logs == nil {
		c.Logs = logging.Discard()
	}
	o := &Ops{cfg: c, log: c.Logs.Logger(logging.Control)}
	for _, s := range cryptoSubsystems {
		c.Logs.Logger(s) // listed by show debugging from the start
	}
	o.gw.Store(g)
	return o
}

// UpdateGateway replaces the current gateway with the one f makes from it
// (f switches the fast path's tables itself), serialized with reloads.
// It is the Negotiator's Publish.
func (o *Ops) UpdateGateway(f func(*Gateway) (*Gateway, error)) error {
	o.publish.Lock()
	defer o.publish.Unlock()
	ng, err := f(o.Gateway())
	if err != nil {
		return err
	}
	o.gw.Store(ng)
	return nil
}

// Gateway is the current gateway (it changes with reloads and clears).
func (o *Ops) Gateway() *Gateway { return o.gw.Load() }

// Start serves the control socket (control.socket) and, when
// metrics.listen is set, the Prometheus endpoint.
func (o *Ops) Start() error {
	sys := &o.Gateway().Config.System
	srv, err := control.Start(sys.Control.Socket, o, o.log)
	if err != nil {
		return err
	}
	o.srv = srv
	if sys.Metrics.Listen != "" {
		if o.met, err = metrics.Listen(sys.Metrics.Listen, o, o.cfg.Version, o.log); err != nil {
			srv.Close()
			o.srv = nil
			return err
		}
	}
	return nil
}

// Close stops serving and removes the control socket.
func (o *Ops) Close() error {
	var errs []error
	if o.met != nil {
		errs = append(errs, o.met.Close())
	}
	if o.srv != nil {
		errs = append(errs, o.srv.Close())
	}
	return errors.Join(errs...)
}

// Debugging implements control.Backend: every subsystem's level.
func (o *Ops) Debugging() ([]control.DebugState, error) {
	var out []control.DebugState
	for _, l := range o.cfg.Logs.Levels() {
		out = append(out, control.DebugState{Subsystem: l.Subsystem, Level: l.Level, Debug: l.Level == slog.LevelDebug.String()})
	}
	return out, nil
}

// Debug implements control.Backend: debug crypto X / undebug.
func (o *Ops) Debug(r control.DebugRequest) ([]control.DebugState, error) {
	subs := []string{r.Subsystem}
	switch {
	case r.Subsystem == "all" && r.On:
		subs = cryptoSubsystems
	case r.Subsystem == "all":
		subs = nil
		for _, l := range o.cfg.Logs.Levels() {
			subs = append(subs, l.Subsystem)
		}
	default:
		known := false
		for _, l := range o.cfg.Logs.Levels() {
			known = known || l.Subsystem == r.Subsystem
		}
		if !known {
			return nil, fmt.Errorf("no subsystem %q (want %s or all)", r.Subsystem, strings.Join(cryptoSubsystems, ", "))
		}
	}
	level := slog.LevelDebug
	if !r.On {
		var err error
		if level, err = logging.ParseLevel(o.Gateway().Config.System.Log.Level); err != nil {
			return nil, err
		}
	}
	for _, s := range subs {
		o.cfg.Logs.SetLevel(s, level)
	}
	o.log.Info("debugging changed", "subsystems", strings.Join(subs, ","), "level", level.String())
	return o.Debugging()
}

// saLedger follows the installed SAs from one read to the next. It numbers
// them in the order it first sees them (the conn id show prints, and the
// order in which per-SA metric series are kept), and when an SA has gone it
// keeps the SA's final counters, so the global byte totals built from SA
// counters never go backwards. Readers observe the SAD at every show and
// scrape, and clear and reload observe it before deleting anything; an SA
// that IKE installs and deletes between two reads is missed.
type saLedger struct {
	mu      sync.Mutex
	next    int
	ids     map[*sad.SA]int
	retired [2]sad.Counters // by sad.Direction
}

// observe records sas as the installed set and returns their ids and the
// counters of every SA gone since the ledger began.
func (l *saLedger) observe(sas []*sad.SA) (ids []int, retired [2]sad.Counters) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ids == nil {
		l.ids = map[*sad.SA]int{}
	}
	present := make(map[*sad.SA]bool, len(sas))
	ids = make([]int, len(sas))
	for i, sa := range sas {
		present[sa] = true
		id, ok := l.ids[sa]
		if !ok {
			l.next++
			id = l.next
			l.ids[sa] = id
		}
		ids[i] = id
	}
	for sa := range l.ids {
		if present[sa] {
			continue
		}
		if sa.Inner() == nil { // a bundle's traffic counts once, on its ESP SA
			c := sa.Counters() // final: a deleted SA is dead and counts no more
			r := &l.retired[sa.Direction()]
			r.Packets += c.Packets
			r.Bytes += c.Bytes
		}
		delete(l.ids, sa)
	}
	return ids, l.retired
}

// Sample implements metrics.Source: one read of the counters the workers
// published and of every installed SA. Its cost grows with the number of
// SAs (BenchmarkSample), so per-SA drops carry only the reasons that
// occurred, which is all the collector exports.
func (o *Ops) Sample() *metrics.Sample {
	g := o.Gateway()
	now := time.Now()
	es := g.Engine.Stats()
	sas := g.Engine.SAD().Table().SAs()
	ids, retired := o.ledger.observe(sas)
	s := &metrics.Sample{SALimit: g.Config.System.Metrics.SASeriesLimit}
	c := &es.Global
	s.Global = metrics.Global{
		Received: c.RxPackets, Forwarded: c.Forwarded, Protected: c.Encrypted, Unprotected: c.Decrypted,
		Injected: c.Injected, Fragments: c.Fragments, Reassembled: c.Reassembled,
		ICMPErrors: c.ICMPErrors, ICMPRateLimited: c.ICMPRateLimited, NATKeepalives: c.NATKeepalives,
		SPDCacheHits: c.SPDCacheHits, SPDCacheMiss: c.SPDCacheMiss, Drops: allReasons(&c.Drops), Punts: map[string]uint64{},
		ProtectedBytes:   retired[sad.Outbound].Bytes,
		UnprotectedBytes: retired[sad.Inbound].Bytes,
	}
	for k := range fastpath.NumPuntKinds {
		s.Global.Punts[k.String()] = c.Punted[k]
	}
	s.Workers = workerSamples(g.Engine)
	tables := g.Engine.Tables()
	for i, ic := range es.Ifaces {
		s.Interfaces = append(s.Interfaces, metrics.Interface{
			Name: tables.Interfaces[i].Name, RxPackets: ic.Port.RxPackets, RxBytes: ic.Port.RxBytes,
			TxPackets: ic.Port.TxPackets, TxBytes: ic.Port.TxBytes, RxDriver: ic.Port.RxDropped, TxDriver: ic.Port.TxDropped,
			Drops: allReasons(&ic.Drops),
		})
	}
	s.SAs = make([]metrics.SA, 0, len(sas))
	for k, sa := range sas {
		st := sa.Stats(now)
		if sa.Inner() == nil {
			if sa.Direction() == sad.Outbound {
				s.Global.ProtectedBytes += st.Bytes
			} else {
				s.Global.UnprotectedBytes += st.Bytes
			}
		}
		info := sa.Config().Info
		s.SAs = append(s.SAs, metrics.SA{
			ID: ids[k], Interface: info.Interface, Map: info.Map, Seq: info.MapSeq, Peer: sa.Remote().String(),
			Direction: sa.Direction().String(), Protocol: sa.Protocol().String(), SPI: sa.SPI(),
			Packets: st.Packets, Bytes: st.Bytes, Drops: occurred(&st.Drops),
		})
	}
	if e := o.cfg.IKE; e != nil {
		s.IKE = ikeSample(e)
		if v1 := o.cfg.ISAKMP; v1 != nil {
			s.IKE.ISAKMPByState = map[string]int{}
			for _, sa := range v1.ISAKMPSAs() {
				s.IKE.ISAKMPByState[strings.ToLower(sa.State)]++
			}
		}
	}
	s.Reloads = metrics.Reloads{Succeeded: o.reloadsOK.Load(), Failed: o.reloadsFailed.Load()}
	if t := o.lastReload.Load(); t != 0 {
		s.Reloads.LastSuccess = time.Unix(0, t)
	}
	return s
}

// occurred maps the drop reasons with a count to it; nil when none.
func occurred(d *stats.Drops) map[string]uint64 {
	var m map[string]uint64
	for r := stats.Reason(1); r < stats.NumReasons; r++ {
		if d[r] > 0 {
			if m == nil {
				m = map[string]uint64{}
			}
			m[r.String()] = d[r]
		}
	}
	return m
}

// ikeSample reads the IKE engine's SAs and counters: those with metrics of
// their own, drops ("drop_" + reason), and every other counter as an event,
// so that none is left out.
func ikeSample(e IKE) *metrics.IKE {
	s := &metrics.IKE{SAsByState: map[string]int{}, Drops: map[string]uint64{}, Events: map[string]uint64{}}
	for name, v := range e.Stats() {
		switch name {
		case "ike_sa_up":
			s.IKEEstablished = v
		case "ike_sa_failed":
			s.IKEFailed = v
		case "child_sa_up":
			s.ChildEstablished = v
		case "child_sa_failed":
			s.ChildFailed = v
		case "rx":
			s.Received = v
		case "tx":
			s.Sent = v
		case "tx_error":
			s.SendErrors = v
		case "retransmit":
			s.Retransmits = v
		case "ike_sa_rekeyed":
			s.IKERekeys = v
		case "child_sa_rekeyed":
			s.ChildRekeys = v
		case "dpd_sent":
			s.DPDSent = v
		case "dpd_peer_dead":
			s.DPDDead = v
		default:
			if r, ok := strings.CutPrefix(name, "drop_"); ok {
				s.Drops[r] = v
			} else {
				s.Events[name] = v
			}
		}
	}
	_, counts := e.Failures()
	for _, c := range counts {
		s.Failures = append(s.Failures, metrics.Failure{SA: c.SA, Reason: c.Code, N: c.N})
	}
	for _, sa := range e.SAs() {
		s.SAsByState[strings.ToLower(sa.State)]++
		s.ChildSAs += len(sa.Children)
	}
	return s
}

// sortedNames returns a map's keys in order.
func sortedNames[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
