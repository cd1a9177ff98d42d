package control

// The views: what each command answers, as plain data. The backend fills
// them; the Write* functions render them as IOS text; --json prints them
// as they are. Field names follow the IOS output they stand for.

// CryptoMapSet is one crypto map set (all entries of one name) for show
// crypto map.
type CryptoMapSet struct {
	Name string `json:"name"`
	// LocalAddress is the interface of `crypto map NAME local-address`.
	LocalAddress string           `json:"local_address,omitempty"`
	Entries      []CryptoMapEntry `json:"entries"`
	// Interfaces lists the interfaces the map is applied to.
	Interfaces []string `json:"interfaces"`
}

// CryptoMapEntry is one crypto map or dynamic map entry with its settings
// resolved as the SAs it makes use them.
type CryptoMapEntry struct {
	Map  string `json:"map"`
	Seq  int    `json:"seq"`
	Kind string `json:"kind"` // ipsec-isakmp, ipsec-manual, ipsec-isakmp dynamic
	// DynamicMap names the dynamic map a dynamic entry includes.
	DynamicMap  string   `json:"dynamic_map,omitempty"`
	Description string   `json:"description,omitempty"`
	Peers       []string `json:"peers"`
	ACL         *ACL     `json:"acl,omitempty"`
	// CurrentPeer is the peer the entry's SAs are with now, or the first
	// configured peer when none is up.
	CurrentPeer   string         `json:"current_peer,omitempty"`
	LifetimeKB    int64          `json:"lifetime_kilobytes,omitempty"`
	LifetimeSec   int64          `json:"lifetime_seconds,omitempty"`
	PFS           string         `json:"pfs,omitempty"` // "group19"; empty: no PFS
	PerHost       bool           `json:"per_host,omitempty"`
	ReplayWindow  int            `json:"replay_window"` // 0: replay detection disabled
	TransformSets []TransformSet `json:"transform_sets"`
	IKEv2Profile  string         `json:"ikev2_profile,omitempty"`
	ReverseRoute  bool           `json:"reverse_route,omitempty"`
	ResponderOnly bool           `json:"responder_only"`
	ManualSAs     []ManualSPI    `json:"manual_sas,omitempty"`
	// CreatedFrom ("dyn/10") marks a temporary entry IKE filled from that
	// dynamic map entry (no match address: the negotiated selectors).
	CreatedFrom string `json:"created_from,omitempty"`
}

// ACL is a crypto access list as show crypto map prints it.
type ACL struct {
	Name  string   `json:"name"`
	IPv6  bool     `json:"ipv6,omitempty"`
	Lines []string `json:"lines"` // "permit ip 10.1.1.0 0.0.0.255 10.2.1.0 0.0.0.255"
}

// ManualSPI is one SA of an ipsec-manual entry (keys are never shown).
type ManualSPI struct {
	Direction string `json:"direction"` // inbound, outbound
	Protocol  string `json:"protocol"`  // esp, ah
	SPI       uint32 `json:"spi"`
}

// TransformSet is `crypto ipsec transform-set`.
type TransformSet struct {
	Name       string `json:"name"`
	Transforms string `json:"transforms"` // "esp-aes 256 esp-sha256-hmac"
	Mode       string `json:"mode"`       // Tunnel, Transport
}

// DynamicMap is one dynamic crypto map set for show crypto dynamic-map.
type DynamicMap struct {
	Name    string           `json:"name"`
	Entries []CryptoMapEntry `json:"entries"`
}

// SAFlow is one flow of show crypto ipsec sa: the SAs that protect one
// pair of traffic selectors with one peer, inbound and outbound, with the
// flow's counters summed over them.
type SAFlow struct {
	Interface string `json:"interface"`
	Map       string `json:"map"`
	Seq       int    `json:"seq"`
	Manual    bool   `json:"manual"`
	// Local and Remote are the protected traffic, one pair per
	// selector the SAs carry.
	Idents     []IdentPair `json:"idents"`
	Peer       string      `json:"current_peer"`
	PeerPort   int         `json:"peer_port"`
	LocalAddr  string      `json:"local_crypto_endpoint"`
	RemoteAddr string      `json:"remote_crypto_endpoint"`
	Encaps     uint64      `json:"pkts_encaps"`
	Encrypt    uint64      `json:"pkts_encrypt"`
	Digest     uint64      `json:"pkts_digest"`
	Decaps     uint64      `json:"pkts_decaps"`
	Decrypt    uint64      `json:"pkts_decrypt"`
	Verify     uint64      `json:"pkts_verify"`
	BytesOut   uint64      `json:"bytes_encaps"`
	BytesIn    uint64      `json:"bytes_decaps"`
	SendErrors uint64      `json:"send_errors"`
	RecvErrors uint64      `json:"recv_errors"`
	// SendDrops and RecvDrops count the flow's outbound and inbound
	// drops by reason, every reason listed.
	SendDrops    map[string]uint64 `json:"send_drops"`
	RecvDrops    map[string]uint64 `json:"recv_drops"`
	PlaintextMTU int               `json:"plaintext_mtu"`
	PathMTU      int               `json:"path_mtu"`
	MTUInterface string            `json:"ip_mtu_idb"`
	CurrentSPI   uint32            `json:"current_outbound_spi"`
	PFS          bool              `json:"pfs"`
	DHGroup      string            `json:"dh_group"` // "group19", or "none"
	Inbound      []SA              `json:"inbound"`
	Outbound     []SA              `json:"outbound"`
}

