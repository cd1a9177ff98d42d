package interop

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"ipsecgw/control"
	"ipsecgw/topo"
)

// gatewayBin is the ipsecgw binary TestStrongSwan builds once.
var gatewayBin string

// psk is the pre-shared key both sides use; it names the process so that
// leftovers of another run never authenticate.
var psk = fmt.Sprintf("interop-psk-%d", os.Getpid())

// policy shapes gw-a's configuration.
type policy struct {
	transform string // transform-set, e.g. "esp-gcm 128"
	dynamic   bool   // answer from a dynamic map only, no static entry
	kilobytes int    // SA lifetime in kilobytes (0: the default)
}

// writeConfig writes gw-a's IOS policy and system YAML into dir and returns
// their path without extension (.cfg, .yaml, .sock).
func writeConfig(t testing.TB, dir string, self, peer *topo.Site, p policy) string {
	t.Helper()
	entry := fmt.Sprintf(`crypto map vpn 10 ipsec-isakmp
 set peer %s
 set transform-set TS
 set ikev2-profile prof
 match address 110`, peer.Outside.Addr())
	if p.dynamic {
		entry = `crypto dynamic-map dyn 10
 set transform-set TS
 set ikev2-profile prof
 match address 110
crypto map vpn 65535 ipsec-isakmp dynamic dyn`
	}
	if p.kilobytes > 0 {
		entry = strings.Replace(entry, " set transform-set TS", fmt.Sprintf(" set transform-set TS\n set security-association lifetime kilobytes %d", p.kilobytes), 1)
	}
	pol := fmt.Sprintf(`crypto ikev2 keyring peers
 peer all
  address %[1]s %[2]s
  pre-shared-key %[3]s
crypto ikev2 profile prof
 match identity remote address %[1]s %[2]s
 authentication remote pre-share
 authentication local pre-share
 keyring local peers
 dpd %[16]d %[17]d periodic
crypto ipsec transform-set TS %[4]s
%[5]s
interface inside
 ip address %[6]s %[7]s
interface outside
 ip address %[8]s %[9]s
 crypto map vpn
ip route %[10]s %[11]s %[12]s
access-list 110 permit ip %[13]s %[14]s %[10]s %[15]s
`, self.Outside.Masked().Addr(), topo.Netmask(self.Outside.Bits()), psk, p.transform, entry,
		self.Inside.Addr(), topo.Netmask(self.Inside.Bits()), self.Outside.Addr(), topo.Netmask(self.Outside.Bits()),
		peer.LAN().Addr(), topo.Netmask(peer.LAN().Bits()), peer.Outside.Addr(),
		self.LAN().Addr(), topo.Wildcard(self.LAN().Bits()), topo.Wildcard(peer.LAN().Bits()),
		int(dpdInterval/time.Second), int(dpdRetry/time.Second))
	name := filepath.Join(dir, "gw-a")
	if err := os.WriteFile(name+".cfg", []byte(pol), 0o600); err != nil {
		t.Fatal(err)
	}
	sys := fmt.Sprintf("interfaces:\n  - {name: inside, driver: afxdp}\n  - {name: outside, driver: afxdp}\ndataplane: {workers: 1}\npolicy_file: %s.cfg\ncontrol: {socket: %[1]s.sock}\nlog: {level: info}\n", name)
	if err := os.WriteFile(name+".yaml", []byte(sys), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// ipsecgw's dead peer detection: `dpd 10 2 periodic`, the smallest
// interval IOS accepts, and the engine's default of 5 retries.
const (
	dpdInterval = 10 * time.Second
	dpdRetry    = 2 * time.Second
	dpdRetries  = 5
)

// gateway is a running `ipsecgw run`.
type gateway struct {
	cfg  string // configuration path without extension
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
}

func (g *gateway) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.logs.Write(p)
}

// Logs returns what the gateway has logged so far.
func (g *gateway) Logs() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.logs.String()
}

// startGateway runs ipsecgw in ns and waits until its control socket
// answers.
func startGateway(t *testing.T, ns, cfg string) *gateway {
	t.Helper()
	g := &gateway{cfg: cfg}
	g.cmd = topo.Command(context.Background(), ns, gatewayBin, "run", "-c", cfg+".yaml")
	g.cmd.Stdout, g.cmd.Stderr = g, g
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.stop()
		if t.Failed() {
			t.Logf("ipsecgw log:\n%s", g.Logs())
		}
	})
	eventually(t, "ipsecgw's control socket", 15*time.Second, func() error {
		var sas []control.IKEv2SA
		return g.query(&sas, "show", "crypto", "ikev2", "sa")
	})
	return g
}

func (g *gateway) stop() {
	if g.cmd.ProcessState == nil {
		g.cmd.Process.Signal(syscall.SIGTERM)
		g.cmd.Wait()
	}
}

