package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"gopkg.in/yaml.v3"

	"ipsecgw/logging"
)

// System is the gateway's system settings: everything but the crypto
// policy. Static routes (`routes:`) join the policy's `ip route`s in
// Policy.Routes.
type System struct {
	Interfaces []*SysInterface
	Dataplane  Dataplane
	Neighbors  []Neighbor
	Control    Control
	Metrics    Metrics
	Log        Log
}

// Driver is how an interface moves packets.
type Driver string

const (
	DriverAFXDP Driver = "afxdp" // AF_XDP sockets on a Linux network device
	DriverPcap  Driver = "pcap"  // frames read from pcap_in, written to pcap_out
)

// SysInterface is one entry of `interfaces:`; Name is what the policy's
// `interface NAME` stanza refers to.
type SysInterface struct {
	Name    string
	Driver  Driver
	Device  string           // Linux network device (afxdp); defaults to Name
	MAC     net.HardwareAddr // required for pcap; afxdp reads the device's
	MTU     int
	Queues  int    // RX/TX queue pairs to use; 0: every queue of the device
	XDPMode string // auto, native or generic (afxdp)
	PcapIn  string // absolute paths (pcap)
	PcapOut string
	Pos     Pos
}

// Dataplane holds the fast path's sizing.
type Dataplane struct {
	Workers        int   // 0: one per queue
	CPUs           []int // CPUs to pin workers to, in worker order
	Batch          int   // packets per vector
	RXRing         int   // AF_XDP ring sizes (powers of two)
	TXRing         int
	FillRing       int
	CompletionRing int
	ReplayWindow   int // default anti-replay window when the policy sets none; 0: 64
}

// Neighbor is a static IP → MAC entry (pcap mode has no ARP).
type Neighbor struct {
	IP        netip.Addr
	MAC       net.HardwareAddr
	Interface string // optional: the interface it is reached on
	Pos       Pos
}

// Control is the control socket the CLI talks to.
type Control struct{ Socket string }

// Metrics is the Prometheus endpoint.
type Metrics struct {
	Listen        string // host:port; "" disables the endpoint
	SASeriesLimit int    // most SAs exported with per-SA series
}

// Log is the logging setup.
type Log struct {
	Level  string // debug, info, warn, error
	Format string // text or json
}

// Defaults of the system settings.
const (
	DefaultBatch         = 64
	DefaultRing          = 2048
	DefaultFillRing      = 4096
	DefaultMTU           = 1500
	DefaultControlSocket = "/run/ipsecgw.sock"
	DefaultSASeriesLimit = 1000
)

// systemKeys are the top-level keys of a system file.
var systemKeys = map[string]bool{
	"interfaces": true, "dataplane": true, "neighbors": true, "routes": true, "control": true,
	"metrics": true, "log": true, "policy": true, "policy_file": true,
}

// Fields of the list settings, as they appear in files and in
// IPSECGW_<LIST>_<INDEX|NAME>_<FIELD> variables.
var listFields = map[string][]string{
	"interfaces": {"name", "driver", "device", "mac", "mtu", "queues", "xdp_mode", "pcap_in", "pcap_out"},
	"neighbors":  {"ip", "mac", "interface"},
	"routes":     {"prefix", "next_hop", "interface", "distance"},
}

// Sub-keys of the mapping settings.
var mapFields = map[string][]string{
	"dataplane": {"workers", "cpus", "batch", "rx_ring", "tx_ring", "fill_ring", "completion_ring", "replay_window"},
	"control":   {"socket"},
	"metrics":   {"listen", "sa_series_limit"},
	"log":       {"level", "format"},
}

