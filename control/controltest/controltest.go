// Package controltest runs a real gateway inside a test process for the
// tests of the operations layer (control socket, show commands, metrics,
// reload, the CLI): slowpath.Build on a configuration in a temporary
// directory, one fast-path worker over memory ports fed with real traffic
// (cleartext from the inside LAN, ESP that the peer gateway encrypted on
// the outside), slowpath.Ops serving a control socket in that directory.
//
// The configurations are the repository's manual-SA example
// (examples/manual-a.cfg and manual-b.cfg): gateway A is the one under
// test; gateway B is built once, offline, to encrypt the ESP that A
// receives, so A decrypts what a real peer sent.
package controltest

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"ipsecgw/config"
	"ipsecgw/control"
	"ipsecgw/fastpath"
	"ipsecgw/logging"
	"ipsecgw/packet"
	"ipsecgw/slowpath"
)

// Examples is the repository's examples directory.
func Examples() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "examples")
}

// MAC addresses of the example (examples/manual-*.yaml).
var (
	macAInside  = net.HardwareAddr{2, 0, 0, 0, 0x0a, 1}
	macAOutside = net.HardwareAddr{2, 0, 0, 0, 0x0a, 2}
	macBInside  = net.HardwareAddr{2, 0, 0, 0, 0x0b, 1}
	macBOutside = net.HardwareAddr{2, 0, 0, 0, 0x0b, 2}
	macHost     = net.HardwareAddr{2, 0, 0, 0, 0x99, 1}
)

// system is the system file of a gateway of the example in dir: pcap
// interfaces (never opened: the test attaches memory ports), static
// neighbours, the control socket in dir, metrics off.
const system = `interfaces:
  - {name: inside, driver: pcap, mac: "%INSIDE%", pcap_out: inside.pcap}
  - {name: outside, driver: pcap, mac: "%OUTSIDE%", pcap_out: outside.pcap}
neighbors:
  - {ip: %LAN%.1.10, mac: "02:00:00:00:99:01", interface: inside}
  - {ip: %LAN%.2.10, mac: "02:00:00:00:99:01", interface: inside}
  - {ip: %PEER%, mac: "%PEERMAC%", interface: outside}
control:
  socket: %DIR%/gw.sock
metrics:
  sa_series_limit: %LIMIT%
log:
  level: info
policy_file: policy.cfg
`

// WriteConfig writes gateway side ("a" or "b") of the manual-SA example
// into a new temporary directory, with policy as its policy ("" for the
// example's own), and returns the system file's path. limit is
// metrics.sa_series_limit.
func WriteConfig(t testing.TB, side, policy string, limit int) string {
	t.Helper()
	if policy == "" {
		b, err := os.ReadFile(filepath.Join(Examples(), "manual-"+side+".cfg"))
		if err != nil {
			t.Fatal(err)
		}
		policy = string(b)
	}
	dir := t.TempDir()
	vars := []string{"%INSIDE%", macAInside.String(), "%OUTSIDE%", macAOutside.String(), "%LAN%", "10.1", "%PEER%", "192.0.2.2", "%PEERMAC%", macBOutside.String()}
	if side == "b" {
		vars = []string{"%INSIDE%", macBInside.String(), "%OUTSIDE%", macBOutside.String(), "%LAN%", "10.2", "%PEER%", "192.0.2.1", "%PEERMAC%", macAOutside.String()}
	}
	r := strings.NewReplacer(append(vars, "%DIR%", dir, "%LIMIT%", strconv.Itoa(limit))...)
	WriteFile(t, filepath.Join(dir, "policy.cfg"), policy)
	path := filepath.Join(dir, "gw.yaml")
	WriteFile(t, path, r.Replace(system))
	return path
}

// WriteFile writes a file or fails the test.
func WriteFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Load loads a configuration or fails the test.
func Load(t testing.TB, path string) *config.Config {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("%v\n%v", err, cfg.Diags)
	}
	return cfg
}

// Frame builds an Ethernet frame with a UDP datagram from src to dst,
// addressed to the gateway MAC dstMAC.
func Frame(t testing.TB, dstMAC net.HardwareAddr, src, dst string, size int) []byte {
	t.Helper()
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: s.AsSlice(), DstIP: d.AsSlice(), Id: 1}
	udp := &layers.UDP{SrcPort: 40000, DstPort: 5001}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: macHost, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv4}, ip, udp,
		gopacket.Payload(make([]byte, size)))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// InsideTraffic is A's LAN sending to B's LAN over both entries of the
// example: n frames to each.
func InsideTraffic(t testing.TB, n int) [][]byte {
	var fs [][]byte
	for range n {
		fs = append(fs, Frame(t, macAInside, "10.1.1.10", "10.2.1.10", 100), Frame(t, macAInside, "10.1.2.10", "10.2.2.10", 200))
	}
	return fs
}

