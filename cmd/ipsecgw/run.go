package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"ipsecgw/config"
	"ipsecgw/fastpath"
	"ipsecgw/logging"
	"ipsecgw/packet"
	"ipsecgw/pcapport"
	"ipsecgw/slowpath"
)

func init() {
	commands = append(commands, newRunCmd)
}

func newRunCmd() *cobra.Command {
	var cfgPath, statsJSON string
	c := &cobra.Command{
		Use:   "run -c FILE",
		Short: "Run the gateway",
		Long: `run starts the gateway described by FILE.

With only pcap interfaces (driver: pcap) it processes every frame of every
pcap_in file, writes what leaves each interface to its pcap_out, prints a
summary (per interface, per SA, drops by reason) and exits.`,
		Args: exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			if cfgPath == "" {
				return misuse{errors.New("run needs the configuration: -c FILE\nSee 'ipsecgw run --help'.")}
			}
			return runGateway(c.OutOrStdout(), c.ErrOrStderr(), cfgPath, statsJSON)
		},
	}
	c.Flags().StringVarP(&cfgPath, "config", "c", "", "configuration file (system settings with policy, or a bare policy)")
	c.Flags().StringVar(&statsJSON, "stats-json", "", "write every counter (global, per interface, per SA) as JSON to `PATH` at exit")
	return c
}

// runGateway loads the configuration, builds the fast path and runs it.
func runGateway(stdout, stderr io.Writer, cfgPath, statsJSON string) error {
	cfg, err := config.Load(cfgPath)
	if cfg != nil {
		for _, d := range cfg.Diags.Sorted() {
			fmt.Fprintln(stderr, d)
		}
	}
	if err != nil {
		if cfg == nil {
			return userErrorf("%v", err)
		}
		return exitError(exitUserError)
	}
	logs, err := logging.New(stderr, cfg.System.Log.Format, cfg.System.Log.Level)
	if err != nil {
		return userErrorf("%v", err)
	}
	if len(cfg.System.Interfaces) == 0 {
		return userErrorf("%s: no interfaces: list them under interfaces: (driver pcap or afxdp)", cfgPath)
	}
	for _, si := range cfg.System.Interfaces {
		if si.Driver != config.DriverPcap {
			return userErrorf("interface %s: driver %s needs the AF_XDP driver, which this build does not include yet; use driver: pcap to run offline", si.Name, si.Driver)
		}
	}
	return runPcap(stdout, logs.Logger(logging.Dataplane), cfg, statsJSON)
}

// runPcap processes the capture files with one worker and reports.
func runPcap(stdout io.Writer, log *slog.Logger, cfg *config.Config, statsJSON string) error {
	gw, err := slowpath.Build(cfg, 1)
	if err != nil {
		return userErrorf("%v", err)
	}
	pool := packet.NewHeapPool(4096, chunkSize(cfg))
	var ports []*pcapport.Port
	defer func() {
		for _, p := range ports {
			p.Close()
		}
	}()
	var binds []fastpath.PortBinding
	for i, si := range cfg.System.Interfaces {
		p, err := pcapport.Open(pool, si.PcapIn, si.PcapOut)
		if err != nil {
			return userErrorf("interface %s: %v", si.Name, err)
		}
		ports = append(ports, p)
		binds = append(binds, fastpath.PortBinding{Port: p, Iface: i})
	}
	w, err := gw.Engine.AddWorker(fastpath.WorkerConfig{Ports: binds, Pool: pool, Batch: cfg.System.Dataplane.Batch})
	if err != nil {
		return err
	}
	punts := newPuntLog(log, gw)
	start := time.Now()
	if err := w.Drain(func() { punts.drain(w) }); err != nil {
		return err
	}
	elapsed := time.Since(start)
	var ioErr error
	for i, p := range ports {
		if err := p.Close(); err != nil && ioErr == nil {
			ioErr = fmt.Errorf("interface %s: %w", cfg.System.Interfaces[i].Name, err)
		}
	}
	ports = nil
	snap := gw.Snapshot(time.Now())
	printSummary(stdout, &snap, elapsed)
	if statsJSON != "" {
		if err := writeJSON(statsJSON, &snap); err != nil {
			return userErrorf("--stats-json: %v", err)
		}
	}
	if ioErr != nil {
		return userErrorf("%v", ioErr)
	}
	return nil
}

