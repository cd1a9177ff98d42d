package slowpath

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"ipsecgw/config"
	"ipsecgw/fastpath"
	"ipsecgw/fastpath/sad"
	"ipsecgw/ike"
	"ipsecgw/ike/ikev1"
)

// Negotiator joins the IKEv2 engine (package ike) to the fast path of a
// running gateway. It is the engine's Transport and Installer, and it
// serves the punts the engine cares about:
//
//	worker punt ring ── PuntIKE ──────▶ HandlePunt ─ ISAKMP major 2 ─▶ Engine.Receive
//	                                               └ major 1 ─────────▶ V1.Receive (IKEv1, ike_v1.go)
//	                 ── PuntAcquire ──▶ HandlePunt ─▶ Engine.Acquire(entry, current set peer), V1's without ikev2-profile
//	                 ── PuntSAExpiry ─▶ HandlePunt ─▶ SoftExpire / HardExpire of the engine owning the SA
//	Engine ── Transport.Send ──▶ a worker's inject ring (bypassing the crypto maps)
//	Engine ── Installer ───────▶ SAD installs, crypto map bindings (make-before-break)
//	Engine ── AcquireFailed ───▶ Engine.Acquire with the entry's next set peer
//
// The gateway's outside addresses belong to the fast path (the XDP
// program steers UDP 500 and 4500 to AF_XDP), so IKE datagrams travel
// through the workers' rings rather than kernel sockets. ESP in UDP stays
// in the fast path.
//
// Entry points for a runtime or a test harness:
//
//	x, err := slowpath.NewNegotiator(slowpath.NegotiatorConfig{Gateway: ops.Gateway, Logger: log})
//	x.SetPeers()                  // from the current gateway; again after each reload
//	go x.Run(ctx)                 // the engine's goroutine
//	x.HandlePunt(slot)            // for every punt drained from a worker's ring
//	x.ReportUsage()               // about once a second: traffic for DPD
//	x.Shutdown(time.Second, drain) // delete the SAs with their peers, then cancel ctx
//
// x itself is the operations layer's IKE (OpsConfig.IKE): the engine's SAs
// and clear commands, and its counters together with the glue's.
type Negotiator struct {
	Engine *ike.Engine
	// V1 is the IKEv1 engine (ike_v1.go); nil when IKEv1 is not negotiated.
	V1 *ikev1.Engine

	gw  func() *Gateway
	log *slog.Logger

	mu        sync.Mutex
	children  map[*ike.ChildSA]*installed
	bySA      map[*sad.SA]childRef
	peerNames map[peerAddrs]string
	once      map[string]bool
	// current is, per entry, the set peer a failover moved on to: ACQUIREs
	// punted meanwhile start there rather than at a peer that just failed.
	current map[string]netip.Addr
	v1Peers map[string]bool // the IKEv1 engine's peer names
	// Temporary crypto map entries by key, and each CHILD_SA's
	// (ike_dynamic.go).
	temps   map[string]*tempUse
	tempOf  map[*ike.ChildSA]string
	publish func(func(*Gateway) (*Gateway, error)) error

	counters NegotiatorCounters
}

// NegotiatorCounters count the IKE datagrams the glue received from the fast
// path, by outcome.
type NegotiatorCounters struct {
	IKEv2, IKEv1          atomic.Uint64
	IKEv1NotRunning       atomic.Uint64 // IKEv1 datagrams dropped: no IKEv1 engine
	Malformed             atomic.Uint64 // not a UDP datagram with an ISAKMP header
	UnknownVersion        atomic.Uint64
	AcquiresStale         atomic.Uint64 // the crypto map changed since the worker punted
	AcquiresNotNegotiable atomic.Uint64 // entry without IKEv2 profile or peer
	InjectFull            atomic.Uint64
}

type peerAddrs struct{ local, remote netip.Addr }

