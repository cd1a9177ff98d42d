// Package config reads the gateway's configuration, checks it, and turns
// its crypto policy into what the data plane and IKE work from.
//
// What it receives: a system file (YAML, TOML or JSON; every setting
// overridable by an IPSECGW_... environment variable) holding the system
// settings (interfaces and their drivers, data plane sizing, static
// neighbours and routes, control socket, metrics, logging) and the crypto
// policy, written as on Cisco IOS XE (policy_file: or inline policy: |) or
// as the same objects in YAML (policy: mapping); or a bare IOS-style policy
// file.
//
// How data flows:
//
//	Load ── system settings ── viper (+ IPSECGW_ variables) ──────────────► Config.System
//	   └─── policy: IOS text ──► parser ◄── YAML objects as IOS commands
//	                               │  (modes decided by commands, not indentation;
//	                               │   every object keeps its FILE:LINE)
//	                               ▼
//	                        Policy (the model) ──► validation ──► Config.Diags
//	                               │                              (FILE:LINE: error|warning: ...)
//	        ┌──────────────────────┼──────────────────────────┐
//	        ▼                      ▼                          ▼
//	CompileInterface       Render (show running-config)    PeerCheck (config peer-check)
//	  []spd.Rule ──► spd.Compile (fast path classifier)
//	  []*CompiledEntry ──► slow path: SAs (manual keys), IKE (peers,
//	                       transform sets, PFS, lifetimes, profiles)
//
// The model (Policy) keeps what was configured, references by name and
// resolved to pointers; CompileInterface resolves settings to what SAs need
// (entry value, else the global `crypto ipsec security-association` value,
// else the IOS default) and flattens the crypto map applied to an interface
// into ordered spd.Rules with IOS first-match semantics.
//
// Secrets (pre-shared keys, manual session keys) are Secret and Key values
// that print as <redacted> through fmt and encoders; Render shows them only
// when asked.
package config
