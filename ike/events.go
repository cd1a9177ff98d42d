package ike

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"ipsecgw/crypto"
	"ipsecgw/ike/keymat"
	"ipsecgw/ike/message"
	"ipsecgw/ike/ts"
	"ipsecgw/spd"
)

// Transport sends IKE datagrams. The engine hands it UDP payloads exactly as
// they go on the wire: on the NAT-T port the payload already starts with
// the four-byte non-ESP marker, and a NAT keepalive is the single byte
// 0xFF. The slow path implements it with the fast path's inject ring;
// package ike/udp implements it with kernel sockets.
type Transport interface {
	Send(local, remote netip.AddrPort, payload []byte) error
}

// Installer receives negotiated SAs; the slow path implements it and
// programs the fast path. Its methods run on the engine's goroutine: they
// must not block for long, and may call the Engine's methods (which only
// queue work).
//
// Make-before-break: a new CHILD_SA is installed in two steps, inbound
// first, so the peer can never send on an SA we cannot yet decrypt:
//
//	new CHILD_SA:      InstallInbound(sa); InstallOutbound(sa, nil)
//	rekey (initiator): InstallInbound(new); InstallOutbound(new, old);
//	                   ... Delete exchange for old ...; RemoveChildSA(old, ReasonRekeyed)
//	rekey (responder): InstallInbound(new) before the response leaves;
//	                   InstallOutbound(new, old) once the peer deletes old
//	                   (it has installed new by then); RemoveChildSA(old, ReasonRekeyed)
//
// InstallOutbound(new, old) moves the outbound traffic of old's selectors
// to new; old's inbound half keeps decrypting until RemoveChildSA, which
// comes RekeyGrace after the switch at the earliest, so packets in flight
// on the old SA still arrive. An SA whose InstallInbound failed is never
// used; the engine deletes it with the peer.
type Installer interface {
	InstallInbound(sa *ChildSA) error
	InstallOutbound(sa, replaces *ChildSA) error
	RemoveChildSA(sa *ChildSA, reason Reason)
	IKESAUp(sa *IKESAInfo)
	IKESADown(sa *IKESAInfo, reason Reason)
	// AcquireFailed reports that negotiating the CHILD_SA for an Acquire
	// failed, so the slow path can try the entry's next peer.
	AcquireFailed(a Acquire, err error)
}

// Acquire asks for a CHILD_SA: traffic matched a permit line of a static
// crypto map entry and no SA carries it (the fast path punted the packet).
type Acquire struct {
	Peer  string    // PeerConfig.Name: the entry's set peer to try
	Child string    // ChildConfig.Name
	Line  int       // the ACL line that matched (0: the first permit line)
	Flow  *spd.Flow // the triggering packet, outbound; nil when none
}

func (a Acquire) String() string {
	s := fmt.Sprintf("%s line %d via %s", a.Child, a.Line, a.Peer)
	if a.Flow != nil {
		s += " for " + a.Flow.String()
	}
	return s
}

// Reason says why an SA went away.
type Reason uint8

// Reasons.
const (
	ReasonRekeyed       Reason = iota + 1 // replaced by its rekeyed successor
	ReasonDeletedByPeer                   // the peer sent a Delete
	ReasonCleared                         // deleted locally (clear crypto sa)
	ReasonExpired                         // hard lifetime reached without rekey
	ReasonPeerDead                        // dead peer detection gave up
	ReasonUnreachable                     // a request went unanswered
	ReasonIKESADown                       // its IKE SA went away
	ReasonRedundant                       // lost a simultaneous rekey (RFC 7296 §2.8.1)
	ReasonReplaced                        // the peer restarted (INITIAL_CONTACT)
	ReasonInstallFailed                   // the installer refused it
	ReasonShutdown                        // the engine stopped
	ReasonFailed                          // negotiation failed
)

