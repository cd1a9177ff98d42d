package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"ipsecgw/crypto"
	"ipsecgw/topo"
	"ipsecgw/topo/strongswan"
	"ipsecgw/topo/wireguard"
)

var execLookPath = exec.LookPath

// scenario is one way of carrying host-a's traffic to host-b.
type scenario struct {
	name, title string
	topo        topo.Options
	// missing says why the scenario cannot run here ("" if it can).
	missing func(options) string
	// start brings the tunnel up on e.top; what it starts, it registers
	// with e for tear-down and logs.
	start func(ctx context.Context, e *env) error
}

var scenarios = []*scenario{
	{
		name: "kernel", title: "bare kernel forwarding (ceiling)",
		topo:    topo.Options{KernelForwarding: true, KernelRoutes: true},
		missing: func(options) string { return "" },
		start:   func(context.Context, *env) error { return nil },
	},
	{
		name: "strongswan", title: "strongSwan kernel-libipsec, AES-GCM-128",
		topo:    topo.Options{KernelForwarding: true},
		missing: func(options) string { return errString(strongswan.Available()) },
		start:   startStrongswan,
	},
	{
		name: "wireguard", title: "wireguard-go",
		topo:    topo.Options{KernelForwarding: true},
		missing: func(options) string { return errString(wireguard.Available()) },
		start:   startWireguard,
	},
	{
		name: "ipsecgw", title: "ipsecgw, AF_XDP, AES-GCM-128",
		topo: topo.Options{},
		missing: func(o options) string {
			if _, err := os.Stat(o.ipsecgw); err != nil {
				return fmt.Sprintf("no ipsecgw binary at %s (make build)", o.ipsecgw)
			}
			return ""
		},
		start: startIpsecgw,
	},
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// env is one scenario brought up for one round: its topology and what
// runs in it.
type env struct {
	opts   options
	dir    string
	prefix string
	top    *topo.Topology
	stops  []func() error  // undone in reverse order
	logs   []func() string // what to show when something fails
	procs  []*daemon       // processes whose early exit fails the round
	pids   []int           // the gateways' data-plane processes, for perf
	server *daemon         // iperf3 server on host-b
}

func (e *env) up(ctx context.Context, sc *scenario) (err error) {
	if err := os.MkdirAll(e.dir, 0o700); err != nil {
		return err
	}
	o := sc.topo
	o.Prefix = e.prefix
	if e.top, err = topo.Build(o); err != nil {
		return err
	}
	e.stops = append(e.stops, e.top.Close)
	if err := sc.start(ctx, e); err != nil {
		return e.withLogs(err)
	}
	if err := e.waitPath(ctx); err != nil {
		return e.withLogs(err)
	}
	return e.startServer(ctx)
}

// close stops everything in reverse order of start.
func (e *env) close() error {
	var errs []error
	for i := len(e.stops) - 1; i >= 0; i-- {
		if err := e.stops[i](); err != nil {
			errs = append(errs, err)
		}
	}
	e.stops = nil
	return errors.Join(errs...)
}

// withLogs appends the tails of the scenario's logs to err.
func (e *env) withLogs(err error) error {
	var b strings.Builder
	b.WriteString(err.Error())
	for _, l := range e.logs {
		b.WriteString("\n")
		b.WriteString(l())
	}
	return errors.New(b.String())
}

// waitPath pings host-b from host-a until a reply comes (the first packets
// may be lost to neighbour resolution), a daemon exits, or 20 s pass.
func (e *env) waitPath(ctx context.Context) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, p := range e.procs {
			if p.exited() {
				return fmt.Errorf("%s exited before traffic flowed", p.name)
			}
		}
		if topo.Run(e.top.A.HostNS, "ping", "-c", "1", "-W", "1", e.top.B.Host.Addr().String()) == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("no ping from host-a reached host-b within 20 s")
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// daemon is a long-running process in a namespace, in its own process
// group so a stop reaches whatever it runs.
type daemon struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

func startDaemon(e *env, name, ns string, args ...string) (*daemon, error) {
	d := &daemon{name: name, log: filepath.Join(e.dir, name+".log"), done: make(chan struct{})}
	f, err := os.Create(d.log)
	if err != nil {
		return nil, err
	}
	d.cmd = topo.Command(context.Background(), ns, args...)
	d.cmd.Stdout, d.cmd.Stderr = f, f
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	go func() { d.cmd.Wait(); f.Close(); close(d.done) }()
	e.stops = append(e.stops, d.stop)
	e.logs = append(e.logs, func() string { return fmt.Sprintf("--- %s (last lines)\n%s", d.name, tail(d.log, 15)) })
	return d, nil
}

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, SIGKILL after 10 s.
func (d *daemon) stop() error {
	if d.exited() {
		return nil
	}
	syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-d.done:
		return nil
	case <-time.After(10 * time.Second):
		syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.done
		return fmt.Errorf("%s did not stop within 10 s of SIGTERM", d.name)
	}
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := crand.Read(b); err != nil {
		panic(err)
	}
	return b
}