// NegotiatorConfig sets up the glue.
type NegotiatorConfig struct {
	// Gateway returns the current gateway: Ops.Gateway on a gateway that
	// reloads, or a function returning a fixed one.
	Gateway func() *Gateway
	Logger  *slog.Logger // nil: discard
	// Engine holds the engine's settings; its Transport and Installer are
	// the glue's own and must be left nil.
	Engine ike.Config
	// Publish replaces the current gateway with the one its argument makes
	// from it, serialized with reloads (Ops.UpdateGateway): how temporary
	// crypto map entries of dynamic maps without match address are
	// installed. nil: such SAs decrypt but traffic to the peer is not bound.
	Publish func(func(*Gateway) (*Gateway, error)) error
	// IKEv1 holds the IKEv1 engine's settings (its Transport and
	// Installer are the glue's); nil: entries without an IKEv2 profile are
	// not negotiated and IKEv1 datagrams are counted and dropped.
	IKEv1 *ikev1.Config
}

// NewNegotiator creates the glue and its engine.
func NewNegotiator(c NegotiatorConfig) (*Negotiator, error) {
	if c.Gateway == nil {
		return nil, errors.New("slowpath: the negotiator needs the gateway")
	}
	if c.Engine.Transport != nil || c.Engine.Installer != nil {
		return nil, errors.New("slowpath: the negotiator provides the engine's Transport and Installer itself")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	x := &Negotiator{gw: c.Gateway, log: c.Logger,
		children: map[*ike.ChildSA]*installed{}, bySA: map[*sad.SA]childRef{}, once: map[string]bool{},
		current: map[string]netip.Addr{}, temps: map[string]*tempUse{}, tempOf: map[*ike.ChildSA]string{}, publish: c.Publish}
	ec := c.Engine
	ec.Transport, ec.Installer = x, x
	if ec.Logger == nil {
		ec.Logger = c.Logger
	}
	e, err := ike.New(ec)
	if err != nil {
		return nil, err
	}
	x.Engine = e
	if c.IKEv1 != nil {
		v1c := *c.IKEv1
		v1c.Transport, v1c.Installer = x, v1Installer{x}
		if v1c.Logger == nil {
			v1c.Logger = c.Logger
		}
		if x.V1, err = ikev1.New(v1c); err != nil {
			return nil, err
		}
	}
	return x, nil
}

// Run runs the engines until ctx is done.
func (x *Negotiator) Run(ctx context.Context) error {
	if x.V1 == nil {
		return x.Engine.Run(ctx)
	}
	done := make(chan error, 1)
	go func() { done <- x.V1.Run(ctx) }()
	err := x.Engine.Run(ctx)
	return errors.Join(err, <-done)
}

// SetPeers gives the engine the peers of the current gateway's
// configuration (at start and after every reload). Entries it cannot
// negotiate are logged, once per reason.
func (x *Negotiator) SetPeers() error {
	peers, skipped := x.gw().IKEPeers()
	for _, s := range skipped {
		switch {
		case s.IKEv1 && x.V1 == nil:
			x.warnOnce(s.String(), "IKEv1 is not negotiated on this gateway: no SAs for this entry", "entry", s.Entry, "reason", s.Reason)
		case !s.IKEv1:
			x.warnOnce(s.String(), "crypto map entry not negotiated", "entry", s.Entry, "reason", s.Reason)
		}
	}
	names := map[peerAddrs]string{}
	for _, p := range peers {
		if p.Remote.IsSingleIP() {
			names[peerAddrs{p.Local, p.Remote.Addr()}] = p.Name
		}
	}
	if err := x.Engine.SetPeers(peers); err != nil {
		return err
	}
	if err := x.setV1Peers(); err != nil {
		return err
	}
	x.mu.Lock()
	x.peerNames = names
	x.mu.Unlock()
	x.log.Info("IKEv2 peers configured", "peers", len(peers))
	return nil
}

// Counters returns the glue's punt counters.
func (x *Negotiator) Counters() *NegotiatorCounters { return &x.counters }

// HandlePunt serves one punt the IKE side owns (IKE datagrams, ACQUIREs,
// SA lifetime events) and reports whether it did; the caller handles the
// others. It copies what it keeps: the slot may be released after it
// returns.
func (x *Negotiator) HandlePunt(p *fastpath.Punt) bool {
	switch p.Kind {
	case fastpath.PuntIKE:
		x.receive(p)
	case fastpath.PuntAcquire:
		x.acquire(p)
	case fastpath.PuntSAExpiry:
		x.expiry(p)
	default:
		return false
	}
	return true
}

// receive hands an IKE datagram to the engine of its ISAKMP major version
// (the version field is at the same place in IKEv1 and IKEv2 headers).
func (x *Negotiator) receive(p *fastpath.Punt) {
	payload, ok := udpPayload(p.Packet)
	if !ok {
		x.counters.Malformed.Add(1)
		return
	}
	local := netip.AddrPortFrom(p.Flow.Dst, p.Flow.DstPort)
	remote := netip.AddrPortFrom(p.Flow.Src, p.Flow.SrcPort)
	hdr := payload
	if p.Flow.DstPort == natTPort {
		if len(hdr) < 4 || binary.BigEndian.Uint32(hdr) != 0 {
			x.counters.Malformed.Add(1) // the fast path punts only the non-ESP marker
			return
		}
		hdr = hdr[4:]
	}
	if len(hdr) < 28 {
		x.counters.Malformed.Add(1)
		return
	}
	switch hdr[17] >> 4 {
	case 2:
		x.counters.IKEv2.Add(1)
		x.Engine.Receive(local, remote, payload)
	case 1:
		x.counters.IKEv1.Add(1)
		if x.V1 != nil {
			x.V1.Receive(local, remote, payload)
			return
		}
		x.counters.IKEv1NotRunning.Add(1)
		x.warnOnce("ikev1 "+remote.Addr().String(), "IKEv1 (ISAKMP) packet received: IKEv1 is not negotiated on this gateway; dropped", "from", remote)
	default:
		x.counters.UnknownVersion.Add(1)
	}
}

// natTPort is the NAT-T port, whose IKE datagrams start with the
// non-ESP marker (RFC 3948 §2.2).
const natTPort = 4500

// acquire starts negotiation for a flow a static ipsec-isakmp entry
// protects: with the entry's first set peer IKEv2 can authenticate
// (AcquireFailed moves on to the next).
func (x *Negotiator) acquire(p *fastpath.Punt) {
	gw := x.gw()
	t := gw.Engine.Tables()
	if p.Iface < 0 || p.Iface >= len(t.Interfaces) || p.Crypto == nil {
		return
	}
	cur := t.Interfaces[p.Iface].Crypto
	cm := gw.Maps[p.Iface]
	if cur == nil || cm == nil || cur.SPD != p.Crypto.SPD || !sameRules(cur, cm) {
		// A reload replaced the map since the worker punted (or is
		// publishing it); the next packet asks again.
		x.counters.AcquiresStale.Add(1)
		return
	}
	rule := cm.Rules[p.Rule]
	e := cm.Entries[rule.Entry]
	if e.Kind != config.ISAKMPEntry || len(e.Peers) == 0 {
		x.counters.AcquiresNotNegotiable.Add(1)
		return
	}
	if e.IKEv2Profile == nil {
		x.acquireV1(cm, e, rule.Line, p.Flow)
		return
	}
	var peer string
	for _, a := range x.setPeers(e) {
		if peer = x.peerName(cm, a); peer != "" {
			break
		}
	}
	if peer == "" {
		x.counters.AcquiresNotNegotiable.Add(1)
		x.warnOnce("acquire nopeer "+e.Name(), "cannot negotiate: the entry's peer is not configured for IKEv2 (see the warnings at start)", "entry", e.Name())
		return
	}
	flow := p.Flow
	x.log.Debug("acquire", "entry", e.Name(), "line", rule.Line, "peer", peer, "flow", flow.String())
	x.Engine.Acquire(ike.Acquire{Peer: peer, Child: e.Name(), Line: rule.Line, Flow: &flow})
}

// setPeers are entry e's set peers in the order an ACQUIRE tries them:
// from the one a failover moved on to, else from the first.
func (x *Negotiator) setPeers(e *config.CompiledEntry) []netip.Addr {
	x.mu.Lock()
	from, failedOver := x.current[e.Name()]
	x.mu.Unlock()
	if i := slices.Index(e.Peers, from); failedOver && i > 0 {
		return slices.Concat(e.Peers[i:], e.Peers[:i])
	}
	return e.Peers
}

func (x *Negotiator) peerName(cm *config.CompiledMap, remote netip.Addr) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.peerNames[peerAddrs{cm.LocalFor(remote), remote}]
}

