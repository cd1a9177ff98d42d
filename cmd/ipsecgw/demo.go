package main

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"ipsecgw/config"
	"ipsecgw/topo"
)

func init() {
	commands = append(commands, newDemoCmd)
}

type demoOptions struct {
	transform string
	keying    string // "ike" or "manual"
	seconds   int
	keep      bool
}

func newDemoCmd() *cobra.Command {
	var o demoOptions
	c := &cobra.Command{
		Use:   "demo",
		Short: "Bring up a live IPsec tunnel between network namespaces and show it working",
		Long: `demo builds two sites joined by a wire out of network namespaces and veths,

  host-a ── gw-a ══ wire ══ gw-b ── host-b

starts an ipsecgw gateway (AF_XDP on both of its interfaces) in each gateway
namespace, and then shows the tunnel at work: ping and ping6 across (the
first packets make IKEv2 negotiate the SAs), what the wire carries (ESP
only), a TCP transfer with iperf3, gw-a's show crypto ikev2 sa and show
crypto ipsec sa, and each gateway's counters. It removes everything it
created when it ends, also when interrupted. Needs root.

By default the gateways negotiate with IKEv2, authenticated by a pre-shared
key generated for this run (written only to the gateways' configuration
files, mode 0600, and removed at the end; never printed). --keying manual
uses manual SAs (set session-key) with keys generated for this run instead.`,
		Args: exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDemo(ctx, c.OutOrStdout(), o)
		},
	}
	c.Flags().StringVar(&o.transform, "transform", "esp-gcm 128", "transform set of the tunnel, as in `crypto ipsec transform-set` (e.g. \"esp-aes 256 esp-sha256-hmac\")")
	c.Flags().StringVar(&o.keying, "keying", "ike", "how the SAs are keyed: ike (IKEv2 with a pre-shared key) or manual (set session-key)")
	c.Flags().IntVar(&o.seconds, "seconds", 3, "length of the TCP transfer in seconds")
	c.Flags().BoolVar(&o.keep, "keep", false, "leave the tunnel up until Ctrl-C (try ipsecgw show commands in another terminal)")
	return c
}

// demo is one run: the topology, the gateways and where their files live.
type demo struct {
	out  io.Writer
	top  *topo.Topology
	dir  string
	gws  []*demoGateway
	step int
}

type demoGateway struct {
	name   string
	site   *topo.Site
	config string
	socket string
	log    string
	cmd    *exec.Cmd
	done   chan error
	stdout bytes.Buffer
}

const demoSteps = 7

