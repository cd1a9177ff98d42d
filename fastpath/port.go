package fastpath

import (
	"net"

	"ipsecgw/packet"
)

// Port is one queue of one interface as a worker sees it: a source and sink
// of frames in batches. Drivers implement it: afxdp (one AF_XDP socket per
// queue), pcap files, and memory ports for tests and benchmarks.
//
// A port is used by exactly one worker goroutine; no method is called
// concurrently. The interface is called once per batch, never per packet.
type Port interface {
	// Receive fills bufs with up to len(bufs) received frames, taken from
	// the worker's pool, and returns how many it filled. Each frame starts
	// with its Ethernet header and has packet.Headroom in front of it.
	Receive(bufs []*packet.Buf) int

	// Transmit queues frames for sending and takes ownership of all of
	// them: frames it cannot send are freed and counted as TX drops by
	// the port. Frames from another pool are copied.
	Transmit(bufs []*packet.Buf)

	// Flush pushes queued frames to the device (a kick for AF_XDP, a
	// write for pcap) and reclaims completed ones.
	Flush()

	// Stats reports the port's own counters.
	Stats() PortStats
}

// PortStats are a port's counters, read by the worker that owns the port.
type PortStats struct {
	RxPackets, RxBytes uint64
	TxPackets, TxBytes uint64
	RxDropped          uint64 // frames the driver lost before we saw them
	TxDropped          uint64 // frames we handed over that were not sent
}

// PortInfo describes the interface behind a port: what the fast path needs to
// forward out of it.
type PortInfo struct {
	Name  string // the IOS interface name from the configuration
	MAC   net.HardwareAddr
	MTU   int
	Queue int
}

// Finite is implemented by ports whose input ends: capture files, memory
// ports that do not loop. A worker whose ports are all Finite is drained
// when every one is exhausted and a poll finds nothing more to do.
type Finite interface {
	Exhausted() bool
}
