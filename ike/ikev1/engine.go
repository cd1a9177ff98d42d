// Package ikev1 is the gateway's IKEv1 engine (RFC 2409 Main Mode and
// Quick Mode with pre-shared keys, RFC 3947 NAT traversal, RFC 3706 dead
// peer detection), for crypto map entries without an IKEv2 profile, as
// IOS negotiates them.
//
// Data flow, the same as the IKEv2 engine's (package ike), whose
// Transport, Acquire, ChildSA and Reason it uses, so the slow path installs
// SAs of both versions the same way; its Installer (installer.go) is
// ike.Installer with IPsec SAs handed over as IPsecSA units:
//
//	slow path ── Acquire / SoftExpire / Clear... ──▶ Engine ──▶ Installer
//	ike.Transport ── Receive(local, remote, datagram) ──▶ Engine ──▶ ike.Transport.Send
//
// The slow path demultiplexes UDP 500/4500 datagrams by the ISAKMP
// header's major version (1: this engine, 2: package ike) and hands them
// to Receive as they are on the wire, non-ESP marker included.
//
// An ISAKMP SA (isakmpSA, phase1.go) is set up by Main Mode: SA, KE and
// nonces, then the encrypted IDs and hashes. Quick Mode exchanges
// (quick.go) over it negotiate IPsec SAs from the crypto map entry's
// transform sets (AH+ESP bundles included) and proxy IDs from its ACL
// lines; each result goes to the Installer as one IPsecSA holding an
// ike.ChildSA per protocol. Informational exchanges (info.go) carry Delete, DPD and
// errors. Keys come from keymat.go (RFC 2409 §5 and Appendix B), messages
// from package isakmp. Failed negotiations go to an ike.FailureLog
// (failure.go), named and counted as the IKEv2 engine's are.
//
// Installer events: one IPsecSA per negotiated IPsec SA, so an AH+ESP
// bundle (two SA pairs with the same entry, line and proxy IDs) is
// installed, switched to, rekeyed and removed as one unit, in the
// make-before-break order ike.Installer documents. A lifetime event,
// Delete or clear naming either pair's SPI acts on the whole bundle.
// ISAKMP SAs come up and go down as
// ike.IKESAInfo with IDs from 1<<32, apart from the IKEv2 engine's.
//
// IKEv1 IPsec SAs are not owned by an ISAKMP SA: they outlive it, and
// rekeys, deletes and DPD go over whichever ISAKMP SA is up with the peer
// (a new one is negotiated when needed), as on IOS.
//
// Decisions where the RFCs or the IOS guide leave room:
//   - A responder picks its lowest-priority policy that a peer transform
//     matches; the lifetime is the shorter of both (IOS accepts a shorter
//     peer lifetime; a longer one is cut to ours).
//   - Quick mode: the responder takes the initiator's first acceptable
//     proposal; proxy IDs must lie within one permit line (no narrowing
//     in IKEv1), else INVALID_ID_INFORMATION and a log line per ACL line.
//     Lifetimes are the shorter of both; a responder whose own are shorter
//     says so with RESPONDER-LIFETIME.
//   - The end that created an SA rekeys it at 85-90% of its lifetime, the
//     other at 90-95%.
//   - Across a NAT, transform sets with AH are neither offered nor
//     accepted: AH authenticates the addresses a NAT rewrites, and RFC
//     3948 puts only ESP in UDP.
//
// One goroutine (Run) owns all state; every public method only queues
// work for it. Time comes from package clock, so tests run
// retransmissions, lifetimes and DPD on a fake clock.
package ikev1

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/netip"
	"sort"
	"time"

	"ipsecgw/ike"
	"ipsecgw/ike/clock"
	"ipsecgw/ike/ikev1/isakmp"
	"ipsecgw/ike/loop"
	"ipsecgw/ike/natt"
)

