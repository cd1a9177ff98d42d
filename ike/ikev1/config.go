package ikev1

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"ipsecgw/crypto"
	"ipsecgw/ike"
	"ipsecgw/ike/clock"
	"ipsecgw/ike/keymat"
)

// Config sets up an Engine. Zero values take the defaults noted.
type Config struct {
	Transport ike.Transport
	Installer Installer
	Logger    *slog.Logger // nil: discard
	Clock     clock.Clock  // nil: the wall clock

	// IKEPort and NATTPort are the UDP ports spoken on both ends
	// (default 500 and 4500).
	IKEPort, NATTPort uint16
	// Retransmit is the schedule of unanswered messages (default 4 s ×
	// 1.8^n, 5 retransmissions, as the IKEv2 engine).
	Retransmit ike.Retransmit
	// NATKeepalive is the interval of NAT keepalives while we are behind a
	// NAT (default 20 s, IOS `crypto isakmp nat keepalive`).
	NATKeepalive time.Duration
	// RekeyGrace is how long an SA replaced by a rekey keeps decrypting
	// after outbound traffic moved to its successor (default 2 s).
	RekeyGrace time.Duration
	// MaxQueue bounds received datagrams waiting for the engine (default
	// 1024); more are dropped and counted.
	MaxQueue int
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
	if c.NATKeepalive == 0 {
		c.NATKeepalive = 20 * time.Second
	}
	if c.RekeyGrace == 0 {
		c.RekeyGrace = 2 * time.Second
	}
	if c.MaxQueue == 0 {
		c.MaxQueue = 1024
	}
}

// Policy is one ISAKMP protection suite (IOS `crypto isakmp policy N`,
// pre-shared keys only).
type Policy struct {
	Priority int
	Cipher   crypto.Cipher // CipherDES, Cipher3DES or CipherAESCBC
	KeyBits  int           // AES only
	Hash     Hash
	Group    keymat.Group
	Lifetime time.Duration // default 86400 s
}

func (p Policy) cipher() cipherSuite { return cipherSuite{p.Cipher, p.KeyBits} }

func (p Policy) lifetime() time.Duration {
	if p.Lifetime > 0 {
		return p.Lifetime
	}
	return DefaultISAKMPLifetime
}

func (p Policy) String() string {
	return fmt.Sprintf("%v/%v/%v/%ds", p.cipher(), p.Hash, p.Group, int(p.lifetime().Seconds()))
}

func (p Policy) check() error {
	switch {
	case p.Cipher != crypto.CipherDES && p.Cipher != crypto.Cipher3DES && p.Cipher != crypto.CipherAESCBC:
		return fmt.Errorf("isakmp policy %d: encryption %v not supported", p.Priority, p.Cipher)
	case p.Cipher == crypto.CipherAESCBC && p.KeyBits != 128 && p.KeyBits != 192 && p.KeyBits != 256:
		return fmt.Errorf("isakmp policy %d: AES key size %d", p.Priority, p.KeyBits)
	case !p.Hash.Supported():
		return fmt.Errorf("isakmp policy %d: hash %v not supported", p.Priority, p.Hash)
	case !p.Group.Supported() || p.Group == keymat.Curve25519:
		// Curve25519 has no IKEv1 group number assigned by IANA's IKEv1
		// registry that IOS or strongSwan speak.
		return fmt.Errorf("isakmp policy %d: group %v not supported", p.Priority, p.Group)
	}
	return nil
}

// DefaultISAKMPLifetime is IOS's phase-1 lifetime.
const DefaultISAKMPLifetime = 86400 * time.Second

// DefaultPolicies are offered and accepted when no `crypto isakmp policy`
// is configured: pre-shared-key suites in the spirit of IOS XE's default
// ISAKMP policies (`show crypto isakmp default policy`; priorities and
// suites not checked against a device).
func DefaultPolicies() []Policy {
	return []Policy{
		{Priority: 65509, Cipher: crypto.CipherAESCBC, KeyBits: 256, Hash: HashSHA512, Group: keymat.MODP4096},
		{Priority: 65512, Cipher: crypto.CipherAESCBC, KeyBits: 128, Hash: HashSHA256, Group: keymat.MODP4096},
		{Priority: 65515, Cipher: crypto.Cipher3DES, Hash: HashSHA1, Group: keymat.MODP1536},
	}
}