// AcquireFailed implements ike.Installer: the negotiation with one set
// peer failed, so the entry's next set peer is tried (the guide's
// failover); after the last one traffic re-triggers from the first.
func (x *Negotiator) AcquireFailed(a ike.Acquire, err error) {
	x.failover(a, err, x.peerName, x.Engine.Acquire)
}

// failover moves a failed Acquire on to the entry's next set peer that
// name (the engine's peer naming) knows, through acquire (its engine).
func (x *Negotiator) failover(a ike.Acquire, err error, name func(*config.CompiledMap, netip.Addr) string, acquire func(ike.Acquire)) {
	gw := x.gw()
	for _, cm := range gw.Maps {
		if cm == nil {
			continue
		}
		for _, e := range cm.Entries {
			if e.Name() != a.Child {
				continue
			}
			for i, p := range e.Peers {
				if name(cm, p) != a.Peer {
					continue
				}
				for _, next := range e.Peers[i+1:] {
					if n := name(cm, next); n != "" {
						x.log.Warn("negotiation failed; trying the next set peer", "entry", a.Child, "peer", a.Peer, "next", n, "err", err)
						x.mu.Lock()
						x.current[a.Child] = next
						x.mu.Unlock()
						a.Peer = n
						acquire(a)
						return
					}
				}
			}
		}
	}
	x.mu.Lock()
	delete(x.current, a.Child)
	x.mu.Unlock()
	x.log.Warn("negotiation failed with the entry's last set peer; traffic triggers a new attempt from the first", "acquire", a.String(), "err", err)
}

