package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// profileGateways brings the scenario up, runs one TCP stream through it
// and meanwhile samples both gateways' processes with perf (their user
// and kernel time). It returns a text summary: where the CPU time
// of the gateway processes goes by binary (the gateway's own code against
// the kernel's socket, veth and XDP work it drives) and by symbol.
func profileGateways(ctx context.Context, sc *scenario, e *env, data string) (summary string, err error) {
	if _, err := exec.LookPath("perf"); err != nil {
		return "", fmt.Errorf("perf is not installed (apt-get install linux-perf)")
	}
	ctx, cancel := context.WithTimeout(ctx, e.opts.timeout+e.opts.profileTime)
	defer cancel()
	defer func() {
		if cerr := e.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if err := e.up(ctx, sc); err != nil {
		return "", err
	}
	pids := make([]string, len(e.pids))
	for i, p := range e.pids {
		pids[i] = strconv.Itoa(p)
	}
	type result struct {
		bps float64
		err error
	}
	done := make(chan result, 1)
	go func() {
		bps, err := e.tcp(ctx, e.opts.profileTime+3*time.Second)
		done <- result{bps, err}
	}()
	os.Remove(data)                     // perf would keep the previous recording as data.old
	time.Sleep(1500 * time.Millisecond) // past slow start
	rec := []string{"record", "-F", "999", "-o", data, "-p", strings.Join(pids, ","), "--", "sleep", seconds(e.opts.profileTime)}
	if out, err := exec.CommandContext(ctx, "perf", rec...).CombinedOutput(); err != nil {
		<-done
		return "", fmt.Errorf("perf %s: %v\n%s", strings.Join(rec, " "), err, out)
	}
	res := <-done
	if res.err != nil {
		return "", e.withLogs(res.err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "perf profile of both %s gateway processes (pids %s) during one iperf3 TCP stream host-a -> host-b at %.3f Gbit/s\n",
		sc.name, strings.Join(pids, ","), res.bps/1e9)
	fmt.Fprintf(&b, "recorded with: perf %s\n", strings.Join(rec, " "))
	for _, rep := range [][]string{
		{"--sort", "dso", "--percent-limit", "0.5"},
		{"--sort", "dso,sym", "--percent-limit", "0.8"},
	} {
		args := append([]string{"report", "-i", data, "--stdio", "--no-children"}, rep...)
		out, err := exec.CommandContext(ctx, "perf", args...).Output()
		if err != nil {
			return "", fmt.Errorf("perf %s: %v", strings.Join(args, " "), err)
		}
		fmt.Fprintf(&b, "\n$ perf %s\n%s", strings.Join(args, " "), stripComments(string(out)))
	}
	return b.String(), nil
}

// stripComments drops perf report's '#' header lines except the sample
// count and column titles.
func stripComments(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "#") && !strings.Contains(t, "Samples") && !strings.Contains(t, "Overhead") {
			continue
		}
		if t == "" {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n") + "\n"
}
