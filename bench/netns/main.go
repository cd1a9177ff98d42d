// Command netns measures host-to-host throughput through ipsecgw and the
// VPNs a user would otherwise pick, on the same namespace topology, in one
// run (`make bench-netns`, or `go run ./bench/netns` as root):
//
//	host-a ─ gw-a ══ wire (bridge) ══ gw-b ─ host-b
//
// Scenarios: bare kernel forwarding (the ceiling), strongSwan with
// kernel-libipsec (AES-GCM-128), wireguard-go, and an ipsecgw pair (manual
// SAs, AES-GCM-128, AF_XDP on the gateways' veths). Each round brings every
// scenario up on a fresh topo.Build topology, measures iperf3 TCP (one
// stream) and 64-byte UDP packets received at host-b, and tears it down;
// rounds interleave the scenarios so slow drift of a shared machine hits
// them alike, and only one scenario's daemons run at a time. Results are
// medians over rounds, with ratios against strongSwan, wireguard-go and the
// kernel measured in the same run, written as a text table, JSON and an SVG
// bar chart. With -profile, an extra ipsecgw TCP run is recorded with perf
// and summarised (where the gateways' CPU time goes).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"ipsecgw/topo"
)

type options struct {
	rounds      int
	tcpTime     time.Duration
	udpTime     time.Duration
	timeout     time.Duration
	scenarios   string
	ipsecgw     string
	outDir      string
	profile     bool
	profileTime time.Duration
	from        string
}

func main() {
	var o options
	flag.IntVar(&o.rounds, "rounds", 3, "interleaved rounds; figures are medians over them")
	flag.DurationVar(&o.tcpTime, "tcp", 5*time.Second, "length of each TCP measurement (iperf3 -t; the first second is omitted)")
	flag.DurationVar(&o.udpTime, "udp", 3*time.Second, "length of each 64-byte UDP measurement")
	flag.DurationVar(&o.timeout, "timeout", 90*time.Second, "limit for one scenario in one round: set-up, measurements and tear-down")
	flag.StringVar(&o.scenarios, "scenarios", "kernel,strongswan,wireguard,ipsecgw", "comma-separated scenarios to run")
	flag.StringVar(&o.ipsecgw, "ipsecgw", "bin/ipsecgw", "the ipsecgw binary the gateways run")
	flag.StringVar(&o.outDir, "out", "bin/netns-results", "directory for results.txt, results.json, chart.svg and profile.txt")
	flag.BoolVar(&o.profile, "profile", false, "record the ipsecgw gateways under TCP load with perf and summarise it")
	flag.DurationVar(&o.profileTime, "profile-time", 5*time.Second, "length of the perf recording")
	flag.StringVar(&o.from, "from", "", "measure nothing: render the table and chart of an earlier run's results.json into -out")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "netns: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted; what the run started has been stopped and removed")
		}
		fmt.Fprintf(os.Stderr, "netns: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if o.from != "" {
		return replot(o.from, o.outDir)
	}
	if os.Geteuid() != 0 {
		return errors.New("builds network namespaces and attaches XDP programs: run it as root")
	}
	if o.rounds < 1 || o.tcpTime < 2*time.Second || o.udpTime < time.Second {
		return errors.New("-rounds must be at least 1, -tcp at least 2s, -udp at least 1s")
	}
	for _, tool := range []string{"ip", "iperf3", "ping", "ethtool"} {
		if _, err := execLookPath(tool); err != nil {
			return fmt.Errorf("needs %s: %v", tool, err)
		}
	}
	scs, err := pick(o.scenarios)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "bench-netns-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	prefix := topo.UniquePrefix()
	// Namespaces left by a scenario whose own clean-up was cut short.
	defer topo.Cleanup(prefix)

	rep := newReport(o)
	rows := map[string]*Row{}
	for _, sc := range scs {
		r := &Row{Scenario: sc.name, Title: sc.title}
		if why := sc.missing(o); why != "" {
			r.Skipped = why
			fmt.Fprintf(os.Stderr, "skipping %s: %s\n", sc.name, why)
		}
		rows[sc.name] = r
		rep.Rows = append(rep.Rows, r)
	}
	fmt.Fprintf(os.Stderr, "%d round(s) of %s; TCP %v, UDP %v per measurement\n", o.rounds, o.scenarios, o.tcpTime, o.udpTime)
	for round := 1; round <= o.rounds; round++ {
		for i, sc := range scs {
			r := rows[sc.name]
			// A scenario that has never come up is not tried again.
			if r.Skipped != "" || r.Error != "" && len(r.TCP) == 0 {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "round %d/%d  %-10s ", round, o.rounds, sc.name)
			env := &env{opts: o, dir: filepath.Join(work, fmt.Sprintf("%s-%d", sc.name, round)),
				prefix: fmt.Sprintf("%s%d%d", prefix, round, i)}
			m, err := measure(ctx, sc, env)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				r.Error = err.Error()
				r.Failures++
				fmt.Fprintf(os.Stderr, "FAILED\n%v\n", err)
				continue
			}
			r.TCP = append(r.TCP, m.tcp)
			r.UDP = append(r.UDP, m.udp.received)
			r.UDPSent = append(r.UDPSent, m.udp.sent)
			fmt.Fprintf(os.Stderr, "TCP %6.3f Gbit/s   UDP 64 B %7.1f kpps received of %7.1f kpps sent\n", m.tcp/1e9, m.udp.received/1e3, m.udp.sent/1e3)
		}
	}
	if o.profile {
		if sc := find(scs, "ipsecgw"); sc != nil && rows["ipsecgw"].Error == "" && rows["ipsecgw"].Skipped == "" {
			fmt.Fprintf(os.Stderr, "profiling the ipsecgw gateways under TCP load (%v) ... ", o.profileTime)
			env := &env{opts: o, dir: filepath.Join(work, "profile"), prefix: prefix + "p"}
			summary, err := profileGateways(ctx, sc, env, filepath.Join(o.outDir, "perf.data"))
			if err != nil {
				fmt.Fprintf(os.Stderr, "failed: %v\n", err)
				summary = "profile failed: " + err.Error() + "\n"
			} else {
				fmt.Fprintln(os.Stderr, "done")
			}
			if err := os.WriteFile(filepath.Join(o.outDir, "profile.txt"), []byte(summary), 0o644); err != nil {
				return err
			}
		}
	}
	rep.finish()
	return rep.write(os.Stdout, o.outDir)
}