// expiry turns a fast-path lifetime event into a rekey (soft) or a delete
// (hard) of the CHILD_SA the SA belongs to.
func (x *Negotiator) expiry(p *fastpath.Punt) {
	x.mu.Lock()
	ref, ok := x.bySA[p.SA]
	x.mu.Unlock()
	if !ok {
		return // a manual SA, or one already removed
	}
	x.log.Info("SA kilobyte lifetime reached", "sa", p.SA.String(), "expiry", p.Expiry.String())
	hard := p.Expiry&sad.HardExpired != 0
	switch {
	case ref.v1 && hard:
		x.V1.HardExpire(ref.spi)
	case ref.v1:
		x.V1.SoftExpire(ref.spi)
	case hard:
		x.Engine.HardExpire(ref.spi)
	default:
		x.Engine.SoftExpire(ref.spi)
	}
}

// ReportUsage tells the engine how much traffic each CHILD_SA carried, so
// dead peer detection counts it; the runtime calls it about once a second.
func (x *Negotiator) ReportUsage() {
	x.mu.Lock()
	defer x.mu.Unlock()
	for c, s := range x.children {
		var in, out uint64
		if s.in != nil {
			in = s.in.Counters().Bytes
		}
		if s.out != nil {
			out = s.out.Counters().Bytes
		}
		if s.v1 {
			x.V1.Usage(c.InSPI, in, out)
		} else {
			x.Engine.Usage(c.InSPI, in, out)
		}
	}
}

// IKESAUp implements ike.Installer.
func (x *Negotiator) IKESAUp(sa *ike.IKESAInfo) {
	x.log.Debug("IKE SA established", "id", sa.ID, "peer", sa.Peer, "local", sa.Local, "remote", sa.Remote, "suite", sa.Suite.String())
}

// IKESADown implements ike.Installer.
func (x *Negotiator) IKESADown(sa *ike.IKESAInfo, reason ike.Reason) {
	x.log.Debug("IKE SA down", "id", sa.ID, "peer", sa.Peer, "remote", sa.Remote, "reason", reason.String())
}

