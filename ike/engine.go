// Package ike is the gateway's IKEv2 engine (RFC 7296): it negotiates,
// rekeys and deletes IKE SAs and CHILD_SAs with peers, using pre-shared
// keys, and hands the CHILD_SAs' keys and selectors to the slow path.
//
// Data flow:
//
//	slow path ── Acquire / SoftExpire / Clear... ──▶ Engine ──▶ Installer (slow path)
//	Transport ── Receive(local, remote, datagram) ──▶ Engine ──▶ Transport.Send
//
// The slow path turns the crypto maps into PeerConfigs and ChildConfigs
// (SetPeers), punts ACQUIREs for traffic without an SA (Acquire), feeds IKE
// datagrams received on UDP 500/4500 (Receive) and reports kilobyte
// lifetimes and traffic (SoftExpire, HardExpire, Usage). The engine answers
// through the Installer: CHILD_SAs to install make-before-break, IKE SAs
// up and down, acquires that failed.
//
// Decisions where RFC 7296 or the IOS guide leave room:
//   - A responder accepts proposed traffic selectors that lie within a
//     permit line as they are; selectors wider than every line are
//     narrowed to the first overlapping line (§2.9, the one holding the
//     triggering packet's TSi[0]/TSr[0] preferred) and the narrowing is
//     logged with the reason; disjoint ones get TS_UNACCEPTABLE and a log
//     line per ACL line saying which selector did not match and why.
//   - A transform set with AH and ESP becomes one ESP proposal (IKEv2 has
//     no bundles; see ProposalFromTransformSet).
//   - The first CHILD_SA (IKE_AUTH) never has PFS; `set pfs` applies to
//     CREATE_CHILD_SA. A responder without PFS accepts a peer's PFS.
//   - The end that created an SA rekeys it at 85-90% of its lifetime, the
//     other at 90-95%, so collisions (§2.8.1, handled) stay rare.
//   - IKE SAs are rekeyed, not reauthenticated.
//
// IKEv1 (Main and Quick Mode) can reuse the codec's generic payload
// handling, keymat's PRFs, groups and ciphers, and the task and exchange
// machinery of this package with its own tasks.
//
// One goroutine (Run) owns all state; every public method only queues work
// for it. Each IKE SA runs exchanges built from small tasks as strongSwan's
// charon does (ike_init, ike_natd, ike_auth, child_create, child_rekey,
// child_delete, ike_rekey, ike_delete, ike_dpd): an initiator's tasks
// build a request and process its response, a responder's process the
// request and build the response. Messages are encoded by package message,
// keys made by package keymat, traffic selectors computed by package ts;
// time comes from package clock, so tests run retransmissions, lifetimes
// and DPD on a fake clock.
package ike

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/netip"
	"sort"
	"time"

	"ipsecgw/ike/clock"
	"ipsecgw/ike/keymat"
	"ipsecgw/ike/loop"
	"ipsecgw/ike/message"
	"ipsecgw/ike/natt"
)

// Config sets up an Engine. Zero values take the defaults noted.
type Config struct {
	Transport Transport
	Installer Installer
	Logger    *slog.Logger // nil: discard
	Clock     clock.Clock  // nil: the wall clock

	// IKEPort and NATTPort are the UDP ports spoken on both ends
	// (default 500 and 4500).
	IKEPort, NATTPort uint16

	Retransmit Retransmit
	// CookieThreshold is the number of half-open responder IKE SAs from
	// which IKE_SA_INIT requests must return a cookie (RFC 7296 §2.6);
	// default 30.
	CookieThreshold int
	// FragmentSize is the largest IP datagram an IKE fragment may fill
	// (RFC 7383, default 1280); larger protected messages are fragmented
	// when the peer supports it.
	FragmentSize int
	// NATKeepalive is the interval of NAT keepalives sent while we are
	// behind a NAT (default 20 s).
	NATKeepalive time.Duration
	// RekeyGrace is how long an SA replaced by a rekey keeps decrypting
	// after outbound traffic moved to its successor (default 2 s).
	RekeyGrace time.Duration
	// HalfOpenTimeout bounds IKE_SA_INIT + IKE_AUTH (default 30 s).
	HalfOpenTimeout time.Duration
	// MaxQueue bounds received datagrams waiting for the engine
	// (default 1024); more are dropped and counted.
	MaxQueue int
}

