package config

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"

	"ipsecgw/crypto"
	"ipsecgw/spd"
)

// Policy is the crypto policy of one gateway as configured: what the IOS
// text (or its YAML form) says, with every object carrying the position it
// was defined at. References are kept by name (as configured, for rendering)
// and resolved to pointers by validation; a reference that does not resolve
// is an error and leaves the pointer nil.
//
// Values not configured stay zero here; CompileInterface applies the global
// settings and IOS defaults.
type Policy struct {
	Hostname string

	ACLs          map[string]*ACL // by number or name
	TransformSets map[string]*TransformSet
	CryptoMaps    map[string]*CryptoMap
	DynamicMaps   map[string]*DynamicMap
	Interfaces    map[string]*Interface // IOS `interface` stanzas by name
	Routes        []Route               // `ip route`, `ipv6 route`

	ISAKMP ISAKMP
	IKEv2  IKEv2
	IPsec  IPsecGlobals

	// DefaultReplayWindow is the system setting dataplane.replay_window,
	// used when neither the entry nor the IOS global sets a window; 0 means
	// the IOS default of 64. It is not part of the IOS text.
	DefaultReplayWindow int

	invalid bool // validation found errors
}

// NewPolicy returns an empty policy.
func NewPolicy() *Policy {
	return &Policy{
		ACLs:          map[string]*ACL{},
		TransformSets: map[string]*TransformSet{},
		CryptoMaps:    map[string]*CryptoMap{},
		DynamicMaps:   map[string]*DynamicMap{},
		Interfaces:    map[string]*Interface{},
		IKEv2: IKEv2{
			Proposals: map[string]*IKEv2Proposal{},
			Policies:  map[string]*IKEv2Policy{},
			Keyrings:  map[string]*IKEv2Keyring{},
			Profiles:  map[string]*IKEv2Profile{},
		},
	}
}

// Valid reports whether validation found no error.
func (p *Policy) Valid() bool { return !p.invalid }

// IOS defaults for IPsec SAs.
const (
	DefaultLifetimeSeconds   = 3600
	DefaultLifetimeKilobytes = 4608000
	DefaultReplayWindow      = 64
)

// ReplayDisabled in a ReplayWindow field means `replay disable`; 0 means
// not configured.
const ReplayDisabled = -1

// ACL is an extended access list: numbered (100–199, 2000–2699), named
// (`ip access-list extended NAME`) or IPv6 (`ipv6 access-list NAME`).
type ACL struct {
	Name  string
	IPv6  bool
	Lines []*ACLLine
	Pos   Pos
}

// Numbered reports whether the list is written as `access-list N`.
func (a *ACL) Numbered() bool {
	n, err := strconv.Atoi(a.Name)
	return err == nil && !a.IPv6 && extendedACLNumber(n)
}

func extendedACLNumber(n int) bool { return (n >= 100 && n <= 199) || (n >= 2000 && n <= 2699) }

// ACLLine is one permit or deny statement. The selector is in the outbound
// direction (source = this side), as crypto ACLs are written.
type ACLLine struct {
	Line   int // 1-based position in the list
	Permit bool
	Sel    spd.Selector
	Log    bool
	Pos    Pos
}

// Rule returns the line as an SPD rule of crypto map entry index entry.
func (l *ACLLine) Rule(entry int) spd.Rule {
	return spd.Rule{Sel: l.Sel, Permit: l.Permit, Entry: entry, Line: l.Line}
}

// Mode is the IPsec encapsulation mode of a transform set.
type Mode uint8

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

// TransformSet is `crypto ipsec transform-set`, resolved to what the SAs it
// produces apply: an optional AH integrity algorithm and an optional ESP
// transform (Cipher CipherNone: no ESP; CipherNull: ESP without encryption).
// With both, ESP is applied first and AH outside it.
type TransformSet struct {
	Name string
	AH   crypto.Integ
	ESP  crypto.Transform
	Mode Mode
	Pos  Pos
}

