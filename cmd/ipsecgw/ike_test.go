package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"ipsecgw/control"
	"ipsecgw/fastpath"
	"ipsecgw/fastpath/ring"
	"ipsecgw/topo"
)

// The live IKEv2 tests run two `ipsecgw run` processes on the topo
// namespaces with IKEv2 pre-shared-key policies: no SA exists at start;
// traffic from host A triggers the negotiation.

// ikeGateway is one running gateway of a live IKE test.
type ikeGateway struct {
	cfg  string // path without extension: .yaml, .cfg, .sock
	cmd  *exec.Cmd
	logs *bytes.Buffer
}

// ikeLivePolicy writes a site's configuration. dynamic makes the site
// answer from a dynamic crypto map instead of a static entry naming the
// peer; kilobytes sets the SA lifetime in kilobytes (0: the default).
func ikeLivePolicy(t *testing.T, dir string, self, peer *topo.Site, transform string, dynamic bool, kilobytes int) string {
	entry := fmt.Sprintf(`crypto map vpn 10 ipsec-isakmp
 set peer %s
 set transform-set TS
 set ikev2-profile prof
 match address 110`, peer.Outside.Addr())
	if dynamic {
		// No match address: the site accepts the selectors the peer
		// proposes and carries its own hosts' traffic back through a
		// temporary crypto map entry (the guide's dynamic map semantics).
		entry = `crypto dynamic-map dyn 10
 set transform-set TS
 set ikev2-profile prof
crypto map vpn 65535 ipsec-isakmp dynamic dyn`
	}
	if kilobytes > 0 {
		entry = strings.Replace(entry, " set transform-set TS", fmt.Sprintf(" set transform-set TS\n set security-association lifetime kilobytes %d", kilobytes), 1)
	}
	pol := fmt.Sprintf(`crypto ikev2 keyring peers
 peer all
  address %[1]s %[2]s
  pre-shared-key live-test-psk-%[3]d
crypto ikev2 profile prof
 match identity remote address %[1]s %[2]s
 authentication remote pre-share
 authentication local pre-share
 keyring local peers
 dpd 10 2 periodic
crypto ipsec transform-set TS %[4]s
%[5]s
interface inside
 ip address %[6]s %[7]s
interface outside
 ip address %[8]s %[9]s
 crypto map vpn
ip route %[10]s %[11]s %[12]s
access-list 110 permit ip %[13]s %[14]s %[10]s %[15]s
`, self.Outside.Masked().Addr(), topo.Netmask(self.Outside.Bits()), os.Getpid(), transform, entry,
		self.Inside.Addr(), topo.Netmask(self.Inside.Bits()), self.Outside.Addr(), topo.Netmask(self.Outside.Bits()),
		peer.LAN().Addr(), topo.Netmask(peer.LAN().Bits()), peer.Outside.Addr(),
		self.LAN().Addr(), topo.Wildcard(self.LAN().Bits()), topo.Wildcard(peer.LAN().Bits()))
	name := filepath.Join(dir, self.GatewayNS)
	if err := os.WriteFile(name+".cfg", []byte(pol), 0o644); err != nil {
		t.Fatal(err)
	}
	sys := fmt.Sprintf("interfaces:\n  - {name: inside, driver: afxdp}\n  - {name: outside, driver: afxdp}\ndataplane: {workers: 1}\npolicy_file: %s.cfg\ncontrol: {socket: %[1]s.sock}\nlog: {level: info}\n", name)
	if err := os.WriteFile(name+".yaml", []byte(sys), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

func startIKEGateway(t *testing.T, bin, ns, cfg string) *ikeGateway {
	g := &ikeGateway{cfg: cfg, logs: &bytes.Buffer{}}
	g.cmd = topo.Command(context.Background(), ns, bin, "run", "-c", cfg+".yaml")
	g.cmd.Stdout, g.cmd.Stderr = g.logs, g.logs
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.stop() })
	return g
}

func (g *ikeGateway) stop() {
	if g.cmd.ProcessState == nil {
		g.cmd.Process.Signal(syscall.SIGTERM)
		g.cmd.Wait()
	}
}

// show runs a show command against the gateway's control socket and
// decodes its JSON.
func (g *ikeGateway) show(t *testing.T, v any, args ...string) {
	t.Helper()
	out, err := exec.Command(testBin, append(append([]string{"show"}, args...), "--json", "--socket", g.cfg+".sock")...).CombinedOutput()
	if err != nil {
		t.Fatalf("show %v: %v\n%s", args, err, out)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("show %v: %v\n%s", args, err, out)
	}
}

func (g *ikeGateway) ikeSAs(t *testing.T) []control.IKEv2SA {
	var sas []control.IKEv2SA
	g.show(t, &sas, "crypto", "ikev2", "sa")
	return sas
}

func (g *ikeGateway) ipsecFlows(t *testing.T) []control.SAFlow {
	var flows []control.SAFlow
	g.show(t, &flows, "crypto", "ipsec", "sa")
	return flows
}