// Retransmit is the request retransmission schedule: resend after
// Timeout × Base^n for n = 0 .. Tries-1, give up after Tries
// retransmissions (charon's defaults: 4 s, 1.8, 5: about 165 s in all).
type Retransmit struct {
	Timeout time.Duration
	Base    float64
	Tries   int
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.IKEPort == 0 {
		c.IKEPort = 500
	}
	if c.NATTPort == 0 {
		c.NATTPort = 4500
	}
	if c.Retransmit.Timeout == 0 {
		c.Retransmit.Timeout = 4 * time.Second
	}
	if c.Retransmit.Base < 1 {
		c.Retransmit.Base = 1.8
	}
	if c.Retransmit.Tries == 0 {
		c.Retransmit.Tries = 5
	}
	if c.CookieThreshold == 0 {
		c.CookieThreshold = 30
	}
	if c.FragmentSize == 0 {
		c.FragmentSize = 1280
	}
	if c.NATKeepalive == 0 {
		c.NATKeepalive = 20 * time.Second
	}
	if c.RekeyGrace == 0 {
		c.RekeyGrace = 2 * time.Second
	}
	if c.HalfOpenTimeout == 0 {
		c.HalfOpenTimeout = 30 * time.Second
	}
	if c.MaxQueue == 0 {
		c.MaxQueue = 1024
	}
}

// retransmitDelay is the wait after the n-th transmission (n from 0).
func (r Retransmit) delay(n int) time.Duration {
	return time.Duration(float64(r.Timeout) * math.Pow(r.Base, float64(n)))
}

// total is how long a request is retried before giving up.
func (r Retransmit) total() time.Duration {
	var d time.Duration
	for n := 0; n <= r.Tries; n++ {
		d += r.delay(n)
	}
	return d
}

// Engine is the IKEv2 engine. Create it with New, start Run, then use the
// other methods from any goroutine.
type Engine struct {
	cfg Config
	log *slog.Logger
	clk clock.Clock

	// Owned by the Run goroutine.
	peers     peerIndex
	sas       map[uint64]*ikeSA
	byPeer    map[string]map[*ikeSA]bool     // IKE SAs by PeerConfig.Name
	byRemote  map[netip.Addr]map[*ikeSA]bool // IKE SAs by peer address
	halfOpen  map[halfOpenKey]*ikeSA
	spis      map[uint32]*childSA // inbound SPIs in use or reserved
	acquiring map[acquireKey]bool
	nextID    uint64
	cookies   cookieJar
	warned    map[keymat.Group]bool

	// Shared with the callers' goroutines.
	loop  *loop.Loop
	stats stats

	failures FailureLog
}

type halfOpenKey struct {
	spi    uint64
	remote netip.AddrPort
}

// New creates an engine. Its Installer and Transport are required.
func New(cfg Config) (*Engine, error) {
	if cfg.Transport == nil || cfg.Installer == nil {
		return nil, errors.New("ike: Config needs a Transport and an Installer")
	}
	cfg.setDefaults()
	e := &Engine{
		cfg:       cfg,
		log:       cfg.Logger,
		clk:       cfg.Clock,
		sas:       map[uint64]*ikeSA{},
		byPeer:    map[string]map[*ikeSA]bool{},
		byRemote:  map[netip.Addr]map[*ikeSA]bool{},
		halfOpen:  map[halfOpenKey]*ikeSA{},
		spis:      map[uint32]*childSA{},
		acquiring: map[acquireKey]bool{},
		warned:    map[keymat.Group]bool{},
		loop:      loop.New(cfg.Clock),
	}
	e.cookies.rotate(e.clk.Now())
	return e, nil
}