// chunkSize is the buffer size for the largest interface MTU: headroom,
// the frame with a VLAN tag, and tailroom for the ESP trailer and ICV.
func chunkSize(cfg *config.Config) int {
	mtu := config.DefaultMTU
	for _, si := range cfg.System.Interfaces {
		mtu = max(mtu, si.MTU)
	}
	need := packet.Headroom + mtu + 18 + 256
	size := 2048
	for size < need {
		size *= 2
	}
	return size
}

// puntLog is the slow path of an offline run: there is no IKE and no ARP,
// so it counts what the worker punts and says once per cause what is
// missing.
type puntLog struct {
	log  *slog.Logger
	gw   *slowpath.Gateway
	seen map[string]bool
}

func newPuntLog(log *slog.Logger, gw *slowpath.Gateway) *puntLog {
	return &puntLog{log: log, gw: gw, seen: map[string]bool{}}
}

func (p *puntLog) once(key, msg string, args ...any) {
	if !p.seen[key] {
		p.seen[key] = true
		p.log.Warn(msg, args...)
	}
}

func (p *puntLog) drain(w *fastpath.Worker) {
	r := w.Punts()
	for s := r.Peek(); s != nil; s = r.Peek() {
		ifName := ""
		if s.Iface >= 0 {
			ifName = p.gw.Engine.Tables().Interfaces[s.Iface].Name
		}
		switch s.Kind {
		case fastpath.PuntIKE:
			p.once("ike", "IKE packets received; IKE does not run in an offline run, they are counted and dropped", "interface", ifName, "from", s.Flow.Src)
		case fastpath.PuntAcquire:
			e := p.gw.Maps[s.Iface].EntryFor(s.Rule)
			p.once("acquire "+e.Name(), "no SA for protected traffic; IKE does not run in an offline run", "entry", e.Name(), "flow", s.Flow.String())
		case fastpath.PuntNeighborMiss:
			p.once("neighbor "+s.Flow.Dst.String(), "next hop has no MAC address: add it under neighbors:", "interface", ifName, "next_hop", s.Flow.Dst)
		case fastpath.PuntSAExpiry:
			p.log.Info("SA lifetime reached", "sa", s.SA.String(), "expiry", s.Expiry.String())
		case fastpath.PuntLocal:
			p.log.Debug("packet for the gateway itself", "interface", ifName, "flow", s.Flow.String())
		}
		r.Release()
	}
}

// printSummary prints what the run did: interfaces, SAs, drops.
func printSummary(w io.Writer, s *slowpath.Snapshot, elapsed time.Duration) {
	g := &s.Global
	fmt.Fprintf(w, "processed %d packets in %v: %d forwarded in the clear, %d encrypted, %d decrypted, %d dropped\n",
		g.RxPackets, elapsed.Round(time.Microsecond), g.Forwarded, g.Encrypted, g.Decrypted, g.DropsTotal)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\ninterface\trx packets\trx bytes\ttx packets\ttx bytes\tdropped\t")
	for _, i := range s.Interfaces {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t\n", i.Name, i.RxPackets, i.RxBytes, i.TxPackets, i.TxBytes, i.DropsTotal+i.RxDropped+i.TxDropped)
	}
	tw.Flush()
	if len(s.SAs) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "crypto map\tSA\tlocal -> remote\ttransform\tpackets\tdropped")
		for _, sa := range s.SAs {
			verb := "encaps"
			if sa.Direction == "inbound" {
				verb = "decaps"
			}
			fmt.Fprintf(tw, "%s %d\t%s %s spi %d (%s)\t%s -> %s\t%s, %s\t#pkts %s: %d\t%d\n",
				sa.Map, sa.Seq, sa.Direction, sa.Protocol, sa.SPI, sa.SPIHex, sa.Local, sa.Remote,
				sa.Transform, sa.Mode, verb, sa.Packets, sa.DropsTotal)
		}
		tw.Flush()
	}
	if g.DropsTotal > 0 {
		fmt.Fprintln(w, "\ndrops:")
		var reasons []string
		for r, n := range g.Drops {
			if n > 0 {
				reasons = append(reasons, fmt.Sprintf("  %-18s %d", r, n))
			}
		}
		sort.Strings(reasons)
		fmt.Fprintln(w, strings.Join(reasons, "\n"))
	}
	var punted []string
	for k, n := range g.Punted {
		if n > 0 {
			punted = append(punted, fmt.Sprintf("%s %d", k, n))
		}
	}
	if g.NATKeepalives > 0 {
		punted = append(punted, fmt.Sprintf("nat-t keepalives %d", g.NATKeepalives))
	}
	if len(punted) > 0 {
		sort.Strings(punted)
		fmt.Fprintf(w, "\nto the slow path: %s\n", strings.Join(punted, ", "))
	}
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
