package pcapport

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"ipsecgw/packet"
)

func frames(n int) [][]byte {
	var fs [][]byte
	for i := range n {
		f := make([]byte, 60+i*100)
		for j := range f {
			f[j] = byte(i + j)
		}
		fs = append(fs, f)
	}
	return fs
}

func writeClassic(t *testing.T, path string, lt layers.LinkType, fs [][]byte, cut int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, lt); err != nil {
		t.Fatal(err)
	}
	for i, fr := range fs {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, 0), CaptureLength: len(fr), Length: len(fr)}
		if i == cut {
			ci.CaptureLength = len(fr) / 2 // a capture with a short snap length
			fr = fr[:len(fr)/2]
		}
		if err := w.WritePacket(ci, fr); err != nil {
			t.Fatal(err)
		}
	}
}

func writeNg(t *testing.T, path string, fs [][]byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pcapgo.NewNgWriter(f, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for _, fr := range fs {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, 0), CaptureLength: len(fr), Length: len(fr), InterfaceIndex: 0}
		if err := w.WritePacket(ci, fr); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("link type %v", r.LinkType())
	}
	var out [][]byte
	for {
		d, _, err := r.ReadPacketData()
		if err != nil {
			return out
		}
		out = append(out, d)
	}
}

// TestRoundTrip receives every frame of a capture (classic and pcapng) in
// batches and writes them to another, unchanged.
func TestRoundTrip(t *testing.T) {
	for _, ng := range []bool{false, true} {
		dir := t.TempDir()
		in, out := filepath.Join(dir, "in.pcap"), filepath.Join(dir, "out.pcap")
		fs := frames(10)
		if ng {
			writeNg(t, in, fs)
		} else {
			writeClassic(t, in, layers.LinkTypeEthernet, fs, -1)
		}
		pool := packet.NewHeapPool(64, 2048)
		p, err := Open(pool, in, out)
		if err != nil {
			t.Fatal(err)
		}
		bufs := make([]*packet.Buf, 4)
		total := 0
		for !p.Exhausted() {
			n := p.Receive(bufs)
			total += n
			p.Transmit(bufs[:n])
			p.Flush()
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if pool.Free() != pool.Size() {
			t.Fatalf("buffers not returned: %d of %d", pool.Free(), pool.Size())
		}
		got := readAll(t, out)
		if total != len(fs) || len(got) != len(fs) {
			t.Fatalf("pcapng %v: received %d, wrote %d, want %d", ng, total, len(got), len(fs))
		}
		for i := range fs {
			if !bytes.Equal(got[i], fs[i]) {
				t.Fatalf("frame %d differs", i)
			}
		}
		s := p.Stats()
		if s.RxPackets != 10 || s.TxPackets != 10 || s.RxDropped != 0 || s.TxDropped != 0 {
			t.Fatalf("stats %+v", s)
		}
	}
}

func TestDropsAndErrors(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.pcap")
	fs := append(frames(3), make([]byte, 3000)) // the last is larger than a chunk
	writeClassic(t, in, layers.LinkTypeEthernet, fs, 1)
	pool := packet.NewHeapPool(8, 2048)
	p, err := Open(pool, in, "") // no pcap_out
	if err != nil {
		t.Fatal(err)
	}
	bufs := make([]*packet.Buf, 8)
	n := p.Receive(bufs)
	if n != 2 || !p.Exhausted() {
		t.Fatalf("received %d, exhausted %v", n, p.Exhausted())
	}
	p.Transmit(bufs[:n]) // nowhere to write: counted, freed
	if s := p.Stats(); s.RxDropped != 2 || s.TxDropped != 2 || pool.Free() != pool.Size() {
		t.Fatalf("stats %+v, free %d", s, pool.Free())
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	raw := filepath.Join(dir, "raw.pcap")
	writeClassic(t, raw, layers.LinkTypeRaw, frames(1), -1)
	if _, err := Open(pool, raw, ""); err == nil || !strings.Contains(err.Error(), "link type") {
		t.Errorf("non-Ethernet capture: %v", err)
	}
	if _, err := Open(pool, filepath.Join(dir, "missing.pcap"), ""); err == nil {
		t.Error("missing pcap_in accepted")
	}
	garbage := filepath.Join(dir, "garbage.pcap")
	os.WriteFile(garbage, []byte("this is not a capture file at all"), 0o644)
	if _, err := Open(pool, garbage, ""); err == nil {
		t.Error("garbage pcap_in accepted")
	}
	// A capture cut short mid-packet ends input with an error.
	trunc := filepath.Join(dir, "trunc.pcap")
	b, _ := os.ReadFile(in)
	os.WriteFile(trunc, b[:len(b)-10], 0o644)
	p, err = Open(pool, trunc, "")
	if err != nil {
		t.Fatal(err)
	}
	for !p.Exhausted() {
		n := p.Receive(bufs)
		for _, b := range bufs[:n] {
			pool.Put(b)
		}
	}
	if p.Err() == nil {
		t.Error("truncated capture read without error")
	}
	p.Close()
}