func runDemo(ctx context.Context, out io.Writer, o demoOptions) (err error) {
	if os.Geteuid() != 0 {
		return userErrorf("demo builds network namespaces and attaches XDP programs: run it as root")
	}
	ts, err := demoTransformSet(o.transform)
	if err != nil {
		return userErrorf("--transform %q: %v", o.transform, err)
	}
	if o.keying != "ike" && o.keying != "manual" {
		return userErrorf("--keying %q: want ike or manual", o.keying)
	}
	for _, tool := range []string{"ip", "ping", "iperf3", "tcpdump", "ethtool"} {
		if _, err := exec.LookPath(tool); err != nil {
			return userErrorf("demo needs %s (scripts/setup.sh installs it)", tool)
		}
	}
	d := &demo{out: out}
	defer func() {
		if err != nil {
			fmt.Fprintln(out, "failed")
		}
		d.cleanup()
	}()

	fmt.Fprintf(out, "ipsecgw demo: two sites joined by an IPsec tunnel, in network namespaces\n\n")
	d.begin("building the topology")
	if d.top, err = topo.Build(topo.Options{}); err != nil {
		return err
	}
	a, b := &d.top.A, &d.top.B
	fmt.Fprintf(out, "done\n\n      host-a %v ── %v gw-a %v ══ wire ══ %v gw-b %v ── %v host-b\n      namespaces %s\n\n",
		a.Host.Addr(), a.Inside.Addr(), a.Outside.Addr(), b.Outside.Addr(), b.Inside.Addr(), b.Host.Addr(),
		strings.Join(d.top.Namespaces(), " "))

	keying := "IKEv2 with a pre-shared key generated for this run"
	if o.keying == "manual" {
		keying = "manual SAs, keys generated for this run"
	}
	d.begin(fmt.Sprintf("starting both gateways (%s, %s)", keying, o.transform))
	if d.dir, err = os.MkdirTemp("", "ipsecgw-demo-"); err != nil {
		return err
	}
	if err = d.startGateways(ctx, ts, o.keying); err != nil {
		return err
	}
	if err = d.waitTunnel(ctx); err != nil {
		return err
	}
	if o.keying == "ike" {
		fmt.Fprintln(out, "up: the first pings made the gateways negotiate the SAs")
	} else {
		fmt.Fprintln(out, "up")
	}

	d.begin("ping across the tunnel")
	fmt.Fprintln(out)
	for _, dst := range []string{b.Host.Addr().String(), b.Host6.Addr().String()} {
		sum, err := pingSummary(ctx, a.HostNS, dst)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "      host-a -> %-12s %s\n", dst, sum)
	}
	fmt.Fprintln(out)

	d.begin("what the wire carries while host-a pings host-b (tcpdump on the wire bridge)")
	fmt.Fprintln(out)
	if err = d.showWire(ctx); err != nil {
		return err
	}

	d.begin(fmt.Sprintf("TCP transfer host-a -> host-b (iperf3, %d s)", o.seconds))
	rate, err := d.transfer(ctx, o.seconds)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%.2f Gbit/s\n\n", rate/1e9)

	d.begin("gw-a's SAs, as its control socket shows them")
	fmt.Fprintln(out)
	if err = d.showSAs(ctx, d.gws[0], o.keying == "ike"); err != nil {
		return err
	}

	if o.keep {
		fmt.Fprintf(out, "      the tunnel stays up until Ctrl-C; in another terminal try:\n")
		for _, g := range d.gws {
			fmt.Fprintf(out, "        ip netns exec %s ping %v\n", g.site.HostNS, d.other(g).site.Host.Addr())
		}
		for _, g := range d.gws {
			fmt.Fprintf(out, "        ipsecgw show crypto ipsec sa --socket %s\n", g.socket)
		}
		fmt.Fprintf(out, "      gateway logs: %s\n\n", d.dir)
		<-ctx.Done()
	}

	d.begin("stopping the gateways: their counters and SAs")
	fmt.Fprintln(out)
	return d.stopGateways()
}

func (d *demo) begin(what string) {
	d.step++
	fmt.Fprintf(d.out, "[%d/%d] %s ... ", d.step, demoSteps, what)
}

// demoTransformSet checks a transform list the way the configuration does,
// so a bad --transform is reported in the configuration's words.
func demoTransformSet(words string) (*config.TransformSet, error) {
	pol, diags := config.ParseIOS("--transform", []byte("crypto ipsec transform-set demo "+words+"\n"))
	if diags.Errors() > 0 {
		var msgs []string
		for _, d := range diags.Sorted() {
			msgs = append(msgs, d.Msg)
		}
		return nil, errors.New(strings.Join(msgs, "; "))
	}
	return pol.TransformSets["demo"], nil
}

// demoKeys is one direction's keys of the demo tunnel.
type demoKeys struct {
	spi            int
	cipher, authen string
}

func newDemoKeys(spi int, ts *config.TransformSet) demoKeys {
	k := demoKeys{spi: spi, cipher: randomHex(ts.ESP.Cipher.KeyLen(ts.ESP.KeyBits))}
	if n := ts.ESP.Integ.KeyLen(); n > 0 {
		k.authen = randomHex(n)
	}
	return k
}

func (k demoKeys) line(dir string) string {
	s := fmt.Sprintf(" set session-key %s esp %d cipher %s", dir, k.spi, k.cipher)
	if k.authen != "" {
		s += " authenticator " + k.authen
	}
	return s
}

