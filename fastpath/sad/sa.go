// Package sad is the security association database of the fast path: the
// SAs the slow path installs (manual ones from `set session-key`,
// IKE-negotiated ones later) and the lookup of inbound SAs by SPI.
//
// Data flow: the slow path fills a Config per SA and calls New, which builds
// the crypto state once (keys are not kept); it then installs SAs in a DB
// (and binds outbound ones to SPD rules in the engine's tables). Workers load
// the DB's current Table once per vector and look up inbound SAs by (SPI,
// destination, protocol) without locks; the encrypt and decrypt nodes of
// fastpath/ipsec use an SA's crypto state, sequence numbers, anti-replay
// window and lifetime, and count packets, bytes and drops in the SA's
// per-worker counters, which show, metrics and JSON read summed.
//
// Concurrency. An SA's configuration is immutable after New. What changes
// while packets flow is atomic: the outbound sequence number, the lifetime
// use, the anti-replay window (package replay), the per-worker counters and
// the dead flag. Tables are copy-on-write: Update builds a new Table and
// swaps one pointer, so a reader sees the old table or the new one, never a
// mix. A worker still holding the old table may use a deleted SA for the rest
// of its vector; that is harmless (the SA is marked dead, the nodes drop its
// packets as no_sa, and the Go garbage collector keeps it alive until no one
// holds it).
//
// Sequence numbers. Outbound, the encrypt node reserves a block of numbers
// for all of a vector's packets of one SA with one compare-and-swap
// (ReserveSeq), so several workers can share one outbound SA: about 7 ns a
// vector on one worker and 16 ns with two workers hammering one SA
// (BenchmarkReserveSeq), next to some 10 µs to encrypt a vector of 64
// small packets. The price of sharing is order:
// two workers' blocks interleave on the wire, so the peer's replay window
// must cover the vector size times the number of workers sharing the SA
// (or the traffic must stay on one worker, as RSS keeps it when the SA's
// cleartext flows hash to one queue). RFC 9611 removes the sharing instead:
// IKE negotiates one child SA per CPU, each with its own sequence space and
// replay window; this package supports that as it is — each per-CPU SA is
// an ordinary SA the engine binds to one worker. Numbers never wrap (RFC
// 4303 §3.3.3): when the space (2^32-1, or 2^64-1 with ESN) is used up,
// packets are dropped as seq_overflow, and a soft lifetime event is raised
// at 90 % of it so the slow path rekeys first.
//
// Lifetimes. Soft and hard limits in packets and bytes (bytes of the
// cleartext IP packets, in either direction). Nodes charge a whole vector's
// packets of an SA with one atomic add each for packets and bytes (Reserve):
// the reserved ranges of concurrent workers are disjoint, so each limit is
// crossed by exactly one reservation, which reports it once (an Event for
// the engine to drain into its punt ring) and packets past a hard limit are
// dropped exactly (lifetime_expired). Time limits are the slow path's; it
// reads Age.
package sad

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"ipsecgw/crypto"
	"ipsecgw/fastpath/replay"
	"ipsecgw/spd"
)

// Protocol is the IPsec protocol of an SA, as its IP protocol number.
type Protocol uint8

// IPsec protocols.
const (
	ESP Protocol = 50
	AH  Protocol = 51
)

func (p Protocol) String() string {
	switch p {
	case ESP:
		return "esp"
	case AH:
		return "ah"
	}
	return fmt.Sprintf("proto-%d", uint8(p))
}

// Direction is whether the SA protects traffic we send or traffic we receive.
type Direction uint8

// Directions.
const (
	Inbound Direction = iota
	Outbound
)

func (d Direction) String() string {
	if d == Outbound {
		return "outbound"
	}
	return "inbound"
}

// Mode is the IPsec mode of an SA.
type Mode uint8

// Modes.
const (
	Tunnel Mode = iota
	Transport
)

func (m Mode) String() string {
	if m == Transport {
		return "transport"
	}
	return "tunnel"
}

// DFMode is how a tunnel's outer IPv4 header gets its don't-fragment bit
// (IOS `crypto ipsec df-bit copy|set|clear`).
type DFMode uint8

// DF modes; copy is the IOS default.
const (
	DFCopy DFMode = iota
	DFSet
	DFClear
)

func (d DFMode) String() string {
	switch d {
	case DFSet:
		return "set"
	case DFClear:
		return "clear"
	}
	return "copy"
}

