package fastpath

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"ipsecgw/fastpath/hdr"
	"ipsecgw/fastpath/ipsec"
	"ipsecgw/fastpath/ring"
	"ipsecgw/fastpath/sad"
	"ipsecgw/fastpath/stats"
	"ipsecgw/packet"
	"ipsecgw/spd"
)

// origin says where a packet entering IP processing comes from, which
// decides the checks it gets.
type origin uint8

const (
	fromWire    origin = iota // received in the clear: unprotected check, TTL
	fromDecrypt               // inner packet of an inbound SA: TTL, no unprotected check
	fromLocal                 // made by the gateway (ICMP errors, injected data): protected by crypto maps
	fromBypass                // injected IKE: never protected
)

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// hop is where a packet leaves: an interface and the next hop's address.
type hop struct {
	iface int
	nh    netip.Addr
}

// PortBinding gives a worker one port (one queue of one interface).
type PortBinding struct {
	Port  Port
	Iface int // index in Tables.Interfaces
}

// WorkerConfig configures a worker.
type WorkerConfig struct {
	Ports []PortBinding
	// Pool is the worker's buffer pool, shared by all its ports.
	Pool *packet.Pool
	// Batch is the number of frames received per port per poll
	// (dataplane.batch); 64 when zero.
	Batch int
	// PuntRing and InjectRing are the ring sizes in slots (powers of
	// two); 1024 and 256 when zero.
	PuntRing, InjectRing int
	// SPDCache is the number of flows the worker's SPD cache holds;
	// 4096 when zero.
	SPDCache int
	// Wait, when set, is how an idle worker sleeps: it blocks until one
	// of the worker's ports has work or timeout passes (AF_XDP: poll()
	// on the sockets). Without it the worker sleeps for the timeout.
	Wait func(timeout time.Duration) bool
}

// ICMP error rate limit per worker (RFC 1812 §4.3.2.8).
const (
	icmpRate  = 1000 // per second
	icmpBurst = 100
)

// How long a worker suppresses repeated ACQUIREs for one flow and
// neighbour misses for one next hop: the slow path is working on it.
const puntHold = int64(time.Second)

// Worker is one fast-path thread: it polls its ports in batches and runs each
// batch through the nodes (see the package documentation). Everything it
// writes is its own; shared tables are only read. All methods except Stop
// are for the worker's goroutine.
type Worker struct {
	id     int
	eng    *Engine
	pool   *packet.Pool
	batch  int
	ports  []Port
	portIf []int // by port: interface index
	ifPort []int // by interface: port index, -1 when the worker has none

	// The tables of the current batch, loaded once per poll.
	t   *Tables
	nb  *Neighbors
	now int64 // nanoseconds since the worker started, once per poll

	rx    []*packet.Buf
	frags []*packet.Buf

	enc         *ipsec.Encryptor
	encPkts     []*packet.Buf
	encSAs      []*sad.SA
	encHops     []hop
	encVerdicts []stats.Reason

	dec         *ipsec.Decryptor
	decPkts     []*packet.Buf
	decHdrs     []hdr.Meta // the outer headers in, the inner ones out
	decSAs      []*sad.SA
	decVerdicts []stats.Reason

	tx [][]*packet.Buf // by port

	// One-entry caches of the last lookups, for the common case of a
	// vector of one flow or one tunnel: the next hop's MAC (valid for
	// one neighbour table) and an SA's route to its peer (valid for one
	// Tables).
	lastHop   hop
	lastMAC   macWord
	lastNB    *Neighbors
	lastSA    *sad.SA
	lastSAT   *Tables
	lastSAHop hop
	// The last SPD lookup: a batch from one flow (a TCP stream, an
	// iperf) asks the same question for every packet. A table is
	// immutable, so its pointer and the flow are the whole key.
	lastSPD     *spd.Table
	lastFlow    spd.Flow
	lastSPDRule int
	// The last route looked up for a packet from the wire: ESP arriving
	// for decapsulation is all addressed to the gateway, and a vector
	// of one flow goes to one destination. Valid for one Tables.
	lastDst   netip.Addr
	lastRoute *Route
	lastRT    *Tables

	reasm      reassembler
	lastExpire int64

	cache    *spd.Cache
	punt     *ring.Ring[Punt]
	inject   *ring.Ring[Inject]
	acquires suppressor
	misses   suppressor
	icmp     tokenBucket
	ipID     uint16
	epoch    time.Time
	wait     func(time.Duration) bool

	c   Counters
	ifc []IfaceCounters

	pubMu   sync.Mutex
	pub     Stats
	lastPub int64

	stop atomic.Bool
}