// HasAH reports whether the set includes an AH transform.
func (t *TransformSet) HasAH() bool { return t.AH != crypto.IntegNone }

// HasESP reports whether the set includes ESP.
func (t *TransformSet) HasESP() bool { return t.ESP.Cipher != crypto.CipherNone }

// Same reports whether two sets negotiate the same SAs: same transforms and
// mode (the names may differ).
func (t *TransformSet) Same(o *TransformSet) bool {
	return t.AH == o.AH && t.ESP == o.ESP && t.Mode == o.Mode
}

// EntryKind is how a crypto map entry gets its SAs.
type EntryKind uint8

const (
	ISAKMPEntry  EntryKind = iota // ipsec-isakmp: negotiated by IKE
	ManualEntry                   // ipsec-manual: keys from the configuration
	DynamicEntry                  // ipsec-isakmp dynamic NAME: a reference to a dynamic map
)

func (k EntryKind) String() string {
	switch k {
	case ManualEntry:
		return "ipsec-manual"
	case DynamicEntry:
		return "ipsec-isakmp dynamic"
	}
	return "ipsec-isakmp"
}

// Lifetime is an SA lifetime; zero fields are not configured.
type Lifetime struct {
	Seconds   int64
	Kilobytes int64
}

// DHGroup is a Diffie-Hellman group by its IANA number (IKEv2 Transform
// Type 4, the same numbers IOS's groupN uses).
type DHGroup uint16

// dhGroups lists the groups the configuration accepts.
var dhGroups = []DHGroup{1, 2, 5, 14, 15, 16, 19, 20, 21, 24, 31}

func validGroup(g DHGroup) bool {
	for _, v := range dhGroups {
		if v == g {
			return true
		}
	}
	return false
}

// Deprecated reports groups RFC 8247 says MUST NOT or SHOULD NOT be used.
func (g DHGroup) Deprecated() bool { return g == 1 || g == 2 || g == 5 || g == 24 }

func (g DHGroup) String() string { return fmt.Sprintf("group%d", uint16(g)) }

// SessionKey is one manual SA's SPI and keys (`set session-key`). For ESP,
// Cipher is the cipher key (for AEAD ciphers followed by the 4-byte salt,
// RFC 4106 §8.1) and Auth the authenticator key; for AH, Auth is the key.
type SessionKey struct {
	SPI    uint32
	Cipher Key
	Auth   Key
	Pos    Pos
}

// SessionKeys are the manual SAs of an ipsec-manual entry; nil when not set.
type SessionKeys struct {
	InboundAH, OutboundAH   *SessionKey
	InboundESP, OutboundESP *SessionKey
}

// MapEntry is one crypto map or dynamic map entry with its `set` and
// `match` sub-commands. Fields not configured are zero.
type MapEntry struct {
	Map  string // the crypto map's or dynamic map's name
	Seq  int
	Kind EntryKind

	// Dynamic names the dynamic map a DynamicEntry includes.
	Dynamic     string
	DynamicMap  *DynamicMap
	Description string

	MatchAddress string // ACL name
	ACL          *ACL
	MatchPos     Pos

	Peers   []netip.Addr // in order of preference
	PeerPos Pos

	TransformSetNames []string
	TransformSets     []*TransformSet
	TransformPos      Pos

	Lifetime     Lifetime
	PerHost      bool
	ReplayWindow int // 0: not set; ReplayDisabled
	PFS          DHGroup
	PFSPos       Pos

	IKEv2ProfileName string
	IKEv2Profile     *IKEv2Profile
	ProfilePos       Pos

	SessionKeys  SessionKeys
	ReverseRoute bool

	Pos Pos
}

// Name is how diagnostics refer to the entry.
func (e *MapEntry) Name(dynamic bool) string {
	if dynamic {
		return fmt.Sprintf("dynamic-map %s %d", e.Map, e.Seq)
	}
	return fmt.Sprintf("crypto map %s %d", e.Map, e.Seq)
}