// post queues f for the engine goroutine.
func (e *Engine) post(f func()) { e.loop.Post(f) }

// Run processes work until ctx is done. On the way out it reports every
// SA down (ReasonShutdown) without telling peers; call ClearIKESAs first
// and wait for a clean shutdown that deletes them.
func (e *Engine) Run(ctx context.Context) error {
	return e.loop.Run(ctx, func() {
		for _, sa := range e.sortedSAs() {
			sa.destroy(ReasonShutdown)
		}
	})
}

// sync runs f on the engine goroutine and waits for it; false when the
// engine has stopped.
func (e *Engine) sync(f func()) bool { return e.loop.Sync(f) }

// after schedules f on the engine goroutine after d.
func (e *Engine) after(d time.Duration, f func()) *loop.Timer { return e.loop.After(d, f) }

// jitter returns d reduced by a random 0..frac of itself, so two peers
// with one configuration do not rekey at the same moment.
func jitter(d time.Duration, frac float64) time.Duration {
	return d - time.Duration(mrand.Float64()*frac*float64(d))
}

// SetPeers replaces the peer configuration. IKE SAs and CHILD_SAs already
// up keep the configuration they were made with until they are rekeyed
// (then they take the new one of the same name) or cleared.
func (e *Engine) SetPeers(peers []*PeerConfig) error {
	names := map[string]bool{}
	for _, p := range peers {
		if err := p.check(); err != nil {
			return err
		}
		if names[p.Name] {
			return fmt.Errorf("ike: peer %q configured twice", p.Name)
		}
		names[p.Name] = true
	}
	idx := newPeerIndex(peers)
	e.post(func() { e.peers = idx })
	return nil
}

// peerIndex finds peer configs by name and by the address of an
// incoming peer: single-address peers (static crypto map entries) through
// a map, prefixes (dynamic templates) in order of specificity after them.
type peerIndex struct {
	byName    map[string]*PeerConfig
	byAddr    map[netip.Addr][]*PeerConfig
	templates []*PeerConfig
}

func newPeerIndex(peers []*PeerConfig) peerIndex {
	idx := peerIndex{byName: map[string]*PeerConfig{}, byAddr: map[netip.Addr][]*PeerConfig{}}
	for _, p := range peers {
		idx.byName[p.Name] = p
		if p.Remote.IsSingleIP() {
			idx.byAddr[p.Remote.Addr()] = append(idx.byAddr[p.Remote.Addr()], p)
		} else {
			idx.templates = append(idx.templates, p)
		}
	}
	sort.SliceStable(idx.templates, func(i, j int) bool { return idx.templates[i].Remote.Bits() > idx.templates[j].Remote.Bits() })
	return idx
}

func (e *Engine) peer(name string) *PeerConfig { return e.peers.byName[name] }

// peersFor lists the configs that accept a peer at remote talking to our
// local address, most specific first.
func (e *Engine) peersFor(local, remote netip.Addr) []*PeerConfig {
	var out []*PeerConfig
	ok := func(p *PeerConfig) bool { return !p.Local.IsValid() || p.Local == local }
	for _, p := range e.peers.byAddr[remote] {
		if ok(p) {
			out = append(out, p)
		}
	}
	for _, p := range e.peers.templates {
		if p.Remote.Contains(remote) && ok(p) {
			out = append(out, p)
		}
	}
	return out
}

// setPeer (re)files sa under the config it now runs with.
func (e *Engine) setPeer(sa *ikeSA, p *PeerConfig) {
	if sa.peer != nil {
		delete(e.byPeer[sa.peer.Name], sa)
	}
	sa.peer = p
	addTo(e.byPeer, p.Name, sa)
}

// setRemote (re)files sa under the peer address it now talks to.
func (e *Engine) setRemote(sa *ikeSA, remote netip.AddrPort) {
	if sa.remote.IsValid() {
		delete(e.byRemote[sa.remote.Addr()], sa)
	}
	sa.remote = remote
	addTo(e.byRemote, remote.Addr(), sa)
}