func eventually(t *testing.T, what string, d time.Duration, ok func() bool, logs ...*ikeGateway) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if ok() {
			return
		}
	}
	var b strings.Builder
	for _, g := range logs {
		fmt.Fprintf(&b, "\n%s:\n%s", g.cfg, g.logs)
	}
	t.Fatalf("timed out after %v waiting for %s%s", d, what, b.String())
}

// testBin is the gateway binary the live IKE tests built.
var testBin string

func TestRunLiveIKEv2(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces and attaches XDP programs")
	}
	if testing.Short() {
		t.Skip("live test; -short skips it")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is needed to build the gateway binary")
	}
	testBin = filepath.Join(t.TempDir(), "ipsecgw")
	if out, err := exec.Command(gobin, "build", "-o", testBin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building ipsecgw: %v\n%s", err, out)
	}
	t.Run("gcm128", liveIKEStatic)
	t.Run("cbc256-sha256-dynamic-rekeys", liveIKEDynamicRekeys)
}

func newIKETopo(t *testing.T) *topo.Topology {
	tp, err := topo.Build(topo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	return tp
}

// pingUntil pings host B from host A until a ping passes.
func pingUntil(t *testing.T, tp *topo.Topology, gws ...*ikeGateway) {
	t.Helper()
	eventually(t, "a ping through the negotiated tunnel", 20*time.Second, func() bool {
		return topo.Run(tp.A.HostNS, "ping", "-c", "1", "-W", "1", tp.B.Host.Addr().String()) == nil
	}, gws...)
}

// liveIKEStatic: AES-GCM-128 between two static entries. Traffic triggers
// the negotiation, a TCP transfer crosses, clear crypto sa on B deletes
// A's SAs too and traffic re-triggers them, and A's dead peer detection
// notices B killed.
func liveIKEStatic(t *testing.T) {
	dir := t.TempDir()
	tp := newIKETopo(t)
	a := startIKEGateway(t, testBin, tp.A.GatewayNS, ikeLivePolicy(t, dir, &tp.A, &tp.B, "esp-gcm 128", false, 0))
	b := startIKEGateway(t, testBin, tp.B.GatewayNS, ikeLivePolicy(t, dir, &tp.B, &tp.A, "esp-gcm 128", false, 0))
	pingUntil(t, tp, a, b)

	flows := a.ipsecFlows(t)
	if len(flows) != 1 || len(flows[0].Outbound) != 1 || !strings.Contains(flows[0].Outbound[0].Transform, "gcm") {
		t.Fatalf("A's IPsec SAs: %+v", flows)
	}
	if sas := a.ikeSAs(t); len(sas) != 1 || sas[0].Status != "READY" || sas[0].Role != "Initiator" {
		t.Fatalf("A's IKE SAs: %+v", sas)
	}
	if err := topo.TCPTransfer(tp.A.HostNS, tp.B.HostNS, tp.B.Host.Addr(), 8<<20); err != nil {
		t.Fatalf("TCP transfer through the negotiated SAs: %v\nA:\n%s\nB:\n%s", err, a.logs, b.logs)
	}

	// clear crypto sa on B: its Delete takes A's SAs away; the IKE SA
	// stays and traffic re-triggers a CHILD_SA.
	oldSPI := flows[0].CurrentSPI
	if out, err := exec.Command(testBin, "clear", "crypto", "sa", "--socket", b.cfg+".sock").CombinedOutput(); err != nil {
		t.Fatalf("clear crypto sa: %v\n%s", err, out)
	}
	eventually(t, "A's SAs to go with B's delete", 5*time.Second, func() bool { return len(a.ipsecFlows(t)) == 0 }, a, b)
	pingUntil(t, tp, a, b)
	if f := a.ipsecFlows(t); len(f) != 1 || f[0].CurrentSPI == oldSPI {
		t.Fatalf("after clear and re-trigger, A's IPsec SAs: %+v", f)
	}

	// Dead peer detection: B dies without a word.
	b.cmd.Process.Signal(syscall.SIGKILL)
	b.cmd.Wait()
	eventually(t, "A's DPD to remove the IKE SA of the killed peer", 40*time.Second, func() bool {
		return len(a.ikeSAs(t)) == 0 && len(a.ipsecFlows(t)) == 0
	}, a)
	if !strings.Contains(a.logs.String(), "peer dead") {
		t.Errorf("A did not log the peer as dead:\n%s", a.logs)
	}
	// The packets that triggered negotiation were dropped and counted
	// (the exit summary lists drops by reason).
	a.stop()
	if !strings.Contains(a.logs.String(), "no_sa") {
		t.Errorf("A's summary counts no no_sa drops:\n%s", a.logs)
	}
}

// liveIKEDynamicRekeys: AES-CBC-256 + HMAC-SHA-256; B has no entry for A,
// only a dynamic map without match address, and answers, its replies
// protected through the temporary entry it fills for A. A small kilobyte lifetime makes a TCP
// transfer rekey the CHILD_SA several times while pings flow: none is
// lost, and the transfer arrives intact.
func liveIKEDynamicRekeys(t *testing.T) {
	dir := t.TempDir()
	tp := newIKETopo(t)
	const kb = 76800 // 75 MB: rekeys start at 85-95 % of it, leaving room for the exchange at full speed
	a := startIKEGateway(t, testBin, tp.A.GatewayNS, ikeLivePolicy(t, dir, &tp.A, &tp.B, "esp-aes 256 esp-sha256-hmac", false, kb))
	b := startIKEGateway(t, testBin, tp.B.GatewayNS, ikeLivePolicy(t, dir, &tp.B, &tp.A, "esp-aes 256 esp-sha256-hmac", true, kb))
	pingUntil(t, tp, a, b)
	sas := b.ikeSAs(t)
	if len(sas) != 1 || sas[0].Role != "Responder" || len(sas[0].ChildSAs) != 1 || sas[0].ChildSAs[0].Seq != 65535 {
		t.Fatalf("B's IKE SAs (dynamic map responder): %+v", sas)
	}
	first := sas[0].ChildSAs[0].InSPI
	var maps []control.CryptoMapSet
	b.show(t, &maps, "crypto", "map")
	if len(maps) != 1 || len(maps[0].Entries) != 2 || maps[0].Entries[1].CreatedFrom != "dyn/10" || maps[0].Entries[1].CurrentPeer != tp.A.Outside.Addr().String() {
		t.Fatalf("B's crypto map lacks the temporary entry for A: %+v", maps)
	}

	ping := exec.Command("ip", "netns", "exec", tp.A.HostNS, "ping", "-q", "-i", "0.01", "-c", "600", "-W", "1", tp.B.Host.Addr().String())
	var pingOut bytes.Buffer
	ping.Stdout, ping.Stderr = &pingOut, &pingOut
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}
	if err := topo.TCPTransfer(tp.A.HostNS, tp.B.HostNS, tp.B.Host.Addr(), 256<<20); err != nil {
		t.Errorf("TCP transfer across rekeys: %v", err)
	}
	ping.Wait()
	if !strings.Contains(pingOut.String(), " 0% packet loss") {
		t.Errorf("pings lost across rekeys:\n%s\nA:\n%s\nB:\n%s", pingOut.String(), a.logs, b.logs)
	}
	rekeys := strings.Count(a.logs.String(), "CHILD_SA installed") - 1
	if rekeys < 2 {
		t.Errorf("%d CHILD_SA rekeys during the transfer, want at least 2\nA:\n%s", rekeys, a.logs)
	}
	// A rekey may still be finishing (the old SA lives on for its grace
	// period); then one CHILD_SA remains, not the first.
	eventually(t, "B to settle on one rekeyed CHILD_SA", 10*time.Second, func() bool {
		s := b.ikeSAs(t)
		return len(s) == 1 && len(s[0].ChildSAs) == 1 && s[0].ChildSAs[0].InSPI != first
	}, a, b)
	t.Logf("%d CHILD_SA rekeys during a 256 MiB transfer; pings: %s", rekeys, lastLine(pingOut.String()))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// BenchmarkPuntDrainInterval measures what the run loop's punt drain
// interval (puntDrainInterval) costs and buys: the delay from a worker
// committing a punt (a lifetime event, an ACQUIRE, an IKE datagram) to the
// slow path taking it, and the CPU the loop uses on an idle gateway. Run
// with -benchtime 1x; each interval is measured in the same run.
func BenchmarkPuntDrainInterval(b *testing.B) {
	for _, d := range []time.Duration{10 * time.Millisecond, 2 * time.Millisecond, time.Millisecond, 500 * time.Microsecond} {
		b.Run(d.String(), func(b *testing.B) {
			for range b.N {
				delays, cpu := measureDrain(b, d)
				slices.Sort(delays)
				b.ReportMetric(float64(delays[len(delays)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(delays[len(delays)*99/100].Microseconds())/1000, "p99-ms")
				b.ReportMetric(cpu*100, "idle-cpu-%")
			}
		})
	}
}

// measureDrain runs the run loop's drain (ticker, Peek/Release) over a
// punt ring: first idle for a second (CPU used), then with punts committed
// at random moments (delays).
func measureDrain(b *testing.B, every time.Duration) ([]time.Duration, float64) {
	r, err := ring.New[fastpath.Punt](1024)
	if err != nil {
		b.Fatal(err)
	}
	const events = 300
	var stamps [events]atomic.Int64
	delays := make([]time.Duration, 0, events)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				for s := r.Peek(); s != nil; s = r.Peek() {
					delays = append(delays, time.Duration(time.Now().UnixNano()-stamps[s.Rule].Load()))
					r.Release()
				}
			}
		}
	}()
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	c0, t0 := cpu(), time.Now()
	time.Sleep(time.Second)
	idle := float64(cpu()-c0) / float64(time.Since(t0))
	for i := range events {
		time.Sleep(time.Duration(mrand.Int64N(int64(3 * time.Millisecond))))
		s := r.Reserve()
		s.Kind, s.Rule = fastpath.PuntSAExpiry, i
		stamps[i].Store(time.Now().UnixNano())
		r.Commit()
	}
	time.Sleep(3 * every)
	close(stop)
	<-done
	return delays, idle
}
