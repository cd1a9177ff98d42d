package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"ipsecgw/topo"
)

// iperf3Port is iperf3's default port; every scenario has its own host-b.
const iperf3Port = "5201"

// startServer starts the iperf3 server on host-b and waits until it
// listens (connecting earlier is refused).
func (e *env) startServer(ctx context.Context) error {
	b := &e.top.B
	d, err := startDaemon(e, "iperf3-server", b.HostNS, "iperf3", "-s", "-B", b.Host.Addr().String(), "-p", iperf3Port)
	if err != nil {
		return err
	}
	e.server = d
	for {
		out, _ := topo.Output(b.HostNS, "ss", "-Hltn", "sport", "= :"+iperf3Port)
		if len(bytes.TrimSpace(out)) > 0 {
			return nil
		}
		if d.exited() {
			return e.withLogs(errors.New("iperf3 server on host-b exited"))
		}
		select {
		case <-ctx.Done():
			return errors.New("iperf3 server on host-b did not start listening")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// iperfResult is the part of iperf3 -J output the benchmark reads.
type iperfResult struct {
	Error string `json:"error"`
	End   struct {
		SumReceived struct {
			Bytes         int64   `json:"bytes"`
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum_received"`
		// UDP: packets sent, lost as the server counted them, and time.
		Sum struct {
			Packets     int64   `json:"packets"`
			LostPackets int64   `json:"lost_packets"`
			Seconds     float64 `json:"seconds"`
		} `json:"sum"`
	} `json:"end"`
}

func (e *env) client(ctx context.Context, args ...string) (*iperfResult, error) {
	a, b := &e.top.A, &e.top.B
	full := append([]string{"iperf3", "-c", b.Host.Addr().String(), "-p", iperf3Port, "-B", a.Host.Addr().String(),
		"--connect-timeout", "3000", "-J"}, args...)
	out, err := topo.Command(ctx, a.HostNS, full...).Output()
	var r iperfResult
	if jerr := json.Unmarshal(out, &r); jerr != nil || r.Error != "" || err != nil {
		return nil, fmt.Errorf("iperf3 %v: %v %s", args, err, r.Error)
	}
	return &r, nil
}

// tcp measures one TCP stream from host-a to host-b and returns the bits
// per second host-b received, the first second (slow start) omitted.
func (e *env) tcp(ctx context.Context, d time.Duration) (float64, error) {
	r, err := e.client(ctx, "-t", seconds(d), "-O", "1")
	if err != nil {
		return 0, err
	}
	if r.End.SumReceived.Bytes == 0 {
		return 0, errors.New("iperf3 TCP: host-b received nothing")
	}
	return r.End.SumReceived.BitsPerSecond, nil
}

// udpRate is what a UDP measurement found, in packets per second.
type udpRate struct{ received, sent float64 }

// udp sends 64-byte UDP payloads from host-a as fast as iperf3 can (-b 0)
// and returns the packets per second host-b received and host-a sent. One
// iperf3 sender is one core's worth of sendto calls: where received is
// close to sent, the sender is the limit.
func (e *env) udp(ctx context.Context, d time.Duration) (udpRate, error) {
	r, err := e.client(ctx, "-u", "-l", "64", "-b", "0", "-t", seconds(d))
	if err != nil {
		return udpRate{}, err
	}
	s := r.End.Sum
	got := s.Packets - s.LostPackets
	if s.Seconds <= 0 || got <= 0 {
		return udpRate{}, fmt.Errorf("iperf3 UDP: host-b received nothing (%d sent, %d lost)", s.Packets, s.LostPackets)
	}
	return udpRate{received: float64(got) / s.Seconds, sent: float64(s.Packets) / s.Seconds}, nil
}

func seconds(d time.Duration) string {
	return strconv.Itoa(int(d.Round(time.Second) / time.Second))
}