// How often a busy worker publishes its counters for readers.
const publishEvery = int64(time.Millisecond)

func newWorker(e *Engine, id int, cfg WorkerConfig) (*Worker, error) {
	if cfg.Pool == nil || len(cfg.Ports) == 0 {
		return nil, errors.New("fastpath: a worker needs a pool and at least one port")
	}
	batch := cmpOr(cfg.Batch, 64)
	nIf := len(e.Tables().Interfaces)
	w := &Worker{
		id: id, eng: e, pool: cfg.Pool, batch: batch,
		ifPort: make([]int, nIf),
		rx:     make([]*packet.Buf, batch),
		// A packet fragments into at most this many pieces.
		frags:       make([]*packet.Buf, 0, cfg.Pool.ChunkSize()/8+1),
		enc:         ipsec.NewEncryptor(id, batch),
		encPkts:     make([]*packet.Buf, 0, batch),
		encSAs:      make([]*sad.SA, 0, batch),
		encHops:     make([]hop, 0, batch),
		encVerdicts: make([]stats.Reason, batch),
		dec:         ipsec.NewDecryptor(e.sad, id, batch),
		decPkts:     make([]*packet.Buf, 0, batch),
		decHdrs:     make([]hdr.Meta, 0, batch),
		decSAs:      make([]*sad.SA, batch),
		decVerdicts: make([]stats.Reason, batch),
		cache:       spd.NewCache(cmpOr(cfg.SPDCache, 4096)),
		icmp:        newTokenBucket(icmpRate, icmpBurst),
		epoch:       time.Now(),
		wait:        cfg.Wait,
		ifc:         make([]IfaceCounters, nIf),
	}
	for i := range w.ifPort {
		w.ifPort[i] = -1
	}
	for pi, pb := range cfg.Ports {
		if pb.Iface < 0 || pb.Iface >= nIf {
			return nil, errors.New("fastpath: port bound to an unknown interface")
		}
		if w.ifPort[pb.Iface] >= 0 {
			return nil, errors.New("fastpath: a worker takes one queue of each interface")
		}
		w.ifPort[pb.Iface] = pi
		w.ports = append(w.ports, pb.Port)
		w.portIf = append(w.portIf, pb.Iface)
		w.tx = append(w.tx, make([]*packet.Buf, 0, batch))
	}
	var err error
	if w.punt, err = ring.New[Punt](cmpOr(cfg.PuntRing, 1024)); err != nil {
		return nil, err
	}
	if w.inject, err = ring.New[Inject](cmpOr(cfg.InjectRing, 256)); err != nil {
		return nil, err
	}
	w.pub = Stats{Ifaces: make([]IfaceCounters, nIf)}
	return w, nil
}

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// ID is the worker's index, which per-SA counters are kept by.
func (w *Worker) ID() int { return w.id }

// Punts is the consumer side of the worker's punt ring, for the slow path.
func (w *Worker) Punts() *ring.Ring[Punt] { return w.punt }

// Injects is the producer side of the worker's inject ring, for the slow
// path.
func (w *Worker) Injects() *ring.Ring[Inject] { return w.inject }

// Poll runs one round: injected packets, then a batch from each port
// through the nodes, then flushes every port. It returns the number of
// packets it took in.
func (w *Worker) Poll() int {
	w.t, w.nb = w.eng.tables.Load(), w.eng.neigh.Load()
	w.now = int64(time.Since(w.epoch))
	n := w.drainInject()
	if w.reasm.active > 0 && w.now-w.lastExpire > reasmTimeout/16 {
		w.dropN(-1, stats.Reassembly, w.reasm.expire(w.pool, w.now))
		w.lastExpire = w.now
	}
	for pi, p := range w.ports {
		k := p.Receive(w.rx)
		if k > 0 {
			n += k
			w.c.RxFrames += uint64(k)
			w.c.RxBatches[BatchBucket(k)]++
		}
		iface := w.portIf[pi]
		for _, b := range w.rx[:k] {
			b.Port = uint16(pi)
			w.ethernetInput(b, iface)
		}
		w.runDecrypt()
		w.runEncrypt()
	}
	for pi := range w.ports {
		w.transmit(pi)
		w.ports[pi].Flush()
	}
	clear(w.rx)
	if w.now-w.lastPub >= publishEvery {
		w.publish()
	}
	return n
}