func randomHex(n int) string {
	if n == 0 {
		return ""
	}
	b := make([]byte, n)
	if _, err := crand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func (d *demo) startGateways(ctx context.Context, ts *config.TransformSet, keying string) error {
	if !ts.HasESP() || ts.HasAH() {
		return userErrorf("the demo protects with ESP only; pick an ESP transform set")
	}
	aToB, bToA := newDemoKeys(1001, ts), newDemoKeys(2001, ts)
	psk := randomHex(32)
	sites := []struct {
		name     string
		site     *topo.Site
		out, in  demoKeys
		peerSite *topo.Site
	}{
		{"gw-a", &d.top.A, aToB, bToA, &d.top.B},
		{"gw-b", &d.top.B, bToA, aToB, &d.top.A},
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for _, s := range sites {
		g := &demoGateway{name: s.name, site: s.site,
			config: filepath.Join(d.dir, s.name+".yaml"),
			socket: filepath.Join(d.dir, s.name+".sock"),
			log:    filepath.Join(d.dir, s.name+".log")}
		entries := demoManualEntries(s.peerSite, s.out, s.in)
		if keying == "ike" {
			entries = demoIKEEntries(s.peerSite, psk)
		}
		policy := demoPolicy(s.name, ts, s.site, s.peerSite, entries)
		system := fmt.Sprintf(`# %s of ipsecgw demo
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
policy_file: %s.cfg
`, s.name, topo.InsideIf, topo.OutsideIf, g.socket, s.name)
		if err := os.WriteFile(filepath.Join(d.dir, s.name+".cfg"), []byte(policy), 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(g.config, []byte(system), 0o600); err != nil {
			return err
		}
		logf, err := os.Create(g.log)
		if err != nil {
			return err
		}
		// The gateway outlives ctx's cancellation long enough to detach
		// cleanly: stopGateways signals it, the context does not kill it.
		g.cmd = topo.Command(context.WithoutCancel(ctx), s.site.GatewayNS, self, "run", "-c", g.config)
		g.cmd.Stdout = &g.stdout
		g.cmd.Stderr = logf
		g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := g.cmd.Start(); err != nil {
			logf.Close()
			return err
		}
		g.done = make(chan error, 1)
		go func() { g.done <- g.cmd.Wait(); logf.Close() }()
		d.gws = append(d.gws, g)
	}
	return nil
}

// demoPolicy is one gateway's IOS-style policy: crypto map vpn with one
// entry for the two LANs in IPv4 (seq 10) and one in IPv6 (seq 20), both
// with the peer's IPv4 address, as entries writes them.
func demoPolicy(name string, ts *config.TransformSet, s, peer *topo.Site, entries string) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("hostname %s", name)
	w("crypto ipsec transform-set demo %s", ts.TransformText())
	w(" mode tunnel")
	b.WriteString(entries)
	w("interface inside")
	w(" ip address %v %v", s.Inside.Addr(), topo.Netmask(s.Inside.Bits()))
	w(" ipv6 address %v", s.Inside6)
	w("interface outside")
	w(" ip address %v %v", s.Outside.Addr(), topo.Netmask(s.Outside.Bits()))
	w(" ipv6 address %v", s.Outside6)
	w(" crypto map vpn")
	w("ip route %v %v %v", peer.LAN().Addr(), topo.Netmask(peer.LAN().Bits()), peer.Outside.Addr())
	w("ipv6 route %v %v", peer.LAN6(), peer.Outside6.Addr())
	w("access-list 101 permit ip %v %v %v %v", s.LAN().Addr(), topo.Wildcard(s.LAN().Bits()), peer.LAN().Addr(), topo.Wildcard(peer.LAN().Bits()))
	w("ipv6 access-list lan6")
	w(" permit ipv6 %v %v", s.LAN6(), peer.LAN6())
	return b.String()
}

// demoManualEntries are ipsec-manual entries, keys mirrored on the peer.
func demoManualEntries(peer *topo.Site, out, in demoKeys) string {
	v6out, v6in := out, in
	v6out.spi++
	v6in.spi++
	var b strings.Builder
	for _, e := range []struct {
		seq     int
		acl     string
		out, in demoKeys
	}{{10, "101", out, in}, {20, "lan6", v6out, v6in}} {
		fmt.Fprintf(&b, "crypto map vpn %d ipsec-manual\n set peer %v\n set transform-set demo\n match address %s\n%s\n%s\n",
			e.seq, peer.Outside.Addr(), e.acl, e.in.line("inbound"), e.out.line("outbound"))
	}
	return b.String()
}

// demoIKEEntries are ipsec-isakmp entries negotiated with IKEv2 and the
// pre-shared key psk: one IKE SA with the peer, a CHILD_SA per entry.
func demoIKEEntries(peer *topo.Site, psk string) string {
	p := peer.Outside.Addr()
	var b strings.Builder
	fmt.Fprintf(&b, "crypto ikev2 keyring demo\n peer %s\n  address %v\n  pre-shared-key %s\n", "peer", p, psk)
	fmt.Fprintf(&b, "crypto ikev2 profile demo\n match identity remote address %v 255.255.255.255\n authentication remote pre-share\n authentication local pre-share\n keyring local demo\n dpd 10 2 periodic\n", p)
	for _, e := range []struct {
		seq int
		acl string
	}{{10, "101"}, {20, "lan6"}} {
		fmt.Fprintf(&b, "crypto map vpn %d ipsec-isakmp\n set peer %v\n set transform-set demo\n set ikev2-profile demo\n match address %s\n", e.seq, p, e.acl)
	}
	return b.String()
}

// showSAs prints gw's show crypto ikev2 sa (with IKE) and show crypto
// ipsec sa, as an operator would run them against the running gateway.
func (d *demo) showSAs(ctx context.Context, g *demoGateway, ike bool) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var cmds [][]string
	if ike {
		cmds = append(cmds, []string{"crypto", "ikev2", "sa"})
	}
	cmds = append(cmds, []string{"crypto", "ipsec", "sa"})
	for _, c := range cmds {
		out, err := exec.CommandContext(ctx, self, append(append([]string{"show"}, c...), "--socket", g.socket)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("show %s on %s: %v\n%s", strings.Join(c, " "), g.name, err, out)
		}
		fmt.Fprintf(d.out, "   %s# show %s\n", g.name, strings.Join(c, " "))
		for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
			fmt.Fprintf(d.out, "      %s\n", l)
		}
		fmt.Fprintln(d.out)
	}
	return nil
}