func (r Reason) String() string {
	switch r {
	case ReasonRekeyed:
		return "rekeyed"
	case ReasonDeletedByPeer:
		return "deleted by peer"
	case ReasonCleared:
		return "cleared"
	case ReasonExpired:
		return "expired"
	case ReasonPeerDead:
		return "peer dead"
	case ReasonUnreachable:
		return "peer unreachable"
	case ReasonIKESADown:
		return "IKE SA down"
	case ReasonRedundant:
		return "redundant after rekey collision"
	case ReasonReplaced:
		return "replaced after peer restart"
	case ReasonInstallFailed:
		return "install failed"
	case ReasonShutdown:
		return "shutdown"
	case ReasonFailed:
		return "negotiation failed"
	}
	return fmt.Sprintf("reason-%d", uint8(r))
}

// Keys are the keys of one direction of a CHILD_SA. Encr ends with the
// 4-byte salt for AEAD ciphers. They never print: fmt and slog show
// "[redacted]".
type Keys struct {
	Encr, Integ []byte
}

// Format keeps keys out of every fmt verb.
func (Keys) Format(f fmt.State, _ rune) { fmt.Fprint(f, "[redacted]") }

// LogValue keeps keys out of slog output.
func (Keys) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// ChildSA is a negotiated CHILD_SA pair, everything the fast path needs to
// install both halves. The engine never changes a ChildSA after handing it
// out; the slow path may keep the pointer as a handle.
type ChildSA struct {
	// Where it came from.
	Peer  string // PeerConfig.Name
	Child string // ChildConfig.Name
	Map   string
	Seq   int
	Line  int // ACL line that scopes it (0: none, dynamic without ACL)

	Local, Remote netip.Addr
	// Encap: ESP in UDP (RFC 3948) between LocalPort and RemotePort.
	Encap                 bool
	LocalPort, RemotePort uint16

	Protocol  message.ProtocolID // ESP or AH
	Mode      Mode
	Transform crypto.Transform
	ESN       bool
	PFS       keymat.Group // group of the exchange that made it, 0 without

	InSPI, OutSPI   uint32
	InKeys, OutKeys Keys

	// LocalTS and RemoteTS are the negotiated traffic selectors: the SA
	// carries traffic from any local to any remote selector.
	LocalTS, RemoteTS []ts.Selector

	// Lifetimes: rekey at the soft limits (jittered), delete at the hard.
	SoftSeconds, HardSeconds     time.Duration
	SoftKilobytes, HardKilobytes uint64

	Initiator bool // we sent the request that created it
	Created   time.Time
}

func (sa *ChildSA) String() string {
	return fmt.Sprintf("%s %v %v SPIs in %08x out %08x %v %s === %s", sa.Child, sa.Protocol, sa.Mode,
		sa.InSPI, sa.OutSPI, sa.Transform, ts.List(sa.LocalTS), ts.List(sa.RemoteTS))
}

// LogValue is what slog shows for a ChildSA: no keys.
func (sa *ChildSA) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("child", sa.Child),
		slog.String("spi_in", fmt.Sprintf("%08x", sa.InSPI)),
		slog.String("spi_out", fmt.Sprintf("%08x", sa.OutSPI)),
		slog.String("proto", sa.Protocol.String()),
		slog.String("transform", sa.Transform.String()),
		slog.String("local_ts", ts.List(sa.LocalTS)),
		slog.String("remote_ts", ts.List(sa.RemoteTS)),
	)
}

// IKESAInfo describes an IKE SA for events and show commands.
type IKESAInfo struct {
	ID            uint64 // engine-local handle, stable across the SA's life
	Peer          string
	Local, Remote netip.AddrPort
	SPIi, SPIr    uint64
	Initiator     bool
	Suite         keymat.IKESuite
	LocalID       string
	RemoteID      string
	NATLocal      bool // we are behind a NAT
	NATRemote     bool // the peer is behind a NAT
	State         string
	Established   time.Time
	RekeyOf       uint64 // ID of the IKE SA it replaced by rekeying, 0 if none
	Children      []ChildSA
}

func (i *IKESAInfo) String() string {
	return fmt.Sprintf("IKE SA %d %s %v <=> %v SPIs %016x_i %016x_r %v", i.ID, i.Peer, i.Local, i.Remote, i.SPIi, i.SPIr, i.Suite)
}