// ethernetInput checks the link layer and strips it.
func (w *Worker) ethernetInput(b *packet.Buf, iface int) {
	e, r := parseEthernet(b.Bytes())
	if r != stats.None {
		w.drop(b, iface, r)
		return
	}
	ifc := &w.t.Interfaces[iface]
	if f := b.Bytes(); f[0]&1 == 0 && MAC(f[0:6]) != ifc.MAC {
		w.drop(b, iface, stats.OtherHost)
		return
	}
	if e.vlan != ifc.VLAN {
		w.drop(b, iface, stats.UnknownVLAN)
		return
	}
	b.TrimFront(e.hdrLen)
	// The header is parsed into the decrypt vector's next slot, so IPsec
	// joins the vector without its header being copied (toDecrypt); for
	// any other packet the slot is scratch.
	m := &w.decHdrs[:len(w.decHdrs)+1][len(w.decHdrs)]
	if r := hdr.Parse(b.Bytes(), m); r != stats.None {
		w.drop(b, iface, r)
		return
	}
	if (m.Ver == 4) != (e.etherType == etherTypeIPv4) {
		w.drop(b, iface, stats.Malformed)
		return
	}
	b.SetLen(m.Length) // drop Ethernet padding
	w.c.RxPackets++
	w.ipInput(b, m, iface, fromWire)
}

// ipInput dispatches an IP packet: to the gateway itself, or forward.
func (w *Worker) ipInput(b *packet.Buf, m *hdr.Meta, inIf int, o origin) {
	rt := w.lastRoute
	if o != fromWire || m.Flow.Dst != w.lastDst || w.t != w.lastRT {
		rt = w.t.FIB.Lookup(m.Flow.Dst)
		if o == fromWire {
			w.lastDst, w.lastRoute, w.lastRT = m.Flow.Dst, rt, w.t
		}
	}
	if o == fromWire && inIf >= 0 && !w.unprotectedOK(b, m, inIf, rt) {
		return
	}
	if m.Flow.Dst.IsMulticast() || m.Flow.Dst == limitedBroadcast {
		// Routing protocols and the like: the host's, never forwarded.
		w.puntPacket(PuntLocal, b, m, inIf)
		return
	}
	if rt != nil && rt.Kind == RouteLocal {
		w.localInput(b, m, inIf, o)
		return
	}
	w.forward(b, m, inIf, rt, o)
}

// unprotectedOK drops cleartext that an ipsec crypto map entry on the
// receiving interface says must arrive protected: a packet whose reversed
// flow a permit line covers (the guide: "that packet is dropped because it
// was not sent as an IPsec-protected packet"). IPsec and IKE addressed to
// the gateway are what protection looks like, so they pass.
func (w *Worker) unprotectedOK(b *packet.Buf, m *hdr.Meta, inIf int, rt *Route) bool {
	cm := w.t.Interfaces[inIf].Crypto
	if cm == nil {
		return true
	}
	if rt != nil && rt.Kind == RouteLocal && isIPsecOrIKE(m) {
		return true
	}
	rev := m.Flow.Reverse()
	if w.spdLookup(cm.SPD, &rev) == spd.NoMatch {
		return true
	}
	w.drop(b, inIf, stats.Unprotected)
	return false
}

func isIPsecOrIKE(m *hdr.Meta) bool {
	p := m.Flow.Proto
	return p == protoESP || p == protoAH || p == protoUDP && (m.Flow.DstPort == portIKE || m.Flow.DstPort == portNATT)
}