// kill ends the gateway as a crash would: no Delete leaves it.
func (g *gateway) kill() {
	g.cmd.Process.Signal(syscall.SIGKILL)
	g.cmd.Wait()
}

// query runs an ipsecgw control command (show ... --json) and decodes its
// output into v (nil: output ignored).
func (g *gateway) query(v any, args ...string) error {
	args = append(args, "--socket", g.cfg+".sock")
	if v != nil {
		args = append(args, "--json")
	}
	out, err := exec.Command(gatewayBin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ipsecgw %s: %v: %s", strings.Join(args, " "), err, out)
	}
	if v != nil {
		if err := json.Unmarshal(out, v); err != nil {
			return fmt.Errorf("ipsecgw %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

func (g *gateway) ikeSAs(t *testing.T) []control.IKEv2SA {
	t.Helper()
	var sas []control.IKEv2SA
	if err := g.query(&sas, "show", "crypto", "ikev2", "sa"); err != nil {
		t.Fatal(err)
	}
	return sas
}

func (g *gateway) flows(t *testing.T) []control.SAFlow {
	t.Helper()
	var flows []control.SAFlow
	if err := g.query(&flows, "show", "crypto", "ipsec", "sa"); err != nil {
		t.Fatal(err)
	}
	return flows
}

// eventually polls ok until it returns nil or d passes.
func eventually(t *testing.T, what string, d time.Duration, ok func() error) {
	t.Helper()
	var err error
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if err = ok(); err == nil {
			return
		}
	}
	t.Fatalf("timed out after %v waiting for %s: %v", d, what, err)
}

// pingFlood pings host-b from host-a every 10 ms in the background; wait
// returns ping's summary and an error unless every reply came back.
type pingFlood struct {
	cmd   *exec.Cmd
	out   bytes.Buffer
	count int
}

func startFlood(t *testing.T, tp *topo.Topology, count int) *pingFlood {
	t.Helper()
	f := &pingFlood{count: count}
	f.cmd = topo.Command(context.Background(), tp.A.HostNS, "ping", "-q", "-i", "0.01", "-c", fmt.Sprint(count), "-W", "1", tp.B.Host.Addr().String())
	f.cmd.Stdout, f.cmd.Stderr = &f.out, &f.out
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if f.cmd.ProcessState == nil {
			f.cmd.Process.Kill()
			f.cmd.Wait()
		}
	})
	return f
}

var pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

func (f *pingFlood) wait() (string, error) {
	f.cmd.Wait()
	out := f.out.String()
	m := pingSummary.FindStringSubmatch(out)
	if m == nil {
		return out, fmt.Errorf("no ping summary: %s", out)
	}
	if m[1] != fmt.Sprint(f.count) || m[2] != m[1] {
		return m[0], fmt.Errorf("lost pings: %s", m[0])
	}
	return m[0], nil
}

// ping sends one echo from host-a to host-b.
func ping(tp *topo.Topology) error {
	return topo.Run(tp.A.HostNS, "ping", "-c", "1", "-W", "1", tp.B.Host.Addr().String())
}

// udpStream sends count numbered datagrams of size bytes from srcNS to
// dst:5002 in dstNS, pps a second, and returns how many of them arrived
// (each counted once).
func udpStream(srcNS, dstNS string, dst netip.Addr, count, pps, size int) (int, error) {
	addr := netip.AddrPortFrom(dst, 5002)
	var rc *net.UDPConn
	err := topo.InNamespace(dstNS, func() (err error) {
		rc, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
		return err
	})
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	rc.SetReadBuffer(8 << 20)
	got := make(chan int, 1)
	go func() {
		seen := make([]bool, count)
		n := 0
		buf := make([]byte, 65536)
		for {
			m, err := rc.Read(buf)
			if err != nil {
				got <- n
				return
			}
			if m >= 4 {
				if i := int(binary.BigEndian.Uint32(buf)); i < count && !seen[i] {
					seen[i] = true
					n++
				}
			}
		}
	}()
	sc, err := topo.Dial(srcNS, "udp", addr.String())
	if err != nil {
		return 0, err
	}
	defer sc.Close()
	msg := make([]byte, size)
	// Paced in 1 ms ticks, so the stream stays below what the tunnel
	// carries: a loss is then the rekey's, not a queue's.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for i := 0; i < count; {
		due := int(time.Since(start) * time.Duration(pps) / time.Second)
		for ; i < count && i <= due; i++ {
			binary.BigEndian.PutUint32(msg, uint32(i))
			if _, err := sc.Write(msg); err != nil {
				return 0, err
			}
		}
		<-tick.C
	}
	time.Sleep(time.Second)
	rc.Close()
	return <-got, nil
}
