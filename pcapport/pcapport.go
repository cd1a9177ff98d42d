// Package pcapport is the `driver: pcap` interface of the gateway: a
// fastpath.Port that receives the Ethernet frames of a capture file
// (pcap_in) and writes the frames the fast path sends out of the interface to
// another capture file (pcap_out). It lets `ipsecgw run` process recorded
// traffic offline, and the end-to-end tests chain two gateways through files.
//
// Frames are read with gopacket's pcapgo (classic pcap, gzip-compressed or
// not, and pcapng) into buffers of the worker's pool, and written as classic
// pcap with nanosecond timestamps. File I/O stays here so that package
// fastpath never touches a file.
package pcapport

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"ipsecgw/fastpath"
	"ipsecgw/packet"
)

// snaplen written in output headers: the largest frame a chunk can hold is
// smaller, so no frame is ever cut.
const snaplen = 262144

// reader is what pcapgo's classic and pcapng readers share.
type reader interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

// Port reads one capture file and writes another. Either may be absent: an
// interface without pcap_in receives nothing; one without pcap_out counts
// and discards what it sends.
type Port struct {
	pool *packet.Pool

	in     *os.File
	r      reader
	rxDone bool
	err    error // first read or write error

	out *os.File
	bw  *bufio.Writer
	w   *pcapgo.Writer

	// Frames queued by Transmit until Flush writes them.
	pending []*packet.Buf
	now     func() time.Time

	stats fastpath.PortStats
}

// Open opens the port: inPath to read (may be empty) and outPath to create
// or truncate (may be empty). Frames are received into buffers of pool.
func Open(pool *packet.Pool, inPath, outPath string) (*Port, error) {
	p := &Port{pool: pool, rxDone: inPath == "", now: time.Now}
	if inPath != "" {
		if err := p.openIn(inPath); err != nil {
			return nil, err
		}
	}
	if outPath != "" {
		f, err := os.Create(outPath)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.out, p.bw = f, bufio.NewWriterSize(f, 1<<16)
		p.w = pcapgo.NewWriterNanos(p.bw)
		if err := p.w.WriteFileHeader(snaplen, layers.LinkTypeEthernet); err != nil {
			p.Close()
			return nil, fmt.Errorf("pcap_out %s: %w", outPath, err)
		}
	}
	return p, nil
}

// pcapngMagic starts a pcapng file (its section header block type).
var pcapngMagic = []byte{0x0a, 0x0d, 0x0d, 0x0a}

func (p *Port) openIn(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	br := bufio.NewReaderSize(f, 1<<16)
	magic, _ := br.Peek(4)
	if bytes.Equal(magic, pcapngMagic) {
		p.r, err = pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
	} else {
		p.r, err = pcapgo.NewReader(br)
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("pcap_in %s: %w", path, err)
	}
	if lt := p.r.LinkType(); lt != layers.LinkTypeEthernet {
		f.Close()
		return fmt.Errorf("pcap_in %s: link type %v, want Ethernet", path, lt)
	}
	p.in = f
	return nil
}

// Receive implements fastpath.Port: it reads up to len(bufs) frames.
// Frames cut short by the capture's snap length, or too large for a chunk,
// are counted as RxDropped.
func (p *Port) Receive(bufs []*packet.Buf) int {
	n := 0
	for n < len(bufs) && !p.rxDone {
		data, ci, err := p.r.ZeroCopyReadPacketData()
		if err != nil {
			p.rxDone = true
			if !errors.Is(err, io.EOF) {
				p.setErr(fmt.Errorf("pcap_in: %w", err))
			}
			break
		}
		if ci.CaptureLength < ci.Length {
			p.stats.RxDropped++
			continue
		}
		b := p.pool.Get()
		if b == nil {
			p.stats.RxDropped++
			continue
		}
		d := b.Append(len(data))
		if d == nil {
			p.pool.Put(b)
			p.stats.RxDropped++
			continue
		}
		copy(d, data)
		p.stats.RxPackets++
		p.stats.RxBytes += uint64(len(data))
		bufs[n] = b
		n++
	}
	return n
}

// Transmit implements fastpath.Port: frames wait for Flush.
func (p *Port) Transmit(bufs []*packet.Buf) {
	if p.w == nil {
		for _, b := range bufs {
			p.stats.TxDropped++
			b.Pool().Put(b)
		}
		return
	}
	p.pending = append(p.pending, bufs...)
}

// Flush implements fastpath.Port: it writes the queued frames.
func (p *Port) Flush() {
	if len(p.pending) == 0 {
		return
	}
	ts := p.now()
	for i, b := range p.pending {
		data := b.Bytes()
		if p.err == nil {
			ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data)}
			if err := p.w.WritePacket(ci, data); err != nil {
				p.setErr(fmt.Errorf("pcap_out: %w", err))
			}
		}
		if p.err != nil {
			p.stats.TxDropped++
		} else {
			p.stats.TxPackets++
			p.stats.TxBytes += uint64(len(data))
		}
		b.Pool().Put(b)
		p.pending[i] = nil
	}
	p.pending = p.pending[:0]
}

// Stats implements fastpath.Port.
func (p *Port) Stats() fastpath.PortStats { return p.stats }

// Exhausted reports that every frame of pcap_in has been received.
func (p *Port) Exhausted() bool { return p.rxDone }

// Err is the first read or write error, if any.
func (p *Port) Err() error { return p.err }

func (p *Port) setErr(err error) {
	if p.err == nil {
		p.err = err
	}
}

// Close flushes pcap_out and closes both files. It returns the first error
// the port met.
func (p *Port) Close() error {
	p.Flush()
	if p.bw != nil {
		if err := p.bw.Flush(); err != nil {
			p.setErr(err)
		}
	}
	if p.out != nil {
		if err := p.out.Close(); err != nil {
			p.setErr(err)
		}
		p.out = nil
	}
	if p.in != nil {
		p.in.Close()
		p.in = nil
	}
	return p.err
}
