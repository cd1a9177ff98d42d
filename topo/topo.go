// Package topo builds throwaway network topologies out of namespaces and veth
// pairs for the demo, the integration tests and the netns benchmark, and
// removes them again.
//
// The standard topology is two sites joined by a wire:
//
//	host-a ─ gw-a ══ wire (bridge) ══ gw-b ─ host-b
//
// Every namespace name carries a unique prefix, so several topologies (tests
// of different packages run in parallel) coexist; addresses repeat, since each
// topology lives in its own namespaces. The hosts' veths send finished
// checksums (TX checksum offload off), as frames from a real wire do.
//
// It drives iproute2 and ethtool: this is set-up code, run once per test, and
// the commands it issues are the ones an engineer would type to reproduce a
// failure by hand.
package topo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"
)

// Site is one side of the topology: a host behind a gateway.
type Site struct {
	HostNS    string // namespace of the host
	GatewayNS string // namespace of the gateway

	Host, Host6       netip.Prefix // the host's addresses on its LAN
	Inside, Inside6   netip.Prefix // the gateway's LAN addresses
	Outside, Outside6 netip.Prefix // the gateway's wire addresses

	HostMAC, InsideMAC, OutsideMAC string
}

// LAN is the site's protected IPv4 subnet.
func (s *Site) LAN() netip.Prefix { return s.Host.Masked() }

// LAN6 is the site's protected IPv6 subnet.
func (s *Site) LAN6() netip.Prefix { return s.Host6.Masked() }

// Interface names inside the namespaces.
const (
	HostIf    = "eth0"
	InsideIf  = "inside"
	OutsideIf = "outside"
	BridgeIf  = "br0"
)

// Options shape a topology.
type Options struct {
	// Prefix starts every namespace name; empty picks a unique one.
	Prefix string
	// Queues is the number of RX and TX queues of the gateways' veths
	// (default 1).
	Queues int
	// MTU of every link (default 1500).
	MTU int
	// KernelForwarding turns on IP forwarding in the gateways' kernels
	// (off by default: the gateway process forwards).
	KernelForwarding bool
	// KernelRoutes adds routes to the other site's LANs via the other
	// gateway to the gateways' kernels (the gateway process adds its own
	// from its configuration otherwise).
	KernelRoutes bool
}

// Topology is a built topology. Close removes it.
type Topology struct {
	Prefix string
	WireNS string
	A, B   Site
	nss    []string
}

var seq atomic.Uint32

// UniquePrefix returns a short prefix unlikely to collide with another
// process's: "ig" + pid + a counter.
func UniquePrefix() string {
	return fmt.Sprintf("ig%d%c", os.Getpid()%100000, 'a'+rune(seq.Add(1)%26))
}

// Build creates the namespaces, links, addresses and routes. On error it
// removes what it created.
func Build(o Options) (t *Topology, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("topo: building namespaces needs root")
	}
	if o.Prefix == "" {
		o.Prefix = UniquePrefix()
	}
	if o.Queues <= 0 {
		o.Queues = 1
	}
	if o.MTU <= 0 {
		o.MTU = 1500
	}
	t = &Topology{Prefix: o.Prefix, WireNS: o.Prefix + "-wire"}
	t.A = site(o.Prefix+"-ha", o.Prefix+"-ga", 1)
	t.B = site(o.Prefix+"-hb", o.Prefix+"-gb", 2)
	defer func() {
		if err != nil {
			t.Close()
		}
	}()

	for _, ns := range []string{t.A.HostNS, t.A.GatewayNS, t.WireNS, t.B.GatewayNS, t.B.HostNS} {
		if err = ip("netns", "add", ns); err != nil {
			return t, err
		}
		t.nss = append(t.nss, ns)
		if err = Run(ns, "ip", "link", "set", "lo", "up"); err != nil {
			return t, err
		}
		// Addresses are usable at once: no duplicate address detection.
		if err = sysctl(ns, "net.ipv6.conf.all.accept_dad", "0"); err != nil {
			return t, err
		}
		if err = sysctl(ns, "net.ipv6.conf.default.accept_dad", "0"); err != nil {
			return t, err
		}
	}
	if err = Run(t.WireNS, "ip", "link", "add", BridgeIf, "type", "bridge"); err != nil {
		return t, err
	}
	if err = Run(t.WireNS, "ip", "link", "set", BridgeIf, "up"); err != nil {
		return t, err
	}
	for i, s := range []*Site{&t.A, &t.B} {
		if err = t.buildSite(o, s, fmt.Sprintf("w%c", 'a'+i)); err != nil {
			return t, err
		}
	}
	if o.KernelRoutes {
		for _, p := range [][2]*Site{{&t.A, &t.B}, {&t.B, &t.A}} {
			local, remote := p[0], p[1]
			if err = Run(local.GatewayNS, "ip", "route", "add", remote.LAN().String(), "via", remote.Outside.Addr().String()); err != nil {
				return t, err
			}
			if err = Run(local.GatewayNS, "ip", "-6", "route", "add", remote.LAN6().String(), "via", remote.Outside6.Addr().String()); err != nil {
				return t, err
			}
		}
	}
	return t, nil
}

func site(hostNS, gwNS string, n int) Site {
	return Site{
		HostNS: hostNS, GatewayNS: gwNS,
		Host:       netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.10/24", n, n)),
		Host6:      netip.MustParsePrefix(fmt.Sprintf("fd00:%d::10/64", n)),
		Inside:     netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.1/24", n, n)),
		Inside6:    netip.MustParsePrefix(fmt.Sprintf("fd00:%d::1/64", n)),
		Outside:    netip.MustParsePrefix(fmt.Sprintf("172.31.0.%d/24", n)),
		Outside6:   netip.MustParsePrefix(fmt.Sprintf("fd00:ff::%d/64", n)),
		HostMAC:    fmt.Sprintf("02:00:00:00:%02x:10", n),
		InsideMAC:  fmt.Sprintf("02:00:00:00:%02x:01", n),
		OutsideMAC: fmt.Sprintf("02:00:00:00:ff:%02x", n),
	}
}