type rawConfig struct {
	Interfaces []rawInterface `mapstructure:"interfaces"`
	Dataplane  struct {
		Workers        int   `mapstructure:"workers"`
		CPUs           []int `mapstructure:"cpus"`
		Batch          int   `mapstructure:"batch"`
		RXRing         int   `mapstructure:"rx_ring"`
		TXRing         int   `mapstructure:"tx_ring"`
		FillRing       int   `mapstructure:"fill_ring"`
		CompletionRing int   `mapstructure:"completion_ring"`
		ReplayWindow   int   `mapstructure:"replay_window"`
	} `mapstructure:"dataplane"`
	Neighbors []struct {
		IP        string `mapstructure:"ip"`
		MAC       string `mapstructure:"mac"`
		Interface string `mapstructure:"interface"`
	} `mapstructure:"neighbors"`
	Routes []struct {
		Prefix    string `mapstructure:"prefix"`
		NextHop   string `mapstructure:"next_hop"`
		Interface string `mapstructure:"interface"`
		Distance  int    `mapstructure:"distance"`
	} `mapstructure:"routes"`
	Control struct {
		Socket string `mapstructure:"socket"`
	} `mapstructure:"control"`
	Metrics struct {
		Listen        string `mapstructure:"listen"`
		SASeriesLimit *int   `mapstructure:"sa_series_limit"`
	} `mapstructure:"metrics"`
	Log struct {
		Level  string `mapstructure:"level"`
		Format string `mapstructure:"format"`
	} `mapstructure:"log"`
	PolicyFile string `mapstructure:"policy_file"`
	Policy     any    `mapstructure:"policy"`
}

type rawInterface struct {
	Name    string `mapstructure:"name"`
	Driver  string `mapstructure:"driver"`
	Device  string `mapstructure:"device"`
	MAC     string `mapstructure:"mac"`
	MTU     int    `mapstructure:"mtu"`
	Queues  int    `mapstructure:"queues"`
	XDPMode string `mapstructure:"xdp_mode"`
	PcapIn  string `mapstructure:"pcap_in"`
	PcapOut string `mapstructure:"pcap_out"`
}

// sysLoader reads a system file with viper, applying IPSECGW_ environment
// overrides, and keeps the YAML node tree (YAML and JSON files) to give
// diagnostics their lines.
type sysLoader struct {
	file string
	dir  string
	root *yaml.Node // document's mapping; nil for TOML
	d    *diags
	// envSet maps setting paths set from list variables to the variable.
	envSet map[string]string
}

// envName is the variable that overrides a setting path.
func envName(path ...string) string {
	return "IPSECGW_" + strings.ToUpper(strings.Join(path, "_"))
}

// pos locates a setting: the variable that set it, or its line in the file.
func (s *sysLoader) pos(path ...any) Pos {
	var strs []string
	for _, p := range path {
		strs = append(strs, fmt.Sprint(p))
	}
	if v, ok := s.envSet[strings.Join(strs, ".")]; ok {
		return Pos{File: "$" + v}
	}
	if len(strs) == 2 {
		if _, ok := os.LookupEnv(envName(strs...)); ok {
			return Pos{File: "$" + envName(strs...)}
		}
	}
	if len(strs) == 1 {
		if _, ok := os.LookupEnv(envName(strs...)); ok {
			return Pos{File: "$" + envName(strs...)}
		}
	}
	n := s.root
	line := 0
	for _, p := range path {
		if n == nil {
			break
		}
		n = resolveAlias(n)
		var next *yaml.Node
		switch k := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == k {
						next = n.Content[i+1]
						line = n.Content[i].Line
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && k < len(n.Content) {
				next = n.Content[k]
				line = next.Line
			}
		}
		n = next
	}
	return Pos{File: s.file, Line: line}
}

// inlinePos says where the lines of an inline policy are: a literal block
// (`policy: |`) starts on the line after its key, so policy line n is file
// line key+n; other forms (quoted strings, TOML, a variable) are numbered
// from 1 under a name of their own.
func (s *sysLoader) inlinePos() (file string, offset int) {
	pos := s.pos("policy")
	if pos.File != s.file {
		return pos.File, 0 // $IPSECGW_POLICY
	}
	for i := 0; s.root != nil && i+1 < len(s.root.Content); i += 2 {
		if k, v := s.root.Content[i], resolveAlias(s.root.Content[i+1]); k.Value == "policy" && v.Style&yaml.LiteralStyle != 0 {
			return s.file, k.Line
		}
	}
	return s.file + " (policy)", 0
}