// measure brings one scenario up on a fresh topology, runs the TCP and the
// UDP measurement and tears everything down again, within the scenario
// timeout.
type sample struct {
	tcp float64 // bits per second
	udp udpRate
}

func measure(ctx context.Context, sc *scenario, e *env) (s sample, err error) {
	ctx, cancel := context.WithTimeout(ctx, e.opts.timeout)
	defer cancel()
	defer func() {
		if cerr := e.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if err := e.up(ctx, sc); err != nil {
		return s, err
	}
	if s.tcp, err = retry(ctx, e, e.tcp, e.opts.tcpTime); err != nil {
		return s, e.withLogs(err)
	}
	if s.udp, err = retry(ctx, e, e.udp, e.opts.udpTime); err != nil {
		return s, e.withLogs(err)
	}
	return s, nil
}

// retry runs a measurement a second time if the first fails: iperf3's
// control connection shares the saturated path with the test traffic, and
// now and then a UDP flood loses the exchange at its end.
func retry[T any](ctx context.Context, e *env, m func(context.Context, time.Duration) (T, error), d time.Duration) (T, error) {
	v, err := m(ctx, d)
	if err == nil || ctx.Err() != nil {
		return v, err
	}
	fmt.Fprintf(os.Stderr, "(retrying: %v) ", err)
	if e.server.exited() {
		if err := e.startServer(ctx); err != nil {
			var zero T
			return zero, err
		}
	}
	return m(ctx, d)
}

// replot renders a stored run again (after a change to the chart, or into
// the docs) without measuring.
func replot(from, dir string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rep.finish()
	return rep.write(os.Stdout, dir)
}

func pick(list string) ([]*scenario, error) {
	var out []*scenario
	for _, name := range strings.Split(list, ",") {
		sc := find(scenarios, strings.TrimSpace(name))
		if sc == nil {
			var names []string
			for _, s := range scenarios {
				names = append(names, s.name)
			}
			return nil, fmt.Errorf("unknown scenario %q (have %s)", name, strings.Join(names, ", "))
		}
		out = append(out, sc)
	}
	return out, nil
}

func find(scs []*scenario, name string) *scenario {
	for _, s := range scs {
		if s.name == name {
			return s
		}
	}
	return nil
}