// startStrongswan runs charon with kernel-libipsec on both gateways with an
// IKEv2 PSK tunnel between the LANs, ESP AES-GCM-128, and initiates it.
func startStrongswan(ctx context.Context, e *env) error {
	a, b := &e.top.A, &e.top.B
	conn := strongswan.Conn{Local: a.Outside.Addr(), Remote: b.Outside.Addr(),
		LocalTS: []netip.Prefix{a.LAN()}, RemoteTS: []netip.Prefix{b.LAN()},
		Proposals: "aes128gcm16-prfsha256-ecp256", ESP: "aes128gcm16", PSK: randomBytes(32)}
	var cs []*strongswan.Charon
	for i, site := range []*topo.Site{a, b} {
		dir := filepath.Join(e.dir, fmt.Sprintf("charon-%c", 'a'+i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		c, err := strongswan.Start(ctx, strongswan.Options{NS: site.GatewayNS, Dir: dir, InstallRoutes: true})
		if c != nil {
			e.stops = append(e.stops, c.Stop)
			e.logs = append(e.logs, func() string { return fmt.Sprintf("--- charon in %s (last lines)\n%s", c.NS, tail(c.LogPath(), 15)) })
		}
		if err != nil {
			return err
		}
		cc := conn
		if i == 1 {
			cc = conn.Mirror()
		}
		if err := c.Load(ctx, cc); err != nil {
			return err
		}
		e.pids = append(e.pids, c.Pid())
		cs = append(cs, c)
	}
	if err := cs[0].Initiate(ctx, "net"); err != nil {
		return err
	}
	_, err := cs[1].WaitChild(ctx, "net")
	return err
}

// startWireguard runs wireguard-go on both gateways, peers of each other,
// each routing the other's LAN into its tunnel.
func startWireguard(ctx context.Context, e *env) error {
	a, b := &e.top.A, &e.top.B
	var ds []*wireguard.Device
	for i, site := range []*topo.Site{a, b} {
		dir := filepath.Join(e.dir, fmt.Sprintf("wireguard-%c", 'a'+i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		d, err := wireguard.Start(ctx, wireguard.Options{NS: site.GatewayNS, Dir: dir})
		if d != nil {
			e.stops = append(e.stops, d.Stop)
			e.logs = append(e.logs, func() string { return fmt.Sprintf("--- wireguard-go in %s\n%s", d.NS, d.Output()) })
		}
		if err != nil {
			return err
		}
		e.pids = append(e.pids, d.Pid())
		ds = append(ds, d)
	}
	return wireguard.Connect(ctx, ds[0], a.Outside.Addr(), []netip.Prefix{a.LAN()}, ds[1], b.Outside.Addr(), []netip.Prefix{b.LAN()})
}

// The ipsecgw tunnel's transform: the same cipher strongSwan negotiates.
const ipsecgwTransform = "esp-gcm 128"

// startIpsecgw writes both gateways' configurations (AF_XDP on inside and
// outside, one worker, a manual-SA crypto map keyed for this round) and
// runs `ipsecgw run -c FILE` in each gateway namespace.
func startIpsecgw(ctx context.Context, e *env) error {
	a, b := &e.top.A, &e.top.B
	keyLen := crypto.CipherAESGCM16.KeyLen(128)
	aToB := manualSA{spi: 1001, key: hex.EncodeToString(randomBytes(keyLen))}
	bToA := manualSA{spi: 2001, key: hex.EncodeToString(randomBytes(keyLen))}
	for _, g := range []struct {
		name       string
		site, peer *topo.Site
		out, in    manualSA
	}{{"gw-a", a, b, aToB, bToA}, {"gw-b", b, a, bToA, aToB}} {
		policy := filepath.Join(e.dir, g.name+".cfg")
		system := filepath.Join(e.dir, g.name+".yaml")
		if err := os.WriteFile(policy, []byte(ipsecgwPolicy(g.name, g.site, g.peer, g.out, g.in)), 0o600); err != nil {
			return err
		}
		yaml := fmt.Sprintf(`# %s of the netns benchmark
interfaces:
  - name: inside
    driver: afxdp
    device: %s
  - name: outside
    driver: afxdp
    device: %s
dataplane:
  workers: 1
control:
  socket: %s
log:
  level: info
policy_file: %s
`, g.name, topo.InsideIf, topo.OutsideIf, filepath.Join(e.dir, g.name+".sock"), policy)
		if err := os.WriteFile(system, []byte(yaml), 0o600); err != nil {
			return err
		}
		d, err := startDaemon(e, g.name, g.site.GatewayNS, e.opts.ipsecgw, "run", "-c", system)
		if err != nil {
			return err
		}
		e.procs = append(e.procs, d)
		e.pids = append(e.pids, d.cmd.Process.Pid)
	}
	return nil
}

type manualSA struct {
	spi int
	key string
}

// ipsecgwPolicy is one gateway's IOS-style policy: one ipsec-manual crypto
// map entry protecting LAN to LAN, keys mirrored on the peer.
func ipsecgwPolicy(name string, s, peer *topo.Site, out, in manualSA) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("hostname %s", name)
	w("crypto ipsec transform-set bench %s", ipsecgwTransform)
	w(" mode tunnel")
	w("crypto map vpn 10 ipsec-manual")
	w(" set peer %v", peer.Outside.Addr())
	w(" set transform-set bench")
	w(" match address 101")
	w(" set session-key inbound esp %d cipher %s", in.spi, in.key)
	w(" set session-key outbound esp %d cipher %s", out.spi, out.key)
	w("interface inside")
	w(" ip address %v %v", s.Inside.Addr(), topo.Netmask(s.Inside.Bits()))
	w("interface outside")
	w(" ip address %v %v", s.Outside.Addr(), topo.Netmask(s.Outside.Bits()))
	w(" crypto map vpn")
	w("ip route %v %v %v", peer.LAN().Addr(), topo.Netmask(peer.LAN().Bits()), peer.Outside.Addr())
	w("access-list 101 permit ip %v %v %v %v", s.LAN().Addr(), topo.Wildcard(s.LAN().Bits()), peer.LAN().Addr(), topo.Wildcard(peer.LAN().Bits()))
	return b.String()
}
