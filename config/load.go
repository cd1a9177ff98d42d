package config

import (
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// Config is a loaded gateway configuration: system settings and crypto
// policy, with the diagnostics found while loading them.
type Config struct {
	File   string // the file loaded
	System System
	Policy *Policy
	// PolicyFile is the IOS text the policy came from: File itself for a
	// bare policy file, the policy_file setting, or "" for a policy inline
	// in File (as IOS text or YAML).
	PolicyFile string
	Diags      Diagnostics
}

// Load reads a gateway configuration: a system file (YAML, TOML or JSON,
// by extension, or YAML recognised by its keys), whose settings
// IPSECGW_... variables override, with the crypto policy in policy_file,
// inline IOS text (`policy: |`) or YAML objects (`policy:` mapping); or a
// bare IOS-style policy file.
//
// The configuration comes back with its diagnostics even when they hold
// errors; err is then an *InvalidError listing them. cfg is nil only when
// the file cannot be read (or an IPSECGW_ list variable is malformed);
// cfg.Policy is nil when the system file itself does not parse.
func Load(path string) (cfg *Config, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return LoadBytes(path, data)
}

// LoadBytes is Load of data read from path (which names it in messages and
// anchors relative paths).
func LoadBytes(path string, data []byte) (*Config, error) {
	d := &diags{}
	cfg := &Config{File: path}
	ext := systemExt(path, data)
	if ext == "" {
		cfg.PolicyFile = path
		p := newParser(d)
		p.feedText(path, data, 0)
		p.finish()
		cfg.Policy = p.pol
		cfg.System = defaultSystem()
		cfg.Diags = d.list
		return cfg, cfg.Diags.Err()
	}
	s := &sysLoader{file: path, dir: filepath.Dir(path), d: d, envSet: map[string]string{}}
	sys, raw, policyNode, err := s.load(data, ext)
	if err != nil {
		return nil, err
	}
	if sys == nil { // a file or settings that do not decode
		cfg.Diags = d.list
		return cfg, cfg.Diags.Err()
	}
	cfg.System = *sys
	routes := s.routes(raw)
	var sysNames []string
	for _, i := range sys.Interfaces {
		sysNames = append(sysNames, i.Name)
	}
	p := newParser(d)
	p.pol.DefaultReplayWindow = sys.Dataplane.ReplayWindow
	inlineText, inline := raw.Policy.(string)
	switch {
	case raw.PolicyFile != "" && raw.Policy != nil:
		d.errorf(s.pos("policy"), "policy and policy_file are both set: give the policy one way")
	case raw.PolicyFile != "":
		cfg.PolicyFile = s.path(raw.PolicyFile)
		text, err := os.ReadFile(cfg.PolicyFile)
		if err != nil {
			d.errorf(s.pos("policy_file"), "policy_file: %v", err)
			break
		}
		p.feedText(cfg.PolicyFile, text, 0)
	case inline:
		file, offset := s.inlinePos()
		p.feedText(file, []byte(inlineText), offset)
	case policyNode != nil:
		(&yamlPolicy{p: p, file: path}).policy(policyNode)
	case raw.Policy != nil:
		d.errorf(s.pos("policy"), "policy: want IOS text (policy: |) or, in YAML and JSON files, a mapping of policy objects")
	default:
		d.warnf(Pos{File: path}, "no policy or policy_file: all traffic bypasses IPsec")
	}
	p.pol.Routes = append(p.pol.Routes, routes...)
	p.finish(sysNames...)
	cfg.Policy = p.pol
	crossCheck(cfg, d)
	cfg.Diags = d.list
	return cfg, cfg.Diags.Err()
}

// systemExt returns the viper config type of a system file, or "" for an
// IOS-style policy file.
func systemExt(path string, data []byte) string {
	switch e := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), ".")); e {
	case "yaml", "yml":
		return "yaml"
	case "json", "toml":
		return e
	case "cfg", "ios", "txt":
		return ""
	}
	// Anything else: YAML if it is a mapping of system settings.
	var m map[string]any
	if yaml.Unmarshal(data, &m) != nil || len(m) == 0 {
		return ""
	}
	for k := range m {
		if !systemKeys[k] {
			return ""
		}
	}
	return "yaml"
}

func defaultSystem() System {
	return System{
		Dataplane: Dataplane{Batch: DefaultBatch, RXRing: DefaultRing, TXRing: DefaultRing, FillRing: DefaultFillRing, CompletionRing: DefaultFillRing},
		Control:   Control{Socket: DefaultControlSocket},
		Metrics:   Metrics{SASeriesLimit: DefaultSASeriesLimit},
		Log:       Log{Level: "info", Format: "text"},
	}
}

// crossCheck relates the system interfaces to the policy's interface
// stanzas.
func crossCheck(cfg *Config, d *diags) {
	pol := cfg.Policy
	sys := map[string]*SysInterface{}
	for _, i := range cfg.System.Interfaces {
		sys[i.Name] = i
		if pol.Interfaces[i.Name] == nil {
			d.warnf(i.Pos, "interface %s has no `interface %s` stanza in the policy: it has no IP address", i.Name, i.Name)
		}
	}
	if len(sys) == 0 {
		return
	}
	for _, n := range sortedKeys(pol.Interfaces) {
		if i := pol.Interfaces[n]; i.CryptoMapName != "" && sys[n] == nil {
			d.warnf(i.Pos, "interface %s has a crypto map but is not listed under interfaces: in %s: no traffic passes it", n, cfg.File)
		}
	}
}