func (d *demo) other(g *demoGateway) *demoGateway {
	if d.gws[0] == g {
		return d.gws[1]
	}
	return d.gws[0]
}

// waitTunnel waits until a ping crosses in both directions, or a gateway
// exits, or 20 seconds pass.
func (d *demo) waitTunnel(ctx context.Context) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, g := range d.gws {
			select {
			case err := <-g.done:
				g.done <- err
				return fmt.Errorf("%s exited (%v); its log:\n%s", g.name, err, tail(g.log, 20))
			default:
			}
		}
		a, b := d.gws[0], d.gws[1]
		// Both address families: the first packet towards an unresolved
		// neighbour is dropped (no_neighbor) while the gateway resolves it.
		if topo.Run(a.site.HostNS, "ping", "-c", "1", "-W", "1", b.site.Host.Addr().String()) == nil &&
			topo.Run(a.site.HostNS, "ping", "-c", "1", "-W", "1", b.site.Host6.Addr().String()) == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no ping crossed the tunnel within 20 s; gateway logs:\n%s\n%s", tail(a.log, 20), tail(b.log, 20))
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

func pingSummary(ctx context.Context, ns, dst string) (string, error) {
	out, err := topo.Command(ctx, ns, "ping", "-c", "5", "-i", "0.2", "-W", "2", dst).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("ping %s from %s: %v\n%s", dst, ns, err, out)
	}
	var loss, rtt string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "packet loss") {
			loss = strings.TrimSpace(l)
		}
		if strings.HasPrefix(l, "rtt") {
			rtt = strings.TrimSpace(l)
		}
	}
	return loss + "; " + rtt, nil
}