// Engine is the IKEv1 engine. Create it with New, start Run, then use the
// other methods from any goroutine.
type Engine struct {
	cfg Config
	log *slog.Logger
	clk clock.Clock

	// Owned by the Run goroutine.
	peers     peerIndex
	sas       map[uint64]*isakmpSA // by our cookie
	halfOpen  map[halfOpenKey]*isakmpSA
	children  map[*child]bool
	spis      map[uint32]*child // inbound SPIs in use or reserved (nil)
	acquiring map[acquireKey]bool
	nextID    uint64

	loop     *loop.Loop
	stats    stats
	failures ike.FailureLog
}

type halfOpenKey struct {
	cky    uint64
	remote netip.AddrPort
}

// acquireKey identifies a negotiation in progress for an Acquire.
type acquireKey struct {
	peer, child string
	line        int
	src, dst    netip.Addr // per-host only
}

// idBase keeps this engine's SA handles apart from the IKEv2 engine's
// when one Installer serves both.
const idBase = 1 << 32

// New creates an engine. Its Installer and Transport are required.
func New(cfg Config) (*Engine, error) {
	if cfg.Transport == nil || cfg.Installer == nil {
		return nil, errors.New("ikev1: Config needs a Transport and an Installer")
	}
	cfg.setDefaults()
	return &Engine{
		cfg: cfg, log: cfg.Logger, clk: cfg.Clock,
		sas: map[uint64]*isakmpSA{}, halfOpen: map[halfOpenKey]*isakmpSA{},
		children: map[*child]bool{}, spis: map[uint32]*child{}, acquiring: map[acquireKey]bool{},
		nextID: idBase, loop: loop.New(cfg.Clock),
	}, nil
}

func (e *Engine) post(f func()) { e.loop.Post(f) }

// Run processes work until ctx is done. On the way out it reports every
// SA down (ReasonShutdown) without telling peers; call ClearISAKMPSAs and
// ClearChildSAs first for a clean shutdown.
func (e *Engine) Run(ctx context.Context) error {
	return e.loop.Run(ctx, func() {
		for _, sa := range e.sortedSAs() {
			sa.destroy(ike.ReasonShutdown)
		}
	})
}

// sync runs f on the engine goroutine and waits for it.
func (e *Engine) sync(f func()) bool { return e.loop.Sync(f) }

// after schedules f on the engine goroutine after d.
func (e *Engine) after(d time.Duration, f func()) *loop.Timer { return e.loop.After(d, f) }

// jitter returns d reduced by a random lo..hi fraction of itself.
func jitter(d time.Duration, lo, hi float64) time.Duration {
	return d - time.Duration((lo+mrand.Float64()*(hi-lo))*float64(d))
}

func (e *Engine) retransmitDelay(n int) time.Duration {
	r := e.cfg.Retransmit
	return time.Duration(float64(r.Timeout) * math.Pow(r.Base, float64(n)))
}

// SetPeers replaces the peer configuration. SAs already up keep theirs
// until rekeyed or cleared.
func (e *Engine) SetPeers(peers []*PeerConfig) error {
	names := map[string]bool{}
	for _, p := range peers {
		if err := p.check(); err != nil {
			return fmt.Errorf("ikev1: %w", err)
		}
		if names[p.Name] {
			return fmt.Errorf("ikev1: peer %q configured twice", p.Name)
		}
		names[p.Name] = true
	}
	idx := newPeerIndex(peers)
	e.post(func() { e.peers = idx })
	return nil
}

type peerIndex struct {
	byName map[string]*PeerConfig
	all    []*PeerConfig // most specific Remote first
}

func newPeerIndex(peers []*PeerConfig) peerIndex {
	idx := peerIndex{byName: map[string]*PeerConfig{}, all: append([]*PeerConfig(nil), peers...)}
	for _, p := range peers {
		idx.byName[p.Name] = p
	}
	sort.SliceStable(idx.all, func(i, j int) bool { return idx.all[i].Remote.Bits() > idx.all[j].Remote.Bits() })
	return idx
}

// peersFor lists the configs accepting a peer at remote on our local
// address, most specific first.
func (e *Engine) peersFor(local, remote netip.Addr) []*PeerConfig {
	var out []*PeerConfig
	for _, p := range e.peers.all {
		if p.Remote.Contains(remote) && (!p.Local.IsValid() || p.Local == local) {
			out = append(out, p)
		}
	}
	return out
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("ikev1: no randomness: " + err.Error())
	}
	return b
}