func (w *Worker) spdLookup(t *spd.Table, f *spd.Flow) int {
	if t == w.lastSPD && *f == w.lastFlow {
		w.c.SPDCacheHits++
		return w.lastSPDRule
	}
	h := w.cache.Hits
	r := w.cache.Lookup(t, f)
	if w.cache.Hits != h {
		w.c.SPDCacheHits++
	} else {
		w.c.SPDCacheMiss++
	}
	// Field by field: the flow was just written by the parser in narrow
	// stores, which a whole-struct copy would reload with wide loads.
	w.lastSPD, w.lastSPDRule = t, r
	w.lastFlow.Src, w.lastFlow.Dst = f.Src, f.Dst
	w.lastFlow.Proto, w.lastFlow.SrcPort, w.lastFlow.DstPort = f.Proto, f.SrcPort, f.DstPort
	return r
}

// localInput handles a packet addressed to the gateway: IPsec goes to the
// decrypt node, IKE to the slow path, NAT-T keepalives are counted and
// dropped, anything else is punted as local traffic.
func (w *Worker) localInput(b *packet.Buf, m *hdr.Meta, inIf int, o origin) {
	if m.Frag != hdr.FragNone {
		whole, frags, dropped, r := w.reasm.add(b, m, w.pool, w.now)
		w.dropN(inIf, r, dropped)
		if whole == nil {
			return
		}
		w.c.ReasmFragments += uint64(frags)
		w.c.Reassembled++
		var wm hdr.Meta
		if r := hdr.Parse(whole.Bytes(), &wm); r != stats.None {
			w.drop(whole, inIf, r)
			return
		}
		b, m = whole, &wm
	}
	p := b.Bytes()
	switch m.Flow.Proto {
	case protoESP, protoAH:
		if o == fromDecrypt {
			break // IPsec inside IPsec: unwrapped once, the rest is the host's
		}
		w.toDecrypt(b, m)
		return
	case protoUDP:
		switch m.Flow.DstPort {
		case portIKE:
			w.puntPacket(PuntIKE, b, m, inIf)
			return
		case portNATT:
			udp := p[m.L4+8:]
			switch {
			case len(udp) == 1 && udp[0] == 0xff:
				w.c.NATKeepalives++
				w.pool.Put(b)
			case len(udp) >= 4 && binary.BigEndian.Uint32(udp) == 0:
				w.puntPacket(PuntIKE, b, m, inIf)
			case o == fromDecrypt:
				// ESP-in-UDP inside IPsec is the host's business.
				w.puntPacket(PuntLocal, b, m, inIf)
			default:
				w.toDecrypt(b, m)
			}
			return
		}
	}
	w.puntPacket(PuntLocal, b, m, inIf)
}

// toDecrypt queues an IPsec packet for the decrypt node with its header
// (in place when ethernetInput parsed it into the vector's next slot).
func (w *Worker) toDecrypt(b *packet.Buf, m *hdr.Meta) {
	k := len(w.decHdrs)
	w.decPkts = append(w.decPkts, b)
	w.decHdrs = w.decHdrs[:k+1]
	if h := &w.decHdrs[k]; h != m {
		*h = *m // reassembled: parsed elsewhere
	}
	if len(w.decPkts) == cap(w.decPkts) {
		w.runDecrypt()
	}
}

// runDecrypt runs the decrypt node over the collected vector and sends
// each inner packet on through IP processing, with the header the node
// parsed.
func (w *Worker) runDecrypt() {
	n := len(w.decPkts)
	if n == 0 {
		return
	}
	pkts, hdrs, sas, verdicts := w.decPkts, w.decHdrs, w.decSAs[:n], w.decVerdicts[:n]
	w.dec.Process(pkts, hdrs, sas, verdicts)
	w.drainEvents(w.dec.Events)
	w.decPkts, w.decHdrs = pkts[:0], hdrs[:0]
	for i, b := range pkts {
		inIf := w.portIf[b.Port]
		if verdicts[i] != stats.None {
			w.drop(b, inIf, verdicts[i])
			continue
		}
		w.c.Decrypted++
		w.ipInput(b, &hdrs[i], inIf, fromDecrypt)
	}
	clear(pkts)
	clear(sas)
}