// CryptoMap is a crypto map set: its entries in sequence order and the
// interface whose address identifies it (`crypto map NAME local-address`).
type CryptoMap struct {
	Name            string
	Entries         []*MapEntry
	LocalAddress    string
	LocalAddressPos Pos
	Pos             Pos
}

// DynamicMap is a dynamic crypto map set: policy templates for peers that
// initiate, entries in sequence order.
type DynamicMap struct {
	Name    string
	Entries []*MapEntry
	Pos     Pos
}

// entry returns the entry with seq, creating it in order.
func entryAt(entries *[]*MapEntry, seq int, create func() *MapEntry) (*MapEntry, bool) {
	i := sort.Search(len(*entries), func(i int) bool { return (*entries)[i].Seq >= seq })
	if i < len(*entries) && (*entries)[i].Seq == seq {
		return (*entries)[i], false
	}
	e := create()
	*entries = append(*entries, nil)
	copy((*entries)[i+1:], (*entries)[i:])
	(*entries)[i] = e
	return e, true
}

// Interface is an IOS `interface` stanza: its addresses and crypto map.
// Addresses keep the interface's own address with the subnet's length;
// the first IPv4 address is the primary one.
type Interface struct {
	Name          string
	Description   string
	Addresses     []netip.Prefix
	CryptoMapName string
	CryptoMap     *CryptoMap
	CryptoMapPos  Pos
	Pos           Pos
}

// Addr returns the interface's first address of the family of like (the
// primary IPv4 address for an IPv4 peer), or the zero Addr.
func (i *Interface) Addr(like netip.Addr) netip.Addr {
	for _, p := range i.Addresses {
		if p.Addr().Is4() == like.Is4() {
			return p.Addr()
		}
	}
	return netip.Addr{}
}

