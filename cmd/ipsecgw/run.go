package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"ipsecgw/afxdp"
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

With pcap interfaces (driver: pcap) it processes every frame of every pcap_in
file, writes what leaves each interface to its pcap_out, prints a summary (per
interface, per SA, drops by reason) and exits.

With AF_XDP interfaces (driver: afxdp) it runs until SIGINT or SIGTERM: start
it in the gateway's network namespace, as root. It attaches its XDP programs,
adds the configured addresses and static routes the kernel lacks, follows the
kernel's neighbour table, and on exit detaches and removes what it added, then
prints the same summary. IKEv2 negotiates the ipsec-isakmp entries that name
an ikev2-profile (traffic triggers it; peers may initiate, dynamic maps
answer them); on exit the gateway deletes its IKE SAs with their peers.

Offline (pcap) runs use manual SAs only: there is no peer to negotiate with.`,
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
	drivers := map[config.Driver]bool{}
	for _, si := range cfg.System.Interfaces {
		drivers[si.Driver] = true
	}
	if len(drivers) > 1 {
		return userErrorf("%s: mixes pcap and afxdp interfaces: a gateway runs either offline over capture files or live", cfgPath)
	}
	if drivers[config.DriverPcap] {
		return runPcap(stdout, logs.Logger(logging.Dataplane), cfg, statsJSON)
	}
	return runLive(stdout, logs, cfg, statsJSON)
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
	punts := newPuntLog(log, gw, nil)
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

// runLive runs the gateway on AF_XDP interfaces until SIGINT or SIGTERM:
// one worker per queue (dataplane.workers caps it), each polling one queue
// of every interface, pinned to dataplane.cpus when given. It must run in
// the gateway's network namespace. On the way out it stops the workers,
// detaches the XDP programs and removes what it added to the kernel, then
// prints the summary.
func runLive(stdout io.Writer, logs *logging.Logs, cfg *config.Config, statsJSON string) (err error) {
	log := logs.Logger(logging.Dataplane)
	sys := &cfg.System
	var ifs []*afxdp.Interface
	defer func() {
		for _, i := range ifs {
			if cerr := i.Close(); cerr != nil {
				log.Error("detaching", "interface", i.Name(), "error", cerr)
			}
		}
	}()
	queues, mtu := 0, 0
	var linkIndex []int
	var devices []string
	for _, si := range sys.Interfaces {
		mode, err := afxdp.ParseMode(si.XDPMode)
		if err != nil {
			return userErrorf("interface %s: %v", si.Name, err)
		}
		pi := cfg.Policy.Interfaces[si.Name]
		i, err := afxdp.Open(afxdp.Config{Device: si.Device, Mode: mode, CryptoMap: pi != nil && pi.CryptoMap != nil})
		if err != nil {
			return userErrorf("interface %s: %v", si.Name, err)
		}
		ifs = append(ifs, i)
		if si.MAC == nil {
			si.MAC = i.MAC()
		}
		if si.MTU > i.MTU() {
			return userErrorf("interface %s: mtu %d is larger than device %s's %d", si.Name, si.MTU, si.Device, i.MTU())
		}
		q := i.Queues()
		if si.Queues > 0 {
			q = min(q, si.Queues)
		}
		if queues == 0 || q < queues {
			queues = q
		}
		mtu = max(mtu, si.MTU)
		linkIndex = append(linkIndex, i.Index())
		devices = append(devices, i.Name())
		log.Info("interface attached", "interface", si.Name, "device", i.Name(), "xdp_mode", i.Mode().String(), "queues", i.Queues())
	}
	workers := queues
	if sys.Dataplane.Workers > 0 {
		workers = min(workers, sys.Dataplane.Workers)
	}
	gw, err := slowpath.Build(cfg, workers)
	if err != nil {
		return userErrorf("%v", err)
	}
	kern, err := gw.ProgramKernel(linkIndex)
	if err != nil {
		return userErrorf("programming the kernel: %v", err)
	}
	defer func() {
		if uerr := kern.Undo(); uerr != nil {
			log.Error("removing what the gateway added to the kernel", "error", uerr)
		}
	}()
	neigh, err := gw.FollowNeighbors(linkIndex, devices, func(e error) { log.Warn("neighbour events", "error", e) })
	if err != nil {
		return userErrorf("following the kernel's neighbours: %v", err)
	}
	defer neigh.Close()
	resolvePeers(log, neigh, gw)
	if err := steer(ifs, gw); err != nil {
		return userErrorf("%v", err)
	}
	chunk, err := afxdp.ChunkSizeFor(mtu)
	if err != nil {
		return userErrorf("%v", err)
	}
	rings := afxdp.RingSizes{Fill: sys.Dataplane.FillRing, Completion: sys.Dataplane.CompletionRing, RX: sys.Dataplane.RXRing, TX: sys.Dataplane.TXRing}
	var ws []*fastpath.Worker
	var umems []*afxdp.UMEM
	defer func() {
		for _, u := range umems {
			u.Close()
		}
	}()
	for q := range workers {
		u, err := afxdp.NewUMEM(afxdp.FramesFor(len(ifs), rings), chunk, afxdp.BindAuto)
		if err != nil {
			return userErrorf("%v", err)
		}
		umems = append(umems, u)
		var binds []fastpath.PortBinding
		var socks []*afxdp.Socket
		for i, ifc := range ifs {
			sock, err := ifc.OpenSocket(u, afxdp.SocketConfig{Queue: q, Rings: rings, Port: uint16(i)})
			if err != nil {
				return userErrorf("interface %s queue %d: %v", sys.Interfaces[i].Name, q, err)
			}
			socks = append(socks, sock)
			binds = append(binds, fastpath.PortBinding{Port: sock, Iface: i})
		}
		w, err := gw.Engine.AddWorker(fastpath.WorkerConfig{Ports: binds, Pool: u.Pool(), Batch: sys.Dataplane.Batch,
			Wait: afxdp.NewPoller(socks...).Wait})
		if err != nil {
			return err
		}
		ws = append(ws, w)
	}

	// IKEv2 negotiates the ipsec-isakmp entries; it works on the gateway
	// the operations layer holds, which reloads replace.
	var ops *slowpath.Ops
	var ikev2 *liveIKE
	opsCfg := slowpath.OpsConfig{Logs: logs, Version: version}
	if negotiates(cfg) {
		if ikev2, err = startIKE(logs, func() *slowpath.Ops { return ops }); err != nil {
			return userErrorf("IKEv2: %v", err)
		}
		opsCfg.IKE, opsCfg.ISAKMP = ikev2.neg, ikev2.neg
	}

	// The operations layer: control socket (show, clear, debug, explain,
	// reload) and the metrics endpoint. A reload publishes a new Gateway;
	// the XDP steering and IKE's peers follow it.
	opsCfg.AfterReload = func(_, nw *slowpath.Gateway) {
		if err := steer(ifs, nw); err != nil {
			log.Error("re-programming XDP steering after reload", "error", err)
		}
		resolvePeers(log, neigh, nw)
		switch {
		case ikev2 != nil:
			if err := ikev2.neg.SetPeers(); err != nil {
				log.Error("giving IKEv2 the reloaded peers", "error", err)
			}
		case negotiates(nw.Config):
			log.Warn("the reloaded configuration has ipsec-isakmp entries: restart the gateway to start IKE")
		}
	}
	ops = slowpath.NewOps(gw, opsCfg)
	if err := ops.Start(); err != nil {
		return userErrorf("%v", err)
	}
	defer ops.Close()
	if ikev2 != nil {
		if err := ikev2.run(); err != nil {
			return userErrorf("IKEv2: %v", err)
		}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	done := make(chan error, len(ws))
	for q, w := range ws {
		cpu := -1
		if q < len(sys.Dataplane.CPUs) {
			cpu = sys.Dataplane.CPUs[q]
		}
		go func() { done <- w.Run(cpu) }()
	}
	log.Info("gateway running", "workers", len(ws), "interfaces", len(ifs))
	punts := newPuntLog(log, gw, neigh)
	drain := func() {
		punts.gw = ops.Gateway()
		for _, w := range ws {
			punts.drain(w)
		}
	}
	if ikev2 != nil {
		punts.ike = ikev2.neg
	}
	tick := time.NewTicker(puntDrainInterval)
	defer tick.Stop()
	usage := time.NewTicker(time.Second)
	defer usage.Stop()
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case e := <-done:
			runErr = e // a worker could not start (CPU pinning)
			break loop
		case <-hup:
			reload(log, ops)
		case <-tick.C:
			drain()
		case <-usage.C:
			if ikev2 != nil {
				ikev2.neg.ReportUsage()
			}
		}
	}
	if ikev2 != nil && runErr == nil {
		ikev2.close(drain) // delete the SAs with the peers while workers still send
	}
	for _, w := range ws {
		w.Stop()
	}
	for range len(ws) - btoi(runErr != nil) {
		<-done
	}
	snap := ops.Gateway().Snapshot(time.Now())
	printSummary(stdout, &snap, time.Since(start))
	if statsJSON != "" {
		if err := writeJSON(statsJSON, &snap); err != nil {
			return userErrorf("--stats-json: %v", err)
		}
	}
	if runErr != nil {
		return userErrorf("worker: %v", runErr)
	}
	return nil
}

// resolvePeers has the kernel resolve the next hops towards the crypto
// maps' peers now, so that the first IKE message or ESP packet of a tunnel
// is not dropped on a neighbour miss.
func resolvePeers(log *slog.Logger, neigh *slowpath.NeighborFeed, gw *slowpath.Gateway) {
	for _, nh := range gw.PeerNextHops() {
		if err := neigh.Resolve(nh.Iface, nh.Addr); err != nil {
			log.Warn("cannot make the kernel resolve a peer's next hop", "next_hop", nh.Addr, "error", err)
		}
	}
}

// steer tells each interface's XDP program what the fast path owns: the
// gateway's addresses and the prefixes its crypto maps protect.
func steer(ifs []*afxdp.Interface, gw *slowpath.Gateway) error {
	for i, st := range gw.Steering() {
		if err := ifs[i].SetLocalAddrs(st.Local); err != nil {
			return err
		}
		if err := ifs[i].SetPrefixes(st.Prefixes); err != nil {
			return err
		}
	}
	return nil
}

// reload applies the configuration file again (SIGHUP). Ops logs the
// outcome: what changed, or why the file was rejected and the running
// configuration kept.
func reload(log *slog.Logger, ops *slowpath.Ops) {
	if _, err := ops.Reload(); err != nil {
		log.Error("reload", "error", err)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
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

// puntLog serves what workers punt: IKE datagrams, ACQUIREs and SA
// lifetime events go to the IKE negotiator when one runs; neighbour misses
// go to the kernel (live) or are reported (offline, where neighbours are
// static); it says once per cause what is missing.
type puntLog struct {
	log   *slog.Logger
	gw    *slowpath.Gateway
	neigh *slowpath.NeighborFeed // nil offline
	ike   *slowpath.Negotiator   // nil offline and without ipsec-isakmp entries
	seen  map[string]bool
}

func newPuntLog(log *slog.Logger, gw *slowpath.Gateway, neigh *slowpath.NeighborFeed) *puntLog {
	return &puntLog{log: log, gw: gw, neigh: neigh, seen: map[string]bool{}}
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
		if p.ike != nil && p.ike.HandlePunt(s) {
			r.Release()
			continue
		}
		ifName := ""
		if s.Iface >= 0 {
			ifName = p.gw.Engine.Tables().Interfaces[s.Iface].Name
		}
		switch s.Kind {
		case fastpath.PuntIKE:
			p.once("ike", "IKE packets received; IKE is not running, they are counted and dropped", "interface", ifName, "from", s.Flow.Src)
		case fastpath.PuntAcquire:
			e := p.gw.Maps[s.Iface].EntryFor(s.Rule)
			p.once("acquire "+e.Name(), "no SA for protected traffic and IKE is not running", "entry", e.Name(), "flow", s.Flow.String())
		case fastpath.PuntNeighborMiss:
			if p.neigh == nil {
				p.once("neighbor "+s.Flow.Dst.String(), "next hop has no MAC address: add it under neighbors:", "interface", ifName, "next_hop", s.Flow.Dst)
			} else if err := p.neigh.Resolve(s.Iface, s.Flow.Dst); err != nil {
				p.once("resolve "+s.Flow.Dst.String(), "cannot make the kernel resolve a next hop", "interface", ifName, "next_hop", s.Flow.Dst, "error", err)
			}
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