// ECNMode is how a tunnel ingress fills the outer ECN field (RFC 6040 §4.1).
type ECNMode uint8

// ECN modes.
const (
	// ECNNormal copies the inner ECN field to the outer header, so
	// congestion marks on the tunnel path reach the receiver.
	ECNNormal ECNMode = iota
	// ECNCompat sends Not-ECT outside, for paths through legacy tunnel
	// egresses that would drop CE-marked packets (RFC 6040 §4.1).
	ECNCompat
)

// Key is key material. It formats as a redaction so that printing a Config
// never prints a secret.
type Key []byte

// Format implements fmt.Formatter for every verb.
func (k Key) Format(f fmt.State, _ rune) { fmt.Fprintf(f, "[%d-byte key]", len(k)) }

// Lifetime is an SA's packet and byte limits; 0 means no limit. A soft
// limit that is zero or above the hard one becomes 90 % of the hard one.
type Lifetime struct {
	SoftBytes, HardBytes     uint64
	SoftPackets, HardPackets uint64
}

// Info describes an SA for show commands and logs; the fast path ignores it.
type Info struct {
	Map       string // crypto map name
	MapSeq    int    // crypto map entry sequence number
	Interface string // interface the crypto map is applied to
	Transform string // the transform set as configured, e.g. "esp-gcm 256"
	Manual    bool   // ipsec-manual entry (set session-key)
}

// Config is what the slow path knows about an SA: everything New needs.
type Config struct {
	SPI       uint32
	Protocol  Protocol
	Direction Direction
	Mode      Mode

	// Local and Remote are the SA's endpoints as seen from this gateway:
	// the outer source and destination of outbound packets (tunnel mode),
	// and the destination inbound packets are looked up by.
	Local, Remote netip.Addr

	// UDPEncap selects NAT traversal (RFC 3948): ESP inside UDP between
	// LocalPort and RemotePort (4500 unless NAT changed them).
	UDPEncap              bool
	LocalPort, RemotePort uint16

	// Transform and keys. An ESP SA uses Transform.Cipher (CipherNull for
	// ESP without encryption) and Transform.Integ; an AH SA only
	// Transform.Integ. CipherKey includes the salt of AEAD ciphers (IKEv2
	// KEYMAT order). The keys are used by New and not kept.
	Transform crypto.Transform
	CipherKey Key
	IntegKey  Key
	ESN       bool

	// ReplayWindow is the anti-replay window of an inbound SA in packets;
	// 0 disables it (manual SAs, `set security-association replay
	// disable`). IOS's default is replay.DefaultSize.
	ReplayWindow int

	// Selectors are the traffic the SA may carry, in the outbound
	// direction (Src is the local side), as the SPD entry and IKE traffic
	// selectors give it. Inbound, decrypted packets must match one of them
	// reversed (RFC 4301 §5.2). Empty means any traffic.
	Selectors []spd.Selector

	Lifetime Lifetime

	// Outer header of tunnel mode (RFC 4301 §5.1.2, RFC 6040).
	DF        DFMode
	DSCPSet   bool  // use DSCP instead of copying the inner DSCP
	DSCP      uint8 // 0..63
	ECN       ECNMode
	OuterTTL  uint8 // TTL or hop limit of the outer header; 0 means 64
	FlowLabel bool  // IPv6 outer: derive the flow label from the inner flow (RFC 6438)

	// SeqStart is the last sequence number already sent on an outbound SA
	// (0 for a new SA; an HA peer or a restart restores it).
	SeqStart uint64

	Peer    netip.Addr // the IKE peer (the crypto map's set peer)
	Created time.Time  // zero means now
	Info    Info
}

// SA is one installed security association.
type SA struct {
	cfg      Config // keys cleared
	esp      *crypto.ESP
	ah       *crypto.AH
	window   *replay.Window // inbound only
	seqMax   uint64
	life     Lifetime // with defaults applied
	created  time.Time
	hdr      TunnelHeader
	overhead int // worst-case bytes added to an inner packet

	// The tunnel header's fields that never change (version, TTL,
	// addresses), built once so the encrypt node copies them instead of
	// assembling them per packet; tmplSum is the IPv4 checksum's sum
	// over them.
	tmpl    [40]byte
	tmplSum uint32

	// The inbound policy (policy.go).
	in inPolicy

	// Bundles (AH+ESP transform sets): the ESP SA is inner, the AH SA
	// outer. Set by Bundle before installation.
	outer, inner *SA

	seq     atomic.Uint64 // outbound: last sequence number reserved
	usedPk  atomic.Uint64 // lifetime use
	usedBy  atomic.Uint64
	expired atomic.Uint32 // Expiry bits raised so far, for show
	dead    atomic.Bool

	counters []slot
}