// loadSystem reads the system settings. It returns the raw decoded form
// (for the policy keys) and the policy node of a YAML file.
func (s *sysLoader) load(data []byte, ext string) (*System, *rawConfig, *yaml.Node, error) {
	var policyNode *yaml.Node
	if ext != "toml" {
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			s.syntaxError(err)
			return nil, nil, nil, nil
		}
		if len(doc.Content) > 0 {
			s.root = resolveAlias(doc.Content[0])
			if s.root.Kind != yaml.MappingNode {
				s.d.errorf(Pos{s.file, s.root.Line}, "want a mapping of settings at the top")
				return nil, nil, nil, nil
			}
			policyNode = s.checkKeys()
		}
	}
	v := viper.New()
	v.SetConfigType(ext)
	if err := v.ReadConfig(strings.NewReader(string(data))); err != nil {
		s.syntaxError(err)
		return nil, nil, nil, nil
	}
	v.SetEnvPrefix("IPSECGW")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	// Viper applies variables only to keys it knows: declare every scalar.
	v.SetDefault("policy_file", "")
	v.SetDefault("policy", nil)
	for m, fields := range mapFields {
		for _, f := range fields {
			v.SetDefault(m+"."+f, nil)
		}
	}
	for list, fields := range listFields {
		if err := s.listEnv(v, list, fields); err != nil {
			return nil, nil, nil, err
		}
	}
	var raw rawConfig
	err := v.Unmarshal(&raw, func(c *mapstructure.DecoderConfig) {
		c.ErrorUnused = s.root == nil // YAML files were checked with positions
	})
	if err != nil {
		s.decodeErrors(err)
		return nil, nil, nil, nil
	}
	if policyNode != nil && os.Getenv("IPSECGW_POLICY") != "" {
		policyNode = nil // the variable replaces the file's policy
	}
	return s.system(&raw), &raw, policyNode, nil
}

var (
	quoted   = regexp.MustCompile(`'([^']*)'`)
	lineOfIt = regexp.MustCompile(`line (\d+)`)
)

// syntaxError reports a file that does not parse, at the line the decoder
// names.
func (s *sysLoader) syntaxError(err error) {
	pos := Pos{File: s.file}
	var located interface{ Position() (row, col int) } // go-toml's DecodeError
	if errors.As(err, &located) {
		pos.Line, _ = located.Position()
	} else if m := lineOfIt.FindStringSubmatch(err.Error()); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
	}
	s.d.errorf(pos, "%v", err)
}

// decodeErrors reports mapstructure's errors at the setting they name.
func (s *sysLoader) decodeErrors(err error) {
	for _, msg := range strings.Split(err.Error(), "\n") {
		msg = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(msg), "*"))
		if msg == "" || strings.HasPrefix(msg, "decoding failed") {
			continue
		}
		var path []any
		if m := quoted.FindStringSubmatch(msg); m != nil {
			for _, part := range strings.FieldsFunc(m[1], func(r rune) bool { return r == '.' || r == '[' || r == ']' }) {
				if n, err := strconv.Atoi(part); err == nil {
					path = append(path, n)
				} else {
					path = append(path, part)
				}
			}
		}
		s.d.errorf(s.pos(path...), "%s", msg)
	}
}

// checkKeys reports unknown keys of a YAML/JSON file with their lines and
// returns the policy node when it is a mapping (the YAML policy form).
func (s *sysLoader) checkKeys() *yaml.Node {
	var policy *yaml.Node
	for i := 0; i+1 < len(s.root.Content); i += 2 {
		k, v := s.root.Content[i], resolveAlias(s.root.Content[i+1])
		switch {
		case !systemKeys[k.Value]:
			s.d.errorf(Pos{s.file, k.Line}, "unknown setting %q", k.Value)
		case k.Value == "policy" && v.Kind == yaml.MappingNode:
			policy = v
		case listFields[k.Value] != nil && v.Kind == yaml.SequenceNode:
			for _, el := range v.Content {
				s.unknownFields(resolveAlias(el), k.Value, listFields[k.Value])
			}
		case mapFields[k.Value] != nil:
			s.unknownFields(v, k.Value, mapFields[k.Value])
		}
	}
	return policy
}

func (s *sysLoader) unknownFields(n *yaml.Node, what string, allowed []string) {
	if n.Kind != yaml.MappingNode {
		return // the decoder reports the type
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		ok := false
		for _, a := range allowed {
			ok = ok || a == k.Value
		}
		if !ok {
			s.d.errorf(Pos{s.file, k.Line}, "%s: unknown setting %q (want one of %s)", what, k.Value, strings.Join(allowed, ", "))
		}
	}
}

