// Package slowpath joins the control plane to the fast path: it turns a
// loaded configuration (package config) into the fast path's tables — the
// interfaces with their compiled crypto maps, the FIB, the neighbour table
// — and installs and binds the SAs the configuration itself defines (manual
// SAs from `set session-key`). It is the one place that knows both config
// and fastpath. Negotiated SAs come in through the same Gateway: the
// Negotiator (ike.go; IKEv1 beside it in ike_v1.go, temporary crypto map
// entries of dynamic maps in ike_dynamic.go) is the IKE engines' Transport (the workers' inject
// rings) and Installer (SAD installs, CryptoMap bindings, make-before-break
// rekeys), serves the punts IKE owns (IKE datagrams demultiplexed by ISAKMP
// major version, ACQUIREs with set-peer failover, kilobyte lifetime
// events), and builds the engine's peers from the crypto maps (IKEPeers).
// Its entry points — NewNegotiator, SetPeers, Run, HandlePunt, ReportUsage,
// Shutdown — are all a runtime or a test harness needs (ike_test.go drives
// two gateways over a memory wire with them).
//
// Data flow: config.Load → Build → Gateway{Engine, Maps} → the caller adds
// workers with their ports (pcap or AF_XDP) and runs them; Snapshot reads
// the counters back for summaries, JSON and show. For a live gateway it also
// keeps the kernel in step (kernel.go: addresses and static routes;
// neigh.go: the kernel's neighbour table followed over netlink, next hops
// resolved on a miss) and says what the XDP programs steer (steer.go).
package slowpath

import (
	"fmt"
	"net/netip"
	"slices"

	"ipsecgw/config"
	"ipsecgw/fastpath"
	"ipsecgw/fastpath/sad"
	"ipsecgw/spd"
)

// Gateway is a configuration turned into a fast path.
type Gateway struct {
	Config *config.Config
	Engine *fastpath.Engine
	// Maps holds each interface's compiled crypto map, indexed like the
	// engine's interfaces (cfg.System.Interfaces order); nil where none
	// is applied.
	Maps []*config.CompiledMap
	// Manual lists the installed manual SAs.
	Manual []*ManualSA
	// Workers is the number of workers SAs keep counters for.
	Workers int
	// Temporary are the temporary crypto map entries IKE filled from
	// dynamic map entries without match address (ike_dynamic.go); Maps
	// carry them, configured holds the maps as configured.
	Temporary  []TempEntry
	configured []*config.CompiledMap
}

// Build builds the fast path of cfg for workers workers: tables,
// neighbours, and a SAD holding the manual SAs, bound to their crypto map
// entries. The configuration must be valid.
func Build(cfg *config.Config, workers int) (*Gateway, error) {
	if cfg.Diags.Errors() > 0 || cfg.Policy == nil || !cfg.Policy.Valid() {
		return nil, fmt.Errorf("%s: the configuration has errors (run ipsecgw config check)", cfg.File)
	}
	if workers < 1 {
		return nil, fmt.Errorf("need at least one worker")
	}
	g := &Gateway{Config: cfg, Workers: workers}
	ifs, err := g.interfaces()
	if err != nil {
		return nil, err
	}
	fib, err := buildFIB(cfg, ifs)
	if err != nil {
		return nil, err
	}
	neigh, err := buildNeighbors(cfg, ifs)
	if err != nil {
		return nil, err
	}
	db := sad.NewDB()
	if err := g.installManual(db, ifs); err != nil {
		return nil, err
	}
	g.Engine, err = fastpath.NewEngine(&fastpath.Tables{Interfaces: ifs, FIB: fib}, neigh, db)
	if err != nil {
		return nil, err
	}
	return g, nil
}

// interfaces builds the fast path's interfaces from the system settings
// (name, MAC, MTU) and the policy's interface stanzas (addresses, crypto
// map), compiling each applied crypto map into an SPD.
func (g *Gateway) interfaces() ([]fastpath.Interface, error) {
	cfg := g.Config
	var ifs []fastpath.Interface
	for _, si := range cfg.System.Interfaces {
		mac, ok := fastpath.MACFrom(si.MAC)
		if !ok {
			return nil, fmt.Errorf("interface %s: no MAC address (set mac: in the system settings)", si.Name)
		}
		fi := fastpath.Interface{Name: si.Name, MAC: mac, MTU: si.MTU}
		var cm *config.CompiledMap
		if pi := cfg.Policy.Interfaces[si.Name]; pi != nil {
			fi.Addrs = slices.Clone(pi.Addresses)
			var err error
			if cm, err = cfg.Policy.CompileInterface(si.Name); err != nil {
				return nil, err
			}
			if cm.Map == "" {
				cm = nil
			}
		}
		if cm != nil {
			var err error
			if fi.Crypto, err = fastCryptoMap(cm); err != nil {
				return nil, err
			}
		}
		g.Maps = append(g.Maps, cm)
		ifs = append(ifs, fi)
	}
	g.configured = g.Maps
	return ifs, nil
}

