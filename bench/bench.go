// Package bench measures the fast path as `ipsecgw bench` reports it: the
// real engine — workers, parse, SPD, the encrypt or decrypt node, batch
// crypto, Ethernet rewrite — over memory ports, for one transform, packet
// size, worker count and direction at a time, next to the crypto-only
// bound of the same transform measured in the same run (crypto.Bound: the
// standard library's AEAD Seal/Open or CBC+HMAC of the same payload on one
// core).
//
// Data flow: Run builds two gateways with mirrored manual SAs (as two
// sites would have); encap feeds cleartext frames into gateway A's inside
// memory port and counts the ESP frames leaving its outside port; decap
// first lets A encrypt one copy of the traffic, then replays those ESP
// frames into gateway B's outside port and counts the cleartext leaving
// its inside. Manual SAs have no anti-replay window (as IOS's), so
// replaying the same ESP frames is valid traffic.
//
// Measuring: the workers and the bound run in turns, in slices of 20 ms,
// and each reports its best slice (see measure): the ratio then compares
// like with like even on a machine shared with other work.
//
// Sizes are Ethernet frames without FCS, as DPDK and RFC 2544 tools count
// them: 64 is a 14-byte Ethernet header and a 50-byte IPv4/UDP packet.
// IMIX is 7:4:1 of 64, 576 and 1500 bytes. The outside MTU is set so no
// size fragments: the figures measure encryption, not fragmentation.
package bench

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"ipsecgw/config"
	"ipsecgw/crypto"
	"ipsecgw/fastpath"
	"ipsecgw/fastpath/sad"
	"ipsecgw/packet"
	"ipsecgw/spd"
)

// Direction is what a run measures.
type Direction string

// Directions.
const (
	Encap Direction = "encap" // cleartext in, ESP out
	Decap Direction = "decap" // ESP in, cleartext out
)

// Size is a frame size in bytes, or IMIX when 0.
type Size int

// IMIX is the 7:4:1 mix of 64, 576 and 1500-byte frames.
const IMIX Size = 0

var imixSizes = []int{64, 64, 64, 64, 64, 64, 64, 576, 576, 576, 576, 1500}

