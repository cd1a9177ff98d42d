// Package control is the operator's way into a running gateway: a unix
// control socket, the small versioned JSON protocol spoken over it, and the
// IOS-style text of every show command.
//
// Data flow:
//
//	ipsecgw show/clear/debug/explain/reload (CLI)
//	    │ Client.Call: one Request per connection, JSON
//	    ▼
//	control.socket (mode 0600) ── Server ── Backend (slowpath.Ops on the
//	    ▲                                    running gateway: SAD, crypto
//	    │ Response{data}                     maps, IKE, logs, reload)
//	    └── the CLI renders data as IOS text (Write* functions) or prints
//	        it as JSON (--json): both come from the same view values.
//
// The package knows nothing of the gateway's internals: the views in
// views.go are plain data, filled by the Backend and read by the renderers,
// so the runtime that serves the socket is separate from the protocol, and
// text and JSON cannot disagree. No view carries key material: SPIs,
// algorithms and counters only.
package control
