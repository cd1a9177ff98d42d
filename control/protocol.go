package control

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Version is the protocol version this package speaks. A server answers a
// request of another version with an error naming both, so an old CLI
// talking to a new gateway (or the reverse) says so instead of
// misreading fields.
const Version = 1

// Commands, as the CLI types them (IOS words).
const (
	CmdShowCryptoMap      = "show crypto map"
	CmdShowIPsecSA        = "show crypto ipsec sa"
	CmdShowIKEv2SA        = "show crypto ikev2 sa"
	CmdShowISAKMPSA       = "show crypto isakmp sa"
	CmdShowTransformSet   = "show crypto ipsec transform-set"
	CmdShowDynamicMap     = "show crypto dynamic-map"
	CmdShowRunningConfig  = "show running-config"
	CmdShowDebugging      = "show debugging"
	CmdClearCryptoSA      = "clear crypto sa"
	CmdClearCryptoSession = "clear crypto session"
	CmdDebug              = "debug"
	CmdExplain            = "explain"
	CmdReload             = "reload"
)

// Request is what the client sends: one per connection.
type Request struct {
	Version int             `json:"version"`
	Command string          `json:"command"`
	Args    json.RawMessage `json:"args,omitempty"`
}

// Response is the server's answer: Data on success (the command's view as
// JSON), Error otherwise.
type Response struct {
	Version int             `json:"version"`
	Error   string          `json:"error,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// MapFilter narrows show crypto map: to the map applied to Interface, or to
// the map set named Tag; empty: every map.
type MapFilter struct {
	Interface string `json:"interface,omitempty"`
	Tag       string `json:"tag,omitempty"`
}

// SAFilter narrows show crypto ipsec sa to one peer or one crypto map;
// Detail asks for every counter.
type SAFilter struct {
	Peer   string `json:"peer,omitempty"`
	Map    string `json:"map,omitempty"`
	Detail bool   `json:"detail,omitempty"`
}

// TagFilter narrows a show to one named object; empty: all.
type TagFilter struct {
	Tag string `json:"tag,omitempty"`
}

// ClearSA selects the SAs clear crypto sa deletes: all (zero value), those
// with one peer, those of one crypto map, or the one SA with destination
// address Dst, protocol Protocol ("esp" or "ah") and SPI.
type ClearSA struct {
	Peer     string `json:"peer,omitempty"`
	Map      string `json:"map,omitempty"`
	Dst      string `json:"dst,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	SPI      uint32 `json:"spi,omitempty"`
}

// DebugRequest turns a subsystem's debugging on (debug crypto X) or off
// (undebug crypto X); Subsystem "all" means every crypto subsystem, and
// off for "all" restores the configured level everywhere (undebug all).
type DebugRequest struct {
	Subsystem string `json:"subsystem"`
	On        bool   `json:"on"`
}

// ExplainRequest is a packet to trace: it arrives on interface In.
// PeerConfig optionally names the peer gateway's configuration file
// (absolute path, read by the gateway) so that explain can say why a
// tunnel to it cannot come up.
type ExplainRequest struct {
	In         string `json:"in"`
	Src        string `json:"src"`
	Dst        string `json:"dst"`
	Proto      uint8  `json:"proto,omitempty"`
	SrcPort    uint16 `json:"src_port,omitempty"`
	DstPort    uint16 `json:"dst_port,omitempty"`
	PeerConfig string `json:"peer_config,omitempty"`
}

// ErrVersion is returned for a request or response of another protocol
// version.
var ErrVersion = errors.New("control: protocol version mismatch")

func versionError(got int) error {
	return fmt.Errorf("%w: peer speaks version %d, this side %d (use the ipsecgw binary of the running gateway)", ErrVersion, got, Version)
}