// forward routes a transit or locally made packet: TTL, crypto map of the
// output interface, then out.
func (w *Worker) forward(b *packet.Buf, m *hdr.Meta, inIf int, rt *Route, o origin) {
	if rt == nil {
		w.drop(b, inIf, stats.NoRoute)
		return
	}
	if o == fromWire || o == fromDecrypt {
		if m.TTL <= 1 {
			w.icmpError(b, m, inIf, icmpTimeExceeded(m.Ver))
			w.drop(b, inIf, stats.TTLExceeded)
			return
		}
		hdr.DecTTL(b.Bytes(), m.Ver)
		m.TTL--
	}
	out := &w.t.Interfaces[rt.Iface]
	if cm := out.Crypto; cm != nil && o != fromBypass {
		if r := w.spdLookup(cm.SPD, &m.Flow); r != spd.NoMatch {
			w.protect(b, m, inIf, rt.Iface, cm, r)
			return
		}
	}
	w.output(b, m, inIf, hop{rt.Iface, nextHop(rt, m.Flow.Dst)}, o)
}

func nextHop(rt *Route, dst netip.Addr) netip.Addr {
	if rt.NextHop.IsValid() {
		return rt.NextHop
	}
	return dst
}

func icmpTimeExceeded(ver uint8) icmpError {
	if ver == 4 {
		return icmpError{typ: icmp4TimeExceeded}
	}
	return icmpError{typ: icmp6TimeExceeded}
}

// protect finds the outbound SA for a packet the SPD put under permit rule
// r, checks it fits the path once protected, and queues it for the encrypt
// node.
func (w *Worker) protect(b *packet.Buf, m *hdr.Meta, inIf, outIf int, cm *CryptoMap, r int) {
	sa := cm.outboundSA(r, &m.Flow)
	if sa == nil || sa.Dead() {
		if cm.EntryKind(r) == EntryISAKMP {
			w.acquire(m, outIf, cm, r)
		}
		w.drop(b, inIf, stats.NoSA)
		return
	}
	if sa != w.lastSA || w.t != w.lastSAT {
		prt := w.t.FIB.Lookup(sa.Remote())
		if prt == nil || prt.Kind == RouteLocal {
			sa.Drop(w.id, stats.NoRoute, 1)
			w.drop(b, inIf, stats.NoRoute)
			return
		}
		w.lastSA, w.lastSAT, w.lastSAHop = sa, w.t, hop{prt.Iface, nextHop(prt, sa.Remote())}
	}
	h := w.lastSAHop
	if limit := w.t.Interfaces[h.iface].MTU - sa.Overhead(); m.Length > limit {
		if m.Ver == 6 || m.DF || sa.Mode() == sad.Transport {
			w.icmpError(b, m, inIf, tooBig(m.Ver, limit))
			sa.Drop(w.id, stats.MTUExceeded, 1)
			w.drop(b, inIf, stats.MTUExceeded)
			return
		}
		// IOS pre-fragmentation: fragment the inner packet, encrypt
		// each fragment.
		frags, ok := fragmentIPv4(b, limit, w.pool, w.frags[:0])
		if !ok {
			w.drop(b, inIf, stats.NoBuffer)
			return
		}
		w.c.Fragments += uint64(len(frags)) + 1
		w.toEncrypt(b, sa, h)
		for i, f := range frags {
			w.toEncrypt(f, sa, h)
			frags[i] = nil
		}
		return
	}
	w.toEncrypt(b, sa, h)
}

func tooBig(ver uint8, mtu int) icmpError {
	if ver == 4 {
		return icmpError{typ: icmp4DestUnreach, code: icmp4FragNeeded, mtu: mtu}
	}
	return icmpError{typ: icmp6PacketTooBig, mtu: max(mtu, 1280)}
}

func (w *Worker) toEncrypt(b *packet.Buf, sa *sad.SA, h hop) {
	w.encPkts = append(w.encPkts, b)
	w.encSAs = append(w.encSAs, sa)
	w.encHops = append(w.encHops, h)
	if len(w.encPkts) == cap(w.encPkts) {
		w.runEncrypt()
	}
}

