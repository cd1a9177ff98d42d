package config

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The YAML form of the crypto policy: the same objects as the IOS text,
// under the system file's `policy:` key. Each object is turned into the IOS
// commands it stands for, with the position of its YAML line, and fed to
// the IOS parser, so both forms produce one model and one set of messages.
//
//	policy:
//	  hostname: site-a
//	  access_lists:                  # numbered (100-199, 2000-2699) or named
//	    "101":
//	      - permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255   # IOS statement, or:
//	      - {action: deny, protocol: tcp, source: 10.1.0.0/16, destination: host 10.2.0.5, destination_port: eq 22}
//	  ipv6_access_lists:
//	    v6-vpn: [permit ipv6 2001:db8:1::/48 2001:db8:2::/48]
//	  transform_sets:
//	    gcm128: {transforms: esp-gcm 128, mode: tunnel}
//	  ipsec: {lifetime: {seconds: 3600, kilobytes: 4608000}, replay_window: 128}   # or disable
//	  crypto_maps:
//	    vpn:
//	      local_address: outside
//	      entries:
//	        - {seq: 10, match_address: "101", peers: [192.0.2.2], transform_sets: [gcm128], ikev2_profile: site-b, pfs: group19}
//	        - {seq: 20, type: ipsec-manual, match_address: "102", peers: [192.0.2.2], transform_sets: [gcm128],
//	           session_keys: {inbound: {esp: {spi: 257, cipher: HEX}}, outbound: {esp: {spi: 256, cipher: HEX}}}}
//	        - {seq: 100, dynamic_map: hub}
//	  dynamic_maps:
//	    hub: [{seq: 10, transform_sets: [gcm128], match_address: "120"}]
//	  isakmp:
//	    policies: [{priority: 10, encryption: aes 256, hash: sha256, authentication: pre-share, group: 14, lifetime: 86400}]
//	    keys: [{key: KEY, address: 192.0.2.2}]
//	    keepalive: {interval: 10, retry: 3, mode: periodic}
//	  ikev2:
//	    proposals: {p1: {encryption: [aes-gcm-256], prf: [sha256], group: [19]}}
//	    policies: {pol1: {proposals: [p1], match_address_local: [192.0.2.1]}}
//	    keyrings: {keys: [{peer: site-b, address: 192.0.2.2, pre_shared_key: KEY}]}
//	    profiles:
//	      site-b: {match_identity_remote: [192.0.2.2], authentication: {local: pre-share, remote: pre-share},
//	               keyring: keys, lifetime: 86400, dpd: {interval: 10, retry: 3, mode: periodic}}
//	  interfaces:
//	    outside: {addresses: [192.0.2.1/24], crypto_map: vpn}
//
// Static routes are the system file's `routes:`.

// yamlPolicy feeds a YAML policy mapping to a parser.
type yamlPolicy struct {
	p    *parser
	file string
}

func (y *yamlPolicy) pos(n *yaml.Node) Pos { return Pos{File: y.file, Line: n.Line} }

func (y *yamlPolicy) errorf(n *yaml.Node, format string, a ...any) {
	y.p.d.errorf(y.pos(n), format, a...)
}

// cmd feeds one IOS command built from words at n's position.
func (y *yamlPolicy) cmd(n *yaml.Node, words ...string) {
	var flat []string
	for _, w := range words {
		flat = append(flat, strings.Fields(w)...)
	}
	y.p.feed(&line{pos: y.pos(n), words: flat, raw: strings.Join(flat, " ")})
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// fields returns a mapping's values by key, reporting keys not in allowed.
func (y *yamlPolicy) fields(n *yaml.Node, what string, allowed ...string) map[string]*yaml.Node {
	n = resolveAlias(n)
	out := map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		y.errorf(n, "%s: want a mapping", what)
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolveAlias(n.Content[i+1])
		ok := false
		for _, a := range allowed {
			if k.Value == a {
				ok = true
			}
		}
		if !ok {
			y.errorf(k, "%s: unknown key %q (want one of %s)", what, k.Value, strings.Join(allowed, ", "))
			continue
		}
		out[k.Value] = v
	}
	return out
}

// pairs returns a mapping's key nodes and values in order (maps keyed by
// object name).
func (y *yamlPolicy) pairs(n *yaml.Node, what string) [][2]*yaml.Node {
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		y.errorf(n, "%s: want a mapping of names to objects", what)
		return nil
	}
	var out [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, [2]*yaml.Node{n.Content[i], resolveAlias(n.Content[i+1])})
	}
	return out
}