func (t *Topology) buildSite(o Options, s *Site, wirePort string) error {
	q := fmt.Sprint(o.Queues)
	mtu := fmt.Sprint(o.MTU)
	// Host LAN: host eth0 <-> gateway inside.
	if err := vethPair(t.Prefix+"h"+wirePort, s.HostNS, HostIf, s.HostMAC, "1",
		t.Prefix+"i"+wirePort, s.GatewayNS, InsideIf, s.InsideMAC, q, mtu); err != nil {
		return err
	}
	// Wire: gateway outside <-> bridge port.
	if err := vethPair(t.Prefix+"o"+wirePort, s.GatewayNS, OutsideIf, s.OutsideMAC, q,
		t.Prefix+"p"+wirePort, t.WireNS, wirePort, "", q, mtu); err != nil {
		return err
	}
	steps := [][]string{
		{t.WireNS, "ip", "link", "set", wirePort, "master", BridgeIf},
		{t.WireNS, "ip", "link", "set", wirePort, "up"},
		{s.HostNS, "ip", "addr", "add", s.Host.String(), "dev", HostIf},
		{s.HostNS, "ip", "addr", "add", s.Host6.String(), "dev", HostIf},
		{s.HostNS, "ip", "link", "set", HostIf, "up"},
		{s.HostNS, "ip", "route", "add", "default", "via", s.Inside.Addr().String()},
		{s.HostNS, "ip", "-6", "route", "add", "default", "via", s.Inside6.Addr().String()},
		// A real wire carries finished checksums.
		{s.HostNS, "ethtool", "-K", HostIf, "tx", "off"},
		{s.GatewayNS, "ip", "addr", "add", s.Inside.String(), "dev", InsideIf},
		{s.GatewayNS, "ip", "addr", "add", s.Inside6.String(), "dev", InsideIf},
		{s.GatewayNS, "ip", "addr", "add", s.Outside.String(), "dev", OutsideIf},
		{s.GatewayNS, "ip", "addr", "add", s.Outside6.String(), "dev", OutsideIf},
		{s.GatewayNS, "ip", "link", "set", InsideIf, "up"},
		{s.GatewayNS, "ip", "link", "set", OutsideIf, "up"},
	}
	for _, st := range steps {
		if err := Run(st[0], st[1:]...); err != nil {
			return err
		}
	}
	fwd := "0"
	if o.KernelForwarding {
		fwd = "1"
	}
	if err := sysctl(s.GatewayNS, "net.ipv4.ip_forward", fwd); err != nil {
		return err
	}
	return sysctl(s.GatewayNS, "net.ipv6.conf.all.forwarding", fwd)
}

// vethPair creates a veth pair with temporary unique names in the root
// namespace, moves each end into its namespace and renames it there.
func vethPair(tmpA, nsA, nameA, macA, qA, tmpB, nsB, nameB, macB, qB, mtu string) error {
	if err := ip("link", "add", tmpA, "mtu", mtu, "numtxqueues", qA, "numrxqueues", qA, "type", "veth",
		"peer", "name", tmpB, "mtu", mtu, "numtxqueues", qB, "numrxqueues", qB); err != nil {
		return err
	}
	for _, e := range []struct{ tmp, ns, name, mac string }{{tmpA, nsA, nameA, macA}, {tmpB, nsB, nameB, macB}} {
		if err := ip("link", "set", e.tmp, "netns", e.ns); err != nil {
			return err
		}
		args := []string{"ip", "link", "set", e.tmp, "name", e.name}
		if e.mac != "" {
			args = append(args, "address", e.mac)
		}
		if err := Run(e.ns, args...); err != nil {
			return err
		}
	}
	return nil
}

// Close deletes the namespaces, and with them every link inside.
func (t *Topology) Close() error {
	var errs []error
	for i := len(t.nss) - 1; i >= 0; i-- {
		if err := ip("netns", "del", t.nss[i]); err != nil {
			errs = append(errs, err)
		}
	}
	t.nss = nil
	return errors.Join(errs...)
}

// Namespaces lists the namespaces the topology created.
func (t *Topology) Namespaces() []string { return append([]string(nil), t.nss...) }

// Run runs a command inside namespace ns and returns an error carrying its
// output when it fails.
func Run(ns string, args ...string) error {
	_, err := Output(ns, args...)
	return err
}

// Output runs a command inside namespace ns and returns its standard output.
func Output(ns string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return output(exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, args...)...))
}

// Command returns a command that runs inside namespace ns, for long-running
// processes the caller starts and stops.
func Command(ctx context.Context, ns string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, args...)...)
}

func execIP(args ...string) *exec.Cmd { return exec.Command("ip", args...) }

func ip(args ...string) error {
	_, err := output(execIP(args...))
	return err
}

func sysctl(ns, key, val string) error {
	return Run(ns, "sysctl", "-q", "-w", key+"="+val)
}

func output(cmd *exec.Cmd) ([]byte, error) {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s: %v: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Cleanup removes namespaces left behind by earlier runs whose names start
// with prefix (a crashed test cannot run its own cleanup).
func Cleanup(prefix string) error {
	out, err := output(execIP("netns", "list"))
	if err != nil {
		return err
	}
	var errs []error
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if name != "" && strings.HasPrefix(name, prefix) {
			if err := ip("netns", "del", name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