// runEncrypt runs the encrypt node over the collected vector and sends the
// outer packets out.
func (w *Worker) runEncrypt() {
	n := len(w.encPkts)
	if n == 0 {
		return
	}
	pkts, sas, hops, verdicts := w.encPkts, w.encSAs, w.encHops, w.encVerdicts[:n]
	w.enc.Process(pkts, sas, verdicts)
	w.drainEvents(w.enc.Events)
	for i, b := range pkts {
		inIf := -1
		if int(b.Port) < len(w.portIf) {
			inIf = w.portIf[b.Port]
		}
		if verdicts[i] != stats.None {
			w.drop(b, inIf, verdicts[i])
			continue
		}
		w.c.Encrypted++
		w.writeEthernet(b, hops[i], inIf)
	}
	clear(pkts)
	clear(sas)
	w.encPkts, w.encSAs, w.encHops = pkts[:0], sas[:0], hops[:0]
}

// output sends a packet out of an interface in the clear, fragmenting or
// answering "too big" when it exceeds the MTU.
func (w *Worker) output(b *packet.Buf, m *hdr.Meta, inIf int, h hop, o origin) {
	if mtu := w.t.Interfaces[h.iface].MTU; m.Length > mtu {
		if m.Ver == 6 || m.DF {
			w.icmpError(b, m, inIf, tooBig(m.Ver, mtu))
			w.drop(b, inIf, stats.MTUExceeded)
			return
		}
		frags, ok := fragmentIPv4(b, mtu, w.pool, w.frags[:0])
		if !ok {
			w.drop(b, inIf, stats.NoBuffer)
			return
		}
		w.c.Fragments += uint64(len(frags)) + 1
		w.c.Forwarded += uint64(len(frags))
		for i, f := range frags {
			w.writeEthernet(f, h, inIf)
			frags[i] = nil
		}
	}
	w.c.Forwarded++
	w.writeEthernet(b, h, inIf)
}

// writeEthernet prepends the Ethernet header for next hop h and queues the
// frame on the output port.
func (w *Worker) writeEthernet(b *packet.Buf, h hop, inIf int) {
	pi := w.ifPort[h.iface]
	if pi < 0 {
		w.drop(b, inIf, stats.NoRoute)
		return
	}
	mac, ok := w.lastMAC, h == w.lastHop && w.nb == w.lastNB
	if !ok {
		if mac, ok = w.nb.lookup(h.iface, h.nh); !ok {
			w.neighborMiss(h)
			w.drop(b, inIf, stats.NoNeighbor)
			return
		}
		// Field by field: copying h whole reads the caller's fresh
		// narrow stores with wide loads (a store-forwarding stall).
		w.lastHop.iface, w.lastHop.nh, w.lastMAC, w.lastNB = h.iface, h.nh, mac, w.nb
	}
	ifc := &w.t.Interfaces[h.iface]
	et := uint16(etherTypeIPv4)
	if b.Bytes()[0]>>4 == 6 {
		et = etherTypeIPv6
	}
	n := ethHeaderLen
	if ifc.VLAN != 0 {
		n += vlanHeaderLen
	}
	e := b.Prepend(n)
	if e == nil {
		w.drop(b, inIf, stats.NoBuffer)
		return
	}
	mac.put(e[0:6])
	copy(e[6:12], ifc.MAC[:])
	if ifc.VLAN != 0 {
		binary.BigEndian.PutUint16(e[12:14], etherTypeVLAN)
		binary.BigEndian.PutUint16(e[14:16], ifc.VLAN)
	}
	binary.BigEndian.PutUint16(e[n-2:n], et)
	b.Port = uint16(pi)
	w.tx[pi] = append(w.tx[pi], b)
	if len(w.tx[pi]) == cap(w.tx[pi]) {
		w.transmit(pi)
	}
}

func (w *Worker) transmit(pi int) {
	if len(w.tx[pi]) == 0 {
		return
	}
	w.ports[pi].Transmit(w.tx[pi])
	w.c.TxFrames += uint64(len(w.tx[pi]))
	clear(w.tx[pi])
	w.tx[pi] = w.tx[pi][:0]
}