// showWire captures on the wire bridge while host-a pings host-b and
// prints what was seen: ESP between the gateways, never the hosts' packets.
func (d *demo) showWire(ctx context.Context) error {
	a, b := &d.top.A, &d.top.B
	cap := topo.Command(ctx, d.top.WireNS, "timeout", "5", "tcpdump", "-i", topo.BridgeIf, "-n", "-l",
		"--immediate-mode", "-c", "8", "ip or ip6")
	var capOut bytes.Buffer
	cap.Stdout = &capOut
	if err := cap.Start(); err != nil {
		return err
	}
	time.Sleep(500 * time.Millisecond) // tcpdump attaches
	if _, err := pingSummary(ctx, a.HostNS, b.Host.Addr().String()); err != nil {
		return err
	}
	_ = cap.Wait() // exits after 8 packets or by timeout; both are fine
	esp, clear := 0, 0
	sc := bufio.NewScanner(&capOut)
	for sc.Scan() {
		l := sc.Text()
		fmt.Fprintf(d.out, "      %s\n", l)
		switch {
		case strings.Contains(l, "ESP("):
			esp++
		case strings.Contains(l, a.Host.Addr().String()), strings.Contains(l, b.Host.Addr().String()):
			clear++
		}
	}
	fmt.Fprintf(d.out, "      => %d ESP packets, %d cleartext packets of the hosts on the wire\n\n", esp, clear)
	if clear > 0 || esp == 0 {
		return fmt.Errorf("the wire carried the hosts' traffic in the clear")
	}
	return nil
}

// transfer runs iperf3 from host-a to host-b and returns bits per second.
func (d *demo) transfer(ctx context.Context, seconds int) (float64, error) {
	a, b := &d.top.A, &d.top.B
	srv := topo.Command(ctx, b.HostNS, "iperf3", "-s", "-1", "-B", b.Host.Addr().String())
	if err := srv.Start(); err != nil {
		return 0, err
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	// The server needs a moment to listen; connecting early is refused.
	for try := 0; ; try++ {
		out, _ := topo.Output(b.HostNS, "ss", "-Hltn", "sport", "= :5201")
		if len(bytes.TrimSpace(out)) > 0 {
			break
		}
		if try == 50 || ctx.Err() != nil {
			return 0, errors.New("iperf3 server on host-b did not start listening")
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, err := topo.Command(ctx, a.HostNS, "iperf3", "-c", b.Host.Addr().String(), "-t", fmt.Sprint(seconds), "-J").Output()
	var r struct {
		Error string `json:"error"`
		End   struct {
			SumReceived struct {
				Bytes         int64   `json:"bytes"`
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if jerr := json.Unmarshal(out, &r); jerr != nil || r.Error != "" || err != nil {
		return 0, fmt.Errorf("iperf3 from host-a: %v %s\n%s", err, r.Error, out)
	}
	if r.End.SumReceived.Bytes == 0 {
		return 0, errors.New("iperf3: host-b received nothing")
	}
	return r.End.SumReceived.BitsPerSecond, nil
}

// stopGateways stops both gateways with SIGTERM and prints the summary
// each prints on exit.
func (d *demo) stopGateways() error {
	var errs []error
	for _, g := range d.gws {
		if err := d.stop(g); err != nil {
			errs = append(errs, err)
		}
		fmt.Fprintf(d.out, "   == %s ==\n", g.name)
		for _, l := range strings.Split(strings.TrimRight(g.stdout.String(), "\n"), "\n") {
			fmt.Fprintf(d.out, "      %s\n", l)
		}
		fmt.Fprintln(d.out)
	}
	d.gws = nil
	return errors.Join(errs...)
}

func (d *demo) stop(g *demoGateway) error {
	if g.cmd.Process == nil {
		return nil
	}
	// Signal the whole group: `ip netns exec` execs the gateway, but be
	// sure whatever runs gets the signal.
	syscall.Kill(-g.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case err := <-g.done:
		if err != nil {
			return fmt.Errorf("%s: %v; its log:\n%s", g.name, err, tail(g.log, 20))
		}
		return nil
	case <-time.After(10 * time.Second):
		syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
		<-g.done
		return fmt.Errorf("%s did not stop within 10 s", g.name)
	}
}

// cleanup stops what is still running and removes the topology and files.
func (d *demo) cleanup() {
	for _, g := range d.gws {
		d.stop(g)
	}
	if d.top != nil {
		fmt.Fprintf(d.out, "removing namespaces %s ... ", strings.Join(d.top.Namespaces(), " "))
		if err := d.top.Close(); err != nil {
			fmt.Fprintf(d.out, "%v\n", err)
		} else {
			fmt.Fprintln(d.out, "done")
		}
	}
	if d.dir != "" {
		os.RemoveAll(d.dir)
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "        " + strings.Join(lines, "\n        ")
}
