package ike

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"ipsecgw/crypto"
	"ipsecgw/ike/keymat"
	"ipsecgw/ike/message"
	"ipsecgw/spd"
)

// Encryption is one IKE encryption transform: AES-CBC or AES-GCM-16 with a
// key size.
type Encryption struct {
	Cipher  crypto.Cipher
	KeyBits int
}

func (e Encryption) String() string { return fmt.Sprintf("%v-%d", e.Cipher, e.KeyBits) }

// IKEProposal is one IKEv2 proposal (IOS `crypto ikev2 proposal`): every
// combination of its transforms is acceptable. AEAD ciphers and the others
// do not mix in one proposal, as on IOS; Integrity is empty with AEAD.
type IKEProposal struct {
	Name       string
	Encryption []Encryption
	Integrity  []crypto.Integ
	PRF        []keymat.PRFAlg // empty: the PRFs matching Integrity (or SHA-512/384/256 with AEAD)
	Groups     []keymat.Group
}

// DefaultIKEProposals are offered and accepted when a peer has none
// configured, in the spirit of IOS XE's default proposals (AEAD first), minus
// the legacy group 5.
func DefaultIKEProposals() []IKEProposal {
	groups := []keymat.Group{keymat.ECP256, keymat.ECP384, keymat.ECP521, keymat.Curve25519, keymat.MODP2048}
	prfs := []keymat.PRFAlg{keymat.PRFHMACSHA512, keymat.PRFHMACSHA384, keymat.PRFHMACSHA256}
	return []IKEProposal{
		{
			Name:       "default-aead",
			Encryption: []Encryption{{crypto.CipherAESGCM16, 256}, {crypto.CipherAESGCM16, 128}},
			PRF:        prfs,
			Groups:     groups,
		},
		{
			Name:       "default",
			Encryption: []Encryption{{crypto.CipherAESCBC, 256}, {crypto.CipherAESCBC, 128}},
			Integrity:  []crypto.Integ{crypto.IntegHMACSHA512_256, crypto.IntegHMACSHA384_192, crypto.IntegHMACSHA256_128},
			PRF:        prfs,
			Groups:     groups,
		},
	}
}

// prfFor is the PRF IOS pairs with an integrity algorithm when a proposal
// names none.
func prfFor(i crypto.Integ) keymat.PRFAlg {
	switch i {
	case crypto.IntegHMACSHA1_96:
		return keymat.PRFHMACSHA1
	case crypto.IntegHMACSHA256_128:
		return keymat.PRFHMACSHA256
	case crypto.IntegHMACSHA384_192:
		return keymat.PRFHMACSHA384
	case crypto.IntegHMACSHA512_256:
		return keymat.PRFHMACSHA512
	}
	return 0
}

func (p *IKEProposal) prfs() []keymat.PRFAlg {
	if len(p.PRF) > 0 {
		return p.PRF
	}
	if len(p.Integrity) == 0 {
		return []keymat.PRFAlg{keymat.PRFHMACSHA512, keymat.PRFHMACSHA384, keymat.PRFHMACSHA256}
	}
	var out []keymat.PRFAlg
	for _, i := range p.Integrity {
		out = append(out, prfFor(i))
	}
	return out
}

func (p *IKEProposal) check() error {
	if len(p.Encryption) == 0 || len(p.Groups) == 0 {
		return fmt.Errorf("IKEv2 proposal %q needs encryption and a group", p.Name)
	}
	integs := p.Integrity
	if len(integs) == 0 {
		integs = []crypto.Integ{crypto.IntegNone}
	}
	// Every combination must be one keymat implements.
	for _, e := range p.Encryption {
		for _, i := range integs {
			for _, prf := range p.prfs() {
				for _, g := range p.Groups {
					s := keymat.IKESuite{Cipher: e.Cipher, KeyBits: e.KeyBits, Integ: i, PRF: prf, DH: g}
					if err := s.Check(); err != nil {
						return fmt.Errorf("IKEv2 proposal %q: %w", p.Name, err)
					}
				}
			}
		}
	}
	return nil
}