func addTo[K comparable](m map[K]map[*ikeSA]bool, k K, sa *ikeSA) {
	if m[k] == nil {
		m[k] = map[*ikeSA]bool{}
	}
	m[k][sa] = true
}

// unindex forgets a destroyed SA.
func (e *Engine) unindex(sa *ikeSA) {
	for _, m := range []map[*ikeSA]bool{e.byPeer[sa.peer.Name], e.byRemote[sa.remote.Addr()]} {
		delete(m, sa)
	}
	if len(e.byPeer[sa.peer.Name]) == 0 {
		delete(e.byPeer, sa.peer.Name)
	}
	if len(e.byRemote[sa.remote.Addr()]) == 0 {
		delete(e.byRemote, sa.remote.Addr())
	}
}

// warnLegacy logs once per group that a legacy DH group was negotiated.
func (e *Engine) warnLegacy(g keymat.Group, what string) {
	if g.Legacy() && !e.warned[g] {
		e.warned[g] = true
		e.log.Warn("legacy Diffie-Hellman group negotiated; RFC 8247 says not to use it", "group", g.String(), "for", what)
	}
}

// newIKESPI returns an unused, non-zero local IKE SPI.
func (e *Engine) newIKESPI() uint64 {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic("ike: no randomness: " + err.Error())
		}
		spi := binary.BigEndian.Uint64(b[:])
		if spi != 0 && e.sas[spi] == nil {
			return spi
		}
	}
}

// newChildSPI reserves an unused inbound SPI (256 and up: RFC 4303 keeps
// 1-255 reserved) until a CHILD_SA takes it or it is released.
func (e *Engine) newChildSPI() uint32 {
	var b [4]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic("ike: no randomness: " + err.Error())
		}
		spi := binary.BigEndian.Uint32(b[:])
		if _, used := e.spis[spi]; spi >= 256 && !used {
			e.spis[spi] = nil
			return spi
		}
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("ike: no randomness: " + err.Error())
	}
	return b
}

// send transmits one IKE message, adding the non-ESP marker on the NAT-T
// port.
func (e *Engine) send(local, remote netip.AddrPort, msg []byte) {
	b := msg
	if local.Port() == e.cfg.NATTPort {
		b = natt.Frame(msg)
	}
	if err := e.cfg.Transport.Send(local, remote, b); err != nil {
		e.stats.inc(cTxError)
		e.log.Debug("send failed", "local", local, "remote", remote, "err", err)
		return
	}
	e.stats.inc(cTx)
}

// Receive hands the engine a UDP datagram received on local from remote:
// the payload as on the wire, non-ESP marker and all. It copies b.
func (e *Engine) Receive(local, remote netip.AddrPort, b []byte) {
	if !e.loop.Reserve(e.cfg.MaxQueue) {
		e.stats.inc(cDropQueueFull)
		return
	}
	d := append([]byte(nil), b...)
	e.loop.PostReserved(func() { e.receive(local, remote, d) })
}

func (e *Engine) receive(local, remote netip.AddrPort, b []byte) {
	e.stats.inc(cRx)
	if local.Port() == e.cfg.NATTPort {
		var kind natt.Kind
		switch b, kind = natt.Split(b); kind {
		case natt.Keepalive:
			e.stats.inc(cRxKeepalive)
			return
		case natt.ESP: // the data plane's
			e.stats.inc(cDropESP)
			return
		}
	}
	h, err := message.ParseHeader(b)
	if err != nil {
		e.dropDecode(err, remote)
		return
	}
	if h.Exchange == message.IKE_SA_INIT && !h.Response() && h.SPIr == 0 {
		e.initRequest(local, remote, b, h)
		return
	}
	spi := h.SPIi
	if h.FromInitiator() {
		spi = h.SPIr
	}
	sa := e.sas[spi]
	if sa == nil || sa.initiator == h.FromInitiator() || !sa.spisMatch(&h) {
		e.stats.inc(cDropUnknownSPI)
		e.log.Debug("message for unknown IKE SA", "remote", remote, "spi_i", fmt.Sprintf("%016x", h.SPIi), "spi_r", fmt.Sprintf("%016x", h.SPIr), "exchange", h.Exchange)
		return
	}
	sa.receive(local, remote, b, &h)
}