// PeerESP runs gateway B of the example once, offline, over n frames
// from B's LAN to A's LAN on each entry, and returns the ESP frames B sent
// towards A.
func PeerESP(t testing.TB, n int) [][]byte {
	t.Helper()
	gw, err := slowpath.Build(Load(t, WriteConfig(t, "b", "", 100)), 1)
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for range n {
		frames = append(frames, Frame(t, macBInside, "10.2.1.10", "10.1.1.10", 100), Frame(t, macBInside, "10.2.2.10", "10.1.2.10", 200))
	}
	pool := packet.NewHeapPool(512, 4096)
	in := fastpath.NewMemPort(pool, frames, false)
	out := fastpath.NewMemPort(pool, nil, false)
	out.Capture(true)
	w, err := gw.Engine.AddWorker(fastpath.WorkerConfig{Pool: pool, Ports: []fastpath.PortBinding{{Port: in, Iface: 0}, {Port: out, Iface: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Drain(nil); err != nil {
		t.Fatal(err)
	}
	esp := out.Captured()
	if len(esp) != 2*n {
		t.Fatalf("gateway B encrypted %d of %d frames", len(esp), 2*n)
	}
	return esp
}

// paced is a memory port that delivers a few frames at a time, at most
// every interval, and nothing while paused: traffic that flows without
// burning a core.
type paced struct {
	*fastpath.MemPort
	every  time.Duration
	burst  int
	next   time.Time
	paused *atomic.Bool
}

func (p *paced) Receive(bufs []*packet.Buf) int {
	now := time.Now()
	if p.paused.Load() || now.Before(p.next) {
		return 0
	}
	p.next = now.Add(p.every)
	return p.MemPort.Receive(bufs[:min(len(bufs), p.burst)])
}

// Gateway is gateway A running in the test process.
type Gateway struct {
	Path   string // the system file
	Ops    *slowpath.Ops
	Client *control.Client
	Logs   *logging.Logs
	log    *lockedBuffer

	paused atomic.Bool
	stop   chan struct{}
	done   chan struct{}
}

// Start builds the gateway of system file path (written by WriteConfig
// for side "a"), feeds it with inside traffic and the peer's ESP in a loop
// (a few frames every 100 µs), and serves its control socket. Logs go to
// a buffer at debug level; Log returns them.
func Start(t testing.TB, path string) *Gateway {
	t.Helper()
	esp := PeerESP(t, 8)
	cfg := Load(t, path)
	g := &Gateway{Path: path, log: &lockedBuffer{}, stop: make(chan struct{}), done: make(chan struct{})}
	var err error
	if g.Logs, err = logging.New(g.log, "text", "debug"); err != nil {
		t.Fatal(err)
	}
	gw, err := slowpath.Build(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	pool := packet.NewHeapPool(1024, 4096)
	in := &paced{MemPort: fastpath.NewMemPort(pool, InsideTraffic(t, 8), true), every: 100 * time.Microsecond, burst: 4, paused: &g.paused}
	out := &paced{MemPort: fastpath.NewMemPort(pool, esp, true), every: 100 * time.Microsecond, burst: 4, paused: &g.paused}
	w, err := gw.Engine.AddWorker(fastpath.WorkerConfig{Pool: pool, Ports: []fastpath.PortBinding{{Port: in, Iface: 0}, {Port: out, Iface: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(g.done)
		for {
			select {
			case <-g.stop:
				return
			default:
			}
			if w.Poll() == 0 {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	g.Ops = slowpath.NewOps(gw, slowpath.OpsConfig{Logs: g.Logs, Version: "test"})
	if err := g.Ops.Start(); err != nil {
		close(g.stop)
		<-g.done
		t.Fatal(err)
	}
	g.Client = &control.Client{Path: cfg.System.Control.Socket}
	t.Cleanup(func() {
		close(g.stop)
		<-g.done
		if err := g.Ops.Close(); err != nil {
			t.Errorf("closing: %v", err)
		}
	})
	return g
}

// Pause stops the traffic and waits until the worker has published its
// counters, so that reads agree exactly.
func (g *Gateway) Pause() {
	g.paused.Store(true)
	time.Sleep(5 * time.Millisecond) // idle polls publish after 1 ms
}

// Resume starts the traffic again.
func (g *Gateway) Resume() { g.paused.Store(false) }

// Log returns what the gateway logged so far.
func (g *Gateway) Log() string { return g.log.String() }

// WaitFor polls cond until it holds or the test times out after 10 s.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// lockedBuffer is a bytes.Buffer safe for the logger and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// MoreEntries extends gateway A of the example with an IKEv2 entry (30:
// 10.1.3.0/24 <-> 10.2.3.0/24, its upper half denied) and a dynamic map
// entry (100 -> dyn 10: 10.1.4.0/24 <-> 10.2.4.0/24), for the commands
// that show negotiated entries.
const MoreEntries = `!
crypto ikev2 keyring keys
 peer b
  address 192.0.2.2
  pre-shared-key example-psk-do-not-use
crypto ikev2 profile prof
 match identity remote address 192.0.2.2 255.255.255.255
 authentication local pre-share
 authentication remote pre-share
 keyring local keys
crypto map vpn 30 ipsec-isakmp
 set peer 192.0.2.2
 set transform-set gcm128
 set pfs group19
 set ikev2-profile prof
 match address 103
crypto dynamic-map dyn 10
 set transform-set gcm128
 match address 104
crypto map vpn 100 ipsec-isakmp dynamic dyn
access-list 103 deny ip 10.1.3.128 0.0.0.127 any
access-list 103 permit ip 10.1.3.0 0.0.0.255 10.2.3.0 0.0.0.255
access-list 104 permit ip 10.1.4.0 0.0.0.255 10.2.4.0 0.0.0.255
`

// PolicyA returns gateway A's policy of the example followed by extra.
func PolicyA(t testing.TB, extra string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Examples(), "manual-a.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + extra
}

// Secrets are the key strings of the example's configurations (and of
// MoreEntries), which no output may contain.
func Secrets(t testing.TB) []string {
	t.Helper()
	out := []string{"example-psk-do-not-use"}
	for _, side := range []string{"a", "b"} {
		b, err := os.ReadFile(filepath.Join(Examples(), "manual-"+side+".cfg"))
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(b))
		for i, w := range f {
			if (w == "cipher" || w == "authenticator") && i+1 < len(f) {
				out = append(out, f[i+1], f[i+1][:16])
			}
		}
	}
	return out
}