func (e *Engine) newCookie() uint64 {
	for {
		c := binary.BigEndian.Uint64(randomBytes(8))
		if c != 0 && e.sas[c] == nil {
			return c
		}
	}
}

// newSPI reserves an unused inbound SPI (256 and up).
func (e *Engine) newSPI() uint32 {
	for {
		spi := binary.BigEndian.Uint32(randomBytes(4))
		if _, used := e.spis[spi]; spi >= 256 && !used {
			e.spis[spi] = nil
			return spi
		}
	}
}

func (e *Engine) releaseSPI(spi uint32) {
	if c, ok := e.spis[spi]; ok && c == nil {
		delete(e.spis, spi)
	}
}

// send transmits one message, adding the non-ESP marker on the NAT-T port.
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
// the payload exactly as on the wire (on the NAT-T port with its non-ESP
// marker; a NAT keepalive is the single byte 0xFF), like ike.Engine's
// Receive. It copies b.
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
	m, err := isakmp.Parse(b)
	if err != nil {
		var ie *isakmp.Error
		if errors.As(err, &ie) {
			e.stats.incDecode(ie.Reason)
		} else {
			e.stats.inc(cDropOther)
		}
		e.log.Debug("dropped message", "remote", remote, "err", err)
		return
	}
	if m.RCookie == 0 {
		// A responder refusing main mode message 1 answers before it has
		// a cookie.
		if sa := e.sas[m.ICookie]; sa != nil && sa.initiator && m.Exchange == isakmp.ExchangeInformational {
			sa.receive(local, remote, m, b)
			return
		}
		if m.Exchange != isakmp.ExchangeMain {
			e.stats.inc(cDropUnexpected)
			e.log.Debug("only main mode starts an ISAKMP SA", "remote", remote, "exchange", m.Exchange)
			return
		}
		if sa := e.halfOpen[halfOpenKey{m.ICookie, remote}]; sa != nil {
			sa.receive(local, remote, m, b)
			return
		}
		e.mainModeRequest(local, remote, m, b)
		return
	}
	sa := e.lookup(m.ICookie, m.RCookie)
	if sa == nil {
		e.stats.inc(cDropUnknownSPI)
		e.log.Debug("message for unknown ISAKMP SA", "remote", remote, "cky_i", fmt.Sprintf("%016x", m.ICookie), "cky_r", fmt.Sprintf("%016x", m.RCookie), "exchange", m.Exchange)
		return
	}
	sa.receive(local, remote, m, b)
}

func (e *Engine) lookup(ckyI, ckyR uint64) *isakmpSA {
	if sa := e.sas[ckyR]; sa != nil && !sa.initiator && sa.ckyI == ckyI {
		return sa
	}
	if sa := e.sas[ckyI]; sa != nil && sa.initiator && (sa.ckyR == 0 || sa.ckyR == ckyR) {
		return sa
	}
	return nil
}

// digest identifies a received datagram for duplicate detection.
func digest(b []byte) [32]byte { return sha256.Sum256(b) }

func (e *Engine) sortedSAs() []*isakmpSA {
	out := make([]*isakmpSA, 0, len(e.sas))
	for _, sa := range e.sas {
		out = append(out, sa)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (e *Engine) sortedChildren() []*child {
	out := make([]*child, 0, len(e.children))
	for c := range e.children {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// established returns the newest established ISAKMP SA with the peer at
// remote, or nil.
func (e *Engine) established(remote netip.Addr) *isakmpSA {
	var best *isakmpSA
	for _, sa := range e.sas {
		if sa.state == stateQMIdle && sa.remote.Addr() == remote && (best == nil || sa.id > best.id) {
			best = sa
		}
	}
	return best
}

// connecting returns an ISAKMP SA we are initiating with remote, or nil.
func (e *Engine) connecting(remote netip.Addr) *isakmpSA {
	for _, sa := range e.sortedSAs() {
		if sa.initiator && sa.state != stateQMIdle && !sa.dead && sa.remote.Addr() == remote {
			return sa
		}
	}
	return nil
}