// HasAddr reports whether a is one of the interface's addresses.
func (i *Interface) HasAddr(a netip.Addr) bool {
	for _, p := range i.Addresses {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

// Route is a static route: to Prefix via NextHop and/or out Interface.
type Route struct {
	Prefix    netip.Prefix
	NextHop   netip.Addr
	Interface string
	Distance  int // administrative distance; 0: the default (1)
	Pos       Pos
}

// Encryption is an IKE encryption algorithm with its key size.
type Encryption struct {
	Cipher  crypto.Cipher
	KeyBits int
}

// PRF is an IKE pseudo-random function (IKEv2 Transform Type 2 numbers); it
// is also IKEv1's `hash`.
type PRF uint16

// PRFs.
const (
	PRFNone         PRF = 0
	PRFHMACMD5      PRF = 1
	PRFHMACSHA1     PRF = 2
	PRFHMACSHA2_256 PRF = 5
	PRFHMACSHA2_384 PRF = 6
	PRFHMACSHA2_512 PRF = 7
)

// AuthMethod is how an IKE peer authenticates.
type AuthMethod uint8

const (
	AuthNone AuthMethod = iota
	AuthPreShare
	AuthRSASig
	AuthRSAEncr
	AuthECDSASig
)

// ISAKMP holds the IKEv1 configuration.
type ISAKMP struct {
	Policies  []*ISAKMPPolicy // by priority, lowest first
	Keys      []*ISAKMPKey
	Keepalive *Keepalive
}

// ISAKMPPolicy is `crypto isakmp policy N`. Attributes not configured hold
// the IOS defaults (des, sha, rsa-sig, group 1, 86400 s), as IOS shows them.
type ISAKMPPolicy struct {
	Priority       int
	Encryption     Encryption
	Hash           PRF
	Authentication AuthMethod
	Group          DHGroup
	Lifetime       int
	Pos            Pos
}

// ISAKMPKey is `crypto isakmp key KEY address A [MASK]`.
type ISAKMPKey struct {
	Key  Secret
	Peer netip.Prefix
	Pos  Pos
}

// Keepalive is `crypto isakmp keepalive` (IKEv1 dead peer detection).
type Keepalive struct {
	Interval, Retry int
	Periodic        bool // else on-demand
	Pos             Pos
}

// IKEv2 holds the IKEv2 configuration.
type IKEv2 struct {
	Proposals map[string]*IKEv2Proposal
	Policies  map[string]*IKEv2Policy
	Keyrings  map[string]*IKEv2Keyring
	Profiles  map[string]*IKEv2Profile
}

// IKEv2Proposal is `crypto ikev2 proposal`: the algorithms of one IKE SA
// proposal, each list in order of preference.
type IKEv2Proposal struct {
	Name       string
	Encryption []Encryption
	Integrity  []crypto.Integ
	PRF        []PRF
	Groups     []DHGroup
	Pos        Pos
}

// AEAD reports whether the proposal's ciphers are combined-mode ones.
func (p *IKEv2Proposal) AEAD() bool { return len(p.Encryption) > 0 && p.Encryption[0].Cipher.AEAD() }

// PRFs returns the configured PRFs or, when none is, the ones IOS derives
// from the integrity algorithms.
func (p *IKEv2Proposal) PRFs() []PRF {
	if len(p.PRF) > 0 {
		return p.PRF
	}
	var out []PRF
	for _, i := range p.Integrity {
		out = append(out, prfForInteg(i))
	}
	return out
}

func prfForInteg(i crypto.Integ) PRF {
	switch i {
	case crypto.IntegHMACMD5_96:
		return PRFHMACMD5
	case crypto.IntegHMACSHA1_96:
		return PRFHMACSHA1
	case crypto.IntegHMACSHA256_128:
		return PRFHMACSHA2_256
	case crypto.IntegHMACSHA384_192:
		return PRFHMACSHA2_384
	case crypto.IntegHMACSHA512_256:
		return PRFHMACSHA2_512
	}
	return PRFNone
}

// DefaultIKEv2Proposals is what an IKEv2 gateway proposes and accepts when
// no `crypto ikev2 policy` applies, modelled on IOS XE's smart defaults
// without the groups RFC 8247 deprecates.
func DefaultIKEv2Proposals() []*IKEv2Proposal {
	groups := []DHGroup{19, 20, 21, 14, 16, 15}
	sha2 := []PRF{PRFHMACSHA2_512, PRFHMACSHA2_384, PRFHMACSHA2_256}
	return []*IKEv2Proposal{
		{
			Name:       "default",
			Encryption: []Encryption{{crypto.CipherAESCBC, 256}, {crypto.CipherAESCBC, 128}},
			Integrity:  []crypto.Integ{crypto.IntegHMACSHA512_256, crypto.IntegHMACSHA384_192, crypto.IntegHMACSHA256_128},
			PRF:        sha2,
			Groups:     groups,
		},
		{
			Name:       "default-aead",
			Encryption: []Encryption{{crypto.CipherAESGCM16, 256}, {crypto.CipherAESGCM16, 128}},
			PRF:        sha2,
			Groups:     groups,
		},
	}
}

// IKEv2Policy is `crypto ikev2 policy`: which proposals to use for IKE SAs
// on which local addresses (none: all).
type IKEv2Policy struct {
	Name          string
	ProposalNames []string
	ProposalPos   []Pos // where each proposal was named
	Proposals     []*IKEv2Proposal
	MatchLocal    []netip.Addr
	Pos           Pos
}

// IKEv2Keyring is `crypto ikev2 keyring`: pre-shared keys by peer.
type IKEv2Keyring struct {
	Name  string
	Peers []*KeyringPeer
	Pos   Pos
}

// KeyringPeer is a keyring's `peer` block. PSK is the symmetric
// `pre-shared-key KEY`; LocalPSK and RemotePSK the asymmetric forms (the key
// this side signs with, and the one it expects from the peer).
type KeyringPeer struct {
	Name        string
	Description string
	Address     netip.Prefix
	PSK         Secret
	LocalPSK    Secret
	RemotePSK   Secret
	Pos         Pos
}

// LocalKey is the key this gateway authenticates itself with.
func (k *KeyringPeer) LocalKey() Secret {
	if k.LocalPSK != "" {
		return k.LocalPSK
	}
	return k.PSK
}

// RemoteKey is the key the peer must authenticate with.
func (k *KeyringPeer) RemoteKey() Secret {
	if k.RemotePSK != "" {
		return k.RemotePSK
	}
	return k.PSK
}

// Peer returns the most specific peer block whose address covers a.
func (k *IKEv2Keyring) Peer(a netip.Addr) *KeyringPeer {
	var best *KeyringPeer
	for _, p := range k.Peers {
		if p.Address.IsValid() && p.Address.Contains(a) && (best == nil || p.Address.Bits() > best.Address.Bits()) {
			best = p
		}
	}
	return best
}

// IKEv2ProposalsFor returns the IKE SA proposals used on local address a:
// those of the IKEv2 policies that match it, else of the policies without
// match address local, else DefaultIKEv2Proposals.
func (p *Policy) IKEv2ProposalsFor(a netip.Addr) []*IKEv2Proposal {
	var specific, any []*IKEv2Proposal
	for _, n := range sortedKeys(p.IKEv2.Policies) {
		ip := p.IKEv2.Policies[n]
		switch {
		case len(ip.MatchLocal) == 0:
			any = append(any, ip.Proposals...)
		case hasAddr(ip.MatchLocal, a):
			specific = append(specific, ip.Proposals...)
		}
	}
	switch {
	case len(specific) > 0:
		return specific
	case len(any) > 0:
		return any
	}
	return DefaultIKEv2Proposals()
}

// ISAKMPKeyFor returns the most specific `crypto isakmp key` covering peer
// a, or nil.
func (p *Policy) ISAKMPKeyFor(a netip.Addr) *ISAKMPKey {
	var best *ISAKMPKey
	for _, k := range p.ISAKMP.Keys {
		if k.Peer.Contains(a) && (best == nil || k.Peer.Bits() > best.Peer.Bits()) {
			best = k
		}
	}
	return best
}

// DPD is the IKEv2 profile's dead peer detection setting.
type DPD struct {
	Interval, Retry int
	Periodic        bool // else on-demand
}

// IKEv2Profile is `crypto ikev2 profile`: how to authenticate which peers.
type IKEv2Profile struct {
	Name        string
	Description string
	MatchRemote []netip.Prefix // match identity remote address (any: 0.0.0.0/0 and ::/0)
	// MatchRemoteAny is match identity remote any: peers of every identity
	// type (address, FQDN, e-mail, key ID) match, not only addresses.
	MatchRemoteAny bool
	MatchLocal     []netip.Addr // match address local
	LocalIdentity  netip.Addr   // identity local address; zero: the local address
	AuthLocal      AuthMethod
	AuthRemote     AuthMethod
	KeyringName    string
	Keyring        *IKEv2Keyring
	KeyringPos     Pos
	Lifetime       int // seconds; 0: the IOS default 86400
	DPD            *DPD
	Pos            Pos
}

// MatchesRemote reports whether the profile accepts a peer identified by
// address a.
func (p *IKEv2Profile) MatchesRemote(a netip.Addr) bool {
	for _, m := range p.MatchRemote {
		if m.Contains(a) {
			return true
		}
	}
	return false
}

// Default IKE SA lifetimes (IOS).
const (
	DefaultIKEv2Lifetime  = 86400
	DefaultISAKMPLifetime = 86400
)

// IPsecGlobals are the `crypto ipsec security-association` settings.
type IPsecGlobals struct {
	Lifetime     Lifetime
	ReplayWindow int // 0: not set; ReplayDisabled
}

// sortedKeys returns a map's keys in the order show running-config lists
// them: numbers numerically first, then names.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return nameLess(keys[i], keys[j]) })
	return keys
}

func nameLess(a, b string) bool {
	na, ea := strconv.Atoi(a)
	nb, eb := strconv.Atoi(b)
	switch {
	case ea == nil && eb == nil:
		return na < nb
	case ea == nil:
		return true
	case eb == nil:
		return false
	}
	return a < b
}