// items returns a sequence's elements.
func (y *yamlPolicy) items(n *yaml.Node, what string) []*yaml.Node {
	n = resolveAlias(n)
	if n.Kind != yaml.SequenceNode {
		y.errorf(n, "%s: want a list", what)
		return nil
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = resolveAlias(c)
	}
	return out
}

// scalar returns a scalar's text.
func (y *yamlPolicy) scalar(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Value == "" {
		y.errorf(n, "%s: want a value", what)
		return "", false
	}
	return n.Value, true
}

// name returns a scalar that must be one word (a name, address or key).
func (y *yamlPolicy) name(n *yaml.Node, what string) (string, bool) {
	s, ok := y.scalar(n, what)
	if ok && len(strings.Fields(s)) != 1 {
		y.errorf(n, "%s: %q must be a single word", what, s)
		return "", false
	}
	return s, ok
}

// names returns a scalar or a list of scalars as words.
func (y *yamlPolicy) names(n *yaml.Node, what string) ([]string, bool) {
	if n.Kind == yaml.ScalarNode {
		s, ok := y.name(n, what)
		return []string{s}, ok
	}
	var out []string
	for _, c := range y.items(n, what) {
		s, ok := y.name(c, what)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, len(out) > 0
}

func (y *yamlPolicy) boolean(n *yaml.Node, what string) bool {
	var b bool
	if err := n.Decode(&b); err != nil {
		y.errorf(n, "%s: want true or false", what)
	}
	return b
}

// Feeding helpers: each takes the fields of a mapping and a key, and feeds
// the command its value makes when the key is present.

// one feeds `PREFIX VALUE` for a one-word value.
func (y *yamlPolicy) one(f map[string]*yaml.Node, k string, prefix ...string) {
	if x := f[k]; x != nil {
		if s, ok := y.name(x, k); ok {
			y.cmd(x, append(prefix, s)...)
		}
	}
}

// each feeds `PREFIX VALUE` for every value of a value or list.
func (y *yamlPolicy) each(f map[string]*yaml.Node, k string, prefix ...string) {
	if x := f[k]; x != nil {
		if vs, ok := y.names(x, k); ok {
			for _, v := range vs {
				y.cmd(x, append(prefix, v)...)
			}
		}
	}
}

// all feeds `PREFIX V1 V2 ...`: a value or list on one command.
func (y *yamlPolicy) all(f map[string]*yaml.Node, k string, prefix ...string) {
	if x := f[k]; x != nil {
		if vs, ok := y.names(x, k); ok {
			y.cmd(x, append(prefix, vs...)...)
		}
	}
}

// text feeds `PREFIX TEXT` for free text (descriptions, several words).
func (y *yamlPolicy) text(f map[string]*yaml.Node, k string, prefix ...string) {
	if x := f[k]; x != nil {
		if s, ok := y.scalar(x, k); ok {
			y.cmd(x, append(prefix, s)...)
		}
	}
}

// flag feeds the command when the value is true.
func (y *yamlPolicy) flag(f map[string]*yaml.Node, k string, words ...string) {
	if x := f[k]; x != nil && y.boolean(x, k) {
		y.cmd(x, words...)
	}
}

// feedYAMLPolicy turns the policy mapping into commands.
func (y *yamlPolicy) policy(n *yaml.Node) {
	f := y.fields(n, "policy", "hostname", "access_lists", "ipv6_access_lists", "transform_sets", "ipsec",
		"crypto_maps", "dynamic_maps", "isakmp", "ikev2", "interfaces")
	y.one(f, "hostname", "hostname")
	if v := f["access_lists"]; v != nil {
		y.acls(v, false)
	}
	if v := f["ipv6_access_lists"]; v != nil {
		y.acls(v, true)
	}
	if v := f["transform_sets"]; v != nil {
		y.transformSets(v)
	}
	if v := f["ipsec"]; v != nil {
		g := y.fields(v, "ipsec", "lifetime", "replay_window")
		if lt := g["lifetime"]; lt != nil {
			y.lifetime(lt, "crypto", "ipsec", "security-association")
		}
		if rw := g["replay_window"]; rw != nil {
			y.replay(rw, "crypto", "ipsec", "security-association")
		}
	}
	if v := f["ikev2"]; v != nil {
		y.ikev2(v)
	}
	if v := f["isakmp"]; v != nil {
		y.isakmp(v)
	}
	if v := f["dynamic_maps"]; v != nil {
		for _, kv := range y.pairs(v, "dynamic_maps") {
			name, ok := y.name(kv[0], "dynamic map name")
			if !ok {
				continue
			}
			for _, e := range y.items(kv[1], "dynamic map "+name) {
				y.entry(e, name, true)
			}
		}
	}
	if v := f["crypto_maps"]; v != nil {
		y.cryptoMaps(v)
	}
	if v := f["interfaces"]; v != nil {
		y.interfaces(v)
	}
	y.p.feed(&line{pos: y.pos(n), words: []string{"end"}, raw: "end"})
}

func (y *yamlPolicy) acls(n *yaml.Node, v6 bool) {
	for _, kv := range y.pairs(n, "access_lists") {
		name, ok := y.name(kv[0], "access list name")
		if !ok {
			continue
		}
		num, err := strconv.Atoi(name)
		numbered := err == nil && !v6
		switch {
		case v6:
			y.cmd(kv[0], "ipv6 access-list", name)
		case numbered && !extendedACLNumber(num):
			y.errorf(kv[0], "access list number %d: extended lists are numbered 100-199 and 2000-2699", num)
			continue
		case !numbered:
			y.cmd(kv[0], "ip access-list extended", name)
		}
		for _, s := range y.items(kv[1], "access list "+name) {
			words := y.aceWords(s, name)
			if words == nil {
				continue
			}
			if numbered {
				y.cmd(s, append([]string{"access-list", name}, words...)...)
			} else {
				y.cmd(s, words...)
			}
		}
	}
}

// aceWords returns a statement's words: an IOS statement string, or a
// mapping {action, protocol, source, source_port, destination,
// destination_port, log}. Addresses may be `any`, `host A`, `A WILDCARD`,
// P/LEN or a bare address (a host).
func (y *yamlPolicy) aceWords(n *yaml.Node, acl string) []string {
	what := "access list " + acl
	if n.Kind == yaml.ScalarNode {
		s, ok := y.scalar(n, what)
		if !ok {
			return nil
		}
		return strings.Fields(s)
	}
	f := y.fields(n, what, "action", "protocol", "source", "source_port", "destination", "destination_port", "log")
	var words []string
	for _, k := range []string{"action", "protocol", "source", "source_port", "destination", "destination_port"} {
		v := f[k]
		if v == nil {
			if k == "action" || k == "protocol" || k == "source" || k == "destination" {
				y.errorf(n, "%s: statement has no %s", what, k)
				return nil
			}
			continue
		}
		s, ok := y.scalar(v, what+" "+k)
		if !ok {
			return nil
		}
		w := strings.Fields(s)
		switch k {
		case "source", "destination":
			if len(w) == 1 && !strings.Contains(s, "/") && strings.ToLower(s) != "any" {
				w = []string{"host", s}
			}
		case "source_port", "destination_port":
			if _, err := strconv.Atoi(s); err == nil {
				w = []string{"eq", s}
			}
		}
		words = append(words, w...)
	}
	if v := f["log"]; v != nil && y.boolean(v, what+" log") {
		words = append(words, "log")
	}
	return words
}

func (y *yamlPolicy) transformSets(n *yaml.Node) {
	for _, kv := range y.pairs(n, "transform_sets") {
		name, ok := y.name(kv[0], "transform set name")
		if !ok {
			continue
		}
		f := y.fields(kv[1], "transform set "+name, "transforms", "mode")
		t := f["transforms"]
		if t == nil {
			y.errorf(kv[1], "transform set %s: no transforms", name)
			continue
		}
		var words []string
		if t.Kind == yaml.ScalarNode {
			s, ok := y.scalar(t, "transforms")
			if !ok {
				continue
			}
			words = []string{s}
		} else {
			for _, c := range y.items(t, "transforms") {
				if s, ok := y.scalar(c, "transform"); ok {
					words = append(words, s)
				}
			}
		}
		y.cmd(kv[0], append([]string{"crypto ipsec transform-set", name}, words...)...)
		y.one(f, "mode", "mode")
	}
}

// lifetime feeds `PREFIX lifetime seconds N` and `... kilobytes N`.
func (y *yamlPolicy) lifetime(n *yaml.Node, prefix ...string) {
	f := y.fields(n, "lifetime", "seconds", "kilobytes")
	for _, k := range []string{"seconds", "kilobytes"} {
		y.one(f, k, append(prefix, "lifetime", k)...)
	}
}

// replay feeds `PREFIX replay window-size N` or `PREFIX replay disable`.
func (y *yamlPolicy) replay(n *yaml.Node, prefix ...string) {
	s, ok := y.name(n, "replay_window")
	if !ok {
		return
	}
	if strings.EqualFold(s, "disable") {
		y.cmd(n, append(prefix, "replay", "disable")...)
		return
	}
	y.cmd(n, append(prefix, "replay", "window-size", s)...)
}

func (y *yamlPolicy) cryptoMaps(n *yaml.Node) {
	for _, kv := range y.pairs(n, "crypto_maps") {
		name, ok := y.name(kv[0], "crypto map name")
		if !ok {
			continue
		}
		f := y.fields(kv[1], "crypto map "+name, "local_address", "entries")
		y.one(f, "local_address", "crypto map", name, "local-address")
		if v := f["entries"]; v != nil {
			for _, e := range y.items(v, "crypto map "+name+" entries") {
				y.entry(e, name, false)
			}
		}
	}
}

var entryKeys = []string{"seq", "type", "dynamic_map", "description", "match_address", "peers", "transform_sets",
	"lifetime", "per_host", "replay_window", "pfs", "ikev2_profile", "reverse_route", "session_keys"}

// entry feeds a crypto map or dynamic map entry and its sub-commands.
func (y *yamlPolicy) entry(n *yaml.Node, mapName string, dynamic bool) {
	what := "crypto map " + mapName
	if dynamic {
		what = "dynamic map " + mapName
	}
	f := y.fields(n, what+" entry", entryKeys...)
	sv := f["seq"]
	if sv == nil {
		y.errorf(n, "%s: entry has no seq", what)
		return
	}
	seq, ok := y.name(sv, "seq")
	if !ok {
		return
	}
	typ := "ipsec-isakmp"
	if v := f["type"]; v != nil {
		if typ, ok = y.name(v, "type"); !ok {
			return
		}
	}
	switch {
	case dynamic:
		for _, k := range []string{"type", "dynamic_map"} {
			if f[k] != nil {
				y.errorf(f[k], "%s: dynamic map entries take no %s", what, k)
			}
		}
		y.cmd(n, "crypto dynamic-map", mapName, seq)
	case f["dynamic_map"] != nil:
		d, ok := y.name(f["dynamic_map"], "dynamic_map")
		if !ok {
			return
		}
		if typ != "ipsec-isakmp" && typ != "dynamic" {
			y.errorf(f["type"], "%s %s: an entry with dynamic_map is of type dynamic", what, seq)
			return
		}
		y.cmd(n, "crypto map", mapName, seq, "ipsec-isakmp dynamic", d)
		for _, k := range entryKeys[3:] {
			if f[k] != nil {
				y.errorf(f[k], "%s %s includes dynamic map %s: configure %s in the dynamic map's entries", what, seq, d, k)
			}
		}
		return
	default:
		y.cmd(n, "crypto map", mapName, seq, typ)
	}
	y.text(f, "description", "description")
	y.each(f, "peers", "set peer")
	y.all(f, "transform_sets", "set transform-set")
	if v := f["lifetime"]; v != nil {
		y.lifetime(v, "set", "security-association")
	}
	y.flag(f, "per_host", "set security-association level per-host")
	if v := f["replay_window"]; v != nil {
		y.replay(v, "set", "security-association")
	}
	if v := f["pfs"]; v != nil {
		if s, ok := y.name(v, "pfs"); ok {
			if !strings.HasPrefix(s, "group") {
				s = "group" + s
			}
			y.cmd(v, "set pfs", s)
		}
	}
	y.one(f, "ikev2_profile", "set ikev2-profile")
	if v := f["session_keys"]; v != nil {
		y.sessionKeys(v)
	}
	y.one(f, "match_address", "match address")
	y.flag(f, "reverse_route", "reverse-route")
}

// sessionKeys feeds {inbound|outbound: {ah: {spi, key}, esp: {spi,
// cipher, authenticator}}}.
func (y *yamlPolicy) sessionKeys(n *yaml.Node) {
	dirs := y.fields(n, "session_keys", "inbound", "outbound")
	for _, dir := range []string{"inbound", "outbound"} {
		d := dirs[dir]
		if d == nil {
			continue
		}
		protos := y.fields(d, "session_keys "+dir, "ah", "esp")
		if ah := protos["ah"]; ah != nil {
			k := y.fields(ah, "session_keys "+dir+" ah", "spi", "key")
			words := []string{"set session-key", dir, "ah"}
			if y.keyWords(ah, k, &words, "spi", "key") {
				y.cmd(ah, words...)
			}
		}
		if esp := protos["esp"]; esp != nil {
			k := y.fields(esp, "session_keys "+dir+" esp", "spi", "cipher", "authenticator")
			words := []string{"set session-key", dir, "esp"}
			if y.keyWords(esp, k, &words, "spi", "cipher", "authenticator") {
				y.cmd(esp, words...)
			}
		}
	}
}

// keyWords appends the SPI and the keywords with keys present in f.
func (y *yamlPolicy) keyWords(n *yaml.Node, f map[string]*yaml.Node, words *[]string, keys ...string) bool {
	spi := f["spi"]
	if spi == nil {
		y.errorf(n, "session key: no spi")
		return false
	}
	s, ok := y.name(spi, "spi")
	if !ok {
		return false
	}
	*words = append(*words, s)
	for _, k := range keys[1:] {
		v := f[k]
		if v == nil {
			continue
		}
		s, ok := y.name(v, "session key "+k)
		if !ok {
			return false
		}
		if k != "key" {
			*words = append(*words, k)
		}
		*words = append(*words, s)
	}
	return true
}

func (y *yamlPolicy) isakmp(n *yaml.Node) {
	f := y.fields(n, "isakmp", "policies", "keys", "keepalive")
	if v := f["policies"]; v != nil {
		for _, pn := range y.items(v, "isakmp policies") {
			pf := y.fields(pn, "isakmp policy", "priority", "encryption", "hash", "authentication", "group", "lifetime")
			pr := pf["priority"]
			if pr == nil {
				y.errorf(pn, "isakmp policy: no priority")
				continue
			}
			prio, ok := y.name(pr, "priority")
			if !ok {
				continue
			}
			y.cmd(pn, "crypto isakmp policy", prio)
			for _, k := range []string{"encryption", "hash", "authentication", "group", "lifetime"} {
				y.text(pf, k, k) // encryption takes two words: aes 256
			}
		}
	}
	if v := f["keys"]; v != nil {
		for _, kn := range y.items(v, "isakmp keys") {
			kf := y.fields(kn, "isakmp key", "key", "address")
			if kf["key"] == nil || kf["address"] == nil {
				y.errorf(kn, "isakmp key: want key and address")
				continue
			}
			key, ok1 := y.name(kf["key"], "key")
			addr, ok2 := y.scalar(kf["address"], "address")
			if ok1 && ok2 {
				y.cmd(kn, "crypto isakmp key", key, "address", addr)
			}
		}
	}
	if v := f["keepalive"]; v != nil {
		kf := y.fields(v, "isakmp keepalive", "interval", "retry", "mode")
		words := []string{"crypto isakmp keepalive"}
		for _, k := range []string{"interval", "retry", "mode"} {
			if x := kf[k]; x != nil {
				if s, ok := y.name(x, k); ok {
					words = append(words, s)
				}
			}
		}
		y.cmd(v, words...)
	}
}

func (y *yamlPolicy) ikev2(n *yaml.Node) {
	f := y.fields(n, "ikev2", "proposals", "policies", "keyrings", "profiles")
	if v := f["proposals"]; v != nil {
		for _, kv := range y.pairs(v, "ikev2 proposals") {
			name, ok := y.name(kv[0], "proposal name")
			if !ok {
				continue
			}
			y.cmd(kv[0], "crypto ikev2 proposal", name)
			pf := y.fields(kv[1], "ikev2 proposal "+name, "encryption", "integrity", "prf", "group")
			for _, k := range []string{"encryption", "integrity", "prf", "group"} {
				y.all(pf, k, k)
			}
		}
	}
	if v := f["policies"]; v != nil {
		for _, kv := range y.pairs(v, "ikev2 policies") {
			name, ok := y.name(kv[0], "policy name")
			if !ok {
				continue
			}
			y.cmd(kv[0], "crypto ikev2 policy", name)
			pf := y.fields(kv[1], "ikev2 policy "+name, "proposals", "match_address_local")
			y.each(pf, "match_address_local", "match address local")
			y.each(pf, "proposals", "proposal")
		}
	}
	if v := f["keyrings"]; v != nil {
		for _, kv := range y.pairs(v, "ikev2 keyrings") {
			name, ok := y.name(kv[0], "keyring name")
			if !ok {
				continue
			}
			y.cmd(kv[0], "crypto ikev2 keyring", name)
			for _, pn := range y.items(kv[1], "keyring "+name) {
				pf := y.fields(pn, "keyring "+name+" peer", "peer", "description", "address", "pre_shared_key", "pre_shared_key_local", "pre_shared_key_remote")
				if pf["peer"] == nil {
					y.errorf(pn, "keyring %s: peer entry has no peer name", name)
					continue
				}
				peer, ok := y.name(pf["peer"], "peer")
				if !ok {
					continue
				}
				y.cmd(pn, "peer", peer)
				y.text(pf, "description", "description")
				y.text(pf, "address", "address") // A, A MASK or P/LEN
				y.one(pf, "pre_shared_key", "pre-shared-key")
				y.one(pf, "pre_shared_key_local", "pre-shared-key local")
				y.one(pf, "pre_shared_key_remote", "pre-shared-key remote")
			}
		}
	}
	if v := f["profiles"]; v != nil {
		for _, kv := range y.pairs(v, "ikev2 profiles") {
			y.profile(kv[0], kv[1])
		}
	}
}

func (y *yamlPolicy) profile(kn, n *yaml.Node) {
	name, ok := y.name(kn, "profile name")
	if !ok {
		return
	}
	y.cmd(kn, "crypto ikev2 profile", name)
	pf := y.fields(n, "ikev2 profile "+name, "description", "match_identity_remote", "match_address_local",
		"identity_local", "authentication", "keyring", "lifetime", "dpd")
	y.text(pf, "description", "description")
	if x := pf["match_identity_remote"]; x != nil {
		ids := []*yaml.Node{x}
		if x.Kind != yaml.ScalarNode {
			ids = y.items(x, "match_identity_remote")
		}
		for _, id := range ids {
			if s, ok := y.scalar(id, "match_identity_remote"); ok {
				if strings.EqualFold(s, "any") {
					y.cmd(id, "match identity remote any")
				} else {
					y.cmd(id, "match identity remote address", s)
				}
			}
		}
	}
	y.each(pf, "match_address_local", "match address local")
	y.one(pf, "identity_local", "identity local address")
	if x := pf["authentication"]; x != nil {
		af := y.fields(x, "authentication", "local", "remote")
		y.one(af, "remote", "authentication remote")
		y.one(af, "local", "authentication local")
	}
	y.one(pf, "keyring", "keyring local")
	y.one(pf, "lifetime", "lifetime")
	if x := pf["dpd"]; x != nil {
		df := y.fields(x, "dpd", "interval", "retry", "mode")
		words := []string{"dpd"}
		for _, k := range []string{"interval", "retry", "mode"} {
			v := df[k]
			if v == nil {
				y.errorf(x, "dpd: no %s", k)
				return
			}
			s, ok := y.name(v, "dpd "+k)
			if !ok {
				return
			}
			words = append(words, s)
		}
		y.cmd(x, words...)
	}
}

func (y *yamlPolicy) interfaces(n *yaml.Node) {
	for _, kv := range y.pairs(n, "interfaces") {
		name, ok := y.name(kv[0], "interface name")
		if !ok {
			continue
		}
		y.cmd(kv[0], "interface", name)
		f := y.fields(kv[1], "interface "+name, "description", "addresses", "crypto_map")
		y.text(f, "description", "description")
		if x := f["addresses"]; x != nil {
			addrs, _ := y.names(x, "addresses")
			v4 := 0
			for _, a := range addrs {
				words, err := ifaceAddressWords(a, &v4)
				if err != nil {
					y.errorf(x, "interface %s: %v", name, err)
					continue
				}
				y.cmd(x, words...)
			}
		}
		y.one(f, "crypto_map", "crypto map")
	}
}

// ifaceAddressWords turns A/LEN into `ip address A MASK [secondary]` or
// `ipv6 address A/LEN`.
func ifaceAddressWords(a string, v4 *int) ([]string, error) {
	i := strings.IndexByte(a, '/')
	if i < 0 {
		return nil, fmt.Errorf("address %q: want ADDRESS/LENGTH", a)
	}
	if strings.Contains(a, ":") {
		return []string{"ipv6 address", a}, nil
	}
	n, err := strconv.Atoi(a[i+1:])
	if err != nil || n < 0 || n > 32 {
		return nil, fmt.Errorf("address %q: bad prefix length", a)
	}
	words := []string{"ip address", a[:i], maskText(n)}
	if *v4++; *v4 > 1 {
		words = append(words, "secondary")
	}
	return words, nil
}