// listEnv applies the variables of a list setting: IPSECGW_<LIST> holds
// the whole list as YAML or JSON; IPSECGW_<LIST>_<I>_<FIELD> sets a field
// of element I (0-based; I = the list's length appends an element), and
// for interfaces IPSECGW_INTERFACES_<NAME>_<FIELD> the element of that name
// (upper case, other characters as _).
func (s *sysLoader) listEnv(v *viper.Viper, list string, fields []string) error {
	items := toItems(v.Get(list))
	whole := envName(list)
	changed := false
	if text, ok := os.LookupEnv(whole); ok {
		changed = true
		var parsed []map[string]any
		if err := yaml.Unmarshal([]byte(text), &parsed); err != nil {
			return fmt.Errorf("$%s: want a YAML or JSON list of %s: %v", whole, list, err)
		}
		items = items[:0]
		for _, p := range parsed {
			items = append(items, p)
		}
		for i := range items {
			for _, f := range fields {
				s.envSet[fmt.Sprintf("%s.%d.%s", list, i, f)] = whole
			}
		}
	}
	prefix := whole + "_"
	type setting struct{ env, sel, field, value string }
	var sets []setting
	for _, kv := range os.Environ() {
		k, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		rest := k[len(prefix):]
		found := false
		for _, f := range fields {
			suffix := "_" + strings.ToUpper(f)
			if strings.HasSuffix(rest, suffix) && len(rest) > len(suffix) {
				sets = append(sets, setting{k, rest[:len(rest)-len(suffix)], f, val})
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("$%s: want %s<INDEX>_<FIELD> with FIELD one of %s", k, prefix, strings.ToUpper(strings.Join(fields, ", ")))
		}
	}
	// Indexes in order, so that consecutive new elements append.
	for pass := 0; pass < len(sets)+1; pass++ {
		for i := range sets {
			st := &sets[i]
			if st.env == "" {
				continue
			}
			idx, err := strconv.Atoi(st.sel)
			if err != nil {
				idx = -1
				for j, it := range items {
					if envKey(fmt.Sprint(it["name"])) == st.sel && list == "interfaces" {
						idx = j
					}
				}
				if idx < 0 {
					return fmt.Errorf("$%s: no element %s in %s", st.env, st.sel, list)
				}
			}
			switch {
			case idx < len(items):
			case idx == len(items):
				items = append(items, map[string]any{})
			default:
				continue // a later pass, once the elements before exist
			}
			items[idx][st.field] = st.value
			s.envSet[fmt.Sprintf("%s.%d.%s", list, idx, st.field)] = st.env
			st.env = ""
			changed = true
		}
	}
	for _, st := range sets {
		if st.env != "" {
			return fmt.Errorf("$%s: index %s is past the end of %s (%d elements)", st.env, st.sel, list, len(items))
		}
	}
	if changed {
		out := make([]any, len(items))
		for i, it := range items {
			out[i] = it
		}
		v.Set(list, out)
	}
	return nil
}

func envKey(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'):
			return r
		}
		return '_'
	}, s)
}

// toItems copies a decoded list of mappings.
func toItems(v any) []map[string]any {
	var out []map[string]any
	switch l := v.(type) {
	case []any:
		for _, e := range l {
			if m, ok := e.(map[string]any); ok {
				c := map[string]any{}
				for k, x := range m {
					c[k] = x
				}
				out = append(out, c)
			} else {
				out = append(out, map[string]any{"": e})
			}
		}
	case []map[string]any:
		for _, m := range l {
			c := map[string]any{}
			for k, x := range m {
				c[k] = x
			}
			out = append(out, c)
		}
	}
	return out
}

// path resolves a file path relative to the system file's directory.
func (s *sysLoader) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(s.dir, p)
}