// dropDecode counts a message that failed to decode.
func (e *Engine) dropDecode(err error, remote netip.AddrPort) {
	var me *message.Error
	if errors.As(err, &me) {
		e.stats.incDecode(me.Reason)
	} else {
		e.stats.inc(cDropOther)
	}
	e.log.Debug("dropped message", "remote", remote, "err", err)
}

// initRequest handles an IKE_SA_INIT request: a retransmission for a
// half-open SA, or a new responder IKE SA once the cookie check passes.
func (e *Engine) initRequest(local, remote netip.AddrPort, b []byte, h message.Header) {
	if sa := e.halfOpen[halfOpenKey{h.SPIi, remote}]; sa != nil {
		sa.receive(local, remote, b, &h)
		return
	}
	m, err := message.Parse(b)
	if err != nil {
		var me *message.Error
		if errors.As(err, &me) && me.Reason == message.ReasonCritical {
			e.sendUnprotected(local, remote, &h, message.UNSUPPORTED_CRITICAL_PAYLOAD, []byte{byte(me.Payload)})
		}
		e.dropDecode(err, remote)
		return
	}
	if m.Protected() {
		e.stats.inc(cDropUnexpected)
		return
	}
	nonce, _ := m.Find(message.PayloadNonce).(*message.Nonce)
	if nonce == nil {
		e.stats.inc(cDropUnexpected)
		e.log.Debug("IKE_SA_INIT without nonce", "remote", remote)
		return
	}
	if len(e.halfOpen) >= e.cfg.CookieThreshold {
		now := e.clk.Now()
		if now.Sub(e.cookies.at) > cookieLifetime {
			e.cookies.rotate(now)
		}
		n := m.Notify(message.COOKIE)
		if n == nil || !e.cookies.valid(n.Data, nonce.Data, remote, h.SPIi) {
			if n != nil {
				e.stats.inc(cDropBadCookie)
			}
			e.stats.inc(cCookieSent)
			e.log.Debug("half-open threshold reached, asking for a cookie", "remote", remote, "half_open", len(e.halfOpen))
			e.sendUnprotected(local, remote, &h, message.COOKIE, e.cookies.make(nonce.Data, remote, h.SPIi))
			return
		}
	}
	peers := e.peersFor(local.Addr(), remote.Addr())
	if len(peers) == 0 {
		e.log.Info("no IKEv2 peer configured for IKE_SA_INIT", "local", local, "remote", remote)
		e.stats.inc(cDropNoConfig)
		e.sendUnprotected(local, remote, &h, message.NO_PROPOSAL_CHOSEN, nil)
		return
	}
	sa := e.newIKESA(false, peers[0], local, remote)
	sa.spiI = h.SPIi
	sa.candidates = peers
	key := halfOpenKey{h.SPIi, remote}
	e.halfOpen[key] = sa
	sa.halfOpen = &key
	sa.handleRequest(m)
}

// sendUnprotected answers an IKE_SA_INIT request with one notify and no
// state (errors and cookies).
func (e *Engine) sendUnprotected(local, remote netip.AddrPort, req *message.Header, t message.NotifyType, data []byte) {
	m := &message.Message{Header: message.Header{
		SPIi: req.SPIi, Exchange: req.Exchange, Flags: message.FlagResponse, MessageID: req.MessageID,
	}}
	m.Payloads = []message.Payload{&message.Notify{NType: t, Data: data}}
	b, err := m.Encode(nil)
	if err != nil {
		return
	}
	e.send(local, remote, b)
}

func (e *Engine) sortedSAs() []*ikeSA {
	out := make([]*ikeSA, 0, len(e.sas))
	for _, sa := range e.sas {
		out = append(out, sa)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}