// Secret is key material from the configuration (a pre-shared key). It
// never prints: fmt and slog show "[redacted]".
type Secret []byte

// Format keeps the secret out of every fmt verb.
func (Secret) Format(f fmt.State, _ rune) { fmt.Fprint(f, "[redacted]") }

// LogValue keeps the secret out of slog output.
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// Identity is an IKE identity (RFC 7296 §3.5).
type Identity struct {
	Type  message.IDType
	Value []byte
}

// AddrIdentity is the identity of an IP address.
func AddrIdentity(a netip.Addr) Identity {
	if a.Is4() {
		return Identity{Type: message.IDIPv4Addr, Value: a.AsSlice()}
	}
	return Identity{Type: message.IDIPv6Addr, Value: a.AsSlice()}
}

// FQDNIdentity is the identity of a host name.
func FQDNIdentity(name string) Identity { return Identity{Type: message.IDFQDN, Value: []byte(name)} }

// IsZero reports an unset identity.
func (id Identity) IsZero() bool { return id.Type == 0 }

func (id Identity) String() string {
	p := message.ID{IDType: id.Type, Data: id.Value}
	return p.String()
}

func (id Identity) matches(p *message.ID) bool {
	return id.Type == p.IDType && string(id.Value) == string(p.Data)
}

// acceptsID reports whether the peer may identify as id: RemoteID and
// RemoteAddrIDs, where set, both allow it.
func (p *PeerConfig) acceptsID(id *message.ID) bool {
	if !p.RemoteID.IsZero() && !p.RemoteID.matches(id) {
		return false
	}
	if len(p.RemoteAddrIDs) == 0 {
		return true
	}
	if id.IDType != message.IDIPv4Addr && id.IDType != message.IDIPv6Addr {
		return false
	}
	a, ok := netip.AddrFromSlice(id.Data)
	if !ok {
		return false
	}
	for _, pfx := range p.RemoteAddrIDs {
		if pfx.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// expectedIDs describes the identities acceptsID allows, for log lines.
func (p *PeerConfig) expectedIDs() string {
	var parts []string
	if !p.RemoteID.IsZero() {
		parts = append(parts, p.RemoteID.String())
	}
	if len(p.RemoteAddrIDs) > 0 {
		var pfx []string
		for _, r := range p.RemoteAddrIDs {
			pfx = append(pfx, r.String())
		}
		parts = append(parts, "address in "+strings.Join(pfx, " "))
	}
	return strings.Join(parts, " and ")
}

// DPD configures dead peer detection (IOS `dpd INTERVAL RETRY
// {on-demand|periodic}` in an IKEv2 profile, or `crypto isakmp keepalive`).
type DPD struct {
	// Interval without traffic from the peer after which a liveness check
	// is sent; 0 disables DPD.
	Interval time.Duration
	// Retry is the interval between retransmissions of a liveness check
	// (default 2 s).
	Retry time.Duration
	// Retries before the peer is declared dead (default 5).
	Retries int
	// OnDemand checks only while traffic is being sent to the peer and none
	// comes back (IOS on-demand); otherwise periodically.
	OnDemand bool
}

// PeerConfig is what the engine needs to run IKE SAs with one peer, or with
// any peer within Remote for a dynamic crypto map template. The slow path
// builds them from the crypto map entries, keyrings and IKEv2 profiles.
type PeerConfig struct {
	// Name identifies the config in Acquire, logs and events; unique.
	Name string
	// Local is our address: the crypto map's local-address interface.
	// Invalid: any local address (responder only).
	Local netip.Addr
	// Remote is the peer: a single address (/32, /128) for a static entry's
	// set peer, a wider prefix for dynamic templates. Responders try the
	// most specific match first.
	Remote netip.Prefix
	// LocalID is the identity we send (zero: our address). RemoteID, if
	// set, is the only identity accepted from the peer.
	LocalID, RemoteID Identity
	// RemoteAddrIDs, if set, are the address identities accepted from the
	// peer (IOS `match identity remote address`): its IDi/IDr must be an
	// IPv4 or IPv6 address within one of them, or authentication fails.
	RemoteAddrIDs []netip.Prefix
	// LocalPSK authenticates us, RemotePSK the peer (IOS
	// `pre-shared-key local|remote`); RemotePSK nil means LocalPSK.
	LocalPSK, RemotePSK Secret
	// Proposals for the IKE SA; empty: DefaultIKEProposals.
	Proposals []IKEProposal
	// Lifetime of the IKE SA before it is rekeyed (default 24 h).
	Lifetime time.Duration
	DPD      DPD
	// ForceEncap UDP-encapsulates ESP even without a NAT, by making the
	// peer see one (strongSwan's encap=yes).
	ForceEncap bool
	// Children are the crypto map entries negotiable with this peer, in
	// sequence order.
	Children []*ChildConfig
}

// Mode is the IPsec mode of a CHILD_SA.
type Mode uint8

// Modes.
const (
	ModeTunnel Mode = iota
	ModeTransport
)

func (m Mode) String() string {
	if m == ModeTransport {
		return "transport"
	}
	return "tunnel"
}

// ACLLine is one permit line of a crypto ACL.
type ACLLine struct {
	Line int          // position in the access list, 1-based
	Text string       // as configured, for logs: "permit ip 10.1.1.0 0.0.0.255 ..."
	Sel  spd.Selector // outbound: Src is local
}

// ChildProposal is one ESP or AH proposal, made from one transform set.
type ChildProposal struct {
	Name      string // transform set name, for logs
	Protocol  message.ProtocolID
	Transform crypto.Transform // AH: Integ only
}

// ProposalFromTransformSet turns an IOS transform set into a CHILD_SA
// proposal. IKEv2 negotiates one protocol per CHILD_SA (RFC 7296 §3.3: the
// AH+ESP bundles of IKEv1 are gone), so:
//   - AH only: an AH proposal with the AH integrity algorithm;
//   - ESP only: an ESP proposal (esp-gcm = ENCR_AES_GCM_16 with its key
//     length; esp-aes + esp-sha256-hmac = ENCR_AES_CBC + AUTH_HMAC_SHA2_256_128);
//   - AH and ESP: an ESP proposal whose integrity is the ESP authenticator
//     or, when the set has none, the AH algorithm, so the traffic keeps an
//     integrity check (without AH's cover of the outer IP header). A peer
//     configured from the same transform set derives the same proposal.
func ProposalFromTransformSet(name string, ah crypto.Integ, esp crypto.Transform) (ChildProposal, error) {
	switch {
	case esp.Cipher == crypto.CipherNone && ah == crypto.IntegNone:
		return ChildProposal{}, fmt.Errorf("transform set %s has no transform", name)
	case esp.Cipher == crypto.CipherNone:
		return ChildProposal{Name: name, Protocol: message.ProtoAH, Transform: crypto.Transform{Integ: ah}}, nil
	}
	t := esp
	if !t.Cipher.AEAD() && t.Integ == crypto.IntegNone {
		t.Integ = ah
	}
	if t.Cipher == crypto.CipherNull && t.Integ == crypto.IntegNone {
		return ChildProposal{}, fmt.Errorf("transform set %s: esp-null without authentication", name)
	}
	return ChildProposal{Name: name, Protocol: message.ProtoESP, Transform: t}, nil
}

// Lifetime bounds a CHILD_SA. Zero fields take the IOS global defaults.
type Lifetime struct {
	Seconds   time.Duration // default 3600 s
	Kilobytes uint64        // default 4608000 KB; the fast path counts them
}

// IOS global SA lifetime defaults.
const (
	DefaultChildSeconds   = 3600 * time.Second
	DefaultChildKilobytes = 4608000
	DefaultIKELifetime    = 86400 * time.Second
)

// ChildConfig is one crypto map entry (static, or a dynamic map entry
// acting as a template) as the engine negotiates it.
type ChildConfig struct {
	// Name identifies the entry in Acquire and events: "vpnmap 10".
	Name string
	Map  string
	Seq  int
	// ACL names the crypto access list, for logs; Lines are its permit
	// lines. A dynamic entry without an ACL has no Lines and accepts what
	// the peer proposes.
	ACL   string
	Lines []ACLLine
	// Proposals from the entry's transform sets, in order.
	Proposals []ChildProposal
	Mode      Mode
	// PFS is the `set pfs` group for CREATE_CHILD_SA (0: none). The first
	// CHILD_SA, made in IKE_AUTH, never has PFS (RFC 7296 §1.2).
	PFS      keymat.Group
	Lifetime Lifetime
	// PerHost: `set security-association level per-host`.
	PerHost bool
	// ESN prefers extended sequence numbers; both are offered.
	ESN bool
}

func (c *ChildConfig) check() error {
	if c.Name == "" {
		return errors.New("child config without a name")
	}
	if len(c.Proposals) == 0 {
		return fmt.Errorf("%s: no transform sets", c.Name)
	}
	for _, p := range c.Proposals {
		if p.Protocol != message.ProtoESP && p.Protocol != message.ProtoAH {
			return fmt.Errorf("%s: transform set %s: protocol %v", c.Name, p.Name, p.Protocol)
		}
	}
	if c.PFS != 0 && !c.PFS.Supported() {
		return fmt.Errorf("%s: PFS group %v not supported", c.Name, c.PFS)
	}
	return nil
}

func (c *ChildConfig) lifetime() Lifetime {
	l := c.Lifetime
	if l.Seconds == 0 {
		l.Seconds = DefaultChildSeconds
	}
	if l.Kilobytes == 0 {
		l.Kilobytes = DefaultChildKilobytes
	}
	return l
}

func (c *ChildConfig) line(n int) (*ACLLine, bool) {
	if len(c.Lines) == 0 {
		return nil, false
	}
	if n == 0 {
		return &c.Lines[0], true
	}
	for i := range c.Lines {
		if c.Lines[i].Line == n {
			return &c.Lines[i], true
		}
	}
	return nil, false
}

func (p *PeerConfig) check() error {
	switch {
	case p.Name == "":
		return errors.New("peer config without a name")
	case !p.Remote.IsValid():
		return fmt.Errorf("peer %s: no remote address or prefix", p.Name)
	case len(p.LocalPSK) == 0:
		return fmt.Errorf("peer %s: no pre-shared key", p.Name)
	}
	for i := range p.Proposals {
		if err := p.Proposals[i].check(); err != nil {
			return fmt.Errorf("peer %s: %w", p.Name, err)
		}
	}
	for _, c := range p.Children {
		if err := c.check(); err != nil {
			return fmt.Errorf("peer %s: %w", p.Name, err)
		}
	}
	return nil
}

func (p *PeerConfig) proposals() []IKEProposal {
	if len(p.Proposals) > 0 {
		return p.Proposals
	}
	return DefaultIKEProposals()
}

func (p *PeerConfig) remotePSK() Secret {
	if len(p.RemotePSK) > 0 {
		return p.RemotePSK
	}
	return p.LocalPSK
}

func (p *PeerConfig) lifetime() time.Duration {
	if p.Lifetime > 0 {
		return p.Lifetime
	}
	return DefaultIKELifetime
}

func (p *PeerConfig) child(name string) *ChildConfig {
	for _, c := range p.Children {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (d DPD) retry() time.Duration {
	if d.Retry > 0 {
		return d.Retry
	}
	return 2 * time.Second
}

func (d DPD) retries() int {
	if d.Retries > 0 {
		return d.Retries
	}
	return 5
}
