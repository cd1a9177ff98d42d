package interop

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"ipsecgw/topo"
	"ipsecgw/topo/strongswan"
)

// BenchmarkSetupsVsCharon measures IKE_SA + CHILD_SA setups per second
// (IKEv2, PSK, AES-GCM-256/PRF-SHA256/ECP-256 (group 19), one ESP
// AES-GCM-128 CHILD_SA each) answered by `ipsecgw run` and by charon, in
// the same run on the same machine. The initiator is the same in both: a
// charon in gw-b initiating setupTunnels connections through VICI,
// setupWindow at a time; the responder in gw-a is ipsecgw
// (a dynamic crypto map) or charon (kernel-libipsec). Each of b.N rounds
// runs both, interleaved, with fresh daemons; the medians are reported,
// and their ratio. The clock stops when the initiator has every CHILD_SA
// installed. The shared initiator caps what either responder can show, so
// the ratio understates a faster responder.
func BenchmarkSetupsVsCharon(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: builds network namespaces and attaches XDP programs")
	}
	if err := strongswan.Available(); err != nil {
		b.Skip(err)
	}
	// IPSECGW_BIN benchmarks a given build instead of the working tree's.
	if gatewayBin = os.Getenv("IPSECGW_BIN"); gatewayBin == "" {
		gatewayBin = b.TempDir() + "/ipsecgw"
		if out, err := exec.Command("go", "build", "-o", gatewayBin, "ipsecgw/cmd/ipsecgw").CombinedOutput(); err != nil {
			b.Fatalf("building ipsecgw: %v\n%s", err, out)
		}
	}
	tp, err := topo.Build(topo.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer tp.Close()
	var ours, theirs []float64
	var oursRetx, theirsRetx int
	for i := 0; i < b.N; i++ {
		r, n := setupRound(b, tp, true)
		ours, oursRetx = append(ours, r), oursRetx+n
		r, n = setupRound(b, tp, false)
		theirs, theirsRetx = append(theirs, r), theirsRetx+n
	}
	o, c := median(ours), median(theirs)
	b.ReportMetric(o, "ipsecgw-setups/s")
	b.ReportMetric(c, "charon-setups/s")
	b.ReportMetric(o/c, "ratio")
	// A request answered late (charon's responder, busy, logs "ignoring
	// request with ID 0, already processing") or lost costs the initiator
	// a 4 s retransmission: counted, so the figures can be read with it.
	b.ReportMetric(float64(oursRetx), "ipsecgw-retransmits")
	b.ReportMetric(float64(theirsRetx), "charon-retransmits")
	b.ReportMetric(0, "ns/op")
}

// setupTunnels is how many tunnels a round sets up, all between the
// sites' LANs (kernel-libipsec routes each CHILD_SA's selectors through
// its TUN device from a local address inside them, so they cannot be
// narrower than the gateway's inside subnet).
const setupTunnels = 200

// setupWindow is how many setups the initiator has in flight.
const setupWindow = 8

// setupRound starts a responder in gw-a (ipsecgw or charon) and an
// initiating charon in gw-b, sets up setupTunnels tunnels and returns
// setups per second and how many requests the initiator retransmitted.
func setupRound(b *testing.B, tp *topo.Topology, ipsecgw bool) (float64, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const proposals, esp = "aes256gcm16-prfsha256-ecp256", "aes128gcm16"
	conn := strongswan.Conn{Local: tp.B.Outside.Addr(), Remote: tp.A.Outside.Addr(),
		LocalTS: []netip.Prefix{tp.B.LAN()}, RemoteTS: []netip.Prefix{tp.A.LAN()},
		Proposals: proposals, ESP: esp, PSK: []byte(psk)}
	respLog := func() string { return "" }
	if ipsecgw {
		cfg := writeConfig(b, b.TempDir(), &tp.A, &tp.B, policy{transform: "esp-gcm 128", dynamic: true})
		g := &gateway{cfg: cfg}
		g.cmd = topo.Command(context.Background(), tp.A.GatewayNS, gatewayBin, "run", "-c", cfg+".yaml")
		g.cmd.Stdout, g.cmd.Stderr = g, g
		if err := g.cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer g.stop()
		respLog = g.Logs
		for end := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if err := g.query(nil, "show", "crypto", "ikev2", "sa"); err == nil {
				break
			} else if time.Now().After(end) {
				b.Fatalf("ipsecgw did not start: %v\n%s", err, g.Logs())
			}
		}
	} else {
		// All tunnels come from one address: charon's per-address limit
		// on half-open IKE SAs (block_threshold, 5) would drop most
		// IKE_SA_INITs and measure the initiator's retransmission timer.
		resp, err := strongswan.Start(ctx, strongswan.Options{NS: tp.A.GatewayNS, Dir: b.TempDir(),
			Settings: []string{"block_threshold = 100000", "cookie_threshold = 100000"}})
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Stop()
		respLog = resp.Log
		m := conn.Mirror()
		if err := resp.Load(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	// Each blocking VICI initiate holds a charon thread while it waits:
	// threads enough that the IKE work itself never waits for one.
	init, err := strongswan.Start(ctx, strongswan.Options{NS: tp.B.GatewayNS, Dir: b.TempDir(),
		Settings: []string{fmt.Sprintf("threads = %d", 16+2*setupWindow)}})
	if err != nil {
		b.Fatal(err)
	}
	defer init.Stop()
	conns := make([]strongswan.Conn, setupTunnels)
	for i := range conns {
		c := conn
		c.Name, c.Child = fmt.Sprintf("t%d", i), fmt.Sprintf("c%d", i)
		conns[i] = c
	}
	text, err := strongswan.SwanctlConf(conns...)
	if err != nil {
		b.Fatal(err)
	}
	// charon reuses an IKE SA for connections whose settings are equal
	// whatever their names: a rekey time each keeps the tunnels apart.
	// They share identities, so no INITIAL_CONTACT (unique = never), or
	// each new IKE SA would replace the previous ones at the responder.
	for i, c := range conns {
		if text, err = strongswan.ConnSettings(text, c.Name, "unique = never", fmt.Sprintf("rekey_time = %ds", 14400+i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := init.LoadConf(ctx, text); err != nil {
		b.Fatal(err)
	}
	// setupWindow initiations at a time, as the engine's own benchmark
	// (ike.BenchmarkSetup) does: all at once overflows the initiator's socket buffer with
	// responses and measures its retransmission timer instead.
	start := time.Now()
	next := make(chan string)
	errs := make(chan error, setupWindow)
	for range setupWindow {
		go func() {
			var err error
			for child := range next {
				for err == nil {
					// charon's VICI listen backlog is short: a
					// refused connection is tried again.
					if err = init.Initiate(ctx, child); !errors.Is(err, syscall.EAGAIN) {
						break
					}
					err = nil
					time.Sleep(time.Millisecond)
				}
			}
			errs <- err
		}()
	}
	for _, c := range conns {
		next <- c.Child
	}
	close(next)
	for range setupWindow {
		if err := <-errs; err != nil {
			b.Fatalf("%v\nresponder:\n%s", err, respLog())
		}
	}
	rate := setupTunnels / time.Since(start).Seconds()
	return rate, strings.Count(init.Log(), "] retransmit ")
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