// ParseSize reads "64" or "imix".
func ParseSize(s string) (Size, error) {
	if strings.EqualFold(s, "imix") {
		return IMIX, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 64 || n > 1514 {
		return 0, fmt.Errorf("size %q: want 64 to 1514 (an Ethernet frame without FCS) or imix", s)
	}
	return Size(n), nil
}

func (s Size) String() string {
	if s == IMIX {
		return "imix"
	}
	return strconv.Itoa(int(s))
}

// MarshalJSON writes a number, or "imix".
func (s Size) MarshalJSON() ([]byte, error) {
	if s == IMIX {
		return []byte(`"imix"`), nil
	}
	return []byte(strconv.Itoa(int(s))), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Size) UnmarshalJSON(b []byte) error {
	var str string
	if json.Unmarshal(b, &str) == nil {
		v, err := ParseSize(str)
		*s = v
		return err
	}
	n, err := strconv.Atoi(string(b))
	*s = Size(n)
	return err
}

// frameSizes is the size of each frame of the replayed sequence.
func (s Size) frameSizes() []int {
	if s == IMIX {
		return imixSizes
	}
	return []int{int(s)}
}

// mean is the average frame size.
func (s Size) mean() float64 {
	sz := s.frameSizes()
	t := 0
	for _, n := range sz {
		t += n
	}
	return float64(t) / float64(len(sz))
}

// Spec is one measurement.
type Spec struct {
	Transform string // IOS transform words, e.g. "esp-gcm 128" or "esp-aes 256 esp-sha256-hmac"
	Size      Size
	Workers   int
	Direction Direction
	Duration  time.Duration
	Batch     int // packets per vector; 64 when 0
}

// Result is one line of `ipsecgw bench --json`.
type Result struct {
	Transform string    `json:"transform"`
	Direction Direction `json:"direction"`
	Size      Size      `json:"size"`
	Workers   int       `json:"workers"`
	PPS       float64   `json:"pps"`  // frames per second through the gateway, best slice
	Gbps      float64   `json:"gbps"` // cleartext frame bits per second
	// BoundPPS is the crypto-only bound on one core (crypto.Bound, best
	// slice), and Ratio is PPS over it: 1 means the whole gateway is as fast as the
	// standard library's crypto alone on one core.
	BoundPPS float64 `json:"bound_pps"`
	Ratio    float64 `json:"ratio"`
	Packets  uint64  `json:"packets"` // over all slices
	Seconds  float64 `json:"seconds"`
	// AllocsPerPacket is heap allocations during the measurement divided
	// by packets: the fast path allocates nothing per packet.
	AllocsPerPacket float64 `json:"allocs_per_packet"`
	// Drops and Punted must stay 0: every packet should make it through.
	Drops  uint64 `json:"drops"`
	Punted uint64 `json:"punted"`
}

// ParseTransform reads IOS transform words with the configuration's own
// parser, so bench accepts exactly what a transform set does. Only ESP
// transforms have a crypto-only bound, so AH is refused.
func ParseTransform(words string) (crypto.Transform, error) {
	pol, diags := config.ParseIOS("bench", []byte("crypto ipsec transform-set T "+words+"\n"))
	if diags.Errors() > 0 {
		return crypto.Transform{}, fmt.Errorf("transform %q: %s", words, strings.TrimSpace(diags.String()))
	}
	ts := pol.TransformSets["T"]
	if ts == nil || !ts.HasESP() || ts.HasAH() {
		return crypto.Transform{}, fmt.Errorf("transform %q: bench measures ESP transforms (without AH)", words)
	}
	return ts.ESP, nil
}

// Addresses of the two benchmark gateways.
var (
	lanA, lanB   = netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("10.2.0.0/16")
	outA, outB   = netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	macInA       = fastpath.MAC{2, 0, 0, 0, 0xa, 1}
	macOutA      = fastpath.MAC{2, 0, 0, 0, 0xa, 2}
	macInB       = fastpath.MAC{2, 0, 0, 0, 0xb, 1}
	macOutB      = fastpath.MAC{2, 0, 0, 0, 0xb, 2}
	macHostA     = fastpath.MAC{2, 0, 0, 0, 1, 1}
	macHostB     = fastpath.MAC{2, 0, 0, 0, 2, 1}
	hostA, hostB = netip.MustParseAddr("10.1.0.10"), netip.MustParseAddr("10.2.0.10")
)

const (
	ifInside, ifOutside = 0, 1
	outsideMTU          = 1600 // no test size fragments
	chunkSize           = 2048
	// flows in the replayed traffic: enough to exercise the SPD cache
	// as real traffic does, few enough to stay in it.
	flows = 256
)

// gateway is one side of the benchmark.
type gateway struct {
	eng     *fastpath.Engine
	workers []*fastpath.Worker
	in, out []*fastpath.MemPort
}

// newGateway builds a gateway whose outside crypto map protects its LAN to
// the peer's with one manual ESP SA pair, and nWorkers workers each with
// its own pool and pair of memory ports.
func newGateway(t crypto.Transform, a bool, nWorkers, batch int) (*gateway, error) {
	lan, peerLan, self, peer := lanA, lanB, outA, outB
	inMAC, outMAC, peerMAC, host, hostMAC := macInA, macOutA, macOutB, hostA, macHostA
	spiOut, spiIn := uint32(0x1001), uint32(0x2001)
	if !a {
		lan, peerLan, self, peer = lanB, lanA, outB, outA
		inMAC, outMAC, peerMAC, host, hostMAC = macInB, macOutB, macOutA, hostB, macHostB
		spiOut, spiIn = spiIn, spiOut
	}
	fib, err := fastpath.NewFIB([]fastpath.Route{
		{Prefix: lan, Kind: fastpath.RouteConnected, Iface: ifInside},
		{Prefix: netip.PrefixFrom(lan.Addr().Next(), 32), Kind: fastpath.RouteLocal, Iface: ifInside},
		{Prefix: netip.PrefixFrom(self, 24).Masked(), Kind: fastpath.RouteConnected, Iface: ifOutside},
		{Prefix: netip.PrefixFrom(self, 32), Kind: fastpath.RouteLocal, Iface: ifOutside},
		{Prefix: peerLan, Kind: fastpath.RouteStatic, Iface: -1, NextHop: peer},
	})
	if err != nil {
		return nil, err
	}
	sel := spd.Selector{Src: lan, Dst: peerLan}
	table, err := spd.Compile([]spd.Rule{{Sel: sel, Permit: true, Entry: 0, Line: 1}})
	if err != nil {
		return nil, err
	}
	cm, err := fastpath.NewCryptoMap("bench", table, []fastpath.CryptoEntry{{Seq: 10, Kind: fastpath.EntryManual}})
	if err != nil {
		return nil, err
	}
	mk := func(spi uint32, dir sad.Direction) (*sad.SA, error) {
		c := sad.Config{SPI: spi, Protocol: sad.ESP, Direction: dir, Mode: sad.Tunnel, Local: self, Remote: peer,
			Transform: t, Selectors: []spd.Selector{sel}}
		// Both gateways derive the same keys from the SPI.
		c.CipherKey = make(sad.Key, t.Cipher.KeyLen(t.KeyBits))
		c.IntegKey = make(sad.Key, t.Integ.KeyLen())
		for i := range c.CipherKey {
			c.CipherKey[i] = byte(spi) + byte(i)*13 + 1
		}
		for i := range c.IntegKey {
			c.IntegKey[i] = byte(spi>>8) + byte(i)*29 + 3
		}
		return sad.New(c, nWorkers)
	}
	out, err := mk(spiOut, sad.Outbound)
	if err != nil {
		return nil, err
	}
	in, err := mk(spiIn, sad.Inbound)
	if err != nil {
		return nil, err
	}
	db := sad.NewDB()
	if err := db.Install(out, in); err != nil {
		return nil, err
	}
	if cm, err = cm.WithSAs([]fastpath.Binding{{Rule: 0, SA: out}}, nil); err != nil {
		return nil, err
	}
	ifs := []fastpath.Interface{
		{Name: "inside", MAC: inMAC, MTU: 1500, Addrs: []netip.Prefix{netip.PrefixFrom(lan.Addr().Next(), 16)}},
		{Name: "outside", MAC: outMAC, MTU: outsideMTU, Addrs: []netip.Prefix{netip.PrefixFrom(self, 24)}, Crypto: cm},
	}
	var neigh []fastpath.Neighbor
	neigh = append(neigh, fastpath.Neighbor{Iface: ifOutside, Addr: peer, MAC: peerMAC})
	for f := range flows {
		neigh = append(neigh, fastpath.Neighbor{Iface: ifInside, Addr: hostAddr(host, f), MAC: hostMAC})
	}
	eng, err := fastpath.NewEngine(&fastpath.Tables{Interfaces: ifs, FIB: fib}, fastpath.NewNeighbors(neigh), db)
	if err != nil {
		return nil, err
	}
	g := &gateway{eng: eng}
	for range nWorkers {
		pool := packet.NewHeapPool(4096, chunkSize)
		pin, pout := fastpath.NewMemPort(pool, nil, true), fastpath.NewMemPort(pool, nil, true)
		w, err := eng.AddWorker(fastpath.WorkerConfig{Pool: pool, Batch: batch,
			Ports: []fastpath.PortBinding{{Port: pin, Iface: ifInside}, {Port: pout, Iface: ifOutside}}})
		if err != nil {
			return nil, err
		}
		g.workers = append(g.workers, w)
		g.in, g.out = append(g.in, pin), append(g.out, pout)
	}
	return g, nil
}

// hostAddr is host number f of a LAN, counting up from base (which is
// well above the gateway's own .1).
func hostAddr(base netip.Addr, f int) netip.Addr {
	b := base.As4()
	n := binary.BigEndian.Uint32(b[:]) + uint32(f)
	binary.BigEndian.PutUint32(b[:], n)
	return netip.AddrFrom4(b)
}

// cleartext makes the frames host A sends: UDP over IPv4 of the given
// frame sizes, spread over flows.
func cleartext(size Size) [][]byte {
	sizes := size.frameSizes()
	n := flows
	if len(sizes) > 1 {
		n = flows * len(sizes) / 4 // keep IMIX's order and many flows
	}
	frames := make([][]byte, 0, n)
	for i := range n {
		sz := sizes[i%len(sizes)]
		f := make([]byte, sz)
		copy(f[0:6], macInA[:])
		copy(f[6:12], macHostA[:])
		binary.BigEndian.PutUint16(f[12:14], 0x0800)
		ip := f[14:]
		ip[0], ip[8], ip[9] = 0x45, 64, 17
		binary.BigEndian.PutUint16(ip[2:4], uint16(len(ip)))
		src, dst := hostAddr(hostA, i%flows).As4(), hostAddr(hostB, i%flows).As4()
		copy(ip[12:16], src[:])
		copy(ip[16:20], dst[:])
		binary.BigEndian.PutUint16(ip[10:12], ipChecksum(ip[:20]))
		udp := ip[20:]
		binary.BigEndian.PutUint16(udp[0:2], uint16(10000+i%flows))
		binary.BigEndian.PutUint16(udp[2:4], 5001)
		binary.BigEndian.PutUint16(udp[4:6], uint16(len(udp)))
		for j := 8; j < len(udp); j++ {
			udp[j] = byte(j)
		}
		frames = append(frames, f)
	}
	return frames
}

func ipChecksum(h []byte) uint16 {
	var s uint32
	for i := 0; i < len(h); i += 2 {
		s += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// Run performs one measurement.
func Run(s Spec) (Result, error) {
	t, err := ParseTransform(s.Transform)
	if err != nil {
		return Result{}, err
	}
	if s.Workers < 1 {
		s.Workers = 1
	}
	if s.Direction != Encap && s.Direction != Decap {
		return Result{}, fmt.Errorf("direction %q: want encap or decap", s.Direction)
	}
	if s.Batch == 0 {
		s.Batch = 64
	}
	frames := cleartext(s.Size)
	var g *gateway
	if s.Direction == Encap {
		if g, err = newGateway(t, true, s.Workers, s.Batch); err != nil {
			return Result{}, err
		}
		for _, p := range g.in {
			p.Load(frames)
		}
	} else {
		esp, err := encrypt(t, frames)
		if err != nil {
			return Result{}, err
		}
		if g, err = newGateway(t, false, s.Workers, s.Batch); err != nil {
			return Result{}, err
		}
		for _, p := range g.out {
			p.Load(esp)
		}
	}
	// One port per worker carries the measured traffic out; its counter
	// is exact once the workers stopped.
	out := g.out
	if s.Direction == Decap {
		out = g.in
	}
	count := func() uint64 {
		var n uint64
		for _, p := range out {
			n += p.Stats().TxPackets
		}
		return n
	}
	sizes := s.Size.frameSizes()
	m, err := measure(g, s.Duration, count, func(d time.Duration) (float64, error) {
		return bound(t, sizes, s.Direction == Decap, d)
	})
	if err != nil {
		return Result{}, err
	}
	stats := g.eng.Stats()
	res := Result{
		Transform: s.Transform, Direction: s.Direction, Size: s.Size, Workers: s.Workers,
		Packets: m.packets, Seconds: m.seconds, PPS: m.pps, BoundPPS: m.bound, Drops: stats.Global.Drops.Total(),
	}
	for _, n := range stats.Global.Punted {
		res.Punted += n
	}
	res.Gbps = res.PPS * s.Size.mean() * 8 / 1e9
	if m.packets > 0 {
		res.AllocsPerPacket = float64(m.allocs) / float64(m.packets)
	}
	if res.BoundPPS > 0 {
		res.Ratio = res.PPS / res.BoundPPS
	}
	return res, nil
}

// encrypt runs the cleartext frames once through gateway A and returns
// the ESP frames it sends to B.
func encrypt(t crypto.Transform, frames [][]byte) ([][]byte, error) {
	a, err := newGateway(t, true, 1, 64)
	if err != nil {
		return nil, err
	}
	out := a.out[0]
	a.in[0].Load(frames)
	out.Capture(true)
	for out.Stats().TxPackets < uint64(len(frames)) {
		if a.workers[0].Poll() == 0 {
			return nil, errors.New("bench: gateway A stopped receiving")
		}
	}
	esp := out.Captured()
	if len(esp) < len(frames) {
		return nil, fmt.Errorf("bench: gateway A encrypted %d of %d frames", len(esp), len(frames))
	}
	return esp[:len(frames)], nil
}

// sliceLen is how long one slice of measure runs: short enough that some
// slices run undisturbed on a busy machine, long enough to be many
// batches.
const sliceLen = 20 * time.Millisecond

// measurement is what measure found.
type measurement struct {
	pps, bound float64 // best slice of each
	packets    uint64  // over all the fast path's slices
	seconds    float64
	allocs     uint64 // heap allocations during the fast path's slices
}

// measure runs the workers and the bound in alternating slices (d/20 ms
// of each, at least five; the workers first for an unmeasured warm-up
// slice: caches, branch predictors, CPU frequency) and keeps each one's
// best slice. On a shared machine other work only ever slows a slice down,
// so best slices are the comparable ones, and alternating puts the two
// under the same conditions: a burst of other work cannot land on one side
// of the ratio only.
func measure(g *gateway, d time.Duration, count func() uint64, boundFor func(time.Duration) (float64, error)) (measurement, error) {
	var m measurement
	rounds := max(5, int(d/sliceLen))
	slice := max(d/time.Duration(rounds), time.Millisecond)
	runWorkers(g, slice)
	for range rounds {
		// Counting allocates: it stays outside the slice.
		n0 := count()
		secs, allocs := runWorkers(g, slice)
		n := count() - n0
		m.allocs += allocs
		m.packets += n
		m.seconds += secs
		m.pps = max(m.pps, float64(n)/secs)
		b, err := boundFor(slice)
		if err != nil {
			return m, err
		}
		m.bound = max(m.bound, b)
	}
	return m, nil
}

// runWorkers runs every worker on its own locked thread for about d and
// returns how long they ran, from the first start to the last stop, and
// the heap allocations meanwhile (those of starting the goroutines left
// out: the count is the fast path's).
func runWorkers(g *gateway, d time.Duration) (secs float64, allocs uint64) {
	var wg sync.WaitGroup
	wg.Add(len(g.workers))
	start := time.Now()
	for _, w := range g.workers {
		go func() {
			defer wg.Done()
			w.Run(-1)
		}()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	a0 := ms.Mallocs
	time.Sleep(d)
	for _, w := range g.workers {
		w.Stop()
	}
	wg.Wait()
	secs = time.Since(start).Seconds()
	runtime.ReadMemStats(&ms)
	return secs, ms.Mallocs - a0
}

// bound is the crypto-only bound for frames of the given sizes: the
// packets per second one core seals (or opens) with the standard library,
// for a mix the harmonic mean weighted by how often each size occurs.
func bound(t crypto.Transform, sizes []int, open bool, d time.Duration) (float64, error) {
	uniq := map[int]int{}
	for _, n := range sizes {
		uniq[n]++
	}
	var perPacket float64 // seconds per packet, weighted
	for n, w := range uniq {
		pps, err := crypto.Bound(t, n-14, open, d/time.Duration(len(uniq)))
		if err != nil {
			return 0, err
		}
		perPacket += float64(w) / float64(len(sizes)) / pps
	}
	return 1 / perPacket, nil
}