// Shutdown deletes every IKE SA with its peer and waits up to timeout for
// the exchanges to finish, calling drain between checks so the caller
// serves the punt rings (the peers' answers) meanwhile; the workers must
// still run. The caller then cancels Run's context.
func (x *Negotiator) Shutdown(timeout time.Duration, drain func()) {
	x.Engine.ClearIKESAs(netip.Addr{})
	if x.V1 != nil {
		x.V1.ClearChildSAs(netip.Addr{})
		x.V1.ClearISAKMPSAs(netip.Addr{})
	}
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		drain()
		if len(x.Engine.SAs()) == 0 && (x.V1 == nil || len(x.V1.SAs()) == 0) {
			return
		}
	}
}

func (x *Negotiator) warnOnce(key, msg string, args ...any) {
	x.mu.Lock()
	seen := x.once[key]
	x.once[key] = true
	x.mu.Unlock()
	if !seen {
		x.log.Warn(msg, args...)
	}
}

// String summarises the glue's counters for logs.
func (c *NegotiatorCounters) String() string {
	var b strings.Builder
	for _, kv := range c.list() {
		fmt.Fprintf(&b, "%s=%d ", kv.name, kv.v)
	}
	return strings.TrimSpace(b.String())
}

type namedCount struct {
	name string
	v    uint64
}

// list names the counters as Stats reports them; drops start with drop_,
// as the engine's do, so metrics list them with its drop reasons.
func (c *NegotiatorCounters) list() []namedCount {
	return []namedCount{
		{"punt_ikev2", c.IKEv2.Load()},
		{"punt_ikev1", c.IKEv1.Load()},
		{"drop_ikev1_not_running", c.IKEv1NotRunning.Load()},
		{"drop_punt_malformed", c.Malformed.Load()},
		{"drop_unknown_version", c.UnknownVersion.Load()},
		{"drop_inject_full", c.InjectFull.Load()},
		{"acquire_stale", c.AcquiresStale.Load()},
		{"acquire_not_negotiable", c.AcquiresNotNegotiable.Load()},
	}
}

// The Negotiator is the operations layer's IKE (OpsConfig.IKE): the
// engine's SAs and clear commands, and its counters with the glue's.

// SAs implements IKE.
func (x *Negotiator) SAs() []ike.IKESAInfo { return x.Engine.SAs() }

// Stats implements IKE: the engine's counters and the glue's.
func (x *Negotiator) Stats() map[string]uint64 {
	st := x.Engine.Stats()
	for _, kv := range x.counters.list() {
		st[kv.name] = kv.v
	}
	if x.V1 != nil {
		for k, v := range x.V1.Stats() {
			if r, ok := strings.CutPrefix(k, "drop_"); ok {
				st["drop_ikev1_"+r] = v
			} else {
				st["ikev1_"+k] = v
			}
		}
	}
	return st
}

// Failures implements IKE: both engines' failed negotiations, IKEv1's
// ISAKMP SAs as "ike" and its IPsec SAs as "child", so metrics and explain
// show them alike.
func (x *Negotiator) Failures() ([]ike.Failure, []ike.FailureCount) {
	if x.V1 == nil {
		return x.Engine.Failures()
	}
	return ike.MergeFailures(x.Engine, x.V1)
}

// DeleteChildSA implements IKE: the engine that negotiated the SA deletes
// it. IKEv1 SAs are also found by an outbound or bundled AH SA's SPI.
func (x *Negotiator) DeleteChildSA(inboundSPI uint32) {
	if spi, ok := x.v1Child(inboundSPI); ok {
		x.V1.DeleteChildSA(spi)
		return
	}
	x.Engine.DeleteChildSA(inboundSPI)
}

// ClearChildSAs implements IKE, for both engines.
func (x *Negotiator) ClearChildSAs(peer netip.Addr) {
	x.Engine.ClearChildSAs(peer)
	if x.V1 != nil {
		x.V1.ClearChildSAs(peer)
	}
}

// ClearIKESAs implements IKE, for both engines (ISAKMP SAs too).
func (x *Negotiator) ClearIKESAs(peer netip.Addr) {
	x.Engine.ClearIKESAs(peer)
	if x.V1 != nil {
		x.V1.ClearChildSAs(peer)
		x.V1.ClearISAKMPSAs(peer)
	}
}

var _ IKE = (*Negotiator)(nil)