// ErrConfig wraps every configuration error New returns.
var ErrConfig = errors.New("sad: invalid SA")

func cfgErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, a...))
}

// New builds an SA from its configuration, with per-worker counters for
// workers workers (the worker ids the nodes pass are 0..workers-1).
func New(cfg Config, workers int) (*SA, error) {
	if workers < 1 {
		return nil, cfgErr("need at least one worker")
	}
	if cfg.SPI < 256 {
		return nil, cfgErr("SPI %d is reserved (RFC 4303 §2.1)", cfg.SPI)
	}
	if !cfg.Local.IsValid() || !cfg.Remote.IsValid() || cfg.Local.Is4() != cfg.Remote.Is4() {
		return nil, cfgErr("SA %d: endpoints %v and %v are not two addresses of one family", cfg.SPI, cfg.Local, cfg.Remote)
	}
	if cfg.Direction > Outbound || cfg.Mode > Transport || cfg.DF > DFClear || cfg.ECN > ECNCompat || cfg.DSCP > 63 {
		return nil, cfgErr("SA %d: bad direction, mode, DF, DSCP or ECN setting", cfg.SPI)
	}
	sa := &SA{cfg: cfg, created: cfg.Created, hdr: TunnelHeader{
		DF: cfg.DF, DSCPSet: cfg.DSCPSet, DSCP: cfg.DSCP, ECN: cfg.ECN, TTL: cfg.OuterTTL, FlowLabel: cfg.FlowLabel,
	}}
	sa.cfg.CipherKey, sa.cfg.IntegKey = nil, nil
	sa.cfg.Selectors = append([]spd.Selector(nil), cfg.Selectors...)
	if cfg.Direction == Inbound {
		sa.in = newInPolicy(cfg.Selectors)
	}
	if sa.created.IsZero() {
		sa.created = time.Now()
	}
	if sa.hdr.TTL == 0 {
		sa.hdr.TTL = 64
	}
	var err error
	switch cfg.Protocol {
	case ESP:
		sa.esp, err = crypto.NewESP(cfg.Transform, cfg.CipherKey, cfg.IntegKey, cfg.ESN)
	case AH:
		if cfg.Transform.Cipher != crypto.CipherNone || len(cfg.CipherKey) != 0 {
			return nil, cfgErr("AH SA %d has a cipher", cfg.SPI)
		}
		if cfg.UDPEncap {
			return nil, cfgErr("AH SA %d cannot be UDP-encapsulated (RFC 3948 covers ESP only)", cfg.SPI)
		}
		sa.ah, err = crypto.NewAH(cfg.Transform.Integ, cfg.IntegKey, cfg.ESN)
	default:
		return nil, cfgErr("SA %d: protocol %v is neither ESP nor AH", cfg.SPI, cfg.Protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: SA %d: %w", ErrConfig, cfg.SPI, err)
	}
	if cfg.UDPEncap && (cfg.LocalPort == 0 || cfg.RemotePort == 0) {
		return nil, cfgErr("SA %d: UDP encapsulation needs both ports", cfg.SPI)
	}
	if cfg.Direction == Inbound {
		if sa.window, err = replay.New(cfg.ReplayWindow, cfg.ESN); err != nil {
			return nil, fmt.Errorf("%w: SA %d: %w", ErrConfig, cfg.SPI, err)
		}
	}
	sa.seqMax = 1<<32 - 1
	if cfg.ESN {
		sa.seqMax = 1<<64 - 1
	}
	if cfg.SeqStart > sa.seqMax {
		return nil, cfgErr("SA %d: starting sequence number past the sequence space", cfg.SPI)
	}
	sa.seq.Store(cfg.SeqStart)
	if cfg.Direction == Outbound {
		sa.usedPk.Store(cfg.SeqStart) // those packets were sent on this SA
	}
	sa.life = cfg.Lifetime.withDefaults()
	if cfg.Direction == Outbound && (sa.life.SoftPackets == 0 || sa.life.SoftPackets > sa.seqMax/10*9) {
		// Rekey before the sequence numbers run out.
		sa.life.SoftPackets = sa.seqMax / 10 * 9
	}
	sa.overhead = sa.computeOverhead()
	sa.buildTemplate()
	sa.counters = make([]slot, workers)
	return sa, nil
}

func (l Lifetime) withDefaults() Lifetime {
	if l.SoftBytes == 0 || l.SoftBytes > l.HardBytes && l.HardBytes != 0 {
		l.SoftBytes = l.HardBytes / 10 * 9
	}
	if l.SoftPackets == 0 || l.SoftPackets > l.HardPackets && l.HardPackets != 0 {
		l.SoftPackets = l.HardPackets / 10 * 9
	}
	return l
}

// Bundle joins an ESP SA and an AH SA of the same direction and peer into
// an AH+ESP bundle: outbound, ESP is applied first and AH outside it;
// inbound, AH is processed first and must carry ESP of this SA. Call it
// before installing either SA.
func Bundle(esp, ah *SA) error {
	if esp.cfg.Protocol != ESP || ah.cfg.Protocol != AH {
		return cfgErr("bundle needs an ESP SA and an AH SA")
	}
	if esp.cfg.Direction != ah.cfg.Direction || esp.cfg.Mode != ah.cfg.Mode ||
		esp.cfg.Local != ah.cfg.Local || esp.cfg.Remote != ah.cfg.Remote || esp.cfg.UDPEncap {
		return cfgErr("bundle of SAs %d and %d: direction, mode and endpoints must agree, without UDP encapsulation", esp.cfg.SPI, ah.cfg.SPI)
	}
	if esp.outer != nil || ah.inner != nil {
		return cfgErr("SA %d or %d is already bundled", esp.cfg.SPI, ah.cfg.SPI)
	}
	esp.outer, ah.inner = ah, esp
	esp.overhead = esp.computeOverhead()
	return nil
}

// buildTemplate fills the tunnel header template from the SA's endpoints
// and TTL (RFC 4301 §5.1.2.1).
func (sa *SA) buildTemplate() {
	h := sa.tmpl[:]
	if sa.cfg.Local.Is4() {
		h[0], h[8] = 0x45, sa.hdr.TTL
		src, dst := sa.cfg.Local.As4(), sa.cfg.Remote.As4()
		copy(h[12:16], src[:])
		copy(h[16:20], dst[:])
		for i := 0; i < 20; i += 2 {
			sa.tmplSum += uint32(binary.BigEndian.Uint16(h[i:]))
		}
		return
	}
	h[0], h[7] = 0x60, sa.hdr.TTL
	src, dst := sa.cfg.Local.As16(), sa.cfg.Remote.As16()
	copy(h[8:24], src[:])
	copy(h[24:40], dst[:])
}

// computeOverhead is the most an SA (with its bundle) adds to an inner
// packet: outer IP header in tunnel mode, UDP for NAT-T, ESP header, IV,
// worst padding, trailer and ICV; or the AH header.
func (sa *SA) computeOverhead() int {
	n := 0
	if sa.cfg.Mode == Tunnel {
		n = 20
		if sa.cfg.Local.Is6() {
			n = 40
		}
	}
	if sa.cfg.UDPEncap {
		n += 8
	}
	if sa.esp != nil {
		n += sa.esp.HeaderLen() + sa.esp.Align() - 1 + 2 + sa.esp.ICVLen()
	}
	for a := sa; a != nil; a = a.outer {
		if a.ah != nil {
			n += 12 + a.ah.ICVFieldLen(sa.cfg.Local.Is6())
		}
	}
	return n
}

// Config returns the SA's configuration, without keys.
func (sa *SA) Config() Config { return sa.cfg }

// SPI is the SA's security parameter index.
func (sa *SA) SPI() uint32 { return sa.cfg.SPI }

// Protocol is ESP or AH.
func (sa *SA) Protocol() Protocol { return sa.cfg.Protocol }

// Direction is inbound or outbound.
func (sa *SA) Direction() Direction { return sa.cfg.Direction }

// Mode is tunnel or transport.
func (sa *SA) Mode() Mode { return sa.cfg.Mode }

// Local is this gateway's endpoint address.
func (sa *SA) Local() netip.Addr { return sa.cfg.Local }

// Remote is the peer's endpoint address.
func (sa *SA) Remote() netip.Addr { return sa.cfg.Remote }

// UDPEncap reports NAT-T encapsulation and its local and remote ports.
func (sa *SA) UDPEncap() (on bool, local, remote uint16) {
	return sa.cfg.UDPEncap, sa.cfg.LocalPort, sa.cfg.RemotePort
}

// Selectors are the SA's traffic selectors in the outbound direction.
func (sa *SA) Selectors() []spd.Selector { return sa.cfg.Selectors }

// ESP is the SA's ESP cipher state, nil for AH.
func (sa *SA) ESP() *crypto.ESP { return sa.esp }

// AH is the SA's AH integrity state, nil for ESP.
func (sa *SA) AH() *crypto.AH { return sa.ah }

// Window is an inbound SA's anti-replay window (size 0 when disabled); nil
// for outbound SAs.
func (sa *SA) Window() *replay.Window { return sa.window }

// ESN reports 64-bit extended sequence numbers.
func (sa *SA) ESN() bool { return sa.cfg.ESN }

// TunnelHeader is how the encrypt node fills a tunnel's outer header.
type TunnelHeader struct {
	DF        DFMode
	DSCPSet   bool
	DSCP      uint8
	ECN       ECNMode
	TTL       uint8
	FlowLabel bool
}

// TunnelHeader returns the outer-header settings, defaults applied.
func (sa *SA) TunnelHeader() TunnelHeader { return sa.hdr }

// HeaderTemplate is the tunnel header with its fixed fields filled in: 20
// bytes of IPv4 (version and length, TTL, addresses; sum is their checksum
// sum, before folding) or 40 of IPv6 (version, hop limit, addresses). The
// caller copies it and fills in the rest.
func (sa *SA) HeaderTemplate() (h *[40]byte, sum uint32) { return &sa.tmpl, sa.tmplSum }

// Outer is the AH SA applied outside this ESP SA in a bundle, or nil.
func (sa *SA) Outer() *SA { return sa.outer }

// Inner is the ESP SA inside this AH SA in a bundle, or nil.
func (sa *SA) Inner() *SA { return sa.inner }

// Overhead is the most bytes the SA (with its bundle) adds to an inner
// packet: what path-MTU handling subtracts from the outside MTU.
func (sa *SA) Overhead() int { return sa.overhead }

// Lifetime is the SA's limits with defaults applied.
func (sa *SA) Lifetime() Lifetime { return sa.life }

// Created is when the SA was built.
func (sa *SA) Created() time.Time { return sa.created }

// Age is how long the SA has existed at now, for time-based lifetimes.
func (sa *SA) Age(now time.Time) time.Duration { return now.Sub(sa.created) }

// Dead reports whether the SA was deleted from the database.
func (sa *SA) Dead() bool { return sa.dead.Load() }

// Seq is the last outbound sequence number reserved.
func (sa *SA) Seq() uint64 { return sa.seq.Load() }

// SeqMax is the last usable sequence number: 2^32-1, or 2^64-1 with ESN.
func (sa *SA) SeqMax() uint64 { return sa.seqMax }

// ReserveSeq reserves up to n consecutive outbound sequence numbers with
// one atomic operation and returns the first and how many it got: fewer
// than n (possibly none) when the sequence space runs out. Numbers are
// never reused.
func (sa *SA) ReserveSeq(n uint64) (first, got uint64) {
	for {
		cur := sa.seq.Load()
		got = min(n, sa.seqMax-cur)
		if got == 0 {
			return 0, 0
		}
		if sa.seq.CompareAndSwap(cur, cur+got) {
			return cur + 1, got
		}
	}
}

func (sa *SA) String() string {
	return fmt.Sprintf("%v %v SPI 0x%08x %v->%v", sa.cfg.Direction, sa.cfg.Protocol, sa.cfg.SPI, sa.cfg.Local, sa.cfg.Remote)
}

// Stats is an SA's state for show, metrics and JSON.
type Stats struct {
	Counters
	Seq         uint64 // outbound: last sequence number sent
	ReplayTop   uint64 // inbound: highest verified sequence number
	UsedBytes   uint64 // lifetime use
	UsedPackets uint64
	Expired     Expiry // soft/hard limits reached
	Dead        bool
	AgeSeconds  float64
}

// Stats sums the SA's counters and reads its state.
func (sa *SA) Stats(now time.Time) Stats {
	s := Stats{
		Counters:    sa.Counters(),
		Seq:         sa.seq.Load(),
		UsedBytes:   sa.usedBy.Load(),
		UsedPackets: sa.usedPk.Load(),
		Expired:     Expiry(sa.expired.Load()),
		Dead:        sa.dead.Load(),
		AgeSeconds:  sa.Age(now).Seconds(),
	}
	if sa.window != nil {
		s.ReplayTop = sa.window.Top()
	}
	return s
}