// IdentPair is one local/remote ident pair of a flow.
type IdentPair struct {
	Local  Ident `json:"local"`
	Remote Ident `json:"remote"`
}

// Ident is one side of a flow as IOS prints it: addr/mask/prot/port.
type Ident struct {
	Addr  string `json:"addr"`
	Mask  string `json:"mask"` // dotted for IPv4, the prefix length for IPv6
	Proto uint8  `json:"prot"`
	Port  string `json:"port"` // "0" for any, "80", or "1024-2047"
}

// SA is one security association of a flow.
type SA struct {
	Protocol  string `json:"protocol"` // esp, ah
	SPI       uint32 `json:"spi"`
	Transform string `json:"transform"` // "esp-gcm 128"
	Mode      string `json:"mode"`      // Tunnel, Transport
	UDPEncap  bool   `json:"udp_encap,omitempty"`
	ConnID    int    `json:"conn_id"`
	// RemainingKB and RemainingSec are the key lifetime left; -1 means
	// no limit (manual SAs).
	RemainingKB  int64             `json:"remaining_kilobytes"`
	RemainingSec int64             `json:"remaining_seconds"`
	ReplayWindow int               `json:"replay_window"` // 0: no replay detection
	Status       string            `json:"status"`
	Packets      uint64            `json:"packets"`
	Bytes        uint64            `json:"bytes"`
	SeqNumber    uint64            `json:"seq_number"` // outbound: last sent; inbound: highest verified
	AgeSeconds   int64             `json:"age_seconds"`
	Expired      string            `json:"lifetime_expired"`
	Drops        map[string]uint64 `json:"drops"`
}

// IKEv2SA is one IKE SA of show crypto ikev2 sa.
type IKEv2SA struct {
	TunnelID   uint64       `json:"tunnel_id"`
	Local      string       `json:"local"`  // address/port
	Remote     string       `json:"remote"` // address/port
	Status     string       `json:"status"` // READY, IN-NEG, DELETE
	State      string       `json:"state"`  // the engine's state name
	Role       string       `json:"role"`   // Initiator, Responder
	Encr       string       `json:"encr"`
	KeySize    int          `json:"keysize"`
	PRF        string       `json:"prf"`
	Hash       string       `json:"hash"`
	DHGroup    int          `json:"dh_group"`
	AuthSign   string       `json:"auth_sign"`
	AuthVerify string       `json:"auth_verify"`
	LifeSec    int64        `json:"life_seconds"`
	ActiveSec  int64        `json:"active_seconds"`
	SPIi       string       `json:"spi_i"`
	SPIr       string       `json:"spi_r"`
	LocalID    string       `json:"local_id"`
	RemoteID   string       `json:"remote_id"`
	NATLocal   bool         `json:"nat_local"`
	NATRemote  bool         `json:"nat_remote"`
	ChildSAs   []ChildSARef `json:"child_sas"`
}

// ChildSARef is one CHILD_SA of an IKE SA.
type ChildSARef struct {
	Map       string   `json:"map"`
	Seq       int      `json:"seq"`
	Protocol  string   `json:"protocol"`
	InSPI     uint32   `json:"in_spi"`
	OutSPI    uint32   `json:"out_spi"`
	Transform string   `json:"transform"`
	LocalTS   []string `json:"local_ts"`
	RemoteTS  []string `json:"remote_ts"`
}

// ISAKMPSA is one IKEv1 (ISAKMP) SA of show crypto isakmp sa.
type ISAKMPSA struct {
	Dst    string `json:"dst"`
	Src    string `json:"src"`
	State  string `json:"state"` // MM_NO_STATE ... QM_IDLE
	ConnID int    `json:"conn_id"`
	Status string `json:"status"` // ACTIVE, DELETED
}