// fastCryptoMap is the fast path's crypto map of a compiled one: its SPD
// and the kind of each entry, no SAs bound.
func fastCryptoMap(cm *config.CompiledMap) (*fastpath.CryptoMap, error) {
	table, err := spd.Compile(cm.Rules)
	if err != nil {
		return nil, fmt.Errorf("interface %s: crypto map %s: %w", cm.Interface, cm.Map, err)
	}
	entries := make([]fastpath.CryptoEntry, len(cm.Entries))
	for i, e := range cm.Entries {
		entries[i] = fastpath.CryptoEntry{Seq: e.Seq, Kind: entryKind(e.Kind), PerHost: e.PerHost}
	}
	return fastpath.NewCryptoMap(cm.Map, table, entries)
}

func entryKind(k config.EntryKind) fastpath.EntryKind {
	switch k {
	case config.ManualEntry:
		return fastpath.EntryManual
	case config.DynamicEntry:
		return fastpath.EntryDynamic
	}
	return fastpath.EntryISAKMP
}

// buildFIB makes the routes: connected subnets and local addresses of
// every interface, then the static routes (`ip route` and `routes:`). Of
// several static routes to one prefix the lowest distance is installed
// (floating statics wait for link state, which pcap mode does not have).
func buildFIB(cfg *config.Config, ifs []fastpath.Interface) (*fastpath.FIB, error) {
	var routes []fastpath.Route
	for i, fi := range ifs {
		for _, a := range fi.Addrs {
			routes = append(routes,
				fastpath.Route{Prefix: a.Masked(), Kind: fastpath.RouteConnected, Iface: i},
				fastpath.Route{Prefix: netip.PrefixFrom(a.Addr(), a.Addr().BitLen()), Kind: fastpath.RouteLocal, Iface: i})
		}
	}
	statics := slices.Clone(cfg.Policy.Routes)
	slices.SortStableFunc(statics, func(a, b config.Route) int { return distance(a) - distance(b) })
	seen := map[netip.Prefix]bool{}
	for _, r := range statics {
		if seen[r.Prefix] {
			continue
		}
		seen[r.Prefix] = true
		fr := fastpath.Route{Prefix: r.Prefix, Kind: fastpath.RouteStatic, Iface: -1, NextHop: r.NextHop}
		if r.Interface != "" {
			if fr.Iface = indexOf(ifs, r.Interface); fr.Iface < 0 {
				return nil, fmt.Errorf("%s: route %v: interface %s is not one of the gateway's interfaces", r.Pos, r.Prefix, r.Interface)
			}
		}
		routes = append(routes, fr)
	}
	fib, err := fastpath.NewFIB(routes)
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	return fib, nil
}

func distance(r config.Route) int {
	if r.Distance == 0 {
		return 1
	}
	return r.Distance
}

func indexOf(ifs []fastpath.Interface, name string) int {
	for i := range ifs {
		if ifs[i].Name == name {
			return i
		}
	}
	return -1
}

// buildNeighbors makes the static neighbour table (`neighbors:`). An entry
// without an interface belongs to the interface whose subnet holds it.
func buildNeighbors(cfg *config.Config, ifs []fastpath.Interface) (*fastpath.Neighbors, error) {
	var ns []fastpath.Neighbor
	for _, n := range cfg.System.Neighbors {
		mac, ok := fastpath.MACFrom(n.MAC)
		if !ok {
			return nil, fmt.Errorf("%s: neighbor %v: bad MAC", n.Pos, n.IP)
		}
		iface := -1
		if n.Interface != "" {
			iface = indexOf(ifs, n.Interface)
		} else {
			iface = onLink(ifs, n.IP)
		}
		if iface < 0 {
			return nil, fmt.Errorf("%s: neighbor %v is on no interface's subnet (name its interface)", n.Pos, n.IP)
		}
		ns = append(ns, fastpath.Neighbor{Iface: iface, Addr: n.IP, MAC: mac})
	}
	return fastpath.NewNeighbors(ns), nil
}

func onLink(ifs []fastpath.Interface, a netip.Addr) int {
	for i := range ifs {
		for _, p := range ifs[i].Addrs {
			if p.Masked().Contains(a) {
				return i
			}
		}
	}
	return -1
}