// icmpError sends an ICMP error about packet b (rate limited), from the
// receiving interface's address, back toward b's source. b itself is left
// to the caller.
func (w *Worker) icmpError(b *packet.Buf, m *hdr.Meta, inIf int, e icmpError) {
	if inIf < 0 || !mayAnswer(b.Bytes(), m) {
		return
	}
	src, ok := w.t.Interfaces[inIf].Addr(m.Flow.Src)
	if !ok {
		return
	}
	if !w.icmp.take(w.now) {
		w.c.ICMPRateLimited++
		return
	}
	ib := w.pool.Get()
	if ib == nil {
		w.c.Drops[stats.NoBuffer]++
		return
	}
	w.ipID++
	if !buildICMPError(ib, b.Bytes(), m, src, e, w.ipID) {
		w.pool.Put(ib)
		return
	}
	ib.Port = b.Port
	var im hdr.Meta
	if hdr.Parse(ib.Bytes(), &im) != stats.None {
		w.pool.Put(ib)
		return
	}
	w.c.ICMPErrors++
	w.forward(ib, &im, inIf, w.t.FIB.Lookup(im.Flow.Dst), fromLocal)
}

// drop frees a packet and counts it, globally and on the interface it
// arrived on (inIf < 0: made by the gateway).
func (w *Worker) drop(b *packet.Buf, inIf int, r stats.Reason) {
	w.c.Drops[r]++
	if inIf >= 0 {
		w.ifc[inIf].Drops[r]++
	}
	w.pool.Put(b)
}

// dropN counts n packets already freed, dropped for reason r.
func (w *Worker) dropN(inIf int, r stats.Reason, n int) {
	w.c.Drops[r] += uint64(n)
	if inIf >= 0 {
		w.ifc[inIf].Drops[r] += uint64(n)
	}
}

// puntPacket copies a packet for the slow path and frees it.
func (w *Worker) puntPacket(k PuntKind, b *packet.Buf, m *hdr.Meta, inIf int) {
	s := w.punt.Reserve()
	if s == nil {
		w.drop(b, inIf, stats.PuntFull)
		return
	}
	*s = Punt{Kind: k, Iface: inIf, Flow: m.Flow, Packet: s.Packet}
	s.setPacket(b.Bytes())
	w.punt.Commit()
	w.c.Punted[k]++
	w.pool.Put(b)
}

// acquire asks the slow path for SAs for a flow, once per hold time.
func (w *Worker) acquire(m *hdr.Meta, outIf int, cm *CryptoMap, r int) {
	key := hashFlow(&m.Flow, uint64(outIf)<<32|uint64(r))
	if !w.acquires.first(key, w.now) {
		return
	}
	w.puntEvent(Punt{Kind: PuntAcquire, Iface: outIf, Flow: m.Flow, Crypto: cm, Rule: r})
}

// neighborMiss asks the slow path to resolve a next hop, once per hold time.
func (w *Worker) neighborMiss(h hop) {
	f := spd.Flow{Dst: h.nh}
	if !w.misses.first(hashFlow(&f, uint64(h.iface)), w.now) {
		return
	}
	w.puntEvent(Punt{Kind: PuntNeighborMiss, Iface: h.iface, Flow: f})
}

// drainEvents passes the nodes' SA lifetime events to the slow path.
func (w *Worker) drainEvents(evs []sad.Event) {
	for _, e := range evs {
		w.puntEvent(Punt{Kind: PuntSAExpiry, Iface: -1, SA: e.SA, Expiry: e.Expiry})
	}
}

func (w *Worker) puntEvent(p Punt) {
	s := w.punt.Reserve()
	if s == nil {
		w.c.Drops[stats.PuntFull]++
		return
	}
	p.Packet = s.Packet[:0]
	*s = p
	w.punt.Commit()
	w.c.Punted[p.Kind]++
}

// drainInject sends what the slow path injected: at most a batch per poll.
func (w *Worker) drainInject() int {
	n := 0
	for ; n < w.batch; n++ {
		s := w.inject.Peek()
		if s == nil {
			break
		}
		w.c.Injected++
		o := fromLocal
		if s.Bypass {
			o = fromBypass
		}
		b := w.pool.Get()
		switch {
		case b == nil:
			w.c.Drops[stats.NoBuffer]++
		case len(s.Packet) > b.Tailroom():
			w.pool.Put(b)
			w.c.Drops[stats.Malformed]++
		default:
			copy(b.Append(len(s.Packet)), s.Packet)
			var m hdr.Meta
			if r := hdr.Parse(b.Bytes(), &m); r != stats.None {
				w.drop(b, -1, r)
				break
			}
			b.SetLen(m.Length)
			b.Port = ^uint16(0) // no input port
			w.forward(b, &m, -1, w.t.FIB.Lookup(m.Flow.Dst), o)
		}
		w.inject.Release()
	}
	if n > 0 {
		w.runEncrypt()
	}
	return n
}