// TransformSet is an IOS transform set as IKEv1 negotiates it: ESP, AH,
// or both as one bundle.
type TransformSet struct {
	Name string
	AH   crypto.Integ     // IntegNone: no AH
	ESP  crypto.Transform // Cipher CipherNone: no ESP
}

func (t TransformSet) check() error {
	if t.AH == crypto.IntegNone && t.ESP.Cipher == crypto.CipherNone {
		return fmt.Errorf("transform set %s has no transform", t.Name)
	}
	if t.ESP.Cipher != crypto.CipherNone {
		if _, ok := espTransformID(t.ESP.Cipher); !ok {
			return fmt.Errorf("transform set %s: ESP cipher %v not negotiable in IKEv1", t.Name, t.ESP.Cipher)
		}
		if t.ESP.Integ != crypto.IntegNone {
			if _, ok := authAlgorithm(t.ESP.Integ); !ok {
				return fmt.Errorf("transform set %s: ESP integrity %v not negotiable in IKEv1", t.Name, t.ESP.Integ)
			}
		}
	}
	if t.AH != crypto.IntegNone {
		if _, ok := ahTransformID(t.AH); !ok {
			return fmt.Errorf("transform set %s: AH %v not negotiable in IKEv1", t.Name, t.AH)
		}
	}
	return nil
}

// ChildConfig is one crypto map entry (or dynamic map template) as quick
// mode negotiates it.
type ChildConfig struct {
	// Name identifies the entry in Acquire and events: "vpnmap 10".
	Name string
	Map  string
	Seq  int
	// ACL names the crypto access list for logs; Lines are its permit
	// lines (outbound). A dynamic template without an ACL has no Lines and
	// accepts the proxy IDs the peer proposes.
	ACL   string
	Lines []ike.ACLLine
	// TransformSets in order of preference.
	TransformSets []TransformSet
	Mode          ike.Mode
	PFS           keymat.Group // `set pfs`; 0: none
	Lifetime      ike.Lifetime
	PerHost       bool // `set security-association level per-host`
}

func (c *ChildConfig) check() error {
	if c.Name == "" {
		return errors.New("child config without a name")
	}
	if len(c.TransformSets) == 0 {
		return fmt.Errorf("%s: no transform sets", c.Name)
	}
	for _, t := range c.TransformSets {
		if err := t.check(); err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
	}
	if c.PFS != 0 && !c.PFS.Supported() {
		return fmt.Errorf("%s: PFS group %v not supported", c.Name, c.PFS)
	}
	return nil
}

func (c *ChildConfig) lifetime() ike.Lifetime {
	l := c.Lifetime
	if l.Seconds == 0 {
		l.Seconds = ike.DefaultChildSeconds
	}
	if l.Kilobytes == 0 {
		l.Kilobytes = ike.DefaultChildKilobytes
	}
	return l
}

func (c *ChildConfig) line(n int) (*ike.ACLLine, bool) {
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

// PeerConfig is what the engine needs to run ISAKMP SAs with one peer, or
// with any peer within Remote for a dynamic crypto map template.
type PeerConfig struct {
	// Name identifies the config in Acquire, logs and events; unique.
	Name string
	// Local is our address (invalid: any, responder only).
	Local netip.Addr
	// Remote is the peer: one address for a static entry's set peer, a
	// wider prefix for dynamic templates; responders try the most specific
	// match first.
	Remote netip.Prefix
	// PSK is the `crypto isakmp key` for the peer.
	PSK ike.Secret
	// Policies are the ISAKMP policies by priority; empty: DefaultPolicies.
	Policies []Policy
	// DPD is `crypto isakmp keepalive`.
	DPD ike.DPD
	// Children are the crypto map entries negotiable with this peer, in
	// sequence order.
	Children []*ChildConfig
}

func (p *PeerConfig) check() error {
	switch {
	case p.Name == "":
		return errors.New("peer config without a name")
	case !p.Remote.IsValid():
		return fmt.Errorf("peer %s: no remote address or prefix", p.Name)
	case len(p.PSK) == 0:
		return fmt.Errorf("peer %s: no pre-shared key", p.Name)
	}
	for _, pol := range p.Policies {
		if err := pol.check(); err != nil {
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

func (p *PeerConfig) policies() []Policy {
	if len(p.Policies) > 0 {
		return p.Policies
	}
	return DefaultPolicies()
}

func (p *PeerConfig) child(name string) *ChildConfig {
	for _, c := range p.Children {
		if c.Name == name {
			return c
		}
	}
	return nil
}