// RunningConfig is the live crypto policy in IOS syntax, keys redacted.
type RunningConfig struct {
	Text string `json:"config"`
}

// DebugState is one subsystem's logging level.
type DebugState struct {
	Subsystem string `json:"subsystem"`
	Level     string `json:"level"`
	Debug     bool   `json:"debug"`
}

// Cleared reports what clear crypto sa / session did.
type Cleared struct {
	// Deleted counts negotiated SAs deleted (with the peer, when IKE
	// runs); Reinstalled counts manual SAs rebuilt from the configuration
	// with fresh counters (IOS clears and reinitialises them).
	Deleted     int      `json:"deleted"`
	Reinstalled int      `json:"reinstalled"`
	IKESAs      int      `json:"ike_sas"`
	Notes       []string `json:"notes,omitempty"`
}

// ReloadResult reports a reload: applied, or rejected with the errors
// while the old configuration keeps running.
type ReloadResult struct {
	File    string   `json:"file"`
	Applied bool     `json:"applied"`
	Errors  []string `json:"errors,omitempty"`
	Changes []string `json:"changes,omitempty"`
	// Restart lists changed settings that take effect only when the
	// gateway restarts.
	Restart []string `json:"restart,omitempty"`
	// SA counts.
	Kept     int `json:"sas_kept"`
	Replaced int `json:"sas_replaced"`
	Added    int `json:"sas_added"`
	Removed  int `json:"sas_removed"`
	Unbound  int `json:"sas_unbound"`
}

// Explanation is the packet tracer's answer.
type Explanation struct {
	Packet string  `json:"packet"`
	Live   bool    `json:"live"`
	Phases []Phase `json:"phases"`
	// Action is what happens to the packet (Action* constants).
	Action  string `json:"action"`
	Verdict string `json:"verdict"`
	// Entry and SA are set when a crypto map entry matched and when an
	// SA carries (or would carry) the packet.
	Entry    *ExplainEntry `json:"entry,omitempty"`
	SA       *ExplainSA    `json:"sa,omitempty"`
	Proposal *Proposal     `json:"proposal,omitempty"`
	// Problems are reasons in plain words why a tunnel cannot come up.
	Problems []string `json:"problems,omitempty"`
}

// What explain says happens to a packet.
const (
	ActionBypass          = "bypass"           // forwarded in the clear
	ActionProtect         = "protect"          // encrypted by an installed SA
	ActionNegotiate       = "negotiate"        // dropped while IKE negotiates an SA (ACQUIRE)
	ActionDropNoSA        = "drop-no-sa"       // protected traffic without an SA and nothing will negotiate one
	ActionDropUnprotected = "drop-unprotected" // cleartext that must arrive protected
	ActionDropNoRoute     = "drop-no-route"
	ActionLocal           = "local" // addressed to the gateway itself
)

// Phase is one step of the trace.
type Phase struct {
	Name   string   `json:"name"`
	Result string   `json:"result"`
	Detail []string `json:"detail"`
}

// ExplainEntry is the crypto map entry and ACL line that matched.
type ExplainEntry struct {
	Interface string `json:"interface"`
	Map       string `json:"map"`
	Seq       int    `json:"seq"`
	Kind      string `json:"kind"`
	// DynamicMap and DynamicSeq name the dynamic map entry expanded
	// into the crypto map.
	DynamicMap string `json:"dynamic_map,omitempty"`
	DynamicSeq int    `json:"dynamic_seq,omitempty"`
	ACL        string `json:"acl"`
	Line       int    `json:"line"`
	LineText   string `json:"line_text"`
}

// ExplainSA is the SA that carries the packet.
type ExplainSA struct {
	Direction string `json:"direction"`
	Protocol  string `json:"protocol"`
	SPI       uint32 `json:"spi"`
	Transform string `json:"transform"`
	Mode      string `json:"mode"`
	Local     string `json:"local"`
	Peer      string `json:"peer"`
	Manual    bool   `json:"manual"`
	Packets   uint64 `json:"packets"`
}

// Proposal is what IKE would negotiate for the packet.
type Proposal struct {
	IKE           string         `json:"ike"` // "IKEv2 (profile P)" or "IKEv1 (crypto isakmp)"
	Peers         []string       `json:"peers"`
	TransformSets []TransformSet `json:"transform_sets"`
	Local         Ident          `json:"local"`
	Remote        Ident          `json:"remote"`
	PFS           string         `json:"pfs,omitempty"`
	LifetimeKB    int64          `json:"lifetime_kilobytes"`
	LifetimeSec   int64          `json:"lifetime_seconds"`
}