// system validates the decoded settings and fills defaults.
func (s *sysLoader) system(raw *rawConfig) *System {
	sys := &System{}
	names := map[string]int{}
	for i, ri := range raw.Interfaces {
		at := func(f string) Pos { return s.pos("interfaces", i, f) }
		what := fmt.Sprintf("interfaces[%d]", i)
		if ri.Name != "" {
			what = fmt.Sprintf("interface %s", ri.Name)
		}
		si := &SysInterface{
			Name: ri.Name, Driver: Driver(strings.ToLower(ri.Driver)), Device: ri.Device, MTU: ri.MTU,
			Queues: ri.Queues, XDPMode: strings.ToLower(ri.XDPMode), PcapIn: s.path(ri.PcapIn),
			PcapOut: s.path(ri.PcapOut), Pos: s.pos("interfaces", i),
		}
		switch {
		case ri.Name == "" || len(strings.Fields(ri.Name)) != 1:
			s.d.errorf(si.Pos, "%s: want a name (one word, as in the policy's interface stanza)", what)
		case names[ri.Name] > 0:
			s.d.errorf(si.Pos, "interface %s is defined twice", ri.Name)
		}
		names[ri.Name]++
		if si.Driver == "" {
			si.Driver = DriverAFXDP
		}
		if si.MTU == 0 {
			si.MTU = DefaultMTU
		}
		if si.MTU < 576 || si.MTU > 9216 {
			s.d.errorf(at("mtu"), "%s: mtu %d out of range 576-9216", what, si.MTU)
		}
		if si.Queues < 0 {
			s.d.errorf(at("queues"), "%s: queues must not be negative", what)
		}
		if ri.MAC != "" {
			mac, err := net.ParseMAC(ri.MAC)
			if err != nil || len(mac) != 6 {
				s.d.errorf(at("mac"), "%s: malformed MAC address %q", what, ri.MAC)
			}
			si.MAC = mac
		}
		switch si.Driver {
		case DriverAFXDP:
			if si.Device == "" {
				si.Device = si.Name
			}
			switch si.XDPMode {
			case "":
				si.XDPMode = "auto"
			case "auto", "native", "generic":
			default:
				s.d.errorf(at("xdp_mode"), "%s: xdp_mode %q: want auto, native or generic", what, ri.XDPMode)
			}
			if si.PcapIn != "" || si.PcapOut != "" {
				s.d.errorf(at("pcap_in"), "%s: pcap_in and pcap_out are for driver pcap", what)
			}
		case DriverPcap:
			if ri.MAC == "" {
				s.d.errorf(si.Pos, "%s: driver pcap needs the interface's mac", what)
			}
			if si.PcapIn == "" && si.PcapOut == "" {
				s.d.errorf(si.Pos, "%s: driver pcap needs pcap_in and/or pcap_out", what)
			}
			if si.Queues > 1 {
				s.d.errorf(at("queues"), "%s: a pcap interface has one queue", what)
			}
			if ri.XDPMode != "" {
				s.d.errorf(at("xdp_mode"), "%s: xdp_mode is for driver afxdp", what)
			}
		default:
			s.d.errorf(at("driver"), "%s: driver %q: want afxdp or pcap", what, ri.Driver)
		}
		sys.Interfaces = append(sys.Interfaces, si)
	}

	dp := raw.Dataplane
	sys.Dataplane = Dataplane{
		Workers: dp.Workers, CPUs: dp.CPUs, Batch: orDefault(dp.Batch, DefaultBatch),
		RXRing: orDefault(dp.RXRing, DefaultRing), TXRing: orDefault(dp.TXRing, DefaultRing),
		FillRing: orDefault(dp.FillRing, DefaultFillRing), CompletionRing: orDefault(dp.CompletionRing, DefaultFillRing),
		ReplayWindow: dp.ReplayWindow,
	}
	d := &sys.Dataplane
	if d.Workers < 0 {
		s.d.errorf(s.pos("dataplane", "workers"), "dataplane: workers must not be negative")
	}
	seenCPU := map[int]bool{}
	for _, c := range d.CPUs {
		if c < 0 || seenCPU[c] {
			s.d.errorf(s.pos("dataplane", "cpus"), "dataplane: cpus: %d is negative or listed twice", c)
		}
		seenCPU[c] = true
	}
	if d.Workers > 0 && len(d.CPUs) > 0 && len(d.CPUs) < d.Workers {
		s.d.errorf(s.pos("dataplane", "cpus"), "dataplane: %d workers but only %d cpus to pin them to", d.Workers, len(d.CPUs))
	}
	if d.Batch < 1 || d.Batch > 256 {
		s.d.errorf(s.pos("dataplane", "batch"), "dataplane: batch %d out of range 1-256", d.Batch)
	}
	for _, r := range []struct {
		key string
		n   int
	}{{"rx_ring", d.RXRing}, {"tx_ring", d.TXRing}, {"fill_ring", d.FillRing}, {"completion_ring", d.CompletionRing}} {
		if r.n < 64 || r.n > 65536 || r.n&(r.n-1) != 0 {
			s.d.errorf(s.pos("dataplane", r.key), "dataplane: %s %d: want a power of two from 64 to 65536", r.key, r.n)
		}
	}
	if w := d.ReplayWindow; w != 0 && (w < 64 || w > 4096 || w&(w-1) != 0) {
		s.d.errorf(s.pos("dataplane", "replay_window"), "dataplane: replay_window %d: want a power of two from 64 to 4096", w)
	}

	ips := map[netip.Addr]bool{}
	for i, rn := range raw.Neighbors {
		n := Neighbor{Interface: rn.Interface, Pos: s.pos("neighbors", i)}
		ip, err := netip.ParseAddr(rn.IP)
		if err != nil || ip.Zone() != "" {
			s.d.errorf(s.pos("neighbors", i, "ip"), "neighbors[%d]: malformed ip %q", i, rn.IP)
		} else if ips[ip] {
			s.d.errorf(n.Pos, "neighbor %s is listed twice", ip)
		}
		ips[ip] = true
		n.IP = ip
		if n.MAC, err = net.ParseMAC(rn.MAC); err != nil || len(n.MAC) != 6 {
			s.d.errorf(s.pos("neighbors", i, "mac"), "neighbors[%d]: malformed mac %q", i, rn.MAC)
		}
		if n.Interface != "" && names[n.Interface] == 0 {
			s.d.errorf(s.pos("neighbors", i, "interface"), "neighbor %s: unknown interface %s", rn.IP, n.Interface)
		}
		sys.Neighbors = append(sys.Neighbors, n)
	}

	sys.Control.Socket = raw.Control.Socket
	if sys.Control.Socket == "" {
		sys.Control.Socket = DefaultControlSocket
	}
	sys.Metrics = Metrics{Listen: raw.Metrics.Listen, SASeriesLimit: DefaultSASeriesLimit}
	if raw.Metrics.SASeriesLimit != nil {
		sys.Metrics.SASeriesLimit = *raw.Metrics.SASeriesLimit
	}
	if sys.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(sys.Metrics.Listen); err != nil {
			s.d.errorf(s.pos("metrics", "listen"), "metrics: listen %q: want HOST:PORT", sys.Metrics.Listen)
		}
	}
	if sys.Metrics.SASeriesLimit < 0 {
		s.d.errorf(s.pos("metrics", "sa_series_limit"), "metrics: sa_series_limit must not be negative")
	}
	sys.Log = Log{Level: strings.ToLower(orDefaultS(raw.Log.Level, "info")), Format: strings.ToLower(orDefaultS(raw.Log.Format, "text"))}
	if _, err := logging.ParseLevel(sys.Log.Level); err != nil {
		s.d.errorf(s.pos("log", "level"), "%v", err)
	}
	if sys.Log.Format != "text" && sys.Log.Format != "json" {
		s.d.errorf(s.pos("log", "format"), "log format %q: want text or json", raw.Log.Format)
	}
	return sys
}