// publish copies the worker's counters where readers can take them.
func (w *Worker) publish() {
	if !w.pubMu.TryLock() {
		return // a reader is copying; next time
	}
	w.pub.Global = w.c
	for i := range w.ifc {
		w.pub.Ifaces[i] = w.ifc[i]
		w.pub.Ifaces[i].Port = PortStats{}
	}
	for pi, p := range w.ports {
		w.pub.Ifaces[w.portIf[pi]].Port = p.Stats()
	}
	w.pubMu.Unlock()
	w.lastPub = w.now
}

// Stats returns the counters the worker last published (at most a
// millisecond old while it is busy): its own share of the engine's, with
// only its ports in Ifaces. Safe from any goroutine.
func (w *Worker) Stats() Stats {
	w.pubMu.Lock()
	defer w.pubMu.Unlock()
	return w.pub.clone()
}

// Run polls until Stop, locked to its OS thread and, when cpu >= 0, pinned
// to that CPU. An idle worker backs off: it spins a little, then waits for
// growing intervals up to a millisecond (on its ports when the config gave
// a Wait), so an idle gateway does not burn a core but the first packet
// after a pause waits at most that long.
func (w *Worker) Run(cpu int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if cpu >= 0 {
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return err
		}
	}
	const spins = 64
	idle, sleep := 0, time.Microsecond
	for !w.stop.Load() {
		if w.Poll() > 0 {
			idle, sleep = 0, time.Microsecond
			continue
		}
		idle++
		if idle < spins {
			continue
		}
		w.publish()
		if w.wait != nil {
			w.wait(sleep)
		} else {
			time.Sleep(sleep)
		}
		sleep = min(2*sleep, time.Millisecond)
	}
	w.publish()
	w.stop.Store(false) // a later Run polls again
	return nil
}

// Stop makes Run return after its current poll (called before Run starts,
// as soon as it starts). Run may be called again afterwards: bench runs
// the workers in slices.
func (w *Worker) Stop() { w.stop.Store(true) }

// Drain polls until every port is exhausted (they must all be Finite) and a
// poll finds nothing more, calling after (if not nil) after every poll so
// the caller can serve the punt ring. It is how `run` processes capture
// files to their end.
func (w *Worker) Drain(after func()) error {
	for _, p := range w.ports {
		if _, ok := p.(Finite); !ok {
			return errors.New("fastpath: Drain needs ports whose input ends")
		}
	}
	for {
		n := w.Poll()
		if after != nil {
			after()
		}
		if n > 0 || w.inject.Len() > 0 {
			continue
		}
		done := true
		for _, p := range w.ports {
			done = done && p.(Finite).Exhausted()
		}
		if done {
			w.publish()
			return nil
		}
	}
}

// suppressor remembers recently punted keys in a small direct-mapped table,
// so a flood of packets of one flow without an SA (or to one unresolved
// next hop) costs the slow path one punt per hold time, not one per packet.
type suppressor struct {
	slot [256]struct {
		key uint64
		at  int64
	}
}

// first reports whether key was not punted within the hold time, and
// records it.
func (s *suppressor) first(key uint64, now int64) bool {
	e := &s.slot[key>>56]
	if e.key == key && e.at != 0 && now-e.at < puntHold {
		return false
	}
	e.key, e.at = key, max(now, 1)
	return true
}

// hashFlow mixes a flow and a salt into 64 bits (not for adversaries: a
// collision costs an extra punt or a suppressed one).
func hashFlow(f *spd.Flow, salt uint64) uint64 {
	s, d := f.Src.As16(), f.Dst.As16()
	h := salt ^ uint64(f.Proto)<<48 ^ uint64(f.SrcPort)<<16 ^ uint64(f.DstPort)
	for _, v := range []uint64{
		binary.LittleEndian.Uint64(s[:8]), binary.LittleEndian.Uint64(s[8:]),
		binary.LittleEndian.Uint64(d[:8]), binary.LittleEndian.Uint64(d[8:]),
	} {
		h = (h ^ v) * 0x9E3779B97F4A7C15
		h ^= h >> 29
	}
	return h
}
