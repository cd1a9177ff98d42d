package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"ipsecgw/bench"
)

func init() {
	commands = append(commands, newBenchCmd)
}

// Without flags, bench measures a matrix that answers the usual questions:
// the recommended AEADs and the classic CBC+HMAC, small, medium, large and
// mixed packets, both directions, one worker.
var (
	defaultTransforms = []string{"esp-gcm 128", "esp-gcm 256", "esp-chacha20-poly1305", "esp-aes 256 esp-sha256-hmac"}
	defaultSizes      = []string{"64", "512", "1400", "imix"}
	defaultDirections = []string{"encap", "decap"}
)

func newBenchCmd() *cobra.Command {
	var transforms, sizes, directions, workers []string
	var duration time.Duration
	var asJSON bool
	var cpuProfile string
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure the fast path: packets per second per transform, size and direction",
		Long: `bench runs the real fast path (workers, SPD, ESP nodes, batch crypto) over
memory ports and reports packets and bits per second next to the crypto-only
bound: what the Go standard library's AEAD Seal/Open (or CBC + HMAC) of the same
payload achieves on one core, measured in the same run. ratio is pps / bound_pps.

Sizes are Ethernet frames without FCS (64 = 14-byte header + 50-byte IPv4
packet), as DPDK and RFC 2544 tools count them; imix is 7:4:1 of 64, 576 and
1500 bytes. Every flag takes a comma-separated list; all combinations run.`,
		Example: `  ipsecgw bench --transform "esp-gcm 128" --size 64 --workers 1 --direction encap --duration 2s --json
  ipsecgw bench --transform "esp-gcm 128,esp-aes 256 esp-sha256-hmac" --size 64,1400,imix`,
		Args: exactArgs(0),
		RunE: func(c *cobra.Command, _ []string) error {
			specs, err := benchSpecs(transforms, sizes, directions, workers, duration)
			if err != nil {
				return misuse{fmt.Errorf("%w\nSee 'ipsecgw bench --help'.", err)}
			}
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return userErrorf("%v", err)
				}
				defer stop()
			}
			return runBench(c.OutOrStdout(), c.ErrOrStderr(), specs, asJSON)
		},
	}
	f := c.Flags()
	f.StringSliceVar(&transforms, "transform", defaultTransforms, "ESP transforms as in a transform set")
	f.StringSliceVar(&sizes, "size", defaultSizes, "frame sizes in bytes, or imix")
	f.StringSliceVar(&workers, "workers", []string{"1"}, "worker counts")
	f.StringSliceVar(&directions, "direction", defaultDirections, "encap (cleartext in, ESP out) and/or decap (ESP in, cleartext out)")
	f.DurationVar(&duration, "duration", time.Second, "measuring time per result (the bound takes as long again)")
	f.BoolVar(&asJSON, "json", false, "print one JSON object per result")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file, for go tool pprof")
	return c
}

// startCPUProfile profiles the process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// benchSpecs expands the flags into the list of measurements, checking
// every value before anything runs.
func benchSpecs(transforms, sizes, directions, workers []string, d time.Duration) ([]bench.Spec, error) {
	if d <= 0 {
		return nil, fmt.Errorf("--duration must be positive")
	}
	for _, t := range transforms {
		if _, err := bench.ParseTransform(strings.TrimSpace(t)); err != nil {
			return nil, err
		}
	}
	var sz []bench.Size
	for _, s := range sizes {
		v, err := bench.ParseSize(strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		sz = append(sz, v)
	}
	var ws []int
	for _, w := range workers {
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n < 1 || n > 256 {
			return nil, fmt.Errorf("--workers %q: want a count from 1 to 256", w)
		}
		ws = append(ws, n)
	}
	var dirs []bench.Direction
	for _, d := range directions {
		switch dir := bench.Direction(strings.TrimSpace(d)); dir {
		case bench.Encap, bench.Decap:
			dirs = append(dirs, dir)
		default:
			return nil, fmt.Errorf("--direction %q: want encap or decap", d)
		}
	}
	var specs []bench.Spec
	for _, t := range transforms {
		for _, dir := range dirs {
			for _, s := range sz {
				for _, w := range ws {
					specs = append(specs, bench.Spec{Transform: strings.TrimSpace(t), Size: s, Workers: w, Direction: dir, Duration: d})
				}
			}
		}
	}
	return specs, nil
}

// Table columns; rows print as results come, so the widths are fixed.
const benchRow = "%-30s %-9s %5s %7s %9s %8s %10s %6s\n"

func runBench(stdout, stderr io.Writer, specs []bench.Spec, asJSON bool) error {
	enc := json.NewEncoder(stdout)
	if !asJSON {
		fmt.Fprintf(stdout, benchRow, "transform", "direction", "size", "workers", "Mpps", "Gbit/s", "bound Mpps", "ratio")
	}
	// The progress line rewrites itself with carriage returns: only a
	// terminal shows that as one line; logs and pipes would keep every
	// version of it.
	progress := !asJSON && isTerminal(stderr)
	for i, s := range specs {
		if progress {
			fmt.Fprintf(stderr, "[%d/%d] %s %s %s, %d worker(s)\r", i+1, len(specs), s.Transform, s.Direction, s.Size, s.Workers)
		}
		r, err := bench.Run(s)
		if progress {
			fmt.Fprintf(stderr, "%s\r", strings.Repeat(" ", 72))
		}
		if err != nil {
			return userErrorf("%v", err)
		}
		if asJSON {
			if err := enc.Encode(r); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(stdout, benchRow, r.Transform, r.Direction, r.Size, strconv.Itoa(r.Workers),
			fmt.Sprintf("%.3f", r.PPS/1e6), fmt.Sprintf("%.2f", r.Gbps), fmt.Sprintf("%.3f", r.BoundPPS/1e6), fmt.Sprintf("%.2f", r.Ratio))
	}
	return nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