// routes turns `routes:` into policy routes.
func (s *sysLoader) routes(raw *rawConfig) []Route {
	var out []Route
	for i, rr := range raw.Routes {
		r := Route{Interface: rr.Interface, Distance: rr.Distance, Pos: s.pos("routes", i)}
		pfx, err := netip.ParsePrefix(rr.Prefix)
		switch {
		case err != nil || pfx.Addr().Zone() != "":
			s.d.errorf(s.pos("routes", i, "prefix"), "routes[%d]: malformed prefix %q (want ADDRESS/LENGTH)", i, rr.Prefix)
			continue
		case pfx.Masked() != pfx:
			s.d.errorf(s.pos("routes", i, "prefix"), "routes[%d]: %s has host bits set (the network is %s)", i, pfx, pfx.Masked())
			continue
		}
		r.Prefix = pfx
		if rr.NextHop != "" {
			nh, err := netip.ParseAddr(rr.NextHop)
			if err != nil || nh.Is4() != pfx.Addr().Is4() || nh.Zone() != "" {
				s.d.errorf(s.pos("routes", i, "next_hop"), "routes[%d]: malformed next_hop %q", i, rr.NextHop)
				continue
			}
			r.NextHop = nh
		}
		if !r.NextHop.IsValid() && r.Interface == "" {
			s.d.errorf(r.Pos, "routes[%d]: want next_hop and/or interface", i)
			continue
		}
		if r.Distance < 0 || r.Distance > 255 {
			s.d.errorf(s.pos("routes", i, "distance"), "routes[%d]: distance %d out of range 1-255", i, r.Distance)
			continue
		}
		out = append(out, r)
	}
	return out
}

func orDefault(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

func orDefaultS(v, d string) string {
	if v == "" {
		return d
	}
	return v
}
