package control

import (
	"encoding/json"
	"fmt"
)

// Backend is the running gateway as the control socket sees it. The
// server calls it from one goroutine per connection, so implementations
// must be safe for concurrent use. Errors are the operator's (no such
// interface, malformed address) and go back to the CLI as they are.
type Backend interface {
	CryptoMaps(MapFilter) ([]CryptoMapSet, error)
	IPsecSAs(SAFilter) ([]SAFlow, error)
	IKEv2SAs() ([]IKEv2SA, error)
	ISAKMPSAs() ([]ISAKMPSA, error)
	TransformSets(TagFilter) ([]TransformSet, error)
	DynamicMaps(TagFilter) ([]DynamicMap, error)
	RunningConfig() (*RunningConfig, error)
	Debugging() ([]DebugState, error)
	ClearSA(ClearSA) (*Cleared, error)
	ClearSession() (*Cleared, error)
	Debug(DebugRequest) ([]DebugState, error)
	Explain(ExplainRequest) (*Explanation, error)
	Reload() (*ReloadResult, error)
}

// handler runs one command: it decodes the arguments, calls the backend
// and returns the view to send.
type handler func(b Backend, args json.RawMessage) (any, error)

// withArgs adapts a backend method taking arguments of type A.
func withArgs[A, V any](f func(Backend, A) (V, error)) handler {
	return func(b Backend, raw json.RawMessage) (any, error) {
		var a A
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &a); err != nil {
				return nil, fmt.Errorf("malformed arguments: %v", err)
			}
		}
		return f(b, a)
	}
}

// noArgs adapts a backend method without arguments.
func noArgs[V any](f func(Backend) (V, error)) handler {
	return func(b Backend, _ json.RawMessage) (any, error) { return f(b) }
}

// handlers maps every command to the backend method that answers it.
var handlers = map[string]handler{
	CmdShowCryptoMap:      withArgs(Backend.CryptoMaps),
	CmdShowIPsecSA:        withArgs(Backend.IPsecSAs),
	CmdShowIKEv2SA:        noArgs(Backend.IKEv2SAs),
	CmdShowISAKMPSA:       noArgs(Backend.ISAKMPSAs),
	CmdShowTransformSet:   withArgs(Backend.TransformSets),
	CmdShowDynamicMap:     withArgs(Backend.DynamicMaps),
	CmdShowRunningConfig:  noArgs(Backend.RunningConfig),
	CmdShowDebugging:      noArgs(Backend.Debugging),
	CmdClearCryptoSA:      withArgs(Backend.ClearSA),
	CmdClearCryptoSession: noArgs(Backend.ClearSession),
	CmdDebug:              withArgs(Backend.Debug),
	CmdExplain:            withArgs(Backend.Explain),
	CmdReload:             noArgs(Backend.Reload),
}
